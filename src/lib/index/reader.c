/*
 * The files of one directory read on two threads (index_internal.h). A scan
 * that must read several files of a directory lists them first; a helper
 * thread then reads them in order, a little ahead of the walk, while the
 * walk reads whichever is next and not yet taken, and the results are
 * handed to the walk in its own order. A first scan of many files thus
 * keeps both cores busy cutting and hashing, where one file at a time left
 * one of them waiting for the other at every file's end.
 *
 * Each result is the state one read saw, checked by cs__ix_read_file
 * before and after reading as usual, with whether the file was racily
 * clean at that moment. The list holds the files of a run that needed
 * reading by the stats the walk took when it planned the run, shortly
 * before; the walk takes every result in order.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include "index_internal.h"

/* Files read by helper threads in this process (for tests). */
static atomic_size_t helped;

/* How far beyond the file the walk waits for the helper may read. */
#define READER_AHEAD 16

enum { ITEM_WAITING, ITEM_READING, ITEM_DONE, ITEM_TAKEN };

struct item {
	const char *name; /* borrowed from the caller's list */
	int state;
	int r;            /* cs__ix_read_file's answer */
	uint64_t hashed;
	int racy;         /* mtime within CS__IX_RACY_NS of the read */
	cs_file_entry e;  /* filled when r == CS__IX_READ_OK */
	char *message;    /* the error, for r < 0 */
};

struct cs__ix_reader {
	const cs_index *ix;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	uint8_t *buf[2]; /* the walk's and the helper's */
	size_t bufsize;
	int dirfd;
	struct item *items;
	size_t n, next, taken; /* items; the first not claimed; not yet taken */
	int quit;
};

/* Read item i on this thread with buf (h and tick as for
 * cs__ix_read_file); under rd->lock on entry and exit. */
static void read_item(struct cs__ix_reader *rd, size_t i, uint8_t *buf, struct cs__ix_hasher *h,
	void (*tick)(void *arg), void *arg)
{
	struct item *it = &rd->items[i];
	it->state = ITEM_READING;
	pthread_mutex_unlock(&rd->lock);
	cs_file_entry e;
	uint64_t hashed = 0;
	memset(&e, 0, sizeof(e));
	int r = cs__ix_read_file(&e, &hashed, rd->ix, rd->dirfd, it->name, buf, rd->bufsize, h,
		tick, arg);
	int racy = r == CS__IX_READ_OK && cs__ix_is_racy(e.mtime_ns);
	char *msg = r < 0 ? strdup(cs_error_last()) : NULL;
	pthread_mutex_lock(&rd->lock);
	it->r = r;
	it->hashed = hashed;
	it->racy = racy;
	it->e = e;
	it->message = msg;
	it->state = ITEM_DONE;
	pthread_cond_broadcast(&rd->done);
}

/* Under lock: the next item the helper may claim, or SIZE_MAX. */
static size_t claimable(const struct cs__ix_reader *rd)
{
	if (rd->next < rd->n && rd->next < rd->taken + READER_AHEAD)
		return rd->next;
	return SIZE_MAX;
}

static void *helper(void *arg)
{
	struct cs__ix_reader *rd = arg;
	pthread_mutex_lock(&rd->lock);
	for (;;) {
		size_t i;
		while ((i = claimable(rd)) == SIZE_MAX && !rd->quit)
			pthread_cond_wait(&rd->wake, &rd->lock);
		if (rd->quit)
			break;
		rd->next++;
		read_item(rd, i, rd->buf[1], NULL, NULL, NULL);
		atomic_fetch_add(&helped, 1);
	}
	pthread_mutex_unlock(&rd->lock);
	return NULL;
}

/* Free what cs__ix_reader_new made, the thread aside. */
static void release(struct cs__ix_reader *rd)
{
	pthread_cond_destroy(&rd->done);
	pthread_cond_destroy(&rd->wake);
	pthread_mutex_destroy(&rd->lock);
	cs_bigmem_free(rd->buf[0]);
	cs_bigmem_free(rd->buf[1]);
	free(rd);
}

int cs__ix_reader_new(struct cs__ix_reader **out, const cs_index *ix, size_t bufsize)
{
	struct cs__ix_reader *rd = calloc(1, sizeof(*rd));
	*out = NULL;
	if (rd == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	rd->ix = ix;
	rd->bufsize = bufsize;
	rd->dirfd = -1;
	if ((rd->buf[0] = cs_bigmem_alloc(bufsize)) == NULL ||
	    (rd->buf[1] = cs_bigmem_alloc(bufsize)) == NULL) {
		cs_bigmem_free(rd->buf[0]);
		free(rd);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&rd->lock, NULL);
	pthread_cond_init(&rd->wake, NULL);
	pthread_cond_init(&rd->done, NULL);
	if (pthread_create(&rd->thread, NULL, helper, rd) != 0) {
		release(rd);
		return cs_error_set(CS_ENOMEM, "cannot start a reading thread");
	}
	*out = rd;
	return CS_OK;
}

uint8_t *cs__ix_reader_buffer(struct cs__ix_reader *rd)
{
	return rd->buf[0];
}

int cs__ix_reader_begin(struct cs__ix_reader *rd, int dirfd, const char *const *names, size_t n)
{
	struct item *items = calloc(n, sizeof(*items));
	if (items == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		items[i].name = names[i];
	pthread_mutex_lock(&rd->lock);
	rd->items = items;
	rd->n = n;
	rd->next = rd->taken = 0;
	rd->dirfd = dirfd;
	pthread_cond_signal(&rd->wake);
	pthread_mutex_unlock(&rd->lock);
	return CS_OK;
}

int cs__ix_reader_take(struct cs__ix_reader *rd, size_t i, cs_file_entry *e, uint64_t *hashed,
	int *racy, struct cs__ix_hasher *h, void (*tick)(void *arg), void *arg)
{
	pthread_mutex_lock(&rd->lock);
	rd->taken = i;
	pthread_cond_signal(&rd->wake); /* the window moved */
	struct item *it = &rd->items[i];
	while (it->state != ITEM_DONE) {
		if (it->state == ITEM_WAITING) {
			/* not claimed yet: read it here, and everything the
			 * helper skipped before it is no longer wanted */
			rd->next = i + 1;
			read_item(rd, i, rd->buf[0], h, tick, arg);
		} else if (rd->next < rd->n && rd->next < i + READER_AHEAD) {
			/* the helper is on it: read the next one meanwhile */
			size_t k = rd->next++;
			read_item(rd, k, rd->buf[0], NULL, tick, arg);
		} else {
			pthread_cond_wait(&rd->done, &rd->lock);
		}
	}
	int r = it->r;
	*hashed = it->hashed;
	*racy = it->racy;
	*e = it->e;
	memset(&it->e, 0, sizeof(it->e));
	if (r < 0)
		cs_error_set(r, "%s", it->message ? it->message : "read failed");
	it->state = ITEM_TAKEN;
	pthread_mutex_unlock(&rd->lock);
	return r;
}

void cs__ix_reader_end(struct cs__ix_reader *rd)
{
	pthread_mutex_lock(&rd->lock);
	/* nothing more to claim; wait for a read under way */
	rd->next = rd->n;
	for (size_t i = 0; i < rd->n; i++) {
		while (rd->items[i].state == ITEM_READING)
			pthread_cond_wait(&rd->done, &rd->lock);
		cs__ix_entry_clear(&rd->items[i].e);
		free(rd->items[i].message);
	}
	free(rd->items);
	rd->items = NULL;
	rd->n = rd->next = rd->taken = 0;
	rd->dirfd = -1;
	pthread_mutex_unlock(&rd->lock);
}

void cs__ix_reader_free(struct cs__ix_reader *rd)
{
	if (rd == NULL)
		return;
	pthread_mutex_lock(&rd->lock);
	rd->quit = 1;
	pthread_cond_signal(&rd->wake);
	pthread_mutex_unlock(&rd->lock);
	pthread_join(rd->thread, NULL);
	release(rd);
}

size_t cs__ix_reader_helped(void)
{
	return atomic_load(&helped);
}
