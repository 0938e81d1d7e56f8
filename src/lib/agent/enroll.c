/* Enrollment with a hub (registration way 1, PROTOCOL §2-3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/enroll_token.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "agent_internal.h"

/* Fetch the hub CA without verification and accept it only when its
 * SHA-256 equals the fingerprint carried by the token: the token, not the
 * network, decides whom we trust. */
static int fetch_pinned_ca(cs_cert **out, char **pem_out, const char *url, const uint8_t fp[32])
{
	struct cs_httpc_config cfg = {.base_url = url, .insecure = 1};
	cs_httpc *c = NULL;
	cs_http_resp resp = {0};
	uint8_t *der = NULL;
	size_t der_len = 0;
	uint8_t got[32];
	int r;
	if ((r = cs_httpc_new(&c, &cfg)) < 0)
		return r;
	if ((r = cs_httpc_request(&resp, c, "GET", "/v1/ca", NULL, NULL, 0, 1u << 20, 30000)) < 0)
		goto done;
	if (resp.status != 200) {
		r = cs_error_set(CS_ENET, "fetch hub CA from %s: status %ld", url, resp.status);
		goto done;
	}
	if ((r = cs_cert_from_pem(out, (const char *)resp.body, resp.len)) < 0 ||
	    (r = cs_cert_to_der(&der, &der_len, *out)) < 0)
		goto done;
	cs_sha256(got, der, der_len);
	if (!cs_memeq(got, fp, 32)) {
		cs_cert_free(*out);
		*out = NULL;
		r = cs_error_set(CS_EAUTH, "the hub at %s presented a CA whose fingerprint does not "
			"match the enrollment token: refusing to trust it", url);
		goto done;
	}
	*pem_out = strndup((const char *)resp.body, resp.len);
done:
	free(der);
	cs_http_resp_clear(&resp);
	cs_httpc_free(c);
	return r;
}

int cs_agent_enroll(const char *data_dir, const char *token, const char *name)
{
	cs_enroll_token t;
	cs_key *key = NULL;
	cs_cert *ca = NULL, *cert = NULL;
	cs_httpc *c = NULL;
	cs_http_resp resp = {0};
	char *cfg_name = NULL, *cfg_hub = NULL, *ca_pem = NULL, *csr = NULL, *url = NULL, *body = NULL;
	char *key_path = cs__agent_path(data_dir, "device.key");
	char *ca_path = cs__agent_path(data_dir, "ca.crt");
	char *crt_path = cs__agent_path(data_dir, "device.crt");
	json_t *req = NULL, *ans = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	if (!key_path || !ca_path || !crt_path) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs__agent_read_config(data_dir, &cfg_name, &cfg_hub)) < 0)
		goto done;
	if (name == NULL)
		name = cfg_name;
	if ((r = cs_key_load(&key, key_path, NULL)) < 0)
		goto done;
	if ((r = cs_enroll_token_parse(&t, token)) < 0) {
		cs_error_wrap("enrollment token");
		goto done;
	}
	if (asprintf(&url, "https://%s", t.hub_address) < 0) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = fetch_pinned_ca(&ca, &ca_pem, url, t.ca_fingerprint)) < 0)
		goto done;
	if ((r = cs_fs_write_atomic(ca_path, ca_pem, strlen(ca_pem), 0644)) < 0)
		goto done;
	struct cs_httpc_config cfg = {.base_url = url, .ca_path = ca_path};
	if ((r = cs_httpc_new(&c, &cfg)) < 0 || (r = cs_csr_new(&csr, key, name)) < 0)
		goto done;
	req = json_pack("{ssssss}", "token", token, "name", name ? name : "", "csr", csr);
	body = json_dumps(req, JSON_COMPACT);
	if ((r = cs_httpc_request(&resp, c, "POST", "/v1/enroll", "application/json", body,
		     strlen(body), 1u << 20, 30000)) < 0)
		goto done;
	if (resp.status != 201 && resp.status != 200) {
		char msg[512];
		cs_http_resp_error(msg, sizeof(msg), &resp);
		r = cs_error_set(resp.status == 401 || resp.status == 403 ? CS_EDENIED : CS_EINVAL,
			"enrollment refused by the hub: %s", msg);
		goto done;
	}
	json_error_t jerr;
	ans = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	const char *cert_pem = json_string_value(json_object_get(ans, "certificate"));
	if (cert_pem == NULL) {
		r = cs_error_set(CS_EMALFORMED, "enrollment answer carries no certificate");
		goto done;
	}
	if ((r = cs_cert_from_pem(&cert, cert_pem, strlen(cert_pem))) < 0)
		goto done;
	if (!cs_key_matches_cert(key, cert) || cs_cert_verify(cert, ca, NULL, 0) < 0) {
		r = cs_error_set(CS_EAUTH, "the hub issued a certificate that does not fit this device");
		goto done;
	}
	if ((r = cs_fs_write_atomic(crt_path, cert_pem, strlen(cert_pem), 0644)) < 0)
		goto done;
	r = cs__agent_write_config(data_dir, name, t.hub_address);
	if (r == 0)
		cs_log(CS_LOG_INFO, "agent.enrolled", "hub=%s", t.hub_address);
done:
	cs_enroll_token_clear(&t);
	cs_key_free(key);
	cs_cert_free(ca);
	cs_cert_free(cert);
	cs_httpc_free(c);
	cs_http_resp_clear(&resp);
	json_decref(req);
	json_decref(ans);
	free(cfg_name);
	free(cfg_hub);
	free(ca_pem);
	free(csr);
	free(url);
	free(body);
	free(key_path);
	free(ca_path);
	free(crt_path);
	return r;
}
