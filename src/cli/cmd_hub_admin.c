/*
 * certsync hub token|device|sync|job: the administrator's client. Talks to
 * the running hub over HTTPS with the credentials in DATA/admin, verifying
 * the hub against DATA/ca/ca.crt.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/httpc.h>
#include "cli.h"
#include "cmd_hub.h"

#define RESP_MAX (64u << 20)
#define CALL_TIMEOUT_MS 60000
#define FILE_MAX (64u << 10)
#define WATCH_INTERVAL_US 500000


/* ---- client plumbing ---- */

int hub_admin_client(cs_httpc **out, const struct cli_option *opts)
{
	char *dir = hub_data_dir(opts);
	char *ca = cs_path_join(dir, "ca/ca.crt"), *crt = cs_path_join(dir, "admin/admin.crt");
	char *key = cs_path_join(dir, "admin/admin.key"), *conf = cs_path_join(dir, "hub.json");
	char url[512];
	uint8_t *data = NULL;
	size_t len;
	json_t *j = NULL;
	int rc = 0;

	const char *hub = cli_get(opts, "hub");
	if (hub) {
		snprintf(url, sizeof(url), "%s", hub);
	} else {
		if (cs_fs_read_all(&data, &len, conf, FILE_MAX) < 0) {
			rc = cli_fail("cannot read the hub configuration in %s (or give --hub URL)", dir);
			goto done;
		}
		j = json_loadb((const char *)data, len, 0, NULL);
		const char *pub = json_string_value(json_object_get(j, "public_address"));
		if (pub == NULL) {
			rc = cli_usage_error("%s has no public_address; give --hub URL", conf);
			goto done;
		}
		snprintf(url, sizeof(url), "https://%s", pub);
	}
	/* "https://host:port/" and "https://host:port" name the same hub */
	size_t ul = strlen(url);
	if (ul > 0 && url[ul - 1] == '/')
		url[ul - 1] = '\0';
	struct cs_httpc_config cfg = {
		.base_url = url, .ca_path = ca, .cert_path = crt, .key_path = key,
	};
	if (cs_httpc_new(out, &cfg) < 0)
		rc = cli_fail("cannot set up the connection to %s", url);
done:
	json_decref(j);
	free(data);
	free(dir);
	free(ca);
	free(crt);
	free(key);
	free(conf);
	return rc;
}

int hub_call(json_t **out, cs_httpc *c, const char *method, const char *path, json_t *body,
	const char *what)
{
	cs_http_resp resp = {0};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int rc = 0;

	*out = NULL;
	if (cs_httpc_request(&resp, c, method, path, text ? "application/json" : NULL, text,
		text ? strlen(text) : 0, RESP_MAX, CALL_TIMEOUT_MS) < 0) {
		rc = cli_fail("%s", what);
		goto done;
	}
	if (resp.status < 200 || resp.status > 299) {
		char msg[512];
		cs_http_resp_error(msg, sizeof(msg), &resp);
		fprintf(stderr, "certsync: %s: %s (HTTP %ld)\n", what, msg, resp.status);
		rc = 1;
		goto done;
	}
	if (resp.len > 0) {
		json_error_t err;
		*out = json_loadb((const char *)resp.body, resp.len, 0, &err);
		if (*out == NULL) {
			fprintf(stderr, "certsync: %s: the hub sent invalid JSON\n", what);
			rc = 1;
		}
	}
done:
	free(text);
	cs_http_resp_clear(&resp);
	return rc;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (s)
		printf("%s\n", s);
	free(s);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long jint(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void ago(char *out, size_t n, long long t)
{
	long long d = (long long)cs_clock_now() - t;
	if (t <= 0)
		snprintf(out, n, "never");
	else if (d < 120)
		snprintf(out, n, "%llds ago", d < 0 ? 0 : d);
	else if (d < 7200)
		snprintf(out, n, "%lldm ago", d / 60);
	else if (d < 172800)
		snprintf(out, n, "%lldh ago", d / 3600);
	else
		snprintf(out, n, "%lldd ago", d / 86400);
}

static void date(char *out, size_t n, long long t)
{
	char buf[32];
	cs_clock_format(buf, t);
	snprintf(out, n, "%.10s", buf); /* the date part of RFC 3339 */
}

/* A table printed with each column as wide as its widest cell. */
#define TABLE_COLS 8
struct table {
	int ncols;
	size_t nrows, alloc;
	char *(*cells)[TABLE_COLS];
};

static void table_row(struct table *t, ...)
{
	if (t->nrows == t->alloc) {
		size_t na = t->alloc ? t->alloc * 2 : 16;
		void *p = realloc(t->cells, na * sizeof(*t->cells));
		if (p == NULL)
			return;
		t->cells = p;
		t->alloc = na;
	}
	va_list ap;
	va_start(ap, t);
	for (int i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);
		t->cells[t->nrows][i] = strdup(s ? s : "");
	}
	va_end(ap);
	t->nrows++;
}

static void table_free(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++)
		for (int i = 0; i < t->ncols; i++)
			free(t->cells[r][i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static void table_print(struct table *t)
{
	size_t w[TABLE_COLS] = {0};
	for (size_t r = 0; r < t->nrows; r++)
		for (int i = 0; i < t->ncols; i++)
			if (t->cells[r][i] && strlen(t->cells[r][i]) > w[i])
				w[i] = strlen(t->cells[r][i]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r][i] ? t->cells[r][i] : "";
			if (i == t->ncols - 1)
				printf("%s", s);
			else
				printf("%-*s  ", (int)w[i], s);
		}
		printf("\n");
	}
	table_free(t);
}

/* Print t, or the line none when it holds only its header row; frees t. */
static void table_print_or(struct table *t, const char *none)
{
	if (t->nrows == 1) {
		printf("%s\n", none);
		table_free(t);
	} else {
		table_print(t);
	}
}

/* ---- hub token ---- */

static int token_create(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"uses", 'u', "N", "how many devices may enroll with it", "1", NULL, 0},
		{"ttl", 't', "SECONDS", "how long it stays valid", "86400", NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub token create [--uses N] [--ttl S]",
		"Create an enrollment token; give it to 'certsync device enroll'. It carries the "
		"hub's address and CA fingerprint, and a secret.", &npos, 0);
	if (rc >= 0)
		return rc;
	char *end1 = NULL, *end2 = NULL;
	long long uses = strtoll(cli_get(opts, "uses"), &end1, 10);
	long long ttl = strtoll(cli_get(opts, "ttl"), &end2, 10);
	if (*end1 || *end2 || uses < 1 || ttl < 1)
		return cli_usage_error("--uses and --ttl must be positive integers");
	cs_httpc *c = NULL;
	json_t *out = NULL, *body = json_pack("{s:I, s:I}", "uses", (json_int_t)uses, "ttl",
		(json_int_t)ttl);
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "POST", "/v1/admin/tokens", body, "token create")) == 0) {
		if (cli_flag(opts, "json"))
			print_json(out);
		else
			printf("%s\n", jstr(out, "token"));
	}
	json_decref(body);
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

int hub_cmd_token(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"create", token_create, "create an enrollment token"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub token");
}

/* ---- hub device ---- */

static int device_list(int argc, char **argv)
{
	struct cli_option opts[] = {HUB_CLIENT_OPTIONS, CLI_OPTIONS_END};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub device list [--json]",
		"List the registered devices.", &npos, 0);
	if (rc >= 0)
		return rc;
	cs_httpc *c = NULL;
	json_t *out = NULL;
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "GET", "/v1/admin/devices", NULL, "device list")) == 0) {
		if (cli_flag(opts, "json")) {
			print_json(out);
		} else {
			struct table t = {.ncols = 7};
			size_t i;
			json_t *d;
			table_row(&t, "DEVICE ID", "NAME", "STATUS", "ONLINE", "LAST SEEN", "CERT EXPIRES",
				"FOLDERS");
			json_array_foreach(json_object_get(out, "devices"), i, d) {
				char seen[32], exp[32], folders[512] = "";
				size_t k;
				json_t *f;
				ago(seen, sizeof(seen), jint(d, "last_seen"));
				date(exp, sizeof(exp), jint(d, "cert_not_after"));
				json_array_foreach(json_object_get(d, "folders"), k, f) {
					size_t fl = strlen(folders);
					snprintf(folders + fl, sizeof(folders) - fl, "%s%s", k ? "," : "",
						json_string_value(f) ? json_string_value(f) : "");
				}
				table_row(&t, jstr(d, "device_id"), jstr(d, "name"), jstr(d, "status"),
					json_is_true(json_object_get(d, "online")) ? "yes" : "no", seen, exp,
					folders[0] ? folders : "-");
			}
			table_print_or(&t, "no devices registered");
		}
	}
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

static int read_text(char **out, const char *path)
{
	uint8_t *data = NULL;
	size_t len;
	if (cs_fs_read_all(&data, &len, path, FILE_MAX) < 0)
		return cli_fail("cannot read %s", path);
	if (strlen((char *)data) != len) {
		free(data);
		return cli_usage_error("%s is not a text file", path);
	}
	*out = (char *)data;
	return 0;
}

static int device_add(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"name", 'n', "NAME", "the device's name", NULL, NULL, 0},
		{"cert", 0, "FILE", "the device's certificate (issued by this hub's CA)", NULL, NULL, 0},
		{"csr", 0, "FILE", "the device's certificate request; the hub issues a certificate",
			NULL, NULL, 0},
		{"address", 'a', "HOST:PORT", "where the device can be reached", NULL, NULL, 0},
		{"out", 'o', "FILE", "write the issued certificate here (with --csr)", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts,
		"certsync hub device add --name N (--cert FILE|--csr FILE) [--address A]",
		"Register a device from its certificate or certificate request (registration way 2). "
		"Prints the device ID; with --csr also the issued certificate (or writes it to --out).",
		&npos, 0);
	if (rc >= 0)
		return rc;
	const char *name = cli_get(opts, "name"), *cert = cli_get(opts, "cert");
	const char *csr = cli_get(opts, "csr");
	if (name == NULL || (cert == NULL) == (csr == NULL))
		return cli_usage_error("device add needs --name and exactly one of --cert and --csr");
	char *pem = NULL;
	if ((rc = read_text(&pem, cert ? cert : csr)) != 0)
		return rc;
	json_t *body = json_pack("{s:s, s:s}", "name", name, cert ? "certificate" : "csr", pem);
	if (cli_get(opts, "address"))
		json_object_set_new(body, "address", json_string(cli_get(opts, "address")));
	cs_httpc *c = NULL;
	json_t *out = NULL;
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "POST", "/v1/admin/devices", body, "device add")) == 0) {
		if (cli_flag(opts, "json")) {
			print_json(out);
		} else {
			printf("%s\n", jstr(out, "device_id"));
			const char *issued = jstr(out, "certificate");
			if (csr && cli_get(opts, "out")) {
				if (cs_fs_write_atomic(cli_get(opts, "out"), issued, strlen(issued), 0644) < 0)
					rc = cli_fail("cannot write %s", cli_get(opts, "out"));
			} else if (csr) {
				fputs(issued, stdout);
			}
		}
	}
	free(pem);
	json_decref(body);
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

/* Lower-case hex without separators, for comparing fingerprints. */
static void norm_fp(char *out, size_t n, const char *in)
{
	size_t k = 0;
	for (; *in && k + 1 < n; in++)
		if (*in != ':' && *in != ' ')
			out[k++] = (*in >= 'A' && *in <= 'F') ? (char)(*in - 'A' + 'a') : *in;
	out[k] = '\0';
}

static int device_discover(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"yes", 'y', "FINGERPRINT", "confirm without asking, if the fingerprint is this",
			NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub device discover ADDRESS [--yes FINGERPRINT]",
		"Ask the device listening at ADDRESS ('certsync device listen') for its signed "
		"information (registration way 3). Compare the fingerprint with the one the device "
		"shows; once confirmed, the hub issues and delivers its certificate.", &npos, 1);
	if (rc >= 0)
		return rc;
	const char *yes = cli_get(opts, "yes");
	int json = cli_flag(opts, "json");
	cs_httpc *c = NULL;
	json_t *out = NULL, *done = NULL, *body = json_pack("{s:s}", "address", argv[1]);
	json_t *confirm = NULL;
	if ((rc = hub_admin_client(&c, opts)) != 0 ||
	    (rc = hub_call(&out, c, "POST", "/v1/admin/devices/discover", body, "device discover")) != 0)
		goto done;
	const char *fp = jstr(out, "fingerprint");
	if (!json) {
		printf("device id:   %s\n", jstr(out, "device_id"));
		printf("name:        %s\n", jstr(out, "name"));
		printf("fingerprint: %s\n", fp);
	}
	if (yes) {
		char a[128], b[128];
		norm_fp(a, sizeof(a), yes);
		norm_fp(b, sizeof(b), fp);
		if (strcmp(a, b) != 0) {
			fprintf(stderr, "certsync: device discover: the fingerprint does not match; "
				"not registering\n");
			rc = 1;
			goto done;
		}
	} else if (isatty(STDIN_FILENO)) {
		char line[32];
		printf("Confirm this fingerprint? [y/N] ");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL ||
		    (strcmp(line, "y\n") != 0 && strcmp(line, "Y\n") != 0 && strcmp(line, "yes\n") != 0)) {
			fprintf(stderr, "certsync: device discover: not confirmed\n");
			rc = 1;
			goto done;
		}
	} else {
		rc = cli_usage_error("device discover: stdin is not a terminal; confirm with "
			"--yes FINGERPRINT");
		goto done;
	}
	char path[128];
	snprintf(path, sizeof(path), "/v1/admin/devices/discover/%s/confirm", jstr(out, "pending"));
	confirm = json_pack("{s:s}", "fingerprint", fp);
	if ((rc = hub_call(&done, c, "POST", path, confirm, "device discover")) != 0)
		goto done;
	if (json)
		print_json(done);
	else
		printf("registered %s\n", jstr(done, "device_id"));
done:
	json_decref(body);
	json_decref(confirm);
	json_decref(out);
	json_decref(done);
	cs_httpc_free(c);
	return rc;
}

static int device_revoke(int argc, char **argv)
{
	struct cli_option opts[] = {HUB_CLIENT_OPTIONS, CLI_OPTIONS_END};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub device revoke ID",
		"Revoke a device: its certificate is listed in the CRL, the hub refuses it, and its "
		"unfinished jobs fail.", &npos, 1);
	if (rc >= 0)
		return rc;
	char path[256];
	snprintf(path, sizeof(path), "/v1/admin/devices/%s/revoke", argv[1]);
	if (strchr(argv[1], '/') || strchr(argv[1], '?'))
		return cli_usage_error("'%s' is not a device ID", argv[1]);
	cs_httpc *c = NULL;
	json_t *out = NULL, *body = json_object();
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "POST", path, body, "device revoke")) == 0)
		printf("revoked\n");
	json_decref(body);
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

int hub_cmd_device(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"list", device_list, "list registered devices"},
		{"add", device_add, "register a device from its certificate or CSR"},
		{"discover", device_discover, "register a device by asking it for its information"},
		{"revoke", device_revoke, "revoke a device"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub device");
}

/* ---- jobs ---- */

static int final_state(const char *s)
{
	return strcmp(s, "done") == 0 || strcmp(s, "failed") == 0;
}

static void bar(char *out, size_t n, long long done, long long total)
{
	const int width = 20;
	int fill = total > 0 ? (int)((double)done / (double)total * width) : 0;
	if (fill > width)
		fill = width;
	if (fill < 0)
		fill = 0;
	char b[32];
	for (int i = 0; i < width; i++)
		b[i] = i < fill ? '#' : '.';
	b[width] = '\0';
	snprintf(out, n, "[%s] %3d%%", b, total > 0 ? (int)(done * 100 / total) : 0);
}

/* Lines printed by the last hub_job_print, for redrawing in place. */
static int printed_lines;

void hub_job_print(json_t *job, int json)
{
	if (json) {
		print_json(job);
		return;
	}
	char up[32], created[32];
	cli_human_bytes(up, sizeof(up), (unsigned long long)jint(job, "bytes_uploaded"));
	cs_clock_format(created, jint(job, "created"));
	printf("job %lld  folder %s  state %s  created %s\n", jint(job, "job"), jstr(job, "folder"),
		jstr(job, "state"), created);
	printf("source %s  uploaded %s  records %lld\n", jstr(job, "source"), up,
		jint(job, "records"));
	printed_lines = 2;
	if (jstr(job, "reason")[0]) {
		printf("reason: %s\n", jstr(job, "reason"));
		printed_lines++;
	}
	struct table t = {.ncols = 6};
	size_t i;
	json_t *d;
	table_row(&t, "DESTINATION", "NAME", "STATE", "PROGRESS", "FILES", "DETAIL");
	json_array_foreach(json_object_get(job, "destinations"), i, d) {
		char pb[64], files[64], detail[300], a[32], b[32];
		const char *st = jstr(d, "state");
		long long bd = jint(d, "bytes_done"), bt = jint(d, "bytes_total");
		if (strcmp(st, "applied") == 0)
			bar(pb, sizeof(pb), 1, 1);
		else
			bar(pb, sizeof(pb), bd, bt);
		snprintf(files, sizeof(files), "%lld/%lld", jint(d, "files_done"), jint(d, "files_total"));
		cli_human_bytes(a, sizeof(a), (unsigned long long)bd);
		cli_human_bytes(b, sizeof(b), (unsigned long long)bt);
		if (strcmp(st, "failed") == 0)
			snprintf(detail, sizeof(detail), "%s", jstr(d, "reason"));
		else
			snprintf(detail, sizeof(detail), "%s / %s", a, b);
		table_row(&t, jstr(d, "device"), jstr(d, "name"), st, pb, files, detail);
	}
	printed_lines += (int)t.nrows;
	table_print(&t);
	fflush(stdout);
}

static int job_outcome(json_t *job)
{
	size_t i;
	json_t *d;
	if (strcmp(jstr(job, "state"), "done") != 0)
		return 1;
	json_array_foreach(json_object_get(job, "destinations"), i, d)
		if (strcmp(jstr(d, "state"), "applied") != 0)
			return 1;
	return 0;
}

int hub_job_watch(cs_httpc *c, long long job, int json)
{
	char path[64];
	int tty = isatty(STDOUT_FILENO) && !json;
	int drawn = 0;
	snprintf(path, sizeof(path), "/v1/admin/jobs/%lld", job);
	for (;;) {
		json_t *out = NULL;
		if (hub_call(&out, c, "GET", path, NULL, "job show") != 0)
			return 1;
		int final = final_state(jstr(out, "state"));
		if (tty) {
			/* move up over the previous drawing and clear it */
			if (drawn)
				printf("\033[%dA\033[J", printed_lines);
			hub_job_print(out, 0);
			drawn = 1;
		} else if (final) {
			hub_job_print(out, json);
		}
		if (final) {
			int rc = job_outcome(out);
			json_decref(out);
			return rc;
		}
		json_decref(out);
		usleep(WATCH_INTERVAL_US);
	}
}

static int hub_sync(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"folder", 'f', "FOLDER", "the folder to sync", NULL, NULL, 0},
		{"from", 0, "DEVICE", "the source device", NULL, NULL, 0},
		{"to", 0, "DEVICE,...", "destination devices (repeatable)", NULL, NULL, 1},
		{"all", 0, NULL, "every other active device carrying the folder", NULL, NULL, 0},
		{"wait", 'w', NULL, "follow the job until it ends; exit 1 if any destination failed",
			NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts,
		"certsync hub sync --folder F --from A (--to B,C | --all) [--wait]",
		"Start a sync job: the hub asks the source for the changes since each destination's "
		"history and relays them. Prints the job id.", &npos, 0);
	if (rc >= 0)
		return rc;
	const char *folder = cli_get(opts, "folder"), *from = cli_get(opts, "from");
	const char *to = cli_get(opts, "to");
	int all = cli_flag(opts, "all");
	if (folder == NULL || from == NULL || (to == NULL) == !all)
		return cli_usage_error("sync needs --folder, --from and exactly one of --to and --all");
	json_t *body = json_pack("{s:s, s:s}", "folder", folder, "source", from);
	if (all) {
		json_object_set_new(body, "all", json_true());
	} else {
		json_t *arr = json_array();
		char *copy = strdup(to);
		for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			json_array_append_new(arr, json_string(t));
		free(copy);
		json_object_set_new(body, "destinations", arr);
	}
	cs_httpc *c = NULL;
	json_t *out = NULL;
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "POST", "/v1/admin/jobs", body, "sync")) == 0) {
		long long job = jint(out, "job");
		if (cli_flag(opts, "json") && !cli_flag(opts, "wait"))
			print_json(out);
		else
			printf("%lld\n", job);
		fflush(stdout);
		if (cli_flag(opts, "wait"))
			rc = hub_job_watch(c, job, cli_flag(opts, "json"));
	}
	json_decref(body);
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

int hub_cmd_sync(int argc, char **argv)
{
	return hub_sync(argc, argv);
}

static int job_show(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"watch", 'w', NULL, "follow the job until it ends; exit 1 if any destination failed",
			NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub job show ID [--watch] [--json]",
		"Show a job and each destination's state and progress.", &npos, 1);
	if (rc >= 0)
		return rc;
	char *end = NULL;
	long long id = strtoll(argv[1], &end, 10);
	if (*end || id < 1)
		return cli_usage_error("'%s' is not a job id", argv[1]);
	cs_httpc *c = NULL;
	json_t *out = NULL;
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/jobs/%lld", id);
	if ((rc = hub_admin_client(&c, opts)) != 0)
		goto done;
	if (cli_flag(opts, "watch"))
		rc = hub_job_watch(c, id, cli_flag(opts, "json"));
	else if ((rc = hub_call(&out, c, "GET", path, NULL, "job show")) == 0)
		hub_job_print(out, cli_flag(opts, "json"));
done:
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

static int job_list(int argc, char **argv)
{
	struct cli_option opts[] = {
		HUB_CLIENT_OPTIONS,
		{"limit", 'n', "N", "how many of the latest jobs", "50", NULL, 0},
		CLI_OPTIONS_END,
	};
	int npos, rc = cli_parse_args(argc, argv, opts, "certsync hub job list [--limit N] [--json]",
		"List the latest jobs, newest first.", &npos, 0);
	if (rc >= 0)
		return rc;
	char *end = NULL;
	long long limit = strtoll(cli_get(opts, "limit"), &end, 10);
	if (*end || limit < 1 || limit > 1000)
		return cli_usage_error("--limit must be 1..1000");
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/jobs?limit=%lld", limit);
	cs_httpc *c = NULL;
	json_t *out = NULL;
	if ((rc = hub_admin_client(&c, opts)) == 0 &&
	    (rc = hub_call(&out, c, "GET", path, NULL, "job list")) == 0) {
		if (cli_flag(opts, "json")) {
			print_json(out);
		} else {
			struct table t = {.ncols = 6};
			size_t i, k;
			json_t *j, *d;
			table_row(&t, "JOB", "STATE", "FOLDER", "SOURCE", "APPLIED", "CREATED");
			json_array_foreach(json_object_get(out, "jobs"), i, j) {
				char id[32], applied[64], created[32];
				size_t ok = 0, all = json_array_size(json_object_get(j, "destinations"));
				json_array_foreach(json_object_get(j, "destinations"), k, d)
					ok += strcmp(jstr(d, "state"), "applied") == 0;
				snprintf(id, sizeof(id), "%lld", jint(j, "job"));
				snprintf(applied, sizeof(applied), "%zu/%zu", ok, all);
				cs_clock_format(created, jint(j, "created"));
				table_row(&t, id, jstr(j, "state"), jstr(j, "folder"), jstr(j, "source"),
					applied, created);
			}
			table_print_or(&t, "no jobs");
		}
	}
	json_decref(out);
	cs_httpc_free(c);
	return rc;
}

int hub_cmd_job(int argc, char **argv)
{
	static const struct cli_command cmds[] = {
		{"show", job_show, "show a job's progress"},
		{"list", job_list, "list the latest jobs"},
		{NULL, NULL, NULL},
	};
	return cli_dispatch(argc, argv, cmds, "certsync hub job");
}
