#ifndef CERTSYNC_HASH_H
#define CERTSYNC_HASH_H
/*
 * SHA-256 and secure random bytes. Implemented over OpenSSL in
 * src/lib/envelope/ so that no other module includes OpenSSL headers.
 */
#include <certsync/common.h>

#define CS_SHA256_LEN 32

typedef struct cs_sha256_ctx cs_sha256_ctx;

/* One-shot SHA-256 of data[0..len). */
CS_EXTERN void cs_sha256(uint8_t out[CS_SHA256_LEN], const void *data, size_t len);

/* Streaming SHA-256: new, update any number of times, final (which also
 * frees). cs_sha256_free discards an unfinished context; NULL is a no-op. */
CS_EXTERN cs_sha256_ctx *cs_sha256_new(void);
CS_EXTERN void cs_sha256_update(cs_sha256_ctx *ctx, const void *data, size_t len);
CS_EXTERN void cs_sha256_final(cs_sha256_ctx *ctx, uint8_t out[CS_SHA256_LEN]);
CS_EXTERN void cs_sha256_free(cs_sha256_ctx *ctx);

/* HMAC-SHA-256. */
CS_EXTERN void cs_hmac_sha256(uint8_t out[CS_SHA256_LEN], const void *key, size_t keylen,
	const void *data, size_t len);

/* Fill out with len cryptographically secure random bytes. */
CS_EXTERN int cs_random(void *out, size_t len);

#endif
