/*
 * Lookups at the peers (DESIGN §10): fetch threads take lookups from a
 * queue and ask the peers in their configured order, skipping those marked
 * down; a health thread probes every peer's /healthz and marks it up or
 * down. A finished lookup goes back to the event loop through a pipe, so
 * the loop never waits on the network and touches the store, the in-flight
 * table and the waiting requests alone.
 *
 * A peer is marked down by the first request that fails (no answer, a
 * timeout, a 5xx) and is skipped from then on without being tried, so a
 * dead peer costs one timeout, not one per request; the health thread
 * brings it back when it answers again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/httpc.h>
#include <certsync/log.h>
#include "lib/sigd/local.h"

struct cs__sigd_fetcher {
	cs_sigd *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cs__sigd_lookup *head, *tail; /* the queue */
	atomic_int stopping;
	pthread_t *threads;
	int nthreads;
	pthread_t health;
	int health_started;
	pthread_mutex_t health_mu;
	pthread_cond_t health_cv;
	int pipe_r, pipe_w;                   /* finished lookups, as pointers */
};

static cs_httpc *peer_client(cs_sigd *s, size_t i)
{
	struct cs_httpc_config hc = {
		.base_url = s->peers[i].url,
		.ca_path = s->cluster_ca_crt,
		.connect_timeout_ms = (long)s->cfg.connect_timeout_ms,
	};
	cs_httpc *c = NULL;
	return cs_httpc_new(&c, &hc) < 0 ? NULL : c;
}

static void mark(struct cs__sigd_peer *p, int up, const char *why)
{
	if (atomic_exchange(&p->up, up) != up) {
		atomic_store(&p->last_change_ms, cs_clock_now_ms());
		cs_log(up ? CS_LOG_INFO : CS_LOG_WARN, up ? "peer.up" : "peer.down", "peer=%s reason=\"%s\"",
			p->url, why);
	}
}

/* Ask the peers in order; fills l->found, der, peer. */
static void run_lookup(struct cs__sigd_fetcher *f, cs_httpc **clients, struct cs__sigd_lookup *l)
{
	cs_sigd *s = f->s;
	char path[128], hex[2 * CS__SIGD_FP_LEN + 1];
	cs_hex_encode(hex, l->fp, CS__SIGD_FP_LEN);
	snprintf(path, sizeof(path), "/v1/certs/%s", hex);
	l->started_ms = cs_clock_mono_ms();
	for (size_t i = 0; i < s->npeers && !l->found && !atomic_load(&f->stopping); i++) {
		struct cs__sigd_peer *p = &s->peers[i];
		if (!atomic_load(&p->up))
			continue;
		if (clients[i] == NULL && (clients[i] = peer_client(s, i)) == NULL) {
			mark(p, 0, cs_error_last());
			continue;
		}
		cs_http_resp resp = {0};
		l->asked++;
		atomic_fetch_add(&p->requests, 1);
		int r = cs_httpc_request(&resp, clients[i], "GET", path, NULL, NULL, 0, CS__SIGD_CERT_MAX,
			(long)s->cfg.request_timeout_ms);
		if (r < 0 || resp.status >= 500) {
			atomic_fetch_add(&p->failed, 1);
			mark(p, 0, r < 0 ? cs_error_last() : "5xx");
		} else if (resp.status == 200) {
			uint8_t got[CS__SIGD_FP_LEN];
			cs_sha256(got, resp.body, resp.len);
			if (memcmp(got, l->fp, CS__SIGD_FP_LEN) != 0) {
				/* not the certificate asked for: this peer is wrong, the
				 * next may hold the right one */
				atomic_fetch_add(&p->failed, 1);
				cs_log(CS_LOG_WARN, "peer.wrong_cert", "peer=%s", p->url);
				cs_http_resp_clear(&resp);
				continue;
			}
			l->answered++;
			atomic_fetch_add(&p->found, 1);
			if ((l->der = malloc(resp.len ? resp.len : 1)) != NULL) {
				memcpy(l->der, resp.body, resp.len);
				l->der_len = resp.len;
				l->found = 1;
				snprintf(l->peer, sizeof(l->peer), "%s", p->url);
			}
		} else {
			l->answered++;
			atomic_fetch_add(&p->not_found, 1);
		}
		cs_http_resp_clear(&resp);
	}
	l->ended_ms = cs_clock_mono_ms();
}

static void *fetch_main(void *ud)
{
	struct cs__sigd_fetcher *f = ud;
	cs_httpc *clients[CS_SIGD_PEERS_MAX] = {0};
	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->head == NULL && !f->stopping)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->stopping) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		struct cs__sigd_lookup *l = f->head;
		f->head = l->next;
		if (f->head == NULL)
			f->tail = NULL;
		pthread_mutex_unlock(&f->mu);
		l->next = NULL;
		run_lookup(f, clients, l);
		/* hand it back; a pointer is written whole (PIPE_BUF) */
		ssize_t w;
		do
			w = write(f->pipe_w, &l, sizeof(l));
		while (w < 0 && errno == EINTR);
		if (w != (ssize_t)sizeof(l)) { /* only when stopping: nobody waits any more */
			free(l->der);
			free(l);
		}
	}
	for (size_t i = 0; i < CS_SIGD_PEERS_MAX; i++)
		cs_httpc_free(clients[i]);
	return NULL;
}

/* Probe every peer's /healthz each interval (sooner for down ones). */
static void *health_main(void *ud)
{
	struct cs__sigd_fetcher *f = ud;
	cs_sigd *s = f->s;
	cs_httpc *clients[CS_SIGD_PEERS_MAX] = {0};
	for (;;) {
		for (size_t i = 0; i < s->npeers; i++) {
			struct cs__sigd_peer *p = &s->peers[i];
			cs_http_resp resp = {0};
			if (clients[i] == NULL && (clients[i] = peer_client(s, i)) == NULL)
				continue;
			int r = cs_httpc_request(&resp, clients[i], "GET", "/healthz", NULL, NULL, 0, 4096,
				(long)s->cfg.request_timeout_ms);
			if (r == 0 && resp.status == 200)
				mark(p, 1, "health check answered");
			else
				mark(p, 0, r < 0 ? cs_error_last() : "health check failed");
			cs_http_resp_clear(&resp);
		}
		pthread_mutex_lock(&f->health_mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ns = until.tv_nsec + (s->cfg.health_interval_ms % 1000) * 1000000;
		until.tv_sec += s->cfg.health_interval_ms / 1000 + ns / 1000000000;
		until.tv_nsec = ns % 1000000000;
		int stop = f->stopping;
		if (!stop)
			pthread_cond_timedwait(&f->health_cv, &f->health_mu, &until);
		stop = f->stopping;
		pthread_mutex_unlock(&f->health_mu);
		if (stop)
			break;
	}
	for (size_t i = 0; i < CS_SIGD_PEERS_MAX; i++)
		cs_httpc_free(clients[i]);
	return NULL;
}

static void on_done(void *ud)
{
	struct cs__sigd_fetcher *f = ud;
	struct cs__sigd_lookup *l;
	for (;;) {
		ssize_t n = read(f->pipe_r, &l, sizeof(l));
		if (n != (ssize_t)sizeof(l))
			break;
		cs__sigd_lookup_done(f->s, l);
	}
}

int cs__sigd_fetcher_start(struct cs__sigd_fetcher **out, cs_sigd *s)
{
	struct cs__sigd_fetcher *f = calloc(1, sizeof(*f));
	int fds[2], r;
	if (f == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	f->s = s;
	f->pipe_r = f->pipe_w = -1;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_mutex_init(&f->health_mu, NULL);
	pthread_cond_init(&f->health_cv, NULL);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(f);
		return cs_error_set(CS_EIO, "pipe: %s", strerror(errno));
	}
	f->pipe_r = fds[0];
	f->pipe_w = fds[1];
	fcntl(f->pipe_r, F_SETFL, O_NONBLOCK);
	if ((r = cs_httpd_watch(s->httpd, f->pipe_r, on_done, f)) < 0)
		goto fail;
	if ((f->threads = calloc((size_t)s->cfg.fetch_threads, sizeof(*f->threads))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (; f->nthreads < s->cfg.fetch_threads; f->nthreads++)
		if (pthread_create(&f->threads[f->nthreads], NULL, fetch_main, f) != 0) {
			r = cs_error_set(CS_ERROR, "cannot start a fetch thread");
			goto fail;
		}
	if (s->npeers > 0) {
		if (pthread_create(&f->health, NULL, health_main, f) != 0) {
			r = cs_error_set(CS_ERROR, "cannot start the health thread");
			goto fail;
		}
		f->health_started = 1;
	}
	*out = f;
	return CS_OK;
fail:
	cs__sigd_fetcher_stop(f);
	return r;
}

void cs__sigd_fetcher_stop(struct cs__sigd_fetcher *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_mutex_lock(&f->health_mu);
	pthread_cond_broadcast(&f->health_cv);
	pthread_mutex_unlock(&f->health_mu);
	for (int i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	if (f->health_started)
		pthread_join(f->health, NULL);
	/* lookups still queued or handed back are freed unanswered: their
	 * requests go with the server */
	for (struct cs__sigd_lookup *l = f->head, *next; l != NULL; l = next) {
		next = l->next;
		free(l->der);
		free(l);
	}
	struct cs__sigd_lookup *l;
	while (f->pipe_r >= 0 && read(f->pipe_r, &l, sizeof(l)) == (ssize_t)sizeof(l)) {
		free(l->der);
		free(l);
	}
	if (f->pipe_r >= 0)
		close(f->pipe_r);
	if (f->pipe_w >= 0)
		close(f->pipe_w);
	free(f->threads);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->health_mu);
	pthread_cond_destroy(&f->health_cv);
	free(f);
}

int cs__sigd_fetcher_submit(struct cs__sigd_fetcher *f, struct cs__sigd_lookup *l)
{
	pthread_mutex_lock(&f->mu);
	l->next = NULL;
	if (f->tail != NULL)
		f->tail->next = l;
	else
		f->head = l;
	f->tail = l;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return CS_OK;
}
