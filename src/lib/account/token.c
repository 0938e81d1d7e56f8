/*
 * Tokens and login tickets (include/certsync/account.h, PROTOCOL.md
 * §11.3): a prefix naming the kind, then base64 of
 *
 *     u32 BE kid || nonce (12, random) || AES-256-GCM(key[kid], content)
 *
 * with associated data "certsync-token-v1" or "certsync-ticket-v1" || kid,
 * so that a ticket never passes for a token, nor either for the other key
 * id. The content is a cs_buf encoding of the struct's members.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/aead.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/secure.h>

#define TOKEN_PREFIX "cst1."
#define TICKET_PREFIX "csl1."
#define PREFIX_LEN 5
#define CONTENT_MAX 512
#define RAW_MAX (4 + CS_AEAD_NONCE_LEN + CONTENT_MAX + CS_AEAD_TAG_LEN)

static const char *label_of(int is_ticket)
{
	return is_ticket ? "certsync-ticket-v1" : "certsync-token-v1";
}

static void make_aad(uint8_t *aad, size_t *aad_len, int is_ticket, uint32_t kid)
{
	const char *l = label_of(is_ticket);
	size_t n = strlen(l);
	memcpy(aad, l, n);
	aad[n] = (uint8_t)(kid >> 24);
	aad[n + 1] = (uint8_t)(kid >> 16);
	aad[n + 2] = (uint8_t)(kid >> 8);
	aad[n + 3] = (uint8_t)kid;
	*aad_len = n + 4;
}

/* Seal content (a cs_buf) into prefix + base64 text. */
static int seal_text(char **out, const uint8_t key[CS_ACCT_KEY_LEN], uint32_t kid, int is_ticket,
	cs_buf *content)
{
	uint8_t raw[RAW_MAX], aad[32];
	size_t aad_len, clen = cs_buf_len(content);
	char *b64 = NULL;
	int r;

	*out = NULL;
	if (clen > CONTENT_MAX)
		return cs_error_set(CS_ELIMIT, "token content too long");
	raw[0] = (uint8_t)(kid >> 24);
	raw[1] = (uint8_t)(kid >> 16);
	raw[2] = (uint8_t)(kid >> 8);
	raw[3] = (uint8_t)kid;
	if ((r = cs_random(raw + 4, CS_AEAD_NONCE_LEN)) < 0)
		return r;
	make_aad(aad, &aad_len, is_ticket, kid);
	if ((r = cs_aead_seal(raw + 4 + CS_AEAD_NONCE_LEN, key, raw + 4, aad, aad_len,
		     cs_buf_ptr(content), clen)) < 0)
		return r;
	size_t rawlen = 4 + CS_AEAD_NONCE_LEN + clen + CS_AEAD_TAG_LEN;
	if ((r = cs_base64_encode(&b64, raw, rawlen)) < 0)
		return r;
	size_t bl = strlen(b64);
	if (PREFIX_LEN + bl > CS_ACCT_TOKEN_MAX) {
		free(b64);
		return cs_error_set(CS_ELIMIT, "token too long");
	}
	if ((*out = malloc(PREFIX_LEN + bl + 1)) == NULL) {
		free(b64);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(*out, is_ticket ? TICKET_PREFIX : TOKEN_PREFIX, PREFIX_LEN);
	memcpy(*out + PREFIX_LEN, b64, bl + 1);
	free(b64);
	return CS_OK;
}

/* Decode text into raw bytes, checking the prefix. */
static int decode_text(uint8_t **raw, size_t *rawlen, const char *text, int is_ticket)
{
	const char *what = is_ticket ? "login ticket" : "token";
	size_t n = text ? strlen(text) : 0;
	if (n <= PREFIX_LEN || n > CS_ACCT_TOKEN_MAX ||
	    memcmp(text, is_ticket ? TICKET_PREFIX : TOKEN_PREFIX, PREFIX_LEN) != 0)
		return cs_error_set(CS_EMALFORMED, "not a certsync %s", what);
	if (cs_base64_decode(raw, rawlen, text + PREFIX_LEN, CS_ACCT_TOKEN_MAX) < 0)
		return cs_error_set(CS_EMALFORMED, "%s: bad base64", what);
	if (*rawlen < 4 + CS_AEAD_NONCE_LEN + CS_AEAD_TAG_LEN) {
		free(*raw);
		*raw = NULL;
		return cs_error_set(CS_EMALFORMED, "%s: too short", what);
	}
	return CS_OK;
}

int cs_acct_sealed_kid(uint32_t *kid, const char *text, int is_ticket)
{
	uint8_t *raw = NULL;
	size_t rawlen;
	int r = decode_text(&raw, &rawlen, text, is_ticket);
	if (r < 0)
		return r;
	*kid = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
	free(raw);
	return CS_OK;
}

/* Open text into a freshly allocated plaintext (*plain, *len). */
static int open_text(uint8_t **plain, size_t *len, const uint8_t key[CS_ACCT_KEY_LEN],
	const char *text, int is_ticket)
{
	uint8_t *raw = NULL, aad[32];
	size_t rawlen, aad_len;
	int r = decode_text(&raw, &rawlen, text, is_ticket);
	if (r < 0)
		return r;
	uint32_t kid = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
	make_aad(aad, &aad_len, is_ticket, kid);
	size_t sealed_len = rawlen - 4 - CS_AEAD_NONCE_LEN;
	*len = sealed_len - CS_AEAD_TAG_LEN;
	if ((*plain = malloc(*len + 1)) == NULL) {
		free(raw);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	r = cs_aead_open(*plain, key, raw + 4, aad, aad_len, raw + 4 + CS_AEAD_NONCE_LEN, sealed_len);
	free(raw);
	if (r < 0) {
		free(*plain);
		*plain = NULL;
		if (r == CS_EAUTH)
			return cs_error_set(CS_EAUTH, "%s failed authentication (altered, or sealed under another key)",
				is_ticket ? "login ticket" : "token");
		return r;
	}
	return CS_OK;
}

/* Copy a length-prefixed string of at most max bytes into out[max + 1]. */
static int get_str(cs_buf *b, char *out, size_t max)
{
	char *s = NULL;
	int r = cs_buf_get_cstring(b, &s, max);
	if (r < 0)
		return r;
	snprintf(out, max + 1, "%s", s);
	free(s);
	return CS_OK;
}

int cs_acct_token_seal(char **out, const uint8_t key[CS_ACCT_KEY_LEN], uint32_t kid,
	const cs_acct_token *t)
{
	cs_buf *b = cs_buf_new(CONTENT_MAX);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put_u64(b, (uint64_t)t->account_id)) >= 0 &&
	    (r = cs_buf_put_cstring(b, t->account)) >= 0 &&
	    (r = cs_buf_put_cstring(b, t->device)) >= 0 &&
	    (r = cs_buf_put_u64(b, (uint64_t)t->issued)) >= 0 &&
	    (r = cs_buf_put_u64(b, (uint64_t)t->expires)) >= 0 &&
	    (r = cs_buf_put(b, t->message_key, CS_ACCT_KEY_LEN)) >= 0)
		r = seal_text(out, key, kid, 0, b);
	cs_buf_free(b);
	return r;
}

int cs_acct_ticket_seal(char **out, const uint8_t key[CS_ACCT_KEY_LEN], uint32_t kid,
	const cs_acct_ticket *t)
{
	cs_buf *b = cs_buf_new(CONTENT_MAX);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put_u64(b, (uint64_t)t->account_id)) >= 0 &&
	    (r = cs_buf_put_cstring(b, t->account)) >= 0 &&
	    (r = cs_buf_put_cstring(b, t->device)) >= 0 &&
	    (r = cs_buf_put_u64(b, (uint64_t)t->expires)) >= 0 &&
	    (r = cs_buf_put(b, t->cnonce, CS_ACCT_NONCE_LEN)) >= 0 &&
	    (r = cs_buf_put(b, t->snonce, CS_ACCT_NONCE_LEN)) >= 0)
		r = seal_text(out, key, kid, 1, b);
	cs_buf_free(b);
	return r;
}

int cs_acct_token_open(cs_acct_token *t, const uint8_t key[CS_ACCT_KEY_LEN], const char *text)
{
	uint8_t *plain = NULL;
	size_t len;
	uint64_t id = 0, issued = 0, expires = 0;
	cs_buf v;
	int r = open_text(&plain, &len, key, text, 0);
	if (r < 0)
		return r;
	memset(t, 0, sizeof(*t));
	cs_buf_view(&v, plain, len);
	if (cs_buf_get_u64(&v, &id) < 0 || get_str(&v, t->account, CS_ACCT_NAME_MAX) < 0 ||
	    get_str(&v, t->device, CS_DEVICE_ID_SIZE - 1) < 0 || cs_buf_get_u64(&v, &issued) < 0 ||
	    cs_buf_get_u64(&v, &expires) < 0 || cs_buf_get(&v, t->message_key, CS_ACCT_KEY_LEN) < 0 ||
	    cs_buf_expect_end(&v) < 0)
		r = cs_error_set(CS_EMALFORMED, "token content does not parse");
	t->account_id = (int64_t)id;
	t->issued = (int64_t)issued;
	t->expires = (int64_t)expires;
	cs_freezero(plain, len);
	if (r < 0)
		cs_wipe(t, sizeof(*t));
	return r;
}

int cs_acct_ticket_open(cs_acct_ticket *t, const uint8_t key[CS_ACCT_KEY_LEN], const char *text)
{
	uint8_t *plain = NULL;
	size_t len;
	uint64_t id = 0, expires = 0;
	cs_buf v;
	int r = open_text(&plain, &len, key, text, 1);
	if (r < 0)
		return r;
	memset(t, 0, sizeof(*t));
	cs_buf_view(&v, plain, len);
	if (cs_buf_get_u64(&v, &id) < 0 || get_str(&v, t->account, CS_ACCT_NAME_MAX) < 0 ||
	    get_str(&v, t->device, CS_DEVICE_ID_SIZE - 1) < 0 || cs_buf_get_u64(&v, &expires) < 0 ||
	    cs_buf_get(&v, t->cnonce, CS_ACCT_NONCE_LEN) < 0 ||
	    cs_buf_get(&v, t->snonce, CS_ACCT_NONCE_LEN) < 0 || cs_buf_expect_end(&v) < 0)
		r = cs_error_set(CS_EMALFORMED, "login ticket content does not parse");
	t->account_id = (int64_t)id;
	t->expires = (int64_t)expires;
	cs_freezero(plain, len);
	if (r < 0)
		cs_wipe(t, sizeof(*t));
	return r;
}
