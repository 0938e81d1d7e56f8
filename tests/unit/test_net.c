/* Unit tests for src/lib/net: the HTTPS server and clients, talking to each
 * other over loopback, plus hostile clients written with raw sockets. The
 * server runs cs_httpd_run() in a background thread; every handler and
 * timer below runs on that thread. Certificates come from the openssl
 * command line so that these tests do not depend on the identity module. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <jansson.h>
#include <certsync/blobc.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/httpc.h>
#include <certsync/httpd.h>
#include <certsync/log.h>
#include "lib/identity/internal.h"
#include "lib/net/internal.h"
#include "helpers.h"

#define MAX_BODY (1024 * 1024)
#define BIG_FILE_SIZE (10 * 1024 * 1024)
#define RESP_MAX (16 * 1024 * 1024)

static char *dir;
static char path_ca[512], path_other_ca[512], path_srv_crt[512], path_srv_key[512];
static char path_cli_crt[512], path_cli_key[512], path_big[512];
static uint8_t *big_data;

static cs_httpd *srv;
static pthread_t srv_thread;
static char base_url[64];
static int srv_port;

/* server-thread state */
static cs_http_req *deferred_req;
static int64_t deferred_due;
static atomic_int poll_closed;
static atomic_int poll_waiting;

/* ---- handlers (server thread) ---- */

static void h_echo(cs_http_req *req, void *ud)
{
	(void)ud;
	size_t len;
	const uint8_t *body = cs_http_req_body(req, &len);
	const char *m = cs_http_req_method(req);
	size_t mlen = strlen(m);
	uint8_t *out = malloc(mlen + 1 + len);
	memcpy(out, m, mlen);
	out[mlen] = ' ';
	memcpy(out + mlen + 1, body, len);
	/* the body is NUL-terminated one past its length */
	if (body[len] != '\0') {
		cs_http_reply_error(req, 500, "test", "body not terminated");
		free(out);
		return;
	}
	cs_http_reply(req, 200, "application/octet-stream", out, mlen + 1 + len);
	free(out);
}

/* Copies the body out without gathering it, then gathers it: both give the
 * same bytes; a copy of the wrong length is refused. */
static void h_copy(cs_http_req *req, void *ud)
{
	(void)ud;
	size_t n = cs_http_req_body_len(req), len;
	uint8_t *out = malloc(n + 1);
	if (cs_http_req_body_copy(req, out, n) != CS_OK ||
	    cs_http_req_body_copy(req, out, n + 1) != CS_EINVAL) {
		cs_http_reply_error(req, 500, "test", "copy failed");
		free(out);
		return;
	}
	const uint8_t *body = cs_http_req_body(req, &len);
	uint8_t *again = malloc(n + 1);
	int same = len == n && memcmp(body, out, n) == 0 &&
		cs_http_req_body_copy(req, again, n) == CS_OK && memcmp(again, out, n) == 0;
	if (!same)
		cs_http_reply_error(req, 500, "test", "copy and body differ");
	else
		cs_http_reply(req, 200, "application/octet-stream", out, n);
	free(out);
	free(again);
}

/* Answers with the body's length only. */
static void h_length(cs_http_req *req, void *ud)
{
	(void)ud;
	char out[64];
	snprintf(out, sizeof(out), "length=%zu;", cs_http_req_body_len(req));
	cs_http_reply(req, 200, "text/plain", out, strlen(out));
}

static void h_query(cs_http_req *req, void *ud)
{
	(void)ud;
	const char *q = cs_http_req_query(req, "q");
	const char *ct = cs_http_req_header(req, "Content-Type");
	char out[256];
	snprintf(out, sizeof(out), "path=%s q=%s ct=%s remote=%s", cs_http_req_path(req),
		q ? q : "-", ct ? ct : "-", cs_http_req_remote(req));
	cs_http_reply(req, 200, "text/plain", out, strlen(out));
}

static void h_whoami(cs_http_req *req, void *ud)
{
	(void)ud;
	const cs_cert *c = cs_http_req_peer_cert(req);
	char cn[128] = "none";
	if (c != NULL)
		X509_NAME_get_text_by_NID(X509_get_subject_name(c->x509), NID_commonName, cn, sizeof(cn));
	/* a second call returns the cached certificate */
	if (cs_http_req_peer_cert(req) != c) {
		cs_http_reply_error(req, 500, "test", "peer cert not cached");
		return;
	}
	cs_http_reply(req, 200, "text/plain", cn, strlen(cn));
}

static void h_only_get(cs_http_req *req, void *ud)
{
	(void)ud;
	cs_http_reply(req, 200, "application/json", "{\"ok\":true}", 11);
}

static void h_defer(cs_http_req *req, void *ud)
{
	(void)ud;
	deferred_req = req;
	deferred_due = cs_clock_mono_ms() + 150;
}

static void tick(void *ud)
{
	(void)ud;
	if (deferred_req != NULL && cs_clock_mono_ms() >= deferred_due) {
		cs_http_req *req = deferred_req;
		deferred_req = NULL;
		cs_http_reply(req, 200, "text/plain", "deferred", 8);
	}
}

static void poll_closed_cb(cs_http_req *req, void *ud)
{
	(void)req;
	(void)ud;
	atomic_fetch_sub(&poll_waiting, 1);
	atomic_fetch_add(&poll_closed, 1);
}

static void h_poll(cs_http_req *req, void *ud)
{
	(void)ud;
	atomic_fetch_add(&poll_waiting, 1);
	cs_http_req_on_close(req, poll_closed_cb, NULL);
}

static void h_file(cs_http_req *req, void *ud)
{
	(void)ud;
	int fd = open(path_big, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		cs_http_reply_error(req, 500, "test", "cannot open");
		return;
	}
	cs_http_reply_file(req, 200, "application/octet-stream", fd, (uint64_t)st.st_size);
}

static void h_small_file(cs_http_req *req, void *ud)
{
	(void)ud;
	int fd = open(path_big, O_RDONLY | O_CLOEXEC);
	cs_http_reply_file(req, 200, "application/octet-stream", fd, 1000);
}

/* Claims more bytes than the file has: the reply must fail cleanly.
 * small: read whole, fails at once; first: streamed, the first chunk is
 * short; late: streamed, runs dry after the real 10 MiB. */
static void h_short_file(cs_http_req *req, void *ud)
{
	(void)ud;
	const char *p = cs_http_req_path(req);
	int fd = open(path_big, O_RDONLY | O_CLOEXEC);
	uint64_t claimed = BIG_FILE_SIZE + 1000;
	if (strcmp(p, "/short-file/small") == 0) {
		lseek(fd, BIG_FILE_SIZE - 100, SEEK_SET);
		claimed = 1000;
	} else if (strcmp(p, "/short-file/first") == 0) {
		lseek(fd, BIG_FILE_SIZE - 100, SEEK_SET);
		claimed = 1024 * 1024;
	}
	cs_http_reply_file(req, 200, "application/octet-stream", fd, claimed);
}

/* ---- setup ---- */

static void run(const char *cmd)
{
	char full[4096];
	snprintf(full, sizeof(full), "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0)
		fail_msg("command failed: %s", cmd);
}

static const char openssl_cnf[] =
	"[req]\n"
	"distinguished_name = dn\n"
	"prompt = no\n"
	"[dn]\n"
	"CN = placeholder\n"
	"[ca_ext]\n"
	"basicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"[server_ext]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectAltName = IP:127.0.0.1,DNS:localhost\n"
	"[elsewhere_ext]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectAltName = DNS:elsewhere.example\n"
	"[client_ext]\n"
	"basicConstraints = CA:FALSE\n"
	"keyUsage = critical,digitalSignature\n"
	"extendedKeyUsage = clientAuth\n";

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

static void make_pki(void)
{
	cs_test_write_file(dir, "openssl.cnf", openssl_cnf, strlen(openssl_cnf));
	run("openssl req -config openssl.cnf -x509 " NEWKEY " -keyout ca.key -out ca.crt "
		"-subj /CN=test-ca -days 2 -extensions ca_ext");
	run("openssl req -config openssl.cnf -x509 " NEWKEY " -keyout other-ca.key -out other-ca.crt "
		"-subj /CN=other-ca -days 2 -extensions ca_ext");
	run("openssl req -config openssl.cnf " NEWKEY " -keyout server.key -out server.csr "
		"-subj /CN=server");
	run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 "
		"-out server.crt -days 2 -extfile openssl.cnf -extensions server_ext");
	run("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 4 "
		"-out elsewhere.crt -days 2 -extfile openssl.cnf -extensions elsewhere_ext");
	run("openssl req -config openssl.cnf " NEWKEY " -keyout client.key -out client.csr "
		"-subj /CN=client-1");
	run("openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 3 "
		"-out client.crt -days 2 -extfile openssl.cnf -extensions client_ext");
	snprintf(path_ca, sizeof(path_ca), "%s/ca.crt", dir);
	snprintf(path_other_ca, sizeof(path_other_ca), "%s/other-ca.crt", dir);
	snprintf(path_srv_crt, sizeof(path_srv_crt), "%s/server.crt", dir);
	snprintf(path_srv_key, sizeof(path_srv_key), "%s/server.key", dir);
	snprintf(path_cli_crt, sizeof(path_cli_crt), "%s/client.crt", dir);
	snprintf(path_cli_key, sizeof(path_cli_key), "%s/client.key", dir);
}

static void *server_main(void *arg)
{
	cs_httpd_run(arg);
	return NULL;
}

static int group_setup(void **state)
{
	(void)state;
	/* expected warnings (short files, a second signal base) stay quiet
	 * unless asked for */
	cs_log_set_level(getenv("CS_TEST_LOG") ? CS_LOG_DEBUG : CS_LOG_ERROR);
	dir = cs_test_tmpdir("net");
	make_pki();
	big_data = malloc(BIG_FILE_SIZE);
	cs_test_fill_random(big_data, BIG_FILE_SIZE, 42);
	cs_test_write_file(dir, "big.bin", big_data, BIG_FILE_SIZE);
	snprintf(path_big, sizeof(path_big), "%s/big.bin", dir);

	struct cs_httpd_config cfg = {
		.listen = "127.0.0.1:0",
		.cert_path = path_srv_crt,
		.key_path = path_srv_key,
		.max_body = MAX_BODY,
		.timeout_s = 10,
	};
	cs_assert_ok(cs_httpd_new(&srv, &cfg));
	srv_port = cs_httpd_port(srv);
	assert_true(srv_port > 0);
	snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%d", srv_port);
	cs_assert_ok(cs_httpd_route(srv, "*", "/echo", h_echo, NULL));
	cs_assert_ok(cs_httpd_route(srv, "PUT", "/copy", h_copy, NULL));
	cs_assert_ok(cs_httpd_route(srv, "PUT", "/length", h_length, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/query", h_query, NULL));
	cs_assert_ok(cs_httpd_route(srv, "POST", "/query", h_query, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/whoami", h_whoami, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/only/", h_only_get, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/defer", h_defer, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/poll", h_poll, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/file", h_file, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/small-file", h_small_file, NULL));
	cs_assert_ok(cs_httpd_route(srv, "GET", "/short-file/", h_short_file, NULL));
	assert_int_equal(cs_httpd_route(srv, "BREW", "/x", h_echo, NULL), CS_EINVAL);
	assert_int_equal(cs_httpd_route(srv, "GET", "x", h_echo, NULL), CS_EINVAL);
	cs_assert_ok(cs_httpd_every(srv, 20, tick, NULL));
	if (pthread_create(&srv_thread, NULL, server_main, srv) != 0)
		fail_msg("pthread_create");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (srv != NULL) {
		cs_httpd_stop(srv);
		pthread_join(srv_thread, NULL);
		cs_httpd_free(srv);
	}
	cs_fs_remove_tree(dir);
	free(dir);
	free(big_data);
	return 0;
}

static cs_httpc *client(int with_cert, const char *ca)
{
	struct cs_httpc_config cfg = {
		.base_url = base_url,
		.ca_path = ca,
		.cert_path = with_cert ? path_cli_crt : NULL,
		.key_path = with_cert ? path_cli_key : NULL,
	};
	cs_httpc *c = NULL;
	cs_assert_ok(cs_httpc_new(&c, &cfg));
	return c;
}

static void expect_body(cs_httpc *c, const char *method, const char *path, const void *body,
	size_t len, long status, const char *want)
{
	cs_http_resp r;
	cs_assert_ok(cs_httpc_request(&r, c, method, path, "application/octet-stream", body, len,
		RESP_MAX, 10000));
	assert_int_equal(r.status, status);
	assert_int_equal(r.len, strlen(want));
	assert_memory_equal(r.body, want, r.len);
	assert_int_equal(r.body[r.len], 0);
	cs_http_resp_clear(&r);
}

/* ---- raw clients ---- */

static int tcp_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)srv_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Close with a reset rather than a FIN: the rudest way to leave. */
static void tcp_abort(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

struct tls_conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

static void tls_open(struct tls_conn *t)
{
	t->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(t->ctx);
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	t->fd = tcp_connect();
	t->ssl = SSL_new(t->ctx);
	SSL_set_fd(t->ssl, t->fd);
	assert_int_equal(SSL_connect(t->ssl), 1);
}

static void tls_write(struct tls_conn *t, const char *s)
{
	assert_int_equal(SSL_write(t->ssl, s, (int)strlen(s)), (int)strlen(s));
}

/* Read until every needle has been seen (in order) or the peer stops. */
static int tls_read_until(struct tls_conn *t, const char *const *needles, size_t n)
{
	static char buf[1 << 16];
	size_t used = 0, found = 0;
	while (found < n && used < sizeof(buf) - 1) {
		int r = SSL_read(t->ssl, buf + used, (int)(sizeof(buf) - 1 - used));
		if (r <= 0)
			break;
		used += (size_t)r;
		buf[used] = '\0';
		const char *p = buf;
		found = 0;
		while (found < n && (p = strstr(p, needles[found])) != NULL) {
			p += strlen(needles[found]);
			found++;
		}
	}
	return found == n;
}

static void tls_close(struct tls_conn *t, int abort)
{
	SSL_free(t->ssl);
	if (abort)
		tcp_abort(t->fd);
	else
		close(t->fd);
	SSL_CTX_free(t->ctx);
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 500 && atomic_load(v) < want; i++)
		usleep(10000);
	assert_int_equal(atomic_load(v), want);
}

static void server_still_serves(void)
{
	cs_httpc *c = client(0, path_ca);
	expect_body(c, "POST", "/echo", "alive", 5, 200, "POST alive");
	cs_httpc_free(c);
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
	(void)state;
	cs_httpc *c = client(1, path_ca);
	expect_body(c, "GET", "/echo", NULL, 0, 200, "GET ");
	expect_body(c, "POST", "/echo", "hello", 5, 200, "POST hello");
	expect_body(c, "PUT", "/echo/x", "put-body", 8, 200, "PUT put-body");
	expect_body(c, "DELETE", "/echo", NULL, 0, 200, "DELETE ");
	/* GET after a body-carrying request on the same (reused) handle */
	expect_body(c, "GET", "/echo", NULL, 0, 200, "GET ");

	/* a body near the limit, binary, through the same connection */
	size_t n = MAX_BODY - 10;
	uint8_t *body = malloc(n);
	cs_test_fill_random(body, n, 7);
	cs_http_resp r;
	cs_assert_ok(cs_httpc_request(&r, c, "PUT", "/echo", "application/octet-stream", body, n,
		RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n + 4);
	assert_memory_equal(r.body, "PUT ", 4);
	assert_memory_equal(r.body + 4, body, n);
	cs_http_resp_clear(&r);
	/* the same body copied out of libevent's chains without gathering */
	cs_assert_ok(cs_httpc_request(&r, c, "PUT", "/copy", "application/octet-stream", body, n,
		RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, n);
	assert_memory_equal(r.body, body, n);
	cs_http_resp_clear(&r);
	free(body);

	/* decoded path and query, request headers are visible to handlers */
	cs_assert_ok(cs_httpc_request(&r, c, "GET", "/query/a%20b?q=x%26y&z=1", NULL, NULL, 0,
		RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_string_equal((char *)r.body, "path=/query/a b q=x&y ct=- remote=127.0.0.1");
	cs_http_resp_clear(&r);
	/* the content type travels; without one, curl adds none of its own */
	cs_assert_ok(cs_httpc_request(&r, c, "POST", "/query", "application/json", "{}", 2,
		RESP_MAX, 10000));
	assert_string_equal((char *)r.body, "path=/query q=- ct=application/json remote=127.0.0.1");
	cs_http_resp_clear(&r);
	cs_assert_ok(cs_httpc_request(&r, c, "POST", "/query", NULL, "x", 1, RESP_MAX, 10000));
	assert_string_equal((char *)r.body, "path=/query q=- ct=- remote=127.0.0.1");
	cs_http_resp_clear(&r);
	/* bad methods and paths are refused before anything is sent */
	assert_int_equal(cs_httpc_request(&r, c, "get", "/echo", NULL, NULL, 0, RESP_MAX, 0),
		CS_EINVAL);
	assert_int_equal(cs_httpc_request(&r, c, "GET", "echo", NULL, NULL, 0, RESP_MAX, 0),
		CS_EINVAL);

	/* the response limit is enforced */
	assert_int_equal(cs_httpc_request(&r, c, "POST", "/echo", NULL, "0123456789", 10, 8, 10000),
		CS_ELIMIT);
	assert_null(r.body);
	expect_body(c, "GET", "/echo", NULL, 0, 200, "GET ");
	cs_httpc_free(c);
}

static void test_peer_cert(void **state)
{
	(void)state;
	cs_httpc *c = client(1, path_ca);
	expect_body(c, "GET", "/whoami", NULL, 0, 200, "client-1");
	cs_httpc_free(c);
	c = client(0, path_ca);
	expect_body(c, "GET", "/whoami", NULL, 0, 200, "none");
	cs_httpc_free(c);
}

static void expect_json_error(cs_httpc *c, const char *method, const char *path, long status,
	const char *code)
{
	cs_http_resp r;
	cs_assert_ok(cs_httpc_request(&r, c, method, path, NULL, NULL, 0, RESP_MAX, 10000));
	assert_int_equal(r.status, status);
	json_error_t err;
	json_t *j = json_loadb((char *)r.body, r.len, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "code")), code);
	assert_non_null(json_string_value(json_object_get(j, "error")));
	char msg[256];
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_string_equal(msg, json_string_value(json_object_get(j, "error")));
	json_decref(j);
	cs_http_resp_clear(&r);
}

static void test_not_found_and_not_allowed(void **state)
{
	(void)state;
	cs_httpc *c = client(0, path_ca);
	expect_json_error(c, "GET", "/nothing-here", 404, "not_found");
	expect_json_error(c, "GET", "/", 404, "not_found");
	expect_json_error(c, "POST", "/only/x", 405, "method_not_allowed");
	expect_json_error(c, "DELETE", "/whoami", 405, "method_not_allowed");
	/* a NUL in the decoded path is refused */
	expect_json_error(c, "GET", "/echo%00x", 400, "bad_request");
	expect_body(c, "GET", "/only/x", NULL, 0, 200, "{\"ok\":true}");
	cs_httpc_free(c);
}

static void test_body_too_large(void **state)
{
	(void)state;
	cs_httpc *c = client(0, path_ca);
	size_t n = 2 * MAX_BODY;
	uint8_t *body = calloc(1, n);
	cs_http_resp r;
	cs_assert_ok(cs_httpc_request(&r, c, "POST", "/echo", NULL, body, n, RESP_MAX, 10000));
	assert_int_equal(r.status, 413);
	char msg[128];
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_non_null(strstr(msg, "413"));
	cs_http_resp_clear(&r);
	free(body);
	expect_body(c, "POST", "/echo", "ok", 2, 200, "POST ok");
	cs_httpc_free(c);
}

static void test_deferred_reply(void **state)
{
	(void)state;
	cs_httpc *c = client(0, path_ca);
	int64_t t0 = cs_clock_mono_ms();
	expect_body(c, "GET", "/defer", NULL, 0, 200, "deferred");
	assert_true(cs_clock_mono_ms() - t0 >= 140);
	/* the connection is usable again after a deferred reply */
	expect_body(c, "GET", "/echo", NULL, 0, 200, "GET ");
	cs_httpc_free(c);
}

static void test_long_poll_disconnect(void **state)
{
	(void)state;
	int before = atomic_load(&poll_closed);
	cs_httpc *c = client(0, path_ca);
	cs_http_resp r;
	/* the client gives up after 300 ms and closes its connection */
	assert_int_equal(cs_httpc_request(&r, c, "GET", "/poll", NULL, NULL, 0, RESP_MAX, 300),
		CS_ENET);
	cs_httpc_free(c);
	wait_for(&poll_closed, before + 1);
	server_still_serves();
}

/* A pipelined request behind a long poll must neither be lost (evhttp
 * serves it after the reply) nor confuse the server while it waits. */
static void test_pipelined_behind_long_poll(void **state)
{
	(void)state;
	struct tls_conn t;
	tls_open(&t);
	tls_write(&t, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n"
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\npipe");
	const char *const want[] = {"deferred", "POST pipe"};
	assert_true(tls_read_until(&t, want, 2));
	tls_close(&t, 0);

	int before = atomic_load(&poll_closed);
	tls_open(&t);
	tls_write(&t, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_for(&poll_waiting, 1);
	tls_write(&t, "more bytes while waiting");
	usleep(50000);
	tls_close(&t, 1);
	wait_for(&poll_closed, before + 1);
	server_still_serves();
}

/*
 * The server reads TLS records ahead, several per system call. Requests
 * written back to back in one go leave whole records in OpenSSL's buffer
 * while the socket has nothing more to say: each must still be read and
 * answered (a stall would end in the read timeout below), and the records
 * must have been handed on from that buffer.
 */
static void test_read_ahead(void **state)
{
	(void)state;
	enum { N = 3, BODY = 300 * 1024 };
	size_t before = cs__httpd_readahead_handed_on(srv);
	struct tls_conn t;
	tls_open(&t);
	struct timeval tv = {.tv_sec = 5};
	assert_int_equal(setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	char head[128];
	snprintf(head, sizeof(head), "PUT /length HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
		BODY);
	size_t hlen = strlen(head), total = N * (hlen + BODY);
	char *all = malloc(total);
	assert_non_null(all);
	for (int i = 0; i < N; i++) {
		memcpy(all + i * (hlen + BODY), head, hlen);
		memset(all + i * (hlen + BODY) + hlen, 'a' + i, BODY);
	}
	assert_int_equal(SSL_write(t.ssl, all, (int)total), (int)total);
	free(all);
	const char *const want[] = {"length=307200;", "length=307200;", "length=307200;"};
	assert_true(tls_read_until(&t, want, N));
	tls_close(&t, 0);
	assert_true(cs__httpd_readahead_handed_on(srv) > before);
	server_still_serves();
}

static void test_wrong_ca(void **state)
{
	(void)state;
	cs_httpc *c = client(1, path_other_ca);
	cs_http_resp r;
	assert_int_equal(cs_httpc_request(&r, c, "GET", "/echo", NULL, NULL, 0, RESP_MAX, 10000),
		CS_ENET);
	char want[96];
	snprintf(want, sizeof(want), "connect to %s/echo: ", base_url);
	assert_non_null(strstr(cs_error_last(), want));
	cs_httpc_free(c);

	/* base URL and CA are checked up front */
	struct cs_httpc_config bad = {.base_url = "http://127.0.0.1:1", .ca_path = path_ca};
	assert_int_equal(cs_httpc_new(&c, &bad), CS_EINVAL);
	struct cs_httpc_config noca = {.base_url = base_url};
	assert_int_equal(cs_httpc_new(&c, &noca), CS_EINVAL);
	/* nobody listening: CS_ENET naming the address */
	struct cs_httpc_config closed = {.base_url = "https://127.0.0.1:1", .ca_path = path_ca};
	cs_assert_ok(cs_httpc_new(&c, &closed));
	assert_int_equal(cs_httpc_request(&r, c, "GET", "/", NULL, NULL, 0, RESP_MAX, 5000), CS_ENET);
	assert_non_null(strstr(cs_error_last(), "connect to https://127.0.0.1:1/"));
	cs_httpc_free(c);
}

static void test_garbage_and_aborts(void **state)
{
	(void)state;
	/* random bytes instead of a TLS handshake */
	int fd = tcp_connect();
	uint8_t junk[4096];
	cs_test_fill_random(junk, sizeof(junk), 99);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	/* plain HTTP on the TLS port */
	fd = tcp_connect();
	const char plain[] = "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
	assert_int_equal(write(fd, plain, sizeof(plain) - 1), (ssize_t)sizeof(plain) - 1);
	char sink[256];
	(void)!read(fd, sink, sizeof(sink));
	close(fd);
	/* a handshake cut short, and a connection that says nothing */
	fd = tcp_connect();
	const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
	assert_int_equal(write(fd, hello, sizeof(hello)), (ssize_t)sizeof(hello));
	tcp_abort(fd);
	fd = tcp_connect();
	close(fd);
	server_still_serves();

	/* garbage after the handshake, then a half-sent body */
	struct tls_conn t;
	tls_open(&t);
	tls_write(&t, "\x01\x02 NOT HTTP AT ALL\r\n\r\n");
	tls_close(&t, 0);
	tls_open(&t);
	tls_write(&t, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
	tls_close(&t, 1);
	/* oversized headers */
	tls_open(&t);
	char *hdr = malloc(64 * 1024);
	memset(hdr, 'a', 64 * 1024 - 1);
	hdr[64 * 1024 - 1] = '\0';
	tls_write(&t, "GET /echo HTTP/1.1\r\nX-Big: ");
	SSL_write(t.ssl, hdr, (int)strlen(hdr));
	free(hdr);
	tls_close(&t, 1);
	server_still_serves();

	/* a client that vanishes in the middle of a large reply */
	for (int i = 0; i < 3; i++) {
		tls_open(&t);
		tls_write(&t, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
		char buf[16384];
		size_t got = 0;
		while (got < 300 * 1024) {
			int r = SSL_read(t.ssl, buf, sizeof(buf));
			if (r <= 0)
				break;
			got += (size_t)r;
		}
		assert_true(got >= 300 * 1024);
		tls_close(&t, i != 1);
	}
	server_still_serves();
}

static void test_reply_file(void **state)
{
	(void)state;
	cs_httpc *c = client(0, path_ca);
	cs_http_resp r;
	for (int i = 0; i < 2; i++) {
		cs_assert_ok(cs_httpc_request(&r, c, "GET", "/file", NULL, NULL, 0, RESP_MAX, 30000));
		assert_int_equal(r.status, 200);
		assert_int_equal(r.len, BIG_FILE_SIZE);
		assert_memory_equal(r.body, big_data, BIG_FILE_SIZE);
		cs_http_resp_clear(&r);
	}
	/* a small file is answered in one piece */
	cs_assert_ok(cs_httpc_request(&r, c, "GET", "/small-file", NULL, NULL, 0, RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 1000);
	assert_memory_equal(r.body, big_data, 1000);
	cs_http_resp_clear(&r);
	/* a limit below the declared length stops the download */
	assert_int_equal(cs_httpc_request(&r, c, "GET", "/file", NULL, NULL, 0, 1024 * 1024, 10000),
		CS_ELIMIT);
	/* a file shorter than claimed: a 500 when nothing was sent yet ... */
	expect_json_error(c, "GET", "/short-file/small", 500, "io");
	expect_json_error(c, "GET", "/short-file/first", 500, "io");
	/* ... and a cut connection once the status line is out */
	assert_int_equal(cs_httpc_request(&r, c, "GET", "/short-file/late", NULL, NULL, 0, RESP_MAX,
		10000), CS_ENET);
	cs_httpc_free(c);
	server_still_serves();
}

static void test_listen_addresses(void **state)
{
	(void)state;
	cs_httpd *s = NULL;
	struct cs_httpd_config cfg = {.cert_path = path_srv_crt, .key_path = path_srv_key};
	const char *bad[] = {"127.0.0.1", "::1:80", "[::1]80", "127.0.0.1:99999", ":80",
		"127.0.0.1:8x", NULL};
	for (int i = 0; bad[i] != NULL; i++) {
		cfg.listen = bad[i];
		assert_int_equal(cs_httpd_new(&s, &cfg), CS_EINVAL);
	}
	/* the port in use */
	char busy[32];
	snprintf(busy, sizeof(busy), "127.0.0.1:%d", srv_port);
	cfg.listen = busy;
	assert_int_equal(cs_httpd_new(&s, &cfg), CS_ENET);
	assert_non_null(strstr(cs_error_last(), busy));
	/* a missing key file */
	cfg.listen = "127.0.0.1:0";
	cfg.key_path = "/nonexistent/key.pem";
	assert_int_equal(cs_httpd_new(&s, &cfg), CS_ECRYPTO);
	cfg.key_path = path_srv_key;
	/* IPv6 loopback, when the host has it */
	cfg.listen = "[::1]:0";
	if (cs_httpd_new(&s, &cfg) == CS_OK) {
		assert_true(cs_httpd_port(s) > 0);
		/* stop before run: run returns at once */
		cs_httpd_stop(s);
		cs_assert_ok(cs_httpd_run(s));
		cs_httpd_free(s);
	}
	cs_httpd_free(NULL);
}

static void test_resp_error_text(void **state)
{
	(void)state;
	char msg[64];
	cs_http_resp r = {.status = 403, .body = (uint8_t *)"{\"error\":\"go away\"}", .len = 19};
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_string_equal(msg, "go away");
	r.body = (uint8_t *)"<html>oops</html>";
	r.len = strlen((char *)r.body);
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_string_equal(msg, "HTTP 403 (forbidden)");
	r.body = (uint8_t *)"{\"error\":\"a\",\"error\":\"b\"}";
	r.len = strlen((char *)r.body);
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_string_equal(msg, "HTTP 403 (forbidden)");
	r.body = NULL;
	r.len = 0;
	r.status = 502;
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_string_equal(msg, "HTTP 502 (bad gateway)");
	cs_http_resp_clear(NULL);
}

/* Idle connections are dropped after timeout_s, but a request waiting in a
 * long poll is not idle and stays. A second server with a 1 s timeout. */
static void expect_blobc_echo(cs_blobc *c)
{
	cs_http_resp r;
	cs_assert_ok(cs_blobc_request(&r, c, "POST", "/echo", "text/plain", "one", 3, RESP_MAX,
		10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 8);
	assert_memory_equal(r.body, "POST one", 8);
	cs_http_resp_clear(&r);
}

/* ---- the bulk client (blobc.c) ---- */

static cs_blobc *bulk_client(const char *ca, size_t *connects, size_t *recvs)
{
	struct cs_httpc_config cfg = {
		.base_url = base_url,
		.ca_path = ca,
		.cert_path = path_cli_crt,
		.key_path = path_cli_key,
	};
	cs_blobc *c = NULL;
	cs_assert_ok(cs_blobc_new(&c, &cfg));
	cs__blobc_counts(c, connects, recvs);
	return c;
}

static void test_blobc_roundtrip(void **state)
{
	(void)state;
	size_t connects, recvs;
	cs_blobc *c = bulk_client(path_ca, &connects, &recvs);
	cs_http_resp r;
	assert_int_equal(connects, 0);

	/* an upload comes back whole */
	size_t up = MAX_BODY / 2;
	cs_assert_ok(cs_blobc_request(&r, c, "PUT", "/copy", "application/octet-stream", big_data,
		up, RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, up);
	assert_memory_equal(r.body, big_data, up);
	assert_int_equal(r.body[r.len], 0);
	cs_http_resp_clear(&r);

	/* a 10 MiB download (640 TLS records) on the same connection: a
	 * reader of single records needs two recv() calls for each (header,
	 * then body); this one takes whatever has arrived, several records at
	 * once when the server keeps up and at worst one record per call when
	 * it writes them one at a time (as under a sanitizer) */
	size_t before;
	cs__blobc_counts(c, &connects, &before);
	cs_assert_ok(cs_blobc_request(&r, c, "GET", "/file", NULL, NULL, 0, RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, BIG_FILE_SIZE);
	assert_memory_equal(r.body, big_data, BIG_FILE_SIZE);
	cs_http_resp_clear(&r);
	cs__blobc_counts(c, &connects, &recvs);
	assert_int_equal(connects, 1);
	assert_true(recvs - before < 960);

	/* the client certificate was presented; errors come back as statuses */
	cs_assert_ok(cs_blobc_request(&r, c, "GET", "/whoami", NULL, NULL, 0, RESP_MAX, 10000));
	assert_int_equal(r.status, 200);
	assert_string_equal((const char *)r.body, "client-1");
	cs_http_resp_clear(&r);
	cs_assert_ok(cs_blobc_request(&r, c, "GET", "/nope", NULL, NULL, 0, RESP_MAX, 10000));
	assert_int_equal(r.status, 404);
	char msg[128];
	cs_http_resp_error(msg, sizeof(msg), &r);
	assert_true(strlen(msg) > 0);
	cs_http_resp_clear(&r);
	cs_assert_ok(cs_blobc_request(&r, c, "PUT", "/copy", NULL, big_data, MAX_BODY + 1, RESP_MAX,
		10000));
	assert_int_equal(r.status, 413);
	cs_http_resp_clear(&r);

	/* a response over the limit is refused before it is read; the next
	 * request goes on a new connection */
	expect_blobc_echo(c);
	size_t open_before;
	cs__blobc_counts(c, &open_before, &recvs);
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/file", NULL, NULL, 0, 1024 * 1024, 10000),
		CS_ELIMIT);
	assert_null(r.body);
	expect_blobc_echo(c);
	cs__blobc_counts(c, &connects, &recvs);
	assert_int_equal(connects, open_before + 1);
	cs_blobc_free(c);
	server_still_serves();
}

static void test_blobc_refusals(void **state)
{
	(void)state;
	size_t connects, recvs;
	cs_http_resp r;
	/* a server that does not chain to the pinned CA */
	cs_blobc *c = bulk_client(path_other_ca, &connects, &recvs);
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/whoami", NULL, NULL, 0, RESP_MAX, 10000),
		CS_ENET);
	assert_non_null(strstr(cs_error_last(), "certificate"));
	cs_blobc_free(c);

	/* a server whose certificate names another host */
	char elsewhere[600];
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.crt", dir);
	struct cs_httpd_config scfg = {.listen = "127.0.0.1:0", .cert_path = elsewhere,
		.key_path = path_srv_key};
	cs_httpd *s2 = NULL;
	pthread_t th;
	cs_assert_ok(cs_httpd_new(&s2, &scfg));
	assert_int_equal(pthread_create(&th, NULL, server_main, s2), 0);
	char url2[64];
	snprintf(url2, sizeof(url2), "https://127.0.0.1:%d", cs_httpd_port(s2));
	struct cs_httpc_config c2 = {.base_url = url2, .ca_path = path_ca};
	cs_assert_ok(cs_blobc_new(&c, &c2));
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/x", NULL, NULL, 0, RESP_MAX, 10000), CS_ENET);
	assert_non_null(strstr(cs_error_last(), "mismatch"));
	cs_blobc_free(c);
	cs_httpd_stop(s2);
	pthread_join(th, NULL);
	cs_httpd_free(s2);

	/* nothing listening */
	struct cs_httpc_config cfg = {.base_url = "https://127.0.0.1:1", .ca_path = path_ca};
	cs_assert_ok(cs_blobc_new(&c, &cfg));
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/x", NULL, NULL, 0, RESP_MAX, 10000), CS_ENET);
	assert_non_null(strstr(cs_error_last(), "connect to"));
	cs_blobc_free(c);

	/* bad configuration and arguments */
	struct cs_httpc_config bad = {.base_url = "http://127.0.0.1:1", .ca_path = path_ca};
	assert_int_equal(cs_blobc_new(&c, &bad), CS_EINVAL);
	bad.base_url = "https://127.0.0.1:1/path";
	assert_int_equal(cs_blobc_new(&c, &bad), CS_EINVAL);
	bad.base_url = "https://127.0.0.1:99999999";
	assert_int_equal(cs_blobc_new(&c, &bad), CS_EINVAL);
	bad.base_url = "https://127.0.0.1:65536";
	assert_int_equal(cs_blobc_new(&c, &bad), CS_EINVAL);
	c = bulk_client(path_ca, &connects, &recvs);
	assert_int_equal(cs_blobc_request(&r, c, "GET", "no-slash", NULL, NULL, 0, RESP_MAX, 1000),
		CS_EINVAL);
	assert_int_equal(cs_blobc_request(&r, c, "G T", "/x", NULL, NULL, 0, RESP_MAX, 1000), CS_EINVAL);
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/x\r\nX: y", NULL, NULL, 0, RESP_MAX, 1000),
		CS_EINVAL);
	assert_int_equal(cs_blobc_request(&r, c, "GET", "/x\ty", NULL, NULL, 0, RESP_MAX, 1000),
		CS_EINVAL);
	cs_blobc_free(c);
	cs_blobc_free(NULL);
}

static void test_blobc_parse_head(void **state)
{
	(void)state;
	long status;
	int64_t len;
	int closes;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n";
	cs_assert_ok(cs_blobc_parse_head(&status, &len, &closes, ok, strlen(ok)));
	assert_int_equal(status, 200);
	assert_int_equal(len, 12);
	assert_int_equal(closes, 0);
	const char *closing = "HTTP/1.1 503 Busy\r\ncontent-length: 0\r\nConnection: close\r\n\r\n";
	cs_assert_ok(cs_blobc_parse_head(&status, &len, &closes, closing, strlen(closing)));
	assert_int_equal(status, 503);
	assert_int_equal(closes, 1);
	const char *old = "HTTP/1.0 200\r\nContent-Length: 1\r\n\r\n";
	cs_assert_ok(cs_blobc_parse_head(&status, &len, &closes, old, strlen(old)));
	assert_int_equal(closes, 1);
	const char *until_close = "HTTP/1.1 200 OK\r\n\r\n";
	cs_assert_ok(cs_blobc_parse_head(&status, &len, &closes, until_close, strlen(until_close)));
	assert_int_equal(len, -1);
	assert_int_equal(closes, 1);
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
		"HTTP/1.1 200 OK\r\n\r\nextra",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(cs_blobc_parse_head(&status, &len, &closes, bad[i], strlen(bad[i])) < 0);
}

static void test_idle_timeout(void **state)
{
	(void)state;
	struct cs_httpd_config cfg = {
		.listen = "127.0.0.1:0",
		.cert_path = path_srv_crt,
		.key_path = path_srv_key,
		.timeout_s = 1,
	};
	cs_httpd *s2 = NULL;
	pthread_t th;
	cs_assert_ok(cs_httpd_new(&s2, &cfg));
	cs_assert_ok(cs_httpd_route(s2, "GET", "/poll", h_poll, NULL));
	cs_assert_ok(cs_httpd_route(s2, "*", "/echo", h_echo, NULL));
	int saved_port = srv_port;
	srv_port = cs_httpd_port(s2);
	assert_int_equal(pthread_create(&th, NULL, server_main, s2), 0);

	int before = atomic_load(&poll_closed);
	int silent = tcp_connect(); /* never starts the handshake */
	struct tls_conn idle, waiting;
	tls_open(&idle);            /* handshake done, no request */
	tls_open(&waiting);
	tls_write(&waiting, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_for(&poll_waiting, 1);
	usleep(2500 * 1000);
	char ch;
	assert_int_equal(read(silent, &ch, 1), 0);
	assert_true(SSL_read(idle.ssl, &ch, 1) <= 0);
	assert_int_equal(atomic_load(&poll_waiting), 1);
	assert_int_equal(atomic_load(&poll_closed), before);
	tls_close(&waiting, 0);
	wait_for(&poll_closed, before + 1);
	tls_close(&idle, 0);
	close(silent);

	/* a client whose kept-alive connection the server dropped reconnects */
	char url[64];
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", srv_port);
	struct cs_httpc_config ccfg = {.base_url = url, .ca_path = path_ca};
	cs_httpc *c = NULL;
	cs_assert_ok(cs_httpc_new(&c, &ccfg));
	expect_body(c, "POST", "/echo", "one", 3, 200, "POST one");
	usleep(1500 * 1000);
	expect_body(c, "POST", "/echo", "two", 3, 200, "POST two");
	cs_httpc_free(c);
	/* the bulk client too, at once (no retry delay) */
	cs_blobc *b = NULL;
	size_t connects, recvs;
	cs_assert_ok(cs_blobc_new(&b, &ccfg));
	expect_blobc_echo(b);
	usleep(1500 * 1000);
	int64_t t0 = cs_clock_mono_ms();
	expect_blobc_echo(b);
	assert_true(cs_clock_mono_ms() - t0 < 1000);
	cs__blobc_counts(b, &connects, &recvs);
	assert_int_equal(connects, 2);
	/* an upload larger than the TLS buffers into a dropped connection */
	usleep(1500 * 1000);
	cs_http_resp big;
	cs_assert_ok(cs_blobc_request(&big, b, "PUT", "/echo", NULL, big_data, 2 * 1024 * 1024,
		RESP_MAX, 10000));
	assert_int_equal(big.status, 200);
	assert_int_equal(big.len, 4 + 2 * 1024 * 1024);
	assert_memory_equal(big.body + 4, big_data, 2 * 1024 * 1024);
	cs_http_resp_clear(&big);
	cs__blobc_counts(b, &connects, &recvs);
	assert_int_equal(connects, 3);
	cs_blobc_free(b);

	cs_httpd_stop(s2);
	pthread_join(th, NULL);
	cs_httpd_free(s2);
	srv_port = saved_port;
}

/* Last: stop the shared server while a client waits in a long poll. The
 * waiting request is told through on_close when the server is freed. */
static void test_shutdown_with_waiting_client(void **state)
{
	(void)state;
	int before = atomic_load(&poll_closed);
	struct tls_conn t;
	tls_open(&t);
	tls_write(&t, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_for(&poll_waiting, 1);
	cs_httpd_stop(srv);
	pthread_join(srv_thread, NULL);
	assert_int_equal(atomic_load(&poll_closed), before);
	cs_httpd_free(srv);
	srv = NULL;
	assert_int_equal(atomic_load(&poll_closed), before + 1);
	/* the client sees the connection end */
	char buf[64];
	assert_true(SSL_read(t.ssl, buf, sizeof(buf)) <= 0);
	tls_close(&t, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_peer_cert),
		cmocka_unit_test(test_not_found_and_not_allowed),
		cmocka_unit_test(test_body_too_large),
		cmocka_unit_test(test_deferred_reply),
		cmocka_unit_test(test_long_poll_disconnect),
		cmocka_unit_test(test_pipelined_behind_long_poll),
		cmocka_unit_test(test_read_ahead),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_garbage_and_aborts),
		cmocka_unit_test(test_reply_file),
		cmocka_unit_test(test_listen_addresses),
		cmocka_unit_test(test_resp_error_text),
		cmocka_unit_test(test_blobc_roundtrip),
		cmocka_unit_test(test_blobc_refusals),
		cmocka_unit_test(test_blobc_parse_head),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_shutdown_with_waiting_client),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
