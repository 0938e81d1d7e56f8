#ifndef CS_RELAY_CHUNK_TABLE_H
#define CS_RELAY_CHUNK_TABLE_H
/* A set of chunk hashes with a value each (open addressing), used to send a
 * chunk once per session however many files hold it. */
#include <stdint.h>
#include <stddef.h>

struct cs_chunk_table {
	uint8_t (*keys)[32];
	uint64_t *values;
	uint8_t *used;
	size_t cap, count;
};

/* Look up hash; returns 1 and sets *value when present, else 0. */
int cs_chunk_table_get(const struct cs_chunk_table *t, const uint8_t hash[32], uint64_t *value);
/* Insert or replace; negative CS_E* on allocation failure. */
int cs_chunk_table_put(struct cs_chunk_table *t, const uint8_t hash[32], uint64_t value);
void cs_chunk_table_free(struct cs_chunk_table *t);

#endif
