/* certsync backup: back up to a paired terminal, list, restore by identifier. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/backup.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include <certsync/qr.h>
#include "cli.h"
#include "commands.h"

#define ITEMS_MAX 4096

static char *device_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? strdup(d) : cli_default_data_dir("device");
}

/* ---- terminal ---- */

struct term_ui {
	struct cli_progress bar;
	int active;
};

static void show_code(void *ud, const char *payload, const char *png)
{
	(void)ud;
	char *art = NULL;
	if (cs_qr_render_text(&art, payload) == 0)
		printf("\n%s", art);
	free(art);
	printf("pairing code (also in %s):\n%s\n", png, payload);
	fflush(stdout);
}

static void term_progress(void *ud, const char *what, uint64_t done, uint64_t total)
{
	struct term_ui *ui = ud;
	if (!ui->active) {
		cli_progress_start(&ui->bar, what, total);
		ui->active = 1;
	}
	cli_progress_update(&ui->bar, done);
}

static int backup_terminal(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"dir", 0, "DIR", "where backups are kept (created when missing)", NULL, NULL, 0},
		{"data", 'd', "DIR", "this terminal's device directory (logged in to the account)", NULL, NULL, 0},
		{"listen", 'l', "ADDR", "address to listen on (port 0: any free port)", "0.0.0.0:0", NULL, 0},
		{"host", 0, "NAME", "address devices use to reach this terminal, put into the code "
			"(repeatable; default: the listen address)", NULL, NULL, 1},
		{"ttl", 0, "SECONDS", "how long a code lives", "600", NULL, 0},
		{"log-level", 0, "LEVEL", "debug, info, warn or error", "info", NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync backup terminal --dir DIR [--data DIR] [--listen ADDR] [--host NAME...] [--ttl S]",
		"Serve as a backup terminal: show a one-time pairing code (QR in the terminal, "
		"DIR/pairing.png, DIR/pairing.txt) registered with the hub, accept one device per code, "
		"keep its backups (sealed with the account's key) in DIR. Stops on SIGINT or SIGTERM.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (cli_get(opts, "dir") == NULL)
		return cli_usage_error("backup terminal needs --dir");
	int level = cs_log_level_parse(cli_get(opts, "log-level"));
	if (level < 0)
		return cli_usage_error("unknown log level '%s'", cli_get(opts, "log-level"));
	cs_log_set_level((enum cs_log_level)level);
	char *ttl_end = NULL;
	long long ttl = strtoll(cli_get(opts, "ttl"), &ttl_end, 10);
	if (*ttl_end || ttl < 1 || ttl > 3600)
		return cli_usage_error("--ttl takes 1 to 3600 seconds");
	char *dir = device_dir(opts), *hostlist = cli_get(opts, "host") ? strdup(cli_get(opts, "host")) : NULL;
	const char *hosts[CS_BACKUP_ADDRS_MAX + 1];
	size_t nh = 0;
	for (char *save = NULL, *h = hostlist ? strtok_r(hostlist, ",", &save) : NULL; h;
	     h = strtok_r(NULL, ",", &save)) {
		if (nh == CS_BACKUP_ADDRS_MAX) {
			free(dir);
			free(hostlist);
			return cli_usage_error("at most %d --host", CS_BACKUP_ADDRS_MAX);
		}
		hosts[nh++] = h;
	}
	hosts[nh] = NULL;
	struct term_ui ui = {0};
	struct cs_backup_terminal_options o = {
		.data_dir = dir, .dir = cli_get(opts, "dir"), .listen = cli_get(opts, "listen"),
		.hosts = nh ? hosts : NULL, .ttl = ttl, .on_pairing = show_code,
		.on_progress = term_progress, .ud = &ui,
	};
	int rc = cs_backup_terminal_run(&o) < 0 ? cli_fail("backup terminal") : 0;
	if (ui.active)
		cli_progress_finish(&ui.bar);
	free(dir);
	free(hostlist);
	return rc;
}

/* ---- device side ---- */

/* The code from --pairing or --pairing-image; malloc'd. */
static int read_code(char **out, const struct cli_option *opts)
{
	const char *text = cli_get(opts, "pairing"), *img = cli_get(opts, "pairing-image");
	if ((text == NULL) == (img == NULL))
		return cli_usage_error("give the code with --pairing TEXT or --pairing-image PNG");
	if (text != NULL) {
		*out = strdup(text);
		return *out ? 0 : cli_fail("out of memory");
	}
	if (cs_qr_read_png(out, img) < 0)
		return cli_fail("read the code from %s", img);
	return 0;
}


#define CODE_OPTIONS \
	{"data", 'd', "DIR", "this device's directory (logged in to the account)", NULL, NULL, 0}, \
	{"pairing", 0, "CODE", "the terminal's pairing code (the text under its QR code)", NULL, NULL, 0}, \
	{"pairing-image", 0, "PNG", "read the pairing code from the terminal's QR image", NULL, NULL, 0}

static int backup_push(int argc, char **argv)
{
	struct cli_option opts[] = {
		CODE_OPTIONS,
		{"json", 0, NULL, "print the counters as JSON", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync backup push (--pairing CODE | --pairing-image PNG) SOURCE [--data DIR] [--json]",
		"Back up directory SOURCE to the terminal that shows the code: the hub vouches for the "
		"pairing, the terminal is checked against the code, then only what the terminal does not "
		"hold yet is sent, sealed with the account's key. A push that was interrupted resumes "
		"where it stopped when run again (with a new code).", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1)
		return cli_usage_error("backup push needs SOURCE");
	char *code = NULL, *dir = device_dir(opts);
	int rc = read_code(&code, opts);
	if (rc != 0) {
		free(dir);
		return rc;
	}
	struct cli_phases b = {0};
	cs_backup_stats st;
	int64_t t0 = cs_clock_mono_ms();
	r = cs_backup_push(&st, dir, code, argv[1], cli_phases_update, &b);
	cli_phases_finish(&b);
	double secs = (double)(cs_clock_mono_ms() - t0) / 1000.0;
	if (r < 0) {
		rc = cli_fail("backup push");
	} else if (cli_flag(opts, "json")) {
		printf("{\"backup\": \"%s\", \"files\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"chunks\": %" PRIu64
			", \"chunks_sent\": %" PRIu64 ", \"bytes_sent\": %" PRIu64 ", \"secs\": %.3f}\n", st.backup,
			st.files, st.bytes, st.chunks, st.chunks_sent, st.bytes_sent, secs);
	} else {
		char all[32], sent[32];
		cli_human_bytes(all, sizeof(all), st.bytes);
		cli_human_bytes(sent, sizeof(sent), st.bytes_sent);
		printf("backup %s: %" PRIu64 " items, %s; sent %s (%" PRIu64 " of %" PRIu64 " chunks), %.2f s\n",
			st.backup, st.files, all, sent, st.chunks_sent, st.chunks, secs);
	}
	free(code);
	free(dir);
	return rc;
}

static int print_backup(void *ud, const cs_backup_info *b)
{
	char when[32], size[32];
	(void)ud;
	cs_clock_format(when, b->created);
	cli_human_bytes(size, sizeof(size), b->bytes);
	printf("%-26s %-22s %8" PRIu64 " %10s  %s\n", b->id, when, b->files, size, b->source);
	return 0;
}

static int print_item(void *ud, const cs_backup_item *it)
{
	char size[32];
	(void)ud;
	cli_human_bytes(size, sizeof(size), it->size);
	printf("%-14s %10s  %s%s\n", it->id, it->is_dir ? "-" : size, it->path, it->is_dir ? "/" : "");
	return 0;
}

static int backup_list(int argc, char **argv)
{
	struct cli_option opts[] = {
		CODE_OPTIONS,
		{"backup", 'b', "ID", "list the items of this backup", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync backup list (--pairing CODE | --pairing-image PNG) [--backup ID] [--data DIR]",
		"List the account's backups on the terminal, or the items (with their identifiers) of one.",
		&npos);
	if (r)
		return r > 0 ? 0 : 2;
	char *code = NULL, *dir = device_dir(opts);
	int rc = read_code(&code, opts);
	if (rc == 0) {
		const char *b = cli_get(opts, "backup");
		if (b == NULL)
			printf("%-26s %-22s %8s %10s  %s\n", "BACKUP", "CREATED", "ITEMS", "SIZE", "SOURCE");
		else
			printf("%-14s %10s  %s\n", "ITEM", "SIZE", "PATH");
		if (cs_backup_list(dir, code, b, print_backup, print_item, NULL) < 0)
			rc = cli_fail("backup list");
	}
	free(code);
	free(dir);
	return rc;
}

static int backup_restore(int argc, char **argv)
{
	struct cli_option opts[] = {
		CODE_OPTIONS,
		{"backup", 'b', "ID", "the backup to restore from", NULL, NULL, 0},
		{"item", 'i', "ID", "restore only this item (repeatable; default: all)", NULL, NULL, 1},
		{"force", 'f', NULL, "overwrite local files that are newer than the backup's", NULL, NULL, 0},
		{"json", 0, NULL, "print the counters as JSON", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync backup restore (--pairing CODE | --pairing-image PNG) --backup ID [--item ID...] "
		"[--force] DEST [--data DIR]",
		"Restore a backup, or the items named, into DEST. Every chunk is checked against the "
		"manifest; files appear whole or not at all. A local file newer than the backed-up one is "
		"left alone unless --force.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1 || cli_get(opts, "backup") == NULL)
		return cli_usage_error("backup restore needs --backup ID and DEST");
	char *code = NULL, *dir = device_dir(opts), *list = cli_get(opts, "item") ? strdup(cli_get(opts, "item")) : NULL;
	const char *items[ITEMS_MAX];
	size_t n = 0;
	for (char *save = NULL, *it = list ? strtok_r(list, ",", &save) : NULL; it && n < ITEMS_MAX;
	     it = strtok_r(NULL, ",", &save))
		items[n++] = it;
	int rc = read_code(&code, opts);
	if (rc == 0) {
		struct cli_phases b = {0};
		cs_backup_stats st;
		r = cs_backup_restore(&st, dir, code, cli_get(opts, "backup"), items, n, argv[1],
			cli_flag(opts, "force"), cli_phases_update, &b);
		cli_phases_finish(&b);
		if (r < 0) {
			rc = cli_fail("backup restore");
		} else if (cli_flag(opts, "json")) {
			printf("{\"backup\": \"%s\", \"files\": %" PRIu64 ", \"bytes\": %" PRIu64
				", \"chunks_fetched\": %" PRIu64 ", \"bytes_fetched\": %" PRIu64 ", \"kept\": %" PRIu64 "}\n",
				st.backup, st.files, st.bytes, st.chunks_sent, st.bytes_sent, st.kept);
		} else {
			char size[32];
			cli_human_bytes(size, sizeof(size), st.bytes);
			printf("restored %" PRIu64 " files (%s) from %s into %s", st.files, size, st.backup, argv[1]);
			if (st.kept)
				printf("; kept %" PRIu64 " newer local file%s (use --force to overwrite)", st.kept,
					st.kept == 1 ? "" : "s");
			printf("\n");
		}
	}
	free(list);
	free(code);
	free(dir);
	return rc;
}

static const struct cli_command backup_commands[] = {
	{"terminal", backup_terminal, "serve as a backup terminal (shows a pairing code)"},
	{"push", backup_push, "back up a directory to a paired terminal"},
	{"list", backup_list, "list backups, or the items of one"},
	{"restore", backup_restore, "restore a backup or chosen items"},
	{NULL, NULL, NULL},
};

int cmd_backup(int argc, char **argv)
{
	cs_log_set_role("backup");
	return cli_dispatch(argc, argv, backup_commands, "certsync backup");
}
