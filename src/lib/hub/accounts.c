/*
 * Account sync's state in the hub's store (PROTOCOL.md §11): accounts and
 * their SCRAM verifiers, the token keys, the secret behind the salts of
 * unknown names, failed logins, and the accounts' versioned records. No
 * HTTP here (api_account.c), so the unit tests drive it directly.
 *
 * Several hub processes may share one hub.db (they then serve the same
 * accounts; a device may send each request to another one). Nothing here
 * therefore trusts memory over the store: whatever decides a write is read
 * again inside the IMMEDIATE transaction that makes it (key rotation, login
 * failures, record versions), and the token key cache only ever grows from
 * the store.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/hub.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define FAKE_SALT_SECRET "fake_salt"
#define FAKE_SALT_LABEL "certsync fake salt\n"
#define FAILURES_CAP 32

/* ---- accounts ---- */

#define ACCOUNT_COLS "id, name, salt, t_cost, m_kib, stored_key, server_key, disabled, created"

void cs__acct_clear(struct cs__account *a)
{
	cs_wipe(a, sizeof(*a));
}

static int kdf_ok(const cs_acct_kdf *kdf)
{
	return kdf->t_cost >= 1 && kdf->t_cost <= CS_ACCT_KDF_T_MAX && kdf->m_kib >= 8 &&
	       kdf->m_kib <= CS_ACCT_KDF_M_MAX;
}

/* Copy a blob column of exactly n bytes into out. */
static int blob_col(uint8_t *out, size_t n, cs_stmt *q, int col)
{
	size_t len = 0;
	const void *p = cs_stmt_blob(q, col, &len);
	if (p == NULL || len != n)
		return cs_error_set(CS_EDB, "a stored account is damaged (column %d)", col);
	memcpy(out, p, n);
	return CS_OK;
}

/* The account of the current row of a SELECT ACCOUNT_COLS. */
static int row_account(struct cs__account *a, cs_stmt *q)
{
	const char *name = cs_stmt_text(q, 1);
	int64_t t = cs_stmt_int64(q, 3), m = cs_stmt_int64(q, 4);
	int r;

	memset(a, 0, sizeof(*a));
	if (name == NULL || strlen(name) > CS_ACCT_NAME_MAX || t < 1 || t > CS_ACCT_KDF_T_MAX ||
	    m < 8 || m > CS_ACCT_KDF_M_MAX)
		return cs_error_set(CS_EDB, "a stored account is damaged");
	a->id = cs_stmt_int64(q, 0);
	memcpy(a->name, name, strlen(name) + 1);
	a->kdf.t_cost = (uint32_t)t;
	a->kdf.m_kib = (uint32_t)m;
	if ((r = blob_col(a->kdf.salt, CS_ACCT_SALT_LEN, q, 2)) < 0 ||
	    (r = blob_col(a->stored_key, CS_ACCT_KEY_LEN, q, 5)) < 0 ||
	    (r = blob_col(a->server_key, CS_ACCT_KEY_LEN, q, 6)) < 0) {
		cs__acct_clear(a);
		return r;
	}
	a->disabled = cs_stmt_int64(q, 7) != 0;
	a->created = cs_stmt_int64(q, 8);
	return CS_OK;
}

int cs__acct_add(cs_store *db, const char *name, const cs_acct_kdf *kdf,
	const uint8_t stored_key[CS_ACCT_KEY_LEN], const uint8_t server_key[CS_ACCT_KEY_LEN])
{
	cs_stmt *q = NULL;
	int64_t now = cs_clock_now();
	int r;

	if (!cs_acct_name_valid(name))
		return cs_error_set(CS_EINVAL, "an account name is 1..%d of a-z A-Z 0-9 . _ @ -",
			CS_ACCT_NAME_MAX);
	if (!kdf_ok(kdf))
		return cs_error_set(CS_EINVAL, "argon2id cost t=%u m=%u KiB is out of range "
			"(t 1..%d, m 8..%u KiB)", kdf->t_cost, kdf->m_kib, CS_ACCT_KDF_T_MAX,
			CS_ACCT_KDF_M_MAX);
	if ((r = cs_store_prepare(&q, db,
		     "INSERT INTO accounts (name, salt, t_cost, m_kib, stored_key, server_key, "
		     "disabled, created, updated) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)")) < 0)
		return r;
	cs_stmt_bind_text(q, 1, name);
	cs_stmt_bind_blob(q, 2, kdf->salt, CS_ACCT_SALT_LEN);
	cs_stmt_bind_int64(q, 3, kdf->t_cost);
	cs_stmt_bind_int64(q, 4, kdf->m_kib);
	cs_stmt_bind_blob(q, 5, stored_key, CS_ACCT_KEY_LEN);
	cs_stmt_bind_blob(q, 6, server_key, CS_ACCT_KEY_LEN);
	cs_stmt_bind_int64(q, 7, now);
	cs_stmt_bind_int64(q, 8, now);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	if (r == CS_ECONFLICT)
		return cs_error_set(CS_EEXISTS, "account %s exists already", name);
	if (r < 0)
		return r;
	cs_log(CS_LOG_INFO, "account.added", "account=%s t=%u m_kib=%u", name, kdf->t_cost,
		kdf->m_kib);
	return CS_OK;
}

/* The account matching "WHERE <where>" with one bound parameter. */
static int account_where(cs_store *db, struct cs__account *out, const char *sql,
	const char *text, int64_t id, const char *what)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, db, sql);
	if (r < 0)
		return r;
	if (text != NULL)
		cs_stmt_bind_text(q, 1, text);
	else
		cs_stmt_bind_int64(q, 1, id);
	if ((r = cs_stmt_step(q)) == 1)
		r = row_account(out, q);
	else if (r == 0)
		r = cs_error_set(CS_ENOTFOUND, "no account %s", what);
	cs_stmt_free(q);
	return r;
}

int cs__acct_get(cs_store *db, struct cs__account *out, const char *name)
{
	return account_where(db, out, "SELECT " ACCOUNT_COLS " FROM accounts WHERE name = ?", name,
		0, name);
}

int cs__acct_get_id(cs_store *db, struct cs__account *out, int64_t id)
{
	char what[32];
	snprintf(what, sizeof(what), "with id %lld", (long long)id);
	return account_where(db, out, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?", NULL, id,
		what);
}

int cs__acct_set_disabled(cs_store *db, const char *name, int disabled)
{
	int r = cs__db_exec(db, "UPDATE accounts SET disabled = ?, updated = ? WHERE name = ?",
		CS__DB_ARGS(CS__DB_I(disabled ? 1 : 0), CS__DB_I(cs_clock_now()), CS__DB_T(name)));
	if (r < 0)
		return r;
	if (cs_store_changes(db) == 0)
		return cs_error_set(CS_ENOTFOUND, "no account %s", name);
	cs_log(CS_LOG_INFO, disabled ? "account.disabled" : "account.enabled", "account=%s", name);
	return CS_OK;
}

int cs__acct_check_active(cs_store *db, int64_t id, const char *name)
{
	int64_t disabled = -1;
	int r = cs__db_int64(db, &disabled, "SELECT disabled FROM accounts WHERE id = ? AND name = ?",
		CS__DB_ARGS(CS__DB_I(id), CS__DB_T(name)));
	if (r < 0)
		return r;
	if (r == 0)
		return cs_error_set(CS_EDENIED, "account %s no longer exists", name);
	if (disabled != 0)
		return cs_error_set(CS_EDENIED, "account %s is disabled", name);
	return CS_OK;
}

int cs__acct_list(cs_store *db, int (*fn)(void *ud, const struct cs_hub_account_info *a),
	void *ud)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, db,
		"SELECT a.id, a.name, a.disabled, a.created, a.t_cost, a.m_kib, "
		"(SELECT count(*) FROM account_collections c WHERE c.account = a.id), "
		"(SELECT count(*) FROM account_records r WHERE r.account = a.id AND r.deleted = 0), "
		"(SELECT coalesce(sum(length(r.payload)), 0) FROM account_records r "
		" WHERE r.account = a.id) "
		"FROM accounts a ORDER BY a.name");
	if (r < 0)
		return r;
	while ((r = cs_stmt_step(q)) == 1) {
		struct cs_hub_account_info a = {
			.id = cs_stmt_int64(q, 0),
			.name = cs_stmt_text(q, 1),
			.disabled = cs_stmt_int64(q, 2) != 0,
			.created = cs_stmt_int64(q, 3),
			.t_cost = (uint32_t)cs_stmt_int64(q, 4),
			.m_kib = (uint32_t)cs_stmt_int64(q, 5),
			.collections = cs_stmt_int64(q, 6),
			.records = cs_stmt_int64(q, 7),
			.bytes = cs_stmt_int64(q, 8),
		};
		if (a.name == NULL)
			a.name = "";
		if ((r = fn(ud, &a)) != 0)
			break;
	}
	cs_stmt_free(q);
	return r;
}

/* ---- token keys ---- */

void cs__acct_cache_clear(struct cs__acct_cache *c)
{
	if (c->keys != NULL)
		cs_freezero(c->keys, c->nkeys * sizeof(*c->keys));
	cs_wipe(c, sizeof(*c));
}

/* Replace the cached keys with the store's (ascending kid). */
static int keys_load(cs_store *db, struct cs__acct_cache *c)
{
	cs_stmt *q = NULL;
	struct cs__acct_key *keys = NULL;
	size_t n = 0, alloc = 0;
	int r = cs_store_prepare(&q, db, "SELECT kid, key, created FROM account_keys ORDER BY kid");
	if (r < 0)
		return r;
	while ((r = cs_stmt_step(q)) == 1) {
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 4;
			struct cs__acct_key *p = calloc(na, sizeof(*p));
			if (p == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			if (keys != NULL) {
				memcpy(p, keys, n * sizeof(*p));
				cs_freezero(keys, alloc * sizeof(*keys));
			}
			keys = p;
			alloc = na;
		}
		int64_t kid = cs_stmt_int64(q, 0);
		if (kid < 1 || kid > UINT32_MAX) {
			r = cs_error_set(CS_EDB, "account token key %lld is out of range", (long long)kid);
			break;
		}
		keys[n].kid = (uint32_t)kid;
		keys[n].created = cs_stmt_int64(q, 2);
		if ((r = blob_col(keys[n].key, CS_ACCT_KEY_LEN, q, 1)) < 0)
			break;
		n++;
	}
	cs_stmt_free(q);
	if (r < 0) {
		if (keys != NULL)
			cs_freezero(keys, alloc * sizeof(*keys));
		return r;
	}
	if (c->keys != NULL)
		cs_freezero(c->keys, c->nkeys * sizeof(*c->keys));
	c->keys = keys;
	c->nkeys = n;
	return CS_OK;
}

static const struct cs__acct_key *keys_newest(const struct cs__acct_cache *c)
{
	return c->nkeys ? &c->keys[c->nkeys - 1] : NULL;
}

static const struct cs__acct_key *keys_lookup(const struct cs__acct_cache *c, uint32_t kid)
{
	size_t lo = 0, hi = c->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->keys[mid].kid == kid)
			return &c->keys[mid];
		if (c->keys[mid].kid < kid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Add a key unless another process did since the caller looked, and delete
 * the keys no live token can name: a key is last used when the next one
 * appears (a process seals with its cached newest key only while that key
 * is younger than the rotation period, and the first to find it older adds
 * the next), so once the key after it is ttl_s old, every token it sealed
 * has expired (ttl_s covers tickets too: the caller passes the longer
 * lifetime). */
static int key_rotate(cs_store *db, int64_t now, int64_t rotate_s, int64_t ttl_s)
{
	uint8_t key[CS_ACCT_KEY_LEN];
	cs_stmt *q = NULL;
	int64_t kid = 0;
	int r;

	if ((r = cs_store_begin(db)) < 0)
		return r;
	if ((r = cs_store_prepare(&q, db,
		     "SELECT created FROM account_keys ORDER BY kid DESC LIMIT 1")) < 0)
		goto fail;
	r = cs_stmt_step(q);
	int fresh = r == 1 && now - cs_stmt_int64(q, 0) < rotate_s;
	cs_stmt_free(q);
	q = NULL;
	if (r < 0)
		goto fail;
	if (fresh) /* another hub process was first */
		return cs_store_commit(db);
	if ((r = cs_random(key, sizeof(key))) < 0 ||
	    (r = cs_store_prepare(&q, db, "INSERT INTO account_keys (key, created) VALUES (?, ?)")) < 0)
		goto fail;
	cs_stmt_bind_blob(q, 1, key, sizeof(key));
	cs_stmt_bind_int64(q, 2, now);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	q = NULL;
	cs_wipe(key, sizeof(key));
	if (r < 0)
		goto fail;
	kid = cs_store_last_id(db);
	if ((r = cs__db_exec(db,
		     "DELETE FROM account_keys WHERE kid < (SELECT max(kid) FROM account_keys "
		     "WHERE created <= ?)", CS__DB_ARGS(CS__DB_I(now - ttl_s)))) < 0 ||
	    (r = cs_store_commit(db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "account.key_added", "kid=%lld", (long long)kid);
	return CS_OK;
fail:
	cs_wipe(key, sizeof(key));
	cs_store_rollback(db);
	return r;
}

int cs__acct_key_current(cs_store *db, struct cs__acct_cache *c, struct cs__acct_key *out,
	int64_t now, int64_t rotate_s, int64_t ttl_s)
{
	const struct cs__acct_key *k = keys_newest(c);
	int r;

	if (k == NULL || now - k->created >= rotate_s) {
		/* another process may have added one already */
		if ((r = keys_load(db, c)) < 0)
			return r;
		k = keys_newest(c);
	}
	if (k == NULL || now - k->created >= rotate_s) {
		if ((r = key_rotate(db, now, rotate_s, ttl_s)) < 0 || (r = keys_load(db, c)) < 0)
			return r;
		if ((k = keys_newest(c)) == NULL)
			return cs_error_set(CS_EDB, "no account token key after adding one");
	}
	*out = *k;
	return CS_OK;
}

int cs__acct_key_find(cs_store *db, struct cs__acct_cache *c, struct cs__acct_key *out,
	uint32_t kid)
{
	const struct cs__acct_key *k = keys_lookup(c, kid);
	const struct cs__acct_key *newest = keys_newest(c);
	int r;

	/* Kids grow with every key added (AUTOINCREMENT, one writer at a time),
	 * so only a kid above the newest cached one can be a key that another
	 * process added since; a smaller one missing from the cache is gone.
	 * That keeps made-up kids from costing a read each. */
	if (k == NULL && (newest == NULL || kid > newest->kid)) {
		if ((r = keys_load(db, c)) < 0)
			return r;
		k = keys_lookup(c, kid);
	}
	if (k == NULL)
		return cs_error_set(CS_ENOTFOUND, "no account token key %u", kid);
	*out = *k;
	return CS_OK;
}

/* ---- the salts of unknown accounts ---- */

static int secret_load(cs_store *db, struct cs__acct_cache *c)
{
	uint8_t fresh[CS_ACCT_KEY_LEN];
	cs_stmt *q = NULL;
	int r;

	for (int attempt = 0; !c->have_secret; attempt++) {
		if ((r = cs_store_prepare(&q, db, "SELECT value FROM account_secrets WHERE name = ?")) < 0)
			return r;
		cs_stmt_bind_text(q, 1, FAKE_SALT_SECRET);
		if ((r = cs_stmt_step(q)) == 1 && (r = blob_col(c->secret, sizeof(c->secret), q, 0)) == 0)
			c->have_secret = 1;
		cs_stmt_free(q);
		if (r < 0)
			return r;
		if (c->have_secret)
			break;
		if (attempt == 1)
			return cs_error_set(CS_EDB, "cannot keep the account secret");
		/* none yet: make one; of two processes doing so at once, the
		 * first insert wins and both read it back */
		if ((r = cs_random(fresh, sizeof(fresh))) < 0 ||
		    (r = cs_store_prepare(&q, db,
			     "INSERT OR IGNORE INTO account_secrets (name, value) VALUES (?, ?)")) < 0) {
			cs_wipe(fresh, sizeof(fresh));
			return r;
		}
		cs_stmt_bind_text(q, 1, FAKE_SALT_SECRET);
		cs_stmt_bind_blob(q, 2, fresh, sizeof(fresh));
		r = cs_stmt_step(q);
		cs_stmt_free(q);
		cs_wipe(fresh, sizeof(fresh));
		if (r < 0)
			return r;
	}
	return CS_OK;
}

int cs__acct_fake_salt(cs_store *db, struct cs__acct_cache *c, uint8_t salt[CS_ACCT_SALT_LEN],
	const char *name)
{
	uint8_t msg[sizeof(FAKE_SALT_LABEL) - 1 + CS_ACCT_NAME_MAX], h[CS_SHA256_LEN];
	size_t ll = sizeof(FAKE_SALT_LABEL) - 1, nl = strlen(name);
	int r;

	if (nl > CS_ACCT_NAME_MAX)
		return cs_error_set(CS_EINVAL, "account name too long");
	if ((r = secret_load(db, c)) < 0)
		return r;
	memcpy(msg, FAKE_SALT_LABEL, ll);
	memcpy(msg + ll, name, nl);
	cs_hmac_sha256(h, c->secret, sizeof(c->secret), msg, ll + nl);
	memcpy(salt, h, CS_ACCT_SALT_LEN);
	cs_wipe(h, sizeof(h));
	return CS_OK;
}

/* ---- failed logins ---- */

int cs__acct_fail(cs_store *db, int64_t *delay_ms, const char *name, int64_t now_ms)
{
	cs_stmt *q = NULL;
	int64_t failures = 1;
	int r;

	if ((r = cs_store_begin(db)) < 0)
		return r;
	if ((r = cs_store_prepare(&q, db,
		     "SELECT failures, last_ms FROM account_login_failures WHERE name = ?")) < 0)
		goto fail;
	cs_stmt_bind_text(q, 1, name);
	if ((r = cs_stmt_step(q)) == 1 && now_ms - cs_stmt_int64(q, 1) <= CS__ACCT_FAIL_FORGET_MS) {
		failures = cs_stmt_int64(q, 0) + 1;
		if (failures > FAILURES_CAP || failures < 1)
			failures = FAILURES_CAP;
	}
	cs_stmt_free(q);
	if (r < 0)
		goto fail;
	if ((r = cs__db_exec(db,
		     "INSERT INTO account_login_failures (name, failures, last_ms) VALUES (?, ?, ?) "
		     "ON CONFLICT (name) DO UPDATE SET failures = excluded.failures, "
		     "last_ms = excluded.last_ms",
		     CS__DB_ARGS(CS__DB_T(name), CS__DB_I(failures), CS__DB_I(now_ms)))) < 0 ||
	    (r = cs_store_commit(db)) < 0)
		goto fail;
	int64_t d = CS__ACCT_FAIL_FIRST_MS;
	for (int64_t k = 1; k < failures && d < CS__ACCT_FAIL_MAX_MS; k++)
		d *= 2;
	*delay_ms = d > CS__ACCT_FAIL_MAX_MS ? CS__ACCT_FAIL_MAX_MS : d;
	return CS_OK;
fail:
	cs_store_rollback(db);
	return r;
}

int cs__acct_fail_reset(cs_store *db, const char *name)
{
	return cs__db_exec(db, "DELETE FROM account_login_failures WHERE name = ?",
		CS__DB_ARGS(CS__DB_T(name)));
}

int cs__acct_fail_expire(cs_store *db, int64_t now_ms)
{
	return cs__db_exec(db, "DELETE FROM account_login_failures WHERE last_ms < ?",
		CS__DB_ARGS(CS__DB_I(now_ms - CS__ACCT_FAIL_FORGET_MS)));
}

/* ---- records ---- */

/* A deferred transaction: the reads after it see one snapshot (WAL) and
 * never block a writer. */
static int read_begin(cs_store *db)
{
	return cs_store_exec(db, "BEGIN");
}

static int read_end(cs_store *db)
{
	return cs_store_commit(db);
}

/* The collection's version counter (0 when it has none). */
static int collection_version(cs_store *db, int64_t *v, int64_t account, const char *collection)
{
	*v = 0;
	int r = cs__db_int64(db, v, "SELECT version FROM account_collections "
		"WHERE account = ? AND name = ?", CS__DB_ARGS(CS__DB_I(account), CS__DB_T(collection)));
	return r < 0 ? r : CS_OK;
}

/* Append {"id", "version", "deleted", "payload"} to arr. */
/* One record of an answer: the payload as base64, or (att non-NULL)
 * appended to the answer's attachments and named by offset and length. */
static int add_record(json_t *arr, cs_buf *att, const char *id, int64_t version, int deleted,
	const void *payload, size_t len)
{
	char *b64 = NULL;
	json_t *o;
	int r;
	o = json_pack("{s:s, s:I, s:b}", "id", id, "version", (json_int_t)version, "deleted", deleted);
	if (o == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (deleted) {
		json_object_set_new(o, "payload", json_null());
	} else if (att != NULL) {
		size_t at = cs_buf_len(att);
		if ((r = cs_buf_put(att, payload ? payload : "", len)) < 0) {
			json_decref(o);
			return r;
		}
		json_object_set_new(o, "payload_at", json_integer((json_int_t)at));
		json_object_set_new(o, "payload_len", json_integer((json_int_t)len));
	} else {
		if ((r = cs_base64_encode(&b64, payload ? payload : "", len)) < 0) {
			json_decref(o);
			return r;
		}
		json_object_set_new(o, "payload", json_stringn_nocheck(b64, strlen(b64)));
		free(b64);
	}
	if (json_array_append_new(arr, o) < 0)
		return cs_error_set(CS_ENOMEM, "out of memory");
	return CS_OK;
}

int cs__acct_changes(cs_store *db, json_t **out, uint64_t *bytes, int64_t account,
	const char *collection, int64_t since, int64_t limit, size_t max_bytes, cs_buf *att)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	int64_t latest = 0, count = 0;
	size_t total = 0;
	int more = 0, r;

	*out = NULL;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = read_begin(db)) < 0)
		goto done;
	if ((r = collection_version(db, &latest, account, collection)) < 0)
		goto rollback;
	/* one row beyond the limit tells whether there are more; the length
	 * column comes first so that a payload left out is never read */
	if ((r = cs_store_prepare(&q, db,
		     "SELECT id, version, deleted, length(payload), payload FROM account_records "
		     "WHERE account = ? AND collection = ? AND version > ? ORDER BY version LIMIT ?")) < 0)
		goto rollback;
	cs_stmt_bind_int64(q, 1, account);
	cs_stmt_bind_text(q, 2, collection);
	cs_stmt_bind_int64(q, 3, since);
	cs_stmt_bind_int64(q, 4, limit + 1);
	while ((r = cs_stmt_step(q)) == 1) {
		size_t len = (size_t)cs_stmt_int64(q, 3);
		int deleted = cs_stmt_int64(q, 2) != 0;
		if (count == limit || (count > 0 && total + len > max_bytes)) {
			more = 1;
			break;
		}
		const void *p = NULL;
		if (!deleted)
			p = cs_stmt_blob(q, 4, &len);
		if ((r = add_record(arr, att, cs_stmt_text(q, 0), cs_stmt_int64(q, 1), deleted, p,
			     deleted ? 0 : len)) < 0)
			goto rollback;
		total += deleted ? 0 : len;
		count++;
	}
	if (r < 0)
		goto rollback;
	cs_stmt_free(q);
	q = NULL;
	if ((r = read_end(db)) < 0)
		goto done;
	if ((*out = json_pack("{s:o, s:I, s:b}", "records", arr, "version", (json_int_t)latest,
		     "more", more)) == NULL) {
		arr = NULL;
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	arr = NULL;
	if (bytes)
		*bytes += total;
	r = CS_OK;
	goto done;
rollback:
	cs_stmt_free(q);
	q = NULL;
	cs_store_rollback(db);
done:
	json_decref(arr);
	return r;
}

int cs__acct_get_records(cs_store *db, json_t **out, uint64_t *bytes, int64_t account,
	const char *collection, const char *const *ids, size_t n, size_t max_bytes, cs_buf *att)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	size_t total = 0, count = 0;
	int more = 0, r;

	*out = NULL;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = read_begin(db)) < 0)
		goto done;
	if ((r = cs_store_prepare(&q, db,
		     "SELECT version, deleted, length(payload), payload FROM account_records "
		     "WHERE account = ? AND collection = ? AND id = ?")) < 0)
		goto rollback;
	for (size_t i = 0; i < n && !more; i++) {
		cs_stmt_reset(q);
		cs_stmt_bind_int64(q, 1, account);
		cs_stmt_bind_text(q, 2, collection);
		cs_stmt_bind_text(q, 3, ids[i]);
		if ((r = cs_stmt_step(q)) < 0)
			goto rollback;
		if (r == 0)
			continue;
		int deleted = cs_stmt_int64(q, 1) != 0;
		size_t len = deleted ? 0 : (size_t)cs_stmt_int64(q, 2);
		if (count > 0 && total + len > max_bytes) {
			more = 1;
			break;
		}
		const void *p = deleted ? NULL : cs_stmt_blob(q, 3, &len);
		if ((r = add_record(arr, att, ids[i], cs_stmt_int64(q, 0), deleted, p, len)) < 0)
			goto rollback;
		total += len;
		count++;
	}
	cs_stmt_free(q);
	q = NULL;
	if ((r = read_end(db)) < 0)
		goto done;
	if ((*out = json_pack("{s:o, s:b}", "records", arr, "more", more)) == NULL) {
		arr = NULL;
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	arr = NULL;
	if (bytes)
		*bytes += total;
	r = CS_OK;
	goto done;
rollback:
	cs_stmt_free(q);
	q = NULL;
	cs_store_rollback(db);
done:
	json_decref(arr);
	return r;
}

/* The precondition of rec against the stored record; on failure appends
 * {"id", "version"} to conflicts. q is the prepared lookup. */
static int check_precondition(cs_stmt *q, json_t *conflicts, int64_t account,
	const char *collection, const struct cs__acct_upload_rec *rec)
{
	cs_stmt_reset(q);
	cs_stmt_bind_int64(q, 1, account);
	cs_stmt_bind_text(q, 2, collection);
	cs_stmt_bind_text(q, 3, rec->id);
	int r = cs_stmt_step(q);
	if (r < 0)
		return r;
	int64_t cur = r == 1 ? cs_stmt_int64(q, 0) : 0;
	int live = r == 1 && cs_stmt_int64(q, 1) == 0;
	/* 0: must not exist, or be deleted; V: the current version is V */
	int ok = rec->if_version == 0 ? !live : (r == 1 && cur == rec->if_version);
	if (ok)
		return CS_OK;
	json_t *o = json_pack("{s:s, s:I}", "id", rec->id, "version", (json_int_t)cur);
	if (o == NULL || json_array_append_new(conflicts, o) < 0)
		return cs_error_set(CS_ENOMEM, "out of memory");
	return CS_OK;
}

int cs__acct_upload(cs_store *db, json_t **out, int64_t account, const char *collection,
	const struct cs__acct_upload_rec *recs, size_t n)
{
	cs_stmt *q = NULL;
	json_t *conflicts = json_array(), *versions = json_array();
	int64_t latest = 0;
	int r;

	*out = NULL;
	if (conflicts == NULL || versions == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* IMMEDIATE: the write lock is held from the first read, so no other
	 * hub process can change a version between its check and the write */
	if ((r = cs_store_begin(db)) < 0)
		goto done;
	if ((r = collection_version(db, &latest, account, collection)) < 0)
		goto rollback;
	if ((r = cs_store_prepare(&q, db, "SELECT version, deleted FROM account_records "
		     "WHERE account = ? AND collection = ? AND id = ?")) < 0)
		goto rollback;
	for (size_t i = 0; i < n; i++)
		if (recs[i].if_version >= 0 &&
		    (r = check_precondition(q, conflicts, account, collection, &recs[i])) < 0)
			goto rollback;
	cs_stmt_free(q);
	q = NULL;
	if (json_array_size(conflicts) > 0) {
		cs_store_rollback(db);
		if ((*out = json_pack("{s:O, s:I}", "conflicts", conflicts, "version",
			     (json_int_t)latest)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		r = cs_error_set(CS_ECONFLICT, "%zu precondition(s) failed",
			json_array_size(conflicts));
		goto done;
	}
	if (n > 0) {
		if (latest > CS__HUB_ACCT_VERSION_MAX - (int64_t)n) {
			r = cs_error_set(CS_ELIMIT, "collection %s has run out of versions", collection);
			goto rollback;
		}
		/* the counter first: records refer to their collection */
		if ((r = cs__db_exec(db,
			     "INSERT INTO account_collections (account, name, version) VALUES (?, ?, ?) "
			     "ON CONFLICT (account, name) DO UPDATE SET version = excluded.version",
			     CS__DB_ARGS(CS__DB_I(account), CS__DB_T(collection),
				     CS__DB_I(latest + (int64_t)n)))) < 0 ||
		    (r = cs_store_prepare(&q, db,
			     "INSERT INTO account_records (account, collection, id, version, deleted, "
			     "payload) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, collection, id) "
			     "DO UPDATE SET version = excluded.version, deleted = excluded.deleted, "
			     "payload = excluded.payload")) < 0)
			goto write_failed;
		for (size_t i = 0; i < n; i++) {
			int64_t v = latest + 1 + (int64_t)i;
			cs_stmt_reset(q);
			cs_stmt_bind_int64(q, 1, account);
			cs_stmt_bind_text(q, 2, collection);
			cs_stmt_bind_text(q, 3, recs[i].id);
			cs_stmt_bind_int64(q, 4, v);
			cs_stmt_bind_int64(q, 5, recs[i].deleted ? 1 : 0);
			if (recs[i].deleted)
				cs_stmt_bind_null(q, 6);
			else
				cs_stmt_bind_blob(q, 6, recs[i].payload, recs[i].len);
			if ((r = cs_stmt_step(q)) < 0)
				goto write_failed;
			if (json_array_append_new(versions, json_integer((json_int_t)v)) < 0) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				goto rollback;
			}
		}
		cs_stmt_free(q);
		q = NULL;
		latest += (int64_t)n;
	}
	if ((r = cs_store_commit(db)) < 0)
		goto rollback;
	if ((*out = json_pack("{s:O, s:I}", "versions", versions, "version", (json_int_t)latest)) ==
	    NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	r = CS_OK;
	goto done;
write_failed:
	/* a constraint here is not a precondition: the account row is gone */
	if (r == CS_ECONFLICT)
		r = cs_error_set(CS_EDB, "cannot write records: %s", cs_error_last());
rollback:
	cs_stmt_free(q);
	q = NULL;
	cs_store_rollback(db);
done:
	json_decref(conflicts);
	json_decref(versions);
	return r;
}

/* ---- the public functions (include/certsync/hub.h) ---- */

/* The database of the hub at data_dir, schema up to date. Only the
 * database: hub processes may be serving it (WAL). */
static int open_db(cs_store **out, const char *data_dir)
{
	char *conf = cs_path_join(data_dir, "hub.json");
	char *path = cs_path_join(data_dir, "hub.db");
	cs_store *db = NULL;
	int r;

	if (conf == NULL || path == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!cs_fs_exists(conf)) {
		r = cs_error_set(CS_ENOTFOUND, "%s holds no hub (run 'certsync hub init')", data_dir);
		goto done;
	}
	if ((r = cs_store_open(&db, path)) < 0 ||
	    (r = cs_store_migrate(db, cs__hub_schema, cs__hub_schema_count)) < 0)
		goto done;
	*out = db;
	db = NULL;
done:
	cs_store_close(db);
	free(conf);
	free(path);
	return r;
}

int cs_hub_account_add(const char *data_dir, const char *name, const char *password,
	uint32_t t_cost, uint32_t m_kib)
{
	cs_acct_kdf kdf = {.t_cost = t_cost ? t_cost : CS_ACCT_KDF_T_DEFAULT,
		.m_kib = m_kib ? m_kib : CS_ACCT_KDF_M_DEFAULT};
	uint8_t sp[CS_ACCT_KEY_LEN], stored[CS_ACCT_KEY_LEN], server[CS_ACCT_KEY_LEN];
	struct cs__account a;
	cs_store *db = NULL;
	int r;

	/* everything that can be refused is, before argon2id spends its time */
	if (!cs_acct_name_valid(name))
		return cs_error_set(CS_EINVAL, "an account name is 1..%d of a-z A-Z 0-9 . _ @ -",
			CS_ACCT_NAME_MAX);
	if (!kdf_ok(&kdf))
		return cs_error_set(CS_EINVAL, "argon2id cost t=%u m=%u KiB is out of range "
			"(t 1..%d, m 8..%u KiB)", kdf.t_cost, kdf.m_kib, CS_ACCT_KDF_T_MAX,
			CS_ACCT_KDF_M_MAX);
	if ((r = cs__console_password_ok(password)) < 0)
		return r;
	if ((r = open_db(&db, data_dir)) < 0)
		return r;
	if ((r = cs__acct_get(db, &a, name)) == 0) {
		cs__acct_clear(&a);
		r = cs_error_set(CS_EEXISTS, "account %s exists already", name);
		goto done;
	}
	if (r != CS_ENOTFOUND)
		goto done;
	if ((r = cs_random(kdf.salt, sizeof(kdf.salt))) < 0 ||
	    (r = cs_acct_salted_password(sp, password, &kdf)) < 0)
		goto done;
	cs_acct_verifier(stored, server, sp);
	/* a concurrent add of the same name loses on the UNIQUE constraint */
	r = cs__acct_add(db, name, &kdf, stored, server);
done:
	cs_wipe(sp, sizeof(sp));
	cs_wipe(stored, sizeof(stored));
	cs_wipe(server, sizeof(server));
	cs_wipe(&kdf, sizeof(kdf));
	cs_store_close(db);
	return r;
}

int cs_hub_account_list(const char *data_dir,
	int (*fn)(void *ud, const struct cs_hub_account_info *info), void *ud)
{
	cs_store *db = NULL;
	int r = open_db(&db, data_dir);
	if (r < 0)
		return r;
	r = cs__acct_list(db, fn, ud);
	cs_store_close(db);
	return r;
}

int cs_hub_account_set_disabled(const char *data_dir, const char *name, int disabled)
{
	cs_store *db = NULL;
	int r = open_db(&db, data_dir);
	if (r < 0)
		return r;
	r = cs__acct_set_disabled(db, name, disabled);
	cs_store_close(db);
	return r;
}

int cs_hub_wallet_credit(const char *data_dir, const char *account, int64_t amount, int64_t *balance)
{
	cs_store *db = NULL;
	int64_t b = 0;
	int r = open_db(&db, data_dir);
	if (r < 0)
		return r;
	r = cs__wallet_credit(db, account, amount, &b);
	if (r == 0 && balance != NULL)
		*balance = b;
	cs_store_close(db);
	return r;
}

int cs_hub_wallet_report(char **json_text, const char *data_dir)
{
	cs_store *db = NULL;
	json_t *j = NULL;
	int r = open_db(&db, data_dir);
	if (r < 0)
		return r;
	if ((r = cs__wallet_report(&j, db)) == 0 &&
	    (*json_text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	json_decref(j);
	cs_store_close(db);
	return r;
}
