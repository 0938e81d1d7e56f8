#ifndef CERTSYNC_FSUTIL_H
#define CERTSYNC_FSUTIL_H
/*
 * File-system helpers that keep data safe across crashes: atomic
 * replacement (temporary file, fsync, rename, fsync of the directory) and
 * bounded reads.
 */
#include <sys/types.h>
#include <certsync/common.h>

/* Create dir and its missing parents with mode (existing dirs are fine). */
CS_EXTERN int cs_fs_mkdirs(const char *dir, mode_t mode);

/* Replace path with data atomically: write a temporary file in the same
 * directory, fsync it, rename it over path, fsync the directory. */
CS_EXTERN int cs_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Replace path with data through a temporary file and a rename, without
 * fsync: a killed process leaves the old file or the new one, never a torn
 * one, but a power cut may lose or truncate the new file. For data that can
 * be sent again (relay blobs) and whose size is checked when read. */
CS_EXTERN int cs_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode);

/* Alignment of the buffers cs_fs_write_replace_direct takes. */
#define CS_FS_DIRECT_ALIGN 4096u

/* cs_fs_write_replace through direct I/O: the bytes go to the disk in
 * large requests without passing through (and evicting others from) the
 * page cache. data must be aligned to CS_FS_DIRECT_ALIGN and readable up
 * to len rounded up to it; the bytes past len are written, then cut off.
 * Where the file system refuses direct I/O the file is written normally. */
CS_EXTERN int cs_fs_write_replace_direct(const char *path, const void *data, size_t len,
	mode_t mode);

/* Write all len bytes of data to fd (retrying short writes and EINTR):
 * 0, or -1 with errno set. */
CS_EXTERN int cs_fs_write_fd(int fd, const void *data, size_t len);

/* Write len bytes of data at offset of the open file fd through direct I/O.
 * data and offset must be aligned to CS_FS_DIRECT_ALIGN and data readable up
 * to len rounded up to it: those padding bytes are written too, so the
 * caller cuts the file to its length (ftruncate) after its last write.
 * Returns 0 when written, 1 when the file system refuses direct I/O
 * (nothing was written: write normally instead), -1 with errno set. */
CS_EXTERN int cs_fs_pwrite_direct(int fd, const void *data, size_t len, uint64_t offset);

/* Read the whole file into a new heap block (NUL-terminated one past *len).
 * CS_ELIMIT when the file is larger than max, CS_ENOTFOUND when absent. */
CS_EXTERN int cs_fs_read_all(uint8_t **out, size_t *len, const char *path, size_t max);

/* fsync the directory that holds path (or path itself when it is a dir). */
CS_EXTERN int cs_fs_fsync_dir(const char *dir);

/* Create and open (O_RDWR, mode 0600) a new file named prefix + six random
 * characters in directory dir; its path goes to tmp (size n). Returns the
 * descriptor, or a negative CS_E* code. For writing a file next to where it
 * will be renamed. */
CS_EXTERN int cs_fs_temp_in(char *tmp, size_t n, const char *dir, const char *prefix);

/* syncfs() the file system that holds directory dir: everything written
 * to it (data and renames) is on disk when this returns. One call instead
 * of an fsync per file when many were written. */
CS_EXTERN int cs_fs_syncfs(const char *dir);

/* Join a and b with one '/', into a new heap string. */
CS_EXTERN char *cs_path_join(const char *a, const char *b);

/* Remove a directory tree (no error when it does not exist). */
CS_EXTERN int cs_fs_remove_tree(const char *path);

/* 1 when path exists, 0 when not. */
CS_EXTERN int cs_fs_exists(const char *path);

#endif
