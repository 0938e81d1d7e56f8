/*
 * Load for the signature verification cluster (bench/README.md, "sigd").
 *
 *   sigd_bench prepare DIR N
 *       a trust anchor (DIR/anchor.crt), N P-256 certificates it issued
 *       (DIR/certs.pem) and one signed message per certificate
 *       (DIR/items.txt: "fingerprint base64(data) base64(signature)")
 *   sigd_bench cold URL CA ITEMS
 *       one verification per item, one after the other, each of a
 *       certificate the node does not hold yet: latency of a cold fetch
 *   sigd_bench warm URL CA ITEMS THREADS SECONDS BATCH
 *       THREADS connections sending batches of BATCH verifications of
 *       certificates the node holds, for SECONDS: verifications per second
 *
 * Prints "key value" lines.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/httpc.h>
#include <certsync/identity.h>

#define DIE(...) do { fprintf(stderr, "sigd_bench: " __VA_ARGS__); \
	fprintf(stderr, ": %s\n", cs_error_last()); exit(1); } while (0)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int prepare(const char *dir, int n)
{
	char *cadir = cs_path_join(dir, "ca"), *pem_path = cs_path_join(dir, "certs.pem");
	char *items_path = cs_path_join(dir, "items.txt"), *anchor = cs_path_join(dir, "anchor.crt");
	cs_ca *ca = NULL;
	FILE *pem, *items;
	if (cs_fs_mkdirs(dir, 0700) < 0 || cs_ca_create(cadir, "bench issuing CA") < 0 || cs_ca_open(&ca, cadir) < 0 ||
	    cs_cert_save(cs_ca_cert(ca), anchor) < 0)
		DIE("CA");
	if ((pem = fopen(pem_path, "w")) == NULL || (items = fopen(items_path, "w")) == NULL)
		DIE("open output");
	for (int i = 0; i < n; i++) {
		cs_key *k = NULL;
		cs_cert *c = NULL;
		char *csr = NULL, *text = NULL, name[32], fp[CS_FINGERPRINT_SIZE], msg[64], *d64 = NULL, *s64 = NULL;
		uint8_t *sig = NULL;
		size_t sl = 0;
		snprintf(name, sizeof(name), "signer-%d", i);
		snprintf(msg, sizeof(msg), "message %d for the verification cluster", i);
		if (cs_key_generate(&k) < 0 || cs_csr_new(&csr, k, name) < 0 ||
		    cs_ca_issue_device(&c, ca, csr, name, 30) < 0 || cs_cert_to_pem(&text, c) < 0 ||
		    cs_cert_fingerprint(fp, c) < 0 || cs_key_sign(&sig, &sl, k, msg, strlen(msg)) < 0 ||
		    cs_base64_encode(&d64, msg, strlen(msg)) < 0 || cs_base64_encode(&s64, sig, sl) < 0)
			DIE("certificate %d", i);
		fputs(text, pem);
		fprintf(items, "%s %s %s\n", fp, d64, s64);
		free(csr), free(text), free(sig), free(d64), free(s64);
		cs_cert_free(c);
		cs_key_free(k);
	}
	fclose(pem);
	fclose(items);
	cs_ca_free(ca);
	printf("prepared %d\n", n);
	free(cadir), free(pem_path), free(items_path), free(anchor);
	return 0;
}

struct item {
	char body[1280]; /* the JSON of one verification */
};

static struct item *load_items(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	struct item *it = NULL;
	char fp[128], d[512], s[512];
	*n = 0;
	if (f == NULL)
		DIE("open %s", path);
	while (fscanf(f, "%127s %511s %511s", fp, d, s) == 3) {
		struct item *m = realloc(it, (*n + 1) * sizeof(*it));
		if (m == NULL)
			DIE("memory");
		it = m;
		snprintf(it[*n].body, sizeof(it[*n].body),
			"{\"cert\":\"%s\",\"alg\":\"ecdsa-p256-sha256\",\"data\":\"%s\",\"signature\":\"%s\"}", fp, d, s);
		(*n)++;
	}
	fclose(f);
	return it;
}

static cs_httpc *client(const char *url, const char *ca)
{
	struct cs_httpc_config hc = {.base_url = url, .ca_path = ca, .connect_timeout_ms = 5000};
	cs_httpc *c = NULL;
	if (cs_httpc_new(&c, &hc) < 0)
		DIE("client");
	return c;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cold(const char *url, const char *ca, const char *items_path)
{
	size_t n;
	struct item *it = load_items(items_path, &n);
	double *lat = calloc(n, sizeof(*lat));
	cs_httpc *c = client(url, ca);
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		cs_http_resp r = {0};
		double t = now_s();
		if (cs_httpc_request(&r, c, "POST", "/v1/verify", "application/json", it[i].body, strlen(it[i].body),
			    1 << 20, 30000) < 0)
			DIE("request");
		lat[i] = now_s() - t;
		ok += r.status == 200 && strstr((const char *)r.body, "\"fetched\"") != NULL;
		cs_http_resp_clear(&r);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("cold_requests %zu\ncold_fetched %zu\ncold_p50_ms %.2f\ncold_p99_ms %.2f\ncold_max_ms %.2f\n", n, ok,
		lat[n / 2] * 1000, lat[(n * 99) / 100] * 1000, lat[n - 1] * 1000);
	cs_httpc_free(c);
	free(lat);
	free(it);
	return ok == n ? 0 : 1;
}

struct warm {
	const char *url, *ca;
	char *body;
	size_t len;
	int batch;
	double until;
	unsigned long long done, bad;
};

static void *warm_main(void *ud)
{
	struct warm *w = ud;
	cs_httpc *c = client(w->url, w->ca);
	char want[64];
	snprintf(want, sizeof(want), w->batch > 1 ? "\"valid\":%d," : "\"valid\":true", w->batch);
	while (now_s() < w->until) {
		cs_http_resp r = {0};
		if (cs_httpc_request(&r, c, "POST", "/v1/verify", "application/json", w->body, w->len, 16 << 20,
			    30000) < 0)
			DIE("request");
		if (r.status == 200 && strstr((const char *)r.body, want) != NULL)
			w->done += (unsigned long long)w->batch;
		else
			w->bad++;
		cs_http_resp_clear(&r);
	}
	cs_httpc_free(c);
	return NULL;
}

static int warm(const char *url, const char *ca, const char *items_path, int threads, double secs, int batch)
{
	size_t n;
	struct item *it = load_items(items_path, &n);
	struct warm w[16];
	pthread_t t[16];
	if (threads < 1 || threads > 16 || batch < 1 || batch > 1000 || n == 0)
		DIE("arguments");
	double start = now_s();
	for (int i = 0; i < threads; i++) {
		/* each connection sends its own mix of the certificates */
		size_t cap = (size_t)batch * 1300 + 64, off = 0;
		w[i] = (struct warm){.url = url, .ca = ca, .batch = batch, .until = start + secs};
		w[i].body = malloc(cap);
		if (batch == 1) {
			off = (size_t)snprintf(w[i].body, cap, "%s", it[(size_t)i % n].body);
		} else {
			off = (size_t)snprintf(w[i].body, cap, "{\"items\":[");
			for (int k = 0; k < batch; k++)
				off += (size_t)snprintf(w[i].body + off, cap - off, "%s%s", k ? "," : "",
					it[((size_t)i * 7919 + (size_t)k) % n].body);
			off += (size_t)snprintf(w[i].body + off, cap - off, "]}");
		}
		w[i].len = off;
		pthread_create(&t[i], NULL, warm_main, &w[i]);
	}
	unsigned long long done = 0, bad = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		done += w[i].done;
		bad += w[i].bad;
		free(w[i].body);
	}
	double el = now_s() - start;
	printf("warm_verifications %llu\nwarm_seconds %.2f\nwarm_per_s %.0f\nwarm_bad_answers %llu\nwarm_batch %d\n"
		"warm_threads %d\n", done, el, (double)done / el, bad, batch, threads);
	free(it);
	return bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "prepare") == 0)
		return prepare(argv[2], atoi(argv[3]));
	if (argc == 5 && strcmp(argv[1], "cold") == 0)
		return cold(argv[2], argv[3], argv[4]);
	if (argc == 8 && strcmp(argv[1], "warm") == 0)
		return warm(argv[2], argv[3], argv[4], atoi(argv[5]), atof(argv[6]), atoi(argv[7]));
	fprintf(stderr, "usage: sigd_bench prepare DIR N | cold URL CA ITEMS | warm URL CA ITEMS THREADS SECONDS BATCH\n");
	return 2;
}
