/*
 * Unit tests for the hub side of account sync (src/lib/hub/accounts.c,
 * parse_account.c, api_account.c; PROTOCOL.md §11): accounts and their
 * verifiers, token keys shared by two hub processes, the salts of unknown
 * names, failed-login delays, the record store with its preconditions,
 * and, over HTTPS against a hub running in a thread, the login and every
 * refusal code of a sealed call.
 *
 * Two hub processes sharing one hub.db are simulated by two cs_store
 * handles on the same file, each with its own key cache.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/account.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/httpc.h>
#include <certsync/hub.h>
#include <certsync/identity.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "helpers.h"
#include "hub/hub_internal.h"

#define PASSWORD "correct horse battery"
#define KDF_T 1
#define KDF_M 64 /* KiB: fast tests; the cost is the account's, not the protocol's */

struct fixture {
	char *dir, *data;
	cs_hub *hub;     /* "process" 1: hub->db */
	cs_store *db2;   /* "process" 2 */
	int64_t alice;   /* account id */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cs__account a;
	f->dir = cs_test_tmpdir("hub-account");
	f->data = cs_path_join(f->dir, "hub");
	cs_log_set_level(getenv("CS_TEST_LOG") ? CS_LOG_DEBUG : CS_LOG_ERROR);
	cs_assert_ok(cs_hub_init(f->data, NULL));
	cs_assert_ok(cs_hub_account_add(f->data, "alice", PASSWORD, KDF_T, KDF_M));
	cs_assert_ok(cs__hub_open_core(&f->hub, f->data));
	char *path = cs_path_join(f->data, "hub.db");
	cs_assert_ok(cs_store_open(&f->db2, path));
	free(path);
	cs_assert_ok(cs__acct_get(f->hub->db, &a, "alice"));
	f->alice = a.id;
	cs__acct_clear(&a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cs_store_close(f->db2);
	cs_hub_free(f->hub);
	cs_fs_remove_tree(f->dir);
	free(f->data);
	free(f->dir);
	free(f);
	return 0;
}

static int64_t count_rows(cs_store *db, const char *sql)
{
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, db, sql));
	assert_int_equal(cs_stmt_step(q), 1);
	int64_t n = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return n;
}

/* ---- accounts ---- */

struct names {
	char list[8][CS_ACCT_NAME_MAX + 1];
	int disabled[8];
	int64_t records[8];
	size_t n;
};

static int collect(void *ud, const struct cs_hub_account_info *a)
{
	struct names *n = ud;
	assert_true(n->n < 8);
	snprintf(n->list[n->n], sizeof(n->list[0]), "%s", a->name);
	n->disabled[n->n] = a->disabled;
	n->records[n->n] = a->records;
	assert_int_equal(a->t_cost, KDF_T);
	assert_int_equal(a->m_kib, KDF_M);
	assert_true(a->created > 0);
	n->n++;
	return 0;
}

static int stop_at_first(void *ud, const struct cs_hub_account_info *a)
{
	(void)a;
	(*(int *)ud)++;
	return 7;
}

static void test_add_list_disable(void **state)
{
	struct fixture *f = *state;
	struct names n = {0};
	int calls = 0;

	cs_assert_ok(cs_hub_account_add(f->data, "bob.smith@example", PASSWORD, KDF_T, KDF_M));
	assert_int_equal(cs_hub_account_add(f->data, "alice", PASSWORD, KDF_T, KDF_M), CS_EEXISTS);
	assert_int_equal(cs_hub_account_add(f->data, "al ice", PASSWORD, KDF_T, KDF_M), CS_EINVAL);
	assert_int_equal(cs_hub_account_add(f->data, "", PASSWORD, KDF_T, KDF_M), CS_EINVAL);
	assert_int_equal(cs_hub_account_add(f->data, "carol", "short", KDF_T, KDF_M), CS_EINVAL);
	assert_int_equal(cs_hub_account_add(f->data, "carol", PASSWORD, 17, KDF_M), CS_EINVAL);
	assert_int_equal(cs_hub_account_add(f->data, "carol", PASSWORD, 1, 4), CS_EINVAL);
	char *nowhere = cs_path_join(f->dir, "nowhere");
	assert_int_equal(cs_hub_account_add(nowhere, "carol", PASSWORD, KDF_T, KDF_M), CS_ENOTFOUND);
	free(nowhere);

	cs_assert_ok(cs_hub_account_list(f->data, collect, &n));
	assert_int_equal(n.n, 2);
	assert_string_equal(n.list[0], "alice");
	assert_string_equal(n.list[1], "bob.smith@example");
	assert_int_equal(n.disabled[0], 0);
	assert_int_equal(cs_hub_account_list(f->data, stop_at_first, &calls), 7);
	assert_int_equal(calls, 1);

	/* disabling reaches a hub process that has the database open */
	cs_assert_ok(cs__acct_check_active(f->hub->db, f->alice, "alice"));
	cs_assert_ok(cs_hub_account_set_disabled(f->data, "alice", 1));
	assert_int_equal(cs__acct_check_active(f->hub->db, f->alice, "alice"), CS_EDENIED);
	memset(&n, 0, sizeof(n));
	cs_assert_ok(cs_hub_account_list(f->data, collect, &n));
	assert_int_equal(n.disabled[0], 1);
	cs_assert_ok(cs_hub_account_set_disabled(f->data, "alice", 0));
	cs_assert_ok(cs__acct_check_active(f->hub->db, f->alice, "alice"));
	assert_int_equal(cs_hub_account_set_disabled(f->data, "nobody", 1), CS_ENOTFOUND);
	/* a token naming the id under another name is not alice's */
	assert_int_equal(cs__acct_check_active(f->hub->db, f->alice, "bob.smith@example"), CS_EDENIED);
	assert_int_equal(cs__acct_check_active(f->hub->db, 9999, "alice"), CS_EDENIED);
}

/* What the hub stores checks the proof of the right password only. */
static void test_verifier(void **state)
{
	struct fixture *f = *state;
	struct cs__account a, by_id;
	uint8_t sp[32], proof[32], ck[32], ck2[32], stored[32], server[32];
	uint8_t cn[CS_ACCT_NONCE_LEN], sn[CS_ACCT_NONCE_LEN];
	char *auth = NULL;

	cs_assert_ok(cs__acct_get(f->hub->db, &a, "alice"));
	cs_assert_ok(cs__acct_get_id(f->hub->db, &by_id, a.id));
	assert_string_equal(by_id.name, "alice");
	assert_memory_equal(by_id.stored_key, a.stored_key, 32);
	assert_int_equal(cs__acct_get(f->hub->db, &by_id, "nobody"), CS_ENOTFOUND);
	assert_int_equal(a.kdf.t_cost, KDF_T);
	assert_int_equal(a.kdf.m_kib, KDF_M);

	cs_test_fill_random(cn, sizeof(cn), 1);
	cs_test_fill_random(sn, sizeof(sn), 2);
	cs_assert_ok(cs_acct_auth_message(&auth, "alice", "DEVICE", cn, sn, &a.kdf));
	cs_assert_ok(cs_acct_salted_password(sp, PASSWORD, &a.kdf));
	cs_acct_verifier(stored, server, sp);
	assert_memory_equal(stored, a.stored_key, 32);
	assert_memory_equal(server, a.server_key, 32);
	cs_acct_client_proof(proof, ck, sp, auth);
	cs_assert_ok(cs_acct_check_proof(ck2, a.stored_key, auth, proof));
	assert_memory_equal(ck, ck2, 32);

	/* the wrong password */
	cs_assert_ok(cs_acct_salted_password(sp, PASSWORD "!", &a.kdf));
	cs_acct_client_proof(proof, ck, sp, auth);
	assert_int_equal(cs_acct_check_proof(ck2, a.stored_key, auth, proof), CS_EAUTH);

	/* another salt (each account gets a random one) */
	cs_assert_ok(cs_hub_account_add(f->data, "twin", PASSWORD, KDF_T, KDF_M));
	cs_assert_ok(cs__acct_get(f->hub->db, &by_id, "twin"));
	assert_memory_not_equal(by_id.kdf.salt, a.kdf.salt, CS_ACCT_SALT_LEN);
	assert_memory_not_equal(by_id.stored_key, a.stored_key, 32);
	free(auth);
	cs__acct_clear(&a);
	cs__acct_clear(&by_id);
}

/* ---- token keys ---- */

static void test_token_keys(void **state)
{
	struct fixture *f = *state;
	struct cs__acct_cache c1 = {0}, c2 = {0}, c3 = {0};
	struct cs__acct_key k, k1, k2, k3;
	const int64_t t0 = 1000000, rotate = 100, ttl = 50;

	/* the first seal makes a key; both processes use it */
	cs_assert_ok(cs__acct_key_current(f->hub->db, &c1, &k1, t0, rotate, ttl));
	cs_assert_ok(cs__acct_key_current(f->hub->db, &c1, &k, t0 + 10, rotate, ttl));
	assert_int_equal(k.kid, k1.kid);
	cs_assert_ok(cs__acct_key_current(f->db2, &c2, &k, t0 + 10, rotate, ttl));
	assert_int_equal(k.kid, k1.kid);
	assert_memory_equal(k.key, k1.key, CS_ACCT_KEY_LEN);
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_keys"), 1);

	/* a token sealed by one process opens in the other */
	cs_acct_token tok = {.account_id = f->alice, .account = "alice", .issued = t0,
		.expires = t0 + ttl};
	cs_acct_token back;
	char *text = NULL;
	uint32_t kid;
	cs_assert_ok(cs_acct_token_seal(&text, k1.key, k1.kid, &tok));
	cs_assert_ok(cs_acct_sealed_kid(&kid, text, 0));
	cs_assert_ok(cs__acct_key_find(f->db2, &c3, &k, kid));
	cs_assert_ok(cs_acct_token_open(&back, k.key, text));
	assert_string_equal(back.account, "alice");
	free(text);

	/* rotation: process 2 notices first and adds a key; process 1, whose
	 * cached key is stale too, finds that one instead of adding another */
	cs_assert_ok(cs__acct_key_current(f->db2, &c2, &k2, t0 + rotate, rotate, ttl));
	assert_true(k2.kid > k1.kid);
	cs_assert_ok(cs__acct_key_current(f->hub->db, &c1, &k, t0 + rotate + 1, rotate, ttl));
	assert_int_equal(k.kid, k2.kid);
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_keys"), 2);
	/* the old key still opens tokens it sealed */
	cs_assert_ok(cs__acct_key_find(f->hub->db, &c1, &k, k1.kid));
	assert_memory_equal(k.key, k1.key, CS_ACCT_KEY_LEN);

	/* a key added by the other process is found by re-reading the store */
	struct cs__acct_cache c4 = {0};
	cs_assert_ok(cs__acct_key_find(f->hub->db, &c4, &k, k2.kid)); /* c4 holds k1, k2 */
	cs_assert_ok(cs__acct_key_current(f->db2, &c2, &k3, t0 + 2 * rotate, rotate, ttl));
	assert_true(k3.kid > k2.kid);
	cs_assert_ok(cs__acct_key_find(f->hub->db, &c4, &k, k3.kid));
	assert_memory_equal(k.key, k3.key, CS_ACCT_KEY_LEN);
	/* unknown kids, above and below the newest */
	assert_int_equal(cs__acct_key_find(f->hub->db, &c4, &k, k3.kid + 1000), CS_ENOTFOUND);
	assert_int_equal(cs__acct_key_find(f->hub->db, &c4, &k, 0), CS_ENOTFOUND);

	/* the rotation at t0 + 2 * rotate deleted k1: k2, which replaced it, was
	 * then older than ttl; k2 stays until k3 is that old */
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_keys"), 2);
	struct cs__acct_cache c5 = {0};
	assert_int_equal(cs__acct_key_find(f->db2, &c5, &k, k1.kid), CS_ENOTFOUND);
	cs_assert_ok(cs__acct_key_find(f->db2, &c5, &k, k2.kid));

	/* a long idle hub: the newest key is far too old; the one added now
	 * replaces it, and it is kept for another ttl, though older than
	 * rotate + ttl itself */
	cs_assert_ok(cs__acct_key_current(f->db2, &c2, &k, t0 + 100 * rotate, rotate, ttl));
	assert_true(k.kid > k3.kid);
	struct cs__acct_cache c6 = {0};
	cs_assert_ok(cs__acct_key_find(f->db2, &c6, &k, k3.kid));
	assert_int_equal(cs__acct_key_find(f->db2, &c6, &k, k2.kid), CS_ENOTFOUND);

	cs__acct_cache_clear(&c1);
	cs__acct_cache_clear(&c2);
	cs__acct_cache_clear(&c3);
	cs__acct_cache_clear(&c4);
	cs__acct_cache_clear(&c5);
	cs__acct_cache_clear(&c6);
	assert_null(c1.keys);
}

static void test_fake_salt(void **state)
{
	struct fixture *f = *state;
	struct cs__acct_cache c1 = {0}, c2 = {0};
	uint8_t s1[CS_ACCT_SALT_LEN], s2[CS_ACCT_SALT_LEN], s3[CS_ACCT_SALT_LEN];

	cs_assert_ok(cs__acct_fake_salt(f->hub->db, &c1, s1, "mallory"));
	cs_assert_ok(cs__acct_fake_salt(f->db2, &c2, s2, "mallory"));
	assert_memory_equal(s1, s2, sizeof(s1));
	cs_assert_ok(cs__acct_fake_salt(f->db2, &c2, s3, "mallory2"));
	assert_memory_not_equal(s1, s3, sizeof(s1));
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_secrets"), 1);
	cs__acct_cache_clear(&c1);
	cs__acct_cache_clear(&c2);
}

static void test_login_failures(void **state)
{
	struct fixture *f = *state;
	const int64_t expect[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
	int64_t t = 5000000, d = 0;

	/* counted in the store: the two processes take turns */
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		cs_assert_ok(cs__acct_fail(i % 2 ? f->db2 : f->hub->db, &d, "alice", t + (int64_t)i));
		assert_int_equal(d, expect[i]);
	}
	/* another name has its own count */
	cs_assert_ok(cs__acct_fail(f->hub->db, &d, "nobody", t));
	assert_int_equal(d, 250);
	/* a success starts afresh */
	cs_assert_ok(cs__acct_fail_reset(f->db2, "alice"));
	cs_assert_ok(cs__acct_fail(f->hub->db, &d, "alice", t + 100));
	assert_int_equal(d, 250);
	cs_assert_ok(cs__acct_fail(f->hub->db, &d, "alice", t + 200));
	assert_int_equal(d, 500);
	/* and so do 15 quiet minutes */
	t += 200 + CS__ACCT_FAIL_FORGET_MS + 1;
	cs_assert_ok(cs__acct_fail(f->hub->db, &d, "alice", t));
	assert_int_equal(d, 250);
	/* housekeeping forgets quiet names */
	cs_assert_ok(cs__acct_fail_expire(f->db2, t));
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_login_failures"), 1);
}

/* ---- records ---- */

static json_t *jget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (v == NULL)
		fail_msg("member %s missing", k);
	return v;
}

static int64_t jint(json_t *o, const char *k)
{
	return (int64_t)json_integer_value(jget(o, k));
}

/* An upload record with payload text (NULL: a deletion). */
static struct cs__acct_upload_rec rec(const char *id, int64_t if_version, const char *payload)
{
	struct cs__acct_upload_rec r = {.id = id, .if_version = if_version, .deleted = !payload};
	if (payload) {
		r.len = strlen(payload);
		r.payload = (uint8_t *)payload;
	}
	return r;
}

static void upload_ok(cs_store *db, int64_t account, const char *coll,
	const struct cs__acct_upload_rec *recs, size_t n, int64_t first_version)
{
	json_t *out = NULL;
	cs_assert_ok(cs__acct_upload(db, &out, account, coll, recs, n));
	json_t *v = jget(out, "versions");
	assert_int_equal(json_array_size(v), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(json_integer_value(json_array_get(v, i)), first_version + (int64_t)i);
	assert_int_equal(jint(out, "version"), first_version + (int64_t)n - 1);
	json_decref(out);
}

/* The payload of record i of an answer, decoded ("" for none). */
static char *payload_of(json_t *records, size_t i)
{
	static char buf[256];
	json_t *p = jget(json_array_get(records, i), "payload");
	if (json_is_null(p))
		return strcpy(buf, "(deleted)");
	uint8_t *raw = NULL;
	size_t len;
	cs_assert_ok(cs_base64_decode(&raw, &len, json_string_value(p), 1000));
	assert_true(len < sizeof(buf));
	memcpy(buf, raw, len);
	buf[len] = 0;
	free(raw);
	return buf;
}

static void test_upload_preconditions(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL;
	const char *ids[] = {"a", "b", "c", "zz"};

	struct cs__acct_upload_rec first[] = {rec("a", 0, "A1"), rec("b", 0, "B1"), rec("c", -1, "C1")};
	upload_ok(f->hub->db, f->alice, "coll", first, 3, 1);

	/* one precondition fails: 412 with every conflict, nothing written */
	struct cs__acct_upload_rec mixed[] = {rec("a", 1, "A2"), rec("b", 0, "B2"),
		rec("c", 7, "C2"), rec("new", 0, "N1")};
	assert_int_equal(cs__acct_upload(f->hub->db, &out, f->alice, "coll", mixed, 4), CS_ECONFLICT);
	json_t *cf = jget(out, "conflicts");
	assert_int_equal(json_array_size(cf), 2);
	assert_string_equal(json_string_value(jget(json_array_get(cf, 0), "id")), "b");
	assert_int_equal(jint(json_array_get(cf, 0), "version"), 2);
	assert_string_equal(json_string_value(jget(json_array_get(cf, 1), "id")), "c");
	assert_int_equal(jint(json_array_get(cf, 1), "version"), 3);
	assert_int_equal(jint(out, "version"), 3);
	json_decref(out);
	cs_assert_ok(cs__acct_get_records(f->hub->db, &out, NULL, f->alice, "coll", ids, 4, 1 << 20, NULL));
	json_t *recs = jget(out, "records");
	assert_int_equal(json_array_size(recs), 3); /* zz does not exist */
	assert_string_equal(payload_of(recs, 0), "A1");
	assert_int_equal(jint(json_array_get(recs, 0), "version"), 1);
	assert_false(json_is_true(jget(out, "more")));
	json_decref(out);
	assert_int_equal(count_rows(f->hub->db, "SELECT count(*) FROM account_records WHERE "
					     "id = 'new'"), 0);

	/* a precondition on a missing record: V > 0 fails with version 0 */
	struct cs__acct_upload_rec missing[] = {rec("zz", 5, "Z")};
	assert_int_equal(cs__acct_upload(f->hub->db, &out, f->alice, "coll", missing, 1), CS_ECONFLICT);
	assert_int_equal(jint(json_array_get(jget(out, "conflicts"), 0), "version"), 0);
	json_decref(out);

	/* the right versions: written in request order, next versions */
	struct cs__acct_upload_rec good[] = {rec("b", 2, "B2"), rec("a", 1, NULL)};
	upload_ok(f->hub->db, f->alice, "coll", good, 2, 4);
	/* a deleted record counts as absent for if_version 0 and keeps its
	 * version for if_version V */
	struct cs__acct_upload_rec again[] = {rec("a", 0, "A3")};
	upload_ok(f->db2, f->alice, "coll", again, 1, 6);
	struct cs__acct_upload_rec del[] = {rec("c", 3, NULL)};
	upload_ok(f->db2, f->alice, "coll", del, 1, 7);
	struct cs__acct_upload_rec undel[] = {rec("c", 7, "C3")};
	upload_ok(f->db2, f->alice, "coll", undel, 1, 8);
	/* if_version 0 on a live record conflicts */
	struct cs__acct_upload_rec clash[] = {rec("c", 0, "C4")};
	assert_int_equal(cs__acct_upload(f->hub->db, &out, f->alice, "coll", clash, 1), CS_ECONFLICT);
	assert_int_equal(jint(json_array_get(jget(out, "conflicts"), 0), "version"), 8);
	json_decref(out);

	/* collections and accounts are separate */
	cs_assert_ok(cs_hub_account_add(f->data, "bob", PASSWORD, KDF_T, KDF_M));
	struct cs__account bob;
	cs_assert_ok(cs__acct_get(f->hub->db, &bob, "bob"));
	upload_ok(f->hub->db, bob.id, "coll", first, 3, 1);
	upload_ok(f->hub->db, f->alice, "other", first, 3, 1);
	cs__acct_clear(&bob);

	/* an empty upload changes nothing and reports the version */
	cs_assert_ok(cs__acct_upload(f->hub->db, &out, f->alice, "coll", NULL, 0));
	assert_int_equal(jint(out, "version"), 8);
	assert_int_equal(json_array_size(jget(out, "versions")), 0);
	json_decref(out);
}

static void test_changes(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL, *recs;
	char id[8], payload[128];

	/* 5 records, then record 2 changes and record 4 is deleted */
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		memset(payload, 'a' + i, 100);
		payload[100] = 0;
		struct cs__acct_upload_rec r1[] = {rec(id, 0, payload)};
		upload_ok(i % 2 ? f->db2 : f->hub->db, f->alice, "c", r1, 1, i + 1);
	}
	struct cs__acct_upload_rec r2[] = {rec("r2", 3, "changed"), rec("r4", 5, NULL)};
	upload_ok(f->hub->db, f->alice, "c", r2, 2, 6);

	/* everything since 0: versions in order, each record once */
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 0, 1000, 1 << 20, NULL));
	recs = jget(out, "records");
	assert_int_equal(json_array_size(recs), 5);
	const char *order[] = {"r0", "r1", "r3", "r2", "r4"};
	const int64_t vers[] = {1, 2, 4, 6, 7};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(json_string_value(jget(json_array_get(recs, i), "id")), order[i]);
		assert_int_equal(jint(json_array_get(recs, i), "version"), vers[i]);
	}
	assert_string_equal(payload_of(recs, 3), "changed");
	assert_true(json_is_true(jget(json_array_get(recs, 4), "deleted")));
	assert_true(json_is_null(jget(json_array_get(recs, 4), "payload")));
	assert_false(json_is_true(jget(json_array_get(recs, 0), "deleted")));
	assert_int_equal(jint(out, "version"), 7);
	assert_false(json_is_true(jget(out, "more")));
	json_decref(out);

	/* paging by limit */
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 0, 2, 1 << 20, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 2);
	assert_true(json_is_true(jget(out, "more")));
	assert_int_equal(jint(out, "version"), 7);
	json_decref(out);
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 4, 2, 1 << 20, NULL));
	recs = jget(out, "records");
	assert_int_equal(json_array_size(recs), 2);
	assert_int_equal(jint(json_array_get(recs, 0), "version"), 6);
	assert_false(json_is_true(jget(out, "more"))); /* exactly the last two */
	json_decref(out);

	/* paging by payload bytes: never fewer than one record */
	uint64_t bytes = 0;
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, &bytes, f->alice, "c", 0, 1000, 150, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 1);
	assert_true(json_is_true(jget(out, "more")));
	assert_int_equal(bytes, 100);
	json_decref(out);
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 0, 1000, 10, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 1);
	json_decref(out);
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 0, 1000, 200, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 2);
	json_decref(out);

	/* nothing new, and an unknown collection */
	cs_assert_ok(cs__acct_changes(f->hub->db, &out, NULL, f->alice, "c", 7, 1000, 1 << 20, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 0);
	assert_int_equal(jint(out, "version"), 7);
	json_decref(out);
	cs_assert_ok(cs__acct_changes(f->db2, &out, NULL, f->alice, "none", 0, 1000, 1 << 20, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 0);
	assert_int_equal(jint(out, "version"), 0);
	json_decref(out);

	/* get: tombstones included, the order asked, byte cap with "more" */
	const char *ids[] = {"r4", "nope", "r0", "r1"};
	cs_assert_ok(cs__acct_get_records(f->hub->db, &out, NULL, f->alice, "c", ids, 4, 1 << 20, NULL));
	recs = jget(out, "records");
	assert_int_equal(json_array_size(recs), 3);
	assert_string_equal(json_string_value(jget(json_array_get(recs, 0), "id")), "r4");
	assert_true(json_is_true(jget(json_array_get(recs, 0), "deleted")));
	assert_string_equal(json_string_value(jget(json_array_get(recs, 1), "id")), "r0");
	json_decref(out);
	cs_assert_ok(cs__acct_get_records(f->hub->db, &out, NULL, f->alice, "c", ids, 4, 150, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 2); /* r4 (0 bytes), r0 */
	assert_true(json_is_true(jget(out, "more")));
	json_decref(out);
	/* another account sees none of it */
	cs_assert_ok(cs__acct_get_records(f->hub->db, &out, NULL, f->alice + 1, "c", ids, 4, 1 << 20, NULL));
	assert_int_equal(json_array_size(jget(out, "records")), 0);
	json_decref(out);
}

/* Two hub processes writing the same collection in turn: versions stay a
 * gapless sequence, each given once, and preconditions see the other
 * process's writes. */
static void test_two_processes(void **state)
{
	struct fixture *f = *state;
	json_t *out = NULL;
	char id[16];
	int64_t expect = 1;

	for (int i = 0; i < 40; i++) {
		cs_store *db = i % 2 ? f->db2 : f->hub->db;
		snprintf(id, sizeof(id), "k%d", i % 7);
		/* unconditional, then a conditional update of what the other wrote */
		struct cs__acct_upload_rec r1[] = {rec(id, -1, "x"), rec("shared", -1, "y")};
		upload_ok(db, f->alice, "c", r1, 2, expect);
		expect += 2;
		struct cs__acct_upload_rec r2[] = {rec("shared", expect - 1, "z")};
		upload_ok(i % 2 ? f->hub->db : f->db2, f->alice, "c", r2, 1, expect);
		expect++;
		struct cs__acct_upload_rec stale[] = {rec("shared", expect - 2, "late")};
		assert_int_equal(cs__acct_upload(db, &out, f->alice, "c", stale, 1), CS_ECONFLICT);
		json_decref(out);
	}
	cs_assert_ok(cs__acct_changes(f->db2, &out, NULL, f->alice, "c", 0, 1000, 1 << 20, NULL));
	json_t *recs = jget(out, "records");
	assert_int_equal(json_array_size(recs), 8); /* k0..k6 and shared */
	int64_t prev = 0;
	for (size_t i = 0; i < json_array_size(recs); i++) {
		int64_t v = jint(json_array_get(recs, i), "version");
		assert_true(v > prev);
		prev = v;
	}
	assert_int_equal(prev, expect - 1);
	assert_int_equal(jint(out, "version"), expect - 1);
	json_decref(out);
	assert_int_equal(count_rows(f->hub->db, "SELECT version FROM account_collections"),
		expect - 1);
}

/* ---- parsers ---- */

static void test_parsers(void **state)
{
	(void)state;
	struct cs__acct_start_body s;
	struct cs__acct_finish_body fin;
	struct cs__acct_changes_body ch;
	struct cs__acct_get_body g;
	struct cs__acct_upload_body u;
	char dev[CS_DEVICE_ID_SIZE], buf[1024];
	cs_key *key = NULL;
	const char *cn = "000102030405060708090a0b0c0d0e0f1011";

	cs_assert_ok(cs_key_generate(&key));
	cs_assert_ok(cs_key_device_id(dev, key));
	cs_key_free(key);
#define P(fn, out, text) fn(out, text, strlen(text))
	snprintf(buf, sizeof(buf), "{\"account\":\"alice\",\"device\":\"%s\",\"cnonce\":\"%s\"}", dev, cn);
	cs_assert_ok(P(cs__parse_acct_start, &s, buf));
	assert_string_equal(s.account, "alice");
	assert_string_equal(s.device, dev);
	assert_int_equal(s.cnonce[17], 0x11);
	snprintf(buf, sizeof(buf), "{\"account\":\"al ice\",\"device\":\"%s\",\"cnonce\":\"%s\"}", dev, cn);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EINVAL);
	assert_true(s.account[0] == 0);
	snprintf(buf, sizeof(buf), "{\"account\":\"alice\",\"device\":\"x%s\",\"cnonce\":\"%s\"}", dev, cn);
	assert_true(P(cs__parse_acct_start, &s, buf) < 0);
	/* another spelling of the device ID is refused, not normalised */
	char lower[CS_DEVICE_ID_SIZE];
	for (size_t i = 0; i <= strlen(dev); i++)
		lower[i] = (char)(dev[i] >= 'A' && dev[i] <= 'Z' ? dev[i] - 'A' + 'a' : dev[i]);
	snprintf(buf, sizeof(buf), "{\"account\":\"alice\",\"device\":\"%s\",\"cnonce\":\"%s\"}", lower, cn);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EINVAL);
	snprintf(buf, sizeof(buf), "{\"account\":\"alice\",\"device\":\"%s\",\"cnonce\":\"00\"}", dev);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "{\"account\":\"alice\",\"device\":\"%s\"}", dev);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EINVAL);
	snprintf(buf, sizeof(buf), "{\"account\":1,\"device\":\"%s\",\"cnonce\":\"%s\"}", dev, cn);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "{\"account\":\"a\",\"account\":\"b\",\"device\":\"%s\","
		"\"cnonce\":\"%s\"}", dev, cn);
	assert_int_equal(P(cs__parse_acct_start, &s, buf), CS_EMALFORMED);
	char *big = malloc(CS__HUB_ACCT_LOGIN_MAX + 10);
	memset(big, ' ', CS__HUB_ACCT_LOGIN_MAX + 9);
	big[0] = '{';
	big[CS__HUB_ACCT_LOGIN_MAX + 8] = '}';
	assert_int_equal(cs__parse_acct_start(&s, big, CS__HUB_ACCT_LOGIN_MAX + 9), CS_ELIMIT);
	free(big);

	snprintf(buf, sizeof(buf), "{\"ticket\":\"csl1.xyz\",\"proof\":\"%064d\"}", 0);
	cs_assert_ok(P(cs__parse_acct_finish, &fin, buf));
	assert_string_equal(fin.ticket, "csl1.xyz");
	assert_int_equal(P(cs__parse_acct_finish, &fin, "{\"ticket\":\"\",\"proof\":\"00\"}"),
		CS_EMALFORMED);
	snprintf(buf, sizeof(buf), "{\"ticket\":\"\",\"proof\":\"%064d\"}", 0);
	assert_int_equal(P(cs__parse_acct_finish, &fin, buf), CS_EINVAL);

	cs_assert_ok(P(cs__parse_acct_changes, &ch, "{\"collection\":\"f.abc:1-_\"}"));
	assert_int_equal(ch.since, 0);
	assert_int_equal(ch.limit, 1000);
	cs_assert_ok(P(cs__parse_acct_changes, &ch, "{\"collection\":\"c\",\"since\":5,\"limit\":7}"));
	assert_int_equal(ch.since, 5);
	assert_int_equal(ch.limit, 7);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"c\",\"limit\":0}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"c\",\"limit\":1001}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"c\",\"since\":-1}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"c\",\"since\":1.5}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"a/b\"}"), CS_EINVAL);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{\"collection\":\"\"}"), CS_EINVAL);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "{}"), CS_EINVAL);
	assert_int_equal(P(cs__parse_acct_changes, &ch, "[]"), CS_EMALFORMED);

	cs_assert_ok(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":[\"a\",\"b\"]}"));
	assert_int_equal(g.n, 2);
	assert_string_equal(g.ids[1], "b");
	cs__acct_get_body_clear(&g);
	cs_assert_ok(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":[]}"));
	cs__acct_get_body_clear(&g);
	assert_int_equal(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":[\"a\",\"a\"]}"),
		CS_EINVAL);
	assert_null(g.ids);
	assert_int_equal(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":[1]}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":\"a\"}"),
		CS_EMALFORMED);
	assert_int_equal(P(cs__parse_acct_get, &g, "{\"collection\":\"c\",\"ids\":[\"a b\"]}"),
		CS_EINVAL);

	cs_assert_ok(P(cs__parse_acct_upload, &u,
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"payload\":\"aGVsbG8=\"},"
		"{\"id\":\"b\",\"if_version\":3,\"deleted\":true},{\"id\":\"c\",\"if_version\":0,"
		"\"payload\":\"\",\"extra\":1}]}"));
	assert_int_equal(u.n, 3);
	assert_int_equal(u.recs[0].if_version, -1);
	assert_int_equal(u.recs[0].len, 5);
	assert_memory_equal(u.recs[0].payload, "hello", 5);
	assert_true(u.recs[1].deleted);
	assert_int_equal(u.recs[1].if_version, 3);
	assert_int_equal(u.recs[2].if_version, 0);
	assert_int_equal(u.recs[2].len, 0);
	assert_int_equal(u.bytes, 5);
	cs__acct_upload_body_clear(&u);
	/* a deletion with a payload, a record without, bad base64, twice the
	 * same id, a bad id, a negative precondition */
	const char *bad[] = {
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"deleted\":true,\"payload\":\"\"}]}",
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\"}]}",
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"payload\":\"***\"}]}",
		("{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"payload\":\"\"},"
		 "{\"id\":\"a\",\"payload\":\"\"}]}"),
		"{\"collection\":\"c\",\"records\":[{\"id\":\"\",\"payload\":\"\"}]}",
		"{\"collection\":\"c\",\"records\":[{\"payload\":\"\"}]}",
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"if_version\":-1,\"payload\":\"\"}]}",
		"{\"collection\":\"c\",\"records\":[{\"id\":\"a\",\"deleted\":1}]}",
		"{\"collection\":\"c\",\"records\":[7]}",
		"{\"collection\":\"c\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = P(cs__parse_acct_upload, &u, bad[i]);
		if (r != CS_EINVAL && r != CS_EMALFORMED)
			fail_msg("bad upload %zu: %d", i, r);
		assert_null(u.recs);
	}
	/* more than 1000 records */
	size_t cap = 1100 * 40 + 64;
	char *many = malloc(cap);
	size_t o = (size_t)snprintf(many, cap, "{\"collection\":\"c\",\"records\":[");
	for (int i = 0; i < 1001; i++)
		o += (size_t)snprintf(many + o, cap - o, "%s{\"id\":\"r%d\",\"payload\":\"\"}",
			i ? "," : "", i);
	o += (size_t)snprintf(many + o, cap - o, "]}");
	assert_int_equal(cs__parse_acct_upload(&u, many, o), CS_EINVAL);
	free(many);

	cs_assert_ok(cs__parse_acct_whoami("{}", 2));
	assert_int_equal(cs__parse_acct_whoami("", 0), CS_EMALFORMED);
	assert_true(cs__acct_name_ok("f.0123456789abcdef:x_y-z"));
	assert_false(cs__acct_name_ok("a b"));
	assert_false(cs__acct_name_ok(""));
#undef P
}

/* ---- over HTTPS ---- */

struct server {
	cs_hub *hub;
	pthread_t thread;
	cs_httpc *c;
	char device[CS_DEVICE_ID_SIZE];
};

static void *serve(void *arg)
{
	cs_hub_run(arg);
	return NULL;
}

static void server_start(struct fixture *f, struct server *s)
{
	cs_key *key = NULL;
	char *ca = cs_path_join(f->data, "ca/ca.crt");
	/* the fixture's own hub stays closed while this one serves */
	cs_assert_ok(cs_hub_open(&s->hub, f->data, "127.0.0.1:0"));
	struct cs_httpc_config cfg = {.base_url = cs_hub_url(s->hub), .ca_path = ca};
	cs_assert_ok(cs_httpc_new(&s->c, &cfg));
	free(ca);
	cs_assert_ok(cs_key_generate(&key));
	cs_assert_ok(cs_key_device_id(s->device, key));
	cs_key_free(key);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s->hub), 0);
}

static void server_stop(struct server *s)
{
	cs_hub_stop(s->hub);
	pthread_join(s->thread, NULL);
	cs_hub_free(s->hub);
	cs_httpc_free(s->c);
}

/* POST body (JSON text) with a content type; the status, and the answer
 * in *resp (caller clears). */
static long post(struct server *s, cs_http_resp *resp, const char *path, const char *type,
	const void *body, size_t len)
{
	memset(resp, 0, sizeof(*resp));
	cs_assert_ok(cs_httpc_request(resp, s->c, "POST", path, type, body, len, 64u << 20, 30000));
	return resp->status;
}

/* The "code" of a JSON error answer. */
static const char *code_of(const cs_http_resp *resp)
{
	static char code[64];
	json_t *j = json_loadb((const char *)resp->body, resp->len, 0, NULL);
	snprintf(code, sizeof(code), "%s", j ? json_string_value(json_object_get(j, "code")) : "");
	json_decref(j);
	return code;
}

static long post_json(struct server *s, json_t **out, const char *path, json_t *body)
{
	cs_http_resp resp;
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	long st = post(s, &resp, path, "application/json", text, strlen(text));
	free(text);
	*out = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	cs_http_resp_clear(&resp);
	return st;
}

struct login {
	char token[CS_ACCT_TOKEN_MAX + 1];
	uint8_t mk[CS_ACCT_KEY_LEN];
	uint32_t kid;
	int64_t expires;
	char code[64]; /* of a refusal */
};

/* The client's side of §11.2. Returns the status of finish. */
static long login(struct server *s, struct login *L, const char *account, const char *password)
{
	uint8_t cn[CS_ACCT_NONCE_LEN], sn[CS_ACCT_NONCE_LEN], sp[32], proof[32], ck[32];
	uint8_t stored[32], server[32], sig[32], got[32];
	char cn_hex[64], proof_hex[65];
	json_t *out = NULL;
	char *auth = NULL;
	cs_acct_kdf kdf;

	memset(L, 0, sizeof(*L));
	cs_assert_ok(cs_random(cn, sizeof(cn)));
	cs_hex_encode(cn_hex, cn, sizeof(cn));
	assert_int_equal(post_json(s, &out, "/v1/account/login/start",
				 json_pack("{s:s, s:s, s:s}", "account", account, "device", s->device,
					 "cnonce", cn_hex)), 200);
	cs_assert_ok(cs_hex_decode(kdf.salt, sizeof(kdf.salt), json_string_value(jget(out, "salt"))));
	cs_assert_ok(cs_hex_decode(sn, sizeof(sn), json_string_value(jget(out, "snonce"))));
	kdf.t_cost = (uint32_t)jint(out, "t");
	kdf.m_kib = (uint32_t)jint(out, "m");
	char *ticket = strdup(json_string_value(jget(out, "ticket")));
	json_decref(out);
	if (strcmp(account, "alice") == 0) {
		assert_int_equal(kdf.t_cost, KDF_T);
	} else {
		/* an unknown account looks like a real one with the default cost */
		assert_int_equal(kdf.t_cost, CS_ACCT_KDF_T_DEFAULT);
		assert_int_equal(kdf.m_kib, CS_ACCT_KDF_M_DEFAULT);
		kdf.m_kib = KDF_M; /* what the client computes does not matter */
	}
	cs_assert_ok(cs_acct_salted_password(sp, password, &kdf));
	cs_assert_ok(cs_acct_auth_message(&auth, account, s->device, cn, sn, &kdf));
	cs_acct_client_proof(proof, ck, sp, auth);
	cs_hex_encode(proof_hex, proof, sizeof(proof));
	long st = post_json(s, &out, "/v1/account/login/finish",
		json_pack("{s:s, s:s}", "ticket", ticket, "proof", proof_hex));
	if (st == 200) {
		snprintf(L->token, sizeof(L->token), "%s", json_string_value(jget(out, "token")));
		L->kid = (uint32_t)jint(out, "kid");
		L->expires = jint(out, "expires");
		cs_assert_ok(cs_hex_decode(got, sizeof(got),
			json_string_value(jget(out, "server_signature"))));
		cs_acct_verifier(stored, server, sp);
		cs_acct_server_signature(sig, server, auth);
		assert_memory_equal(sig, got, 32);
		cs_acct_message_key(L->mk, ck, auth);
	} else {
		snprintf(L->code, sizeof(L->code), "%s",
			out ? json_string_value(json_object_get(out, "code")) : "");
	}
	json_decref(out);
	free(ticket);
	free(auth);
	return st;
}

/* A sealed call as the client makes it: body sealed under L with
 * timestamp ts_ms (0: now) for seal_path, sent to path. On 200/412 *out
 * is the opened answer; otherwise L->code the refusal's code. */
static long call_at(struct server *s, struct login *L, json_t **out, const char *path,
	const char *seal_path, const char *body, int64_t ts_ms)
{
	cs_buf *frame = cs_buf_new(strlen(body) + CS_ACCT_FRAME_OVERHEAD);
	cs_http_resp resp;
	uint8_t *plain = NULL;
	size_t plain_len;

	*out = NULL;
	if (ts_ms == 0)
		ts_ms = cs_clock_now_ms();
	cs_assert_ok(cs_acct_request_seal(frame, L->token, L->mk, "POST", seal_path, ts_ms,
		(const uint8_t *)body, strlen(body)));
	long st = post(s, &resp, path, "application/vnd.certsync.sealed", cs_buf_ptr(frame),
		cs_buf_len(frame));
	cs_buf_free(frame);
	L->code[0] = 0;
	if (st == 200 || st == 412) {
		cs_assert_ok(cs_acct_response_open(&plain, &plain_len, L->mk, "POST", seal_path, ts_ms,
			(int)st, resp.body, resp.len));
		*out = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(*out);
		free(plain);
	} else {
		snprintf(L->code, sizeof(L->code), "%s", code_of(&resp));
	}
	cs_http_resp_clear(&resp);
	return st;
}

static long call(struct server *s, struct login *L, json_t **out, const char *path,
	const char *body)
{
	return call_at(s, L, out, path, path, body, 0);
}

/* A token for alice sealed under the store's newest key (as a hub would)
 * with the given expiry and message key. */
static void forge(struct fixture *f, struct login *L, int64_t expires, uint32_t kid_override)
{
	struct cs__acct_cache c = {0};
	struct cs__acct_key k;
	cs_acct_token t = {.account_id = f->alice, .account = "alice", .issued = cs_clock_now(),
		.expires = expires};
	char *text = NULL;
	cs_assert_ok(cs__acct_key_current(f->db2, &c, &k, cs_clock_now(), 86400, 3600));
	memcpy(t.message_key, L->mk, 32);
	cs_assert_ok(cs_acct_token_seal(&text, k.key, kid_override ? kid_override : k.kid, &t));
	snprintf(L->token, sizeof(L->token), "%s", text);
	free(text);
	cs__acct_cache_clear(&c);
}

static void test_http(void **state)
{
	struct fixture *f = *state;
	struct server s = {0};
	struct login L, bad;
	json_t *out = NULL;
	cs_http_resp resp;

	cs_hub_free(f->hub);
	f->hub = NULL;
	server_start(f, &s);

	/* login, then every record call */
	assert_int_equal(login(&s, &L, "alice", PASSWORD), 200);
	assert_true(L.expires > cs_clock_now() + 3000);
	assert_int_equal(call(&s, &L, &out, "/v1/account/whoami", "{}"), 200);
	assert_string_equal(json_string_value(jget(out, "account")), "alice");
	assert_string_equal(json_string_value(jget(out, "device")), s.device);
	assert_int_equal(jint(out, "kid"), L.kid);
	json_decref(out);
	assert_int_equal(call(&s, &L, &out, "/v1/account/records/upload",
				 "{\"collection\":\"keys\",\"records\":[{\"id\":\"data\",\"if_version\":0,"
				 "\"payload\":\"c2VjcmV0\"}]}"), 200);
	assert_int_equal(jint(out, "version"), 1);
	json_decref(out);
	/* the same precondition again: 412, sealed */
	assert_int_equal(call(&s, &L, &out, "/v1/account/records/upload",
				 "{\"collection\":\"keys\",\"records\":[{\"id\":\"data\",\"if_version\":0,"
				 "\"payload\":\"b3RoZXI=\"}]}"), 412);
	assert_int_equal(jint(json_array_get(jget(out, "conflicts"), 0), "version"), 1);
	json_decref(out);
	assert_int_equal(call(&s, &L, &out, "/v1/account/records/changes",
				 "{\"collection\":\"keys\",\"since\":0}"), 200);
	assert_int_equal(json_array_size(jget(out, "records")), 1);
	json_decref(out);
	assert_int_equal(call(&s, &L, &out, "/v1/account/records/get",
				 "{\"collection\":\"keys\",\"ids\":[\"data\"]}"), 200);
	assert_string_equal(json_string_value(jget(json_array_get(jget(out, "records"), 0),
				    "payload")), "c2VjcmV0");
	json_decref(out);
	/* a bad body inside a good frame: plain 400 */
	assert_int_equal(call(&s, &L, &out, "/v1/account/records/changes", "{\"collection\":1}"),
		400);
	assert_string_equal(L.code, "malformed");

	/* the refusals of §11.4, in their order */
	assert_int_equal(post(&s, &resp, "/v1/account/whoami", "application/vnd.certsync.sealed",
				 "CSQ2", 4), 400);
	assert_string_equal(code_of(&resp), "frame_malformed");
	cs_http_resp_clear(&resp);
	assert_int_equal(post(&s, &resp, "/v1/account/whoami", "application/json", "{}", 2), 400);
	assert_string_equal(code_of(&resp), "frame_malformed");
	cs_http_resp_clear(&resp);
	bad = L;
	snprintf(bad.token, sizeof(bad.token), "cst1.!!!!");
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 401);
	assert_string_equal(bad.code, "token_malformed");
	bad = L;
	forge(f, &bad, cs_clock_now() + 60, 4000000000u);
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 401);
	assert_string_equal(bad.code, "token_unknown_key");
	bad = L;
	bad.token[20] = bad.token[20] == 'A' ? 'B' : 'A';
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 401);
	assert_string_equal(bad.code, "token_invalid");
	bad = L;
	forge(f, &bad, cs_clock_now() - 1, 0);
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 401);
	assert_string_equal(bad.code, "token_expired");
	bad = L;
	bad.mk[0] ^= 1; /* another message key */
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 401);
	assert_string_equal(bad.code, "body_invalid");
	/* moved to another path */
	assert_int_equal(call_at(&s, &L, &out, "/v1/account/records/changes", "/v1/account/whoami",
				 "{\"collection\":\"keys\"}", 0), 401);
	assert_string_equal(L.code, "body_invalid");
	/* outside the time window, either way */
	assert_int_equal(call_at(&s, &L, &out, "/v1/account/whoami", "/v1/account/whoami", "{}",
				 cs_clock_now_ms() - 301000), 401);
	assert_string_equal(L.code, "time_window");
	assert_int_equal(call_at(&s, &L, &out, "/v1/account/whoami", "/v1/account/whoami", "{}",
				 cs_clock_now_ms() + 301000), 401);
	assert_string_equal(L.code, "time_window");
	/* a forged token with the right key works: the store holds the keys */
	bad = L;
	forge(f, &bad, cs_clock_now() + 60, 0);
	assert_int_equal(call(&s, &bad, &out, "/v1/account/whoami", "{}"), 200);
	json_decref(out);
	/* disabled after the token was issued */
	cs_assert_ok(cs_hub_account_set_disabled(f->data, "alice", 1));
	assert_int_equal(call(&s, &L, &out, "/v1/account/whoami", "{}"), 403);
	assert_string_equal(L.code, "account_disabled");
	/* and at login, only once the password is proven */
	assert_int_equal(login(&s, &bad, "alice", PASSWORD), 403);
	assert_string_equal(bad.code, "account_disabled");
	cs_assert_ok(cs_hub_account_set_disabled(f->data, "alice", 0));
	assert_int_equal(call(&s, &L, &out, "/v1/account/whoami", "{}"), 200);
	json_decref(out);

	/* a wrong password and an unknown account fail alike, after a delay
	 * that doubles per name */
	int64_t t0 = cs_clock_mono_ms();
	assert_int_equal(login(&s, &bad, "alice", "wrong password!"), 401);
	assert_string_equal(bad.code, "login_failed");
	int64_t t1 = cs_clock_mono_ms();
	assert_int_equal(login(&s, &bad, "alice", "wrong password!"), 401);
	int64_t t2 = cs_clock_mono_ms();
	assert_true(t1 - t0 >= 250);
	assert_true(t2 - t1 >= 500);
	assert_int_equal(login(&s, &bad, "mallory", PASSWORD), 401);
	assert_string_equal(bad.code, "login_failed");
	/* the right password still gets in, and starts the count afresh */
	assert_int_equal(login(&s, &L, "alice", PASSWORD), 200);
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_login_failures "
					    "WHERE name = 'alice'"), 0);

	/* tickets */
	assert_int_equal(post_json(&s, &out, "/v1/account/login/finish",
				 json_pack("{s:s, s:s}", "ticket", "csl1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
					 "proof", "00000000000000000000000000000000"
						  "00000000000000000000000000000000")), 401);
	assert_string_equal(json_string_value(jget(out, "code")), "ticket_invalid");
	json_decref(out);
	{
		struct cs__acct_cache c = {0};
		struct cs__acct_key k;
		cs_acct_ticket t = {.account_id = f->alice, .account = "alice",
			.expires = cs_clock_now() - 1};
		char *text = NULL;
		snprintf(t.device, sizeof(t.device), "%s", s.device);
		cs_assert_ok(cs__acct_key_current(f->db2, &c, &k, cs_clock_now(), 86400, 3600));
		cs_assert_ok(cs_acct_ticket_seal(&text, k.key, k.kid, &t));
		assert_int_equal(post_json(&s, &out, "/v1/account/login/finish",
					 json_pack("{s:s, s:s}", "ticket", text, "proof",
						 "00000000000000000000000000000000"
						 "00000000000000000000000000000000")), 401);
		assert_string_equal(json_string_value(jget(out, "code")), "ticket_expired");
		json_decref(out);
		free(text);
		cs__acct_cache_clear(&c);
	}

	/* method, path, login body limits */
	memset(&resp, 0, sizeof(resp));
	cs_assert_ok(cs_httpc_request(&resp, s.c, "GET", "/v1/account/whoami", NULL, NULL, 0,
		1 << 20, 30000));
	assert_int_equal(resp.status, 405);
	cs_http_resp_clear(&resp);
	assert_int_equal(post(&s, &resp, "/v1/account/nothing", "application/json", "{}", 2), 404);
	cs_http_resp_clear(&resp);
	char *big = calloc(1, 5000);
	memset(big, ' ', 4999);
	big[0] = '{';
	big[4998] = '}';
	assert_int_equal(post(&s, &resp, "/v1/account/login/start", "application/json", big, 4999),
		413);
	cs_http_resp_clear(&resp);
	free(big);

	/* metrics */
	memset(&resp, 0, sizeof(resp));
	cs_assert_ok(cs_httpc_request(&resp, s.c, "GET", "/metrics", NULL, NULL, 0, 1 << 20, 30000));
	assert_non_null(strstr((char *)resp.body, "certsync_hub_account_logins_total{result=\"ok\"} 2"));
	assert_non_null(strstr((char *)resp.body,
		"certsync_hub_account_logins_total{result=\"failed\"} 3"));
	assert_non_null(strstr((char *)resp.body, "certsync_hub_account_records_written_total 1"));
	assert_non_null(strstr((char *)resp.body, "certsync_hub_accounts{state=\"active\"} 1"));
	cs_http_resp_clear(&resp);

	server_stop(&s);
}

/* Two hub processes (here: two hubs in threads) on one data directory: a
 * login at one works at the other, whose key cache learns the key then, and
 * uploads through both keep one version sequence. */
static void test_http_two_hubs(void **state)
{
	struct fixture *f = *state;
	struct server a = {0}, b = {0};
	struct login L;
	json_t *out = NULL;
	char body[256];

	cs_hub_free(f->hub);
	f->hub = NULL;
	server_start(f, &a);
	server_start(f, &b);
	memcpy(b.device, a.device, sizeof(a.device));

	assert_int_equal(login(&a, &L, "alice", PASSWORD), 200);
	assert_int_equal(call(&b, &L, &out, "/v1/account/whoami", "{}"), 200);
	assert_string_equal(json_string_value(jget(out, "account")), "alice");
	json_decref(out);
	for (int i = 0; i < 6; i++) {
		snprintf(body, sizeof(body), "{\"collection\":\"c\",\"records\":[{\"id\":\"r%d\","
			"\"if_version\":0,\"payload\":\"eA==\"}]}", i);
		assert_int_equal(call(i % 2 ? &b : &a, &L, &out, "/v1/account/records/upload", body), 200);
		assert_int_equal(jint(out, "version"), i + 1);
		json_decref(out);
	}
	/* a precondition on b sees what a wrote */
	assert_int_equal(call(&b, &L, &out, "/v1/account/records/upload",
				 "{\"collection\":\"c\",\"records\":[{\"id\":\"r0\",\"if_version\":0,"
				 "\"payload\":\"eA==\"}]}"), 412);
	assert_int_equal(jint(json_array_get(jget(out, "conflicts"), 0), "version"), 1);
	json_decref(out);
	/* a login at b after a's: same key, no second one */
	assert_int_equal(login(&b, &L, "alice", PASSWORD), 200);
	assert_int_equal(count_rows(f->db2, "SELECT count(*) FROM account_keys"), 1);
	assert_int_equal(call(&a, &L, &out, "/v1/account/records/changes",
				 "{\"collection\":\"c\",\"since\":4}"), 200);
	assert_int_equal(json_array_size(jget(out, "records")), 2);
	assert_int_equal(jint(out, "version"), 6);
	json_decref(out);
	/* failures are counted in the store: the second failure, at the other
	 * hub, waits twice as long */
	int64_t t0 = cs_clock_mono_ms();
	assert_int_equal(login(&a, &L, "alice", "wrong password!"), 401);
	int64_t t1 = cs_clock_mono_ms();
	assert_int_equal(login(&b, &L, "alice", "wrong password!"), 401);
	int64_t t2 = cs_clock_mono_ms();
	assert_true(t1 - t0 >= 250);
	assert_true(t2 - t1 >= 500);

	server_stop(&a);
	server_stop(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_list_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verifier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fake_salt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_preconditions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test_setup_teardown(test_http, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_two_hubs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
