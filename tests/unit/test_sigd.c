/* Unit tests for the signature verification node (include/certsync/sigd.h,
 * src/lib/sigd/): the configuration and `sigd init` (config.c), the
 * verification requests and fingerprints (request.c), the certificate store
 * against trust anchors and CRLs (certstore.c), and the latency histogram
 * (server.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/sigd.h>
#include "lib/identity/internal.h"
#include "lib/sigd/local.h"
#include "helpers.h"

#define DAY 86400

/* Two CAs (the trust anchor and a stranger) and the certificates the store
 * tests add, made once: key generation dominates otherwise. */
struct fixture {
	char *dir;
	char *anchor_dir, *anchor_crt;  /* the trust anchor: its directory, its PEM */
	char *other_dir, *other_crt;    /* another CA */
	cs_ca *anchor, *other;
	cs_key *key;                    /* the leaves' key (one is enough) */
	cs_cert *alice, *bob, *revoked; /* device certificates by the anchor */
	cs_cert *server;                /* a server certificate by the anchor */
	cs_cert *mallory;               /* a device certificate by the other CA */
};
static struct fixture fx;

static char *path_in(const char *name)
{
	char *p = cs_path_join(fx.dir, name);
	assert_non_null(p);
	return p;
}

static int issue_device(cs_cert **out, cs_ca *ca, const char *name)
{
	char *csr = NULL;
	int r = cs_csr_new(&csr, fx.key, name);
	if (r == 0)
		r = cs_ca_issue_device(out, ca, csr, NULL, 30);
	free(csr);
	return r;
}

/* The CA's certificate as a PEM file at path. */
static int write_ca_pem(const cs_ca *ca, const char *path)
{
	char *pem = NULL;
	int r = cs_cert_to_pem(&pem, cs_ca_cert(ca));
	if (r == 0)
		r = cs_fs_write_atomic(path, pem, strlen(pem), 0644);
	free(pem);
	return r;
}

static int setup(void **state)
{
	(void)state;
	static const char *const dns[] = {"sigd.example", NULL};
	fx.dir = cs_test_tmpdir("sigd");
	fx.anchor_dir = cs_path_join(fx.dir, "anchor-ca");
	fx.other_dir = cs_path_join(fx.dir, "other-ca");
	fx.anchor_crt = cs_path_join(fx.dir, "anchor.crt");
	fx.other_crt = cs_path_join(fx.dir, "other.crt");
	if (cs_ca_create(fx.anchor_dir, "sigd test anchor") != 0 || cs_ca_open(&fx.anchor, fx.anchor_dir) != 0
			|| cs_ca_create(fx.other_dir, "sigd test other") != 0 || cs_ca_open(&fx.other, fx.other_dir) != 0
			|| write_ca_pem(fx.anchor, fx.anchor_crt) != 0 || write_ca_pem(fx.other, fx.other_crt) != 0
			|| cs_key_generate(&fx.key) != 0
			|| issue_device(&fx.alice, fx.anchor, "alice") != 0
			|| issue_device(&fx.bob, fx.anchor, "bob") != 0
			|| issue_device(&fx.revoked, fx.anchor, "revoked") != 0
			|| issue_device(&fx.mallory, fx.other, "mallory") != 0
			|| cs_ca_issue_server(&fx.server, fx.anchor, fx.key, "server", dns, NULL, 30) != 0) {
		fprintf(stderr, "setup: %s\n", cs_error_last());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cs_cert_free(fx.alice);
	cs_cert_free(fx.bob);
	cs_cert_free(fx.revoked);
	cs_cert_free(fx.server);
	cs_cert_free(fx.mallory);
	cs_key_free(fx.key);
	cs_ca_free(fx.anchor);
	cs_ca_free(fx.other);
	cs_fs_remove_tree(fx.dir);
	free(fx.anchor_dir);
	free(fx.other_dir);
	free(fx.anchor_crt);
	free(fx.other_crt);
	free(fx.dir);
	memset(&fx, 0, sizeof(fx));
	return 0;
}

static void assert_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			fail_msg("byte %zu of a refused result is not zero", i);
}

/* ---- configuration ---- */

/* The members every configuration needs, and its trust anchors. */
#define COMMON "\"name\": \"n1\", \"listen\": \"127.0.0.1:9443\", \"data\": \"data\", " \
	"\"tls_cert\": \"tls/server.crt\", \"tls_key\": \"tls/server.key\", \"cluster_ca\": \"cluster-ca\""
#define ANCHORS "\"trust_anchors\": [\"anchor.crt\"]"
#define BASE "/srv/node"

static int parse_config(struct cs_sigd_config *c, const char *json)
{
	return cs_sigd_config_parse(c, json, strlen(json), BASE);
}

static void test_config_defaults(void **state)
{
	(void)state;
	struct cs_sigd_config c;
	cs_assert_ok(parse_config(&c, "{" COMMON ", \"role\": \"center\", " ANCHORS "}"));
	assert_string_equal(c.name, "n1");
	assert_int_equal(c.role, CS_SIGD_CENTER);
	assert_int_equal(c.mode, CS_SIGD_MODE_FETCH); /* the default mode */
	assert_string_equal(c.listen, "127.0.0.1:9443");
	assert_int_equal(c.npeers, 0);
	assert_int_equal(c.nanchors, 1);
	assert_int_equal(c.ncrls, 0);
	assert_int_equal(c.negative_cache_ms, 30000);
	assert_int_equal(c.health_interval_ms, 2000);
	assert_int_equal(c.connect_timeout_ms, 1000);
	assert_int_equal(c.request_timeout_ms, 3000);
	assert_int_equal(c.fetch_threads, 4);
	cs_sigd_config_clear(&c);
	assert_zero(&c, sizeof(c));
	cs_sigd_config_clear(&c); /* a cleared struct clears again */
	cs_sigd_config_clear(NULL);

	/* every member given */
	cs_assert_ok(parse_config(&c, "{" COMMON ", \"role\": \"edge\", \"mode\": \"local\", "
		"\"peers\": [\"https://c1:9443\", \"https://c2:9443\"], "
		"\"trust_anchors\": [\"a1.crt\", \"a2.crt\"], \"crls\": [\"a1.crl\"], "
		"\"negative_cache_ms\": 0, \"health_interval_ms\": 100, \"connect_timeout_ms\": 60000, "
		"\"request_timeout_ms\": 600000, \"fetch_threads\": 64, \"unknown\": [1, 2]}"));
	assert_int_equal(c.role, CS_SIGD_EDGE);
	assert_int_equal(c.mode, CS_SIGD_MODE_LOCAL);
	assert_int_equal(c.npeers, 2);
	assert_string_equal(c.peers[0], "https://c1:9443");
	assert_string_equal(c.peers[1], "https://c2:9443");
	assert_int_equal(c.nanchors, 2);
	assert_int_equal(c.ncrls, 1);
	assert_int_equal(c.negative_cache_ms, 0);
	assert_int_equal(c.health_interval_ms, 100);
	assert_int_equal(c.connect_timeout_ms, 60000);
	assert_int_equal(c.request_timeout_ms, 600000);
	assert_int_equal(c.fetch_threads, 64);
	cs_sigd_config_clear(&c);

	/* null counts as absent */
	cs_assert_ok(parse_config(&c, "{" COMMON ", \"role\": \"center\", \"mode\": null, \"peers\": null, "
		"\"crls\": null, \"fetch_threads\": null, " ANCHORS "}"));
	assert_int_equal(c.mode, CS_SIGD_MODE_FETCH);
	assert_int_equal(c.fetch_threads, 4);
	cs_sigd_config_clear(&c);
}

static void test_config_paths(void **state)
{
	(void)state;
	struct cs_sigd_config c;
	cs_assert_ok(parse_config(&c, "{\"name\": \"n1\", \"role\": \"center\", \"listen\": \"127.0.0.1:1\", "
		"\"data\": \".\", \"tls_cert\": \"tls/server.crt\", \"tls_key\": \"/etc/sigd/server.key\", "
		"\"cluster_ca\": \"../cluster-ca\", \"peers\": [\"https://relative/not/a/path\"], "
		"\"trust_anchors\": [\"anchor.crt\", \"/etc/ssl/other.crt\"], \"crls\": [\"crl/anchor.crl\"]}"));
	/* relative paths are taken from the base directory, absolute ones kept */
	assert_string_equal(c.data_dir, BASE "/.");
	assert_string_equal(c.tls_cert, BASE "/tls/server.crt");
	assert_string_equal(c.tls_key, "/etc/sigd/server.key");
	assert_string_equal(c.cluster_ca, BASE "/../cluster-ca");
	assert_string_equal(c.anchors[0], BASE "/anchor.crt");
	assert_string_equal(c.anchors[1], "/etc/ssl/other.crt");
	assert_string_equal(c.crls[0], BASE "/crl/anchor.crl");
	/* peers are URLs, not paths */
	assert_string_equal(c.peers[0], "https://relative/not/a/path");
	cs_sigd_config_clear(&c);

	/* a base with a trailing '/' gives the same paths */
	const char *json = "{" COMMON ", \"role\": \"center\", " ANCHORS "}";
	cs_assert_ok(cs_sigd_config_parse(&c, json, strlen(json), BASE "/"));
	assert_string_equal(c.tls_cert, BASE "/tls/server.crt");
	assert_string_equal(c.anchors[0], BASE "/anchor.crt");
	cs_sigd_config_clear(&c);
}

/* A refused configuration: the code, a word of the message, a zeroed struct. */
static void refused(const char *json, int code, const char *what)
{
	struct cs_sigd_config c;
	memset(&c, 0xa5, sizeof(c));
	int r = parse_config(&c, json);
	if (r != code)
		fail_msg("%s: got %d (%s), want %d", json, r, cs_error_last(), code);
	if (what != NULL && strstr(cs_error_last(), what) == NULL)
		fail_msg("%s: message \"%s\" does not mention %s", json, cs_error_last(), what);
	assert_zero(&c, sizeof(c));
	cs_sigd_config_clear(&c);
}

static void test_config_refused(void **state)
{
	(void)state;
	/* role and mode */
	refused("{" COMMON ", \"role\": \"middle\", " ANCHORS "}", CS_EMALFORMED, "role");
	refused("{" COMMON ", \"role\": \"Center\", " ANCHORS "}", CS_EMALFORMED, "role");
	refused("{" COMMON ", \"role\": 1, " ANCHORS "}", CS_EMALFORMED, "role");
	refused("{" COMMON ", " ANCHORS "}", CS_EINVAL, "role");
	refused("{" COMMON ", \"role\": \"center\", \"mode\": \"push\", " ANCHORS "}", CS_EMALFORMED, "mode");
	refused("{" COMMON ", \"role\": \"center\", \"mode\": \"\", " ANCHORS "}", CS_EMALFORMED, "mode");
	/* trust anchors: at least one, at most CS_SIGD_ANCHORS_MAX, non-empty strings */
	refused("{" COMMON ", \"role\": \"center\"}", CS_EINVAL, "trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": []}", CS_EINVAL, "trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": null}", CS_EINVAL, "trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": \"anchor.crt\"}", CS_EMALFORMED,
		"trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": [\"\"]}", CS_EMALFORMED, "trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": [\"a\", 1]}", CS_EMALFORMED,
		"trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"trust_anchors\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
		"\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", CS_ELIMIT, "trust_anchors");
	refused("{" COMMON ", \"role\": \"center\", \"crls\": [\"\"], " ANCHORS "}", CS_EMALFORMED, "crls");
	/* an edge that fetches needs the centers; a center or a local edge does not */
	refused("{" COMMON ", \"role\": \"edge\", " ANCHORS "}", CS_EINVAL, "peers");
	refused("{" COMMON ", \"role\": \"edge\", \"mode\": \"fetch\", \"peers\": [], " ANCHORS "}", CS_EINVAL,
		"peers");
	struct cs_sigd_config c;
	cs_assert_ok(parse_config(&c, "{" COMMON ", \"role\": \"edge\", \"mode\": \"local\", " ANCHORS "}"));
	cs_sigd_config_clear(&c);
	cs_assert_ok(parse_config(&c, "{" COMMON ", \"role\": \"center\", \"mode\": \"fetch\", " ANCHORS "}"));
	cs_sigd_config_clear(&c);
	/* peers are https:// URLs, at most CS_SIGD_PEERS_MAX */
	refused("{" COMMON ", \"role\": \"edge\", \"peers\": [\"http://c1:9443\"], " ANCHORS "}", CS_EMALFORMED,
		"https://");
	refused("{" COMMON ", \"role\": \"edge\", \"peers\": [\"https://c1\", \"c2:9443\"], " ANCHORS "}",
		CS_EMALFORMED, "peers");
	refused("{" COMMON ", \"role\": \"edge\", \"peers\": [\"HTTPS://c1\"], " ANCHORS "}", CS_EMALFORMED,
		"peers");
	refused("{" COMMON ", \"role\": \"edge\", \"peers\": [\"https://1\",\"https://2\",\"https://3\","
		"\"https://4\",\"https://5\",\"https://6\",\"https://7\",\"https://8\",\"https://9\",\"https://10\","
		"\"https://11\",\"https://12\",\"https://13\",\"https://14\",\"https://15\",\"https://16\","
		"\"https://17\"], " ANCHORS "}", CS_ELIMIT, "peers");
	/* timeouts and threads: one past each end of their ranges, and not integers */
	static const struct { const char *key; long long lo, hi; } ranges[] = {
		{"negative_cache_ms", 0, 86400000},
		{"health_interval_ms", 100, 3600000},
		{"connect_timeout_ms", 10, 60000},
		{"request_timeout_ms", 10, 600000},
		{"fetch_threads", 1, 64},
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		char json[1024];
		const long long vals[] = {ranges[i].lo - 1, ranges[i].hi + 1};
		for (size_t k = 0; k < 2; k++) {
			snprintf(json, sizeof(json), "{" COMMON ", \"role\": \"center\", \"%s\": %lld, " ANCHORS "}",
				ranges[i].key, vals[k]);
			refused(json, CS_EMALFORMED, ranges[i].key);
		}
		snprintf(json, sizeof(json), "{" COMMON ", \"role\": \"center\", \"%s\": \"%lld\", " ANCHORS "}",
			ranges[i].key, ranges[i].lo);
		refused(json, CS_EMALFORMED, ranges[i].key);
		snprintf(json, sizeof(json), "{" COMMON ", \"role\": \"center\", \"%s\": %lld.5, " ANCHORS "}",
			ranges[i].key, ranges[i].lo);
		refused(json, CS_EMALFORMED, ranges[i].key);
		/* both ends are inside */
		for (size_t k = 0; k < 2; k++) {
			snprintf(json, sizeof(json), "{" COMMON ", \"role\": \"center\", \"%s\": %lld, " ANCHORS "}",
				ranges[i].key, k ? ranges[i].hi : ranges[i].lo);
			cs_assert_ok(parse_config(&c, json));
			cs_sigd_config_clear(&c);
		}
	}
	/* duplicate keys: the same file must not mean two things */
	refused("{" COMMON ", \"role\": \"center\", \"role\": \"edge\", " ANCHORS "}", CS_EMALFORMED, NULL);
	refused("{" COMMON ", \"role\": \"center\", " ANCHORS ", \"trust_anchors\": [\"b.crt\"]}", CS_EMALFORMED,
		NULL);
	/* names, required members, paths */
	refused("{\"name\": \"n 1\", \"listen\": \"x\", \"data\": \"d\", \"tls_cert\": \"c\", \"tls_key\": \"k\", "
		"\"cluster_ca\": \"ca\", \"role\": \"center\", " ANCHORS "}", CS_EMALFORMED, "name");
	refused("{\"name\": \"n1\", \"data\": \"d\", \"tls_cert\": \"c\", \"tls_key\": \"k\", "
		"\"cluster_ca\": \"ca\", \"role\": \"center\", " ANCHORS "}", CS_EINVAL, "listen");
	refused("{\"name\": \"n1\", \"listen\": \"x\", \"tls_cert\": \"c\", \"tls_key\": \"k\", "
		"\"cluster_ca\": \"ca\", \"role\": \"center\", " ANCHORS "}", CS_EINVAL, "data");
	refused("{\"name\": \"n1\", \"listen\": \"x\", \"data\": \"d\", \"tls_cert\": \"\", \"tls_key\": \"k\", "
		"\"cluster_ca\": \"ca\", \"role\": \"center\", " ANCHORS "}", CS_EMALFORMED, "tls_cert");
	refused("{\"name\": \"n1\", \"listen\": \"x\", \"data\": \"d\", \"tls_cert\": \"c\", \"tls_key\": \"k\", "
		"\"cluster_ca\": \"c\\u0000a\", \"role\": \"center\", " ANCHORS "}", CS_EMALFORMED, NULL);
	/* not one JSON object */
	refused("", CS_EMALFORMED, NULL);
	refused("[]", CS_EMALFORMED, NULL);
	refused("{" COMMON ", \"role\": \"center\", " ANCHORS "} {}", CS_EMALFORMED, NULL);
	refused("{" COMMON ", \"role\": \"center\", " ANCHORS, CS_EMALFORMED, NULL);
}

static void test_config_load(void **state)
{
	(void)state;
	char *dir = path_in("load"), *file = path_in("load/sigd.json");
	const char *json = "{" COMMON ", \"role\": \"center\", " ANCHORS "}";
	cs_test_write_file(dir, "sigd.json", json, strlen(json));
	struct cs_sigd_config c;
	cs_assert_ok(cs_sigd_config_load(&c, file));
	/* relative paths are taken from the file's directory */
	char *want = cs_path_join(dir, "tls/server.crt");
	assert_string_equal(c.tls_cert, want);
	free(want);
	want = cs_path_join(dir, "anchor.crt");
	assert_string_equal(c.anchors[0], want);
	free(want);
	cs_sigd_config_clear(&c);

	/* the error names the file */
	char *missing = path_in("load/none.json");
	assert_int_equal(cs_sigd_config_load(&c, missing), CS_ENOTFOUND);
	assert_non_null(strstr(cs_error_last(), missing));
	assert_zero(&c, sizeof(c));
	const char *bad_json = "{\"role\": \"edge\"}";
	cs_test_write_file(dir, "bad.json", bad_json, strlen(bad_json));
	char *bad = path_in("load/bad.json");
	assert_true(cs_sigd_config_load(&c, bad) < 0);
	assert_non_null(strstr(cs_error_last(), bad));
	assert_zero(&c, sizeof(c));
	free(bad);
	free(missing);
	free(file);
	free(dir);
}

/* An empty path is a file that does not exist (and no reason to write
 * past the copy of the path: valgrind and ASan see it). */
static void test_config_load_empty_path(void **state)
{
	(void)state;
	struct cs_sigd_config c = {0};
	assert_int_equal(cs_sigd_config_load(&c, ""), CS_ENOTFOUND);
}

/* sigd.h: "Paths are absolute once loaded (relative ones are taken from the
 * file's directory)" -- also when the file itself is named relatively, as
 * `certsync sigd serve --config node/sigd.json` does. */
static void test_config_load_relative_file(void **state)
{
	(void)state;
	char *dir = path_in("load-rel");
	const char *json = "{" COMMON ", \"role\": \"center\", " ANCHORS "}";
	cs_test_write_file(dir, "sigd.json", json, strlen(json));
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(fx.dir), 0);
	struct cs_sigd_config c;
	int r = cs_sigd_config_load(&c, "load-rel/sigd.json");
	assert_int_equal(chdir(cwd), 0);
	cs_assert_ok(r);
	char tls_cert0 = c.tls_cert[0], anchor0 = c.anchors[0][0], data0 = c.data_dir[0];
	char *tls_cert = strdup(c.tls_cert);
	cs_sigd_config_clear(&c);
	free(dir);
	if (tls_cert0 != '/' || anchor0 != '/' || data0 != '/') {
		char msg[512];
		snprintf(msg, sizeof(msg), "a relative path stayed relative: tls_cert \"%s\"", tls_cert);
		free(tls_cert);
		fail_msg("%s", msg);
	}
	free(tls_cert);
}

/* ---- sigd init ---- */

static void test_init(void **state)
{
	(void)state;
	char *node = path_in("init/c1"), *cluster = path_in("init/cluster-ca");
	const char *peers[] = {"https://127.0.0.1:9444", NULL};
	const char *anchors[] = {fx.anchor_crt, NULL};
	struct cs_sigd_init_options o = {
		.dir = node, .cluster_ca = cluster, .name = "c1", .role = CS_SIGD_CENTER,
		.mode = CS_SIGD_MODE_FETCH, .listen = "127.0.0.1:9443", .peers = peers, .anchors = anchors,
	};
	cs_assert_ok(cs_sigd_init(&o));
	static const char *const made[] = {"init/c1/sigd.json", "init/c1/tls/server.crt", "init/c1/tls/server.key",
		"init/cluster-ca/ca.crt", "init/cluster-ca/ca.key", "init/cluster-ca/admin.crt",
		"init/cluster-ca/admin.key"};
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		char *p = path_in(made[i]);
		if (!cs_fs_exists(p))
			fail_msg("sigd init did not make %s", made[i]);
		free(p);
	}
	/* what it wrote loads, with the defaults and the paths resolved */
	char *conf = path_in("init/c1/sigd.json");
	struct cs_sigd_config c;
	cs_assert_ok(cs_sigd_config_load(&c, conf));
	assert_string_equal(c.name, "c1");
	assert_int_equal(c.role, CS_SIGD_CENTER);
	assert_int_equal(c.mode, CS_SIGD_MODE_FETCH);
	assert_string_equal(c.listen, "127.0.0.1:9443");
	assert_int_equal(c.npeers, 1);
	assert_string_equal(c.peers[0], "https://127.0.0.1:9444");
	assert_int_equal(c.nanchors, 1);
	char *real = realpath(fx.anchor_crt, NULL);
	assert_string_equal(c.anchors[0], real);
	free(real);
	real = realpath(cluster, NULL);
	assert_string_equal(c.cluster_ca, real);
	free(real);
	char *want = cs_path_join(node, "tls/server.crt");
	assert_string_equal(c.tls_cert, want);
	free(want);
	assert_int_equal(c.ncrls, 0);
	assert_int_equal(c.negative_cache_ms, 30000);
	assert_int_equal(c.health_interval_ms, 2000);
	assert_int_equal(c.connect_timeout_ms, 1000);
	assert_int_equal(c.request_timeout_ms, 3000);
	assert_int_equal(c.fetch_threads, 4);
	/* the node's TLS certificate is the cluster CA's */
	cs_cert *tls = NULL, *ca = NULL;
	char *ca_crt = path_in("init/cluster-ca/ca.crt");
	cs_assert_ok(cs_cert_load(&tls, c.tls_cert));
	cs_assert_ok(cs_cert_load(&ca, ca_crt));
	cs_assert_ok(cs_cert_verify(tls, ca, NULL, 0));
	cs_cert_free(tls);
	cs_cert_free(ca);
	free(ca_crt);
	cs_sigd_config_clear(&c);

	/* a second init of the same directory is refused */
	assert_int_equal(cs_sigd_init(&o), CS_EEXISTS);

	/* an edge in local mode, in the same cluster */
	char *edge = path_in("init/e3");
	struct cs_sigd_init_options e = o;
	e.dir = edge;
	e.name = "e3";
	e.role = CS_SIGD_EDGE;
	e.mode = CS_SIGD_MODE_LOCAL;
	e.peers = NULL;
	cs_assert_ok(cs_sigd_init(&e));
	char *econf = path_in("init/e3/sigd.json");
	cs_assert_ok(cs_sigd_config_load(&c, econf));
	assert_int_equal(c.role, CS_SIGD_EDGE);
	assert_int_equal(c.mode, CS_SIGD_MODE_LOCAL);
	assert_int_equal(c.npeers, 0);
	cs_sigd_config_clear(&c);
	free(econf);
	free(edge);
	free(conf);
	free(cluster);
	free(node);
}

/* A host name made of hex letters, digits and dots ("cafe.de") is a DNS
 * name, not an IP address: the node's certificate names it. */
static void test_init_hex_host(void **state)
{
	(void)state;
	char *node = path_in("init-hex/n1"), *cluster = path_in("init-hex/cluster-ca");
	const char *hosts[] = {"cafe.de", "10.0.0.7", NULL};
	const char *anchors[] = {fx.anchor_crt, NULL};
	struct cs_sigd_init_options o = {
		.dir = node, .cluster_ca = cluster, .name = "n1", .role = CS_SIGD_CENTER,
		.mode = CS_SIGD_MODE_FETCH, .listen = "127.0.0.1:9443", .hosts = hosts, .anchors = anchors,
	};
	int r = cs_sigd_init(&o);
	char err[512];
	snprintf(err, sizeof(err), "%s", cs_error_last());
	int dns_ok = 0, ip_ok = 0;
	if (r == 0) {
		char *crt = path_in("init-hex/n1/tls/server.crt");
		cs_cert *c = NULL;
		if (cs_cert_load(&c, crt) == 0) {
			dns_ok = X509_check_host(c->x509, "cafe.de", 0, 0, NULL) == 1;
			ip_ok = X509_check_ip_asc(c->x509, "10.0.0.7", 0) == 1;
		}
		cs_cert_free(c);
		free(crt);
	}
	free(cluster);
	free(node);
	if (r != 0)
		fail_msg("sigd init with host \"cafe.de\": %d (%s)", r, err);
	assert_true(dns_ok);
	assert_true(ip_ok);
}

/* ---- fingerprints ---- */

static const char FP_HEX[] = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";

static void test_fp_parse(void **state)
{
	(void)state;
	uint8_t want[CS__SIGD_FP_LEN], fp[CS__SIGD_FP_LEN];
	cs_assert_ok(cs_hex_decode(want, sizeof(want), FP_HEX));

	cs_assert_ok(cs__sigd_fp_parse(fp, FP_HEX));
	assert_memory_equal(fp, want, sizeof(fp));
	/* upper case, and mixed */
	char up[sizeof(FP_HEX)];
	for (size_t i = 0; i < sizeof(FP_HEX); i++)
		up[i] = (FP_HEX[i] >= 'a' && FP_HEX[i] <= 'f') ? (char)(FP_HEX[i] - 'a' + 'A') : FP_HEX[i];
	memset(fp, 0, sizeof(fp));
	cs_assert_ok(cs__sigd_fp_parse(fp, up));
	assert_memory_equal(fp, want, sizeof(fp));
	up[10] = 'a';
	up[11] = 'A';
	cs_assert_ok(cs__sigd_fp_parse(fp, up));
	assert_int_equal(fp[5], 0xaa);

	/* ':' between the bytes, as openssl prints it */
	char colons[3 * CS__SIGD_FP_LEN];
	size_t k = 0;
	for (size_t i = 0; i < CS__SIGD_FP_LEN; i++) {
		if (i > 0)
			colons[k++] = ':';
		colons[k++] = up[2 * i];
		colons[k++] = up[2 * i + 1];
	}
	colons[k] = '\0';
	memset(fp, 0, sizeof(fp));
	cs_assert_ok(cs__sigd_fp_parse(fp, colons));
	assert_int_equal(fp[0], 0x00);
	assert_int_equal(fp[31], 0x10);
	/* between some bytes only */
	char some[sizeof(FP_HEX) + 2];
	snprintf(some, sizeof(some), "%.2s:%.62s", FP_HEX, FP_HEX + 2);
	cs_assert_ok(cs__sigd_fp_parse(fp, some));
	assert_memory_equal(fp, want, sizeof(fp));

	/* wrong lengths */
	static const size_t lens[] = {0, 1, 2, 62, 63};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char s[sizeof(FP_HEX)];
		snprintf(s, sizeof(s), "%.*s", (int)lens[i], FP_HEX);
		assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
	}
	char longer[128];
	snprintf(longer, sizeof(longer), "%s0", FP_HEX);
	assert_int_equal(cs__sigd_fp_parse(fp, longer), CS_EINVAL);
	snprintf(longer, sizeof(longer), "%s00", FP_HEX);
	assert_int_equal(cs__sigd_fp_parse(fp, longer), CS_EINVAL);
	snprintf(longer, sizeof(longer), "%s:00", colons);
	assert_int_equal(cs__sigd_fp_parse(fp, longer), CS_EINVAL);
	assert_non_null(strstr(cs_error_last(), "64 hex digits"));

	/* not hex */
	char bad[sizeof(FP_HEX)];
	static const char nonhex[] = {'g', 'G', ' ', 'x', '-', '.', '\x80'};
	for (size_t i = 0; i < sizeof(nonhex); i++) {
		memcpy(bad, FP_HEX, sizeof(bad));
		bad[17] = nonhex[i];
		assert_int_equal(cs__sigd_fp_parse(fp, bad), CS_EINVAL);
	}
	/* ':' only between whole bytes: not first, last or inside a byte */
	char s[sizeof(FP_HEX) + 2];
	snprintf(s, sizeof(s), ":%s", FP_HEX);
	assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
	snprintf(s, sizeof(s), "%s:", FP_HEX);
	assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
	snprintf(s, sizeof(s), "%.3s:%s", FP_HEX, FP_HEX + 3);
	assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
}

/* One ':' between two bytes, not several. */
static void test_fp_parse_double_colon(void **state)
{
	(void)state;
	uint8_t fp[CS__SIGD_FP_LEN];
	char s[sizeof(FP_HEX) + 4];
	snprintf(s, sizeof(s), "%.2s::%s", FP_HEX, FP_HEX + 2);
	assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
	snprintf(s, sizeof(s), "%.30s:::%s", FP_HEX, FP_HEX + 30);
	assert_int_equal(cs__sigd_fp_parse(fp, s), CS_EINVAL);
}

/* ---- requests ---- */

static const char FP2_HEX[] = "ffeeddccbbaa99887766554433221100fedcba98765432100123456789abcdef";

static int parse_request(struct cs__sigd_request *rq, const char **code, const char *json)
{
	return cs__sigd_request_parse(rq, code, json, strlen(json));
}

/* {"cert": ..., "alg": ..., "data": ..., "signature": ...} into a new string. */
static char *item_json(const char *fp, const char *alg, const char *data, const char *sig)
{
	size_t n = strlen(fp) + strlen(alg) + strlen(data) + strlen(sig) + 100;
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, "{\"cert\": \"%s\", \"alg\": \"%s\", \"data\": \"%s\", \"signature\": \"%s\"}", fp, alg,
		data, sig);
	return s;
}

static char *b64(const void *data, size_t len)
{
	char *s = NULL;
	cs_assert_ok(cs_base64_encode(&s, data, len));
	return s;
}

static void test_request_single(void **state)
{
	(void)state;
	struct cs__sigd_request rq;
	const char *code = NULL;
	uint8_t want[CS__SIGD_FP_LEN];
	cs_assert_ok(cs_hex_decode(want, sizeof(want), FP_HEX));

	/* "hello" and the bytes 1..3 */
	cs_assert_ok(parse_request(&rq, &code, "{\"cert\": \"" "00112233445566778899AABBCCDDEEFF"
		"0123456789abcdeffedcba9876543210\", \"alg\": \"ecdsa-p256-sha256\", \"data\": \"aGVsbG8=\", "
		"\"signature\": \"AQID\", \"comment\": \"unknown members are ignored\"}"));
	assert_int_equal(rq.n, 1);
	assert_int_equal(rq.batch, 0);
	const struct cs__sigd_item *it = &rq.items[0];
	assert_int_equal(it->status, 0);
	assert_memory_equal(it->fp, want, sizeof(want));
	assert_int_equal(it->alg, CS__SIGD_ALG_ECDSA_P256);
	assert_int_equal(it->data_len, 5);
	assert_memory_equal(it->data, "hello", 5);
	assert_int_equal(it->sig_len, 3);
	assert_memory_equal(it->sig, "\1\2\3", 3);
	cs__sigd_request_clear(&rq);
	assert_zero(&rq, sizeof(rq));

	/* RSA-PSS; empty data is allowed */
	char *j = item_json(FP2_HEX, "rsa-pss-sha256", "", "AAAA");
	cs_assert_ok(parse_request(&rq, &code, j));
	free(j);
	assert_int_equal(rq.items[0].alg, CS__SIGD_ALG_RSA_PSS);
	assert_int_equal(rq.items[0].data_len, 0);
	assert_int_equal(rq.items[0].sig_len, 3);
	cs__sigd_request_clear(&rq);

	assert_string_equal(cs__sigd_alg_name(CS__SIGD_ALG_ECDSA_P256), "ecdsa-p256-sha256");
	assert_string_equal(cs__sigd_alg_name(CS__SIGD_ALG_RSA_PSS), "rsa-pss-sha256");
	assert_string_equal(cs__sigd_alg_name(0), "");
	assert_string_equal(cs__sigd_alg_name(3), "");
	assert_string_equal(cs__sigd_alg_name(-1), "");
}

/* A single verification refused as a whole: the code, the short code, a
 * zeroed request. */
static void request_refused(const char *json, size_t len, int want, const char *want_code)
{
	struct cs__sigd_request rq;
	const char *code = NULL;
	memset(&rq, 0xa5, sizeof(rq));
	int r = cs__sigd_request_parse(&rq, &code, json, len);
	if (r != want)
		fail_msg("%.200s: got %d (%s), want %d", json, r, cs_error_last(), want);
	assert_non_null(code);
	assert_string_equal(code, want_code);
	assert_zero(&rq, sizeof(rq));
	cs__sigd_request_clear(&rq);
}

#define REQUEST_REFUSED(json, want, want_code) request_refused((json), strlen(json), (want), (want_code))

static void test_request_refused(void **state)
{
	(void)state;
	char *j;
	/* an unknown algorithm has its own code */
	j = item_json(FP_HEX, "ecdsa-p384-sha384", "aGVsbG8=", "AQID");
	request_refused(j, strlen(j), CS_EINVAL, "alg_unknown");
	assert_non_null(strstr(cs_error_last(), "ecdsa-p384-sha384"));
	free(j);
	j = item_json(FP_HEX, "ECDSA-P256-SHA256", "aGVsbG8=", "AQID");
	request_refused(j, strlen(j), CS_EINVAL, "alg_unknown");
	free(j);
	/* bad base64: length, alphabet, padding, in data or signature */
	static const char *const bad_b64[] = {"abc", "aGVsbG8", "@@@@", "aGVs bG8=", "aGVsbG8==", "aR==", "=AAA"};
	for (size_t i = 0; i < sizeof(bad_b64) / sizeof(bad_b64[0]); i++) {
		j = item_json(FP_HEX, "ecdsa-p256-sha256", bad_b64[i], "AQID");
		request_refused(j, strlen(j), CS_EMALFORMED, "malformed");
		free(j);
		j = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", bad_b64[i]);
		request_refused(j, strlen(j), CS_EMALFORMED, "malformed");
		free(j);
	}
	/* an empty signature */
	j = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", "");
	request_refused(j, strlen(j), CS_EINVAL, "malformed");
	free(j);
	/* a bad fingerprint */
	j = item_json("0011", "ecdsa-p256-sha256", "aGVsbG8=", "AQID");
	request_refused(j, strlen(j), CS_EINVAL, "malformed");
	free(j);
	/* members missing or of the wrong type */
	REQUEST_REFUSED("{\"alg\": \"ecdsa-p256-sha256\", \"data\": \"\", \"signature\": \"AQID\"}", CS_EINVAL,
		"malformed");
	j = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", "AQID");
	char *p = strstr(j, "\"signature\"");
	memcpy(p, "\"signatur_\"", 11);
	request_refused(j, strlen(j), CS_EINVAL, "malformed");
	free(j);
	REQUEST_REFUSED("{\"cert\": 7, \"alg\": \"ecdsa-p256-sha256\", \"data\": \"\", \"signature\": \"AQID\"}",
		CS_EMALFORMED, "malformed");
	/* not one JSON object, duplicate keys, a NUL in a string */
	request_refused("", 0, CS_EMALFORMED, "malformed");
	REQUEST_REFUSED("[{}]", CS_EMALFORMED, "malformed");
	REQUEST_REFUSED("{\"cert\": \"x\"", CS_EMALFORMED, "malformed");
	j = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", "AQID\", \"signature\": \"AQID");
	request_refused(j, strlen(j), CS_EMALFORMED, "malformed");
	free(j);
	j = item_json(FP_HEX, "ecdsa-p256-sha256\\u0000x", "aGVsbG8=", "AQID");
	request_refused(j, strlen(j), CS_EMALFORMED, "malformed");
	free(j);
	/* a body over CS__SIGD_BODY_MAX is refused before it is read */
	size_t big = CS__SIGD_BODY_MAX + 1;
	char *body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	request_refused(body, big, CS_ELIMIT, "malformed");
	free(body);
}

static void test_request_sizes(void **state)
{
	(void)state;
	struct cs__sigd_request rq;
	const char *code = NULL;
	uint8_t *data = calloc(1, CS__SIGD_DATA_MAX + 3);
	assert_non_null(data);
	cs_test_fill_random(data, CS__SIGD_DATA_MAX + 3, 7);

	/* data: CS__SIGD_DATA_MAX bytes pass, one more is refused */
	char *d = b64(data, CS__SIGD_DATA_MAX), *j = item_json(FP_HEX, "ecdsa-p256-sha256", d, "AQID");
	cs_assert_ok(parse_request(&rq, &code, j));
	assert_int_equal(rq.items[0].data_len, CS__SIGD_DATA_MAX);
	assert_memory_equal(rq.items[0].data, data, CS__SIGD_DATA_MAX);
	cs__sigd_request_clear(&rq);
	free(j);
	free(d);
	d = b64(data, CS__SIGD_DATA_MAX + 1);
	j = item_json(FP_HEX, "ecdsa-p256-sha256", d, "AQID");
	request_refused(j, strlen(j), CS_EINVAL, "malformed");
	free(j);
	free(d);
	/* longer still: refused as text before it is decoded */
	d = b64(data, CS__SIGD_DATA_MAX + 3);
	j = item_json(FP_HEX, "ecdsa-p256-sha256", d, "AQID");
	request_refused(j, strlen(j), CS_EMALFORMED, "malformed");
	free(j);
	free(d);

	/* signature: 1..CS__SIGD_SIG_MAX bytes */
	char *s = b64(data, CS__SIGD_SIG_MAX);
	j = item_json(FP_HEX, "rsa-pss-sha256", "", s);
	cs_assert_ok(parse_request(&rq, &code, j));
	assert_int_equal(rq.items[0].sig_len, CS__SIGD_SIG_MAX);
	cs__sigd_request_clear(&rq);
	free(j);
	free(s);
	s = b64(data, CS__SIGD_SIG_MAX + 1);
	j = item_json(FP_HEX, "rsa-pss-sha256", "", s);
	request_refused(j, strlen(j), CS_EINVAL, "malformed");
	free(j);
	free(s);
	s = b64(data, 1);
	j = item_json(FP_HEX, "rsa-pss-sha256", "", s);
	cs_assert_ok(parse_request(&rq, &code, j));
	assert_int_equal(rq.items[0].sig_len, 1);
	cs__sigd_request_clear(&rq);
	free(j);
	free(s);
	free(data);
}

static void test_request_batch(void **state)
{
	(void)state;
	struct cs__sigd_request rq;
	const char *code = NULL;
	char *a = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", "AQID");
	char *b = item_json(FP2_HEX, "ed25519", "aGVsbG8=", "AQID");
	char *c = item_json(FP2_HEX, "rsa-pss-sha256", "d29ybGQ=", "BAUG");
	char *d = item_json(FP_HEX, "ecdsa-p256-sha256", "not base64", "AQID");
	char json[4096];

	/* three items, the middle one with an unknown algorithm */
	snprintf(json, sizeof(json), "{\"items\": [%s, %s, %s]}", a, b, c);
	cs_assert_ok(parse_request(&rq, &code, json));
	assert_int_equal(rq.batch, 1);
	assert_int_equal(rq.n, 3);
	assert_int_equal(rq.items[0].status, 0);
	assert_int_equal(rq.items[0].alg, CS__SIGD_ALG_ECDSA_P256);
	assert_memory_equal(rq.items[0].data, "hello", 5);
	assert_int_equal(rq.items[1].status, 400);
	assert_string_equal(rq.items[1].code, "alg_unknown");
	assert_non_null(strstr(rq.items[1].msg, "ed25519"));
	assert_null(rq.items[1].data);
	assert_null(rq.items[1].sig);
	assert_int_equal(rq.items[2].status, 0);
	assert_int_equal(rq.items[2].alg, CS__SIGD_ALG_RSA_PSS);
	assert_int_equal(rq.items[2].data_len, 5);
	assert_memory_equal(rq.items[2].data, "world", 5);
	assert_int_equal(rq.items[2].sig_len, 3);
	assert_memory_equal(rq.items[2].sig, "\4\5\6", 3);
	uint8_t want[CS__SIGD_FP_LEN];
	cs_assert_ok(cs_hex_decode(want, sizeof(want), FP2_HEX));
	assert_memory_equal(rq.items[2].fp, want, sizeof(want));
	cs__sigd_request_clear(&rq);
	assert_zero(&rq, sizeof(rq));

	/* malformed items (bad base64, not an object, members missing) are
	 * marked "malformed" and the others stand */
	snprintf(json, sizeof(json), "{\"items\": [%s, %s, 7, {}, %s]}", d, a, c);
	cs_assert_ok(parse_request(&rq, &code, json));
	assert_int_equal(rq.n, 5);
	static const int status[] = {400, 0, 400, 400, 0};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(rq.items[i].status, status[i]);
		if (status[i]) {
			assert_string_equal(rq.items[i].code, "malformed");
			assert_true(rq.items[i].msg[0] != '\0');
			assert_null(rq.items[i].data);
			assert_null(rq.items[i].sig);
		} else {
			assert_non_null(rq.items[i].data);
		}
	}
	cs__sigd_request_clear(&rq);

	/* one item in a batch is still a batch */
	snprintf(json, sizeof(json), "{\"items\": [%s]}", a);
	cs_assert_ok(parse_request(&rq, &code, json));
	assert_int_equal(rq.batch, 1);
	assert_int_equal(rq.n, 1);
	cs__sigd_request_clear(&rq);

	/* a batch is exactly {"items": [1..]} */
	REQUEST_REFUSED("{\"items\": []}", CS_EMALFORMED, "malformed");
	REQUEST_REFUSED("{\"items\": {}}", CS_EMALFORMED, "malformed");
	REQUEST_REFUSED("{\"items\": null}", CS_EMALFORMED, "malformed");
	snprintf(json, sizeof(json), "{\"items\": [%s], \"cert\": \"%s\"}", a, FP_HEX);
	request_refused(json, strlen(json), CS_EMALFORMED, "malformed");
	free(a);
	free(b);
	free(c);
	free(d);
}

static void test_request_batch_limit(void **state)
{
	(void)state;
	struct cs__sigd_request rq;
	const char *code = NULL;
	char *item = item_json(FP_HEX, "ecdsa-p256-sha256", "aGVsbG8=", "AQID");
	size_t il = strlen(item), cap = (CS__SIGD_BATCH_MAX + 1) * (il + 1) + 32;
	char *json = malloc(cap);
	assert_non_null(json);

	for (size_t n = CS__SIGD_BATCH_MAX; n <= CS__SIGD_BATCH_MAX + 1; n++) {
		size_t k = 0;
		memcpy(json + k, "{\"items\": [", 11);
		k += 11;
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				json[k++] = ',';
			memcpy(json + k, item, il);
			k += il;
		}
		memcpy(json + k, "]}", 2);
		k += 2;
		if (n == CS__SIGD_BATCH_MAX) {
			cs_assert_ok(cs__sigd_request_parse(&rq, &code, json, k));
			assert_int_equal(rq.n, CS__SIGD_BATCH_MAX);
			for (size_t i = 0; i < rq.n; i++)
				assert_int_equal(rq.items[i].status, 0);
			cs__sigd_request_clear(&rq);
		} else {
			request_refused(json, k, CS_ELIMIT, "malformed");
		}
	}
	free(json);
	free(item);
}

/* ---- the certificate store ---- */

/* A configuration for the store: data_dir, anchors and crls only (the
 * strings belong to the test: the struct is not cleared). */
static void store_cfg(struct cs_sigd_config *c, char *data_dir, char *const *anchors, char *const *crls)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = data_dir;
	for (size_t i = 0; anchors != NULL && anchors[i] != NULL; i++)
		c->anchors[c->nanchors++] = anchors[i];
	for (size_t i = 0; crls != NULL && crls[i] != NULL; i++)
		c->crls[c->ncrls++] = crls[i];
}

static void der_of(uint8_t **der, size_t *len, const cs_cert *c)
{
	cs_assert_ok(cs_cert_to_der(der, len, c));
}

/* Add c; return the result and the code. */
static int add(struct cs__sigd_store *st, uint8_t fp[CS__SIGD_FP_LEN], const cs_cert *c, const char **code)
{
	uint8_t *der = NULL;
	size_t len = 0;
	der_of(&der, &len, c);
	int r = cs__sigd_store_add(st, fp, der, len, "test", code);
	free(der);
	return r;
}

static void fp_of(uint8_t fp[CS__SIGD_FP_LEN], const cs_cert *c)
{
	uint8_t *der = NULL;
	size_t len = 0;
	der_of(&der, &len, c);
	cs_sha256(fp, der, len);
	free(der);
}

/* A CRL by the anchor listing c. */
static char *crl_revoking(const char *name, const cs_cert *c)
{
	char *serial = NULL, *pem = NULL;
	cs_assert_ok(cs_cert_serial(&serial, c));
	struct cs_revoked list[] = {{"0123456789abcdef", cs_clock_now() - 100}, {serial, cs_clock_now() - 10}};
	cs_assert_ok(cs_ca_make_crl(&pem, fx.anchor, list, 2, 7));
	cs_test_write_file(fx.dir, name, pem, strlen(pem));
	free(pem);
	free(serial);
	return path_in(name);
}

static void test_store_add_get_reopen(void **state)
{
	(void)state;
	char *data = path_in("store/basic");
	char *anchors[] = {fx.anchor_crt, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	const char *code = NULL;
	uint8_t fp[CS__SIGD_FP_LEN], want[CS__SIGD_FP_LEN];
	store_cfg(&c, data, anchors, NULL);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_int_equal(st.count, 0);
	assert_int_equal(st.nanchors, 1);
	fp_of(want, fx.alice);
	assert_null(cs__sigd_store_get(&st, want));
	cs_assert_ok(add(&st, fp, fx.alice, &code));
	/* the fingerprint is the SHA-256 of the DER, as cs_cert_fingerprint prints it */
	assert_memory_equal(fp, want, sizeof(fp));
	char hex[CS_FINGERPRINT_SIZE], got[CS_FINGERPRINT_SIZE];
	cs_assert_ok(cs_cert_fingerprint(hex, fx.alice));
	cs_hex_encode(got, fp, sizeof(fp));
	assert_string_equal(got, hex);
	const struct cs__sigd_cert *e = cs__sigd_store_get(&st, fp);
	assert_non_null(e);
	assert_memory_equal(e->fp, want, sizeof(want));
	assert_string_equal(e->subject, "alice");
	assert_int_equal(e->kind, CS_KEY_EC_P256);
	assert_int_equal(e->not_after, cs_cert_not_after(fx.alice));
	assert_int_equal(st.count, 1);
	/* added twice: held once */
	cs_assert_ok(add(&st, fp, fx.alice, &code));
	assert_int_equal(st.count, 1);
	/* a server certificate of the anchor */
	uint8_t sfp[CS__SIGD_FP_LEN];
	cs_assert_ok(add(&st, sfp, fx.server, &code));
	assert_int_equal(st.count, 2);
	assert_string_equal(cs__sigd_store_get(&st, sfp)->subject, "server");
	/* bob is not held */
	fp_of(want, fx.bob);
	assert_null(cs__sigd_store_get(&st, want));
	/* not DER */
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	assert_int_equal(cs__sigd_store_add(&st, fp, junk, sizeof(junk), "test", &code), CS_EMALFORMED);
	assert_string_equal(code, "malformed");
	assert_int_equal(cs__sigd_store_add(&st, fp, junk, 0, "test", &code), CS_EMALFORMED);
	assert_int_equal(st.count, 2);
	cs__sigd_store_close(&st);
	assert_zero(&st, sizeof(st));

	/* reopened, the store finds both again */
	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_int_equal(st.count, 2);
	fp_of(want, fx.alice);
	e = cs__sigd_store_get(&st, want);
	assert_non_null(e);
	assert_string_equal(e->subject, "alice");
	assert_int_equal(e->not_after, cs_cert_not_after(fx.alice));
	assert_non_null(cs__sigd_store_get(&st, sfp));
	fp_of(want, fx.bob);
	assert_null(cs__sigd_store_get(&st, want));
	cs__sigd_store_close(&st);
	free(data);
}

static void test_store_untrusted(void **state)
{
	(void)state;
	char *data = path_in("store/untrusted");
	char *anchors[] = {fx.anchor_crt, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	const char *code = NULL;
	uint8_t fp[CS__SIGD_FP_LEN], want[CS__SIGD_FP_LEN];
	store_cfg(&c, data, anchors, NULL);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_int_equal(add(&st, fp, fx.mallory, &code), CS_EAUTH);
	assert_string_equal(code, "cert_untrusted");
	fp_of(want, fx.mallory);
	assert_null(cs__sigd_store_get(&st, want));
	assert_int_equal(st.count, 0);
	/* cs__sigd_validate says the same */
	code = NULL;
	assert_int_equal(cs__sigd_validate(&st, fx.mallory, &code, NULL), CS_EAUTH);
	assert_string_equal(code, "cert_untrusted");
	cs_assert_ok(cs__sigd_validate(&st, fx.alice, &code, NULL));
	/* the other CA's own certificate is not an anchor here either */
	assert_int_equal(cs__sigd_validate(&st, cs_ca_cert(fx.other), &code, NULL), CS_EAUTH);
	cs__sigd_store_close(&st);

	/* not written to the database either */
	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_null(cs__sigd_store_get(&st, want));
	assert_int_equal(st.count, 0);
	cs__sigd_store_close(&st);

	/* with both CAs as anchors, mallory passes */
	char *data2 = path_in("store/two-anchors");
	char *both[] = {fx.anchor_crt, fx.other_crt, NULL};
	store_cfg(&c, data2, both, NULL);
	cs_assert_ok(cs__sigd_store_open(&st, &c));
	cs_assert_ok(add(&st, fp, fx.mallory, &code));
	cs_assert_ok(add(&st, fp, fx.alice, &code));
	assert_int_equal(st.count, 2);
	cs__sigd_store_close(&st);
	free(data2);
	free(data);
}

static void test_store_revoked(void **state)
{
	(void)state;
	char *data = path_in("store/revoked");
	char *crl = crl_revoking("anchor.crl", fx.revoked);
	char *anchors[] = {fx.anchor_crt, fx.other_crt, NULL}, *crls[] = {crl, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	const char *code = NULL;
	uint8_t fp[CS__SIGD_FP_LEN], want[CS__SIGD_FP_LEN];
	store_cfg(&c, data, anchors, crls);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_int_equal(st.ncrls, 1);
	assert_int_equal(add(&st, fp, fx.revoked, &code), CS_EREVOKED);
	assert_string_equal(code, "cert_revoked");
	fp_of(want, fx.revoked);
	assert_null(cs__sigd_store_get(&st, want));
	/* the certificates the CRL does not list pass; the anchor's CRL does
	 * not speak for the other anchor */
	cs_assert_ok(add(&st, fp, fx.alice, &code));
	cs_assert_ok(add(&st, fp, fx.mallory, &code));
	assert_int_equal(st.count, 2);
	cs__sigd_store_close(&st);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_null(cs__sigd_store_get(&st, want));
	assert_int_equal(st.count, 2);
	cs__sigd_store_close(&st);

	/* without the CRL, the same certificate is accepted */
	char *data2 = path_in("store/revoked-no-crl");
	store_cfg(&c, data2, anchors, NULL);
	cs_assert_ok(cs__sigd_store_open(&st, &c));
	cs_assert_ok(add(&st, fp, fx.revoked, &code));
	cs__sigd_store_close(&st);
	free(data2);
	free(crl);
	free(data);
}

/* A CRL by the anchor that expired ten minutes ago, listing c (made with
 * OpenSSL: cs_ca_make_crl only makes current ones). Its times fall within
 * the certificates' validity, which starts CS__BACKDATE (an hour) before
 * they were issued. */
static char *stale_crl_revoking(const char *name, const cs_cert *c)
{
	char *key_path = cs_path_join(fx.anchor_dir, "ca.key"), *path = path_in(name);
	cs_key *key = NULL;
	cs_assert_ok(cs_key_load(&key, key_path, NULL));
	X509 *cax = cs_ca_cert(fx.anchor)->x509;
	time_t now = (time_t)cs_clock_now();
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *rev = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, now - 1800);
	assert_true(crl != NULL && rev != NULL && t != NULL);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(cax)), 1);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_non_null(ASN1_TIME_set(t, now - 600));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(c->x509)), 1);
	assert_non_null(ASN1_TIME_set(t, now - 1200));
	assert_int_equal(X509_REVOKED_set_revocationDate(rev, t), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, key->pkey, EVP_sha256()) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	fclose(f);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	cs_key_free(key);
	free(key_path);
	return path;
}

/* A CRL past its nextUpdate no longer says which certificates are good:
 * cs_cert_verify refuses it ("revocation list expired"), and so must the
 * store -- above all for a certificate the stale CRL lists as revoked. */
static void test_store_stale_crl(void **state)
{
	(void)state;
	char *data = path_in("store/stale-crl");
	char *crl = stale_crl_revoking("stale.crl", fx.revoked);
	char *anchors[] = {fx.anchor_crt, NULL}, *crls[] = {crl, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	const char *code = NULL;
	uint8_t fp[CS__SIGD_FP_LEN], want[CS__SIGD_FP_LEN];
	store_cfg(&c, data, anchors, crls);

	/* the CRL is signed by the anchor and lists the certificate */
	uint8_t *pem = NULL;
	size_t len = 0;
	cs_assert_ok(cs_fs_read_all(&pem, &len, crl, 1 << 20));
	assert_int_equal(cs_cert_verify(fx.revoked, cs_ca_cert(fx.anchor), (const char *)pem, 0), CS_EEXPIRED);
	assert_int_equal(cs_cert_verify(fx.revoked, cs_ca_cert(fx.anchor), (const char *)pem,
		cs_clock_now() - 900), CS_EREVOKED);
	free(pem);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	int r = add(&st, fp, fx.revoked, &code);
	fp_of(want, fx.revoked);
	int held = cs__sigd_store_get(&st, want) != NULL;
	cs__sigd_store_close(&st);
	free(crl);
	free(data);
	if (r == CS_OK || held)
		fail_msg("a certificate listed by a stale CRL was accepted (%d, %s)", r, held ? "stored" : "not stored");
	assert_non_null(code);
}

/* More certificates than buckets: the table grows and finds them all. */
static void test_store_grow(void **state)
{
	(void)state;
	char *data = path_in("store/grow");
	char *anchors[] = {fx.anchor_crt, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	const char *code = NULL;
	enum { N = 9 };
	cs_cert *certs[N];
	uint8_t fps[N][CS__SIGD_FP_LEN];
	store_cfg(&c, data, anchors, NULL);

	cs_assert_ok(cs__sigd_store_open(&st, &c));
	/* white box: a one-bucket table (the larger array is only over-sized)
	 * grows after the third certificate, and again after the fifth, ninth */
	st.nbuckets = 1;
	for (size_t i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof(name), "leaf-%zu", i);
		cs_assert_ok(issue_device(&certs[i], fx.anchor, name));
		cs_assert_ok(add(&st, fps[i], certs[i], &code));
	}
	assert_int_equal(st.count, N);
	assert_true(st.nbuckets >= 4);
	for (size_t i = 0; i < N; i++) {
		const struct cs__sigd_cert *e = cs__sigd_store_get(&st, fps[i]);
		assert_non_null(e);
		char name[16];
		snprintf(name, sizeof(name), "leaf-%zu", i);
		assert_string_equal(e->subject, name);
	}
	cs__sigd_store_close(&st);
	cs_assert_ok(cs__sigd_store_open(&st, &c));
	assert_int_equal(st.count, N);
	for (size_t i = 0; i < N; i++) {
		assert_non_null(cs__sigd_store_get(&st, fps[i]));
		cs_cert_free(certs[i]);
	}
	cs__sigd_store_close(&st);
	free(data);
}

static void test_store_open_errors(void **state)
{
	(void)state;
	char *data = path_in("store/errors"), *none = path_in("no-such.crt"), *junk = path_in("junk.crt");
	char *anchors[] = {fx.anchor_crt, none, NULL}, *bad[] = {junk, NULL};
	struct cs_sigd_config c;
	struct cs__sigd_store st;
	cs_test_write_file(fx.dir, "junk.crt", "not a certificate\n", strlen("not a certificate\n"));

	store_cfg(&c, data, anchors, NULL);
	assert_true(cs__sigd_store_open(&st, &c) < 0);
	assert_non_null(strstr(cs_error_last(), "no-such.crt"));
	assert_zero(&st, sizeof(st));
	cs__sigd_store_close(&st); /* a zeroed store closes */

	store_cfg(&c, data, bad, NULL);
	assert_true(cs__sigd_store_open(&st, &c) < 0);
	assert_non_null(strstr(cs_error_last(), "junk.crt"));
	assert_zero(&st, sizeof(st));

	char *crls[] = {none, NULL}, *good[] = {fx.anchor_crt, NULL};
	store_cfg(&c, data, good, crls);
	assert_true(cs__sigd_store_open(&st, &c) < 0);
	assert_non_null(strstr(cs_error_last(), "no-such.crt"));
	assert_zero(&st, sizeof(st));
	free(junk);
	free(none);
	free(data);
}

/* ---- the histogram ---- */

static void test_histogram(void **state)
{
	(void)state;
	struct cs__sigd_histogram h;
	memset(&h, 0, sizeof(h));
	for (size_t i = 1; i < CS__SIGD_BUCKETS; i++)
		assert_true(cs__sigd_buckets[i - 1] < cs__sigd_buckets[i]);
	assert_true(cs__sigd_buckets[0] == 0.0001);
	assert_true(cs__sigd_buckets[CS__SIGD_BUCKETS - 1] == 2.5);

	/* a value goes to the first bucket whose bound it does not exceed */
	cs__sigd_observe(&h, 0);
	cs__sigd_observe(&h, 0.00005);
	cs__sigd_observe(&h, 0.0001);
	assert_int_equal(h.counts[0], 3);
	cs__sigd_observe(&h, 0.00010001);
	assert_int_equal(h.counts[1], 1);
	cs__sigd_observe(&h, 0.003); /* (0.0025, 0.005] */
	assert_int_equal(h.counts[5], 1);
	cs__sigd_observe(&h, 1);
	assert_int_equal(h.counts[12], 1);
	cs__sigd_observe(&h, 2.5);
	assert_int_equal(h.counts[13], 1);
	/* above the last bound: the +Inf bucket */
	cs__sigd_observe(&h, 2.5000001);
	cs__sigd_observe(&h, 3600);
	assert_int_equal(h.counts[CS__SIGD_BUCKETS], 2);
	assert_int_equal(h.n, 9);
	uint64_t total = 0;
	for (size_t i = 0; i <= CS__SIGD_BUCKETS; i++)
		total += h.counts[i];
	assert_int_equal(total, h.n);
	double sum = 0 + 0.00005 + 0.0001 + 0.00010001 + 0.003 + 1 + 2.5 + 2.5000001 + 3600;
	assert_true(h.sum > sum - 1e-9 && h.sum < sum + 1e-9);

	/* every bound belongs to its own bucket, just above it to the next */
	memset(&h, 0, sizeof(h));
	for (size_t i = 0; i < CS__SIGD_BUCKETS; i++) {
		cs__sigd_observe(&h, cs__sigd_buckets[i]);
		assert_int_equal(h.counts[i], 1);
		cs__sigd_observe(&h, cs__sigd_buckets[i] * 1.000001);
		assert_int_equal(h.counts[i + 1], 1);
		memset(&h, 0, sizeof(h));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_paths),
		cmocka_unit_test(test_config_refused),
		cmocka_unit_test(test_config_load),
		cmocka_unit_test(test_config_load_empty_path),
		cmocka_unit_test(test_config_load_relative_file),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_init_hex_host),
		cmocka_unit_test(test_fp_parse),
		cmocka_unit_test(test_fp_parse_double_colon),
		cmocka_unit_test(test_request_single),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_request_sizes),
		cmocka_unit_test(test_request_batch),
		cmocka_unit_test(test_request_batch_limit),
		cmocka_unit_test(test_store_add_get_reopen),
		cmocka_unit_test(test_store_untrusted),
		cmocka_unit_test(test_store_revoked),
		cmocka_unit_test(test_store_stale_crl),
		cmocka_unit_test(test_store_grow),
		cmocka_unit_test(test_store_open_errors),
		cmocka_unit_test(test_histogram),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
