/* Thread-local last error (include/certsync/error.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <certsync/error.h>

#define CS_ERROR_MSG_MAX 1024

static _Thread_local int last_code;
static _Thread_local char last_msg[CS_ERROR_MSG_MAX];

int cs_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	last_code = code;
	return code;
}

int cs_error_wrap(const char *fmt, ...)
{
	char prefix[CS_ERROR_MSG_MAX];
	char joined[2 * CS_ERROR_MSG_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix,
		last_msg[0] ? last_msg : cs_strerror(last_code));
	joined[sizeof(last_msg) - 1] = '\0';
	memcpy(last_msg, joined, sizeof(last_msg));
	if (last_code == CS_OK)
		last_code = CS_ERROR;
	return last_code;
}

const char *cs_error_last(void)
{
	if (last_msg[0] == '\0' && last_code != CS_OK)
		return cs_strerror(last_code);
	return last_msg;
}

int cs_error_code(void) { return last_code; }

void cs_error_clear(void)
{
	last_code = CS_OK;
	last_msg[0] = '\0';
}

static const struct {
	int code;
	const char *name;
	const char *text;
} error_table[] = {
	{CS_OK, "ok", "success"},
	{CS_ERROR, "error", "error"},
	{CS_ENOMEM, "no_memory", "out of memory"},
	{CS_EINVAL, "invalid", "invalid argument"},
	{CS_ENOTFOUND, "not_found", "not found"},
	{CS_EEXISTS, "exists", "already exists"},
	{CS_EAUTH, "auth", "authentication failed"},
	{CS_ECRYPTO, "crypto", "cryptographic failure"},
	{CS_EIO, "io", "input/output error"},
	{CS_EMALFORMED, "malformed", "malformed input"},
	{CS_ETRUNCATED, "truncated", "truncated input"},
	{CS_ETRAILING, "trailing_data", "trailing data"},
	{CS_ELIMIT, "limit", "limit exceeded"},
	{CS_ENET, "network", "network error"},
	{CS_ECONFLICT, "conflict", "conflict"},
	{CS_EREVOKED, "revoked", "certificate revoked"},
	{CS_EEXPIRED, "expired", "expired"},
	{CS_EDB, "database", "database error"},
	{CS_ESTATE, "state", "not allowed in the current state"},
	{CS_EDENIED, "denied", "request denied"},
};

const char *cs_strerror(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].text;
	return "unknown error";
}

const char *cs_error_name(int code)
{
	for (size_t i = 0; i < sizeof(error_table) / sizeof(error_table[0]); i++)
		if (error_table[i].code == code)
			return error_table[i].name;
	return "error";
}
