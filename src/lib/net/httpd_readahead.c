/*
 * Read-ahead for the server's TLS connections.
 *
 * Without read-ahead OpenSSL reads a record in two system calls (its 5-byte
 * header, then its body), so an upload of a gigabyte costs some 130,000
 * reads. With read-ahead it reads whatever the socket holds, up to
 * CS__HTTPD_READ_BUFFER, and cuts the records out of its own buffer.
 *
 * libevent's OpenSSL bufferevent does not know about that buffer: it keeps
 * calling SSL_read() only while SSL_pending() (decrypted bytes of the current
 * record) is non-zero, then waits for the socket to become readable. Records
 * already in OpenSSL's buffer would wait for a socket event that may never
 * come — the last records of a request whose client now waits for the
 answer, or a request pipelined behind one whose answer is being written.
 * So every connection whose input or output changed during a loop turn is
 * put on a list, and after the turn (cs__httpd_readahead_after_turn) the
 * records of each one that holds some, and may read, are read into its
 * input and its reader (evhttp) runs. A connection whose buffers did not
 * change is not looked at again, so one that cannot take more (reading
 * disabled, input above its watermark) does not spin the loop: evhttp
 * drains its input, or answers and reads the next request, and either puts
 * it back on the list.
 *
 * Read-ahead is switched on only once the handshake is done: during the
 * handshake libevent drives OpenSSL through another path that has the same
 * blind spot.
 */
#include <limits.h>
#include <stdlib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include "lib/net/internal.h"

struct cs__httpd_tls_conn {
	struct cs__httpd_tls_conn *prev, *next; /* on srv->readahead_check */
	int listed;
	cs_httpd *srv;
	struct bufferevent *bev;
	SSL *ssl;
	struct evbuffer_cb_entry *on_input, *on_output;
	uint64_t turn; /* the loop turn it was last drained in */
	int partial;   /* that drain ended on a partial record */
};

static int conn_index = -1;

static void unlist(struct cs__httpd_tls_conn *c)
{
	if (!c->listed)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->srv->readahead_check = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->listed = 0;
}

static void list(struct cs__httpd_tls_conn *c)
{
	if (c->listed)
		return;
	c->prev = NULL;
	c->next = c->srv->readahead_check;
	if (c->next)
		c->next->prev = c;
	c->srv->readahead_check = c;
	c->listed = 1;
}

/* SSL_free() of the connection (the bufferevent frees its SSL). */
static void conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct cs__httpd_tls_conn *c = ptr;
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	unlist(c);
	/* the bufferevent frees its buffers after its SSL */
	if (c->on_input)
		evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->on_input);
	if (c->on_output)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->on_output);
	free(c);
}

static void on_buffer_change(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)buf;
	if (info->n_added || info->n_deleted)
		list(arg);
}

static void on_tls_info(const SSL *ssl, int where, int ret)
{
	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_DONE))
		return;
	struct cs__httpd_tls_conn *c = SSL_get_ex_data(ssl, conn_index);
	if (c == NULL)
		return;
	SSL_set_read_ahead(c->ssl, 1);
	list(c);
}

void cs__httpd_readahead_global_init(void)
{
	conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
}

void cs__httpd_readahead_ctx_init(SSL_CTX *ctx)
{
	SSL_CTX_set_default_read_buffer_len(ctx, CS__HTTPD_READ_BUFFER);
	SSL_CTX_set_info_callback(ctx, on_tls_info);
}

int cs__httpd_readahead_attach(cs_httpd *srv, struct bufferevent *bev, SSL *ssl)
{
	if (conn_index < 0)
		return -1;
	struct cs__httpd_tls_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->srv = srv;
	c->bev = bev;
	c->ssl = ssl;
	c->on_input = evbuffer_add_cb(bufferevent_get_input(bev), on_buffer_change, c);
	c->on_output = evbuffer_add_cb(bufferevent_get_output(bev), on_buffer_change, c);
	if (c->on_input == NULL || c->on_output == NULL || SSL_set_ex_data(ssl, conn_index, c) != 1) {
		conn_free(NULL, c, NULL, 0, 0, NULL);
		return -1;
	}
	return 0;
}

/* May the bufferevent read now? (bytes_to_read() in libevent's terms) */
static int reading(struct bufferevent *bev)
{
	if (!(bufferevent_get_enabled(bev) & EV_READ))
		return 0;
	size_t high = 0;
	bufferevent_getwatermark(bev, EV_READ, NULL, &high);
	return high == 0 || evbuffer_get_length(bufferevent_get_input(bev)) < high;
}

/*
 * Read the records OpenSSL holds into the connection's input, as libevent's
 * do_read() would, at most CS__HTTPD_IO_BATCH bytes, and run the reader
 * (evhttp) once for all of them. A connection stopped by that bound has its
 * read event activated, so that the next turn goes on without waiting for
 * the socket. A partial record (WANT_READ) waits for the socket like any
 * other read; anything else (an alert, close_notify, an error) is left to
 * libevent, whose read event is activated and meets the condition on its
 * own path. The error queue is left empty: it is shared by every
 * connection of the thread.
 */
static void drain_records(struct cs__httpd_tls_conn *c)
{
	struct evbuffer *input = bufferevent_get_input(c->bev);
	size_t got = 0;
	c->partial = 0;
	while (SSL_has_pending(c->ssl) && reading(c->bev)) {
		if (got >= CS__HTTPD_IO_BATCH) {
			event_active(&c->bev->ev_read, EV_READ, 1);
			break;
		}
		struct evbuffer_iovec v;
		if (evbuffer_reserve_space(input, CS__HTTPD_TLS_RECORD, &v, 1) != 1)
			break;
		ERR_clear_error();
		int n = SSL_read(c->ssl, v.iov_base, (int)(v.iov_len < INT_MAX ? v.iov_len : INT_MAX));
		if (n <= 0) {
			int err = SSL_get_error(c->ssl, n);
			ERR_clear_error();
			if (err == SSL_ERROR_WANT_READ)
				c->partial = 1;
			else
				event_active(&c->bev->ev_read, EV_READ, 1);
			break;
		}
		v.iov_len = (size_t)n;
		evbuffer_commit_space(input, &v, 1);
		c->srv->readahead_handed_on++;
		got += (size_t)n;
	}
	if (got)
		bufferevent_trigger(c->bev, EV_READ, 0);
}

size_t cs__httpd_readahead_handed_on(const cs_httpd *srv)
{
	return srv->readahead_handed_on;
}

void cs__httpd_readahead_after_turn(cs_httpd *srv)
{
	/* Each connection is drained once per turn; one that comes back on the
	 * list (its reader answered and reads on) has its read event activated
	 * instead, so one busy client cannot hold the loop. */
	srv->readahead_turn++;
	while (srv->readahead_check != NULL) {
		struct cs__httpd_tls_conn *c = srv->readahead_check;
		unlist(c);
		if (!SSL_has_pending(c->ssl) || !reading(c->bev))
			continue;
		if (c->turn == srv->readahead_turn) {
			/* the rest of a partial record comes with a socket event */
			if (!c->partial)
				event_active(&c->bev->ev_read, EV_READ, 1);
			continue;
		}
		c->turn = srv->readahead_turn;
		drain_records(c);
	}
}
