/*
 * Administrator endpoints, /v1/admin/... (PROTOCOL.md §5). The caller
 * presents a client certificate that chains to the hub CA and is listed in
 * the admins table (see cs__hub_admin_check).
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
	const char *name = NULL, *address = NULL, *pem = NULL, *csr = NULL;
	char id[CS_DEVICE_ID_SIZE], san[CS_DEVICE_ID_SIZE];
	char *cert_pem = NULL;
	cs_cert *cert = NULL;
	int r;

	json_t *body = cs__hub_body_json(hub, req, CS__HUB_JSON_MAX);
	if (body == NULL)
		return;
	if ((r = cs__json_str(&name, body, "name", 1, CS__HUB_NAME_MAX)) < 0 ||
	    (r = cs__json_str(&address, body, "address", 0, CS__HUB_TEXT_MAX)) < 0 ||
	    (r = cs__json_str(&pem, body, "certificate", 0, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__json_str(&csr, body, "csr", 0, CS__HUB_PEM_MAX)) < 0 ||
	    (r = cs__hub_check_name(name)) < 0 ||
	    (address && address[0] && (r = cs__hub_check_address(address)) < 0))
		goto fail;
	if ((pem == NULL) == (csr == NULL)) {
		r = cs_error_set(CS_EINVAL, "give exactly one of \"certificate\" and \"csr\"");
		goto fail;
	}
	if (pem) {
		if ((r = cs_cert_from_pem(&cert, pem, strlen(pem))) < 0) {
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
		if ((r = cs__hub_device_insert_tx(hub, cert, name, address, id)) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			goto fail;
		}
		cert_pem = strdup(pem);
	} else {
		if ((r = cs_store_begin(hub->db)) < 0)
			goto fail;
		if ((r = cs__hub_issue_and_register_tx(hub, csr, name, address, id, &cert_pem)) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			goto fail;
		}
	}
	cs_log(CS_LOG_INFO, "admin.device_added", "device=%s name=\"%s\"", id, name);
	cs__hub_reply_json(hub, req, 201, json_pack("{s:s, s:s?}", "device_id", id,
		"certificate", cert_pem));
	goto done;
fail:
	cs__hub_reply_cs_error(hub, req, r);
done:
	free(cert_pem);
	cs_cert_free(cert);
	json_decref(body);
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
		json_t *body = cs__hub_body_json(hub, req, CS__HUB_JSON_MAX);
		if (body == NULL)
			return;
		if (n == 2)
			cs__hub_discover_start(hub, req, body);
		else
			cs__hub_discover_confirm(hub, req, seg[2], body);
		json_decref(body);
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
	int64_t uses = 1, ttl = 86400, expires = 0;
	char *text = NULL;
	int r;
	if (!method_is(req, "POST")) {
		not_allowed(hub, req, "POST");
		return;
	}
	json_t *body = cs__hub_body_json(hub, req, CS__HUB_JSON_MAX);
	if (body == NULL)
		return;
	if ((r = cs__json_int(&uses, body, "uses", 0, 1, 100000)) < 0 ||
	    (r = cs__json_int(&ttl, body, "ttl", 0, 1, 366ll * 86400)) < 0 ||
	    (r = cs__hub_token_create(hub, &text, &expires, uses, ttl)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
	} else {
		json_t *out = json_pack("{s:s, s:I, s:I}", "token", text, "expires",
			(json_int_t)expires, "uses", (json_int_t)uses);
		cs__hub_reply_json(hub, req, 201, out);
	}
	cs_free_secret_str(text);
	json_decref(body);
}

static void job_create(cs_hub *hub, cs_http_req *req)
{
	const char *folder = NULL, *source = NULL;
	const char **dests = NULL;
	size_t n = 0;
	int all = 0;
	int64_t job = 0;
	int r;

	json_t *body = cs__hub_body_json(hub, req, CS__HUB_JSON_MAX);
	if (body == NULL)
		return;
	if ((r = cs__json_str(&folder, body, "folder", 1, CS__HUB_FOLDER_MAX)) < 0 ||
	    (r = cs__json_str(&source, body, "source", 1, 128)) < 0 ||
	    (r = cs__json_bool(&all, body, "all", 0)) < 0)
		goto fail;
	json_t *arr = json_object_get(body, "destinations");
	if (arr && !json_is_null(arr)) {
		if (!json_is_array(arr)) {
			r = cs_error_set(CS_EMALFORMED, "member \"destinations\" must be an array");
			goto fail;
		}
		n = json_array_size(arr);
		if (n > CS__HUB_DESTS_MAX) {
			r = cs_error_set(CS_EINVAL, "at most %d destinations", CS__HUB_DESTS_MAX);
			goto fail;
		}
		if (n && (dests = calloc(n, sizeof(*dests))) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_array_get(arr, i);
			if (!json_is_string(v) || json_string_length(v) > 128) {
				r = cs_error_set(CS_EMALFORMED, "destinations[%zu] must be a device ID", i);
				goto fail;
			}
			dests[i] = json_string_value(v);
		}
		if (all && n) {
			r = cs_error_set(CS_EINVAL, "give \"destinations\" or \"all\", not both");
			goto fail;
		}
	}
	if (!all && n == 0) {
		r = cs_error_set(CS_EINVAL, "no destinations (give \"destinations\" or \"all\": true)");
		goto fail;
	}
	if ((r = cs__hub_job_create(hub, &job, folder, source, dests, n, all)) < 0)
		goto fail;
	cs__hub_reply_json(hub, req, 201, json_pack("{s:I}", "job", (json_int_t)job));
	goto done;
fail:
	cs__hub_reply_cs_error(hub, req, r);
done:
	free(dests);
	json_decref(body);
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

static void admin(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	char storage[512];
	const char *seg[5];
	json_t *out = NULL;
	int r;

	if ((r = cs__hub_admin_check(hub, cs_http_req_peer_cert(req))) < 0) {
		cs_log(CS_LOG_WARN, "admin.denied", "remote=%s", cs_http_req_remote(req));
		cs__hub_reply_error(hub, req, 403, r == CS_EREVOKED ? "revoked" : "denied", "%s",
			cs_error_last());
		return;
	}
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
