#ifndef CERTSYNC_INDEX_H
#define CERTSYNC_INDEX_H
/*
 * A device's index of its folders (DESIGN §6), kept in its store.
 *
 * For each folder: the root directory, a local sequence number bumped on
 * every change, and one entry per path (file or directory) with size, mtime,
 * mode, content hash, chunk list, the sequence number of its last change,
 * the hash it had before that change, and a tombstone when deleted.
 *
 * The index also remembers, for every chunk hash referenced by a live file,
 * the sequence number at which it (last) became referenced. A destination
 * that has applied the folder up to sequence H holds every chunk whose
 * number is <= H; chunks numbered > H must be sent.
 *
 * For destinations it keeps the "base": per source device and path, the
 * hash of the version last applied from that source, so that local edits can
 * be told apart from the state the source replaced.
 *
 * Paths are relative, '/'-separated, never empty, never "." or "..", and
 * never contain a NUL. A file's content hash is the SHA-256 of the
 * concatenation of its chunk hashes (SHA-256 of nothing for an empty file).
 * Temporary files named ".certsync-tmp-*" are ignored by scans.
 */
#include <certsync/common.h>
#include <certsync/store.h>

#define CS_HASH_LEN 32
#define CS_TMP_PREFIX ".certsync-tmp-"
#define CS_PATH_MAX_LEN 4096

enum cs_entry_kind { CS_KIND_FILE = 0, CS_KIND_DIR = 1 };

typedef struct cs_index cs_index;

/* One chunk of a file. */
typedef struct cs_chunk_ref {
	uint8_t hash[CS_HASH_LEN]; /* SHA-256 of the chunk's bytes */
	uint64_t offset;           /* position in the file */
	uint32_t len;
} cs_chunk_ref;

/* One indexed path. */
typedef struct cs_file_entry {
	char *path;
	uint8_t kind;                   /* enum cs_entry_kind */
	uint8_t deleted;                /* 1 for a tombstone */
	uint8_t has_prev;               /* prev_hash is meaningful: the path was a
	                                 * live file before this change */
	uint32_t mode;                  /* permission bits, & 07777 */
	int64_t mtime_ns;               /* modification time, ns since epoch */
	uint64_t size;
	uint64_t seq;                   /* folder sequence number of the last change */
	uint8_t hash[CS_HASH_LEN];      /* content hash (files); zero for dirs/tombstones */
	uint8_t prev_hash[CS_HASH_LEN]; /* content hash before the last change */
	cs_chunk_ref *chunks;
	size_t nchunks;
} cs_file_entry;

/* Free an entry returned by this module (contents and struct); NULL ok. */
CS_EXTERN void cs_file_entry_free(cs_file_entry *e);

/* Counters of one scan. */
typedef struct cs_scan_stats {
	uint64_t files, dirs;   /* live entries seen */
	uint64_t bytes;         /* total size of live files */
	uint64_t hashed_bytes;  /* bytes read and hashed (changed files) */
	uint64_t changed;       /* entries added or modified */
	uint64_t deleted;       /* new tombstones */
} cs_scan_stats;

/* Called now and then during a scan with the running counters. */
typedef void (*cs_scan_progress_fn)(void *ud, const cs_scan_stats *so_far);

/* Open the index in st (creating its tables, all named ix_*). The store
 * stays owned by the caller and must outlive the index. Opening, scanning
 * and writing take their own transactions: st must not be inside one. */
CS_EXTERN int cs_index_open(cs_index **out, cs_store *st);
CS_EXTERN void cs_index_close(cs_index *ix);

/* Add a folder: id and the absolute root directory. CS_EEXISTS when known. */
CS_EXTERN int cs_index_folder_add(cs_index *ix, const char *folder_id, const char *root);
/* The root of a folder, malloc'd. CS_ENOTFOUND when unknown. */
CS_EXTERN int cs_index_folder_root(char **root, cs_index *ix, const char *folder_id);
/* The folder's current sequence number (0 for a new folder). */
CS_EXTERN int cs_index_folder_seq(uint64_t *seq, cs_index *ix, const char *folder_id);
/* Call fn for every folder; a non-zero return from fn stops and is returned. */
CS_EXTERN int cs_index_folder_each(cs_index *ix,
	int (*fn)(void *ud, const char *folder_id, const char *root), void *ud);

/* Walk the folder's root and bring the index up to date: a path whose kind,
 * size, mtime and mode are unchanged is not read again; a changed or new
 * file is chunked and hashed; a vanished path becomes a tombstone. Every
 * change takes the next sequence number. Symlinks and special files are
 * skipped. progress may be NULL, stats too.
 *
 * A directory changes when its mode or mtime does. A file that changes
 * while it is read is read again or left as it was until the next scan,
 * never recorded half-written; a file modified within the last 2 seconds
 * is read again by the next scan (its mtime may hide a later rewrite). An
 * unreadable directory keeps its entries, and a missing root is an error
 * (CS_ENOTFOUND), never a deletion. Run one scan per folder at a time. */
CS_EXTERN int cs_index_scan(cs_index *ix, const char *folder_id, cs_scan_stats *stats,
	cs_scan_progress_fn progress, void *ud);

/* What cs_index_scan_with may be told besides the folder. */
typedef struct cs_scan_options {
	cs_scan_progress_fn progress; /* may be NULL */
	/* May be NULL. Called on the scan's thread each time a batch of
	 * changes has been written, with the folder's sequence number after
	 * it: every entry up to it can be read (cs_index_changes_between). A
	 * non-zero return stops the scan and is returned. */
	int (*committed)(void *ud, uint64_t seq);
	void *ud;
	/* Write a batch once this many changes, or changed files of this many
	 * bytes, are pending (0: the defaults, 8192 and 1 GiB). */
	size_t batch_changes;
	uint64_t batch_bytes;
} cs_scan_options;

/* cs_index_scan with options; o may be NULL. */
CS_EXTERN int cs_index_scan_with(cs_index *ix, const char *folder_id, cs_scan_stats *stats,
	const cs_scan_options *o);

/* Call fn for every entry (tombstones included) whose seq > since, in path
 * order (parents before children). Entries passed to fn are borrowed. */
CS_EXTERN int cs_index_changes_since(cs_index *ix, const char *folder_id, uint64_t since,
	int (*fn)(void *ud, const cs_file_entry *e), void *ud);
/* The same for the entries whose seq is in (after, upto]. */
CS_EXTERN int cs_index_changes_between(cs_index *ix, const char *folder_id, uint64_t after,
	uint64_t upto, int (*fn)(void *ud, const cs_file_entry *e), void *ud);

/* The entry for path (tombstones included). CS_ENOTFOUND when none. */
CS_EXTERN int cs_index_get(cs_file_entry **out, cs_index *ix, const char *folder_id, const char *path);

/* The sequence number at which chunk hash became referenced by a live file
 * of the folder. CS_ENOTFOUND when no live file references it. */
CS_EXTERN int cs_index_chunk_seq(uint64_t *seq, cs_index *ix, const char *folder_id,
	const uint8_t hash[CS_HASH_LEN]);

/* A live file that holds chunk hash: its path (malloc'd), the offset and
 * length. CS_ENOTFOUND when none. The caller must verify the bytes. */
CS_EXTERN int cs_index_chunk_locate(char **path, uint64_t *offset, uint32_t *len,
	cs_index *ix, const char *folder_id, const uint8_t hash[CS_HASH_LEN]);

/* The base hash recorded for (folder, source device, path); CS_ENOTFOUND
 * when none. */
CS_EXTERN int cs_index_base_get(uint8_t hash[CS_HASH_LEN], cs_index *ix, const char *folder_id,
	const char *source, const char *path);
/* Record (hash non-NULL) or forget (hash NULL) the base for a path. */
CS_EXTERN int cs_index_base_set(cs_index *ix, const char *folder_id, const char *source,
	const char *path, const uint8_t *hash);

/* Record files the caller has just written with known content (hash,
 * chunks, size, mtime, mode in each of files[0..n); kind must be
 * CS_KIND_FILE), as a scan that read them would, so that the next scan need
 * not read them again. A file that is no longer a regular file with that
 * size, mtime and mode is left to the next scan. *noted counts the entries
 * written. Same rules as a scan: not while one runs on the folder. */
CS_EXTERN int cs_index_note_files(size_t *noted, cs_index *ix, const char *folder_id,
	const cs_file_entry *files, size_t n);

/* Make the next scan read path again even when its size, mtime and mode
 * look unchanged: for engines that replace a file with one of the same size
 * and a given mtime. No-op for a path the index does not hold. */
CS_EXTERN int cs_index_recheck(cs_index *ix, const char *folder_id, const char *path);
/* Group many index updates into one transaction (one durable commit
 * instead of one per update). rollback is safe without an open one. */
CS_EXTERN int cs_index_begin(cs_index *ix);
/* A read-only transaction around many lookups (one snapshot, the store's
 * locks taken once); ended by commit or rollback. */
CS_EXTERN int cs_index_begin_read(cs_index *ix);
CS_EXTERN int cs_index_commit(cs_index *ix);
CS_EXTERN void cs_index_rollback(cs_index *ix);

/* 1 when path is acceptable as an index path (see above), else 0. */
CS_EXTERN int cs_index_path_valid(const char *path);

/* ---- writing synced files (shared by the sync engines) ---- */

/* The name a local edit is kept under when a synced change replaces it:
 * "<dir/stem>.sync-conflict-<UTC yyyymmdd-hhmmss>-<first 7 characters of
 * device_id><.ext>", into out (size n). full is the file's path. */
CS_EXTERN void cs_conflict_name(char *out, size_t n, const char *full, const char *device_id);

/* Set a file's modification time (ns since the epoch) through fd, or
 * through full when fd < 0 (without following a symlink). */
CS_EXTERN int cs_file_set_mtime(int fd, const char *full, int64_t mtime_ns);

#endif
