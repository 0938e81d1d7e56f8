/*
 * HTTP plumbing shared by the hub's handlers: strict JSON bodies, typed
 * member access, and replies that are counted for /metrics. The request
 * bodies themselves are parsed in parse.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include "hub/hub_internal.h"

void cs__hub_count(cs_hub *hub, int status)
{
	if (status >= 100 && status < 600)
		hub->m.requests[status]++;
}

void cs__hub_reply(cs_hub *hub, cs_http_req *req, int status, const char *type,
	const void *body, size_t len)
{
	cs__hub_count(hub, status);
	cs_http_reply(req, status, type, body, len);
}

void cs__hub_reply_json(cs_hub *hub, cs_http_req *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL) {
		cs__hub_reply_error(hub, req, 500, "error", "out of memory");
		return;
	}
	cs__hub_reply(hub, req, status, "application/json", text, strlen(text));
	free(text);
}

void cs__hub_reply_error(cs_hub *hub, cs_http_req *req, int status, const char *code,
	const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cs__hub_count(hub, status);
	cs_http_reply_error(req, status, code, "%s", msg);
}

void cs__hub_reply_cs_error(cs_hub *hub, cs_http_req *req, int rc)
{
	int status;
	const char *code = cs_error_name(rc);
	switch (rc) {
	case CS_EINVAL: status = 400; break;
	case CS_EMALFORMED: case CS_ETRUNCATED: case CS_ETRAILING:
		status = 400; code = "malformed"; break;
	case CS_ENOTFOUND: status = 404; break;
	case CS_EEXISTS: status = 409; break;
	case CS_EAUTH: status = 401; break;
	case CS_EEXPIRED: status = 401; break;
	case CS_EDENIED: status = 403; break;
	case CS_EREVOKED: status = 403; break;
	case CS_ELIMIT: status = 413; code = "too_large"; break;
	case CS_ESTATE: status = 409; break;
	case CS_ECONFLICT: status = 409; break;
	case CS_ENET: status = 502; break;
	default: status = 500; break;
	}
	const char *msg = cs_error_last();
	cs__hub_reply_error(hub, req, status, code, "%s", msg[0] ? msg : cs_strerror(rc));
}

int cs__parse_object(json_t **out, const char *text, size_t len, size_t max)
{
	json_error_t err;
	*out = NULL;
	if (len > max)
		return cs_error_set(CS_ELIMIT, "request body exceeds %zu bytes", max);
	if (len == 0)
		return cs_error_set(CS_EMALFORMED, "request body must be a JSON object");
	/* JSON_REJECT_DUPLICATES: {"a":1,"a":2} must not mean different things
	 * to different readers; JSON_ALLOW_NUL is not given, so "\u0000" inside
	 * strings is refused. */
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		return cs_error_set(CS_EMALFORMED, "invalid JSON at line %d column %d: %s", err.line,
			err.column, err.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return cs_error_set(CS_EMALFORMED, "request body must be a JSON object");
	}
	*out = j;
	return CS_OK;
}

int cs__json_str(const char **out, json_t *o, const char *key, int required, size_t maxlen)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return cs_error_set(CS_EINVAL, "member \"%s\" is required", key);
		return CS_OK;
	}
	if (!json_is_string(v))
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be a string", key);
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (len > maxlen)
		return cs_error_set(CS_EMALFORMED, "member \"%s\" is longer than %zu bytes", key, maxlen);
	if (strlen(s) != len)
		return cs_error_set(CS_EMALFORMED, "member \"%s\" contains a NUL character", key);
	*out = s;
	return CS_OK;
}

int cs__json_int(int64_t *out, json_t *o, const char *key, int required, int64_t min, int64_t max)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return cs_error_set(CS_EINVAL, "member \"%s\" is required", key);
		return CS_OK;
	}
	if (!json_is_integer(v))
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be an integer", key);
	json_int_t x = json_integer_value(v);
	if (x < min || x > max)
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be between %lld and %lld", key,
			(long long)min, (long long)max);
	*out = (int64_t)x;
	return CS_OK;
}

int cs__json_bool(int *out, json_t *o, const char *key, int required)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL || json_is_null(v)) {
		if (required)
			return cs_error_set(CS_EINVAL, "member \"%s\" is required", key);
		return CS_OK;
	}
	if (!json_is_boolean(v))
		return cs_error_set(CS_EMALFORMED, "member \"%s\" must be true or false", key);
	*out = json_is_true(v);
	return CS_OK;
}

int cs__path_split(char *storage, size_t n, const char **seg, int max, const char *path,
	const char *prefix)
{
	size_t plen = strlen(prefix);
	if (strncmp(path, prefix, plen) != 0)
		return -1;
	const char *rest = path + plen;
	size_t rlen = strlen(rest);
	if (rlen + 1 > n)
		return -1;
	memcpy(storage, rest, rlen + 1);
	int count = 0;
	char *p = storage;
	if (*p == '\0')
		return 0;
	for (;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (*p == '\0' || count == max)
			return -1;
		seg[count++] = p;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return count;
}

int cs__parse_id(int64_t *out, const char *s)
{
	int64_t v = 0;
	if (s == NULL || *s == '\0' || *s == '0' || strlen(s) > 16)
		return cs_error_set(CS_EMALFORMED, "not a valid id");
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return cs_error_set(CS_EMALFORMED, "not a valid id");
		v = v * 10 + (*p - '0');
	}
	if (v > (1ll << 53))
		return cs_error_set(CS_EMALFORMED, "not a valid id");
	*out = v;
	return CS_OK;
}
