#ifndef CS_SIGD_LOCAL_H
#define CS_SIGD_LOCAL_H
/* Definitions shared by the files of src/lib/sigd/ only. */
#include <pthread.h>
#include <stdatomic.h>
#include <certsync/httpd.h>
#include <certsync/identity.h>
#include <certsync/sigd.h>
#include <certsync/store.h>

#define CS__SIGD_FP_LEN 32           /* SHA-256 of a certificate's DER */
#define CS__SIGD_DATA_MAX (64u << 10) /* signed data in one verification */
#define CS__SIGD_SIG_MAX 1024
#define CS__SIGD_BATCH_MAX 1000
#define CS__SIGD_BODY_MAX (16u << 20)
#define CS__SIGD_CERT_MAX (64u << 10)
#define CS__SIGD_INFLIGHT_MAX 4096   /* lookups under way; more are not started */
#define CS__SIGD_NEG_MAX 4096        /* negative-cache entries */

/* ---- verification requests (request.c) ---- */

enum cs__sigd_alg { CS__SIGD_ALG_ECDSA_P256 = 1, CS__SIGD_ALG_RSA_PSS = 2 };

/* One verification as asked; data and sig are decoded copies. */
struct cs__sigd_item {
	uint8_t fp[CS__SIGD_FP_LEN];
	int alg;
	uint8_t *data;
	size_t data_len;
	uint8_t *sig;
	size_t sig_len;
	/* a refusal found while parsing this item of a batch (0: none) */
	int status;
	const char *code;
	char msg[128];
};

/* A request: one item, or {"items": [...]} (a batch). */
struct cs__sigd_request {
	struct cs__sigd_item *items;
	size_t n;
	int batch;
};

/* Parse a verify body (PROTOCOL.md §14.2). A single verification that does
 * not parse is refused as a whole: CS_EMALFORMED / CS_EINVAL / CS_ELIMIT
 * and *code ("malformed", "alg_unknown"); in a batch each bad item is
 * marked and the others stand. */
int cs__sigd_request_parse(struct cs__sigd_request *rq, const char **code, const char *text, size_t len);
void cs__sigd_request_clear(struct cs__sigd_request *rq);
/* The name of an algorithm, "" when unknown. */
const char *cs__sigd_alg_name(int alg);
/* A fingerprint in hex (64 digits, either case, ':' allowed between bytes). */
int cs__sigd_fp_parse(uint8_t fp[CS__SIGD_FP_LEN], const char *text);

/* ---- the certificate store (certstore.c) ---- */

struct cs__sigd_cert {
	uint8_t fp[CS__SIGD_FP_LEN];
	cs_cert *cert;
	char *subject;
	int kind;                /* cs_cert_key_kind */
	int64_t not_after;       /* the certificate's own end */
	int64_t trusted_until;   /* and its anchor's, and its issuer's CRL's next update: checked
	                          * at every verification */
	struct cs__sigd_cert *next; /* hash chain */
};

struct cs__sigd_store {
	cs_store *db;
	struct cs__sigd_cert **buckets;
	size_t nbuckets, count;
	size_t skipped;          /* rows that no longer pass the anchors, at open */
	cs_cert *anchors[CS_SIGD_ANCHORS_MAX];
	size_t nanchors;
	char *crls[CS_SIGD_ANCHORS_MAX]; /* PEM texts */
	int64_t crl_next[CS_SIGD_ANCHORS_MAX]; /* their nextUpdate (0: none) */
	size_t ncrls;
};

int cs__sigd_store_open(struct cs__sigd_store *st, const struct cs_sigd_config *c);
void cs__sigd_store_close(struct cs__sigd_store *st);
/* The certificate with this fingerprint, or NULL (borrowed). */
const struct cs__sigd_cert *cs__sigd_store_get(const struct cs__sigd_store *st,
	const uint8_t fp[CS__SIGD_FP_LEN]);
/* Check a certificate against the trust anchors (chain, validity now,
 * revocation by the CRLs of its issuer). Returns 0, or CS_EAUTH with *code
 * "cert_untrusted", CS_EEXPIRED "cert_expired", CS_EREVOKED "cert_revoked". */
int cs__sigd_validate(const struct cs__sigd_store *st, const cs_cert *cert, const char **code,
	int64_t *trusted_until);
/* Validate and keep a certificate (DER); source says where it came from.
 * *fp gets its fingerprint. Already held: CS_OK. */
int cs__sigd_store_add(struct cs__sigd_store *st, uint8_t fp[CS__SIGD_FP_LEN], const uint8_t *der,
	size_t len, const char *source, const char **code);

/* ---- peers and lookups (lookup.c) ---- */

struct cs__sigd_peer {
	char *url;
	atomic_int up;           /* 0 after a failure until a health check succeeds */
	atomic_ullong requests, found, not_found, failed;
	atomic_llong last_change_ms;
};

/* A lookup of one certificate at the peers, run by a fetch thread. */
struct cs__sigd_lookup {
	uint8_t fp[CS__SIGD_FP_LEN];
	struct cs__sigd_lookup *next;    /* in-flight list (loop thread) or queue */
	struct cs__sigd_waiter *waiters; /* requests waiting for it (loop thread) */
	/* the result, set by the fetch thread */
	int found;                       /* 1: der holds the certificate */
	uint8_t *der;
	size_t der_len;
	char peer[256];                  /* which peer answered */
	int64_t started_ms, ended_ms;
	int asked;                       /* peers asked */
	int answered;                    /* of which answered (found or not) */
};

/* A request waiting for lookups: called on the loop thread when one ends. */
struct cs__sigd_waiter {
	struct cs__sigd_waiter *next;
	void (*done)(struct cs__sigd_waiter *w, struct cs__sigd_lookup *l);
};

/* The lookup machinery: a queue served by fetch threads, a health thread,
 * and a pipe that hands finished lookups back to the loop. */
struct cs__sigd_fetcher;
int cs__sigd_fetcher_start(struct cs__sigd_fetcher **out, cs_sigd *s);
void cs__sigd_fetcher_stop(struct cs__sigd_fetcher *f);
/* Queue a lookup (loop thread; the fetcher owns it until it hands it back). */
int cs__sigd_fetcher_submit(struct cs__sigd_fetcher *f, struct cs__sigd_lookup *l);

/* ---- the node (server.c) ---- */

#define CS__SIGD_BUCKETS 14
extern const double cs__sigd_buckets[CS__SIGD_BUCKETS]; /* histogram bounds, seconds */

struct cs__sigd_histogram {
	uint64_t counts[CS__SIGD_BUCKETS + 1];
	double sum;
	uint64_t n;
};
void cs__sigd_observe(struct cs__sigd_histogram *h, double seconds);

struct cs__sigd_neg {                /* negative cache entry */
	uint8_t fp[CS__SIGD_FP_LEN];
	int64_t until_ms;
	const char *code;                /* why: "cert_unknown", "cert_untrusted", ... */
	struct cs__sigd_neg *next;
};

struct cs_sigd {
	struct cs_sigd_config cfg;
	cs_httpd *httpd;
	struct cs__sigd_store store;
	struct cs__sigd_peer peers[CS_SIGD_PEERS_MAX];
	size_t npeers;
	struct cs__sigd_fetcher *fetcher;
	struct cs__sigd_lookup *inflight; /* loop thread */
	size_t ninflight;
	struct cs__sigd_neg *neg;         /* loop thread, newest first */
	size_t nneg;
	cs_cert *cluster_ca;
	char *cluster_ca_crt;             /* CFG.cluster_ca/ca.crt */
	/* metrics (loop thread) */
	uint64_t verify_ok, verify_refused, cache_hits, cache_misses, neg_hits, lookups, lookups_joined;
	uint64_t lookups_found, lookups_failed, lookups_refused, certs_served, certs_added;
	struct cs__sigd_histogram verify_h, fetch_h;
};

/* The loop's side of a finished lookup (server.c). */
void cs__sigd_lookup_done(cs_sigd *s, struct cs__sigd_lookup *l);

#endif
