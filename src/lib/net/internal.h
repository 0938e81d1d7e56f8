#ifndef CS_NET_INTERNAL_H
#define CS_NET_INTERNAL_H
/*
 * Definitions shared by the files of the HTTPS server (httpd*.c). Not part
 * of the public API.
 *
 * Lifetime of a request (struct cs_http_req), which wraps libevent's
 * evhttp_request:
 *   - created by the dispatcher when evhttp hands over a complete request;
 *   - the handler runs with in_handler set, so that a reply made inside it
 *     only marks the wrapper done and the dispatcher frees it afterwards;
 *   - a handler that keeps the request (long poll) leaves it ACTIVE; the
 *     dispatcher then watches the connection for a close (see
 *     cs__http_req_watch_close) and the connection's close callback points
 *     at the wrapper;
 *   - a file reply may leave it STREAMING until the last byte is queued;
 *   - the reply or the close callback moves it to DONE and frees it.
 */
#include <sys/queue.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>
#include <certsync/httpd.h>

#define CS_HTTPD_DEFAULT_MAX_BODY (8u * 1024 * 1024)
#define CS_HTTPD_DEFAULT_MAX_HEADERS (16u * 1024)
#define CS_HTTPD_DEFAULT_TIMEOUT_S 60

struct cs_http_route {
	char method[8]; /* "GET", ... or "*" */
	char *prefix;
	size_t prefix_len;
	cs_http_handler handler;
	void *ud;
};

struct cs_httpd_timer {
	struct event *ev;
	void (*fn)(void *ud);
	void *ud;
};

/* A one-shot timer (cs_httpd_after), on a doubly linked list so that the
 * server can drop the ones that have not fired when it is freed. */
struct cs_httpd_once {
	struct cs_httpd_once *prev, *next;
	cs_httpd *srv;
	struct event *ev;
	void (*fn)(void *ud);
	void *ud;
};

/* Bytes a connection may read or write in one loop turn (several TLS records). */
#define CS__HTTPD_IO_BATCH (256 * 1024)

/* OpenSSL's read buffer per connection: with read-ahead, the most one read
 * takes from the socket (several TLS records). */
#define CS__HTTPD_READ_BUFFER (128 * 1024)
/* The largest plaintext of one TLS record. */
#define CS__HTTPD_TLS_RECORD (16 * 1024)

struct cs__httpd_tls_conn;

struct cs_httpd {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl_ctx;
	struct cs__httpd_tls_conn *readahead_check; /* input changed this turn */
	size_t readahead_handed_on; /* records read from OpenSSL's buffer after a turn */
	uint64_t readahead_turn;    /* loop turns so far */
	int port;
	int timeout_s;

	struct cs_http_route *routes;
	size_t n_routes;

	struct cs_httpd_timer **timers; /* pointers: each is an event's argument */
	size_t n_timers;
	struct cs_httpd_once *once; /* pending one-shot timers */

	/* cs_httpd_stop() writes a byte to stop_pipe[1]; the loop reads
	 * stop_pipe[0]. A pipe rather than event_active() because it needs no
	 * libevent locking and write() is async-signal-safe. */
	int stop_pipe[2];
	struct event *stop_ev;
};

enum cs_http_req_state {
	CS_REQ_ACTIVE = 0, /* the handler owns it and must reply */
	CS_REQ_STREAMING,  /* a file reply is being sent */
	CS_REQ_DONE,       /* replied or closed; free when out of the handler */
};

struct cs_http_req {
	struct evhttp_request *ev; /* NULL once libevent has freed it */
	cs_httpd *srv;
	enum cs_http_req_state state;
	int in_handler; /* the handler is on the stack: do not free yet */
	int watching;   /* close detection is installed on the bufferevent */
	int closed;     /* the client went away before the reply */

	const char *method;
	char *path; /* decoded */
	struct evkeyvalq query;
	char remote[64];

	const uint8_t *body;  /* contiguous, once gathered (cs_http_req_body) */
	size_t body_len;
	struct evbuffer *body_in; /* the body as libevent received it */
	int body_gathered;

	cs_cert *peer;
	int peer_checked;

	void (*on_close)(cs_http_req *req, void *ud);
	void *on_close_ud;

	/* file streaming (httpd_file.c) */
	int fd;
	uint64_t remaining;
	struct evbuffer *chunk;
};

/* httpd_tls.c: the server's TLS context and the per-connection
 * bufferevent factory handed to evhttp_set_bevcb(). */
int cs__httpd_tls_ctx_new(SSL_CTX **out, const char *cert_path, const char *key_path);
struct bufferevent *cs__httpd_tls_bevcb(struct event_base *base, void *arg);
/* 1 when the connection of this request runs over TLS. */
int cs__httpd_conn_is_tls(struct evhttp_connection *evcon);

/* httpd_readahead.c: TLS read-ahead for the server's connections. */
/* Once per process, before any server: OpenSSL's per-connection slot. */
void cs__httpd_readahead_global_init(void);
/* Give every connection of ctx a read buffer of CS__HTTPD_READ_BUFFER and
 * switch read-ahead on when its handshake is done. */
void cs__httpd_readahead_ctx_init(SSL_CTX *ctx);
/* Follow a new connection's input; 0 or -1 (out of memory: the connection
 * then reads one record at a time, which is slower but correct). */
int cs__httpd_readahead_attach(cs_httpd *srv, struct bufferevent *bev, SSL *ssl);
/* After every loop turn: hand on the records read ahead by connections
 * whose input changed in the turn. */
void cs__httpd_readahead_after_turn(cs_httpd *srv);
/* How many records the server has read that way (for tests). */
size_t cs__httpd_readahead_handed_on(const cs_httpd *srv);

/* The checks both clients (httpc.c, blobc.c) make of their configuration;
 * who names the client in the message. */
struct cs_httpc_config;
int cs__httpc_config_check(const struct cs_httpc_config *cfg, const char *who);

/* For tests of the bulk client (blobc.c): connections it opened and recv()
 * calls that got bytes, so far. */
struct cs_blobc;
void cs__blobc_counts(const struct cs_blobc *c, size_t *connects, size_t *recvs);

/* httpd_route.c: the generic evhttp callback. */
void cs__httpd_dispatch(struct evhttp_request *ev, void *arg);

/* httpd_req.c */
cs_http_req *cs__http_req_new(cs_httpd *srv, struct evhttp_request *ev);
/* Free the wrapper if it is DONE and no handler is on the stack. */
void cs__http_req_release(cs_http_req *req);
/* Point the connection's close callback at req (for a file reply). */
void cs__http_req_set_closecb(cs_http_req *req);
/* After a handler returned without replying: watch for the client leaving. */
void cs__http_req_watch_close(cs_http_req *req);
/* Undo cs__http_req_watch_close before replying; also detaches the close
 * callback from the connection. */
void cs__http_req_unwatch(cs_http_req *req);
/* Mark done after the reply has been handed to libevent and release. */
void cs__http_req_finish(cs_http_req *req);
/* Log one finished exchange at debug level. */
void cs__http_req_log(const cs_http_req *req, int status);

#endif
