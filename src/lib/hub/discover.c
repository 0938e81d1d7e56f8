/*
 * Registration way 3 (PROTOCOL.md §5-6): the hub calls a device's
 * information endpoint, checks the signed answer, and — once the operator
 * has compared the fingerprint — issues the certificate and delivers it.
 *
 * The device serves a self-signed certificate, so the HTTPS client runs
 * with insecure=1: the TLS layer proves nothing here. Trust comes from the
 * signature over our fresh nonce by the key in the CSR, and from the
 * operator comparing that key's fingerprint with what the device shows.
 *
 * Calls to devices run on a worker thread each (struct cs__async), so that
 * a slow or unreachable address cannot stall the event loop; the loop's
 * tick collects finished calls and replies to the admin's request.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/httpc.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define INFO_RESP_MAX (256u << 10)
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 15000
#define INFO_CONTEXT "certsync-device-info-v1"

struct cs__async {
	struct cs__async *next;
	cs_hub *hub;
	cs_http_req *req;     /* NULL once the admin's client went away */
	pthread_t thread;
	atomic_int done;
	/* the call */
	char *base_url;
	char method[8];
	char *path;
	char *body;           /* JSON or NULL */
	/* the outcome (written by the worker before done is set) */
	int rc;
	char err[256];
	cs_http_resp resp;
	/* context for finish() */
	void (*finish)(cs_hub *hub, struct cs__async *a);
	uint8_t nonce[32];
	char address[CS__HUB_TEXT_MAX + 1];
	char pending[33];
	char device_id[CS_DEVICE_ID_SIZE];
	char *cert_pem;
};

static void async_free(struct cs__async *a)
{
	if (a == NULL)
		return;
	free(a->base_url);
	free(a->path);
	free(a->body);
	free(a->cert_pem);
	cs_http_resp_clear(&a->resp);
	free(a);
}

static void *worker(void *arg)
{
	struct cs__async *a = arg;
	cs_httpc *c = NULL;
	struct cs_httpc_config cfg = {
		.base_url = a->base_url,
		.connect_timeout_ms = CONNECT_TIMEOUT_MS,
		.insecure = 1, /* see the top of this file */
	};
	a->rc = cs_httpc_new(&c, &cfg);
	if (a->rc == 0)
		a->rc = cs_httpc_request(&a->resp, c, a->method, a->path,
			a->body ? "application/json" : NULL, a->body, a->body ? strlen(a->body) : 0,
			INFO_RESP_MAX, CALL_TIMEOUT_MS);
	if (a->rc < 0)
		snprintf(a->err, sizeof(a->err), "%s", cs_error_last());
	cs_httpc_free(c);
	atomic_store(&a->done, 1);
	return NULL;
}

static void on_close(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__async *a = ud;
	a->req = NULL; /* the call finishes; its answer has nowhere to go */
}

/* Start a call to the device at address; a->finish runs on the loop. */
static int async_start(cs_hub *hub, cs_http_req *req, struct cs__async *a)
{
	char url[CS__HUB_TEXT_MAX + 16];
	snprintf(url, sizeof(url), "https://%s", a->address);
	if ((a->base_url = strdup(url)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	a->hub = hub;
	a->req = req;
	atomic_init(&a->done, 0);
	if (pthread_create(&a->thread, NULL, worker, a) != 0)
		return cs_error_set(CS_ERROR, "cannot start a thread");
	a->next = hub->async;
	hub->async = a;
	cs_http_req_on_close(req, on_close, a);
	return CS_OK;
}

void cs__hub_async_tick(cs_hub *hub)
{
	struct cs__async **pp = &hub->async;
	while (*pp) {
		struct cs__async *a = *pp;
		if (!atomic_load(&a->done)) {
			pp = &a->next;
			continue;
		}
		pthread_join(a->thread, NULL);
		*pp = a->next;
		a->finish(hub, a);
		async_free(a);
	}
}

void cs__hub_async_free(cs_hub *hub)
{
	while (hub->async) {
		struct cs__async *a = hub->async;
		hub->async = a->next;
		pthread_join(a->thread, NULL);
		if (a->req)
			cs__hub_reply_error(hub, a->req, 503, "error", "the hub is shutting down");
		async_free(a);
	}
}

/* Reply to the admin (when still connected) with an error. */
static void fail(cs_hub *hub, struct cs__async *a, int status, const char *code, const char *msg)
{
	cs_log(CS_LOG_WARN, "discover.failed", "address=%s error=\"%s\"", a->address, msg);
	if (a->req)
		cs__hub_reply_error(hub, a->req, status, code, "%s", msg);
}

/* Check the device's answer to GET /v1/device/info and record it as
 * pending. */
static void info_done(cs_hub *hub, struct cs__async *a)
{
	char msg[1024];
	struct cs__device_info_body info = {0};
	cs_cert *tmp = NULL;
	char id[CS_DEVICE_ID_SIZE], spki[65];
	uint8_t pend[16];
	int r;

	if (a->rc < 0) {
		snprintf(msg, sizeof(msg), "cannot reach the device at %s: %s", a->address, a->err);
		fail(hub, a, 502, "network", msg);
		goto done;
	}
	if (a->resp.status != 200) {
		char e[256];
		cs_http_resp_error(e, sizeof(e), &a->resp);
		snprintf(msg, sizeof(msg), "the device answered HTTP %ld: %s", a->resp.status, e);
		fail(hub, a, 502, "network", msg);
		goto done;
	}
	if (cs__parse_device_info(&info, (const char *)a->resp.body, a->resp.len) < 0) {
		snprintf(msg, sizeof(msg), "the device's information is malformed: %s",
			cs_error_last());
		fail(hub, a, 502, "malformed", msg);
		goto done;
	}
	const char *name = info.name, *csr = info.csr;
	/* Issuing a throw-away certificate checks the CSR's own signature and
	 * gives us its public key in a form that can verify signatures, without
	 * OpenSSL in this module. */
	if (cs_ca_issue_device(&tmp, hub->ca, csr, name, 1) < 0 || cs_cert_device_id(id, tmp) < 0) {
		snprintf(msg, sizeof(msg), "the device's CSR is not acceptable: %s", cs_error_last());
		fail(hub, a, 502, "malformed", msg);
		goto done;
	}
	{
		uint8_t m[sizeof(INFO_CONTEXT) - 1 + 32 + CS_SHA256_LEN];
		memcpy(m, INFO_CONTEXT, sizeof(INFO_CONTEXT) - 1);
		memcpy(m + sizeof(INFO_CONTEXT) - 1, a->nonce, 32);
		cs_sha256(m + sizeof(INFO_CONTEXT) - 1 + 32, csr, strlen(csr));
		if (cs_cert_verify_signature(tmp, m, sizeof(m), info.sig, info.siglen) < 0) {
			fail(hub, a, 502, "auth", "the device's signature does not verify");
			goto done;
		}
	}
	if (strcmp(id, info.device_id) != 0) {
		fail(hub, a, 502, "auth", "the device ID does not belong to the device's key");
		goto done;
	}
	if (cs__device_id_spki_hex(spki, id) < 0) {
		fail(hub, a, 500, "error", "cannot derive the key fingerprint");
		goto done;
	}
	struct cs__device d;
	if (cs__hub_device_get(hub, &d, id) == 0) {
		cs__device_clear(&d);
		snprintf(msg, sizeof(msg), "device %s is registered already", id);
		fail(hub, a, 409, "exists", msg);
		goto done;
	}
	if (cs_random(pend, sizeof(pend)) < 0) {
		fail(hub, a, 500, "error", "no randomness");
		goto done;
	}
	cs_hex_encode(a->pending, pend, sizeof(pend));
	r = cs__db_step(hub->db,
		"INSERT INTO pending (id, address, name, device_id, csr, fingerprint, created) "
		"VALUES (?, ?, ?, ?, ?, ?, ?)",
		CS__DB_ARGS(CS__DB_T(a->pending), CS__DB_T(a->address), CS__DB_T(name), CS__DB_T(id),
			CS__DB_T(csr), CS__DB_T(spki), CS__DB_I(cs_clock_now())));
	if (r < 0) {
		fail(hub, a, 500, "database", cs_error_last());
		goto done;
	}
	cs_log(CS_LOG_INFO, "discover.pending", "address=%s device=%s fingerprint=%s", a->address,
		id, spki);
	if (a->req)
		cs__hub_reply_json(hub, a->req, 200, json_pack("{s:s, s:s, s:s, s:s, s:s}",
			"pending", a->pending, "device_id", id, "name", name, "fingerprint", spki,
			"address", a->address));
done:
	cs_cert_free(tmp);
	cs__device_info_body_clear(&info);
}

void cs__hub_discover_start(cs_hub *hub, cs_http_req *req, const char *address)
{
	char hex[65], path[128];
	int r;
	struct cs__async *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		cs__hub_reply_error(hub, req, 500, "error", "out of memory");
		return;
	}
	if ((r = cs__hub_check_address(address)) < 0 || (r = cs_random(a->nonce, 32)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		async_free(a);
		return;
	}
	snprintf(a->address, sizeof(a->address), "%s", address);
	cs_hex_encode(hex, a->nonce, 32);
	snprintf(path, sizeof(path), "/v1/device/info?nonce=%s", hex);
	snprintf(a->method, sizeof(a->method), "GET");
	a->finish = info_done;
	if ((a->path = strdup(path)) == NULL || (r = async_start(hub, req, a)) < 0) {
		cs__hub_reply_cs_error(hub, req, a->path ? r : CS_ENOMEM);
		async_free(a);
	}
}

/* The device's answer to POST /v1/device/certificate. */
static void deliver_done(cs_hub *hub, struct cs__async *a)
{
	char msg[1024];
	if (a->rc < 0 || a->resp.status != 200) {
		char e[256];
		if (a->rc < 0)
			snprintf(e, sizeof(e), "%s", a->err);
		else
			cs_http_resp_error(e, sizeof(e), &a->resp);
		snprintf(msg, sizeof(msg), "device %s is registered, but delivering its certificate "
			"failed (%s); confirm again to retry", a->device_id, e);
		fail(hub, a, 502, "network", msg);
		return;
	}
	(void)cs__db_step(hub->db, "DELETE FROM pending WHERE id = ?",
		CS__DB_ARGS(CS__DB_T(a->pending)));
	cs_log(CS_LOG_INFO, "discover.registered", "device=%s address=%s", a->device_id, a->address);
	if (a->req)
		cs__hub_reply_json(hub, a->req, 201, json_pack("{s:s, s:s}", "device_id", a->device_id,
			"certificate", a->cert_pem));
}

void cs__hub_discover_confirm(cs_hub *hub, cs_http_req *req, const char *pending,
	const char fp[65])
{
	char id[CS_DEVICE_ID_SIZE];
	char *address = NULL, *name = NULL, *csr = NULL, *want = NULL, *cert = NULL, *json = NULL;
	cs_stmt *q = NULL;
	struct cs__async *a = NULL;
	int r;

	if (strlen(pending) != 32) {
		r = cs_error_set(CS_ENOTFOUND, "no such pending device");
		goto fail;
	}
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT address, name, csr, fingerprint, cert_pem, device_id FROM pending "
		     "WHERE id = ? AND created >= ?")) < 0)
		goto fail;
	cs_stmt_bind_text(q, 1, pending);
	cs_stmt_bind_int64(q, 2, cs_clock_now() - CS__HUB_PENDING_TTL_S);
	if ((r = cs_stmt_step(q)) <= 0) {
		if (r == 0)
			r = cs_error_set(CS_ENOTFOUND, "no such pending device (discover it again)");
		goto fail;
	}
	address = strdup(cs_stmt_text(q, 0));
	name = strdup(cs_stmt_text(q, 1));
	csr = strdup(cs_stmt_text(q, 2));
	want = strdup(cs_stmt_text(q, 3));
	cert = cs_stmt_is_null(q, 4) ? NULL : strdup(cs_stmt_text(q, 4));
	snprintf(id, sizeof(id), "%s", cs_stmt_text(q, 5));
	cs_stmt_free(q);
	q = NULL;
	if (!address || !name || !csr || !want) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if (strlen(want) != 64 || !cs_memeq(want, fp, 64)) {
		r = cs_error_set(CS_EINVAL, "the fingerprint does not match the device's key");
		goto fail;
	}
	if (cert == NULL) {
		/* registered before delivery, so a failed delivery can be retried
		 * with the same certificate */
		if ((r = cs_store_begin(hub->db)) < 0)
			goto fail;
		if ((r = cs__hub_issue_and_register_tx(hub, csr, name, address, id, &cert)) < 0 ||
		    (r = cs__db_exec(hub->db, "UPDATE pending SET cert_pem = ? WHERE id = ?",
			     CS__DB_ARGS(CS__DB_T(cert), CS__DB_T(pending)))) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			goto fail;
		}
	}
	json_t *msg = json_pack("{s:s, s:s}", "certificate", cert, "ca", hub->ca_pem);
	json = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	if (json == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	snprintf(a->address, sizeof(a->address), "%s", address);
	snprintf(a->pending, sizeof(a->pending), "%s", pending);
	snprintf(a->device_id, sizeof(a->device_id), "%s", id);
	snprintf(a->method, sizeof(a->method), "POST");
	a->finish = deliver_done;
	a->body = json;
	json = NULL;
	a->cert_pem = cert;
	cert = NULL;
	if ((a->path = strdup("/v1/device/certificate")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = async_start(hub, req, a)) < 0)
		goto fail;
	a = NULL;
	goto done;
fail:
	cs__hub_reply_cs_error(hub, req, r);
done:
	async_free(a);
	cs_stmt_free(q);
	free(address);
	free(name);
	free(csr);
	free(want);
	free(cert);
	free(json);
}
