/* Unit tests for src/lib/chunk: FastCDC cut points. */
#include <stdlib.h>
#include <string.h>
#include <certsync/chunker.h>
#include <certsync/hash.h>
#include "helpers.h"

struct cut {
	size_t off, len;
	uint8_t hash[CS_SHA256_LEN];
};

/* Cut all of data[0..len) in one buffer; returns the number of chunks. */
static size_t cut_all(struct cut **out, const cs_chunker_params *p, const uint8_t *data, size_t len)
{
	size_t n = 0, alloc = 64, off = 0;
	struct cut *v = malloc(alloc * sizeof(*v));
	assert_non_null(v);
	while (off < len) {
		size_t c = cs_chunker_next(p, data + off, len - off, 1);
		assert_true(c > 0 && c <= len - off);
		if (n == alloc) {
			alloc *= 2;
			v = realloc(v, alloc * sizeof(*v));
			assert_non_null(v);
		}
		v[n].off = off;
		v[n].len = c;
		cs_sha256(v[n].hash, data + off, c);
		n++;
		off += c;
	}
	*out = v;
	return n;
}

static int has_hash(const struct cut *v, size_t n, const uint8_t *h)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(v[i].hash, h, CS_SHA256_LEN) == 0)
			return 1;
	return 0;
}

static void test_defaults(void **state)
{
	(void)state;
	cs_chunker_params p;
	cs_chunker_params_default(&p);
	assert_int_equal(p.min_size, 256 * 1024);
	assert_int_equal(p.avg_size, 1024 * 1024);
	assert_int_equal(p.max_size, 4 * 1024 * 1024);
}

/* Same input, same cuts; and the cuts do not depend on how the stream is
 * handed over (whole, or in odd-sized pieces as a reader would). */
static void test_determinism(void **state)
{
	(void)state;
	const size_t len = 24u * 1024 * 1024;
	uint8_t *data = malloc(len);
	struct cut *a = NULL, *b = NULL;
	cs_chunker_params p;
	cs_chunker_params_default(&p);
	assert_non_null(data);
	cs_test_fill_random(data, len, 7);
	size_t na = cut_all(&a, &p, data, len);
	size_t nb = cut_all(&b, &p, data, len);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(*a));

	/* Streaming: the visible window grows by 777,777 bytes at a time. */
	size_t start = 0, visible = 0, i = 0;
	while (start < len) {
		size_t c = cs_chunker_next(&p, data + start, visible - start, visible == len);
		if (c == 0) {
			assert_true(visible < len);
			visible = visible + 777777 < len ? visible + 777777 : len;
			continue;
		}
		assert_true(i < na);
		assert_int_equal(start, a[i].off);
		assert_int_equal(c, a[i].len);
		start += c;
		i++;
	}
	assert_int_equal(i, na);
	free(a);
	free(b);
	free(data);
}

/* The cut points are part of the format: pin them. A failure here means
 * devices with different versions would no longer share chunks. */
static void test_known_cuts(void **state)
{
	(void)state;
	static const size_t want[] = {
		1301341, 925775, 1435044, 1221778, 513831, 1003904, 543891, 1294851,
		1137460, 1154364, 1091612, 1149790, 1266334, 982407, 1071867, 682967,
	};
	const size_t len = 16u * 1024 * 1024;
	uint8_t *data = malloc(len);
	struct cut *v = NULL;
	cs_chunker_params p;
	cs_chunker_params_default(&p);
	assert_non_null(data);
	cs_test_fill_random(data, len, 1);
	size_t n = cut_all(&v, &p, data, len);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].len, want[i]);
	free(v);
	free(data);
}

/* Small chunks, so that tens of thousands of cuts (both masks, every
 * alignment) are pinned, as count and FNV-1a of lengths. */
static void test_known_cuts_small(void **state)
{
	(void)state;
	static const struct {
		cs_chunker_params p;
		size_t skip;
		size_t n;
		uint64_t sig;
	} want[] = {
		{{64, 256, 1024}, 0, 7223, UINT64_C(0x2d5825891632d8b7)},
		{{64, 256, 1024}, 1, 7224, UINT64_C(0xce5d76e3fcf28c82)},
		{{63, 256, 1023}, 3, 7197, UINT64_C(0x789eb28d10a3cd50)},
		{{0, 8, 64}, 0, 242054, UINT64_C(0x40c418ae649e54d9)},
		{{1, 8, 9}, 1, 257922, UINT64_C(0x3618099988ecf374)},
	};
	const size_t len = 2u * 1024 * 1024;
	uint8_t *data = malloc(len);
	assert_non_null(data);
	cs_test_fill_random(data, len, 2);
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
		struct cut *v = NULL;
		size_t n = cut_all(&v, &want[k].p, data + want[k].skip, len - want[k].skip);
		uint64_t sig = UINT64_C(1469598103934665603);
		for (size_t i = 0; i < n; i++)
			sig = (sig ^ v[i].len) * UINT64_C(1099511628211);
		assert_int_equal(n, want[k].n);
		assert_true(sig == want[k].sig);
		free(v);
	}
	free(data);
}

static void check_bounds(const cs_chunker_params *p, const uint8_t *data, size_t len)
{
	struct cut *v = NULL;
	size_t n = cut_all(&v, p, data, len);
	for (size_t i = 0; i < n; i++) {
		assert_true(v[i].len <= p->max_size);
		if (i + 1 < n)
			assert_true(v[i].len >= p->min_size);
	}
	free(v);
}

static void test_bounds(void **state)
{
	(void)state;
	const size_t len = 20u * 1024 * 1024;
	uint8_t *data = malloc(len);
	cs_chunker_params p;
	assert_non_null(data);

	cs_chunker_params_default(&p);
	cs_test_fill_random(data, len, 3);
	check_bounds(&p, data, len);
	/* Constant input has no content to cut on: forced cuts at max_size. */
	memset(data, 0, len);
	check_bounds(&p, data, len);
	memset(data, 0xa5, len);
	check_bounds(&p, data, len);

	/* Small parameters, as a test or a tiny device might use. */
	cs_chunker_params small = { .min_size = 64, .avg_size = 256, .max_size = 1024 };
	cs_test_fill_random(data, 1u << 20, 4);
	check_bounds(&small, data, 1u << 20);
	struct cut *v = NULL;
	size_t n = cut_all(&v, &small, data, 1u << 20);
	/* Normalised chunking keeps the mean near avg_size. */
	size_t mean = (1u << 20) / n;
	assert_true(mean > 128 && mean < 512);
	free(v);

	/* Fixed-size chunking as a degenerate case: min == avg == max. */
	cs_chunker_params fixed = { .min_size = 4096, .avg_size = 4096, .max_size = 4096 };
	n = cut_all(&v, &fixed, data, 10000);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].len, 4096);
	assert_int_equal(v[2].len, 10000 - 8192);
	free(v);
	free(data);
}

/* The contract on partial input. */
static void test_partial(void **state)
{
	(void)state;
	cs_chunker_params p;
	cs_chunker_params_default(&p);
	uint8_t *data = calloc(1, p.max_size + 1);
	assert_non_null(data);

	assert_int_equal(cs_chunker_next(&p, data, 0, 0), 0);
	assert_int_equal(cs_chunker_next(&p, data, 0, 1), 0);
	/* Below min: more data needed, or the tail at EOF. */
	assert_int_equal(cs_chunker_next(&p, data, 1000, 0), 0);
	assert_int_equal(cs_chunker_next(&p, data, 1000, 1), 1000);
	/* Zeros never cut: wait below max, cut at max once it is there. */
	assert_int_equal(cs_chunker_next(&p, data, p.max_size - 1, 0), 0);
	assert_int_equal(cs_chunker_next(&p, data, p.max_size - 1, 1), p.max_size - 1);
	assert_int_equal(cs_chunker_next(&p, data, p.max_size, 0), p.max_size);
	assert_int_equal(cs_chunker_next(&p, data, p.max_size + 1, 0), p.max_size);
	assert_int_equal(cs_chunker_next(&p, data, p.max_size + 1, 1), p.max_size);
	free(data);
}

/* 100 bytes inserted in the middle of 64 MiB change at most two chunks. */
static void test_insertion(void **state)
{
	(void)state;
	const size_t len = 64u * 1024 * 1024, ins = 100, at = len / 2 + 12345;
	uint8_t *a = malloc(len), *b = malloc(len + ins);
	struct cut *ca = NULL, *cb = NULL;
	cs_chunker_params p;
	cs_chunker_params_default(&p);
	assert_non_null(a);
	assert_non_null(b);
	cs_test_fill_random(a, len, 11);
	memcpy(b, a, at);
	cs_test_fill_random(b + at, ins, 12);
	memcpy(b + at + ins, a + at, len - at);

	size_t na = cut_all(&ca, &p, a, len);
	size_t nb = cut_all(&cb, &p, b, len + ins);
	assert_true(na > 32);
	size_t new_in_b = 0, gone_from_a = 0;
	for (size_t i = 0; i < nb; i++)
		new_in_b += !has_hash(ca, na, cb[i].hash);
	for (size_t i = 0; i < na; i++)
		gone_from_a += !has_hash(cb, nb, ca[i].hash);
	assert_true(new_in_b >= 1 && new_in_b <= 2);
	assert_true(gone_from_a >= 1 && gone_from_a <= 2);
	free(ca);
	free(cb);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_known_cuts),
		cmocka_unit_test(test_known_cuts_small),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_insertion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
