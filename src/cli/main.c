/* certsync: one binary, one subcommand per role (DESIGN §1). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "commands.h"

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("certsync %s\n", CS_VERSION);
	return 0;
}

static const struct cli_command commands[] = {
	{"hub", cmd_hub, "run and administer a hub (CA, registry, relay, console)"},
	{"device", cmd_device, "this device's identity and enrollment"},
	{"folder", cmd_folder, "folders this device carries"},
	{"agent", cmd_agent, "run the device agent (answers and applies sync jobs)"},
	{"account", cmd_account, "log this device in to an account (account sync)"},
	{"sync", cmd_sync, "sync a folder with the account (account sync)"},
	{"backup", cmd_backup, "back up to a paired terminal, restore by identifier"},
	{"wallet", cmd_wallet, "carry value offline between two devices (vouchers)"},
	{"sigd", cmd_sigd, "signature verification cluster: a node, its certificates, verify"},
	{"version", cmd_version, "print the version"},
	{NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	/* Buffers of a few MiB come and go for every chunk, blob and record:
	 * keep them on the heap, and keep freed memory for the next one. */
	cs_procmem_tune();
	if (argc > 1 && strcmp(argv[1], "--version") == 0)
		return cmd_version(argc, argv);
	return cli_dispatch(argc, argv, commands, "certsync");
}
