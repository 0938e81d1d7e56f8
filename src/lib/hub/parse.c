/*
 * The request bodies of the hub's API as pure functions (hub_parse.h): every
 * handler that takes a JSON body calls one of these first, so what a body
 * may contain is decided here, in one place that the fuzz target covers,
 * and nothing reaches the database or the CA before it passed.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/enroll_token.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "hub/hub_parse.h"

/* Wipe the text of a string member before the JSON holding it is freed. */
static void wipe_member(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	if (json_is_string(v))
		cs_wipe((char *)json_string_value(v), json_string_length(v));
}

int cs__hub_norm_fingerprint(char out[65], const char *in)
{
	size_t n = 0;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == ':' || c == ' ')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == 64)
			return cs_error_set(CS_EINVAL, "fingerprint must be 64 hex digits");
		out[n++] = c;
	}
	out[n] = '\0';
	if (n != 64)
		return cs_error_set(CS_EINVAL, "fingerprint must be 64 hex digits");
	return CS_OK;
}

size_t cs__utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* ---- /v1/enroll ---- */

int cs__parse_enroll(struct cs__enroll_body *out, const char *text, size_t len)
{
	struct cs__enroll_body b = {0};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_ENROLL_MAX)) < 0)
		return r;
	/* the token's own parser runs when it is used, against the hub's records */
	if ((r = cs__json_str(&b.token, b.root, "token", 1, CS_ENROLL_TOKEN_TEXT_MAX)) < 0 ||
	    (r = cs__json_str(&b.name, b.root, "name", 1, CS__HUB_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&b.csr, b.root, "csr", 1, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__hub_check_name(b.name)) < 0) {
		cs__enroll_body_clear(&b);
		return r;
	}
	*out = b;
	return CS_OK;
}

void cs__enroll_body_clear(struct cs__enroll_body *b)
{
	if (b->root != NULL)
		wipe_member(b->root, "token");
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

/* ---- /v1/admin/devices ---- */

int cs__parse_device_add(struct cs__device_add_body *out, const char *text, size_t len)
{
	struct cs__device_add_body b = {0};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&b.name, b.root, "name", 1, CS__HUB_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&b.address, b.root, "address", 0, CS__HUB_TEXT_MAX)) < 0 ||
	    (r = cs__json_str(&b.certificate, b.root, "certificate", 0, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__json_str(&b.csr, b.root, "csr", 0, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__hub_check_name(b.name)) < 0)
		goto fail;
	if (b.address != NULL && b.address[0] == '\0')
		b.address = NULL;
	if (b.address != NULL && (r = cs__hub_check_address(b.address)) < 0)
		goto fail;
	if ((b.certificate == NULL) == (b.csr == NULL)) {
		r = cs_error_set(CS_EINVAL, "give exactly one of \"certificate\" and \"csr\"");
		goto fail;
	}
	*out = b;
	return CS_OK;
fail:
	cs__device_add_body_clear(&b);
	return r;
}

void cs__device_add_body_clear(struct cs__device_add_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int cs__parse_discover(struct cs__discover_body *out, const char *text, size_t len)
{
	struct cs__discover_body b = {0};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&b.address, b.root, "address", 1, CS__HUB_TEXT_MAX)) < 0 ||
	    (r = cs__hub_check_address(b.address)) < 0) {
		cs__discover_body_clear(&b);
		return r;
	}
	*out = b;
	return CS_OK;
}

void cs__discover_body_clear(struct cs__discover_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int cs__parse_device_info(struct cs__device_info_body *out, const char *text, size_t len)
{
	struct cs__device_info_body b = {0};
	const char *id_text = NULL, *sig_b64 = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_INFO_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&b.name, b.root, "name", 1, CS__HUB_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&id_text, b.root, "device_id", 1, 128)) < 0 ||
	    (r = cs__json_str(&b.csr, b.root, "csr", 1, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__json_str(&sig_b64, b.root, "signature", 1, CS__HUB_SIG_B64_MAX)) < 0 ||
	    (r = cs__hub_check_name(b.name)) < 0 ||
	    (r = cs_device_id_parse(b.device_id, id_text)) < 0 ||
	    (r = cs_base64_decode(&b.sig, &b.siglen, sig_b64, CS__HUB_SIG_B64_MAX)) < 0) {
		cs__device_info_body_clear(&b);
		return r;
	}
	*out = b;
	return CS_OK;
}

void cs__device_info_body_clear(struct cs__device_info_body *b)
{
	free(b->sig);
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int cs__parse_confirm(struct cs__confirm_body *out, const char *text, size_t len)
{
	struct cs__confirm_body b;
	json_t *root = NULL;
	const char *given = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	/* 200: 64 digits with a separator between every two, and some slack */
	if ((r = cs__json_str(&given, root, "fingerprint", 1, 200)) == 0 &&
	    (r = cs__hub_norm_fingerprint(b.fingerprint, given)) == 0)
		*out = b;
	json_decref(root);
	return r;
}

/* ---- /v1/admin/tokens ---- */

int cs__parse_token(struct cs__token_body *out, const char *text, size_t len)
{
	struct cs__token_body b = {.uses = 1, .ttl = 86400};
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_int(&b.uses, root, "uses", 0, 1, CS__HUB_TOKEN_USES_MAX)) == 0 &&
	    (r = cs__json_int(&b.ttl, root, "ttl", 0, 1, CS__HUB_TOKEN_TTL_MAX)) == 0)
		*out = b;
	json_decref(root);
	return r;
}

/* ---- /v1/admin/jobs ---- */

int cs__parse_job(struct cs__job_body *out, const char *text, size_t len)
{
	struct cs__job_body b = {0};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	/* 128: a device ID may come with dashes and in any case */
	if ((r = cs__json_str(&b.folder, b.root, "folder", 1, CS__HUB_FOLDER_MAX)) < 0 ||
	    (r = cs__json_str(&b.source, b.root, "source", 1, 128)) < 0 ||
	    (r = cs__json_bool(&b.all, b.root, "all", 0)) < 0 ||
	    (r = cs__hub_check_folder(b.folder)) < 0)
		goto fail;
	json_t *arr = json_object_get(b.root, "destinations");
	if (arr != NULL && !json_is_null(arr)) {
		if (!json_is_array(arr)) {
			r = cs_error_set(CS_EMALFORMED, "member \"destinations\" must be an array");
			goto fail;
		}
		size_t n = json_array_size(arr);
		if (n > CS__HUB_DESTS_MAX) {
			r = cs_error_set(CS_EINVAL, "at most %d destinations", CS__HUB_DESTS_MAX);
			goto fail;
		}
		if (n > 0 && (b.dests = calloc(n, sizeof(*b.dests))) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);
			const char *s = json_string_value(v);
			if (s == NULL || json_string_length(v) > 128 || strlen(s) != json_string_length(v)) {
				r = cs_error_set(CS_EMALFORMED, "destinations[%zu] must be a device ID", i);
				goto fail;
			}
			b.dests[i] = s;
		}
		b.n = n;
		if (b.all && n > 0) {
			r = cs_error_set(CS_EINVAL, "give \"destinations\" or \"all\", not both");
			goto fail;
		}
	}
	if (!b.all && b.n == 0) {
		r = cs_error_set(CS_EINVAL, "no destinations (give \"destinations\" or \"all\": true)");
		goto fail;
	}
	*out = b;
	return CS_OK;
fail:
	cs__job_body_clear(&b);
	return r;
}

void cs__job_body_clear(struct cs__job_body *b)
{
	free(b->dests);
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

/* ---- /v1/agent/jobs/{job}/... ---- */

int cs__parse_produced(struct cs__produced *out, const char *text, size_t len)
{
	struct cs__produced p = {0};
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_int(&p.to_seq, root, "to_seq", 1, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.records, root, "records", 0, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.packs, root, "packs", 0, 0, CS__HUB_PACKS_MAX)) == 0 &&
	    (r = cs__json_int(&p.segments, root, "segments", 0, 0, CS__HUB_PACKS_MAX)) == 0 &&
	    (r = cs__json_int(&p.bytes, root, "bytes", 0, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.files, root, "files", 0, 0, CS__HUB_COUNT_MAX)) == 0)
		*out = p;
	json_decref(root);
	return r;
}

int cs__parse_failed(struct cs__failed_body *out, const char *text, size_t len)
{
	struct cs__failed_body b = {.reason = ""};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&b.reason, b.root, "reason", 0, CS__HUB_REASON_MAX)) < 0) {
		cs__failed_body_clear(&b);
		return r;
	}
	*out = b;
	return CS_OK;
}

void cs__failed_body_clear(struct cs__failed_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

int cs__parse_progress(struct cs__progress *out, const char *text, size_t len)
{
	struct cs__progress p = {0};
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_int(&p.files_done, root, "files_done", 0, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.files_total, root, "files_total", 0, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.bytes_done, root, "bytes_done", 0, 0, CS__HUB_COUNT_MAX)) == 0 &&
	    (r = cs__json_int(&p.bytes_total, root, "bytes_total", 0, 0, CS__HUB_COUNT_MAX)) == 0)
		*out = p;
	json_decref(root);
	return r;
}

int cs__parse_ack(struct cs__ack_body *out, const char *text, size_t len)
{
	struct cs__ack_body b = {.reason = ""};
	const char *status = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_JSON_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&status, b.root, "status", 1, 16)) < 0)
		goto fail;
	b.applied = strcmp(status, "applied") == 0;
	if (!b.applied && strcmp(status, "failed") != 0) {
		r = cs_error_set(CS_EMALFORMED, "status must be \"applied\" or \"failed\"");
		goto fail;
	}
	if ((r = cs__json_int(&b.to_seq, b.root, "to_seq", b.applied, 0, CS__HUB_COUNT_MAX)) < 0 ||
	    (r = cs__json_int(&b.files, b.root, "files", 0, 0, CS__HUB_COUNT_MAX)) < 0 ||
	    (r = cs__json_int(&b.bytes, b.root, "bytes", 0, 0, CS__HUB_COUNT_MAX)) < 0 ||
	    (r = cs__json_int(&b.conflicts, b.root, "conflicts", 0, 0, CS__HUB_COUNT_MAX)) < 0 ||
	    (r = cs__json_str(&b.reason, b.root, "reason", 0, CS__HUB_REASON_MAX)) < 0)
		goto fail;
	*out = b;
	return CS_OK;
fail:
	cs__ack_body_clear(&b);
	return r;
}

void cs__ack_body_clear(struct cs__ack_body *b)
{
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}

/* ---- /v1/console/login ---- */

int cs__parse_login(struct cs__login_body *out, const char *text, size_t len)
{
	struct cs__login_body b = {0};
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&b.root, text, len, CS__HUB_LOGIN_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&b.user, b.root, "user", 1, CS__HUB_USER_MAX)) < 0 ||
	    (r = cs__json_str(&b.password, b.root, "password", 1, CS__HUB_PASSWORD_MAX)) < 0)
		goto fail;
	if (b.user[0] == '\0' || b.password[0] == '\0') {
		r = cs_error_set(CS_EINVAL, "user and password must not be empty");
		goto fail;
	}
	*out = b;
	return CS_OK;
fail:
	cs__login_body_clear(&b);
	return r;
}

void cs__login_body_clear(struct cs__login_body *b)
{
	if (b->root != NULL)
		wipe_member(b->root, "password");
	json_decref(b->root);
	memset(b, 0, sizeof(*b));
}
