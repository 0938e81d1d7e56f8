/* Command-line plumbing (cli.h). */
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include "cli.h"

static void print_help(const struct cli_option *opts, const char *usage, const char *summary)
{
	printf("usage: %s\n", usage);
	if (summary)
		printf("\n%s\n", summary);
	if (opts && opts[0].name) {
		printf("\noptions:\n");
		for (const struct cli_option *o = opts; o->name; o++) {
			char left[64];
			if (o->short_name)
				snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
					o->arg ? " " : "", o->arg ? o->arg : "");
			else
				snprintf(left, sizeof(left), "    --%s%s%s", o->name,
					o->arg ? " " : "", o->arg ? o->arg : "");
			printf("  %-28s %s", left, o->help);
			if (o->def)
				printf(" (default: %s)", o->def);
			printf("\n");
		}
	}
	printf("  %-28s %s\n", "-h, --help", "show this help");
}

static struct cli_option *find_long(struct cli_option *opts, const char *name, size_t len)
{
	for (struct cli_option *o = opts; o && o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return o;
	return NULL;
}

static struct cli_option *find_short(struct cli_option *opts, char c)
{
	for (struct cli_option *o = opts; o && o->name; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

/* Set an option's value; repeated options accumulate comma-joined. The
 * joined strings live until exit, which is the lifetime of a CLI run. */
static void set_value(struct cli_option *o, const char *v)
{
	if (o->repeat && o->value && o->value != o->def) {
		size_t n = strlen(o->value) + strlen(v) + 2;
		char *s = malloc(n);
		if (s) {
			snprintf(s, n, "%s,%s", o->value, v);
			o->value = s;
		}
		return;
	}
	o->value = v;
}

int cli_parse(int argc, char **argv, struct cli_option *opts, const char *usage,
	const char *summary, int *npos)
{
	int pos = 1;
	int only_pos = 0;
	for (struct cli_option *o = opts; o && o->name; o++)
		o->value = o->def;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == 0) {
			argv[pos++] = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			print_help(opts, usage, summary);
			return 1;
		}
		struct cli_option *o;
		const char *inline_val = NULL;
		if (a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			o = find_long(opts, a + 2, len);
			if (eq)
				inline_val = eq + 1;
		} else {
			o = a[2] == 0 ? find_short(opts, a[1]) : NULL;
		}
		if (o == NULL) {
			fprintf(stderr, "certsync: unknown option '%s'\nusage: %s\n", a, usage);
			return -1;
		}
		if (o->arg == NULL) {
			if (inline_val) {
				fprintf(stderr, "certsync: option --%s takes no value\n", o->name);
				return -1;
			}
			o->value = "1";
			continue;
		}
		if (inline_val == NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "certsync: option --%s needs a value (%s)\nusage: %s\n",
					o->name, o->arg, usage);
				return -1;
			}
			inline_val = argv[++i];
		}
		set_value(o, inline_val);
	}
	*npos = pos - 1;
	argv[pos] = NULL;
	return 0;
}

const char *cli_get(const struct cli_option *opts, const char *name)
{
	for (const struct cli_option *o = opts; o && o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o->value;
	return NULL;
}

int cli_flag(const struct cli_option *opts, const char *name)
{
	const char *v = cli_get(opts, name);
	return v != NULL && strcmp(v, "1") == 0;
}

int cli_dispatch(int argc, char **argv, const struct cli_command *table, const char *prefix)
{
	const char *name = argc > 1 ? argv[1] : NULL;
	if (name && strcmp(name, "--help") != 0 && strcmp(name, "-h") != 0 && strcmp(name, "help") != 0) {
		for (const struct cli_command *c = table; c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c->run(argc - 1, argv + 1);
		fprintf(stderr, "certsync: '%s %s' is not a command; see '%s --help'\n", prefix, name, prefix);
		return 2;
	}
	FILE *f = name ? stdout : stderr;
	fprintf(f, "usage: %s <command> [options]\n\ncommands:\n", prefix);
	for (const struct cli_command *c = table; c->name; c++)
		fprintf(f, "  %-12s %s\n", c->name, c->summary);
	fprintf(f, "\nRun '%s <command> --help' for the options of a command.\n", prefix);
	return name ? 0 : 2;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("certsync: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	const char *e = cs_error_last();
	if (e && e[0])
		fprintf(stderr, ": %s", e);
	fputc('\n', stderr);
	return 1;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("certsync: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

char *cli_default_data_dir(const char *role)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");
	char buf[4096];
	if (xdg && xdg[0])
		snprintf(buf, sizeof(buf), "%s/certsync/%s", xdg, role);
	else
		snprintf(buf, sizeof(buf), "%s/.local/share/certsync/%s", home ? home : ".", role);
	return strdup(buf);
}

static int progress_enabled(void)
{
	const char *force = getenv("CERTSYNC_PROGRESS");
	if (force)
		return strcmp(force, "1") == 0;
	return isatty(STDERR_FILENO);
}

void cli_progress_start(struct cli_progress *p, const char *label, unsigned long long total)
{
	p->label = label;
	p->total = total;
	p->last_ms = 0;
	p->active = progress_enabled();
}

void cli_human_bytes(char *out, size_t n, unsigned long long v)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	int u = 0;
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", d, units[u]);
}

void cli_progress_update(struct cli_progress *p, unsigned long long done)
{
	if (!p->active)
		return;
	long long now = cs_clock_mono_ms();
	if (now - p->last_ms < 100 && done < p->total)
		return;
	p->last_ms = now;
	char a[32], b[32];
	cli_human_bytes(a, sizeof(a), done);
	cli_human_bytes(b, sizeof(b), p->total);
	int width = 30;
	int fill = p->total ? (int)((double)done / (double)p->total * width) : width;
	if (fill > width)
		fill = width;
	fprintf(stderr, "\r%-12s [", p->label);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %s / %s   ", a, b);
	fflush(stderr);
}

void cli_progress_finish(struct cli_progress *p)
{
	if (!p->active)
		return;
	cli_progress_update(p, p->total);
	fputc('\n', stderr);
}

void cli_phases_update(void *ud, const char *phase, uint64_t done, uint64_t total)
{
	struct cli_phases *p = ud;
	if (p->phase == NULL || strcmp(p->phase, phase) != 0) {
		if (p->phase != NULL)
			cli_progress_finish(&p->bar);
		p->phase = phase;
		cli_progress_start(&p->bar, phase, total);
	}
	cli_progress_update(&p->bar, done);
}

void cli_phases_finish(struct cli_phases *p)
{
	if (p->phase != NULL)
		cli_progress_finish(&p->bar);
	p->phase = NULL;
}

int cli_parse_args(int argc, char **argv, struct cli_option *opts, const char *usage,
	const char *summary, int *npos, int want_pos)
{
	int n = 0, r = cli_parse(argc, argv, opts, usage, summary, &n);
	if (npos != NULL)
		*npos = n;
	if (r)
		return r > 0 ? 0 : 2;
	if (want_pos >= 0 && n != want_pos)
		return cli_usage_error("usage: %s", usage);
	return -1;
}

int cli_prepare_memory(const struct cli_option *opts, int warm)
{
	const char *s = cli_get(opts, "warm-memory");
	uint64_t mib = cli_count(s, CS_PROCMEM_WARM_MAX_MIB);
	if (mib == 0 && (s == NULL || *s == '\0' || strspn(s, "0") != strlen(s)))
		return cli_usage_error("--warm-memory takes a number of MiB from 0 to %u",
			CS_PROCMEM_WARM_MAX_MIB);
	if (warm)
		cs_procmem_warm((size_t)mib << 20, 1);
	return 0;
}

uint64_t cli_count(const char *s, uint64_t max)
{
	char *end = NULL;
	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	return errno || *end || v > max ? 0 : (uint64_t)v;
}
