/* Unit tests for include/certsync/identity.h (src/lib/identity/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include "lib/identity/internal.h"
#include "helpers.h"

#define DAY 86400

/* One CA and one device shared by the tests (made once: key generation
 * and file writes dominate otherwise). */
struct fixture {
	char *dir;
	cs_ca *ca;
	cs_key *dev_key;
	cs_cert *dev_cert;
};
static struct fixture fx;

static int setup(void **state)
{
	(void)state;
	char *csr = NULL;
	fx.dir = cs_test_tmpdir("identity");
	char *cadir = cs_path_join(fx.dir, "ca");
	if (cs_ca_create(cadir, "test hub CA") != 0 || cs_ca_open(&fx.ca, cadir) != 0
			|| cs_key_generate(&fx.dev_key) != 0
			|| cs_csr_new(&csr, fx.dev_key, "laptop") != 0
			|| cs_ca_issue_device(&fx.dev_cert, fx.ca, csr, NULL, 30) != 0) {
		fprintf(stderr, "setup: %s\n", cs_error_last());
		return -1;
	}
	free(csr);
	free(cadir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cs_cert_free(fx.dev_cert);
	cs_key_free(fx.dev_key);
	cs_ca_free(fx.ca);
	cs_fs_remove_tree(fx.dir);
	free(fx.dir);
	return 0;
}

static char *path_in(const char *name)
{
	char *p = cs_path_join(fx.dir, name);
	assert_non_null(p);
	return p;
}

/* Run a shell command (the openssl CLI makes key types we never create). */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* ---- device IDs ---- */

static void test_device_id_known_answer(void **state)
{
	(void)state;
	char id[CS_DEVICE_ID_SIZE];
	/* Values from an independent implementation of the format. */
	cs_device_id_from_spki(id, (const uint8_t *)"", 0);
	assert_string_equal(id, "4OYMIQU-Y7QOBJ5-GX36TEJ-S35ZEQN-T24QPEM-SNZGTFO-ESWMRW6-CSXBKQM");
	cs_device_id_from_spki(id, (const uint8_t *)"certsync", 8);
	assert_string_equal(id, "PNX2E6V-WFBQJ4X-RNKMJ54-UF477GE-IOOV4NE-WQAWLVJ-RMKXRJN-QZAU6QV");
	assert_int_equal(strlen(id), CS_DEVICE_ID_LEN);
}

static void test_device_id_roundtrip(void **state)
{
	(void)state;
	char id[CS_DEVICE_ID_SIZE], parsed[CS_DEVICE_ID_SIZE], typed[128];
	cs_assert_ok(cs_key_device_id(id, fx.dev_key));
	assert_int_equal(strlen(id), CS_DEVICE_ID_LEN);
	for (int i = 7; i < CS_DEVICE_ID_LEN; i += 8)
		assert_int_equal(id[i], '-');

	cs_assert_ok(cs_device_id_parse(parsed, id));
	assert_string_equal(parsed, id);

	/* Lower case, dashes dropped, spaces instead. */
	size_t n = 0;
	for (const char *p = id; *p; p++) {
		if (*p == '-') {
			typed[n++] = ' ';
			continue;
		}
		typed[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	}
	typed[n] = 0;
	cs_assert_ok(cs_device_id_parse(parsed, typed));
	assert_string_equal(parsed, id);

	/* No separators at all. */
	n = 0;
	for (const char *p = id; *p; p++)
		if (*p != '-')
			typed[n++] = *p;
	typed[n] = 0;
	cs_assert_ok(cs_device_id_parse(parsed, typed));
	assert_string_equal(parsed, id);
}

static void test_device_id_typos(void **state)
{
	(void)state;
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	char id[CS_DEVICE_ID_SIZE], bad[CS_DEVICE_ID_SIZE], out[CS_DEVICE_ID_SIZE];
	cs_assert_ok(cs_key_device_id(id, fx.dev_key));

	/* Every single-character substitution is caught. */
	for (int i = 0; i < CS_DEVICE_ID_LEN; i++) {
		if (id[i] == '-')
			continue;
		for (int a = 0; a < 32; a++) {
			if (alpha[a] == id[i])
				continue;
			memcpy(bad, id, sizeof(bad));
			bad[i] = alpha[a];
			assert_int_equal(cs_device_id_parse(out, bad), CS_EMALFORMED);
		}
	}
	/* Every swap of two different neighbours is caught, except A <-> 7,
	 * the one pair Luhn mod 32 cannot see. */
	for (int i = 0; i + 1 < CS_DEVICE_ID_LEN; i++) {
		int j = i + 1;
		if (id[j] == '-')
			j++;
		if (id[i] == '-' || id[i] == id[j])
			continue;
		if ((id[i] == 'A' && id[j] == '7') || (id[i] == '7' && id[j] == 'A'))
			continue;
		memcpy(bad, id, sizeof(bad));
		bad[i] = id[j];
		bad[j] = id[i];
		assert_int_equal(cs_device_id_parse(out, bad), CS_EMALFORMED);
	}
	/* Wrong length, characters outside the alphabet, empty. */
	memcpy(bad, id, sizeof(bad));
	bad[CS_DEVICE_ID_LEN - 1] = 0;
	assert_int_equal(cs_device_id_parse(out, bad), CS_EMALFORMED);
	char longer[CS_DEVICE_ID_SIZE + 1];
	snprintf(longer, sizeof(longer), "%sA", id);
	assert_int_equal(cs_device_id_parse(out, longer), CS_EMALFORMED);
	memcpy(bad, id, sizeof(bad));
	bad[0] = '0';
	assert_int_equal(cs_device_id_parse(out, bad), CS_EMALFORMED);
	assert_int_equal(cs_device_id_parse(out, ""), CS_EMALFORMED);
	assert_int_equal(cs_device_id_parse(out, NULL), CS_EINVAL);
}

/* The ID is SHA-256 of the SPKI DER as openssl writes it, and the same
 * when the key's point is stored compressed. */
static void test_device_id_is_spki_hash(void **state)
{
	(void)state;
	char *key = path_in("spki.key"), *der_path = path_in("spki.der");
	char *comp = path_in("compressed.key");
	char id[CS_DEVICE_ID_SIZE], expect[CS_DEVICE_ID_SIZE];
	uint8_t *der = NULL;
	size_t len = 0;
	cs_key *k = NULL;

	cs_assert_ok(cs_key_save(fx.dev_key, key, NULL));
	sh("openssl pkey -in '%s' -pubout -outform DER -out '%s'", key, der_path);
	cs_assert_ok(cs_fs_read_all(&der, &len, der_path, 4096));
	cs_device_id_from_spki(expect, der, len);
	cs_assert_ok(cs_key_device_id(id, fx.dev_key));
	assert_string_equal(id, expect);
	free(der);

	sh("openssl ec -in '%s' -conv_form compressed 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out '%s'",
		key, comp);
	cs_assert_ok(cs_key_load(&k, comp, NULL));
	cs_assert_ok(cs_key_device_id(id, k));
	assert_string_equal(id, expect);
	cs_key_free(k);
	free(comp);
	free(der_path);
	free(key);
}

/* ---- keys ---- */

static mode_t file_mode(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_key_save_load_plain(void **state)
{
	(void)state;
	char *path = path_in("plain.key");
	cs_key *k = NULL;
	char a[CS_DEVICE_ID_SIZE], b[CS_DEVICE_ID_SIZE];

	cs_assert_ok(cs_key_save(fx.dev_key, path, NULL));
	assert_int_equal(file_mode(path), 0600);
	cs_assert_ok(cs_key_load(&k, path, NULL));
	cs_assert_ok(cs_key_device_id(a, fx.dev_key));
	cs_assert_ok(cs_key_device_id(b, k));
	assert_string_equal(a, b);
	assert_true(cs_key_matches_cert(k, fx.dev_cert));
	cs_key_free(k);

	/* A passphrase given for an unencrypted key does no harm. */
	cs_assert_ok(cs_key_load(&k, path, "unused"));
	cs_key_free(k);
	cs_key_free(NULL);
	free(path);
}

static void test_key_save_load_passphrase(void **state)
{
	(void)state;
	char *path = path_in("secret.key");
	cs_key *k = NULL;
	uint8_t *pem = NULL;
	size_t len = 0;

	cs_assert_ok(cs_key_save(fx.dev_key, path, "correct horse"));
	assert_int_equal(file_mode(path), 0600);
	cs_assert_ok(cs_fs_read_all(&pem, &len, path, 1 << 20));
	assert_non_null(strstr((char *)pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	free(pem);

	assert_int_equal(cs_key_load(&k, path, "wrong horse"), CS_EAUTH);
	assert_null(k);
	assert_non_null(strstr(cs_error_last(), "wrong passphrase"));
	assert_int_equal(cs_key_load(&k, path, NULL), CS_EAUTH);
	assert_non_null(strstr(cs_error_last(), "passphrase"));
	assert_null(k);
	cs_assert_ok(cs_key_load(&k, path, "correct horse"));
	assert_true(cs_key_matches_cert(k, fx.dev_cert));
	cs_key_free(k);

	/* The file says it is AES-256-CBC with PBKDF2 (PBES2). */
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		"openssl asn1parse -in '%s' | grep -q aes-256-cbc && "
		"openssl asn1parse -in '%s' | grep -q PBKDF2", path, path);
	assert_int_equal(system(cmd), 0);

	assert_int_equal(cs_key_save(fx.dev_key, path, ""), CS_EINVAL);
	free(path);
}

static void test_key_load_errors(void **state)
{
	(void)state;
	cs_key *k = NULL;
	char *missing = path_in("nope.key");
	assert_int_equal(cs_key_load(&k, missing, NULL), CS_ENOTFOUND);
	free(missing);

	cs_test_write_file(fx.dir, "garbage.key", "not a key\n", 10);
	char *garbage = path_in("garbage.key");
	assert_int_equal(cs_key_load(&k, garbage, NULL), CS_EMALFORMED);
	free(garbage);

	/* Key types other than P-256 and RSA >= 3072 are refused. */
	char *ed = path_in("ed25519.key");
	sh("openssl genpkey -algorithm ed25519 -out '%s' 2>/dev/null", ed);
	assert_int_equal(cs_key_load(&k, ed, NULL), CS_EINVAL);
	free(ed);
	char *p384 = path_in("p384.key");
	sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out '%s' 2>/dev/null", p384);
	assert_int_equal(cs_key_load(&k, p384, NULL), CS_EINVAL);
	assert_non_null(strstr(cs_error_last(), "P-256"));
	free(p384);
	char *rsa2k = path_in("rsa2048.key");
	sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '%s' 2>/dev/null", rsa2k);
	assert_int_equal(cs_key_load(&k, rsa2k, NULL), CS_EINVAL);
	free(rsa2k);
	assert_null(k);
}

static void test_key_rsa3072(void **state)
{
	(void)state;
	cs_key *k = NULL;
	cs_cert *cert = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	char *path = path_in("rsa3072.key");
	const char *dns[] = {"rsa.example", NULL};

	sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out '%s' 2>/dev/null", path);
	cs_assert_ok(cs_key_load(&k, path, NULL));
	cs_assert_ok(cs_ca_issue_server(&cert, fx.ca, k, "rsa server", dns, NULL, 10));
	cs_assert_ok(cs_cert_verify(cert, cs_ca_cert(fx.ca), NULL, 0));
	/* RSA signatures are PSS: verifiable, and different every time. */
	cs_assert_ok(cs_key_sign(&sig, &siglen, k, "data", 4));
	assert_int_equal(siglen, 384);
	cs_assert_ok(cs_cert_verify_signature(cert, "data", 4, sig, siglen));
	assert_int_equal(cs_cert_verify_signature(cert, "datA", 4, sig, siglen), CS_EAUTH);
	free(sig);
	cs_cert_free(cert);
	cs_key_free(k);
	free(path);
}

static void test_key_sign_verify(void **state)
{
	(void)state;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	const char msg[] = "sync job 42";

	cs_assert_ok(cs_key_sign(&sig, &siglen, fx.dev_key, msg, sizeof(msg)));
	cs_assert_ok(cs_cert_verify_signature(fx.dev_cert, msg, sizeof(msg), sig, siglen));
	assert_int_equal(cs_cert_verify_signature(fx.dev_cert, msg, sizeof(msg) - 1, sig, siglen),
		CS_EAUTH);
	sig[siglen / 2] ^= 1;
	assert_int_equal(cs_cert_verify_signature(fx.dev_cert, msg, sizeof(msg), sig, siglen),
		CS_EAUTH);
	assert_int_equal(cs_cert_verify_signature(fx.dev_cert, msg, sizeof(msg), sig, 0), CS_EAUTH);
	/* A signature by another key fails against this certificate. */
	free(sig);
	cs_key *other = NULL;
	cs_assert_ok(cs_key_generate(&other));
	cs_assert_ok(cs_key_sign(&sig, &siglen, other, msg, sizeof(msg)));
	assert_int_equal(cs_cert_verify_signature(fx.dev_cert, msg, sizeof(msg), sig, siglen),
		CS_EAUTH);
	assert_false(cs_key_matches_cert(other, fx.dev_cert));
	cs_key_free(other);
	free(sig);
}

/* ---- CA ---- */

static void test_ca_create_open(void **state)
{
	(void)state;
	char *dir = path_in("ca2");
	char *key = cs_path_join(dir, "ca.key");
	cs_ca *ca = NULL;
	char *cn = NULL;

	assert_int_equal(cs_ca_open(&ca, dir), CS_ENOTFOUND);
	cs_assert_ok(cs_ca_create(dir, "second hub"));
	assert_int_equal(file_mode(key), 0600);
	assert_int_equal(cs_ca_create(dir, "again"), CS_EEXISTS);
	cs_assert_ok(cs_ca_open(&ca, dir));
	const cs_cert *c = cs_ca_cert(ca);
	cs_assert_ok(cs_cert_common_name(&cn, c));
	assert_string_equal(cn, "second hub");
	/* Ten years, CA:TRUE critical, keyCertSign + cRLSign. */
	int64_t life = cs_cert_not_after(c) - cs_cert_not_before(c);
	assert_true(life >= 3650LL * DAY && life <= 3650LL * DAY + 2 * 3600);
	X509 *x = c->x509;
	assert_int_equal(X509_check_ca(x), 1);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	/* Self-signed and valid against itself. */
	cs_assert_ok(cs_cert_verify(c, c, NULL, 0));
	free(cn);
	cs_ca_free(ca);
	cs_ca_free(NULL);

	/* A half-made CA (key but no certificate) is started again. */
	char *dir3 = path_in("ca3");
	cs_test_write_file(dir3, "ca.key", "junk", 4);
	cs_assert_ok(cs_ca_create(dir3, "third"));
	cs_assert_ok(cs_ca_open(&ca, dir3));
	cs_ca_free(ca);
	assert_int_equal(cs_ca_create(dir3, "again"), CS_EEXISTS);
	char *dir4 = path_in("ca4");
	assert_int_equal(cs_ca_create(dir4, "bad\nname"), CS_EINVAL);
	free(dir4);
	free(dir3);
	free(key);
	free(dir);
}

/* ---- issuing ---- */

static void test_issue_device(void **state)
{
	(void)state;
	char kid[CS_DEVICE_ID_SIZE], sid[CS_DEVICE_ID_SIZE], cid[CS_DEVICE_ID_SIZE];
	char *cn = NULL, *serial = NULL, *csr = NULL;
	cs_cert *named = NULL;

	cs_assert_ok(cs_key_device_id(kid, fx.dev_key));
	cs_assert_ok(cs_cert_san_device_id(sid, fx.dev_cert));
	cs_assert_ok(cs_cert_device_id(cid, fx.dev_cert));
	assert_string_equal(kid, sid);
	assert_string_equal(kid, cid);
	cs_assert_ok(cs_cert_common_name(&cn, fx.dev_cert));
	assert_string_equal(cn, "laptop");
	free(cn);
	assert_true(cs_key_matches_cert(fx.dev_key, fx.dev_cert));

	/* Extensions: leaf, TLS client and server, ECDH-capable. */
	X509 *x = fx.dev_cert->x509;
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_non_null(X509_get0_authority_key_id(x));
	char uri[128];
	snprintf(uri, sizeof(uri), "urn:certsync:device:%s", kid);
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(gn->type, GEN_URI);
	assert_string_equal((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier), uri);
	GENERAL_NAMES_free(gens);

	/* Validity: the requested days plus one hour of backdating. */
	assert_int_equal(cs_cert_not_after(fx.dev_cert) - cs_cert_not_before(fx.dev_cert),
		30 * DAY + 3600);
	int64_t now = cs_clock_now();
	assert_true(cs_cert_not_before(fx.dev_cert) <= now);

	/* Serial: 16 bytes, positive, as 32 lowercase hex digits. */
	cs_assert_ok(cs_cert_serial(&serial, fx.dev_cert));
	assert_int_equal(strlen(serial), 32);
	assert_true(strspn(serial, "0123456789abcdef") == 32);
	free(serial);

	/* A name given by the operator wins over the CSR's. */
	cs_assert_ok(cs_csr_new(&csr, fx.dev_key, "from csr"));
	cs_assert_ok(cs_ca_issue_device(&named, fx.ca, csr, "kitchen tablet", 10));
	cs_assert_ok(cs_cert_common_name(&cn, named));
	assert_string_equal(cn, "kitchen tablet");
	free(cn);
	cs_assert_ok(cs_cert_san_device_id(sid, named));
	assert_string_equal(sid, kid);
	cs_cert_free(named);

	assert_int_equal(cs_ca_issue_device(&named, fx.ca, csr, NULL, 0), CS_EINVAL);
	assert_int_equal(cs_ca_issue_device(&named, fx.ca, csr, "a\x01z", 10), CS_EINVAL);
	assert_int_equal(cs_ca_issue_device(&named, fx.ca, "garbage", NULL, 10), CS_EMALFORMED);
	free(csr);
	assert_int_equal(cs_csr_new(&csr, fx.dev_key, ""), CS_EINVAL);
}

/* A CSR whose signature was not made by the key it names is refused. */
static void test_issue_device_bad_csr(void **state)
{
	(void)state;
	cs_key *victim = NULL, *attacker = NULL;
	cs_cert *cert = NULL;
	cs_assert_ok(cs_key_generate(&victim));
	cs_assert_ok(cs_key_generate(&attacker));

	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_REQ_get_subject_name(req);
	X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
		(const unsigned char *)"evil", -1, -1, 0);
	X509_REQ_set_pubkey(req, victim->pkey);
	assert_true(X509_REQ_sign(req, attacker->pkey, EVP_sha256()) > 0);
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_X509_REQ(bio, req);
	char *pem = NULL;
	long n = BIO_get_mem_data(bio, &pem);
	char *csr = strndup(pem, (size_t)n);

	assert_int_equal(cs_ca_issue_device(&cert, fx.ca, csr, NULL, 10), CS_EAUTH);
	assert_null(cert);
	free(csr);
	BIO_free(bio);
	X509_REQ_free(req);
	cs_key_free(victim);
	cs_key_free(attacker);
}

static void test_issue_server(void **state)
{
	(void)state;
	cs_key *k = NULL;
	cs_cert *c = NULL;
	char sid[CS_DEVICE_ID_SIZE];
	const char *dns[] = {"hub.example.org", "*.hub.example.org", NULL};
	const char *ips[] = {"127.0.0.1", "::1", NULL};
	const char *bad_ip[] = {"300.1.1.1", NULL};
	const char *bad_dns[] = {"hub,DNS:evil.example", NULL};

	cs_assert_ok(cs_key_generate(&k));
	cs_assert_ok(cs_ca_issue_server(&c, fx.ca, k, "hub", dns, ips, 90));
	X509 *x = c->x509;
	assert_int_equal(X509_check_host(x, "hub.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "a.hub.example.org", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "other.example.org", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 0);
	assert_int_equal(cs_cert_san_device_id(sid, c), CS_ENOTFOUND);
	cs_assert_ok(cs_cert_verify(c, cs_ca_cert(fx.ca), NULL, 0));
	cs_cert_free(c);
	c = NULL;

	assert_int_equal(cs_ca_issue_server(&c, fx.ca, k, "hub", NULL, bad_ip, 90), CS_EINVAL);
	assert_int_equal(cs_ca_issue_server(&c, fx.ca, k, "hub", bad_dns, NULL, 90), CS_EINVAL);
	assert_int_equal(cs_ca_issue_server(&c, fx.ca, k, "hub", NULL, NULL, 90), CS_EINVAL);
	assert_null(c);
	cs_key_free(k);
}

static void test_issue_admin(void **state)
{
	(void)state;
	cs_key *k = NULL;
	cs_cert *c = NULL;
	char *name = NULL;
	cs_assert_ok(cs_key_generate(&k));
	cs_assert_ok(cs_ca_issue_admin(&c, fx.ca, k, "alice@example.org", 7));
	cs_assert_ok(cs_cert_admin_name(&name, c));
	assert_string_equal(name, "alice@example.org");
	free(name);
	assert_int_equal(X509_check_purpose(c->x509, X509_PURPOSE_SSL_CLIENT, 0), 1);
	assert_int_equal(X509_check_purpose(c->x509, X509_PURPOSE_SSL_SERVER, 0), 0);
	assert_int_equal(cs_cert_admin_name(&name, fx.dev_cert), CS_ENOTFOUND);
	cs_cert_free(c);
	c = NULL;
	assert_int_equal(cs_ca_issue_admin(&c, fx.ca, k, "bob smith", 7), CS_EINVAL);
	assert_int_equal(cs_ca_issue_admin(&c, fx.ca, k, "bob/../x", 7), CS_EINVAL);
	assert_null(c);
	cs_key_free(k);
}

/* ---- certificates ---- */

static void test_cert_encodings(void **state)
{
	(void)state;
	char *pem = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	cs_cert *a = NULL, *b = NULL;
	char fa[CS_FINGERPRINT_SIZE], fb[CS_FINGERPRINT_SIZE];

	cs_assert_ok(cs_cert_to_pem(&pem, fx.dev_cert));
	cs_assert_ok(cs_cert_from_pem(&a, pem, strlen(pem)));
	cs_assert_ok(cs_cert_to_der(&der, &der_len, fx.dev_cert));
	cs_assert_ok(cs_cert_from_der(&b, der, der_len));
	cs_assert_ok(cs_cert_fingerprint(fa, a));
	cs_assert_ok(cs_cert_fingerprint(fb, b));
	assert_string_equal(fa, fb);
	assert_int_equal(strlen(fa), 64);
	cs_cert_free(a);
	cs_cert_free(b);
	a = b = NULL;

	/* The fingerprint is SHA-256 over the DER, as openssl prints it. */
	char *crt = path_in("dev.crt");
	cs_test_write_file(fx.dir, "dev.crt", pem, strlen(pem));
	cs_assert_ok(cs_cert_load(&a, crt));
	cs_cert_free(a);
	a = NULL;
	char cmd[4096], line[256] = "";
	snprintf(cmd, sizeof(cmd),
		"openssl x509 -in '%s' -noout -fingerprint -sha256 | cut -d= -f2 | tr -d ':\\n' | tr A-F a-f",
		crt);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	assert_string_equal(line, fa);
	free(crt);

	/* Trailing bytes after DER, garbage, truncation. */
	uint8_t *longer = malloc(der_len + 1);
	memcpy(longer, der, der_len);
	longer[der_len] = 0;
	assert_int_equal(cs_cert_from_der(&a, longer, der_len + 1), CS_ETRAILING);
	assert_int_equal(cs_cert_from_der(&a, der, der_len - 1), CS_EMALFORMED);
	assert_int_equal(cs_cert_from_pem(&a, "hello", 5), CS_EMALFORMED);
	assert_null(a);
	free(longer);

	/* dup gives a second reference; both are freed. */
	cs_cert *d = cs_cert_dup(fx.dev_cert);
	assert_non_null(d);
	cs_assert_ok(cs_cert_fingerprint(fb, d));
	assert_string_equal(fa, fb);
	cs_cert_free(d);
	cs_cert_free(NULL);

	char *missing = path_in("missing.crt");
	assert_int_equal(cs_cert_load(&a, missing), CS_ENOTFOUND);
	free(missing);
	free(der);
	free(pem);
}

/* ---- verification ---- */

static void test_verify_ok_and_expired(void **state)
{
	(void)state;
	const cs_cert *ca = cs_ca_cert(fx.ca);
	int64_t now = cs_clock_now();

	cs_assert_ok(cs_cert_verify(fx.dev_cert, ca, NULL, 0));
	cs_assert_ok(cs_cert_verify(fx.dev_cert, ca, NULL, now + 29 * DAY));
	assert_int_equal(cs_cert_verify(fx.dev_cert, ca, NULL, now + 31 * DAY), CS_EEXPIRED);
	assert_non_null(strstr(cs_error_last(), "certificate expired on "));
	char when[32];
	cs_clock_format(when, cs_cert_not_after(fx.dev_cert));
	assert_non_null(strstr(cs_error_last(), when));
	assert_int_equal(cs_cert_verify(fx.dev_cert, ca, NULL, now - 2 * DAY), CS_EEXPIRED);
	assert_non_null(strstr(cs_error_last(), "not valid before"));
}

static void test_verify_other_ca(void **state)
{
	(void)state;
	char *dir = path_in("other-ca");
	cs_ca *other = NULL;
	/* Same name as the real CA: only the signature tells them apart. */
	cs_assert_ok(cs_ca_create(dir, "test hub CA"));
	cs_assert_ok(cs_ca_open(&other, dir));
	assert_int_equal(cs_cert_verify(fx.dev_cert, cs_ca_cert(other), NULL, 0), CS_EAUTH);
	assert_string_equal(cs_error_last(), "certificate not issued by this hub's CA");

	/* A certificate from the other CA fails against ours. */
	char *csr = NULL;
	cs_cert *foreign = NULL;
	cs_assert_ok(cs_csr_new(&csr, fx.dev_key, "impostor"));
	cs_assert_ok(cs_ca_issue_device(&foreign, other, csr, NULL, 10));
	assert_int_equal(cs_cert_verify(foreign, cs_ca_cert(fx.ca), NULL, 0), CS_EAUTH);
	assert_string_equal(cs_error_last(), "certificate not issued by this hub's CA");

	/* And a CRL signed by the other CA is not accepted for ours. */
	char *crl = NULL;
	cs_assert_ok(cs_ca_make_crl(&crl, other, NULL, 0, 7));
	assert_int_equal(cs_cert_verify(fx.dev_cert, cs_ca_cert(fx.ca), crl, 0), CS_EAUTH);
	assert_non_null(strstr(cs_error_last(), "CRL not signed by this hub's CA"));
	free(crl);
	cs_cert_free(foreign);
	free(csr);
	cs_ca_free(other);
	free(dir);
}

static void test_verify_revoked(void **state)
{
	(void)state;
	const cs_cert *ca = cs_ca_cert(fx.ca);
	char *serial = NULL, *crl = NULL;
	int64_t now = cs_clock_now();

	cs_assert_ok(cs_cert_serial(&serial, fx.dev_cert));
	struct cs_revoked other_only[] = {{"0123456789abcdef", now - 100}};
	cs_assert_ok(cs_ca_make_crl(&crl, fx.ca, other_only, 1, 7));
	cs_assert_ok(cs_cert_verify(fx.dev_cert, ca, crl, 0));
	free(crl);

	struct cs_revoked list[] = {{"0123456789abcdef", now - 100}, {serial, now - 10}};
	cs_assert_ok(cs_ca_make_crl(&crl, fx.ca, list, 2, 7));
	assert_int_equal(cs_cert_verify(fx.dev_cert, ca, crl, 0), CS_EREVOKED);
	assert_string_equal(cs_error_last(), "certificate revoked");
	/* Without the CRL the certificate is fine: revocation comes from it. */
	cs_assert_ok(cs_cert_verify(fx.dev_cert, ca, NULL, 0));

	/* The CRL is readable by openssl and verifies against the CA. */
	char *crl_path = path_in("hub.crl"), *ca_path = path_in("hub-ca.crt"), *ca_pem = NULL;
	cs_test_write_file(fx.dir, "hub.crl", crl, strlen(crl));
	cs_assert_ok(cs_cert_to_pem(&ca_pem, ca));
	cs_test_write_file(fx.dir, "hub-ca.crt", ca_pem, strlen(ca_pem));
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "openssl crl -in '%s' -CAfile '%s' -noout 2>&1 | grep -q 'verify OK'",
		crl_path, ca_path);
	assert_int_equal(system(cmd), 0);
	free(ca_pem);
	free(ca_path);
	free(crl_path);
	free(crl);

	/* A CRL past its nextUpdate is refused, not silently ignored. */
	cs_assert_ok(cs_ca_make_crl(&crl, fx.ca, other_only, 1, 1));
	assert_int_equal(cs_cert_verify(fx.dev_cert, ca, crl, now + 3 * DAY), CS_EEXPIRED);
	assert_non_null(strstr(cs_error_last(), "revocation list expired"));
	free(crl);

	assert_int_equal(cs_cert_verify(fx.dev_cert, ca, "not a crl", 0), CS_EMALFORMED);
	struct cs_revoked bad[] = {{"xyz", now}};
	assert_int_equal(cs_ca_make_crl(&crl, fx.ca, bad, 1, 7), CS_EINVAL);
	free(serial);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_id_known_answer),
		cmocka_unit_test(test_device_id_roundtrip),
		cmocka_unit_test(test_device_id_typos),
		cmocka_unit_test(test_device_id_is_spki_hash),
		cmocka_unit_test(test_key_save_load_plain),
		cmocka_unit_test(test_key_save_load_passphrase),
		cmocka_unit_test(test_key_load_errors),
		cmocka_unit_test(test_key_rsa3072),
		cmocka_unit_test(test_key_sign_verify),
		cmocka_unit_test(test_ca_create_open),
		cmocka_unit_test(test_issue_device),
		cmocka_unit_test(test_issue_device_bad_csr),
		cmocka_unit_test(test_issue_server),
		cmocka_unit_test(test_issue_admin),
		cmocka_unit_test(test_cert_encodings),
		cmocka_unit_test(test_verify_ok_and_expired),
		cmocka_unit_test(test_verify_other_ca),
		cmocka_unit_test(test_verify_revoked),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
