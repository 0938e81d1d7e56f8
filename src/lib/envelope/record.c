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
#include <string.h>
#include <certsync/aead.h>
#include <certsync/envelope.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/secure.h>

#define AAD_LABEL "certsync-record-v1"
#define AAD_LABEL_LEN (sizeof(AAD_LABEL) - 1)
#define AAD_LEN (AAD_LABEL_LEN + CS_SESSION_ID_LEN + 1 + 8)

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

static void make_nonce_aad(uint8_t nonce[CS_AEAD_NONCE_LEN], uint8_t aad[AAD_LEN],
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

int cs_session_key_generate(cs_session_key *sk)
{
	int r = cs_random(sk->key, sizeof(sk->key));
	if (r == 0)
		r = cs_random(sk->session_id, sizeof(sk->session_id));
	if (r < 0)
		cs_wipe(sk, sizeof(*sk));
	return r;
}

int cs_record_seal(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *plain, size_t len)
{
	uint8_t nonce[CS_AEAD_NONCE_LEN], aad[AAD_LEN];
	int r = check_kind(kind);

	if (r < 0)
		return r;
	make_nonce_aad(nonce, aad, sk, kind, index);
	return cs_aead_seal(out, sk->key, nonce, aad, sizeof(aad), plain, len);
}

int cs_record_open(uint8_t *out, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *sealed, size_t sealed_len)
{
	uint8_t nonce[CS_AEAD_NONCE_LEN], aad[AAD_LEN];
	int r = check_kind(kind);

	if (r < 0)
		return r;
	if (sealed_len < CS_RECORD_TAG_LEN)
		return cs_error_set(CS_EMALFORMED, "record of %zu bytes is shorter than its tag",
			sealed_len);
	make_nonce_aad(nonce, aad, sk, kind, index);
	r = cs_aead_open(out, sk->key, nonce, aad, sizeof(aad), sealed, sealed_len);
	if (r == CS_EAUTH)
		return cs_error_set(CS_EAUTH,
			"record %llu failed authentication (altered, or from another session, position or kind)",
			(unsigned long long)index);
	return r;
}
