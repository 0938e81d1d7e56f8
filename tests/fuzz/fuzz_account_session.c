/* libFuzzer target: the client's session file DATA/account.json
 * (src/lib/account/session.c, cs__acct_session_load). The input is written
 * to account.json in a private temporary directory, made once at the first
 * call, and loaded; what loads must keep the promises of the struct, and
 * cs__acct_session_clear must free it all (LeakSanitizer checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/common.h>
#include "lib/account/local.h"

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static char dir[64];
static char file[96];

static void remove_dir(void)
{
	unlink(file);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 40)
		tmp = "/tmp";
	snprintf(dir, sizeof(dir), "%s/fuzz_account_session.XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(file, sizeof(file), "%s/account.json", dir);
	atexit(remove_dir);
}

static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		EXPECT(b[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dir[0] == '\0')
		setup();
	FILE *f = fopen(file, "wb");
	if (f == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	struct cs__acct_session s;
	int r = cs__acct_session_load(&s, dir);
	if (r == 0) {
		EXPECT(s.nhubs >= 1 && s.nhubs <= CS__ACCT_HUBS_MAX);
		for (size_t i = 0; i < s.nhubs; i++)
			EXPECT(s.hubs[i] != NULL);
		for (size_t i = s.nhubs; i < CS__ACCT_HUBS_MAX; i++)
			EXPECT(s.hubs[i] == NULL);
		EXPECT(s.ca_path != NULL && s.token != NULL);
		EXPECT(memchr(s.account, '\0', sizeof(s.account)) != NULL);
		EXPECT(memchr(s.device, '\0', sizeof(s.device)) != NULL);
		/* ASan: each string is readable to its end */
		for (size_t i = 0; i < s.nhubs; i++)
			(void)strlen(s.hubs[i]);
		(void)strlen(s.ca_path);
		(void)strlen(s.token);
	} else {
		EXPECT(r == CS_EMALFORMED || r == CS_ELIMIT || r == CS_ENOMEM || r == CS_EIO);
		/* a failed load leaves nothing to free */
		check_zero(&s, sizeof(s));
	}
	cs__acct_session_clear(&s);
	return 0;
}
