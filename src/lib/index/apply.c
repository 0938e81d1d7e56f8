/* Writing a batch of scan results to the index in one transaction. */
#include <stdlib.h>
#include <certsync/error.h>
#include "index_internal.h"

static int put_entry(cs_stmt *q, int64_t fid, const struct cs__ix_change *c)
{
	const cs_file_entry *e = &c->e;
	uint8_t *blob = NULL;
	size_t blen = 0;
	int live_file = e->kind == CS_KIND_FILE && !e->deleted;
	int r = CS_OK;

	if (e->nchunks > 0 && (r = cs__ix_chunks_pack(&blob, &blen, e->chunks, e->nchunks)) < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, fid)) < 0 ||
	    (r = cs_stmt_bind_text(q, 2, e->path)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 3, e->kind)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 4, e->deleted)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 5, e->mode)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 6, e->mtime_ns)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 7, (int64_t)e->size)) < 0 ||
	    (r = cs_stmt_bind_int64(q, 8, (int64_t)e->seq)) < 0)
		goto done;
	r = live_file ? cs_stmt_bind_blob(q, 9, e->hash, CS_HASH_LEN) : cs_stmt_bind_null(q, 9);
	if (r < 0)
		goto done;
	r = e->has_prev ? cs_stmt_bind_blob(q, 10, e->prev_hash, CS_HASH_LEN) : cs_stmt_bind_null(q, 10);
	if (r < 0)
		goto done;
	r = blob ? cs_stmt_bind_blob(q, 11, blob, blen) : cs_stmt_bind_null(q, 11);
	if (r < 0 || (r = cs_stmt_bind_int64(q, 12, c->recheck)) < 0)
		goto done;
	r = cs_stmt_step(q);
done:
	cs_stmt_reset(q);
	free(blob);
	return r < 0 ? r : CS_OK;
}

static int put_recheck(cs_stmt *q, int64_t fid, const struct cs__ix_change *c)
{
	int r;
	if ((r = cs_stmt_bind_int64(q, 1, c->recheck)) >= 0 &&
	    (r = cs_stmt_bind_int64(q, 2, fid)) >= 0 &&
	    (r = cs_stmt_bind_text(q, 3, c->e.path)) >= 0)
		r = cs_stmt_step(q);
	cs_stmt_reset(q);
	return r < 0 ? r : CS_OK;
}

int cs__ix_apply(cs_index *ix, int64_t fid, struct cs__ix_change *changes, size_t n)
{
	struct cs__ix_chunk_stmts cs = {0};
	cs_stmt *get_seq = NULL, *put = NULL, *recheck = NULL, *set_seq = NULL;
	int64_t seq = 0;
	int r;

	if (n == 0)
		return CS_OK;
	if ((r = cs_store_begin(ix->st)) < 0)
		return r;
	if ((r = cs_store_prepare(&get_seq, ix->st, "SELECT seq FROM ix_folder WHERE fid = ?")) < 0 ||
	    (r = cs_store_prepare(&put, ix->st, "INSERT OR REPLACE INTO ix_entry(fid, path, kind, "
			"deleted, mode, mtime_ns, size, seq, hash, prev_hash, chunks, recheck) "
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) < 0 ||
	    (r = cs_store_prepare(&recheck, ix->st,
			"UPDATE ix_entry SET recheck = ? WHERE fid = ? AND path = ?")) < 0 ||
	    (r = cs_store_prepare(&set_seq, ix->st, "UPDATE ix_folder SET seq = ? WHERE fid = ?")) < 0 ||
	    (r = cs__ix_chunk_stmts_prepare(&cs, ix->st)) < 0)
		goto done;

	/* The sequence number is read inside the write transaction, so that
	 * numbers stay unique even if something else bumped it meanwhile. */
	if ((r = cs_stmt_bind_int64(get_seq, 1, fid)) < 0 || (r = cs_stmt_step(get_seq)) < 0)
		goto done;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "folder was removed during the scan");
		goto done;
	}
	seq = cs_stmt_int64(get_seq, 0);

	/* First every new state and every reference it adds ... */
	for (size_t i = 0; i < n; i++) {
		struct cs__ix_change *c = &changes[i];
		if (c->refresh) {
			if ((r = put_recheck(recheck, fid, c)) < 0)
				goto done;
			continue;
		}
		c->e.seq = (uint64_t)++seq;
		if ((r = put_entry(put, fid, c)) < 0)
			goto done;
		if (c->e.kind == CS_KIND_FILE && !c->e.deleted && (r = cs__ix_chunks_add(&cs, fid, &c->e)) < 0)
			goto done;
	}
	/* ... then the references that went away. In this order a chunk that
	 * moved (a rename, a copy-then-delete) never has zero references in
	 * between, so it keeps the seq a destination may already hold it by. */
	for (size_t i = 0; i < n; i++) {
		if (!changes[i].refresh && (r = cs__ix_chunks_drop(&cs, fid, &changes[i].e)) < 0)
			goto done;
	}
	if ((r = cs_stmt_bind_int64(set_seq, 1, seq)) < 0 || (r = cs_stmt_bind_int64(set_seq, 2, fid)) < 0 ||
	    (r = cs_stmt_step(set_seq)) < 0)
		goto done;
	r = CS_OK;
done:
	cs__ix_chunk_stmts_free(&cs);
	cs_stmt_free(get_seq);
	cs_stmt_free(put);
	cs_stmt_free(recheck);
	cs_stmt_free(set_seq);
	if (r == CS_OK && (r = cs_store_commit(ix->st)) == CS_OK)
		return CS_OK;
	cs_store_rollback(ix->st);
	cs_error_wrap("update index");
	return r;
}
