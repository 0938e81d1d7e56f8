/*
 * Login proofs (include/certsync/account.h): SCRAM-SHA-256 (RFC 5802,
 * RFC 7677) with argon2id in place of PBKDF2 as the salted-password
 * function, and the keys derived from the exchange.
 */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/secure.h>

#define LABEL_CLIENT "Client Key"
#define LABEL_SERVER "Server Key"
#define LABEL_MESSAGE "certsync message key\n"
#define LABEL_WRAP "certsync account data key"

int cs_acct_name_valid(const char *name)
{
	return cs_text_is_name(name, CS_ACCT_NAME_MAX, "._@-");
}

int cs_acct_salted_password(uint8_t sp[CS_ACCT_KEY_LEN], const char *password,
	const cs_acct_kdf *kdf)
{
	if (kdf->t_cost < 1 || kdf->t_cost > CS_ACCT_KDF_T_MAX || kdf->m_kib < 8 ||
	    kdf->m_kib > CS_ACCT_KDF_M_MAX)
		return cs_error_set(CS_EINVAL, "argon2id parameters t=%u m=%u KiB are out of range",
			kdf->t_cost, kdf->m_kib);
	int r = argon2id_hash_raw(kdf->t_cost, kdf->m_kib, 1, password, strlen(password), kdf->salt,
		CS_ACCT_SALT_LEN, sp, CS_ACCT_KEY_LEN);
	if (r != ARGON2_OK) {
		cs_wipe(sp, CS_ACCT_KEY_LEN);
		return cs_error_set(r == ARGON2_MEMORY_ALLOCATION_ERROR ? CS_ENOMEM : CS_ECRYPTO,
			"argon2id: %s", argon2_error_message(r));
	}
	return CS_OK;
}

static void hmac_label(uint8_t out[CS_ACCT_KEY_LEN], const uint8_t key[CS_ACCT_KEY_LEN],
	const char *label)
{
	cs_hmac_sha256(out, key, CS_ACCT_KEY_LEN, label, strlen(label));
}

void cs_acct_verifier(uint8_t stored_key[CS_ACCT_KEY_LEN], uint8_t server_key[CS_ACCT_KEY_LEN],
	const uint8_t sp[CS_ACCT_KEY_LEN])
{
	uint8_t ck[CS_ACCT_KEY_LEN];
	hmac_label(ck, sp, LABEL_CLIENT);
	cs_sha256(stored_key, ck, sizeof(ck));
	hmac_label(server_key, sp, LABEL_SERVER);
	cs_wipe(ck, sizeof(ck));
}

int cs_acct_auth_message(char **out, const char *account, const char *device,
	const uint8_t cnonce[CS_ACCT_NONCE_LEN], const uint8_t snonce[CS_ACCT_NONCE_LEN],
	const cs_acct_kdf *kdf)
{
	char cn[2 * CS_ACCT_NONCE_LEN + 1], sn[2 * CS_ACCT_NONCE_LEN + 1], salt[2 * CS_ACCT_SALT_LEN + 1];
	*out = NULL;
	/* one value per line: neither may hold a line break */
	if (!cs_acct_name_valid(account) || device[0] == '\0' || strlen(device) >= CS_DEVICE_ID_SIZE ||
	    strpbrk(device, "\r\n") != NULL)
		return cs_error_set(CS_EINVAL, "invalid account name or device id");
	cs_hex_encode(cn, cnonce, CS_ACCT_NONCE_LEN);
	cs_hex_encode(sn, snonce, CS_ACCT_NONCE_LEN);
	cs_hex_encode(salt, kdf->salt, CS_ACCT_SALT_LEN);
	if (asprintf(out, "certsync-login-v1\n%s\n%s\n%s\n%s\n%s\n%u\n%u", account, device, cn, sn,
		    salt, kdf->t_cost, kdf->m_kib) < 0) {
		*out = NULL;
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	return CS_OK;
}

void cs_acct_client_proof(uint8_t proof[CS_ACCT_KEY_LEN], uint8_t client_key[CS_ACCT_KEY_LEN],
	const uint8_t sp[CS_ACCT_KEY_LEN], const char *auth)
{
	uint8_t ck[CS_ACCT_KEY_LEN], stored[CS_ACCT_KEY_LEN], sig[CS_ACCT_KEY_LEN];
	hmac_label(ck, sp, LABEL_CLIENT);
	cs_sha256(stored, ck, sizeof(ck));
	cs_hmac_sha256(sig, stored, sizeof(stored), auth, strlen(auth));
	for (size_t i = 0; i < CS_ACCT_KEY_LEN; i++)
		proof[i] = ck[i] ^ sig[i];
	if (client_key != NULL)
		memcpy(client_key, ck, sizeof(ck));
	cs_wipe(ck, sizeof(ck));
	cs_wipe(sig, sizeof(sig));
}

int cs_acct_check_proof(uint8_t client_key[CS_ACCT_KEY_LEN],
	const uint8_t stored_key[CS_ACCT_KEY_LEN], const char *auth,
	const uint8_t proof[CS_ACCT_KEY_LEN])
{
	uint8_t sig[CS_ACCT_KEY_LEN], h[CS_ACCT_KEY_LEN];
	cs_hmac_sha256(sig, stored_key, CS_ACCT_KEY_LEN, auth, strlen(auth));
	for (size_t i = 0; i < CS_ACCT_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	cs_sha256(h, client_key, CS_ACCT_KEY_LEN);
	int ok = cs_memeq(h, stored_key, CS_ACCT_KEY_LEN);
	cs_wipe(sig, sizeof(sig));
	if (!ok) {
		cs_wipe(client_key, CS_ACCT_KEY_LEN);
		return cs_error_set(CS_EAUTH, "wrong account or password");
	}
	return CS_OK;
}

void cs_acct_server_signature(uint8_t sig[CS_ACCT_KEY_LEN],
	const uint8_t server_key[CS_ACCT_KEY_LEN], const char *auth)
{
	cs_hmac_sha256(sig, server_key, CS_ACCT_KEY_LEN, auth, strlen(auth));
}

void cs_acct_message_key(uint8_t mk[CS_ACCT_KEY_LEN], const uint8_t client_key[CS_ACCT_KEY_LEN],
	const char *auth)
{
	/* HMAC(ClientKey, label || SHA-256(auth)): fixed-size input */
	uint8_t msg[sizeof(LABEL_MESSAGE) - 1 + CS_SHA256_LEN];
	memcpy(msg, LABEL_MESSAGE, sizeof(LABEL_MESSAGE) - 1);
	cs_sha256(msg + sizeof(LABEL_MESSAGE) - 1, auth, strlen(auth));
	cs_hmac_sha256(mk, client_key, CS_ACCT_KEY_LEN, msg, sizeof(msg));
}

void cs_acct_wrapping_key(uint8_t kek[CS_ACCT_KEY_LEN], const uint8_t sp[CS_ACCT_KEY_LEN])
{
	hmac_label(kek, sp, LABEL_WRAP);
}
