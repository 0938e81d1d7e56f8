/* certsync hub: create and run a hub, and set the console password — the
 * commands that work on the data directory itself. The admin client
 * commands, which talk to a running hub, live in cmd_hub_admin.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hub.h>
#include <certsync/identity.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "cli.h"
#include "password.h"
#include "cmd_hub.h"
#include "commands.h"

char *hub_data_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? strdup(d) : cli_default_data_dir("hub");
}

/* Parse a positive decimal integer option; -1 when malformed. */
static long long parse_count(const char *s)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	long long v = strtoll(s, &end, 10);
	return *end == '\0' ? v : -1;
}

static int hub_init(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "hub data directory", NULL, NULL, 0},
		{"name", 'n', "NAME", "name of the hub CA", "certsync hub", NULL, 0},
		{"listen", 'l', "ADDR", "address to listen on", "127.0.0.1:8443", NULL, 0},
		{"host", 0, "NAME", "extra DNS name or IP address for the server certificate "
			"(repeatable)", NULL, NULL, 1},
		{"public-address", 0, "HOST:PORT", "address devices use (default: the listen address)",
			NULL, NULL, 0},
		{"quota", 0, "BYTES", "relay quota", "10737418240", NULL, 0},
		{"blob-ttl", 0, "SECONDS", "drop the blobs of a job idle this long", "604800", NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync hub init [--data DIR] [--name NAME] [--listen ADDR] [--host NAME]...",
		"Create a hub: its CA, its HTTPS server certificate, an administrator certificate, "
		"the configuration (hub.json), the database, and the web console user 'admin' with a "
		"random password, printed once and kept in DIR/admin/console-password (0600) until "
		"'certsync hub admin password' sets another.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 0)
		return cli_usage_error("hub init takes no arguments");
	long long quota = parse_count(cli_get(opts, "quota"));
	long long ttl = parse_count(cli_get(opts, "blob-ttl"));
	if (quota <= 0 || ttl <= 0)
		return cli_usage_error("--quota and --blob-ttl must be positive integers");

	/* --host values arrive comma-joined; split them into a list */
	const char *hosts_arg = cli_get(opts, "host");
	char *hosts_buf = hosts_arg ? strdup(hosts_arg) : NULL;
	const char *hosts[33] = {0};
	size_t nh = 0;
	for (char *save = NULL, *h = hosts_buf ? strtok_r(hosts_buf, ",", &save) : NULL; h;
	     h = strtok_r(NULL, ",", &save)) {
		if (nh == 32) {
			free(hosts_buf);
			return cli_usage_error("at most 32 --host names");
		}
		hosts[nh++] = h;
	}
	struct cs_hub_init_options o = {
		.name = cli_get(opts, "name"),
		.listen = cli_get(opts, "listen"),
		.public_address = cli_get(opts, "public-address"),
		.hosts = hosts,
		.relay_quota_bytes = quota,
		.blob_ttl_s = ttl,
	};
	char *dir = hub_data_dir(opts);
	int rc = 0;
	if (cs_hub_init(dir, &o) < 0) {
		rc = cli_fail("hub init");
		goto done;
	}
	char *ca_path = cs_path_join(dir, "ca/ca.crt");
	cs_cert *ca = NULL;
	char fp[CS_FINGERPRINT_SIZE] = "";
	if (ca_path && cs_cert_load(&ca, ca_path) == 0)
		cs_cert_fingerprint(fp, ca);
	cs_cert_free(ca);
	free(ca_path);
	/* the library wrote the console password to a file (it never prints);
	 * show it here, once */
	char *pw_path = cs_path_join(dir, "admin/console-password");
	uint8_t *pw = NULL;
	size_t pwlen = 0;
	if (pw_path == NULL || cs_fs_read_all(&pw, &pwlen, pw_path, 256) < 0)
		pwlen = 0;
	while (pwlen > 0 && (pw[pwlen - 1] == '\n' || pw[pwlen - 1] == '\r'))
		pw[--pwlen] = '\0';
	printf("hub created in %s\n", dir);
	printf("  listen:           %s\n", o.listen);
	printf("  CA fingerprint:   %s\n", fp);
	printf("  admin identity:   %s/admin/admin.crt\n", dir);
	printf("  console user:     admin\n");
	printf("  console password: %s\n", pwlen ? (char *)pw : "(not readable)");
	printf("the console password is also in %s (mode 0600) until you set your own with\n"
	       "  certsync hub admin password --data %s\n", pw_path ? pw_path : "", dir);
	printf("start it with: certsync hub serve --data %s\n", dir);
	cs_freezero(pw, pwlen);
	free(pw_path);
done:
	free(dir);
	free(hosts_buf);
	return rc;
}

static int hub_serve(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "hub data directory", NULL, NULL, 0},
		{"listen", 'l', "ADDR", "listen address, overriding hub.json (port 0: any free port)",
			NULL, NULL, 0},
		{"log-level", 0, "LEVEL", "debug, info, warn, error or off", "info", NULL, 0},
		CLI_WARM_MEMORY_OPTION,
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync hub serve [--data DIR] [--listen ADDR] [--log-level L] [--warm-memory MIB]",
		"Run the hub until SIGINT or SIGTERM. Prints 'hub listening on URL' once the socket "
		"is bound; logs go to stderr.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 0)
		return cli_usage_error("hub serve takes no arguments");
	int level = cs_log_level_parse(cli_get(opts, "log-level"));
	if (level < 0)
		return cli_usage_error("unknown log level '%s'", cli_get(opts, "log-level"));
	cs_log_set_level((enum cs_log_level)level);
	cs_log_set_role("hub");
	if (cli_prepare_memory(opts, 1) != 0)
		return 2;
	char *dir = hub_data_dir(opts);
	cs_hub *hub = NULL;
	int rc = 0;
	if (cs_hub_open(&hub, dir, cli_get(opts, "listen")) < 0) {
		rc = cli_fail("hub serve");
		goto done;
	}
	/* tests read the port from this line, so it is flushed at once */
	printf("hub listening on %s\n", cs_hub_url(hub));
	fflush(stdout);
	if (cs_hub_run(hub) < 0)
		rc = cli_fail("hub serve");
done:
	cs_hub_free(hub);
	free(dir);
	return rc;
}

/* ---- hub admin password ---- */

int hub_read_new_password(char **out, const char *file, const char *what)
{
	char *pw = NULL, prompt[128];
	int rc;
	*out = NULL;
	snprintf(prompt, sizeof(prompt), "new %s password: ", what);
	if ((rc = cli_password_read(&pw, file, prompt, 1)) != 0)
		return rc;
	/* checked by the library too; here for a usage error (exit 2) rather
	 * than a failure */
	size_t chars = 0;
	for (const char *p = pw; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	if (chars < 12) {
		cs_free_secret_str(pw);
		return cli_usage_error("%s %s password needs at least 12 characters",
			strchr("aeiou", what[0]) ? "an" : "a", what);
	}
	*out = pw;
	return 0;
}

static int hub_admin_password(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "hub data directory", NULL, NULL, 0},
		{"user", 'u', "NAME", "console user (created when missing)", "admin", NULL, 0},
		{"password-file", 0, "FILE", "read the new password from FILE ('-': standard input) "
			"instead of asking twice on the terminal", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync hub admin password [--data DIR] [--user NAME] [--password-file FILE]",
		"Set the web console password: at least 12 characters, stored only as an argon2id "
		"hash. Every session of the user ends, and the initial password file "
		"DIR/admin/console-password is removed. Works while the hub is running.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 0)
		return cli_usage_error("hub admin password takes no arguments");
	char *pw = NULL;
	int rc = hub_read_new_password(&pw, cli_get(opts, "password-file"), "console");
	if (rc != 0)
		return rc;
	char *dir = hub_data_dir(opts);
	if (cs_hub_console_password_set(dir, cli_get(opts, "user"), pw) < 0)
		rc = cli_fail("hub admin password");
	else
		printf("console password of %s set; its sessions have ended\n", cli_get(opts, "user"));
	cs_free_secret_str(pw);
	free(dir);
	return rc;
}

static int hub_admin(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"password", hub_admin_password, "set the web console password"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub admin");
}

static const struct cli_command hub_commands[] = {
	{"init", hub_init, "create a hub (CA, certificates, configuration, database)"},
	{"serve", hub_serve, "run the hub"},
	{"token", hub_cmd_token, "enrollment tokens for new devices"},
	{"device", hub_cmd_device, "list, add, discover and revoke devices"},
	{"sync", hub_cmd_sync, "start a sync job from a source to destinations"},
	{"job", hub_cmd_job, "show and follow sync jobs"},
	{"admin", hub_admin, "web console users (set a password)"},
	{"account", hub_cmd_account, "sync accounts: add, list, disable, enable, credit"},
	{"wallet", hub_cmd_wallet, "offline transfer: the ledger and double spends"},
	{NULL, NULL, NULL},
};

int cmd_hub(int argc, char **argv)
{
	return cli_dispatch(argc, argv, hub_commands, "certsync hub");
}
