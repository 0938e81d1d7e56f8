/*
 * Unit tests for the HTTPS server's one-shot timers (cs_httpd_after,
 * include/certsync/httpd.h): they fire once, in order of their due time,
 * not before it; a timer may add another from its callback; timers still
 * pending when the server is freed are dropped without being called. The
 * server's TLS identity is borrowed from a fresh hub data directory.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/httpd.h>
#include <certsync/hub.h>
#include "helpers.h"

struct run {
	cs_httpd *srv;
	int64_t start;
	char order[16];
	size_t n;
	int64_t at[16];
};

struct shot {
	struct run *run;
	char tag;
};

static void fired(void *ud)
{
	struct shot *s = ud;
	struct run *r = s->run;
	if (r->n < sizeof(r->order) - 1) {
		r->at[r->n] = cs_clock_mono_ms() - r->start;
		r->order[r->n++] = s->tag;
	}
}

static struct shot chained_shot;

/* adds a timer from inside a timer callback */
static void chain(void *ud)
{
	struct shot *s = ud;
	fired(s);
	chained_shot.run = s->run;
	chained_shot.tag = 'D';
	cs_assert_ok(cs_httpd_after(s->run->srv, 10, fired, &chained_shot));
}

static void stop(void *ud)
{
	struct run *r = ud;
	cs_httpd_stop(r->srv);
}

static void never(void *ud)
{
	(void)ud;
	fail_msg("a timer pending at free must not fire");
}

static void test_after(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("net-after");
	char *data = cs_path_join(dir, "hub");
	cs_assert_ok(cs_hub_init(data, NULL));
	char *crt = cs_path_join(data, "tls/server.crt"), *key = cs_path_join(data, "tls/server.key");
	struct cs_httpd_config cfg = {.listen = "127.0.0.1:0", .cert_path = crt, .key_path = key};
	struct run r = {0};
	struct shot a = {&r, 'A'}, b = {&r, 'B'}, c = {&r, 'C'};

	cs_assert_ok(cs_httpd_new(&r.srv, &cfg));
	assert_int_equal(cs_httpd_after(r.srv, -1, fired, &a), CS_EINVAL);
	assert_int_equal(cs_httpd_after(r.srv, 10, NULL, &a), CS_EINVAL);
	r.start = cs_clock_mono_ms();
	/* added out of order; they fire by due time */
	cs_assert_ok(cs_httpd_after(r.srv, 120, fired, &c));
	cs_assert_ok(cs_httpd_after(r.srv, 0, fired, &a));
	cs_assert_ok(cs_httpd_after(r.srv, 60, chain, &b));
	cs_assert_ok(cs_httpd_after(r.srv, 300, stop, &r));
	cs_assert_ok(cs_httpd_after(r.srv, 60000, never, NULL));
	cs_assert_ok(cs_httpd_run(r.srv));

	r.order[r.n] = '\0';
	assert_string_equal(r.order, "ABDC"); /* D: 60 + 10 ms, before C at 120 */
	/* libevent reads a coarse monotonic clock (a few ms per tick), so a
	 * timer may fire that much before the precise clock says it is due */
	assert_true(r.at[1] >= 60 - 10);
	assert_true(r.at[2] >= 70 - 10);
	assert_true(r.at[3] >= 120 - 10);
	cs_httpd_free(r.srv); /* drops the 60 s timer unfired */

	free(crt);
	free(key);
	cs_fs_remove_tree(dir);
	free(data);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
