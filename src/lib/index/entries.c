/* Reading entries back from the index: the packed chunk list, row
 * decoding, cs_index_get and cs_index_changes_between. */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include "index_internal.h"

/*
 * Format of ix_entry.chunks, the chunk list of a live file. Stable: a
 * change needs a new ix_meta schema version and a conversion step.
 *
 *   n records of 36 bytes, in file order, each
 *       hash   32 bytes   SHA-256 of the chunk's bytes
 *       len    u32, big-endian, 1 .. 2^32-1
 *
 * Offsets are not stored: a chunk starts where the previous one ended, the
 * first at 0. An empty file, a directory and a tombstone store SQL NULL.
 * A blob is accepted only when its length is a multiple of 36, no len is 0
 * and the lengths add up to the entry's size; anything else is
 * CS_EMALFORMED, since a damaged list would make a peer fetch wrong bytes.
 */
#define IX_CHUNK_REC (CS_HASH_LEN + 4)

int cs__ix_chunks_pack(uint8_t **blob, size_t *len, const cs_chunk_ref *chunks, size_t n)
{
	if (n > SIZE_MAX / IX_CHUNK_REC)
		return cs_error_set(CS_ELIMIT, "chunk list too long");
	cs_buf *b = cs_buf_new(n * IX_CHUNK_REC);
	int r = CS_OK;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if ((r = cs_buf_put(b, chunks[i].hash, CS_HASH_LEN)) < 0 ||
		    (r = cs_buf_put_u32(b, chunks[i].len)) < 0)
			goto done;
	}
	r = cs_buf_steal(blob, len, b);
done:
	cs_buf_free(b);
	return r;
}

int cs__ix_chunks_parse(cs_chunk_ref **chunks, size_t *n, const void *blob, size_t len,
	uint64_t size)
{
	cs_chunk_ref *c = NULL;
	cs_buf v;
	uint64_t off = 0;
	size_t count = len / IX_CHUNK_REC;
	int r = CS_OK;

	if (len % IX_CHUNK_REC != 0)
		return cs_error_set(CS_EMALFORMED, "chunk list: %zu bytes is not a whole number "
			"of records", len);
	if (count > 0 && (c = calloc(count, sizeof(*c))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	cs_buf_view(&v, blob, len);
	for (size_t i = 0; i < count; i++) {
		if ((r = cs_buf_get(&v, c[i].hash, CS_HASH_LEN)) < 0 ||
		    (r = cs_buf_get_u32(&v, &c[i].len)) < 0) {
			r = cs_error_set(CS_EMALFORMED, "chunk list: record %zu truncated", i);
			goto done;
		}
		if (c[i].len == 0 || off > size || c[i].len > size - off) {
			r = cs_error_set(CS_EMALFORMED, "chunk list: record %zu has a bad length", i);
			goto done;
		}
		c[i].offset = off;
		off += c[i].len;
	}
	if (off != size) {
		r = cs_error_set(CS_EMALFORMED, "chunk list covers %llu of %llu bytes",
			(unsigned long long)off, (unsigned long long)size);
		goto done;
	}
	if ((r = cs_buf_expect_end(&v)) < 0) {
		r = cs_error_set(CS_EMALFORMED, "chunk list: trailing bytes");
		goto done;
	}
	*chunks = c;
	*n = count;
	c = NULL;
done:
	free(c);
	return r;
}

void cs__ix_entry_clear(cs_file_entry *e)
{
	free(e->path);
	free(e->chunks);
	memset(e, 0, sizeof(*e));
}

void cs_file_entry_free(cs_file_entry *e)
{
	if (e == NULL)
		return;
	cs__ix_entry_clear(e);
	free(e);
}

/* A hash column: SQL NULL (*present = 0) or exactly CS_HASH_LEN bytes. */
static int hash_column(uint8_t out[CS_HASH_LEN], int *present, cs_stmt *q, int col)
{
	size_t len = 0;
	memset(out, 0, CS_HASH_LEN);
	*present = 0;
	if (cs_stmt_is_null(q, col))
		return CS_OK;
	const void *p = cs_stmt_blob(q, col, &len);
	if (p == NULL || len != CS_HASH_LEN)
		return cs_error_set(CS_EMALFORMED, "stored hash has %zu bytes", len);
	memcpy(out, p, CS_HASH_LEN);
	*present = 1;
	return CS_OK;
}

int cs__ix_entry_from_row(cs_file_entry **out, cs_stmt *q)
{
	cs_file_entry *e = calloc(1, sizeof(*e));
	const char *path = cs_stmt_text(q, 0);
	int64_t kind = cs_stmt_int64(q, 1), deleted = cs_stmt_int64(q, 2);
	int64_t mode = cs_stmt_int64(q, 3), size = cs_stmt_int64(q, 5);
	int64_t seq = cs_stmt_int64(q, 6);
	int has_hash = 0, has_prev = 0, r = CS_OK;

	if (e == NULL || path == NULL || (e->path = strdup(path)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((kind != CS_KIND_FILE && kind != CS_KIND_DIR) || (deleted != 0 && deleted != 1) ||
	    mode < 0 || (mode & ~07777) != 0 || size < 0 || seq < 0) {
		r = cs_error_set(CS_EMALFORMED, "index entry %s is damaged", path);
		goto done;
	}
	e->kind = (uint8_t)kind;
	e->deleted = (uint8_t)deleted;
	e->mode = (uint32_t)mode;
	e->mtime_ns = cs_stmt_int64(q, 4);
	e->size = (uint64_t)size;
	e->seq = (uint64_t)seq;
	if ((r = hash_column(e->hash, &has_hash, q, 7)) < 0 ||
	    (r = hash_column(e->prev_hash, &has_prev, q, 8)) < 0)
		goto done;
	e->has_prev = (uint8_t)has_prev;
	if (!cs_stmt_is_null(q, 9)) {
		size_t len = 0;
		const void *blob = cs_stmt_blob(q, 9, &len);
		if ((r = cs__ix_chunks_parse(&e->chunks, &e->nchunks, blob, len, e->size)) < 0)
			goto done;
	} else if (e->kind == CS_KIND_FILE && !e->deleted && e->size != 0) {
		r = cs_error_set(CS_EMALFORMED, "index entry %s has no chunk list", path);
		goto done;
	}
	if (e->kind == CS_KIND_FILE && !e->deleted && !has_hash) {
		r = cs_error_set(CS_EMALFORMED, "index entry %s has no content hash", path);
		goto done;
	}
	*out = e;
	e = NULL;
done:
	cs_file_entry_free(e);
	return r;
}

int cs_index_get(cs_file_entry **out, cs_index *ix, const char *folder_id, const char *path)
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if ((r = cs_store_prepare(&q, ix->st, "SELECT " CS__IX_ENTRY_COLS
			" FROM ix_entry WHERE fid = ? AND path = ?")) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 || (r = cs_stmt_bind_text(q, 2, path)) < 0 ||
	    (r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "%s is not in folder %s", path, folder_id);
		goto done;
	}
	r = cs__ix_entry_from_row(out, q);
done:
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

int cs_index_changes_between(cs_index *ix, const char *folder_id, uint64_t after, uint64_t upto,
	int (*fn)(void *ud, const cs_file_entry *e), void *ud)
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if (after > INT64_MAX || after >= upto)
		return CS_OK;
	if (upto > INT64_MAX)
		upto = INT64_MAX;
	/* Byte order of paths puts every directory before what it contains,
	 * since a parent's path is a prefix of its children's. */
	if ((r = cs_store_prepare(&q, ix->st, "SELECT " CS__IX_ENTRY_COLS
			" FROM ix_entry WHERE fid = ? AND seq > ? AND seq <= ? ORDER BY path")) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 || (r = cs_stmt_bind_int64(q, 2, (int64_t)after)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 3, (int64_t)upto)) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		cs_file_entry *e = NULL;
		if ((r = cs__ix_entry_from_row(&e, q)) < 0)
			goto done;
		r = fn(ud, e);
		cs_file_entry_free(e);
		if (r != 0)
			goto done;
	}
done:
	cs_stmt_free(q);
	return r;
}

int cs_index_changes_since(cs_index *ix, const char *folder_id, uint64_t since,
	int (*fn)(void *ud, const cs_file_entry *e), void *ud)
{
	return cs_index_changes_between(ix, folder_id, since, UINT64_MAX, fn, ud);
}
