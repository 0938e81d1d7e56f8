/* certsync agent: the device's long-running side of relay sync. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/agent.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "cli.h"
#include "commands.h"

static cs_agent *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		cs_agent_stop(running);
}

static int agent_run(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"once", 0, NULL, "serve the tasks waiting now, then exit", NULL, NULL, 0},
		{"log-level", 0, "LEVEL", "debug, info, warn or error", "info", NULL, 0},
		CLI_WARM_MEMORY_OPTION,
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync agent run [--data DIR] [--once] [--log-level L] [--warm-memory MIB]",
		"Keep one connection to the hub and answer its sync requests: produce sealed deltas as a "
		"source, apply them as a destination. Stops on SIGINT or SIGTERM.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	int level = cs_log_level_parse(cli_get(opts, "log-level"));
	if (level < 0)
		return cli_usage_error("unknown log level '%s'", cli_get(opts, "log-level"));
	cs_log_set_level((enum cs_log_level)level);
	cs_log_set_role("agent");
	/* a run with --once is too short to gain from warming */
	if (cli_prepare_memory(opts, !cli_flag(opts, "once")) != 0)
		return 2;
	const char *dir = cli_get(opts, "data");
	if (dir == NULL)
		dir = cli_default_data_dir("device");
	if (cs_agent_open(&running, dir) < 0)
		return cli_fail("agent");
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int rc = 0;
	if (cs_agent_run(running, cli_flag(opts, "once")) < 0)
		rc = cli_fail("agent");
	cs_agent_free(running);
	running = NULL;
	return rc;
}

static const struct cli_command agent_commands[] = {
	{"run", agent_run, "run the agent until stopped"},
	{NULL, NULL, NULL},
};

int cmd_agent(int argc, char **argv)
{
	return cli_dispatch(argc, argv, agent_commands, "certsync agent");
}
