#ifndef CS_CMD_HUB_H
#define CS_CMD_HUB_H
/* Shared by the files of 'certsync hub' (cmd_hub*.c). */
#include <jansson.h>
#include <certsync/httpc.h>
#include "cli.h"

/* Options every admin client command takes (--data, --hub, --json); put
 * HUB_CLIENT_OPTIONS at the start of a command's option table. */
#define HUB_CLIENT_OPTIONS \
	{"data", 'd', "DIR", "hub data directory (holds the admin credentials)", NULL, NULL, 0}, \
	{"hub", 0, "URL", "hub URL (default: https:// + hub.json's public_address)", NULL, NULL, 0}, \
	{"json", 0, NULL, "print the API's JSON", NULL, NULL, 0}

/* The --data option of the commands that work on the data directory itself. */
#define HUB_DATA_OPTION {"data", 'd', "DIR", "hub data directory", NULL, NULL, 0}

/* The data directory named by --data, or the default; malloc'd. */
char *hub_data_dir(const struct cli_option *opts);

/* An HTTPS client for the hub's admin API with DATA/admin credentials. On
 * failure prints the reason and returns non-zero (the exit status). */
int hub_admin_client(cs_httpc **out, const struct cli_option *opts);

/* Call the admin API; body (may be NULL) is not stolen. On a 2xx answer
 * stores the parsed JSON (may be NULL for an empty body) in *out and
 * returns 0; otherwise prints "certsync: what: <reason>" and returns 1. */
int hub_call(json_t **out, cs_httpc *c, const char *method, const char *path,
	json_t *body, const char *what);

/* Follow a job until it is final, redrawing its table on a terminal.
 * Returns 0 when every destination applied, 1 otherwise. */
int hub_job_watch(cs_httpc *c, long long job, int json);

/* Print one job as a table (or JSON). */
void hub_job_print(json_t *job, int json);

/* A new password for what ("console", "account"): from file ('-':
 * standard input; everything but one trailing newline) or, when file is
 * NULL, asked twice on the terminal without echo. At least 12 characters.
 * On success *out is malloc'd (free with cs_free_secret_str) and 0 is
 * returned; otherwise the message is printed and the exit status (1 or 2)
 * returned. */
int hub_read_new_password(char **out, const char *file, const char *what);

/* Subcommands in cmd_hub_admin.c. */
int hub_cmd_token(int argc, char **argv);
int hub_cmd_device(int argc, char **argv);
int hub_cmd_sync(int argc, char **argv);
int hub_cmd_job(int argc, char **argv);

/* certsync hub account (cmd_hub_account.c). */
int hub_cmd_account(int argc, char **argv);

/* certsync hub account credit and certsync hub wallet (cmd_hub_wallet.c). */
int hub_account_credit(int argc, char **argv);
int hub_cmd_wallet(int argc, char **argv);

#endif
