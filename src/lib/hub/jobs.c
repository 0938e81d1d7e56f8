/*
 * Sync jobs (DESIGN §6, PROTOCOL.md §4-5): creation with each destination's
 * certificate and history, the source's produced/failed reports, the
 * destinations' progress and acknowledgements, history, and expiry of
 * abandoned jobs.
 *
 * Job states: producing (the source has a produce task) -> delivering (apply
 * tasks queued) -> done (every destination applied) or failed (the source
 * failed, the job expired, or at least one destination failed). Destination
 * states: queued -> sending (apply task handed out, or progress reported)
 * -> applied | failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

#define JOB_COLS "id, folder, source, state, reason, created, updated, to_seq, records, " \
	"packs, bytes, files, bytes_uploaded, uploaded"

static int step_done(cs_stmt *q)
{
	int r = cs_stmt_step(q);
	return r < 0 ? r : CS_OK;
}

int cs__hub_history_get(cs_hub *hub, int64_t *seq, const char *folder, const char *source,
	const char *dest)
{
	int64_t v = 0;
	int r = cs__db_int64(hub->db, &v,
		"SELECT seq FROM history WHERE folder = ? AND source = ? AND dest = ?",
		CS__DB_ARGS(CS__DB_T(folder), CS__DB_T(source), CS__DB_T(dest)));
	if (r < 0)
		return r;
	*seq = v;
	return CS_OK;
}

int cs__hub_job_info(cs_hub *hub, int64_t job, char **state, char source[CS_DEVICE_ID_SIZE],
	char **folder)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db, "SELECT state, source, folder FROM jobs WHERE id = ?");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	r = cs_stmt_step(q);
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no job %lld", (long long)job);
	} else if (r == 1) {
		*state = strdup(cs_stmt_text(q, 0));
		snprintf(source, CS_DEVICE_ID_SIZE, "%s", cs_stmt_text(q, 1));
		*folder = strdup(cs_stmt_text(q, 2));
		r = CS_OK;
		if (*state == NULL || *folder == NULL) {
			free(*state);
			free(*folder);
			r = cs_error_set(CS_ENOMEM, "out of memory");
		}
	}
	cs_stmt_free(q);
	return r;
}

int cs__hub_job_is_dest(cs_hub *hub, int64_t job, const char *device)
{
	return cs__db_step(hub->db, "SELECT 1 FROM job_dests WHERE job = ? AND device = ?",
		CS__DB_ARGS(CS__DB_I(job), CS__DB_T(device)));
}

/* A growable list of device IDs. */
struct idlist {
	char (*id)[CS_DEVICE_ID_SIZE];
	size_t n, alloc;
};

static int idlist_add(struct idlist *l, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->id[i], id) == 0)
			return 0; /* duplicates collapse */
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 16;
		void *p = realloc(l->id, na * sizeof(*l->id));
		if (p == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		l->id = p;
		l->alloc = na;
	}
	snprintf(l->id[l->n++], CS_DEVICE_ID_SIZE, "%s", id);
	return 1;
}

/* The explicit destination list, checked one by one. */
static int resolve_dests(cs_hub *hub, struct idlist *l, const char *folder, const char *source,
	const char *const *dests, size_t n)
{
	int r;
	if (n > CS__HUB_DESTS_MAX)
		return cs_error_set(CS_ELIMIT, "at most %d destinations", CS__HUB_DESTS_MAX);
	for (size_t i = 0; i < n; i++) {
		struct cs__device d;
		if ((r = cs__hub_device_get(hub, &d, dests[i])) < 0)
			return r;
		if (strcmp(d.id, source) == 0)
			r = cs_error_set(CS_EINVAL, "the source cannot be one of its destinations");
		else if (d.revoked)
			r = cs_error_set(CS_EINVAL, "destination %s is revoked", d.id);
		else if ((r = cs__hub_folder_carried(hub, d.id, folder)) == 0)
			r = cs_error_set(CS_EINVAL, "destination %s does not carry folder %s", d.id, folder);
		if (r >= 0)
			r = idlist_add(l, d.id);
		cs__device_clear(&d);
		if (r < 0)
			return r;
	}
	return CS_OK;
}

static int all_dests(cs_hub *hub, struct idlist *l, const char *folder, const char *source)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db,
		"SELECT d.device_id FROM folders f JOIN devices d ON d.device_id = f.device_id "
		"WHERE f.folder = ? AND d.status = 'active' AND d.device_id != ? ORDER BY d.device_id");
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, folder);
	cs_stmt_bind_text(q, 2, source);
	while ((r = cs_stmt_step(q)) == 1) {
		if (l->n == CS__HUB_DESTS_MAX) {
			r = cs_error_set(CS_ELIMIT, "more than %d destinations", CS__HUB_DESTS_MAX);
			break;
		}
		if ((r = idlist_add(l, cs_stmt_text(q, 0))) < 0)
			break;
	}
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

static int cert_of(cs_hub *hub, char **pem, const char *id)
{
	struct cs__device d;
	int r = cs__hub_device_get(hub, &d, id);
	if (r < 0)
		return r;
	*pem = d.cert_pem;
	d.cert_pem = NULL;
	cs__device_clear(&d);
	return CS_OK;
}

int cs__hub_job_create(cs_hub *hub, int64_t *job_out, const char *folder,
	const char *source_text, const char *const *dests, size_t n, int all)
{
	struct cs__device src = {0};
	struct idlist l = {0};
	cs_stmt *q = NULL;
	json_t *payload = NULL, *darr = NULL;
	int r;

	if ((r = cs__hub_check_folder(folder)) < 0)
		return r;
	if ((r = cs__hub_device_get(hub, &src, source_text)) < 0)
		return r;
	if (src.revoked) {
		r = cs_error_set(CS_EINVAL, "source %s is revoked", src.id);
		goto done;
	}
	if ((r = cs__db_step(hub->db, "SELECT 1 FROM folders WHERE folder = ? LIMIT 1",
		     CS__DB_ARGS(CS__DB_T(folder)))) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no device carries folder %s", folder);
		goto done;
	}
	if ((r = cs__hub_folder_carried(hub, src.id, folder)) <= 0) {
		if (r == 0)
			r = cs_error_set(CS_EINVAL, "source %s does not carry folder %s", src.id, folder);
		goto done;
	}
	r = all ? all_dests(hub, &l, folder, src.id) : resolve_dests(hub, &l, folder, src.id, dests, n);
	if (r < 0)
		goto done;
	if (l.n == 0) {
		if (all)
			r = cs_error_set(CS_EINVAL, "no other active device carries folder %s", folder);
		else
			r = cs_error_set(CS_EINVAL, "no destinations given");
		goto done;
	}

	int64_t now = cs_clock_now();
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "INSERT INTO jobs (folder, source, state, created, updated) "
		     "VALUES (?, ?, 'producing', ?, ?)",
		     CS__DB_ARGS(CS__DB_T(folder), CS__DB_T(src.id), CS__DB_I(now),
			     CS__DB_I(now)))) < 0)
		goto fail;
	int64_t job = cs_store_last_id(hub->db);
	if ((darr = json_array()) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = cs_store_prepare(&q, hub->db,
		     "INSERT INTO job_dests (job, device, state, history, updated) "
		     "VALUES (?, ?, 'queued', ?, ?)")) < 0)
		goto fail;
	for (size_t i = 0; i < l.n; i++) {
		int64_t hist = 0;
		char *pem = NULL;
		if ((r = cs__hub_history_get(hub, &hist, folder, src.id, l.id[i])) < 0 ||
		    (r = cert_of(hub, &pem, l.id[i])) < 0)
			goto fail;
		json_t *dj = json_pack("{s:s, s:s, s:I}", "device", l.id[i], "certificate", pem,
			"history", (json_int_t)hist);
		free(pem);
		if (dj == NULL || json_array_append_new(darr, dj) < 0) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		cs_stmt_reset(q);
		cs_stmt_bind_int64(q, 1, job);
		cs_stmt_bind_text(q, 2, l.id[i]);
		cs_stmt_bind_int64(q, 3, hist);
		cs_stmt_bind_int64(q, 4, now);
		if ((r = step_done(q)) < 0)
			goto fail;
	}
	payload = json_pack("{s:s, s:I, s:s, s:o}", "type", "produce", "job", (json_int_t)job,
		"folder", folder, "destinations", darr);
	darr = NULL;
	if (payload == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	r = cs__hub_task_add_tx(hub, src.id, job, "produce", payload);
	payload = NULL;
	if (r < 0 || (r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "job.created", "job=%lld folder=%s source=%s destinations=%zu",
		(long long)job, folder, src.id, l.n);
	cs__hub_wake_flush(hub);
	*job_out = job;
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
	cs__hub_wake_discard(hub);
done:
	json_decref(payload);
	json_decref(darr);
	cs_stmt_free(q);
	free(l.id);
	cs__device_clear(&src);
	return r;
}

/* The job's blobs in delivery order: header, m0, m1, ..., p0, p1, ...,
 * trailer. */
static int blobs_json(cs_hub *hub, json_t **out, int64_t job)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	int r;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT name, size FROM blobs WHERE job = ? ORDER BY CASE "
		     "WHEN name = 'header' THEN -1 WHEN name = 'trailer' THEN 4194304 "
		     "WHEN name GLOB 'm*' THEN CAST(substr(name, 2) AS INTEGER) "
		     "ELSE 2097152 + CAST(substr(name, 2) AS INTEGER) END")) < 0)
		goto done;
	cs_stmt_bind_int64(q, 1, job);
	while ((r = cs_stmt_step(q)) == 1)
		json_array_append_new(arr, json_pack("{s:s, s:I}", "name", cs_stmt_text(q, 0),
			"size", (json_int_t)cs_stmt_int64(q, 1)));
	if (r < 0)
		goto done;
	*out = arr;
	arr = NULL;
	r = CS_OK;
done:
	json_decref(arr);
	cs_stmt_free(q);
	return r;
}

/* Whether exactly <prefix>0 .. <prefix>(n-1) of the job are stored (names
 * are unique and have no leading zeros, so a count of n and a largest
 * number of n - 1 say so); also their records. */
static int check_series(cs_hub *hub, int64_t job, const char *glob, int64_t n,
	int64_t *records)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db,
		"SELECT COUNT(*), COALESCE(MAX(CAST(substr(name, 2) AS INTEGER)), -1),"
		" COALESCE(SUM(records), 0) FROM blobs WHERE job = ?1 AND name GLOB ?2");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	cs_stmt_bind_text(q, 2, glob);
	if ((r = cs_stmt_step(q)) != 1) {
		cs_stmt_free(q);
		return r < 0 ? r : cs_error_set(CS_EDB, "no result");
	}
	int64_t count = cs_stmt_int64(q, 0), max = cs_stmt_int64(q, 1);
	if (records)
		*records = cs_stmt_int64(q, 2);
	cs_stmt_free(q);
	return count == n && max == n - 1 ? 1 : 0;
}

/* Check what a source's report says is stored: the header for "ready";
 * for "produced" also the trailer, exactly segments manifest segments and
 * exactly packs packs. Returns the data records the hub counted and the
 * bytes stored. */
static int check_uploads(cs_hub *hub, int64_t job, int ready, const struct cs__produced *p,
	int64_t *records, int64_t *bytes)
{
	int64_t header = 0, trailer = 0;
	int r;
	if ((r = cs__db_int64(hub->db, &header,
		     "SELECT COUNT(*) FROM blobs WHERE job = ? AND name = 'header'",
		     CS__DB_ARGS(CS__DB_I(job)))) < 0 ||
	    (r = cs__db_int64(hub->db, &trailer,
		     "SELECT COUNT(*) FROM blobs WHERE job = ? AND name = 'trailer'",
		     CS__DB_ARGS(CS__DB_I(job)))) < 0 ||
	    (r = cs__db_int64(hub->db, bytes,
		     "SELECT COALESCE(SUM(size), 0) FROM blobs WHERE job = ?",
		     CS__DB_ARGS(CS__DB_I(job)))) < 0)
		return r;
	if (header != 1)
		return cs_error_set(CS_EINVAL, "blob \"header\" must be uploaded first");
	*records = 0;
	if (ready)
		return CS_OK;
	if (trailer != 1)
		return cs_error_set(CS_EINVAL, "blob \"trailer\" is not uploaded");
	if (p->segments < 1)
		return cs_error_set(CS_EINVAL, "a session has at least one manifest segment");
	if ((r = check_series(hub, job, "m*", p->segments, NULL)) < 0)
		return r;
	if (r == 0)
		return cs_error_set(CS_EINVAL, "%lld manifest segments declared but m0..m%lld not "
			"exactly uploaded", (long long)p->segments, (long long)p->segments - 1);
	if ((r = check_series(hub, job, "p*", p->packs, records)) < 0)
		return r;
	if (r == 0)
		return cs_error_set(CS_EINVAL, "%lld packs declared but p0..p%lld not exactly uploaded",
			(long long)p->packs, (long long)p->packs - 1);
	return CS_OK;
}

int cs__hub_job_uploading(cs_hub *hub, int64_t job)
{
	int64_t open = 0;
	int r = cs__db_int64(hub->db, &open,
		"SELECT state = 'producing' OR (state = 'delivering' AND uploaded = 0) FROM jobs WHERE id = ?",
		CS__DB_ARGS(CS__DB_I(job)));
	return r < 0 ? r : open != 0;
}

/* Queue the apply tasks of every open destination (inside a transaction). */
static int queue_applies_tx(cs_hub *hub, int64_t job, const char *folder, const char *src,
	const char *src_pem, int64_t to_seq, json_t *blobs)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db,
		"SELECT device, history FROM job_dests WHERE job = ? AND state IN ('queued','sending')"
		" ORDER BY device");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	while ((r = cs_stmt_step(q)) == 1) {
		json_t *t = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:O}", "type", "apply",
			"job", (json_int_t)job, "folder", folder, "source", src,
			"source_certificate", src_pem, "history", (json_int_t)cs_stmt_int64(q, 1),
			"to_seq", (json_int_t)to_seq, "blobs", blobs);
		if (t == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		if ((r = cs__hub_task_add_tx(hub, cs_stmt_text(q, 0), job, "apply", t)) < 0)
			break;
	}
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

/* The two steps of a source's report. "ready" (early): the header is
 * stored, destinations may start while manifest segments and packs still
 * arrive. "produced" (final): everything is stored, the trailer last. A
 * source may skip "ready". */
static int job_report(cs_hub *hub, int64_t job, const char *source, const struct cs__produced *p,
	int ready)
{
	char *state = NULL, *folder = NULL;
	char src[CS_DEVICE_ID_SIZE];
	char *src_pem = NULL;
	json_t *blobs = NULL;
	int64_t records = 0, bytes = 0;
	int r;

	if ((r = cs__hub_job_info(hub, job, &state, src, &folder)) < 0)
		return r;
	if (strcmp(src, source) != 0) {
		r = cs_error_set(CS_EDENIED, "only the job's source may do this");
		goto done;
	}
	int uploading = cs__hub_job_uploading(hub, job);
	if (uploading < 0) {
		r = uploading;
		goto done;
	}
	int delivering = strcmp(state, "delivering") == 0;
	if ((delivering && (ready || !uploading)) || strcmp(state, "done") == 0) {
		r = CS_OK; /* a retry after a lost reply */
		goto done;
	}
	if (!delivering && strcmp(state, "producing") != 0) {
		r = cs_error_set(CS_ESTATE, "job %lld is %s", (long long)job, state);
		goto done;
	}
	if ((r = check_uploads(hub, job, ready, p, &records, &bytes)) < 0)
		goto done;
	if (!ready && p->records != records)
		cs_log(CS_LOG_WARN, "job.records_mismatch", "job=%lld declared=%lld counted=%lld",
			(long long)job, (long long)p->records, (long long)records);

	int64_t now = cs_clock_now();
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "UPDATE jobs SET state = 'delivering', uploaded = ?, to_seq = ?, records = ?, "
		     "packs = ?, bytes = ?, files = ?, bytes_uploaded = ?, updated = ? WHERE id = ?",
		     CS__DB_ARGS(CS__DB_I(!ready), CS__DB_I(p->to_seq), CS__DB_I(ready ? p->records : records),
			     CS__DB_I(p->packs), CS__DB_I(p->bytes), CS__DB_I(p->files), CS__DB_I(bytes),
			     CS__DB_I(now), CS__DB_I(job)))) < 0)
		goto fail;
	/* The produce task stays open until every pack is stored: a source
	 * that restarts before then is asked again. */
	if (!ready && (r = cs__hub_task_done_tx(hub, job, src, "produce")) < 0)
		goto fail;
	if (!delivering) {
		if ((r = cert_of(hub, &src_pem, src)) < 0 || (r = blobs_json(hub, &blobs, job)) < 0 ||
		    (r = queue_applies_tx(hub, job, folder, src, src_pem, p->to_seq, blobs)) < 0)
			goto fail;
	}
	/* every destination may have failed meanwhile (revoked) */
	if ((r = cs__hub_job_settle_tx(hub, job)) < 0 || (r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, ready ? "job.ready" : "job.produced",
		"job=%lld to_seq=%lld records=%lld packs=%lld bytes=%lld", (long long)job,
		(long long)p->to_seq, (long long)(ready ? p->records : records), (long long)p->packs,
		(long long)bytes);
	cs__hub_wake_flush(hub);
	if (!ready) /* destinations waiting for the trailer */
		cs__blob_wait_stored(hub, job, "trailer");
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
	cs__hub_wake_discard(hub);
done:
	json_decref(blobs);
	free(src_pem);
	free(state);
	free(folder);
	return r;
}

int cs__hub_job_ready(cs_hub *hub, int64_t job, const char *source, const struct cs__produced *p)
{
	return job_report(hub, job, source, p, 1);
}

int cs__hub_job_produced(cs_hub *hub, int64_t job, const char *source,
	const struct cs__produced *p)
{
	return job_report(hub, job, source, p, 0);
}

int cs__hub_job_fail_tx(cs_hub *hub, int64_t job, const char *reason)
{
	int64_t now = cs_clock_now();
	int r;
	if ((r = cs__db_exec(hub->db,
		     "UPDATE job_dests SET state = 'failed', reason = ?, updated = ? "
		     "WHERE job = ? AND state IN ('queued','sending')",
		     CS__DB_ARGS(CS__DB_T(reason), CS__DB_I(now), CS__DB_I(job)))) < 0 ||
	    (r = cs__hub_task_done_tx(hub, job, NULL, NULL)) < 0)
		return r;
	r = cs__db_exec(hub->db, "UPDATE jobs SET state = 'failed', reason = ?, updated = ? WHERE id = ?",
		CS__DB_ARGS(CS__DB_T(reason), CS__DB_I(now), CS__DB_I(job)));
	if (r == 0)
		cs_log(CS_LOG_INFO, "job.failed", "job=%lld reason=\"%s\"", (long long)job, reason);
	return r;
}

int cs__hub_job_settle_tx(cs_hub *hub, int64_t job)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db,
		"SELECT (SELECT state FROM jobs WHERE id = ?1),"
		" SUM(state IN ('queued','sending')), SUM(state = 'failed'), COUNT(*)"
		" FROM job_dests WHERE job = ?1");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	if ((r = cs_stmt_step(q)) != 1) {
		cs_stmt_free(q);
		return r < 0 ? r : CS_OK;
	}
	const char *st = cs_stmt_text(q, 0);
	int final = st == NULL || strcmp(st, "done") == 0 || strcmp(st, "failed") == 0;
	int64_t open = cs_stmt_int64(q, 1), failed = cs_stmt_int64(q, 2), all = cs_stmt_int64(q, 3);
	cs_stmt_free(q);
	if (final || open > 0)
		return 0;
	char reason[128] = "";
	if (failed)
		snprintf(reason, sizeof(reason), "%lld of %lld destinations failed", (long long)failed,
			(long long)all);
	if ((r = cs__hub_task_done_tx(hub, job, NULL, NULL)) < 0)
		return r;
	if ((r = cs__db_exec(hub->db, "UPDATE jobs SET state = ?, reason = ?, updated = ? WHERE id = ?",
		     CS__DB_ARGS(CS__DB_T(failed ? "failed" : "done"), CS__DB_T(reason),
			     CS__DB_I(cs_clock_now()), CS__DB_I(job)))) < 0)
		return r;
	cs_log(CS_LOG_INFO, "job.finished", "job=%lld state=%s failed=%lld", (long long)job,
		failed ? "failed" : "done", (long long)failed);
	return 1;
}

int cs__hub_job_source_failed(cs_hub *hub, int64_t job, const char *source, const char *reason)
{
	char *state = NULL, *folder = NULL;
	char src[CS_DEVICE_ID_SIZE];
	char why[CS__HUB_TEXT_MAX + 32];
	int r;

	if ((r = cs__hub_job_info(hub, job, &state, src, &folder)) < 0)
		return r;
	if (strcmp(src, source) != 0) {
		r = cs_error_set(CS_EDENIED, "only the job's source may do this");
		goto done;
	}
	if (strcmp(state, "done") == 0 || strcmp(state, "failed") == 0) {
		r = CS_OK;
		goto done;
	}
	snprintf(why, sizeof(why), "source failed: %s", reason && reason[0] ? reason : "no reason");
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__hub_job_fail_tx(hub, job, why)) < 0 || (r = cs_store_commit(hub->db)) < 0) {
		cs_store_rollback(hub->db);
		goto done;
	}
	cs__relay_delete_job(hub, job);
done:
	free(state);
	free(folder);
	return r;
}

/* The destination's state, or CS_EDENIED when device is not one. */
static int dest_state(cs_hub *hub, char out[16], int64_t job, const char *device)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db, "SELECT state FROM job_dests WHERE job = ? AND device = ?");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	cs_stmt_bind_text(q, 2, device);
	r = cs_stmt_step(q);
	if (r == 1) {
		snprintf(out, 16, "%s", cs_stmt_text(q, 0));
		r = CS_OK;
	} else if (r == 0) {
		r = cs_error_set(CS_EDENIED, "this device is not a destination of job %lld",
			(long long)job);
	}
	cs_stmt_free(q);
	return r;
}

static int touch_job_tx(cs_hub *hub, int64_t job, int64_t now)
{
	return cs__db_exec(hub->db, "UPDATE jobs SET updated = ? WHERE id = ?",
		CS__DB_ARGS(CS__DB_I(now), CS__DB_I(job)));
}

int cs__hub_job_progress(cs_hub *hub, int64_t job, const char *dest, const struct cs__progress *p)
{
	char *state = NULL, *folder = NULL;
	char src[CS_DEVICE_ID_SIZE], ds[16];
	int r;

	if ((r = cs__hub_job_info(hub, job, &state, src, &folder)) < 0)
		return r;
	if ((r = dest_state(hub, ds, job, dest)) < 0)
		goto done;
	if (strcmp(ds, "applied") == 0 || strcmp(ds, "failed") == 0) {
		r = CS_OK; /* late report; the outcome is known */
		goto done;
	}
	if (strcmp(state, "delivering") != 0) {
		r = cs_error_set(CS_ESTATE, "job %lld is %s", (long long)job, state);
		goto done;
	}
	int64_t now = cs_clock_now();
	if ((r = cs_store_begin_lazy(hub->db)) < 0)
		goto done;
	/* Progress is not worth a flush (a destination reports twice a
	 * second, and waits for the answer): lost to a power cut, it is only
	 * reported again. */
	if ((r = cs__db_exec(hub->db,
		     "UPDATE job_dests SET state = 'sending', files_done = ?, files_total = ?, "
		     "bytes_done = ?, bytes_total = ?, updated = ? WHERE job = ? AND device = ?",
		     CS__DB_ARGS(CS__DB_I(p->files_done), CS__DB_I(p->files_total),
			     CS__DB_I(p->bytes_done), CS__DB_I(p->bytes_total), CS__DB_I(now),
			     CS__DB_I(job), CS__DB_T(dest)))) < 0 ||
	    (r = touch_job_tx(hub, job, now)) < 0 || (r = cs_store_commit(hub->db)) < 0)
		goto fail;
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	free(state);
	free(folder);
	return r;
}

int cs__hub_job_ack(cs_hub *hub, int64_t job, const char *dest, int applied,
	int64_t to_seq, const struct cs__progress *p, const char *reason)
{
	char *state = NULL, *folder = NULL;
	char src[CS_DEVICE_ID_SIZE], ds[16];
	cs_stmt *q = NULL;
	int r, final = 0;

	if ((r = cs__hub_job_info(hub, job, &state, src, &folder)) < 0)
		return r;
	if ((r = dest_state(hub, ds, job, dest)) < 0)
		goto done;
	if (strcmp(ds, "applied") == 0 || strcmp(ds, "failed") == 0) {
		r = CS_OK; /* a repeated ack changes nothing */
		goto done;
	}
	if (strcmp(state, "delivering") != 0) {
		r = cs_error_set(CS_ESTATE, "job %lld is %s", (long long)job, state);
		goto done;
	}
	int64_t now = cs_clock_now();
	if (applied) {
		int64_t want = -1;
		if ((r = cs__db_int64(hub->db, &want, "SELECT to_seq FROM jobs WHERE id = ?",
			     CS__DB_ARGS(CS__DB_I(job)))) < 0)
			goto done;
		if (to_seq != want) {
			r = cs_error_set(CS_EINVAL, "to_seq %lld does not match the job's %lld",
				(long long)to_seq, (long long)want);
			goto done;
		}
	}
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs_store_prepare(&q, hub->db,
		     "UPDATE job_dests SET state = ?, reason = ?, files_done = COALESCE(?3, files_done),"
		     " files_total = COALESCE(?4, files_total), bytes_done = COALESCE(?5, bytes_done),"
		     " bytes_total = COALESCE(?6, bytes_total), updated = ?7 WHERE job = ?8 AND device = ?9"))
	    < 0)
		goto fail;
	cs_stmt_bind_text(q, 1, applied ? "applied" : "failed");
	cs_stmt_bind_text(q, 2, applied ? "" : (reason && reason[0] ? reason : "no reason given"));
	if (p) {
		cs_stmt_bind_int64(q, 3, p->files_done);
		cs_stmt_bind_int64(q, 4, p->files_total);
		cs_stmt_bind_int64(q, 5, p->bytes_done);
		cs_stmt_bind_int64(q, 6, p->bytes_total);
	}
	cs_stmt_bind_int64(q, 7, now);
	cs_stmt_bind_int64(q, 8, job);
	cs_stmt_bind_text(q, 9, dest);
	if ((r = step_done(q)) < 0)
		goto fail;
	cs_stmt_free(q);
	q = NULL;
	if (applied) {
		/* MAX: jobs of the same folder and source may overlap; history
		 * never moves backwards */
		if ((r = cs__db_exec(hub->db,
			     "INSERT INTO history (folder, source, dest, seq, updated) VALUES (?,?,?,?,?) "
			     "ON CONFLICT (folder, source, dest) DO UPDATE SET "
			     "seq = MAX(seq, excluded.seq), updated = excluded.updated",
			     CS__DB_ARGS(CS__DB_T(folder), CS__DB_T(src), CS__DB_T(dest),
				     CS__DB_I(to_seq), CS__DB_I(now)))) < 0)
			goto fail;
	}
	if ((r = cs__hub_task_done_tx(hub, job, dest, "apply")) < 0 ||
	    (r = touch_job_tx(hub, job, now)) < 0 || (r = cs__hub_job_settle_tx(hub, job)) < 0)
		goto fail;
	final = r;
	if ((r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "job.ack", "job=%lld device=%s status=%s to_seq=%lld", (long long)job,
		dest, applied ? "applied" : "failed", (long long)to_seq);
	/* the blobs go only after the final state is durable: a crash in
	 * between leaves files that cs__relay_sweep removes at the next start */
	if (final)
		cs__relay_delete_job(hub, job);
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	cs_stmt_free(q);
	free(state);
	free(folder);
	return r;
}

static int job_json_row(cs_hub *hub, json_t **out, cs_stmt *row)
{
	cs_stmt *q = NULL;
	json_t *dests = NULL;
	int64_t id = cs_stmt_int64(row, 0);
	const char *state = cs_stmt_text(row, 3);
	int64_t bytes_uploaded = cs_stmt_int64(row, 12), records = cs_stmt_int64(row, 8);
	int r;

	if (strcmp(state, "producing") == 0) {
		/* still uploading: report what has arrived so far */
		if ((r = cs_store_prepare(&q, hub->db,
			     "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(records), 0) FROM blobs "
			     "WHERE job = ?")) < 0)
			return r;
		cs_stmt_bind_int64(q, 1, id);
		if (cs_stmt_step(q) == 1) {
			bytes_uploaded = cs_stmt_int64(q, 0);
			records = cs_stmt_int64(q, 1);
		}
		cs_stmt_free(q);
		q = NULL;
	}
	if ((dests = json_array()) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT jd.device, COALESCE(d.name, ''), jd.state, jd.reason, jd.history, "
		     "jd.files_done, jd.files_total, jd.bytes_done, jd.bytes_total, jd.updated "
		     "FROM job_dests jd LEFT JOIN devices d ON d.device_id = jd.device "
		     "WHERE jd.job = ? ORDER BY d.name, jd.device")) < 0)
		goto done;
	cs_stmt_bind_int64(q, 1, id);
	while ((r = cs_stmt_step(q)) == 1) {
		json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"device", cs_stmt_text(q, 0), "name", cs_stmt_text(q, 1),
			"state", cs_stmt_text(q, 2), "reason", cs_stmt_text(q, 3),
			"history", (json_int_t)cs_stmt_int64(q, 4),
			"files_done", (json_int_t)cs_stmt_int64(q, 5),
			"files_total", (json_int_t)cs_stmt_int64(q, 6),
			"bytes_done", (json_int_t)cs_stmt_int64(q, 7),
			"bytes_total", (json_int_t)cs_stmt_int64(q, 8),
			"updated", (json_int_t)cs_stmt_int64(q, 9));
		if (d == NULL || json_array_append_new(dests, d) < 0) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
	}
	if (r < 0)
		goto done;
	*out = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}",
		"job", (json_int_t)id, "folder", cs_stmt_text(row, 1), "source", cs_stmt_text(row, 2),
		"state", state, "reason", cs_stmt_text(row, 4),
		"created", (json_int_t)cs_stmt_int64(row, 5), "updated", (json_int_t)cs_stmt_int64(row, 6),
		"to_seq", (json_int_t)cs_stmt_int64(row, 7), "records", (json_int_t)records,
		"packs", (json_int_t)cs_stmt_int64(row, 9), "bytes", (json_int_t)cs_stmt_int64(row, 10),
		"files", (json_int_t)cs_stmt_int64(row, 11),
		"bytes_uploaded", (json_int_t)bytes_uploaded,
		"uploaded", strcmp(state, "producing") != 0 && cs_stmt_int64(row, 13) != 0,
		"destinations", dests);
	dests = NULL;
	r = *out ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
done:
	json_decref(dests);
	cs_stmt_free(q);
	return r;
}

int cs__hub_job_json(cs_hub *hub, json_t **out, int64_t job)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db, "SELECT " JOB_COLS " FROM jobs WHERE id = ?");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, job);
	r = cs_stmt_step(q);
	if (r == 0)
		r = cs_error_set(CS_ENOTFOUND, "no job %lld", (long long)job);
	else if (r == 1)
		r = job_json_row(hub, out, q);
	cs_stmt_free(q);
	return r;
}

int cs__hub_jobs_json(cs_hub *hub, json_t **out, int64_t limit)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	int r;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?")) < 0)
		goto done;
	cs_stmt_bind_int64(q, 1, limit);
	while ((r = cs_stmt_step(q)) == 1) {
		json_t *j = NULL;
		if ((r = job_json_row(hub, &j, q)) < 0)
			goto done;
		json_array_append_new(arr, j);
	}
	if (r < 0)
		goto done;
	*out = json_pack("{s:o}", "jobs", arr);
	arr = NULL;
	r = *out ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
done:
	json_decref(arr);
	cs_stmt_free(q);
	return r;
}

int cs__hub_history_json(cs_hub *hub, json_t **out, const char *folder)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	int r;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT folder, source, dest, seq, updated FROM history "
		     "WHERE ?1 IS NULL OR folder = ?1 ORDER BY folder, source, dest")) < 0)
		goto done;
	cs_stmt_bind_text(q, 1, folder);
	while ((r = cs_stmt_step(q)) == 1)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I}",
			"folder", cs_stmt_text(q, 0), "source", cs_stmt_text(q, 1),
			"destination", cs_stmt_text(q, 2), "seq", (json_int_t)cs_stmt_int64(q, 3),
			"updated", (json_int_t)cs_stmt_int64(q, 4)));
	if (r < 0)
		goto done;
	*out = json_pack("{s:o}", "history", arr);
	arr = NULL;
	r = *out ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
done:
	json_decref(arr);
	cs_stmt_free(q);
	return r;
}

int cs__hub_jobs_expire(cs_hub *hub, int64_t now)
{
	cs_stmt *q = NULL;
	int64_t ids[64];
	size_t n = 0;
	char reason[96];
	int r = cs_store_prepare(&q, hub->db,
		"SELECT id FROM jobs WHERE state IN ('producing','delivering') AND updated < ? "
		"ORDER BY id LIMIT 64");
	if (r < 0)
		return r;
	cs_stmt_bind_int64(q, 1, now - hub->cfg.blob_ttl_s);
	while ((r = cs_stmt_step(q)) == 1)
		ids[n++] = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	if (r < 0)
		return r;
	snprintf(reason, sizeof(reason), "expired: no activity for %lld s",
		(long long)hub->cfg.blob_ttl_s);
	for (size_t i = 0; i < n; i++) {
		if ((r = cs_store_begin(hub->db)) < 0)
			return r;
		if ((r = cs__hub_job_fail_tx(hub, ids[i], reason)) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0) {
			cs_store_rollback(hub->db);
			return r;
		}
		cs__relay_delete_job(hub, ids[i]);
	}
	return CS_OK;
}
