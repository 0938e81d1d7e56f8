/* The destination's file writer (stage_writer.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/index.h>
#include <certsync/secure.h>
#include "stage_writer.h"

/* Bytes that may wait for the writer: enough to ride out a slow create or
 * a burst of small files, small next to the packs held in memory. */
#define QUEUE_BYTES (16u << 20)
/* Writeback of a large file is started every this many bytes, so that the
 * syncfs before the renames finds little left to do. */
#define WRITEBACK_STEP (8u << 20)
/* A large file's data is made durable in the background (fdatasync on a
 * second thread) every this many bytes written with direct I/O. A request
 * made while a flush runs is dropped: what was written meanwhile goes with
 * the next request, or with the caller's own sync. A file abandoned after
 * its request may still be flushed (a failure of that flush fails the
 * writer like any other). */
#define FLUSH_BYTES (4u << 20)
/* Files at least this large are written with direct I/O, in requests of
 * DIRECT_BUF bytes. */
#define DIRECT_MIN (1u << 20)
#define DIRECT_BUF (4u << 20)

enum step_kind { STEP_OPEN, STEP_DATA, STEP_FINISH, STEP_ABANDON };

struct cs_stage_step {
	struct cs_stage_step *next;
	enum step_kind kind;
	size_t entry;      /* open */
	const char *path;  /* open: for messages */
	uint64_t size;     /* open: the file's length */
	uint8_t *data;     /* data */
	size_t len;
	uint32_t mode;     /* finish */
	int64_t mtime_ns;
};

static void fail(struct cs_stage_writer *w, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(struct cs_stage_writer *w, int code, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&w->lock);
	if (w->error == 0) {
		va_start(ap, fmt);
		vsnprintf(w->message, sizeof(w->message), fmt, ap);
		va_end(ap);
		w->error = code;
	}
	pthread_mutex_unlock(&w->lock);
}

static void drop_file(struct cs_stage_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp) {
		unlink(w->tmp);
		free(w->tmp);
		w->tmp = NULL;
	}
}

/* Background flushes made, in this process (for tests). */
static atomic_size_t flushes;

/* The flusher thread: fdatasync of the file it is handed, one at a time.
 * That makes the file's data durable and, through the disk's cache flush,
 * everything written to the disk before; so the syncfs before the renames
 * has little left, and a disk (or the host under a virtual one) is never
 * asked to take a whole job's data at once. */
static void *flusher_main(void *arg)
{
	struct cs_stage_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->flush_wanted && !w->flush_quit)
			pthread_cond_wait(&w->flush_cv, &w->lock);
		if (!w->flush_wanted)
			break;
		int fd = w->flush_fd;
		const char *path = w->flush_path;
		pthread_mutex_unlock(&w->lock);
		if (fdatasync(fd) != 0)
			fail(w, CS_EIO, "sync %s: %s", path, strerror(errno));
		close(fd);
		atomic_fetch_add(&flushes, 1);
		pthread_mutex_lock(&w->lock);
		w->flush_fd = -1;
		w->flush_wanted = 0;
		pthread_cond_broadcast(&w->changed);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Count bytes written with direct I/O; every FLUSH_BYTES, hand the open
 * file to the flusher (started on first need) unless it is still busy (the
 * request is then dropped).
 * Without the thread the caller's sync simply has more to do. */
static void note_written(struct cs_stage_writer *w, uint64_t n)
{
	w->unflushed += n;
	if (w->unflushed < FLUSH_BYTES)
		return;
	w->unflushed = 0;
	if (w->flusher_state == 0) {
		w->flusher_state = -1;
		if (pthread_create(&w->flusher, NULL, flusher_main, w) == 0)
			w->flusher_state = 1;
	}
	if (w->flusher_state != 1)
		return;
	pthread_mutex_lock(&w->lock);
	if (!w->flush_wanted) {
		w->flush_fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
		w->flush_path = w->path;
		if (w->flush_fd >= 0) {
			w->flush_wanted = 1;
			pthread_cond_signal(&w->flush_cv);
		}
	}
	pthread_mutex_unlock(&w->lock);
}

size_t cs__stage_writer_flushes(void)
{
	return atomic_load(&flushes);
}

/* Write the bytes waiting in dbuf after what went before. Where the file
 * system refuses direct I/O the rest of the file goes the normal way. */
static int flush_direct(struct cs_stage_writer *w)
{
	size_t n = w->dlen;
	uint64_t at = w->dpos;
	int r = cs_fs_pwrite_direct(w->fd, w->dbuf, n, at);
	if (r == 1) {
		w->direct = 0;
		r = lseek(w->fd, (off_t)at, SEEK_SET) < 0 ? -1 : cs_fs_write_fd(w->fd, w->dbuf, n);
	}
	if (r < 0)
		return -1;
	w->dlen = 0;
	w->dpos += n;
	note_written(w, n);
	return 0;
}

/* Whether a failure was recorded (by any thread). */
static int failed(struct cs_stage_writer *w)
{
	pthread_mutex_lock(&w->lock);
	int e = w->error;
	pthread_mutex_unlock(&w->lock);
	return e != 0;
}

/* Carry out one step; runs on the writer's thread (or the caller's). */
static void run_step(struct cs_stage_writer *w, struct cs_stage_step *s)
{
	if (failed(w)) {
		drop_file(w);
		return;
	}
	switch (s->kind) {
	case STEP_OPEN:
		drop_file(w);
		w->path = s->path;
		w->written = w->kicked = 0;
		w->unflushed = 0;
		/* Staged in the folder's root: the same file system as every
		 * final path, so the later rename is atomic wherever it goes. */
		if (asprintf(&w->tmp, "%s/" CS_TMP_PREFIX "XXXXXX", w->root) < 0) {
			w->tmp = NULL;
			fail(w, CS_ENOMEM, "out of memory");
			return;
		}
		w->fd = mkstemp(w->tmp);
		if (w->fd < 0) {
			free(w->tmp);
			w->tmp = NULL;
			fail(w, CS_EIO, "create temporary file for %s: %s", s->path, strerror(errno));
			return;
		}
		w->entry = s->entry;
		w->dlen = 0;
		w->dpos = 0;
		w->direct = w->dbuf != NULL && s->size >= DIRECT_MIN;
		break;
	case STEP_DATA: {
		const uint8_t *p = s->data;
		size_t left = s->len;
		int r = 0;
		w->written += s->len;
		while (w->direct && left > 0 && r == 0) {
			size_t n = DIRECT_BUF - w->dlen < left ? DIRECT_BUF - w->dlen : left;
			memcpy(w->dbuf + w->dlen, p, n);
			w->dlen += n;
			p += n;
			left -= n;
			if (w->dlen == DIRECT_BUF)
				r = flush_direct(w);
		}
		if (r == 0 && left > 0)
			r = cs_fs_write_fd(w->fd, p, left);
		if (r < 0) {
			fail(w, CS_EIO, "write %s: %s", w->path, strerror(errno));
			drop_file(w);
			return;
		}
		if (!w->direct && w->written - w->kicked >= WRITEBACK_STEP) {
			sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->written - w->kicked),
				SYNC_FILE_RANGE_WRITE);
			w->kicked = w->written;
		}
		break;
	}
	case STEP_FINISH:
		if (w->dlen > 0) {
			/* The last block is written whole and the file cut back. */
			size_t n = w->dlen;
			size_t padded = (n + CS_FS_DIRECT_ALIGN - 1) / CS_FS_DIRECT_ALIGN * CS_FS_DIRECT_ALIGN;
			memset(w->dbuf + n, 0, padded - n);
			if (flush_direct(w) < 0 || ftruncate(w->fd, (off_t)w->written) != 0) {
				fail(w, CS_EIO, "write %s: %s", w->path, strerror(errno));
				drop_file(w);
				return;
			}
		}
		/* set-id and sticky bits only once the file is in place (the
		 * applier's commit): a staged file is not vouched for yet */
		if (fchmod(w->fd, s->mode & 0777) != 0 ||
		    cs_file_set_mtime(w->fd, w->tmp, s->mtime_ns) < 0) {
			fail(w, CS_EIO, "finish %s: %s", w->path, strerror(errno));
			drop_file(w);
			return;
		}
		close(w->fd);
		w->fd = -1;
		pthread_mutex_lock(&w->lock);
		(*w->staged)[w->entry] = w->tmp;
		pthread_mutex_unlock(&w->lock);
		w->tmp = NULL;
		break;
	case STEP_ABANDON:
		drop_file(w);
		break;
	}
}

static void free_step(struct cs_stage_step *s)
{
	if (s->data)
		cs_freezero(s->data, s->len); /* plaintext */
	free(s);
}

static void *writer_main(void *arg)
{
	struct cs_stage_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == NULL && !w->quit)
			pthread_cond_wait(&w->changed, &w->lock);
		struct cs_stage_step *s = w->head;
		if (s == NULL)
			break;
		pthread_mutex_unlock(&w->lock);
		run_step(w, s);
		pthread_mutex_lock(&w->lock);
		w->head = s->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->queued_bytes -= s->len;
		free_step(s);
		pthread_cond_broadcast(&w->changed);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int cs_stage_writer_resize(struct cs_stage_writer *w, size_t n, size_t more)
{
	int r = CS_OK;
	pthread_mutex_lock(&w->lock);
	char **p = realloc(*w->staged, more * sizeof(*p));
	if (p == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	else {
		memset(p + n, 0, (more - n) * sizeof(*p));
		*w->staged = p;
	}
	pthread_mutex_unlock(&w->lock);
	return r;
}

int cs_stage_writer_start(struct cs_stage_writer *w, const char *root, char ***staged)
{
	memset(w, 0, sizeof(*w));
	w->root = root;
	w->staged = staged;
	w->fd = -1;
	w->flush_fd = -1;
	/* without it (NULL) every file is written the normal way */
	w->dbuf = cs_bigmem_alloc(DIRECT_BUF);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	pthread_cond_init(&w->flush_cv, NULL);
	w->threaded = pthread_create(&w->thread, NULL, writer_main, w) == 0;
	w->started = 1;
	return CS_OK;
}

/* The first failure, raised as this thread's error. */
static int failure(struct cs_stage_writer *w)
{
	char message[sizeof(w->message)];
	pthread_mutex_lock(&w->lock);
	int e = w->error;
	if (e)
		memcpy(message, w->message, sizeof(message));
	pthread_mutex_unlock(&w->lock);
	return e ? cs_error_set(e, "%s", message) : CS_OK;
}

static int hand_over(struct cs_stage_writer *w, struct cs_stage_step *s)
{
	if (!w->threaded) {
		run_step(w, s);
		free_step(s);
		return failure(w);
	}
	pthread_mutex_lock(&w->lock);
	while (w->head && w->queued_bytes + s->len > QUEUE_BYTES && !w->error)
		pthread_cond_wait(&w->changed, &w->lock);
	int r = w->error;
	if (r == 0) {
		if (w->tail)
			w->tail->next = s;
		else
			w->head = s;
		w->tail = s;
		w->queued_bytes += s->len;
		pthread_cond_broadcast(&w->changed);
	}
	pthread_mutex_unlock(&w->lock);
	if (r) {
		free_step(s);
		return failure(w);
	}
	return CS_OK;
}

static struct cs_stage_step *new_step(enum step_kind kind)
{
	struct cs_stage_step *s = calloc(1, sizeof(*s));
	if (s)
		s->kind = kind;
	return s;
}

int cs_stage_writer_open(struct cs_stage_writer *w, size_t entry, const char *path, uint64_t size)
{
	struct cs_stage_step *s = new_step(STEP_OPEN);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	s->entry = entry;
	s->path = path;
	s->size = size;
	return hand_over(w, s);
}

int cs_stage_writer_data(struct cs_stage_writer *w, uint8_t *data, size_t len)
{
	struct cs_stage_step *s = new_step(STEP_DATA);
	if (s == NULL) {
		cs_freezero(data, len);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	s->data = data;
	s->len = len;
	return hand_over(w, s);
}

int cs_stage_writer_finish(struct cs_stage_writer *w, uint32_t mode, int64_t mtime_ns)
{
	struct cs_stage_step *s = new_step(STEP_FINISH);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	s->mode = mode;
	s->mtime_ns = mtime_ns;
	return hand_over(w, s);
}

void cs_stage_writer_abandon(struct cs_stage_writer *w)
{
	struct cs_stage_step *s = new_step(STEP_ABANDON);
	if (s)
		hand_over(w, s);
}

int cs_stage_writer_drain(struct cs_stage_writer *w)
{
	/* the steps handed over, and the flush under way: a failure of either
	 * is the caller's to see */
	pthread_mutex_lock(&w->lock);
	while (w->head || w->flush_wanted)
		pthread_cond_wait(&w->changed, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return failure(w);
}

void cs_stage_writer_stop(struct cs_stage_writer *w)
{
	if (!w->started)
		return;
	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		w->quit = 1;
		pthread_cond_broadcast(&w->changed);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		w->threaded = 0;
	}
	if (w->flusher_state == 1) {
		/* after the writer: its last steps may still ask for a flush */
		pthread_mutex_lock(&w->lock);
		w->flush_quit = 1;
		pthread_cond_broadcast(&w->flush_cv);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->flusher, NULL);
	}
	if (w->flush_wanted)
		close(w->flush_fd); /* asked for when no flusher was left to take it */
	w->flush_wanted = 0;
	w->flush_fd = -1;
	w->flusher_state = 0;
	drop_file(w); /* a file opened but never finished */
	if (w->dbuf) {
		cs_wipe(w->dbuf, DIRECT_BUF); /* plaintext */
		cs_bigmem_free(w->dbuf);
		w->dbuf = NULL;
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->changed);
	pthread_cond_destroy(&w->flush_cv);
	w->started = 0;
}
