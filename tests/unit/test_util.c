/* Unit tests for src/util: cs_buf, encodings, errors, atomic files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdint.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/procmem.h>
#include <certsync/secure.h>
#include "helpers.h"

static void test_buf_roundtrip(void **state)
{
	(void)state;
	cs_buf *b = cs_buf_new(1024);
	cs_assert_ok(cs_buf_put_u8(b, 7));
	cs_assert_ok(cs_buf_put_u16(b, 0x1234));
	cs_assert_ok(cs_buf_put_u32(b, 0xdeadbeef));
	cs_assert_ok(cs_buf_put_u64(b, 0x0102030405060708ull));
	cs_assert_ok(cs_buf_put_cstring(b, "hello"));
	uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64; char *s;
	cs_buf v;
	cs_buf_view(&v, cs_buf_ptr(b), cs_buf_len(b));
	cs_assert_ok(cs_buf_get_u8(&v, &u8));
	cs_assert_ok(cs_buf_get_u16(&v, &u16));
	cs_assert_ok(cs_buf_get_u32(&v, &u32));
	cs_assert_ok(cs_buf_get_u64(&v, &u64));
	cs_assert_ok(cs_buf_get_cstring(&v, &s, 100));
	assert_int_equal(u8, 7);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(u32, 0xdeadbeef);
	assert_true(u64 == 0x0102030405060708ull);
	assert_string_equal(s, "hello");
	cs_assert_ok(cs_buf_expect_end(&v));
	free(s);
	cs_buf_free(b);
}

static void test_buf_limits(void **state)
{
	(void)state;
	cs_buf *b = cs_buf_new(8);
	cs_assert_ok(cs_buf_put_u64(b, 1));
	assert_int_equal(cs_buf_put_u8(b, 1), CS_ELIMIT);
	cs_buf_free(b);

	/* declared string length beyond the cap, truncated data, embedded NUL */
	const uint8_t big[] = {0, 0, 1, 0, 'a'};
	const uint8_t trunc[] = {0, 0, 0, 5, 'a'};
	const uint8_t nul[] = {0, 0, 0, 2, 'a', 0};
	cs_buf v;
	char *s = NULL;
	cs_buf_view(&v, big, sizeof(big));
	assert_int_equal(cs_buf_get_cstring(&v, &s, 100), CS_ELIMIT);
	cs_buf_view(&v, trunc, sizeof(trunc));
	assert_int_equal(cs_buf_get_cstring(&v, &s, 100), CS_ETRUNCATED);
	cs_buf_view(&v, nul, sizeof(nul));
	assert_int_equal(cs_buf_get_cstring(&v, &s, 100), CS_EMALFORMED);
	assert_null(s);
	uint32_t x;
	cs_buf_view(&v, nul, sizeof(nul));
	cs_assert_ok(cs_buf_get_u32(&v, &x));
	assert_int_equal(cs_buf_expect_end(&v), CS_ETRAILING);
}

static void test_encodings(void **state)
{
	(void)state;
	const uint8_t data[] = {0x00, 0xff, 0x10, 0x80, 0x7f};
	char hex[11], b32[16];
	uint8_t back[8];
	size_t n;
	cs_hex_encode(hex, data, sizeof(data));
	assert_string_equal(hex, "00ff10807f");
	cs_assert_ok(cs_hex_decode(back, sizeof(data), hex));
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(cs_hex_decode(back, sizeof(data), "00ff10807g"), CS_EMALFORMED);
	cs_base32_encode(b32, "foobar", 6);
	assert_string_equal(b32, "MZXW6YTBOI");
	cs_assert_ok(cs_base32_decode(back, &n, b32));
	assert_int_equal(n, 6);
	assert_memory_equal(back, "foobar", 6);
	assert_int_equal(cs_base32_decode(back, &n, "MZXW6YTB0I"), CS_EMALFORMED);
	char *b64;
	uint8_t *dec;
	for (size_t len = 0; len <= 5; len++) {
		cs_assert_ok(cs_base64_encode(&b64, data, len));
		cs_assert_ok(cs_base64_decode(&dec, &n, b64, 100));
		assert_int_equal(n, len);
		assert_memory_equal(dec, data, len);
		free(b64);
		free(dec);
	}
	assert_int_equal(cs_base64_decode(&dec, &n, "Zm9v!A==", 100), CS_EMALFORMED);
	assert_int_equal(cs_base64_decode(&dec, &n, "Zm9", 100), CS_EMALFORMED);
	assert_int_equal(cs_base64_decode(&dec, &n, "Zm9vYmFy", 4), CS_ELIMIT);
}

static void test_atomic_write(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("util-atomic");
	char *path = cs_path_join(dir, "f");
	uint8_t *data;
	size_t len;
	cs_assert_ok(cs_fs_write_atomic(path, "abc", 3, 0600));
	cs_assert_ok(cs_fs_write_atomic(path, "defg", 4, 0600));
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 100));
	assert_int_equal(len, 4);
	assert_memory_equal(data, "defg", 4);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cs_fs_read_all(&data, &len, path, 2), CS_ELIMIT);
	free(data);
	cs_fs_remove_tree(dir);
	free(path);
	free(dir);
}

/* Direct writes: any length from an aligned buffer (the padding of the
 * last block is cut off), never from an unaligned one. */
static void test_direct_write(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("util-direct");
	char *path = cs_path_join(dir, "blob");
	uint8_t *buf = NULL, *data;
	size_t len, n = 3 * CS_FS_DIRECT_ALIGN + 123;
	assert_int_equal(posix_memalign((void **)&buf, CS_FS_DIRECT_ALIGN, 4 * CS_FS_DIRECT_ALIGN), 0);
	for (size_t i = 0; i < 4 * CS_FS_DIRECT_ALIGN; i++)
		buf[i] = (uint8_t)(i * 7);
	cs_assert_ok(cs_fs_write_replace_direct(path, buf, n, 0600));
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 1u << 20));
	assert_int_equal(len, n);
	assert_memory_equal(data, buf, n);
	free(data);
	cs_assert_ok(cs_fs_write_replace_direct(path, buf, 0, 0600));
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 1u << 20));
	assert_int_equal(len, 0);
	free(data);
	assert_int_equal(cs_fs_write_replace_direct(path, buf + 1, 10, 0600), CS_EINVAL);
	cs_assert_ok(cs_fs_write_replace(path, "xyz", 3, 0640));
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 100));
	assert_int_equal(len, 3);
	free(data);
	free(buf);
	cs_fs_remove_tree(dir);
	free(path);
	free(dir);
}

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(cs_error_set(CS_ENOTFOUND, "thing %d", 3), CS_ENOTFOUND);
	assert_string_equal(cs_error_last(), "thing 3");
	cs_error_wrap("outer");
	assert_string_equal(cs_error_last(), "outer: thing 3");
	assert_int_equal(cs_error_code(), CS_ENOTFOUND);
	assert_string_equal(cs_error_name(CS_ENOTFOUND), "not_found");
	assert_true(cs_memeq("abc", "abc", 3));
	assert_false(cs_memeq("abc", "abd", 3));
}

/* Large buffers: aligned for huge pages and direct I/O, reused from the
 * pool (the same mapping comes back), bounded spares, and a plain malloc
 * block passed to cs_bigmem_free is freed as such. */
static void test_bigmem(void **state)
{
	(void)state;
	const size_t mib = 1024 * 1024;
	assert_null(cs_bigmem_alloc(0));
	cs_bigmem_free(NULL);

	size_t before = cs_bigmem_spare();
	uint8_t *a = cs_bigmem_alloc(5 * mib - 17);
	assert_non_null(a);
	assert_int_equal((uintptr_t)a % (2 * mib), 0);
	memset(a, 0xab, 5 * mib - 17);
	cs_bigmem_free(a);
	assert_int_equal(cs_bigmem_spare(), before + 6 * mib);
	/* a buffer of the same 2 MiB class is the one just freed */
	uint8_t *b = cs_bigmem_alloc(5 * mib);
	assert_ptr_equal(a, b);
	assert_int_equal(cs_bigmem_spare(), before);
	/* another class is a new mapping */
	uint8_t *c = cs_bigmem_alloc(9 * mib);
	assert_non_null(c);
	assert_ptr_not_equal(c, b);
	memset(c, 1, 9 * mib);
	cs_bigmem_free(b);
	cs_bigmem_free(c);
	assert_int_equal(cs_bigmem_spare(), before + 16 * mib);
	/* with none of its own size spare, a request takes the smallest larger
	 * spare (c, not a new mapping), which goes back as its own size */
	uint8_t *d = cs_bigmem_alloc(7 * mib);
	assert_ptr_equal(d, c);
	assert_int_equal(cs_bigmem_spare(), before + 6 * mib);
	cs_bigmem_free(d);
	assert_int_equal(cs_bigmem_spare(), before + 16 * mib);

	/* small buffers come from malloc, aligned for direct I/O */
	uint8_t *s = cs_bigmem_alloc(100);
	assert_non_null(s);
	assert_int_equal((uintptr_t)s % CS_FS_DIRECT_ALIGN, 0);
	cs_bigmem_free(s);
	cs_bigmem_free(malloc(10));
	assert_int_equal(cs_bigmem_spare(), before + 16 * mib);

	/* spares stay under their bound: freeing more unmaps the rest */
	enum { N = CS_BIGMEM_SPARE_MAX / (8 * 1024 * 1024) + 4 };
	uint8_t *many[N];
	for (int i = 0; i < N; i++) {
		assert_non_null(many[i] = cs_bigmem_alloc(8 * mib));
		many[i][0] = (uint8_t)i;
	}
	for (int i = 0; i < N; i++)
		cs_bigmem_free(many[i]);
	assert_true(cs_bigmem_spare() <= CS_BIGMEM_SPARE_MAX);
}

static void *bigmem_churn(void *arg)
{
	uintptr_t seed = (uintptr_t)arg;
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(1 + (seed * 7 + (uintptr_t)i * 13) % 6) * 1024 * 1024;
		uint8_t *p = cs_bigmem_alloc(len);
		if (p == NULL)
			return (void *)1;
		p[0] = p[len - 1] = (uint8_t)seed;
		if (p[0] != (uint8_t)seed)
			return (void *)1;
		cs_bigmem_free(p);
	}
	return NULL;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Warmed buffers are in the pool, resident, and taken without a fault;
 * a request of 2 MiB or less does not take one of them. */
static void test_bigmem_warm(void **state)
{
	(void)state;
	const size_t size = CS_BIGMEM_WARM_BUFFER;
	cs_bigmem_trim();
	assert_int_equal(cs_bigmem_spare(), 0);
	assert_int_equal(cs_bigmem_warm(2 * size + size / 2), 2 * size);
	assert_int_equal(cs_bigmem_spare(), 2 * size);
	assert_int_equal(cs_bigmem_warm(size - 1), 0);

	uint8_t *small = cs_bigmem_alloc(3u << 19); /* 1.5 MiB */
	assert_non_null(small);
	assert_int_equal(cs_bigmem_spare(), 2 * size);
	/* the newest spare of its size is the last one warmed */
	uint8_t *p = cs_bigmem_alloc(size);
	assert_non_null(p);
	assert_int_equal(cs_bigmem_spare(), size);
	long page = sysconf(_SC_PAGESIZE);
	size_t npages = size / (size_t)page;
	unsigned char *vec = malloc(npages);
	assert_non_null(vec);
	assert_int_equal(mincore(p, size, vec), 0);
	for (size_t i = 0; i < npages; i++)
		assert_true(vec[i] & 1);
	free(vec);
	long f0 = minor_faults();
	memset(p, 0x5a, size);
	assert_true(minor_faults() - f0 <= 1);
	/* a pack-sized request takes the other one */
	uint8_t *q = cs_bigmem_alloc(5u << 20);
	assert_non_null(q);
	assert_int_equal(cs_bigmem_spare(), 0);
	cs_bigmem_free(small);
	cs_bigmem_free(p);
	cs_bigmem_free(q);
	assert_int_equal(cs_bigmem_spare(), 2 * size + (2u << 20));
	cs_bigmem_trim();
	assert_int_equal(cs_bigmem_spare(), 0);
}

/* The heap set up for serving: grown up front, kept when freed, so a
 * burst of blocks of megabytes costs no page faults. (A sanitizer's
 * allocator takes none of these settings.) */
static void test_procmem(void **state)
{
	(void)state;
#if defined(__SANITIZE_ADDRESS__)
	skip();
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	skip();
#endif
#endif
	cs_bigmem_trim();
	cs_procmem_tune();
	cs_procmem_warm(32u << 20, 0);
	struct mallinfo2 mi = mallinfo2();
	assert_true(mi.fordblks >= 16u << 20);
	/* the other 16 MiB: one whole warm buffer */
	assert_int_equal(cs_bigmem_spare(), CS_BIGMEM_WARM_BUFFER);
	for (int round = 0; round < 3; round++) {
		void *blocks[6];
		long f0 = minor_faults();
		for (int i = 0; i < 6; i++) {
			assert_non_null(blocks[i] = malloc(2u << 20));
			memset(blocks[i], round + i, 2u << 20);
		}
		for (int i = 0; i < 6; i++)
			free(blocks[i]);
		/* fresh memory would be 3,072 faults of 4 KiB */
		assert_true(minor_faults() - f0 < 64);
	}
	assert_true(mallinfo2().fordblks >= 16u << 20);
}

/* Threads taking and giving back buffers at once. */
static void test_bigmem_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, bigmem_churn, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_roundtrip),
		cmocka_unit_test(test_buf_limits),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_direct_write),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bigmem),
		cmocka_unit_test(test_bigmem_threads),
		cmocka_unit_test(test_bigmem_warm),
		cmocka_unit_test(test_procmem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
