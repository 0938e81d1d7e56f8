/*
 * Endpoints anyone may call (PROTOCOL.md §2): health, metrics, the CA
 * certificate, the CRL, enrollment (registration way 1), and the console's
 * static files.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/enroll_token.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"
#include "web/assets.h"

#ifndef CS_VERSION
#define CS_VERSION "0.1.0"
#endif

/* The public endpoints are routed for every method so that a wrong one
 * gets 405 here rather than falling through to the console's 404. */
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
	const char *token = NULL, *name = NULL, *csr = NULL;
	char id[CS_DEVICE_ID_SIZE];
	char *cert = NULL;
	int r;

	if (!only(hub, req, "POST", "/v1/enroll"))
		return;
	json_t *body = cs__hub_body_json(hub, req, CS__HUB_ENROLL_MAX);
	if (body == NULL)
		return;
	if ((r = cs__json_str(&token, body, "token", 1, CS_ENROLL_TOKEN_TEXT_MAX)) < 0 ||
	    (r = cs__json_str(&name, body, "name", 1, CS__HUB_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&csr, body, "csr", 1, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__hub_check_name(name)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	if ((r = cs_store_begin(hub->db)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		goto done;
	}
	/* token first: an unauthorised caller never reaches the CA */
	if ((r = cs__hub_token_use_tx(hub, token)) < 0 ||
	    (r = cs__hub_issue_and_register_tx(hub, csr, name, NULL, id, &cert)) < 0 ||
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
	/* the token's text sits in the parsed body; wipe it before it is freed */
	json_t *t = json_object_get(body, "token");
	if (json_is_string(t))
		cs_wipe((char *)json_string_value(t), json_string_length(t));
	json_decref(body);
}

static void metrics(cs_http_req *req, void *ud)
{
	if (only(ud, req, "GET", "/metrics"))
		cs__hub_metrics(req, ud);
}

/* The console's static files; every other path is 404 (405 for a method
 * other than GET/HEAD), as the server would answer. */
static void console(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	const char *path = cs_http_req_path(req);
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const struct cs_web_asset *a = cs_web_assets; a->path; a++) {
		if (strcmp(a->path, path) != 0)
			continue;
		if (strcmp(cs_http_req_method(req), "GET") != 0) {
			cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use GET");
			return;
		}
		cs_http_req_add_header(req, "Cache-Control", "no-cache");
		cs__hub_reply(hub, req, 200, a->content_type, a->data, a->len);
		return;
	}
	cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
}

void cs__hub_api_public_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", "/", console, hub);
	cs_httpd_route(hub->httpd, "*", "/healthz", healthz, hub);
	cs_httpd_route(hub->httpd, "*", "/metrics", metrics, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/ca", get_ca, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/crl", get_crl, hub);
	cs_httpd_route(hub->httpd, "*", "/v1/enroll", enroll, hub);
}
