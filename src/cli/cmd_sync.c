/* certsync sync: account sync of this device's folders. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/account_sync.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "cli.h"
#include "commands.h"

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static char *device_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? strdup(d) : cli_default_data_dir("device");
}


static int sync_run(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"json", 0, NULL, "print the run's counters as JSON", NULL, NULL, 0},
		{"log-level", 0, "LEVEL", "debug, info, warn or error", "warn", NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync sync run FOLDER [--data DIR] [--json]",
		"Bring FOLDER in step with the account this device is logged in to: upload local "
		"changes, apply those of the account's other devices, keep both sides of a conflict "
		"(the local edit as a .sync-conflict copy). Everything is encrypted on this device.",
		&npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1)
		return cli_usage_error("sync run needs FOLDER");
	int level = cs_log_level_parse(cli_get(opts, "log-level"));
	if (level < 0)
		return cli_usage_error("unknown log level '%s'", cli_get(opts, "log-level"));
	cs_log_set_level((enum cs_log_level)level);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	char *dir = device_dir(opts);
	struct cli_phases b = {0};
	cs_acct_sync_stats s;
	int64_t t0 = cs_clock_mono_ms();
	int rc = 0;
	r = cs_acct_sync_run(&s, dir, argv[1], cli_phases_update, &b, &interrupted);
	cli_phases_finish(&b);
	double secs = (double)(cs_clock_mono_ms() - t0) / 1000.0;
	if (r < 0) {
		rc = cli_fail("sync %s", argv[1]);
	} else if (cli_flag(opts, "json")) {
		printf("{\"folder\": \"%s\", \"pulled\": %" PRIu64 ", \"pushed\": %" PRIu64
			", \"conflicts\": %" PRIu64 ", \"chunks_up\": %" PRIu64 ", \"bytes_up\": %" PRIu64
			", \"chunks_down\": %" PRIu64 ", \"bytes_down\": %" PRIu64 ", \"requests\": %" PRIu64
			", \"rounds\": %" PRIu64 ", \"version\": %" PRIu64 ", \"secs\": %.3f}\n", argv[1],
			s.pulled, s.pushed, s.conflicts, s.chunks_up, s.bytes_up, s.chunks_down, s.bytes_down,
			s.requests, s.rounds, s.version, secs);
	} else {
		char up[32], down[32];
		cli_human_bytes(up, sizeof(up), s.bytes_up);
		cli_human_bytes(down, sizeof(down), s.bytes_down);
		printf("%s: %" PRIu64 " applied, %" PRIu64 " uploaded, %" PRIu64 " conflict%s kept; "
			"%s up, %s down, %" PRIu64 " requests, %.2f s\n", argv[1], s.pulled, s.pushed,
			s.conflicts, s.conflicts == 1 ? "" : "s", up, down, s.requests, secs);
	}
	free(dir);
	return rc;
}

static int sync_status(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync sync status FOLDER [--data DIR]",
		"Show the login and what FOLDER has not pushed yet (as of the last scan).", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1)
		return cli_usage_error("sync status needs FOLDER");
	char *dir = device_dir(opts), when[32];
	cs_acct_status st;
	uint64_t pending = 0, version = 0;
	int rc = 0;
	if (cs_acct_status_get(&st, dir, 0) < 0 || cs_acct_sync_pending(&pending, &version, dir, argv[1]) < 0) {
		rc = cli_fail("sync status %s", argv[1]);
	} else {
		cs_clock_format(when, st.expires);
		printf("folder    %s\naccount   %s (login %s until %s)\nversion   %" PRIu64
			" (last seen from the account)\npending   %" PRIu64 " local change%s to upload\n",
			argv[1], st.account, st.expires <= cs_clock_now() ? "expired" : "valid", when, version,
			pending, pending == 1 ? "" : "s");
	}
	free(dir);
	return rc;
}

static const struct cli_command sync_commands[] = {
	{"run", sync_run, "sync a folder with the account"},
	{"status", sync_status, "show a folder's sync state"},
	{NULL, NULL, NULL},
};

int cmd_sync(int argc, char **argv)
{
	cs_log_set_role("sync");
	return cli_dispatch(argc, argv, sync_commands, "certsync sync");
}
