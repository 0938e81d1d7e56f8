/*
 * The account client's conversation with the hubs (PROTOCOL.md §11):
 * login, sealed calls spread over the configured hub instances, the data
 * key, and the status check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/aead.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "account/local.h"

#define SEALED_TYPE "application/vnd.certsync.sealed"
#define KEYS_COLLECTION "keys"
#define DATA_KEY_ID "data"
#define DATA_KEY_LABEL "certsync-data-key-v1"
#define PAYLOAD_LABEL "certsync-record-v1"

int cs__acct_conn_open(struct cs__acct_conn *cn, struct cs__acct_session *s,
	const volatile int *cancel)
{
	memset(cn, 0, sizeof(*cn));
	cn->s = s;
	cn->cancel = cancel;
	for (size_t i = 0; i < s->nhubs; i++) {
		struct cs_httpc_config cfg = {
			.base_url = s->hubs[i],
			.ca_path = s->ca_path,
			.cancel = cancel,
		};
		int r = cs_httpc_new(&cn->c[i], &cfg);
		if (r < 0) {
			cs__acct_conn_close(cn);
			return r;
		}
	}
	return CS_OK;
}

void cs__acct_conn_close(struct cs__acct_conn *cn)
{
	for (size_t i = 0; i < CS__ACCT_HUBS_MAX; i++)
		cs_httpc_free(cn->c[i]);
	memset(cn->c, 0, sizeof(cn->c));
}

/* Send one request to the next hub (in turn). */
static int send_one(cs_http_resp *resp, struct cs__acct_conn *cn, const char *path,
	const char *type, const void *body, size_t len)
{
	size_t i = cn->next++ % cn->s->nhubs;
	cn->requests++;
	int r = cs_httpc_request(resp, cn->c[i], "POST", path, type, body, len, CS__ACCT_RESP_MAX,
		CS__ACCT_TIMEOUT_MS);
	if (r == CS_ENET)
		cs_log(CS_LOG_WARN, "account.hub_unreachable", "hub=\"%s\" error=\"%s\"", cn->s->hubs[i],
			cs_error_last());
	return r;
}

/* Send a request to the next hub, falling over to the others when a hub
 * does not answer at all (login calls: nothing time-bound inside). */
static int send_any(cs_http_resp *resp, struct cs__acct_conn *cn, const char *path,
	const char *type, const void *body, size_t len)
{
	int r = CS_ENET;
	for (size_t tries = 0; tries < cn->s->nhubs && r == CS_ENET; tries++) {
		if (cn->cancel && *cn->cancel) {
			r = cs_error_set(CS_ENET, "interrupted");
			break;
		}
		r = send_one(resp, cn, path, type, body, len);
	}
	return r;
}

/* Map a refused request to an error code and the hub's message. */
static int refused(const cs_http_resp *resp, const char *path)
{
	char msg[512];
	const char *code = NULL;
	json_t *j = json_loadb((const char *)resp->body, resp->len, 0, NULL);
	if (j != NULL)
		code = json_string_value(json_object_get(j, "code"));
	cs_http_resp_error(msg, sizeof(msg), resp);
	int e = resp->status == 401 ? CS_EAUTH : resp->status == 403 ? CS_EDENIED
		: resp->status == 413 ? CS_ELIMIT : resp->status >= 500 ? CS_ENET : CS_EINVAL;
	if (code != NULL && strcmp(code, "token_expired") == 0)
		e = CS_EEXPIRED;
	int r = cs_error_set(e, "%s: %s (%ld%s%s)", path, msg, resp->status, code ? " " : "",
		code ? code : "");
	json_decref(j);
	return r;
}

int cs__acct_call_att(struct cs__acct_conn *cn, const char *path, json_t *req, const uint8_t *att,
	size_t att_len, json_t **resp_out, int *status, uint8_t **resp_att, size_t *resp_att_len)
{
	cs_http_resp resp = {0};
	cs_buf *plain_req = NULL, *frame = NULL;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	char *text = NULL;
	json_t *j = NULL;
	int r;

	*resp_out = NULL;
	if (resp_att != NULL) {
		*resp_att = NULL;
		*resp_att_len = 0;
	}
	if (req == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (cn->s->expires <= cs_clock_now()) {
		json_decref(req);
		return cs_error_set(CS_EEXPIRED, "the login expired; run 'certsync account login' again");
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	size_t tl = strlen(text);
	int64_t ts = 0;
	/* the body: JSON, then (when there are attachments) a NUL and them */
	if ((plain_req = cs_buf_new(tl + 1 + att_len)) == NULL ||
	    (frame = cs_buf_new(tl + 1 + att_len + CS_ACCT_FRAME_OVERHEAD)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_buf_put(plain_req, text, tl)) < 0 ||
	    (att != NULL && ((r = cs_buf_put_u8(plain_req, 0)) < 0 ||
				    (r = cs_buf_put(plain_req, att, att_len)) < 0)))
		goto done;
	/* each hub in turn until one answers; sealed anew for every attempt,
	 * so that a hub that took long to fail does not push the request out
	 * of the next one's time window */
	r = CS_ENET;
	for (size_t tries = 0; tries < cn->s->nhubs && r == CS_ENET; tries++) {
		if (cn->cancel && *cn->cancel) {
			r = cs_error_set(CS_ENET, "interrupted");
			break;
		}
		cs_buf_reset(frame);
		ts = cs_clock_now_ms();
		if ((r = cs_acct_request_seal(frame, cn->s->token, cn->s->mk, "POST", path, ts,
			     cs_buf_ptr(plain_req), cs_buf_len(plain_req))) < 0)
			goto done;
		r = send_one(&resp, cn, path, SEALED_TYPE, cs_buf_ptr(frame), cs_buf_len(frame));
	}
	if (r < 0)
		goto done;
	if (resp.status != 200 && resp.status != 412) {
		r = refused(&resp, path);
		goto done;
	}
	if ((r = cs_acct_response_open(&plain, &plain_len, cn->s->mk, "POST", path, ts,
		     (int)resp.status, resp.body, resp.len)) < 0)
		goto done;
	size_t jl = strnlen((const char *)plain, plain_len);
	if ((j = json_loadb((const char *)plain, jl, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		r = cs_error_set(CS_EMALFORMED, "%s: the hub's answer is not a JSON object", path);
		goto done;
	}
	if (resp_att != NULL && jl < plain_len) {
		size_t n = plain_len - jl - 1;
		if ((*resp_att = malloc(n ? n : 1)) == NULL) {
			json_decref(j);
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		memcpy(*resp_att, plain + jl + 1, n);
		*resp_att_len = n;
	}
	*resp_out = j;
	*status = (int)resp.status;
	r = CS_OK;
done:
	cs_freezero(plain, plain_len);
	cs_free_secret_str(text);
	cs_buf_free(plain_req);
	cs_buf_free(frame);
	cs_http_resp_clear(&resp);
	return r;
}

int cs__acct_call(struct cs__acct_conn *cn, const char *path, json_t *req, json_t **resp_out,
	int *status)
{
	return cs__acct_call_att(cn, path, req, NULL, 0, resp_out, status, NULL, NULL);
}

int cs__acct_name(char out[33], const uint8_t dk[CS_ACCT_KEY_LEN], const char *label,
	const char *a, const char *b)
{
	char msg[CS__ACCT_NAME_INPUT_MAX];
	size_t ll = strlen(label), al = strlen(a), bl = b ? strlen(b) : 0;
	size_t n = ll + 1 + al + (b ? 1 + bl : 0);
	uint8_t h[CS_SHA256_LEN];

	if (n > sizeof(msg))
		return cs_error_set(CS_ELIMIT, "name of %zu bytes is too long", n);
	memcpy(msg, label, ll + 1);
	memcpy(msg + ll + 1, a, al);
	if (b) {
		msg[ll + 1 + al] = 0;
		memcpy(msg + ll + 2 + al, b, bl);
	}
	cs_hmac_sha256(h, dk, CS_ACCT_KEY_LEN, msg, n);
	cs_hex_encode(out, h, 16);
	out[32] = 0;
	return CS_OK;
}

/* AAD = label 0 || a 0 || b, into a fresh buffer. */
static int label_aad(cs_buf **out, const char *label, const char *a, const char *b)
{
	cs_buf *aad = cs_buf_new(CS__ACCT_NAME_INPUT_MAX);
	int r;
	if (aad == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(aad, label, strlen(label) + 1)) >= 0 &&
	    (r = cs_buf_put(aad, a, strlen(a) + 1)) >= 0)
		r = cs_buf_put(aad, b, strlen(b));
	if (r < 0) {
		cs_buf_free(aad);
		return r;
	}
	*out = aad;
	return CS_OK;
}

/* nonce || AES-256-GCM(key, plain) with the AAD label 0 a 0 b. */
static int seal_labelled(uint8_t **out, size_t *out_len, const uint8_t key[CS_ACCT_KEY_LEN],
	const char *label, const char *a, const char *b, const uint8_t *plain, size_t len)
{
	cs_buf *aad = NULL;
	uint8_t *p;
	int r = label_aad(&aad, label, a, b);
	if (r < 0)
		return r;
	if ((p = malloc(CS_AEAD_NONCE_LEN + len + CS_AEAD_TAG_LEN)) == NULL) {
		cs_buf_free(aad);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	if ((r = cs_random(p, CS_AEAD_NONCE_LEN)) >= 0)
		r = cs_aead_seal(p + CS_AEAD_NONCE_LEN, key, p, cs_buf_ptr(aad), cs_buf_len(aad), plain, len);
	cs_buf_free(aad);
	if (r < 0) {
		free(p);
		return r;
	}
	*out = p;
	*out_len = CS_AEAD_NONCE_LEN + len + CS_AEAD_TAG_LEN;
	return CS_OK;
}

static int open_labelled(uint8_t **out, size_t *out_len, const uint8_t key[CS_ACCT_KEY_LEN],
	const char *label, const char *a, const char *b, const uint8_t *sealed, size_t len,
	const char *what)
{
	cs_buf *aad = NULL;
	uint8_t *p;
	if (len < CS_AEAD_NONCE_LEN + CS_AEAD_TAG_LEN)
		return cs_error_set(CS_ETRUNCATED, "%s: too short", what);
	size_t n = len - CS_AEAD_NONCE_LEN - CS_AEAD_TAG_LEN;
	int r = label_aad(&aad, label, a, b);
	if (r < 0)
		return r;
	if ((p = malloc(n + 1)) == NULL) {
		cs_buf_free(aad);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	r = cs_aead_open(p, key, sealed, cs_buf_ptr(aad), cs_buf_len(aad), sealed + CS_AEAD_NONCE_LEN,
		len - CS_AEAD_NONCE_LEN);
	cs_buf_free(aad);
	if (r < 0) {
		free(p);
		return r == CS_EAUTH ? cs_error_set(CS_EAUTH,
			"%s failed authentication (altered, moved, or sealed with another key)", what) : r;
	}
	p[n] = 0;
	*out = p;
	*out_len = n;
	return CS_OK;
}

int cs__acct_payload_seal(uint8_t **out, size_t *out_len, const uint8_t dk[CS_ACCT_KEY_LEN],
	const char *collection, const char *id, const uint8_t *plain, size_t len)
{
	return seal_labelled(out, out_len, dk, PAYLOAD_LABEL, collection, id, plain, len);
}

int cs__acct_payload_open(uint8_t **out, size_t *out_len, const uint8_t dk[CS_ACCT_KEY_LEN],
	const char *collection, const char *id, const uint8_t *sealed, size_t len)
{
	return open_labelled(out, out_len, dk, PAYLOAD_LABEL, collection, id, sealed, len,
		"record payload");
}

/* ---- login ---- */

/* A plain JSON call of the login exchange (before there is a token). */
static int login_call(json_t **out, struct cs__acct_conn *cn, const char *path, json_t *req)
{
	cs_http_resp resp = {0};
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	int r;
	json_decref(req);
	*out = NULL;
	if (text == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	r = send_any(&resp, cn, path, "application/json", text, strlen(text));
	cs_free_secret_str(text);
	if (r < 0)
		return r;
	if (resp.status != 200) {
		r = refused(&resp, path);
	} else if ((*out = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
		   !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		r = cs_error_set(CS_EMALFORMED, "%s: the hub's answer is not a JSON object", path);
	}
	cs_http_resp_clear(&resp);
	return r;
}

static int hex_member(uint8_t *out, size_t n, json_t *j, const char *name)
{
	const char *hex = json_string_value(json_object_get(j, name));
	if (hex == NULL || strlen(hex) != 2 * n || cs_hex_decode(out, n, hex) < 0)
		return cs_error_set(CS_EMALFORMED, "login: %s is not %zu hex digits", name, 2 * n);
	return CS_OK;
}

static int u32_member(uint32_t *out, json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
		return cs_error_set(CS_EMALFORMED, "login: %s is not a 32-bit number", name);
	*out = (uint32_t)json_integer_value(v);
	return CS_OK;
}

/* Fetch the account's data key, or create it when the account has none. */
static int data_key_setup(struct cs__acct_conn *cn, const uint8_t kek[CS_ACCT_KEY_LEN])
{
	struct cs__acct_session *s = cn->s;
	for (int attempt = 0; attempt < 3; attempt++) {
		json_t *resp = NULL, *recs;
		int status, r;
		r = cs__acct_call(cn, "/v1/account/records/get", json_pack("{s:s, s:[s]}", "collection",
			KEYS_COLLECTION, "ids", DATA_KEY_ID), &resp, &status);
		if (r < 0)
			return r;
		recs = json_object_get(resp, "records");
		json_t *rec = json_array_get(recs, 0);
		const char *b64 = json_string_value(json_object_get(rec, "payload"));
		if (rec != NULL && b64 != NULL) {
			uint8_t *sealed = NULL, *plain = NULL;
			size_t sl = 0, pl = 0;
			r = cs_base64_decode(&sealed, &sl, b64, 1024);
			if (r < 0)
				r = cs_error_set(CS_EMALFORMED, "the account's data key record is not base64");
			else
				r = open_labelled(&plain, &pl, kek, DATA_KEY_LABEL, s->account, "", sealed, sl,
					"the account's data key");
			if (r == 0 && pl != CS_ACCT_KEY_LEN)
				r = cs_error_set(CS_EMALFORMED, "the account's data key has %zu bytes", pl);
			if (r == 0)
				memcpy(s->dk, plain, CS_ACCT_KEY_LEN);
			cs_freezero(plain, pl);
			free(sealed);
			json_decref(resp);
			return r;
		}
		json_decref(resp);

		/* none yet: this device creates it; a device that wins the race
		 * makes the upload fail with 412 and the next round reads its key */
		uint8_t dk[CS_ACCT_KEY_LEN], *sealed = NULL;
		size_t sl = 0;
		char *b64new = NULL;
		if ((r = cs_random(dk, sizeof(dk))) < 0 ||
		    (r = seal_labelled(&sealed, &sl, kek, DATA_KEY_LABEL, s->account, "", dk, sizeof(dk))) < 0 ||
		    (r = cs_base64_encode(&b64new, sealed, sl)) < 0) {
			cs_wipe(dk, sizeof(dk));
			free(sealed);
			return r;
		}
		free(sealed);
		r = cs__acct_call(cn, "/v1/account/records/upload",
			json_pack("{s:s, s:[{s:s, s:i, s:s}]}", "collection", KEYS_COLLECTION, "records", "id",
				DATA_KEY_ID, "if_version", 0, "payload", b64new), &resp, &status);
		free(b64new);
		json_decref(resp);
		if (r < 0) {
			cs_wipe(dk, sizeof(dk));
			return r;
		}
		if (status == 200) {
			memcpy(s->dk, dk, sizeof(dk));
			cs_wipe(dk, sizeof(dk));
			cs_log(CS_LOG_INFO, "account.data_key_created", "account=%s", s->account);
			return CS_OK;
		}
		cs_wipe(dk, sizeof(dk));
	}
	return cs_error_set(CS_ECONFLICT, "the account's data key changed during login; try again");
}

int cs_acct_login(const struct cs_acct_login_options *o)
{
	struct cs__acct_session s;
	struct cs__acct_conn cn;
	cs_key *key = NULL;
	json_t *start = NULL, *fin = NULL;
	char *auth = NULL, *keypath = NULL;
	uint8_t cnonce[CS_ACCT_NONCE_LEN], snonce[CS_ACCT_NONCE_LEN], sp[CS_ACCT_KEY_LEN];
	uint8_t proof[CS_ACCT_KEY_LEN], ck[CS_ACCT_KEY_LEN], stored[CS_ACCT_KEY_LEN];
	uint8_t server_key[CS_ACCT_KEY_LEN], sig[CS_ACCT_KEY_LEN], want[CS_ACCT_KEY_LEN];
	uint8_t kek[CS_ACCT_KEY_LEN];
	char cn_hex[2 * CS_ACCT_NONCE_LEN + 1], proof_hex[2 * CS_ACCT_KEY_LEN + 1];
	cs_acct_kdf kdf;
	int r;

	memset(&s, 0, sizeof(s));
	memset(&cn, 0, sizeof(cn));
	if (!cs_acct_name_valid(o->account))
		return cs_error_set(CS_EINVAL, "account names are 1 to %d of a-z A-Z 0-9 . _ @ -",
			CS_ACCT_NAME_MAX);
	if (o->nhubs == 0 || o->nhubs > CS__ACCT_HUBS_MAX)
		return cs_error_set(CS_EINVAL, "give 1 to %d hub URLs", CS__ACCT_HUBS_MAX);
	if ((keypath = cs_path_join(o->data_dir, "device.key")) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (!cs_fs_exists(keypath)) {
		r = cs_error_set(CS_ENOTFOUND, "%s: no device here; run 'certsync device init'", o->data_dir);
		goto done;
	}
	if ((r = cs_key_load(&key, keypath, NULL)) < 0 || (r = cs_key_device_id(s.device, key)) < 0)
		goto done;
	snprintf(s.account, sizeof(s.account), "%s", o->account);
	for (size_t i = 0; i < o->nhubs; i++) {
		if ((s.hubs[i] = strdup(o->hubs[i])) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		s.nhubs++;
	}
	/* the session outlives this command: keep the CA's absolute path */
	if ((s.ca_path = realpath(o->ca_path, NULL)) == NULL) {
		r = cs_error_set(CS_ENOTFOUND, "CA certificate %s not found", o->ca_path);
		goto done;
	}
	if ((r = cs__acct_conn_open(&cn, &s, NULL)) < 0)
		goto done;

	if ((r = cs_random(cnonce, sizeof(cnonce))) < 0)
		goto done;
	cs_hex_encode(cn_hex, cnonce, sizeof(cnonce));
	if ((r = login_call(&start, &cn, "/v1/account/login/start",
		     json_pack("{s:s, s:s, s:s}", "account", s.account, "device", s.device, "cnonce",
			     cn_hex))) < 0)
		goto done;
	const char *ticket = json_string_value(json_object_get(start, "ticket"));
	if ((r = hex_member(kdf.salt, CS_ACCT_SALT_LEN, start, "salt")) < 0 ||
	    (r = hex_member(snonce, CS_ACCT_NONCE_LEN, start, "snonce")) < 0 ||
	    (r = u32_member(&kdf.t_cost, start, "t")) < 0 || (r = u32_member(&kdf.m_kib, start, "m")) < 0)
		goto done;
	if (ticket == NULL) {
		r = cs_error_set(CS_EMALFORMED, "login: no ticket in the hub's answer");
		goto done;
	}
	if ((r = cs_acct_salted_password(sp, o->password, &kdf)) < 0 ||
	    (r = cs_acct_auth_message(&auth, s.account, s.device, cnonce, snonce, &kdf)) < 0)
		goto done;
	cs_acct_client_proof(proof, ck, sp, auth);
	cs_hex_encode(proof_hex, proof, sizeof(proof));
	if ((r = login_call(&fin, &cn, "/v1/account/login/finish",
		     json_pack("{s:s, s:s}", "ticket", ticket, "proof", proof_hex))) < 0)
		goto done;

	/* the hub must prove it holds the account's verifier */
	cs_acct_verifier(stored, server_key, sp);
	cs_acct_server_signature(want, server_key, auth);
	const char *tok = json_string_value(json_object_get(fin, "token"));
	json_t *exp = json_object_get(fin, "expires");
	if ((r = hex_member(sig, CS_ACCT_KEY_LEN, fin, "server_signature")) < 0 ||
	    (r = u32_member(&s.kid, fin, "kid")) < 0)
		goto done;
	if (!cs_memeq(sig, want, sizeof(want))) {
		r = cs_error_set(CS_EAUTH, "the hub's login signature is wrong: it does not hold this "
					   "account's verifier (wrong hub?)");
		goto done;
	}
	if (tok == NULL || strlen(tok) > CS_ACCT_TOKEN_MAX || !json_is_integer(exp)) {
		r = cs_error_set(CS_EMALFORMED, "login: no token or expiry in the hub's answer");
		goto done;
	}
	if ((s.token = strdup(tok)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	s.expires = json_integer_value(exp);
	cs_acct_message_key(s.mk, ck, auth);
	cs_acct_wrapping_key(kek, sp);
	if ((r = data_key_setup(&cn, kek)) < 0 || (r = cs__acct_session_save(&s, o->data_dir)) < 0)
		goto done;
	cs_log(CS_LOG_INFO, "account.login", "account=%s device=%s expires=%lld", s.account, s.device,
		(long long)s.expires);
	r = CS_OK;
done:
	cs_wipe(sp, sizeof(sp));
	cs_wipe(ck, sizeof(ck));
	cs_wipe(kek, sizeof(kek));
	cs_wipe(proof_hex, sizeof(proof_hex));
	json_decref(start);
	json_decref(fin);
	free(auth);
	free(keypath);
	cs_key_free(key);
	cs__acct_conn_close(&cn);
	cs__acct_session_clear(&s);
	return r;
}

int cs_acct_status_get(cs_acct_status *st, const char *data_dir, int ask_hub)
{
	struct cs__acct_session s;
	struct cs__acct_conn cn;
	int r = cs__acct_session_load(&s, data_dir);
	memset(st, 0, sizeof(*st));
	if (r < 0)
		return r;
	snprintf(st->account, sizeof(st->account), "%s", s.account);
	snprintf(st->device, sizeof(st->device), "%s", s.device);
	snprintf(st->hub, sizeof(st->hub), "%s", s.hubs[0]);
	st->nhubs = (unsigned)s.nhubs;
	st->expires = s.expires;
	if (ask_hub && (r = cs__acct_conn_open(&cn, &s, NULL)) == 0) {
		json_t *resp = NULL;
		int status;
		if (cs__acct_call(&cn, "/v1/account/whoami", json_object(), &resp, &status) == 0)
			st->hub_ok = 1;
		else
			snprintf(st->hub_error, sizeof(st->hub_error), "%s", cs_error_last());
		json_decref(resp);
		cs__acct_conn_close(&cn);
	}
	cs__acct_session_clear(&s);
	return r;
}
