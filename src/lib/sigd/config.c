/*
 * A sigd node's configuration, sigd.json (docs/sigd.md), and `sigd init`,
 * which makes a node directory with its TLS identity from the cluster CA.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include <certsync/sigd.h>
#include "lib/hub/hub_parse.h"

#define CONFIG_MAX (64u << 10)
#define TEXT_MAX 4096

static char *resolve(const char *base, const char *p)
{
	if (p == NULL)
		return NULL;
	if (p[0] == '/' || base == NULL)
		return strdup(p);
	return cs_path_join(base, p);
}

void cs_sigd_config_clear(struct cs_sigd_config *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->listen);
	free(c->data_dir);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->cluster_ca);
	for (size_t i = 0; i < c->npeers; i++)
		free(c->peers[i]);
	for (size_t i = 0; i < c->nanchors; i++)
		free(c->anchors[i]);
	for (size_t i = 0; i < c->ncrls; i++)
		free(c->crls[i]);
	memset(c, 0, sizeof(*c));
}

/* An array of strings into out[] (resolved as paths when base is not NULL). */
static int str_list(char **out, size_t *n, size_t max, json_t *root, const char *key, const char *base,
	int is_url)
{
	json_t *a = json_object_get(root, key), *v;
	size_t i;
	*n = 0;
	if (a == NULL || json_is_null(a))
		return CS_OK;
	if (!json_is_array(a))
		return cs_error_set(CS_EMALFORMED, "\"%s\" must be an array of strings", key);
	if (json_array_size(a) > max)
		return cs_error_set(CS_ELIMIT, "\"%s\" holds more than %zu entries", key, max);
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);
		if (s == NULL || *s == '\0' || strlen(s) > TEXT_MAX || strlen(s) != json_string_length(v))
			return cs_error_set(CS_EMALFORMED, "\"%s\"[%zu] must be a non-empty string", key, i);
		if (is_url && strncmp(s, "https://", 8) != 0)
			return cs_error_set(CS_EMALFORMED, "\"%s\"[%zu] must be an https:// URL", key, i);
		if ((out[*n] = is_url ? strdup(s) : resolve(base, s)) == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		(*n)++;
	}
	return CS_OK;
}

static int path_member(char **out, json_t *root, const char *key, int required, const char *base)
{
	const char *s = NULL;
	int r = cs__json_str(&s, root, key, required, TEXT_MAX);
	if (r < 0 || s == NULL)
		return r;
	if (*s == '\0')
		return cs_error_set(CS_EMALFORMED, "\"%s\" is empty", key);
	if ((*out = resolve(base, s)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	return CS_OK;
}

int cs_sigd_config_parse(struct cs_sigd_config *out, const char *text, size_t len, const char *base)
{
	struct cs_sigd_config c = {0};
	json_t *root = NULL;
	const char *role = NULL, *mode = NULL, *name = NULL, *listen = NULL;
	int64_t threads = 4;
	int r;

	memset(out, 0, sizeof(*out));
	c.negative_cache_ms = 30000;
	c.health_interval_ms = 2000;
	c.connect_timeout_ms = 1000;
	c.request_timeout_ms = 3000;
	if ((r = cs__parse_object(&root, text, len, CONFIG_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&name, root, "name", 1, 64)) < 0 || (r = cs__json_str(&role, root, "role", 1, 16)) < 0 ||
	    (r = cs__json_str(&mode, root, "mode", 0, 16)) < 0 ||
	    (r = cs__json_str(&listen, root, "listen", 1, 256)) < 0 ||
	    (r = path_member(&c.data_dir, root, "data", 1, base)) < 0 ||
	    (r = path_member(&c.tls_cert, root, "tls_cert", 1, base)) < 0 ||
	    (r = path_member(&c.tls_key, root, "tls_key", 1, base)) < 0 ||
	    (r = path_member(&c.cluster_ca, root, "cluster_ca", 1, base)) < 0 ||
	    (r = str_list(c.peers, &c.npeers, CS_SIGD_PEERS_MAX, root, "peers", NULL, 1)) < 0 ||
	    (r = str_list(c.anchors, &c.nanchors, CS_SIGD_ANCHORS_MAX, root, "trust_anchors", base, 0)) < 0 ||
	    (r = str_list(c.crls, &c.ncrls, CS_SIGD_ANCHORS_MAX, root, "crls", base, 0)) < 0 ||
	    (r = cs__json_int(&c.negative_cache_ms, root, "negative_cache_ms", 0, 0, 86400000)) < 0 ||
	    (r = cs__json_int(&c.health_interval_ms, root, "health_interval_ms", 0, 100, 3600000)) < 0 ||
	    (r = cs__json_int(&c.connect_timeout_ms, root, "connect_timeout_ms", 0, 10, 60000)) < 0 ||
	    (r = cs__json_int(&c.request_timeout_ms, root, "request_timeout_ms", 0, 10, 600000)) < 0 ||
	    (r = cs__json_int(&threads, root, "fetch_threads", 0, 1, 64)) < 0)
		goto fail;
	if (!cs_text_is_name(name, 64, "._-")) {
		r = cs_error_set(CS_EMALFORMED, "\"name\" is 1-64 of a-z A-Z 0-9 . _ -");
		goto fail;
	}
	if (strcmp(role, "center") == 0) {
		c.role = CS_SIGD_CENTER;
	} else if (strcmp(role, "edge") == 0) {
		c.role = CS_SIGD_EDGE;
	} else {
		r = cs_error_set(CS_EMALFORMED, "\"role\" is \"center\" or \"edge\", not \"%s\"", role);
		goto fail;
	}
	if (mode == NULL || strcmp(mode, "fetch") == 0) {
		c.mode = CS_SIGD_MODE_FETCH;
	} else if (strcmp(mode, "local") == 0) {
		c.mode = CS_SIGD_MODE_LOCAL;
	} else {
		r = cs_error_set(CS_EMALFORMED, "\"mode\" is \"local\" or \"fetch\", not \"%s\"", mode);
		goto fail;
	}
	if (c.nanchors == 0) {
		r = cs_error_set(CS_EINVAL, "\"trust_anchors\" must name at least one CA certificate");
		goto fail;
	}
	if (c.mode == CS_SIGD_MODE_FETCH && c.npeers == 0 && c.role == CS_SIGD_EDGE) {
		r = cs_error_set(CS_EINVAL, "an edge in fetch mode needs \"peers\" (the centers, in order)");
		goto fail;
	}
	c.fetch_threads = (int)threads;
	if ((c.name = strdup(name)) == NULL || (c.listen = strdup(listen)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	json_decref(root);
	*out = c;
	return CS_OK;
fail:
	json_decref(root);
	cs_sigd_config_clear(&c);
	return r;
}

int cs_sigd_config_load(struct cs_sigd_config *c, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	char *full = NULL, *slash;
	int r;
	memset(c, 0, sizeof(*c));
	/* relative paths in the file are taken from its directory, made
	 * absolute here so that they do not depend on the working directory */
	if ((full = realpath(path, NULL)) == NULL)
		return cs_error_set(CS_ENOTFOUND, "%s: no such configuration file", path);
	if ((slash = strrchr(full, '/')) != NULL)
		slash[slash == full ? 1 : 0] = '\0';
	if ((r = cs_fs_read_all(&data, &len, path, CONFIG_MAX)) < 0 ||
	    (r = cs_sigd_config_parse(c, (const char *)data, len, full)) < 0)
		cs_error_wrap("%s", path);
	free(data);
	free(full);
	return r;
}

/* ---- sigd init ---- */

/* The cluster CA in dir, created (with the admin credentials) if absent. */
static int cluster_ca(cs_ca **ca, const char *dir)
{
	char *crt = cs_path_join(dir, "ca.crt"), *akey = cs_path_join(dir, "admin.key");
	char *acrt = cs_path_join(dir, "admin.crt");
	cs_key *k = NULL;
	cs_cert *c = NULL;
	int r;
	if (crt == NULL || akey == NULL || acrt == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!cs_fs_exists(crt) && ((r = cs_fs_mkdirs(dir, 0700)) < 0 || (r = cs_ca_create(dir, "certsync sigd cluster")) < 0))
		goto done;
	if ((r = cs_ca_open(ca, dir)) < 0)
		goto done;
	if (!cs_fs_exists(acrt) &&
	    ((r = cs_key_generate(&k)) < 0 || (r = cs_ca_issue_admin(&c, *ca, k, "sigd-admin", 3650)) < 0 ||
	     (r = cs_key_save(k, akey, NULL)) < 0 || (r = cs_cert_save(c, acrt)) < 0))
		goto done;
	r = CS_OK;
done:
	cs_key_free(k);
	cs_cert_free(c);
	free(crt);
	free(akey);
	free(acrt);
	return r;
}

int cs_sigd_init(const struct cs_sigd_init_options *o)
{
	char *tls = cs_path_join(o->dir, "tls"), *conf = cs_path_join(o->dir, "sigd.json");
	char *crt = tls ? cs_path_join(tls, "server.crt") : NULL, *key = tls ? cs_path_join(tls, "server.key") : NULL;
	char *ca_abs = NULL;
	cs_ca *ca = NULL;
	cs_key *k = NULL;
	cs_cert *c = NULL;
	json_t *j = NULL;
	char *text = NULL;
	int r;

	if (tls == NULL || conf == NULL || crt == NULL || key == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (cs_fs_exists(conf)) {
		r = cs_error_set(CS_EEXISTS, "%s holds a sigd node already", o->dir);
		goto done;
	}
	if ((r = cs_fs_mkdirs(tls, 0700)) < 0 || (r = cluster_ca(&ca, o->cluster_ca)) < 0)
		goto done;
	static const char *const local[] = {"localhost", NULL};
	static const char *const local_ip[] = {"127.0.0.1", NULL};
	const char *dns[17] = {0}, *ips[17] = {0};
	size_t nd = 0, ni = 0;
	for (size_t i = 0; o->hosts != NULL && o->hosts[i] != NULL && i < 16; i++) {
		const char *h = o->hosts[i];
		unsigned char addr[16];
		if (inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1)
			ips[ni++] = h;
		else
			dns[nd++] = h;
	}
	if ((r = cs_key_generate(&k)) < 0 ||
	    (r = cs_ca_issue_server(&c, ca, k, o->name, nd ? dns : local, ni ? ips : local_ip, 825)) < 0 ||
	    (r = cs_key_save(k, key, NULL)) < 0 || (r = cs_cert_save(c, crt)) < 0)
		goto done;
	if ((ca_abs = realpath(o->cluster_ca, NULL)) == NULL) {
		r = cs_error_set(CS_EIO, "%s: cannot resolve the path", o->cluster_ca);
		goto done;
	}
	json_t *peers = json_array(), *anchors = json_array();
	for (size_t i = 0; o->peers != NULL && o->peers[i] != NULL; i++)
		json_array_append_new(peers, json_string(o->peers[i]));
	for (size_t i = 0; o->anchors != NULL && o->anchors[i] != NULL; i++) {
		char *abs = realpath(o->anchors[i], NULL);
		json_array_append_new(anchors, json_string(abs ? abs : o->anchors[i]));
		free(abs);
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:[], s:I, s:I, s:I, s:I, s:I}",
		"name", o->name, "role", o->role == CS_SIGD_EDGE ? "edge" : "center", "mode",
		o->mode == CS_SIGD_MODE_LOCAL ? "local" : "fetch", "listen", o->listen, "data", ".",
		"tls_cert", "tls/server.crt", "tls_key", "tls/server.key", "cluster_ca", ca_abs, "peers", peers,
		"trust_anchors", anchors, "crls", "negative_cache_ms", (json_int_t)30000, "health_interval_ms",
		(json_int_t)2000, "connect_timeout_ms", (json_int_t)1000, "request_timeout_ms", (json_int_t)3000,
		"fetch_threads", (json_int_t)4);
	if (j == NULL || (text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	r = cs_fs_write_atomic(conf, text, strlen(text), 0644);
done:
	free(text);
	json_decref(j);
	cs_cert_free(c);
	cs_key_free(k);
	cs_ca_free(ca);
	free(ca_abs);
	free(tls);
	free(conf);
	free(crt);
	free(key);
	return r;
}
