#ifndef CERTSYNC_ENVELOPE_H
#define CERTSYNC_ENVELOPE_H
/*
 * What crosses the hub (DESIGN §5).
 *
 * Sealed header: a CMS EnvelopedData (ECDH with a SHA-256 KDF for EC
 * recipients, RSA-OAEP for RSA; AES-256 content encryption) whose content is
 * a CMS SignedData by the sender's device key over the plaintext. `openssl
 * cms -decrypt` with a recipient key opens the outer layer. Keep headers
 * small: OpenSSL buffers whole CMS messages.
 *
 * Chunk records: bulk data sealed with AES-256-GCM under the session's
 * content key. The 12-byte nonce is the record index; the associated data
 * binds the record to its session, its index and its kind, so records cannot
 * be swapped, moved to another session, or reused as another kind.
 */
#include <certsync/common.h>
#include <certsync/identity.h>

#define CS_CONTENT_KEY_LEN 32
#define CS_SESSION_ID_LEN 16
#define CS_RECORD_TAG_LEN 16
#define CS_ENVELOPE_MAX (16u << 20) /* largest sealed header accepted */

/* Seal content for recipients: sign with signer_key/signer_cert, then
 * encrypt to every recipient certificate. *out is malloc'd DER. */
CS_EXTERN int cs_envelope_seal(uint8_t **out, size_t *out_len,
	const uint8_t *content, size_t len,
	const cs_key *signer_key, const cs_cert *signer_cert,
	const cs_cert *const *recipients, size_t nrecipients);

/* Open a sealed header addressed to recipient (key + its certificate):
 * decrypt, then verify the inner signature. *content is malloc'd; *signer
 * receives the signing certificate as embedded in the message (the caller
 * must still check it: chain, revocation, and that it is the expected
 * sender). CS_EAUTH when not addressed to this recipient or the signature
 * fails, CS_EMALFORMED for bad input. */
CS_EXTERN int cs_envelope_open(uint8_t **content, size_t *content_len, cs_cert **signer,
	const uint8_t *der, size_t der_len,
	const cs_key *recipient_key, const cs_cert *recipient_cert);

/* Kinds of sealed records; part of the associated data. */
enum cs_record_kind { CS_RECORD_DATA = 1, CS_RECORD_MANIFEST = 2 };

/* Session parameters shared by every record of one sync session. */
typedef struct cs_session_key {
	uint8_t key[CS_CONTENT_KEY_LEN];
	uint8_t session_id[CS_SESSION_ID_LEN];
} cs_session_key;

/* Fill sk with a fresh random key and session id. */
CS_EXTERN int cs_session_key_generate(cs_session_key *sk);

/* Seal plain[0..len) as record (kind, index): writes len + CS_RECORD_TAG_LEN
 * bytes to out. */
CS_EXTERN int cs_record_seal(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *plain, size_t len);

/* Open a sealed record of sealed_len bytes into out (sealed_len -
 * CS_RECORD_TAG_LEN bytes). CS_EAUTH when the record was altered, belongs to
 * another session, position or kind. */
CS_EXTERN int cs_record_open(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *sealed, size_t sealed_len);

#endif
