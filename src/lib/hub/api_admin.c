/*
 * Administrator endpoints, /v1/admin/... (PROTOCOL.md §5). The caller
 * presents a client certificate that chains to the hub CA and is listed in
 * the admins table (see cs__hub_admin_check), or the web console's session
 * cookie (PROTOCOL.md §10, console.c).
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define PREFIX "/v1/admin/"
#define JOBS_LIST_DEFAULT 50
#define JOBS_LIST_MAX 1000

static int method_is(cs_http_req *req, const char *m)
{
	return strcmp(cs_http_req_method(req), m) == 0;
}

static void not_allowed(cs_hub *hub, cs_http_req *req, const char *allowed)
{
	cs_http_req_add_header(req, "Allow", allowed);
	cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use %s", allowed);
}

/* POST /v1/admin/devices: registration way 2. */
static void device_add(cs_hub *hub, cs_http_req *req)
{
	struct cs__device_add_body b;
	char id[CS_DEVICE_ID_SIZE], san[CS_DEVICE_ID_SIZE];
	char *cert_pem = NULL;
	cs_cert *cert = NULL;
	size_t len;
	int r;

	const char *text = cs__hub_body(req, &len);
	if ((r = cs__parse_device_add(&b, text, len)) < 0)
		goto fail;
	if (b.certificate) {
		if ((r = cs_cert_from_pem(&cert, b.certificate, strlen(b.certificate))) < 0) {
			r = cs_error_set(CS_EMALFORMED, "\"certificate\" is not a PEM certificate");
			goto fail;
		}
		if (cs_cert_verify(cert, cs_ca_cert(hub->ca), hub->crl_pem, 0) < 0) {
			char why[256];
			snprintf(why, sizeof(why), "%s", cs_error_last());
			r = cs_error_set(CS_EINVAL, "the certificate is not valid under this hub's CA: %s",
				why);
			goto fail;
		}
		if (cs_cert_san_device_id(san, cert) < 0 || cs_cert_device_id(id, cert) < 0 ||
		    strcmp(san, id) != 0) {
			r = cs_error_set(CS_EINVAL, "not a device certificate (SAN urn:certsync:device:)");
			goto fail;
		}
		if ((r = cs_store_begin(hub->db)) < 0)
			goto fail;
		if ((r = cs__hub_device_insert_tx(hub, cert, b.name, b.address, id)) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			goto fail;
		}
		cert_pem = strdup(b.certificate);
	} else {
		if ((r = cs_store_begin(hub->db)) < 0)
			goto fail;
		if ((r = cs__hub_issue_and_register_tx(hub, b.csr, b.name, b.address, id,
			     &cert_pem)) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			goto fail;
		}
	}
	cs_log(CS_LOG_INFO, "admin.device_added", "device=%s name=\"%s\"", id, b.name);
	cs__hub_reply_json(hub, req, 201, json_pack("{s:s, s:s?}", "device_id", id,
		"certificate", cert_pem));
	goto done;
fail:
	cs__hub_reply_cs_error(hub, req, r);
done:
	free(cert_pem);
	cs_cert_free(cert);
	cs__device_add_body_clear(&b);
}

static void devices(cs_hub *hub, cs_http_req *req, const char **seg, int n)
{
	struct cs__device d = {0};
	json_t *out = NULL;
	int r;

	if (n == 1) {
		if (method_is(req, "GET")) {
			if ((r = cs__hub_devices_json(hub, &out)) < 0)
				cs__hub_reply_cs_error(hub, req, r);
			else
				cs__hub_reply_json(hub, req, 200, out);
		} else if (method_is(req, "POST")) {
			device_add(hub, req);
		} else {
			not_allowed(hub, req, "GET, POST");
		}
		return;
	}
	if (strcmp(seg[1], "discover") == 0 && (n == 2 || (n == 4 && strcmp(seg[3], "confirm") == 0))) {
		if (!method_is(req, "POST")) {
			not_allowed(hub, req, "POST");
			return;
		}
		size_t len;
		const char *text = cs__hub_body(req, &len);
		if (n == 2) {
			struct cs__discover_body b;
			if ((r = cs__parse_discover(&b, text, len)) < 0) {
				cs__hub_reply_cs_error(hub, req, r);
				return;
			}
			cs__hub_discover_start(hub, req, b.address);
			cs__discover_body_clear(&b);
		} else {
			struct cs__confirm_body b;
			if ((r = cs__parse_confirm(&b, text, len)) < 0) {
				cs__hub_reply_cs_error(hub, req, r);
				return;
			}
			cs__hub_discover_confirm(hub, req, seg[2], b.fingerprint);
		}
		return;
	}
	if (n == 2) {
		if (!method_is(req, "GET")) {
			not_allowed(hub, req, "GET");
			return;
		}
		if ((r = cs__hub_device_get(hub, &d, seg[1])) < 0) {
			cs__hub_reply_cs_error(hub, req, r);
			return;
		}
		cs__hub_reply_json(hub, req, 200, cs__hub_device_json(hub, &d));
		cs__device_clear(&d);
		return;
	}
	if (n == 3 && strcmp(seg[2], "revoke") == 0) {
		if (!method_is(req, "POST")) {
			not_allowed(hub, req, "POST");
			return;
		}
		if ((r = cs__hub_device_revoke(hub, seg[1])) < 0) {
			cs__hub_reply_cs_error(hub, req, r);
			return;
		}
		cs__hub_reply_json(hub, req, 200, json_object());
		return;
	}
	cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
}

static void tokens(cs_hub *hub, cs_http_req *req)
{
	struct cs__token_body b;
	int64_t expires = 0;
	char *text = NULL;
	size_t len;
	int r;
	if (!method_is(req, "POST")) {
		not_allowed(hub, req, "POST");
		return;
	}
	const char *body = cs__hub_body(req, &len);
	if ((r = cs__parse_token(&b, body, len)) < 0 ||
	    (r = cs__hub_token_create(hub, &text, &expires, b.uses, b.ttl)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
	} else {
		json_t *out = json_pack("{s:s, s:I, s:I}", "token", text, "expires",
			(json_int_t)expires, "uses", (json_int_t)b.uses);
		cs__hub_reply_json(hub, req, 201, out);
	}
	cs_free_secret_str(text);
}

static void job_create(cs_hub *hub, cs_http_req *req)
{
	struct cs__job_body b;
	int64_t job = 0;
	size_t len;
	int r;

	const char *text = cs__hub_body(req, &len);
	if ((r = cs__parse_job(&b, text, len)) < 0 ||
	    (r = cs__hub_job_create(hub, &job, b.folder, b.source, b.dests, b.n, b.all)) < 0)
		cs__hub_reply_cs_error(hub, req, r);
	else
		cs__hub_reply_json(hub, req, 201, json_pack("{s:I}", "job", (json_int_t)job));
	cs__job_body_clear(&b);
}

static void jobs(cs_hub *hub, cs_http_req *req, const char **seg, int n)
{
	json_t *out = NULL;
	int64_t id;
	int r;
	if (n == 1) {
		if (method_is(req, "POST")) {
			job_create(hub, req);
			return;
		}
		if (!method_is(req, "GET")) {
			not_allowed(hub, req, "GET, POST");
			return;
		}
		int64_t limit = JOBS_LIST_DEFAULT;
		const char *l = cs_http_req_query(req, "limit");
		if (l && (cs__parse_id(&limit, l) < 0 || limit > JOBS_LIST_MAX)) {
			cs__hub_reply_error(hub, req, 400, "invalid", "limit must be 1..%d", JOBS_LIST_MAX);
			return;
		}
		if ((r = cs__hub_jobs_json(hub, &out, limit)) < 0)
			cs__hub_reply_cs_error(hub, req, r);
		else
			cs__hub_reply_json(hub, req, 200, out);
		return;
	}
	if (n != 2) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		return;
	}
	if (!method_is(req, "GET")) {
		not_allowed(hub, req, "GET");
		return;
	}
	if (cs__parse_id(&id, seg[1]) < 0) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such job");
		return;
	}
	if ((r = cs__hub_job_json(hub, &out, id)) < 0)
		cs__hub_reply_cs_error(hub, req, r);
	else
		cs__hub_reply_json(hub, req, 200, out);
}

/*
 * An administrator's certificate, or else a console session cookie (which
 * then needs the CSRF header for anything but GET). The certificate is
 * tried first so that the CLI is never affected by a stray cookie; a
 * request with neither gets the certificate's refusal, as before the
 * console existed. On failure req has been answered.
 */
static int admin_auth(cs_hub *hub, cs_http_req *req)
{
	const cs_cert *peer = cs_http_req_peer_cert(req);
	char why[256];
	int r = cs__hub_admin_check(hub, peer);
	if (r == 0)
		return CS_OK;
	snprintf(why, sizeof(why), "%s", cs_error_last());
	if (cs__console_has_cookie(req))
		return cs__console_authorize(hub, req);
	cs_log(CS_LOG_WARN, "admin.denied", "remote=%s", cs_http_req_remote(req));
	cs__hub_reply_error(hub, req, 403, r == CS_EREVOKED ? "revoked" : "denied", "%s", why);
	return r;
}

static void admin(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	char storage[512];
	const char *seg[5];
	json_t *out = NULL;
	int r;

	if (admin_auth(hub, req) < 0)
		return;
	int n = cs__path_split(storage, sizeof(storage), seg, 4, cs_http_req_path(req), PREFIX);
	if (n >= 1 && strcmp(seg[0], "devices") == 0) {
		devices(hub, req, seg, n);
	} else if (n == 1 && strcmp(seg[0], "tokens") == 0) {
		tokens(hub, req);
	} else if (n >= 1 && strcmp(seg[0], "jobs") == 0) {
		jobs(hub, req, seg, n);
	} else if (n == 1 && strcmp(seg[0], "history") == 0) {
		const char *folder = cs_http_req_query(req, "folder");
		if (!method_is(req, "GET"))
			not_allowed(hub, req, "GET");
		else if (folder && cs__hub_check_folder(folder) < 0)
			cs__hub_reply_cs_error(hub, req, CS_EINVAL);
		else if ((r = cs__hub_history_json(hub, &out, folder)) < 0)
			cs__hub_reply_cs_error(hub, req, r);
		else
			cs__hub_reply_json(hub, req, 200, out);
	} else {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
	}
}

void cs__hub_api_admin_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", PREFIX, admin, hub);
}
