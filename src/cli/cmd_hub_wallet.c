/*
 * certsync hub account credit, certsync hub wallet ledger|conflicts: the
 * operator's side of offline transfer (PROTOCOL.md §13.8). Like the other
 * account commands they work on the data directory's database directly,
 * beside running hub processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/hub.h>
#include <certsync/wallet.h>
#include "cli.h"
#include "cmd_hub.h"


int hub_account_credit(int argc, char **argv)
{
	struct cli_option opts[] = {HUB_DATA_OPTION, CLI_OPTIONS_END};
	int rc = cli_parse_args(argc, argv, opts, "certsync hub account credit NAME AMOUNT [--data DIR]",
		"Add AMOUNT to the account's online balance. Its devices take value from it with "
		"'certsync wallet load' and carry it offline as vouchers.", NULL, 2);
	if (rc >= 0)
		return rc;
	unsigned long long v = cli_count(argv[2], CS_WALLET_AMOUNT_MAX);
	if (v == 0)
		return cli_usage_error("AMOUNT must be 1..%llu", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	char *dir = hub_data_dir(opts);
	int64_t balance = 0;
	rc = 0;
	if (cs_hub_wallet_credit(dir, argv[1], (int64_t)v, &balance) < 0)
		rc = cli_fail("hub account credit");
	else
		printf("account %s credited %llu; balance %lld\n", argv[1], v, (long long)balance);
	free(dir);
	return rc;
}

static int report(json_t **out, const struct cli_option *opts)
{
	char *dir = hub_data_dir(opts), *text = NULL;
	json_error_t err;
	int rc = 0;
	if (cs_hub_wallet_report(&text, dir) < 0)
		rc = cli_fail("wallet ledger");
	else if ((*out = json_loads(text, 0, &err)) == NULL)
		rc = cli_fail("wallet ledger: %s", err.text);
	free(text);
	free(dir);
	return rc;
}

/* Print a JSON value as --json does (indented, keys in order). */
static void print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	printf("%s\n", s ? s : "null");
	free(s);
}

static long long ji(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static const char *js(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static int wallet_ledger(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_DATA_OPTION,
		{"json", 0, NULL, "print JSON", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync hub wallet ledger [--data DIR] [--json]",
		"Show the ledger: each account's online balance and credits, the value each device holds "
		"according to every voucher and link uploaded so far, the double spends found, and the "
		"conservation check (online balances plus the value held offline equal the credits).", NULL, 0);
	if (rc >= 0)
		return rc;
	json_t *j = NULL, *it;
	size_t i;
	if ((rc = report(&j, opts)) != 0)
		return rc;
	if (cli_flag(opts, "json")) {
		print_json(j);
		json_decref(j);
		return 0;
	}
	json_t *t = json_object_get(j, "totals");
	printf("%-24s %14s %14s\n", "ACCOUNT", "ONLINE", "CREDITED");
	json_array_foreach(json_object_get(j, "accounts"), i, it)
		printf("%-24s %14lld %14lld\n", js(it, "account"), ji(it, "online_balance"), ji(it, "credited"));
	printf("\n%-63s  %-16s %12s %8s %8s  %s\n", "DEVICE", "ACCOUNT", "HELD", "VOUCHERS", "COUNTER",
		"LAST SYNC");
	json_array_foreach(json_object_get(j, "devices"), i, it) {
		char when[32] = "never";
		if (ji(it, "last_sync"))
			cs_clock_format(when, ji(it, "last_sync"));
		printf("%-63s  %-16s %12lld %8lld %8lld  %s\n", js(it, "device"), js(it, "account"),
			ji(it, "balance"), ji(it, "vouchers"), ji(it, "counter"), when);
	}
	printf("\ncredited %lld = online %lld + held offline %lld: %s\n", ji(t, "credited"), ji(t, "online"),
		ji(t, "offline"), json_is_true(json_object_get(t, "conserved")) ? "conserved" : "NOT CONSERVED");
	size_t nc = json_array_size(json_object_get(j, "conflicts"));
	if (nc)
		printf("double spends: %zu (charged %lld); see 'certsync hub wallet conflicts'\n", nc,
			ji(t, "charged"));
	json_decref(j);
	return 0;
}

static void print_link(const char *label, json_t *l)
{
	char when[32];
	cs_clock_format(when, ji(l, "time_ms") / 1000);
	printf("  %s link %s\n    %s pays %lld to %s (change %lld), transfer #%lld at %s\n    transfer %s\n"
		"    signature %s\n", label, js(l, "link"), js(l, "payer"), ji(l, "amount"), js(l, "payee"),
		ji(l, "change"), ji(l, "counter"), when, js(l, "transfer"), js(l, "signature"));
}

static int wallet_conflicts(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_DATA_OPTION,
		{"json", 0, NULL, "print JSON (with each link's signed body)", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync hub wallet conflicts [--data DIR] [--json]",
		"List every double spend: one branch of a voucher signed over to two payees. Each shows "
		"both links with the payer's signatures, which verify with the payer's certificate: the "
		"proof that the payer's own key spent the same value twice.", NULL, 0);
	if (rc >= 0)
		return rc;
	json_t *j = NULL, *it;
	size_t i;
	if ((rc = report(&j, opts)) != 0)
		return rc;
	json_t *c = json_object_get(j, "conflicts");
	if (cli_flag(opts, "json")) {
		print_json(c);
	} else if (json_array_size(c) == 0) {
		printf("no double spending found\n");
	} else {
		json_array_foreach(c, i, it) {
			printf("conflict %lld: %s spent branch %s (value %lld) twice; charged to its account\n",
				ji(it, "id"), js(it, "payer"), js(it, "branch"), ji(it, "value"));
			print_link("first ", json_object_get(it, "first"));
			print_link("second", json_object_get(it, "second"));
		}
	}
	json_decref(j);
	return 0;
}

int hub_cmd_wallet(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"ledger", wallet_ledger, "balances, holdings and the conservation check"},
		{"conflicts", wallet_conflicts, "double spends with the payer's signed links"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub wallet");
}
