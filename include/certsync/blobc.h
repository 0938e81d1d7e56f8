#ifndef CERTSYNC_BLOBC_H
#define CERTSYNC_BLOBC_H
/*
 * HTTPS client for bulk transfers: the relay's packs, megabytes each, moved
 * between an agent and its hub. It speaks the same HTTP/1.1 as the general
 * client (certsync/httpc.h) with the same configuration and the same
 * answers, but drives OpenSSL itself: TLS records go to the socket and come
 * from it in batches of up to 256 KiB instead of one system call (two when
 * reading) per 16 KiB record, and a response body is decrypted straight
 * into the buffer handed to the caller. docs/net.md says why libcurl is not
 * used here.
 *
 * Responses must carry Content-Length (unless they have no body by
 * definition: HEAD, 204, 304); chunked transfer encoding and interim (1xx)
 * responses are refused. One client serves one thread; its
 * connection is kept open between requests and opened again when the
 * server has closed it.
 */
#include <certsync/common.h>
#include <certsync/httpc.h>

typedef struct cs_blobc cs_blobc;

/* A client for cfg->base_url ("https://host[:port]", no path), verifying the
 * server against cfg->ca_path and presenting cfg->cert_path/key_path (PEM,
 * unencrypted key) when given. Nothing is connected yet. */
CS_EXTERN int cs_blobc_new(cs_blobc **out, const struct cs_httpc_config *cfg);

/* Close the connection and free the client. NULL is a no-op. */
CS_EXTERN void cs_blobc_free(cs_blobc *c);

/* As cs_httpc_request: send method path with body (len bytes, content_type
 * when not NULL), read the whole response into resp (at most max_resp
 * bytes: CS_ELIMIT beyond). timeout_ms bounds the exchange (0: none).
 * CS_ENET when no complete HTTP response was received; any status is
 * success at this level. resp->body is released with cs_http_resp_clear.
 * A request that meets a kept-alive connection the server has closed,
 * before any byte of an answer, goes once more on a new connection: use
 * this client for requests that may be repeated (blob GET and PUT). */
CS_EXTERN int cs_blobc_request(cs_http_resp *resp, cs_blobc *c, const char *method,
	const char *path, const char *content_type, const void *body, size_t len,
	size_t max_resp, long timeout_ms);

/* Parse the head of an HTTP/1.x response (status line and headers, up to
 * and including the empty line; len bytes, no NUL needed). Sets *status,
 * *content_length (-1 when absent) and *closes (the server will close the
 * connection after this response). CS_EMALFORMED for anything malformed or
 * unsupported (chunked encoding, conflicting lengths). */
CS_EXTERN int cs_blobc_parse_head(long *status, int64_t *content_length, int *closes,
	const char *head, size_t len);

#endif
