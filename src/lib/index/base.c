/* The base of a destination: per source device and path, the hash of the
 * version last applied from that source (include/certsync/index.h). */
#include <string.h>
#include <certsync/error.h>
#include "index_internal.h"

int cs_index_base_get(uint8_t hash[CS_HASH_LEN], cs_index *ix, const char *folder_id,
	const char *source, const char *path)
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if ((r = cs_store_prepare(&q, ix->st,
			"SELECT hash FROM ix_base WHERE fid = ? AND source = ? AND path = ?")) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 || (r = cs_stmt_bind_text(q, 2, source)) < 0 ||
	    (r = cs_stmt_bind_text(q, 3, path)) < 0 || (r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no base for %s from %s", path, source);
		goto done;
	}
	size_t len = 0;
	const void *p = cs_stmt_blob(q, 0, &len);
	if (p == NULL || len != CS_HASH_LEN) {
		r = cs_error_set(CS_EMALFORMED, "stored base hash for %s has %zu bytes", path, len);
		goto done;
	}
	memcpy(hash, p, CS_HASH_LEN);
	r = CS_OK;
done:
	cs_stmt_free(q);
	return r;
}

int cs_index_base_set(cs_index *ix, const char *folder_id, const char *source,
	const char *path, const uint8_t *hash)
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if (!cs_index_path_valid(path))
		return cs_error_set(CS_EINVAL, "invalid path");
	const char *sql = hash != NULL
		? "INSERT OR REPLACE INTO ix_base(fid, source, path, hash) VALUES (?, ?, ?, ?)"
		: "DELETE FROM ix_base WHERE fid = ? AND source = ? AND path = ?";
	if ((r = cs_store_prepare(&q, ix->st, sql)) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 || (r = cs_stmt_bind_text(q, 2, source)) < 0 ||
	    (r = cs_stmt_bind_text(q, 3, path)) < 0)
		goto done;
	if (hash != NULL && (r = cs_stmt_bind_blob(q, 4, hash, CS_HASH_LEN)) < 0)
		goto done;
	r = cs_stmt_step(q);
done:
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

int cs_index_recheck(cs_index *ix, const char *folder_id, const char *path)
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if ((r = cs_store_prepare(&q, ix->st,
			"UPDATE ix_entry SET recheck = 1 WHERE fid = ? AND path = ?")) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) >= 0 && (r = cs_stmt_bind_text(q, 2, path)) >= 0)
		r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}
