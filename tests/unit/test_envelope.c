/* Unit tests for include/certsync/envelope.h (src/lib/envelope/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/envelope.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include "helpers.h"

/* A CA and four devices: a sends, b and c receive, d is left out. An RSA
 * device r checks the key-transport path. */
struct party {
	cs_key *key;
	cs_cert *cert;
};
static struct {
	char *dir;
	cs_ca *ca;
	struct party a, b, c, d, r;
} fx;

static int make_party(struct party *p, const char *name)
{
	char *csr = NULL;
	int r = cs_csr_new(&csr, p->key, name);
	if (r == 0)
		r = cs_ca_issue_device(&p->cert, fx.ca, csr, NULL, 30);
	free(csr);
	return r;
}

static int setup(void **state)
{
	(void)state;
	char cmd[4096];
	fx.dir = cs_test_tmpdir("envelope");
	char *cadir = cs_path_join(fx.dir, "ca");
	char *rsa = cs_path_join(fx.dir, "r.key");
	snprintf(cmd, sizeof(cmd),
		"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out '%s' 2>/dev/null", rsa);
	if (cs_ca_create(cadir, "envelope CA") != 0 || cs_ca_open(&fx.ca, cadir) != 0
			|| cs_key_generate(&fx.a.key) != 0 || make_party(&fx.a, "a") != 0
			|| cs_key_generate(&fx.b.key) != 0 || make_party(&fx.b, "b") != 0
			|| cs_key_generate(&fx.c.key) != 0 || make_party(&fx.c, "c") != 0
			|| cs_key_generate(&fx.d.key) != 0 || make_party(&fx.d, "d") != 0
			|| system(cmd) != 0 || cs_key_load(&fx.r.key, rsa, NULL) != 0
			|| make_party(&fx.r, "r") != 0) {
		fprintf(stderr, "setup: %s\n", cs_error_last());
		return -1;
	}
	free(rsa);
	free(cadir);
	return 0;
}

static void party_free(struct party *p)
{
	cs_key_free(p->key);
	cs_cert_free(p->cert);
}

static int teardown(void **state)
{
	(void)state;
	party_free(&fx.a);
	party_free(&fx.b);
	party_free(&fx.c);
	party_free(&fx.d);
	party_free(&fx.r);
	cs_ca_free(fx.ca);
	cs_fs_remove_tree(fx.dir);
	free(fx.dir);
	return 0;
}

static const char MSG[] = "manifest: folder=photos files=3 content-key=...";

static void seal_to(uint8_t **der, size_t *len, const struct party *from,
	const cs_cert *const *to, size_t n)
{
	cs_assert_ok(cs_envelope_seal(der, len, (const uint8_t *)MSG, sizeof(MSG),
		from->key, from->cert, to, n));
}

static void expect_open(const uint8_t *der, size_t len, const struct party *who,
	const struct party *sender)
{
	uint8_t *content = NULL;
	size_t clen = 0;
	cs_cert *signer = NULL;
	char f1[CS_FINGERPRINT_SIZE], f2[CS_FINGERPRINT_SIZE];

	cs_assert_ok(cs_envelope_open(&content, &clen, &signer, der, len, who->key, who->cert));
	assert_int_equal(clen, sizeof(MSG));
	assert_memory_equal(content, MSG, sizeof(MSG));
	cs_assert_ok(cs_cert_fingerprint(f1, signer));
	cs_assert_ok(cs_cert_fingerprint(f2, sender->cert));
	assert_string_equal(f1, f2);
	/* The caller's job, shown here: the signer chains to the hub CA. */
	cs_assert_ok(cs_cert_verify(signer, cs_ca_cert(fx.ca), NULL, 0));
	cs_cert_free(signer);
	free(content);
}

static void test_seal_open_two_recipients(void **state)
{
	(void)state;
	const cs_cert *to[] = {fx.b.cert, fx.c.cert};
	uint8_t *der = NULL, *content = NULL;
	size_t len = 0, clen = 0;
	cs_cert *signer = NULL;

	seal_to(&der, &len, &fx.a, to, 2);
	assert_true(len < 4096);
	/* The plaintext appears nowhere in the sealed bytes. */
	assert_null(memmem(der, len, "manifest", 8));
	expect_open(der, len, &fx.b, &fx.a);
	expect_open(der, len, &fx.c, &fx.a);

	/* A device it was not sealed to cannot open it. */
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, der, len, fx.d.key, fx.d.cert),
		CS_EAUTH);
	assert_non_null(strstr(cs_error_last(), "not addressed to this device"));
	/* Nor can someone holding a recipient's certificate but another key. */
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, der, len, fx.d.key, fx.b.cert),
		CS_EAUTH);
	assert_null(content);
	assert_null(signer);
	free(der);
}

/* Flipping any single byte makes opening fail: GCM tag, key agreement,
 * structure or signature, but never a silent success. */
static void flip_every_byte(uint8_t *der, size_t len, const struct party *who)
{
	uint8_t *content = NULL;
	size_t clen = 0;
	cs_cert *signer = NULL;
	for (size_t i = 0; i < len; i++) {
		der[i] ^= 0x01;
		int r = cs_envelope_open(&content, &clen, &signer, der, len, who->key, who->cert);
		if (r == 0)
			fail_msg("flipping byte %zu of %zu went unnoticed", i, len);
		assert_true(cs_error_last()[0] != '\0');
		der[i] ^= 0x01;
	}
	assert_null(content);
	assert_null(signer);
}

static void test_tamper(void **state)
{
	(void)state;
	const cs_cert *to[] = {fx.b.cert};
	const cs_cert *to_rsa[] = {fx.r.cert};
	uint8_t *der = NULL, *content = NULL;
	size_t len = 0, clen = 0;
	cs_cert *signer = NULL;

	/* Key transport (RSA) has other fields than key agreement (EC). */
	seal_to(&der, &len, &fx.a, to_rsa, 1);
	flip_every_byte(der, len, &fx.r);
	free(der);

	seal_to(&der, &len, &fx.a, to, 1);
	flip_every_byte(der, len, &fx.b);
	/* Truncated, extended, empty, oversized. */
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, der, len - 1, fx.b.key, fx.b.cert),
		CS_EMALFORMED);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, longer, len + 1, fx.b.key,
		fx.b.cert), CS_ETRAILING);
	free(longer);
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, der, 0, fx.b.key, fx.b.cert),
		CS_EMALFORMED);
	uint8_t *huge = calloc(1, CS_ENVELOPE_MAX + 1);
	assert_int_equal(cs_envelope_open(&content, &clen, &signer, huge, CS_ENVELOPE_MAX + 1,
		fx.b.key, fx.b.cert), CS_ELIMIT);
	free(huge);
	cs_assert_ok(cs_envelope_open(&content, &clen, &signer, der, len, fx.b.key, fx.b.cert));
	cs_cert_free(signer);
	free(content);
	free(der);
}

static void test_seal_errors(void **state)
{
	(void)state;
	const cs_cert *to[] = {fx.b.cert};
	uint8_t *der = NULL;
	size_t len = 0;
	assert_int_equal(cs_envelope_seal(&der, &len, (const uint8_t *)"x", 1, fx.a.key, fx.a.cert,
		to, 0), CS_EINVAL);
	/* The signer key must belong to the signer certificate. */
	assert_int_equal(cs_envelope_seal(&der, &len, (const uint8_t *)"x", 1, fx.a.key, fx.b.cert,
		to, 1), CS_EINVAL);
	assert_null(der);
	/* Empty content is fine. */
	cs_assert_ok(cs_envelope_seal(&der, &len, (const uint8_t *)"", 0, fx.a.key, fx.a.cert, to, 1));
	uint8_t *content = NULL;
	size_t clen = 99;
	cs_cert *signer = NULL;
	cs_assert_ok(cs_envelope_open(&content, &clen, &signer, der, len, fx.b.key, fx.b.cert));
	assert_int_equal(clen, 0);
	free(content);
	cs_cert_free(signer);
	free(der);
}

/* RSA recipient (RSA-OAEP) next to an EC one, and an RSA signer (PSS). */
static void test_rsa(void **state)
{
	(void)state;
	const cs_cert *to[] = {fx.b.cert, fx.r.cert};
	uint8_t *der = NULL;
	size_t len = 0;

	seal_to(&der, &len, &fx.a, to, 2);
	expect_open(der, len, &fx.r, &fx.a);
	expect_open(der, len, &fx.b, &fx.a);
	free(der);

	seal_to(&der, &len, &fx.r, to, 2);
	expect_open(der, len, &fx.b, &fx.r);
	free(der);
}

static char *write_pem_cert(const char *name, const cs_cert *c)
{
	char *pem = NULL;
	cs_assert_ok(cs_cert_to_pem(&pem, c));
	cs_test_write_file(fx.dir, name, pem, strlen(pem));
	free(pem);
	return cs_path_join(fx.dir, name);
}

static char *read_text(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 1 << 20));
	return (char *)data;
}

/*
 * DESIGN §5: `openssl cms -decrypt` with a recipient's key must open a
 * sealed header; what comes out is the sender's SignedData, which
 * `openssl cms -verify` checks and unwraps back to the content.
 */
static void test_openssl_cli_interop(void **state)
{
	(void)state;
	const cs_cert *to[] = {fx.b.cert, fx.r.cert};
	uint8_t *der = NULL;
	size_t len = 0;
	char cmd[8192];
	const char *d = fx.dir;

	seal_to(&der, &len, &fx.a, to, 2);
	cs_test_write_file(d, "hdr.der", der, len);
	free(der);
	char *b_crt = write_pem_cert("b.crt", fx.b.cert);
	char *r_crt = write_pem_cert("r.crt", fx.r.cert);
	char *b_key = cs_path_join(d, "b.key");
	cs_assert_ok(cs_key_save(fx.b.key, b_key, NULL));

	/* The exact command from the design, run in the fixture directory. */
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -decrypt -inform DER -in hdr.der -recip b.crt -inkey b.key"
		" > signed.der", d);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -cmsout -inform DER -in signed.der -print | grep -q pkcs7-signedData",
		d);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -verify -inform DER -in signed.der -noverify -out content.out"
		" 2>/dev/null", d);
	assert_int_equal(system(cmd), 0);
	char *out_path = cs_path_join(d, "content.out");
	uint8_t *content = NULL;
	size_t clen = 0;
	cs_assert_ok(cs_fs_read_all(&content, &clen, out_path, 1 << 20));
	assert_int_equal(clen, sizeof(MSG));
	assert_memory_equal(content, MSG, sizeof(MSG));
	free(content);
	free(out_path);

	/* The RSA recipient opens it with the CLI too. */
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -decrypt -inform DER -in hdr.der -recip r.crt -inkey r.key"
		" > signed-r.der && cmp -s signed.der signed-r.der", d);
	assert_int_equal(system(cmd), 0);

	/* The algorithms are the ones promised: SHA-256 KDF (not OpenSSL's
	 * SHA-1 default), OAEP with SHA-256, AES-256-GCM. */
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -cmsout -inform DER -in hdr.der -print > hdr.txt", d);
	assert_int_equal(system(cmd), 0);
	char *txt_path = cs_path_join(d, "hdr.txt");
	char *txt = read_text(txt_path);
	assert_non_null(strstr(txt, "dhSinglePass-stdDH-sha256kdf-scheme"));
	assert_null(strstr(txt, "sha1kdf"));
	assert_non_null(strstr(txt, "rsaesOaep"));
	assert_non_null(strstr(txt, "aes-256-gcm"));
	assert_non_null(strstr(txt, "id-aes256-wrap"));
	free(txt);
	free(txt_path);

	/* A device it was not sealed to fails with the CLI as well. */
	char *d_key = cs_path_join(d, "d.key");
	char *d_crt = write_pem_cert("d.crt", fx.d.cert);
	cs_assert_ok(cs_key_save(fx.d.key, d_key, NULL));
	snprintf(cmd, sizeof(cmd),
		"cd '%s' && openssl cms -decrypt -inform DER -in hdr.der -recip d.crt -inkey d.key"
		" > /dev/null 2>&1", d);
	assert_int_not_equal(system(cmd), 0);
	free(d_crt);
	free(d_key);
	free(b_key);
	free(r_crt);
	free(b_crt);
}

/* ---- records ---- */

static void test_record_roundtrip(void **state)
{
	(void)state;
	cs_session_key sk;
	size_t sizes[] = {0, 1, 15, 16, 17, 4096, 1 << 20};
	cs_assert_ok(cs_session_key_generate(&sk));

	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		uint8_t *plain = malloc(n + 1), *sealed = malloc(n + CS_RECORD_TAG_LEN);
		uint8_t *back = malloc(n + 1);
		cs_test_fill_random(plain, n, s);
		cs_assert_ok(cs_record_seal(sealed, &sk, CS_RECORD_DATA, s, plain, n));
		if (n >= 16)
			assert_memory_not_equal(sealed, plain, n);
		cs_assert_ok(cs_record_open(back, &sk, CS_RECORD_DATA, s, sealed, n + CS_RECORD_TAG_LEN));
		assert_memory_equal(back, plain, n);

		/* In place: out == input, both ways. */
		memcpy(back, plain, n);
		uint8_t *inplace = realloc(back, n + CS_RECORD_TAG_LEN);
		cs_assert_ok(cs_record_seal(inplace, &sk, CS_RECORD_DATA, s, inplace, n));
		assert_memory_equal(inplace, sealed, n + CS_RECORD_TAG_LEN);
		cs_assert_ok(cs_record_open(inplace, &sk, CS_RECORD_DATA, s, inplace, n + CS_RECORD_TAG_LEN));
		assert_memory_equal(inplace, plain, n);
		free(inplace);
		free(sealed);
		free(plain);
	}
}

static void test_record_binding(void **state)
{
	(void)state;
	cs_session_key sk, other;
	uint8_t plain[1000], sealed[sizeof(plain) + CS_RECORD_TAG_LEN], out[sizeof(plain)];
	uint8_t zero[sizeof(plain)] = {0};
	const size_t slen = sizeof(sealed);

	cs_assert_ok(cs_session_key_generate(&sk));
	cs_test_fill_random(plain, sizeof(plain), 7);
	cs_assert_ok(cs_record_seal(sealed, &sk, CS_RECORD_DATA, 5, plain, sizeof(plain)));
	cs_assert_ok(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, slen));

	/* Tampered tag, tampered ciphertext. */
	sealed[slen - 1] ^= 0x80;
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, slen), CS_EAUTH);
	/* Nothing of an unauthenticated record is handed out. */
	assert_memory_equal(out, zero, sizeof(out));
	sealed[slen - 1] ^= 0x80;
	sealed[10] ^= 0x01;
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, slen), CS_EAUTH);
	sealed[10] ^= 0x01;

	/* Wrong position, kind, session, key. */
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 6, sealed, slen), CS_EAUTH);
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 5 + (1ull << 32), sealed, slen),
		CS_EAUTH);
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_MANIFEST, 5, sealed, slen), CS_EAUTH);
	other = sk;
	other.session_id[0] ^= 1;
	assert_int_equal(cs_record_open(out, &other, CS_RECORD_DATA, 5, sealed, slen), CS_EAUTH);
	other = sk;
	other.key[31] ^= 1;
	assert_int_equal(cs_record_open(out, &other, CS_RECORD_DATA, 5, sealed, slen), CS_EAUTH);
	/* Truncation: one byte shorter fails, shorter than a tag is malformed. */
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, slen - 1), CS_EAUTH);
	assert_int_equal(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, CS_RECORD_TAG_LEN - 1),
		CS_EMALFORMED);
	assert_int_equal(cs_record_open(out, &sk, (enum cs_record_kind)9, 5, sealed, slen), CS_EINVAL);
	cs_assert_ok(cs_record_open(out, &sk, CS_RECORD_DATA, 5, sealed, slen));
	assert_memory_equal(out, plain, sizeof(plain));

	/* Same index, other kind: a different nonce, so a different stream. */
	uint8_t manifest[sizeof(sealed)];
	cs_assert_ok(cs_record_seal(manifest, &sk, CS_RECORD_MANIFEST, 5, plain, sizeof(plain)));
	assert_memory_not_equal(manifest, sealed, sizeof(plain));

	/* Fresh session keys differ. */
	cs_assert_ok(cs_session_key_generate(&other));
	assert_memory_not_equal(other.key, sk.key, CS_CONTENT_KEY_LEN);
	assert_memory_not_equal(other.session_id, sk.session_id, CS_SESSION_ID_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_two_recipients),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_seal_errors),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_openssl_cli_interop),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_binding),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
