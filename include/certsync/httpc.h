#ifndef CERTSYNC_HTTPC_H
#define CERTSYNC_HTTPC_H
/*
 * HTTPS client (libcurl). The server is verified against a pinned CA
 * certificate (never the system store); a client certificate and key may be
 * presented. One client serves one thread; connections are reused.
 */
#include <certsync/common.h>

typedef struct cs_httpc cs_httpc;

struct cs_httpc_config {
	const char *base_url;  /* "https://127.0.0.1:8443" */
	const char *ca_path;   /* PEM CA the server must chain to; NULL only with insecure */
	const char *cert_path; /* client certificate (PEM) or NULL */
	const char *key_path;  /* client key (PEM) or NULL */
	long connect_timeout_ms; /* default 10000 */
	int insecure;          /* skip server verification: only to fetch a CA whose
	                          fingerprint the caller then checks */
	const volatile int *cancel; /* when non-NULL and set to non-zero (e.g. from a
	                          signal handler), a request under way is aborted
	                          within about a second with CS_ENET */
};

typedef struct cs_http_resp {
	long status;
	uint8_t *body; /* NUL-terminated one past len; release with cs_bigmem_free() */
	size_t len;
} cs_http_resp;

CS_EXTERN int cs_httpc_new(cs_httpc **out, const struct cs_httpc_config *cfg);
CS_EXTERN void cs_httpc_free(cs_httpc *c);

/* Send a request to base_url + path and read the whole response (at most
 * max_resp bytes, CS_ELIMIT beyond). timeout_ms bounds the whole exchange
 * (0: none). CS_ENET when no HTTP response was received; any HTTP status is
 * success at this level. */
CS_EXTERN int cs_httpc_request(cs_http_resp *resp, cs_httpc *c, const char *method,
	const char *path, const char *content_type, const void *body, size_t len,
	size_t max_resp, long timeout_ms);

/* Free the response body and zero resp. */
CS_EXTERN void cs_http_resp_clear(cs_http_resp *resp);

/* The message of a JSON error body {"error": "..."} or, failing that, a
 * generic text naming the status; into out (size n). */
CS_EXTERN void cs_http_resp_error(char *out, size_t n, const cs_http_resp *resp);

#endif
