/* libFuzzer target: the decoder of a backup terminal's code
 * (src/lib/backup/pairing_code.c, PROTOCOL.md §12.2). The input is the
 * text of a code. What decodes must keep the promises of backup.h and
 * encode back into the same code (the body, byte for byte: base32 without
 * padding has one spelling); what is refused must leave the struct zeroed. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <certsync/backup.h>
#include <certsync/common.h>

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* A NUL-terminated string of 1..max-1 printable ASCII characters. */
static int printable(const char *s, size_t max)
{
	const char *end = memchr(s, 0, max);
	if (end == NULL || end == s)
		return 0;
	for (const char *c = s; c < end; c++)
		if (*c < 0x21 || *c > 0x7e)
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	cs_backup_pairing p, q;
	char *enc = NULL;
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	memset(&p, 0xa5, sizeof(p));
	int r = cs_backup_pairing_decode(&p, text);
	if (r < 0) {
		EXPECT(r == CS_EMALFORMED || r == CS_ETRAILING);
		EXPECT(all_zero(&p, sizeof(p)));
		free(text);
		return 0;
	}
	EXPECT(r == 0);
	EXPECT(memchr(p.id, 0, sizeof(p.id)) != NULL && strlen(p.id) == CS_BACKUP_PAIRING_ID_LEN);
	EXPECT(printable(p.id, sizeof(p.id)));
	EXPECT(p.expires >= 0);
	EXPECT(p.naddrs >= 1 && p.naddrs <= CS_BACKUP_ADDRS_MAX);
	for (size_t i = 0; i < p.naddrs; i++)
		EXPECT(printable(p.addrs[i], sizeof(p.addrs[i])));
	for (size_t i = p.naddrs; i < CS_BACKUP_ADDRS_MAX; i++)
		EXPECT(all_zero(p.addrs[i], sizeof(p.addrs[i])));

	/* encode again, decode that: the same struct */
	EXPECT(cs_backup_pairing_encode(&enc, &p) == 0 && enc != NULL);
	EXPECT(strlen(enc) <= 1024 && strncmp(enc, "CSB1:", 5) == 0);
	memset(&q, 0x5a, sizeof(q));
	EXPECT(cs_backup_pairing_decode(&q, enc) == 0);
	EXPECT(memcmp(&p, &q, sizeof(p)) == 0);

	/* and the same text as the input, but for the white space around it
	 * and the case of the prefix */
	const char *t = text;
	while (isspace((unsigned char)*t))
		t++;
	size_t n = strlen(enc);
	EXPECT(strncasecmp(t, enc, 5) == 0 && strncmp(t + 5, enc + 5, n - 5) == 0);
	for (const char *c = t + n; *c; c++)
		EXPECT(isspace((unsigned char)*c));

	free(enc);
	free(text);
	return 0;
}
