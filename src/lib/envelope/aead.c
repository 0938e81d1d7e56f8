/*
 * AES-256-GCM (include/certsync/aead.h) over OpenSSL's EVP interface.
 */
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <certsync/aead.h>
#include <certsync/error.h>
#include "lib/identity/internal.h"

/* GCM's limit for one message under one nonce: 2^32 - 2 blocks. */
#define MESSAGE_MAX ((((uint64_t)1) << 36) - 32)
/* EVP counts in int; longer input is fed in pieces of this size. */
#define PIECE ((size_t)1 << 30)

/* The bulk path seals every chunk; fetching the implementation once avoids
 * a locked provider lookup per message. */
static EVP_CIPHER *gcm_cipher;
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;

static void gcm_fetch(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *gcm(void)
{
	pthread_once(&gcm_once, gcm_fetch);
	return gcm_cipher != NULL ? gcm_cipher : EVP_aes_256_gcm();
}

/* Run in[0..len) through ctx in int-sized pieces. */
static int update_all(EVP_CIPHER_CTX *ctx, int enc, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		size_t n = len < PIECE ? len : PIECE;
		int outl = 0;
		int ok = enc ? EVP_EncryptUpdate(ctx, out, &outl, in, (int)n)
			: EVP_DecryptUpdate(ctx, out, &outl, in, (int)n);
		if (ok != 1 || (size_t)outl != n)
			return 0;
		out += n;
		in += n;
		len -= n;
	}
	return 1;
}

/* Feed the associated data (EVP takes an int length). */
static int add_aad(EVP_CIPHER_CTX *ctx, int enc, const void *aad, size_t aad_len)
{
	int outl = 0;
	if (aad_len == 0)
		return 1;
	if (aad_len > (size_t)(1 << 30))
		return 0;
	return enc ? EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) == 1
		: EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) == 1;
}

int cs_aead_seal(uint8_t *out, const uint8_t key[CS_AEAD_KEY_LEN],
	const uint8_t nonce[CS_AEAD_NONCE_LEN], const void *aad, size_t aad_len,
	const uint8_t *plain, size_t len)
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0, r = CS_OK;

	if ((uint64_t)len > MESSAGE_MAX)
		return cs_error_set(CS_ELIMIT, "message of %zu bytes exceeds the GCM limit", len);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_EncryptInit_ex2(ctx, gcm(), key, nonce, NULL) != 1
			|| !add_aad(ctx, 1, aad, aad_len)
			|| !update_all(ctx, 1, out, plain, len)
			|| EVP_EncryptFinal_ex(ctx, out + len, &outl) != 1
			|| EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CS_AEAD_TAG_LEN, out + len) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "AES-256-GCM seal");
		OPENSSL_cleanse(out, len);
	}
	/* Freeing the context wipes the expanded key schedule. */
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int cs_aead_open(uint8_t *out, const uint8_t key[CS_AEAD_KEY_LEN],
	const uint8_t nonce[CS_AEAD_NONCE_LEN], const void *aad, size_t aad_len,
	const uint8_t *sealed, size_t sealed_len)
{
	uint8_t tag[CS_AEAD_TAG_LEN];
	EVP_CIPHER_CTX *ctx;
	int outl = 0, r = CS_OK;

	if (sealed_len < CS_AEAD_TAG_LEN)
		return cs_error_set(CS_EMALFORMED, "sealed message of %zu bytes is shorter than its tag",
			sealed_len);
	size_t len = sealed_len - CS_AEAD_TAG_LEN;
	if ((uint64_t)len > MESSAGE_MAX)
		return cs_error_set(CS_ELIMIT, "message of %zu bytes exceeds the GCM limit", len);
	/* EVP_CTRL_AEAD_SET_TAG takes a non-const pointer: give it a copy. */
	memcpy(tag, sealed + len, CS_AEAD_TAG_LEN);
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_DecryptInit_ex2(ctx, gcm(), key, nonce, NULL) != 1
			|| EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CS_AEAD_TAG_LEN, tag) != 1
			|| !add_aad(ctx, 0, aad, aad_len)
			|| !update_all(ctx, 0, out, sealed, len)) {
		r = cs__ossl_error(CS_ECRYPTO, "AES-256-GCM open");
		OPENSSL_cleanse(out, len);
		goto done;
	}
	/* The tag comparison inside EVP is constant-time. Plaintext of a
	 * message that fails it is wiped, never handed out. */
	if (EVP_DecryptFinal_ex(ctx, out + len, &outl) != 1) {
		ERR_clear_error();
		OPENSSL_cleanse(out, len);
		r = CS_EAUTH;
	}
done:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}
