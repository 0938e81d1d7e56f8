#ifndef CERTSYNC_CHUNKER_H
#define CERTSYNC_CHUNKER_H
/*
 * Content-defined chunking (FastCDC with normalised chunking and a 64-bit
 * gear hash). Cut points depend only on nearby content, so an insertion in
 * the middle of a file changes one or two chunks, not the rest of the file.
 */
#include <certsync/common.h>

#define CS_CHUNK_MIN_DEFAULT (256u * 1024)
#define CS_CHUNK_AVG_DEFAULT (1024u * 1024)
#define CS_CHUNK_MAX_DEFAULT (4u * 1024 * 1024)

typedef struct cs_chunker_params {
	uint32_t min_size; /* no cut before this many bytes */
	uint32_t avg_size; /* a power of two; the expected chunk size */
	uint32_t max_size; /* always cut here */
} cs_chunker_params;

/* The defaults: 256 KiB / 1 MiB / 4 MiB. */
CS_EXTERN void cs_chunker_params_default(cs_chunker_params *p);

/* Length of the chunk that starts at data[0]. data holds len bytes; at_eof
 * says whether they are the last bytes of the stream. Returns 0 only when
 * len == 0, or when !at_eof and len < p->max_size and no cut point was
 * found yet (the caller must supply more data). */
CS_EXTERN size_t cs_chunker_next(const cs_chunker_params *p, const uint8_t *data, size_t len, int at_eof);

#endif
