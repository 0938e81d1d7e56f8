/*
 * The request bodies of account sync (PROTOCOL.md §11) as pure functions,
 * under the contract of hub_parse.h: JSON text in, a validated struct or
 * CS_ELIMIT / CS_EMALFORMED / CS_EINVAL out, no hub, no database. The login
 * bodies arrive from anyone; the record bodies only after their frame was
 * authenticated, but a token holder is no more trusted with sizes and
 * counts than anyone else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "hub/hub_parse.h"

/* base64 text of the largest payload: 4 characters per 3 bytes */
#define PAYLOAD_B64_MAX ((CS__HUB_ACCT_PAYLOAD_MAX + 2) / 3 * 4)

int cs__acct_name_ok(const char *s)
{
	return cs_text_is_name(s, CS__HUB_ACCT_NAME_MAX, "._:-");
}

/* Exactly n bytes from 2n hex digits in member key (required). */
static int get_hex(uint8_t *out, size_t n, json_t *o, const char *key)
{
	const char *s = NULL;
	int r = cs__json_str(&s, o, key, 1, 2 * n);
	if (r < 0)
		return r;
	if (strlen(s) != 2 * n || cs_hex_decode(out, n, s) < 0)
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be %zu hex digits", key, 2 * n);
	return CS_OK;
}

/* The required member "collection", checked, into out. */
static int get_collection(char out[CS__HUB_ACCT_NAME_MAX + 1], json_t *o)
{
	const char *s = NULL;
	int r = cs__json_str(&s, o, "collection", 1, CS__HUB_ACCT_NAME_MAX);
	if (r < 0)
		return r;
	if (!cs__acct_name_ok(s))
		return cs_error_set(CS_EINVAL,
			"a collection name is 1..%d of A-Z a-z 0-9 . _ : -", CS__HUB_ACCT_NAME_MAX);
	memcpy(out, s, strlen(s) + 1);
	return CS_OK;
}

/* A JSON array member of at most CS__HUB_ACCT_BATCH_MAX entries (required). */
static int get_array(json_t **out, json_t *o, const char *key)
{
	json_t *a = json_object_get(o, key);
	if (a == NULL || json_is_null(a))
		return cs_error_set(CS_EINVAL, "member \"%s\" is required", key);
	if (!json_is_array(a))
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be an array", key);
	if (json_array_size(a) > CS__HUB_ACCT_BATCH_MAX)
		return cs_error_set(CS_EINVAL, "at most %d entries in \"%s\"", CS__HUB_ACCT_BATCH_MAX,
			key);
	*out = a;
	return CS_OK;
}

/* A record id from a JSON value; label names the value in messages. */
static int id_of(const char **out, json_t *v, const char *label)
{
	if (v == NULL || json_is_null(v))
		return cs_error_set(CS_EINVAL, "%s is required", label);
	const char *s = json_string_value(v);
	if (s == NULL || json_string_length(v) > CS__HUB_ACCT_NAME_MAX ||
	    strlen(s) != json_string_length(v))
		return cs_error_set(CS_EMALFORMED, "%s must be a string of at most %d bytes", label,
			CS__HUB_ACCT_NAME_MAX);
	if (!cs__acct_name_ok(s))
		return cs_error_set(CS_EINVAL, "%s: a record id is 1..%d of A-Z a-z 0-9 . _ : -", label,
			CS__HUB_ACCT_NAME_MAX);
	*out = s;
	return CS_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* CS_EINVAL when an id appears twice in ids[0..n) (which stay in order). */
static int check_unique(const char *const *ids, size_t n)
{
	if (n < 2)
		return CS_OK;
	const char **sorted = malloc(n * sizeof(*sorted));
	int r = CS_OK;
	if (sorted == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(sorted, ids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			r = cs_error_set(CS_EINVAL, "record id \"%s\" appears twice", sorted[i]);
			break;
		}
	}
	free(sorted);
	return r;
}

/* ---- login ---- */

int cs__parse_acct_start(struct cs__acct_start_body *out, const char *text, size_t len)
{
	struct cs__acct_start_body b;
	json_t *root = NULL;
	const char *account = NULL, *device = NULL;
	char canon[CS_DEVICE_ID_SIZE];
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_ACCT_LOGIN_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&account, root, "account", 1, CS_ACCT_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&device, root, "device", 1, CS_DEVICE_ID_LEN)) < 0 ||
	    (r = get_hex(b.cnonce, sizeof(b.cnonce), root, "cnonce")) < 0)
		goto done;
	if (!cs_acct_name_valid(account)) {
		r = cs_error_set(CS_EINVAL, "an account name is 1..%d of a-z A-Z 0-9 . _ @ -",
			CS_ACCT_NAME_MAX);
		goto done;
	}
	if (cs_device_id_parse(canon, device) < 0 || strcmp(canon, device) != 0) {
		r = cs_error_set(CS_EINVAL, "member \"device\" must be a device ID in its printed form");
		goto done;
	}
	memcpy(b.account, account, strlen(account) + 1);
	memcpy(b.device, canon, sizeof(canon));
	*out = b;
	r = CS_OK;
done:
	json_decref(root);
	return r;
}

int cs__parse_acct_finish(struct cs__acct_finish_body *out, const char *text, size_t len)
{
	struct cs__acct_finish_body b;
	json_t *root = NULL;
	const char *ticket = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_ACCT_LOGIN_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&ticket, root, "ticket", 1, CS_ACCT_TOKEN_MAX)) < 0 ||
	    (r = get_hex(b.proof, sizeof(b.proof), root, "proof")) < 0)
		goto done;
	if (ticket[0] == '\0') {
		r = cs_error_set(CS_EINVAL, "member \"ticket\" must not be empty");
		goto done;
	}
	memcpy(b.ticket, ticket, strlen(ticket) + 1);
	*out = b;
	r = CS_OK;
done:
	/* the proof is no secret once sent, but it is worth nothing in memory */
	cs_wipe(&b, sizeof(b));
	json_decref(root);
	return r;
}

/* ---- records ---- */

int cs__parse_acct_changes(struct cs__acct_changes_body *out, const char *text, size_t len)
{
	struct cs__acct_changes_body b;
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	b.limit = CS__HUB_ACCT_BATCH_MAX;
	if ((r = cs__parse_object(&root, text, len, CS__HUB_ACCT_JSON_MAX)) < 0)
		return r;
	if ((r = get_collection(b.collection, root)) == 0 &&
	    (r = cs__json_int(&b.since, root, "since", 0, 0, CS__HUB_ACCT_VERSION_MAX)) == 0 &&
	    (r = cs__json_int(&b.limit, root, "limit", 0, 1, CS__HUB_ACCT_BATCH_MAX)) == 0 &&
	    (r = cs__json_bool(&b.attachments, root, "attachments", 0)) == 0)
		*out = b;
	json_decref(root);
	return r;
}

int cs__parse_acct_get(struct cs__acct_get_body *out, const char *text, size_t len)
{
	struct cs__acct_get_body b;
	json_t *arr = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_ACCT_JSON_MAX)) < 0)
		return r;
	if ((r = get_collection(b.collection, b.root)) < 0 || (r = get_array(&arr, b.root, "ids")) < 0 ||
	    (r = cs__json_bool(&b.attachments, b.root, "attachments", 0)) < 0)
		goto fail;
	size_t n = json_array_size(arr);
	if (n > 0 && (b.ids = calloc(n, sizeof(*b.ids))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		char label[32];
		snprintf(label, sizeof(label), "ids[%zu]", i);
		if ((r = id_of(&b.ids[i], json_array_get(arr, i), label)) < 0)
			goto fail;
	}
	b.n = n;
	if ((r = check_unique(b.ids, n)) < 0)
		goto fail;
	*out = b;
	return CS_OK;
fail:
	cs__acct_get_body_clear(&b);
	return r;
}

void cs__acct_get_body_clear(struct cs__acct_get_body *b)
{
	free(b->ids);
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

/* One entry of "records" into *rec. */
/* The JSON part of a sealed body and its attachment area (PROTOCOL.md
 * §11.4): the text up to the first NUL byte, and the bytes after it. */
static void split_body(size_t *json_len, const uint8_t **att, size_t *att_len, const char *text,
	size_t len)
{
	size_t jl = strnlen(text, len);
	*json_len = jl;
	*att = jl < len ? (const uint8_t *)text + jl + 1 : NULL;
	*att_len = jl < len ? len - jl - 1 : 0;
}

static int upload_rec(struct cs__acct_upload_rec *rec, json_t *o, size_t i, const uint8_t *att,
	size_t att_len)
{
	const char *b64 = NULL;
	char label[40];
	int64_t at = -1, plen = -1;
	int r;

	if (!json_is_object(o))
		return cs_error_set(CS_EMALFORMED, "records[%zu] must be an object", i);
	rec->if_version = -1;
	snprintf(label, sizeof(label), "records[%zu].id", i);
	if ((r = id_of(&rec->id, json_object_get(o, "id"), label)) < 0)
		return r;
	if ((r = cs__json_int(&rec->if_version, o, "if_version", 0, 0,
		     CS__HUB_ACCT_VERSION_MAX)) < 0 ||
	    (r = cs__json_bool(&rec->deleted, o, "deleted", 0)) < 0 ||
	    (r = cs__json_str(&b64, o, "payload", 0, PAYLOAD_B64_MAX)) < 0 ||
	    (r = cs__json_int(&at, o, "payload_at", 0, 0, INT64_MAX)) < 0 ||
	    (r = cs__json_int(&plen, o, "payload_len", 0, 0, CS__HUB_ACCT_PAYLOAD_MAX)) < 0)
		return cs_error_wrap("records[%zu]", i);
	int attached = at >= 0 || plen >= 0;
	if (attached && (at < 0 || plen < 0))
		return cs_error_set(CS_EINVAL, "records[%zu]: payload_at and payload_len go together", i);
	if (attached && b64 != NULL)
		return cs_error_set(CS_EINVAL, "records[%zu]: payload and payload_at exclude each other", i);
	if (rec->deleted && (b64 != NULL || attached))
		return cs_error_set(CS_EINVAL, "records[%zu]: a deletion carries no payload", i);
	if (!rec->deleted && b64 == NULL && !attached)
		return cs_error_set(CS_EINVAL, "records[%zu]: member \"payload\" is required", i);
	if (attached) {
		if ((uint64_t)at > att_len || (uint64_t)plen > att_len - (uint64_t)at)
			return cs_error_set(CS_EMALFORMED, "records[%zu]: the payload lies outside the attachments", i);
		if ((rec->payload = malloc(plen ? (size_t)plen : 1)) == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		memcpy(rec->payload, att + at, (size_t)plen);
		rec->len = (size_t)plen;
	}
	if (b64 != NULL) {
		if ((r = cs_base64_decode(&rec->payload, &rec->len, b64, PAYLOAD_B64_MAX)) < 0)
			return r == CS_ENOMEM ? r : cs_error_set(CS_EMALFORMED,
				"records[%zu]: payload is not base64", i);
		if (rec->len > CS__HUB_ACCT_PAYLOAD_MAX)
			return cs_error_set(CS_EINVAL, "records[%zu]: a payload is at most %u bytes", i,
				CS__HUB_ACCT_PAYLOAD_MAX);
	}
	return CS_OK;
}

int cs__parse_acct_upload(struct cs__acct_upload_body *out, const char *text, size_t len)
{
	struct cs__acct_upload_body b;
	const char **ids = NULL;
	json_t *arr = NULL;
	int r;

	const uint8_t *att;
	size_t jl, att_len;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	split_body(&jl, &att, &att_len, text, len);
	if ((r = cs__parse_object(&b.root, text, jl, CS__HUB_ACCT_UPLOAD_MAX)) < 0)
		return r;
	if ((r = get_collection(b.collection, b.root)) < 0 ||
	    (r = get_array(&arr, b.root, "records")) < 0)
		goto fail;
	size_t n = json_array_size(arr);
	if (n > 0 && ((b.recs = calloc(n, sizeof(*b.recs))) == NULL ||
			     (ids = calloc(n, sizeof(*ids))) == NULL)) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		/* counted first: _clear frees the payload of a record that failed
		 * half-way through */
		b.n = i + 1;
		if ((r = upload_rec(&b.recs[i], json_array_get(arr, i), i, att, att_len)) < 0)
			goto fail;
		ids[i] = b.recs[i].id;
		b.bytes += b.recs[i].len;
	}
	if ((r = check_unique(ids, n)) < 0)
		goto fail;
	free(ids);
	*out = b;
	return CS_OK;
fail:
	free(ids);
	cs__acct_upload_body_clear(&b);
	return r;
}

void cs__acct_upload_body_clear(struct cs__acct_upload_body *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->recs[i].payload);
	free(b->recs);
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int cs__parse_acct_whoami(const char *text, size_t len)
{
	json_t *root = NULL;
	int r = cs__parse_object(&root, text, len, CS__HUB_ACCT_LOGIN_MAX);
	json_decref(root);
	return r;
}

/* ---- pairings (backup terminals, PROTOCOL.md §12.1) ---- */

int cs__parse_pairing_create(struct cs__pairing_create_body *out, const char *text, size_t len)
{
	struct cs__pairing_create_body b;
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	b.ttl = CS__HUB_PAIRING_TTL_DEFAULT;
	if ((r = cs__parse_object(&root, text, len, CS__HUB_ACCT_LOGIN_MAX)) < 0)
		return r;
	if ((r = get_hex(b.fingerprint, sizeof(b.fingerprint), root, "fingerprint")) >= 0 &&
	    (r = get_hex(b.secret_hash, sizeof(b.secret_hash), root, "secret_hash")) >= 0 &&
	    (r = cs__json_int(&b.ttl, root, "ttl", 0, 1, CS__HUB_PAIRING_TTL_MAX)) >= 0) {
		*out = b;
		r = CS_OK;
	}
	json_decref(root);
	return r;
}

int cs__parse_pairing_claim(struct cs__pairing_claim_body *out, const char *text, size_t len)
{
	struct cs__pairing_claim_body b;
	json_t *root = NULL;
	const char *id = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&b, 0, sizeof(b));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_ACCT_LOGIN_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&id, root, "pairing", 1, CS__HUB_PAIRING_ID_LEN)) < 0 ||
	    (r = get_hex(b.secret, sizeof(b.secret), root, "secret")) < 0 ||
	    (r = get_hex(b.nonce, sizeof(b.nonce), root, "nonce")) < 0)
		goto done;
	if (strlen(id) != CS__HUB_PAIRING_ID_LEN || !cs_text_is_name(id, CS__HUB_PAIRING_ID_LEN, "")) {
		r = cs_error_set(CS_EINVAL, "a pairing id is %d letters and digits", CS__HUB_PAIRING_ID_LEN);
		goto done;
	}
	memcpy(b.pairing, id, CS__HUB_PAIRING_ID_LEN + 1);
	*out = b;
	r = CS_OK;
done:
	cs_wipe(&b, sizeof(b));
	json_decref(root);
	return r;
}
