/*
 * The hub's lifecycle (include/certsync/hub.h): creating a data directory,
 * reading hub.json, opening the database and the CA, wiring the HTTPS
 * server and its periodic housekeeping.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include <certsync/wallet.h>
#include "hub/hub_internal.h"

#define CONFIG_MAX (64u << 10)
#define TICK_MS 250
#define MAINTAIN_MS 60000
#define SERVER_DAYS 825
#define ADMIN_DAYS 3650
#define CONSOLE_USER "admin"
#define CONSOLE_PASSWORD_FILE "admin/console-password"
#define CONSOLE_PASSWORD_CHARS 20 /* base32: 100 bits */

static char *dpath(const char *dir, const char *rel)
{
	return cs_path_join(dir, rel);
}

static int is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Split "host:port" (host may be "[v6]") into host (brackets removed) and
 * port. CS_EINVAL when it is not of that form. */
static int split_hostport(char *host, size_t hostn, int *port, const char *addr)
{
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon[1] == '\0')
		return cs_error_set(CS_EINVAL, "address \"%s\" is not host:port", addr);
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 0 || p > 65535)
		return cs_error_set(CS_EINVAL, "address \"%s\" has a bad port", addr);
	const char *h = addr;
	size_t hl = (size_t)(colon - addr);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= hostn)
		return cs_error_set(CS_EINVAL, "address \"%s\" is too long", addr);
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)p;
	return CS_OK;
}

static int is_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static void config_clear(struct cs_hub_config *c)
{
	free(c->listen);
	free(c->public_address);
	memset(c, 0, sizeof(*c));
}

static int config_save(const char *path, const struct cs_hub_config *c)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "listen", c->listen,
		"public_address", c->public_address, "relay_quota_bytes", (json_int_t)c->relay_quota_bytes,
		"blob_ttl_s", (json_int_t)c->blob_ttl_s, "console_idle_s", (json_int_t)c->console_idle_s,
		"console_max_s", (json_int_t)c->console_max_s,
		"account_token_ttl_s", (json_int_t)c->account_token_ttl_s,
		"account_window_s", (json_int_t)c->account_window_s,
		"account_key_rotate_s", (json_int_t)c->account_key_rotate_s,
		"wallet_max_amount", (json_int_t)c->wallet_max_amount,
		"wallet_max_transfers", (json_int_t)c->wallet_max_transfers,
		"wallet_cert_days", (json_int_t)c->wallet_cert_days);
	if (j == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	char *text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (text == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	size_t n = strlen(text);
	int r = cs_fs_write_atomic(path, text, n, 0600);
	free(text);
	return r;
}

static int config_load(struct cs_hub_config *out, const char *path)
{
	uint8_t *data = NULL;
	size_t len;
	json_t *j = NULL;
	json_error_t err;
	struct cs_hub_config c = {0};
	const char *listen = NULL, *pub = NULL;
	int r;

	if ((r = cs_fs_read_all(&data, &len, path, CONFIG_MAX)) < 0)
		return cs_error_wrap("hub configuration");
	j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL || !json_is_object(j)) {
		r = cs_error_set(CS_EMALFORMED, "%s: line %d: %s", path, j ? 0 : err.line,
			j ? "not a JSON object" : err.text);
		goto done;
	}
	c.relay_quota_bytes = CS__HUB_DEFAULT_QUOTA;
	c.blob_ttl_s = CS__HUB_DEFAULT_TTL;
	c.console_idle_s = CS__CONSOLE_IDLE_DEFAULT_S;
	c.console_max_s = CS__CONSOLE_MAX_DEFAULT_S;
	c.account_token_ttl_s = CS__ACCT_TTL_DEFAULT_S;
	c.account_window_s = CS__ACCT_WINDOW_DEFAULT_S;
	c.account_key_rotate_s = CS__ACCT_ROTATE_DEFAULT_S;
	c.wallet_max_amount = CS__WALLET_MAX_AMOUNT_DEFAULT;
	c.wallet_max_transfers = CS__WALLET_MAX_TRANSFERS_DEFAULT;
	c.wallet_cert_days = CS__WALLET_CERT_DAYS_DEFAULT;
	if ((r = cs__json_str(&listen, j, "listen", 1, CS__HUB_TEXT_MAX)) < 0 ||
	    (r = cs__json_str(&pub, j, "public_address", 0, CS__HUB_TEXT_MAX)) < 0 ||
	    (r = cs__json_int(&c.relay_quota_bytes, j, "relay_quota_bytes", 0, 0, INT64_MAX)) < 0 ||
	    (r = cs__json_int(&c.blob_ttl_s, j, "blob_ttl_s", 0, 1, INT64_MAX / 1000)) < 0 ||
	    (r = cs__json_int(&c.console_idle_s, j, "console_idle_s", 0, 1,
		     CS__CONSOLE_TIME_MAX_S)) < 0 ||
	    (r = cs__json_int(&c.console_max_s, j, "console_max_s", 0, 1,
		     CS__CONSOLE_TIME_MAX_S)) < 0 ||
	    (r = cs__json_int(&c.account_token_ttl_s, j, "account_token_ttl_s", 0,
		     CS__ACCT_TTL_MIN_S, CS__ACCT_TTL_MAX_S)) < 0 ||
	    (r = cs__json_int(&c.account_window_s, j, "account_window_s", 0, CS__ACCT_WINDOW_MIN_S,
		     CS__ACCT_WINDOW_MAX_S)) < 0 ||
	    (r = cs__json_int(&c.account_key_rotate_s, j, "account_key_rotate_s", 0,
		     CS__ACCT_ROTATE_MIN_S, CS__ACCT_ROTATE_MAX_S)) < 0 ||
	    (r = cs__json_int(&c.wallet_max_amount, j, "wallet_max_amount", 0, 1,
		     (int64_t)CS_WALLET_AMOUNT_MAX)) < 0 ||
	    (r = cs__json_int(&c.wallet_max_transfers, j, "wallet_max_transfers", 0, 1,
		     CS__WALLET_MAX_TRANSFERS_MAX)) < 0 ||
	    (r = cs__json_int(&c.wallet_cert_days, j, "wallet_cert_days", 0, 1,
		     CS__WALLET_CERT_DAYS_MAX)) < 0) {
		cs_error_wrap("%s", path);
		goto done;
	}
	c.listen = strdup(listen);
	c.public_address = strdup(pub ? pub : listen);
	if (c.listen == NULL || c.public_address == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
	r = CS_OK;
done:
	config_clear(&c);
	json_decref(j);
	free(data);
	return r;
}

/* A key and a certificate issued for it, saved as base.key and base.crt in
 * dir. role: CS_ROLE_SERVER or CS_ROLE_ADMIN. */
static int make_identity(cs_cert **cert_out, cs_ca *ca, const char *dir, const char *base,
	int role, const char *cn, const char *const *dns, const char *const *ips)
{
	cs_key *key = NULL;
	cs_cert *cert = NULL;
	char file[64];
	char *path = NULL;
	int r;

	if ((r = cs_fs_mkdirs(dir, 0700)) < 0 || (r = cs_key_generate(&key)) < 0)
		goto done;
	snprintf(file, sizeof(file), "%s.key", base);
	if ((path = dpath(dir, file)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_key_save(key, path, NULL)) < 0)
		goto done;
	if (role == CS_ROLE_SERVER)
		r = cs_ca_issue_server(&cert, ca, key, cn, dns, ips, SERVER_DAYS);
	else
		r = cs_ca_issue_admin(&cert, ca, key, cn, ADMIN_DAYS);
	if (r < 0)
		goto done;
	free(path);
	snprintf(file, sizeof(file), "%s.crt", base);
	if ((path = dpath(dir, file)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_cert_save(cert, path)) < 0)
		goto done;
	*cert_out = cert;
	cert = NULL;
done:
	free(path);
	cs_cert_free(cert);
	cs_key_free(key);
	return r;
}

/* The console user "admin" with a random password, kept as an argon2id
 * hash in the database and written once in the clear to
 * DATA/admin/console-password (0600, in the 0700 admin directory) for the
 * operator to read: the library prints nothing, and `make run` shows it. */
static int make_console_user(cs_hub *hub, const char *data_dir)
{
	uint8_t raw[13];
	char pw[32];
	char *path = NULL;
	int r;

	if ((r = cs_random(raw, sizeof(raw))) < 0)
		return r;
	cs_base32_encode(pw, raw, sizeof(raw));
	cs_wipe(raw, sizeof(raw));
	pw[CONSOLE_PASSWORD_CHARS] = '\0';
	if ((r = cs__console_user_set(hub->db, CONSOLE_USER, pw)) < 0)
		goto done;
	if ((path = dpath(data_dir, CONSOLE_PASSWORD_FILE)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	pw[CONSOLE_PASSWORD_CHARS] = '\n';
	r = cs_fs_write_atomic(path, pw, CONSOLE_PASSWORD_CHARS + 1, 0600);
done:
	cs_wipe(pw, sizeof(pw));
	free(path);
	return r;
}

int cs_hub_init(const char *data_dir, const struct cs_hub_init_options *o)
{
	static const struct cs_hub_init_options none;
	struct cs_hub_config c = {0};
	const char *dns[34], *ips[34];
	size_t nd = 0, ni = 0;
	char host[256];
	int port;
	char *p_conf = NULL, *p_ca = NULL, *p_tls = NULL, *p_admin = NULL, *p_db = NULL;
	cs_ca *ca = NULL;
	cs_cert *server = NULL, *admin = NULL;
	cs_store *db = NULL;
	cs_hub *hub = NULL;
	char fp[CS_FINGERPRINT_SIZE];
	int r;

	if (o == NULL)
		o = &none;
	p_conf = dpath(data_dir, "hub.json");
	p_ca = dpath(data_dir, "ca");
	p_tls = dpath(data_dir, "tls");
	p_admin = dpath(data_dir, "admin");
	p_db = dpath(data_dir, "hub.db");
	if (!p_conf || !p_ca || !p_tls || !p_admin || !p_db) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (cs_fs_exists(p_conf) || cs_fs_exists(p_ca) || cs_fs_exists(p_db)) {
		r = cs_error_set(CS_EEXISTS, "%s already holds a hub; refusing to overwrite it",
			data_dir);
		goto done;
	}
	const char *listen = o->listen ? o->listen : "127.0.0.1:8443";
	if ((r = split_hostport(host, sizeof(host), &port, listen)) < 0)
		goto done;

	/* server certificate names: always localhost and 127.0.0.1, then the
	 * listen host, then every extra host */
	dns[nd++] = "localhost";
	ips[ni++] = "127.0.0.1";
	char listen_host[256];
	snprintf(listen_host, sizeof(listen_host), "%s", host);
	const char *extra[33];
	size_t ne = 0;
	if (!is_wildcard(listen_host))
		extra[ne++] = listen_host;
	for (size_t i = 0; o->hosts && o->hosts[i]; i++) {
		if (ne == 32) {
			r = cs_error_set(CS_ELIMIT, "at most 31 extra host names");
			goto done;
		}
		if (o->hosts[i][0] == '\0' || strlen(o->hosts[i]) > 253) {
			r = cs_error_set(CS_EINVAL, "bad host name \"%s\"", o->hosts[i]);
			goto done;
		}
		extra[ne++] = o->hosts[i];
	}
	for (size_t i = 0; i < ne; i++) {
		if (strcmp(extra[i], "localhost") == 0 || strcmp(extra[i], "127.0.0.1") == 0)
			continue;
		if (is_ip(extra[i]))
			ips[ni++] = extra[i];
		else
			dns[nd++] = extra[i];
	}
	dns[nd] = NULL;
	ips[ni] = NULL;

	c.listen = strdup(listen);
	if (o->public_address) {
		c.public_address = strdup(o->public_address);
	} else if (is_wildcard(host) && o->hosts && o->hosts[0]) {
		char buf[300];
		int ip6 = strchr(o->hosts[0], ':') != NULL;
		snprintf(buf, sizeof(buf), "%s%s%s:%d", ip6 ? "[" : "", o->hosts[0], ip6 ? "]" : "",
			port);
		c.public_address = strdup(buf);
	} else {
		c.public_address = strdup(listen);
	}
	c.relay_quota_bytes = o->relay_quota_bytes > 0 ? o->relay_quota_bytes : CS__HUB_DEFAULT_QUOTA;
	c.blob_ttl_s = o->blob_ttl_s > 0 ? o->blob_ttl_s : CS__HUB_DEFAULT_TTL;
	c.console_idle_s = CS__CONSOLE_IDLE_DEFAULT_S;
	c.console_max_s = CS__CONSOLE_MAX_DEFAULT_S;
	c.account_token_ttl_s = CS__ACCT_TTL_DEFAULT_S;
	c.account_window_s = CS__ACCT_WINDOW_DEFAULT_S;
	c.account_key_rotate_s = CS__ACCT_ROTATE_DEFAULT_S;
	c.wallet_max_amount = CS__WALLET_MAX_AMOUNT_DEFAULT;
	c.wallet_max_transfers = CS__WALLET_MAX_TRANSFERS_DEFAULT;
	c.wallet_cert_days = CS__WALLET_CERT_DAYS_DEFAULT;
	if (c.listen == NULL || c.public_address == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* port 0 (any free port) is resolved when the hub starts */
	size_t pl = strlen(c.public_address);
	if (!(pl > 2 && strcmp(c.public_address + pl - 2, ":0") == 0) &&
	    (r = cs__hub_check_address(c.public_address)) < 0)
		goto done;

	if ((r = cs_fs_mkdirs(data_dir, 0700)) < 0 ||
	    (r = cs_ca_create(p_ca, o->name ? o->name : "certsync hub")) < 0 ||
	    (r = cs_ca_open(&ca, p_ca)) < 0)
		goto done;
	if ((r = make_identity(&server, ca, p_tls, "server", CS_ROLE_SERVER, "certsync hub",
		     dns, ips)) < 0 ||
	    (r = make_identity(&admin, ca, p_admin, "admin", CS_ROLE_ADMIN, "admin", NULL, NULL)) < 0 ||
	    (r = cs_cert_fingerprint(fp, admin)) < 0)
		goto done;
	if ((r = cs_store_open(&db, p_db)) < 0 ||
	    (r = cs_store_migrate(db, cs__hub_schema, cs__hub_schema_count)) < 0)
		goto done;
	cs_store_close(db);
	db = NULL;
	/* hub.json is written last: its presence marks a complete hub */
	if ((r = config_save(p_conf, &c)) < 0)
		goto done;
	if ((r = cs__hub_open_core(&hub, data_dir)) < 0 ||
	    (r = cs__hub_admin_add(hub, fp, "admin")) < 0 ||
	    (r = make_console_user(hub, data_dir)) < 0)
		goto done;
	cs_log(CS_LOG_INFO, "hub.init", "dir=\"%s\" listen=%s", data_dir, c.listen);
	r = CS_OK;
done:
	cs_hub_free(hub);
	cs_store_close(db);
	cs_cert_free(server);
	cs_cert_free(admin);
	cs_ca_free(ca);
	config_clear(&c);
	free(p_conf);
	free(p_ca);
	free(p_tls);
	free(p_admin);
	free(p_db);
	return r;
}

int cs__hub_open_core(cs_hub **out, const char *data_dir)
{
	cs_hub *hub = calloc(1, sizeof(*hub));
	char *p = NULL;
	int r;

	if (hub == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((hub->data_dir = strdup(data_dir)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((p = dpath(data_dir, "hub.json")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if (!cs_fs_exists(p)) {
		r = cs_error_set(CS_ENOTFOUND, "%s holds no hub (run 'certsync hub init')", data_dir);
		goto fail;
	}
	if ((r = config_load(&hub->cfg, p)) < 0)
		goto fail;
	free(p);
	if ((p = dpath(data_dir, "hub.db")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = cs_store_open(&hub->db, p)) < 0 ||
	    (r = cs_store_migrate(hub->db, cs__hub_schema, cs__hub_schema_count)) < 0)
		goto fail;
	free(p);
	if ((p = dpath(data_dir, "ca")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = cs_ca_open(&hub->ca, p)) < 0 ||
	    (r = cs_cert_to_pem(&hub->ca_pem, cs_ca_cert(hub->ca))) < 0 ||
	    (r = cs_cert_fingerprint(hub->ca_fingerprint, cs_ca_cert(hub->ca))) < 0)
		goto fail;
	free(p);
	if ((p = dpath(data_dir, "blobs")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = cs_fs_mkdirs(p, 0700)) < 0 || (r = cs__hub_make_crl(hub)) < 0)
		goto fail;
	free(p);
	if ((hub->public_address = strdup(hub->cfg.public_address)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	*out = hub;
	return CS_OK;
fail:
	free(p);
	cs_hub_free(hub);
	return r;
}

static void tick(void *ud)
{
	cs_hub *hub = ud;
	cs__hub_waiters_tick(hub);
	cs__blob_wait_tick(hub);
	cs__hub_async_tick(hub);
	cs__console_tick(hub);
}

static void maintain(void *ud)
{
	cs__hub_maintain(ud);
}

void cs__hub_maintain(cs_hub *hub)
{
	int64_t now = cs_clock_now();
	if (cs__hub_jobs_expire(hub, now) < 0)
		cs_log(CS_LOG_ERROR, "hub.expire_failed", "error=\"%s\"", cs_error_last());
	/* CRLs are valid for 30 days; renew well before */
	if (now - hub->crl_made > 86400 && cs__hub_make_crl(hub) < 0)
		cs_log(CS_LOG_ERROR, "hub.crl_failed", "error=\"%s\"", cs_error_last());
	if (cs__console_sessions_expire(hub, cs_clock_now_ms()) < 0)
		cs_log(CS_LOG_ERROR, "hub.sessions_expire_failed", "error=\"%s\"", cs_error_last());
	if (cs__acct_fail_expire(hub->db, cs_clock_now_ms()) < 0)
		cs_log(CS_LOG_ERROR, "hub.account_failures_expire_failed", "error=\"%s\"",
			cs_error_last());
	/* forget discovered devices nobody confirmed */
	(void)cs__db_step(hub->db, "DELETE FROM pending WHERE created < ?",
		CS__DB_ARGS(CS__DB_I(now - CS__HUB_PENDING_TTL_S)));
}

/* The address devices should use once the socket is bound. */
static int effective_public(cs_hub *hub, const char *listen)
{
	char host[256], buf[300];
	int port;
	int bound = cs_httpd_port(hub->httpd);
	const char *pub = hub->cfg.public_address;

	if (split_hostport(host, sizeof(host), &port, listen) < 0)
		return cs_error_code();
	if (is_wildcard(host))
		snprintf(host, sizeof(host), "127.0.0.1");
	int v6 = strchr(host, ':') != NULL;
	snprintf(buf, sizeof(buf), "https://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", bound);
	free(hub->url);
	if ((hub->url = strdup(buf)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");

	if (strcmp(pub, hub->cfg.listen) == 0) {
		/* public_address follows listen: use what was actually bound */
		if (split_hostport(host, sizeof(host), &port, listen) < 0)
			return cs_error_code();
		if (is_wildcard(host))
			snprintf(host, sizeof(host), "127.0.0.1");
		int ip6 = strchr(host, ':') != NULL;
		snprintf(buf, sizeof(buf), "%s%s%s:%d", ip6 ? "[" : "", host, ip6 ? "]" : "", bound);
	} else {
		if (split_hostport(host, sizeof(host), &port, pub) < 0)
			return cs_error_code();
		if (port != 0)
			return CS_OK;
		size_t n = strlen(pub) - 1; /* drop the "0" */
		snprintf(buf, sizeof(buf), "%.*s%d", (int)n, pub, bound);
	}
	char *s = strdup(buf);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	free(hub->public_address);
	hub->public_address = s;
	return CS_OK;
}

int cs_hub_open(cs_hub **out, const char *data_dir, const char *listen_override)
{
	cs_hub *hub = NULL;
	char *cert = NULL, *key = NULL;
	int r;

	if ((r = cs__hub_open_core(&hub, data_dir)) < 0)
		return r;
	const char *listen = listen_override ? listen_override : hub->cfg.listen;
	cert = dpath(data_dir, "tls/server.crt");
	key = dpath(data_dir, "tls/server.key");
	if (cert == NULL || key == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	struct cs_httpd_config hc = {
		.listen = listen,
		.cert_path = cert,
		.key_path = key,
		/* the larger of a blob and a sealed account upload; each
		 * handler applies its own, smaller limit */
		.max_body = CS__HUB_BODY_MAX,
		.max_headers = 16u << 10,
		/* longer than the longest poll, so idle-timeout never cuts one */
		.timeout_s = CS__HUB_POLL_MAX_S + 30,
	};
	if ((r = cs_httpd_new(&hub->httpd, &hc)) < 0)
		goto done;
	if ((r = effective_public(hub, listen)) < 0)
		goto done;
	cs__hub_api_public_routes(hub);
	cs__hub_api_agent_routes(hub);
	cs__hub_api_admin_routes(hub);
	cs__hub_console_routes(hub);
	cs__hub_api_account_routes(hub);
	if ((r = cs_httpd_every(hub->httpd, TICK_MS, tick, hub)) < 0 ||
	    (r = cs_httpd_every(hub->httpd, MAINTAIN_MS, maintain, hub)) < 0)
		goto done;
	cs__relay_sweep(hub);
	cs__hub_maintain(hub);
	*out = hub;
	hub = NULL;
	r = CS_OK;
done:
	free(cert);
	free(key);
	cs_hub_free(hub);
	return r;
}

int cs_hub_port(const cs_hub *hub)
{
	return hub->httpd ? cs_httpd_port(hub->httpd) : 0;
}

const char *cs_hub_url(const cs_hub *hub)
{
	return hub->url ? hub->url : "";
}

const char *cs_hub_public_address(const cs_hub *hub)
{
	return hub->public_address;
}

int cs_hub_run(cs_hub *hub)
{
	cs_log(CS_LOG_INFO, "hub.start", "port=%d public=%s", cs_hub_port(hub), hub->public_address);
	int r = cs_httpd_run(hub->httpd);
	cs_log(CS_LOG_INFO, "hub.stop", "rc=%d", r);
	return r;
}

void cs_hub_stop(cs_hub *hub)
{
	if (hub && hub->httpd)
		cs_httpd_stop(hub->httpd);
}

void cs_hub_free(cs_hub *hub)
{
	if (hub == NULL)
		return;
	cs__hub_async_free(hub);
	cs__blob_writer_free(hub);
	cs__hub_waiters_free(hub);
	cs__blob_waits_free(hub);
	cs__blob_cache_free(&hub->blobs);
	cs__console_free(hub);
	cs__hub_account_free(hub);
	cs_httpd_free(hub->httpd);
	cs_store_close(hub->db);
	cs_ca_free(hub->ca);
	free(hub->ca_pem);
	free(hub->crl_pem);
	free(hub->wake);
	cs__acct_cache_clear(&hub->acct);
	config_clear(&hub->cfg);
	free(hub->public_address);
	free(hub->url);
	free(hub->data_dir);
	free(hub);
}
