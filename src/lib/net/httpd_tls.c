/* The HTTPS server's TLS layer: one SSL_CTX per server, one SSL per
 * connection, wrapped in a bufferevent_openssl for evhttp. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "lib/identity/internal.h"
#include "lib/net/internal.h"

/* TLS 1.2 suites: forward secrecy and AEAD only, for ECDSA or RSA server
 * keys. */
#define CS_TLS12_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* TLS 1.3 suites: OpenSSL's three, AES-128-GCM first (the server's order
 * decides). With AES-NI it is about half again as fast as AES-256-GCM, and
 * the transport carries relay data that is already sealed end to end with
 * AES-256-GCM (docs/PROTOCOL.md, section 8); the TLS layer protects the
 * requests and hides which blobs move. */
#define CS_TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

static const unsigned char session_ctx[] = "certsync-httpd";

/*
 * The TLS layer asks every client for a certificate but never judges it:
 * which CA, which device and whether it is revoked are decisions of the
 * handler (cs_http_req_peer_cert), which knows the hub's registry. Accepting
 * here keeps clients without a certificate (enrolment, the console) working.
 */
static int accept_any_cert(int preverify_ok, X509_STORE_CTX *ctx)
{
	(void)preverify_ok;
	(void)ctx;
	return 1;
}

/* The library never prompts: an encrypted server key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

int cs__httpd_tls_ctx_new(SSL_CTX **out, const char *cert_path, const char *key_path)
{
	SSL_CTX *ctx = NULL;
	int rc = CS_ECRYPTO;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		rc = cs__ossl_error(CS_ECRYPTO, "create TLS context");
		goto done;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "set TLS minimum version");
		goto done;
	}
	/* Renegotiation only adds attack surface (and would let a client swap
	 * its certificate mid-connection). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
		SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_set_cipher_list(ctx, CS_TLS12_CIPHERS) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "set TLS 1.2 ciphers");
		goto done;
	}
	if (SSL_CTX_set_ciphersuites(ctx, CS_TLS13_SUITES) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "set TLS 1.3 cipher suites");
		goto done;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "load server certificate");
		cs_error_wrap("%s", cert_path);
		goto done;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "load server key");
		cs_error_wrap("%s", key_path);
		goto done;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		rc = cs__ossl_error(CS_EINVAL, "server key does not match certificate");
		goto done;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
	cs__httpd_readahead_ctx_init(ctx);
	/* With SSL_VERIFY_PEER, OpenSSL refuses to resume a session unless a
	 * session id context is set; resumption keeps the peer certificate. */
	if (SSL_CTX_set_session_id_context(ctx, session_ctx, sizeof(session_ctx) - 1) != 1) {
		rc = cs__ossl_error(CS_ECRYPTO, "set session id context");
		goto done;
	}
	*out = ctx;
	ctx = NULL;
	rc = CS_OK;
done:
	SSL_CTX_free(ctx);
	return rc;
}

/*
 * Called by evhttp for every accepted connection. Returning NULL would make
 * evhttp fall back to a plain-text bufferevent, so the dispatcher checks
 * cs__httpd_conn_is_tls() and refuses to serve such a connection.
 */
struct bufferevent *cs__httpd_tls_bevcb(struct event_base *base, void *arg)
{
	cs_httpd *srv = arg;
	SSL *ssl = SSL_new(srv->ssl_ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		cs_log(CS_LOG_ERROR, "http.tls_new_failed", "msg=\"SSL_new failed\"");
		return NULL;
	}
	/* On failure the bufferevent frees ssl itself (BEV_OPT_CLOSE_ON_FREE
	 * covers both the socket and the SSL object). */
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl,
		BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		cs_log(CS_LOG_ERROR, "http.tls_bev_failed", "msg=\"bufferevent_openssl_socket_new failed\"");
		return NULL;
	}
	/* Most clients close without a TLS close_notify; report that as a plain
	 * EOF rather than an error. Truncation does not matter to the server:
	 * every request carries its own length. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (cs__httpd_readahead_attach(srv, bev, ssl) < 0)
		cs_log(CS_LOG_WARN, "http.readahead_off", "msg=\"out of memory: reading one record at a time\"");
	/* libevent reads and writes 16 KiB (one TLS record) per loop turn by
	 * default; bulk blobs move in MiBs, so let one turn take many records */
	bufferevent_set_max_single_read(bev, CS__HTTPD_IO_BATCH);
	bufferevent_set_max_single_write(bev, CS__HTTPD_IO_BATCH);
	return bev;
}

int cs__httpd_conn_is_tls(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	return bev != NULL && bufferevent_openssl_get_ssl(bev) != NULL;
}
