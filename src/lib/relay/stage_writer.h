#ifndef CS_RELAY_STAGE_WRITER_H
#define CS_RELAY_STAGE_WRITER_H
/* The destination's file writer: a thread that creates, fills and finishes
 * the temporary files of a sync while the applying thread fetches, decrypts
 * and verifies the next chunks. Work is handed over in order (open a file,
 * its data, then finish or abandon it) and at most a bounded number of bytes
 * wait at any time. When the thread cannot be started every step runs on
 * the caller's thread instead, with the same results.
 *
 * Large files (written with direct I/O) are made durable as they are written
 * by a second thread, a few MiB at a time (stage_writer.c, FLUSH_BYTES).
 *
 * The first failure is kept: later steps are dropped (their temporary files
 * removed) and every call after it returns that failure; a failed background
 * flush is such a failure. */
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

struct cs_stage_step;

struct cs_stage_writer {
	const char *root;  /* temporary files are made here */
	char ***staged;    /* (*staged)[i]: entry i's finished temporary file */
	pthread_t thread;
	int started, threaded, quit;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cs_stage_step *head, *tail;
	size_t queued_bytes;
	/* The file being written (the writer's side only). */
	int fd;
	char *tmp;
	size_t entry;
	const char *path;
	uint64_t written, kicked;
	/* Large files go to the disk through direct I/O from this aligned
	 * buffer: no copy into (and no eviction from) the page cache. */
	uint8_t *dbuf;
	size_t dlen;   /* bytes waiting in dbuf */
	uint64_t dpos; /* where in the file dbuf[0] goes */
	int direct;   /* the open file is written through dbuf */
	/* Background flushes of large files (stage_writer.c, FLUSH_BYTES). */
	pthread_t flusher;
	pthread_cond_t flush_cv;
	int flusher_state;  /* 0 not started, 1 running, -1 could not start */
	int flush_wanted;   /* under lock: flush_fd waits for the flusher */
	int flush_quit;     /* under lock: the flusher ends (set after the writer's end) */
	int flush_fd;       /* under lock: a duplicate of the file to flush */
	const char *flush_path;
	uint64_t unflushed; /* direct-I/O bytes since the last request */
	int error; /* the first failure, set under lock */
	char message[512];
};

/* Start a writer making temporary files under root; (*staged)[i] receives
 * the name of entry i's file once it is finished. */
int cs_stage_writer_start(struct cs_stage_writer *w, const char *root, char ***staged);
/* Grow *staged (w's, from cs_stage_writer_start) from n to more entries,
 * the new ones NULL, while the writer may be finishing a file. */
int cs_stage_writer_resize(struct cs_stage_writer *w, size_t n, size_t more);
/* Begin the temporary file for manifest entry `entry` (path for messages,
 * borrowed until cs_stage_writer_stop) that will hold size bytes. */
int cs_stage_writer_open(struct cs_stage_writer *w, size_t entry, const char *path, uint64_t size);
/* Append len bytes to the open file; takes data (malloc'ed) in every case.
 * Waits while too many bytes are queued. */
int cs_stage_writer_data(struct cs_stage_writer *w, uint8_t *data, size_t len);
/* Set mode and mtime, close, and record the file in staged[entry]. */
int cs_stage_writer_finish(struct cs_stage_writer *w, uint32_t mode, int64_t mtime_ns);
/* Drop the open file (its content failed a check). */
void cs_stage_writer_abandon(struct cs_stage_writer *w);
/* Wait until every step handed over and the background flush under way are
 * done; the first failure, if any. Not after cs_stage_writer_stop. */
int cs_stage_writer_drain(struct cs_stage_writer *w);
/* Drain and stop the thread (and the flusher, after the flush under way);
 * safe to call twice or after a failed start. */
void cs_stage_writer_stop(struct cs_stage_writer *w);
/* Background flushes made by stage writers in this process (for tests). */
size_t cs__stage_writer_flushes(void);

#endif
