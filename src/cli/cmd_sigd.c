/*
 * certsync sigd: the signature verification cluster (include/certsync/sigd.h,
 * PROTOCOL.md §14, docs/sigd.md): make a node, run it, add certificates to
 * it, and ask it to verify a signature.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/httpc.h>
#include <certsync/identity.h>
#include <certsync/log.h>
#include <certsync/sigd.h>
#include "cli.h"
#include "commands.h"

#define LIST_MAX 16
#define EXIT_REFUSED 3

/* Split a comma-joined repeated option into list (NULL-terminated). */
static int split(char *joined, const char **list)
{
	int n = 0;
	list[0] = NULL;
	if (joined == NULL)
		return 0;
	for (char *save = NULL, *t = strtok_r(joined, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == LIST_MAX)
			return -1;
		list[n++] = t;
		list[n] = NULL;
	}
	return n;
}

static int sigd_init(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "the node's directory (created)", NULL, NULL, 0},
		{"cluster-ca", 0, "DIR", "the cluster CA (created when DIR holds none; share it between "
			"the nodes of a cluster)", NULL, NULL, 0},
		{"name", 0, "NAME", "the node's name", NULL, NULL, 0},
		{"role", 0, "ROLE", "center or edge", "center", NULL, 0},
		{"mode", 0, "MODE", "fetch (ask peers for certificates it lacks) or local", "fetch", NULL, 0},
		{"listen", 0, "ADDR", "host:port to listen on", "127.0.0.1:9443", NULL, 0},
		{"host", 0, "NAME", "a DNS name or IP address peers reach this node by (repeat)", NULL, NULL, 1},
		{"peer", 0, "URL", "a peer's https:// URL, in the order asked (repeat)", NULL, NULL, 1},
		{"trust-anchor", 0, "FILE", "a CA certificate (PEM) the certificates verified must chain "
			"to (repeat)", NULL, NULL, 1},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts,
		"certsync sigd init --data DIR --cluster-ca DIR --name NAME --trust-anchor FILE [--role "
		"center|edge] [--mode fetch|local] [--listen ADDR] [--host NAME]... [--peer URL]...",
		"Make a sigd node: DIR/sigd.json (edit it to change anything later), DIR/tls with an HTTPS "
		"certificate from the cluster CA, and an empty store. A new cluster CA also gets its "
		"administrator credentials, DIR/admin.crt and admin.key, which 'sigd cert add' presents.",
		&npos, -1);
	if (rc >= 0)
		return rc;
	const char *dir = cli_get(opts, "data"), *ca = cli_get(opts, "cluster-ca"), *name = cli_get(opts, "name");
	const char *role = cli_get(opts, "role"), *mode = cli_get(opts, "mode");
	if (npos != 0 || dir == NULL || ca == NULL || name == NULL)
		return cli_usage_error("sigd init needs --data, --cluster-ca and --name");
	if (strcmp(role, "center") != 0 && strcmp(role, "edge") != 0)
		return cli_usage_error("--role is center or edge");
	if (strcmp(mode, "fetch") != 0 && strcmp(mode, "local") != 0)
		return cli_usage_error("--mode is fetch or local");
	char *hosts_s = cli_get(opts, "host") ? strdup(cli_get(opts, "host")) : NULL;
	char *peers_s = cli_get(opts, "peer") ? strdup(cli_get(opts, "peer")) : NULL;
	char *anchors_s = cli_get(opts, "trust-anchor") ? strdup(cli_get(opts, "trust-anchor")) : NULL;
	const char *hosts[LIST_MAX + 1], *peers[LIST_MAX + 1], *anchors[LIST_MAX + 1];
	if (split(hosts_s, hosts) < 0 || split(peers_s, peers) < 0 || split(anchors_s, anchors) <= 0) {
		rc = cli_usage_error("give 1 to %d --trust-anchor, at most %d --host and --peer", LIST_MAX, LIST_MAX);
	} else {
		struct cs_sigd_init_options o = {
			.dir = dir, .cluster_ca = ca, .name = name, .listen = cli_get(opts, "listen"),
			.role = strcmp(role, "edge") == 0 ? CS_SIGD_EDGE : CS_SIGD_CENTER,
			.mode = strcmp(mode, "local") == 0 ? CS_SIGD_MODE_LOCAL : CS_SIGD_MODE_FETCH,
			.hosts = hosts, .peers = peers, .anchors = anchors,
		};
		if (cs_sigd_init(&o) < 0)
			rc = cli_fail("sigd init");
		else {
			printf("sigd node %s (%s) in %s; configuration %s/sigd.json\n", name, role, dir, dir);
			rc = 0;
		}
	}
	free(hosts_s);
	free(peers_s);
	free(anchors_s);
	return rc;
}

static int sigd_serve(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"config", 'c', "FILE", "the node's sigd.json", NULL, NULL, 0},
		{"log-level", 0, "LEVEL", "debug, info, warn, error or off", "info", NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync sigd serve --config FILE [--log-level L]",
		"Run a sigd node: verify signatures against certificates it holds, fetch those it lacks "
		"from its peers (fetch mode), serve its certificates to peers, /metrics and /healthz. "
		"SIGINT or SIGTERM stops it.", &npos, -1);
	if (rc >= 0)
		return rc;
	if (npos != 0 || cli_get(opts, "config") == NULL)
		return cli_usage_error("sigd serve needs --config FILE");
	int level = cs_log_level_parse(cli_get(opts, "log-level"));
	if (level < 0)
		return cli_usage_error("unknown log level '%s'", cli_get(opts, "log-level"));
	cs_log_set_level((enum cs_log_level)level);
	cs_log_set_role("sigd");
	struct cs_sigd_config c;
	cs_sigd *s = NULL;
	if (cs_sigd_config_load(&c, cli_get(opts, "config")) < 0)
		return cli_fail("sigd serve");
	if (cs_sigd_new(&s, &c) < 0) {
		cs_sigd_config_clear(&c);
		return cli_fail("sigd serve");
	}
	printf("sigd %s (%s) listening on https://127.0.0.1:%d\n", c.name,
		c.role == CS_SIGD_CENTER ? "center" : "edge", cs_sigd_port(s));
	fflush(stdout);
	rc = cs_sigd_run(s) < 0 ? cli_fail("sigd serve") : 0;
	cs_sigd_free(s);
	cs_sigd_config_clear(&c);
	return rc;
}

/* A client of a node, trusting the cluster CA; with admin, presenting the
 * cluster's administrator certificate. */
static int node_client(cs_httpc **out, const char *url, const char *ca_dir, int admin)
{
	char *ca = cs_path_join(ca_dir, "ca.crt"), *crt = cs_path_join(ca_dir, "admin.crt");
	char *key = cs_path_join(ca_dir, "admin.key");
	struct cs_httpc_config hc = {.base_url = url, .ca_path = ca, .cert_path = admin ? crt : NULL,
		.key_path = admin ? key : NULL, .connect_timeout_ms = 5000};
	int r = ca && crt && key ? cs_httpc_new(out, &hc) : cs_error_set(CS_ENOMEM, "out of memory");
	free(ca);
	free(crt);
	free(key);
	return r;
}

static int sigd_cert_add(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"node", 'n', "URL", "the node's https:// URL", NULL, NULL, 0},
		{"cluster-ca", 0, "DIR", "the cluster CA directory (ca.crt, admin.crt, admin.key)", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync sigd cert add --node URL --cluster-ca DIR FILE...",
		"Add certificates (PEM files, one or more certificates each) to a node's store, as the "
		"cluster's administrator. The node checks each against its trust anchors (chain, "
		"validity, revocation) and refuses those that fail.", &npos, -1);
	if (rc >= 0)
		return rc;
	if (npos < 1 || cli_get(opts, "node") == NULL || cli_get(opts, "cluster-ca") == NULL)
		return cli_usage_error("sigd cert add needs --node, --cluster-ca and at least one FILE");
	cs_httpc *c = NULL;
	if (node_client(&c, cli_get(opts, "node"), cli_get(opts, "cluster-ca"), 1) < 0)
		return cli_fail("sigd cert add");
	rc = 0;
	for (int i = 1; i <= npos && rc == 0; i++) {
		uint8_t *pem = NULL;
		size_t len = 0;
		cs_http_resp resp = {0};
		if (cs_fs_read_all(&pem, &len, argv[i], 1u << 20) < 0) {
			rc = cli_fail("read %s", argv[i]);
			break;
		}
		int r = cs_httpc_request(&resp, c, "POST", "/v1/admin/certs", "application/x-pem-file", pem, len,
			1u << 20, 30000);
		free(pem);
		if (r < 0) {
			rc = cli_fail("sigd cert add %s", argv[i]);
		} else if (resp.status != 200) {
			char msg[512];
			json_t *j = json_loadb((const char *)resp.body, resp.len, 0, NULL);
			cs_http_resp_error(msg, sizeof(msg), &resp);
			fprintf(stderr, "refused: %s: %s: %s\n", json_string_value(json_object_get(j, "code")) ?
				json_string_value(json_object_get(j, "code")) : "error", argv[i], msg);
			json_decref(j);
			rc = EXIT_REFUSED;
		} else {
			json_t *j = json_loadb((const char *)resp.body, resp.len, 0, NULL), *v;
			size_t k;
			json_array_foreach(json_object_get(j, "added"), k, v)
				printf("added %s (%s)\n", json_string_value(v), argv[i]);
			json_decref(j);
		}
		cs_http_resp_clear(&resp);
	}
	cs_httpc_free(c);
	return rc;
}

static int sigd_cert(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"add", sigd_cert_add, "add certificates to a node (administrator)"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync sigd cert");
}

static int sigd_verify(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"node", 'n', "URL", "the node's https:// URL", NULL, NULL, 0},
		{"cluster-ca", 0, "DIR", "the cluster CA directory (its ca.crt authenticates the node)", NULL, NULL, 0},
		{"cert", 0, "FP", "the certificate's SHA-256 fingerprint (64 hex digits)", NULL, NULL, 0},
		{"cert-file", 0, "FILE", "or the certificate itself (PEM): its fingerprint is sent, not the "
			"certificate", NULL, NULL, 0},
		{"alg", 0, "ALG", "ecdsa-p256-sha256 or rsa-pss-sha256", "ecdsa-p256-sha256", NULL, 0},
		{"data", 0, "FILE", "the signed data", NULL, NULL, 0},
		{"signature", 0, "FILE", "the signature (DER for ECDSA)", NULL, NULL, 0},
		{"json", 0, NULL, "print the node's JSON answer", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts,
		"certsync sigd verify --node URL --cluster-ca DIR (--cert FP | --cert-file FILE) --data FILE "
		"--signature FILE [--alg ALG] [--json]",
		"Ask a node whether a signature over some data was made by the holder of a certificate. "
		"Exit 0 when it was, 3 when the node refuses (the code says why: signature_invalid, "
		"cert_unknown, ...), 1 on an error.", &npos, -1);
	if (rc >= 0)
		return rc;
	const char *fp_arg = cli_get(opts, "cert"), *cf = cli_get(opts, "cert-file");
	if (npos != 0 || cli_get(opts, "node") == NULL || cli_get(opts, "cluster-ca") == NULL ||
	    (fp_arg == NULL) == (cf == NULL) || cli_get(opts, "data") == NULL || cli_get(opts, "signature") == NULL)
		return cli_usage_error("sigd verify needs --node, --cluster-ca, --cert or --cert-file, --data and "
			"--signature");
	char fp[CS_FINGERPRINT_SIZE];
	uint8_t *data = NULL, *sig = NULL;
	size_t dl = 0, sl = 0;
	char *d64 = NULL, *s64 = NULL;
	cs_httpc *c = NULL;
	cs_http_resp resp = {0};
	json_t *body = NULL;
	rc = 1;
	if (cf != NULL) {
		cs_cert *cert = NULL;
		if (cs_cert_load(&cert, cf) < 0 || cs_cert_fingerprint(fp, cert) < 0) {
			cs_cert_free(cert);
			rc = cli_fail("read %s", cf);
			goto done;
		}
		cs_cert_free(cert);
	} else {
		snprintf(fp, sizeof(fp), "%s", fp_arg);
	}
	if (cs_fs_read_all(&data, &dl, cli_get(opts, "data"), 64u << 10) < 0 ||
	    cs_fs_read_all(&sig, &sl, cli_get(opts, "signature"), 4096) < 0) {
		rc = cli_fail("read the data or the signature");
		goto done;
	}
	if (cs_base64_encode(&d64, data, dl) < 0 || cs_base64_encode(&s64, sig, sl) < 0 ||
	    (body = json_pack("{s:s, s:s, s:s, s:s}", "cert", fp, "alg", cli_get(opts, "alg"), "data", d64,
		     "signature", s64)) == NULL) {
		rc = cli_fail("out of memory");
		goto done;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	if (text == NULL || node_client(&c, cli_get(opts, "node"), cli_get(opts, "cluster-ca"), 0) < 0 ||
	    cs_httpc_request(&resp, c, "POST", "/v1/verify", "application/json", text, strlen(text), 1u << 20,
		    30000) < 0) {
		free(text);
		rc = cli_fail("sigd verify");
		goto done;
	}
	free(text);
	json_t *j = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	if (cli_flag(opts, "json")) {
		printf("%.*s\n", (int)resp.len, (const char *)resp.body);
	} else if (resp.status == 200) {
		printf("valid: signed by %s (%s)\n", json_string_value(json_object_get(j, "subject")),
			json_string_value(json_object_get(j, "source")));
	}
	if (resp.status == 200) {
		rc = 0;
	} else {
		char msg[512];
		cs_http_resp_error(msg, sizeof(msg), &resp);
		const char *code = json_string_value(json_object_get(j, "code"));
		fprintf(stderr, "refused: %s: %s\n", code ? code : "error", msg);
		rc = EXIT_REFUSED;
	}
	json_decref(j);
done:
	json_decref(body);
	cs_http_resp_clear(&resp);
	cs_httpc_free(c);
	free(data);
	free(sig);
	free(d64);
	free(s64);
	return rc;
}

static const struct cli_command sigd_commands[] = {
	{"init", sigd_init, "make a node (configuration, TLS identity, store)"},
	{"serve", sigd_serve, "run a node"},
	{"cert", sigd_cert, "add certificates to a node"},
	{"verify", sigd_verify, "ask a node to verify a signature"},
	{NULL, NULL, NULL},
};

int cmd_sigd(int argc, char **argv)
{
	return cli_dispatch(argc, argv, sigd_commands, "certsync sigd");
}
