/* The index's tables and cs_index_open/close (include/certsync/index.h).
 *
 * The index shares its store with other modules, so it cannot use the
 * store's PRAGMA user_version (cs_store_migrate owns that). It keeps its
 * own version in ix_meta instead, and every statement here is idempotent so
 * that a crash between them is harmless. */
#include <stdlib.h>
#include <certsync/error.h>
#include "index_internal.h"

/* Bump when the tables change, and add an upgrade step to ix_upgrade(). */
#define IX_SCHEMA_VERSION 1

static const char ix_schema_v1[] =
	"CREATE TABLE IF NOT EXISTS ix_meta ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS ix_folder ("
	"  fid INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  root TEXT NOT NULL,"
	"  seq INTEGER NOT NULL DEFAULT 0);"
	/* A rowid table on purpose: chunk lists of large files make wide rows. */
	"CREATE TABLE IF NOT EXISTS ix_entry ("
	"  fid INTEGER NOT NULL REFERENCES ix_folder(fid) ON DELETE CASCADE,"
	"  path TEXT NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  deleted INTEGER NOT NULL,"
	"  mode INTEGER NOT NULL,"
	"  mtime_ns INTEGER NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  hash BLOB,"
	"  prev_hash BLOB,"
	"  chunks BLOB,"
	"  recheck INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (fid, path));"
	"CREATE INDEX IF NOT EXISTS ix_entry_seq ON ix_entry(fid, seq);"
	"CREATE TABLE IF NOT EXISTS ix_chunk ("
	"  fid INTEGER NOT NULL REFERENCES ix_folder(fid) ON DELETE CASCADE,"
	"  hash BLOB NOT NULL,"
	"  path TEXT NOT NULL,"
	"  off INTEGER NOT NULL,"
	"  len INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  PRIMARY KEY (fid, hash, path)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS ix_chunk_path ON ix_chunk(fid, path);"
	"CREATE TABLE IF NOT EXISTS ix_base ("
	"  fid INTEGER NOT NULL REFERENCES ix_folder(fid) ON DELETE CASCADE,"
	"  source TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  hash BLOB NOT NULL,"
	"  PRIMARY KEY (fid, source, path));";

/* Create or check the tables inside an open transaction. */
static int ix_upgrade(cs_store *st)
{
	cs_stmt *q = NULL;
	int64_t version = 0;
	int r = cs_store_exec(st, ix_schema_v1);
	if (r < 0)
		goto done;
	if ((r = cs_store_prepare(&q, st, "SELECT value FROM ix_meta WHERE key = 'schema'")) < 0)
		goto done;
	if ((r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 1)
		version = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	q = NULL;
	if (version > IX_SCHEMA_VERSION) {
		r = cs_error_set(CS_ESTATE, "index schema version %lld is newer than this program "
			"(%d); upgrade certsync", (long long)version, IX_SCHEMA_VERSION);
		goto done;
	}
	/* Version 1 is the first; later versions add their steps here. */
	r = cs_store_exec(st, "INSERT OR REPLACE INTO ix_meta(key, value) VALUES ('schema', 1)");
done:
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

int cs_index_open(cs_index **out, cs_store *st)
{
	cs_index *ix = NULL;
	int r;
	if ((r = cs_store_begin(st)) < 0)
		return cs_error_wrap("open index");
	if ((r = ix_upgrade(st)) < 0) {
		cs_store_rollback(st);
		return cs_error_wrap("open index");
	}
	if ((r = cs_store_commit(st)) < 0) {
		cs_store_rollback(st);
		return cs_error_wrap("open index");
	}
	ix = calloc(1, sizeof(*ix));
	if (ix == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	ix->st = st;
	cs_chunker_params_default(&ix->params);
	*out = ix;
	return CS_OK;
}

void cs_index_close(cs_index *ix)
{
	free(ix);
}
