/* Bounded byte buffer (include/certsync/buf.h). Bounds are checked by
 * subtraction so that no length arithmetic can overflow. */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/secure.h>

cs_buf *cs_buf_new(size_t max)
{
	cs_buf *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->max = max;
	return b;
}

void cs_buf_free(cs_buf *b)
{
	if (b == NULL)
		return;
	if (!b->readonly)
		cs_freezero(b->data, b->alloc);
	free(b);
}

void cs_buf_view(cs_buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)(uintptr_t)data;
	b->len = len;
	b->max = len;
	b->readonly = 1;
}

const uint8_t *cs_buf_ptr(const cs_buf *b) { return b->data ? b->data + b->off : (const uint8_t *)""; }
size_t cs_buf_len(const cs_buf *b) { return b->len - b->off; }

void cs_buf_reset(cs_buf *b)
{
	if (!b->readonly)
		cs_wipe(b->data, b->len);
	b->off = 0;
	b->len = 0;
}

/* Make room for n more bytes at the end; compacts consumed space first. */
static int buf_grow(cs_buf *b, size_t n)
{
	if (b->readonly)
		return cs_error_set(CS_EINVAL, "buffer is read-only");
	if (b->off > 0 && b->off == b->len) {
		b->off = b->len = 0;
	}
	size_t used = b->len - b->off;
	if (n > b->max || used > b->max - n)
		return cs_error_set(CS_ELIMIT, "buffer limit of %zu bytes exceeded", b->max);
	if (b->alloc - b->len >= n + 1)
		return CS_OK;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, used);
		b->len = used;
		b->off = 0;
		if (b->alloc - b->len >= n + 1)
			return CS_OK;
	}
	size_t want = b->alloc ? b->alloc : 256;
	while (want < used + n + 1)
		want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
	if (want > b->max + 1)
		want = b->max + 1;
	uint8_t *p = malloc(want);
	if (p == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (b->data) {
		memcpy(p, b->data, b->len);
		cs_freezero(b->data, b->alloc);
	}
	b->data = p;
	b->alloc = want;
	return CS_OK;
}

int cs_buf_reserve(uint8_t **out, cs_buf *b, size_t len)
{
	int r = buf_grow(b, len);
	if (r < 0)
		return r;
	*out = b->data + b->len;
	b->len += len;
	b->data[b->len] = 0;
	return CS_OK;
}

int cs_buf_put(cs_buf *b, const void *data, size_t len)
{
	uint8_t *p;
	int r = cs_buf_reserve(&p, b, len);
	if (r < 0)
		return r;
	if (len)
		memcpy(p, data, len);
	return CS_OK;
}

int cs_buf_put_u8(cs_buf *b, uint8_t v) { return cs_buf_put(b, &v, 1); }

int cs_buf_put_u16(cs_buf *b, uint16_t v)
{
	uint8_t s[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return cs_buf_put(b, s, 2);
}

int cs_buf_put_u32(cs_buf *b, uint32_t v)
{
	uint8_t s[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return cs_buf_put(b, s, 4);
}

int cs_buf_put_u64(cs_buf *b, uint64_t v)
{
	int r = cs_buf_put_u32(b, (uint32_t)(v >> 32));
	return r < 0 ? r : cs_buf_put_u32(b, (uint32_t)v);
}

int cs_buf_put_string(cs_buf *b, const void *data, size_t len)
{
	if (len > UINT32_MAX)
		return cs_error_set(CS_ELIMIT, "string of %zu bytes too long", len);
	int r = cs_buf_put_u32(b, (uint32_t)len);
	return r < 0 ? r : cs_buf_put(b, data, len);
}

int cs_buf_put_cstring(cs_buf *b, const char *s)
{
	return cs_buf_put_string(b, s, strlen(s));
}

static int need(const cs_buf *b, size_t n)
{
	if (cs_buf_len(b) < n)
		return cs_error_set(CS_ETRUNCATED, "input truncated: need %zu bytes, have %zu",
			n, cs_buf_len(b));
	return CS_OK;
}

int cs_buf_get(cs_buf *b, void *out, size_t len)
{
	int r = need(b, len);
	if (r < 0)
		return r;
	if (out && len)
		memcpy(out, b->data + b->off, len);
	b->off += len;
	return CS_OK;
}

int cs_buf_skip(cs_buf *b, size_t len) { return cs_buf_get(b, NULL, len); }

int cs_buf_get_u8(cs_buf *b, uint8_t *out) { return cs_buf_get(b, out, 1); }

int cs_buf_get_u16(cs_buf *b, uint16_t *out)
{
	uint8_t s[2];
	int r = cs_buf_get(b, s, 2);
	if (r == 0)
		*out = (uint16_t)((s[0] << 8) | s[1]);
	return r;
}

int cs_buf_get_u32(cs_buf *b, uint32_t *out)
{
	uint8_t s[4];
	int r = cs_buf_get(b, s, 4);
	if (r == 0)
		*out = ((uint32_t)s[0] << 24) | ((uint32_t)s[1] << 16) | ((uint32_t)s[2] << 8) | s[3];
	return r;
}

int cs_buf_get_u64(cs_buf *b, uint64_t *out)
{
	uint32_t hi, lo;
	if (need(b, 8) < 0)
		return CS_ETRUNCATED;
	cs_buf_get_u32(b, &hi);
	cs_buf_get_u32(b, &lo);
	*out = ((uint64_t)hi << 32) | lo;
	return CS_OK;
}

int cs_buf_get_string_direct(cs_buf *b, const uint8_t **out, size_t *len, size_t max)
{
	uint32_t n;
	int r;
	if ((r = need(b, 4)) < 0)
		return r;
	const uint8_t *p = b->data + b->off;
	n = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
	if (n > max)
		return cs_error_set(CS_ELIMIT, "string of %u bytes exceeds the limit of %zu", n, max);
	if (cs_buf_len(b) - 4 < n)
		return cs_error_set(CS_ETRUNCATED, "string truncated: need %u bytes", n);
	*out = p + 4;
	*len = n;
	b->off += 4 + (size_t)n;
	return CS_OK;
}

int cs_buf_get_cstring(cs_buf *b, char **out, size_t max)
{
	const uint8_t *p;
	size_t n;
	size_t save = b->off;
	int r = cs_buf_get_string_direct(b, &p, &n, max);
	if (r < 0)
		return r;
	if (n > 0 && memchr(p, 0, n) != NULL) {
		b->off = save;
		return cs_error_set(CS_EMALFORMED, "string contains a NUL byte");
	}
	char *s = malloc(n + 1);
	if (s == NULL) {
		b->off = save;
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(s, p, n);
	s[n] = 0;
	*out = s;
	return CS_OK;
}

int cs_buf_expect_end(const cs_buf *b)
{
	if (cs_buf_len(b) != 0)
		return cs_error_set(CS_ETRAILING, "%zu unexpected bytes after the end", cs_buf_len(b));
	return CS_OK;
}

int cs_buf_steal(uint8_t **out, size_t *len, cs_buf *b)
{
	size_t n = cs_buf_len(b);
	uint8_t *p = malloc(n + 1);
	if (p == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (n)
		memcpy(p, cs_buf_ptr(b), n);
	p[n] = 0;
	cs_buf_reset(b);
	*out = p;
	*len = n;
	return CS_OK;
}
