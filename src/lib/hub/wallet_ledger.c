/*
 * The hub's side of offline transfer (PROTOCOL.md §13.8): the accounts'
 * online balances, vouchers issued against them, and the ledger of every
 * voucher and link any wallet has uploaded.
 *
 * The ledger is a tree per voucher. Each element (voucher or link) opens
 * branches (the voucher: one, to its owner; a link: one to the payee and,
 * when there is change, one back to the payer); each link spends one
 * branch. A branch spent by two different links is a double spend: both
 * links carry the payer's signature, which is the proof. The hub honours
 * both (their payees did nothing wrong) and charges the branch's value to
 * the payer's account, so the sum of online balances and of the values of
 * all unspent branches always equals what was credited.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "hub/hub_internal.h"
#include "lib/wallet/local.h"

#define B(p, n) (const void *)(p), (size_t)(n)

/* ---- reading certificates the hub issued ---- */

/* The certificates of the payers a sync names, read once each (as many as
 * the coins name: a shop's wallet is paid by many devices). */
struct issued_certs {
	cs_store *db;
	struct issued { char device[CS_DEVICE_ID_SIZE]; cs_cert *cert; } *c;
	size_t n;
};

static const cs_cert *issued_lookup(void *ud, const char *device)
{
	struct issued_certs *ic = ud;
	cs_stmt *q = NULL;
	cs_cert *c = NULL;
	for (size_t i = 0; i < ic->n; i++)
		if (strcmp(ic->c[i].device, device) == 0)
			return ic->c[i].cert;
	struct issued *grown = realloc(ic->c, (ic->n + 1) * sizeof(*grown));
	if (grown == NULL)
		return NULL;
	ic->c = grown;
	if (cs_store_run(&q, ic->db, "SELECT cert FROM wallet_devices WHERE device = ?", "t", device) != 1)
		return NULL;
	size_t len;
	const void *p = cs_stmt_blob(q, 0, &len);
	int r = p ? cs_cert_from_der(&c, p, len) : CS_ENOTFOUND;
	cs_stmt_free(q);
	if (r < 0)
		return NULL;
	snprintf(ic->c[ic->n].device, CS_DEVICE_ID_SIZE, "%s", device);
	ic->c[ic->n++].cert = c;
	return c;
}

static void issued_clear(struct issued_certs *ic)
{
	for (size_t i = 0; i < ic->n; i++)
		cs_cert_free(ic->c[i].cert);
	free(ic->c);
	ic->c = NULL;
	ic->n = 0;
}

/* ---- small helpers ---- */

static int b64(json_t *arr, const void *p, size_t n)
{
	char *t = NULL;
	int r = cs_base64_encode(&t, p, n);
	if (r < 0)
		return r;
	r = json_array_append_new(arr, json_string(t)) == 0 ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
	free(t);
	return r;
}

static json_t *b64_str(const void *p, size_t n)
{
	char *t = NULL;
	if (cs_base64_encode(&t, p, n) < 0)
		return NULL;
	json_t *j = json_string(t);
	free(t);
	return j;
}

static int account_balance(cs_store *db, int64_t account, int64_t *out)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, db, "SELECT balance FROM accounts WHERE id = ?", "i", account);
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_ENOTFOUND, "no such account");
	*out = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return CS_OK;
}

/* Issue a wallet certificate from csr for device (refused unless the CSR's
 * key is the device's) and record it; *der gets it (malloc'd). */
static int issue_cert(cs_hub *hub, uint8_t **der, size_t *der_len, const char *csr,
	const char *device, int64_t account, const char **code)
{
	cs_cert *c = NULL;
	char san[CS_DEVICE_ID_SIZE];
	int r;
	if ((r = cs_ca_issue_device(&c, hub->ca, csr, NULL, (int)hub->cfg.wallet_cert_days)) < 0) {
		*code = "csr_invalid";
		return r;
	}
	if ((r = cs_cert_san_device_id(san, c)) < 0 || strcmp(san, device) != 0) {
		cs_cert_free(c);
		*code = "wallet_key_mismatch";
		return cs_error_set(CS_EDENIED, "the CSR's key is not the key of device %s that logged in",
			device);
	}
	if ((r = cs_cert_to_der(der, der_len, c)) < 0)
		goto done;
	if ((r = cs_store_run(NULL, hub->db, "INSERT INTO wallet_devices (device, account, cert) VALUES (?, ?, ?) "
		"ON CONFLICT (device) DO UPDATE SET cert = excluded.cert", "tib", device, account,
		B(*der, *der_len))) < 0 ||
	    (r = cs_store_run(NULL, hub->db, "INSERT INTO wallet_device_certs (device, cert, not_after) "
		"VALUES (?, ?, ?)", "tbi", device, B(*der, *der_len), cs_cert_not_after(c))) < 0)
		goto done;
	r = CS_OK;
done:
	if (r < 0) {
		free(*der);
		*der = NULL;
	}
	cs_cert_free(c);
	return r;
}

/* The device's account for wallets: the first account it used. */
static int device_account_check(cs_hub *hub, const char *device, int64_t account, const char **code)
{
	int64_t have = 0;
	int r = cs__db_int64(hub->db, &have, "SELECT account FROM wallet_devices WHERE device = ?1",
		CS__DB_ARGS(CS__DB_T(device)));
	if (r < 0)
		return r;
	if (r == 1 && have != account) {
		*code = "wallet_other_account";
		return cs_error_set(CS_EDENIED, "device %s keeps its wallet with another account", device);
	}
	return CS_OK;
}

/* ---- load ---- */

static int record_voucher(cs_store *db, const struct cs__wl_coin *c)
{
	uint8_t state[CS__WL_ID_LEN];
	int r;
	cs__wl_state_id(state, c->v.id, 0);
	if ((r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_nodes (id, kind, payee, amount, time, "
		"body, sig, seen) VALUES (?, 0, ?, ?, ?, ?, ?, ?)", "btiibbi", B(c->v.id, CS__WL_ID_LEN),
		c->v.owner, (int64_t)c->v.value, c->v.issued, B(c->v.body, c->v.body_len),
		B(c->v.sig, c->v.sig_len), cs_clock_now())) < 0)
		return r;
	r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_branches (state, node, side, holder, value) "
		"VALUES (?, ?, 0, ?, ?)", "bbti", B(state, CS__WL_ID_LEN), B(c->v.id, CS__WL_ID_LEN), c->v.owner,
		(int64_t)c->v.value);
	return r < 0 ? r : CS_OK;
}

int cs__wallet_load(cs_hub *hub, json_t **out, const char **code, int64_t account_id,
	const char *account, const char *device, const struct cs__wallet_load_body *b)
{
	uint8_t *der = NULL, *body = NULL, *sig = NULL, serial[CS__WL_SERIAL_LEN];
	size_t der_len = 0, body_len = 0, sig_len = 0;
	uint8_t *ca_der = NULL;
	size_t ca_len = 0;
	cs_buf *voucher = NULL;
	struct cs__wl_coin c = {0};
	cs_stmt *q = NULL;
	int64_t balance = 0;
	int r, in_tx = 0, repeated = 0;

	*code = NULL;
	if ((r = cs_store_begin(hub->db)) < 0)
		return r;
	in_tx = 1;
	if ((r = device_account_check(hub, device, account_id, code)) < 0)
		goto done;
	if ((r = cs_store_run(&q, hub->db, "SELECT device, voucher FROM wallet_loads WHERE request = ?", "t",
		     b->request)) < 0)
		goto done;
	if (r == 1) {
		/* a repeated request: the same voucher again, nothing taken twice */
		const char *who = cs_stmt_text(q, 0);
		if (who == NULL || strcmp(who, device) != 0) {
			*code = "request_reused";
			r = cs_error_set(CS_ECONFLICT, "load request %s belongs to another device", b->request);
			goto done;
		}
		size_t vl;
		const void *vp = cs_stmt_blob(q, 1, &vl);
		if ((voucher = cs_buf_new(vl + 1)) == NULL || (r = cs_buf_put(voucher, vp, vl)) < 0) {
			r = r < 0 ? r : cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		repeated = 1;
	}
	cs_stmt_free(q);
	q = NULL;
	if ((r = issue_cert(hub, &der, &der_len, b->csr, device, account_id, code)) < 0)
		goto done;
	if (!repeated) {
		if ((r = account_balance(hub->db, account_id, &balance)) < 0)
			goto done;
		if (balance < 0 || (uint64_t)balance < b->amount) {
			*code = "balance_insufficient";
			r = cs_error_set(CS_ECONFLICT, "account %s has a balance of %lld, the load asks for %llu",
				account, (long long)balance, (unsigned long long)b->amount);
			goto done;
		}
		if ((r = cs_random(serial, sizeof(serial))) < 0 ||
		    (r = cs__wl_voucher_body(&body, &body_len, serial, b->amount, device, account,
			     cs_clock_now())) < 0 ||
		    (r = cs_ca_sign(&sig, &sig_len, hub->ca, body, body_len)) < 0)
			goto done;
		if ((voucher = cs_buf_new(body_len + sig_len + 16)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		if ((r = cs__wl_voucher_pack(voucher, body, body_len, sig, sig_len)) < 0 ||
		    (r = cs__wl_coin_from_voucher(&c, cs_buf_ptr(voucher), cs_buf_len(voucher))) < 0 ||
		    (r = record_voucher(hub->db, &c)) < 0 ||
		    (r = cs_store_run(NULL, hub->db, "INSERT INTO wallet_loads (request, device, account, amount, "
			     "voucher, time) VALUES (?, ?, ?, ?, ?, ?)", "ttiibi", b->request, device, account_id,
			     (int64_t)b->amount, B(cs_buf_ptr(voucher), cs_buf_len(voucher)), cs_clock_now())) < 0 ||
		    (r = cs_store_run(NULL, hub->db, "UPDATE accounts SET balance = balance - ? WHERE id = ?", "ii",
			     (int64_t)b->amount, account_id)) < 0)
			goto done;
	}
	if ((r = account_balance(hub->db, account_id, &balance)) < 0 || (r = cs_store_commit(hub->db)) < 0)
		goto done;
	in_tx = 0;
	if ((r = cs_cert_to_der(&ca_der, &ca_len, cs_ca_cert(hub->ca))) < 0)
		goto done;
	json_t *vs = json_array();
	*out = json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:s, s:b}", "vouchers", vs, "certificate",
		b64_str(der, der_len), "ca", b64_str(ca_der, ca_len), "online_balance", (json_int_t)balance,
		"max_amount", (json_int_t)hub->cfg.wallet_max_amount, "max_transfers",
		(json_int_t)hub->cfg.wallet_max_transfers, "account", account, "repeated", repeated);
	if (*out == NULL || (r = b64(vs, cs_buf_ptr(voucher), cs_buf_len(voucher))) < 0) {
		json_decref(*out);
		*out = NULL;
		r = r < 0 ? r : cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	cs_log(CS_LOG_INFO, "wallet.load", "account=%s device=%s amount=%llu repeated=%d", account, device,
		(unsigned long long)b->amount, repeated);
	r = CS_OK;
done:
	if (in_tx)
		cs_store_rollback(hub->db);
	cs_stmt_free(q);
	cs__wl_coin_clear(&c);
	cs_buf_free(voucher);
	free(der);
	free(ca_der);
	free(body);
	free(sig);
	return r;
}

/* ---- sync ---- */

/* Record one link of a coin: its node, the branches it opens, and the
 * branch it spends, noticing a second spender. *conflicts counts new ones. */
static int record_link(cs_store *db, const struct cs__wl_coin *c, size_t i, uint64_t *conflicts)
{
	const struct cs__wl_link *l = &c->links[i];
	uint8_t s0[CS__WL_ID_LEN], s1[CS__WL_ID_LEN], spent[CS__WL_ID_LEN];
	cs_stmt *q = NULL;
	int64_t now = cs_clock_now();
	int r;

	if ((r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_nodes (id, kind, prev, side, payer, payee, "
		"amount, change, counter, time, transfer, body, sig, seen) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		"?, ?, ?)", "bbittiiiibbbi", B(l->id, CS__WL_ID_LEN), B(l->prev, CS__WL_ID_LEN), (int64_t)l->side,
		l->payer, l->payee, (int64_t)l->amount, (int64_t)l->change, (int64_t)l->counter, l->time_ms,
		B(l->transfer, CS__WL_ID_LEN), B(l->body, l->body_len), B(l->sig, l->sig_len), now)) < 0)
		return r;
	cs__wl_state_id(s0, l->id, 0);
	cs__wl_state_id(s1, l->id, 1);
	if ((r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_branches (state, node, side, holder, value) "
		"VALUES (?, ?, 0, ?, ?)", "bbti", B(s0, CS__WL_ID_LEN), B(l->id, CS__WL_ID_LEN), l->payee,
		(int64_t)l->amount)) < 0)
		return r;
	if (l->change > 0 && (r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_branches (state, node, "
		"side, holder, value) VALUES (?, ?, 1, ?, ?)", "bbti", B(s1, CS__WL_ID_LEN), B(l->id, CS__WL_ID_LEN),
		l->payer, (int64_t)l->change)) < 0)
		return r;
	if ((r = cs_store_run(NULL, db, "UPDATE wallet_devices SET counter = MAX(counter, ?) WHERE device = ?",
		"it", (int64_t)l->counter, l->payer)) < 0)
		return r;
	cs__wl_state_id(spent, l->prev, l->side);
	if ((r = cs_store_run(&q, db, "SELECT spent_by, value FROM wallet_branches WHERE state = ?", "b",
		B(spent, CS__WL_ID_LEN))) < 0)
		return r;
	if (r == 0) /* cannot happen: the elements before were recorded first */
		return cs_error_set(CS_EDB, "the ledger lacks the branch a link spends");
	size_t bl = 0;
	const void *by = cs_stmt_blob(q, 0, &bl);
	int64_t value = cs_stmt_int64(q, 1);
	uint8_t first[CS__WL_ID_LEN];
	int fresh = by == NULL, same = by != NULL && bl == CS__WL_ID_LEN && memcmp(by, l->id, bl) == 0;
	if (by != NULL && bl == CS__WL_ID_LEN)
		memcpy(first, by, CS__WL_ID_LEN);
	cs_stmt_free(q);
	if (fresh)
		return cs_store_run(NULL, db, "UPDATE wallet_branches SET spent_by = ? WHERE state = ?", "bb",
			B(l->id, CS__WL_ID_LEN), B(spent, CS__WL_ID_LEN)) < 0 ? CS_EDB : CS_OK;
	if (same)
		return CS_OK;
	/* a second link spends the branch: a double spend by l->payer */
	int64_t account = 0;
	if ((r = cs__db_int64(db, &account, "SELECT account FROM wallet_devices WHERE device = ?1",
		     CS__DB_ARGS(CS__DB_T(l->payer)))) < 0)
		return r;
	if ((r = cs_store_run(NULL, db, "INSERT OR IGNORE INTO wallet_conflicts (state, payer, first, second, "
		"value, account, time) VALUES (?, ?, ?, ?, ?, ?, ?)", "btbbiii", B(spent, CS__WL_ID_LEN), l->payer,
		B(first, CS__WL_ID_LEN), B(l->id, CS__WL_ID_LEN), value, account, now)) < 0)
		return r;
	if (cs_store_changes(db) == 0)
		return CS_OK; /* known already */
	(*conflicts)++;
	cs_log(CS_LOG_WARN, "wallet.double_spend", "payer=%s value=%lld", l->payer, (long long)value);
	if (account == 0)
		return CS_OK;
	if ((r = cs_store_run(NULL, db, "UPDATE accounts SET balance = balance - ? WHERE id = ?", "ii", value,
		     account)) < 0 ||
	    (r = cs_store_run(NULL, db, "INSERT INTO wallet_credits (account, amount, time, note) VALUES "
		     "(?, ?, ?, ?)", "iiit", account, -value, now, "double spend charge")) < 0)
		return r;
	return CS_OK;
}

static int record_coin(cs_store *db, const struct cs__wl_coin *c, uint64_t *conflicts)
{
	int r = record_voucher(db, c);
	for (size_t i = 0; r == 0 && i < c->n; i++)
		r = record_link(db, c, i, conflicts);
	return r;
}

/* The coin of a branch, rebuilt from the ledger: walk from its node back
 * to the voucher. */
static int rebuild_coin(cs_buf *out, cs_store *db, const uint8_t node[CS__WL_ID_LEN], int side,
	struct issued_certs *ic, json_t *certs, char (*sent)[CS_DEVICE_ID_SIZE], size_t *nsent)
{
	struct { uint8_t *body, *sig; size_t bl, sl; } el[CS__WL_LINKS_MAX + 1];
	struct cs__wl_part parts[CS__WL_LINKS_MAX + 1];
	uint8_t cur[CS__WL_ID_LEN];
	size_t n = 0;
	int r = CS_OK, kind = 1;

	memcpy(cur, node, CS__WL_ID_LEN);
	while (kind == 1) {
		cs_stmt *q = NULL;
		if (n == CS__WL_LINKS_MAX + 1) {
			r = cs_error_set(CS_ELIMIT, "a ledger chain longer than %d links", CS__WL_LINKS_MAX);
			break;
		}
		if ((r = cs_store_run(&q, db, "SELECT kind, prev, body, sig, payer FROM wallet_nodes WHERE id = ?",
			     "b", B(cur, CS__WL_ID_LEN))) <= 0) {
			r = r < 0 ? r : cs_error_set(CS_EDB, "the ledger lacks an element of a chain");
			break;
		}
		r = CS_OK;
		kind = (int)cs_stmt_int64(q, 0);
		const void *p;
		p = cs_stmt_blob(q, 2, &el[n].bl);
		el[n].body = malloc(el[n].bl);
		if (el[n].body)
			memcpy(el[n].body, p, el[n].bl);
		p = cs_stmt_blob(q, 3, &el[n].sl);
		el[n].sig = malloc(el[n].sl);
		if (el[n].sig)
			memcpy(el[n].sig, p, el[n].sl);
		n++;
		if (el[n - 1].body == NULL || el[n - 1].sig == NULL) {
			cs_stmt_free(q);
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		if (kind == 1) {
			const char *payer = cs_stmt_text(q, 4);
			size_t pl;
			const void *prev = cs_stmt_blob(q, 1, &pl);
			int known = 0;
			for (size_t i = 0; payer && i < *nsent; i++)
				known |= strcmp(sent[i], payer) == 0;
			if (payer && !known && *nsent < CS__WL_SYNC_CERTS_MAX) {
				const cs_cert *c = issued_lookup(ic, payer);
				uint8_t *der = NULL;
				size_t dl = 0;
				if (c != NULL && cs_cert_to_der(&der, &dl, c) == 0) {
					b64(certs, der, dl);
					snprintf(sent[(*nsent)++], CS_DEVICE_ID_SIZE, "%s", payer);
				}
				free(der);
			}
			if (prev == NULL || pl != CS__WL_ID_LEN) {
				cs_stmt_free(q);
				r = cs_error_set(CS_EDB, "a ledger link without its element before");
				break;
			}
			memcpy(cur, prev, CS__WL_ID_LEN);
		}
		cs_stmt_free(q);
	}
	if (r == 0) {
		for (size_t i = 0; i < n; i++) /* el runs from the branch back to the voucher */
			parts[i] = (struct cs__wl_part){el[n - 1 - i].body, el[n - 1 - i].bl, el[n - 1 - i].sig,
				el[n - 1 - i].sl};
		r = cs__wl_coin_pack(out, parts, n, (uint8_t)side);
	}
	for (size_t i = 0; i < n; i++) {
		free(el[i].body);
		free(el[i].sig);
	}
	return r;
}

/* Conflicts a payer caused, for its sync answer and the admin report. */
static json_t *link_json(cs_store *db, const void *id, size_t len)
{
	cs_stmt *q = NULL;
	json_t *j = NULL;
	char hex[2 * CS__WL_ID_LEN + 1], thex[2 * CS__WL_ID_LEN + 1];
	if (len != CS__WL_ID_LEN || cs_store_run(&q, db, "SELECT payer, payee, amount, change, counter, time, "
		"transfer, body, sig FROM wallet_nodes WHERE id = ?", "b", id, len) != 1)
		return json_null();
	size_t tl, bl, sl;
	const void *t = cs_stmt_blob(q, 6, &tl);
	const void *body = cs_stmt_blob(q, 7, &bl);
	const void *sig = cs_stmt_blob(q, 8, &sl);
	cs_hex_encode(hex, id, CS__WL_ID_LEN);
	if (t != NULL && tl == CS__WL_ID_LEN)
		cs_hex_encode(thex, t, tl);
	else
		thex[0] = '\0';
	j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "link", hex, "payer",
		cs_stmt_text(q, 0) ? cs_stmt_text(q, 0) : "", "payee", cs_stmt_text(q, 1) ? cs_stmt_text(q, 1) : "",
		"amount", (json_int_t)cs_stmt_int64(q, 2), "change", (json_int_t)cs_stmt_int64(q, 3), "counter",
		(json_int_t)cs_stmt_int64(q, 4), "time_ms", (json_int_t)cs_stmt_int64(q, 5), "transfer", thex,
		"body", b64_str(body, bl), "signature", b64_str(sig, sl));
	cs_stmt_free(q);
	return j ? j : json_null();
}

static int conflicts_json(json_t **out, cs_store *db, const char *payer)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	char hex[2 * CS__WL_ID_LEN + 1];
	int r = cs_store_prepare(&q, db, payer ? "SELECT id, state, payer, first, second, value, time FROM "
		"wallet_conflicts WHERE payer = ? ORDER BY id" : "SELECT id, state, payer, first, second, value, "
		"time FROM wallet_conflicts ORDER BY id");
	if (r < 0 || arr == NULL) {
		json_decref(arr);
		return r < 0 ? r : cs_error_set(CS_ENOMEM, "out of memory");
	}
	if (payer && (r = cs_stmt_bind_text(q, 1, payer)) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		size_t sl, fl, tl;
		const void *st = cs_stmt_blob(q, 1, &sl), *f = cs_stmt_blob(q, 3, &fl), *s = cs_stmt_blob(q, 4, &tl);
		if (st == NULL || sl != CS__WL_ID_LEN)
			continue;
		cs_hex_encode(hex, st, sl);
		json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:o}", "id",
			(json_int_t)cs_stmt_int64(q, 0), "branch", hex, "payer", cs_stmt_text(q, 2), "value",
			(json_int_t)cs_stmt_int64(q, 5), "time", (json_int_t)cs_stmt_int64(q, 6), "first",
			link_json(db, f, fl), "second", link_json(db, s, tl)));
	}
done:
	cs_stmt_free(q);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return CS_OK;
}

/* Issue a fresh voucher for a renewed coin's branch, unless that branch is
 * spent already; the new voucher's node names the renewal link as prev. */
static int reissue(cs_hub *hub, const struct cs__wl_coin *c, const char *device, const char *account)
{
	uint8_t serial[CS__WL_SERIAL_LEN], *body = NULL, *sig = NULL;
	size_t body_len = 0, sig_len = 0;
	struct cs__wl_coin v = {0};
	cs_buf *b = NULL;
	int r;

	if ((r = cs_store_run(NULL, hub->db, "SELECT 1 FROM wallet_branches WHERE state = ? AND spent_by IS NULL",
		     "b", B(c->state, CS__WL_ID_LEN))) <= 0)
		return r;
	if ((r = cs_random(serial, sizeof(serial))) < 0 ||
	    (r = cs__wl_voucher_body(&body, &body_len, serial, c->value, device, account, cs_clock_now())) < 0 ||
	    (r = cs_ca_sign(&sig, &sig_len, hub->ca, body, body_len)) < 0)
		goto done;
	if ((b = cs_buf_new(body_len + sig_len + 16)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs__wl_voucher_pack(b, body, body_len, sig, sig_len)) < 0 ||
	    (r = cs__wl_coin_from_voucher(&v, cs_buf_ptr(b), cs_buf_len(b))) < 0 ||
	    (r = record_voucher(hub->db, &v)) < 0 ||
	    (r = cs_store_run(NULL, hub->db, "UPDATE wallet_nodes SET prev = ?, side = 0 WHERE id = ?", "bb",
		     B(c->links[c->n - 1].id, CS__WL_ID_LEN), B(v.v.id, CS__WL_ID_LEN))) < 0 ||
	    (r = cs_store_run(NULL, hub->db, "UPDATE wallet_branches SET spent_by = ? WHERE state = ?", "bb",
		     B(v.v.id, CS__WL_ID_LEN), B(c->state, CS__WL_ID_LEN))) < 0)
		goto done;
	cs_log(CS_LOG_INFO, "wallet.renew", "device=%s value=%llu links=%zu", device,
		(unsigned long long)c->value, c->n);
	r = CS_OK;
done:
	cs__wl_coin_clear(&v);
	cs_buf_free(b);
	free(body);
	free(sig);
	return r;
}

static int holdings_value(cs_store *db, const char *device, int64_t *out)
{
	return cs__db_int64(db, out, "SELECT COALESCE(SUM(value), 0) FROM wallet_branches WHERE holder = ?1 "
		"AND spent_by IS NULL", CS__DB_ARGS(CS__DB_T(device))) < 0 ? CS_EDB : CS_OK;
}

int cs__wallet_sync(cs_hub *hub, json_t **out, const char **code, int64_t account_id,
	const char *account, const char *device, const struct cs__wallet_sync_body *b)
{
	struct issued_certs ic = {.db = hub->db};
	struct cs__wl_coin *held = NULL, *paid = NULL;
	size_t nheld = 0, npaid = 0, nsent = 0;
	char (*sent)[CS_DEVICE_ID_SIZE] = NULL;
	uint8_t *der = NULL, *ca_der = NULL;
	size_t der_len = 0, ca_len = 0;
	json_t *missing = json_array(), *drop = json_array(), *certs = json_array(), *conf = NULL;
	cs_buf *cb = NULL;
	cs_stmt *q = NULL;
	uint64_t conflicts_new = 0;
	int64_t online = 0, hub_balance = 0, nconf = 0;
	int r, refusal, in_tx = 0;

	*code = NULL;
	if (missing == NULL || drop == NULL || certs == NULL ||
	    (held = calloc(b->nheld + 1, sizeof(*held))) == NULL ||
	    (paid = calloc(b->npaid + 1, sizeof(*paid))) == NULL ||
	    (sent = calloc(CS__WL_SYNC_CERTS_MAX, CS_DEVICE_ID_SIZE)) == NULL ||
	    (cb = cs_buf_new(CS__WL_COIN_MAX)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	in_tx = 1;
	if ((r = device_account_check(hub, device, account_id, code)) < 0 ||
	    (b->csr && (r = issue_cert(hub, &der, &der_len, b->csr, device, account_id, code)) < 0))
		goto done;
	/* every coin checked before any is recorded: one bad coin refuses all */
	for (size_t k = 0; k < b->nheld + b->npaid; k++) {
		int is_held = k < b->nheld;
		size_t i = is_held ? k : k - b->nheld;
		struct cs__wl_coin *c = is_held ? &held[i] : &paid[i];
		const char *what = is_held ? "held" : "paid";
		if ((r = cs__wl_coin_decode(c, is_held ? b->held[i] : b->paid[i],
			     is_held ? b->held_len[i] : b->paid_len[i])) < 0) {
			*code = "voucher_invalid";
			cs_error_wrap("%s voucher %zu", what, i + 1);
			goto done;
		}
		is_held ? nheld++ : npaid++;
		if ((r = cs__wl_coin_verify(&refusal, c, cs_ca_cert(hub->ca), issued_lookup, &ic)) < 0) {
			*code = "voucher_invalid";
			cs_error_wrap("%s voucher %zu", what, i + 1);
			goto done;
		}
		if (is_held && strcmp(c->holder, device) != 0) {
			*code = "voucher_invalid";
			r = cs_error_set(CS_EINVAL, "held voucher %zu belongs to %s, not to this device", i + 1,
				c->holder);
			goto done;
		}
		if (!is_held && (c->n == 0 || strcmp(c->links[c->n - 1].payer, device) != 0)) {
			*code = "voucher_invalid";
			r = cs_error_set(CS_EINVAL, "paid voucher %zu was not paid by this device", i + 1);
			goto done;
		}
	}
	for (size_t i = 0; r == 0 && i < npaid; i++)
		r = record_coin(hub->db, &paid[i], &conflicts_new);
	for (size_t i = 0; r == 0 && i < nheld; i++)
		r = record_coin(hub->db, &held[i], &conflicts_new);
	if (r < 0)
		goto done;
	/* renewals: a held coin its holder signed over to itself is exchanged
	 * for a fresh voucher (delivered below as missing, the old coin dropped) */
	for (size_t i = 0; i < nheld; i++)
		if (cs__wl_coin_renewing(&held[i]) && (r = reissue(hub, &held[i], device, account)) < 0)
			goto done;
	/* what the device holds and the ledger says it does not: spent elsewhere */
	for (size_t i = 0; i < nheld; i++) {
		if ((r = cs_store_run(NULL, hub->db, "SELECT 1 FROM wallet_branches WHERE state = ? AND spent_by "
			     "IS NOT NULL", "b", B(held[i].state, CS__WL_ID_LEN))) < 0)
			goto done;
		if (r == 1) {
			char hex[2 * CS__WL_ID_LEN + 1];
			cs_hex_encode(hex, held[i].state, CS__WL_ID_LEN);
			json_array_append_new(drop, json_string(hex));
		}
	}
	/* what the ledger says the device holds and it did not report: in flight */
	if ((r = cs_store_prepare(&q, hub->db, "SELECT state, node, side FROM wallet_branches WHERE holder = ? "
		     "AND spent_by IS NULL ORDER BY rowid")) < 0 || (r = cs_stmt_bind_text(q, 1, device)) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		size_t sl, nl;
		const void *st = cs_stmt_blob(q, 0, &sl), *node = cs_stmt_blob(q, 1, &nl);
		int reported = 0;
		for (size_t i = 0; i < nheld; i++)
			reported |= sl == CS__WL_ID_LEN && memcmp(held[i].state, st, sl) == 0;
		if (reported || nl != CS__WL_ID_LEN)
			continue;
		if (json_array_size(missing) == CS__WL_COINS_MAX * 16)
			break; /* the rest at the next sync */
		uint8_t nodeid[CS__WL_ID_LEN];
		memcpy(nodeid, node, sizeof(nodeid));
		cs_buf_reset(cb);
		if ((r = rebuild_coin(cb, hub->db, nodeid, (int)cs_stmt_int64(q, 2), &ic, certs, sent, &nsent)) < 0 ||
		    (r = b64(missing, cs_buf_ptr(cb), cs_buf_len(cb))) < 0)
			goto done;
	}
	cs_stmt_free(q);
	q = NULL;
	if (r < 0)
		goto done;
	if ((r = cs_store_run(NULL, hub->db, "UPDATE wallet_devices SET last_sync = ? WHERE device = ?", "it",
		     cs_clock_now(), device)) < 0 ||
	    (r = holdings_value(hub->db, device, &hub_balance)) < 0 ||
	    (r = account_balance(hub->db, account_id, &online)) < 0 ||
	    (r = conflicts_json(&conf, hub->db, device)) < 0 || (r = cs_store_commit(hub->db)) < 0)
		goto done;
	in_tx = 0;
	nconf = (int64_t)json_array_size(conf);
	if ((r = cs_cert_to_der(&ca_der, &ca_len, cs_ca_cert(hub->ca))) < 0)
		goto done;
	*out = json_pack("{s:O, s:O, s:O, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:s}", "missing", missing, "drop", drop,
		"certs", certs, "conflicts", conf, "ca", b64_str(ca_der, ca_len), "hub_balance",
		(json_int_t)hub_balance, "online_balance", (json_int_t)online, "conflicts_new",
		(json_int_t)conflicts_new, "max_amount", (json_int_t)hub->cfg.wallet_max_amount,
		"max_transfers", (json_int_t)hub->cfg.wallet_max_transfers, "account", account);
	if (*out != NULL && der != NULL)
		json_object_set_new(*out, "certificate", b64_str(der, der_len));
	if (*out == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	cs_log(CS_LOG_INFO, "wallet.sync", "account=%s device=%s held=%zu paid=%zu missing=%zu drop=%zu "
		"balance=%lld conflicts=%lld new=%llu", account, device, nheld, npaid, json_array_size(missing),
		json_array_size(drop), (long long)hub_balance, (long long)nconf, (unsigned long long)conflicts_new);
	r = CS_OK;
done:
	if (in_tx)
		cs_store_rollback(hub->db);
	cs_stmt_free(q);
	for (size_t i = 0; i < nheld; i++)
		cs__wl_coin_clear(&held[i]);
	for (size_t i = 0; i < npaid; i++)
		cs__wl_coin_clear(&paid[i]);
	free(held);
	free(paid);
	free(sent);
	free(der);
	free(ca_der);
	cs_buf_free(cb);
	json_decref(missing);
	json_decref(drop);
	json_decref(certs);
	if (r < 0)
		json_decref(conf);
	issued_clear(&ic);
	return r;
}

/* ---- the operator's view (certsync hub account credit, hub wallet ...) ---- */

int cs__wallet_credit(cs_store *db, const char *account, int64_t amount, int64_t *balance)
{
	int64_t id = 0;
	int r;
	if (amount <= 0 || (uint64_t)amount > CS_WALLET_AMOUNT_MAX)
		return cs_error_set(CS_EINVAL, "an amount is 1..%llu", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	if ((r = cs_store_begin(db)) < 0)
		return r;
	if ((r = cs__db_int64(db, &id, "SELECT id FROM accounts WHERE name = ?1",
		     CS__DB_ARGS(CS__DB_T(account)))) <= 0) {
		r = r < 0 ? r : cs_error_set(CS_ENOTFOUND, "no account %s", account);
		goto fail;
	}
	if ((r = cs_store_run(NULL, db, "UPDATE accounts SET balance = balance + ? WHERE id = ?", "ii", amount,
		     id)) < 0 ||
	    (r = cs_store_run(NULL, db, "INSERT INTO wallet_credits (account, amount, time, note) VALUES "
		     "(?, ?, ?, 'credit')", "iii", id, amount, cs_clock_now())) < 0 ||
	    (r = account_balance(db, id, balance)) < 0 || (r = cs_store_commit(db)) < 0)
		goto fail;
	return CS_OK;
fail:
	cs_store_rollback(db);
	return r;
}

int cs__wallet_report(json_t **out, cs_store *db)
{
	json_t *accounts = json_array(), *devices = json_array(), *conf = NULL;
	cs_stmt *q = NULL;
	int64_t credited = 0, online = 0, offline = 0, charged = 0;
	int r;

	if (accounts == NULL || devices == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_store_prepare(&q, db, "SELECT a.name, a.balance, COALESCE((SELECT SUM(amount) FROM "
		     "wallet_credits c WHERE c.account = a.id AND c.amount > 0), 0) FROM accounts a ORDER BY a.name")) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		online += cs_stmt_int64(q, 1);
		credited += cs_stmt_int64(q, 2);
		json_array_append_new(accounts, json_pack("{s:s, s:I, s:I}", "account", cs_stmt_text(q, 0),
			"online_balance", (json_int_t)cs_stmt_int64(q, 1), "credited", (json_int_t)cs_stmt_int64(q, 2)));
	}
	cs_stmt_free(q);
	q = NULL;
	if (r < 0 || (r = cs_store_prepare(&q, db, "SELECT d.device, a.name, d.counter, d.last_sync, "
		     "COALESCE((SELECT SUM(value) FROM wallet_branches b WHERE b.holder = d.device AND b.spent_by IS "
		     "NULL), 0), (SELECT COUNT(*) FROM wallet_branches b WHERE b.holder = d.device AND b.spent_by IS "
		     "NULL) FROM wallet_devices d JOIN accounts a ON a.id = d.account ORDER BY a.name, d.device")) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		offline += cs_stmt_int64(q, 4);
		json_array_append_new(devices, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "device",
			cs_stmt_text(q, 0), "account", cs_stmt_text(q, 1), "counter", (json_int_t)cs_stmt_int64(q, 2),
			"last_sync", (json_int_t)cs_stmt_int64(q, 3), "balance", (json_int_t)cs_stmt_int64(q, 4),
			"vouchers", (json_int_t)cs_stmt_int64(q, 5)));
	}
	cs_stmt_free(q);
	q = NULL;
	if (r < 0)
		goto done;
	/* value held by devices the hub has no row for (none, unless a coin
	 * names a device that never synced) counts too */
	int64_t all = 0;
	if ((r = cs__db_int64(db, &all, "SELECT COALESCE(SUM(value), 0) FROM wallet_branches WHERE spent_by IS "
		     "NULL", NULL, 0)) < 0 ||
	    (r = cs__db_int64(db, &charged, "SELECT COALESCE(-SUM(amount), 0) FROM wallet_credits WHERE amount < 0",
		     NULL, 0)) < 0 || (r = conflicts_json(&conf, db, NULL)) < 0)
		goto done;
	*out = json_pack("{s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:b}}", "accounts", accounts, "devices",
		devices, "conflicts", conf, "totals", "credited", (json_int_t)credited, "online", (json_int_t)online,
		"offline", (json_int_t)all, "charged", (json_int_t)charged, "offline_known_devices",
		(json_int_t)offline, "conserved", online + all == credited);
	accounts = devices = NULL;
	r = *out ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
done:
	cs_stmt_free(q);
	json_decref(accounts);
	json_decref(devices);
	return r < 0 ? r : CS_OK;
}
