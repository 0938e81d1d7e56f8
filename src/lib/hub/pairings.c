/*
 * One-time pairings of backup terminals (PROTOCOL.md §12.1). A terminal
 * logged in to an account registers the fingerprint of its certificate and
 * the hash of a one-time secret; the device that scans the terminal's code
 * claims the pairing with the secret, once, before it expires, from the
 * same account. Rows are kept after use (claimed_by, claimed_at) so that a
 * second claim is told "used", not "unknown"; expired rows go after a day.
 */
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"

#define KEEP_AFTER_EXPIRY_S 86400

int cs__pairing_create(cs_store *db, char id[CS__HUB_PAIRING_ID_LEN + 1], int64_t *expires,
	int64_t account, const char *terminal, const struct cs__pairing_create_body *b)
{
	uint8_t raw[CS__HUB_PAIRING_ID_LEN / 2];
	char fp[65];
	int64_t now = cs_clock_now();
	cs_stmt *q = NULL;
	int r;

	if ((r = cs_random(raw, sizeof(raw))) < 0)
		return r;
	cs_hex_encode(id, raw, sizeof(raw));
	cs_hex_encode(fp, b->fingerprint, sizeof(b->fingerprint));
	*expires = now + b->ttl;
	(void)cs__db_exec(db, "DELETE FROM account_pairings WHERE expires < ?",
		CS__DB_ARGS(CS__DB_I(now - KEEP_AFTER_EXPIRY_S)));
	if ((r = cs_store_prepare(&q, db,
		     "INSERT INTO account_pairings (id, account, terminal, fingerprint, secret_hash, "
		     "created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)")) < 0)
		return r;
	cs_stmt_bind_text(q, 1, id);
	cs_stmt_bind_int64(q, 2, account);
	cs_stmt_bind_text(q, 3, terminal);
	cs_stmt_bind_text(q, 4, fp);
	cs_stmt_bind_blob(q, 5, b->secret_hash, sizeof(b->secret_hash));
	cs_stmt_bind_int64(q, 6, now);
	cs_stmt_bind_int64(q, 7, *expires);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

int cs__pairing_claim(cs_store *db, struct cs__pairing *out, int64_t account, const char *phone,
	const struct cs__pairing_claim_body *b)
{
	uint8_t h[32];
	int64_t now = cs_clock_now();
	cs_stmt *q = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs_store_begin(db)) < 0)
		return r;
	if ((r = cs_store_prepare(&q, db,
		     "SELECT account, terminal, fingerprint, secret_hash, expires, claimed_by "
		     "FROM account_pairings WHERE id = ?")) < 0)
		goto fail;
	cs_stmt_bind_text(q, 1, b->pairing);
	if ((r = cs_stmt_step(q)) < 0)
		goto fail;
	if (r == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no such pairing (the code is wrong or was replaced)");
		goto fail;
	}
	size_t hl = 0;
	const void *hash = cs_stmt_blob(q, 3, &hl);
	const char *terminal = cs_stmt_text(q, 1), *fp = cs_stmt_text(q, 2);
	cs_sha256(h, b->secret, sizeof(b->secret));
	if (cs_stmt_int64(q, 0) != account) {
		r = cs_error_set(CS_EDENIED, "the pairing belongs to another account");
	} else if (cs_stmt_int64(q, 4) < now) {
		r = cs_error_set(CS_EEXPIRED, "the pairing expired; show a new code on the terminal");
	} else if (!cs_stmt_is_null(q, 5)) {
		r = cs_error_set(CS_ESTATE, "the pairing was used already; show a new code on the terminal");
	} else if (hash == NULL || hl != sizeof(h) || !cs_memeq(h, hash, sizeof(h))) {
		r = cs_error_set(CS_EAUTH, "wrong pairing secret");
	} else if (terminal == NULL || fp == NULL || strlen(terminal) >= sizeof(out->terminal) ||
		   strlen(fp) != 64) {
		r = cs_error_set(CS_EDB, "pairing row is damaged");
	} else {
		memcpy(out->terminal, terminal, strlen(terminal) + 1);
		memcpy(out->fingerprint, fp, 65);
		out->expires = cs_stmt_int64(q, 4);
		r = CS_OK;
	}
	cs_stmt_free(q);
	q = NULL;
	if (r < 0)
		goto fail;
	if ((r = cs__db_exec(db, "UPDATE account_pairings SET claimed_by = ?, claimed_at = ? WHERE id = ?",
		     CS__DB_ARGS(CS__DB_T(phone), CS__DB_I(now), CS__DB_T(b->pairing)))) < 0 ||
	    (r = cs_store_commit(db)) < 0)
		goto fail;
	return CS_OK;
fail:
	cs_stmt_free(q);
	cs_store_rollback(db);
	return r;
}
