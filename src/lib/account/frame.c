/*
 * Sealed request and response bodies (include/certsync/account.h,
 * PROTOCOL.md §11.4).
 *
 *   request  = "CSQ1" || u16 BE token length || token || u64 BE ts_ms ||
 *              nonce (12) || AES-256-GCM(message key, body)
 *              AAD = "certsync-request-v1" 0 || method 0 || path 0 ||
 *                    u64 BE ts_ms || token
 *   response = "CSR1" || nonce (12) || AES-256-GCM(message key, body)
 *              AAD = "certsync-response-v1" 0 || method 0 || path 0 ||
 *                    u64 BE request ts_ms || u16 BE status
 *
 * Nonces are random: one message key seals at most a few thousand bodies
 * over a token's life, far below GCM's 2^32 random-nonce bound.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/aead.h>
#include <certsync/error.h>
#include <certsync/hash.h>

#define REQ_MAGIC "CSQ1"
#define RSP_MAGIC "CSR1"
#define REQ_LABEL "certsync-request-v1"
#define RSP_LABEL "certsync-response-v1"
#define PATH_MAX_LEN 1024

/* AAD of a request or response; malloc'd into b. */
static int make_aad(cs_buf **out, const char *label, const char *method, const char *path,
	int64_t ts_ms, const char *token, int status)
{
	size_t ml = strlen(method), pl = strlen(path);
	if (ml > 16 || pl > PATH_MAX_LEN)
		return cs_error_set(CS_EINVAL, "method or path too long");
	if (ts_ms < 0)
		return cs_error_set(CS_EINVAL, "negative timestamp");
	if (token == NULL && (status < 100 || status > 599))
		return cs_error_set(CS_EINVAL, "HTTP status %d out of range", status);
	cs_buf *b = cs_buf_new(64 + ml + pl + CS_ACCT_TOKEN_MAX);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(b, label, strlen(label) + 1)) >= 0 &&
	    (r = cs_buf_put(b, method, ml + 1)) >= 0 && (r = cs_buf_put(b, path, pl + 1)) >= 0 &&
	    (r = cs_buf_put_u64(b, (uint64_t)ts_ms)) >= 0) {
		if (token != NULL)
			r = cs_buf_put(b, token, strlen(token));
		else
			r = cs_buf_put_u16(b, (uint16_t)status);
	}
	if (r < 0) {
		cs_buf_free(b);
		return r;
	}
	*out = b;
	return CS_OK;
}

/* Append nonce || AES-256-GCM(plain) to out. */
static int seal_into(cs_buf *out, const uint8_t mk[CS_ACCT_KEY_LEN], const cs_buf *aad,
	const uint8_t *plain, size_t len)
{
	uint8_t *p;
	int r = cs_buf_reserve(&p, out, CS_AEAD_NONCE_LEN + len + CS_AEAD_TAG_LEN);
	if (r < 0)
		return r;
	if ((r = cs_random(p, CS_AEAD_NONCE_LEN)) < 0)
		return r;
	return cs_aead_seal(p + CS_AEAD_NONCE_LEN, mk, p, cs_buf_ptr(aad), cs_buf_len(aad), plain, len);
}

/* Open nonce-less sealed bytes into a malloc'd, NUL-terminated block. */
static int open_into(uint8_t **plain, size_t *plain_len, const uint8_t mk[CS_ACCT_KEY_LEN],
	const uint8_t nonce[CS_AEAD_NONCE_LEN], const cs_buf *aad, const uint8_t *sealed,
	size_t sealed_len, const char *what)
{
	if (sealed_len < CS_AEAD_TAG_LEN)
		return cs_error_set(CS_ETRUNCATED, "%s body is shorter than its tag", what);
	size_t len = sealed_len - CS_AEAD_TAG_LEN;
	uint8_t *p = malloc(len + 1);
	if (p == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	int r = cs_aead_open(p, mk, nonce, cs_buf_ptr(aad), cs_buf_len(aad), sealed, sealed_len);
	if (r < 0) {
		free(p);
		if (r == CS_EAUTH)
			return cs_error_set(CS_EAUTH,
				"%s body failed authentication (altered, sealed with another key, or for another request)",
				what);
		return r;
	}
	p[len] = 0;
	*plain = p;
	*plain_len = len;
	return CS_OK;
}

int cs_acct_request_seal(cs_buf *out, const char *token, const uint8_t mk[CS_ACCT_KEY_LEN],
	const char *method, const char *path, int64_t ts_ms, const uint8_t *plain, size_t len)
{
	size_t tl = strlen(token);
	cs_buf *aad = NULL;
	int r;
	if (tl == 0 || tl > CS_ACCT_TOKEN_MAX)
		return cs_error_set(CS_EINVAL, "token length %zu out of range", tl);
	if ((r = make_aad(&aad, REQ_LABEL, method, path, ts_ms, token, 0)) < 0)
		return r;
	if ((r = cs_buf_put(out, REQ_MAGIC, 4)) >= 0 && (r = cs_buf_put_u16(out, (uint16_t)tl)) >= 0 &&
	    (r = cs_buf_put(out, token, tl)) >= 0 && (r = cs_buf_put_u64(out, (uint64_t)ts_ms)) >= 0)
		r = seal_into(out, mk, aad, plain, len);
	cs_buf_free(aad);
	return r;
}

int cs_acct_request_parse(cs_acct_request_frame *f, const uint8_t *in, size_t len)
{
	uint8_t magic[4];
	uint16_t tl;
	uint64_t ts;
	const uint8_t *tok;
	cs_buf v;

	memset(f, 0, sizeof(*f));
	cs_buf_view(&v, in, len);
	if (cs_buf_get(&v, magic, 4) < 0 || memcmp(magic, REQ_MAGIC, 4) != 0)
		return cs_error_set(CS_EMALFORMED, "the body is not a sealed request (CSQ1)");
	if (cs_buf_get_u16(&v, &tl) < 0)
		return cs_error_set(CS_ETRUNCATED, "sealed request: truncated token length");
	if (tl == 0 || tl > CS_ACCT_TOKEN_MAX)
		return cs_error_set(CS_EMALFORMED, "sealed request: token length %u out of range", tl);
	tok = cs_buf_ptr(&v);
	if (cs_buf_skip(&v, tl) < 0)
		return cs_error_set(CS_ETRUNCATED, "sealed request: truncated token");
	if (memchr(tok, 0, tl) != NULL)
		return cs_error_set(CS_EMALFORMED, "sealed request: NUL in token");
	memcpy(f->token, tok, tl);
	f->token[tl] = 0;
	if (cs_buf_get_u64(&v, &ts) < 0)
		return cs_error_set(CS_ETRUNCATED, "sealed request: truncated timestamp");
	if (ts > (uint64_t)INT64_MAX)
		return cs_error_set(CS_EMALFORMED, "sealed request: timestamp out of range");
	f->ts_ms = (int64_t)ts;
	f->nonce = cs_buf_ptr(&v);
	if (cs_buf_skip(&v, CS_AEAD_NONCE_LEN) < 0)
		return cs_error_set(CS_ETRUNCATED, "sealed request: truncated nonce");
	f->sealed = cs_buf_ptr(&v);
	f->sealed_len = cs_buf_len(&v);
	if (f->sealed_len < CS_AEAD_TAG_LEN)
		return cs_error_set(CS_ETRUNCATED, "sealed request: shorter than its tag");
	return CS_OK;
}

int cs_acct_request_open(uint8_t **plain, size_t *plain_len, const cs_acct_request_frame *f,
	const uint8_t mk[CS_ACCT_KEY_LEN], const char *method, const char *path)
{
	cs_buf *aad = NULL;
	int r = make_aad(&aad, REQ_LABEL, method, path, f->ts_ms, f->token, 0);
	if (r < 0)
		return r;
	r = open_into(plain, plain_len, mk, f->nonce, aad, f->sealed, f->sealed_len, "request");
	cs_buf_free(aad);
	return r;
}

int cs_acct_response_seal(cs_buf *out, const uint8_t mk[CS_ACCT_KEY_LEN], const char *method,
	const char *path, int64_t req_ts_ms, int status, const uint8_t *plain, size_t len)
{
	cs_buf *aad = NULL;
	int r = make_aad(&aad, RSP_LABEL, method, path, req_ts_ms, NULL, status);
	if (r < 0)
		return r;
	if ((r = cs_buf_put(out, RSP_MAGIC, 4)) >= 0)
		r = seal_into(out, mk, aad, plain, len);
	cs_buf_free(aad);
	return r;
}

int cs_acct_response_open(uint8_t **plain, size_t *plain_len, const uint8_t mk[CS_ACCT_KEY_LEN],
	const char *method, const char *path, int64_t req_ts_ms, int status, const uint8_t *in,
	size_t len)
{
	cs_buf *aad = NULL;
	if (len < 4 + CS_AEAD_NONCE_LEN + CS_AEAD_TAG_LEN || memcmp(in, RSP_MAGIC, 4) != 0)
		return cs_error_set(CS_EMALFORMED, "the response is not a sealed response (CSR1)");
	int r = make_aad(&aad, RSP_LABEL, method, path, req_ts_ms, NULL, status);
	if (r < 0)
		return r;
	r = open_into(plain, plain_len, mk, in + 4, aad, in + 4 + CS_AEAD_NONCE_LEN,
		len - 4 - CS_AEAD_NONCE_LEN, "response");
	cs_buf_free(aad);
	return r;
}
