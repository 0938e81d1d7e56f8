/* certsync folder: the folders this device carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/agent.h>
#include <certsync/error.h>
#include <certsync/index.h>
#include <certsync/store.h>
#include <certsync/fsutil.h>
#include "cli.h"
#include "commands.h"

static struct cli_option folder_opts[] = {
	{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
	{NULL, 0, NULL, NULL, NULL, NULL, 0},
};

static const char *data_dir(void)
{
	const char *d = cli_get(folder_opts, "data");
	return d ? d : cli_default_data_dir("device");
}

static int folder_add(int argc, char **argv)
{
	int npos, r = cli_parse(argc, argv, folder_opts, "certsync folder add ID PATH [--data DIR]",
		"Carry folder ID, kept in directory PATH (created when missing), and tell the hub.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 2)
		return cli_usage_error("folder add needs ID and PATH");
	cs_agent *ag = NULL;
	if (cs_agent_open(&ag, data_dir()) < 0)
		return cli_fail("folder add");
	int rc = 0;
	if (cs_agent_folder_add(ag, argv[1], argv[2]) < 0)
		rc = cli_fail("folder add %s", argv[1]);
	cs_agent_free(ag);
	return rc;
}

static int print_folder(void *ud, const char *folder, const char *root)
{
	cs_index *ix = ud;
	uint64_t seq = 0;
	cs_index_folder_seq(&seq, ix, folder);
	printf("%-20s %-8llu %s\n", folder, (unsigned long long)seq, root);
	return 0;
}

static int with_index(int (*fn)(cs_index *ix, char **argv), char **argv)
{
	char *db = cs_path_join(data_dir(), "device.db");
	cs_store *st = NULL;
	cs_index *ix = NULL;
	int rc = 0;
	if (!cs_fs_exists(db)) {
		free(db);
		return cli_usage_error("no device in %s; run 'certsync device init'", data_dir());
	}
	if (cs_store_open(&st, db) < 0 || cs_index_open(&ix, st) < 0)
		rc = cli_fail("open %s", db);
	else
		rc = fn(ix, argv);
	cs_index_close(ix);
	cs_store_close(st);
	free(db);
	return rc;
}

static int list_fn(cs_index *ix, char **argv)
{
	(void)argv;
	printf("%-20s %-8s %s\n", "FOLDER", "SEQ", "PATH");
	if (cs_index_folder_each(ix, print_folder, ix) < 0)
		return cli_fail("folder list");
	return 0;
}

static int folder_list(int argc, char **argv)
{
	int npos, r = cli_parse(argc, argv, folder_opts, "certsync folder list [--data DIR]",
		"List the folders this device carries with their sequence numbers.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	return with_index(list_fn, argv);
}

static void scan_progress(void *ud, const cs_scan_stats *s)
{
	cli_progress_update(ud, s->hashed_bytes);
}

static int scan_fn(cs_index *ix, char **argv)
{
	cs_scan_stats st;
	struct cli_progress bar;
	cli_progress_start(&bar, "scanning", 0);
	if (cs_index_scan(ix, argv[1], &st, scan_progress, &bar) < 0)
		return cli_fail("scan %s", argv[1]);
	bar.total = st.hashed_bytes;
	cli_progress_finish(&bar);
	printf("%llu files, %llu directories, %llu bytes; %llu changed, %llu deleted\n",
		(unsigned long long)st.files, (unsigned long long)st.dirs, (unsigned long long)st.bytes,
		(unsigned long long)st.changed, (unsigned long long)st.deleted);
	return 0;
}

static int folder_scan(int argc, char **argv)
{
	int npos, r = cli_parse(argc, argv, folder_opts, "certsync folder scan ID [--data DIR]",
		"Bring the index of folder ID up to date now and print what changed.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1)
		return cli_usage_error("folder scan needs a folder ID");
	return with_index(scan_fn, argv);
}

static const struct cli_command folder_commands[] = {
	{"add", folder_add, "carry a folder and tell the hub"},
	{"list", folder_list, "list the folders this device carries"},
	{"scan", folder_scan, "index a folder now"},
	{NULL, NULL, NULL},
};

int cmd_folder(int argc, char **argv)
{
	return cli_dispatch(argc, argv, folder_commands, "certsync folder");
}
