/* HTTPS client on libcurl (include/certsync/httpc.h).
 *
 * One easy handle per client, so that its connection is reused between
 * requests (keep-alive, TLS session). The server must chain to the pinned
 * CA: the system store is never consulted and proxies from the environment
 * are ignored. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/httpc.h>
#include <certsync/log.h>
#include "lib/net/internal.h"

#ifndef CS_VERSION
#define CS_VERSION "dev"
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
/* Larger than curl's 16 KiB default: hub bodies are megabytes. */
#define RECV_BUFFER_SIZE (256L * 1024)
/* Bodies of megabytes (relay packs) go out in large writes: fewer turns
 * of libcurl's loop, each handing OpenSSL many records at once. */
#define UPLOAD_BUFFER_SIZE (1024L * 1024)
/* Error bodies are small; a larger one is not worth parsing. */
#define ERROR_BODY_MAX (64 * 1024)

struct cs_httpc {
	CURL *curl;
	const volatile int *cancel;
	char *base_url;
	char errbuf[CURL_ERROR_SIZE];
};

/* The response being received: a growable buffer that refuses to grow
 * past max. */
struct recv_buf {
	CURL *curl;
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max;
	int over; /* the limit was hit: the transfer was aborted on purpose */
	int sized; /* the Content-Length hint has been applied */
};

/* curl calls this about once a second, and more often while data moves:
 * a non-zero answer aborts the transfer, which is how a stopping program
 * leaves a long poll without waiting for it to end. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
	curl_off_t ulnow)
{
	const struct cs_httpc *c = ud;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return c->cancel != NULL && *c->cancel != 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_global(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int reserve(struct recv_buf *rb, size_t need)
{
	/* one spare byte for the NUL terminator */
	if (need + 1 <= rb->cap)
		return 0;
	size_t cap = rb->cap ? rb->cap : 16 * 1024;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	if (rb->max < SIZE_MAX && cap > rb->max + 1)
		cap = rb->max + 1;
	/* large bodies (packs) go into pooled buffers: no fresh pages per body */
	uint8_t *p = cs_bigmem_alloc(cap);
	if (p == NULL)
		return -1;
	if (rb->len)
		memcpy(p, rb->data, rb->len);
	cs_bigmem_free(rb->data);
	rb->data = p;
	rb->cap = cap;
	return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct recv_buf *rb = userdata;
	size_t n = size * nmemb;

	if (!rb->sized) {
		/* The first bytes: headers are in, so a declared length can be
		 * refused before reading it, or allocated once. */
		curl_off_t cl = -1;
		rb->sized = 1;
		if (curl_easy_getinfo(rb->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
			cl > 0) {
			if ((uint64_t)cl > rb->max) {
				rb->over = 1;
				return 0;
			}
			if (reserve(rb, (size_t)cl) != 0)
				return 0;
		}
	}
	if (n > rb->max - rb->len) {
		rb->over = 1;
		return 0; /* abort the transfer */
	}
	if (reserve(rb, rb->len + n) != 0)
		return 0;
	memcpy(rb->data + rb->len, ptr, n);
	rb->len += n;
	return n;
}

#define SET(opt, val) do { \
		if (curl_easy_setopt(c->curl, opt, val) != CURLE_OK) { \
			rc = cs_error_set(CS_ERROR, "httpc: cannot set %s", #opt); \
			goto done; \
		} \
	} while (0)

int cs__httpc_config_check(const struct cs_httpc_config *cfg, const char *who)
{
	if (cfg == NULL || cfg->base_url == NULL || strncmp(cfg->base_url, "https://", 8) != 0)
		return cs_error_set(CS_EINVAL, "%s: base_url must start with https://", who);
	if (cfg->ca_path == NULL && !cfg->insecure)
		return cs_error_set(CS_EINVAL, "%s: a CA certificate is required", who);
	if ((cfg->cert_path == NULL) != (cfg->key_path == NULL))
		return cs_error_set(CS_EINVAL, "%s: client certificate and key go together", who);
	return CS_OK;
}

int cs_httpc_new(cs_httpc **out, const struct cs_httpc_config *cfg)
{
	cs_httpc *c = NULL;
	int rc;

	if ((rc = cs__httpc_config_check(cfg, "httpc")) < 0)
		return rc;
	pthread_once(&curl_once, curl_global);
	if (curl_init_rc != CURLE_OK)
		return cs_error_set(CS_ERROR, "httpc: curl_global_init: %s",
			curl_easy_strerror(curl_init_rc));

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	size_t blen = strlen(cfg->base_url);
	while (blen > 8 && cfg->base_url[blen - 1] == '/')
		blen--; /* paths bring their own leading slash */
	c->base_url = strndup(cfg->base_url, blen);
	c->curl = curl_easy_init();
	if (c->base_url == NULL || c->curl == NULL) {
		rc = cs_error_set(CS_ENOMEM, "httpc: out of memory");
		goto done;
	}
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	/* no signals: safe in threads, and no SIGALRM-based DNS timeouts */
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* "*" bypasses the proxy for every host, whatever the environment says */
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (cfg->insecure) {
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		SET(CURLOPT_SSL_VERIFYPEER, 1L);
		SET(CURLOPT_SSL_VERIFYHOST, 2L);
		SET(CURLOPT_CAINFO, cfg->ca_path);
		/* curl also trusts a default CA directory unless told not to */
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (cfg->cert_path != NULL) {
		SET(CURLOPT_SSLCERTTYPE, "PEM");
		SET(CURLOPT_SSLCERT, cfg->cert_path);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
		SET(CURLOPT_SSLKEY, cfg->key_path);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS,
		cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_SIZE);
	SET(CURLOPT_USERAGENT, "certsync/" CS_VERSION);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	if (cfg->cancel) {
		c->cancel = cfg->cancel;
		SET(CURLOPT_XFERINFOFUNCTION, on_progress);
		SET(CURLOPT_XFERINFODATA, c);
		SET(CURLOPT_NOPROGRESS, 0L);
	}
	*out = c;
	c = NULL;
	rc = CS_OK;
done:
	cs_httpc_free(c);
	return rc;
}

void cs_httpc_free(cs_httpc *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->base_url);
	free(c);
}

/* Errors that happen before any byte of HTTP was exchanged. */
static int is_connect_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return 1;
	default:
		return 0;
	}
}

int cs_httpc_request(cs_http_resp *resp, cs_httpc *c, const char *method,
	const char *path, const char *content_type, const void *body, size_t len,
	size_t max_resp, long timeout_ms)
{
	struct recv_buf rb = {.curl = c->curl, .max = max_resp};
	struct curl_slist *headers = NULL, *h;
	char *url = NULL;
	char ctype[256];
	int rc;

	memset(resp, 0, sizeof(*resp));
	if (method == NULL || method[0] == '\0' || strlen(method) > 15 ||
		strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
		return cs_error_set(CS_EINVAL, "httpc: bad method");
	if (path == NULL || path[0] != '/' || strpbrk(path, " \r\n") != NULL)
		return cs_error_set(CS_EINVAL, "httpc: path must start with / and hold no spaces");
	if (content_type != NULL && (strchr(content_type, '\r') || strchr(content_type, '\n')))
		return cs_error_set(CS_EINVAL, "httpc: bad content type");
	size_t ulen = strlen(c->base_url) + strlen(path) + 1;
	url = malloc(ulen);
	if (url == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	snprintf(url, ulen, "%s%s", c->base_url, path);

	/* No "Expect: 100-continue": it costs a round trip per upload, and the
	 * server reads an oversized body through before answering 413. */
	/* "Content-Type:" with no value stops curl from labelling a body
	 * application/x-www-form-urlencoded. */
	if (content_type != NULL)
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
	else
		snprintf(ctype, sizeof(ctype), "Content-Type:");
	h = curl_slist_append(headers, "Expect:");
	if (h != NULL) {
		headers = h;
		h = curl_slist_append(headers, ctype);
	}
	if (h == NULL) {
		rc = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}

	SET(CURLOPT_URL, url);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_WRITEDATA, &rb);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
	if (strcmp(method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L); /* also undoes a previous POST or HEAD */
		SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
	} else if (strcmp(method, "HEAD") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
		SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
		SET(CURLOPT_NOBODY, 1L);
	} else {
		/* The body is sent from the caller's memory without a copy;
		 * CUSTOMREQUEST only renames the POST for PUT, DELETE, ... */
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SET(CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : "");
		SET(CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
	}

	c->errbuf[0] = '\0';
	CURLcode crc = curl_easy_perform(c->curl);
	if (crc != CURLE_OK) {
		if (rb.over) {
			rc = cs_error_set(CS_ELIMIT, "%s %s: response larger than %zu bytes", method, url,
				max_resp);
		} else {
			const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(crc);
			if (is_connect_error(crc))
				rc = cs_error_set(CS_ENET, "connect to %s: %s", url, why);
			else
				rc = cs_error_set(CS_ENET, "%s %s: %s", method, url, why);
		}
		goto done;
	}
	if (reserve(&rb, rb.len) != 0) {
		rc = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	rb.data[rb.len] = '\0';
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = rb.data;
	resp->len = rb.len;
	rb.data = NULL;
	rc = CS_OK;
done:
	/* the handle must not keep pointers into this call's memory */
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	if (rc != CS_OK)
		cs_log(CS_LOG_DEBUG, "http.client_error", "method=%s code=%d", method, rc);
	cs_bigmem_free(rb.data);
	curl_slist_free_all(headers);
	free(url);
	return rc;
}

void cs_http_resp_clear(cs_http_resp *resp)
{
	if (resp == NULL)
		return;
	cs_bigmem_free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

static const char *status_text(long status)
{
	switch (status) {
	case 400: return "bad request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not found";
	case 405: return "method not allowed";
	case 409: return "conflict";
	case 413: return "request body too large";
	case 429: return "too many requests";
	case 500: return "internal server error";
	case 502: return "bad gateway";
	case 503: return "service unavailable";
	case 504: return "gateway timeout";
	}
	return status >= 500 ? "server error" : status >= 400 ? "client error" : "unexpected status";
}

void cs_http_resp_error(char *out, size_t n, const cs_http_resp *resp)
{
	if (out == NULL || n == 0)
		return;
	if (resp->body != NULL && resp->len > 0 && resp->len <= ERROR_BODY_MAX) {
		json_t *root = json_loadb((const char *)resp->body, resp->len, JSON_REJECT_DUPLICATES, NULL);
		const char *msg = json_string_value(json_object_get(root, "error"));
		if (msg != NULL && msg[0] != '\0') {
			snprintf(out, n, "%s", msg);
			json_decref(root);
			return;
		}
		json_decref(root);
	}
	snprintf(out, n, "HTTP %ld (%s)", resp->status, status_text(resp->status));
}
