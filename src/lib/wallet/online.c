/*
 * A wallet's two calls to the hub (PROTOCOL.md §13.8), made as sealed
 * account calls with the device's login (`certsync account login`):
 *
 *   load  takes value from the account's online balance as a voucher;
 *   sync  uploads every coin held and every coin paid since the last sync,
 *         lets the hub record and settle them, drops what the hub knows was
 *         spent elsewhere and adds what it knows this wallet owns.
 *
 * Both also renew the wallet certificate and fetch the hub's limits. A
 * load carries a request id kept in wallet.db until its answer is stored,
 * so a load whose answer was lost is repeated, not paid twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "lib/account/local.h"
#include "lib/wallet/wallet_internal.h"

#define B(p, n) (const void *)(p), (size_t)(n)

/* A base64 member, decoded (malloc'd). */
static int get_b64(uint8_t **out, size_t *len, json_t *j, const char *key, size_t max)
{
	const char *t = json_string_value(json_object_get(j, key));
	if (t == NULL)
		return cs_error_set(CS_EMALFORMED, "the hub's answer lacks %s", key);
	return cs_base64_decode(out, len, t, max);
}

/* Check and keep the hub CA, the wallet certificate and the limits of an
 * answer (inside the caller's transaction). */
static int take_identity(cs_wallet *w, json_t *resp)
{
	uint8_t *ca = NULL, *cert = NULL;
	size_t ca_len = 0, cert_len = 0;
	cs_cert *cac = NULL, *c = NULL;
	char san[CS_DEVICE_ID_SIZE];
	int r;

	if ((r = get_b64(&ca, &ca_len, resp, "ca", 4 * CS__WL_CERT_MAX)) < 0 ||
	    (r = cs_cert_from_der(&cac, ca, ca_len)) < 0)
		goto done;
	if (w->ca != NULL) {
		uint8_t *have = NULL;
		size_t hl = 0;
		if ((r = cs_cert_to_der(&have, &hl, w->ca)) < 0)
			goto done;
		int same = hl == ca_len && memcmp(have, ca, hl) == 0;
		free(have);
		if (!same) {
			r = cs_error_set(CS_EAUTH, "the hub's CA is not the one this wallet's vouchers come from");
			goto done;
		}
	}
	if (json_object_get(resp, "certificate") != NULL) {
		if ((r = get_b64(&cert, &cert_len, resp, "certificate", 4 * CS__WL_CERT_MAX)) < 0 ||
		    (r = cs_cert_from_der(&c, cert, cert_len)) < 0)
			goto done;
		if (cs_cert_verify(c, cac, NULL, 0) < 0 || cs_cert_san_device_id(san, c) < 0 ||
		    strcmp(san, w->device) != 0 || !cs_key_matches_cert(w->key, c)) {
			r = cs_error_set(CS_EAUTH, "the hub answered with a certificate that is not this "
				"device's");
			goto done;
		}
	}
	json_int_t max_amount = json_integer_value(json_object_get(resp, "max_amount"));
	json_int_t max_transfers = json_integer_value(json_object_get(resp, "max_transfers"));
	const char *account = json_string_value(json_object_get(resp, "account"));
	if (max_amount < 1 || (uint64_t)max_amount > CS_WALLET_AMOUNT_MAX || max_transfers < 1) {
		r = cs_error_set(CS_EMALFORMED, "the hub's limits are out of range");
		goto done;
	}
	if ((r = cs__wl_set_identity(w, ca, ca_len, cert, cert_len, account, (uint64_t)max_amount,
		     (uint64_t)max_transfers)) < 0)
		goto done;
	r = CS_OK;
done:
	free(ca);
	free(cert);
	cs_cert_free(cac);
	cs_cert_free(c);
	return r;
}

struct online {
	struct cs__acct_session s;
	struct cs__acct_conn cn;
	int conn_open;
	cs_wallet *w;
	char *csr;
};

static int online_open(struct online *o, const char *data_dir)
{
	int r;
	memset(o, 0, sizeof(*o));
	if ((r = cs_wallet_open(&o->w, data_dir)) < 0 || (r = cs__acct_session_load(&o->s, data_dir)) < 0)
		return r;
	if (strcmp(o->s.device, o->w->device) != 0)
		return cs_error_set(CS_ESTATE, "the account login in %s is for another device key; log in again",
			data_dir);
	if ((r = cs_csr_new(&o->csr, o->w->key, o->w->name[0] ? o->w->name : "wallet")) < 0 ||
	    (r = cs__acct_conn_open(&o->cn, &o->s, NULL)) < 0)
		return r;
	o->conn_open = 1;
	return CS_OK;
}

static void online_close(struct online *o)
{
	if (o->conn_open)
		cs__acct_conn_close(&o->cn);
	cs__acct_session_clear(&o->s);
	cs_wallet_close(o->w);
	free(o->csr);
}

/* ---- load ---- */

static int load_once(cs_wallet_online *res, struct online *o, const char *request, uint64_t amount)
{
	cs_wallet *w = o->w;
	json_t *resp = NULL;
	struct cs__wl_coin c = {0};
	int status, r, in_tx = 0;

	r = cs__acct_call(&o->cn, "/v1/account/wallet/load", json_pack("{s:s, s:I, s:s}", "request", request,
		"amount", (json_int_t)amount, "csr", o->csr), &resp, &status);
	if (r == CS_EINVAL || r == CS_EDENIED || r == CS_ELIMIT) {
		/* the hub refused the request: nothing was taken, so it is not
		 * pending any more (a network failure leaves it to be repeated) */
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", cs_error_last());
		cs_store_run(NULL, w->db, "UPDATE wallet SET pending_load = NULL, pending_amount = 0 WHERE id = 1 "
			"AND pending_load = ?", "t", request);
		return cs_error_set(r, "%s", msg);
	}
	if (r < 0)
		return r;
	if (status != 200) {
		r = cs_error_set(CS_ENET, "the hub answered %d", status);
		goto done;
	}
	json_t *vs = json_object_get(resp, "vouchers");
	if (!json_is_array(vs) || json_array_size(vs) != 1) {
		r = cs_error_set(CS_EMALFORMED, "the hub's answer holds no voucher");
		goto done;
	}
	if ((r = cs_store_begin(w->db)) < 0)
		goto done;
	in_tx = 1;
	if ((r = take_identity(w, resp)) < 0)
		goto done;
	uint8_t *v = NULL;
	size_t vl = 0;
	const char *t = json_string_value(json_array_get(vs, 0));
	if (t == NULL || (r = cs_base64_decode(&v, &vl, t, 8192)) < 0) {
		r = r < 0 ? r : cs_error_set(CS_EMALFORMED, "the voucher is not base64");
		goto done;
	}
	r = cs__wl_coin_from_voucher(&c, v, vl);
	free(v);
	int refusal;
	if (r < 0 || (r = cs__wl_coin_verify(&refusal, &c, w->ca, cs__wl_cert_lookup, w)) < 0 ||
	    strcmp(c.holder, w->device) != 0 || c.value != amount) {
		r = r < 0 ? cs_error_wrap("the hub's voucher")
			  : cs_error_set(CS_EAUTH, "the hub's voucher is not for this device and amount");
		goto done;
	}
	r = cs__wl_coin_store(w, &c);
	int fresh = r == 0;
	if (r == CS_EEXISTS)
		r = CS_OK; /* stored by an earlier attempt whose commit landed */
	if (r < 0 || (fresh && (r = cs__wl_history_add(w, NULL, "load", "", "", amount, 0, "loaded")) < 0) ||
	    (r = cs_store_run(NULL, w->db, "UPDATE wallet SET pending_load = NULL, pending_amount = 0 WHERE id = 1",
		     "")) < 0 ||
	    (r = cs_store_commit(w->db)) < 0)
		goto done;
	in_tx = 0;
	res->online_balance = (int64_t)json_integer_value(json_object_get(resp, "online_balance"));
	res->vouchers_received++;
	res->value_received += amount;
done:
	if (in_tx)
		cs_store_rollback(w->db);
	cs__wl_coin_clear(&c);
	json_decref(resp);
	return r;
}

int cs_wallet_load(cs_wallet_online *res, const char *data_dir, uint64_t amount)
{
	struct online o;
	cs_stmt *q = NULL;
	char request[33] = "", pending[33] = "";
	uint64_t pending_amount = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if (amount == 0 || amount > CS_WALLET_AMOUNT_MAX)
		return cs_error_set(CS_EINVAL, "an amount is 1..%llu", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	if ((r = online_open(&o, data_dir)) < 0)
		goto done;
	/* a load whose answer never arrived is finished first, with its own id */
	if ((r = cs_store_run(&q, o.w->db, "SELECT pending_load, pending_amount FROM wallet WHERE id = 1 AND "
		     "pending_load IS NOT NULL", "")) < 0)
		goto done;
	if (r == 1) {
		snprintf(pending, sizeof(pending), "%s", cs_stmt_text(q, 0));
		pending_amount = (uint64_t)cs_stmt_int64(q, 1);
	}
	cs_stmt_free(q);
	q = NULL;
	if (pending[0]) {
		cs_log(CS_LOG_INFO, "wallet.load_repeat", "request=%s amount=%llu", pending,
			(unsigned long long)pending_amount);
		r = load_once(res, &o, pending, pending_amount);
		if (r < 0 && r != CS_EINVAL && r != CS_EDENIED && r != CS_ELIMIT)
			goto done; /* still pending: try again later */
	}
	uint8_t id[16];
	if ((r = cs_random(id, sizeof(id))) < 0)
		goto done;
	cs_hex_encode(request, id, sizeof(id));
	if ((r = cs_store_run(NULL, o.w->db, "UPDATE wallet SET pending_load = ?, pending_amount = ? WHERE id = 1",
		     "ti", request, (int64_t)amount)) < 0 ||
	    (r = load_once(res, &o, request, amount)) < 0 ||
	    (r = cs__wl_balance(o.w, &res->wallet_balance, NULL)) < 0)
		goto done;
	res->hub_balance = res->wallet_balance;
done:
	cs_stmt_free(q);
	online_close(&o);
	return r;
}

/* ---- sync ---- */

/* A JSON array of the base64 column 0 of sql's rows; *max_id gets the
 * largest column 1 when wanted. */
static int b64_rows(json_t **out, uint64_t *n, int64_t *max_id, cs_store *db, const char *sql)
{
	cs_stmt *q = NULL;
	json_t *a = json_array();
	int r = cs_store_prepare(&q, db, sql);
	*n = 0;
	while (r == 0 && a != NULL && (r = cs_stmt_step(q)) == 1) {
		size_t len;
		const void *p = cs_stmt_blob(q, 0, &len);
		char *t = NULL;
		if (*n == CS__WL_COINS_MAX * 64) {
			r = cs_error_set(CS_ELIMIT, "more than %d vouchers to upload", CS__WL_COINS_MAX * 64);
			break;
		}
		if ((r = cs_base64_encode(&t, p, len)) < 0)
			break;
		json_array_append_new(a, json_string(t));
		free(t);
		(*n)++;
		if (max_id != NULL && cs_stmt_int64(q, 1) > *max_id)
			*max_id = cs_stmt_int64(q, 1);
		r = 0;
	}
	cs_stmt_free(q);
	if (a == NULL)
		r = cs_error_set(CS_ENOMEM, "out of memory");
	if (r < 0) {
		json_decref(a);
		return r;
	}
	*out = a;
	return CS_OK;
}

static int apply_sync(cs_wallet_online *res, cs_wallet *w, json_t *resp, int64_t max_out, uint64_t counter0)
{
	struct cs__wl_carried ac = {.w = w};
	json_t *missing = json_object_get(resp, "missing"), *drop = json_object_get(resp, "drop");
	json_t *certs = json_object_get(resp, "certs");
	struct cs__wl_coin c = {0};
	size_t i;
	json_t *it;
	int r, refusal;

	if (!json_is_array(missing) || !json_is_array(drop) || !json_is_array(certs) ||
	    json_array_size(certs) > CS__WL_SYNC_CERTS_MAX)
		return cs_error_set(CS_EMALFORMED, "the hub's sync answer is incomplete");

	if ((r = cs_store_begin(w->db)) < 0)
		return r;
	if ((r = take_identity(w, resp)) < 0)
		goto done;
	json_array_foreach(certs, i, it) {
		uint8_t *der = NULL;
		size_t dl = 0;
		const char *t = json_string_value(it);
		if (t == NULL || (r = cs_base64_decode(&der, &dl, t, 4 * CS__WL_CERT_MAX)) < 0) {
			r = r < 0 ? r : cs_error_set(CS_EMALFORMED, "a certificate in the hub's answer");
			goto done;
		}
		r = cs__wl_carried_add(&ac, der, dl);
		free(der);
		if (r < 0) {
			cs_error_wrap("the hub's answer");
			goto done;
		}
	}
	if ((r = cs__wl_carried_keep(&ac)) < 0)
		goto done;
	/* spent elsewhere: this wallet's copy is older than its own log
	 * (a restored backup, say); the hub holds the link that spent it */
	json_array_foreach(drop, i, it) {
		uint8_t state[CS__WL_ID_LEN];
		const char *t = json_string_value(it);
		cs_stmt *q = NULL;
		if (t == NULL || strlen(t) != 2 * CS__WL_ID_LEN || cs_hex_decode(state, sizeof(state), t) < 0) {
			r = cs_error_set(CS_EMALFORMED, "the hub's answer names a voucher it cannot");
			goto done;
		}
		if ((r = cs_store_run(&q, w->db, "SELECT value, renewing FROM coins WHERE state = ?", "b",
			     B(state, sizeof(state)))) < 0)
			goto done;
		if (r == 0)
			continue;
		uint64_t value = (uint64_t)cs_stmt_int64(q, 0);
		int renewing = cs_stmt_int64(q, 1) != 0;
		cs_stmt_free(q);
		if ((r = cs_store_run(NULL, w->db, "DELETE FROM coins WHERE state = ?", "b", B(state, sizeof(state)))) < 0 ||
		    (!renewing && (r = cs__wl_history_add(w, NULL, "dropped", "", "", value, 0, "spent elsewhere")) < 0))
			goto done;
		if (renewing)
			res->vouchers_renewed++;
		else
			res->vouchers_dropped++;
	}
	/* owned here and not held: value in flight, settled by the hub */
	json_array_foreach(missing, i, it) {
		uint8_t *coin = NULL;
		size_t cl = 0;
		const char *t = json_string_value(it);
		if (t == NULL || (r = cs_base64_decode(&coin, &cl, t, (CS__WL_COIN_MAX / 3 + 1) * 4)) < 0) {
			r = r < 0 ? r : cs_error_set(CS_EMALFORMED, "a voucher in the hub's answer");
			goto done;
		}
		r = cs__wl_coin_decode(&c, coin, cl);
		free(coin);
		if (r < 0 || (r = cs__wl_coin_verify(&refusal, &c, w->ca, cs__wl_carried_lookup, &ac)) < 0) {
			cs_error_wrap("voucher %zu from the hub", i + 1);
			goto done;
		}
		if (strcmp(c.holder, w->device) != 0) {
			r = cs_error_set(CS_EAUTH, "the hub sent a voucher held by another device");
			goto done;
		}
		r = cs__wl_coin_store(w, &c);
		if (r == CS_EEXISTS) {
			r = CS_OK;
		} else if (r == 0) {
			const struct cs__wl_link *l = c.n ? &c.links[c.n - 1] : NULL;
			if (l == NULL) { /* a voucher the hub issued: a renewal (or a lost load's) */
				r = cs__wl_history_add(w, NULL, "renewed", "", "", c.value, 0, "new voucher");
			} else {
				r = cs__wl_history_add(w, NULL, "settled", c.side ? "" : l->payer, "", c.value,
					l->counter, "from the hub");
				res->vouchers_received++;
				res->value_received += c.value;
			}
		}
		cs__wl_coin_clear(&c);
		if (r < 0)
			goto done;
	}
	if ((r = cs_store_run(NULL, w->db, "DELETE FROM outbox WHERE id <= ?", "i", max_out)) < 0 ||
	    /* transfers paid while this sync was under way still count */
	    (r = cs_store_run(NULL, w->db, "UPDATE wallet SET since_sync = MAX(0, counter - ?), last_sync = ? "
		     "WHERE id = 1", "ii", (int64_t)counter0, cs_clock_now())) < 0 ||
	    (r = cs_store_commit(w->db)) < 0)
		goto done;
	r = CS_OK;
done:
	if (r < 0)
		cs_store_rollback(w->db);
	cs__wl_coin_clear(&c);
	cs__wl_carried_clear(&ac);
	return r;
}

/* Sign every coin with a long chain over to this wallet itself: the hub
 * answers such a renewal with a fresh voucher of the same value. The coin
 * is not paid from meanwhile. */
static int renew_long_coins(cs_wallet *w)
{
	struct cs__wl_coin c = {0}, renewed = {0};
	cs_stmt *q = NULL;
	int r;

	if ((r = cs_store_begin(w->db)) < 0)
		return r;
	if ((r = cs_store_prepare(&q, w->db, "SELECT coin FROM coins WHERE renewing = 0 AND links >= ?")) < 0 ||
	    (r = cs_stmt_bind_int64(q, 1, CS__WL_RENEW_LINKS)) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		struct cs__wl_link l;
		uint8_t transfer[CS__WL_ID_LEN];
		size_t len;
		const void *p = cs_stmt_blob(q, 0, &len);
		if ((r = cs__wl_coin_decode(&c, p, len)) < 0)
			break;
		cs__wl_renew_id(transfer, c.state);
		if (c.n >= CS__WL_LINKS_MAX) { /* no room (received before receivers checked): kept as is */
			cs__wl_coin_clear(&c);
			continue;
		}
		if ((r = cs__wl_link_make(&l, &c, w->key, w->device, w->device, c.value, 0, cs_clock_now_ms(),
			     transfer)) < 0)
			break;
		r = cs__wl_coin_extend(&renewed, &c, &l, 0);
		cs__wl_link_clear(&l);
		if (r < 0 ||
		    (r = cs_store_run(NULL, w->db, "DELETE FROM coins WHERE state = ?", "b", B(c.state, CS__WL_ID_LEN))) < 0 ||
		    (r = cs__wl_coin_store(w, &renewed)) < 0)
			break;
		cs__wl_coin_clear(&c);
		cs__wl_coin_clear(&renewed);
	}
done:
	cs_stmt_free(q);
	cs__wl_coin_clear(&c);
	cs__wl_coin_clear(&renewed);
	if (r < 0) {
		cs_store_rollback(w->db);
		return r;
	}
	return cs_store_commit(w->db);
}

int cs_wallet_sync(cs_wallet_online *res, const char *data_dir)
{
	struct online o;
	json_t *held = NULL, *paid = NULL, *resp = NULL;
	uint64_t nheld = 0, npaid = 0, counter0 = 0;
	int64_t max_out = 0;
	int status, r;

	memset(res, 0, sizeof(*res));
	if ((r = online_open(&o, data_dir)) < 0 || (r = renew_long_coins(o.w)) < 0 ||
	    (r = cs__wl_load_row(o.w)) < 0 || ((counter0 = o.w->counter), 0) ||
	    (r = b64_rows(&held, &nheld, NULL, o.w->db, "SELECT coin FROM coins ORDER BY state")) < 0 ||
	    (r = b64_rows(&paid, &npaid, &max_out, o.w->db, "SELECT coin, id FROM outbox ORDER BY id")) < 0)
		goto done;
	r = cs__acct_call(&o.cn, "/v1/account/wallet/sync", json_pack("{s:s, s:o, s:o}", "csr", o.csr, "held",
		held, "paid", paid), &resp, &status);
	held = paid = NULL;
	if (r < 0)
		goto done;
	if (status != 200) {
		r = cs_error_set(CS_ENET, "the hub answered %d", status);
		goto done;
	}
	if ((r = apply_sync(res, o.w, resp, max_out, counter0)) < 0 ||
	    (r = cs__wl_balance(o.w, &res->wallet_balance, NULL)) < 0)
		goto done;
	res->uploaded = nheld + npaid;
	res->hub_balance = (uint64_t)json_integer_value(json_object_get(resp, "hub_balance"));
	res->online_balance = (int64_t)json_integer_value(json_object_get(resp, "online_balance"));
	res->conflicts = json_array_size(json_object_get(resp, "conflicts"));
	res->conflicts_new = (uint64_t)json_integer_value(json_object_get(resp, "conflicts_new"));
done:
	json_decref(held);
	json_decref(paid);
	json_decref(resp);
	online_close(&o);
	return r;
}
