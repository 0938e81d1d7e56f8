/* The SQLite backend of the store (include/certsync/store.h). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sqlite3.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/store.h>

/* Prepared statements are kept for reuse: parsing and planning a
 * statement costs more than running most of ours, and the same few are
 * run once per file during a scan or a sync. */
#define STMT_CACHE 48

struct cached_stmt {
	char *sql;
	sqlite3_stmt *s;
	int in_use;
	uint64_t used_at; /* for evicting the least recently used */
};

struct cs_store {
	sqlite3 *db;
	int in_tx;
	int lazy; /* synchronous is NORMAL (cs_store_begin_lazy) until restored */
	struct cached_stmt cache[STMT_CACHE];
	size_t ncache;
	uint64_t clock;
};

struct cs_stmt {
	cs_store *st;
	sqlite3_stmt *s;
	struct cached_stmt *cached; /* NULL when not kept */
};

static int db_error(cs_store *st, const char *what)
{
	int rc = sqlite3_extended_errcode(st->db);
	int code = (rc & 0xff) == SQLITE_CONSTRAINT ? CS_ECONFLICT : CS_EDB;
	if ((rc & 0xff) == SQLITE_FULL)
		code = CS_EIO;
	return cs_error_set(code, "%s: %s", what, sqlite3_errmsg(st->db));
}

int cs_store_open(cs_store **out, const char *path)
{
	cs_store *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	/* the database holds secrets' verifiers and private state: create it
	 * 0600 (SQLite gives its -wal and -shm files the same mode) */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	int rc = sqlite3_open_v2(path, &st->db,
		SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cs_error_set(CS_EDB, "open database %s: %s", path,
			st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		sqlite3_close(st->db);
		free(st);
		return CS_EDB;
	}
	sqlite3_busy_timeout(st->db, 10000);
	/* WAL keeps readers and the writer apart; synchronous=FULL makes every
	 * commit durable, which the relay's "nothing is lost" rule needs. */
	int r = cs_store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
		"PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
	if (r < 0) {
		cs_error_wrap("open database %s", path);
		cs_store_close(st);
		return r;
	}
	*out = st;
	return CS_OK;
}

void cs_store_close(cs_store *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < st->ncache; i++) {
		sqlite3_finalize(st->cache[i].s);
		free(st->cache[i].sql);
	}
	sqlite3_close_v2(st->db);
	free(st);
}

int cs_store_exec(cs_store *st, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int rc = sqlite3_extended_errcode(st->db);
		int code = (rc & 0xff) == SQLITE_CONSTRAINT ? CS_ECONFLICT : CS_EDB;
		cs_error_set(code, "database: %s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return code;
	}
	return CS_OK;
}

/* The level back to FULL after a lazy transaction. Until that succeeds
 * st->lazy stays set and no durable transaction begins: a commit that
 * should wait for the disk must never silently run at NORMAL. */
static int restore_full(cs_store *st)
{
	if (!st->lazy)
		return CS_OK;
	int r = cs_store_exec(st, "PRAGMA synchronous=FULL");
	if (r == 0)
		st->lazy = 0;
	return r;
}

static int begin_immediate(cs_store *st)
{
	int r = cs_store_exec(st, "BEGIN IMMEDIATE");
	if (r == 0)
		st->in_tx = 1;
	return r;
}

int cs_store_begin(cs_store *st)
{
	int r = restore_full(st);
	return r < 0 ? r : begin_immediate(st);
}

int cs_store_begin_lazy(cs_store *st)
{
	/* In WAL mode, synchronous=NORMAL leaves the log unsynced at commit;
	 * the next FULL commit syncs it, and this transaction with it. The
	 * level can only change outside a transaction (inside one the pragma
	 * fails and nothing changes). */
	int r = cs_store_exec(st, "PRAGMA synchronous=NORMAL");
	if (r < 0)
		return r;
	st->lazy = 1;
	if ((r = begin_immediate(st)) < 0)
		restore_full(st); /* or at the next begin */
	return r;
}

int cs_store_begin_read(cs_store *st)
{
	int r = cs_store_exec(st, "BEGIN DEFERRED");
	if (r == 0)
		st->in_tx = 1;
	return r;
}

int cs_store_commit(cs_store *st)
{
	int r = cs_store_exec(st, "COMMIT");
	if (r == 0) {
		st->in_tx = 0;
		/* committed whatever happens here: a level not restored now
		 * is restored by (or fails) the next begin */
		if (restore_full(st) < 0)
			cs_error_clear();
	}
	return r;
}

void cs_store_rollback(cs_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = 0;
	restore_full(st); /* or at the next begin */
}

int64_t cs_store_last_id(cs_store *st) { return sqlite3_last_insert_rowid(st->db); }
int64_t cs_store_changes(cs_store *st) { return sqlite3_changes64(st->db); }

int cs_store_migrate(cs_store *st, const char *const *migrations, size_t n)
{
	cs_stmt *q = NULL;
	int64_t version = 0;
	int r = cs_store_prepare(&q, st, "PRAGMA user_version");
	if (r < 0)
		return r;
	if (cs_stmt_step(q) == 1)
		version = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	if (version > (int64_t)n)
		return cs_error_set(CS_ESTATE, "database schema version %lld is newer than this "
			"program (%zu); upgrade certsync", (long long)version, n);
	for (size_t i = (size_t)version; i < n; i++) {
		char pragma[64];
		if ((r = cs_store_begin(st)) < 0)
			return r;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu", i + 1);
		if ((r = cs_store_exec(st, migrations[i])) < 0 || (r = cs_store_exec(st, pragma)) < 0) {
			cs_store_rollback(st);
			return cs_error_wrap("schema migration %zu", i + 1);
		}
		if ((r = cs_store_commit(st)) < 0)
			return r;
	}
	return CS_OK;
}

/* A slot for a new statement: a free one, or the least recently used one
 * not in use (its statement finalized); NULL when every slot is in use. */
static struct cached_stmt *cache_slot(cs_store *st)
{
	if (st->ncache < STMT_CACHE)
		return &st->cache[st->ncache++];
	struct cached_stmt *old = NULL;
	for (size_t i = 0; i < st->ncache; i++)
		if (!st->cache[i].in_use && (old == NULL || st->cache[i].used_at < old->used_at))
			old = &st->cache[i];
	if (old != NULL) {
		sqlite3_finalize(old->s);
		free(old->sql);
		memset(old, 0, sizeof(*old));
	}
	return old;
}

int cs_store_prepare(cs_stmt **out, cs_store *st, const char *sql)
{
	cs_stmt *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	s->st = st;
	st->clock++;
	for (size_t i = 0; i < st->ncache; i++) {
		struct cached_stmt *c = &st->cache[i];
		if (!c->in_use && strcmp(c->sql, sql) == 0) {
			c->in_use = 1;
			c->used_at = st->clock;
			s->s = c->s;
			s->cached = c;
			*out = s;
			return CS_OK;
		}
	}
	if (sqlite3_prepare_v2(st->db, sql, -1, &s->s, NULL) != SQLITE_OK) {
		free(s);
		return db_error(st, "prepare");
	}
	/* Kept for the next use when there is room (empty text gives no
	 * statement). */
	struct cached_stmt *c = NULL;
	char *copy = NULL;
	if (s->s != NULL && (copy = strdup(sql)) != NULL && (c = cache_slot(st)) != NULL) {
		c->sql = copy;
		c->s = s->s;
		c->in_use = 1;
		c->used_at = st->clock;
		s->cached = c;
	} else {
		free(copy);
	}
	*out = s;
	return CS_OK;
}

void cs_stmt_free(cs_stmt *stmt)
{
	if (stmt == NULL)
		return;
	if (stmt->cached != NULL) {
		/* back to the cache, as a fresh statement would be */
		sqlite3_reset(stmt->s);
		sqlite3_clear_bindings(stmt->s);
		stmt->cached->in_use = 0;
	} else {
		sqlite3_finalize(stmt->s);
	}
	free(stmt);
}

void cs_stmt_reset(cs_stmt *stmt)
{
	sqlite3_reset(stmt->s);
	sqlite3_clear_bindings(stmt->s);
}

static int bind_result(cs_stmt *stmt, int rc)
{
	return rc == SQLITE_OK ? CS_OK : db_error(stmt->st, "bind");
}

int cs_stmt_bind_int64(cs_stmt *stmt, int idx, int64_t v)
{
	return bind_result(stmt, sqlite3_bind_int64(stmt->s, idx, v));
}

int cs_stmt_bind_text(cs_stmt *stmt, int idx, const char *text)
{
	if (text == NULL)
		return cs_stmt_bind_null(stmt, idx);
	return bind_result(stmt, sqlite3_bind_text(stmt->s, idx, text, -1, SQLITE_TRANSIENT));
}

int cs_stmt_bind_blob(cs_stmt *stmt, int idx, const void *data, size_t len)
{
	return bind_result(stmt, sqlite3_bind_blob64(stmt->s, idx, len ? data : "", len,
		SQLITE_TRANSIENT));
}

int cs_stmt_bind_null(cs_stmt *stmt, int idx)
{
	return bind_result(stmt, sqlite3_bind_null(stmt->s, idx));
}

int cs_stmt_step(cs_stmt *stmt)
{
	int rc = sqlite3_step(stmt->s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_error(stmt->st, "query");
}

int64_t cs_stmt_int64(cs_stmt *stmt, int col) { return sqlite3_column_int64(stmt->s, col); }

const char *cs_stmt_text(cs_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt->s, col);
}

const void *cs_stmt_blob(cs_stmt *stmt, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(stmt->s, col);
	*len = (size_t)sqlite3_column_bytes(stmt->s, col);
	return p;
}

int cs_stmt_is_null(cs_stmt *stmt, int col)
{
	return sqlite3_column_type(stmt->s, col) == SQLITE_NULL;
}

int cs_store_run(cs_stmt **row, cs_store *st, const char *sql, const char *types, ...)
{
	cs_stmt *q = NULL;
	va_list ap;
	int r, idx = 1;

	if (row != NULL)
		*row = NULL;
	if ((r = cs_store_prepare(&q, st, sql)) < 0)
		return r;
	va_start(ap, types);
	for (const char *t = types; *t && r >= 0; t++, idx++) {
		switch (*t) {
		case 'i': r = cs_stmt_bind_int64(q, idx, va_arg(ap, int64_t)); break;
		case 't': r = cs_stmt_bind_text(q, idx, va_arg(ap, const char *)); break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			r = cs_stmt_bind_blob(q, idx, p, n);
			break;
		}
		case 'n': r = cs_stmt_bind_null(q, idx); break;
		default: r = cs_error_set(CS_EINVAL, "cs_store_run: unknown type '%c'", *t);
		}
	}
	va_end(ap);
	if (r >= 0)
		r = cs_stmt_step(q);
	if (r == 1 && row != NULL)
		*row = q;
	else
		cs_stmt_free(q);
	return r;
}
