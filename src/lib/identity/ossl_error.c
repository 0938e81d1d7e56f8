/* Turning OpenSSL's error queue into the thread's last error. */
#include <string.h>
#include <openssl/err.h>
#include <certsync/error.h>
#include "lib/identity/internal.h"

#define REASONS_MAX 512

/*
 * OpenSSL queues one entry per layer (e.g. "bad decrypt" from the cipher,
 * then "decode error" from the decoder). The innermost reason is the most
 * useful to a reader, so entries are listed oldest first, duplicates
 * dropped, and the whole queue is always drained so that a stale entry never
 * leaks into the next failure.
 */
int cs__ossl_error(int code, const char *what)
{
	char reasons[REASONS_MAX] = "";
	size_t used = 0;
	unsigned long e;
	const char *data = NULL;
	int flags = 0;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		char one[256];
		const char *r = ERR_reason_error_string(e);
		if (r == NULL) {
			ERR_error_string_n(e, one, sizeof(one));
		} else if ((flags & ERR_TXT_STRING) && data != NULL && data[0] != '\0') {
			snprintf(one, sizeof(one), "%s (%s)", r, data);
		} else {
			snprintf(one, sizeof(one), "%s", r);
		}
		if (strstr(reasons, one) != NULL)
			continue;
		int n = snprintf(reasons + used, sizeof(reasons) - used, "%s%s",
			used ? "; " : "", one);
		if (n < 0 || (size_t)n >= sizeof(reasons) - used)
			used = sizeof(reasons) - 1; /* full: keep draining, stop appending */
		else
			used += (size_t)n;
	}
	if (used == 0)
		return cs_error_set(code, "%s", what);
	return cs_error_set(code, "%s: %s", what, reasons);
}
