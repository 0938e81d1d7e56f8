#ifndef CS_INDEX_INTERNAL_H
#define CS_INDEX_INTERNAL_H
/*
 * Definitions shared by the files of src/lib/index/. Not part of the public
 * API.
 *
 * Tables (all prefixed ix_, created by schema.c; the store may hold other
 * modules' tables too):
 *
 *   ix_meta(key, value)            the index's own schema version
 *   ix_folder(fid, id, root, seq)  one row per folder; fid is the internal key
 *   ix_entry(fid, path, ...)       one row per path, tombstones included
 *   ix_chunk(fid, hash, path, off, len, seq)
 *                                  one row per distinct chunk hash per live
 *                                  file. Every row of one hash carries the
 *                                  same seq: the folder sequence number at
 *                                  which the hash became referenced. A new
 *                                  row copies the seq of an existing row of
 *                                  its hash, so the seq survives as long as
 *                                  some live file holds the chunk; when the
 *                                  last row goes, a later reappearance starts
 *                                  over with a new seq.
 *   ix_base(fid, source, path, hash)
 */
#include <certsync/chunker.h>
#include <certsync/index.h>
#include <certsync/store.h>

struct cs_index {
	cs_store *st;
	cs_chunker_params params; /* how files are cut; fixed for the format */
};

/* Columns selected for an entry, in the order cs__ix_entry_from_row reads. */
#define CS__IX_ENTRY_COLS "path, kind, deleted, mode, mtime_ns, size, seq, hash, prev_hash, chunks"

/* The folder's internal key. CS_ENOTFOUND (with a message) when unknown. */
int cs__ix_folder_fid(int64_t *fid, cs_index *ix, const char *folder_id);

/* Build an entry from the current row of a statement that selected
 * CS__IX_ENTRY_COLS first. CS_EMALFORMED when a stored value is damaged. */
int cs__ix_entry_from_row(cs_file_entry **out, cs_stmt *q);

/* Free what an entry holds, not the struct itself. */
void cs__ix_entry_clear(cs_file_entry *e);

/* The packed chunk list of ix_entry.chunks (see entries.c for the format). */
int cs__ix_chunks_pack(uint8_t **blob, size_t *len, const cs_chunk_ref *chunks, size_t n);
int cs__ix_chunks_parse(cs_chunk_ref **chunks, size_t *n, const void *blob, size_t len,
	uint64_t size);

/* Prepared statements for keeping ix_chunk in step (chunks.c). */
struct cs__ix_chunk_stmts {
	cs_stmt *seq_of, *put, *of_path, *del_one, *del_path;
};
int cs__ix_chunk_stmts_prepare(struct cs__ix_chunk_stmts *s, cs_store *st);
void cs__ix_chunk_stmts_free(struct cs__ix_chunk_stmts *s);
/* Reference e's chunks from e->path. A hash that is referenced already keeps
 * its seq; a hash new to the folder gets e->seq. */
int cs__ix_chunks_add(struct cs__ix_chunk_stmts *s, int64_t fid, const cs_file_entry *e);
/* Drop the references of e->path to hashes that e (its new state) no
 * longer holds; all of them for a tombstone or a directory. */
int cs__ix_chunks_drop(struct cs__ix_chunk_stmts *s, int64_t fid, const cs_file_entry *e);

/* "Racily clean": a file whose mtime is this close to the time it was read
 * could be rewritten with the same size and (coarse) mtime; such entries
 * are stored with recheck=1 and read again by the next scan (scan.c). */
#define CS__IX_RACY_NS INT64_C(2000000000)
/* 1 when mtime_ns is within CS__IX_RACY_NS of now. */
int cs__ix_is_racy(int64_t mtime_ns);

/* A change found by a scan, waiting to be written. */
struct cs__ix_change {
	cs_file_entry e; /* the new state; e.seq is assigned when written */
	int recheck;     /* mtime too recent to trust: hash again next scan */
	int refresh;     /* nothing changed but the recheck flag: no new seq */
};

/* Write changes[0..n) in one transaction, in order: each change that is not
 * a refresh takes the next sequence number of the folder. All chunk
 * references are added before any is dropped, so a chunk that moves from
 * one path to another within the batch keeps its seq. */
int cs__ix_apply(cs_index *ix, int64_t fid, struct cs__ix_change *changes, size_t n);

/* Result of reading one file during a scan. */
enum cs__ix_read_result {
	CS__IX_READ_OK = 0,   /* entry filled */
	CS__IX_READ_GONE = 1, /* no longer a regular file at that name */
	CS__IX_READ_SKIP = 2, /* unreadable or kept changing: keep the old entry */
};

/* Chunk hashing on two threads (hasher.c). */
struct cs__ix_hasher;

/* Read, chunk and hash the regular file name in dirfd. On CS__IX_READ_OK
 * fills e's kind, mode, mtime_ns, size, hash and chunks from the state the
 * bytes were read in (path and the rest are left alone). Returns a
 * cs__ix_read_result, or a negative CS_E* code for a failure that must stop
 * the scan. buf/bufsize is the caller's read buffer (at least twice
 * params.max_size). *hashed is increased by the bytes read; tick is called
 * between chunks so that the caller can report progress. hasher (may be
 * NULL) hashes each buffer's chunks on a helper thread while the next
 * buffer is read and cut, alternating between buf and the hasher's spare
 * buffer. */
int cs__ix_read_file(cs_file_entry *e, uint64_t *hashed, const cs_index *ix, int dirfd,
	const char *name, uint8_t *buf, size_t bufsize, struct cs__ix_hasher *hasher,
	void (*tick)(void *arg), void *arg);

/* ---- the files of a directory read on two threads (reader.c) ---- */

struct cs__ix_reader;
/* Start the helper thread, with two read buffers of bufsize bytes. */
int cs__ix_reader_new(struct cs__ix_reader **out, const cs_index *ix, size_t bufsize);
/* The caller's read buffer (bufsize bytes), for files it reads itself. */
uint8_t *cs__ix_reader_buffer(struct cs__ix_reader *rd);
/* Begin reading names[0..n) (borrowed until cs__ix_reader_end), regular
 * files in dirfd, in that order. */
int cs__ix_reader_begin(struct cs__ix_reader *rd, int dirfd, const char *const *names, size_t n);
/* The result of cs__ix_read_file for names[i] (into e, path left NULL;
 * *hashed bytes read; *racy: the mtime was within CS__IX_RACY_NS of the
 * read): waits for the helper or reads here (sharing hashing with h,
 * calling tick between chunks). Each i at most once, in increasing order. */
int cs__ix_reader_take(struct cs__ix_reader *rd, size_t i, cs_file_entry *e, uint64_t *hashed,
	int *racy, struct cs__ix_hasher *h, void (*tick)(void *arg), void *arg);
/* Drop what was not taken (waiting for a read under way). */
void cs__ix_reader_end(struct cs__ix_reader *rd);
/* Stop the helper (NULL is fine). */
void cs__ix_reader_free(struct cs__ix_reader *rd);
/* Files read by helper threads in this process so far (for tests). */
size_t cs__ix_reader_helped(void);

/* ---- chunk hashing on two threads (hasher.c) ---- */

/* Start the helper thread, with a second read buffer of bufsize bytes for
 * the caller (none when 0 or when it cannot be had). */
int cs__ix_hasher_new(struct cs__ix_hasher **out, size_t bufsize);
/* The caller's second read buffer when it holds at least bufsize bytes,
 * else NULL (h NULL too). */
uint8_t *cs__ix_hasher_spare(struct cs__ix_hasher *h, size_t bufsize);
/* Hash chunks[first, first + n), whose bytes are at data + offset - base.
 * Returns 0 when they were hashed here (h NULL, too few bytes to share,
 * another batch still open, or no memory for the batch), 1 when the helper
 * has begun: data must then stay unchanged, and the hashes reach chunks
 * only at cs__ix_hasher_finish (chunks may move in the meantime; the
 * entries' places in it may not). */
int cs__ix_hasher_begin(struct cs__ix_hasher *h, const uint8_t *data, uint64_t base,
	cs_chunk_ref *chunks, size_t first, size_t n);
/* Hash what the helper has not claimed of the begun batch, wait for the
 * rest and copy the hashes into chunks (NULL: drop them). Nothing to do
 * when no batch is open or h is NULL. */
void cs__ix_hasher_finish(struct cs__ix_hasher *h, cs_chunk_ref *chunks);
/* Batches handed to a helper, and batch entries a helper hashed, in this
 * process so far (for tests). */
size_t cs__ix_hasher_shared(void);
size_t cs__ix_hasher_helper_hashed(void);
/* For tests: with on, finish waits for the helper to hash the whole batch
 * instead of sharing it. */
void cs__ix_hasher_leave_to_helper(int on);
/* Stop the helper (NULL is fine). */
void cs__ix_hasher_free(struct cs__ix_hasher *h);

#endif
