/* Helpers shared by the unit tests (helpers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include "helpers.h"

char *cs_test_tmpdir(const char *name)
{
	const char *base = getenv("CS_TEST_TMP");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s-%d", base ? base : "/tmp/certsync-test", name, (int)getpid());
	cs_fs_remove_tree(path);
	if (cs_fs_mkdirs(path, 0700) != 0)
		fail_msg("cannot create %s: %s", path, cs_error_last());
	return strdup(path);
}

void cs_test_write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *slash = strrchr(path, '/');
	*slash = 0;
	cs_fs_mkdirs(path, 0755);
	*slash = '/';
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		fail_msg("cannot write %s", path);
	if (len && fwrite(data, 1, len, f) != len)
		fail_msg("short write to %s", path);
	fclose(f);
}

void cs_test_fill_random(void *buf, size_t len, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < len; i++) {
		/* xorshift64* */
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
	}
}
