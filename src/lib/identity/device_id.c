/*
 * Device IDs (include/certsync/identity.h): base32 of SHA-256(SPKI DER),
 * 52 characters in four groups of 13, each group followed by a Luhn mod-32
 * check character, printed as eight groups of seven joined by '-'.
 *
 * Luhn mod N catches every single mistyped character and every swap of two
 * adjacent characters in a group except 'A' <-> '7' (values 0 and N-1, the
 * analogue of 09 <-> 90 in decimal Luhn): the typos people make when reading
 * an ID aloud or copying it by hand.
 */
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/identity.h>

#define GROUP_DATA 13                         /* base32 characters per check group */
#define GROUPS 4
#define DATA_CHARS (GROUP_DATA * GROUPS)      /* 52 = base32 of 32 bytes */
#define RAW_CHARS (DATA_CHARS + GROUPS)       /* 56 with check characters */
#define SHOWN_GROUP 7                         /* characters between dashes */

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* Value 0..31 of a base32 character (upper case), or -1. */
static int b32val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= '2' && c <= '7')
		return c - '2' + 26;
	return -1;
}

/* Luhn mod 32 check character for s[0..n): walking from the right, every
 * other value (starting with the rightmost) is doubled and its two base-32
 * "digits" are added. The check value makes the total a multiple of 32. */
static char luhn32(const char *s, size_t n)
{
	unsigned sum = 0;
	int dbl = 1;
	for (size_t i = n; i-- > 0;) {
		unsigned v = (unsigned)b32val(s[i]);
		if (dbl)
			v *= 2;
		sum += v / 32 + v % 32;
		dbl = !dbl;
	}
	return alphabet[(32 - sum % 32) % 32];
}

/* raw: 56 characters (data + check characters); out: the dashed form. */
static void format_shown(char out[CS_DEVICE_ID_SIZE], const char raw[RAW_CHARS])
{
	size_t o = 0;
	for (size_t i = 0; i < RAW_CHARS; i++) {
		if (i > 0 && i % SHOWN_GROUP == 0)
			out[o++] = '-';
		out[o++] = raw[i];
	}
	out[o] = '\0';
}

void cs_device_id_from_spki(char out[CS_DEVICE_ID_SIZE], const uint8_t *spki, size_t len)
{
	uint8_t h[CS_SHA256_LEN];
	char b32[DATA_CHARS + 1];
	char raw[RAW_CHARS];

	cs_sha256(h, spki, len);
	cs_base32_encode(b32, h, sizeof(h));
	for (size_t g = 0; g < GROUPS; g++) {
		memcpy(raw + g * (GROUP_DATA + 1), b32 + g * GROUP_DATA, GROUP_DATA);
		raw[g * (GROUP_DATA + 1) + GROUP_DATA] = luhn32(b32 + g * GROUP_DATA, GROUP_DATA);
	}
	format_shown(out, raw);
}

int cs_device_id_parse(char out[CS_DEVICE_ID_SIZE], const char *text)
{
	char raw[RAW_CHARS];
	size_t n = 0;

	if (text == NULL)
		return cs_error_set(CS_EINVAL, "device ID missing");
	for (const char *p = text; *p != '\0'; p++) {
		char c = *p;
		if (c == '-' || c == ' ')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (b32val(c) < 0)
			return cs_error_set(CS_EMALFORMED,
				"device ID: character '%c' is not allowed (use A-Z and 2-7)",
				(*p >= 0x21 && *p < 0x7f) ? *p : '?');
		if (n == RAW_CHARS)
			return cs_error_set(CS_EMALFORMED,
				"device ID: too long (expected %d characters)", RAW_CHARS);
		raw[n++] = c;
	}
	if (n != RAW_CHARS)
		return cs_error_set(CS_EMALFORMED,
			"device ID: %zu characters, expected %d", n, RAW_CHARS);
	for (size_t g = 0; g < GROUPS; g++) {
		const char *grp = raw + g * (GROUP_DATA + 1);
		if (luhn32(grp, GROUP_DATA) != grp[GROUP_DATA])
			return cs_error_set(CS_EMALFORMED,
				"device ID: check character %zu of %d does not match (typo?)",
				g + 1, GROUPS);
	}
	/* 32 bytes fill 256 of the 260 bits of 52 base32 characters; the last
	 * character's low 4 bits must be zero, else two texts could name the
	 * same key. */
	if ((b32val(raw[RAW_CHARS - 2]) & 0x0f) != 0)
		return cs_error_set(CS_EMALFORMED, "device ID: not a canonical encoding");
	format_shown(out, raw);
	return CS_OK;
}
