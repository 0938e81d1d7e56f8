/* HTTPS server lifecycle: create, bind, run, stop, timers
 * (include/certsync/httpd.h). Routing is in httpd_route.c, requests and
 * replies in httpd_req.c, file replies in httpd_file.c, TLS in httpd_tls.c. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/http.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/net/internal.h"

#define LISTEN_BACKLOG 512
#define HOST_MAX 256

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

/* libevent prints its warnings to stderr unless told otherwise; the library
 * never prints, so they go to the log instead. */
static void libevent_log(int severity, const char *msg)
{
	char clean[512];
	size_t i;
	/* keep the line one logfmt value: no quotes, no control characters */
	for (i = 0; msg[i] != '\0' && i < sizeof(clean) - 1; i++) {
		char ch = msg[i];
		clean[i] = (ch == '"' || (unsigned char)ch < 0x20) ? '\'' : ch;
	}
	clean[i] = '\0';
	enum cs_log_level level = CS_LOG_DEBUG;
	if (severity == EVENT_LOG_WARN)
		level = CS_LOG_WARN;
	else if (severity == EVENT_LOG_ERR)
		level = CS_LOG_ERROR;
	cs_log(level, "libevent", "msg=\"%s\"", clean);
}

static void global_init(void)
{
	event_set_log_callback(libevent_log);
	/* A write to a connection the peer has closed must fail with EPIPE,
	 * not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	cs__httpd_readahead_global_init();
}

/* Split "host:port" or "[v6]:port". */
static int parse_listen(char host[HOST_MAX], char port[8], const char *addr)
{
	const char *colon;
	const char *h = addr;
	size_t hlen;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (end == NULL || end[1] != ':')
			goto bad;
		h = addr + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || memchr(addr, ':', (size_t)(colon - addr)) != NULL)
			goto bad; /* bare IPv6 needs brackets */
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= HOST_MAX)
		goto bad;
	const char *p = colon + 1;
	size_t plen = strlen(p);
	if (plen == 0 || plen > 5 || strspn(p, "0123456789") != plen || atoi(p) > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memcpy(port, p, plen + 1);
	return CS_OK;
bad:
	return cs_error_set(CS_EINVAL, "listen address \"%s\": expected host:port or [ipv6]:port",
		addr);
}

static int bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* Own socket code rather than evhttp_bind_socket() so that a failure names
 * the address and the system's reason. */
static int open_listener(evutil_socket_t *out, const char *addr)
{
	char host[HOST_MAX], port[8];
	struct addrinfo hints, *res = NULL;
	int rc, err = 0;
	evutil_socket_t fd = -1;

	rc = parse_listen(host, port, addr);
	if (rc != CS_OK)
		return rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return cs_error_set(CS_ENET, "listen on %s: %s", addr, gai_strerror(gai));
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		/* restart without waiting for TIME_WAIT connections to expire */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* A reply often leaves as two TLS records; with Nagle the second
		 * waits for the peer's delayed ACK (40 ms) on every request.
		 * Accepted sockets inherit the option from the listener. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return cs_error_set(CS_ENET, "listen on %s: %s", addr, strerror(err));
	*out = fd;
	return CS_OK;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	cs_httpd *srv = arg;
	char drain[64];
	(void)what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	event_base_loopbreak(srv->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	cs_httpd *srv = arg;
	(void)what;
	cs_log(CS_LOG_INFO, "http.signal", "signal=%d", (int)sig);
	event_base_loopbreak(srv->base);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct cs_httpd_timer *t = arg;
	(void)fd;
	(void)what;
	t->fn(t->ud);
}

int cs_httpd_new(cs_httpd **out, const struct cs_httpd_config *cfg)
{
	cs_httpd *srv = NULL;
	evutil_socket_t fd = -1;
	int rc;

	if (cfg == NULL || cfg->listen == NULL || cfg->cert_path == NULL || cfg->key_path == NULL)
		return cs_error_set(CS_EINVAL, "httpd: listen, cert_path and key_path are required");
	if (cfg->timeout_s < 0)
		return cs_error_set(CS_EINVAL, "httpd: negative timeout");
	pthread_once(&global_once, global_init);

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	srv->stop_pipe[0] = srv->stop_pipe[1] = -1;
	srv->timeout_s = cfg->timeout_s ? cfg->timeout_s : CS_HTTPD_DEFAULT_TIMEOUT_S;
	size_t max_body = cfg->max_body ? cfg->max_body : CS_HTTPD_DEFAULT_MAX_BODY;
	size_t max_headers = cfg->max_headers ? cfg->max_headers : CS_HTTPD_DEFAULT_MAX_HEADERS;

	srv->base = event_base_new();
	if (srv->base == NULL) {
		rc = cs_error_set(CS_ERROR, "httpd: cannot create event base");
		goto done;
	}
	rc = cs__httpd_tls_ctx_new(&srv->ssl_ctx, cfg->cert_path, cfg->key_path);
	if (rc != CS_OK)
		goto done;
	srv->http = evhttp_new(srv->base);
	if (srv->http == NULL) {
		rc = cs_error_set(CS_ENOMEM, "httpd: cannot create evhttp");
		goto done;
	}
	evhttp_set_bevcb(srv->http, cs__httpd_tls_bevcb, srv);
	evhttp_set_gencb(srv->http, cs__httpd_dispatch, srv);
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)max_body);
	evhttp_set_max_headers_size(srv->http, (ev_ssize_t)max_headers);
	evhttp_set_timeout(srv->http, srv->timeout_s);
	/* Every method libevent can parse reaches the router, which answers
	 * unrouted ones with a JSON 405 instead of libevent's HTML 501. */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
		EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	/* For a body over max_body, read (and discard) what the client declared
	 * before answering 413: a client that does not wait for
	 * "100 Continue" is still sending, and closing on it would reset the
	 * connection and lose the 413. */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);

	rc = open_listener(&fd, cfg->listen);
	if (rc != CS_OK)
		goto done;
	srv->port = bound_port(fd);
	if (evhttp_accept_socket_with_handle(srv->http, fd) == NULL) {
		close(fd);
		rc = cs_error_set(CS_ENET, "listen on %s: evhttp refused the socket", cfg->listen);
		goto done;
	}

	if (pipe2(srv->stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		rc = cs_error_set(CS_EIO, "httpd: pipe: %s", strerror(errno));
		goto done;
	}
	srv->stop_ev = event_new(srv->base, srv->stop_pipe[0], EV_READ | EV_PERSIST, on_stop, srv);
	if (srv->stop_ev == NULL || event_add(srv->stop_ev, NULL) != 0) {
		rc = cs_error_set(CS_ENOMEM, "httpd: cannot create stop event");
		goto done;
	}
	cs_log(CS_LOG_INFO, "http.listen", "listen=%s port=%d", cfg->listen, srv->port);
	*out = srv;
	srv = NULL;
	rc = CS_OK;
done:
	cs_httpd_free(srv);
	return rc;
}

/*
 * Freeing the evhttp closes every connection; a request still held by a
 * handler (long poll) gets its on_close callback at this point, so the owner
 * of such requests must still be alive when the server is freed.
 */
void cs_httpd_free(cs_httpd *srv)
{
	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->n_timers; i++) {
		event_free(srv->timers[i]->ev);
		free(srv->timers[i]);
	}
	free(srv->timers);
	while (srv->once != NULL) {
		struct cs_httpd_once *o = srv->once;
		srv->once = o->next;
		event_free(o->ev);
		free(o);
	}
	if (srv->http != NULL)
		evhttp_free(srv->http);
	if (srv->stop_ev != NULL)
		event_free(srv->stop_ev);
	for (int i = 0; i < 2; i++)
		if (srv->stop_pipe[i] >= 0)
			close(srv->stop_pipe[i]);
	SSL_CTX_free(srv->ssl_ctx);
	for (size_t i = 0; i < srv->n_routes; i++)
		free(srv->routes[i].prefix);
	free(srv->routes);
	if (srv->base != NULL)
		event_base_free(srv->base);
	free(srv);
}

int cs_httpd_port(const cs_httpd *srv)
{
	return srv->port;
}

int cs_httpd_every(cs_httpd *srv, int64_t interval_ms, void (*fn)(void *ud), void *ud)
{
	if (interval_ms <= 0 || fn == NULL)
		return cs_error_set(CS_EINVAL, "httpd: timer needs a positive interval and a function");
	struct cs_httpd_timer **grown = realloc(srv->timers, (srv->n_timers + 1) * sizeof(*grown));
	if (grown == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	srv->timers = grown;
	struct cs_httpd_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	t->fn = fn;
	t->ud = ud;
	t->ev = event_new(srv->base, -1, EV_PERSIST, on_timer, t);
	struct timeval tv = {
		.tv_sec = (time_t)(interval_ms / 1000),
		.tv_usec = (suseconds_t)(interval_ms % 1000) * 1000,
	};
	if (t->ev == NULL || event_add(t->ev, &tv) != 0) {
		if (t->ev != NULL)
			event_free(t->ev);
		free(t);
		return cs_error_set(CS_ENOMEM, "httpd: cannot create timer");
	}
	srv->timers[srv->n_timers++] = t;
	return CS_OK;
}

int cs_httpd_watch(cs_httpd *srv, int fd, void (*fn)(void *ud), void *ud)
{
	if (fd < 0 || fn == NULL)
		return cs_error_set(CS_EINVAL, "httpd: a watch needs a descriptor and a function");
	struct cs_httpd_timer **grown = realloc(srv->timers, (srv->n_timers + 1) * sizeof(*grown));
	if (grown == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	srv->timers = grown;
	struct cs_httpd_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	t->fn = fn;
	t->ud = ud;
	/* the timers' callback serves: it calls fn(ud) whatever woke it */
	t->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST, on_timer, t);
	if (t->ev == NULL || event_add(t->ev, NULL) != 0) {
		if (t->ev != NULL)
			event_free(t->ev);
		free(t);
		return cs_error_set(CS_ENOMEM, "httpd: cannot watch descriptor %d", fd);
	}
	srv->timers[srv->n_timers++] = t;
	return CS_OK;
}

static void on_once(evutil_socket_t fd, short what, void *arg)
{
	struct cs_httpd_once *o = arg;
	cs_httpd *srv = o->srv;
	(void)fd;
	(void)what;
	/* unlink and free before calling fn: fn may add timers of its own */
	if (o->prev != NULL)
		o->prev->next = o->next;
	else
		srv->once = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	void (*fn)(void *ud) = o->fn;
	void *ud = o->ud;
	event_free(o->ev);
	free(o);
	fn(ud);
}

int cs_httpd_after(cs_httpd *srv, int64_t delay_ms, void (*fn)(void *ud), void *ud)
{
	if (delay_ms < 0 || fn == NULL)
		return cs_error_set(CS_EINVAL, "httpd: timer needs a delay of 0 or more and a function");
	struct cs_httpd_once *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	o->srv = srv;
	o->fn = fn;
	o->ud = ud;
	o->ev = evtimer_new(srv->base, on_once, o);
	struct timeval tv = {
		.tv_sec = (time_t)(delay_ms / 1000),
		.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000,
	};
	if (o->ev == NULL || evtimer_add(o->ev, &tv) != 0) {
		if (o->ev != NULL)
			event_free(o->ev);
		free(o);
		return cs_error_set(CS_ENOMEM, "httpd: cannot create timer");
	}
	o->next = srv->once;
	if (o->next != NULL)
		o->next->prev = o;
	srv->once = o;
	return CS_OK;
}

int cs_httpd_run(cs_httpd *srv)
{
	struct event *sigint = evsignal_new(srv->base, SIGINT, on_signal, srv);
	struct event *sigterm = evsignal_new(srv->base, SIGTERM, on_signal, srv);
	int rc = CS_OK;

	if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) != 0 ||
		evsignal_add(sigterm, NULL) != 0) {
		rc = cs_error_set(CS_ERROR, "httpd: cannot install signal handlers");
		goto done;
	}
	/* One turn at a time: after each, the records the TLS connections
	 * read ahead are handed on (httpd_readahead.c). */
	for (;;) {
		int r = event_base_loop(srv->base, EVLOOP_ONCE);
		if (r < 0) {
			rc = cs_error_set(CS_ERROR, "httpd: event loop failed");
			break;
		}
		if (r == 1 || event_base_got_break(srv->base))
			break;
		cs__httpd_readahead_after_turn(srv);
	}
	cs_log(CS_LOG_INFO, "http.stopped", "port=%d", srv->port);
done:
	/* deleting the signal events restores the previous handlers */
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	return rc;
}

void cs_httpd_stop(cs_httpd *srv)
{
	if (srv == NULL || srv->stop_pipe[1] < 0)
		return;
	/* Only write(): callable from any thread and from a signal handler. A
	 * full pipe means a stop is already pending. */
	int saved = errno;
	ssize_t n;
	do {
		n = write(srv->stop_pipe[1], "s", 1);
	} while (n < 0 && errno == EINTR);
	errno = saved;
}
