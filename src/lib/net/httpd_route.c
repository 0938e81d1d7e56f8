/* Routing: method + longest path prefix, and the evhttp callback that turns
 * a parsed request into a cs_http_req and runs its handler. */
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/net/internal.h"

/* Methods a route may name; anything else is a programming error in the
 * caller and refused. */
static const char *const route_methods[] = {
	"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "*", NULL,
};

int cs_httpd_route(cs_httpd *srv, const char *method, const char *prefix,
	cs_http_handler handler, void *ud)
{
	int known = 0;
	for (size_t i = 0; route_methods[i] != NULL; i++)
		if (method != NULL && strcmp(method, route_methods[i]) == 0)
			known = 1;
	if (!known || prefix == NULL || prefix[0] != '/' || handler == NULL)
		return cs_error_set(CS_EINVAL, "httpd: bad route %s %s", method ? method : "(null)",
			prefix ? prefix : "(null)");
	struct cs_http_route *grown = realloc(srv->routes, (srv->n_routes + 1) * sizeof(*grown));
	if (grown == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	srv->routes = grown;
	struct cs_http_route *r = &srv->routes[srv->n_routes];
	memset(r, 0, sizeof(*r));
	r->prefix = strdup(prefix);
	if (r->prefix == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->prefix_len = strlen(prefix);
	r->handler = handler;
	r->ud = ud;
	srv->n_routes++;
	return CS_OK;
}

/*
 * The longest prefix among the routes for this method wins. When no route
 * of this method matches but one of another method does, *allowed lists
 * the methods that would have matched (for the 405 "Allow" header).
 */
static const struct cs_http_route *find_route(const cs_httpd *srv, const char *method,
	const char *path, char *allowed, size_t allowed_size)
{
	const struct cs_http_route *best = NULL;
	size_t used = 0;

	allowed[0] = '\0';
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct cs_http_route *r = &srv->routes[i];
		if (strncmp(path, r->prefix, r->prefix_len) != 0)
			continue;
		if (strcmp(r->method, "*") == 0 || strcmp(r->method, method) == 0) {
			if (best == NULL || r->prefix_len > best->prefix_len)
				best = r;
			continue;
		}
		/* remember the method for Allow, once */
		size_t mlen = strlen(r->method);
		int seen = 0;
		for (const char *p = allowed; (p = strstr(p, r->method)) != NULL; p += mlen)
			if ((p == allowed || p[-1] == ' ') && (p[mlen] == ',' || p[mlen] == '\0'))
				seen = 1;
		if (!seen && used + mlen + 3 < allowed_size) {
			used += (size_t)snprintf(allowed + used, allowed_size - used, "%s%s",
				used ? ", " : "", r->method);
		}
	}
	return best;
}

/* A request that reached us over a connection without TLS: SSL_new failed
 * for it (out of memory). Answer in plain text and close; never serve it. */
static void refuse_plaintext(struct evhttp_request *ev)
{
	cs_log(CS_LOG_ERROR, "http.no_tls", "msg=\"connection without TLS refused\"");
	evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
	evhttp_send_error(ev, 500, "TLS unavailable");
}

void cs__httpd_dispatch(struct evhttp_request *ev, void *arg)
{
	cs_httpd *srv = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);

	if (evcon == NULL || !cs__httpd_conn_is_tls(evcon)) {
		refuse_plaintext(ev);
		return;
	}
	cs_http_req *req = cs__http_req_new(srv, ev);
	if (req == NULL)
		return; /* cs__http_req_new has answered (400 or 503) */

	char allowed[64];
	const struct cs_http_route *r = find_route(srv, req->method, req->path, allowed,
		sizeof(allowed));
	if (r == NULL) {
		if (allowed[0] != '\0') {
			cs_http_req_add_header(req, "Allow", allowed);
			cs_http_reply_error(req, 405, "method_not_allowed", "method %s not allowed here",
				req->method);
		} else {
			cs_http_reply_error(req, 404, "not_found", "no such resource");
		}
		return;
	}

	req->in_handler = 1;
	r->handler(req, r->ud);
	req->in_handler = 0;
	if (req->state == CS_REQ_ACTIVE)
		cs__http_req_watch_close(req); /* kept for a later reply */
	else
		cs__http_req_release(req);
}
