/*
 * Chunk records (include/certsync/envelope.h): AES-256-GCM under the
 * session's content key, bound to session, kind and index.
 *
 * Nonce (12 bytes) = u32 BE kind || u64 BE index.
 * AAD (43 bytes)   = "certsync-record-v1" || session_id (16) || u8 kind ||
 *                    u64 BE index.
 *
 * The kind is in the nonce, not only in the AAD: GCM is broken outright
 * (keystream and authentication key exposed) when one key seals two
 * messages under one nonce, and a session seals both data and manifest
 * records whose index spaces may overlap. With the kind in the nonce every
 * (kind, index) pair of a session has its own nonce. The AAD repeats both so
 * that a record moved to another session, position or kind fails its tag.
 */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <certsync/envelope.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "lib/identity/internal.h"

#define NONCE_LEN 12
#define AAD_LABEL "certsync-record-v1"
#define AAD_LABEL_LEN (sizeof(AAD_LABEL) - 1)
#define AAD_LEN (AAD_LABEL_LEN + CS_SESSION_ID_LEN + 1 + 8)
/* GCM's limit for one message under one nonce: 2^32 - 2 blocks. */
#define RECORD_MAX ((((uint64_t)1) << 36) - 32)
/* EVP counts in int; larger records are fed in pieces of this size. */
#define PIECE ((size_t)1 << 30)

/* The bulk path seals every chunk; fetching the implementation once avoids
 * a locked provider lookup per record. */
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

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static int check_kind(enum cs_record_kind kind)
{
	if (kind != CS_RECORD_DATA && kind != CS_RECORD_MANIFEST)
		return cs_error_set(CS_EINVAL, "unknown record kind %d", (int)kind);
	return CS_OK;
}

static void make_nonce_aad(uint8_t nonce[NONCE_LEN], uint8_t aad[AAD_LEN],
	const cs_session_key *sk, enum cs_record_kind kind, uint64_t index)
{
	nonce[0] = 0;
	nonce[1] = 0;
	nonce[2] = 0;
	nonce[3] = (uint8_t)kind;
	put_be64(nonce + 4, index);

	memcpy(aad, AAD_LABEL, AAD_LABEL_LEN);
	memcpy(aad + AAD_LABEL_LEN, sk->session_id, CS_SESSION_ID_LEN);
	aad[AAD_LABEL_LEN + CS_SESSION_ID_LEN] = (uint8_t)kind;
	put_be64(aad + AAD_LABEL_LEN + CS_SESSION_ID_LEN + 1, index);
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

int cs_session_key_generate(cs_session_key *sk)
{
	int r = cs_random(sk->key, sizeof(sk->key));
	if (r == 0)
		r = cs_random(sk->session_id, sizeof(sk->session_id));
	if (r < 0)
		OPENSSL_cleanse(sk, sizeof(*sk));
	return r;
}

int cs_record_seal(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *plain, size_t len)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0, r = check_kind(kind);

	if (r < 0)
		return r;
	if ((uint64_t)len > RECORD_MAX)
		return cs_error_set(CS_ELIMIT, "record of %zu bytes exceeds the GCM limit", len);
	make_nonce_aad(nonce, aad, sk, kind, index);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_EncryptInit_ex2(ctx, gcm(), sk->key, nonce, NULL) != 1
			|| EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)sizeof(aad)) != 1
			|| !update_all(ctx, 1, out, plain, len)
			|| EVP_EncryptFinal_ex(ctx, out + len, &outl) != 1
			|| EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CS_RECORD_TAG_LEN, out + len) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "seal record");
		OPENSSL_cleanse(out, len);
	}
	/* Freeing the context wipes the expanded key schedule. */
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int cs_record_open(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *sealed, size_t sealed_len)
{
	uint8_t nonce[NONCE_LEN], aad[AAD_LEN], tag[CS_RECORD_TAG_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int outl = 0, r = check_kind(kind);

	if (r < 0)
		return r;
	if (sealed_len < CS_RECORD_TAG_LEN)
		return cs_error_set(CS_EMALFORMED, "record of %zu bytes is shorter than its tag",
			sealed_len);
	size_t len = sealed_len - CS_RECORD_TAG_LEN;
	if ((uint64_t)len > RECORD_MAX)
		return cs_error_set(CS_ELIMIT, "record of %zu bytes exceeds the GCM limit", len);
	/* EVP_CTRL_AEAD_SET_TAG takes a non-const pointer: give it a copy. */
	memcpy(tag, sealed + len, CS_RECORD_TAG_LEN);
	make_nonce_aad(nonce, aad, sk, kind, index);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_DecryptInit_ex2(ctx, gcm(), sk->key, nonce, NULL) != 1
			|| EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CS_RECORD_TAG_LEN, tag) != 1
			|| EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)sizeof(aad)) != 1
			|| !update_all(ctx, 0, out, sealed, len)) {
		r = cs__ossl_error(CS_ECRYPTO, "open record");
		OPENSSL_cleanse(out, len);
		goto done;
	}
	/* The tag comparison inside EVP is constant-time. Plaintext of a
	 * record that fails it is wiped, never handed out. */
	if (EVP_DecryptFinal_ex(ctx, out + len, &outl) != 1) {
		ERR_clear_error();
		OPENSSL_cleanse(out, len);
		r = cs_error_set(CS_EAUTH,
			"record %llu failed authentication (altered, or from another session, position or kind)",
			(unsigned long long)index);
	}
done:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}
