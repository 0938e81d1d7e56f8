/*
 * account.json: the device's login to an account (account_sync.h). It
 * holds the token, the message key and the account's data key, so it is
 * written atomically with mode 0600 and wiped from memory after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/secure.h>
#include "account/local.h"

#define SESSION_FILE "account.json"
#define SESSION_MAX (64u << 10)

void cs__acct_session_clear(struct cs__acct_session *s)
{
	for (size_t i = 0; i < s->nhubs; i++)
		free(s->hubs[i]);
	free(s->ca_path);
	cs_free_secret_str(s->token);
	cs_wipe(s, sizeof(*s));
}

static int get_key(uint8_t out[CS_ACCT_KEY_LEN], json_t *j, const char *name)
{
	const char *hex = json_string_value(json_object_get(j, name));
	if (hex == NULL || strlen(hex) != 2 * CS_ACCT_KEY_LEN || cs_hex_decode(out, CS_ACCT_KEY_LEN, hex) < 0)
		return cs_error_set(CS_EMALFORMED, "account.json: %s is not 64 hex digits", name);
	return CS_OK;
}

static int copy_str(char *out, size_t n, json_t *j, const char *name)
{
	const char *v = json_string_value(json_object_get(j, name));
	if (v == NULL || strlen(v) >= n)
		return cs_error_set(CS_EMALFORMED, "account.json: %s missing or too long", name);
	snprintf(out, n, "%s", v);
	return CS_OK;
}

int cs__acct_session_load(struct cs__acct_session *s, const char *data_dir)
{
	char *path = cs_path_join(data_dir, SESSION_FILE);
	uint8_t *data = NULL;
	size_t len;
	json_error_t err;
	json_t *j = NULL, *hubs;
	int r;

	memset(s, 0, sizeof(*s));
	if (path == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (!cs_fs_exists(path)) {
		r = cs_error_set(CS_ENOTFOUND, "not logged in to an account (run 'certsync account login')");
		goto done;
	}
	if ((r = cs_fs_read_all(&data, &len, path, SESSION_MAX)) < 0)
		goto done;
	if ((j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err)) == NULL ||
	    !json_is_object(j)) {
		r = cs_error_set(CS_EMALFORMED, "%s: %s", path, j ? "not a JSON object" : err.text);
		goto done;
	}
	hubs = json_object_get(j, "hubs");
	if (!json_is_array(hubs) || json_array_size(hubs) == 0 || json_array_size(hubs) > CS__ACCT_HUBS_MAX) {
		r = cs_error_set(CS_EMALFORMED, "%s: hubs must be a list of 1 to %d URLs", path,
			CS__ACCT_HUBS_MAX);
		goto done;
	}
	for (size_t i = 0; i < json_array_size(hubs); i++) {
		const char *u = json_string_value(json_array_get(hubs, i));
		if (u == NULL || (s->hubs[s->nhubs] = strdup(u)) == NULL) {
			r = cs_error_set(u ? CS_ENOMEM : CS_EMALFORMED, "%s: bad hub URL", path);
			goto done;
		}
		s->nhubs++;
	}
	const char *ca = json_string_value(json_object_get(j, "ca"));
	const char *tok = json_string_value(json_object_get(j, "token"));
	json_t *exp = json_object_get(j, "expires"), *kid = json_object_get(j, "kid");
	if (ca == NULL || tok == NULL || !json_is_integer(exp) || !json_is_integer(kid)) {
		r = cs_error_set(CS_EMALFORMED, "%s: ca, token, kid or expires missing", path);
		goto done;
	}
	if ((s->ca_path = strdup(ca)) == NULL || (s->token = strdup(tok)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (json_integer_value(exp) < 0 || json_integer_value(kid) < 0 ||
	    json_integer_value(kid) > (json_int_t)UINT32_MAX) {
		r = cs_error_set(CS_EMALFORMED, "%s: kid or expires out of range", path);
		goto done;
	}
	s->expires = json_integer_value(exp);
	s->kid = (uint32_t)json_integer_value(kid);
	if ((r = copy_str(s->account, sizeof(s->account), j, "account")) < 0 ||
	    (r = copy_str(s->device, sizeof(s->device), j, "device")) < 0 ||
	    (r = get_key(s->mk, j, "message_key")) < 0 || (r = get_key(s->dk, j, "data_key")) < 0)
		goto done;
	r = CS_OK;
done:
	if (r < 0)
		cs__acct_session_clear(s);
	json_decref(j);
	cs_freezero(data, data ? len : 0);
	free(path);
	return r;
}

int cs__acct_session_save(const struct cs__acct_session *s, const char *data_dir)
{
	char mk[2 * CS_ACCT_KEY_LEN + 1], dk[2 * CS_ACCT_KEY_LEN + 1];
	char *path = cs_path_join(data_dir, SESSION_FILE), *text = NULL;
	json_t *hubs = json_array(), *j = NULL;
	int r = CS_OK;

	if (path == NULL || hubs == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < s->nhubs; i++)
		json_array_append_new(hubs, json_string(s->hubs[i]));
	cs_hex_encode(mk, s->mk, CS_ACCT_KEY_LEN);
	cs_hex_encode(dk, s->dk, CS_ACCT_KEY_LEN);
	j = json_pack("{s:O, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "hubs", hubs, "ca", s->ca_path,
		"account", s->account, "device", s->device, "token", s->token, "kid", (json_int_t)s->kid,
		"expires", (json_int_t)s->expires, "message_key", mk, "data_key", dk);
	if (j == NULL || (text = json_dumps(j, JSON_INDENT(2))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	r = cs_fs_write_atomic(path, text, strlen(text), 0600);
done:
	cs_wipe(mk, sizeof(mk));
	cs_wipe(dk, sizeof(dk));
	cs_free_secret_str(text);
	json_decref(j);
	json_decref(hubs);
	free(path);
	return r;
}

int cs_acct_logout(const char *data_dir)
{
	char *path = cs_path_join(data_dir, SESSION_FILE);
	int r = CS_OK;
	if (path == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (!cs_fs_exists(path))
		r = cs_error_set(CS_ENOTFOUND, "not logged in to an account");
	else if (remove(path) != 0)
		r = cs_error_set(CS_EIO, "remove %s", path);
	free(path);
	return r;
}
