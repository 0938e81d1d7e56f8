/* hex, base32 and base64 (include/certsync/encoding.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>

static const char hexdig[] = "0123456789abcdef";

void cs_hex_encode(char *out, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * len] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cs_hex_decode(void *out, size_t outlen, const char *hex)
{
	uint8_t *o = out;
	if (strlen(hex) != 2 * outlen)
		return cs_error_set(CS_EMALFORMED, "expected %zu hex digits", 2 * outlen);
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cs_error_set(CS_EMALFORMED, "invalid hex digit");
		o[i] = (uint8_t)(hi << 4 | lo);
	}
	return CS_OK;
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

size_t cs_base32_len(size_t len) { return (len * 8 + 4) / 5; }

void cs_base32_encode(char *out, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = 0;
}

int cs_base32_decode(void *out, size_t *outlen, const char *text)
{
	uint8_t *o = out;
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (const char *c = text; *c; c++) {
		const char *pos = *c ? strchr(b32, *c) : NULL;
		if (pos == NULL)
			return cs_error_set(CS_EMALFORMED, "invalid base32 character");
		acc = (acc << 5) | (uint32_t)(pos - b32);
		bits += 5;
		if (bits >= 8) {
			o[n++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	/* Leftover bits must be zero padding of fewer than 5 bits. */
	if (bits >= 5 || (acc & ((1u << bits) - 1)) != 0)
		return cs_error_set(CS_EMALFORMED, "invalid base32 length or padding");
	*outlen = n;
	return CS_OK;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int cs_base64_encode(char **out, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t olen = 4 * ((len + 2) / 3);
	char *s = malloc(olen + 1);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	size_t o = 0, i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = b64[(v >> 6) & 63];
		s[o++] = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		s[o++] = b64[v >> 18];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		s[o++] = '=';
	}
	s[o] = 0;
	*out = s;
	return CS_OK;
}

/* The value of each base64 character, -1 for any other byte. */
static signed char b64rev[256];
static pthread_once_t b64rev_once = PTHREAD_ONCE_INIT;

static void b64rev_init(void)
{
	memset(b64rev, -1, sizeof(b64rev));
	for (int i = 0; i < 64; i++)
		b64rev[(unsigned char)b64[i]] = (signed char)i;
}

static int b64val(char c)
{
	return b64rev[(unsigned char)c];
}

int cs_base64_decode(uint8_t **out, size_t *outlen, const char *text, size_t max_in)
{
	size_t n = strnlen(text, max_in + 1);
	if (n > max_in)
		return cs_error_set(CS_ELIMIT, "base64 text longer than %zu characters", max_in);
	if (n % 4 != 0)
		return cs_error_set(CS_EMALFORMED, "base64 length is not a multiple of 4");
	pthread_once(&b64rev_once, b64rev_init);
	uint8_t *o = malloc(n / 4 * 3 + 1);
	if (o == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		int pad = 0;
		for (int j = 0; j < 4; j++) {
			char c = text[i + j];
			if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || text[i + 3] == '=')) {
				v[j] = 0;
				pad++;
			} else if ((v[j] = b64val(c)) < 0) {
				free(o);
				return cs_error_set(CS_EMALFORMED, "invalid base64 character");
			}
		}
		/* the bits a padded group does not use must be zero: one text per value */
		if ((pad == 2 && (v[1] & 0x0f) != 0) || (pad == 1 && (v[2] & 0x03) != 0)) {
			free(o);
			return cs_error_set(CS_EMALFORMED, "base64 text has non-zero padding bits");
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		o[k++] = (uint8_t)(w >> 16);
		if (pad < 2)
			o[k++] = (uint8_t)(w >> 8);
		if (pad < 1)
			o[k++] = (uint8_t)w;
	}
	o[k] = 0;
	*out = o;
	*outlen = k;
	return CS_OK;
}

int cs_text_is_name(const char *s, size_t max, const char *punct)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    strchr(punct, c) != NULL))
			return 0;
	}
	return 1;
}
