/* Chunk hash table (chunk_table.h). Keys are SHA-256 outputs, so their
 * first bytes are already uniformly distributed and serve as the hash. */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include "chunk_table.h"

static size_t slot_of(const uint8_t hash[32], size_t cap)
{
	uint64_t h;
	memcpy(&h, hash, sizeof(h));
	return (size_t)(h & (cap - 1));
}

int cs_chunk_table_get(const struct cs_chunk_table *t, const uint8_t hash[32], uint64_t *value)
{
	if (t->cap == 0)
		return 0;
	for (size_t i = slot_of(hash, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (!t->used[i])
			return 0;
		if (memcmp(t->keys[i], hash, 32) == 0) {
			*value = t->values[i];
			return 1;
		}
	}
}

static int rehash(struct cs_chunk_table *t, size_t cap)
{
	struct cs_chunk_table n = {0};
	n.cap = cap;
	n.keys = malloc(cap * 32);
	n.values = malloc(cap * sizeof(uint64_t));
	n.used = calloc(cap, 1);
	if (!n.keys || !n.values || !n.used) {
		cs_chunk_table_free(&n);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->used[i])
			cs_chunk_table_put(&n, t->keys[i], t->values[i]);
	cs_chunk_table_free(t);
	*t = n;
	return CS_OK;
}

int cs_chunk_table_put(struct cs_chunk_table *t, const uint8_t hash[32], uint64_t value)
{
	if ((t->count + 1) * 4 > t->cap * 3) {
		int r = rehash(t, t->cap ? t->cap * 2 : 1024);
		if (r < 0)
			return r;
	}
	for (size_t i = slot_of(hash, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (!t->used[i]) {
			t->used[i] = 1;
			memcpy(t->keys[i], hash, 32);
			t->values[i] = value;
			t->count++;
			return 0;
		}
		if (memcmp(t->keys[i], hash, 32) == 0) {
			t->values[i] = value;
			return 0;
		}
	}
}

void cs_chunk_table_free(struct cs_chunk_table *t)
{
	free(t->keys);
	free(t->values);
	free(t->used);
	memset(t, 0, sizeof(*t));
}
