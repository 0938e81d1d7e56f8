/* libFuzzer target: the decoder of the first verification information
 * (cs__bk_first_decode, src/lib/backup/handshake.c, PROTOCOL.md §12.1): the
 * JSON statement the hub signs, as the terminal reads it after the
 * signature check. What decodes must hold non-empty NUL-terminated strings
 * within their buffers; what is refused must leave the struct zeroed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/common.h>
#include "lib/backup/local.h"

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* NUL-terminated within the buffer, not empty. */
#define TERMINATED(field) (memchr((field), 0, sizeof(field)) != NULL && (field)[0] != 0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs__bk_first f;
	memset(&f, 0xa5, sizeof(f));
	int r = cs__bk_first_decode(&f, data, size);
	if (r < 0) {
		EXPECT(r == CS_EMALFORMED);
		EXPECT(all_zero(&f, sizeof(f)));
		return 0;
	}
	EXPECT(r == 0);
	EXPECT(TERMINATED(f.account));
	EXPECT(TERMINATED(f.pairing));
	EXPECT(TERMINATED(f.phone));
	EXPECT(TERMINATED(f.terminal));
	EXPECT(TERMINATED(f.terminal_fingerprint));
	/* the decoder zeroes the struct first: nothing after each string */
	EXPECT(all_zero(f.account + strlen(f.account), sizeof(f.account) - strlen(f.account)));
	EXPECT(all_zero(f.pairing + strlen(f.pairing), sizeof(f.pairing) - strlen(f.pairing)));
	EXPECT(all_zero(f.phone + strlen(f.phone), sizeof(f.phone) - strlen(f.phone)));
	EXPECT(all_zero(f.terminal + strlen(f.terminal), sizeof(f.terminal) - strlen(f.terminal)));
	EXPECT(all_zero(f.terminal_fingerprint + strlen(f.terminal_fingerprint),
		sizeof(f.terminal_fingerprint) - strlen(f.terminal_fingerprint)));
	return 0;
}
