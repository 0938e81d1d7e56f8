/*
 * The web console's users and sessions (PROTOCOL.md §10), and the throttle
 * on failed logins. No HTTP here (console.c), so that the unit tests drive
 * it directly.
 *
 * Passwords are stored only as argon2id hashes (libargon2, PHC string form)
 * and compared only by argon2id_verify. A session is a random 32-byte token
 * kept by the browser in an HttpOnly cookie; the hub stores its SHA-256, so
 * a copy of the database opens no session. The CSRF token is a second
 * random value that the page holds in memory and echoes in a header; it is
 * stored in the clear because the page must be able to fetch it again after
 * a reload, and on its own it grants nothing.
 */
#include <argon2.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/hub.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define TOKEN_LEN 32
/* the hash of a random 32-byte password, thrown away */
const char cs__console_dummy_hash[] =
	"$argon2id$v=19$m=19456,t=2,p=1$elvAfS4SXzNpl3gQ+wo+OA$"
	"0+ms8/JYTDB+Hw+hYcNL4f4sTkuF8fhzEz7nxLuSZwk";

/* ---- names and passwords ---- */

int cs__console_user_ok(const char *user)
{
	return cs_text_is_name(user, CS__HUB_USER_MAX, "._-@");
}

/* 1 when s is well-formed UTF-8 (no overlong forms, surrogates or values
 * above U+10FFFF): a password that JSON cannot carry could never log in. */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned c = *s++;
		int more;
		unsigned min, v;
		if (c < 0x80)
			continue;
		else if ((c & 0xe0) == 0xc0)
			more = 1, min = 0x80, v = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			more = 2, min = 0x800, v = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			more = 3, min = 0x10000, v = c & 0x07;
		else
			return 0;
		for (int i = 0; i < more; i++, s++) {
			if ((*s & 0xc0) != 0x80)
				return 0;
			v = (v << 6) | (*s & 0x3f);
		}
		if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
			return 0;
	}
	return 1;
}

int cs__console_password_ok(const char *password)
{
	if (password == NULL || strlen(password) > CS__HUB_PASSWORD_MAX)
		return cs_error_set(CS_EINVAL, "a password is at most %d bytes", CS__HUB_PASSWORD_MAX);
	if (!utf8_valid((const unsigned char *)password))
		return cs_error_set(CS_EINVAL, "the password is not valid UTF-8");
	if (cs__utf8_chars(password) < CS__HUB_PASSWORD_MIN)
		return cs_error_set(CS_EINVAL, "a password needs at least %d characters",
			CS__HUB_PASSWORD_MIN);
	return CS_OK;
}

int cs__console_hash_password(char **out, const char *password)
{
	uint8_t salt[CS__ARGON2_SALT];
	size_t n = argon2_encodedlen(CS__ARGON2_T, CS__ARGON2_M_KIB, CS__ARGON2_P,
		CS__ARGON2_SALT, CS__ARGON2_HASH, Argon2_id);
	char *enc = malloc(n + 1);
	int r;

	if (enc == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_random(salt, sizeof(salt))) < 0) {
		free(enc);
		return r;
	}
	int a = argon2id_hash_encoded(CS__ARGON2_T, CS__ARGON2_M_KIB, CS__ARGON2_P, password,
		strlen(password), salt, sizeof(salt), CS__ARGON2_HASH, enc, n + 1);
	cs_wipe(salt, sizeof(salt));
	if (a != ARGON2_OK) {
		free(enc);
		return cs_error_set(a == ARGON2_MEMORY_ALLOCATION_ERROR ? CS_ENOMEM : CS_ECRYPTO,
			"argon2id: %s", argon2_error_message(a));
	}
	*out = enc;
	return CS_OK;
}

int cs__console_verify_password(const char *encoded, const char *password)
{
	int a = argon2id_verify(encoded, password, strlen(password));
	if (a == ARGON2_OK)
		return CS_OK;
	if (a == ARGON2_VERIFY_MISMATCH)
		return cs_error_set(CS_EAUTH, "wrong user name or password");
	/* a stored hash that argon2 cannot read, or no memory: still a refusal,
	 * but one worth an operator's attention */
	return cs_error_set(a == ARGON2_MEMORY_ALLOCATION_ERROR ? CS_ENOMEM : CS_ECRYPTO,
		"argon2id: %s", argon2_error_message(a));
}

/* ---- users ---- */

int cs__console_user_set(cs_store *db, const char *user, const char *password)
{
	char *hash = NULL;
	int r;

	if (!cs__console_user_ok(user))
		return cs_error_set(CS_EINVAL, "a console user name is 1..%d of A-Z a-z 0-9 . _ @ -",
			CS__HUB_USER_MAX);
	if ((r = cs__console_password_ok(password)) < 0 ||
	    (r = cs__console_hash_password(&hash, password)) < 0)
		return r;
	if ((r = cs_store_begin(db)) < 0)
		goto done;
	if ((r = cs__db_exec(db,
		     "INSERT INTO console_users (name, hash, updated) VALUES (?, ?, ?) "
		     "ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, "
		     "updated = excluded.updated",
		     CS__DB_ARGS(CS__DB_T(user), CS__DB_T(hash), CS__DB_I(cs_clock_now())))) < 0)
		goto fail;
	/* a new password logs the user out everywhere: whoever knew the old
	 * one may hold a session */
	if ((r = cs__db_exec(db, "DELETE FROM console_sessions WHERE user_name = ?",
		     CS__DB_ARGS(CS__DB_T(user)))) < 0 ||
	    (r = cs_store_commit(db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "console.password_set", "user=%s", user);
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(db);
done:
	free(hash);
	return r;
}

int cs__console_user_hash(cs_hub *hub, char **hash, const char *user)
{
	cs_stmt *q = NULL;
	int r;
	if ((r = cs_store_prepare(&q, hub->db, "SELECT hash FROM console_users WHERE name = ?")) < 0)
		return r;
	cs_stmt_bind_text(q, 1, user);
	if ((r = cs_stmt_step(q)) == 1) {
		if ((*hash = strdup(cs_stmt_text(q, 0))) == NULL)
			r = cs_error_set(CS_ENOMEM, "out of memory");
		else
			r = CS_OK;
	} else if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no console user %s", user);
	}
	cs_stmt_free(q);
	return r;
}

int cs_hub_console_password_set(const char *data_dir, const char *user, const char *password)
{
	char *conf = cs_path_join(data_dir, "hub.json");
	char *path = cs_path_join(data_dir, "hub.db");
	char *initial = cs_path_join(data_dir, "admin/console-password");
	cs_store *db = NULL;
	int r;

	if (conf == NULL || path == NULL || initial == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!cs_fs_exists(conf)) {
		r = cs_error_set(CS_ENOTFOUND, "%s holds no hub (run 'certsync hub init')", data_dir);
		goto done;
	}
	/* only the database: a running hub shares it (WAL), and nothing else of
	 * the hub needs to be opened to change a password */
	if ((r = cs_store_open(&db, path)) < 0 ||
	    (r = cs_store_migrate(db, cs__hub_schema, cs__hub_schema_count)) < 0 ||
	    (r = cs__console_user_set(db, user, password)) < 0)
		goto done;
	/* the initial password written by cs_hub_init is no longer the password;
	 * a stale copy would only mislead (and the new one is not written down) */
	if (cs_fs_exists(initial) && remove(initial) != 0) {
		r = cs_error_set(CS_EIO, "cannot remove %s", initial);
		goto done;
	}
	r = CS_OK;
done:
	cs_store_close(db);
	free(conf);
	free(path);
	free(initial);
	return r;
}

/* ---- sessions ---- */

static void token_hash(char out[65], const uint8_t token[TOKEN_LEN])
{
	uint8_t h[CS_SHA256_LEN];
	cs_sha256(h, token, TOKEN_LEN);
	cs_hex_encode(out, h, sizeof(h));
}

static int64_t session_expires(cs_hub *hub, int64_t created_ms, int64_t last_used_ms)
{
	int64_t idle_end = last_used_ms + hub->cfg.console_idle_s * 1000;
	int64_t max_end = created_ms + hub->cfg.console_max_s * 1000;
	return idle_end < max_end ? idle_end : max_end;
}

int cs__console_session_new(cs_hub *hub, char token_out[65], struct cs__session *s,
	const char *user, const char *remote)
{
	uint8_t token[TOKEN_LEN], csrf[TOKEN_LEN];
	char hash[65];
	int r;

	if ((r = cs_random(token, sizeof(token))) < 0 || (r = cs_random(csrf, sizeof(csrf))) < 0)
		goto done;
	token_hash(hash, token);
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	cs_hex_encode(s->csrf, csrf, sizeof(csrf));
	s->created_ms = s->last_used_ms = cs_clock_now_ms();
	s->expires = session_expires(hub, s->created_ms, s->last_used_ms) / 1000;
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "INSERT INTO console_sessions (token_hash, csrf, user_name, created_ms, "
		     "last_used_ms, remote) VALUES (?, ?, ?, ?, ?, ?)",
		     CS__DB_ARGS(CS__DB_T(hash), CS__DB_T(s->csrf), CS__DB_T(user),
			     CS__DB_I(s->created_ms), CS__DB_I(s->last_used_ms),
			     CS__DB_T(remote ? remote : "")))) < 0)
		goto fail;
	/* a bounded number per user: logging in again and again (or a script
	 * that never logs out) must not grow the table without end */
	if ((r = cs__db_exec(hub->db,
		     "DELETE FROM console_sessions WHERE user_name = ? AND token_hash NOT IN ("
		     "SELECT token_hash FROM console_sessions WHERE user_name = ? "
		     "ORDER BY last_used_ms DESC, created_ms DESC LIMIT ?)",
		     CS__DB_ARGS(CS__DB_T(user), CS__DB_T(user),
			     CS__DB_I(CS__CONSOLE_SESSIONS_MAX)))) < 0 ||
	    (r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_hex_encode(token_out, token, sizeof(token));
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	cs_wipe(token, sizeof(token));
	cs_wipe(csrf, sizeof(csrf));
	return r;
}

/* hash_out: hex SHA-256 of the 32 bytes a 64-hex-digit token stands for. */
static int token_to_hash(char hash_out[65], const char *token)
{
	uint8_t raw[TOKEN_LEN];
	if (token == NULL || strlen(token) != 2 * TOKEN_LEN ||
	    cs_hex_decode(raw, sizeof(raw), token) < 0)
		return cs_error_set(CS_ENOTFOUND, "no such session");
	token_hash(hash_out, raw);
	cs_wipe(raw, sizeof(raw));
	return CS_OK;
}

static int session_delete(cs_hub *hub, const char *hash)
{
	return cs__db_exec(hub->db, "DELETE FROM console_sessions WHERE token_hash = ?",
		CS__DB_ARGS(CS__DB_T(hash)));
}

int cs__console_session_use(cs_hub *hub, struct cs__session *s, const char *token)
{
	char hash[65];
	cs_stmt *q = NULL;
	struct cs__session found = {0};
	int r;

	if ((r = token_to_hash(hash, token)) < 0)
		return r;
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT token_hash, csrf, user_name, created_ms, last_used_ms "
		     "FROM console_sessions WHERE token_hash = ?")) < 0)
		return r;
	cs_stmt_bind_text(q, 1, hash);
	if ((r = cs_stmt_step(q)) <= 0) {
		cs_stmt_free(q);
		return r < 0 ? r : cs_error_set(CS_ENOTFOUND, "no such session");
	}
	/* found by equality on the hash, which tells a timing observer nothing
	 * about the token; compared once more in constant time all the same */
	const char *stored = cs_stmt_text(q, 0);
	int same = stored != NULL && strlen(stored) == 64 && cs_memeq(stored, hash, 64);
	snprintf(found.csrf, sizeof(found.csrf), "%s", cs_stmt_text(q, 1));
	snprintf(found.user, sizeof(found.user), "%s", cs_stmt_text(q, 2));
	found.created_ms = cs_stmt_int64(q, 3);
	found.last_used_ms = cs_stmt_int64(q, 4);
	cs_stmt_free(q);
	if (!same)
		return cs_error_set(CS_ENOTFOUND, "no such session");

	int64_t now = cs_clock_now_ms();
	if (now >= session_expires(hub, found.created_ms, found.last_used_ms)) {
		session_delete(hub, hash);
		return cs_error_set(CS_EEXPIRED, "the session has expired; log in again");
	}
	/* persisting every request would cost an fsync each; a mark at most
	 * every 1/60 of the idle time keeps the idle end exact to that */
	if (now - found.last_used_ms >= hub->cfg.console_idle_s * 1000 / 60) {
		if ((r = cs__db_exec(hub->db,
			     "UPDATE console_sessions SET last_used_ms = ? WHERE token_hash = ?",
			     CS__DB_ARGS(CS__DB_I(now), CS__DB_T(hash)))) < 0)
			return r;
		found.last_used_ms = now;
	}
	found.expires = session_expires(hub, found.created_ms, found.last_used_ms) / 1000;
	*s = found;
	return CS_OK;
}

int cs__console_session_end(cs_hub *hub, const char *token)
{
	char hash[65];
	if (token_to_hash(hash, token) < 0)
		return CS_OK;
	return session_delete(hub, hash);
}

int cs__console_sessions_expire(cs_hub *hub, int64_t now_ms)
{
	return cs__db_exec(hub->db,
		"DELETE FROM console_sessions WHERE last_used_ms <= ? OR created_ms <= ?",
		CS__DB_ARGS(CS__DB_I(now_ms - hub->cfg.console_idle_s * 1000),
			CS__DB_I(now_ms - hub->cfg.console_max_s * 1000)));
}

int cs__console_cookie_token(char out[65], const char *header)
{
	static const char name[] = "cs_session";
	const char *p = header;
	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == sizeof(name) + 64 && memcmp(p, name, sizeof(name) - 1) == 0 &&
		    p[sizeof(name) - 1] == '=') {
			const char *v = p + sizeof(name);
			size_t k = 0;
			while (k < 64 && ((v[k] >= '0' && v[k] <= '9') || (v[k] >= 'a' && v[k] <= 'f')))
				k++;
			if (k == 64) {
				memcpy(out, v, 64);
				out[64] = '\0';
				return CS_OK;
			}
		}
		p = end;
	}
	return cs_error_set(CS_ENOTFOUND, "no session cookie");
}

/* ---- failed-login throttle ---- */

/* The slot of remote, or -1. An unknown address ("") is one address. */
static int slot_find(const struct cs__throttle *t, const char *remote)
{
	if (remote[0] == '\0')
		remote = "?";
	for (int i = 0; i < CS__THROTTLE_SLOTS; i++)
		if (t->slot[i].remote[0] != '\0' && strcmp(t->slot[i].remote, remote) == 0)
			return i;
	return -1;
}

int64_t cs__throttle_fail(struct cs__throttle *t, const char *remote, int64_t start_ms)
{
	int i = slot_find(t, remote);
	struct cs__throttle_slot *s = i >= 0 ? &t->slot[i] : NULL;
	if (s == NULL) {
		/* a free slot, else the one quiet for longest: the table is bounded,
		 * and an address that fails often keeps its place */
		s = &t->slot[0];
		for (int k = 0; k < CS__THROTTLE_SLOTS; k++) {
			if (t->slot[k].remote[0] == '\0') {
				s = &t->slot[k];
				break;
			}
			if (t->slot[k].last_ms < s->last_ms)
				s = &t->slot[k];
		}
		memset(s, 0, sizeof(*s));
		snprintf(s->remote, sizeof(s->remote), "%s", remote[0] ? remote : "?");
	} else if (start_ms - s->last_ms > CS__THROTTLE_FORGET_MS) {
		s->failures = 0;
	}
	if (s->failures < 32)
		s->failures++;
	int64_t delay = CS__THROTTLE_FIRST_MS;
	for (unsigned k = 1; k < s->failures && delay < CS__THROTTLE_MAX_MS; k++)
		delay *= 2;
	if (delay > CS__THROTTLE_MAX_MS)
		delay = CS__THROTTLE_MAX_MS;
	s->last_ms = start_ms;
	if (start_ms + delay > s->until_ms)
		s->until_ms = start_ms + delay;
	return start_ms + delay;
}

void cs__throttle_ok(struct cs__throttle *t, const char *remote)
{
	int i = slot_find(t, remote);
	if (i >= 0)
		memset(&t->slot[i], 0, sizeof(t->slot[i]));
}

int cs__throttle_busy(const struct cs__throttle *t, const char *remote, int64_t now_ms)
{
	int i = slot_find(t, remote);
	return i >= 0 && now_ms < t->slot[i].until_ms;
}
