/* JSON calls to the hub and the relay blob transport over HTTPS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include "agent_internal.h"

int cs__agent_not_ready(const cs_http_resp *resp, const char *name, int64_t *since_ms)
{
	if (resp->status != 503)
		return 0;
	/* wall-clock time since the first 503: the hub may hold each request
	 * for seconds before it answers one */
	int64_t now = cs_clock_mono_ms();
	if (*since_ms == 0)
		*since_ms = now;
	int64_t waited = now - *since_ms;
	if (name[0] == 'p' && waited >= CS_AGENT_NOT_READY_MAX_MS)
		return 0;
	int ms = waited < CS_AGENT_NOT_READY_FAST_FOR_MS ? CS_AGENT_NOT_READY_POLL_MS
		: CS_AGENT_NOT_READY_SLOW_MS;
	usleep((useconds_t)ms * 1000);
	return 1;
}

int cs__agent_status_error(long status, const cs_http_resp *resp, const char *what)
{
	char msg[512];
	cs_http_resp_error(msg, sizeof(msg), resp);
	int code = CS_ENET;
	if (status == 401 || status == 403)
		code = strstr(msg, "revoked") ? CS_EREVOKED : CS_EDENIED;
	else if (status == 404)
		code = CS_ENOTFOUND;
	else if (status == 409 || status == 412)
		code = CS_ECONFLICT;
	else if (status >= 400 && status < 500)
		code = CS_EINVAL;
	return cs_error_set(code, "%s: hub answered %ld: %s", what, status, msg);
}

int cs__agent_call(json_t **out, long *status, cs_agent *ag, const char *method, const char *path,
	json_t *body, long timeout_ms)
{
	cs_http_resp resp = {0};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r = cs_httpc_request(&resp, ag->http, method, path, text ? "application/json" : NULL,
		text, text ? strlen(text) : 0, CS_AGENT_JSON_MAX, timeout_ms);
	free(text);
	if (out)
		*out = NULL;
	if (r < 0)
		return r;
	if (status)
		*status = resp.status;
	if (resp.status < 200 || resp.status > 299) {
		char what[256];
		snprintf(what, sizeof(what), "%s %s", method, path);
		r = cs__agent_status_error(resp.status, &resp, what);
		goto done;
	}
	if (out && resp.len > 0) {
		json_error_t jerr;
		*out = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
		if (*out == NULL)
			r = cs_error_set(CS_EMALFORMED, "%s %s: hub sent malformed JSON: %s", method, path, jerr.text);
	}
done:
	cs_http_resp_clear(&resp);
	return r;
}

static int blob_put(void *ud, uint64_t job, const char *name, const uint8_t *data, size_t len)
{
	cs_agent *ag = ud;
	return cs__transfers_put(ag->transfers, job, name, data, len);
}

static int blob_take(void *ud, uint64_t job, const char *name, uint8_t *data, size_t len)
{
	cs_agent *ag = ud;
	return cs__transfers_put_owned(ag->transfers, job, name, data, len);
}

static int blob_flush(void *ud)
{
	cs_agent *ag = ud;
	return cs__transfers_flush(ag->transfers);
}

/* The header is stored: tell the hub, which starts the destinations while
 * our manifest segments and packs follow. */
static int blob_ready(void *ud, uint64_t job, const cs_relay_produce_result *planned)
{
	cs_agent *ag = ud;
	char path[96];
	int r = cs__transfers_flush(ag->transfers);
	if (r < 0)
		return r;
	json_t *body = json_pack("{sIsIsIsIsI}", "to_seq", (json_int_t)planned->to_seq,
		"records", (json_int_t)planned->records, "packs", (json_int_t)planned->packs,
		"bytes", (json_int_t)planned->bytes, "files", (json_int_t)planned->files);
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/ready", (unsigned long long)job);
	/* Retried like a blob: if the hub restarts here, giving up would make
	 * us produce a second session for an announced job. */
	for (int attempt = 0; attempt < 8 && !ag->stop; attempt++) {
		if (attempt)
			sleep(attempt < 4 ? 1u << (attempt - 1) : 8);
		if ((r = cs__agent_call(NULL, NULL, ag, "POST", path, body, 30000)) != CS_ENET)
			break;
	}
	json_decref(body);
	return r;
}

static void blob_prefetch(void *ud, uint64_t job, const char *name)
{
	cs_agent *ag = ud;
	cs__transfers_prefetch(ag->transfers, job, name);
}

/* Blob transfers are retried: a hub restart must not fail a job. */
static int blob_get(void *ud, uint64_t job, const char *name, uint8_t **data, size_t *len)
{
	cs_agent *ag = ud;
	char path[128];
	int r = cs__transfers_take(ag->transfers, job, name, data, len);
	if (r != CS_ENOTFOUND)
		return r;
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/blobs/%s", (unsigned long long)job, name);
	r = CS_ENET;
	int64_t waited = 0;
	for (int attempt = 0; attempt < 8 && !ag->stop; attempt++) {
		cs_http_resp resp = {0};
		if (attempt)
			sleep(attempt < 4 ? 1u << (attempt - 1) : 8);
		r = cs_httpc_request(&resp, ag->http, "GET", path, NULL, NULL, 0, CS_AGENT_BLOB_MAX, 120000);
		if (r == 0 && resp.status == 200) {
			*data = resp.body;
			*len = resp.len;
			return CS_OK;
		}
		if (r == 0 && cs__agent_not_ready(&resp, name, &waited)) {
			cs_http_resp_clear(&resp);
			attempt--;
			continue;
		}
		if (r == 0)
			r = cs__agent_status_error(resp.status, &resp, path);
		cs_http_resp_clear(&resp);
		if (r != CS_ENET)
			break;
	}
	return r;
}

static void report_progress(void *ud, uint64_t job, uint64_t files_done, uint64_t files_total,
	uint64_t bytes_done, uint64_t bytes_total)
{
	cs_agent *ag = ud;
	char path[96];
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/progress", (unsigned long long)job);
	json_t *body = json_pack("{sIsIsIsI}", "files_done", (json_int_t)files_done,
		"files_total", (json_int_t)files_total, "bytes_done", (json_int_t)bytes_done,
		"bytes_total", (json_int_t)bytes_total);
	/* Progress is advisory: a failure to report it must not fail the job. */
	if (cs__agent_call(NULL, NULL, ag, "POST", path, body, 10000) < 0)
		cs_log(CS_LOG_DEBUG, "agent.progress_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)job, cs_error_last());
	json_decref(body);
}

void cs__agent_relay_io(cs_relay_io *io, cs_agent *ag)
{
	io->ud = ag;
	io->put_blob = blob_put;
	io->take_blob = blob_take;
	io->flush = blob_flush;
	io->prefetch = blob_prefetch;
	io->ready = blob_ready;
	io->get_blob = blob_get;
	io->progress = report_progress;
}

int cs__agent_refresh_crl(cs_agent *ag)
{
	cs_http_resp resp = {0};
	int r = cs_httpc_request(&resp, ag->http, "GET", "/v1/crl", NULL, NULL, 0, 16u << 20, 30000);
	if (r == 0 && resp.status == 200 && resp.len > 0) {
		char *path = cs__agent_path(ag->dir, "crl.pem");
		free(ag->crl_pem);
		ag->crl_pem = strndup((const char *)resp.body, resp.len);
		if (path)
			cs_fs_write_atomic(path, resp.body, resp.len, 0644);
		free(path);
	} else {
		cs_log(CS_LOG_WARN, "agent.crl_stale", "reason=\"%s\"",
			r < 0 ? cs_error_last() : "hub did not send a CRL");
	}
	cs_http_resp_clear(&resp);
	return CS_OK;
}
