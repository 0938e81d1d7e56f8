/*
 * SHA-256, HMAC-SHA-256 and random bytes (include/certsync/hash.h), over
 * OpenSSL so that callers outside identity/ and envelope/ need no OpenSSL
 * headers.
 */
#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "lib/identity/internal.h"

struct cs_sha256_ctx {
	EVP_MD_CTX *md;
};

/* Fetching an algorithm walks the provider tables under a lock; the chunker
 * hashes every chunk, so the implementation is fetched once per process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	/* The default provider always has SHA-256; without it nothing works. */
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

/* The one-shot SHA256() needs no allocation, so unlike EVP_Digest it cannot
 * fail, which suits a void API; it uses the same SHA-NI/AVX code. */
void cs_sha256(uint8_t out[CS_SHA256_LEN], const void *data, size_t len)
{
	static const uint8_t empty[1];
	SHA256(data != NULL ? data : empty, len, out);
}

cs_sha256_ctx *cs_sha256_new(void)
{
	cs_sha256_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	ctx->md = EVP_MD_CTX_new();
	if (ctx->md == NULL || EVP_DigestInit_ex(ctx->md, sha256(), NULL) != 1) {
		cs_sha256_free(ctx);
		return NULL;
	}
	return ctx;
}

void cs_sha256_update(cs_sha256_ctx *ctx, const void *data, size_t len)
{
	int ok = EVP_DigestUpdate(ctx->md, data, len);
	assert(ok == 1);
	(void)ok;
}

void cs_sha256_final(cs_sha256_ctx *ctx, uint8_t out[CS_SHA256_LEN])
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(ctx->md, out, &n) != 1 || n != CS_SHA256_LEN) {
		/* Cannot happen on a context that cs_sha256_new initialised. */
		memset(out, 0, CS_SHA256_LEN);
		assert(!"SHA-256 final failed");
	}
	cs_sha256_free(ctx);
}

void cs_sha256_free(cs_sha256_ctx *ctx)
{
	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->md);
	free(ctx);
}

void cs_hmac_sha256(uint8_t out[CS_SHA256_LEN], const void *key, size_t keylen,
	const void *data, size_t len)
{
	static const uint8_t empty[1];
	unsigned int n = 0;
	/* HMAC() takes an int key length and refuses a NULL key; an empty key
	 * is legal HMAC, so hand it a valid pointer. */
	assert(keylen <= INT_MAX);
	unsigned char *r = HMAC(sha256(), key != NULL ? key : empty, (int)keylen,
		data != NULL ? data : empty, len, out, &n);
	/* HMAC() allocates and so can fail, but only when memory runs out. The
	 * output is then zeroed rather than left as stack garbage, so that a
	 * verification against it fails closed. */
	if (r == NULL || n != CS_SHA256_LEN) {
		memset(out, 0, CS_SHA256_LEN);
		assert(!"HMAC-SHA-256 failed");
	}
}

int cs_random(void *out, size_t len)
{
	uint8_t *p = out;
	/* RAND_bytes counts in int; large requests are served in pieces. */
	while (len > 0) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(p, n) != 1)
			return cs__ossl_error(CS_ECRYPTO, "random number generator failed");
		p += n;
		len -= (size_t)n;
	}
	return CS_OK;
}
