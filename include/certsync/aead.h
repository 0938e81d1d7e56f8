#ifndef CERTSYNC_AEAD_H
#define CERTSYNC_AEAD_H
/*
 * AES-256-GCM with caller-chosen nonce and associated data: the one
 * authenticated cipher of certsync. Chunk records (envelope.h), account
 * tokens and sealed request bodies (account.h) are built on it.
 * Implemented over OpenSSL in src/lib/envelope/.
 *
 * A (key, nonce) pair must never seal two different messages: GCM loses
 * both confidentiality and integrity when it does. Callers either derive
 * nonces from a counter they own or draw them at random (safe for up to
 * 2^32 messages per key).
 */
#include <certsync/common.h>

#define CS_AEAD_KEY_LEN 32
#define CS_AEAD_NONCE_LEN 12
#define CS_AEAD_TAG_LEN 16

/* Seal plain[0..len) with associated data aad[0..aad_len): writes len +
 * CS_AEAD_TAG_LEN bytes (ciphertext, then tag) to out, which may equal
 * plain. CS_ELIMIT beyond GCM's per-message limit (64 GiB). */
CS_EXTERN int cs_aead_seal(uint8_t *out, const uint8_t key[CS_AEAD_KEY_LEN],
	const uint8_t nonce[CS_AEAD_NONCE_LEN], const void *aad, size_t aad_len,
	const uint8_t *plain, size_t len);

/* Open sealed[0..sealed_len) (ciphertext, then tag) into out
 * (sealed_len - CS_AEAD_TAG_LEN bytes; out may equal sealed). CS_EAUTH when
 * the tag does not match (wrong key, nonce or associated data, or altered
 * bytes): out is then wiped and no error text is set, for the caller to
 * name what failed. CS_EMALFORMED when shorter than a tag. */
CS_EXTERN int cs_aead_open(uint8_t *out, const uint8_t key[CS_AEAD_KEY_LEN],
	const uint8_t nonce[CS_AEAD_NONCE_LEN], const void *aad, size_t aad_len,
	const uint8_t *sealed, size_t sealed_len);

#endif
