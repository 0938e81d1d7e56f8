/*
 * The web console over HTTP (PROTOCOL.md §10): its files, compiled into the
 * binary (cs_web_assets), at "/" and "/<asset>"; login, session and logout
 * at /v1/console/; and the session check through which the console uses
 * /v1/admin. Users, sessions and the login throttle are in console_auth.c.
 *
 * A login checks the password with argon2id, about 80 ms of one core and
 * 19 MiB, on a worker thread so that devices' long polls and uploads keep
 * moving meanwhile; a one-shot timer on the loop collects the result. A
 * wrong password is answered only after the throttle's delay, again by a
 * timer, never by sleeping on the loop.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"
#include "web/assets.h"

#define API_PREFIX "/v1/console/"
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
#define COOKIE_ATTRS "Path=/; Secure; HttpOnly; SameSite=Strict"
/* password checks at once: each holds 19 MiB and a core; more logins than
 * this at the same moment are told to retry rather than queued */
#define VERIFY_MAX 2
#define POLL_MS 10

struct cs__login {
	struct cs__login *next;
	cs_hub *hub;
	cs_http_req *req;       /* NULL once the client went away */
	pthread_t thread;
	int running;            /* thread started and not yet joined */
	atomic_int done;
	/* the check: inputs written before the thread starts, the result
	 * before done is set */
	char *hash;
	char *password;         /* wiped by the thread when done with it */
	int result;
	char err[160];
	/* context */
	int known;              /* the user exists (else the dummy hash is checked) */
	int64_t start_ms;       /* monotonic arrival, the origin of the delay */
	int64_t due_ms;         /* a failure's 401 is sent at this time */
	char user[CS__HUB_USER_MAX + 1];
	char remote[64];
	char old_token[65];     /* session presented with the login; ended on success */
};

void cs__console_headers(cs_http_req *req)
{
	cs_http_req_add_header(req, "Content-Security-Policy", CSP);
	cs_http_req_add_header(req, "X-Frame-Options", "DENY");
	cs_http_req_add_header(req, "Referrer-Policy", "no-referrer");
	cs_http_req_add_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	cs_http_req_add_header(req, "Cross-Origin-Resource-Policy", "same-origin");
}

static int method_is(cs_http_req *req, const char *m)
{
	return strcmp(cs_http_req_method(req), m) == 0;
}

static void not_allowed(cs_hub *hub, cs_http_req *req, const char *allowed)
{
	cs_http_req_add_header(req, "Allow", allowed);
	cs__hub_reply_error(hub, req, 405, "method_not_allowed", "use %s", allowed);
}

/* ---- static files ---- */

/*
 * Route "/" matches every path that no longer prefix claims; the public,
 * agent, admin and console API routes are all longer, so this handler sees
 * only paths outside them, and a path that is not in the asset table is a
 * JSON 404 like any other. The lookup is an exact string match in a table
 * fixed at build time: there is no file system behind it to escape from.
 */
static void assets(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	const char *path = cs_http_req_path(req);
	const struct cs_web_asset *a = NULL;

	cs__console_headers(req);
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	for (const struct cs_web_asset *p = cs_web_assets; p->path != NULL; p++) {
		if (strcmp(p->path, path) == 0) {
			a = p;
			break;
		}
	}
	if (a == NULL) {
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
		return;
	}
	if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
		not_allowed(hub, req, "GET, HEAD");
		return;
	}
	/* no-cache: the browser revalidates every time (an upgraded hub serves
	 * new files under the same names); the ETag makes that a 304 */
	uint8_t h[CS_SHA256_LEN];
	char hex[33], etag[40];
	cs_sha256(h, a->data, a->len);
	cs_hex_encode(hex, h, 16);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	cs_http_req_add_header(req, "Cache-Control", "no-cache");
	cs_http_req_add_header(req, "ETag", etag);
	const char *inm = cs_http_req_header(req, "If-None-Match");
	if (inm != NULL && strstr(inm, etag) != NULL) {
		cs__hub_reply(hub, req, 304, NULL, NULL, 0);
		return;
	}
	cs__hub_reply(hub, req, 200, a->content_type, a->data, a->len);
}

/* ---- sessions over HTTP ---- */

int cs__console_has_cookie(cs_http_req *req)
{
	char token[65];
	int found = cs__console_cookie_token(token, cs_http_req_header(req, "Cookie")) == 0;
	cs_wipe(token, sizeof(token));
	return found;
}

static int safe_method(cs_http_req *req)
{
	return method_is(req, "GET") || method_is(req, "HEAD");
}

/*
 * The live session of req's cookie into *s, or req is answered: 401 with
 * missing_code when there is no live session, 403 "csrf" when csrf is
 * required and the header does not match. The token itself goes into
 * token (wiped by the caller) when token is not NULL.
 */
static int session_check(cs_hub *hub, cs_http_req *req, struct cs__session *s, int need_csrf,
	const char *missing_code, char token_out[65])
{
	char token[65];
	int r = cs__console_cookie_token(token, cs_http_req_header(req, "Cookie"));
	if (r == 0)
		r = cs__console_session_use(hub, s, token);
	if (r == 0 && token_out != NULL)
		memcpy(token_out, token, sizeof(token));
	cs_wipe(token, sizeof(token));
	if (r == CS_ENOTFOUND || r == CS_EEXPIRED) {
		cs__hub_reply_error(hub, req, 401, missing_code, "%s",
			r == CS_EEXPIRED ? "the console session has expired; log in again"
					 : "no console session; log in");
		return r;
	}
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return r;
	}
	if (need_csrf) {
		/* the token lives in the page, not in a cookie: another site can make
		 * the browser send the cookie, but cannot read or send this */
		const char *h = cs_http_req_header(req, "X-CSRF-Token");
		if (h == NULL || strlen(h) != 64 || !cs_memeq(h, s->csrf, 64)) {
			cs_log(CS_LOG_WARN, "console.csrf_refused", "user=%s remote=%s method=%s", s->user,
				cs_http_req_remote(req), cs_http_req_method(req));
			cs__hub_reply_error(hub, req, 403, "csrf",
				"the X-CSRF-Token header is missing or wrong");
			return CS_EDENIED;
		}
	}
	return CS_OK;
}

int cs__console_authorize(cs_hub *hub, cs_http_req *req)
{
	struct cs__session s;
	cs__console_headers(req);
	return session_check(hub, req, &s, !safe_method(req), "session", NULL);
}

static json_t *session_json(const struct cs__session *s)
{
	return json_pack("{s:s, s:s, s:I}", "user", s->user, "csrf", s->csrf, "expires",
		(json_int_t)s->expires);
}

static void session_get(cs_hub *hub, cs_http_req *req)
{
	struct cs__session s;
	if (!method_is(req, "GET")) {
		not_allowed(hub, req, "GET");
		return;
	}
	if (session_check(hub, req, &s, 0, "auth", NULL) == 0)
		cs__hub_reply_json(hub, req, 200, session_json(&s));
}

static void logout(cs_hub *hub, cs_http_req *req)
{
	struct cs__session s;
	char token[65];
	int r;
	if (!method_is(req, "POST")) {
		not_allowed(hub, req, "POST");
		return;
	}
	if (session_check(hub, req, &s, 1, "session", token) < 0)
		return;
	r = cs__console_session_end(hub, token);
	cs_wipe(token, sizeof(token));
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	cs_log(CS_LOG_INFO, "console.logout", "user=%s remote=%s", s.user, cs_http_req_remote(req));
	cs_http_req_add_header(req, "Set-Cookie", "cs_session=; Max-Age=0; " COOKIE_ATTRS);
	cs__hub_reply_json(hub, req, 200, json_object());
}

/* ---- login ---- */

static void login_unlink(cs_hub *hub, struct cs__login *l)
{
	for (struct cs__login **pp = &hub->logins; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			return;
		}
	}
}

static void login_free(struct cs__login *l)
{
	if (l == NULL)
		return;
	free(l->hash);
	cs_free_secret_str(l->password);
	cs_wipe(l->old_token, sizeof(l->old_token));
	free(l);
}

static void login_done(cs_hub *hub, struct cs__login *l)
{
	login_unlink(hub, l);
	login_free(l);
}

static void on_close(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__login *l = ud;
	l->req = NULL; /* the check or the delay runs out; the answer has nowhere to go */
}

static void *verify_worker(void *arg)
{
	struct cs__login *l = arg;
	l->result = cs__console_verify_password(l->hash, l->password);
	if (l->result < 0)
		snprintf(l->err, sizeof(l->err), "%s", cs_error_last());
	cs_free_secret_str(l->password);
	l->password = NULL;
	atomic_store(&l->done, 1);
	return NULL;
}

/* The delayed 401 of a failed login is due. */
static void login_deferred(void *ud)
{
	struct cs__login *l = ud;
	/* libevent's timers run on a coarse clock and may fire a few ms early;
	 * the answer must not come before the throttle says so, or a client
	 * retrying at once would find its address still busy */
	int64_t left = l->due_ms - cs_clock_mono_ms();
	if (left > 0 && cs_httpd_after(l->hub->httpd, left, login_deferred, l) == 0)
		return;
	if (l->req != NULL)
		cs__hub_reply_error(l->hub, l->req, 401, "auth", "wrong user name or password");
	login_done(l->hub, l);
}

/* Count a failure and answer 401 once its delay has run out. */
static void login_refuse(cs_hub *hub, struct cs__login *l)
{
	int64_t due = cs__throttle_fail(&hub->throttle, l->remote, l->start_ms);
	cs_log(CS_LOG_WARN, "console.login_failed", "user=%s remote=%s delay_ms=%lld", l->user,
		l->remote, (long long)(due - l->start_ms));
	l->due_ms = due;
	login_deferred(l);
}

/* The password matched: start a session and answer with its cookie. */
static void login_accept(cs_hub *hub, struct cs__login *l)
{
	struct cs__session s;
	char token[65], cookie[160];
	int r;

	cs__throttle_ok(&hub->throttle, l->remote);
	if (l->req == NULL) {
		/* nobody to hand a session to: start none */
		login_done(hub, l);
		return;
	}
	/* whatever session the browser held is replaced, not left behind */
	if (l->old_token[0] != '\0')
		cs__console_session_end(hub, l->old_token);
	if ((r = cs__console_session_new(hub, token, &s, l->user, l->remote)) < 0) {
		cs__hub_reply_cs_error(hub, l->req, r);
		login_done(hub, l);
		return;
	}
	snprintf(cookie, sizeof(cookie), "cs_session=%s; %s", token, COOKIE_ATTRS);
	cs_http_req_add_header(l->req, "Set-Cookie", cookie);
	cs_wipe(cookie, sizeof(cookie));
	cs_wipe(token, sizeof(token));
	cs_log(CS_LOG_INFO, "console.login", "user=%s remote=%s", l->user, l->remote);
	cs__hub_reply_json(hub, l->req, 200, session_json(&s));
	login_done(hub, l);
}

static void login_poll(void *ud);

static void arm_poll(cs_hub *hub)
{
	if (hub->login_poll || hub->verifying == 0)
		return;
	if (cs_httpd_after(hub->httpd, POLL_MS, login_poll, hub) == 0)
		hub->login_poll = 1;
	/* else the 250 ms tick (cs__console_tick) collects them */
}

/* Collect finished password checks. */
static void login_poll(void *ud)
{
	cs_hub *hub = ud;
	struct cs__login *l = hub->logins, *next;
	hub->login_poll = 0;
	for (; l != NULL; l = next) {
		next = l->next;
		if (!l->running || !atomic_load(&l->done))
			continue;
		pthread_join(l->thread, NULL);
		l->running = 0;
		hub->verifying--;
		if (l->result == CS_OK && l->known) {
			login_accept(hub, l);
		} else {
			if (l->result != CS_OK && l->result != CS_EAUTH)
				cs_log(CS_LOG_ERROR, "console.verify_failed", "user=%s error=\"%s\"", l->user,
					l->err);
			login_refuse(hub, l);
		}
	}
	arm_poll(hub);
}

void cs__console_tick(cs_hub *hub)
{
	if (!hub->login_poll && hub->verifying > 0)
		login_poll(hub);
}

static void login(cs_hub *hub, cs_http_req *req)
{
	struct cs__login_body b;
	struct cs__login *l = NULL;
	size_t len;
	int name_ok, r;

	if (!method_is(req, "POST")) {
		not_allowed(hub, req, "POST");
		return;
	}
	const char *text = cs__hub_body(req, &len);
	r = cs__parse_login(&b, text, len);
	/* the received body holds the password too; it is the server's buffer,
	 * wiped here so that it does not linger until the connection is reused */
	cs_wipe((void *)text, len);
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		cs__hub_reply_error(hub, req, 503, "error", "out of memory");
		goto done;
	}
	l->hub = hub;
	l->req = req;
	l->start_ms = cs_clock_mono_ms();
	atomic_init(&l->done, 0);
	/* a name no user can have is not looked up, and is logged defanged: it
	 * came from the network and may hold quotes or line breaks */
	name_ok = cs__console_user_ok(b.user);
	snprintf(l->user, sizeof(l->user), "%s", b.user);
	for (char *p = l->user; *p; p++) {
		char one[2] = {*p, '\0'};
		if (!cs__console_user_ok(one))
			*p = '?';
	}
	snprintf(l->remote, sizeof(l->remote), "%s", cs_http_req_remote(req));
	if (cs__console_cookie_token(l->old_token, cs_http_req_header(req, "Cookie")) < 0)
		l->old_token[0] = '\0';
	l->next = hub->logins;
	hub->logins = l;
	cs_http_req_on_close(req, on_close, l);

	if (cs__throttle_busy(&hub->throttle, l->remote, l->start_ms)) {
		/* an earlier failure's delay is still running: refused unchecked, so
		 * that guesses sent side by side gain nothing over guesses in a row */
		login_refuse(hub, l);
		goto done;
	}
	if (hub->verifying >= VERIFY_MAX) {
		cs_http_req_add_header(req, "Retry-After", "1");
		cs__hub_reply_error(hub, req, 429, "limit", "too many logins at once; try again");
		login_done(hub, l);
		goto done;
	}
	r = name_ok ? cs__console_user_hash(hub, &l->hash, b.user) : CS_ENOTFOUND;
	l->known = r == 0;
	/* an unknown user costs the same check: names do not leak by timing */
	if (r == CS_ENOTFOUND && (l->hash = strdup(cs__console_dummy_hash)) != NULL)
		r = 0;
	else if (r == CS_ENOTFOUND)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	if (r == 0 && (l->password = strdup(b.password)) == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	if (r == 0 && pthread_create(&l->thread, NULL, verify_worker, l) != 0)
		r = cs_error_set(CS_ERROR, "cannot start a thread");
	if (r < 0) {
		cs__hub_reply_cs_error(hub, req, r);
		login_done(hub, l);
		goto done;
	}
	l->running = 1;
	hub->verifying++;
	arm_poll(hub);
done:
	cs__login_body_clear(&b);
}

static void console_api(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	const char *path = cs_http_req_path(req);

	cs__console_headers(req);
	if (strcmp(path, API_PREFIX "login") == 0)
		login(hub, req);
	else if (strcmp(path, API_PREFIX "session") == 0)
		session_get(hub, req);
	else if (strcmp(path, API_PREFIX "logout") == 0)
		logout(hub, req);
	else
		cs__hub_reply_error(hub, req, 404, "not_found", "no such resource");
}

void cs__console_free(cs_hub *hub)
{
	while (hub->logins != NULL) {
		struct cs__login *l = hub->logins;
		hub->logins = l->next;
		if (l->running) {
			pthread_join(l->thread, NULL);
			hub->verifying--;
		}
		/* the reply also detaches on_close, which would point at freed memory;
		 * a pending cs_httpd_after timer is dropped with the server unfired */
		if (l->req != NULL)
			cs__hub_reply_error(hub, l->req, 503, "error", "the hub is shutting down");
		login_free(l);
	}
}

void cs__hub_console_routes(cs_hub *hub)
{
	cs_httpd_route(hub->httpd, "*", "/", assets, hub);
	cs_httpd_route(hub->httpd, "*", API_PREFIX, console_api, hub);
}
