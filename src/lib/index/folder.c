/* Folders of the index: id, root directory and sequence number
 * (include/certsync/index.h). */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include "index_internal.h"

/* Folder ids are chosen by people and travel in messages: keep them short
 * and printable. */
#define IX_FOLDER_ID_MAX 255

static int folder_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > IX_FOLDER_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

int cs__ix_folder_fid(int64_t *fid, cs_index *ix, const char *folder_id)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, ix->st, "SELECT fid FROM ix_folder WHERE id = ?");
	if (r < 0)
		return r;
	if ((r = cs_stmt_bind_text(q, 1, folder_id)) < 0 || (r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "unknown folder %s", folder_id);
		goto done;
	}
	*fid = cs_stmt_int64(q, 0);
	r = CS_OK;
done:
	cs_stmt_free(q);
	return r;
}

int cs_index_folder_add(cs_index *ix, const char *folder_id, const char *root)
{
	cs_stmt *q = NULL;
	int r;
	if (!folder_id_valid(folder_id))
		return cs_error_set(CS_EINVAL, "invalid folder id");
	if (root[0] != '/' || strlen(root) >= CS_PATH_MAX_LEN)
		return cs_error_set(CS_EINVAL, "folder root must be an absolute path: %s", root);
	if ((r = cs_store_prepare(&q, ix->st, "INSERT INTO ix_folder(id, root) VALUES (?, ?)")) < 0)
		return r;
	if ((r = cs_stmt_bind_text(q, 1, folder_id)) < 0 || (r = cs_stmt_bind_text(q, 2, root)) < 0)
		goto done;
	r = cs_stmt_step(q);
	if (r == CS_ECONFLICT)
		r = cs_error_set(CS_EEXISTS, "folder %s exists already", folder_id);
done:
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

/* One column of the folder's row. */
static int folder_get(cs_stmt **out, cs_index *ix, const char *sql, const char *folder_id)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, ix->st, sql);
	if (r < 0)
		return r;
	if ((r = cs_stmt_bind_text(q, 1, folder_id)) < 0 || (r = cs_stmt_step(q)) < 0)
		goto fail;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "unknown folder %s", folder_id);
		goto fail;
	}
	*out = q;
	return CS_OK;
fail:
	cs_stmt_free(q);
	return r;
}

int cs_index_folder_root(char **root, cs_index *ix, const char *folder_id)
{
	cs_stmt *q = NULL;
	int r = folder_get(&q, ix, "SELECT root FROM ix_folder WHERE id = ?", folder_id);
	if (r < 0)
		return r;
	const char *t = cs_stmt_text(q, 0);
	char *s = t ? strdup(t) : NULL;
	cs_stmt_free(q);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	*root = s;
	return CS_OK;
}

int cs_index_folder_seq(uint64_t *seq, cs_index *ix, const char *folder_id)
{
	cs_stmt *q = NULL;
	int r = folder_get(&q, ix, "SELECT seq FROM ix_folder WHERE id = ?", folder_id);
	if (r < 0)
		return r;
	*seq = (uint64_t)cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return CS_OK;
}

int cs_index_folder_each(cs_index *ix,
	int (*fn)(void *ud, const char *folder_id, const char *root), void *ud)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, ix->st, "SELECT id, root FROM ix_folder ORDER BY id");
	if (r < 0)
		return r;
	while ((r = cs_stmt_step(q)) == 1) {
		if ((r = fn(ud, cs_stmt_text(q, 0), cs_stmt_text(q, 1))) != 0)
			break;
	}
	cs_stmt_free(q);
	return r;
}
