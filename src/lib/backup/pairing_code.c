/*
 * The connection information of a backup terminal (PROTOCOL.md §12.2):
 *
 *   "CSB1:" base32( u8 version 1 || string pairing id || secret (32) ||
 *                   fingerprint (32) || u64 expires || u8 n || n × string addr )
 *
 * Upper-case base32 keeps the whole text in the QR alphanumeric set, so the
 * code stays small enough to scan from a terminal window.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <certsync/backup.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/secure.h>

#define PREFIX "CSB1:"
#define PREFIX_LEN 5
#define RAW_MAX 512
#define TEXT_MAX 1024

int cs_backup_pairing_encode(char **out, const cs_backup_pairing *p)
{
	cs_buf *b = cs_buf_new(RAW_MAX);
	char *text = NULL;
	int r;

	*out = NULL;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (p->naddrs == 0 || p->naddrs > CS_BACKUP_ADDRS_MAX) {
		r = cs_error_set(CS_EINVAL, "a code names 1 to %d addresses", CS_BACKUP_ADDRS_MAX);
		goto done;
	}
	/* nothing the decoder would refuse */
	if (strlen(p->id) != CS_BACKUP_PAIRING_ID_LEN || p->expires < 0) {
		r = cs_error_set(CS_EINVAL, "a code needs a %d-character pairing id and an expiry",
			CS_BACKUP_PAIRING_ID_LEN);
		goto done;
	}
	for (size_t i = 0; i < p->naddrs; i++) {
		size_t n = strnlen(p->addrs[i], CS_BACKUP_ADDR_MAX);
		int ok = n > 0 && n < CS_BACKUP_ADDR_MAX;
		for (size_t k = 0; ok && k < n; k++)
			ok = p->addrs[i][k] > 0x20 && p->addrs[i][k] < 0x7f;
		if (!ok) {
			r = cs_error_set(CS_EINVAL, "address %zu of the code is empty or has spaces or control "
						    "characters", i + 1);
			goto done;
		}
	}
	if ((r = cs_buf_put_u8(b, 1)) < 0 || (r = cs_buf_put_cstring(b, p->id)) < 0 ||
	    (r = cs_buf_put(b, p->secret, 32)) < 0 || (r = cs_buf_put(b, p->fingerprint, 32)) < 0 ||
	    (r = cs_buf_put_u64(b, (uint64_t)p->expires)) < 0 || (r = cs_buf_put_u8(b, (uint8_t)p->naddrs)) < 0)
		goto done;
	for (size_t i = 0; i < p->naddrs; i++)
		if ((r = cs_buf_put_cstring(b, p->addrs[i])) < 0)
			goto done;
	size_t n = cs_base32_len(cs_buf_len(b));
	if ((text = malloc(PREFIX_LEN + n + 1)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(text, PREFIX, PREFIX_LEN);
	cs_base32_encode(text + PREFIX_LEN, cs_buf_ptr(b), cs_buf_len(b));
	*out = text;
	r = CS_OK;
done:
	cs_buf_free(b);
	return r;
}

/* A string of 1..max-1 printable characters into out[max]. */
static int get_text(cs_buf *v, char *out, size_t max, const char *what)
{
	const uint8_t *s;
	size_t n;
	if (cs_buf_get_string_direct(v, &s, &n, max - 1) < 0 || n == 0)
		return cs_error_set(CS_EMALFORMED, "pairing code: bad %s", what);
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return cs_error_set(CS_EMALFORMED, "pairing code: bad character in %s", what);
	memcpy(out, s, n);
	out[n] = 0;
	return CS_OK;
}

int cs_backup_pairing_decode(cs_backup_pairing *p, const char *text)
{
	uint8_t raw[RAW_MAX];
	char body[TEXT_MAX + 1];
	size_t rawlen = 0, n;
	uint8_t ver, naddrs;
	uint64_t expires;
	cs_buf v;

	memset(p, 0, sizeof(*p));
	while (isspace((unsigned char)*text))
		text++;
	n = strlen(text);
	while (n > 0 && isspace((unsigned char)text[n - 1]))
		n--;
	if (n <= PREFIX_LEN || n > TEXT_MAX || strncasecmp(text, PREFIX, PREFIX_LEN) != 0)
		return cs_error_set(CS_EMALFORMED, "not a certsync pairing code (it starts with %s)", PREFIX);
	memcpy(body, text + PREFIX_LEN, n - PREFIX_LEN);
	body[n - PREFIX_LEN] = 0;
	if ((n - PREFIX_LEN) * 5 / 8 > sizeof(raw) || cs_base32_decode(raw, &rawlen, body) < 0)
		return cs_error_set(CS_EMALFORMED, "pairing code: bad base32");
	cs_buf_view(&v, raw, rawlen);
	int r = CS_EMALFORMED;
	if (cs_buf_get_u8(&v, &ver) < 0 || ver != 1) {
		r = cs_error_set(CS_EMALFORMED, "pairing code: unknown version");
		goto done;
	}
	if ((r = get_text(&v, p->id, sizeof(p->id), "pairing id")) < 0)
		goto done;
	if (strlen(p->id) != CS_BACKUP_PAIRING_ID_LEN || cs_buf_get(&v, p->secret, 32) < 0 ||
	    cs_buf_get(&v, p->fingerprint, 32) < 0 || cs_buf_get_u64(&v, &expires) < 0 ||
	    expires > INT64_MAX || cs_buf_get_u8(&v, &naddrs) < 0 || naddrs == 0 ||
	    naddrs > CS_BACKUP_ADDRS_MAX) {
		r = cs_error_set(CS_EMALFORMED, "pairing code: truncated or out of range");
		goto done;
	}
	p->expires = (int64_t)expires;
	for (size_t i = 0; i < naddrs; i++)
		if ((r = get_text(&v, p->addrs[i], sizeof(p->addrs[i]), "address")) < 0)
			goto done;
	p->naddrs = naddrs;
	if (cs_buf_expect_end(&v) < 0) {
		r = cs_error_set(CS_ETRAILING, "pairing code: trailing bytes");
		goto done;
	}
	r = CS_OK;
done:
	cs_wipe(raw, sizeof(raw));
	if (r < 0)
		cs_wipe(p, sizeof(*p));
	return r;
}
