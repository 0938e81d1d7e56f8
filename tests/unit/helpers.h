#ifndef CS_TEST_HELPERS_H
#define CS_TEST_HELPERS_H
/* Helpers shared by the unit tests. cmocka headers need these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* A new empty directory for one test, under $CS_TEST_TMP (or /tmp); the
 * returned string is malloc'd. Fails the test when it cannot be made. */
char *cs_test_tmpdir(const char *name);

/* Write len bytes of data to dir/name, creating parent directories. */
void cs_test_write_file(const char *dir, const char *name, const void *data, size_t len);

/* Fill buf with deterministic pseudo-random bytes from seed. */
void cs_test_fill_random(void *buf, size_t len, uint64_t seed);

/* Assert that a cs_ call returned CS_OK, printing cs_error_last() if not. */
#define cs_assert_ok(expr) do { \
		int cs_r_ = (expr); \
		if (cs_r_ != 0) \
			fail_msg("%s returned %d: %s", #expr, cs_r_, cs_error_last()); \
	} while (0)

#endif
