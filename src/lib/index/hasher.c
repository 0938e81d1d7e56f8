/*
 * Chunk hashing on two threads (index_internal.h). A scan cuts a buffer
 * into chunks on its own thread (the chunker is sequential) and hands the
 * buffer's chunks over as one batch; a helper that lives as long as the scan
 * hashes them while the scan reads and cuts the next buffer (the second
 * read buffer kept here makes that possible). When the scan needs the batch
 * done and the helper is still at it, the scan hashes what is left itself:
 * each chunk goes to whichever thread claims it first. A first scan of a
 * large folder is bound by SHA-256 and the chunker, so this keeps both cores
 * busy on a machine with two.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "index_internal.h"

/* Batches handed to a helper, and batch entries the helper hashed, in this
 * process; and whether finish leaves every entry to the helper (for tests). */
static atomic_size_t shared, helper_hashed;
static atomic_int leave_to_helper;

/* Below this many bytes the hand-off costs more than it saves. */
#define HASHER_MIN_BYTES (512u * 1024)

struct cs__ix_hasher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	uint8_t *spare;   /* the caller's second read buffer, or NULL */
	size_t spare_size;
	/* The batch: copies of the caller's chunks[first, first + n), whose
	 * bytes are at data + offset - base. */
	const uint8_t *data;
	uint64_t base;
	cs_chunk_ref *batch;
	size_t cap, n, first;
	atomic_size_t next; /* the next batch entry nobody has claimed */
	int offered;      /* under lock: the helper may join the batch */
	int helping;      /* under lock: the helper is hashing batch entries */
	int open;         /* the caller's side: a batch was begun, not finished */
	int quit;
};

/* Hash batch entries until none is left to claim; how many. */
static size_t hash_claimed(struct cs__ix_hasher *h)
{
	size_t done = 0;
	for (;; done++) {
		size_t i = atomic_fetch_add(&h->next, 1);
		if (i >= h->n)
			return done;
		cs_chunk_ref *c = &h->batch[i];
		cs_sha256(c->hash, h->data + (c->offset - h->base), c->len);
	}
}

static void *helper(void *arg)
{
	struct cs__ix_hasher *h = arg;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->offered && !h->quit)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->quit)
			break;
		h->offered = 0;
		h->helping = 1;
		pthread_mutex_unlock(&h->lock);
		atomic_fetch_add(&helper_hashed, hash_claimed(h));
		pthread_mutex_lock(&h->lock);
		h->helping = 0;
		pthread_cond_signal(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int cs__ix_hasher_new(struct cs__ix_hasher **out, size_t bufsize)
{
	struct cs__ix_hasher *h = calloc(1, sizeof(*h));
	*out = NULL;
	if (h == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	/* without a second buffer the caller waits for each batch before it
	 * reuses its only one */
	h->spare = bufsize ? cs_bigmem_alloc(bufsize) : NULL;
	h->spare_size = h->spare ? bufsize : 0;
	atomic_init(&h->next, 0);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->done, NULL);
	if (pthread_create(&h->thread, NULL, helper, h) != 0) {
		pthread_cond_destroy(&h->done);
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->lock);
		cs_bigmem_free(h->spare);
		free(h);
		return cs_error_set(CS_ENOMEM, "cannot start a hashing thread");
	}
	*out = h;
	return CS_OK;
}

uint8_t *cs__ix_hasher_spare(struct cs__ix_hasher *h, size_t bufsize)
{
	return h && h->spare_size >= bufsize ? h->spare : NULL;
}

/* Hash chunks[0, n) on this thread; 0, for cs__ix_hasher_begin. */
static int hash_here(const uint8_t *data, uint64_t base, cs_chunk_ref *chunks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cs_sha256(chunks[i].hash, data + (chunks[i].offset - base), chunks[i].len);
	return 0;
}

int cs__ix_hasher_begin(struct cs__ix_hasher *h, const uint8_t *data, uint64_t base,
	cs_chunk_ref *chunks, size_t first, size_t n)
{
	uint64_t bytes = 0;
	for (size_t i = first; i < first + n; i++)
		bytes += chunks[i].len;
	/* One batch at a time: with one still open, this one is hashed here. */
	if (h == NULL || h->open || n < 2 || bytes < HASHER_MIN_BYTES)
		return hash_here(data, base, chunks + first, n);
	if (n > h->cap) {
		cs_chunk_ref *b = realloc(h->batch, n * sizeof(*b));
		if (b == NULL)
			return hash_here(data, base, chunks + first, n);
		h->batch = b;
		h->cap = n;
	}
	/* A copy: the caller's list may move (grow) while the batch is hashed. */
	memcpy(h->batch, chunks + first, n * sizeof(*chunks));
	h->data = data;
	h->base = base;
	h->first = first;
	h->n = n;
	atomic_store(&h->next, 0);
	h->open = 1;
	atomic_fetch_add(&shared, 1);
	pthread_mutex_lock(&h->lock);
	h->offered = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return 1;
}

void cs__ix_hasher_finish(struct cs__ix_hasher *h, cs_chunk_ref *chunks)
{
	if (h == NULL || !h->open)
		return;
	pthread_mutex_lock(&h->lock);
	if (atomic_load(&leave_to_helper)) {
		while (h->offered || h->helping)
			pthread_cond_wait(&h->done, &h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	hash_claimed(h);
	/* Every entry is claimed: a helper that has not woken yet must not
	 * start, and one that is hashing finishes its last entry. */
	pthread_mutex_lock(&h->lock);
	h->offered = 0;
	while (h->helping)
		pthread_cond_wait(&h->done, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (chunks != NULL)
		for (size_t i = 0; i < h->n; i++)
			memcpy(chunks[h->first + i].hash, h->batch[i].hash, sizeof(chunks[0].hash));
	h->open = 0;
}

void cs__ix_hasher_free(struct cs__ix_hasher *h)
{
	if (h == NULL)
		return;
	cs__ix_hasher_finish(h, NULL);
	pthread_mutex_lock(&h->lock);
	h->quit = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	cs_bigmem_free(h->spare);
	free(h->batch);
	free(h);
}

size_t cs__ix_hasher_shared(void)
{
	return atomic_load(&shared);
}

size_t cs__ix_hasher_helper_hashed(void)
{
	return atomic_load(&helper_hashed);
}

void cs__ix_hasher_leave_to_helper(int on)
{
	atomic_store(&leave_to_helper, on);
}
