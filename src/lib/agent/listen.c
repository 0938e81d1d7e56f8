/* Registration way 3, device side (PROTOCOL §6): answer the hub's
 * device-information request, then accept the certificate it delivers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/httpd.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "agent_internal.h"

#define INFO_CONTEXT "certsync-device-info-v1"

struct listener {
	const char *dir;
	const char *hub_address;
	uint8_t ca_fp[32];
	char *name;
	cs_key *key;
	char *csr;
	char device_id[CS_DEVICE_ID_SIZE];
	cs_httpd *srv;
	int done;
};

static void on_info(cs_http_req *req, void *ud)
{
	struct listener *l = ud;
	const char *hex = cs_http_req_query(req, "nonce");
	uint8_t nonce[32], m[sizeof(INFO_CONTEXT) - 1 + 32 + CS_SHA256_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	char *b64 = NULL, *text = NULL;
	if (hex == NULL || cs_hex_decode(nonce, sizeof(nonce), hex) < 0) {
		cs_http_reply_error(req, 400, "malformed", "nonce must be 64 hex digits");
		return;
	}
	memcpy(m, INFO_CONTEXT, sizeof(INFO_CONTEXT) - 1);
	memcpy(m + sizeof(INFO_CONTEXT) - 1, nonce, 32);
	cs_sha256(m + sizeof(INFO_CONTEXT) - 1 + 32, l->csr, strlen(l->csr));
	if (cs_key_sign(&sig, &siglen, l->key, m, sizeof(m)) < 0 || cs_base64_encode(&b64, sig, siglen) < 0) {
		cs_http_reply_error(req, 500, "crypto", "%s", cs_error_last());
		goto done;
	}
	json_t *j = json_pack("{ssssssss}", "name", l->name ? l->name : "", "device_id", l->device_id,
		"csr", l->csr, "signature", b64);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text)
		cs_http_reply(req, 200, "application/json", text, strlen(text));
	else
		cs_http_reply_error(req, 500, "no_memory", "out of memory");
	cs_log(CS_LOG_INFO, "device.info_sent", "remote=%s", cs_http_req_remote(req));
done:
	free(sig);
	free(b64);
	free(text);
}

/* Accept a certificate only from the CA the operator named, for our own
 * key: anyone can reach this port, so nothing else is believed. */
static int accept_certificate(struct listener *l, const char *cert_pem, const char *ca_pem)
{
	cs_cert *cert = NULL, *ca = NULL;
	uint8_t *der = NULL, fp[32];
	size_t der_len = 0;
	char *path = NULL;
	int r;
	if ((r = cs_cert_from_pem(&ca, ca_pem, strlen(ca_pem))) < 0 ||
	    (r = cs_cert_to_der(&der, &der_len, ca)) < 0)
		goto done;
	cs_sha256(fp, der, der_len);
	if (!cs_memeq(fp, l->ca_fp, 32)) {
		r = cs_error_set(CS_EAUTH, "the CA is not the hub CA this device was told to trust");
		goto done;
	}
	if ((r = cs_cert_from_pem(&cert, cert_pem, strlen(cert_pem))) < 0)
		goto done;
	if ((r = cs_cert_verify(cert, ca, NULL, 0)) < 0)
		goto done;
	if (!cs_key_matches_cert(l->key, cert)) {
		r = cs_error_set(CS_EAUTH, "the certificate is not for this device's key");
		goto done;
	}
	path = cs__agent_path(l->dir, "ca.crt");
	if ((r = cs_fs_write_atomic(path, ca_pem, strlen(ca_pem), 0644)) < 0)
		goto done;
	free(path);
	path = cs__agent_path(l->dir, "device.crt");
	if ((r = cs_fs_write_atomic(path, cert_pem, strlen(cert_pem), 0644)) < 0)
		goto done;
	r = cs__agent_write_config(l->dir, l->name, l->hub_address);
done:
	cs_cert_free(cert);
	cs_cert_free(ca);
	free(der);
	free(path);
	return r;
}

static void on_certificate(cs_http_req *req, void *ud)
{
	struct listener *l = ud;
	size_t len;
	const uint8_t *body = cs_http_req_body(req, &len);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *cert = json_string_value(json_object_get(j, "certificate"));
	const char *ca = json_string_value(json_object_get(j, "ca"));
	if (cert == NULL || ca == NULL) {
		cs_http_reply_error(req, 400, "malformed", "expected {\"certificate\": PEM, \"ca\": PEM}");
	} else if (accept_certificate(l, cert, ca) < 0) {
		cs_log(CS_LOG_WARN, "device.certificate_refused", "reason=\"%s\"", cs_error_last());
		cs_http_reply_error(req, 403, "auth", "%s", cs_error_last());
	} else {
		cs_http_reply(req, 200, "application/json", "{}", 2);
		cs_log(CS_LOG_INFO, "device.registered", "hub=%s", l->hub_address);
		l->done = 1;
		cs_httpd_stop(l->srv);
	}
	json_decref(j);
}

int cs_agent_listen(const char *data_dir, const char *listen, const char *hub_address,
	const char *ca_fingerprint, void (*ready)(void *ud, int port), void *ud)
{
	struct listener l;
	cs_ca *tmp_ca = NULL;
	cs_cert *tls_cert = NULL;
	char *hub = NULL, *key_path = cs__agent_path(data_dir, "device.key");
	char *crt_path = cs__agent_path(data_dir, "listen.crt"), *pem = NULL;
	char tmpdir[] = "/tmp/certsync-listen-XXXXXX";
	int r, have_tmp = 0;
	memset(&l, 0, sizeof(l));
	l.dir = data_dir;
	l.hub_address = hub_address;
	if (cs_hex_decode(l.ca_fp, 32, ca_fingerprint) < 0) {
		r = cs_error_set(CS_EINVAL, "the hub CA fingerprint must be 64 hex digits");
		goto done;
	}
	if ((r = cs__agent_read_config(data_dir, &l.name, &hub)) < 0 ||
	    (r = cs_key_load(&l.key, key_path, NULL)) < 0 ||
	    (r = cs_key_device_id(l.device_id, l.key)) < 0 || (r = cs_csr_new(&l.csr, l.key, l.name)) < 0)
		goto done;
	/* The TLS certificate only keeps the channel private; the hub trusts
	 * the signature and the operator's fingerprint check, not this. */
	if (mkdtemp(tmpdir) == NULL) {
		r = cs_error_set(CS_EIO, "create a temporary directory");
		goto done;
	}
	have_tmp = 1;
	const char *dns[] = {"localhost", NULL};
	if ((r = cs_ca_create(tmpdir, "certsync device")) < 0 || (r = cs_ca_open(&tmp_ca, tmpdir)) < 0 ||
	    (r = cs_ca_issue_server(&tls_cert, tmp_ca, l.key, l.device_id, dns, NULL, 1)) < 0 ||
	    (r = cs_cert_to_pem(&pem, tls_cert)) < 0 ||
	    (r = cs_fs_write_atomic(crt_path, pem, strlen(pem), 0644)) < 0)
		goto done;
	struct cs_httpd_config cfg = {.listen = listen, .cert_path = crt_path, .key_path = key_path,
		.max_body = 1u << 20};
	if ((r = cs_httpd_new(&l.srv, &cfg)) < 0 ||
	    (r = cs_httpd_route(l.srv, "GET", "/v1/device/info", on_info, &l)) < 0 ||
	    (r = cs_httpd_route(l.srv, "POST", "/v1/device/certificate", on_certificate, &l)) < 0)
		goto done;
	if (ready)
		ready(ud, cs_httpd_port(l.srv));
	if ((r = cs_httpd_run(l.srv)) < 0)
		goto done;
	if (!l.done)
		r = cs_error_set(CS_ESTATE, "stopped before the hub delivered a certificate");
done:
	cs_httpd_free(l.srv);
	cs_ca_free(tmp_ca);
	cs_cert_free(tls_cert);
	if (have_tmp)
		cs_fs_remove_tree(tmpdir);
	if (crt_path)
		unlink(crt_path);
	cs_key_free(l.key);
	free(l.name);
	free(l.csr);
	free(hub);
	free(key_path);
	free(crt_path);
	free(pem);
	return r;
}
