/*
 * A sigd node (include/certsync/sigd.h, PROTOCOL.md §14): the HTTPS API,
 * the verification of each request, the lookups it waits for, the negative
 * cache and the metrics. Everything here runs on the event loop thread;
 * lookups run on fetch threads (lookup.c) and come back through
 * cs__sigd_lookup_done.
 *
 * A request whose certificates are all held is answered at once. One that
 * misses a certificate (in fetch mode) joins the lookup already under way
 * for it, or starts one; it is answered when the last of its lookups ends.
 * A lookup that asked at least one peer and found nothing usable is
 * remembered for negative_cache_ms: until then the same miss is answered at
 * once, with no peer traffic.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include "lib/sigd/local.h"

const double cs__sigd_buckets[CS__SIGD_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

/* Monotonic seconds with microseconds: latencies are well below a millisecond. */
static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cs__sigd_observe(struct cs__sigd_histogram *h, double seconds)
{
	size_t i = 0;
	while (i < CS__SIGD_BUCKETS && seconds > cs__sigd_buckets[i])
		i++;
	h->counts[i]++;
	h->sum += seconds;
	h->n++;
}

static void reply_json(cs_http_req *req, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
		return;
	}
	cs_http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

/* ---- the negative cache ---- */

static struct cs__sigd_neg *neg_find(cs_sigd *s, const uint8_t fp[CS__SIGD_FP_LEN], int live_only)
{
	int64_t now = cs_clock_mono_ms();
	for (struct cs__sigd_neg *n = s->neg; n != NULL; n = n->next)
		if (memcmp(n->fp, fp, CS__SIGD_FP_LEN) == 0 && (!live_only || n->until_ms > now))
			return n;
	return NULL;
}

static void neg_put(cs_sigd *s, const uint8_t fp[CS__SIGD_FP_LEN], const char *code)
{
	int64_t now = cs_clock_mono_ms();
	/* drop what expired (kept until now so that a request waiting on this
	 * loop turn still finds why its lookup failed) */
	for (struct cs__sigd_neg **p = &s->neg; *p != NULL;) {
		if ((*p)->until_ms <= now || memcmp((*p)->fp, fp, CS__SIGD_FP_LEN) == 0) {
			struct cs__sigd_neg *dead = *p;
			*p = dead->next;
			free(dead);
			s->nneg--;
		} else {
			p = &(*p)->next;
		}
	}
	struct cs__sigd_neg *n = calloc(1, sizeof(*n));
	if (n == NULL)
		return;
	memcpy(n->fp, fp, CS__SIGD_FP_LEN);
	n->until_ms = now + s->cfg.negative_cache_ms;
	n->code = code;
	n->next = s->neg;
	s->neg = n;
	if (++s->nneg > CS__SIGD_NEG_MAX) { /* full: the oldest entry goes */
		struct cs__sigd_neg **p = &s->neg;
		while ((*p)->next != NULL)
			p = &(*p)->next;
		free(*p);
		*p = NULL;
		s->nneg--;
	}
}

/* ---- a verification request ---- */

struct job;
struct job_wait {
	struct cs__sigd_waiter w; /* first: the lookup's list links these */
	struct job *job;
};

struct job {
	cs_sigd *s;
	cs_http_req *req;         /* NULL once the client went away */
	struct cs__sigd_request rq;
	struct job_wait *waits;   /* one per lookup waited for */
	size_t nwaits, pending;
	double start;
	int fetched;              /* a certificate came from a peer */
	int unavailable;          /* a lookup could ask no peer */
};

static void job_free(struct job *j)
{
	cs__sigd_request_clear(&j->rq);
	free(j->waits);
	free(j);
}

/* The outcome of one item: 0 valid, else an HTTP status with code/msg. */
static int check_item(cs_sigd *s, const struct cs__sigd_item *it, const char **code, char *msg, size_t n,
	const struct cs__sigd_cert **out, int unavailable)
{
	if (it->status) {
		*code = it->code;
		snprintf(msg, n, "%s", it->msg);
		return it->status;
	}
	const struct cs__sigd_cert *e = cs__sigd_store_get(&s->store, it->fp);
	*out = e;
	if (e == NULL) {
		const struct cs__sigd_neg *ng = neg_find(s, it->fp, 1);
		if (ng != NULL && strcmp(ng->code, "cert_unknown") != 0) {
			*code = ng->code;
			snprintf(msg, n, "the certificate a peer holds was refused (%s): not stored", ng->code);
			return 422;
		}
		if (unavailable && s->cfg.mode == CS_SIGD_MODE_FETCH && ng == NULL) {
			*code = "peers_unavailable";
			snprintf(msg, n, "the certificate is not held here and no peer could be asked");
			return 503;
		}
		*code = "cert_unknown";
		snprintf(msg, n, s->cfg.mode == CS_SIGD_MODE_LOCAL ? "the certificate is not held by this node "
			"(local mode: no peer is asked)" : "no node of the cluster holds the certificate");
		return 404;
	}
	int64_t now = cs_clock_now();
	if (e->not_after < now) {
		*code = "cert_expired";
		snprintf(msg, n, "the certificate expired");
		return 422;
	}
	if (e->trusted_until < now) {
		*code = "cert_untrusted";
		snprintf(msg, n, "its trust anchor expired, or its issuer's CRL is past its next update");
		return 422;
	}
	int want = it->alg == CS__SIGD_ALG_ECDSA_P256 ? CS_KEY_EC_P256 : CS_KEY_RSA;
	if (e->kind != want) {
		*code = "alg_mismatch";
		snprintf(msg, n, "the certificate's key does not do %s", cs__sigd_alg_name(it->alg));
		return 422;
	}
	if (cs_cert_verify_signature(e->cert, it->data, it->data_len, it->sig, it->sig_len) < 0) {
		*code = "signature_invalid";
		snprintf(msg, n, "the signature does not verify with the certificate's key");
		return 422;
	}
	return 0;
}

static void job_answer(struct job *j)
{
	cs_sigd *s = j->s;
	char hex[2 * CS__SIGD_FP_LEN + 1], msg[160];
	const char *code = NULL;
	const struct cs__sigd_cert *e = NULL;

	if (!j->rq.batch) {
		const struct cs__sigd_item *it = &j->rq.items[0];
		int st = check_item(s, it, &code, msg, sizeof(msg), &e, j->unavailable);
		cs_hex_encode(hex, it->fp, CS__SIGD_FP_LEN);
		if (st == 0) {
			s->verify_ok++;
			reply_json(j->req, 200, json_pack("{s:b, s:s, s:s, s:s, s:s}", "valid", 1, "cert", hex,
				"subject", e->subject ? e->subject : "", "alg", cs__sigd_alg_name(it->alg), "source",
				j->fetched ? "fetched" : "local"));
		} else {
			s->verify_refused++;
			cs_http_reply_error(j->req, st, code, "%s", msg);
		}
	} else {
		json_t *res = json_array();
		size_t ok = 0;
		for (size_t i = 0; i < j->rq.n; i++) {
			const struct cs__sigd_item *it = &j->rq.items[i];
			int st = check_item(s, it, &code, msg, sizeof(msg), &e, j->unavailable);
			if (st == 0) {
				ok++;
				json_array_append_new(res, json_pack("{s:b}", "valid", 1));
			} else {
				json_array_append_new(res, json_pack("{s:b, s:i, s:s, s:s}", "valid", 0, "status", st,
					"code", code, "error", msg));
			}
		}
		s->verify_ok += ok;
		s->verify_refused += j->rq.n - ok;
		reply_json(j->req, 200, json_pack("{s:o, s:I, s:I}", "results", res, "valid", (json_int_t)ok,
			"refused", (json_int_t)(j->rq.n - ok)));
	}
	cs__sigd_observe(&s->verify_h, mono_s() - j->start);
	j->req = NULL;
}

static void job_closed(cs_http_req *req, void *ud)
{
	struct job *j = ud;
	(void)req;
	j->req = NULL; /* answered never; freed when its lookups end */
}

static void job_lookup_done(struct cs__sigd_waiter *w, struct cs__sigd_lookup *l)
{
	struct job *j = ((struct job_wait *)w)->job;
	if (l->found)
		j->fetched = 1;
	if (!l->found && l->answered == 0)
		j->unavailable = 1;
	if (--j->pending > 0)
		return;
	if (j->req != NULL)
		job_answer(j);
	job_free(j);
}

static struct cs__sigd_lookup *inflight_find(cs_sigd *s, const uint8_t fp[CS__SIGD_FP_LEN])
{
	for (struct cs__sigd_lookup *l = s->inflight; l != NULL; l = l->next)
		if (memcmp(l->fp, fp, CS__SIGD_FP_LEN) == 0)
			return l;
	return NULL;
}

static void verify(cs_http_req *req, void *ud)
{
	cs_sigd *s = ud;
	struct job *j = calloc(1, sizeof(*j));
	const char *code = "malformed";
	size_t len;
	const char *body = (const char *)cs_http_req_body(req, &len);

	if (j == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
		return;
	}
	j->s = s;
	j->req = req;
	j->start = mono_s();
	int r = cs__sigd_request_parse(&j->rq, &code, body, len);
	if (r < 0) {
		s->verify_refused++;
		cs_http_reply_error(req, 400, code, "%s", cs_error_last());
		job_free(j);
		return;
	}
	if ((j->waits = calloc(j->rq.n, sizeof(*j->waits))) == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
		job_free(j);
		return;
	}
	for (size_t i = 0; i < j->rq.n; i++) {
		const struct cs__sigd_item *it = &j->rq.items[i];
		if (it->status)
			continue;
		if (cs__sigd_store_get(&s->store, it->fp) != NULL) {
			s->cache_hits++;
			continue;
		}
		s->cache_misses++;
		if (s->cfg.mode != CS_SIGD_MODE_FETCH || s->npeers == 0)
			continue;
		if (neg_find(s, it->fp, 1) != NULL) {
			s->neg_hits++;
			continue;
		}
		struct cs__sigd_lookup *l = inflight_find(s, it->fp);
		int waiting = 0;
		for (size_t k = 0; l != NULL && k < j->nwaits; k++)
			for (struct cs__sigd_waiter *w = l->waiters; w != NULL; w = w->next)
				waiting |= w == &j->waits[k].w;
		if (waiting)
			continue; /* this request waits for it already (same certificate twice) */
		if (l == NULL) {
			if (s->ninflight >= CS__SIGD_INFLIGHT_MAX) {
				s->lookups_refused++;
				continue; /* answered as not held: the node is too busy to ask */
			}
			if ((l = calloc(1, sizeof(*l))) == NULL)
				continue;
			s->ninflight++;
			memcpy(l->fp, it->fp, CS__SIGD_FP_LEN);
			l->next = s->inflight;
			s->inflight = l;
			s->lookups++;
			struct cs__sigd_lookup *copy = l;
			/* the fetcher gets its own record; the in-flight one keeps the waiters */
			if ((copy = calloc(1, sizeof(*copy))) == NULL) {
				s->inflight = l->next;
				free(l);
				continue;
			}
			memcpy(copy->fp, it->fp, CS__SIGD_FP_LEN);
			cs__sigd_fetcher_submit(s->fetcher, copy);
		} else {
			s->lookups_joined++;
		}
		struct job_wait *jw = &j->waits[j->nwaits++];
		jw->job = j;
		jw->w.done = job_lookup_done;
		jw->w.next = l->waiters;
		l->waiters = &jw->w;
		j->pending++;
	}
	if (j->pending == 0) {
		job_answer(j);
		job_free(j);
		return;
	}
	cs_http_req_on_close(req, job_closed, j);
}

void cs__sigd_lookup_done(cs_sigd *s, struct cs__sigd_lookup *res)
{
	char hex[2 * CS__SIGD_FP_LEN + 1];
	struct cs__sigd_lookup **p = &s->inflight, *l = NULL;
	for (; *p != NULL; p = &(*p)->next)
		if (memcmp((*p)->fp, res->fp, CS__SIGD_FP_LEN) == 0) {
			l = *p;
			*p = l->next;
			s->ninflight--;
			break;
		}
	cs_hex_encode(hex, res->fp, CS__SIGD_FP_LEN);
	cs__sigd_observe(&s->fetch_h, (double)(res->ended_ms - res->started_ms) / 1000.0);
	if (res->found) {
		uint8_t fp[CS__SIGD_FP_LEN];
		const char *code = NULL;
		int r = cs__sigd_store_add(&s->store, fp, res->der, res->der_len, res->peer, &code);
		if (r == 0 && memcmp(fp, res->fp, CS__SIGD_FP_LEN) != 0) {
			/* cannot be stored under another name: a peer answered with
			 * a different certificate; it was checked, but is not this one */
			r = CS_EAUTH;
			code = "cert_unknown";
		}
		if (r < 0) {
			res->found = 0;
			s->lookups_failed++;
			neg_put(s, res->fp, code ? code : "cert_untrusted");
			cs_log(CS_LOG_WARN, "lookup.refused", "cert=%s peer=%s code=%s error=\"%s\"", hex, res->peer,
				code ? code : "?", cs_error_last());
		} else {
			s->lookups_found++;
			s->certs_added++;
			cs_log(CS_LOG_INFO, "lookup.found", "cert=%s peer=%s asked=%d ms=%lld", hex, res->peer,
				res->asked, (long long)(res->ended_ms - res->started_ms));
		}
	} else {
		s->lookups_failed++;
		if (res->answered > 0) {
			neg_put(s, res->fp, "cert_unknown");
		} else { /* no peer reached: nothing learnt, and nothing old stands */
			for (struct cs__sigd_neg **np = &s->neg; *np != NULL; np = &(*np)->next)
				if (memcmp((*np)->fp, res->fp, CS__SIGD_FP_LEN) == 0) {
					struct cs__sigd_neg *dead = *np;
					*np = dead->next;
					free(dead);
					s->nneg--;
					break;
				}
		}
		cs_log(CS_LOG_INFO, "lookup.missed", "cert=%s asked=%d answered=%d", hex, res->asked, res->answered);
	}
	if (l != NULL) {
		for (struct cs__sigd_waiter *w = l->waiters, *next; w != NULL; w = next) {
			next = w->next;
			/* the waiters learn the outcome from the store and the
			 * negative cache; found/answered from the result */
			l->found = res->found;
			l->answered = res->answered;
			w->done(w, l);
		}
		free(l);
	}
	free(res->der);
	free(res);
}

/* ---- the other endpoints ---- */

static void serve_cert(cs_http_req *req, void *ud)
{
	cs_sigd *s = ud;
	uint8_t fp[CS__SIGD_FP_LEN];
	const char *path = cs_http_req_path(req) + strlen("/v1/certs/");
	if (strcmp(cs_http_req_method(req), "GET") != 0) {
		cs_http_req_add_header(req, "Allow", "GET");
		cs_http_reply_error(req, 405, "method_not_allowed", "use GET");
		return;
	}
	if (cs__sigd_fp_parse(fp, path) < 0) {
		cs_http_reply_error(req, 400, "malformed", "%s", cs_error_last());
		return;
	}
	/* a peer's question is answered from this node's store only: peers
	 * never ask on each other's behalf, so a lookup cannot loop */
	const struct cs__sigd_cert *e = cs__sigd_store_get(&s->store, fp);
	if (e == NULL) {
		cs_http_reply_error(req, 404, "cert_unknown", "this node does not hold the certificate");
		return;
	}
	uint8_t *der = NULL;
	size_t len = 0;
	if (cs_cert_to_der(&der, &len, e->cert) < 0) {
		cs_http_reply_error(req, 500, "error", "%s", cs_error_last());
		return;
	}
	s->certs_served++;
	cs_http_reply(req, 200, "application/pkix-cert", der, len);
	free(der);
}

/* Split PEM text into certificates (each BEGIN..END block). */
static int next_pem(const char **p, const char **start, size_t *len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
	const char *b = strstr(*p, begin);
	if (b == NULL)
		return 0;
	const char *e = strstr(b, end);
	if (e == NULL)
		return 0;
	e += sizeof(end) - 1;
	*start = b;
	*len = (size_t)(e - b);
	*p = e;
	return 1;
}

static void admin_certs(cs_http_req *req, void *ud)
{
	cs_sigd *s = ud;
	const cs_cert *client = cs_http_req_peer_cert(req);
	char *admin = NULL;
	if (strcmp(cs_http_req_method(req), "POST") != 0) {
		cs_http_req_add_header(req, "Allow", "POST");
		cs_http_reply_error(req, 405, "method_not_allowed", "use POST");
		return;
	}
	if (client == NULL || cs_cert_verify(client, s->cluster_ca, NULL, 0) < 0 ||
	    cs_cert_admin_name(&admin, client) < 0) {
		cs_log(CS_LOG_WARN, "admin.denied", "remote=%s", cs_http_req_remote(req));
		cs_http_reply_error(req, 403, "admin_required", "adding certificates needs an administrator "
			"certificate of the cluster CA");
		return;
	}
	size_t len;
	const char *body = (const char *)cs_http_req_body(req, &len), *p = body, *start;
	size_t plen, n = 0;
	json_t *added = json_array();
	char hex[2 * CS__SIGD_FP_LEN + 1];
	while (next_pem(&p, &start, &plen)) {
		cs_cert *c = NULL;
		uint8_t *der = NULL, fp[CS__SIGD_FP_LEN];
		size_t dl = 0;
		const char *code = "malformed";
		n++;
		int r = cs_cert_from_pem(&c, start, plen);
		if (r == 0)
			r = cs_cert_to_der(&der, &dl, c);
		cs_cert_free(c);
		if (r == 0)
			r = cs__sigd_store_add(&s->store, fp, der, dl, "admin", &code);
		free(der);
		if (r < 0) {
			cs_log(CS_LOG_INFO, "admin.refused", "admin=%s index=%zu code=%s", admin, n, code);
			json_t *e = json_pack("{s:s, s:s, s:I, s:O}", "code", code, "error", cs_error_last(), "index",
				(json_int_t)n, "added", added);
			json_decref(added);
			free(admin);
			reply_json(req, code && strcmp(code, "malformed") == 0 ? 400 : 422, e);
			return;
		}
		s->certs_added++;
		cs_hex_encode(hex, fp, CS__SIGD_FP_LEN);
		json_array_append_new(added, json_string(hex));
		cs_log(CS_LOG_INFO, "admin.added", "admin=%s cert=%s", admin, hex);
	}
	free(admin);
	if (n == 0) {
		json_decref(added);
		cs_http_reply_error(req, 400, "malformed", "the body holds no PEM certificate");
		return;
	}
	reply_json(req, 200, json_pack("{s:o}", "added", added));
}

static void healthz(cs_http_req *req, void *ud)
{
	cs_sigd *s = ud;
	reply_json(req, 200, json_pack("{s:s, s:s, s:s, s:I}", "status", "ok", "name", s->cfg.name, "role",
		s->cfg.role == CS_SIGD_CENTER ? "center" : "edge", "certs", (json_int_t)s->store.count));
}

static void put_hist(cs_buf *b, const char *name, const char *help, const struct cs__sigd_histogram *h)
{
	char line[256];
	uint64_t cum = 0;
	snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	cs_buf_put(b, line, strlen(line));
	for (size_t i = 0; i <= CS__SIGD_BUCKETS; i++) {
		cum += h->counts[i];
		if (i < CS__SIGD_BUCKETS)
			snprintf(line, sizeof(line), "%s_bucket{le=\"%g\"} %llu\n", name, cs__sigd_buckets[i],
				(unsigned long long)cum);
		else
			snprintf(line, sizeof(line), "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
		cs_buf_put(b, line, strlen(line));
	}
	snprintf(line, sizeof(line), "%s_sum %.6f\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->n);
	cs_buf_put(b, line, strlen(line));
}

static void putf(cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(cs_buf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		cs_buf_put(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void metrics(cs_http_req *req, void *ud)
{
	cs_sigd *s = ud;
	cs_buf *b = cs_buf_new(1u << 20);
	if (b == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
		return;
	}
	putf(b, "# HELP certsync_sigd_verify_total Verifications answered, by result.\n"
		"# TYPE certsync_sigd_verify_total counter\n"
		"certsync_sigd_verify_total{result=\"valid\"} %llu\ncertsync_sigd_verify_total{result=\"refused\"} %llu\n",
		(unsigned long long)s->verify_ok, (unsigned long long)s->verify_refused);
	putf(b, "# HELP certsync_sigd_cache_total Certificates looked for in this node's store, by result.\n"
		"# TYPE certsync_sigd_cache_total counter\n"
		"certsync_sigd_cache_total{result=\"hit\"} %llu\ncertsync_sigd_cache_total{result=\"miss\"} %llu\n",
		(unsigned long long)s->cache_hits, (unsigned long long)s->cache_misses);
	putf(b, "# HELP certsync_sigd_negative_cache_hits_total Misses answered from the negative cache, "
		"with no peer asked.\n# TYPE certsync_sigd_negative_cache_hits_total counter\n"
		"certsync_sigd_negative_cache_hits_total %llu\n", (unsigned long long)s->neg_hits);
	putf(b, "# HELP certsync_sigd_lookups_total Lookups at the peers, started and joined by a "
		"concurrent request for the same certificate.\n# TYPE certsync_sigd_lookups_total counter\n"
		"certsync_sigd_lookups_total{kind=\"started\"} %llu\ncertsync_sigd_lookups_total{kind=\"joined\"} %llu\n"
		"certsync_sigd_lookups_total{kind=\"found\"} %llu\ncertsync_sigd_lookups_total{kind=\"failed\"} %llu\n"
		"certsync_sigd_lookups_total{kind=\"refused_busy\"} %llu\n",
		(unsigned long long)s->lookups, (unsigned long long)s->lookups_joined,
		(unsigned long long)s->lookups_found, (unsigned long long)s->lookups_failed,
		(unsigned long long)s->lookups_refused);
	putf(b, "# HELP certsync_sigd_peer_fetches_total Certificate requests to each peer, by result.\n"
		"# TYPE certsync_sigd_peer_fetches_total counter\n");
	for (size_t i = 0; i < s->npeers; i++) {
		const struct cs__sigd_peer *p = &s->peers[i];
		putf(b, "certsync_sigd_peer_fetches_total{peer=\"%s\",result=\"found\"} %llu\n", p->url,
			(unsigned long long)atomic_load(&p->found));
		putf(b, "certsync_sigd_peer_fetches_total{peer=\"%s\",result=\"not_found\"} %llu\n", p->url,
			(unsigned long long)atomic_load(&p->not_found));
		putf(b, "certsync_sigd_peer_fetches_total{peer=\"%s\",result=\"failed\"} %llu\n", p->url,
			(unsigned long long)atomic_load(&p->failed));
	}
	putf(b, "# HELP certsync_sigd_peer_up 1 while a peer is used, 0 while it is skipped.\n"
		"# TYPE certsync_sigd_peer_up gauge\n");
	for (size_t i = 0; i < s->npeers; i++)
		putf(b, "certsync_sigd_peer_up{peer=\"%s\"} %d\n", s->peers[i].url, atomic_load(&s->peers[i].up));
	putf(b, "# HELP certsync_sigd_certs_served_total Certificates sent to peers.\n"
		"# TYPE certsync_sigd_certs_served_total counter\ncertsync_sigd_certs_served_total %llu\n"
		"# HELP certsync_sigd_certs Certificates held.\n# TYPE certsync_sigd_certs gauge\n"
		"certsync_sigd_certs %zu\n", (unsigned long long)s->certs_served, s->store.count);
	put_hist(b, "certsync_sigd_verify_seconds", "Time from a verification request to its answer.",
		&s->verify_h);
	put_hist(b, "certsync_sigd_fetch_seconds", "Time a lookup at the peers took.", &s->fetch_h);
	cs_http_reply(req, 200, "text/plain; version=0.0.4", cs_buf_ptr(b), cs_buf_len(b));
	cs_buf_free(b);
}

/* ---- the node ---- */

int cs_sigd_new(cs_sigd **out, const struct cs_sigd_config *c)
{
	cs_sigd *s = calloc(1, sizeof(*s));
	int r;
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	/* a copy of the configuration: the caller may clear its own */
	s->cfg.role = c->role;
	s->cfg.mode = c->mode;
	s->cfg.negative_cache_ms = c->negative_cache_ms;
	s->cfg.health_interval_ms = c->health_interval_ms;
	s->cfg.connect_timeout_ms = c->connect_timeout_ms;
	s->cfg.request_timeout_ms = c->request_timeout_ms;
	s->cfg.fetch_threads = c->fetch_threads > 0 ? c->fetch_threads : 4;
	if ((s->cfg.name = strdup(c->name)) == NULL || (s->cfg.listen = strdup(c->listen)) == NULL ||
	    (s->cfg.data_dir = strdup(c->data_dir)) == NULL || (s->cfg.tls_cert = strdup(c->tls_cert)) == NULL ||
	    (s->cfg.tls_key = strdup(c->tls_key)) == NULL || (s->cfg.cluster_ca = strdup(c->cluster_ca)) == NULL ||
	    (s->cluster_ca_crt = cs_path_join(c->cluster_ca, "ca.crt")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c->npeers; i++) {
		if ((s->peers[i].url = strdup(c->peers[i])) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		atomic_init(&s->peers[i].up, 1);
		s->npeers++;
	}
	if ((r = cs_cert_load(&s->cluster_ca, s->cluster_ca_crt)) < 0) {
		cs_error_wrap("cluster CA");
		goto fail;
	}
	if ((r = cs__sigd_store_open(&s->store, c)) < 0)
		goto fail;
	struct cs_httpd_config hc = {
		.listen = c->listen, .cert_path = c->tls_cert, .key_path = c->tls_key,
		.max_body = CS__SIGD_BODY_MAX, .timeout_s = 120,
	};
	if ((r = cs_httpd_new(&s->httpd, &hc)) < 0)
		goto fail;
	if ((r = cs_httpd_route(s->httpd, "POST", "/v1/verify", verify, s)) < 0 ||
	    (r = cs_httpd_route(s->httpd, "*", "/v1/certs/", serve_cert, s)) < 0 ||
	    (r = cs_httpd_route(s->httpd, "*", "/v1/admin/certs", admin_certs, s)) < 0 ||
	    (r = cs_httpd_route(s->httpd, "GET", "/healthz", healthz, s)) < 0 ||
	    (r = cs_httpd_route(s->httpd, "GET", "/metrics", metrics, s)) < 0)
		goto fail;
	if ((r = cs__sigd_fetcher_start(&s->fetcher, s)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "sigd.start", "name=%s role=%s mode=%s port=%d peers=%zu certs=%zu anchors=%zu",
		s->cfg.name, s->cfg.role == CS_SIGD_CENTER ? "center" : "edge",
		s->cfg.mode == CS_SIGD_MODE_LOCAL ? "local" : "fetch", cs_httpd_port(s->httpd), s->npeers,
		s->store.count, s->store.nanchors);
	*out = s;
	return CS_OK;
fail:
	cs_sigd_free(s);
	return r;
}

int cs_sigd_port(const cs_sigd *s)
{
	return cs_httpd_port(s->httpd);
}

int cs_sigd_run(cs_sigd *s)
{
	return cs_httpd_run(s->httpd);
}

void cs_sigd_stop(cs_sigd *s)
{
	cs_httpd_stop(s->httpd);
}

void cs_sigd_free(cs_sigd *s)
{
	if (s == NULL)
		return;
	cs__sigd_fetcher_stop(s->fetcher);
	/* the server closes the connections of requests still waiting (their
	 * jobs learn it through job_closed), then the jobs go */
	cs_httpd_free(s->httpd);
	s->httpd = NULL;
	for (struct cs__sigd_lookup *l = s->inflight, *next; l != NULL; l = next) {
		next = l->next;
		for (struct cs__sigd_waiter *w = l->waiters, *wn; w != NULL; w = wn) {
			wn = w->next;
			struct job *j = ((struct job_wait *)w)->job;
			if (--j->pending == 0)
				job_free(j);
		}
		free(l);
	}
	cs__sigd_store_close(&s->store);
	for (struct cs__sigd_neg *n = s->neg, *next; n != NULL; n = next) {
		next = n->next;
		free(n);
	}
	for (size_t i = 0; i < s->npeers; i++)
		free(s->peers[i].url);
	cs_cert_free(s->cluster_ca);
	free(s->cluster_ca_crt);
	cs_sigd_config_clear(&s->cfg);
	free(s);
}
