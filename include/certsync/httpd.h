#ifndef CERTSYNC_HTTPD_H
#define CERTSYNC_HTTPD_H
/*
 * HTTPS server on libevent (evhttp + bufferevent_openssl), single-threaded.
 * TLS 1.2+ with the server's certificate; clients may present a certificate,
 * which handlers read with cs_http_req_peer_cert() and authorise themselves
 * (the TLS layer asks for one but does not judge it).
 *
 * Handlers are routed by method and path prefix (longest prefix wins). A
 * handler either replies at once or keeps the request and replies later
 * (long polls); it must reply exactly once. Bodies larger than max_body are
 * refused with 413 before the handler runs.
 */
#include <certsync/common.h>
#include <certsync/identity.h>

typedef struct cs_httpd cs_httpd;
typedef struct cs_http_req cs_http_req;

struct cs_httpd_config {
	const char *listen;    /* "127.0.0.1:8443"; port 0 picks a free one */
	const char *cert_path; /* PEM server certificate (chain) */
	const char *key_path;  /* PEM private key */
	size_t max_body;       /* largest request body accepted (default 8 MiB) */
	size_t max_headers;    /* largest header block (default 16 KiB) */
	int timeout_s;         /* idle connection timeout (default 60) */
};

typedef void (*cs_http_handler)(cs_http_req *req, void *ud);

/* Create the server and bind the listening socket. */
CS_EXTERN int cs_httpd_new(cs_httpd **out, const struct cs_httpd_config *cfg);
CS_EXTERN void cs_httpd_free(cs_httpd *srv);
/* The bound TCP port. */
CS_EXTERN int cs_httpd_port(const cs_httpd *srv);
/* Route method ("GET", "POST", "PUT", "DELETE" or "*" for any) and every
 * path that starts with prefix to handler. A path with a known prefix but
 * an unrouted method gets 405; an unknown path 404 (both JSON). */
CS_EXTERN int cs_httpd_route(cs_httpd *srv, const char *method, const char *prefix,
	cs_http_handler handler, void *ud);
/* Call fn every interval_ms on the server's loop. */
CS_EXTERN int cs_httpd_every(cs_httpd *srv, int64_t interval_ms, void (*fn)(void *ud), void *ud);
/* Call fn once, delay_ms (0 or more) from now, on the server's loop; used
 * to answer a request later without blocking the loop. A timer that has
 * not fired when the server is freed is dropped without calling fn, so ud
 * must stay valid until fn runs or the server is freed. */
CS_EXTERN int cs_httpd_after(cs_httpd *srv, int64_t delay_ms, void (*fn)(void *ud), void *ud);
/* Call fn on the server's loop whenever fd is readable (until the server is
 * freed; fd stays the caller's): how other threads hand results to the loop. */
CS_EXTERN int cs_httpd_watch(cs_httpd *srv, int fd, void (*fn)(void *ud), void *ud);
/* Run the loop until cs_httpd_stop() or SIGINT/SIGTERM. */
CS_EXTERN int cs_httpd_run(cs_httpd *srv);
/* Ask the loop to stop (safe from a handler or a signal handler). */
CS_EXTERN void cs_httpd_stop(cs_httpd *srv);

/* ---- requests ---- */

CS_EXTERN const char *cs_http_req_method(const cs_http_req *req);
/* The decoded path, without the query string. */
CS_EXTERN const char *cs_http_req_path(const cs_http_req *req);
/* A query parameter (decoded), or NULL. */
CS_EXTERN const char *cs_http_req_query(const cs_http_req *req, const char *name);
/* A request header, or NULL. */
CS_EXTERN const char *cs_http_req_header(const cs_http_req *req, const char *name);
/* The request body (may be empty; NUL-terminated one past len), gathered
 * into one piece on the first call. Out of memory, it is empty. */
CS_EXTERN const uint8_t *cs_http_req_body(const cs_http_req *req, size_t *len);
/* The body's length, without gathering it. */
CS_EXTERN size_t cs_http_req_body_len(const cs_http_req *req);
/* Copy the whole body (len must be its length) to dst without gathering it
 * first: one copy instead of two for a large body. */
CS_EXTERN int cs_http_req_body_copy(const cs_http_req *req, void *dst, size_t len);
/* The client certificate presented on this connection, or NULL. Borrowed;
 * valid until the reply. */
CS_EXTERN const cs_cert *cs_http_req_peer_cert(cs_http_req *req);
/* Remote address as text, e.g. "127.0.0.1". */
CS_EXTERN const char *cs_http_req_remote(const cs_http_req *req);

/* Add a response header. */
CS_EXTERN void cs_http_req_add_header(cs_http_req *req, const char *name, const char *value);
/* Send the reply and release req. */
CS_EXTERN void cs_http_reply(cs_http_req *req, int status, const char *content_type,
	const void *body, size_t len);
/* cs_http_reply without copying the body: body must stay unchanged until
 * release(ud) is called, once the bytes are sent or the connection is gone
 * (release may run before this returns). */
CS_EXTERN void cs_http_reply_ref(cs_http_req *req, int status, const char *content_type,
	const void *body, size_t len, void (*release)(void *ud), void *ud);
/* Reply with {"error": message, "code": code_name} and status. */
CS_EXTERN void cs_http_reply_error(cs_http_req *req, int status, const char *code_name,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Reply with the contents of an open file (fd is taken over and closed). */
CS_EXTERN void cs_http_reply_file(cs_http_req *req, int status, const char *content_type,
	int fd, uint64_t size);
/* fn is called once if the client disconnects before the reply; after that
 * req must not be used (it is released). Used by long polls. */
CS_EXTERN void cs_http_req_on_close(cs_http_req *req, void (*fn)(cs_http_req *req, void *ud), void *ud);

#endif
