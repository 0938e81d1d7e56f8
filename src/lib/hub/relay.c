/*
 * The relay's blob store: ciphertext uploaded by a job's source, kept in
 * DATA/blobs/<job>/<name> until every destination is final (or the job
 * expires). Files are written through a temporary file and a rename and
 * recorded in the blobs table afterwards, so a killed hub leaves either the
 * old blob or the new one, never a torn one. They are not fsynced: a blob is
 * a copy of what the source still holds, usually read back within seconds
 * and deleted with its job, so most never reach the disk at all. A power
 * cut can lose one; its size then differs from its row and the hub refuses
 * to serve it (the job fails with that reason and a new job sends it
 * again), and anything else a destination would notice as a record that
 * fails authentication. The hub cannot read the blobs; it checks only the
 * pack framing of PROTOCOL.md §8 and counts records.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

int cs__relay_name_ok(const char *name)
{
	if (strcmp(name, "header") == 0 || strcmp(name, "trailer") == 0)
		return 1;
	if ((name[0] != 'p' && name[0] != 'm') || name[1] < '0' || name[1] > '9')
		return 0;
	if (name[1] == '0' && name[2] != '\0')
		return 0; /* no leading zeros: one name per pack or segment */
	size_t n = strlen(name + 1);
	if (n > 7)
		return 0;
	long v = 0;
	for (const char *p = name + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v < (long)CS__HUB_PACKS_MAX;
}

int cs__relay_name_is_sealed(const char *name)
{
	return strcmp(name, "header") == 0 || strcmp(name, "trailer") == 0;
}

int cs__relay_count_records(uint64_t *records, const uint8_t *data, size_t len)
{
	cs_buf v;
	uint64_t n = 0;
	cs_buf_view(&v, data, len);
	while (cs_buf_len(&v) > 0) {
		uint32_t rl;
		if (cs_buf_get_u32(&v, &rl) < 0)
			return cs_error_set(CS_EMALFORMED, "pack: record %llu: truncated length",
				(unsigned long long)n);
		if (rl < CS__HUB_RECORD_MIN || rl > CS__HUB_RECORD_MAX)
			return cs_error_set(CS_EMALFORMED, "pack: record %llu: length %u out of range",
				(unsigned long long)n, rl);
		if (cs_buf_skip(&v, rl) < 0)
			return cs_error_set(CS_EMALFORMED, "pack: record %llu: truncated",
				(unsigned long long)n);
		n++;
	}
	if (n == 0)
		return cs_error_set(CS_EMALFORMED, "pack holds no record");
	*records = n;
	return CS_OK;
}

static char *job_dir(cs_hub *hub, int64_t job)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "blobs/%lld", (long long)job);
	return cs_path_join(hub->data_dir, rel);
}

int64_t cs__relay_stored_bytes(cs_hub *hub)
{
	int64_t v = 0; /* also on error */
	(void)cs__db_int64(hub->db, &v, "SELECT COALESCE(SUM(size), 0) FROM blobs", NULL, 0);
	return v;
}

void cs__relay_write_free(struct cs__blob_write *w)
{
	if (w == NULL)
		return;
	cs__blob_cache_discard(w->entry);
	free(w->err);
	free(w->dir);
	free(w->path);
	free(w);
}

int cs__relay_put_begin(cs_hub *hub, struct cs__blob_write **out, int64_t job, const char *name,
	const uint8_t *data, size_t len)
{
	struct cs__blob_entry *entry = NULL;
	int r;
	*out = NULL;
	if (len > CS__HUB_BLOB_MAX)
		return cs_error_set(CS_ELIMIT, "a blob is at most %u bytes", CS__HUB_BLOB_MAX);
	if ((r = cs__blob_cache_new(&entry, data, len)) < 0)
		return r;
	return cs__relay_put_begin_entry(hub, out, job, name, entry);
}

int cs__relay_put_begin_entry(cs_hub *hub, struct cs__blob_write **out, int64_t job,
	const char *name, struct cs__blob_entry *entry)
{
	uint64_t records = 0;
	struct cs__blob_write *w = NULL;
	const uint8_t *data = cs__blob_entry_data(entry);
	size_t len = cs__blob_entry_len(entry);
	int r;

	*out = NULL;
	if (!cs__relay_name_ok(name))
		r = cs_error_set(CS_EINVAL, "blob name must be header, trailer, m<N> or p<N>");
	else if (len > CS__HUB_BLOB_MAX)
		r = cs_error_set(CS_ELIMIT, "a blob is at most %u bytes", CS__HUB_BLOB_MAX);
	else if (cs__relay_name_is_sealed(name))
		r = len == 0 ? cs_error_set(CS_EMALFORMED, "the %s is empty", name) : CS_OK;
	else
		r = cs__relay_count_records(&records, data, len);
	if (r < 0)
		goto fail;

	/* quota: what is stored and on its way, minus the blob this one
	 * replaces */
	int64_t old = 0;
	if ((r = cs__db_int64(hub->db, &old, "SELECT size FROM blobs WHERE job = ? AND name = ?",
		     CS__DB_ARGS(CS__DB_I(job), CS__DB_T(name)))) < 0)
		goto fail;
	int64_t stored = cs__relay_stored_bytes(hub) + (int64_t)hub->relay_writing;
	if (stored - old + (int64_t)len > hub->cfg.relay_quota_bytes) {
		r = cs_error_set(CS_ELIMIT, "relay quota of %lld bytes exceeded",
			(long long)hub->cfg.relay_quota_bytes);
		goto fail;
	}

	if ((w = calloc(1, sizeof(*w))) == NULL || (w->dir = job_dir(hub, job)) == NULL ||
	    (w->path = cs_path_join(w->dir, name)) == NULL) {
		cs__relay_write_free(w);
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	/* The one aligned copy: written with direct I/O (a relayed blob
	 * would only push other files out of the page cache) and kept in
	 * memory for the destinations that ask for it next. */
	w->entry = entry;
	w->job = job;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->len = len;
	w->records = records;
	hub->relay_writing += len;
	*out = w;
	return CS_OK;
fail:
	cs__blob_cache_discard(entry);
	return r;
}

void cs__relay_put_write(struct cs__blob_write *w)
{
	if (w->remove)
		w->rc = cs_fs_remove_tree(w->dir);
	else if ((w->rc = cs_fs_mkdirs(w->dir, 0700)) == 0)
		w->rc = cs_fs_write_replace_direct(w->path, cs__blob_entry_data(w->entry), w->len, 0600);
	if (w->rc < 0)
		w->err = strdup(cs_error_last());
}

int cs__relay_put_end(cs_hub *hub, struct cs__blob_write *w, uint64_t *records_out)
{
	int r = w->rc;
	hub->relay_writing -= w->len;
	if (r < 0) {
		/* the message was made on the writer's thread */
		cs_error_set(r, "%s", w->err ? w->err : cs_strerror(r));
		goto done;
	}
	/* The job may have ended while the bytes were on their way. */
	if (cs__hub_job_uploading(hub, w->job) != 1) {
		unlink(w->path);
		r = cs_error_set(CS_ESTATE, "job %lld no longer takes uploads", (long long)w->job);
		goto done;
	}
	/* The row is not worth a flush of its own (the blob is not fsynced
	 * either); the next durable commit carries it to the disk. */
	if ((r = cs_store_begin_lazy(hub->db)) == 0) {
		if ((r = cs__db_exec(hub->db,
			     "INSERT OR REPLACE INTO blobs (job, name, size, records) VALUES (?, ?, ?, ?)",
			     CS__DB_ARGS(CS__DB_I(w->job), CS__DB_T(w->name), CS__DB_I((int64_t)w->len),
				     CS__DB_I((int64_t)w->records)))) < 0 ||
		    (r = cs__db_exec(hub->db, "UPDATE jobs SET updated = ? WHERE id = ?",
			     CS__DB_ARGS(CS__DB_I(cs_clock_now()), CS__DB_I(w->job)))) < 0 ||
		    (r = cs_store_commit(hub->db)) < 0)
			cs_store_rollback(hub->db);
	}
	if (r < 0)
		goto done;
	cs__blob_cache_put(&hub->blobs, w->job, w->name, w->entry, w->path);
	w->entry = NULL;
	if (records_out)
		*records_out = w->records;
done:
	cs__relay_write_free(w);
	return r;
}

int cs__relay_put(cs_hub *hub, int64_t job, const char *name, const uint8_t *data, size_t len,
	uint64_t *records_out)
{
	struct cs__blob_write *w = NULL;
	int r = cs__relay_put_begin(hub, &w, job, name, data, len);
	if (r < 0)
		return r;
	cs__relay_put_write(w);
	return cs__relay_put_end(hub, w, records_out);
}

int cs__relay_get(cs_hub *hub, const uint8_t **data, size_t *len, int64_t job, const char *name)
{
	char *dir = NULL, *path = NULL;
	int r;

	if (!cs__relay_name_ok(name))
		return cs_error_set(CS_ENOTFOUND, "no such blob");
	if ((dir = job_dir(hub, job)) == NULL || (path = cs_path_join(dir, name)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	int64_t want = -1;
	if ((r = cs__db_int64(hub->db, &want, "SELECT size FROM blobs WHERE job = ? AND name = ?",
		     CS__DB_ARGS(CS__DB_I(job), CS__DB_T(name)))) < 0)
		goto done;
	if (want < 0) {
		r = cs_error_set(CS_ENOTFOUND, "blob %s of job %lld is not stored", name, (long long)job);
		goto done;
	}
	if (cs__blob_cache_get(&hub->blobs, data, len, job, name, path) && (int64_t)*len == want) {
		hub->m.blob_reads_memory++;
		r = CS_OK;
	} else if ((r = cs__blob_cache_load(&hub->blobs, data, len, job, name, path,
			    (size_t)want)) == CS_OK) {
		hub->m.blob_reads_disk++;
	}
done:
	free(dir);
	free(path);
	return r;
}

static void log_removal(int64_t job, int rc, const char *message)
{
	if (rc < 0)
		cs_log(CS_LOG_ERROR, "relay.delete_failed", "job=%lld error=\"%s\"", (long long)job,
			message);
	else
		cs_log(CS_LOG_DEBUG, "relay.deleted", "job=%lld", (long long)job);
}

void cs__relay_remove_end(struct cs__blob_write *w)
{
	log_removal(w->job, w->rc, w->err ? w->err : cs_strerror(w->rc));
	cs__relay_write_free(w);
}

int cs__relay_delete_job(cs_hub *hub, int64_t job)
{
	struct cs__blob_writer *writer = cs__hub_relay_writer(hub);
	struct cs__blob_write *w = NULL;
	char *dir = job_dir(hub, job);
	int r;
	cs__blob_cache_drop_job(&hub->blobs, job);
	if (dir == NULL || (writer != NULL && (w = calloc(1, sizeof(*w))) == NULL)) {
		free(dir);
		/* the sweep at the next start removes what is left */
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	/* rows first: a crash afterwards leaves files no row points to, which
	 * the sweep at the next start removes */
	r = cs__db_step(hub->db, "DELETE FROM blobs WHERE job = ?", CS__DB_ARGS(CS__DB_I(job)));
	if (r >= 0 && w != NULL) {
		w->job = job;
		w->dir = dir;
		w->remove = 1;
		cs__blob_writer_submit(writer, w); /* cs__relay_remove_end when done */
		return CS_OK;
	}
	free(w);
	if (r >= 0)
		r = cs_fs_remove_tree(dir);
	log_removal(job, r, cs_error_last());
	free(dir);
	return r < 0 ? r : CS_OK;
}

void cs__relay_sweep(cs_hub *hub)
{
	char *base = cs_path_join(hub->data_dir, "blobs");
	DIR *d = base ? opendir(base) : NULL;
	struct dirent *e;
	int64_t stale[256];
	size_t n = 0;

	if (d == NULL) {
		free(base);
		return;
	}
	while ((e = readdir(d)) != NULL && n < 256) {
		int64_t job;
		if (e->d_name[0] == '.' || cs__parse_id(&job, e->d_name) < 0)
			continue;
		cs_stmt *q = NULL;
		if (cs_store_prepare(&q, hub->db, "SELECT state FROM jobs WHERE id = ?") < 0)
			continue;
		cs_stmt_bind_int64(q, 1, job);
		int r = cs_stmt_step(q);
		int keep = r == 1 && (strcmp(cs_stmt_text(q, 0), "producing") == 0 ||
			strcmp(cs_stmt_text(q, 0), "delivering") == 0);
		cs_stmt_free(q);
		if (r >= 0 && !keep)
			stale[n++] = job;
	}
	closedir(d);
	free(base);
	for (size_t i = 0; i < n; i++)
		cs__relay_delete_job(hub, stale[i]);
	cs_error_clear();
}
