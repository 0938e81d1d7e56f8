/*
 * Downloads of packs the source has not uploaded yet (hub_internal.h). A
 * destination that keeps up with its source asks for the next packs before
 * they exist. Rather than answer 503 and be asked again a few milliseconds
 * later (hundreds of requests per job, each a TLS record, a parse and two
 * queries), the hub holds such a request until the pack is stored, the job
 * stops taking uploads, the client leaves, or CS__HUB_BLOB_WAIT_MS pass;
 * only then does the client see a 503 and its usual retry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include "hub/hub_internal.h"

struct cs__blob_wait {
	struct cs__blob_wait *next;
	cs_hub *hub;
	cs_http_req *req;
	int64_t job;
	char name[CS__HUB_BLOB_NAME_MAX];
	char device[CS_DEVICE_ID_SIZE]; /* who asked: checked again before the answer */
	int64_t deadline_ms; /* monotonic */
};

static void unlink_wait(cs_hub *hub, struct cs__blob_wait *w)
{
	for (struct cs__blob_wait **pp = &hub->blob_waits; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			hub->nblob_waits--;
			return;
		}
}

static void client_left(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__blob_wait *w = ud;
	unlink_wait(w->hub, w);
	free(w);
}

/* Whether the device that asked may still be answered: not revoked while
 * its request waited (a store error counts as no). */
static int still_allowed(cs_hub *hub, const char *device)
{
	struct cs__device d = {0};
	int ok = cs__hub_device_get(hub, &d, device) == 0 && !d.revoked;
	if (!ok)
		cs_error_clear();
	cs__device_clear(&d);
	return ok;
}

/* Forget w and answer its request: with the blob (or whatever the job's
 * state now calls for) when send, else with a 503. */
static void finish(cs_hub *hub, struct cs__blob_wait *w, int send)
{
	cs_http_req *req = w->req;
	unlink_wait(hub, w);
	cs_http_req_on_close(req, NULL, NULL);
	if (send && !still_allowed(hub, w->device)) {
		cs__hub_reply_error(hub, req, 403, "revoked", "device certificate revoked");
	} else if (send) {
		cs__hub_blob_send(hub, req, w->job, w->name, NULL);
	} else {
		cs_http_req_add_header(req, "Retry-After", "1");
		cs__hub_reply_error(hub, req, 503, "not_ready", "blob %s of job %lld is not uploaded yet",
			w->name, (long long)w->job);
	}
	free(w);
}

int cs__blob_wait_add(cs_hub *hub, cs_http_req *req, int64_t job, const char *name,
	const char *device)
{
	if (hub->nblob_waits >= CS__HUB_BLOB_WAITS_MAX)
		return CS_ELIMIT;
	struct cs__blob_wait *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return CS_ENOMEM;
	w->hub = hub;
	w->req = req;
	w->job = job;
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->device, sizeof(w->device), "%s", device);
	w->deadline_ms = cs_clock_mono_ms() + CS__HUB_BLOB_WAIT_MS;
	w->next = hub->blob_waits;
	hub->blob_waits = w;
	hub->nblob_waits++;
	cs_http_req_on_close(req, client_left, w);
	return CS_OK;
}

void cs__blob_wait_stored(cs_hub *hub, int64_t job, const char *name)
{
	struct cs__blob_wait *w = hub->blob_waits, *next;
	for (; w; w = next) {
		next = w->next;
		if (w->job == job && strcmp(w->name, name) == 0)
			finish(hub, w, 1);
	}
}

/* Jobs asked about in one tick: each job's state is read once, however
 * many downloads wait for its packs. */
#define TICK_JOBS 32

void cs__blob_wait_tick(cs_hub *hub)
{
	int64_t now = cs_clock_mono_ms(), jobs[TICK_JOBS];
	int states[TICK_JOBS];
	size_t njobs = 0;
	struct cs__blob_wait *w = hub->blob_waits, *next;
	for (; w; w = next) {
		next = w->next;
		size_t k = 0;
		while (k < njobs && jobs[k] != w->job)
			k++;
		int uploading = k < njobs ? states[k] : cs__hub_job_uploading(hub, w->job);
		if (uploading < 0)
			cs_error_clear();
		if (k == njobs && njobs < TICK_JOBS) {
			jobs[njobs] = w->job;
			states[njobs++] = uploading;
		}
		if (uploading == 0)
			finish(hub, w, 1); /* no pack is coming: answer as the job now stands */
		else if (now >= w->deadline_ms)
			finish(hub, w, 0); /* still uploading, or not known (a store error): 503 */
	}
}

size_t cs__blob_waiting(const cs_hub *hub)
{
	return hub->nblob_waits;
}

void cs__blob_waits_free(cs_hub *hub)
{
	while (hub->blob_waits)
		finish(hub, hub->blob_waits, 0);
}
