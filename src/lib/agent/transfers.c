/* Parallel blob transfers. One TLS connection to the hub moves one blob at
 * a time and spends much of it waiting on round trips, so the agent keeps
 * several connections busy: a source uploads packs while it reads and seals
 * the next ones; a destination fetches the next packs while it verifies and
 * writes the current one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/blobc.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "agent_internal.h"

#define PREFETCH_MAX 4 /* fetched blobs held in memory, waiting or done */

struct transfer {
	struct transfer *next;
	int is_get;
	uint64_t job;
	char name[32];
	uint8_t *data;
	size_t len;
	int state; /* 0 waiting, 1 running, 2 done (gets only) */
	int error;
	char message[256];
};

struct worker_slot {
	cs__transfers *t;
	cs_blobc *client;
};

struct cs__transfers {
	cs_agent *ag;
	struct worker_slot slots[CS_AGENT_TRANSFERS];
	pthread_t threads[CS_AGENT_TRANSFERS];
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct transfer *queue; /* every transfer not yet handed back */
	size_t puts_pending;
	size_t gets;
	int put_error; /* first failed upload, with its message */
	char put_message[512];
	int closing;
};

/* Uploads hold a copy from cs_bigmem_alloc; downloads the client's body,
 * which may be one too. */
static void transfer_free(struct transfer *x)
{
	cs_bigmem_free(x->data);
	free(x);
}

static int transfer_one(cs__transfers *t, cs_blobc *c, struct transfer *x)
{
	char path[128];
	int r = CS_ENET;
	int64_t waited = 0;
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/blobs/%s", (unsigned long long)x->job, x->name);
	for (int attempt = 0; attempt < 8 && !t->ag->stop; attempt++) {
		cs_http_resp resp = {0};
		if (attempt)
			sleep(attempt < 4 ? 1u << (attempt - 1) : 8);
		if (x->is_get)
			r = cs_blobc_request(&resp, c, "GET", path, NULL, NULL, 0, CS_AGENT_BLOB_MAX, 120000);
		else
			r = cs_blobc_request(&resp, c, "PUT", path, "application/octet-stream", x->data,
				x->len, CS_AGENT_JSON_MAX, 120000);
		if (r == 0 && x->is_get && cs__agent_not_ready(&resp, x->name, &waited)) {
			cs_http_resp_clear(&resp);
			attempt--;
			continue;
		}
		if (r == 0 && (resp.status < 200 || resp.status > 299))
			r = cs__agent_status_error(resp.status, &resp, path);
		if (r == 0 && x->is_get) {
			x->data = resp.body;
			x->len = resp.len;
			return CS_OK;
		}
		cs_http_resp_clear(&resp);
		if (r != CS_ENET)
			break;
	}
	return r;
}

static struct transfer *next_waiting(cs__transfers *t)
{
	for (struct transfer *x = t->queue; x; x = x->next)
		if (x->state == 0)
			return x;
	return NULL;
}

static void unlink_transfer(cs__transfers *t, struct transfer *x)
{
	for (struct transfer **p = &t->queue; *p; p = &(*p)->next)
		if (*p == x) {
			*p = x->next;
			return;
		}
}

static void *worker(void *arg)
{
	struct worker_slot *slot = arg;
	cs__transfers *t = slot->t;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct transfer *x;
		while ((x = next_waiting(t)) == NULL && !t->closing)
			pthread_cond_wait(&t->changed, &t->lock);
		if (x == NULL)
			break;
		x->state = 1;
		int skip = !x->is_get && t->put_error != 0;
		pthread_mutex_unlock(&t->lock);
		int r = skip ? CS_OK : transfer_one(t, slot->client, x);
		pthread_mutex_lock(&t->lock);
		if (x->is_get) {
			x->error = r;
			if (r < 0)
				snprintf(x->message, sizeof(x->message), "%s", cs_error_last());
			x->state = 2;
		} else {
			if (r < 0 && t->put_error == 0) {
				t->put_error = r;
				snprintf(t->put_message, sizeof(t->put_message), "%s", cs_error_last());
			}
			t->puts_pending--;
			unlink_transfer(t, x);
			transfer_free(x);
		}
		pthread_cond_broadcast(&t->changed);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int cs__transfers_new(cs__transfers **out, cs_agent *ag, const struct cs_httpc_config *cfg)
{
	cs__transfers *t = calloc(1, sizeof(*t));
	int r = CS_OK;
	if (t == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	t->ag = ag;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->changed, NULL);
	for (size_t i = 0; i < CS_AGENT_TRANSFERS; i++) {
		t->slots[i].t = t;
		if ((r = cs_blobc_new(&t->slots[i].client, cfg)) < 0)
			goto fail;
	}
	for (size_t i = 0; i < CS_AGENT_TRANSFERS; i++) {
		if (pthread_create(&t->threads[i], NULL, worker, &t->slots[i]) != 0) {
			r = cs_error_set(CS_ERROR, "cannot start transfer threads");
			goto fail;
		}
		t->nthreads++;
	}
	*out = t;
	return CS_OK;
fail:
	cs__transfers_free(t);
	return r;
}

void cs__transfers_free(cs__transfers *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->lock);
	t->closing = 1;
	/* Waiting transfers are dropped; running ones finish first. */
	for (struct transfer **p = &t->queue; *p;) {
		struct transfer *x = *p;
		if (x->state == 1) {
			p = &x->next;
			continue;
		}
		*p = x->next;
		transfer_free(x);
	}
	pthread_cond_broadcast(&t->changed);
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 0; i < t->nthreads; i++)
		pthread_join(t->threads[i], NULL);
	for (size_t i = 0; i < CS_AGENT_TRANSFERS; i++)
		cs_blobc_free(t->slots[i].client);
	while (t->queue) {
		struct transfer *n = t->queue->next;
		transfer_free(t->queue);
		t->queue = n;
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->changed);
	free(t);
}

static void append(cs__transfers *t, struct transfer *x)
{
	struct transfer **p = &t->queue;
	while (*p)
		p = &(*p)->next;
	*p = x;
	pthread_cond_broadcast(&t->changed);
}

int cs__transfers_put(cs__transfers *t, uint64_t job, const char *name, const uint8_t *data, size_t len)
{
	uint8_t *copy = cs_bigmem_alloc(len ? len : 1);
	if (copy == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(copy, data, len);
	return cs__transfers_put_owned(t, job, name, copy, len);
}

int cs__transfers_put_owned(cs__transfers *t, uint64_t job, const char *name, uint8_t *data, size_t len)
{
	struct transfer *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		cs_bigmem_free(data);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	x->data = data;
	x->len = len;
	x->job = job;
	snprintf(x->name, sizeof(x->name), "%s", name);
	pthread_mutex_lock(&t->lock);
	/* Back-pressure: at most two uploads waiting per connection. */
	while (t->puts_pending >= CS_AGENT_TRANSFERS + 2 && t->put_error == 0)
		pthread_cond_wait(&t->changed, &t->lock);
	int r = t->put_error;
	if (r == 0) {
		t->puts_pending++;
		append(t, x);
		x = NULL;
	} else {
		cs_error_set(r, "%s", t->put_message);
	}
	pthread_mutex_unlock(&t->lock);
	if (x)
		transfer_free(x);
	return r;
}

int cs__transfers_flush(cs__transfers *t)
{
	pthread_mutex_lock(&t->lock);
	while (t->puts_pending > 0)
		pthread_cond_wait(&t->changed, &t->lock);
	int r = t->put_error;
	if (r < 0)
		cs_error_set(r, "%s", t->put_message);
	t->put_error = 0; /* the next job starts clean */
	pthread_mutex_unlock(&t->lock);
	return r;
}

static struct transfer *find_get(cs__transfers *t, uint64_t job, const char *name)
{
	for (struct transfer *x = t->queue; x; x = x->next)
		if (x->is_get && x->job == job && strcmp(x->name, name) == 0)
			return x;
	return NULL;
}

void cs__transfers_prefetch(cs__transfers *t, uint64_t job, const char *name)
{
	pthread_mutex_lock(&t->lock);
	if (!t->closing && t->gets < PREFETCH_MAX && find_get(t, job, name) == NULL) {
		struct transfer *x = calloc(1, sizeof(*x));
		if (x) {
			x->is_get = 1;
			x->job = job;
			snprintf(x->name, sizeof(x->name), "%s", name);
			t->gets++;
			append(t, x);
		}
	}
	pthread_mutex_unlock(&t->lock);
}

int cs__transfers_take(cs__transfers *t, uint64_t job, const char *name, uint8_t **data, size_t *len)
{
	pthread_mutex_lock(&t->lock);
	struct transfer *x = find_get(t, job, name);
	if (x == NULL) {
		pthread_mutex_unlock(&t->lock);
		return CS_ENOTFOUND;
	}
	while (x->state != 2)
		pthread_cond_wait(&t->changed, &t->lock);
	unlink_transfer(t, x);
	t->gets--;
	pthread_cond_broadcast(&t->changed);
	pthread_mutex_unlock(&t->lock);
	int r = x->error;
	if (r < 0) {
		cs_error_set(r, "%s", x->message);
		cs_bigmem_free(x->data);
	} else {
		*data = x->data;
		*len = x->len;
	}
	free(x);
	return r;
}

void cs__transfers_drop_gets(cs__transfers *t)
{
	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct transfer *x = NULL;
		for (struct transfer *y = t->queue; y; y = y->next)
			if (y->is_get)
				x = y;
		if (x == NULL)
			break;
		while (x->state == 1)
			pthread_cond_wait(&t->changed, &t->lock);
		unlink_transfer(t, x);
		t->gets--;
		cs_bigmem_free(x->data);
		free(x);
	}
	pthread_mutex_unlock(&t->lock);
}
