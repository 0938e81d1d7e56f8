/*
 * Chunk hashing on two threads (index_internal.h). A scan cuts a buffer
 * into chunks on its own thread (the chunker is sequential), then hashes
 * the buffer's chunks: half of the bytes on the scan's thread, half on a
 * helper that lives as long as the scan. A first scan of a large folder is
 * bound by SHA-256, so this nearly halves it on a machine with two cores.
 */
#include <pthread.h>
#include <stdlib.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "index_internal.h"

/* Below this many bytes the hand-off costs more than it saves. */
#define HASHER_MIN_BYTES (512u * 1024)

struct cs__ix_hasher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	/* the helper's share: chunks[from, to) of data at file offset base */
	const uint8_t *data;
	uint64_t base;
	cs_chunk_ref *chunks;
	size_t from, to;
	int busy, quit;
};

static void hash_range(const uint8_t *data, uint64_t base, cs_chunk_ref *chunks, size_t from,
	size_t to)
{
	for (size_t i = from; i < to; i++)
		cs_sha256(chunks[i].hash, data + (chunks[i].offset - base), chunks[i].len);
}

static void *helper(void *arg)
{
	struct cs__ix_hasher *h = arg;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->busy && !h->quit)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->quit)
			break;
		pthread_mutex_unlock(&h->lock);
		hash_range(h->data, h->base, h->chunks, h->from, h->to);
		pthread_mutex_lock(&h->lock);
		h->busy = 0;
		pthread_cond_signal(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int cs__ix_hasher_new(struct cs__ix_hasher **out)
{
	struct cs__ix_hasher *h = calloc(1, sizeof(*h));
	*out = NULL;
	if (h == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->done, NULL);
	if (pthread_create(&h->thread, NULL, helper, h) != 0) {
		pthread_cond_destroy(&h->done);
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return cs_error_set(CS_ENOMEM, "cannot start a hashing thread");
	}
	*out = h;
	return CS_OK;
}

void cs__ix_hasher_run(struct cs__ix_hasher *h, const uint8_t *data, uint64_t base,
	cs_chunk_ref *chunks, size_t n)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += chunks[i].len;
	if (h == NULL || n < 2 || bytes < HASHER_MIN_BYTES) {
		hash_range(data, base, chunks, 0, n);
		return;
	}
	/* the helper takes the chunks after the first half of the bytes */
	size_t split = 0;
	for (uint64_t acc = 0; split < n - 1 && acc + chunks[split].len <= bytes / 2; split++)
		acc += chunks[split].len;
	if (split == 0)
		split = 1;
	pthread_mutex_lock(&h->lock);
	h->data = data;
	h->base = base;
	h->chunks = chunks;
	h->from = split;
	h->to = n;
	h->busy = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	hash_range(data, base, chunks, 0, split);
	pthread_mutex_lock(&h->lock);
	while (h->busy)
		pthread_cond_wait(&h->done, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

void cs__ix_hasher_free(struct cs__ix_hasher *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->quit = 1;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_cond_destroy(&h->done);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
