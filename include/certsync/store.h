#ifndef CERTSYNC_STORE_H
#define CERTSYNC_STORE_H
/*
 * The store: a small SQL interface over the embedded SQLite backend (WAL
 * mode, synchronous=FULL for durability). Only src/lib/store/ includes a
 * database client header; every other module speaks SQL through this API
 * with '?' placeholders, so that another backend can be added behind it.
 */
#include <certsync/common.h>

typedef struct cs_store cs_store;
typedef struct cs_stmt cs_stmt;

/* Open (creating when missing) the database at path. Sets WAL mode, foreign
 * keys, a busy timeout, and synchronous=FULL. */
CS_EXTERN int cs_store_open(cs_store **out, const char *path);
/* Close; NULL is a no-op. Every statement must have been freed. */
CS_EXTERN void cs_store_close(cs_store *st);

/* Run one or more statements that take no parameters. */
CS_EXTERN int cs_store_exec(cs_store *st, const char *sql);

/* Bring the schema up to date: migrations[i] is applied (in a transaction)
 * when the stored schema version is <= i; the version is then n. */
CS_EXTERN int cs_store_migrate(cs_store *st, const char *const *migrations, size_t n);

/* Transactions. begin is IMMEDIATE (takes the write lock at once). */
CS_EXTERN int cs_store_begin(cs_store *st);
/* A write transaction whose commit does not wait for the disk: the change
 * survives a crash of the process at once, a crash of the machine from the
 * next durable commit (or checkpoint) on. For records not worth a flush of
 * their own, such as progress. Ends with cs_store_commit or rollback. */
CS_EXTERN int cs_store_begin_lazy(cs_store *st);
/* A read transaction: every query until commit (or rollback) sees one
 * snapshot and the store's locks are taken once instead of per query. A
 * write inside it may fail if another connection wrote meanwhile. */
CS_EXTERN int cs_store_begin_read(cs_store *st);
CS_EXTERN int cs_store_commit(cs_store *st);
/* Roll back; safe to call when no transaction is open. */
CS_EXTERN void cs_store_rollback(cs_store *st);

/* Row id of the last insert, and rows changed by the last statement. */
CS_EXTERN int64_t cs_store_last_id(cs_store *st);
CS_EXTERN int64_t cs_store_changes(cs_store *st);

/* Prepare one statement with '?' placeholders. */
CS_EXTERN int cs_store_prepare(cs_stmt **out, cs_store *st, const char *sql);
CS_EXTERN void cs_stmt_free(cs_stmt *stmt);
/* Reset for another execution and clear bindings. */
CS_EXTERN void cs_stmt_reset(cs_stmt *stmt);

/* Bind parameter idx (1-based). text NULL binds SQL NULL. */
CS_EXTERN int cs_stmt_bind_int64(cs_stmt *stmt, int idx, int64_t v);
CS_EXTERN int cs_stmt_bind_text(cs_stmt *stmt, int idx, const char *text);
CS_EXTERN int cs_stmt_bind_blob(cs_stmt *stmt, int idx, const void *data, size_t len);
CS_EXTERN int cs_stmt_bind_null(cs_stmt *stmt, int idx);

/* Execute: 1 when a row is available, 0 when done, negative on error
 * (CS_ECONFLICT for a constraint violation, CS_EDB otherwise). */
CS_EXTERN int cs_stmt_step(cs_stmt *stmt);

/* Column accessors for the current row (col is 0-based). Pointers stay
 * valid until the next step, reset or free. */
CS_EXTERN int64_t cs_stmt_int64(cs_stmt *stmt, int col);
CS_EXTERN const char *cs_stmt_text(cs_stmt *stmt, int col); /* NULL for SQL NULL */
CS_EXTERN const void *cs_stmt_blob(cs_stmt *stmt, int col, size_t *len);
CS_EXTERN int cs_stmt_is_null(cs_stmt *stmt, int col);

/* Prepare sql, bind the values that follow as types says, one letter per
 * '?' in order: 'i' int64_t, 't' const char * (NULL binds NULL), 'b' a
 * blob as const void * and size_t, 'n' NULL (no argument); then step once.
 * Returns 1 when a row came back, 0 when none, negative on error. When
 * row is not NULL and a row came back, *row is the statement, positioned
 * on it, for further cs_stmt_step calls (caller frees); else it is freed. */
CS_EXTERN int cs_store_run(cs_stmt **row, cs_store *st, const char *sql, const char *types, ...);

#endif
