/* Unit tests for include/certsync/account.h (src/lib/account/): login
 * proofs, tokens and tickets, sealed request and response frames. */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <certsync/account.h>
#include <certsync/aead.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include "helpers.h"

#define DEVICE "WQNE7EK-VB3K4FC-H7F5LHD-O6W777L-56JJCQA-VZR5LHL-QSM76YW-QUTD5AF"
#define PATH "/v1/account/records/changes"

/* A cheap argon2id cost for tests: one pass over 64 KiB. */
static cs_acct_kdf small_kdf(void)
{
	cs_acct_kdf k;
	cs_test_fill_random(k.salt, sizeof(k.salt), 11);
	k.t_cost = 1;
	k.m_kib = 64;
	return k;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

/* ---- account names ---- */

static void test_name_valid(void **state)
{
	(void)state;
	char max[CS_ACCT_NAME_MAX + 2];
	memset(max, 'x', CS_ACCT_NAME_MAX);
	max[CS_ACCT_NAME_MAX] = 0;

	assert_true(cs_acct_name_valid("a"));
	assert_true(cs_acct_name_valid("alice"));
	assert_true(cs_acct_name_valid("Alice.Smith_01@example-host.org"));
	assert_true(cs_acct_name_valid("0"));
	assert_true(cs_acct_name_valid("-._@"));
	assert_true(cs_acct_name_valid(max));

	max[CS_ACCT_NAME_MAX] = 'x';
	max[CS_ACCT_NAME_MAX + 1] = 0;
	assert_false(cs_acct_name_valid(max));
	assert_false(cs_acct_name_valid(NULL));
	assert_false(cs_acct_name_valid(""));
	assert_false(cs_acct_name_valid("al ice"));
	assert_false(cs_acct_name_valid("al/ice"));
	assert_false(cs_acct_name_valid("../x"));
	assert_false(cs_acct_name_valid("alice\n"));
	assert_false(cs_acct_name_valid("a\tb"));
	assert_false(cs_acct_name_valid("a:b"));
	assert_false(cs_acct_name_valid("a+b"));
	assert_false(cs_acct_name_valid("a\"b"));
	assert_false(cs_acct_name_valid("\xc3\xa5sa")); /* UTF-8 å */
	assert_false(cs_acct_name_valid("a\x7f"));
}

/* ---- login ---- */

static void test_scram_exchange(void **state)
{
	(void)state;
	cs_acct_kdf kdf = small_kdf();
	uint8_t cn[CS_ACCT_NONCE_LEN], sn[CS_ACCT_NONCE_LEN], sn2[CS_ACCT_NONCE_LEN];
	uint8_t sp[32], sp_bad[32], stored[32], server[32], stored_bad[32], server_bad[32];
	uint8_t proof[32], proof_bad[32], proof2[32], ck_c[32], ck_h[32], ck_bad[32], ck2[32];
	uint8_t sig[32], sig_bad[32], sig2[32], mk_c[32], mk_h[32], mk2[32], kek[32], kek_bad[32];
	static const uint8_t zero[32];
	char *auth = NULL, *auth2 = NULL;

	cs_test_fill_random(cn, sizeof(cn), 1);
	cs_test_fill_random(sn, sizeof(sn), 2);
	cs_test_fill_random(sn2, sizeof(sn2), 3);
	cs_assert_ok(cs_acct_salted_password(sp, "correct horse battery staple", &kdf));
	cs_assert_ok(cs_acct_salted_password(sp_bad, "correct horse battery stapler", &kdf));
	assert_memory_not_equal(sp, sp_bad, 32);
	cs_acct_verifier(stored, server, sp);
	cs_acct_verifier(stored_bad, server_bad, sp_bad);
	assert_memory_not_equal(stored, server, 32);
	cs_assert_ok(cs_acct_auth_message(&auth, "alice", DEVICE, cn, sn, &kdf));
	cs_assert_ok(cs_acct_auth_message(&auth2, "alice", DEVICE, cn, sn2, &kdf));
	assert_string_not_equal(auth, auth2);

	/* The right password: the hub recovers the client's ClientKey. */
	cs_acct_client_proof(proof, ck_c, sp, auth);
	cs_assert_ok(cs_acct_check_proof(ck_h, stored, auth, proof));
	assert_memory_equal(ck_c, ck_h, 32);
	/* The proof is not the ClientKey itself. */
	assert_memory_not_equal(proof, ck_c, 32);
	/* NULL client_key is allowed and gives the same proof. */
	uint8_t proof_again[32];
	cs_acct_client_proof(proof_again, NULL, sp, auth);
	assert_memory_equal(proof_again, proof, 32);

	/* A wrong password: refused, and the output key is wiped. */
	cs_acct_client_proof(proof_bad, NULL, sp_bad, auth);
	memset(ck_bad, 0xAA, sizeof(ck_bad));
	assert_int_equal(cs_acct_check_proof(ck_bad, stored, auth, proof_bad), CS_EAUTH);
	assert_memory_equal(ck_bad, zero, 32);

	/* A right proof for another auth message (another server nonce). */
	cs_acct_client_proof(proof2, NULL, sp, auth2);
	assert_int_equal(cs_acct_check_proof(ck2, stored, auth, proof2), CS_EAUTH);
	cs_assert_ok(cs_acct_check_proof(ck2, stored, auth2, proof2));
	/* ...and against another account's verifier. */
	assert_int_equal(cs_acct_check_proof(ck2, stored_bad, auth, proof), CS_EAUTH);

	/* Any single flipped bit of the proof is refused. */
	for (size_t i = 0; i < 32 * 8; i++) {
		uint8_t p[32];
		memcpy(p, proof, 32);
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(cs_acct_check_proof(ck2, stored, auth, p), CS_EAUTH);
	}

	/* Server signature: depends on the ServerKey and the auth message. */
	cs_acct_server_signature(sig, server, auth);
	cs_acct_server_signature(sig_bad, server_bad, auth);
	cs_acct_server_signature(sig2, server, auth2);
	assert_memory_not_equal(sig, sig_bad, 32);
	assert_memory_not_equal(sig, sig2, 32);
	uint8_t sig_again[32];
	cs_acct_server_signature(sig_again, server, auth);
	assert_memory_equal(sig, sig_again, 32);

	/* Message keys: client and hub agree; another exchange gives another. */
	cs_acct_message_key(mk_c, ck_c, auth);
	cs_acct_message_key(mk_h, ck_h, auth);
	assert_memory_equal(mk_c, mk_h, 32);
	cs_acct_message_key(mk2, ck_c, auth2);
	assert_memory_not_equal(mk_c, mk2, 32);
	assert_memory_not_equal(mk_c, ck_c, 32);

	/* The wrapping key: not the message key, not a verifier value, and
	 * specific to the password. */
	cs_acct_wrapping_key(kek, sp);
	cs_acct_wrapping_key(kek_bad, sp_bad);
	assert_memory_not_equal(kek, mk_c, 32);
	assert_memory_not_equal(kek, ck_c, 32);
	assert_memory_not_equal(kek, stored, 32);
	assert_memory_not_equal(kek, server, 32);
	assert_memory_not_equal(kek, kek_bad, 32);

	free(auth);
	free(auth2);
}

static void test_salted_password(void **state)
{
	(void)state;
	cs_acct_kdf kdf = small_kdf(), k2;
	uint8_t sp[32], sp2[32], ref[32];

	/* argon2id(password, salt, t, m, lanes 1, 32 bytes), as libargon2 says. */
	cs_assert_ok(cs_acct_salted_password(sp, "pässword", &kdf));
	assert_int_equal(argon2id_hash_raw(1, 64, 1, "pässword", strlen("pässword"), kdf.salt,
				 CS_ACCT_SALT_LEN, ref, sizeof(ref)),
		ARGON2_OK);
	assert_memory_equal(sp, ref, 32);
	/* Not argon2i or argon2d. */
	assert_int_equal(argon2i_hash_raw(1, 64, 1, "pässword", strlen("pässword"), kdf.salt,
				 CS_ACCT_SALT_LEN, ref, sizeof(ref)),
		ARGON2_OK);
	assert_memory_not_equal(sp, ref, 32);

	/* Deterministic; every parameter counts. */
	cs_assert_ok(cs_acct_salted_password(sp2, "pässword", &kdf));
	assert_memory_equal(sp, sp2, 32);
	k2 = kdf;
	k2.salt[15] ^= 1;
	cs_assert_ok(cs_acct_salted_password(sp2, "pässword", &k2));
	assert_memory_not_equal(sp, sp2, 32);
	k2 = kdf;
	k2.t_cost = 2;
	cs_assert_ok(cs_acct_salted_password(sp2, "pässword", &k2));
	assert_memory_not_equal(sp, sp2, 32);
	assert_int_equal(argon2id_hash_raw(2, 64, 1, "pässword", strlen("pässword"), kdf.salt,
				 CS_ACCT_SALT_LEN, ref, sizeof(ref)),
		ARGON2_OK);
	assert_memory_equal(sp2, ref, 32);
	k2 = kdf;
	k2.m_kib = 128;
	cs_assert_ok(cs_acct_salted_password(sp2, "pässword", &k2));
	assert_memory_not_equal(sp, sp2, 32);
	/* The empty password is a password. */
	cs_assert_ok(cs_acct_salted_password(sp2, "", &kdf));
	assert_memory_not_equal(sp, sp2, 32);

	/* Parameter ranges. */
	k2 = kdf;
	k2.t_cost = 0;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2.t_cost = CS_ACCT_KDF_T_MAX + 1;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2.t_cost = UINT32_MAX;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2 = kdf;
	k2.m_kib = 7;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2.m_kib = 0;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2.m_kib = CS_ACCT_KDF_M_MAX + 1;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	k2.m_kib = UINT32_MAX;
	assert_int_equal(cs_acct_salted_password(sp2, "x", &k2), CS_EINVAL);
	/* The edges themselves are accepted (m at its maximum would cost 2 GiB:
	 * not run). */
	k2 = kdf;
	k2.m_kib = 8;
	cs_assert_ok(cs_acct_salted_password(sp2, "x", &k2));
	k2.t_cost = CS_ACCT_KDF_T_MAX;
	cs_assert_ok(cs_acct_salted_password(sp2, "x", &k2));
}

/* Every value of PROTOCOL.md §11.2 recomputed with OpenSSL from a fixed
 * SaltedPassword. */
static void test_scram_known_answer(void **state)
{
	(void)state;
	uint8_t sp[32], cn[CS_ACCT_NONCE_LEN], sn[CS_ACCT_NONCE_LEN];
	cs_acct_kdf kdf;
	for (int i = 0; i < 32; i++)
		sp[i] = (uint8_t)(0xA0 + i);
	for (int i = 0; i < CS_ACCT_NONCE_LEN; i++) {
		cn[i] = (uint8_t)i;
		sn[i] = (uint8_t)(0xF0 - i);
	}
	for (int i = 0; i < CS_ACCT_SALT_LEN; i++)
		kdf.salt[i] = (uint8_t)(0x10 * i + 1);
	kdf.t_cost = 3;
	kdf.m_kib = 65536;

	/* The auth message, byte for byte. */
	char hcn[2 * CS_ACCT_NONCE_LEN + 1], hsn[2 * CS_ACCT_NONCE_LEN + 1], hsalt[33], want[512];
	hex(hcn, cn, sizeof(cn));
	hex(hsn, sn, sizeof(sn));
	hex(hsalt, kdf.salt, sizeof(kdf.salt));
	snprintf(want, sizeof(want), "certsync-login-v1\nbob@example.org\n%s\n%s\n%s\n%s\n3\n65536",
		DEVICE, hcn, hsn, hsalt);
	char *auth = NULL;
	cs_assert_ok(cs_acct_auth_message(&auth, "bob@example.org", DEVICE, cn, sn, &kdf));
	assert_string_equal(auth, want);
	assert_string_equal(hcn, "000102030405060708090a0b0c0d0e0f1011");

	/* Reference values. */
	uint8_t ck[32], stored[32], server[32], csig[32], proof[32], sig[32], mk[32], kek[32];
	unsigned int n = 0;
	assert_non_null(HMAC(EVP_sha256(), sp, 32, (const uint8_t *)"Client Key", 10, ck, &n));
	assert_int_equal(n, 32);
	SHA256(ck, 32, stored);
	assert_non_null(HMAC(EVP_sha256(), sp, 32, (const uint8_t *)"Server Key", 10, server, &n));
	assert_non_null(HMAC(EVP_sha256(), stored, 32, (const uint8_t *)auth, strlen(auth), csig, &n));
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ csig[i];
	assert_non_null(HMAC(EVP_sha256(), server, 32, (const uint8_t *)auth, strlen(auth), sig, &n));
	uint8_t mkmsg[21 + 32];
	memcpy(mkmsg, "certsync message key\n", 21);
	SHA256((const uint8_t *)auth, strlen(auth), mkmsg + 21);
	assert_non_null(HMAC(EVP_sha256(), ck, 32, mkmsg, sizeof(mkmsg), mk, &n));
	assert_non_null(HMAC(EVP_sha256(), sp, 32, (const uint8_t *)"certsync account data key", 25,
		kek, &n));

	/* The library's. */
	uint8_t l_stored[32], l_server[32], l_proof[32], l_ck[32], l_ck_h[32], l_sig[32], l_mk[32],
		l_kek[32];
	cs_acct_verifier(l_stored, l_server, sp);
	assert_memory_equal(l_stored, stored, 32);
	assert_memory_equal(l_server, server, 32);
	cs_acct_client_proof(l_proof, l_ck, sp, auth);
	assert_memory_equal(l_proof, proof, 32);
	assert_memory_equal(l_ck, ck, 32);
	cs_assert_ok(cs_acct_check_proof(l_ck_h, stored, auth, proof));
	assert_memory_equal(l_ck_h, ck, 32);
	cs_acct_server_signature(l_sig, server, auth);
	assert_memory_equal(l_sig, sig, 32);
	cs_acct_message_key(l_mk, ck, auth);
	assert_memory_equal(l_mk, mk, 32);
	cs_acct_wrapping_key(l_kek, sp);
	assert_memory_equal(l_kek, kek, 32);
	free(auth);
}

/* ---- tokens and tickets ---- */

static const uint8_t *tkey(void)
{
	static uint8_t k[32];
	cs_test_fill_random(k, sizeof(k), 100);
	return k;
}

static const uint8_t *tkey2(void)
{
	static uint8_t k[32];
	cs_test_fill_random(k, sizeof(k), 101);
	return k;
}

static cs_acct_token sample_token(size_t account_len)
{
	cs_acct_token t;
	memset(&t, 0, sizeof(t));
	t.account_id = 0x0102030405060708LL;
	for (size_t i = 0; i < account_len; i++)
		t.account[i] = "abcdefghij.@_-0123456789"[i % 24];
	strcpy(t.device, DEVICE);
	t.issued = 1700000000;
	t.expires = 1700003600;
	cs_test_fill_random(t.message_key, sizeof(t.message_key), 7);
	return t;
}

static cs_acct_ticket sample_ticket(size_t account_len)
{
	cs_acct_ticket t;
	memset(&t, 0, sizeof(t));
	t.account_id = 42;
	for (size_t i = 0; i < account_len; i++)
		t.account[i] = "zyxwvutsrq"[i % 10];
	strcpy(t.device, DEVICE);
	t.expires = 1700000120;
	cs_test_fill_random(t.cnonce, sizeof(t.cnonce), 8);
	cs_test_fill_random(t.snonce, sizeof(t.snonce), 9);
	return t;
}

static void assert_token_equal(const cs_acct_token *a, const cs_acct_token *b)
{
	assert_int_equal(a->account_id, b->account_id);
	assert_string_equal(a->account, b->account);
	assert_string_equal(a->device, b->device);
	assert_int_equal(a->issued, b->issued);
	assert_int_equal(a->expires, b->expires);
	assert_memory_equal(a->message_key, b->message_key, CS_ACCT_KEY_LEN);
}

static void assert_ticket_equal(const cs_acct_ticket *a, const cs_acct_ticket *b)
{
	assert_int_equal(a->account_id, b->account_id);
	assert_string_equal(a->account, b->account);
	assert_string_equal(a->device, b->device);
	assert_int_equal(a->expires, b->expires);
	assert_memory_equal(a->cnonce, b->cnonce, CS_ACCT_NONCE_LEN);
	assert_memory_equal(a->snonce, b->snonce, CS_ACCT_NONCE_LEN);
}

static void test_token_roundtrip(void **state)
{
	(void)state;
	cs_acct_token t = sample_token(17), got;
	char *text = NULL, *text2 = NULL;
	uint32_t kid = 0;

	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 0xA1B2C3D4u, &t));
	assert_memory_equal(text, "cst1.", 5);
	assert_true(strlen(text) <= CS_ACCT_TOKEN_MAX);
	cs_assert_ok(cs_acct_sealed_kid(&kid, text, 0));
	assert_int_equal(kid, 0xA1B2C3D4u);
	assert_int_equal(cs_acct_sealed_kid(&kid, text, 1), CS_EMALFORMED);
	memset(&got, 0x55, sizeof(got));
	cs_assert_ok(cs_acct_token_open(&got, tkey(), text));
	assert_token_equal(&got, &t);

	/* Random nonces: two seals of one token differ, both open. */
	cs_assert_ok(cs_acct_token_seal(&text2, tkey(), 0xA1B2C3D4u, &t));
	assert_string_not_equal(text, text2);
	cs_assert_ok(cs_acct_token_open(&got, tkey(), text2));
	assert_token_equal(&got, &t);
	free(text2);
	text2 = NULL;

	/* Negative and extreme values, the longest name, an empty name. */
	cs_acct_token e = sample_token(CS_ACCT_NAME_MAX);
	e.account_id = -1;
	e.issued = INT64_MIN;
	e.expires = INT64_MAX;
	cs_assert_ok(cs_acct_token_seal(&text2, tkey(), 0, &e));
	assert_true(strlen(text2) <= CS_ACCT_TOKEN_MAX);
	cs_assert_ok(cs_acct_sealed_kid(&kid, text2, 0));
	assert_int_equal(kid, 0);
	cs_assert_ok(cs_acct_token_open(&got, tkey(), text2));
	assert_token_equal(&got, &e);
	free(text2);
	text2 = NULL;
	e = sample_token(0);
	e.device[0] = 0;
	cs_assert_ok(cs_acct_token_seal(&text2, tkey(), UINT32_MAX, &e));
	cs_assert_ok(cs_acct_sealed_kid(&kid, text2, 0));
	assert_int_equal(kid, UINT32_MAX);
	cs_assert_ok(cs_acct_token_open(&got, tkey(), text2));
	assert_token_equal(&got, &e);

	/* Another key. */
	assert_int_equal(cs_acct_token_open(&got, tkey2(), text), CS_EAUTH);
	free(text);
	free(text2);
}

static void test_ticket_roundtrip(void **state)
{
	(void)state;
	cs_acct_ticket t = sample_ticket(5), got;
	char *text = NULL;
	uint32_t kid = 0;

	cs_assert_ok(cs_acct_ticket_seal(&text, tkey(), 7, &t));
	assert_memory_equal(text, "csl1.", 5);
	assert_true(strlen(text) <= CS_ACCT_TOKEN_MAX);
	cs_assert_ok(cs_acct_sealed_kid(&kid, text, 1));
	assert_int_equal(kid, 7);
	assert_int_equal(cs_acct_sealed_kid(&kid, text, 0), CS_EMALFORMED);
	memset(&got, 0x55, sizeof(got));
	cs_assert_ok(cs_acct_ticket_open(&got, tkey(), text));
	assert_ticket_equal(&got, &t);
	assert_int_equal(cs_acct_ticket_open(&got, tkey2(), text), CS_EAUTH);
	free(text);

	/* An unknown account (id 0), the longest name. */
	t = sample_ticket(CS_ACCT_NAME_MAX);
	t.account_id = 0;
	cs_assert_ok(cs_acct_ticket_seal(&text, tkey(), 8, &t));
	assert_true(strlen(text) <= CS_ACCT_TOKEN_MAX);
	cs_assert_ok(cs_acct_ticket_open(&got, tkey(), text));
	assert_ticket_equal(&got, &t);
	free(text);
}

/* Replace the 5-character prefix of a sealed text. */
static char *reprefix(const char *text, const char *prefix)
{
	char *s = strdup(text);
	assert_non_null(s);
	memcpy(s, prefix, 5);
	return s;
}

static void test_token_ticket_confusion(void **state)
{
	(void)state;
	cs_acct_token tok = sample_token(5), gtok;
	cs_acct_ticket tic = sample_ticket(5), gtic;
	char *ttext = NULL, *ltext = NULL;
	cs_assert_ok(cs_acct_token_seal(&ttext, tkey(), 3, &tok));
	cs_assert_ok(cs_acct_ticket_seal(&ltext, tkey(), 3, &tic));

	/* Presented as the other kind: refused by the prefix. */
	assert_int_equal(cs_acct_ticket_open(&gtic, tkey(), ttext), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&gtok, tkey(), ltext), CS_EMALFORMED);

	/* With the prefix swapped too: refused by the associated data, though
	 * the key is right. */
	char *as_token = reprefix(ltext, "cst1.");
	char *as_ticket = reprefix(ttext, "csl1.");
	uint32_t kid;
	cs_assert_ok(cs_acct_sealed_kid(&kid, as_token, 0));
	assert_int_equal(kid, 3);
	assert_int_equal(cs_acct_token_open(&gtok, tkey(), as_token), CS_EAUTH);
	assert_int_equal(cs_acct_ticket_open(&gtic, tkey(), as_ticket), CS_EAUTH);

	/* Other prefixes. */
	char *bad = reprefix(ttext, "cst2.");
	assert_int_equal(cs_acct_token_open(&gtok, tkey(), bad), CS_EMALFORMED);
	assert_int_equal(cs_acct_sealed_kid(&kid, bad, 0), CS_EMALFORMED);
	free(bad);
	bad = reprefix(ttext, "CST1.");
	assert_int_equal(cs_acct_token_open(&gtok, tkey(), bad), CS_EMALFORMED);
	free(bad);

	free(as_token);
	free(as_ticket);
	free(ttext);
	free(ltext);
}

/* Re-encode raw bytes as a sealed text with prefix. */
static char *encode_text(const char *prefix, const uint8_t *raw, size_t len)
{
	char *b64 = NULL;
	cs_assert_ok(cs_base64_encode(&b64, raw, len));
	char *s = malloc(strlen(prefix) + strlen(b64) + 1);
	assert_non_null(s);
	strcpy(s, prefix);
	strcat(s, b64);
	free(b64);
	return s;
}

static void test_token_raw_tamper(void **state)
{
	(void)state;
	cs_acct_token t = sample_token(9), got;
	char *text = NULL;
	uint8_t *raw = NULL;
	size_t rawlen;
	uint32_t kid;
	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 0x01020304u, &t));
	cs_assert_ok(cs_base64_decode(&raw, &rawlen, text + 5, 1024));
	/* kid || nonce || ciphertext || tag */
	assert_int_equal(rawlen, 4 + 12 + (8 + 4 + 9 + 4 + strlen(DEVICE) + 8 + 8 + 32) + 16);
	assert_int_equal(raw[0], 1);
	assert_int_equal(raw[3], 4);

	/* Every altered bit of kid, nonce, ciphertext or tag is refused. A
	 * changed kid is still read (the hub looks the key up by it), but the
	 * token does not open even under the right key. */
	for (size_t i = 0; i < rawlen; i++) {
		for (int bit = 0; bit < 8; bit++) {
			raw[i] ^= (uint8_t)(1u << bit);
			char *s = encode_text("cst1.", raw, rawlen);
			if (i < 4) {
				cs_assert_ok(cs_acct_sealed_kid(&kid, s, 0));
				assert_int_equal(kid, 0x01020304u ^ ((uint32_t)1u << (bit + 8 * (3 - i))));
			}
			assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EAUTH);
			free(s);
			raw[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* The raw bytes unchanged still open. */
	char *s = encode_text("cst1.", raw, rawlen);
	cs_assert_ok(cs_acct_token_open(&got, tkey(), s));
	free(s);
	/* Truncated or extended raw bytes. */
	for (size_t n = 0; n < rawlen; n++) {
		s = encode_text("cst1.", raw, n);
		int r = cs_acct_token_open(&got, tkey(), s);
		if (n < 4 + 12 + 16)
			assert_int_equal(r, CS_EMALFORMED);
		else
			assert_int_equal(r, CS_EAUTH);
		free(s);
	}
	uint8_t *longer = malloc(rawlen + 1);
	memcpy(longer, raw, rawlen);
	longer[rawlen] = 0;
	s = encode_text("cst1.", longer, rawlen + 1);
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EAUTH);
	free(s);
	free(longer);
	free(raw);
	free(text);
}

/* Seal content under the token AAD of PROTOCOL.md §11.3, by hand. */
static char *hand_seal(int is_ticket, uint32_t kid, const uint8_t *content, size_t clen)
{
	uint8_t raw[1024], aad[32];
	const char *label = is_ticket ? "certsync-ticket-v1" : "certsync-token-v1";
	size_t ll = strlen(label);
	memcpy(aad, label, ll);
	aad[ll] = (uint8_t)(kid >> 24);
	aad[ll + 1] = (uint8_t)(kid >> 16);
	aad[ll + 2] = (uint8_t)(kid >> 8);
	aad[ll + 3] = (uint8_t)kid;
	memcpy(raw, aad + ll, 4);
	cs_test_fill_random(raw + 4, 12, kid);
	assert_true(clen + 32 <= sizeof(raw));
	cs_assert_ok(cs_aead_seal(raw + 16, tkey(), raw + 4, aad, ll + 4, content, clen));
	return encode_text(is_ticket ? "csl1." : "cst1.", raw, 16 + clen + 16);
}

static void test_token_format(void **state)
{
	(void)state;
	cs_acct_token t = sample_token(5), got;
	cs_acct_ticket tt = sample_ticket(5), gtt;
	cs_buf *c = cs_buf_new(1024);
	assert_non_null(c);

	/* A token built from the document's layout opens. */
	cs_assert_ok(cs_buf_put_u64(c, (uint64_t)t.account_id));
	cs_assert_ok(cs_buf_put_cstring(c, t.account));
	cs_assert_ok(cs_buf_put_cstring(c, t.device));
	cs_assert_ok(cs_buf_put_u64(c, (uint64_t)t.issued));
	cs_assert_ok(cs_buf_put_u64(c, (uint64_t)t.expires));
	cs_assert_ok(cs_buf_put(c, t.message_key, 32));
	char *s = hand_seal(0, 77, cs_buf_ptr(c), cs_buf_len(c));
	cs_assert_ok(cs_acct_token_open(&got, tkey(), s));
	assert_token_equal(&got, &t);
	free(s);
	/* One byte more, one byte less: sealed fine, content malformed. */
	uint8_t more[512];
	size_t clen = cs_buf_len(c);
	memcpy(more, cs_buf_ptr(c), clen);
	more[clen] = 0;
	s = hand_seal(0, 77, more, clen + 1);
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);
	s = hand_seal(0, 77, more, clen - 1);
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);
	s = hand_seal(0, 77, more, 0);
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);

	/* An account name longer than CS_ACCT_NAME_MAX, a device id of 64
	 * characters, a NUL inside the name. */
	char longname[CS_ACCT_NAME_MAX + 2];
	memset(longname, 'n', CS_ACCT_NAME_MAX + 1);
	longname[CS_ACCT_NAME_MAX + 1] = 0;
	cs_buf_reset(c);
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_cstring(c, longname));
	cs_assert_ok(cs_buf_put_cstring(c, t.device));
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_u64(c, 2));
	cs_assert_ok(cs_buf_put(c, t.message_key, 32));
	s = hand_seal(0, 77, cs_buf_ptr(c), cs_buf_len(c));
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);
	cs_buf_reset(c);
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_cstring(c, "alice"));
	cs_assert_ok(cs_buf_put_cstring(c, DEVICE "X"));
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_u64(c, 2));
	cs_assert_ok(cs_buf_put(c, t.message_key, 32));
	s = hand_seal(0, 77, cs_buf_ptr(c), cs_buf_len(c));
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);
	cs_buf_reset(c);
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_string(c, "ali\0ce", 6));
	cs_assert_ok(cs_buf_put_cstring(c, t.device));
	cs_assert_ok(cs_buf_put_u64(c, 1));
	cs_assert_ok(cs_buf_put_u64(c, 2));
	cs_assert_ok(cs_buf_put(c, t.message_key, 32));
	s = hand_seal(0, 77, cs_buf_ptr(c), cs_buf_len(c));
	assert_int_equal(cs_acct_token_open(&got, tkey(), s), CS_EMALFORMED);
	free(s);

	/* A ticket built from the document's layout opens. */
	cs_buf_reset(c);
	cs_assert_ok(cs_buf_put_u64(c, (uint64_t)tt.account_id));
	cs_assert_ok(cs_buf_put_cstring(c, tt.account));
	cs_assert_ok(cs_buf_put_cstring(c, tt.device));
	cs_assert_ok(cs_buf_put_u64(c, (uint64_t)tt.expires));
	cs_assert_ok(cs_buf_put(c, tt.cnonce, CS_ACCT_NONCE_LEN));
	cs_assert_ok(cs_buf_put(c, tt.snonce, CS_ACCT_NONCE_LEN));
	s = hand_seal(1, 78, cs_buf_ptr(c), cs_buf_len(c));
	cs_assert_ok(cs_acct_ticket_open(&gtt, tkey(), s));
	assert_ticket_equal(&gtt, &tt);
	free(s);
	clen = cs_buf_len(c);
	memcpy(more, cs_buf_ptr(c), clen);
	s = hand_seal(1, 78, more, clen - 1);
	assert_int_equal(cs_acct_ticket_open(&gtt, tkey(), s), CS_EMALFORMED);
	free(s);
	more[clen] = 9;
	s = hand_seal(1, 78, more, clen + 1);
	assert_int_equal(cs_acct_ticket_open(&gtt, tkey(), s), CS_EMALFORMED);
	free(s);
	cs_buf_free(c);
}

/* Every single-character change of text: each of the 8 bit flips and
 * every base64 character and a few others in its place. Returns the number
 * of changed texts that opened (CS_OK); each refusal must be CS_EAUTH or
 * CS_EMALFORMED. */
static int count_accepted_variants(const char *text, int is_ticket, int *first_pos,
	char *first_char)
{
	static const char alt[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
				  ".-_ :\x01\x7f\x80\xff";
	size_t n = strlen(text);
	char *s = strdup(text);
	int accepted = 0;
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		char subst[8 + sizeof(alt)];
		size_t ns = 0;
		for (int bit = 0; bit < 8; bit++)
			subst[ns++] = (char)(text[i] ^ (1 << bit));
		for (size_t j = 0; j + 1 < sizeof(alt); j++)
			subst[ns++] = alt[j];
		for (size_t k = 0; k < ns; k++) {
			if (subst[k] == text[i])
				continue;
			s[i] = subst[k];
			int r;
			if (is_ticket) {
				cs_acct_ticket t;
				r = cs_acct_ticket_open(&t, tkey(), s);
			} else {
				cs_acct_token t;
				r = cs_acct_token_open(&t, tkey(), s);
			}
			if (r == CS_OK) {
				if (accepted++ == 0) {
					*first_pos = (int)i;
					*first_char = subst[k];
				}
			} else if (r != CS_EAUTH && r != CS_EMALFORMED) {
				fail_msg("position %zu -> 0x%02x: unexpected result %d (%s)", i,
					(unsigned char)subst[k], r, cs_error_last());
			}
		}
		s[i] = text[i];
	}
	free(s);
	return accepted;
}

/* Tokens whose raw length is a multiple of 3: no base64 padding, so every
 * character carries six bits of the sealed bytes. */
static void test_token_char_flip(void **state)
{
	(void)state;
	int pos = -1;
	char c = 0;
	/* raw = 32 + 8 + 4 + account + 4 + 63 + 8 + 8 + 32 = 159 + account */
	cs_acct_token t = sample_token(3);
	char *text = NULL;
	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 5, &t));
	assert_null(strchr(text, '='));
	assert_int_equal(count_accepted_variants(text, 0, &pos, &c), 0);
	free(text);
	/* raw = 32 + 8 + 4 + account + 4 + 63 + 8 + 18 + 18 = 155 + account */
	cs_acct_ticket tt = sample_ticket(4);
	cs_assert_ok(cs_acct_ticket_seal(&text, tkey(), 5, &tt));
	assert_null(strchr(text, '='));
	assert_int_equal(count_accepted_variants(text, 1, &pos, &c), 0);
	free(text);
}

/* The same for padded encodings: the last character before the padding
 * has bits that decode to nothing. A decoder that ignores them accepts
 * other texts for the same token. */
static void test_token_char_flip_padded(void **state)
{
	(void)state;
	for (size_t alen = 1; alen <= 2; alen++) {
		int pos = -1;
		char c = 0;
		cs_acct_token t = sample_token(alen);
		char *text = NULL;
		cs_assert_ok(cs_acct_token_seal(&text, tkey(), 5, &t));
		assert_non_null(strchr(text, '='));
		int n = count_accepted_variants(text, 0, &pos, &c);
		char was = n ? text[pos] : 0;
		size_t len = strlen(text);
		free(text);
		if (n != 0)
			fail_msg("token with %zu '=': %d altered texts open, e.g. position %d (of %zu) "
				 "'%c' -> '%c'",
				alen == 1 ? (size_t)2 : (size_t)1, n, pos, len, was, c);
	}
	for (size_t alen = 2; alen <= 3; alen++) {
		int pos = -1;
		char c = 0;
		cs_acct_ticket t = sample_ticket(alen);
		char *text = NULL;
		cs_assert_ok(cs_acct_ticket_seal(&text, tkey(), 5, &t));
		assert_non_null(strchr(text, '='));
		int n = count_accepted_variants(text, 1, &pos, &c);
		char was = n ? text[pos] : 0;
		size_t len = strlen(text);
		free(text);
		if (n != 0)
			fail_msg("ticket: %d altered texts open, e.g. position %d (of %zu) '%c' -> '%c'",
				n, pos, len, was, c);
	}
}

static void test_token_length_limits(void **state)
{
	(void)state;
	cs_acct_token t = sample_token(3), got;
	cs_acct_ticket gt;
	char *text = NULL;
	uint32_t kid;
	char big[1024];
	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 9, &t));
	size_t n = strlen(text);
	assert_true(n < CS_ACCT_TOKEN_MAX);

	/* Padded with whole base64 groups up to 509 characters: still read and
	 * refused only by authentication. */
	strcpy(big, text);
	while (n + 4 <= CS_ACCT_TOKEN_MAX) {
		memcpy(big + n, "AAAA", 5);
		n += 4;
	}
	assert_int_equal(n, 509);
	cs_assert_ok(cs_acct_sealed_kid(&kid, big, 0));
	assert_int_equal(kid, 9);
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EAUTH);
	/* 513 and more: refused as too long. */
	memcpy(big + n, "AAAA", 5);
	n += 4;
	assert_int_equal(cs_acct_sealed_kid(&kid, big, 0), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EMALFORMED);
	while (n + 4 < sizeof(big)) {
		memcpy(big + n, "AAAA", 5);
		n += 4;
	}
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EMALFORMED);
	memcpy(big, "csl1.", 5);
	assert_int_equal(cs_acct_ticket_open(&gt, tkey(), big), CS_EMALFORMED);
	assert_int_equal(cs_acct_sealed_kid(&kid, big, 1), CS_EMALFORMED);

	/* Too short, empty, prefix only, NULL, bad base64. */
	assert_int_equal(cs_acct_token_open(&got, tkey(), ""), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&got, tkey(), "cst1."), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&got, tkey(), "cst1"), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&got, tkey(), NULL), CS_EMALFORMED);
	assert_int_equal(cs_acct_sealed_kid(&kid, NULL, 0), CS_EMALFORMED);
	assert_int_equal(cs_acct_token_open(&got, tkey(), "cst1.AAAAAAAA"), CS_EMALFORMED);
	assert_int_equal(cs_acct_sealed_kid(&kid, "cst1.AAAAAAAA", 0), CS_EMALFORMED);
	/* 32 raw bytes: long enough to read, too short to hold any content. */
	strcpy(big, "cst1.");
	memset(big + 5, 'A', 43);
	strcpy(big + 48, "=");
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EAUTH);
	strcpy(big, text);
	big[strlen(big) - 1] = '!';
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EMALFORMED);
	strcpy(big, text);
	strcat(big, "A");
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EMALFORMED);
	strcpy(big, text);
	strcat(big, "\n");
	assert_int_equal(cs_acct_token_open(&got, tkey(), big), CS_EMALFORMED);
	free(text);

	/* The longest name and device still seal within the limit. */
	t = sample_token(CS_ACCT_NAME_MAX);
	memset(t.device, 'D', CS_DEVICE_ID_SIZE - 1);
	t.device[CS_DEVICE_ID_SIZE - 1] = 0;
	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 9, &t));
	assert_true(strlen(text) <= CS_ACCT_TOKEN_MAX);
	cs_assert_ok(cs_acct_token_open(&got, tkey(), text));
	assert_token_equal(&got, &t);
	free(text);
}

/* ---- sealed bodies ---- */

static const uint8_t *mkey(void)
{
	static uint8_t k[32];
	cs_test_fill_random(k, sizeof(k), 200);
	return k;
}

static const uint8_t *mkey2(void)
{
	static uint8_t k[32];
	cs_test_fill_random(k, sizeof(k), 201);
	return k;
}

static char *a_token(void)
{
	cs_acct_token t = sample_token(5);
	char *text = NULL;
	cs_assert_ok(cs_acct_token_seal(&text, tkey(), 1, &t));
	return text;
}

#define TS 1700000000123LL

/* Seal a request frame into a new buffer (*frame, *len). */
static void seal_request(uint8_t **frame, size_t *len, const char *token, const uint8_t *mk,
	const char *method, const char *path, int64_t ts, const uint8_t *plain, size_t plen)
{
	cs_buf *b = cs_buf_new(plen + CS_ACCT_FRAME_OVERHEAD + 64);
	assert_non_null(b);
	cs_assert_ok(cs_acct_request_seal(b, token, mk, method, path, ts, plain, plen));
	cs_assert_ok(cs_buf_steal(frame, len, b));
	cs_buf_free(b);
}

static int open_request(uint8_t **plain, size_t *plen, const uint8_t *frame, size_t len,
	const uint8_t *mk, const char *method, const char *path)
{
	cs_acct_request_frame f;
	int r = cs_acct_request_parse(&f, frame, len);
	if (r < 0)
		return r;
	return cs_acct_request_open(plain, plen, &f, mk, method, path);
}

/* cs_acct_response_open, freeing the body: the result code only. */
static int rsp_open(const uint8_t *mk, const char *method, const char *path, int64_t ts,
	int status, const uint8_t *in, size_t len)
{
	uint8_t *plain = NULL;
	size_t plen;
	int r = cs_acct_response_open(&plain, &plen, mk, method, path, ts, status, in, len);
	free(plain);
	return r;
}

static void test_request_roundtrip(void **state)
{
	(void)state;
	char *token = a_token();
	size_t tl = strlen(token);
	size_t sizes[] = {0, 1, 2, 1u << 20};
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		uint8_t *body = malloc(n + 1), *frame = NULL, *plain = NULL;
		size_t flen, plen = 99;
		cs_test_fill_random(body, n, si);
		seal_request(&frame, &flen, token, mkey(), "POST", PATH, TS, body, n);

		/* The layout of PROTOCOL.md §11.4. */
		assert_int_equal(flen, 4 + 2 + tl + 8 + 12 + n + 16);
		assert_memory_equal(frame, "CSQ1", 4);
		assert_int_equal(frame[4] << 8 | frame[5], tl);
		assert_memory_equal(frame + 6, token, tl);
		uint64_t ts = 0;
		for (int i = 0; i < 8; i++)
			ts = ts << 8 | frame[6 + tl + i];
		assert_int_equal(ts, TS);
		if (n > 64)
			assert_memory_not_equal(frame + 6 + tl + 8 + 12, body, 64);

		cs_acct_request_frame f;
		cs_assert_ok(cs_acct_request_parse(&f, frame, flen));
		assert_string_equal(f.token, token);
		assert_int_equal(f.ts_ms, TS);
		assert_ptr_equal(f.nonce, frame + 6 + tl + 8);
		assert_ptr_equal(f.sealed, frame + 6 + tl + 8 + 12);
		assert_int_equal(f.sealed_len, n + 16);
		cs_assert_ok(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", PATH));
		assert_int_equal(plen, n);
		if (n)
			assert_memory_equal(plain, body, n);
		assert_int_equal(plain[n], 0);
		free(plain);
		free(frame);
		free(body);
	}
	free(token);
}

static void test_request_binding(void **state)
{
	(void)state;
	char *token = a_token();
	size_t tl = strlen(token);
	const uint8_t body[] = "{\"collection\":\"c\",\"since\":0}";
	uint8_t *frame = NULL, *plain = NULL;
	size_t flen, plen;
	cs_acct_request_frame f;
	seal_request(&frame, &flen, token, mkey(), "POST", PATH, TS, body, sizeof(body) - 1);
	cs_assert_ok(cs_acct_request_parse(&f, frame, flen));

	/* Another key, method, path. */
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey2(), "POST", PATH), CS_EAUTH);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "GET", PATH), CS_EAUTH);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "post", PATH), CS_EAUTH);
	assert_int_equal(
		cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", "/v1/account/records/get"), CS_EAUTH);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", PATH "/"), CS_EAUTH);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POS", "T" PATH), CS_EAUTH);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", ""), CS_EAUTH);

	/* A changed timestamp, in the parsed frame and in the bytes. */
	cs_acct_request_frame g = f;
	g.ts_ms = TS + 1;
	assert_int_equal(cs_acct_request_open(&plain, &plen, &g, mkey(), "POST", PATH), CS_EAUTH);
	for (int i = 0; i < 8; i++) {
		frame[6 + tl + i] ^= 0x01;
		assert_int_equal(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH), CS_EAUTH);
		frame[6 + tl + i] ^= 0x01;
	}

	/* A changed token: any character of it, or another valid token. */
	for (size_t i = 0; i < tl; i++) {
		frame[6 + i] ^= 0x02;
		assert_int_equal(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH), CS_EAUTH);
		frame[6 + i] ^= 0x02;
	}
	char *token2 = a_token();
	assert_int_equal(strlen(token2), tl);
	memcpy(frame + 6, token2, tl);
	assert_int_equal(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH), CS_EAUTH);
	memcpy(frame + 6, token, tl);
	g = f;
	strcpy(g.token, token2);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &g, mkey(), "POST", PATH), CS_EAUTH);

	/* Any altered bit of nonce, ciphertext or tag. */
	for (size_t i = 6 + tl + 8; i < flen; i++) {
		frame[i] ^= 0x80;
		assert_int_equal(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH), CS_EAUTH);
		frame[i] ^= 0x80;
	}

	/* Untouched, it still opens. */
	cs_assert_ok(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH));
	assert_int_equal(plen, sizeof(body) - 1);
	assert_memory_equal(plain, body, plen);
	free(plain);

	/* Arguments out of range. */
	char longpath[1100];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", longpath), CS_EINVAL);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POSTPOSTPOSTPOSTP", PATH),
		CS_EINVAL);
	cs_buf *b = cs_buf_new(4096);
	assert_int_equal(cs_acct_request_seal(b, token, mkey(), "POST", longpath, TS, body, 3), CS_EINVAL);
	assert_int_equal(cs_acct_request_seal(b, "", mkey(), "POST", PATH, TS, body, 3), CS_EINVAL);
	char longtok[CS_ACCT_TOKEN_MAX + 2];
	memset(longtok, 't', CS_ACCT_TOKEN_MAX + 1);
	longtok[CS_ACCT_TOKEN_MAX + 1] = 0;
	assert_int_equal(cs_acct_request_seal(b, longtok, mkey(), "POST", PATH, TS, body, 3), CS_EINVAL);
	/* A token of exactly the limit is carried. */
	longtok[CS_ACCT_TOKEN_MAX] = 0;
	cs_buf_reset(b);
	cs_assert_ok(cs_acct_request_seal(b, longtok, mkey(), "POST", PATH, TS, body, 3));
	cs_assert_ok(cs_acct_request_parse(&g, cs_buf_ptr(b), cs_buf_len(b)));
	assert_string_equal(g.token, longtok);
	cs_assert_ok(cs_acct_request_open(&plain, &plen, &g, mkey(), "POST", PATH));
	free(plain);
	cs_buf_free(b);

	free(token2);
	free(frame);
	free(token);
}

static void test_request_truncation(void **state)
{
	(void)state;
	char *token = a_token();
	const uint8_t body[] = "{}";
	uint8_t *frame = NULL, *plain = NULL;
	size_t flen, plen;
	seal_request(&frame, &flen, token, mkey(), "POST", PATH, TS, body, 2);

	/* Every prefix, each in a block of exactly its size. */
	for (size_t n = 0; n < flen; n++) {
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, frame, n);
		cs_acct_request_frame f;
		int r = cs_acct_request_parse(&f, p, n);
		if (r == CS_OK) {
			/* Cut inside the ciphertext: only the tag check can tell. */
			assert_true(n >= flen - 2);
			assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", PATH),
				CS_EAUTH);
		} else if (r != CS_ETRUNCATED && r != CS_EMALFORMED) {
			fail_msg("prefix of %zu bytes: %d (%s)", n, r, cs_error_last());
		}
		/* The other frame kind's parser, on the same bytes. */
		assert_int_equal(cs_acct_response_open(&plain, &plen, mkey(), "POST", PATH, TS, 200, p, n),
			CS_EMALFORMED);
		free(p);
	}

	/* Bytes after the tag are part of the sealed bytes: they fail the tag. */
	uint8_t *longer = malloc(flen + 7);
	memcpy(longer, frame, flen);
	memcpy(longer + flen, "garbage", 7);
	cs_acct_request_frame f;
	cs_assert_ok(cs_acct_request_parse(&f, longer, flen + 7));
	assert_int_equal(f.sealed_len, 2 + 16 + 7);
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", PATH), CS_EAUTH);
	cs_assert_ok(cs_acct_request_parse(&f, longer, flen + 1));
	assert_int_equal(cs_acct_request_open(&plain, &plen, &f, mkey(), "POST", PATH), CS_EAUTH);
	free(longer);
	free(frame);
	free(token);
}

static void test_request_malformed(void **state)
{
	(void)state;
	char *token = a_token();
	size_t tl = strlen(token);
	uint8_t *frame = NULL, *plain = NULL;
	size_t flen, plen;
	cs_acct_request_frame f;
	seal_request(&frame, &flen, token, mkey(), "POST", PATH, TS, (const uint8_t *)"{}", 2);

	/* Wrong magic. */
	const char *magics[] = {"CSQ0", "CSQ2", "csq1", "CSR1", "XXXX", "\0SQ1"};
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		memcpy(frame, magics[i], 4);
		assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	}
	memcpy(frame, "CSQ1", 4);
	cs_assert_ok(cs_acct_request_parse(&f, frame, flen));

	/* Token lengths out of range or past the end. */
	frame[4] = 0;
	frame[5] = 0;
	assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	frame[4] = (CS_ACCT_TOKEN_MAX + 1) >> 8;
	frame[5] = (CS_ACCT_TOKEN_MAX + 1) & 0xff;
	assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	frame[4] = 0xff;
	frame[5] = 0xff;
	assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	/* A longer declared length shifts every field: no longer parses as a
	 * whole frame with a tag, or fails the tag. */
	frame[4] = (uint8_t)((tl + 1) >> 8);
	frame[5] = (uint8_t)(tl + 1);
	int r = open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH);
	assert_true(r == CS_EAUTH || r == CS_ETRUNCATED || r == CS_EMALFORMED);
	frame[4] = (uint8_t)((tl - 1) >> 8);
	frame[5] = (uint8_t)(tl - 1);
	r = open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH);
	assert_true(r == CS_EAUTH || r == CS_EMALFORMED);
	frame[4] = (uint8_t)(tl >> 8);
	frame[5] = (uint8_t)tl;

	/* A NUL inside the token. */
	frame[6 + 3] = 0;
	assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	frame[6 + 3] = (uint8_t)token[3];

	/* A timestamp beyond INT64_MAX. */
	frame[6 + tl] ^= 0x80;
	assert_int_equal(cs_acct_request_parse(&f, frame, flen), CS_EMALFORMED);
	frame[6 + tl] ^= 0x80;

	cs_assert_ok(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH));
	free(plain);
	free(frame);
	free(token);
}

static void test_response(void **state)
{
	(void)state;
	size_t sizes[] = {0, 5, 1u << 20};
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		uint8_t *body = malloc(n + 1), *frame = NULL, *plain = NULL;
		size_t flen, plen;
		cs_test_fill_random(body, n, 300 + si);
		cs_buf *b = cs_buf_new(n + 64);
		cs_assert_ok(cs_acct_response_seal(b, mkey(), "POST", PATH, TS, 200, body, n));
		cs_assert_ok(cs_buf_steal(&frame, &flen, b));
		cs_buf_free(b);
		assert_int_equal(flen, 4 + 12 + n + 16);
		assert_memory_equal(frame, "CSR1", 4);
		cs_assert_ok(cs_acct_response_open(&plain, &plen, mkey(), "POST", PATH, TS, 200, frame, flen));
		assert_int_equal(plen, n);
		if (n)
			assert_memory_equal(plain, body, n);
		assert_int_equal(plain[n], 0);
		free(plain);

		/* Bound to key, status, request timestamp, path and method. */
		assert_int_equal(rsp_open(mkey2(), "POST", PATH, TS, 200, frame, flen), CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 412, frame, flen), CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 201, frame, flen), CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS + 1, 200, frame, flen),
			CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS - 1000, 200, frame, flen),
			CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "POST", "/v1/account/whoami", TS, 200, frame, flen),
			CS_EAUTH);
		assert_int_equal(rsp_open(mkey(), "GET", PATH, TS, 200, frame, flen), CS_EAUTH);

		/* Trailing garbage. */
		uint8_t *longer = malloc(flen + 3);
		memcpy(longer, frame, flen);
		memcpy(longer + flen, "xyz", 3);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 200, longer, flen + 3),
			CS_EAUTH);
		free(longer);

		/* Wrong magic. */
		memcpy(frame, "CSQ1", 4);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 200, frame, flen),
			CS_EMALFORMED);
		memcpy(frame, "CSR2", 4);
		assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 200, frame, flen),
			CS_EMALFORMED);
		memcpy(frame, "CSR1", 4);

		if (n <= 5) {
			/* Every truncation, in a block of exactly its size. */
			for (size_t k = 0; k < flen; k++) {
				uint8_t *p = malloc(k ? k : 1);
				memcpy(p, frame, k);
				int r = cs_acct_response_open(&plain, &plen, mkey(), "POST", PATH, TS, 200, p, k);
				if (k < 4 + 12 + 16)
					assert_int_equal(r, CS_EMALFORMED);
				else
					assert_int_equal(r, CS_EAUTH);
				free(p);
			}
			/* Every altered bit after the magic. */
			for (size_t i = 4; i < flen; i++) {
				for (int bit = 0; bit < 8; bit++) {
					frame[i] ^= (uint8_t)(1u << bit);
					assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 200, frame, flen),
						CS_EAUTH);
					frame[i] ^= (uint8_t)(1u << bit);
				}
			}
		}
		cs_assert_ok(cs_acct_response_open(&plain, &plen, mkey(), "POST", PATH, TS, 200, frame, flen));
		free(plain);
		free(frame);
		free(body);
	}
}

/* A request's sealed bytes never pass for a response's, nor the reverse,
 * under the same key, method, path and timestamp. */
static void test_request_response_separation(void **state)
{
	(void)state;
	char *token = a_token();
	size_t tl = strlen(token);
	uint8_t *frame = NULL, *plain = NULL;
	size_t flen, plen;
	seal_request(&frame, &flen, token, mkey(), "POST", PATH, TS, (const uint8_t *)"{}", 2);
	/* "CSR1" || nonce || sealed, cut from the request. */
	size_t off = 6 + tl + 8;
	uint8_t rsp[4 + 12 + 2 + 16];
	assert_int_equal(flen - off, sizeof(rsp) - 4);
	memcpy(rsp, "CSR1", 4);
	memcpy(rsp + 4, frame + off, flen - off);
	assert_int_equal(rsp_open(mkey(), "POST", PATH, TS, 200, rsp, sizeof(rsp)), CS_EAUTH);

	/* A response's sealed bytes grafted into a request frame. */
	cs_buf *b = cs_buf_new(256);
	cs_assert_ok(cs_acct_response_seal(b, mkey(), "POST", PATH, TS, 200, (const uint8_t *)"{}", 2));
	assert_int_equal(cs_buf_len(b), sizeof(rsp));
	memcpy(frame + off, cs_buf_ptr(b) + 4, sizeof(rsp) - 4);
	assert_int_equal(open_request(&plain, &plen, frame, flen, mkey(), "POST", PATH), CS_EAUTH);
	cs_buf_free(b);
	free(frame);
	free(token);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_scram_exchange),
		cmocka_unit_test(test_salted_password),
		cmocka_unit_test(test_scram_known_answer),
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_ticket_roundtrip),
		cmocka_unit_test(test_token_ticket_confusion),
		cmocka_unit_test(test_token_raw_tamper),
		cmocka_unit_test(test_token_format),
		cmocka_unit_test(test_token_char_flip),
		cmocka_unit_test(test_token_char_flip_padded),
		cmocka_unit_test(test_token_length_limits),
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_request_binding),
		cmocka_unit_test(test_request_truncation),
		cmocka_unit_test(test_request_malformed),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_request_response_separation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
