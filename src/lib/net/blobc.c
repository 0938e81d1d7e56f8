/*
 * HTTPS client for bulk transfers (include/certsync/blobc.h).
 *
 * OpenSSL talks to a BIO pair, not to the socket: whatever it writes
 * collects in the pair until this file sends it with one send(), and one
 * recv() fills the pair with as many records as have arrived. A 4 MiB pack
 * thus costs about 20 system calls each way instead of 256 writes or 512
 * reads of single records, and waiting is one poll() on the socket (nothing
 * can hide in a buffer the poll does not see: SSL_read is always asked
 * first, and only its WANT_READ leads to a poll).
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <certsync/bigmem.h>
#include <certsync/blobc.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/identity/internal.h"
#include "lib/net/internal.h"

#ifndef CS_VERSION
#define CS_VERSION "dev"
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
/* Each direction of the BIO pair: how much one send() or recv() moves. */
#define PAIR_BUFFER (256 * 1024)
/* Plaintext handed to SSL_write at once: fits the pair with its records'
 * overhead, so that one call ends in one send(). */
#define WRITE_SLICE (128 * 1024)
/* The status line and headers of a response. */
#define HEAD_MAX (16 * 1024)
/* How often a wait looks at the cancel flag. */
#define CANCEL_POLL_MS 1000

/* Internal: the connection ended before the first byte of a response, the
 * way a kept-alive connection that the server has closed ends. */
#define BLOBC_STALE 2

struct cs_blobc {
	SSL_CTX *ctx;
	SSL *ssl;  /* NULL when not connected */
	BIO *ext;  /* our end of the pair; the SSL owns the other */
	int fd;
	char *base_url;
	char host[256];
	char port[8];
	int host_is_ip;
	long connect_timeout_ms;
	const volatile int *cancel;
	int insecure;
	size_t connects, recvs; /* for tests: connections opened, recv() calls that got bytes */
};

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Split "https://host[:port]" (host may be a bracketed IPv6 literal). */
static int parse_base(cs_blobc *c, const char *url)
{
	const char *h = url + 8, *end = h + strlen(h), *colon;
	while (end > h && end[-1] == '/')
		end--;
	if (memchr(h, '/', (size_t)(end - h)) != NULL)
		return cs_error_set(CS_EINVAL, "blobc: base_url must not have a path");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb == NULL || rb - h - 1 <= 0 || (size_t)(rb - h - 1) >= sizeof(c->host))
			return cs_error_set(CS_EINVAL, "blobc: bad address in %s", url);
		memcpy(c->host, h + 1, (size_t)(rb - h - 1));
		c->host[rb - h - 1] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb + 1 != end)
			return cs_error_set(CS_EINVAL, "blobc: bad address in %s", url);
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		const char *hend = colon ? colon : end;
		if (hend == h || (size_t)(hend - h) >= sizeof(c->host))
			return cs_error_set(CS_EINVAL, "blobc: bad host in %s", url);
		memcpy(c->host, h, (size_t)(hend - h));
		c->host[hend - h] = '\0';
	}
	if (colon != NULL) {
		size_t n = (size_t)(end - colon - 1);
		if (n == 0 || n > 5 || strspn(colon + 1, "0123456789") < n)
			return cs_error_set(CS_EINVAL, "blobc: bad port in %s", url);
		memcpy(c->port, colon + 1, n);
		c->port[n] = '\0';
		long port = strtol(c->port, NULL, 10);
		if (port < 1 || port > 65535)
			return cs_error_set(CS_EINVAL, "blobc: bad port in %s", url);
	} else {
		snprintf(c->port, sizeof(c->port), "443");
	}
	unsigned char addr[16];
	c->host_is_ip = inet_pton(AF_INET, c->host, addr) == 1 || inet_pton(AF_INET6, c->host, addr) == 1;
	return CS_OK;
}

int cs_blobc_new(cs_blobc **out, const struct cs_httpc_config *cfg)
{
	cs_blobc *c = NULL;
	int r;

	*out = NULL;
	if ((r = cs__httpc_config_check(cfg, "blobc")) < 0)
		return r;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	c->fd = -1;
	c->cancel = cfg->cancel;
	c->insecure = cfg->insecure;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms :
		DEFAULT_CONNECT_TIMEOUT_MS;
	size_t blen = strlen(cfg->base_url);
	while (blen > 8 && cfg->base_url[blen - 1] == '/')
		blen--;
	if ((c->base_url = strndup(cfg->base_url, blen)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = parse_base(c, c->base_url)) < 0)
		goto fail;
	ERR_clear_error();
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION)) {
		r = cs__ossl_error(CS_ECRYPTO, "blobc: cannot set up TLS");
		goto fail;
	}
	if (!cfg->insecure) {
		/* the pinned CA only: no default paths are loaded */
		if (SSL_CTX_load_verify_locations(c->ctx, cfg->ca_path, NULL) != 1) {
			r = cs__ossl_error(CS_EIO, "blobc: cannot load the CA certificate");
			goto fail;
		}
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	}
	if (cfg->cert_path != NULL &&
	    (SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert_path) != 1 ||
		SSL_CTX_use_PrivateKey_file(c->ctx, cfg->key_path, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(c->ctx) != 1)) {
		r = cs__ossl_error(CS_EIO, "blobc: cannot load the client certificate and key");
		goto fail;
	}
	*out = c;
	return CS_OK;
fail:
	cs_blobc_free(c);
	return r;
}

static void disconnect(cs_blobc *c)
{
	SSL_free(c->ssl); /* and the pair's inner end */
	BIO_free(c->ext);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ext = NULL;
	c->fd = -1;
}

void cs_blobc_free(cs_blobc *c)
{
	if (c == NULL)
		return;
	disconnect(c);
	SSL_CTX_free(c->ctx);
	free(c->base_url);
	free(c);
}

/* Wait until the socket is ready for events, in slices that look at the
 * cancel flag; CS_ENET when cancelled or past deadline (ms, monotonic). */
static int wait_fd(cs_blobc *c, short events, int64_t deadline)
{
	for (;;) {
		if (c->cancel != NULL && *c->cancel)
			return cs_error_set(CS_ENET, "cancelled");
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return cs_error_set(CS_ENET, "timed out");
		struct pollfd p = {.fd = c->fd, .events = events};
		int n = poll(&p, 1, (int)(left < CANCEL_POLL_MS ? left : CANCEL_POLL_MS));
		if (n > 0)
			return CS_OK;
		if (n < 0 && errno != EINTR)
			return cs_error_set(CS_ENET, "poll: %s", strerror(errno));
	}
}

/* After a send() or recv() that moved nothing (n <= 0): 0 to try again
 * (interrupted, or the socket became ready for events), BLOBC_STALE when
 * the server closed the connection, or a CS_E* code. */
static int io_failed(cs_blobc *c, ssize_t n, short events, const char *what, int64_t deadline)
{
	if (n == 0 || errno == EPIPE || errno == ECONNRESET)
		return BLOBC_STALE;
	if (errno == EINTR)
		return 0;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return wait_fd(c, events, deadline);
	return cs_error_set(CS_ENET, "%s: %s", what, strerror(errno));
}

/* Send everything OpenSSL has put into the pair. */
static int pump_out(cs_blobc *c, int64_t deadline)
{
	for (;;) {
		char *p;
		int n = BIO_nread0(c->ext, &p);
		if (n <= 0)
			return CS_OK;
		ssize_t w = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
		if (w > 0) {
			BIO_nread(c->ext, &p, (int)w);
			continue;
		}
		/* send() never returns 0 for a non-empty buffer */
		int r = io_failed(c, w < 0 ? w : -1, POLLOUT, "send", deadline);
		if (r != 0)
			return r;
	}
}

/* Receive what has arrived into the pair (waiting for at least one byte).
 * BLOBC_STALE when the server has closed the connection. */
static int pump_in(cs_blobc *c, int64_t deadline)
{
	char *p;
	int space = BIO_nwrite0(c->ext, &p);
	if (space <= 0) /* OpenSSL asked for more while holding a full buffer */
		return cs_error_set(CS_ENET, "TLS: input buffer full");
	for (;;) {
		ssize_t n = recv(c->fd, p, (size_t)space, 0);
		if (n > 0) {
			c->recvs++;
			BIO_nwrite(c->ext, &p, (int)n);
			return CS_OK;
		}
		int r = io_failed(c, n, POLLIN, "recv", deadline);
		if (r != 0)
			return r;
	}
}

/* After an SSL call that returned ret: move bytes as it asks. 1 when the
 * call succeeded, 0 to call it again, BLOBC_STALE (2) on end of connection,
 * or a CS_E* code. */
static int tls_step(cs_blobc *c, int ret, const char *what, int64_t deadline)
{
	int r = pump_out(c, deadline);
	if (r != CS_OK)
		return r; /* an error, or the end of the connection */
	if (ret > 0)
		return 1;
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return pump_in(c, deadline);
	case SSL_ERROR_WANT_WRITE:
		return 0; /* the pair was full and has been sent */
	case SSL_ERROR_ZERO_RETURN:
		return BLOBC_STALE;
	default:
		if (!c->insecure && !SSL_is_init_finished(c->ssl) &&
		    SSL_get_verify_result(c->ssl) != X509_V_OK) {
			ERR_clear_error();
			return cs_error_set(CS_ENET, "%s: server certificate: %s", what,
				X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
		}
		return cs__ossl_error(CS_ENET, what);
	}
}

static int tcp_connect(cs_blobc *c, int64_t deadline)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	char why[256] = "";
	int gai = getaddrinfo(c->host, c->port, &hints, &res);
	if (gai != 0)
		return cs_error_set(CS_ENET, "%s: %s", c->host, gai_strerror(gai));
	for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
		int err = 0;
		socklen_t elen = sizeof(err);
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (c->fd < 0) {
			snprintf(why, sizeof(why), "socket: %s", strerror(errno));
			continue;
		}
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS)
			err = errno;
		else if (wait_fd(c, POLLOUT, deadline) < 0)
			snprintf(why, sizeof(why), "%s", cs_error_last());
		else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0) {
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return CS_OK;
		}
		if (err != 0)
			snprintf(why, sizeof(why), "%s", strerror(err));
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	return cs_error_set(CS_ENET, "%s", why[0] ? why : "no address to connect to");
}

static int tls_connect(cs_blobc *c, int64_t deadline)
{
	BIO *inner = NULL;
	ERR_clear_error();
	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    BIO_new_bio_pair(&inner, PAIR_BUFFER, &c->ext, PAIR_BUFFER) != 1)
		return cs__ossl_error(CS_ENOMEM, "TLS setup");
	SSL_set_bio(c->ssl, inner, inner);
	if (c->host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->host) != 1)
			return cs__ossl_error(CS_EINVAL, "TLS setup");
	} else if (SSL_set_tlsext_host_name(c->ssl, c->host) != 1 || SSL_set1_host(c->ssl, c->host) != 1) {
		return cs__ossl_error(CS_EINVAL, "TLS setup");
	}
	SSL_set_connect_state(c->ssl);
	for (;;) {
		ERR_clear_error();
		int r = tls_step(c, SSL_do_handshake(c->ssl), "TLS handshake", deadline);
		if (r == 1)
			return CS_OK;
		if (r == BLOBC_STALE)
			return cs_error_set(CS_ENET, "TLS handshake: the server closed the connection");
		if (r < 0)
			return r;
	}
}

/* Connect within the connect timeout and the request's deadline. */
static int open_conn(cs_blobc *c, int64_t request_deadline)
{
	int64_t deadline = now_ms() + c->connect_timeout_ms;
	if (deadline > request_deadline)
		deadline = request_deadline;
	int r = tcp_connect(c, deadline);
	c->connects++;
	if (r == 0)
		r = tls_connect(c, deadline);
	if (r < 0) {
		disconnect(c);
		return cs_error_wrap("connect to %s", c->base_url);
	}
	return CS_OK;
}

static int write_all(cs_blobc *c, const uint8_t *data, size_t len, int64_t deadline)
{
	size_t off = 0;
	while (off < len) {
		int n = len - off < WRITE_SLICE ? (int)(len - off) : WRITE_SLICE;
		ERR_clear_error();
		int ret = SSL_write(c->ssl, data + off, n);
		int r = tls_step(c, ret, "TLS write", deadline);
		if (r == 1)
			off += (size_t)ret;
		else if (r != 0)
			return r;
	}
	return CS_OK;
}

/* Read some plaintext into buf; *got is 0 when the connection ended. */
static int read_some(cs_blobc *c, uint8_t *buf, size_t cap, int64_t deadline, size_t *got)
{
	int n = cap > INT_MAX ? INT_MAX : (int)cap;
	for (;;) {
		ERR_clear_error();
		int ret = SSL_read(c->ssl, buf, n);
		int r = tls_step(c, ret, "TLS read", deadline);
		if (r == 1) {
			*got = (size_t)ret;
			return CS_OK;
		}
		if (r == BLOBC_STALE) {
			*got = 0;
			return CS_OK;
		}
		if (r < 0)
			return r;
	}
}

/* ---- the response head ---- */

static int header_is(const char *line, size_t len, const char *name, const char **value,
	size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return 0;
	const char *v = line + n + 1, *e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*value = v;
	*vlen = (size_t)(e - v);
	return 1;
}

static int token_in(const char *v, size_t len, const char *token)
{
	size_t n = strlen(token);
	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(v + i, token, n) == 0 && (i == 0 || strchr(" \t,", v[i - 1])) &&
		    (i + n == len || strchr(" \t,", v[i + n])))
			return 1;
	return 0;
}

int cs_blobc_parse_head(long *status, int64_t *content_length, int *closes, const char *head,
	size_t len)
{
	const char *p = head, *end = head + len;
	int64_t clen = -1;
	int minor, keep_alive = 0, conn_close = 0;

	const char *eol = memchr(p, '\n', len);
	/* "HTTP/1.x NNN" and an optional reason */
	if (eol == NULL || eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
	    p[11] > '9' || (eol - p > 12 && p[12] != ' ' && p[12] != '\r') || eol[-1] != '\r')
		return cs_error_set(CS_EMALFORMED, "malformed HTTP status line");
	minor = p[7] - '0';
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (p = eol + 1;;) {
		if (p >= end)
			return cs_error_set(CS_ETRUNCATED, "HTTP response head without its end");
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL || eol == p || eol[-1] != '\r')
			return cs_error_set(CS_EMALFORMED, "malformed HTTP header line");
		size_t ll = (size_t)(eol - p) - 1;
		if (ll == 0) {
			if (eol + 1 != end)
				return cs_error_set(CS_ETRAILING, "bytes after the HTTP response head");
			break;
		}
		if (memchr(p, '\0', ll) != NULL || *p == ' ' || *p == '\t' || memchr(p, ':', ll) == NULL)
			return cs_error_set(CS_EMALFORMED, "malformed HTTP header line");
		const char *v;
		size_t vl;
		if (header_is(p, ll, "Content-Length", &v, &vl)) {
			if (vl == 0 || vl > 18 || strspn(v, "0123456789") < vl)
				return cs_error_set(CS_EMALFORMED, "bad Content-Length");
			int64_t n = 0;
			for (size_t i = 0; i < vl; i++)
				n = n * 10 + (v[i] - '0');
			if (clen >= 0 && clen != n)
				return cs_error_set(CS_EMALFORMED, "conflicting Content-Length headers");
			clen = n;
		} else if (header_is(p, ll, "Transfer-Encoding", &v, &vl)) {
			return cs_error_set(CS_EMALFORMED, "chunked HTTP responses are not supported");
		} else if (header_is(p, ll, "Connection", &v, &vl)) {
			conn_close |= token_in(v, vl, "close");
			keep_alive |= token_in(v, vl, "keep-alive");
		}
		p = eol + 1;
	}
	*content_length = clen;
	*closes = conn_close || (minor == 0 && !keep_alive) || clen < 0;
	return CS_OK;
}

/* Read the head into buf (up to HEAD_MAX); *head_len is its length up to
 * and including the empty line, *got everything read (body bytes may
 * follow). BLOBC_STALE when the connection ended before any byte. */
static int read_head(cs_blobc *c, char *buf, size_t *head_len, size_t *got, int64_t deadline)
{
	size_t have = 0;
	for (;;) {
		size_t n;
		int r = read_some(c, (uint8_t *)buf + have, HEAD_MAX - have, deadline, &n);
		if (r < 0)
			return r;
		if (n == 0)
			return have == 0 ? BLOBC_STALE :
				cs_error_set(CS_ENET, "the server closed the connection within a response");
		size_t from = have > 3 ? have - 3 : 0;
		have += n;
		for (size_t i = from; i + 4 <= have; i++)
			if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
				*head_len = i + 4;
				*got = have;
				return CS_OK;
			}
		if (have == HEAD_MAX)
			return cs_error_set(CS_ENET, "HTTP response head larger than %d bytes", HEAD_MAX);
	}
}

/* One request on the open connection. */
static int exchange(cs_http_resp *resp, cs_blobc *c, const char *method, const char *path,
	const char *content_type, const void *body, size_t len, size_t max_resp, int64_t deadline)
{
	char head[HEAD_MAX];
	uint8_t *data = NULL;
	size_t head_len = 0, got = 0, have;
	int64_t clen;
	int is_head = strcmp(method, "HEAD") == 0, must_close, r;
	int sends_body = strcmp(method, "GET") != 0 && !is_head;

	int n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
		"User-Agent: certsync/" CS_VERSION "\r\n%s%s%s", method, path,
		c->host_is_ip && strchr(c->host, ':') ? "[" : "", c->host,
		c->host_is_ip && strchr(c->host, ':') ? "]" : "", c->port,
		content_type ? "Content-Type: " : "", content_type ? content_type : "",
		content_type ? "\r\n" : "");
	if (n > 0 && (size_t)n < sizeof(head) && sends_body)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
	if (n > 0 && (size_t)n < sizeof(head))
		n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if (n <= 0 || (size_t)n >= sizeof(head))
		return cs_error_set(CS_EINVAL, "blobc: request head too long");
	if ((r = write_all(c, (const uint8_t *)head, (size_t)n, deadline)) != 0)
		return r;
	if (sends_body && len > 0 && (r = write_all(c, body, len, deadline)) != 0)
		return r;

	if ((r = read_head(c, head, &head_len, &got, deadline)) != 0)
		return r;
	if ((r = cs_blobc_parse_head(&resp->status, &clen, &must_close, head, head_len)) < 0)
		return cs_error_wrap("%s %s%s", method, c->base_url, path);
	if (resp->status < 200)
		return cs_error_set(CS_ENET, "%s %s%s: interim responses are not supported", method,
			c->base_url, path);
	if (is_head || resp->status == 204 || resp->status == 304)
		clen = 0;
	/* Only a length tells a whole body from one cut short by whoever
	 * closed the connection; the hub always sends it. */
	if (clen < 0)
		return cs_error_set(CS_ENET, "%s %s%s: response without Content-Length", method,
			c->base_url, path);
	if ((uint64_t)clen > max_resp)
		return cs_error_set(CS_ELIMIT, "%s %s%s: response larger than %zu bytes", method,
			c->base_url, path, max_resp);
	have = got - head_len;
	if (have > (size_t)clen)
		return cs_error_set(CS_ENET, "%s %s%s: bytes after the response", method, c->base_url,
			path);
	if ((data = cs_bigmem_alloc((size_t)clen + 1)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(data, head + head_len, have);
	while (have < (size_t)clen) {
		if ((r = read_some(c, data + have, (size_t)clen - have, deadline, &got)) < 0)
			goto fail;
		if (got == 0) {
			r = cs_error_set(CS_ENET, "%s %s%s: the connection ended within the response",
				method, c->base_url, path);
			goto fail;
		}
		have += got;
	}
	data[have] = '\0';
	resp->body = data;
	resp->len = have;
	if (must_close)
		disconnect(c);
	return CS_OK;
fail:
	cs_bigmem_free(data);
	return r;
}

/* Whether s has only printable ASCII (and spaces, unless no_space). */
static int printable(const char *s, int no_space)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || (no_space && *s == ' '))
			return 0;
	return 1;
}

int cs_blobc_request(cs_http_resp *resp, cs_blobc *c, const char *method, const char *path,
	const char *content_type, const void *body, size_t len, size_t max_resp, long timeout_ms)
{
	memset(resp, 0, sizeof(*resp));
	if (method == NULL || method[0] == '\0' || strlen(method) > 15 ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
		return cs_error_set(CS_EINVAL, "blobc: bad method");
	if (path == NULL || path[0] != '/' || !printable(path, 1) || strlen(path) > 4096)
		return cs_error_set(CS_EINVAL, "blobc: path must start with / and hold no spaces");
	if (content_type != NULL && (!printable(content_type, 0) || strlen(content_type) > 200))
		return cs_error_set(CS_EINVAL, "blobc: bad content type");
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : INT64_MAX;
	for (int attempt = 0;; attempt++) {
		int reused = c->ssl != NULL, r;
		if (!reused && (r = open_conn(c, deadline)) < 0)
			return r;
		r = exchange(resp, c, method, path, content_type, body, len, max_resp, deadline);
		if (r == CS_OK)
			return CS_OK;
		disconnect(c);
		/* A kept-alive connection may have been closed by the server
		 * while idle: the request never reached it, so it goes again
		 * on a fresh connection. */
		if (r == BLOBC_STALE && reused && attempt == 0)
			continue;
		if (r == BLOBC_STALE)
			r = cs_error_set(CS_ENET, "%s %s%s: the server closed the connection", method,
				c->base_url, path);
		cs_log(CS_LOG_DEBUG, "http.client_error", "method=%s code=%d", method, r);
		return r;
	}
}

void cs__blobc_counts(const cs_blobc *c, size_t *connects, size_t *recvs)
{
	*connects = c->connects;
	*recvs = c->recvs;
}
