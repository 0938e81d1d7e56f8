/*
 * Device endpoints, /v1/agent/... (PROTOCOL.md §4). Every request is
 * authenticated by the TLS client certificate: its SHA-256 fingerprint must
 * be the one of an active registry row.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

#define PREFIX "/v1/agent/"

/* Authenticate the caller into *d; on failure the request is answered. */
static int agent_auth(cs_hub *hub, cs_http_req *req, struct cs__device *d)
{
	char fp[CS_FINGERPRINT_SIZE];
	const cs_cert *peer = cs_http_req_peer_cert(req);
	int r;
	if (peer == NULL) {
		cs__hub_reply_error(hub, req, 403, "denied", "a device client certificate is required");
		return CS_EDENIED;
	}
	if ((r = cs_cert_fingerprint(fp, peer)) < 0) {
		cs__hub_reply_error(hub, req, 403, "denied", "unusable client certificate");
		return CS_EDENIED;
	}
	r = cs__hub_device_by_fingerprint(hub, d, fp);
	if (r == CS_ENOTFOUND) {
		cs_log(CS_LOG_WARN, "agent.denied", "remote=%s fingerprint=%s",
			cs_http_req_remote(req), fp);
		cs__hub_reply_error(hub, req, 403, "denied", "this certificate is not registered");
		return CS_EDENIED;
	}
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return r;
	}
	if (d->revoked) {
		cs_log(CS_LOG_WARN, "agent.revoked", "device=%s remote=%s", d->id,
			cs_http_req_remote(req));
		cs__device_clear(d);
		cs__hub_reply_error(hub, req, 403, "revoked", "device certificate revoked");
		return CS_EREVOKED;
	}
	if (d->not_after < cs_clock_now()) {
		cs__device_clear(d);
		cs__hub_reply_error(hub, req, 403, "expired", "device certificate expired");
		return CS_EEXPIRED;
	}
	cs__hub_device_seen(hub, d);
	return CS_OK;
}

static int method_is(cs_http_req *req, const char *m)
{
	return strcmp(cs_http_req_method(req), m) == 0;
}

static void not_allowed(cs_hub *hub, cs_http_req *req, const char *allowed)
{
	cs_http_req_add_header(req, "Allow", allowed);
	cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use %s", allowed);
}

static void agent_poll(cs_hub *hub, cs_http_req *req, const struct cs__device *d)
{
	int64_t wait = CS__HUB_POLL_DEFAULT_S;
	const char *w = cs_http_req_query(req, "wait");
	const char *resume = cs_http_req_query(req, "resume");
	json_t *task = NULL;
	int r;
	if (w) {
		char *end = NULL;
		long v = strtol(w, &end, 10);
		if (w[0] < '0' || w[0] > '9' || *end != '\0' || v > CS__HUB_POLL_MAX_S) {
			cs__hub_reply_error(hub, req, 400, "invalid", "wait must be 0..%d seconds",
				CS__HUB_POLL_MAX_S);
			return;
		}
		wait = v;
	}
	if (resume && strcmp(resume, "1") == 0 && (r = cs__hub_tasks_resume(hub, d->id)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if ((r = cs__hub_task_next(hub, &task, d->id)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if (task) {
		cs__hub_reply_json(hub, req, 200, task);
		return;
	}
	cs__hub_waiter_add(hub, req, d->id, (int)wait);
}

static void folder(cs_hub *hub, cs_http_req *req, const struct cs__device *d, const char *f)
{
	int put = method_is(req, "PUT");
	if (!put && !method_is(req, "DELETE")) {
		not_allowed(hub, req, "PUT, DELETE");
		return;
	}
	int r = cs__hub_folder_set(hub, d->id, f, put);
	if (r < 0)
		cs__hub_reply_cs_error(hub, req, r);
	else
		cs__hub_reply_json(hub, req, 200, json_object());
}

/* The answer to an upload that is recorded (or failed to be). */
static void blob_put_reply(cs_hub *hub, cs_http_req *req, int r, size_t len, uint64_t records)
{
	if (r == CS_ELIMIT)
		cs__hub_reply_error(hub, req, 507, "limit", "%s", cs_error_last());
	else if (r < 0)
		cs__hub_reply_cs_error(hub, req, r);
	else
		cs__hub_reply_json(hub, req, 201, json_pack("{s:I, s:I}", "size", (json_int_t)len,
			"records", (json_int_t)records));
}

static void blob_put_counted(cs_hub *hub, int64_t job, const char *name, size_t len,
	uint64_t records)
{
	hub->m.blob_bytes_received += len;
	hub->m.blob_uploads++;
	if (name[0] == 'p')
		hub->m.chunk_records_received += records;
	cs_log(CS_LOG_DEBUG, "blob.stored", "job=%lld name=%s size=%zu records=%llu",
		(long long)job, name, len, (unsigned long long)records);
}

/* On the loop, once the writer thread wrote an upload's file. */
static void blob_put_written(cs_hub *hub, struct cs__blob_write *w)
{
	cs_http_req *req = w->req;
	int64_t job = w->job;
	size_t len = w->len;
	char name[CS__HUB_BLOB_NAME_MAX];
	uint64_t records = 0;
	snprintf(name, sizeof(name), "%s", w->name);
	if (req != NULL)
		cs_http_req_on_close(req, NULL, NULL);
	int r = cs__relay_put_end(hub, w, &records);
	if (r == 0) {
		blob_put_counted(hub, job, name, len, records);
		if (strcmp(name, "trailer") != 0) /* that one waits for "produced" */
			cs__blob_wait_stored(hub, job, name);
	} else
		cs_log(CS_LOG_WARN, "blob.store_failed", "job=%lld name=%s error=\"%s\"", (long long)job,
			name, cs_error_last());
	if (req != NULL)
		blob_put_reply(hub, req, r, len, records);
}

struct cs__blob_writer *cs__hub_relay_writer(cs_hub *hub)
{
	if (hub->writer == NULL && hub->httpd != NULL && cs__blob_writer_start(hub, blob_put_written) < 0)
		cs_error_clear(); /* without the thread, the work is done on the loop */
	return hub->writer;
}

static void blob_put_client_left(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__blob_write *w = ud;
	w->req = NULL; /* still recorded; the answer has nowhere to go */
}


/* Copy an upload straight from the received chains into the relay's
 * aligned buffer (one copy, not a gathering and then a copy), then check
 * and queue it. */
static int put_begin(cs_hub *hub, cs_http_req *req, struct cs__blob_write **w, int64_t job,
	const char *name, size_t len)
{
	struct cs__blob_entry *entry = NULL;
	uint8_t *buf = NULL;
	int r = cs__blob_cache_new_empty(&entry, &buf, len);
	if (r < 0)
		return r;
	if ((r = cs_http_req_body_copy(req, buf, len)) < 0) {
		cs__blob_cache_discard(entry);
		return r;
	}
	return cs__relay_put_begin_entry(hub, w, job, name, entry);
}
static void blob_put(cs_hub *hub, cs_http_req *req, const struct cs__device *d, int64_t job,
	const char *name)
{
	char *state = NULL, *fold = NULL;
	char src[CS_DEVICE_ID_SIZE];
	size_t len;
	int r;

	if (!cs__relay_name_ok(name)) {
		cs__hub_reply_error(hub, req, 404, "not_found", "blob name must be header, trailer, "
			"m<N> or p<N>");
		return;
	}
	if ((r = cs__hub_job_info(hub, job, &state, src, &fold)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if (strcmp(src, d->id) != 0)
		cs__hub_reply_error(hub, req, 403, "denied", "only the job's source may upload");
	else if (cs__hub_job_uploading(hub, job) != 1)
		cs__hub_reply_error(hub, req, 409, "state", "job %lld is %s; uploads are closed",
			(long long)job, state);
	else if (strcmp(name, "header") == 0 && strcmp(state, "producing") != 0)
		/* Destinations may already hold this session's header: a second
		 * session (a source that restarted) must not replace it. */
		cs__hub_reply_error(hub, req, 409, "state", "job %lld was announced; its %s cannot "
			"change", (long long)job, name);
	else {
		struct cs__blob_write *w = NULL;
		len = cs_http_req_body_len(req);
		if (len > CS__HUB_BLOB_MAX)
			cs__hub_reply_error(hub, req, 413, "too_large", "a blob is at most %u bytes",
				CS__HUB_BLOB_MAX);
		else if ((r = put_begin(hub, req, &w, job, name, len)) < 0)
			blob_put_reply(hub, req, r, len, 0);
		else if (cs__hub_relay_writer(hub) == NULL) {
			/* no thread: write it here */
			w->req = req;
			cs__relay_put_write(w);
			blob_put_written(hub, w);
		} else {
			w->req = req;
			cs_http_req_on_close(req, blob_put_client_left, w);
			cs__blob_writer_submit(hub->writer, w);
		}
	}
	free(state);
	free(fold);
}

void cs__hub_blob_send(cs_hub *hub, cs_http_req *req, int64_t job, const char *name,
	const char *device)
{
	const uint8_t *data = NULL;
	size_t size = 0;
	int r = cs__relay_get(hub, &data, &size, job, name);
	/* The trailer is given out only once the source has reported the job
	 * produced, so that a destination never acknowledges a sequence
	 * number the hub does not know yet. */
	int is_trailer = strcmp(name, "trailer") == 0;
	if (((r == CS_ENOTFOUND && (name[0] == 'p' || name[0] == 'm' || is_trailer)) ||
		    (r == CS_OK && is_trailer)) && cs__hub_job_uploading(hub, job) == 1) {
		/* The destination is ahead of the source: hold the request
		 * until the blob is stored (the trailer: until the job is
		 * produced), or ask it to come back. */
		cs_error_clear();
		if (device != NULL && cs__blob_wait_add(hub, req, job, name, device) == CS_OK)
			return;
		cs_http_req_add_header(req, "Retry-After", "1");
		cs__hub_reply_error(hub, req, 503, "not_ready", "blob %s of job %lld is not uploaded yet",
			name, (long long)job);
	} else if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
	} else {
		hub->m.blob_bytes_sent += size;
		cs__hub_count(hub, 200);
		/* Sent from the cache's copy itself, held until the last byte
		 * has left even if the cache lets it go meanwhile. */
		void *held = cs__blob_cache_hold(&hub->blobs, data);
		if (held != NULL)
			cs_http_reply_ref(req, 200, "application/octet-stream", data, size,
				cs__blob_cache_release, held);
		else
			cs_http_reply(req, 200, "application/octet-stream", data, size);
	}
}

static void blob_get(cs_hub *hub, cs_http_req *req, const struct cs__device *d, int64_t job,
	const char *name)
{
	char *state = NULL, *fold = NULL;
	char src[CS_DEVICE_ID_SIZE];
	int r;

	if ((r = cs__hub_job_info(hub, job, &state, src, &fold)) < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if (strcmp(src, d->id) != 0 && cs__hub_job_is_dest(hub, job, d->id) != 1)
		cs__hub_reply_error(hub, req, 403, "denied", "not a party to job %lld", (long long)job);
	else if (!cs__relay_name_ok(name))
		/* checked before anything waits for a pack of that name */
		cs__hub_reply_error(hub, req, 404, "not_found", "blob name must be header, trailer, "
			"m<N> or p<N>");
	else
		cs__hub_blob_send(hub, req, job, name, d->id);
	free(state);
	free(fold);
}

static void job_post(cs_hub *hub, cs_http_req *req, const struct cs__device *d, int64_t job,
	const char *verb)
{
	int r;
	int is_produced = strcmp(verb, "produced") == 0, is_failed = strcmp(verb, "failed") == 0;
	int is_progress = strcmp(verb, "progress") == 0, is_ack = strcmp(verb, "ack") == 0;
	int is_ready = strcmp(verb, "ready") == 0;

	if (!is_produced && !is_ready && !is_failed && !is_progress && !is_ack) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		return;
	}
	if (!method_is(req, "POST")) {
		not_allowed(hub, req, "POST");
		return;
	}
	{
		/* an unknown job is 404 whatever the body says */
		char *state = NULL, *fold = NULL;
		char src[CS_DEVICE_ID_SIZE];
		if ((r = cs__hub_job_info(hub, job, &state, src, &fold)) < 0) {
			cs__hub_reply_cs_error(hub, req, r);
			return;
		}
		free(state);
		free(fold);
	}
	size_t len;
	const char *text = cs__hub_body(req, &len);
	if (is_produced || is_ready) {
		struct cs__produced p;
		if ((r = cs__parse_produced(&p, text, len)) < 0 ||
		    (r = is_ready ? cs__hub_job_ready(hub, job, d->id, &p)
				  : cs__hub_job_produced(hub, job, d->id, &p)) < 0)
			goto fail;
	} else if (is_failed) {
		struct cs__failed_body f;
		if ((r = cs__parse_failed(&f, text, len)) == 0)
			r = cs__hub_job_source_failed(hub, job, d->id, f.reason);
		cs__failed_body_clear(&f);
		if (r < 0)
			goto fail;
	} else if (is_progress) {
		struct cs__progress p;
		if ((r = cs__parse_progress(&p, text, len)) < 0 ||
		    (r = cs__hub_job_progress(hub, job, d->id, &p)) < 0)
			goto fail;
	} else {
		struct cs__ack_body k;
		if ((r = cs__parse_ack(&k, text, len)) == 0) {
			struct cs__progress p = {k.files, k.files, k.bytes, k.bytes};
			r = cs__hub_job_ack(hub, job, d->id, k.applied, k.to_seq, k.applied ? &p : NULL,
				k.reason);
			if (r == 0 && k.conflicts)
				cs_log(CS_LOG_INFO, "job.conflicts", "job=%lld device=%s conflicts=%lld",
					(long long)job, d->id, (long long)k.conflicts);
		}
		cs__ack_body_clear(&k);
		if (r < 0)
			goto fail;
	}
	cs__hub_reply_json(hub, req, 200, json_object());
	return;
fail:
	cs__hub_reply_cs_error(hub, req, r);
}

static void agent(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	struct cs__device d = {0};
	char storage[512];
	const char *seg[5];
	int64_t job;

	if (agent_auth(hub, req, &d) < 0)
		return;
	int n = cs__path_split(storage, sizeof(storage), seg, 4, cs_http_req_path(req), PREFIX);
	if (n == 1 && strcmp(seg[0], "self") == 0) {
		if (!method_is(req, "GET"))
			not_allowed(hub, req, "GET");
		else
			cs__hub_reply_json(hub, req, 200, cs__hub_device_json(hub, &d));
	} else if (n == 1 && strcmp(seg[0], "poll") == 0) {
		if (!method_is(req, "GET"))
			not_allowed(hub, req, "GET");
		else
			agent_poll(hub, req, &d);
	} else if (n == 2 && strcmp(seg[0], "folders") == 0) {
		folder(hub, req, &d, seg[1]);
	} else if ((n == 3 || n == 4) && strcmp(seg[0], "jobs") == 0) {
		if (cs__parse_id(&job, seg[1]) < 0)
			cs__hub_reply_error(hub, req, 404, "not_found", "no such job");
		else if (n == 3)
			job_post(hub, req, &d, job, seg[2]);
		else if (strcmp(seg[2], "blobs") != 0)
			cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		else if (method_is(req, "PUT"))
			blob_put(hub, req, &d, job, seg[3]);
		else if (method_is(req, "GET"))
			blob_get(hub, req, &d, job, seg[3]);
		else
			not_allowed(hub, req, "GET, PUT");
	} else {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
	}
	cs__device_clear(&d);
}

void cs__hub_api_agent_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", PREFIX, agent, hub);
}
