/*
 * One-shot statements for the hub: prepare, bind, step once, free. Most of
 * the hub's SQL runs a statement a single time; these keep that sequence in
 * one place so each call site states only its SQL and its parameters.
 */
#include <certsync/error.h>
#include "hub/hub_internal.h"

/* Prepare sql and bind args[0..n) to ?1..?n into *out. Bind results are
 * not checked, as the hub never checked them: with a valid index a bind
 * fails only when out of memory, and the step then reports the error. */
static int prepare_bound(cs_stmt **out, cs_store *db, const char *sql,
	const struct cs__db_arg *args, size_t n)
{
	int r = cs_store_prepare(out, db, sql);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int idx = (int)i + 1;
		if (args[i].type == CS__DB_TEXT)
			(void)cs_stmt_bind_text(*out, idx, args[i].t);
		else
			(void)cs_stmt_bind_int64(*out, idx, args[i].i);
	}
	return CS_OK;
}

int cs__db_step(cs_store *db, const char *sql, const struct cs__db_arg *args, size_t n)
{
	cs_stmt *q = NULL;
	int r = prepare_bound(&q, db, sql, args, n);
	if (r < 0)
		return r;
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r;
}

int cs__db_exec(cs_store *db, const char *sql, const struct cs__db_arg *args, size_t n)
{
	int r = cs__db_step(db, sql, args, n);
	return r < 0 ? r : CS_OK;
}

int cs__db_int64(cs_store *db, int64_t *out, const char *sql, const struct cs__db_arg *args,
	size_t n)
{
	cs_stmt *q = NULL;
	int r = prepare_bound(&q, db, sql, args, n);
	if (r < 0)
		return r;
	r = cs_stmt_step(q);
	if (r == 1)
		*out = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return r;
}
