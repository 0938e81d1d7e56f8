/*
 * The relay's blob store: ciphertext uploaded by a job's source, kept in
 * DATA/blobs/<job>/<name> until every destination is final (or the job
 * expires). Files are written atomically (temporary file, fsync, rename) and
 * recorded in the blobs table afterwards, so a crash leaves either the old
 * blob or the new one, never a torn one. The hub cannot read the blobs; it
 * checks only the pack framing of PROTOCOL.md §8 and counts records.
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
	if (strcmp(name, "header") == 0 || strcmp(name, "manifest") == 0)
		return 1;
	if (name[0] != 'p' || name[1] < '0' || name[1] > '9')
		return 0;
	if (name[1] == '0' && name[2] != '\0')
		return 0; /* no leading zeros: one name per pack */
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

/* A blob is written once and read once per destination, later: its pages
 * are dropped from the page cache as soon as it is on disk (it was
 * fsynced), so a large job recycles a few megabytes of cache instead of
 * filling memory with ciphertext nobody reads twice. */
static void drop_cached(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

int64_t cs__relay_stored_bytes(cs_hub *hub)
{
	int64_t v = 0; /* also on error */
	(void)cs__db_int64(hub->db, &v, "SELECT COALESCE(SUM(size), 0) FROM blobs", NULL, 0);
	return v;
}

int cs__relay_put(cs_hub *hub, int64_t job, const char *name, const uint8_t *data, size_t len,
	uint64_t *records_out)
{
	uint64_t records = 0;
	char *dir = NULL, *path = NULL;
	int r;

	if (!cs__relay_name_ok(name))
		return cs_error_set(CS_EINVAL, "blob name must be header, manifest or p<N>");
	if (len > CS__HUB_BLOB_MAX)
		return cs_error_set(CS_ELIMIT, "a blob is at most %u bytes", CS__HUB_BLOB_MAX);
	if (strcmp(name, "header") != 0 && (r = cs__relay_count_records(&records, data, len)) < 0)
		return r;
	if (strcmp(name, "header") == 0 && len == 0)
		return cs_error_set(CS_EMALFORMED, "the header is empty");

	/* quota: what is stored, minus the blob this one replaces */
	int64_t old = 0;
	if ((r = cs__db_int64(hub->db, &old, "SELECT size FROM blobs WHERE job = ? AND name = ?",
		     CS__DB_ARGS(CS__DB_I(job), CS__DB_T(name)))) < 0)
		return r;
	int64_t stored = cs__relay_stored_bytes(hub);
	if (stored - old + (int64_t)len > hub->cfg.relay_quota_bytes)
		return cs_error_set(CS_ELIMIT, "relay quota of %lld bytes exceeded",
			(long long)hub->cfg.relay_quota_bytes);

	if ((dir = job_dir(hub, job)) == NULL || (path = cs_path_join(dir, name)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_fs_mkdirs(dir, 0700)) < 0 || (r = cs_fs_write_atomic(path, data, len, 0600)) < 0)
		goto done;
	drop_cached(path);
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "INSERT OR REPLACE INTO blobs (job, name, size, records) VALUES (?, ?, ?, ?)",
		     CS__DB_ARGS(CS__DB_I(job), CS__DB_T(name), CS__DB_I((int64_t)len),
			     CS__DB_I((int64_t)records)))) < 0 ||
	    (r = cs__db_exec(hub->db, "UPDATE jobs SET updated = ? WHERE id = ?",
		     CS__DB_ARGS(CS__DB_I(cs_clock_now()), CS__DB_I(job)))) < 0 ||
	    (r = cs_store_commit(hub->db)) < 0)
		goto fail;
	*records_out = records;
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	free(dir);
	free(path);
	return r;
}

int cs__relay_open(cs_hub *hub, int *fd_out, uint64_t *size_out, int64_t job, const char *name)
{
	char *dir = NULL, *path = NULL;
	struct stat st;
	int r, fd = -1;

	if (!cs__relay_name_ok(name))
		return cs_error_set(CS_ENOTFOUND, "no such blob");
	if ((dir = job_dir(hub, job)) == NULL || (path = cs_path_join(dir, name)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
		r = cs_error_set(CS_ENOTFOUND, "blob %s of job %lld is not stored", name, (long long)job);
		goto done;
	}
	*fd_out = fd;
	*size_out = (uint64_t)st.st_size;
	fd = -1;
	r = CS_OK;
done:
	if (fd >= 0)
		close(fd);
	free(dir);
	free(path);
	return r;
}

int cs__relay_delete_job(cs_hub *hub, int64_t job)
{
	char *dir = job_dir(hub, job);
	int r;
	if (dir == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	/* rows first: a crash afterwards leaves files no row points to, which
	 * the sweep at the next start removes */
	r = cs__db_step(hub->db, "DELETE FROM blobs WHERE job = ?", CS__DB_ARGS(CS__DB_I(job)));
	if (r >= 0)
		r = cs_fs_remove_tree(dir);
	if (r < 0)
		cs_log(CS_LOG_ERROR, "relay.delete_failed", "job=%lld error=\"%s\"", (long long)job,
			cs_error_last());
	else
		cs_log(CS_LOG_DEBUG, "relay.deleted", "job=%lld", (long long)job);
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
