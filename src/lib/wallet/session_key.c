/*
 * The transfer's identity, what the receiver signs, and the session key
 * both sides derive for their MACs (PROTOCOL.md §13.5).
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "lib/wallet/local.h"

void cs__wl_transfer_id(uint8_t out[CS__WL_ID_LEN], const uint8_t d_init[CS__WL_ID_LEN],
	const uint8_t d_answer[CS__WL_ID_LEN], const uint8_t d_execute[CS__WL_ID_LEN])
{
	static const char label[] = "certsync-wallet-transfer-v1";
	uint8_t in[sizeof(label) + 3 * CS__WL_ID_LEN];
	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), d_init, CS__WL_ID_LEN);
	memcpy(in + sizeof(label) + CS__WL_ID_LEN, d_answer, CS__WL_ID_LEN);
	memcpy(in + sizeof(label) + 2 * CS__WL_ID_LEN, d_execute, CS__WL_ID_LEN);
	cs_sha256(out, in, sizeof(in));
}

void cs__wl_execute_tbs(uint8_t out[CS__WL_ID_LEN], const uint8_t d_init[CS__WL_ID_LEN],
	const uint8_t d_answer[CS__WL_ID_LEN], const uint8_t random[CS__WL_RANDOM_LEN],
	const uint8_t factor[CS__WL_FACTOR_LEN], const char *receiver, const char *payer)
{
	static const char label[] = "certsync-wallet-execute-v1";
	cs_sha256_ctx *c = cs_sha256_new();
	if (c == NULL) { /* out of memory: a value no signature verifies against */
		memset(out, 0, CS__WL_ID_LEN);
		return;
	}
	cs_sha256_update(c, label, sizeof(label));
	cs_sha256_update(c, d_init, CS__WL_ID_LEN);
	cs_sha256_update(c, d_answer, CS__WL_ID_LEN);
	cs_sha256_update(c, random, CS__WL_RANDOM_LEN);
	cs_sha256_update(c, factor, CS__WL_FACTOR_LEN);
	cs_sha256_update(c, receiver, strlen(receiver) + 1);
	cs_sha256_update(c, payer, strlen(payer) + 1);
	cs_sha256_final(c, out); /* frees c */
}

void cs__wl_mac(uint8_t out[CS__WL_MAC_LEN], const uint8_t k[CS__WL_MAC_LEN], const char *label,
	const uint8_t *data, size_t len)
{
	size_t ll = strlen(label) + 1;
	uint8_t stack[256], *in = ll + len <= sizeof(stack) ? stack : malloc(ll + len);
	if (in == NULL) { /* out of memory: a MAC that verifies nothing */
		cs_random(out, CS__WL_MAC_LEN);
		return;
	}
	memcpy(in, label, ll);
	if (len)
		memcpy(in + ll, data, len);
	cs_hmac_sha256(out, k, CS__WL_MAC_LEN, in, ll + len);
	if (in != stack)
		free(in);
}

int cs__wl_session_key(uint8_t k[CS__WL_MAC_LEN], const cs_key *key, const cs_cert *peer,
	const uint8_t factor[CS__WL_FACTOR_LEN], const uint8_t r_payer[CS__WL_RANDOM_LEN],
	const uint8_t r_receiver[CS__WL_RANDOM_LEN], const uint8_t transfer[CS__WL_ID_LEN])
{
	static const char info_label[] = "certsync-wallet-session-v1";
	uint8_t z[CS_KEY_AGREE_LEN], salt[CS__WL_FACTOR_LEN + 2 * CS__WL_RANDOM_LEN], prk[32];
	uint8_t info[sizeof(info_label) + CS__WL_ID_LEN + 1];
	int r;

	if ((r = cs_key_agree(z, key, peer)) < 0)
		return r;
	/* HKDF (RFC 5869) with SHA-256: extract, then one block of expand */
	memcpy(salt, factor, CS__WL_FACTOR_LEN);
	memcpy(salt + CS__WL_FACTOR_LEN, r_payer, CS__WL_RANDOM_LEN);
	memcpy(salt + CS__WL_FACTOR_LEN + CS__WL_RANDOM_LEN, r_receiver, CS__WL_RANDOM_LEN);
	cs_hmac_sha256(prk, salt, sizeof(salt), z, sizeof(z));
	memcpy(info, info_label, sizeof(info_label));
	memcpy(info + sizeof(info_label), transfer, CS__WL_ID_LEN);
	info[sizeof(info) - 1] = 1;
	cs_hmac_sha256(k, prk, sizeof(prk), info, sizeof(info));
	cs_wipe(z, sizeof(z));
	cs_wipe(prk, sizeof(prk));
	return CS_OK;
}
