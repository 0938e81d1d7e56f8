/* Unit tests for the SQLite store: reuse of prepared statements, lazy
 * transactions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/store.h>
#include "helpers.h"

struct fixture {
	char *dir;
	cs_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[4096];
	f->dir = cs_test_tmpdir("store");
	snprintf(path, sizeof(path), "%s/s.db", f->dir);
	cs_assert_ok(cs_store_open(&f->st, path));
	cs_assert_ok(cs_store_exec(f->st, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"));
	cs_assert_ok(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)1, "one"));
	cs_assert_ok(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)2, "two"));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cs_store_close(f->st);
	cs_fs_remove_tree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const char *ALL = "SELECT k, v FROM t ORDER BY k";
static const char *ONE = "SELECT v FROM t WHERE k = ?";

static void test_statement_reuse(void **state)
{
	struct fixture *f = *state;
	cs_stmt *a = NULL, *b = NULL;

	/* Left in the middle of its rows: the next use starts from the top. */
	cs_assert_ok(cs_store_prepare(&a, f->st, ALL));
	assert_int_equal(cs_stmt_step(a), 1);
	assert_int_equal(cs_stmt_int64(a, 0), 1);
	cs_stmt_free(a);
	cs_assert_ok(cs_store_prepare(&a, f->st, ALL));
	assert_int_equal(cs_stmt_step(a), 1);
	assert_int_equal(cs_stmt_int64(a, 0), 1);

	/* The same text twice at once: two independent statements. */
	cs_assert_ok(cs_store_prepare(&b, f->st, ALL));
	assert_int_equal(cs_stmt_step(b), 1);
	assert_int_equal(cs_stmt_step(b), 1);
	assert_int_equal(cs_stmt_int64(b, 0), 2);
	assert_int_equal(cs_stmt_step(a), 1);
	assert_int_equal(cs_stmt_int64(a, 0), 2);
	cs_stmt_free(a);
	cs_stmt_free(b);

	/* Bindings do not survive into the next use. */
	cs_assert_ok(cs_store_prepare(&a, f->st, ONE));
	cs_assert_ok(cs_stmt_bind_int64(a, 1, 2));
	assert_int_equal(cs_stmt_step(a), 1);
	assert_string_equal(cs_stmt_text(a, 0), "two");
	cs_stmt_free(a);
	cs_assert_ok(cs_store_prepare(&a, f->st, ONE));
	assert_int_equal(cs_stmt_step(a), 0); /* k = NULL matches nothing */
	cs_stmt_free(a);

	/* More distinct statements than are kept: the oldest make room, and
	 * every one still answers. */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 100; i++) {
			char sql[64];
			snprintf(sql, sizeof(sql), "SELECT v, %d FROM t WHERE k = 1", i);
			cs_assert_ok(cs_store_prepare(&a, f->st, sql));
			assert_int_equal(cs_stmt_step(a), 1);
			assert_int_equal(cs_stmt_int64(a, 1), i);
			cs_stmt_free(a);
		}

	/* A kept statement sees rows written after it was first prepared, and
	 * a table dropped under it fails cleanly. */
	cs_assert_ok(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)3, "three"));
	cs_assert_ok(cs_store_prepare(&a, f->st, ONE));
	cs_assert_ok(cs_stmt_bind_int64(a, 1, 3));
	assert_int_equal(cs_stmt_step(a), 1);
	assert_string_equal(cs_stmt_text(a, 0), "three");
	cs_stmt_free(a);
	cs_assert_ok(cs_store_exec(f->st, "DROP TABLE t"));
	a = NULL;
	assert_true(cs_store_prepare(&a, f->st, ONE) < 0 || cs_stmt_step(a) < 0);
	if (a != NULL)
		cs_stmt_free(a);
}

static int64_t synchronous(cs_store *st)
{
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, st, "PRAGMA synchronous"));
	assert_int_equal(cs_stmt_step(q), 1);
	int64_t v = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return v;
}

/* A lazy transaction commits without a sync (NORMAL, 1) and every other
 * commit is durable (FULL, 2) again afterwards, after a rollback too. */
static void test_lazy_transactions(void **state)
{
	struct fixture *f = *state;
	char path[4096];
	cs_store *other = NULL;
	assert_int_equal(synchronous(f->st), 2);
	cs_assert_ok(cs_store_begin_lazy(f->st));
	assert_int_equal(synchronous(f->st), 1);
	cs_assert_ok(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)5, "five"));
	cs_assert_ok(cs_store_commit(f->st));
	assert_int_equal(synchronous(f->st), 2);
	/* committed: another connection sees it */
	snprintf(path, sizeof(path), "%s/s.db", f->dir);
	cs_assert_ok(cs_store_open(&other, path));
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, other, ONE));
	cs_assert_ok(cs_stmt_bind_int64(q, 1, 5));
	assert_int_equal(cs_stmt_step(q), 1);
	assert_string_equal(cs_stmt_text(q, 0), "five");
	cs_stmt_free(q);
	cs_store_close(other);

	cs_assert_ok(cs_store_begin_lazy(f->st));
	assert_true(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)5, "again") < 0);
	cs_store_rollback(f->st);
	assert_int_equal(synchronous(f->st), 2);
	cs_assert_ok(cs_store_begin(f->st));
	assert_int_equal(synchronous(f->st), 2);
	/* not inside another transaction: refused, which goes on as it was */
	assert_true(cs_store_begin_lazy(f->st) < 0);
	assert_int_equal(synchronous(f->st), 2);
	cs_assert_ok(cs_store_run(NULL, f->st, "INSERT INTO t VALUES (?, ?)", "it", (int64_t)6, "six"));
	cs_assert_ok(cs_store_commit(f->st));
	assert_int_equal(synchronous(f->st), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_statement_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_transactions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
