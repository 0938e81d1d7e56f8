/*
 * The device's wallet: DATA/wallet.db, what it holds and what it did
 * (PROTOCOL.md §13.7). The transfer (transfer.c) and the hub calls
 * (online.c) change it; everything here reads it or sets it up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/secure.h>
#include "lib/wallet/wallet_internal.h"

static const char *const schema[] = {
	/* 1 */
	"CREATE TABLE wallet ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  account TEXT NOT NULL DEFAULT '',"
	"  counter INTEGER NOT NULL DEFAULT 0,"        /* transfers paid, ever */
	"  since_sync INTEGER NOT NULL DEFAULT 0,"     /* transfers paid since the last sync */
	"  hub_max_amount INTEGER NOT NULL DEFAULT 0," /* the hub's limits; 0 before a load */
	"  hub_max_transfers INTEGER NOT NULL DEFAULT 0,"
	"  max_amount INTEGER NOT NULL DEFAULT 0,"     /* the wallet's own; 0: the hub's */
	"  max_transfers INTEGER NOT NULL DEFAULT 0,"
	"  ca BLOB, cert BLOB,"                        /* DER */
	"  last_sync INTEGER NOT NULL DEFAULT 0,"
	"  pending_load TEXT, pending_amount INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO wallet (id) VALUES (1);"
	/* branches held: the balance is their sum */
	"CREATE TABLE coins (state BLOB PRIMARY KEY, value INTEGER NOT NULL, coin BLOB NOT NULL,"
	"  added INTEGER NOT NULL,"
	"  links INTEGER NOT NULL DEFAULT 0,"    /* at CS__WL_LINKS_MAX it cannot be paid on */
	"  renewing INTEGER NOT NULL DEFAULT 0);" /* given to itself, the hub's new voucher awaited */
	/* the payee's coin of every transfer paid, until a sync has uploaded it */
	"CREATE TABLE outbox (id INTEGER PRIMARY KEY, coin BLOB NOT NULL);"
	"CREATE TABLE certs (device TEXT PRIMARY KEY, cert BLOB NOT NULL);"
	/* digests of every message handled: a replay is refused */
	"CREATE TABLE seen (digest BLOB PRIMARY KEY, time INTEGER NOT NULL);"
	"CREATE TABLE history (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '', peer_name TEXT NOT NULL DEFAULT '', amount INTEGER NOT NULL,"
	"  counter INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL DEFAULT '');"
	/* the transfer in progress on each side (PROTOCOL.md §13.3) */
	"CREATE TABLE payer (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL,"
	"  amount INTEGER NOT NULL DEFAULT 0, d_init BLOB, d_answer BLOB, random BLOB,"
	"  d_execute BLOB, d_exec_answer BLOB, key BLOB, peer TEXT, peer_name TEXT, history INTEGER);"
	"INSERT INTO payer (id, state) VALUES (1, 'idle');"
	"CREATE TABLE receiver (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL,"
	"  amount INTEGER NOT NULL DEFAULT 0, d_init BLOB, d_answer BLOB, d_execute BLOB,"
	"  d_exec_answer BLOB, d_last BLOB, random_payer BLOB, random BLOB, factor BLOB,"
	"  peer TEXT, peer_name TEXT, peer_cert BLOB, key BLOB, last_msg BLOB, history INTEGER);"
	"INSERT INTO receiver (id, state) VALUES (1, 'idle');"
	/* every branch ever held: a branch enters a wallet once, so a repeated
	 * load answer or a late execute answer cannot add value again */
	"CREATE TABLE held_ever (state BLOB PRIMARY KEY);",
};

static const char *const refusal_names[CS_WR_COUNT] = {
	"", "malformed", "altered", "wrong_order", "wrong_state", "unknown_transfer", "replayed",
	"signature_invalid", "cert_unknown", "cert_expired", "balance_insufficient", "voucher_value",
	"mac_invalid", "limit_amount", "limit_count", "self", "peer_refused",
};

const char *cs_wallet_refusal_name(int refusal)
{
	return refusal >= 0 && refusal < CS_WR_COUNT ? refusal_names[refusal] : "unknown";
}

/* The device's name from device.json, when it has one. */
static void read_name(cs_wallet *w)
{
	char *path = cs_path_join(w->dir, "device.json");
	json_t *j = path ? json_load_file(path, JSON_REJECT_DUPLICATES, NULL) : NULL;
	const char *n = json_string_value(json_object_get(j, "name"));
	snprintf(w->name, sizeof(w->name), "%s", n ? n : "");
	json_decref(j);
	free(path);
}

int cs_wallet_open(cs_wallet **out, const char *data_dir)
{
	cs_wallet *w = calloc(1, sizeof(*w));
	char *keypath = NULL, *dbpath = NULL;
	int r;

	if (w == NULL || (w->dir = strdup(data_dir)) == NULL ||
	    (keypath = cs_path_join(data_dir, "device.key")) == NULL ||
	    (dbpath = cs_path_join(data_dir, "wallet.db")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if (!cs_fs_exists(keypath)) {
		r = cs_error_set(CS_ENOTFOUND, "%s: no device here; run 'certsync device init'", data_dir);
		goto fail;
	}
	if ((r = cs_key_load(&w->key, keypath, NULL)) < 0 || (r = cs_key_device_id(w->device, w->key)) < 0 ||
	    (r = cs_store_open(&w->db, dbpath)) < 0 ||
	    (r = cs_store_migrate(w->db, schema, sizeof(schema) / sizeof(schema[0]))) < 0 ||
	    (r = cs__wl_load_row(w)) < 0)
		goto fail;
	read_name(w);
	*out = w;
	free(keypath);
	free(dbpath);
	return CS_OK;
fail:
	free(keypath);
	free(dbpath);
	cs_wallet_close(w);
	return r;
}

void cs_wallet_close(cs_wallet *w)
{
	if (w == NULL)
		return;
	cs_store_close(w->db);
	cs_key_free(w->key);
	cs_cert_free(w->ca);
	cs_cert_free(w->cert);
	free(w->cert_der);
	for (size_t i = 0; i < w->ncerts; i++)
		cs_cert_free(w->certs[i].cert);
	free(w->certs);
	free(w->dir);
	free(w);
}

int cs__wl_load_row(cs_wallet *w)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT counter, since_sync, hub_max_amount, hub_max_transfers, "
		"max_amount, max_transfers, ca, cert FROM wallet WHERE id = 1", "");
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_EDB, "wallet.db has no wallet row");
	uint64_t hub_amount = (uint64_t)cs_stmt_int64(q, 2), hub_count = (uint64_t)cs_stmt_int64(q, 3);
	uint64_t own_amount = (uint64_t)cs_stmt_int64(q, 4), own_count = (uint64_t)cs_stmt_int64(q, 5);
	w->counter = (uint64_t)cs_stmt_int64(q, 0);
	w->since_sync = (uint64_t)cs_stmt_int64(q, 1);
	if (hub_amount == 0)
		hub_amount = CS__WL_DEFAULT_MAX_AMOUNT;
	if (hub_count == 0)
		hub_count = CS__WL_DEFAULT_MAX_TRANSFERS;
	w->max_amount = own_amount && own_amount < hub_amount ? own_amount : hub_amount;
	w->max_transfers = own_count && own_count < hub_count ? own_count : hub_count;
	cs_cert_free(w->ca);
	cs_cert_free(w->cert);
	free(w->cert_der);
	w->ca = w->cert = NULL;
	w->cert_der = NULL;
	w->cert_der_len = 0;
	size_t n;
	const void *p = cs_stmt_blob(q, 6, &n);
	if (p != NULL && n && (r = cs_cert_from_der(&w->ca, p, n)) < 0)
		goto done;
	p = cs_stmt_blob(q, 7, &n);
	if (p != NULL && n) {
		if ((r = cs_cert_from_der(&w->cert, p, n)) < 0)
			goto done;
		if ((w->cert_der = malloc(n)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		memcpy(w->cert_der, p, n);
		w->cert_der_len = n;
	}
	r = CS_OK;
done:
	cs_stmt_free(q);
	return r;
}

int cs__wl_spendable(cs_wallet *w, uint64_t *balance)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT COALESCE(SUM(value), 0) FROM coins WHERE renewing = 0 AND "
		"links <= ?", "i", (int64_t)CS__WL_LINKS_MAX - 2);
	if (r < 0)
		return r;
	*balance = (uint64_t)cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return CS_OK;
}

int cs__wl_balance(cs_wallet *w, uint64_t *balance, uint64_t *count)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT COALESCE(SUM(value), 0), COUNT(*) FROM coins", "");
	if (r < 0)
		return r;
	*balance = (uint64_t)cs_stmt_int64(q, 0);
	if (count != NULL)
		*count = (uint64_t)cs_stmt_int64(q, 1);
	cs_stmt_free(q);
	return CS_OK;
}

const cs_cert *cs__wl_cert_lookup(void *ud, const char *device)
{
	cs_wallet *w = ud;
	cs_stmt *q = NULL;
	cs_cert *c = NULL;

	if (strcmp(device, w->device) == 0)
		return w->cert;
	for (size_t i = 0; i < w->ncerts; i++)
		if (strcmp(w->certs[i].device, device) == 0)
			return w->certs[i].cert;
	if (cs_store_run(&q, w->db, "SELECT cert FROM certs WHERE device = ?", "t", device) != 1)
		return NULL;
	size_t n;
	const void *p = cs_stmt_blob(q, 0, &n);
	int r = p ? cs_cert_from_der(&c, p, n) : CS_ENOTFOUND;
	cs_stmt_free(q);
	if (r < 0)
		return NULL;
	struct cs__wl_cached *m = realloc(w->certs, (w->ncerts + 1) * sizeof(*m));
	if (m == NULL) {
		cs_cert_free(c);
		return NULL;
	}
	w->certs = m;
	snprintf(m[w->ncerts].device, sizeof(m[w->ncerts].device), "%s", device);
	m[w->ncerts++].cert = c;
	return c;
}

/* Issued by the wallet's hub CA to the device it names (the chain, checked
 * at a moment inside the certificate's validity). */
static int w_ca_verify(cs_wallet *w, const cs_cert *c)
{
	if (w->ca == NULL)
		return cs_error_set(CS_ESTATE, "this wallet has no hub CA yet");
	return cs_cert_verify(c, w->ca, NULL, cs_cert_not_before(c) + 1);
}

int cs__wl_cert_store(cs_wallet *w, const char *device, const uint8_t *der, size_t len)
{
	if (strcmp(device, w->device) == 0)
		return CS_OK;
	int r = cs_store_run(NULL, w->db, "INSERT OR REPLACE INTO certs (device, cert) VALUES (?, ?)",
		"tb", device, (const void *)der, len);
	return r < 0 ? r : CS_OK;
}

int cs__wl_carried_add(struct cs__wl_carried *cc, const uint8_t *der, size_t len)
{
	cs_cert *c = NULL;
	char id[CS_DEVICE_ID_SIZE];
	if (cs_cert_from_der(&c, der, len) < 0 || cs_cert_san_device_id(id, c) < 0) {
		cs_cert_free(c);
		return cs_error_set(CS_EMALFORMED, "a certificate that does not parse or names no device");
	}
	/* the chain, not the time: see cs__wl_coin_verify */
	if (w_ca_verify(cc->w, c) < 0) {
		cs_cert_free(c);
		return cs_error_set(CS_EAUTH, "the certificate of %s is not issued by this wallet's hub", id);
	}
	if (cc->n == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 8;
		cs_cert **nc = realloc(cc->c, cap * sizeof(*nc));
		if (nc != NULL)
			cc->c = nc;
		char (*ni)[CS_DEVICE_ID_SIZE] = nc ? realloc(cc->id, cap * sizeof(*ni)) : NULL;
		if (ni != NULL)
			cc->id = ni;
		uint8_t **nd = ni ? realloc(cc->der, cap * sizeof(*nd)) : NULL;
		if (nd != NULL)
			cc->der = nd;
		size_t *nl = nd ? realloc(cc->der_len, cap * sizeof(*nl)) : NULL;
		if (nl == NULL) {
			cs_cert_free(c);
			return cs_error_set(CS_ENOMEM, "out of memory");
		}
		cc->der_len = nl;
		cc->cap = cap;
	}
	if ((cc->der[cc->n] = malloc(len)) == NULL) {
		cs_cert_free(c);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(cc->der[cc->n], der, len);
	cc->der_len[cc->n] = len;
	cc->c[cc->n] = c;
	memcpy(cc->id[cc->n], id, CS_DEVICE_ID_SIZE);
	cc->n++;
	return CS_OK;
}

const cs_cert *cs__wl_carried_lookup(void *ud, const char *device)
{
	struct cs__wl_carried *cc = ud;
	for (size_t i = 0; i < cc->n; i++)
		if (strcmp(cc->id[i], device) == 0)
			return cc->c[i];
	return cs__wl_cert_lookup(cc->w, device);
}

int cs__wl_carried_keep(struct cs__wl_carried *cc)
{
	int r = CS_OK;
	for (size_t i = 0; i < cc->n && r == 0; i++)
		r = cs__wl_cert_store(cc->w, cc->id[i], cc->der[i], cc->der_len[i]);
	return r;
}

void cs__wl_carried_clear(struct cs__wl_carried *cc)
{
	for (size_t i = 0; i < cc->n; i++) {
		cs_cert_free(cc->c[i]);
		free(cc->der[i]);
	}
	free(cc->c);
	free(cc->id);
	free(cc->der);
	free(cc->der_len);
	memset(cc, 0, sizeof(*cc));
}

int cs__wl_seen(cs_wallet *w, const uint8_t digest[CS__WL_ID_LEN])
{
	return cs_store_run(NULL, w->db, "SELECT 1 FROM seen WHERE digest = ?", "b",
		(const void *)digest, (size_t)CS__WL_ID_LEN);
}

int cs__wl_seen_add(cs_wallet *w, const uint8_t digest[CS__WL_ID_LEN])
{
	int r = cs_store_run(NULL, w->db, "INSERT OR IGNORE INTO seen (digest, time) VALUES (?, ?)", "bi",
		(const void *)digest, (size_t)CS__WL_ID_LEN, cs_clock_now());
	return r < 0 ? r : CS_OK;
}

int cs__wl_history_add(cs_wallet *w, int64_t *id, const char *kind, const char *peer,
	const char *peer_name, uint64_t amount, uint64_t counter, const char *state)
{
	int r = cs_store_run(NULL, w->db, "INSERT INTO history (time, kind, peer, peer_name, amount, "
		"counter, state) VALUES (?, ?, ?, ?, ?, ?, ?)", "itttiit", cs_clock_now(), kind, peer,
		peer_name, (int64_t)amount, (int64_t)counter, state);
	if (r < 0)
		return r;
	if (id != NULL)
		*id = cs_store_last_id(w->db);
	return CS_OK;
}

int cs__wl_set_identity(cs_wallet *w, const uint8_t *ca, size_t ca_len, const uint8_t *cert,
	size_t cert_len, const char *account, uint64_t max_amount, uint64_t max_transfers)
{
	int r;
	if (cert != NULL && (r = cs_store_run(NULL, w->db, "UPDATE wallet SET cert = ? WHERE id = 1", "b",
		     (const void *)cert, cert_len)) < 0)
		return r;
	if ((r = cs_store_run(NULL, w->db, "UPDATE wallet SET ca = ?, hub_max_amount = ?, hub_max_transfers = ?, "
		     "account = ? WHERE id = 1", "biit", (const void *)ca, ca_len, (int64_t)max_amount,
		     (int64_t)max_transfers, account ? account : "")) < 0)
		return r;
	return cs__wl_load_row(w);
}

int cs__wl_coin_store(cs_wallet *w, const struct cs__wl_coin *c)
{
	cs_buf *b = NULL;
	/* first the record of every branch ever held: one that was here
	 * before is refused before anything is written */
	int r = cs_store_run(NULL, w->db, "INSERT INTO held_ever (state) VALUES (?)", "b",
		(const void *)c->state, (size_t)CS__WL_ID_LEN);
	if (r == CS_ECONFLICT)
		return cs_error_set(CS_EEXISTS, "this voucher was held here before");
	if (r < 0)
		return r;
	if ((b = cs_buf_new(CS__WL_COIN_MAX)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs__wl_coin_encode(b, c)) == 0)
		r = cs_store_run(NULL, w->db, "INSERT INTO coins (state, value, coin, added, links, renewing) "
			"VALUES (?, ?, ?, ?, ?, ?)", "bibiii", (const void *)c->state, (size_t)CS__WL_ID_LEN,
			(int64_t)c->value, (const void *)cs_buf_ptr(b), cs_buf_len(b), cs_clock_now(), (int64_t)c->n,
			(int64_t)cs__wl_coin_renewing(c));
	cs_buf_free(b);
	if (r == CS_ECONFLICT)
		return cs_error_set(CS_EEXISTS, "this voucher is held already");
	return r < 0 ? r : CS_OK;
}

static const char *row_state(cs_wallet *w, const char *table, char *buf, size_t n)
{
	cs_stmt *q = NULL;
	char sql[64];
	snprintf(sql, sizeof(sql), "SELECT state FROM %s WHERE id = 1", table);
	snprintf(buf, n, "?");
	if (cs_store_run(&q, w->db, sql, "") == 1) {
		const char *s = cs_stmt_text(q, 0);
		snprintf(buf, n, "%s", s ? s : "?");
	}
	cs_stmt_free(q);
	return buf;
}

int cs_wallet_info_get(cs_wallet_info *info, cs_wallet *w)
{
	char payer[32], receiver[32];
	static const char *const payer_states[] = {"idle", "initiated", "executed"};
	static const char *const receiver_states[] = {"idle", "init-sent", "execute-sent",
		"complete-sent"};
	cs_stmt *q = NULL;
	int r;

	memset(info, 0, sizeof(*info));
	if ((r = cs__wl_load_row(w)) < 0 || (r = cs__wl_balance(w, &info->balance, &info->vouchers)) < 0)
		return r;
	memcpy(info->device, w->device, sizeof(info->device));
	info->counter = w->counter;
	info->since_sync = w->since_sync;
	info->max_amount = w->max_amount;
	info->max_transfers = w->max_transfers;
	info->cert_expires = w->cert ? cs_cert_not_after(w->cert) : 0;
	if ((r = cs_store_run(&q, w->db, "SELECT account, last_sync FROM wallet WHERE id = 1", "")) == 1) {
		snprintf(info->account, sizeof(info->account), "%s", cs_stmt_text(q, 0) ? cs_stmt_text(q, 0) : "");
		info->last_sync = cs_stmt_int64(q, 1);
	}
	cs_stmt_free(q);
	q = NULL;
	if ((r = cs_store_run(&q, w->db, "SELECT COUNT(*) FROM history WHERE (kind = 'paid' AND state = "
		"'executed') OR (kind = 'received' AND state = 'received')", "")) == 1)
		info->unsettled = (uint64_t)cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	/* map the stored text onto constant strings so the caller may keep them */
	row_state(w, "payer", payer, sizeof(payer));
	row_state(w, "receiver", receiver, sizeof(receiver));
	info->payer_state = "?";
	info->receiver_state = "?";
	for (size_t i = 0; i < 3; i++)
		if (strcmp(payer, payer_states[i]) == 0)
			info->payer_state = payer_states[i];
	for (size_t i = 0; i < 4; i++)
		if (strcmp(receiver, receiver_states[i]) == 0)
			info->receiver_state = receiver_states[i];
	return r < 0 ? r : CS_OK;
}

int cs_wallet_limits_set(cs_wallet *w, uint64_t max_amount, uint64_t max_transfers)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT hub_max_amount, hub_max_transfers FROM wallet WHERE id = 1", "");
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_EDB, "wallet.db has no wallet row");
	uint64_t hub_amount = (uint64_t)cs_stmt_int64(q, 0), hub_count = (uint64_t)cs_stmt_int64(q, 1);
	cs_stmt_free(q);
	if (hub_amount == 0)
		hub_amount = CS__WL_DEFAULT_MAX_AMOUNT;
	if (hub_count == 0)
		hub_count = CS__WL_DEFAULT_MAX_TRANSFERS;
	if (max_amount > hub_amount || max_transfers > hub_count)
		return cs_error_set(CS_EINVAL, "the hub allows at most %llu per transfer and %llu transfers "
			"between syncs", (unsigned long long)hub_amount, (unsigned long long)hub_count);
	if (max_amount && (r = cs_store_run(NULL, w->db, "UPDATE wallet SET max_amount = ? WHERE id = 1", "i",
		(int64_t)max_amount)) < 0)
		return r;
	if (max_transfers && (r = cs_store_run(NULL, w->db, "UPDATE wallet SET max_transfers = ? WHERE id = 1",
		"i", (int64_t)max_transfers)) < 0)
		return r;
	return cs__wl_load_row(w);
}

int cs_wallet_history(cs_wallet *w, int (*fn)(void *ud, const cs_wallet_entry *e), void *ud)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, w->db, "SELECT id, time, kind, peer, peer_name, amount, counter, state "
		"FROM history ORDER BY id");
	if (r < 0)
		return r;
	while ((r = cs_stmt_step(q)) == 1) {
		cs_wallet_entry e = {
			.id = cs_stmt_int64(q, 0), .time = cs_stmt_int64(q, 1), .kind = cs_stmt_text(q, 2),
			.peer = cs_stmt_text(q, 3), .peer_name = cs_stmt_text(q, 4),
			.amount = (uint64_t)cs_stmt_int64(q, 5), .counter = (uint64_t)cs_stmt_int64(q, 6),
			.state = cs_stmt_text(q, 7),
		};
		if (fn(ud, &e) != 0)
			break;
	}
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}
