/*
 * What a backup read last time (PROTOCOL.md §12.4): for every file pushed,
 * its size, mtime and inode and the chunks it was cut into, in the
 * device's device.db (table bk_scan). A file whose three values are
 * unchanged is not read again by the next push; one modified within the
 * last two seconds is always read (its mtime could hide a later write).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/store.h>
#include "backup/local.h"

#define RACY_NS (2ll * 1000000000)
#define CHUNKS_MAX (1u << 20)

struct cs__bk_cache {
	cs_store *st;
	cs_stmt *get, *put;
};

int cs__bk_cache_open(struct cs__bk_cache **out, const char *data_dir)
{
	struct cs__bk_cache *c = calloc(1, sizeof(*c));
	char *db = cs_path_join(data_dir, "device.db");
	int r;
	*out = NULL;
	if (c == NULL || db == NULL) {
		free(c);
		free(db);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	if ((r = cs_store_open(&c->st, db)) < 0 ||
	    (r = cs_store_exec(c->st, "CREATE TABLE IF NOT EXISTS bk_scan ("
		     "path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
		     "ino INTEGER NOT NULL, chunks BLOB NOT NULL);")) < 0 ||
	    (r = cs_store_prepare(&c->get, c->st,
		     "SELECT chunks FROM bk_scan WHERE path = ? AND size = ? AND mtime_ns = ? AND ino = ?")) < 0 ||
	    (r = cs_store_prepare(&c->put, c->st,
		     "INSERT OR REPLACE INTO bk_scan (path, size, mtime_ns, ino, chunks) VALUES (?, ?, ?, ?, ?)")) < 0) {
		free(db);
		cs__bk_cache_close(c);
		return r;
	}
	free(db);
	*out = c;
	return CS_OK;
}

void cs__bk_cache_close(struct cs__bk_cache *c)
{
	if (c == NULL)
		return;
	cs_stmt_free(c->get);
	cs_stmt_free(c->put);
	cs_store_close(c->st);
	free(c);
}

static int racy(int64_t mtime_ns)
{
	return mtime_ns > cs_clock_now_ms() * 1000000 - RACY_NS;
}

int cs__bk_cache_get(struct cs__bk_cache *c, const char *full, uint64_t size, int64_t mtime_ns,
	uint64_t ino, cs_chunk_ref **chunks, size_t *n)
{
	size_t len = 0;
	int r;
	*chunks = NULL;
	*n = 0;
	if (c == NULL || racy(mtime_ns))
		return CS_ENOTFOUND;
	cs_stmt_reset(c->get);
	cs_stmt_bind_text(c->get, 1, full);
	cs_stmt_bind_int64(c->get, 2, (int64_t)size);
	cs_stmt_bind_int64(c->get, 3, mtime_ns);
	cs_stmt_bind_int64(c->get, 4, (int64_t)ino);
	if ((r = cs_stmt_step(c->get)) != 1)
		return r < 0 ? r : CS_ENOTFOUND;
	const uint8_t *blob = cs_stmt_blob(c->get, 0, &len);
	cs_buf v;
	uint32_t cnt, clen;
	uint64_t off = 0;
	cs_buf_view(&v, blob, len);
	if (blob == NULL || cs_buf_get_u32(&v, &cnt) < 0 || cnt > CHUNKS_MAX)
		return CS_ENOTFOUND;
	cs_chunk_ref *out = calloc(cnt ? cnt : 1, sizeof(*out));
	if (out == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < cnt; i++) {
		if (cs_buf_get(&v, out[i].hash, CS_HASH_LEN) < 0 || cs_buf_get_u32(&v, &clen) < 0) {
			free(out);
			return CS_ENOTFOUND;
		}
		out[i].offset = off;
		out[i].len = clen;
		off += clen;
	}
	if (off != size || cs_buf_expect_end(&v) < 0) {
		free(out);
		return CS_ENOTFOUND;
	}
	*chunks = out;
	*n = cnt;
	return CS_OK;
}

int cs__bk_cache_put(struct cs__bk_cache *c, const char *full, uint64_t size, int64_t mtime_ns,
	uint64_t ino, const cs_chunk_ref *chunks, size_t n)
{
	cs_buf *b;
	int r = CS_OK;
	if (c == NULL || racy(mtime_ns) || n > CHUNKS_MAX)
		return CS_OK;
	if ((b = cs_buf_new(4 + n * (CS_HASH_LEN + 4))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	r = cs_buf_put_u32(b, (uint32_t)n);
	for (size_t i = 0; i < n && r == 0; i++)
		if ((r = cs_buf_put(b, chunks[i].hash, CS_HASH_LEN)) == 0)
			r = cs_buf_put_u32(b, chunks[i].len);
	if (r == 0) {
		cs_stmt_reset(c->put);
		cs_stmt_bind_text(c->put, 1, full);
		cs_stmt_bind_int64(c->put, 2, (int64_t)size);
		cs_stmt_bind_int64(c->put, 3, mtime_ns);
		cs_stmt_bind_int64(c->put, 4, (int64_t)ino);
		cs_stmt_bind_blob(c->put, 5, cs_buf_ptr(b), cs_buf_len(b));
		r = cs_stmt_step(c->put);
		r = r < 0 ? r : CS_OK;
	}
	cs_buf_free(b);
	return r;
}

int cs__bk_cache_begin(struct cs__bk_cache *c)
{
	return c ? cs_store_begin(c->st) : CS_OK;
}

int cs__bk_cache_commit(struct cs__bk_cache *c)
{
	return c ? cs_store_commit(c->st) : CS_OK;
}

int cs__bk_cache_forget(struct cs__bk_cache *c)
{
	return c ? cs_store_exec(c->st, "DELETE FROM bk_scan;") : CS_OK;
}
