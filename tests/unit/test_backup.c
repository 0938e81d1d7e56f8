/* Unit tests for the pieces of backup both sides compute
 * (src/lib/backup/pairing_code.c, handshake.c; PROTOCOL.md §12): the code a
 * terminal shows, the MACs of the handshake, and the hub-signed first
 * verification information. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <certsync/backup.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include "lib/backup/local.h"
#include "helpers.h"

/* ---- helpers ---- */

#define PAIRING_ID "0123456789abcdef0123456789abcdef"

static cs_backup_pairing sample(size_t naddrs)
{
	cs_backup_pairing p;
	memset(&p, 0, sizeof(p));
	memcpy(p.id, PAIRING_ID, CS_BACKUP_PAIRING_ID_LEN + 1);
	for (int i = 0; i < 32; i++) {
		p.secret[i] = (uint8_t)(0xa0 + i);
		p.fingerprint[i] = (uint8_t)(0x10 * (i & 15) + (i >> 4));
	}
	p.expires = 1767225600; /* 2026-01-01 */
	for (size_t i = 0; i < naddrs; i++)
		snprintf(p.addrs[i], sizeof(p.addrs[i]), "192.168.1.%zu:%zu", 10 + i, 40000 + i);
	p.naddrs = naddrs;
	return p;
}

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void assert_pairing_equal(const cs_backup_pairing *a, const cs_backup_pairing *b)
{
	assert_string_equal(a->id, b->id);
	assert_memory_equal(a->secret, b->secret, 32);
	assert_memory_equal(a->fingerprint, b->fingerprint, 32);
	assert_int_equal(a->expires, b->expires);
	assert_int_equal(a->naddrs, b->naddrs);
	for (size_t i = 0; i < a->naddrs; i++)
		assert_string_equal(a->addrs[i], b->addrs[i]);
}

static int pairing_equal(const cs_backup_pairing *a, const cs_backup_pairing *b)
{
	if (strcmp(a->id, b->id) != 0 || memcmp(a->secret, b->secret, 32) != 0 ||
	    memcmp(a->fingerprint, b->fingerprint, 32) != 0 || a->expires != b->expires ||
	    a->naddrs != b->naddrs)
		return 0;
	for (size_t i = 0; i < a->naddrs; i++)
		if (strcmp(a->addrs[i], b->addrs[i]) != 0)
			return 0;
	return 1;
}

/* A refused decode: one of the documented codes, and nothing left behind. */
static void assert_refused(const char *text, int want)
{
	cs_backup_pairing p;
	memset(&p, 0xa5, sizeof(p));
	int r = cs_backup_pairing_decode(&p, text);
	if (want != 0 ? r != want : (r != CS_EMALFORMED && r != CS_ETRAILING))
		fail_msg("decode of \"%s\" returned %d (%s), want %d", text, r, cs_error_last(), want);
	if (!all_zero(&p, sizeof(p)))
		fail_msg("decode of \"%s\" failed but left data in the struct", text);
}

/* "CSB1:" + base32(raw), malloc'd. */
static char *code_from_raw(const uint8_t *raw, size_t n)
{
	char *s = malloc(5 + cs_base32_len(n) + 1);
	assert_non_null(s);
	memcpy(s, "CSB1:", 5);
	cs_base32_encode(s + 5, raw, n);
	return s;
}

/* The raw bytes of a code with the given fields, built independently of
 * the encoder (PROTOCOL.md §12.2), plus `extra` trailing zero bytes. */
static char *code_build(int version, const char *id, size_t naddrs, const char *const *addrs, uint64_t expires,
	size_t extra)
{
	cs_buf *b = cs_buf_new(4096);
	uint8_t secret[32], fp[32];
	assert_non_null(b);
	memset(secret, 0x5a, sizeof(secret));
	memset(fp, 0xc3, sizeof(fp));
	cs_assert_ok(cs_buf_put_u8(b, (uint8_t)version));
	cs_assert_ok(cs_buf_put_cstring(b, id));
	cs_assert_ok(cs_buf_put(b, secret, 32));
	cs_assert_ok(cs_buf_put(b, fp, 32));
	cs_assert_ok(cs_buf_put_u64(b, expires));
	cs_assert_ok(cs_buf_put_u8(b, (uint8_t)naddrs));
	for (size_t i = 0; addrs != NULL && addrs[i] != NULL; i++)
		cs_assert_ok(cs_buf_put_cstring(b, addrs[i]));
	for (size_t i = 0; i < extra; i++)
		cs_assert_ok(cs_buf_put_u8(b, 0));
	char *s = code_from_raw(cs_buf_ptr(b), cs_buf_len(b));
	cs_buf_free(b);
	return s;
}

/* ---- the code ---- */

static void test_code_roundtrip(void **state)
{
	(void)state;
	static const char qr_alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
	for (size_t n = 1; n <= CS_BACKUP_ADDRS_MAX; n++) {
		cs_backup_pairing p = sample(n), q;
		char *text = NULL;
		cs_assert_ok(cs_backup_pairing_encode(&text, &p));
		assert_memory_equal(text, "CSB1:", 5);
		assert_true(strlen(text) <= 1024);
		/* the whole text is in the QR alphanumeric set, body in base32 */
		assert_int_equal(strspn(text, qr_alnum), strlen(text));
		assert_int_equal(strspn(text + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), strlen(text + 5));
		cs_assert_ok(cs_backup_pairing_decode(&q, text));
		assert_pairing_equal(&p, &q);
		/* unused address slots stay empty */
		for (size_t i = n; i < CS_BACKUP_ADDRS_MAX; i++)
			assert_true(all_zero(q.addrs[i], sizeof(q.addrs[i])));
		free(text);
	}
}

static void test_code_limits(void **state)
{
	(void)state;
	/* four addresses of the longest length, expiry at both ends */
	cs_backup_pairing p = sample(CS_BACKUP_ADDRS_MAX), q;
	for (size_t i = 0; i < CS_BACKUP_ADDRS_MAX; i++) {
		memset(p.addrs[i], 'a' + (int)i, CS_BACKUP_ADDR_MAX - 1);
		p.addrs[i][CS_BACKUP_ADDR_MAX - 1] = 0;
		memcpy(p.addrs[i] + CS_BACKUP_ADDR_MAX - 7, ":65535", 6);
	}
	int64_t exp[] = {0, 1, INT64_MAX};
	for (size_t k = 0; k < sizeof(exp) / sizeof(exp[0]); k++) {
		char *text = NULL;
		p.expires = exp[k];
		cs_assert_ok(cs_backup_pairing_encode(&text, &p));
		assert_true(strlen(text) <= 1024);
		cs_assert_ok(cs_backup_pairing_decode(&q, text));
		assert_pairing_equal(&p, &q);
		assert_int_equal(strlen(q.addrs[3]), CS_BACKUP_ADDR_MAX - 1);
		free(text);
	}
	/* the encoder names 1 to 4 addresses */
	char *text = (char *)"untouched";
	p.naddrs = 0;
	assert_int_equal(cs_backup_pairing_encode(&text, &p), CS_EINVAL);
	assert_null(text);
	p.naddrs = CS_BACKUP_ADDRS_MAX + 1;
	text = (char *)"untouched";
	assert_int_equal(cs_backup_pairing_encode(&text, &p), CS_EINVAL);
	assert_null(text);
}

static void test_code_text_forms(void **state)
{
	(void)state;
	cs_backup_pairing p = sample(2), q;
	char *text = NULL, buf[2048];
	cs_assert_ok(cs_backup_pairing_encode(&text, &p));

	/* white space around the code */
	snprintf(buf, sizeof(buf), " \t\r\n%s\r\n\t  ", text);
	cs_assert_ok(cs_backup_pairing_decode(&q, buf));
	assert_pairing_equal(&p, &q);
	snprintf(buf, sizeof(buf), "%s\n", text);
	cs_assert_ok(cs_backup_pairing_decode(&q, buf));
	assert_pairing_equal(&p, &q);

	/* the prefix in any case */
	const char *prefixes[] = {"csb1:", "Csb1:", "cSB1:"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%s%s", prefixes[i], text + 5);
		cs_assert_ok(cs_backup_pairing_decode(&q, buf));
		assert_pairing_equal(&p, &q);
	}

	/* but not a lower-case body, inner white space, another prefix */
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *c = buf + 5; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	assert_refused(buf, CS_EMALFORMED);
	size_t len = strlen(text);
	snprintf(buf, sizeof(buf), "%.*s %s", (int)(len / 2), text, text + len / 2);
	assert_refused(buf, CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "%.*s\n%s", (int)(len / 2), text, text + len / 2);
	assert_refused(buf, CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "CSB2:%s", text + 5);
	assert_refused(buf, CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "CSB1%s", text + 5);
	assert_refused(buf, CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "x%s", text);
	assert_refused(buf, CS_EMALFORMED);
	assert_refused("", CS_EMALFORMED);
	assert_refused("   ", CS_EMALFORMED);
	assert_refused("CSB1:", CS_EMALFORMED);
	assert_refused("CSB1", CS_EMALFORMED);
	assert_refused("cse1:AAAA", CS_EMALFORMED);

	/* far too long text */
	char *huge = malloc(5000);
	assert_non_null(huge);
	memcpy(huge, "CSB1:", 5);
	memset(huge + 5, 'A', 4994);
	huge[4999] = 0;
	assert_refused(huge, CS_EMALFORMED);
	/* just over the 1024 characters a code may have */
	huge[1025] = 0;
	assert_refused(huge, CS_EMALFORMED);
	free(huge);
	free(text);
}

static void test_code_truncations(void **state)
{
	(void)state;
	for (size_t n = 1; n <= CS_BACKUP_ADDRS_MAX; n += 3) {
		cs_backup_pairing p = sample(n);
		char *text = NULL;
		cs_assert_ok(cs_backup_pairing_encode(&text, &p));
		size_t len = strlen(text);
		char *cut = malloc(len + 1);
		assert_non_null(cut);
		for (size_t k = 0; k < len; k++) {
			memcpy(cut, text, k);
			cut[k] = 0;
			assert_refused(cut, 0);
		}
		free(cut);
		free(text);
	}
}

static void test_code_flips(void **state)
{
	(void)state;
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char bad[] = "0189a=-@ \t";
	cs_backup_pairing p = sample(3), q;
	char *text = NULL;
	cs_assert_ok(cs_backup_pairing_encode(&text, &p));
	size_t len = strlen(text);
	char *t = strdup(text);
	assert_non_null(t);
	size_t decoded = 0;
	for (size_t i = 5; i < len; i++) {
		/* a character outside base32 anywhere in the body: refused */
		for (const char *c = bad; *c; c++) {
			t[i] = *c;
			assert_refused(t, CS_EMALFORMED);
		}
		/* another base32 character: refused, or (the code carries no
		 * checksum: secret, fingerprint, expiry) a different code, never
		 * the same one */
		for (const char *c = b32; *c; c++) {
			if (*c == text[i])
				continue;
			t[i] = *c;
			memset(&q, 0xa5, sizeof(q));
			int r = cs_backup_pairing_decode(&q, t);
			if (r == 0) {
				decoded++;
				assert_false(pairing_equal(&p, &q));
			} else {
				if (r != CS_EMALFORMED && r != CS_ETRAILING)
					fail_msg("flip at %zu to %c: %d (%s)", i, *c, r, cs_error_last());
				assert_true(all_zero(&q, sizeof(q)));
			}
		}
		t[i] = text[i];
	}
	/* the secret and fingerprint bytes alone make many flips decode */
	assert_true(decoded > 0);
	free(t);
	free(text);
}

static void test_code_bad_fields(void **state)
{
	(void)state;
	const char *one[] = {"127.0.0.1:4000", NULL};
	const char *five[] = {"a:1", "b:2", "c:3", "d:4", "e:5", NULL};
	char *s;

	/* a well-formed hand-built code decodes (so each refusal below is
	 * caused by the one field it changes) */
	s = code_build(1, PAIRING_ID, 1, one, 1000, 0);
	cs_backup_pairing q;
	cs_assert_ok(cs_backup_pairing_decode(&q, s));
	assert_string_equal(q.id, PAIRING_ID);
	assert_string_equal(q.addrs[0], "127.0.0.1:4000");
	assert_int_equal(q.expires, 1000);
	free(s);

	/* wrong versions */
	int versions[] = {0, 2, 255};
	for (size_t i = 0; i < 3; i++) {
		s = code_build(versions[i], PAIRING_ID, 1, one, 1000, 0);
		assert_refused(s, CS_EMALFORMED);
		free(s);
	}
	/* 0 or 5 addresses (with and without the fifth present) */
	s = code_build(1, PAIRING_ID, 0, NULL, 1000, 0);
	assert_refused(s, CS_EMALFORMED);
	free(s);
	s = code_build(1, PAIRING_ID, 0, one, 1000, 0);
	assert_refused(s, 0);
	free(s);
	s = code_build(1, PAIRING_ID, 5, five, 1000, 0);
	assert_refused(s, CS_EMALFORMED);
	free(s);
	s = code_build(1, PAIRING_ID, 255, five, 1000, 0);
	assert_refused(s, CS_EMALFORMED);
	free(s);
	/* fewer addresses than announced */
	s = code_build(1, PAIRING_ID, 2, one, 1000, 0);
	assert_refused(s, CS_EMALFORMED);
	free(s);
	/* an address with a space, a control character, DEL, a high byte,
	 * empty, or of 64 characters */
	char longest[CS_BACKUP_ADDR_MAX + 1];
	memset(longest, 'h', CS_BACKUP_ADDR_MAX);
	longest[CS_BACKUP_ADDR_MAX] = 0;
	const char *bad_addrs[] = {"host name:1", "host\t:1", "host:1\n", "\x01host:1", "host\x7f:1",
		"h\xc3\xa9:1", "", longest, NULL};
	for (size_t i = 0; bad_addrs[i]; i++) {
		const char *a[] = {"ok:1", bad_addrs[i], NULL};
		s = code_build(1, PAIRING_ID, 2, a, 1000, 0);
		assert_refused(s, CS_EMALFORMED);
		free(s);
	}
	/* an address of 63 characters is the longest */
	longest[CS_BACKUP_ADDR_MAX - 1] = 0;
	const char *a63[] = {longest, NULL};
	s = code_build(1, PAIRING_ID, 1, a63, 1000, 0);
	cs_assert_ok(cs_backup_pairing_decode(&q, s));
	assert_string_equal(q.addrs[0], longest);
	free(s);
	/* pairing ids of 31, 33, 0 characters, or with a space */
	const char *bad_ids[] = {"0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0", "",
		"0123456789abcdef 123456789abcdef", NULL};
	for (size_t i = 0; bad_ids[i]; i++) {
		s = code_build(1, bad_ids[i], 1, one, 1000, 0);
		assert_refused(s, CS_EMALFORMED);
		free(s);
	}
	/* an expiry past INT64_MAX */
	s = code_build(1, PAIRING_ID, 1, one, (uint64_t)INT64_MAX + 1, 0);
	assert_refused(s, CS_EMALFORMED);
	free(s);
	/* trailing bytes */
	for (size_t extra = 1; extra <= 3; extra++) {
		s = code_build(1, PAIRING_ID, 1, one, 1000, extra);
		assert_refused(s, CS_ETRAILING);
		free(s);
	}
	/* a valid code with non-zero base32 padding bits: "AB" is one byte
	 * 0x00 plus 2 bits; a 1 in them is refused */
	assert_refused("CSB1:AB", CS_EMALFORMED);
	/* raw longer than any code: more than 512 bytes */
	uint8_t big[600];
	memset(big, 0x01, sizeof(big));
	s = code_from_raw(big, sizeof(big));
	assert_refused(s, CS_EMALFORMED);
	free(s);
}

/* ---- the MACs ---- */

static const uint8_t SECRET[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
	20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static void nonces(uint8_t pn[CS__BK_NONCE_LEN], uint8_t tn[CS__BK_NONCE_LEN])
{
	for (int i = 0; i < CS__BK_NONCE_LEN; i++) {
		pn[i] = (uint8_t)(0x40 + i);
		tn[i] = (uint8_t)(0x80 + i);
	}
}

/* HMAC-SHA-256 of the documented message, with OpenSSL directly. */
static void openssl_mac(uint8_t out[32], const uint8_t secret[32], const char *label, const char *account,
	const char *pairing, const char *phone, const uint8_t *pn, const uint8_t *tn)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n", label, account, pairing, phone);
	for (int i = 0; i < CS__BK_NONCE_LEN; i++)
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%02x", pn[i]);
	if (tn != NULL) {
		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "\n");
		for (int i = 0; i < CS__BK_NONCE_LEN; i++)
			n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%02x", tn[i]);
	}
	unsigned int outlen = 0;
	assert_non_null(HMAC(EVP_sha256(), secret, 32, (const unsigned char *)msg, (size_t)n, out, &outlen));
	assert_int_equal(outlen, 32);
}

static void test_mac_known_answer(void **state)
{
	(void)state;
	uint8_t pn[CS__BK_NONCE_LEN], tn[CS__BK_NONCE_LEN], got[32], want[32];
	nonces(pn, tn);
	const char *labels[] = {"certsync-backup-hello", "certsync-backup-second", "certsync-backup-confirm"};
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *t = i == 0 ? NULL : tn;
		cs_assert_ok(cs__bk_mac(got, SECRET, labels[i], "alice", PAIRING_ID, "PHONE-ID", pn, t));
		openssl_mac(want, SECRET, labels[i], "alice", PAIRING_ID, "PHONE-ID", pn, t);
		assert_memory_equal(got, want, 32);
	}
	/* fixed vectors (Python hmac over the same messages) */
	char hex[65];
	cs_assert_ok(cs__bk_mac(got, SECRET, "certsync-backup-hello", "alice", PAIRING_ID, "PHONE-ID", pn, NULL));
	cs_hex_encode(hex, got, 32);
	assert_string_equal(hex, "a975fd522cd368561ffa57e37bd569576fd080bc35f71f4f8926730981ffd885");
	cs_assert_ok(cs__bk_mac(got, SECRET, "certsync-backup-second", "alice", PAIRING_ID, "PHONE-ID", pn, tn));
	cs_hex_encode(hex, got, 32);
	assert_string_equal(hex, "2daaad38cb56716f517dc88ef0204b6828801885b0e185af60913228ec28da59");
}

static void test_mac_inputs(void **state)
{
	(void)state;
	uint8_t pn[CS__BK_NONCE_LEN], tn[CS__BK_NONCE_LEN], base[32], again[32], m[32], secret[32];
	nonces(pn, tn);
	memcpy(secret, SECRET, 32);
	const char *L = "certsync-backup-second";
	cs_assert_ok(cs__bk_mac(base, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
	cs_assert_ok(cs__bk_mac(again, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
	assert_memory_equal(base, again, 32); /* deterministic */

	cs_assert_ok(cs__bk_mac(m, secret, "certsync-backup-confirm", "alice", PAIRING_ID, "PHONE", pn, tn));
	assert_memory_not_equal(m, base, 32);
	cs_assert_ok(cs__bk_mac(m, secret, L, "alicf", PAIRING_ID, "PHONE", pn, tn));
	assert_memory_not_equal(m, base, 32);
	cs_assert_ok(cs__bk_mac(m, secret, L, "alice", "0123456789abcdef0123456789abcdee", "PHONE", pn, tn));
	assert_memory_not_equal(m, base, 32);
	cs_assert_ok(cs__bk_mac(m, secret, L, "alice", PAIRING_ID, "PHONF", pn, tn));
	assert_memory_not_equal(m, base, 32);
	/* fields do not run into each other */
	cs_assert_ok(cs__bk_mac(m, secret, L, "alice\n" PAIRING_ID, "", "PHONE", pn, tn));
	assert_memory_not_equal(m, base, 32);
	for (int i = 0; i < CS__BK_NONCE_LEN; i += 31) {
		pn[i] ^= 1;
		cs_assert_ok(cs__bk_mac(m, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
		assert_memory_not_equal(m, base, 32);
		pn[i] ^= 1;
		tn[i] ^= 0x80;
		cs_assert_ok(cs__bk_mac(m, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
		assert_memory_not_equal(m, base, 32);
		tn[i] ^= 0x80;
		secret[i] ^= 0x10;
		cs_assert_ok(cs__bk_mac(m, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
		assert_memory_not_equal(m, base, 32);
		secret[i] ^= 0x10;
	}
	cs_assert_ok(cs__bk_mac(m, secret, L, "alice", PAIRING_ID, "PHONE", pn, tn));
	assert_memory_equal(m, base, 32);

	/* the hello (no terminal nonce) differs from the second, and from a
	 * hello over an all-zero terminal nonce */
	uint8_t hello[32], zero[CS__BK_NONCE_LEN] = {0};
	cs_assert_ok(cs__bk_mac(hello, secret, "certsync-backup-hello", "alice", PAIRING_ID, "PHONE", pn, NULL));
	assert_memory_not_equal(hello, base, 32);
	cs_assert_ok(cs__bk_mac(m, secret, "certsync-backup-second", "alice", PAIRING_ID, "PHONE", pn, NULL));
	assert_memory_not_equal(hello, m, 32);
	assert_memory_not_equal(base, m, 32);
	cs_assert_ok(cs__bk_mac(m, secret, "certsync-backup-hello", "alice", PAIRING_ID, "PHONE", pn, zero));
	assert_memory_not_equal(hello, m, 32);

	/* values too long for the message are refused, not cut */
	char *big = malloc(1100);
	assert_non_null(big);
	memset(big, 'x', 1099);
	big[1099] = 0;
	assert_int_equal(cs__bk_mac(m, secret, L, big, PAIRING_ID, "PHONE", pn, tn), CS_EINVAL);
	free(big);
}

/* ---- the first verification information ---- */

struct pki {
	char *dir;
	cs_ca *hub, *other;
};

static int pki_setup(void **state)
{
	struct pki *k = calloc(1, sizeof(*k));
	char path[4096];
	assert_non_null(k);
	k->dir = cs_test_tmpdir("backup-pki");
	snprintf(path, sizeof(path), "%s/hub", k->dir);
	cs_assert_ok(cs_ca_create(path, "test hub"));
	cs_assert_ok(cs_ca_open(&k->hub, path));
	snprintf(path, sizeof(path), "%s/other", k->dir);
	cs_assert_ok(cs_ca_create(path, "another hub"));
	cs_assert_ok(cs_ca_open(&k->other, path));
	*state = k;
	return 0;
}

static int pki_teardown(void **state)
{
	struct pki *k = *state;
	cs_ca_free(k->hub);
	cs_ca_free(k->other);
	cs_fs_remove_tree(k->dir);
	free(k->dir);
	free(k);
	return 0;
}

#define PHONE_ID "AAAAAAA-BBBBBBB-CCCCCCC-DDDDDDD-EEEEEEE-FFFFFFF-GGGGGGG-HHHHHHH"
#define TERM_ID "IIIIIII-JJJJJJJ-KKKKKKK-LLLLLLL-MMMMMMM-NNNNNNN-OOOOOOO-PPPPPPP"
#define TERM_FP "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define NONCE_HEX "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"

/* The statement the hub makes (first_verification() in api_account.c). */
static json_t *statement(void)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "kind", "certsync-pairing-v1",
		"account", "alice", "pairing", PAIRING_ID, "phone", PHONE_ID, "phone_nonce", NONCE_HEX, "terminal",
		TERM_ID, "terminal_fingerprint", TERM_FP, "issued", (json_int_t)1767225600, "expires",
		(json_int_t)1767225900);
	assert_non_null(j);
	return j;
}

/* Sign text with ca; base64 of the text and of the signature. */
static void sign_text(char **st64, char **sig64, const cs_ca *ca, const char *text, size_t len)
{
	uint8_t *sig = NULL;
	size_t siglen = 0;
	cs_assert_ok(cs_ca_sign(&sig, &siglen, ca, text, len));
	cs_assert_ok(cs_base64_encode(st64, text, len));
	cs_assert_ok(cs_base64_encode(sig64, sig, siglen));
	free(sig);
}

/* Sign j (stolen) as the hub does and open it with the hub's certificate. */
static int open_json(struct cs__bk_first *f, const struct pki *k, const cs_ca *signer, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), *st64 = NULL, *sig64 = NULL;
	json_decref(j);
	assert_non_null(text);
	sign_text(&st64, &sig64, signer, text, strlen(text));
	memset(f, 0xa5, sizeof(*f));
	int r = cs__bk_first_open(f, st64, sig64, cs_ca_cert(k->hub));
	free(text);
	free(st64);
	free(sig64);
	return r;
}

static void assert_first_refused(int r, int want, const struct cs__bk_first *f, const char *what)
{
	if (r != want)
		fail_msg("%s: got %d (%s), want %d", what, r, cs_error_last(), want);
	if (!all_zero(f, sizeof(*f)))
		fail_msg("%s: refused but left data in the struct", what);
}

static void test_first_valid(void **state)
{
	struct pki *k = *state;
	struct cs__bk_first f;
	cs_assert_ok(open_json(&f, k, k->hub, statement()));
	assert_string_equal(f.account, "alice");
	assert_string_equal(f.pairing, PAIRING_ID);
	assert_string_equal(f.phone, PHONE_ID);
	assert_string_equal(f.terminal, TERM_ID);
	assert_string_equal(f.terminal_fingerprint, TERM_FP);
	assert_int_equal(f.expires, 1767225900);
	for (int i = 0; i < CS__BK_NONCE_LEN; i++)
		assert_int_equal(f.phone_nonce[i], 0x40 + i);

	/* upper-case nonce digits, the longest account, members in any order */
	json_t *j = statement();
	char acct[CS_ACCT_NAME_MAX + 1];
	memset(acct, 'a', CS_ACCT_NAME_MAX);
	acct[CS_ACCT_NAME_MAX] = 0;
	json_object_set_new(j, "account", json_string(acct));
	json_object_set_new(j, "phone_nonce",
		json_string("404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F"));
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER), *st64 = NULL, *sig64 = NULL;
	json_decref(j);
	sign_text(&st64, &sig64, k->hub, text, strlen(text));
	cs_assert_ok(cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub)));
	assert_string_equal(f.account, acct);
	assert_int_equal(f.phone_nonce[10], 0x4a);
	/* the decoder alone, on the same bytes */
	struct cs__bk_first g;
	cs_assert_ok(cs__bk_first_decode(&g, (const uint8_t *)text, strlen(text)));
	assert_memory_equal(&f, &g, sizeof(f));
	free(text);
	free(st64);
	free(sig64);
}

static void test_first_signature(void **state)
{
	struct pki *k = *state;
	struct cs__bk_first f;
	int r;

	/* signed by another CA */
	r = open_json(&f, k, k->other, statement());
	assert_first_refused(r, CS_EAUTH, &f, "another CA");
	assert_non_null(strstr(cs_error_last(), "not signed by the hub"));

	/* a statement altered after signing: each of a few bytes */
	json_t *j = statement();
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), *st64 = NULL, *sig64 = NULL;
	json_decref(j);
	size_t len = strlen(text);
	uint8_t *sig = NULL;
	size_t siglen = 0;
	cs_assert_ok(cs_ca_sign(&sig, &siglen, k->hub, text, len));
	cs_assert_ok(cs_base64_encode(&sig64, sig, siglen));
	size_t positions[] = {0, 12, len / 2, len - 2, len - 1};
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		char *alt = strdup(text);
		alt[positions[i]] ^= 0x01;
		cs_assert_ok(cs_base64_encode(&st64, alt, len));
		memset(&f, 0xa5, sizeof(f));
		r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
		assert_first_refused(r, CS_EAUTH, &f, "altered statement");
		assert_non_null(strstr(cs_error_last(), "not signed by the hub"));
		free(st64);
		free(alt);
	}
	/* a statement with a byte appended, or cut short */
	char *longer = malloc(len + 2);
	memcpy(longer, text, len);
	longer[len] = ' ';
	longer[len + 1] = 0;
	cs_assert_ok(cs_base64_encode(&st64, longer, len + 1));
	r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EAUTH, &f, "statement with a byte appended");
	free(st64);
	free(longer);
	cs_assert_ok(cs_base64_encode(&st64, text, len - 1));
	r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EAUTH, &f, "statement cut short");
	free(st64);
	free(sig64);

	/* a damaged or empty signature */
	cs_assert_ok(cs_base64_encode(&st64, text, len));
	sig[siglen / 2] ^= 0x20;
	cs_assert_ok(cs_base64_encode(&sig64, sig, siglen));
	r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EAUTH, &f, "damaged signature");
	free(sig64);
	cs_assert_ok(cs_base64_encode(&sig64, sig, siglen - 1));
	r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EAUTH, &f, "short signature");
	free(sig64);
	r = cs__bk_first_open(&f, st64, "", cs_ca_cert(k->hub));
	assert_true(r == CS_EAUTH || r == CS_EMALFORMED);
	assert_true(all_zero(&f, sizeof(f)));

	/* bad base64 in either, or missing */
	cs_assert_ok(cs_base64_encode(&sig64, sig, siglen));
	const char *bad64[] = {"!!!!", "QUJD=", "QU JD", "QUJDRA", NULL};
	for (size_t i = 0; bad64[i]; i++) {
		r = cs__bk_first_open(&f, bad64[i], sig64, cs_ca_cert(k->hub));
		assert_first_refused(r, CS_EMALFORMED, &f, bad64[i]);
		r = cs__bk_first_open(&f, st64, bad64[i], cs_ca_cert(k->hub));
		assert_first_refused(r, CS_EMALFORMED, &f, bad64[i]);
	}
	r = cs__bk_first_open(&f, NULL, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EMALFORMED, &f, "no statement");
	r = cs__bk_first_open(&f, st64, NULL, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EMALFORMED, &f, "no signature");
	/* a statement over 4096 base64 characters */
	char *huge = malloc(6001);
	memset(huge, 'A', 6000);
	huge[6000] = 0;
	r = cs__bk_first_open(&f, huge, sig64, cs_ca_cert(k->hub));
	assert_first_refused(r, CS_EMALFORMED, &f, "statement too long");
	free(huge);
	free(st64);
	free(sig64);
	free(sig);
	free(text);
}

static void test_first_malformed(void **state)
{
	struct pki *k = *state;
	struct cs__bk_first f;
	json_t *j;
	int r;

	/* wrong kind */
	const char *kinds[] = {"certsync-pairing-v2", "", "CERTSYNC-PAIRING-V1", NULL};
	for (size_t i = 0; kinds[i]; i++) {
		j = statement();
		json_object_set_new(j, "kind", json_string(kinds[i]));
		r = open_json(&f, k, k->hub, j);
		assert_first_refused(r, CS_EMALFORMED, &f, kinds[i]);
	}
	j = statement();
	json_object_set_new(j, "kind", json_integer(1));
	assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, "kind not a string");

	/* each member missing, then each of the wrong type */
	const char *members[] = {"kind", "account", "pairing", "phone", "phone_nonce", "terminal",
		"terminal_fingerprint", "expires", NULL};
	for (size_t i = 0; members[i]; i++) {
		j = statement();
		json_object_del(j, members[i]);
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, members[i]);
		j = statement();
		json_object_set_new(j, members[i], i == 7 ? json_string("1767225900") : json_integer(7));
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, members[i]);
		j = statement();
		json_object_set_new(j, members[i], json_null());
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, members[i]);
	}
	/* "issued" is informative only */
	j = statement();
	json_object_del(j, "issued");
	cs_assert_ok(open_json(&f, k, k->hub, j));

	/* bad nonce hex */
	const char *nonces_bad[] = {
		"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5",   /* 63 */
		"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f0", /* 65 */
		"g04142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		"4041424344454647 8494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
		"", NULL};
	for (size_t i = 0; nonces_bad[i]; i++) {
		j = statement();
		json_object_set_new(j, "phone_nonce", json_string(nonces_bad[i]));
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, nonces_bad[i]);
	}

	/* a non-integer expiry */
	json_t *exps[] = {json_real(1767225900.5), json_real(1767225900.0), json_true(), json_array(),
		json_object(), NULL};
	for (size_t i = 0; exps[i]; i++) {
		j = statement();
		json_object_set_new(j, "expires", exps[i]);
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, "expires");
	}

	/* empty or too long strings: each buffer's size is the limit */
	struct { const char *key; size_t max; } lim[] = {
		{"account", CS_ACCT_NAME_MAX}, {"pairing", CS_BACKUP_PAIRING_ID_LEN},
		{"phone", CS_DEVICE_ID_SIZE - 1}, {"terminal", CS_DEVICE_ID_SIZE - 1},
		{"terminal_fingerprint", 64},
	};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		char s[200];
		memset(s, 'Q', lim[i].max + 1);
		s[lim[i].max + 1] = 0;
		j = statement();
		json_object_set_new(j, lim[i].key, json_string(s));
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, lim[i].key);
		s[lim[i].max] = 0;
		j = statement();
		json_object_set_new(j, lim[i].key, json_string(s));
		cs_assert_ok(open_json(&f, k, k->hub, j));
		j = statement();
		json_object_set_new(j, lim[i].key, json_string(""));
		assert_first_refused(open_json(&f, k, k->hub, j), CS_EMALFORMED, &f, lim[i].key);
	}

	/* not JSON, not an object, duplicate keys (signed correctly) */
	const char *texts[] = {"", "null", "[]", "\"certsync-pairing-v1\"", "{", "{\"kind\":\"certsync-pairing-v1\"}",
		"{\"kind\":\"certsync-pairing-v1\",\"kind\":\"certsync-pairing-v1\",\"account\":\"alice\"}", NULL};
	for (size_t i = 0; texts[i]; i++) {
		char *st64 = NULL, *sig64 = NULL;
		sign_text(&st64, &sig64, k->hub, texts[i], strlen(texts[i]));
		memset(&f, 0xa5, sizeof(f));
		r = cs__bk_first_open(&f, st64, sig64, cs_ca_cert(k->hub));
		assert_first_refused(r, CS_EMALFORMED, &f, texts[i]);
		memset(&f, 0xa5, sizeof(f));
		r = cs__bk_first_decode(&f, (const uint8_t *)texts[i], strlen(texts[i]));
		assert_first_refused(r, CS_EMALFORMED, &f, texts[i]);
		free(st64);
		free(sig64);
	}
	/* a duplicated member in the full statement */
	j = statement();
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	char dup[2048];
	snprintf(dup, sizeof(dup), "{\"account\":\"mallory\",%s", text + 1);
	free(text);
	memset(&f, 0xa5, sizeof(f));
	r = cs__bk_first_decode(&f, (const uint8_t *)dup, strlen(dup));
	assert_first_refused(r, CS_EMALFORMED, &f, "duplicate account");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_code_roundtrip),
		cmocka_unit_test(test_code_limits),
		cmocka_unit_test(test_code_text_forms),
		cmocka_unit_test(test_code_truncations),
		cmocka_unit_test(test_code_flips),
		cmocka_unit_test(test_code_bad_fields),
		cmocka_unit_test(test_mac_known_answer),
		cmocka_unit_test(test_mac_inputs),
		cmocka_unit_test_setup_teardown(test_first_valid, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_first_signature, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_first_malformed, pki_setup, pki_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
