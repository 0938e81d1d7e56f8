/*
 * certsync hub account add|list|disable|enable: the hub's sync accounts
 * (PROTOCOL.md §11). Like `hub admin password`, these work on the data
 * directory's database directly, beside any running hub processes; `add`
 * runs argon2id here, so the hub's event loop never does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/account.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/hub.h>
#include <certsync/secure.h>
#include "cli.h"
#include "cmd_hub.h"


/* A decimal option within [min, max]; -1 when malformed or out of range. */
static long long ranged(const char *s, long long min, long long max)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	long long v = strtoll(s, &end, 10);
	return *end == '\0' && v >= min && v <= max ? v : -1;
}

static int account_add(int argc, char **argv)
{
	char t_def[16], m_def[16];
	snprintf(t_def, sizeof(t_def), "%d", CS_ACCT_KDF_T_DEFAULT);
	snprintf(m_def, sizeof(m_def), "%d", CS_ACCT_KDF_M_DEFAULT);
	struct cli_option opts[] = {
		HUB_DATA_OPTION,
		{"password-file", 0, "FILE", "read the password from FILE ('-': standard input) "
			"instead of asking twice on the terminal", NULL, NULL, 0},
		{"kdf-time", 0, "T", "argon2id passes (1-16)", t_def, NULL, 0},
		{"kdf-memory", 0, "KIB", "argon2id memory in KiB (8-2097152); each login costs the "
			"device this much", m_def, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts,
		"certsync hub account add NAME [--data DIR] [--password-file FILE|-] [--kdf-time T] "
		"[--kdf-memory KIB]",
		"Add a sync account. NAME is 1-64 of a-z A-Z 0-9 . _ @ -; the password needs at least "
		"12 characters. The hub keeps a random salt, the argon2id cost and the SCRAM verifier "
		"derived from the password (computed here, with argon2id), never the password. Works "
		"while the hub is running.", NULL, 1);
	if (rc >= 0)
		return rc;
	const char *name = argv[1];
	if (!cs_acct_name_valid(name))
		return cli_usage_error("'%s' is not an account name (1-64 of a-z A-Z 0-9 . _ @ -)", name);
	long long t = ranged(cli_get(opts, "kdf-time"), 1, CS_ACCT_KDF_T_MAX);
	long long m = ranged(cli_get(opts, "kdf-memory"), 8, CS_ACCT_KDF_M_MAX);
	if (t < 0)
		return cli_usage_error("--kdf-time must be 1..%d", CS_ACCT_KDF_T_MAX);
	if (m < 0)
		return cli_usage_error("--kdf-memory must be 8..%u KiB", CS_ACCT_KDF_M_MAX);
	char *pw = NULL;
	if ((rc = hub_read_new_password(&pw, cli_get(opts, "password-file"), "account")) != 0)
		return rc;
	char *dir = hub_data_dir(opts);
	if (cs_hub_account_add(dir, name, pw, (uint32_t)t, (uint32_t)m) < 0) {
		/* a password the library refuses is a usage error, like a short one */
		int usage = cs_error_code() == CS_EINVAL;
		cli_fail("hub account add");
		rc = usage ? 2 : 1;
	} else
		printf("account %s added (argon2id t=%lld m=%lld KiB)\n", name, t, m);
	cs_free_secret_str(pw);
	free(dir);
	return rc;
}

/* ---- list ---- */

struct list_state {
	int json;
	json_t *arr;
	size_t n;
};

static int list_one(void *ud, const struct cs_hub_account_info *a)
{
	struct list_state *st = ud;
	st->n++;
	if (st->json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", a->name,
			"id", (json_int_t)a->id, "status", a->disabled ? "disabled" : "active", "created",
			(json_int_t)a->created, "t", (json_int_t)a->t_cost, "m", (json_int_t)a->m_kib,
			"collections", (json_int_t)a->collections, "records", (json_int_t)a->records,
			"bytes", (json_int_t)a->bytes);
		if (o == NULL || json_array_append_new(st->arr, o) < 0)
			return cs_error_set(CS_ENOMEM, "out of memory");
		return 0;
	}
	char created[32], kdf[48], bytes[32];
	cs_clock_format(created, a->created);
	snprintf(kdf, sizeof(kdf), "t=%u m=%u", a->t_cost, a->m_kib);
	cli_human_bytes(bytes, sizeof(bytes), (unsigned long long)a->bytes);
	if (st->n == 1)
		printf("%-24s  %-8s  %-18s  %-20s  %8s  %s\n", "NAME", "STATUS", "ARGON2ID", "CREATED",
			"RECORDS", "BYTES");
	printf("%-24s  %-8s  %-18s  %-20s  %8lld  %s\n", a->name,
		a->disabled ? "disabled" : "active", kdf, created, (long long)a->records, bytes);
	return 0;
}

static int account_list(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_DATA_OPTION,
		{"json", 0, NULL, "print JSON", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync hub account list [--data DIR] [--json]",
		"List the sync accounts: status, argon2id cost, creation time, and the live records "
		"and payload bytes each holds.", NULL, 0);
	if (rc >= 0)
		return rc;
	rc = 0;
	struct list_state st = {.json = cli_flag(opts, "json")};
	if (st.json && (st.arr = json_array()) == NULL)
		return cli_fail("out of memory");
	char *dir = hub_data_dir(opts);
	if (cs_hub_account_list(dir, list_one, &st) != 0) {
		rc = cli_fail("hub account list");
	} else if (st.json) {
		json_t *out = json_pack("{s:O}", "accounts", st.arr);
		char *s = out ? json_dumps(out, JSON_INDENT(2)) : NULL;
		if (s == NULL)
			rc = cli_fail("out of memory");
		else
			printf("%s\n", s);
		free(s);
		json_decref(out);
	} else if (st.n == 0) {
		printf("no accounts\n");
	}
	json_decref(st.arr);
	free(dir);
	return rc;
}

/* ---- disable, enable ---- */

static int set_disabled(int argc, char **argv, int disabled)
{
	struct cli_option opts[] = {HUB_DATA_OPTION, CLI_OPTIONS_END};
	int rc = cli_parse_args(argc, argv, opts,
		disabled ? "certsync hub account disable NAME [--data DIR]"
			 : "certsync hub account enable NAME [--data DIR]",
		disabled ? "Disable a sync account: it can no longer log in, and every call with a "
			   "token it already holds is refused (403 account_disabled). Its records are "
			   "kept. Works while the hub is running."
			 : "Enable a disabled sync account again.", NULL, 1);
	if (rc >= 0)
		return rc;
	rc = 0;
	char *dir = hub_data_dir(opts);
	if (cs_hub_account_set_disabled(dir, argv[1], disabled) < 0)
		rc = cli_fail("hub account %s", disabled ? "disable" : "enable");
	else
		printf("account %s %s\n", argv[1], disabled ? "disabled" : "enabled");
	free(dir);
	return rc;
}

static int account_disable(int argc, char **argv)
{
	return set_disabled(argc, argv, 1);
}

static int account_enable(int argc, char **argv)
{
	return set_disabled(argc, argv, 0);
}

int hub_cmd_account(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"add", account_add, "add a sync account"},
		{"list", account_list, "list the sync accounts"},
		{"disable", account_disable, "disable a sync account (its tokens stop working)"},
		{"enable", account_enable, "enable a disabled sync account"},
		{"credit", hub_account_credit, "add to an account's online balance (offline transfer)"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub account");
}
