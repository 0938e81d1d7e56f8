/*
 * Unit tests for the hub's web console logic (src/lib/hub/console_auth.c,
 * parse.c): passwords (argon2id), users, sessions with their idle and
 * absolute ends, the session cookie, the failed-login throttle, and the
 * request-body parsers. No sockets: the hub is opened with
 * cs__hub_open_core, and time is moved by editing the stored timestamps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hub.h>
#include "helpers.h"
#include "hub/hub_internal.h"

struct fixture {
	char *dir, *data;
	cs_hub *hub;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = cs_test_tmpdir("hub-console");
	f->data = cs_path_join(f->dir, "hub");
	cs_assert_ok(cs_hub_init(f->data, NULL));
	cs_assert_ok(cs__hub_open_core(&f->hub, f->data));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cs_hub_free(f->hub);
	cs_fs_remove_tree(f->dir);
	free(f->data);
	free(f->dir);
	free(f);
	return 0;
}

static void exec_sql(cs_hub *hub, const char *sql, int64_t a)
{
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, hub->db, sql));
	cs_stmt_bind_int64(q, 1, a);
	assert_true(cs_stmt_step(q) >= 0);
	cs_stmt_free(q);
}

static int64_t count_sessions(cs_hub *hub)
{
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, hub->db, "SELECT count(*) FROM console_sessions"));
	assert_int_equal(cs_stmt_step(q), 1);
	int64_t n = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return n;
}

/* hub init: user admin, a 20-character password in a 0600 file, only the
 * hash in the database */
static void test_init_password(void **state)
{
	struct fixture *f = *state;
	char *path = cs_path_join(f->data, "admin/console-password");
	uint8_t *pw = NULL;
	size_t len;
	struct stat st;
	char *hash = NULL;

	cs_assert_ok(cs_fs_read_all(&pw, &len, path, 256));
	assert_int_equal(len, 21);
	assert_int_equal(pw[20], '\n');
	pw[20] = '\0';
	for (int i = 0; i < 20; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", pw[i]));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	cs_assert_ok(cs__console_user_hash(f->hub, &hash, "admin"));
	assert_int_equal(strncmp(hash, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0);
	assert_null(strstr(hash, (char *)pw));
	cs_assert_ok(cs__console_verify_password(hash, (char *)pw));
	assert_int_equal(cs__console_verify_password(hash, "not the password"), CS_EAUTH);
	assert_int_equal(cs__console_user_hash(f->hub, &hash, "nobody"), CS_ENOTFOUND);
	/* the dummy hash of unknown users is a real hash that nothing matches */
	assert_int_equal(cs__console_verify_password(cs__console_dummy_hash, (char *)pw), CS_EAUTH);
	free(hash);
	free(pw);
	free(path);
}

static void test_password_rules(void **state)
{
	(void)state;
	assert_int_equal(cs__console_password_ok("short"), CS_EINVAL);
	assert_int_equal(cs__console_password_ok("elevenchars"), CS_EINVAL);
	cs_assert_ok(cs__console_password_ok("twelve chars"));
	/* characters, not bytes: 12 two-byte letters pass, 11 do not */
	cs_assert_ok(cs__console_password_ok("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
					     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"));
	assert_int_equal(cs__console_password_ok("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
						 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), CS_EINVAL);
	/* not UTF-8: JSON could never carry it to the login */
	assert_int_equal(cs__console_password_ok("abcdefghijk\xff"), CS_EINVAL);
	assert_int_equal(cs__console_password_ok("abcdefghijk\xc0\xaf"), CS_EINVAL); /* overlong */
	char big[CS__HUB_PASSWORD_MAX + 2];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cs__console_password_ok(big), CS_EINVAL);
	big[CS__HUB_PASSWORD_MAX] = '\0';
	cs_assert_ok(cs__console_password_ok(big));

	assert_true(cs__console_user_ok("admin"));
	assert_true(cs__console_user_ok("ops.team-1@example"));
	assert_false(cs__console_user_ok(""));
	assert_false(cs__console_user_ok("with space"));
	assert_false(cs__console_user_ok("a'b"));
}

static void test_password_set(void **state)
{
	struct fixture *f = *state;
	char token[65];
	struct cs__session s;
	char *path = cs_path_join(f->data, "admin/console-password");

	cs_assert_ok(cs__console_session_new(f->hub, token, &s, "admin", "127.0.0.1"));
	assert_int_equal(count_sessions(f->hub), 1);
	assert_int_equal(cs_hub_console_password_set(f->data, "admin", "too short"), CS_EINVAL);
	assert_true(cs_fs_exists(path)); /* a refused change changes nothing */
	cs_assert_ok(cs__console_session_use(f->hub, &s, token));

	cs_assert_ok(cs_hub_console_password_set(f->data, "admin", "a much better password"));
	assert_false(cs_fs_exists(path));
	assert_int_equal(count_sessions(f->hub), 0); /* logged out everywhere */
	assert_int_equal(cs__console_session_use(f->hub, &s, token), CS_ENOTFOUND);
	char *hash = NULL;
	cs_assert_ok(cs__console_user_hash(f->hub, &hash, "admin"));
	cs_assert_ok(cs__console_verify_password(hash, "a much better password"));
	free(hash);

	/* a second user is created on demand */
	cs_assert_ok(cs_hub_console_password_set(f->data, "ops", "another long password"));
	cs_assert_ok(cs__console_user_hash(f->hub, &hash, "ops"));
	free(hash);
	assert_int_equal(cs_hub_console_password_set(f->data, "bad name", "another long password"),
		CS_EINVAL);
	char *nowhere = cs_path_join(f->dir, "none");
	assert_int_equal(cs_hub_console_password_set(nowhere, "admin", "a much better password"),
		CS_ENOTFOUND);
	free(nowhere);
	free(path);
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	cs_hub *hub = f->hub;
	char token[65], token2[65];
	struct cs__session s, u;

	hub->cfg.console_idle_s = 60;
	hub->cfg.console_max_s = 3600;
	cs_assert_ok(cs__console_session_new(hub, token, &s, "admin", "10.0.0.1"));
	assert_int_equal(strlen(token), 64);
	assert_int_equal(strlen(s.csrf), 64);
	assert_string_not_equal(token, s.csrf);
	assert_string_equal(s.user, "admin");
	int64_t now = cs_clock_now();
	assert_true(s.expires >= now + 59 && s.expires <= now + 61);

	/* the token itself is not stored, only its hash */
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, hub->db, "SELECT token_hash FROM console_sessions"));
	assert_int_equal(cs_stmt_step(q), 1);
	assert_string_not_equal(cs_stmt_text(q, 0), token);
	cs_stmt_free(q);

	cs_assert_ok(cs__console_session_use(hub, &u, token));
	assert_string_equal(u.csrf, s.csrf);
	assert_string_equal(u.user, "admin");

	/* unknown and malformed tokens */
	char other[65];
	memcpy(other, token, sizeof(other));
	other[0] = other[0] == 'a' ? 'b' : 'a';
	assert_int_equal(cs__console_session_use(hub, &u, other), CS_ENOTFOUND);
	assert_int_equal(cs__console_session_use(hub, &u, "abc"), CS_ENOTFOUND);
	assert_int_equal(cs__console_session_use(hub, &u, ""), CS_ENOTFOUND);

	/* a use refreshes last_used: 50 s of a 60 s idle time gone, then used */
	int64_t ms = cs_clock_now_ms();
	exec_sql(hub, "UPDATE console_sessions SET last_used_ms = ?", ms - 50000);
	cs_assert_ok(cs__console_session_use(hub, &u, token));
	assert_true(u.expires >= now + 59);
	cs_assert_ok(cs__console_session_use(hub, &u, token));

	/* idle for longer than the idle time: expired, and gone */
	exec_sql(hub, "UPDATE console_sessions SET last_used_ms = ?", ms - 61000);
	assert_int_equal(cs__console_session_use(hub, &u, token), CS_EEXPIRED);
	assert_int_equal(cs__console_session_use(hub, &u, token), CS_ENOTFOUND);

	/* the absolute end holds however busy the session is */
	cs_assert_ok(cs__console_session_new(hub, token, &s, "admin", "10.0.0.1"));
	exec_sql(hub, "UPDATE console_sessions SET created_ms = ?", ms - 3590000);
	cs_assert_ok(cs__console_session_use(hub, &u, token));
	assert_true(u.expires <= now + 11); /* the absolute end comes first */
	exec_sql(hub, "UPDATE console_sessions SET created_ms = ?", ms - 3601000);
	assert_int_equal(cs__console_session_use(hub, &u, token), CS_EEXPIRED);

	/* logout, and the sweep of expired sessions */
	cs_assert_ok(cs__console_session_new(hub, token, &s, "admin", "10.0.0.1"));
	cs_assert_ok(cs__console_session_new(hub, token2, &s, "admin", "10.0.0.2"));
	cs_assert_ok(cs__console_session_end(hub, token));
	assert_int_equal(cs__console_session_use(hub, &u, token), CS_ENOTFOUND);
	cs_assert_ok(cs__console_session_use(hub, &u, token2));
	cs_assert_ok(cs__console_session_end(hub, "not a token"));
	cs_assert_ok(cs__console_sessions_expire(hub, cs_clock_now_ms()));
	assert_int_equal(count_sessions(hub), 1);
	cs_assert_ok(cs__console_sessions_expire(hub, cs_clock_now_ms() + 61000));
	assert_int_equal(count_sessions(hub), 0);

	/* at most CS__CONSOLE_SESSIONS_MAX per user */
	for (int i = 0; i < CS__CONSOLE_SESSIONS_MAX + 5; i++)
		cs_assert_ok(cs__console_session_new(hub, token, &s, "admin", "10.0.0.1"));
	assert_int_equal(count_sessions(hub), CS__CONSOLE_SESSIONS_MAX);
	cs_assert_ok(cs__console_session_use(hub, &u, token)); /* the newest survives */
}

static void test_cookie(void **state)
{
	(void)state;
	char t[65];
	const char *tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char h[200];

	snprintf(h, sizeof(h), "cs_session=%s", tok);
	cs_assert_ok(cs__console_cookie_token(t, h));
	assert_string_equal(t, tok);
	snprintf(h, sizeof(h), "theme=dark; cs_session=%s ; other=1", tok);
	cs_assert_ok(cs__console_cookie_token(t, h));
	assert_string_equal(t, tok);
	/* a malformed one first does not hide a good one after it */
	snprintf(h, sizeof(h), "cs_session=zz; cs_session=%s", tok);
	cs_assert_ok(cs__console_cookie_token(t, h));
	assert_int_equal(cs__console_cookie_token(t, NULL), CS_ENOTFOUND);
	assert_int_equal(cs__console_cookie_token(t, ""), CS_ENOTFOUND);
	assert_int_equal(cs__console_cookie_token(t, "cs_session="), CS_ENOTFOUND);
	assert_int_equal(cs__console_cookie_token(t, "xcs_session=0123"), CS_ENOTFOUND);
	snprintf(h, sizeof(h), "cs_session=%sff", tok); /* too long */
	assert_int_equal(cs__console_cookie_token(t, h), CS_ENOTFOUND);
	snprintf(h, sizeof(h), "cs_session=%.63sG", tok); /* not hex */
	assert_int_equal(cs__console_cookie_token(t, h), CS_ENOTFOUND);
	snprintf(h, sizeof(h), "my_cs_session=%s", tok);
	assert_int_equal(cs__console_cookie_token(t, h), CS_ENOTFOUND);
}

static void test_throttle(void **state)
{
	(void)state;
	struct cs__throttle *t = calloc(1, sizeof(*t));
	int64_t now = 1000000;

	assert_false(cs__throttle_busy(t, "10.0.0.1", now));
	/* 0.25 s, doubling, at most 8 s */
	static const int64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 8000, 8000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int64_t due = cs__throttle_fail(t, "10.0.0.1", now);
		assert_int_equal(due - now, want[i]);
		assert_true(cs__throttle_busy(t, "10.0.0.1", now));
		assert_true(cs__throttle_busy(t, "10.0.0.1", due - 1));
		assert_false(cs__throttle_busy(t, "10.0.0.1", due));
		now = due;
	}
	/* per address */
	assert_false(cs__throttle_busy(t, "10.0.0.2", now - 1));
	assert_int_equal(cs__throttle_fail(t, "10.0.0.2", now) - now, 250);
	/* a success ends the series */
	cs__throttle_ok(t, "10.0.0.1");
	assert_int_equal(cs__throttle_fail(t, "10.0.0.1", now) - now, 250);
	assert_int_equal(cs__throttle_fail(t, "10.0.0.1", now + 300) - now - 300, 500);
	/* a long quiet time ends it too */
	now += CS__THROTTLE_FORGET_MS + 1000;
	assert_int_equal(cs__throttle_fail(t, "10.0.0.1", now) - now, 250);
	/* the table is bounded: many addresses evict the quietest, and the
	 * busy address keeps its place */
	for (int i = 0; i < 3 * CS__THROTTLE_SLOTS; i++) {
		char a[32];
		snprintf(a, sizeof(a), "192.0.2.%d", i);
		cs__throttle_fail(t, a, now + 1 + i);
		if (i % 16 == 0)
			cs__throttle_fail(t, "10.0.0.1", now + 1 + i);
	}
	assert_true(cs__throttle_busy(t, "10.0.0.1", now + 3 * CS__THROTTLE_SLOTS));
	free(t);
}

/* The parsers the handlers call (hub_parse.h); the fuzz target covers the
 * rest. */
static void test_parsers(void **state)
{
	(void)state;
#define P(s) (s), strlen(s)
	struct cs__login_body l;
	cs_assert_ok(cs__parse_login(&l, P("{\"user\":\"admin\",\"password\":\"pw\",\"x\":1}")));
	assert_string_equal(l.user, "admin");
	assert_string_equal(l.password, "pw");
	cs__login_body_clear(&l);
	cs__login_body_clear(&l); /* a cleared struct is fine */
	assert_int_equal(cs__parse_login(&l, P("{\"user\":\"admin\"}")), CS_EINVAL);
	assert_null(l.root);
	assert_int_equal(cs__parse_login(&l, P("{\"user\":\"admin\",\"password\":7}")), CS_EMALFORMED);
	assert_int_equal(cs__parse_login(&l, P("{\"user\":\"\",\"password\":\"x\"}")), CS_EINVAL);
	assert_int_equal(cs__parse_login(&l, P("{\"user\":\"a\",\"user\":\"b\",\"password\":\"x\"}")),
		CS_EMALFORMED);
	assert_int_equal(cs__parse_login(&l, P("{\"user\":\"a\",\"password\":\"x\\u0000y\"}")),
		CS_EMALFORMED);
	assert_int_equal(cs__parse_login(&l, P("[]")), CS_EMALFORMED);
	assert_int_equal(cs__parse_login(&l, "", 0), CS_EMALFORMED);
	char *big = malloc(CS__HUB_LOGIN_MAX + 2);
	memset(big, ' ', CS__HUB_LOGIN_MAX + 1);
	big[0] = '{';
	big[CS__HUB_LOGIN_MAX] = '}';
	assert_int_equal(cs__parse_login(&l, big, CS__HUB_LOGIN_MAX + 1), CS_ELIMIT);
	free(big);

	struct cs__job_body j;
	cs_assert_ok(cs__parse_job(&j,
		P("{\"folder\":\"photos\",\"source\":\"A\",\"destinations\":[\"B\",\"C\"]}")));
	assert_int_equal(j.n, 2);
	assert_string_equal(j.dests[1], "C");
	assert_false(j.all);
	cs__job_body_clear(&j);
	cs_assert_ok(cs__parse_job(&j, P("{\"folder\":\"photos\",\"source\":\"A\",\"all\":true}")));
	assert_true(j.all);
	cs__job_body_clear(&j);
	assert_int_equal(cs__parse_job(&j, P("{\"folder\":\"photos\",\"source\":\"A\",\"all\":true,"
		"\"destinations\":[\"B\"]}")), CS_EINVAL);
	assert_int_equal(cs__parse_job(&j, P("{\"folder\":\"photos\",\"source\":\"A\"}")), CS_EINVAL);
	assert_int_equal(cs__parse_job(&j, P("{\"folder\":\"..\",\"source\":\"A\",\"all\":true}")),
		CS_EINVAL);
	assert_int_equal(cs__parse_job(&j,
		P("{\"folder\":\"p\",\"source\":\"A\",\"destinations\":[1]}")), CS_EMALFORMED);
	assert_int_equal(cs__parse_job(&j,
		P("{\"folder\":\"p\",\"source\":\"A\",\"destinations\":\"B\"}")), CS_EMALFORMED);

	struct cs__ack_body k;
	cs_assert_ok(cs__parse_ack(&k, P("{\"status\":\"applied\",\"to_seq\":57,\"files\":2}")));
	assert_true(k.applied);
	assert_int_equal(k.to_seq, 57);
	assert_string_equal(k.reason, "");
	cs__ack_body_clear(&k);
	cs_assert_ok(cs__parse_ack(&k, P("{\"status\":\"failed\",\"reason\":\"disk full\"}")));
	assert_false(k.applied);
	assert_string_equal(k.reason, "disk full");
	cs__ack_body_clear(&k);
	assert_int_equal(cs__parse_ack(&k, P("{\"status\":\"applied\"}")), CS_EINVAL);
	assert_int_equal(cs__parse_ack(&k, P("{\"status\":\"maybe\"}")), CS_EMALFORMED);
	assert_int_equal(cs__parse_ack(&k, P("{\"status\":\"applied\",\"to_seq\":-1}")), CS_EMALFORMED);

	struct cs__token_body t;
	cs_assert_ok(cs__parse_token(&t, P("{}")));
	assert_int_equal(t.uses, 1);
	assert_int_equal(t.ttl, 86400);
	assert_int_equal(cs__parse_token(&t, P("{\"uses\":0}")), CS_EMALFORMED);
	assert_int_equal(cs__parse_token(&t, P("{\"ttl\":1.5}")), CS_EMALFORMED);

	struct cs__confirm_body c;
	/* case, ':' and spaces do not matter */
	cs_assert_ok(cs__parse_confirm(&c, P("{\"fingerprint\":\"AB:CD EF"
		"01234567890123456789012345678901234567890123456789" "01234567\"}")));
	assert_string_equal(c.fingerprint,
		"abcdef" "01234567890123456789012345678901234567890123456789" "01234567");
	assert_int_equal(cs__parse_confirm(&c, P("{\"fingerprint\":\"abc\"}")), CS_EINVAL);

	struct cs__device_add_body d;
	assert_int_equal(cs__parse_device_add(&d, P("{\"name\":\"n\"}")), CS_EINVAL);
	assert_int_equal(cs__parse_device_add(&d,
		P("{\"name\":\"n\",\"csr\":\"x\",\"certificate\":\"y\"}")), CS_EINVAL);
	cs_assert_ok(cs__parse_device_add(&d, P("{\"name\":\"n\",\"csr\":\"x\",\"address\":\"\"}")));
	assert_null(d.address);
	cs__device_add_body_clear(&d);
	assert_int_equal(cs__parse_device_add(&d,
		P("{\"name\":\"n\",\"csr\":\"x\",\"address\":\"nope\"}")), CS_EINVAL);

	struct cs__produced pr;
	cs_assert_ok(cs__parse_produced(&pr, P("{\"to_seq\":5,\"packs\":2}")));
	assert_int_equal(pr.to_seq, 5);
	assert_int_equal(pr.packs, 2);
	assert_int_equal(cs__parse_produced(&pr, P("{\"packs\":2}")), CS_EINVAL);
	assert_int_equal(cs__parse_produced(&pr, P("{\"to_seq\":5,\"packs\":2000000}")), CS_EMALFORMED);

	struct cs__enroll_body e;
	assert_int_equal(cs__parse_enroll(&e, P("{\"token\":\"t\",\"name\":\"a\\u0001\",\"csr\":\"c\"}")),
		CS_EINVAL);
#undef P
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_password, setup, teardown),
		cmocka_unit_test(test_password_rules),
		cmocka_unit_test_setup_teardown(test_password_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
