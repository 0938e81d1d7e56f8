#ifndef CS_CLI_H
#define CS_CLI_H
/*
 * Command-line plumbing shared by the subcommands: declarative option
 * tables (help is generated from them), nested subcommand tables, and
 * consistent error reporting. The library never prints; the CLI does.
 */
#include <stdint.h>
#include <stdio.h>
#include <certsync/procmem.h>

/* One option of a command. arg is the metavariable ("DIR") or NULL for a
 * flag. After cli_parse, value holds the argument (or "1" for a flag given
 * on the command line, or def when absent). */
struct cli_option {
	const char *name; /* long name without dashes */
	char short_name;  /* 0 for none */
	const char *arg;  /* metavariable, NULL for a flag */
	const char *help;
	const char *def;  /* default value, shown in help; may be NULL */
	const char *value;
	int repeat;       /* 1: may be given several times; values joined by ',' */
};

/* One command in a table of subcommands. */
struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command's own name */
	const char *summary;
};

/* Parse argv against opts (terminated by an entry with name NULL). Positional
 * arguments are moved to the front of argv starting at index 1; their count
 * is stored in *npos. --help prints help built from usage, summary and the
 * table and returns 1 (the caller exits 0). Errors print a message and the
 * usage line and return -1 (exit 2). */
int cli_parse(int argc, char **argv, struct cli_option *opts, const char *usage,
	const char *summary, int *npos);

/* The entry that ends an option table. */
#define CLI_OPTIONS_END {NULL, 0, NULL, NULL, NULL, NULL, 0}

/* cli_parse for a command: returns -1 to go on, else the exit status (0
 * after --help, 2 on a usage error). When want_pos >= 0 the command takes
 * exactly that many positional arguments; npos (may be NULL) gets their
 * number. */
int cli_parse_args(int argc, char **argv, struct cli_option *opts, const char *usage,
	const char *summary, int *npos, int want_pos);

/* A decimal number in 1..max (digits only), or 0 when s is NULL, malformed
 * or out of range. */
uint64_t cli_count(const char *s, uint64_t max);

/* The option table entry of `--warm-memory MIB` (hub serve, agent run);
 * the stringified limits keep the help in step with certsync/procmem.h. */
#define CLI_STRINGIFY_(x) #x
#define CLI_STRINGIFY(x) CLI_STRINGIFY_(x)
#define CLI_WARM_MEMORY_OPTION \
	{"warm-memory", 0, "MIB", "MiB to touch at start, half heap and half large buffers, so " \
		"that the first transfers do not fault it in (0: none, at most " \
		CLI_STRINGIFY(CS_PROCMEM_WARM_MAX_MIB) ")", CLI_STRINGIFY(CS_PROCMEM_WARM_DEFAULT_MIB), \
		NULL, 0}
/* Check `--warm-memory` and, with warm set, warm the process's memory as
 * it says (certsync/procmem.h, in the background); 0, or 2 after a usage
 * error was printed. */
int cli_prepare_memory(const struct cli_option *opts, int warm);

/* The value of the named option (NULL when absent and without default). */
const char *cli_get(const struct cli_option *opts, const char *name);
/* 1 when the named flag was given. */
int cli_flag(const struct cli_option *opts, const char *name);

/* Dispatch argv[1] to a command of table (terminated by name NULL); prints
 * the table for --help or an unknown name. prefix is the command path shown
 * in messages ("certsync hub"). */
int cli_dispatch(int argc, char **argv, const struct cli_command *table, const char *prefix);

/* Print "certsync: <message>: <cs_error_last()>" to stderr and return 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "certsync: <message>" to stderr and return 2 (usage error). */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The default data directory for a role: $XDG_DATA_HOME/certsync/<role>
 * or ~/.local/share/certsync/<role>; malloc'd. */
char *cli_default_data_dir(const char *role);

/* Format a byte count for people: "512 B", "1.5 MiB". */
void cli_human_bytes(char *out, size_t n, unsigned long long v);

/* A text progress bar on stderr when it is a terminal (or when forced with
 * CERTSYNC_PROGRESS=1); silent otherwise. */
struct cli_progress {
	const char *label;
	unsigned long long total;
	long long last_ms;
	int active;
};
void cli_progress_start(struct cli_progress *p, const char *label, unsigned long long total);
void cli_progress_update(struct cli_progress *p, unsigned long long done);
void cli_progress_finish(struct cli_progress *p);

/* A progress bar per phase of a long operation ("scan", "pull", ...): a
 * callback for the library's progress functions (ud is the struct), and
 * the end of the last bar. */
struct cli_phases {
	struct cli_progress bar;
	const char *phase;
};
void cli_phases_update(void *ud, const char *phase, uint64_t done, uint64_t total);
void cli_phases_finish(struct cli_phases *p);

#endif
