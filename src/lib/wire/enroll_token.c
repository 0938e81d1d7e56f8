/* The enrollment token (include/certsync/enroll_token.h, PROTOCOL.md §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/encoding.h>
#include <certsync/enroll_token.h>
#include <certsync/error.h>
#include <certsync/secure.h>

#define PREFIX_LEN (sizeof(CS_ENROLL_TOKEN_PREFIX) - 1)
/* version + length prefix + address + fingerprint + secret */
#define PAYLOAD_MAX (1 + 4 + CS_ENROLL_ADDRESS_MAX + 32 + CS_ENROLL_SECRET_LEN)

/* "host:port": printable ASCII without spaces, a non-empty host, and a
 * decimal port 1..65535 after the last ':' (so "[::1]:8443" passes). */
static int check_address(const char *a, size_t len)
{
	if (len == 0 || len > CS_ENROLL_ADDRESS_MAX)
		return cs_error_set(CS_EINVAL, "hub address must be 1..%d bytes",
			CS_ENROLL_ADDRESS_MAX);
	for (size_t i = 0; i < len; i++)
		if (a[i] < 0x21 || a[i] > 0x7e)
			return cs_error_set(CS_EINVAL, "hub address has a non-printable character");
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++)
		if (a[i] == ':')
			colon = a + i;
	if (colon == NULL || colon == a)
		return cs_error_set(CS_EINVAL, "hub address must be host:port");
	size_t plen = len - (size_t)(colon + 1 - a);
	if (plen == 0 || plen > 5)
		return cs_error_set(CS_EINVAL, "hub address has a bad port");
	unsigned long port = 0;
	for (size_t i = 0; i < plen; i++) {
		char c = colon[1 + i];
		if (c < '0' || c > '9')
			return cs_error_set(CS_EINVAL, "hub address has a bad port");
		port = port * 10 + (unsigned long)(c - '0');
	}
	if (port == 0 || port > 65535 || colon[1] == '0')
		return cs_error_set(CS_EINVAL, "hub address has a bad port");
	return CS_OK;
}

int cs_enroll_token_encode(char **out, const cs_enroll_token *t)
{
	cs_buf *b = NULL;
	char *text = NULL;
	int r;

	if (t->hub_address == NULL)
		return cs_error_set(CS_EINVAL, "token has no hub address");
	if ((r = check_address(t->hub_address, strlen(t->hub_address))) < 0)
		return r;
	if ((b = cs_buf_new(PAYLOAD_MAX)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put_u8(b, CS_ENROLL_TOKEN_VERSION)) < 0 ||
	    (r = cs_buf_put_cstring(b, t->hub_address)) < 0 ||
	    (r = cs_buf_put(b, t->ca_fingerprint, sizeof(t->ca_fingerprint))) < 0 ||
	    (r = cs_buf_put(b, t->secret, sizeof(t->secret))) < 0)
		goto done;
	size_t n = cs_base32_len(cs_buf_len(b));
	if ((text = malloc(PREFIX_LEN + n + 1)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(text, CS_ENROLL_TOKEN_PREFIX, PREFIX_LEN);
	cs_base32_encode(text + PREFIX_LEN, cs_buf_ptr(b), cs_buf_len(b));
	*out = text;
	text = NULL;
	r = CS_OK;
done:
	cs_buf_free(b); /* wipes the secret */
	cs_free_secret_str(text);
	return r;
}

int cs_enroll_token_parse(cs_enroll_token *out, const char *text)
{
	uint8_t payload[PAYLOAD_MAX + 8];
	size_t plen = 0;
	cs_buf v;
	uint8_t version;
	const uint8_t *addr;
	size_t alen;
	cs_enroll_token t = {0};
	int r;

	if (text == NULL)
		return cs_error_set(CS_EINVAL, "no enrollment token");
	size_t tlen = strnlen(text, CS_ENROLL_TOKEN_TEXT_MAX + 1);
	if (tlen > CS_ENROLL_TOKEN_TEXT_MAX)
		return cs_error_set(CS_ELIMIT, "enrollment token is too long");
	if (tlen < PREFIX_LEN || memcmp(text, CS_ENROLL_TOKEN_PREFIX, PREFIX_LEN) != 0)
		return cs_error_set(CS_EMALFORMED, "not an enrollment token (expected \"%s...\")",
			CS_ENROLL_TOKEN_PREFIX);
	/* Checked before decoding so that payload[] can never overflow:
	 * base32 yields at most 5/8 of a byte per character. */
	if ((tlen - PREFIX_LEN) * 5 / 8 > sizeof(payload))
		return cs_error_set(CS_ELIMIT, "enrollment token is too long");
	if ((r = cs_base32_decode(payload, &plen, text + PREFIX_LEN)) < 0) {
		cs_error_wrap("enrollment token");
		goto done;
	}
	cs_buf_view(&v, payload, plen);
	if ((r = cs_buf_get_u8(&v, &version)) < 0)
		goto malformed;
	if (version != CS_ENROLL_TOKEN_VERSION) {
		r = cs_error_set(CS_EMALFORMED, "enrollment token version %u is not supported",
			version);
		goto done;
	}
	if ((r = cs_buf_get_string_direct(&v, &addr, &alen, CS_ENROLL_ADDRESS_MAX)) < 0)
		goto malformed;
	/* check_address also rejects NUL and other control bytes */
	if ((r = check_address((const char *)addr, alen)) < 0) {
		char why[128];
		snprintf(why, sizeof(why), "%s", cs_error_last());
		r = cs_error_set(CS_EMALFORMED, "enrollment token: %s", why);
		goto done;
	}
	if ((r = cs_buf_get(&v, t.ca_fingerprint, sizeof(t.ca_fingerprint))) < 0 ||
	    (r = cs_buf_get(&v, t.secret, sizeof(t.secret))) < 0)
		goto malformed;
	if ((r = cs_buf_expect_end(&v)) < 0)
		goto malformed;
	if ((t.hub_address = malloc(alen + 1)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(t.hub_address, addr, alen);
	t.hub_address[alen] = '\0';
	*out = t;
	memset(&t, 0, sizeof(t));
	r = CS_OK;
	goto done;
malformed:
	r = cs_error_set(r, "enrollment token is malformed (%s)", cs_strerror(r));
done:
	cs_wipe(payload, sizeof(payload));
	cs_enroll_token_clear(&t);
	return r;
}

void cs_enroll_token_clear(cs_enroll_token *t)
{
	if (t == NULL)
		return;
	free(t->hub_address);
	t->hub_address = NULL;
	cs_wipe(t->ca_fingerprint, sizeof(t->ca_fingerprint));
	cs_wipe(t->secret, sizeof(t->secret));
}
