/*
 * The pieces of the terminal handshake both sides compute (PROTOCOL.md
 * §12.3): the hub-signed first verification information and the MACs of
 * the one-time secret that make up the second verification information and
 * the confirmation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/secure.h>
#include "backup/local.h"

#define STATEMENT_MAX 4096

int cs__bk_hex(uint8_t *out, size_t n, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (s == NULL || strlen(s) != 2 * n || cs_hex_decode(out, n, s) < 0)
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be %zu hex digits", key, 2 * n);
	return CS_OK;
}

static int copy_member(char *out, size_t max, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (s == NULL || s[0] == 0 || strlen(s) >= max)
		return cs_error_set(CS_EMALFORMED, "first verification information: bad \"%s\"", key);
	memcpy(out, s, strlen(s) + 1);
	return CS_OK;
}

int cs__bk_first_decode(struct cs__bk_first *f, const uint8_t *st, size_t stlen)
{
	json_t *j = json_loadb((const char *)st, stlen, JSON_REJECT_DUPLICATES, NULL);
	const char *kind = json_string_value(json_object_get(j, "kind"));
	json_t *exp = json_object_get(j, "expires");
	int r;

	memset(f, 0, sizeof(*f));
	if (j == NULL || kind == NULL || strcmp(kind, "certsync-pairing-v1") != 0 || !json_is_integer(exp)) {
		r = cs_error_set(CS_EMALFORMED, "first verification information does not decode");
		goto done;
	}
	if ((r = copy_member(f->account, sizeof(f->account), j, "account")) < 0 ||
	    (r = copy_member(f->pairing, sizeof(f->pairing), j, "pairing")) < 0 ||
	    (r = copy_member(f->phone, sizeof(f->phone), j, "phone")) < 0 ||
	    (r = copy_member(f->terminal, sizeof(f->terminal), j, "terminal")) < 0 ||
	    (r = copy_member(f->terminal_fingerprint, sizeof(f->terminal_fingerprint), j,
		     "terminal_fingerprint")) < 0 ||
	    (r = cs__bk_hex(f->phone_nonce, sizeof(f->phone_nonce), j, "phone_nonce")) < 0)
		goto done;
	f->expires = json_integer_value(exp);
	r = CS_OK;
done:
	if (r < 0)
		memset(f, 0, sizeof(*f));
	json_decref(j);
	return r;
}

int cs__bk_first_open(struct cs__bk_first *f, const char *statement_b64, const char *sig_b64,
	const cs_cert *hub_ca)
{
	uint8_t *st = NULL, *sig = NULL;
	size_t stlen = 0, siglen = 0;
	int r;

	memset(f, 0, sizeof(*f));
	if (statement_b64 == NULL || sig_b64 == NULL ||
	    cs_base64_decode(&st, &stlen, statement_b64, STATEMENT_MAX) < 0 ||
	    cs_base64_decode(&sig, &siglen, sig_b64, 1024) < 0)
		r = cs_error_set(CS_EMALFORMED, "first verification information is not base64");
	else if (cs_cert_verify_signature(hub_ca, st, stlen, sig, siglen) < 0)
		r = cs_error_set(CS_EAUTH, "first verification information is not signed by the hub");
	else
		r = cs__bk_first_decode(f, st, stlen);
	free(st);
	free(sig);
	return r;
}

int cs__bk_mac(uint8_t out[32], const uint8_t secret[32], const char *label, const char *account,
	const char *pairing, const char *phone, const uint8_t pnonce[CS__BK_NONCE_LEN],
	const uint8_t *tnonce)
{
	char pn[2 * CS__BK_NONCE_LEN + 1], tn[2 * CS__BK_NONCE_LEN + 1] = "", msg[1024];
	cs_hex_encode(pn, pnonce, CS__BK_NONCE_LEN);
	if (tnonce != NULL)
		cs_hex_encode(tn, tnonce, CS__BK_NONCE_LEN);
	int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s\n%s\n%s%s%s", label, account, pairing, phone, pn,
		tnonce ? "\n" : "", tn);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return cs_error_set(CS_EINVAL, "handshake values too long");
	cs_hmac_sha256(out, secret, 32, msg, (size_t)n);
	cs_wipe(msg, sizeof(msg));
	return CS_OK;
}
