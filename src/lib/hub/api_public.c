/*
 * Endpoints anyone may call (PROTOCOL.md §2): health, metrics, the CA
 * certificate, the CRL, and enrollment (registration way 1). The console's
 * files and "/" itself are in console.c.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/enroll_token.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#ifndef CS_VERSION
#define CS_VERSION "0.1.0"
#endif

/* The public endpoints are routed for every method so that a wrong one
 * gets 405 here rather than falling through to the console's 404 (the
 * console owns the route "/", which every path matches). */
static int only(cs_hub *hub, cs_http_req *req, const char *method, const char *path)
{
	/* routes match by prefix; these endpoints are exact paths */
	if (strcmp(cs_http_req_path(req), path) != 0) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		return 0;
	}
	if (strcmp(cs_http_req_method(req), method) == 0)
		return 1;
	cs_http_req_add_header(req, "Allow", method);
	cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use %s", method);
	return 0;
}

static void healthz(cs_http_req *req, void *ud)
{
	if (!only(ud, req, "GET", "/healthz"))
		return;
	cs__hub_reply_json(ud, req, 200, json_pack("{s:s, s:s}", "status", "ok", "version",
		CS_VERSION));
}

static void get_ca(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	if (!only(hub, req, "GET", "/v1/ca"))
		return;
	cs__hub_reply(hub, req, 200, "application/x-pem-file", hub->ca_pem, strlen(hub->ca_pem));
}

static void get_crl(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	if (!only(hub, req, "GET", "/v1/crl"))
		return;
	cs__hub_reply(hub, req, 200, "application/x-pem-file", hub->crl_pem, strlen(hub->crl_pem));
}

static void enroll(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	struct cs__enroll_body b;
	char id[CS_DEVICE_ID_SIZE];
	char *cert = NULL;
	size_t len;
	int r;

	if (!only(hub, req, "POST", "/v1/enroll"))
		return;
	const char *text = cs__hub_body(req, &len);
	if ((r = cs__parse_enroll(&b, text, len)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if ((r = cs_store_begin(hub->db)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	/* token first: an unauthorised caller never reaches the CA */
	if ((r = cs__hub_token_use_tx(hub, b.token)) < 0 ||
	    (r = cs__hub_issue_and_register_tx(hub, b.csr, b.name, NULL, id, &cert)) < 0 ||
	    (r = cs_store_commit(hub->db)) < 0) {
		cs_store_rollback(hub->db);
		cs_log(CS_LOG_WARN, "enroll.refused", "remote=%s error=\"%s\"",
			cs_http_req_remote(req), cs_error_last());
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	cs_log(CS_LOG_INFO, "enroll.ok", "device=%s remote=%s", id, cs_http_req_remote(req));
	cs__hub_reply_json(hub, req, 201, json_pack("{s:s, s:s, s:s}", "device_id", id,
		"certificate", cert, "ca", hub->ca_pem));
done:
	free(cert);
	/* the token's text sits in the parsed body; _clear wipes it */
	cs__enroll_body_clear(&b);
}

static void metrics(cs_http_req *req, void *ud)
{
	if (only(ud, req, "GET", "/metrics"))
		cs__hub_metrics(req, ud);
}

void cs__hub_api_public_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", "/healthz", healthz, hub);
	cs_httpd_route(hub->httpd, "*", "/metrics", metrics, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/ca", get_ca, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/crl", get_crl, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/enroll", enroll, hub);
}
