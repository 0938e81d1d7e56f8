/* certsync account: log this device in to an account on a hub (account sync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/account_sync.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "cli.h"
#include "commands.h"
#include "password.h"

#define HUBS_MAX 8

static char *device_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? strdup(d) : cli_default_data_dir("device");
}

/* Split the comma-joined --hub values into hubs[]; the count, or -1. */
static int split_hubs(char *list, const char *hubs[HUBS_MAX])
{
	int n = 0;
	for (char *save = NULL, *h = strtok_r(list, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
		if (n == HUBS_MAX)
			return -1;
		hubs[n++] = h;
	}
	return n;
}

static int account_login(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"hub", 0, "URL", "hub URL, e.g. https://hub.example:8443; repeat for several hub "
			"instances that share a store (requests go to them in turn)", NULL, NULL, 1},
		{"ca", 0, "FILE", "the hub CA certificate (default: DIR/ca.crt of an enrolled device)",
			NULL, NULL, 0},
		{"account", 'a', "NAME", "account name", NULL, NULL, 0},
		{"password-file", 0, "FILE", "read the password from FILE ('-': standard input) "
			"instead of asking on the terminal", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync account login --hub URL [--hub URL...] --account NAME [--ca FILE] "
		"[--password-file FILE] [--data DIR]",
		"Log this device in to an account: a salted challenge-response in which the password "
		"never leaves the device. Stores the token, the message key and the account's data key "
		"in DIR/account.json (mode 0600).", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 0)
		return cli_usage_error("account login takes no arguments");
	if (cli_get(opts, "hub") == NULL || cli_get(opts, "account") == NULL)
		return cli_usage_error("account login needs --hub and --account");
	char *dir = device_dir(opts), *list = strdup(cli_get(opts, "hub")), *ca = NULL, *pw = NULL;
	const char *hubs[HUBS_MAX];
	int n, rc = 0;
	if (dir == NULL || list == NULL) {
		rc = cli_fail("out of memory");
		goto done;
	}
	if ((n = split_hubs(list, hubs)) <= 0) {
		rc = cli_usage_error("give 1 to %d --hub URLs", HUBS_MAX);
		goto done;
	}
	ca = cli_get(opts, "ca") ? strdup(cli_get(opts, "ca")) : cs_path_join(dir, "ca.crt");
	if (ca == NULL || !cs_fs_exists(ca)) {
		rc = cli_usage_error("no CA certificate %s; give --ca FILE", ca ? ca : "");
		goto done;
	}
	if ((rc = cli_password_read(&pw, cli_get(opts, "password-file"), "password: ", 0)) != 0)
		goto done;
	struct cs_acct_login_options o = {
		.data_dir = dir, .hubs = hubs, .nhubs = (size_t)n, .ca_path = ca,
		.account = cli_get(opts, "account"), .password = pw,
	};
	if (cs_acct_login(&o) < 0) {
		rc = cli_fail("login to %s", cli_get(opts, "account"));
		goto done;
	}
	cs_acct_status st;
	if (cs_acct_status_get(&st, dir, 0) == 0) {
		char when[32];
		cs_clock_format(when, st.expires);
		printf("logged in to %s as device %s until %s\n", st.account, st.device, when);
	}
done:
	cs_free_secret_str(pw);
	free(ca);
	free(list);
	free(dir);
	return rc;
}

static int account_logout(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync account logout [--data DIR]",
		"Forget the login: remove DIR/account.json with its keys.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	char *dir = device_dir(opts);
	int rc = 0;
	if (cs_acct_logout(dir) < 0)
		rc = cli_fail("logout");
	else
		printf("logged out\n");
	free(dir);
	return rc;
}

static int account_status(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"offline", 0, NULL, "do not ask the hub whether the token is still accepted", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync account status [--data DIR] [--offline]",
		"Show the login and check it with the hub.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	char *dir = device_dir(opts), when[32];
	cs_acct_status st;
	int rc = 0;
	if (cs_acct_status_get(&st, dir, !cli_flag(opts, "offline")) < 0) {
		rc = cli_fail("account status");
	} else {
		cs_clock_format(when, st.expires);
		printf("account  %s\ndevice   %s\nhub      %s%s\nexpires  %s%s\n", st.account, st.device,
			st.hub, st.nhubs > 1 ? " (and others)" : "", when,
			st.expires <= cs_clock_now() ? " (expired: log in again)" : "");
		if (!cli_flag(opts, "offline")) {
			printf("hub says %s\n", st.hub_ok ? "ok" : st.hub_error);
			rc = st.hub_ok ? 0 : 1;
		}
	}
	free(dir);
	return rc;
}

static const struct cli_command account_commands[] = {
	{"login", account_login, "log this device in to an account"},
	{"logout", account_logout, "forget the login"},
	{"status", account_status, "show the login"},
	{NULL, NULL, NULL},
};

int cmd_account(int argc, char **argv)
{
	cs_log_set_role("account");
	return cli_dispatch(argc, argv, account_commands, "certsync account");
}
