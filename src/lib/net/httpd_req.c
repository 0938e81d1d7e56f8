/* Requests: accessors, replies, and detecting a client that leaves while a
 * handler holds its request (include/certsync/httpd.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <jansson.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/identity/internal.h"
#include "lib/net/internal.h"

/* While a request waits for its reply, at most this much of whatever the
 * client sends next (a pipelined request) is buffered; then reading pauses. */
#define WATCH_READ_MAX (64 * 1024)
#define ERROR_MSG_MAX 512

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

static void req_free(cs_http_req *req)
{
	/* A request still held here was detached from its connection by
	 * libevent when the client left; it is ours to free. */
	if (req->ev != NULL)
		evhttp_request_free(req->ev);
	evhttp_clear_headers(&req->query);
	free(req->path);
	cs_cert_free(req->peer);
	if (req->chunk != NULL)
		evbuffer_free(req->chunk);
	if (req->fd >= 0)
		close(req->fd);
	free(req);
}

void cs__http_req_release(cs_http_req *req)
{
	if (req->in_handler || req->state != CS_REQ_DONE)
		return;
	req_free(req);
}

void cs__http_req_finish(cs_http_req *req)
{
	req->state = CS_REQ_DONE;
	cs__http_req_release(req);
}

/* Answer a request that never reaches a handler (bad path or query). */
static cs_http_req *refuse(cs_http_req *req, int status, const char *code, const char *msg)
{
	cs_http_reply_error(req, status, code, "%s", msg);
	return NULL;
}

cs_http_req *cs__http_req_new(cs_httpd *srv, struct evhttp_request *ev)
{
	cs_http_req *req = calloc(1, sizeof(*req));
	if (req == NULL) {
		evhttp_send_error(ev, 503, NULL);
		return NULL;
	}
	TAILQ_INIT(&req->query);
	req->ev = ev;
	req->srv = srv;
	req->fd = -1;
	req->method = method_name(evhttp_request_get_command(ev));
	req->body = (const uint8_t *)"";

	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(req->remote, sizeof(req->remote), "%s", addr ? addr : "");

	/* The body stays in libevent's chains until a handler asks for it:
	 * one that copies it elsewhere (cs_http_req_body_copy) spares the
	 * pull-up into one piece. */
	req->body_in = evhttp_request_get_input_buffer(ev);
	req->body_len = evbuffer_get_length(req->body_in);
	req->body_gathered = req->body_len == 0;

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	if (raw == NULL || raw[0] != '/')
		return refuse(req, 400, "bad_request", "request target must be an absolute path");
	size_t dlen = 0;
	req->path = evhttp_uridecode(raw, 0, &dlen);
	if (req->path == NULL)
		return refuse(req, 503, "unavailable", "out of memory");
	if (strlen(req->path) != dlen)
		return refuse(req, 400, "bad_request", "path contains a NUL byte");
	const char *q = evhttp_uri_get_query(uri);
	if (q != NULL && evhttp_parse_query_str(q, &req->query) != 0)
		return refuse(req, 400, "bad_request", "malformed query string");
	return req;
}

/* ---- close detection ---- */

/*
 * evhttp's close callback for a connection whose request we hold. libevent
 * calls it in two situations:
 *   - the client left (EOF, error or timeout): libevent has already
 *     detached the request from the connection, so the request is ours to
 *     free;
 *   - the server is being freed: the request is still attached and libevent
 *     frees it right after this callback.
 */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	cs_http_req *req = arg;
	(void)evcon;

	if (req->ev != NULL && evhttp_request_get_connection(req->ev) != NULL)
		req->ev = NULL;
	req->closed = 1;
	req->watching = 0;
	if (req->state == CS_REQ_STREAMING) {
		cs_log(CS_LOG_DEBUG, "http.client_gone", "remote=%s during=file", req->remote);
		cs__http_req_finish(req);
		return;
	}
	if (req->state != CS_REQ_ACTIVE || req->on_close == NULL)
		return; /* the handler replies later; cs_http_reply just frees */
	void (*fn)(cs_http_req *, void *) = req->on_close;
	req->on_close = NULL;
	cs_log(CS_LOG_DEBUG, "http.client_gone", "remote=%s during=wait", req->remote);
	/* in_handler keeps a stray reply inside fn from freeing req under us */
	req->in_handler = 1;
	fn(req, req->on_close_ud);
	req->in_handler = 0;
	cs__http_req_finish(req);
}

void cs__http_req_set_closecb(cs_http_req *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, on_conn_close, req);
}

/*
 * evhttp stops reading a connection while its request is with the handler,
 * so on its own it would never notice a long-poll client leaving. Reading
 * is turned back on with no read callback (evhttp's own read callback
 * aborts the process when data arrives in this state): bytes stay buffered
 * for evhttp, capped by a watermark, while EOF and errors still reach
 * evhttp's event callback, which fails the request and closes the
 * connection; that calls on_conn_close. The idle timeout is suspended: a
 * long poll is not an idle connection.
 */
void cs__http_req_watch_close(cs_http_req *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
	if (evcon == NULL)
		return;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	bufferevent_data_cb writecb;
	bufferevent_event_cb eventcb;
	void *cbarg;

	evhttp_connection_set_closecb(evcon, on_conn_close, req);
	bufferevent_getcb(bev, NULL, &writecb, &eventcb, &cbarg);
	bufferevent_setcb(bev, NULL, writecb, eventcb, cbarg);
	bufferevent_setwatermark(bev, EV_READ, 0, WATCH_READ_MAX);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ);
	req->watching = 1;
}

void cs__http_req_unwatch(cs_http_req *req)
{
	if (req->ev == NULL)
		return;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
	if (evcon == NULL)
		return;
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (!req->watching)
		return;
	req->watching = 0;
	/* Back to the state evhttp left it in. The read callback needs no
	 * restoring: evhttp installs its own when it starts the next request. */
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	struct timeval tv = {.tv_sec = req->srv->timeout_s, .tv_usec = 0};
	bufferevent_disable(bev, EV_READ);
	bufferevent_setwatermark(bev, EV_READ, 0, 0);
	bufferevent_set_timeouts(bev, &tv, &tv);
}

void cs_http_req_on_close(cs_http_req *req, void (*fn)(cs_http_req *req, void *ud), void *ud)
{
	req->on_close = fn;
	req->on_close_ud = ud;
	/* The client may have left while no callback was registered (a handler
	 * that registers late, from a timer); tell it now, as promised. */
	if (req->closed && fn != NULL && req->state == CS_REQ_ACTIVE && !req->in_handler) {
		req->on_close = NULL;
		req->in_handler = 1;
		fn(req, ud);
		req->in_handler = 0;
		cs__http_req_finish(req);
	}
}

/* ---- accessors ---- */

const char *cs_http_req_method(const cs_http_req *req)
{
	return req->method;
}

const char *cs_http_req_path(const cs_http_req *req)
{
	return req->path;
}

const char *cs_http_req_query(const cs_http_req *req, const char *name)
{
	return evhttp_find_header(&req->query, name);
}

const char *cs_http_req_header(const cs_http_req *req, const char *name)
{
	if (req->ev == NULL)
		return NULL;
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const uint8_t *cs_http_req_body(const cs_http_req *req, size_t *len)
{
	if (!req->body_gathered) {
		/* One contiguous, NUL-terminated body: a single pull-up (which
		 * copies only when libevent received the body in several
		 * chains). The request is the caller's; only this cache of it
		 * changes. */
		cs_http_req *r = (cs_http_req *)req;
		unsigned char *p = NULL;
		if (evbuffer_add(r->body_in, "", 1) == 0)
			p = evbuffer_pullup(r->body_in, -1);
		r->body_gathered = 1;
		if (p != NULL) {
			r->body = p;
		} else {
			/* Handlers then see an empty body and refuse the request. */
			cs_log(CS_LOG_ERROR, "http.body_oom", "bytes=%zu", r->body_len);
			r->body_len = 0;
		}
	}
	if (len != NULL)
		*len = req->body_len;
	return req->body;
}

size_t cs_http_req_body_len(const cs_http_req *req)
{
	return req->body_len;
}

int cs_http_req_body_copy(const cs_http_req *req, void *dst, size_t len)
{
	if (len != req->body_len)
		return cs_error_set(CS_EINVAL, "the body is %zu bytes, not %zu", req->body_len, len);
	if (req->body_gathered) {
		memcpy(dst, req->body, len);
		return CS_OK;
	}
	if (evbuffer_copyout(req->body_in, dst, len) != (ev_ssize_t)len)
		return cs_error_set(CS_EIO, "the request body could not be read");
	return CS_OK;
}

const cs_cert *cs_http_req_peer_cert(cs_http_req *req)
{
	if (req->peer_checked || req->ev == NULL)
		return req->peer;
	req->peer_checked = 1;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req->ev);
	if (evcon == NULL)
		return NULL;
	SSL *ssl = bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(evcon));
	if (ssl == NULL)
		return NULL;
	X509 *x = SSL_get1_peer_certificate(ssl);
	if (x == NULL)
		return NULL;
	req->peer = cs__cert_wrap(x);
	X509_free(x);
	return req->peer;
}

const char *cs_http_req_remote(const cs_http_req *req)
{
	return req->remote;
}

/* ---- replies ---- */

void cs_http_req_add_header(cs_http_req *req, const char *name, const char *value)
{
	if (req->ev == NULL || req->state != CS_REQ_ACTIVE)
		return;
	/* evhttp refuses names and values with CR or LF (no header injection) */
	if (evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value) != 0)
		cs_log(CS_LOG_WARN, "http.bad_header", "name=%s", name);
}

void cs__http_req_log(const cs_http_req *req, int status)
{
	char path[160];
	size_t i = 0;
	/* the path is the client's text: keep the log line one logfmt value */
	if (req->path != NULL) {
		for (; req->path[i] != '\0' && i < sizeof(path) - 1; i++) {
			unsigned char ch = (unsigned char)req->path[i];
			path[i] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
		}
	}
	path[i] = '\0';
	cs_log(CS_LOG_DEBUG, "http.request", "method=%s path=\"%s\" status=%d remote=%s",
		req->method, path, status, req->remote);
}

static int is_json(const char *content_type)
{
	return content_type != NULL && strncasecmp(content_type, "application/json", 16) == 0;
}

struct body_ref {
	void (*release)(void *ud);
	void *ud;
};

static void body_ref_done(const void *data, size_t len, void *arg)
{
	struct body_ref *ref = arg;
	(void)data;
	(void)len;
	ref->release(ref->ud);
	free(ref);
}

/* The reply; the body is copied, or referenced when ref is given (and then
 * released in every case). */
static void reply(cs_http_req *req, int status, const char *content_type,
	const void *body, size_t len, struct body_ref *ref)
{
	if (req->state != CS_REQ_ACTIVE || req->closed || req->ev == NULL) {
		if (ref)
			body_ref_done(body, len, ref);
		if (req->state == CS_REQ_ACTIVE)
			cs__http_req_finish(req); /* nobody to answer */
		return;
	}
	cs__http_req_unwatch(req);
	struct evhttp_request *ev = req->ev;
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	/* Without a type evhttp would claim text/html; bytes of unknown kind
	 * must never be rendered by a browser (the console shares the origin). */
	if (content_type == NULL && len > 0)
		content_type = "application/octet-stream";
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (is_json(content_type))
		evhttp_add_header(h, "Cache-Control", "no-store");

	/* HEAD and bodiless statuses must not carry the bytes; evhttp would
	 * send them anyway. */
	int head = evhttp_request_get_command(ev) == EVHTTP_REQ_HEAD;
	int bodiless = status < 200 || status == 204 || status == 304;
	if (head) {
		char cl[24];
		snprintf(cl, sizeof(cl), "%zu", len);
		evhttp_add_header(h, "Content-Length", cl);
	} else if (!bodiless && len > 0) {
		struct evbuffer *out = evhttp_request_get_output_buffer(ev);
		int r = ref ? evbuffer_add_reference(out, body, len, body_ref_done, ref)
			    : evbuffer_add(out, body, len);
		if (r == 0)
			ref = NULL; /* the buffer releases it once sent or freed */
		else {
			evhttp_remove_header(h, "Content-Type");
			status = 503;
		}
	}
	if (ref)
		body_ref_done(body, len, ref);
	cs__http_req_log(req, status);
	req->ev = NULL; /* from here on libevent owns it */
	evhttp_send_reply(ev, status, NULL, NULL);
	cs__http_req_finish(req);
}

void cs_http_reply(cs_http_req *req, int status, const char *content_type,
	const void *body, size_t len)
{
	reply(req, status, content_type, body, len, NULL);
}

void cs_http_reply_ref(cs_http_req *req, int status, const char *content_type,
	const void *body, size_t len, void (*release)(void *ud), void *ud)
{
	struct body_ref *ref = malloc(sizeof(*ref));
	if (ref == NULL) {
		/* no room to track it: send a copy instead */
		reply(req, status, content_type, body, len, NULL);
		release(ud);
		return;
	}
	ref->release = release;
	ref->ud = ud;
	reply(req, status, content_type, body, len, ref);
}

/* json_string() refuses text that is not UTF-8; the message may quote
 * client input, so fall back to replacing every non-ASCII byte. */
static json_t *json_text(const char *s)
{
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	char ascii[ERROR_MSG_MAX];
	size_t i;
	for (i = 0; s[i] != '\0' && i < sizeof(ascii) - 1; i++)
		ascii[i] = ((unsigned char)s[i] >= 0x80) ? '?' : s[i];
	ascii[i] = '\0';
	return json_string(ascii);
}

void cs_http_reply_error(cs_http_req *req, int status, const char *code_name,
	const char *fmt, ...)
{
	char msg[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	json_t *obj = json_object();
	char *text = NULL;
	if (obj != NULL) {
		json_object_set_new(obj, "error", json_text(msg));
		json_object_set_new(obj, "code", json_text(code_name ? code_name : "error"));
		text = json_dumps(obj, JSON_COMPACT);
		json_decref(obj);
	}
	if (text == NULL) {
		static const char fallback[] = "{\"error\":\"internal error\",\"code\":\"error\"}";
		cs_http_reply(req, status, "application/json", fallback, sizeof(fallback) - 1);
		return;
	}
	cs_http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}
