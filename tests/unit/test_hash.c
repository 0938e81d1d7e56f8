/* Unit tests for include/certsync/hash.h (src/lib/envelope/hash.c). */
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "helpers.h"

static void hex_of(char out[2 * CS_SHA256_LEN + 1], const uint8_t h[CS_SHA256_LEN])
{
	cs_hex_encode(out, h, CS_SHA256_LEN);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	uint8_t h[CS_SHA256_LEN];
	char hex[2 * CS_SHA256_LEN + 1];

	cs_sha256(h, "", 0);
	hex_of(hex, h);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cs_sha256(h, NULL, 0);
	hex_of(hex, h);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cs_sha256(h, "abc", 3);
	hex_of(hex, h);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	cs_sha256(h, two, strlen(two));
	hex_of(hex, h);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Streaming in uneven pieces gives the one-shot result. */
static void test_sha256_streaming(void **state)
{
	(void)state;
	size_t len = 1 << 20;
	uint8_t *data = malloc(len);
	uint8_t a[CS_SHA256_LEN], b[CS_SHA256_LEN];
	assert_non_null(data);
	cs_test_fill_random(data, len, 42);
	cs_sha256(a, data, len);

	cs_sha256_ctx *ctx = cs_sha256_new();
	assert_non_null(ctx);
	size_t off = 0, step = 1;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;
		cs_sha256_update(ctx, data + off, n);
		off += n;
		step = step * 3 + 1;
	}
	cs_sha256_final(ctx, b);
	assert_memory_equal(a, b, CS_SHA256_LEN);

	/* An unfinished context can be discarded; NULL is a no-op. */
	ctx = cs_sha256_new();
	cs_sha256_update(ctx, data, 10);
	cs_sha256_free(ctx);
	cs_sha256_free(NULL);
	free(data);
}

/* RFC 4231 test cases 1, 2 and 6 (key longer than the block). */
static void test_hmac_vectors(void **state)
{
	(void)state;
	uint8_t h[CS_SHA256_LEN];
	char hex[2 * CS_SHA256_LEN + 1];
	uint8_t key[131];

	memset(key, 0x0b, 20);
	cs_hmac_sha256(h, key, 20, "Hi There", 8);
	hex_of(hex, h);
	assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	cs_hmac_sha256(h, "Jefe", 4, "what do ya want for nothing?", 28);
	hex_of(hex, h);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	memset(key, 0xaa, sizeof(key));
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	cs_hmac_sha256(h, key, sizeof(key), msg, strlen(msg));
	hex_of(hex, h);
	assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

	/* Empty key and empty message are legal HMAC inputs. */
	cs_hmac_sha256(h, NULL, 0, NULL, 0);
	hex_of(hex, h);
	assert_string_equal(hex, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

static void test_random(void **state)
{
	(void)state;
	uint8_t a[32], b[32], zero[32] = {0};
	cs_assert_ok(cs_random(a, sizeof(a)));
	cs_assert_ok(cs_random(b, sizeof(b)));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	cs_assert_ok(cs_random(a, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_streaming),
		cmocka_unit_test(test_hmac_vectors),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
