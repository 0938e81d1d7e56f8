/* Chunk references of live files (table ix_chunk, see index_internal.h):
 * keeping them in step with entries, and cs_index_chunk_seq/_locate. */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include "index_internal.h"

int cs__ix_chunk_stmts_prepare(struct cs__ix_chunk_stmts *s, cs_store *st)
{
	int r;
	memset(s, 0, sizeof(*s));
	if ((r = cs_store_prepare(&s->seq_of, st,
			"SELECT seq FROM ix_chunk WHERE fid = ? AND hash = ? LIMIT 1")) < 0 ||
	    (r = cs_store_prepare(&s->put, st, "INSERT OR REPLACE INTO ix_chunk"
			"(fid, hash, path, off, len, seq) VALUES (?, ?, ?, ?, ?, ?)")) < 0 ||
	    (r = cs_store_prepare(&s->of_path, st,
			"SELECT hash FROM ix_chunk WHERE fid = ? AND path = ?")) < 0 ||
	    (r = cs_store_prepare(&s->del_one, st,
			"DELETE FROM ix_chunk WHERE fid = ? AND hash = ? AND path = ?")) < 0 ||
	    (r = cs_store_prepare(&s->del_path, st,
			"DELETE FROM ix_chunk WHERE fid = ? AND path = ?")) < 0) {
		cs__ix_chunk_stmts_free(s);
		return r;
	}
	return CS_OK;
}

void cs__ix_chunk_stmts_free(struct cs__ix_chunk_stmts *s)
{
	cs_stmt_free(s->seq_of);
	cs_stmt_free(s->put);
	cs_stmt_free(s->of_path);
	cs_stmt_free(s->del_one);
	cs_stmt_free(s->del_path);
	memset(s, 0, sizeof(*s));
}

/* Order by hash, then offset, so that the first of equal hashes is the
 * earliest occurrence in the file. */
static int ref_cmp(const void *a, const void *b)
{
	const cs_chunk_ref *x = *(const cs_chunk_ref *const *)a;
	const cs_chunk_ref *y = *(const cs_chunk_ref *const *)b;
	int c = memcmp(x->hash, y->hash, CS_HASH_LEN);
	if (c != 0)
		return c;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int hash_key_cmp(const void *key, const void *elem)
{
	const cs_chunk_ref *y = *(const cs_chunk_ref *const *)elem;
	return memcmp(key, y->hash, CS_HASH_LEN);
}

/* The entry's chunks sorted by hash (NULL and 0 when it has none). */
static int sorted_refs(const cs_chunk_ref ***out, const cs_file_entry *e)
{
	*out = NULL;
	if (e->nchunks == 0)
		return CS_OK;
	const cs_chunk_ref **v = malloc(e->nchunks * sizeof(*v));
	if (v == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < e->nchunks; i++)
		v[i] = &e->chunks[i];
	qsort(v, e->nchunks, sizeof(*v), ref_cmp);
	*out = v;
	return CS_OK;
}

/* Run a statement that returns no rows and reset it. */
static int run(cs_stmt *q)
{
	int r = cs_stmt_step(q);
	cs_stmt_reset(q);
	return r < 0 ? r : CS_OK;
}

int cs__ix_chunks_add(struct cs__ix_chunk_stmts *s, int64_t fid, const cs_file_entry *e)
{
	const cs_chunk_ref **v = NULL;
	int r = sorted_refs(&v, e);
	if (r < 0)
		return r;
	for (size_t i = 0; i < e->nchunks; i++) {
		const cs_chunk_ref *c = v[i];
		int64_t seq = (int64_t)e->seq;
		/* One row per distinct hash and path: the earliest occurrence is
		 * enough for cs_index_chunk_locate. */
		if (i > 0 && memcmp(v[i - 1]->hash, c->hash, CS_HASH_LEN) == 0)
			continue;
		/* A hash that some live file references already keeps its seq: a
		 * destination that has it need not get it again. */
		if ((r = cs_stmt_bind_int64(s->seq_of, 1, fid)) < 0 ||
		    (r = cs_stmt_bind_blob(s->seq_of, 2, c->hash, CS_HASH_LEN)) < 0 ||
		    (r = cs_stmt_step(s->seq_of)) < 0) {
			cs_stmt_reset(s->seq_of);
			goto done;
		}
		if (r == 1)
			seq = cs_stmt_int64(s->seq_of, 0);
		cs_stmt_reset(s->seq_of);
		if ((r = cs_stmt_bind_int64(s->put, 1, fid)) < 0 ||
		    (r = cs_stmt_bind_blob(s->put, 2, c->hash, CS_HASH_LEN)) < 0 ||
		    (r = cs_stmt_bind_text(s->put, 3, e->path)) < 0 ||
		    (r = cs_stmt_bind_int64(s->put, 4, (int64_t)c->offset)) < 0 ||
		    (r = cs_stmt_bind_int64(s->put, 5, c->len)) < 0 ||
		    (r = cs_stmt_bind_int64(s->put, 6, seq)) < 0 || (r = run(s->put)) < 0) {
			cs_stmt_reset(s->put);
			goto done;
		}
	}
	r = CS_OK;
done:
	free(v);
	return r;
}

int cs__ix_chunks_drop(struct cs__ix_chunk_stmts *s, int64_t fid, const cs_file_entry *e)
{
	const cs_chunk_ref **v = NULL;
	uint8_t (*stale)[CS_HASH_LEN] = NULL;
	size_t nstale = 0, astale = 0;
	int r;

	if (e->nchunks == 0 || e->deleted || e->kind != CS_KIND_FILE) {
		if ((r = cs_stmt_bind_int64(s->del_path, 1, fid)) < 0 ||
		    (r = cs_stmt_bind_text(s->del_path, 2, e->path)) < 0 || (r = run(s->del_path)) < 0)
			cs_stmt_reset(s->del_path);
		return r;
	}
	if ((r = sorted_refs(&v, e)) < 0)
		return r;
	/* Collect first, delete after: rows are not removed from under an
	 * open cursor on the same table. */
	if ((r = cs_stmt_bind_int64(s->of_path, 1, fid)) < 0 ||
	    (r = cs_stmt_bind_text(s->of_path, 2, e->path)) < 0)
		goto done;
	while ((r = cs_stmt_step(s->of_path)) == 1) {
		size_t len = 0;
		const void *h = cs_stmt_blob(s->of_path, 0, &len);
		if (h == NULL || len != CS_HASH_LEN)
			continue; /* cannot be ours; the key never matches a lookup */
		if (bsearch(h, v, e->nchunks, sizeof(*v), hash_key_cmp) != NULL)
			continue;
		if (nstale == astale) {
			size_t na = astale ? astale * 2 : 16;
			void *p = realloc(stale, na * sizeof(*stale));
			if (p == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				goto done;
			}
			stale = p;
			astale = na;
		}
		memcpy(stale[nstale++], h, CS_HASH_LEN);
	}
	if (r < 0)
		goto done;
	cs_stmt_reset(s->of_path);
	for (size_t i = 0; i < nstale; i++) {
		if ((r = cs_stmt_bind_int64(s->del_one, 1, fid)) < 0 ||
		    (r = cs_stmt_bind_blob(s->del_one, 2, stale[i], CS_HASH_LEN)) < 0 ||
		    (r = cs_stmt_bind_text(s->del_one, 3, e->path)) < 0 || (r = run(s->del_one)) < 0) {
			cs_stmt_reset(s->del_one);
			goto done;
		}
	}
	r = CS_OK;
done:
	cs_stmt_reset(s->of_path);
	free(stale);
	free(v);
	return r;
}

/* Prepare a lookup by (folder, hash) and step to its first row. */
static int chunk_query(cs_stmt **out, cs_index *ix, const char *sql, const char *folder_id,
	const uint8_t hash[CS_HASH_LEN])
{
	cs_stmt *q = NULL;
	int64_t fid;
	int r = cs__ix_folder_fid(&fid, ix, folder_id);
	if (r < 0)
		return r;
	if ((r = cs_store_prepare(&q, ix->st, sql)) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 ||
	    (r = cs_stmt_bind_blob(q, 2, hash, CS_HASH_LEN)) < 0 || (r = cs_stmt_step(q)) < 0)
		goto fail;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no live file of folder %s holds the chunk", folder_id);
		goto fail;
	}
	*out = q;
	return CS_OK;
fail:
	cs_stmt_free(q);
	return r;
}

int cs_index_chunk_seq(uint64_t *seq, cs_index *ix, const char *folder_id,
	const uint8_t hash[CS_HASH_LEN])
{
	cs_stmt *q = NULL;
	int r = chunk_query(&q, ix, "SELECT seq FROM ix_chunk WHERE fid = ? AND hash = ? LIMIT 1",
		folder_id, hash);
	if (r < 0)
		return r;
	*seq = (uint64_t)cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return CS_OK;
}

int cs_index_chunk_locate(char **path, uint64_t *offset, uint32_t *len,
	cs_index *ix, const char *folder_id, const uint8_t hash[CS_HASH_LEN])
{
	cs_stmt *q = NULL;
	int r = chunk_query(&q, ix,
		"SELECT path, off, len FROM ix_chunk WHERE fid = ? AND hash = ? LIMIT 1",
		folder_id, hash);
	if (r < 0)
		return r;
	const char *p = cs_stmt_text(q, 0);
	int64_t off = cs_stmt_int64(q, 1), n = cs_stmt_int64(q, 2);
	char *copy = p ? strdup(p) : NULL;
	cs_stmt_free(q);
	if (copy == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (off < 0 || n <= 0 || n > (int64_t)UINT32_MAX) {
		free(copy);
		return cs_error_set(CS_EMALFORMED, "stored chunk location is damaged");
	}
	*path = copy;
	*offset = (uint64_t)off;
	*len = (uint32_t)n;
	return CS_OK;
}
