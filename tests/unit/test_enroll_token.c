/* Unit tests for the enrollment token (src/lib/wire/enroll_token.c). */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/enroll_token.h>
#include <certsync/error.h>
#include "helpers.h"

static cs_enroll_token sample(const char *addr)
{
	cs_enroll_token t = {0};
	t.hub_address = (char *)addr;
	for (int i = 0; i < 32; i++)
		t.ca_fingerprint[i] = (uint8_t)i;
	for (int i = 0; i < 16; i++)
		t.secret[i] = (uint8_t)(0xa0 + i);
	return t;
}

static void test_roundtrip(void **state)
{
	(void)state;
	cs_enroll_token t = sample("hub.example.org:8443"), u = {0};
	char *text = NULL;
	cs_assert_ok(cs_enroll_token_encode(&text, &t));
	assert_memory_equal(text, "cse1:", 5);
	cs_assert_ok(cs_enroll_token_parse(&u, text));
	assert_string_equal(u.hub_address, "hub.example.org:8443");
	assert_memory_equal(u.ca_fingerprint, t.ca_fingerprint, 32);
	assert_memory_equal(u.secret, t.secret, 16);
	cs_enroll_token_clear(&u);
	assert_null(u.hub_address);
	static const uint8_t zero[16];
	assert_memory_equal(u.secret, zero, 16);
	cs_enroll_token_clear(&u); /* twice is fine */
	cs_enroll_token_clear(NULL);
	free(text);

	t = sample("[::1]:1");
	cs_assert_ok(cs_enroll_token_encode(&text, &t));
	cs_assert_ok(cs_enroll_token_parse(&u, text));
	assert_string_equal(u.hub_address, "[::1]:1");
	cs_enroll_token_clear(&u);
	free(text);
}

static void test_encode_rejects_bad_address(void **state)
{
	(void)state;
	const char *bad[] = {"", "nohost", ":8443", "host:", "host:0", "host:65536", "host:08443",
		"ho st:1", "host:12a", NULL};
	char *text = NULL;
	for (int i = 0; bad[i]; i++) {
		cs_enroll_token t = sample(bad[i]);
		assert_int_equal(cs_enroll_token_encode(&text, &t), CS_EINVAL);
		assert_null(text);
	}
	char longaddr[300];
	memset(longaddr, 'a', sizeof(longaddr));
	strcpy(longaddr + 260, ":8443"); /* 265 bytes */
	cs_enroll_token t = sample(longaddr);
	assert_int_equal(cs_enroll_token_encode(&text, &t), CS_EINVAL);
}

/* Build a token from raw payload bytes. */
static char *from_payload(const uint8_t *p, size_t n)
{
	char *s = malloc(5 + cs_base32_len(n) + 1);
	memcpy(s, "cse1:", 5);
	cs_base32_encode(s + 5, p, n);
	return s;
}

static size_t payload(uint8_t *out, uint8_t version, const char *addr, size_t addrlen,
	size_t tail)
{
	cs_buf *b = cs_buf_new(1024);
	cs_buf_put_u8(b, version);
	cs_buf_put_string(b, addr, addrlen);
	uint8_t fill[64] = {0};
	cs_buf_put(b, fill, tail);
	size_t n = cs_buf_len(b);
	memcpy(out, cs_buf_ptr(b), n);
	cs_buf_free(b);
	return n;
}

static void test_parse_rejects(void **state)
{
	(void)state;
	cs_enroll_token u = {0};
	uint8_t p[512];
	char *s;

	/* wrong prefix, empty, bad alphabet, lower case, padding */
	assert_int_equal(cs_enroll_token_parse(&u, ""), CS_EMALFORMED);
	assert_int_equal(cs_enroll_token_parse(&u, "cse2:AAAA"), CS_EMALFORMED);
	assert_int_equal(cs_enroll_token_parse(&u, "cse1:"), CS_ETRUNCATED);
	assert_int_equal(cs_enroll_token_parse(&u, "cse1:AB1C"), CS_EMALFORMED);
	assert_int_equal(cs_enroll_token_parse(&u, "cse1:aebaaaaa"), CS_EMALFORMED);
	assert_int_equal(cs_enroll_token_parse(&u, "cse1:AE======"), CS_EMALFORMED);
	assert_null(u.hub_address);

	/* exact lengths: one byte short, one byte trailing */
	size_t n = payload(p, 1, "h:1", 3, 48);
	s = from_payload(p, n);
	cs_assert_ok(cs_enroll_token_parse(&u, s));
	cs_enroll_token_clear(&u);
	free(s);
	s = from_payload(p, n - 1);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_ETRUNCATED);
	free(s);
	n = payload(p, 1, "h:1", 3, 49);
	s = from_payload(p, n);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_ETRAILING);
	free(s);

	/* version, embedded NUL, control character, address too long */
	n = payload(p, 2, "h:1", 3, 48);
	s = from_payload(p, n);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_EMALFORMED);
	free(s);
	n = payload(p, 1, "h\0:1", 4, 48);
	s = from_payload(p, n);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_EMALFORMED);
	free(s);
	n = payload(p, 1, "h\n:1", 4, 48);
	s = from_payload(p, n);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_EMALFORMED);
	free(s);
	char big[300];
	memset(big, 'a', sizeof(big));
	n = payload(p, 1, big, 256, 48);
	s = from_payload(p, n);
	assert_int_equal(cs_enroll_token_parse(&u, s), CS_ELIMIT);
	free(s);

	/* far too long text */
	char *huge = malloc(4000);
	memcpy(huge, "cse1:", 5);
	memset(huge + 5, 'A', 3994);
	huge[3999] = '\0';
	assert_int_equal(cs_enroll_token_parse(&u, huge), CS_ELIMIT);
	free(huge);
	assert_null(u.hub_address);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encode_rejects_bad_address),
		cmocka_unit_test(test_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
