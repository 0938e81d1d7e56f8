/*
 * Account sync's endpoints, /v1/account/... (PROTOCOL.md §11): the two
 * login steps, plain JSON, and the sealed record calls. The hub keeps no
 * session: a login ticket carries a login from start to finish, and a
 * token carries everything a sealed call needs (the account, and the
 * message key that only the password's holder and the hub that checked
 * the proof can know), so any hub process sharing the store serves any
 * request. State lives in accounts.c.
 *
 * The hub only computes HMACs, SHA-256 and AES-GCM here; argon2id runs on
 * the client (and in `certsync hub account add`), never on this loop.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <certsync/account.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define PREFIX "/v1/account/"
#define SEALED_TYPE "application/vnd.certsync.sealed"
/* Failed logins waiting out their delay in this process. Beyond this many,
 * a finish is refused with 429 before its proof is looked at: answering
 * at once would tell a guesser the outcome without the delay, and holding
 * more would let one client pin down unbounded memory and connections. */
#define DELAYS_MAX 1024

struct cs__acct_delay {
	struct cs__acct_delay *next;
	cs_hub *hub;
	cs_http_req *req; /* NULL once the client went away */
	int64_t due_ms;   /* monotonic */
};

/* A sealed call that passed authentication. */
struct call {
	cs_http_req *req;
	const char *path;
	cs_acct_request_frame f;
	cs_acct_token tok;
	uint32_t kid;
	uint8_t *plain;
	size_t plain_len;
};

/* Seconds a token key is kept after the next one appears (see
 * cs__acct_key_current): the longest life of what it sealed, a token or a
 * login ticket. */
static int64_t key_ttl(const cs_hub *hub)
{
	int64_t ttl = hub->cfg.account_token_ttl_s;
	return ttl > CS__ACCT_TICKET_S ? ttl : CS__ACCT_TICKET_S;
}

/* The key to seal tickets and tokens with, into *k. */
static int seal_key(cs_hub *hub, struct cs__acct_key *k)
{
	return cs__acct_key_current(hub->db, &hub->acct, k, cs_clock_now(),
		hub->cfg.account_key_rotate_s, key_ttl(hub));
}

/* ---- delayed answers to failed logins ---- */

static void delay_unlink(cs_hub *hub, struct cs__acct_delay *d)
{
	for (struct cs__acct_delay **pp = &hub->acct_delays; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			hub->acct_ndelays--;
			return;
		}
	}
}

static void delay_on_close(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__acct_delay *d = ud;
	d->req = NULL; /* the delay runs out all the same; the answer has nowhere to go */
}

static void delay_fire(void *ud)
{
	struct cs__acct_delay *d = ud;
	/* libevent's timers may fire a few ms early; the 401 must not */
	int64_t left = d->due_ms - cs_clock_mono_ms();
	if (left > 0 && cs_httpd_after(d->hub->httpd, left, delay_fire, d) == 0)
		return;
	if (d->req != NULL)
		cs__hub_reply_error(d->hub, d->req, 401, "login_failed", "wrong account or password");
	delay_unlink(d->hub, d);
	free(d);
}

/* Count a failed login of account (counted in the store, so every hub
 * process delays it alike) and answer 401 login_failed once its delay has
 * run out. */
static void login_failed(cs_hub *hub, cs_http_req *req, const char *account, int64_t start_ms)
{
	int64_t delay = CS__ACCT_FAIL_FIRST_MS;
	struct cs__acct_delay *d = NULL;

	hub->m.acct_logins_failed++;
	if (cs__acct_fail(hub->db, &delay, account, cs_clock_now_ms()) < 0)
		cs_log(CS_LOG_ERROR, "account.fail_count_failed", "account=%s error=\"%s\"", account,
			cs_error_last());
	cs_log(CS_LOG_WARN, "account.login_failed", "account=%s remote=%s delay_ms=%lld", account,
		cs_http_req_remote(req), (long long)delay);
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		cs__hub_reply_error(hub, req, 503, "error", "out of memory");
		return;
	}
	d->hub = hub;
	d->req = req;
	d->due_ms = start_ms + delay;
	d->next = hub->acct_delays;
	hub->acct_delays = d;
	hub->acct_ndelays++;
	cs_http_req_on_close(req, delay_on_close, d);
	delay_fire(d);
}

void cs__hub_account_free(cs_hub *hub)
{
	while (hub->acct_delays != NULL) {
		struct cs__acct_delay *d = hub->acct_delays;
		hub->acct_delays = d->next;
		/* a pending cs_httpd_after timer is dropped with the server, unfired */
		if (d->req != NULL)
			cs__hub_reply_error(hub, d->req, 503, "error", "the hub is shutting down");
		free(d);
	}
	hub->acct_ndelays = 0;
}

/* ---- login ---- */

static void login_start(cs_hub *hub, cs_http_req *req)
{
	struct cs__acct_start_body b;
	struct cs__account a;
	struct cs__acct_key key;
	cs_acct_ticket t;
	cs_acct_kdf kdf;
	char *ticket = NULL;
	char salt_hex[2 * CS_ACCT_SALT_LEN + 1], snonce_hex[2 * CS_ACCT_NONCE_LEN + 1];
	size_t len;
	int r;

	memset(&a, 0, sizeof(a));
	memset(&key, 0, sizeof(key));
	memset(&t, 0, sizeof(t));
	memset(&kdf, 0, sizeof(kdf));
	const char *text = cs__hub_body(req, &len);
	if ((r = cs__parse_acct_start(&b, text, len)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	/* A disabled account gets its real salt: only who proves the password
	 * learns that it is disabled. An unknown one gets a salt that is the
	 * same every time and on every hub process, and the default cost. */
	r = cs__acct_get(hub->db, &a, b.account);
	if (r == 0) {
		t.account_id = a.id;
		kdf = a.kdf;
	} else if (r == CS_ENOTFOUND) {
		kdf.t_cost = CS_ACCT_KDF_T_DEFAULT;
		kdf.m_kib = CS_ACCT_KDF_M_DEFAULT;
		r = cs__acct_fake_salt(hub->db, &hub->acct, kdf.salt, b.account);
	}
	if (r < 0)
		goto fail;
	memcpy(t.account, b.account, sizeof(t.account));
	memcpy(t.device, b.device, sizeof(t.device));
	memcpy(t.cnonce, b.cnonce, sizeof(t.cnonce));
	t.expires = cs_clock_now() + CS__ACCT_TICKET_S;
	if ((r = cs_random(t.snonce, sizeof(t.snonce))) < 0 || (r = seal_key(hub, &key)) < 0 ||
	    (r = cs_acct_ticket_seal(&ticket, key.key, key.kid, &t)) < 0)
		goto fail;
	cs_hex_encode(salt_hex, kdf.salt, sizeof(kdf.salt));
	cs_hex_encode(snonce_hex, t.snonce, sizeof(t.snonce));
	cs__hub_reply_json(hub, req, 200, json_pack("{s:s, s:I, s:I, s:s, s:s}", "salt", salt_hex,
		"t", (json_int_t)kdf.t_cost, "m", (json_int_t)kdf.m_kib, "snonce", snonce_hex,
		"ticket", ticket));
	goto done;
fail:
	cs_log(CS_LOG_ERROR, "account.login_start_failed", "account=%s error=\"%s\"", b.account,
		cs_error_last());
	cs__hub_reply_cs_error(hub, req, r);
done:
	free(ticket);
	cs__acct_clear(&a);
	cs_wipe(&key, sizeof(key));
	cs_wipe(&t, sizeof(t));
}

static void login_finish(cs_hub *hub, cs_http_req *req)
{
	struct cs__acct_finish_body b;
	struct cs__account a;
	struct cs__acct_key key;
	cs_acct_ticket t;
	cs_acct_token tok;
	uint8_t ck[CS_ACCT_KEY_LEN], sig[CS_ACCT_KEY_LEN];
	char sig_hex[2 * CS_ACCT_KEY_LEN + 1];
	char *auth = NULL, *token = NULL;
	int64_t start_ms = cs_clock_mono_ms();
	uint32_t kid;
	size_t len;
	int r, known = 0;

	memset(&a, 0, sizeof(a));
	memset(&key, 0, sizeof(key));
	memset(&t, 0, sizeof(t));
	memset(&tok, 0, sizeof(tok));
	memset(ck, 0, sizeof(ck));
	const char *text = cs__hub_body(req, &len);
	if ((r = cs__parse_acct_finish(&b, text, len)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if (hub->acct_ndelays >= DELAYS_MAX) {
		cs_http_req_add_header(req, "Retry-After", "8");
		cs__hub_reply_error(hub, req, 429, "limit", "too many failed logins at once; try again");
		goto done;
	}
	if (cs_acct_sealed_kid(&kid, b.ticket, 1) < 0) {
		cs__hub_reply_error(hub, req, 401, "ticket_invalid", "not a login ticket");
		goto done;
	}
	if ((r = cs__acct_key_find(hub->db, &hub->acct, &key, kid)) == CS_ENOTFOUND) {
		cs__hub_reply_error(hub, req, 401, "ticket_invalid",
			"the login ticket's key is gone; start the login again");
		goto done;
	}
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	if ((r = cs_acct_ticket_open(&t, key.key, b.ticket)) < 0) {
		if (r == CS_ENOMEM)
			cs__hub_reply_cs_error(hub, req, r);
		else
			cs__hub_reply_error(hub, req, 401, "ticket_invalid",
				"the login ticket failed authentication");
		goto done;
	}
	if (t.expires <= cs_clock_now()) {
		cs__hub_reply_error(hub, req, 401, "ticket_expired",
			"the login ticket expired; start the login again");
		goto done;
	}
	if (!cs_acct_name_valid(t.account)) { /* sealed by a hub: cannot happen */
		cs__hub_reply_error(hub, req, 401, "ticket_invalid", "the login ticket is damaged");
		goto done;
	}
	if (t.account_id != 0) {
		r = cs__acct_get_id(hub->db, &a, t.account_id);
		if (r < 0 && r != CS_ENOTFOUND) {
			cs__hub_reply_cs_error(hub, req, r);
			goto done;
		}
		/* the account may have been replaced between start and finish */
		known = r == 0 && strcmp(a.name, t.account) == 0;
	}
	if (known) {
		if ((r = cs_acct_auth_message(&auth, t.account, t.device, t.cnonce, t.snonce,
			     &a.kdf)) < 0) {
			cs__hub_reply_cs_error(hub, req, r);
			goto done;
		}
		known = cs_acct_check_proof(ck, a.stored_key, auth, b.proof) == CS_OK;
	}
	if (!known) {
		login_failed(hub, req, t.account, start_ms);
		goto done;
	}
	/* the password is right: whatever follows, the failures are over */
	if (cs__acct_fail_reset(hub->db, t.account) < 0)
		cs_log(CS_LOG_ERROR, "account.fail_reset_failed", "account=%s error=\"%s\"", t.account,
			cs_error_last());
	if (a.disabled) {
		hub->m.acct_logins_disabled++;
		cs_log(CS_LOG_WARN, "account.login_disabled", "account=%s device=%s remote=%s",
			t.account, t.device, cs_http_req_remote(req));
		cs__hub_reply_error(hub, req, 403, "account_disabled", "account %s is disabled",
			t.account);
		goto done;
	}
	tok.account_id = a.id;
	memcpy(tok.account, t.account, sizeof(tok.account));
	memcpy(tok.device, t.device, sizeof(tok.device));
	tok.issued = cs_clock_now();
	tok.expires = tok.issued + hub->cfg.account_token_ttl_s;
	cs_acct_message_key(tok.message_key, ck, auth);
	cs_wipe(&key, sizeof(key));
	if ((r = seal_key(hub, &key)) < 0 ||
	    (r = cs_acct_token_seal(&token, key.key, key.kid, &tok)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	cs_acct_server_signature(sig, a.server_key, auth);
	cs_hex_encode(sig_hex, sig, sizeof(sig));
	hub->m.acct_logins_ok++;
	cs_log(CS_LOG_INFO, "account.login", "account=%s device=%s remote=%s kid=%u", t.account,
		t.device, cs_http_req_remote(req), key.kid);
	cs__hub_reply_json(hub, req, 200, json_pack("{s:s, s:I, s:I, s:s}", "token", token, "kid",
		(json_int_t)key.kid, "expires", (json_int_t)tok.expires, "server_signature", sig_hex));
done:
	cs_free_secret_str(token);
	free(auth);
	cs__acct_clear(&a);
	cs_wipe(&b, sizeof(b));
	cs_wipe(&key, sizeof(key));
	cs_wipe(&t, sizeof(t));
	cs_wipe(&tok, sizeof(tok));
	cs_wipe(ck, sizeof(ck));
	cs_wipe(sig, sizeof(sig));
}

/* ---- sealed calls ---- */

/* Refuse a sealed call before its body is read (PROTOCOL.md §11.4). */
static void refuse(cs_hub *hub, cs_http_req *req, int status, const char *code, const char *msg)
{
	hub->m.acct_refused++;
	cs_log(CS_LOG_INFO, "account.refused", "code=%s path=%s remote=%s", code,
		cs_http_req_path(req), cs_http_req_remote(req));
	cs__hub_reply_error(hub, req, status, code, "%s", msg);
}

/* Answer a call with body (stolen) and, when att is not NULL, the
 * attachments after a NUL byte, sealed for its request and status. */
static void reply_sealed_att(cs_hub *hub, struct call *c, int status, json_t *body, const cs_buf *att)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	cs_buf *plain = NULL, *out = NULL;
	int r;

	json_decref(body);
	if (text == NULL) {
		cs__hub_reply_error(hub, c->req, 500, "error", "out of memory");
		return;
	}
	size_t tl = strlen(text), al = att ? cs_buf_len(att) : 0;
	if ((plain = cs_buf_new(tl + 1 + al)) == NULL || (out = cs_buf_new(tl + 1 + al + 64)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
	} else if ((r = cs_buf_put(plain, text, tl)) == 0 && att != NULL &&
		   (r = cs_buf_put_u8(plain, 0)) == 0) {
		r = cs_buf_put(plain, cs_buf_ptr(att), al);
	}
	if (r == 0)
		r = cs_acct_response_seal(out, c->tok.message_key, "POST", c->path, c->f.ts_ms, status,
			cs_buf_ptr(plain), cs_buf_len(plain));
	if (r < 0)
		cs__hub_reply_cs_error(hub, c->req, r);
	else
		cs__hub_reply(hub, c->req, status, SEALED_TYPE, cs_buf_ptr(out), cs_buf_len(out));
	cs_buf_free(plain);
	cs_buf_free(out);
	cs_freezero(text, tl);
}

static void reply_sealed(cs_hub *hub, struct call *c, int status, json_t *body)
{
	reply_sealed_att(hub, c, status, body, NULL);
}

static void records_changes(cs_hub *hub, struct call *c)
{
	struct cs__acct_changes_body b;
	json_t *out = NULL;
	uint64_t bytes = 0;
	int r;

	cs_buf *att = NULL;
	if ((r = cs__parse_acct_changes(&b, (const char *)c->plain, c->plain_len)) == 0 &&
	    b.attachments && (att = cs_buf_new(CS__ACCT_ATTACH_MAX)) == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	if (r < 0 || (r = cs__acct_changes(hub->db, &out, &bytes, c->tok.account_id, b.collection,
			      b.since, b.limit, CS__ACCT_ANSWER_BYTES, att)) < 0) {
		cs_buf_free(att);
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	hub->m.acct_bytes_sent += bytes;
	reply_sealed_att(hub, c, 200, out, att);
	cs_buf_free(att);
}

static void records_get(cs_hub *hub, struct call *c)
{
	struct cs__acct_get_body b;
	json_t *out = NULL;
	uint64_t bytes = 0;
	int r;

	cs_buf *att = NULL;
	if ((r = cs__parse_acct_get(&b, (const char *)c->plain, c->plain_len)) == 0 &&
	    b.attachments && (att = cs_buf_new(CS__ACCT_ATTACH_MAX)) == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	if (r == 0)
		r = cs__acct_get_records(hub->db, &out, &bytes, c->tok.account_id, b.collection,
			b.ids, b.n, CS__ACCT_ANSWER_BYTES, att);
	cs__acct_get_body_clear(&b);
	if (r < 0) {
		cs_buf_free(att);
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	hub->m.acct_bytes_sent += bytes;
	reply_sealed_att(hub, c, 200, out, att);
	cs_buf_free(att);
}

static void records_upload(cs_hub *hub, struct call *c)
{
	struct cs__acct_upload_body b;
	json_t *out = NULL;
	int r;

	if ((r = cs__parse_acct_upload(&b, (const char *)c->plain, c->plain_len)) < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	r = cs__acct_upload(hub->db, &out, c->tok.account_id, b.collection, b.recs, b.n);
	if (r == CS_ECONFLICT && out != NULL) {
		cs_log(CS_LOG_DEBUG, "account.upload_conflict", "account=%s collection=%s records=%zu",
			c->tok.account, b.collection, b.n);
		reply_sealed(hub, c, 412, out);
	} else if (r < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
	} else {
		hub->m.acct_records_written += b.n;
		hub->m.acct_bytes_received += b.bytes;
		cs_log(CS_LOG_DEBUG, "account.upload", "account=%s collection=%s records=%zu bytes=%zu",
			c->tok.account, b.collection, b.n, b.bytes);
		reply_sealed(hub, c, 200, out);
	}
	cs__acct_upload_body_clear(&b);
}

static void whoami(cs_hub *hub, struct call *c)
{
	int r = cs__parse_acct_whoami((const char *)c->plain, c->plain_len);
	if (r < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	reply_sealed(hub, c, 200, json_pack("{s:s, s:s, s:I, s:I}", "account", c->tok.account,
		"device", c->tok.device, "expires", (json_int_t)c->tok.expires, "kid",
		(json_int_t)c->kid));
}

/* ---- pairings of backup terminals (PROTOCOL.md §12.1) ---- */

static void pairing_create(cs_hub *hub, struct call *c)
{
	struct cs__pairing_create_body b;
	char id[CS__HUB_PAIRING_ID_LEN + 1];
	int64_t expires;
	int r;

	if ((r = cs__parse_pairing_create(&b, (const char *)c->plain, c->plain_len)) < 0 ||
	    (r = cs__pairing_create(hub->db, id, &expires, c->tok.account_id, c->tok.device, &b)) < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	cs_log(CS_LOG_INFO, "pairing.created", "account=%s terminal=%s pairing=%s expires=%lld",
		c->tok.account, c->tok.device, id, (long long)expires);
	reply_sealed(hub, c, 200, json_pack("{s:s, s:I}", "pairing", id, "expires", (json_int_t)expires));
}

/* The first verification information: a statement the hub signs with its
 * CA key, naming account, pairing, both devices and the device's nonce. */
static int first_verification(json_t **out, cs_hub *hub, const struct call *c,
	const struct cs__pairing_claim_body *b, const struct cs__pairing *p)
{
	char nonce[65], *text = NULL, *st64 = NULL, *sig64 = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int64_t now = cs_clock_now();
	int r;

	cs_hex_encode(nonce, b->nonce, sizeof(b->nonce));
	json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "kind",
		"certsync-pairing-v1", "account", c->tok.account, "pairing", b->pairing, "phone",
		c->tok.device, "phone_nonce", nonce, "terminal", p->terminal, "terminal_fingerprint",
		p->fingerprint, "issued", (json_int_t)now, "expires", (json_int_t)(now + CS__HUB_FIRST_TTL_S));
	if (st == NULL || (text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_ca_sign(&sig, &siglen, hub->ca, text, strlen(text))) < 0 ||
	    (r = cs_base64_encode(&st64, text, strlen(text))) < 0 ||
	    (r = cs_base64_encode(&sig64, sig, siglen)) < 0)
		goto done;
	if ((*out = json_pack("{s:s, s:s, s:s, s:s}", "indication", "connect", "first", st64,
		     "signature", sig64, "terminal", p->terminal)) == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
done:
	json_decref(st);
	free(text);
	free(sig);
	free(st64);
	free(sig64);
	return r;
}

static void pairing_claim(cs_hub *hub, struct call *c)
{
	struct cs__pairing_claim_body b;
	struct cs__pairing p;
	json_t *out = NULL;
	int r;

	if ((r = cs__parse_pairing_claim(&b, (const char *)c->plain, c->plain_len)) < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	r = cs__pairing_claim(hub->db, &p, c->tok.account_id, c->tok.device, &b);
	if (r < 0) {
		static const struct { int rc, status; const char *code; } map[] = {
			{CS_ENOTFOUND, 404, "pairing_unknown"}, {CS_EDENIED, 403, "pairing_other_account"},
			{CS_EEXPIRED, 410, "pairing_expired"}, {CS_ESTATE, 409, "pairing_used"},
			{CS_EAUTH, 403, "pairing_secret"},
		};
		cs_log(CS_LOG_INFO, "pairing.refused", "account=%s device=%s pairing=%s error=\"%s\"",
			c->tok.account, c->tok.device, b.pairing, cs_error_last());
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (map[i].rc == r) {
				cs__hub_reply_error(hub, c->req, map[i].status, map[i].code, "%s", cs_error_last());
				cs_wipe(&b, sizeof(b));
				return;
			}
		cs__hub_reply_cs_error(hub, c->req, r);
		cs_wipe(&b, sizeof(b));
		return;
	}
	if ((r = first_verification(&out, hub, c, &b, &p)) < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
	} else {
		cs_log(CS_LOG_INFO, "pairing.claimed", "account=%s device=%s pairing=%s terminal=%s",
			c->tok.account, c->tok.device, b.pairing, p.terminal);
		reply_sealed(hub, c, 200, out);
	}
	cs_wipe(&b, sizeof(b));
}

/* ---- offline transfer (PROTOCOL.md §13.8; wallet_ledger.c) ---- */

/* Answer a wallet call: the body on success, else the error with its code. */
static void wallet_reply(cs_hub *hub, struct call *c, int r, json_t *out, const char *code)
{
	if (r == 0) {
		if (strcmp(c->path, PREFIX "wallet/load") == 0)
			hub->m.wallet_loads++;
		else
			hub->m.wallet_syncs++;
		hub->m.wallet_conflicts += (uint64_t)json_integer_value(json_object_get(out, "conflicts_new"));
		reply_sealed(hub, c, 200, out);
		return;
	}
	hub->m.wallet_refused++;
	cs_log(CS_LOG_INFO, "wallet.refused", "account=%s device=%s path=%s error=\"%s\"", c->tok.account,
		c->tok.device, c->path, cs_error_last());
	if (code == NULL) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	int status = r == CS_EDENIED ? 403 : r == CS_ECONFLICT ? 409 : r == CS_EAUTH ? 401 : 422;
	if (strcmp(code, "csr_invalid") == 0)
		status = 400;
	else if (strcmp(code, "voucher_invalid") == 0)
		status = 422; /* whatever check refused it (PROTOCOL.md §13.8) */
	cs__hub_reply_error(hub, c->req, status, code, "%s", cs_error_last());
}

static void wallet_load(cs_hub *hub, struct call *c)
{
	struct cs__wallet_load_body b;
	json_t *out = NULL;
	const char *code = NULL;
	int r = cs__parse_wallet_load(&b, (const char *)c->plain, c->plain_len);
	if (r < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	r = cs__wallet_load(hub, &out, &code, c->tok.account_id, c->tok.account, c->tok.device, &b);
	wallet_reply(hub, c, r, out, code);
	cs__wallet_load_body_clear(&b);
}

static void wallet_sync(cs_hub *hub, struct call *c)
{
	struct cs__wallet_sync_body b;
	json_t *out = NULL;
	const char *code = NULL;
	int r = cs__parse_wallet_sync(&b, (const char *)c->plain, c->plain_len);
	if (r < 0) {
		cs__hub_reply_cs_error(hub, c->req, r);
		return;
	}
	r = cs__wallet_sync(hub, &out, &code, c->tok.account_id, c->tok.account, c->tok.device, &b);
	wallet_reply(hub, c, r, out, code);
	cs__wallet_sync_body_clear(&b);
}

/* 1 when a Content-Type header names the sealed type (parameters and case
 * of the type ignored). */
static int sealed_type(const char *ct)
{
	size_t n = strlen(SEALED_TYPE);
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, SEALED_TYPE, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/* Authenticate a sealed call in the order of PROTOCOL.md §11.4, then hand
 * its opened body (at most plain_max bytes) to fn. */
static void sealed(cs_hub *hub, cs_http_req *req, const char *path, size_t plain_max,
	void (*fn)(cs_hub *hub, struct call *c))
{
	struct call c;
	struct cs__acct_key key;
	const char *ct = cs_http_req_header(req, "Content-Type");
	size_t len;
	int r;

	memset(&c, 0, sizeof(c));
	memset(&key, 0, sizeof(key));
	c.req = req;
	c.path = path;
	const uint8_t *body = cs_http_req_body(req, &len);
	if (ct != NULL && !sealed_type(ct)) {
		refuse(hub, req, 400, "frame_malformed", "the body must be " SEALED_TYPE);
		goto done;
	}
	if (len > plain_max + CS_ACCT_FRAME_OVERHEAD) {
		hub->m.acct_refused++;
		cs__hub_reply_error(hub, req, 413, "too_large", "a sealed request to %s is at most %zu "
			"bytes", path, plain_max + CS_ACCT_FRAME_OVERHEAD);
		goto done;
	}
	if (cs_acct_request_parse(&c.f, body, len) < 0) {
		refuse(hub, req, 400, "frame_malformed", cs_error_last());
		goto done;
	}
	if (cs_acct_sealed_kid(&c.kid, c.f.token, 0) < 0) {
		refuse(hub, req, 401, "token_malformed", "the token does not parse");
		goto done;
	}
	if ((r = cs__acct_key_find(hub->db, &hub->acct, &key, c.kid)) == CS_ENOTFOUND) {
		refuse(hub, req, 401, "token_unknown_key",
			"the token's key is not among the hub's keys; log in again");
		goto done;
	}
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	if ((r = cs_acct_token_open(&c.tok, key.key, c.f.token)) < 0) {
		if (r == CS_ENOMEM)
			cs__hub_reply_cs_error(hub, req, r);
		else
			refuse(hub, req, 401, "token_invalid", "the token failed authentication");
		goto done;
	}
	if (c.tok.expires <= cs_clock_now()) {
		refuse(hub, req, 401, "token_expired", "the token expired; log in again");
		goto done;
	}
	if ((r = cs_acct_request_open(&c.plain, &c.plain_len, &c.f, c.tok.message_key, "POST",
		     path)) < 0) {
		if (r == CS_ENOMEM)
			cs__hub_reply_cs_error(hub, req, r);
		else
			refuse(hub, req, 401, "body_invalid", "the body failed authentication");
		goto done;
	}
	int64_t now_ms = cs_clock_now_ms();
	int64_t skew = c.f.ts_ms > now_ms ? c.f.ts_ms - now_ms : now_ms - c.f.ts_ms;
	if (skew > hub->cfg.account_window_s * 1000) {
		refuse(hub, req, 401, "time_window",
			"the request's time is too far from the hub's clock (or it is a replay)");
		goto done;
	}
	if ((r = cs__acct_check_active(hub->db, c.tok.account_id, c.tok.account)) == CS_EDENIED) {
		refuse(hub, req, 403, "account_disabled", cs_error_last());
		goto done;
	}
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	hub->m.acct_requests++;
	fn(hub, &c);
done:
	cs_freezero(c.plain, c.plain_len);
	cs_wipe(&c.tok, sizeof(c.tok));
	cs_wipe(&key, sizeof(key));
}

/* ---- routing ---- */

static const struct account_route {
	const char *path;
	void (*login)(cs_hub *hub, cs_http_req *req);    /* plain JSON */
	void (*call)(cs_hub *hub, struct call *c);       /* sealed */
	size_t max;                                      /* plaintext of a sealed call */
} routes[] = {
	{PREFIX "login/start", login_start, NULL, 0},
	{PREFIX "login/finish", login_finish, NULL, 0},
	{PREFIX "records/changes", NULL, records_changes, CS__HUB_ACCT_JSON_MAX},
	{PREFIX "records/get", NULL, records_get, CS__HUB_ACCT_JSON_MAX},
	{PREFIX "records/upload", NULL, records_upload, CS__HUB_ACCT_UPLOAD_MAX},
	{PREFIX "whoami", NULL, whoami, CS__HUB_ACCT_LOGIN_MAX},
	{PREFIX "pairings/create", NULL, pairing_create, CS__HUB_ACCT_LOGIN_MAX},
	{PREFIX "pairings/claim", NULL, pairing_claim, CS__HUB_ACCT_LOGIN_MAX},
	{PREFIX "wallet/load", NULL, wallet_load, CS__HUB_WALLET_LOAD_MAX},
	{PREFIX "wallet/sync", NULL, wallet_sync, CS__HUB_WALLET_SYNC_MAX},
};

static void account_api(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	const char *path = cs_http_req_path(req);
	const struct account_route *rt = NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(path, routes[i].path) == 0)
			rt = &routes[i];
	if (rt == NULL) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		return;
	}
	if (strcmp(cs_http_req_method(req), "POST") != 0) {
		cs_http_req_add_header(req, "Allow", "POST");
		cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use POST");
		return;
	}
	if (rt->login != NULL)
		rt->login(hub, req);
	else
		sealed(hub, req, rt->path, rt->max, rt->call);
}

void cs__hub_api_account_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", PREFIX, account_api, hub);
}
