/*
 * Enrollment tokens (PROTOCOL.md §3). The hub stores only the SHA-256 of
 * each secret, looked up by equality: an attacker who can time the lookup
 * learns about hashes of guesses, which says nothing about the secret.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/enroll_token.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define USES_MAX 100000
#define TTL_MAX (366ll * 86400)

static void secret_hash(char out[65], const uint8_t secret[CS_ENROLL_SECRET_LEN])
{
	uint8_t h[CS_SHA256_LEN];
	cs_sha256(h, secret, CS_ENROLL_SECRET_LEN);
	cs_hex_encode(out, h, sizeof(h));
}

int cs__hub_token_create(cs_hub *hub, char **text_out, int64_t *expires_out,
	int64_t uses, int64_t ttl)
{
	cs_enroll_token t = {0};
	char hash[65];
	char *text = NULL;
	int r;

	if (uses < 1 || uses > USES_MAX)
		return cs_error_set(CS_EINVAL, "uses must be 1..%d", USES_MAX);
	if (ttl < 1 || ttl > TTL_MAX)
		return cs_error_set(CS_EINVAL, "ttl must be 1..%lld seconds", TTL_MAX);
	if ((r = cs_random(t.secret, sizeof(t.secret))) < 0 ||
	    (r = cs_hex_decode(t.ca_fingerprint, sizeof(t.ca_fingerprint), hub->ca_fingerprint)) < 0)
		goto done;
	t.hub_address = hub->public_address;
	r = cs_enroll_token_encode(&text, &t);
	t.hub_address = NULL;
	if (r < 0)
		goto done;
	secret_hash(hash, t.secret);
	int64_t expires = cs_clock_now() + ttl;
	if ((r = cs__db_exec(hub->db,
		     "INSERT INTO tokens (hash, uses_left, expires, created) VALUES (?, ?, ?, ?)",
		     CS__DB_ARGS(CS__DB_T(hash), CS__DB_I(uses), CS__DB_I(expires),
			     CS__DB_I(cs_clock_now())))) < 0)
		goto done;
	cs_log(CS_LOG_INFO, "token.created", "uses=%lld expires=%lld", (long long)uses,
		(long long)expires);
	*text_out = text;
	text = NULL;
	*expires_out = expires;
	r = CS_OK;
done:
	cs_free_secret_str(text);
	cs_enroll_token_clear(&t);
	return r;
}

int cs__hub_token_use_tx(cs_hub *hub, const char *text)
{
	cs_enroll_token t = {0};
	uint8_t ours[32];
	char hash[65];
	cs_stmt *q = NULL;
	int r;

	if ((r = cs_enroll_token_parse(&t, text)) < 0)
		return r;
	if ((r = cs_hex_decode(ours, sizeof(ours), hub->ca_fingerprint)) < 0)
		goto done;
	if (!cs_memeq(ours, t.ca_fingerprint, sizeof(ours))) {
		r = cs_error_set(CS_EAUTH, "the token was issued by another hub");
		goto done;
	}
	secret_hash(hash, t.secret);
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT uses_left, expires FROM tokens WHERE hash = ?")) < 0)
		goto done;
	cs_stmt_bind_text(q, 1, hash);
	if ((r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_EAUTH, "unknown enrollment token");
		goto done;
	}
	int64_t uses = cs_stmt_int64(q, 0), expires = cs_stmt_int64(q, 1);
	if (expires < cs_clock_now()) {
		r = cs_error_set(CS_EEXPIRED, "the enrollment token has expired");
		goto done;
	}
	if (uses <= 0) {
		r = cs_error_set(CS_EAUTH, "the enrollment token is used up");
		goto done;
	}
	cs_stmt_free(q);
	q = NULL;
	if ((r = cs__db_exec(hub->db, "UPDATE tokens SET uses_left = uses_left - 1 WHERE hash = ?",
		     CS__DB_ARGS(CS__DB_T(hash)))) < 0)
		goto done;
done:
	cs_wipe(hash, sizeof(hash));
	cs_stmt_free(q);
	cs_enroll_token_clear(&t);
	return r;
}
