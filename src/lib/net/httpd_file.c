/* Replying with the contents of a file (cs_http_reply_file).
 *
 * Small files are read whole into the reply. Larger ones are streamed: one
 * chunk is read into memory and queued, and the next is read when libevent
 * reports the previous one written, so memory stays at one chunk per
 * connection whatever the file size. The bytes pass through OpenSSL like
 * any other reply (no sendfile/mmap: TLS needs them in user space, and a
 * file truncated under an mmap would raise SIGBUS). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/net/internal.h"

#define FILE_CHUNK (256 * 1024)
#define FILE_INLINE_MAX FILE_CHUNK

/* Append exactly len bytes read from fd to buf; -1 on error or early EOF
 * (the file is shorter than its caller said). */
static int read_exact(int fd, struct evbuffer *buf, size_t len)
{
	struct evbuffer_iovec v;
	size_t got = 0;

	if (len == 0)
		return 0;
	if (evbuffer_reserve_space(buf, (ev_ssize_t)len, &v, 1) != 1)
		return -1;
	while (got < len) {
		ssize_t n = read(fd, (char *)v.iov_base + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1; /* reserved space is simply never committed */
		got += (size_t)n;
	}
	v.iov_len = len;
	return evbuffer_commit_space(buf, &v, 1);
}

static void on_chunk_sent(struct evhttp_connection *evcon, void *arg);

/* Queue req->chunk; after the last one, end the reply. */
static void send_chunk(cs_http_req *req)
{
	if (req->remaining > 0) {
		evhttp_send_reply_chunk_with_cb(req->ev, req->chunk, on_chunk_sent, req);
		return;
	}
	struct evhttp_request *ev = req->ev;
	struct evhttp_connection *evcon = evhttp_request_get_connection(ev);
	if (evcon != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	close(req->fd);
	req->fd = -1;
	req->ev = NULL;
	evhttp_send_reply_chunk(ev, req->chunk);
	/* with data still queued, this completes once it is written */
	evhttp_send_reply_end(ev);
	cs__http_req_finish(req);
}

static int fill_chunk(cs_http_req *req)
{
	size_t want = req->remaining < FILE_CHUNK ? (size_t)req->remaining : FILE_CHUNK;
	if (read_exact(req->fd, req->chunk, want) != 0)
		return -1;
	req->remaining -= want;
	return 0;
}

static void on_chunk_sent(struct evhttp_connection *evcon, void *arg)
{
	cs_http_req *req = arg;
	if (fill_chunk(req) == 0) {
		send_chunk(req);
		return;
	}
	/* The status line and length are out; the only honest signal left is
	 * to cut the connection so that the client sees a short body. */
	cs_log(CS_LOG_WARN, "http.file_read_failed", "remote=%s remaining=%" PRIu64,
		req->remote, req->remaining);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	req->ev = NULL; /* attached: freed with the connection */
	cs__http_req_finish(req);
	evhttp_connection_free(evcon);
}

void cs_http_reply_file(cs_http_req *req, int status, const char *content_type,
	int fd, uint64_t size)
{
	if (req->state != CS_REQ_ACTIVE || req->closed || req->ev == NULL) {
		close(fd);
		if (req->state == CS_REQ_ACTIVE)
			cs__http_req_finish(req);
		return;
	}
	cs__http_req_unwatch(req);
	struct evhttp_request *ev = req->ev;
	struct evkeyvalq *h = evhttp_request_get_output_headers(ev);
	char cl[24];
	snprintf(cl, sizeof(cl), "%" PRIu64, size);

	if (evhttp_request_get_command(ev) == EVHTTP_REQ_HEAD || status < 200 || status == 204 ||
		status == 304 || size <= FILE_INLINE_MAX) {
		int with_body = evhttp_request_get_command(ev) != EVHTTP_REQ_HEAD &&
			status >= 200 && status != 204 && status != 304;
		if (with_body && read_exact(fd, evhttp_request_get_output_buffer(ev), (size_t)size) != 0) {
			close(fd);
			cs_log(CS_LOG_WARN, "http.file_read_failed", "remote=%s size=%" PRIu64,
				req->remote, size);
			cs_http_reply_error(req, 500, "io", "cannot read the file");
			return;
		}
		close(fd);
		if (content_type != NULL)
			evhttp_add_header(h, "Content-Type", content_type);
		evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
		if (!with_body)
			evhttp_add_header(h, "Content-Length", cl);
		cs__http_req_log(req, status);
		req->ev = NULL;
		evhttp_send_reply(ev, status, NULL, NULL);
		cs__http_req_finish(req);
		return;
	}

	req->fd = fd;
	req->remaining = size;
	req->chunk = evbuffer_new();
	/* read the first chunk before the status line goes out, so that an
	 * unreadable file still gets a proper error reply */
	if (req->chunk == NULL || fill_chunk(req) != 0) {
		close(req->fd);
		req->fd = -1;
		cs_log(CS_LOG_WARN, "http.file_read_failed", "remote=%s size=%" PRIu64,
			req->remote, size);
		cs_http_reply_error(req, 500, "io", "cannot read the file");
		return;
	}
	if (content_type != NULL)
		evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* a known length keeps evhttp from switching to chunked encoding */
	evhttp_add_header(h, "Content-Length", cl);
	cs__http_req_log(req, status);
	req->state = CS_REQ_STREAMING;
	cs__http_req_set_closecb(req);
	evhttp_send_reply_start(ev, status, NULL);
	send_chunk(req);
}
