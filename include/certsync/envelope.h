#ifndef CERTSYNC_ENVELOPE_H
#define CERTSYNC_ENVELOPE_H
/*
 * What crosses the hub (DESIGN §5).
 *
 * Sealed header: a CMS AuthEnvelopedData (RFC 5083; AES-256-GCM content
 * encryption; ECDH with a SHA-256 KDF and AES-256 key wrap for EC
 * recipients, RSA-OAEP-SHA-256 for RSA) whose content is a CMS SignedData
 * by the sender's device key over the plaintext. `openssl cms -decrypt`
 * with a recipient key opens the outer layer. GCM rather than CBC so that
 * a tampering hub learns nothing from how a device fails (see seal.c).
 * Keep headers small: OpenSSL buffers whole CMS messages.
 *
 * Chunk records: bulk data sealed with AES-256-GCM under the session's
 * content key. The 12-byte nonce is the record kind and index (u32 BE kind
 * || u64 BE index: distinct for every record of a session); the associated
 * data ("certsync-record-v1" || session id || u8 kind || u64 BE index) binds
 * the record to its session, its index and its kind, so records cannot be
 * swapped, moved to another session, or reused as another kind. Dropping
 * the last records of a stream is not visible per record: the caller must
 * check a count or end marker carried in the signed manifest.
 *
 * Sign-then-encrypt: any recipient could re-encrypt the SignedData it
 * received to a third party. Content should therefore name its session,
 * sender and recipients (the manifest does), and the opener check them.
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
 * bytes to out. out may equal plain (in place). Each (kind, index) must be
 * sealed at most once per session key. */
CS_EXTERN int cs_record_seal(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *plain, size_t len);

/* Open a sealed record of sealed_len bytes into out (sealed_len -
 * CS_RECORD_TAG_LEN bytes; out may equal sealed). CS_EAUTH when the record
 * was altered, belongs to another session, position or kind; out is then
 * zeroed. CS_EMALFORMED when shorter than a tag. */
CS_EXTERN int cs_record_open(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *sealed, size_t sealed_len);

#endif
