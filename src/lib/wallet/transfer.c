/*
 * The offline transfer's two state machines (PROTOCOL.md §13.3).
 *
 * Payer:    idle --init--> initiated --execute--> executed --complete--> idle
 * Receiver: idle --start--> init-sent --answer--> execute-sent
 *                --execute answer--> complete-sent --complete answer--> idle
 *
 * Every step checks everything first and then changes the wallet in one
 * transaction that commits before the answer is handed back: a refused
 * message changes nothing, and a process killed mid-step restarts in the
 * state before or after it. The payer lowers its balance when it answers
 * execute (the vouchers leave with that answer); the receiver raises its
 * balance when it sends complete. Value whose answer is lost in between is
 * "in flight": the payer's log proves it belongs to the receiver, and the
 * hub hands it over at the receiver's next sync.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "lib/wallet/wallet_internal.h"

static const uint8_t zero_id[CS__WL_ID_LEN];

/* Each handler runs inside one IMMEDIATE transaction taken before it reads
 * the wallet's state (cs_wallet_pay_handle, cs_wallet_receive_handle): two
 * processes handed the same message take turns, and the second finds it
 * handled. The steps' own begin/commit are then part of that transaction. */
static int tx_begin(cs_wallet *w)
{
	return w->outer_tx ? CS_OK : cs_store_begin(w->db);
}

static int tx_commit(cs_wallet *w)
{
	return w->outer_tx ? CS_OK : cs_store_commit(w->db);
}

static void tx_rollback(cs_wallet *w)
{
	if (!w->outer_tx)
		cs_store_rollback(w->db);
}

static int refuse(int *refusal, int why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int refuse(int *refusal, int why, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*refusal = why;
	return cs_error_set(CS_EDENIED, "%s", msg);
}

/* Decode, mapping decoding failures onto refusals. */
static int decode(struct cs__wl_msg *m, int *refusal, const uint8_t *in, size_t len)
{
	int r = cs__wl_msg_decode(m, in, len);
	if (r == CS_EAUTH)
		return refuse(refusal, CS_WR_ALTERED, "%s", cs_error_last());
	if (r < 0)
		return refuse(refusal, CS_WR_MALFORMED, "%s", cs_error_last());
	return CS_OK;
}

/* A peer's certificate from a message: issued by this wallet's hub, valid
 * now, and naming the device the message claims. */
static int check_peer_cert(cs_cert **out, int *refusal, cs_wallet *w, const struct cs__wl_msg *m,
	int64_t now)
{
	cs_cert *c = NULL;
	char san[CS_DEVICE_ID_SIZE];
	if (cs_cert_from_der(&c, m->cert, m->cert_len) < 0)
		return refuse(refusal, CS_WR_MALFORMED, "the certificate of %s does not parse", m->device);
	int r = cs_cert_verify(c, w->ca, NULL, now);
	if (r == CS_EEXPIRED) {
		cs_cert_free(c);
		return refuse(refusal, CS_WR_CERT_EXPIRED, "the certificate of %s is outside its validity",
			m->device);
	}
	if (r < 0 || cs_cert_san_device_id(san, c) < 0 || strcmp(san, m->device) != 0) {
		cs_cert_free(c);
		return refuse(refusal, CS_WR_CERT_UNKNOWN, "the certificate of %s is not one this wallet's "
			"hub issued to that device", m->device);
	}
	if (strcmp(m->device, w->device) == 0) {
		cs_cert_free(c);
		return refuse(refusal, CS_WR_SELF, "a wallet cannot pay itself");
	}
	*out = c;
	return CS_OK;
}

static int copy_blob(uint8_t *out, size_t n, cs_stmt *q, int col)
{
	size_t len;
	const void *p = cs_stmt_blob(q, col, &len);
	if (p == NULL || len != n) {
		memset(out, 0, n);
		return 0;
	}
	memcpy(out, p, n);
	return 1;
}

/* ---- payer ---- */

struct payer_row {
	char state[16];
	uint64_t amount;
	uint8_t d_init[CS__WL_ID_LEN], d_answer[CS__WL_ID_LEN], random[CS__WL_RANDOM_LEN];
	uint8_t d_execute[CS__WL_ID_LEN], d_exec_answer[CS__WL_ID_LEN], key[CS__WL_MAC_LEN];
	char peer[CS_DEVICE_ID_SIZE];
	int64_t history;
};

static int payer_row(struct payer_row *p, cs_wallet *w)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT state, amount, d_init, d_answer, random, d_execute, "
		"d_exec_answer, key, peer, history FROM payer WHERE id = 1", "");
	memset(p, 0, sizeof(*p));
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_EDB, "wallet.db has no payer row");
	snprintf(p->state, sizeof(p->state), "%s", cs_stmt_text(q, 0) ? cs_stmt_text(q, 0) : "");
	p->amount = (uint64_t)cs_stmt_int64(q, 1);
	copy_blob(p->d_init, CS__WL_ID_LEN, q, 2);
	copy_blob(p->d_answer, CS__WL_ID_LEN, q, 3);
	copy_blob(p->random, CS__WL_RANDOM_LEN, q, 4);
	copy_blob(p->d_execute, CS__WL_ID_LEN, q, 5);
	copy_blob(p->d_exec_answer, CS__WL_ID_LEN, q, 6);
	copy_blob(p->key, CS__WL_MAC_LEN, q, 7);
	snprintf(p->peer, sizeof(p->peer), "%s", cs_stmt_text(q, 8) ? cs_stmt_text(q, 8) : "");
	p->history = cs_stmt_int64(q, 9);
	cs_stmt_free(q);
	return CS_OK;
}

static int pay_init(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct cs__wl_msg *m, const uint8_t *in, size_t in_len)
{
	uint8_t random[CS__WL_RANDOM_LEN];
	uint64_t balance;
	cs_wallet_msg ans = {0};
	int r;

	(void)in, (void)in_len;
	if (w->cert == NULL || w->ca == NULL)
		return refuse(refusal, CS_WR_WRONG_STATE, "this wallet has no certificate yet: run "
			"'certsync wallet load' or 'wallet sync' online first");
	if (m->amount > w->max_amount)
		return refuse(refusal, CS_WR_LIMIT_AMOUNT, "%llu is above the offline limit of %llu per "
			"transfer", (unsigned long long)m->amount, (unsigned long long)w->max_amount);
	if (w->since_sync >= w->max_transfers)
		return refuse(refusal, CS_WR_LIMIT_COUNT, "%llu transfers paid since the last sync (the "
			"limit): sync with the hub first", (unsigned long long)w->since_sync);
	if ((r = cs__wl_spendable(w, &balance)) < 0)
		return r;
	if (balance < m->amount)
		return refuse(refusal, CS_WR_BALANCE, "the balance that can be paid is %llu, the amount %llu",
			(unsigned long long)balance, (unsigned long long)m->amount);
	if ((r = cs_random(random, sizeof(random))) < 0 ||
	    (r = cs__wl_enc_init_answer(&ans, m->digest, random, w->device, w->name, w->cert_der,
		     w->cert_der_len)) < 0)
		return r;
	uint8_t d_answer[CS__WL_ID_LEN];
	cs_sha256(d_answer, ans.data, ans.len);
	/* an executed transfer waiting for complete stays unconfirmed: its
	 * value left with the execute answer and is settled at the next sync */
	if ((r = tx_begin(w)) < 0)
		goto fail;
	if ((r = cs_store_run(NULL, w->db, "UPDATE payer SET state = 'initiated', amount = ?, d_init = ?, "
		"d_answer = ?, random = ?, d_execute = NULL, d_exec_answer = NULL, key = NULL, peer = NULL, "
		"peer_name = NULL, history = NULL WHERE id = 1", "ibbb", (int64_t)m->amount,
		(const void *)m->digest, (size_t)CS__WL_ID_LEN, (const void *)d_answer, (size_t)CS__WL_ID_LEN,
		(const void *)random, sizeof(random))) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		goto fail;
	}
	cs_wipe(random, sizeof(random));
	*out = ans;
	step->amount = m->amount;
	step->stage = "initiated";
	return CS_OK;
fail:
	cs_wallet_msg_free(&ans);
	return r;
}

/* Coins held, largest first, until they cover amount. */
static int pick_coins(struct cs__wl_coin **out, size_t *n, cs_wallet *w, uint64_t amount, int *refusal)
{
	struct cs__wl_coin *coins = NULL;
	uint64_t sum = 0;
	cs_stmt *q = NULL;
	/* a coin paid on must keep room for the payee's renewal link */
	int r = cs_store_prepare(&q, w->db, "SELECT coin FROM coins WHERE renewing = 0 AND links <= ? "
		"ORDER BY value DESC, state");

	*n = 0;
	if (r < 0 || (r = cs_stmt_bind_int64(q, 1, CS__WL_LINKS_MAX - 2)) < 0) {
		cs_stmt_free(q);
		return r;
	}
	while (sum < amount && (r = cs_stmt_step(q)) == 1) {
		if (*n == CS__WL_COINS_MAX) {
			r = refuse(refusal, CS_WR_VOUCHER_VALUE, "the amount needs more than %d vouchers",
				CS__WL_COINS_MAX);
			goto fail;
		}
		struct cs__wl_coin *m = realloc(coins, (*n + 1) * sizeof(*m));
		if (m == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		coins = m;
		size_t len;
		const void *p = cs_stmt_blob(q, 0, &len);
		if ((r = cs__wl_coin_decode(&coins[*n], p, len)) < 0) {
			cs_error_wrap("a voucher in wallet.db");
			goto fail;
		}
		sum += coins[(*n)++].value;
	}
	if (r < 0)
		goto fail;
	if (sum < amount) {
		r = refuse(refusal, CS_WR_BALANCE, "the balance is %llu, the amount %llu",
			(unsigned long long)sum, (unsigned long long)amount);
		goto fail;
	}
	cs_stmt_free(q);
	*out = coins;
	return CS_OK;
fail:
	cs_stmt_free(q);
	for (size_t i = 0; i < *n; i++)
		cs__wl_coin_clear(&coins[i]);
	free(coins);
	*n = 0;
	return r;
}

/* Add the DER certificate of device to certs (once). */
static int add_cert(cs_buf **certs, size_t *ncerts, char (*seen)[CS_DEVICE_ID_SIZE], cs_wallet *w,
	const char *device)
{
	for (size_t i = 0; i < *ncerts; i++)
		if (strcmp(seen[i], device) == 0)
			return CS_OK;
	if (*ncerts == CS__WL_CERTS_MAX)
		return cs_error_set(CS_ELIMIT, "the vouchers name more than %d devices", CS__WL_CERTS_MAX);
	const cs_cert *c = cs__wl_cert_lookup(w, device);
	uint8_t *der = NULL;
	size_t len = 0;
	int r;
	if (c == NULL)
		return cs_error_set(CS_ENOTFOUND, "no certificate of %s, who signed a voucher held here", device);
	if ((r = cs_cert_to_der(&der, &len, c)) < 0)
		return r;
	if ((certs[*ncerts] = cs_buf_new(len + 1)) == NULL || (r = cs_buf_put(certs[*ncerts], der, len)) < 0) {
		free(der);
		cs_buf_free(certs[*ncerts]);
		certs[*ncerts] = NULL;
		return r < 0 ? r : cs_error_set(CS_ENOMEM, "out of memory");
	}
	free(der);
	snprintf(seen[*ncerts], CS_DEVICE_ID_SIZE, "%s", device);
	(*ncerts)++;
	return CS_OK;
}

static int pay_execute(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct cs__wl_msg *m, int64_t now)
{
	struct payer_row p;
	cs_cert *peer = NULL;
	struct cs__wl_coin *coins = NULL, payee_coin = {0}, change_coin = {0};
	size_t ncoins = 0, ncerts = 0, nout = 0;
	cs_buf *outc[CS__WL_COINS_MAX] = {0}, *certs[CS__WL_CERTS_MAX] = {0};
	char (*cert_ids)[CS_DEVICE_ID_SIZE] = NULL;
	uint8_t tbs[CS__WL_ID_LEN], transfer[CS__WL_ID_LEN], key[CS__WL_MAC_LEN];
	cs_wallet_msg ans = {0};
	int64_t hist = 0;
	int r, in_tx = 0;

	if ((r = payer_row(&p, w)) < 0)
		return r;
	if (strcmp(p.state, "idle") == 0)
		return refuse(refusal, CS_WR_WRONG_STATE, "no transfer is in progress: an execute needs an "
			"init first");
	if (strcmp(p.state, "executed") == 0)
		return refuse(refusal, CS_WR_WRONG_ORDER, "the transfer in progress was executed already "
			"and waits for complete");
	if (memcmp(m->prev, p.d_answer, CS__WL_ID_LEN) != 0)
		return refuse(refusal, CS_WR_UNKNOWN_TRANSFER, "this execute answers another init than "
			"the transfer in progress");
	if ((r = check_peer_cert(&peer, refusal, w, m, now)) < 0)
		return r;
	cs__wl_execute_tbs(tbs, p.d_init, p.d_answer, m->random, m->factor, m->device, w->device);
	if (cs_cert_verify_signature(peer, tbs, sizeof(tbs), m->sig, m->sig_len) < 0) {
		r = refuse(refusal, CS_WR_SIGNATURE, "the receiver's signature does not verify with the "
			"certificate of %s", m->device);
		goto done;
	}
	if ((r = pick_coins(&coins, &ncoins, w, p.amount, refusal)) < 0)
		goto done;
	cs__wl_transfer_id(transfer, p.d_init, p.d_answer, m->digest);
	if ((r = cs__wl_session_key(key, w->key, peer, m->factor, p.random, m->random, transfer)) < 0)
		goto done;
	if ((cert_ids = calloc(CS__WL_CERTS_MAX, CS_DEVICE_ID_SIZE)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = tx_begin(w)) < 0)
		goto done;
	in_tx = 1;
	uint64_t counter = w->counter + 1, left = p.amount;
	int64_t t = cs_clock_now_ms();
	for (size_t i = 0; i < ncoins; i++) {
		struct cs__wl_link l;
		uint64_t give = coins[i].value < left ? coins[i].value : left;
		left -= give;
		if ((r = cs__wl_link_make(&l, &coins[i], w->key, w->device, m->device, give, counter, t,
			     transfer)) < 0)
			goto done;
		r = cs__wl_coin_extend(&payee_coin, &coins[i], &l, 0);
		if (r == 0 && l.change > 0)
			r = cs__wl_coin_extend(&change_coin, &coins[i], &l, 1);
		cs__wl_link_clear(&l);
		if (r < 0)
			goto done;
		if ((outc[nout] = cs_buf_new(CS__WL_COIN_MAX)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		if ((r = cs__wl_coin_encode(outc[nout], &payee_coin)) < 0)
			goto done;
		for (size_t k = 0; k < payee_coin.n; k++)
			if ((r = add_cert(certs, &ncerts, cert_ids, w, payee_coin.links[k].payer)) < 0)
				goto done;
		if ((r = cs_store_run(NULL, w->db, "DELETE FROM coins WHERE state = ?", "b",
			     (const void *)coins[i].state, (size_t)CS__WL_ID_LEN)) < 0 ||
		    (cs_store_changes(w->db) != 1 &&
		     (r = cs_error_set(CS_ECONFLICT, "a voucher being paid left the wallet meanwhile")) < 0) ||
		    (r = cs_store_run(NULL, w->db, "INSERT INTO outbox (coin) VALUES (?)", "b",
			     (const void *)cs_buf_ptr(outc[nout]), cs_buf_len(outc[nout]))) < 0)
			goto done;
		nout++;
		if (change_coin.value > 0 && (r = cs__wl_coin_store(w, &change_coin)) < 0)
			goto done;
		cs__wl_coin_clear(&payee_coin);
		cs__wl_coin_clear(&change_coin);
	}
	if ((r = cs__wl_enc_execute_answer(&ans, m->digest, counter, (const cs_buf *const *)outc, nout,
		     (const cs_buf *const *)certs, ncerts, key)) < 0)
		goto done;
	uint8_t d_ans[CS__WL_ID_LEN];
	cs_sha256(d_ans, ans.data, ans.len);
	if ((r = cs__wl_history_add(w, &hist, "paid", m->device, m->name, p.amount, counter,
		     "executed")) < 0 ||
	    (r = cs_store_run(NULL, w->db, "UPDATE wallet SET counter = ?, since_sync = since_sync + 1 "
		     "WHERE id = 1", "i", (int64_t)counter)) < 0 ||
	    (r = cs_store_run(NULL, w->db, "UPDATE payer SET state = 'executed', d_execute = ?, "
		     "d_exec_answer = ?, key = ?, peer = ?, peer_name = ?, history = ? WHERE id = 1", "bbbtti",
		     (const void *)m->digest, (size_t)CS__WL_ID_LEN, (const void *)d_ans, (size_t)CS__WL_ID_LEN,
		     (const void *)key, sizeof(key), m->device, m->name, hist)) < 0 ||
	    (r = cs__wl_cert_store(w, m->device, m->cert, m->cert_len)) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0)
		goto done;
	in_tx = 0;
	w->counter = counter;
	w->since_sync++;
	*out = ans;
	ans.data = NULL;
	step->amount = p.amount;
	step->counter = counter;
	snprintf(step->peer, sizeof(step->peer), "%s", m->device);
	snprintf(step->peer_name, sizeof(step->peer_name), "%s", m->name);
	step->stage = "paid";
done:
	if (in_tx)
		tx_rollback(w);
	cs_wallet_msg_free(&ans);
	cs__wl_coin_clear(&payee_coin);
	cs__wl_coin_clear(&change_coin);
	for (size_t i = 0; i < ncoins; i++)
		cs__wl_coin_clear(&coins[i]);
	free(coins);
	for (size_t i = 0; i < CS__WL_COINS_MAX; i++)
		cs_buf_free(outc[i]);
	for (size_t i = 0; i < ncerts; i++)
		cs_buf_free(certs[i]);
	free(cert_ids);
	cs_cert_free(peer);
	cs_wipe(key, sizeof(key));
	cs_wipe(&p, sizeof(p));
	return r;
}

static int pay_complete(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct cs__wl_msg *m)
{
	struct payer_row p;
	uint8_t mac[CS__WL_MAC_LEN];
	cs_wallet_msg ans = {0};
	int r;

	if ((r = payer_row(&p, w)) < 0)
		return r;
	if (strcmp(p.state, "idle") == 0) {
		r = refuse(refusal, CS_WR_WRONG_STATE, "no transfer is in progress to complete");
		goto done;
	}
	if (strcmp(p.state, "initiated") == 0) {
		r = refuse(refusal, CS_WR_WRONG_ORDER, "complete before execute");
		goto done;
	}
	if (memcmp(m->prev, p.d_exec_answer, CS__WL_ID_LEN) != 0) {
		r = refuse(refusal, CS_WR_UNKNOWN_TRANSFER, "this complete answers another transfer");
		goto done;
	}
	cs__wl_mac(mac, p.key, "certsync-wallet-complete", p.d_exec_answer, CS__WL_ID_LEN);
	if (!cs_memeq(mac, m->mac, sizeof(mac))) {
		r = refuse(refusal, CS_WR_MAC, "the receiver's MAC does not verify under the session key");
		goto done;
	}
	cs__wl_mac(mac, p.key, "certsync-wallet-complete-answer", m->digest, CS__WL_ID_LEN);
	if ((r = cs__wl_enc_mac_msg(&ans, CS__WL_COMPLETE_ANSWER, m->digest, mac)) < 0)
		goto done;
	if ((r = tx_begin(w)) < 0)
		goto done;
	if ((r = cs_store_run(NULL, w->db, "UPDATE history SET state = 'completed' WHERE id = ?", "i",
		     p.history)) < 0 ||
	    (r = cs_store_run(NULL, w->db, "UPDATE payer SET state = 'idle', key = NULL WHERE id = 1", "")) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		goto done;
	}
	*out = ans;
	ans.data = NULL;
	step->done = 1;
	step->amount = p.amount;
	snprintf(step->peer, sizeof(step->peer), "%s", p.peer);
	step->stage = "completed";
done:
	cs_wallet_msg_free(&ans);
	cs_wipe(mac, sizeof(mac));
	cs_wipe(&p, sizeof(p));
	return r;
}

static int pay_step(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now);

typedef int (*step_fn)(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now);

/* Run one step inside its transaction (see tx_begin): committed when it
 * succeeds, and when the payer refused (the receiver's transfer ends);
 * rolled back otherwise, so a refused message changes nothing. */
static int handle(step_fn fn, cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now)
{
	int r;
	memset(out, 0, sizeof(*out));
	memset(step, 0, sizeof(*step));
	*refusal = CS_WR_NONE;
	if ((r = cs_store_begin(w->db)) < 0)
		return r;
	w->outer_tx = 1;
	r = fn(out, refusal, step, w, in, in_len, now);
	w->outer_tx = 0;
	if ((r == 0 || *refusal == CS_WR_PEER) && cs_store_commit(w->db) < 0) {
		cs_wallet_msg_free(out);
		r = cs_error_code() < 0 ? cs_error_code() : CS_EDB;
		*refusal = CS_WR_NONE;
	}
	if (r < 0)
		cs_store_rollback(w->db);
	return r;
}


int cs_wallet_pay_handle(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now)
{
	return handle(pay_step, out, refusal, step, w, in, in_len, now);
}

static int pay_step(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now)
{
	struct cs__wl_msg m;
	int r;

	if ((r = cs__wl_load_row(w)) < 0)
		return r;
	if ((r = decode(&m, refusal, in, in_len)) < 0)
		goto refused;
	if (m.type != CS__WL_INIT && m.type != CS__WL_EXECUTE && m.type != CS__WL_COMPLETE) {
		r = refuse(refusal, CS_WR_WRONG_ORDER, "a payer takes init, execute and complete; this is "
			"a %s, which the receiver takes", cs_wallet_msg_type_name(m.type));
		goto refused;
	}
	if ((r = cs__wl_seen(w, m.digest)) != 0) {
		if (r > 0)
			r = refuse(refusal, CS_WR_REPLAYED, "this %s was handled before",
				cs_wallet_msg_type_name(m.type));
		goto refused;
	}
	if (m.type == CS__WL_INIT)
		r = pay_init(out, refusal, step, w, &m, in, in_len);
	else if (m.type == CS__WL_EXECUTE)
		r = pay_execute(out, refusal, step, w, &m, now);
	else
		r = pay_complete(out, refusal, step, w, &m);
	if (r == 0)
		return CS_OK;
refused:
	if (*refusal != CS_WR_NONE) {
		/* tell the receiver why, answering the message refused */
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", cs_error_last());
		uint8_t prev[CS__WL_ID_LEN];
		if (m.type != 0)
			memcpy(prev, m.digest, sizeof(prev));
		else
			memcpy(prev, zero_id, sizeof(prev));
		cs__wl_enc_error(out, prev, cs_wallet_refusal_name(*refusal), msg);
		cs_error_set(CS_EDENIED, "%s", msg);
		return CS_EDENIED;
	}
	return r;
}

/* ---- receiver ---- */

struct receiver_row {
	char state[16];
	uint64_t amount;
	uint8_t d_init[CS__WL_ID_LEN], d_answer[CS__WL_ID_LEN], d_execute[CS__WL_ID_LEN];
	uint8_t d_exec_answer[CS__WL_ID_LEN], d_last[CS__WL_ID_LEN];
	uint8_t random_payer[CS__WL_RANDOM_LEN], random[CS__WL_RANDOM_LEN], factor[CS__WL_FACTOR_LEN];
	uint8_t key[CS__WL_MAC_LEN];
	char peer[CS_DEVICE_ID_SIZE], peer_name[CS__WL_NAME_MAX + 1];
	int64_t history;
};

static int receiver_row(struct receiver_row *p, cs_wallet *w)
{
	cs_stmt *q = NULL;
	int r = cs_store_run(&q, w->db, "SELECT state, amount, d_init, d_answer, d_execute, d_exec_answer, "
		"d_last, random_payer, random, factor, key, peer, peer_name, history FROM receiver "
		"WHERE id = 1", "");
	memset(p, 0, sizeof(*p));
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_EDB, "wallet.db has no receiver row");
	snprintf(p->state, sizeof(p->state), "%s", cs_stmt_text(q, 0) ? cs_stmt_text(q, 0) : "");
	p->amount = (uint64_t)cs_stmt_int64(q, 1);
	copy_blob(p->d_init, CS__WL_ID_LEN, q, 2);
	copy_blob(p->d_answer, CS__WL_ID_LEN, q, 3);
	copy_blob(p->d_execute, CS__WL_ID_LEN, q, 4);
	copy_blob(p->d_exec_answer, CS__WL_ID_LEN, q, 5);
	copy_blob(p->d_last, CS__WL_ID_LEN, q, 6);
	copy_blob(p->random_payer, CS__WL_RANDOM_LEN, q, 7);
	copy_blob(p->random, CS__WL_RANDOM_LEN, q, 8);
	copy_blob(p->factor, CS__WL_FACTOR_LEN, q, 9);
	copy_blob(p->key, CS__WL_MAC_LEN, q, 10);
	snprintf(p->peer, sizeof(p->peer), "%s", cs_stmt_text(q, 11) ? cs_stmt_text(q, 11) : "");
	snprintf(p->peer_name, sizeof(p->peer_name), "%s", cs_stmt_text(q, 12) ? cs_stmt_text(q, 12) : "");
	p->history = cs_stmt_int64(q, 13);
	cs_stmt_free(q);
	return CS_OK;
}

int cs_wallet_receive_start(cs_wallet_msg *out, int *refusal, cs_wallet *w, uint64_t amount)
{
	int r;
	memset(out, 0, sizeof(*out));
	*refusal = CS_WR_NONE;
	if ((r = cs__wl_load_row(w)) < 0)
		return r;
	if (amount == 0 || amount > CS_WALLET_AMOUNT_MAX)
		return cs_error_set(CS_EINVAL, "an amount is 1..%llu", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	if (w->cert == NULL || w->ca == NULL)
		return refuse(refusal, CS_WR_WRONG_STATE, "this wallet has no certificate yet: run "
			"'certsync wallet load' or 'wallet sync' online first");
	if (amount > w->max_amount)
		return refuse(refusal, CS_WR_LIMIT_AMOUNT, "%llu is above the offline limit of %llu per "
			"transfer", (unsigned long long)amount, (unsigned long long)w->max_amount);
	if ((r = cs__wl_enc_init(out, amount, cs_clock_now_ms())) < 0)
		return r;
	uint8_t d[CS__WL_ID_LEN];
	cs_sha256(d, out->data, out->len);
	if ((r = tx_begin(w)) < 0)
		goto fail;
	if ((r = cs_store_run(NULL, w->db, "UPDATE receiver SET state = 'init-sent', amount = ?, d_init = ?, "
		"d_last = ?, d_answer = NULL, d_execute = NULL, d_exec_answer = NULL, random_payer = NULL, "
		"random = NULL, factor = NULL, peer = NULL, peer_name = NULL, peer_cert = NULL, key = NULL, "
		"last_msg = ?, history = NULL WHERE id = 1", "ibbb", (int64_t)amount, (const void *)d,
		(size_t)CS__WL_ID_LEN, (const void *)d, (size_t)CS__WL_ID_LEN, (const void *)out->data,
		out->len)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		goto fail;
	}
	return CS_OK;
fail:
	cs_wallet_msg_free(out);
	return r;
}

int cs_wallet_receive_last(cs_wallet_msg *out, cs_wallet *w)
{
	cs_stmt *q = NULL;
	memset(out, 0, sizeof(*out));
	int r = cs_store_run(&q, w->db, "SELECT last_msg FROM receiver WHERE id = 1 AND state != 'idle' "
		"AND last_msg IS NOT NULL", "");
	if (r <= 0)
		return r < 0 ? r : cs_error_set(CS_ENOTFOUND, "no transfer is in progress");
	size_t n;
	const void *p = cs_stmt_blob(q, 0, &n);
	if ((out->data = malloc(n ? n : 1)) == NULL) {
		cs_stmt_free(q);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(out->data, p, n);
	out->len = n;
	cs_stmt_free(q);
	return CS_OK;
}

static int recv_answer(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct receiver_row *rr, const struct cs__wl_msg *m, int64_t now)
{
	uint8_t random[CS__WL_RANDOM_LEN], factor[CS__WL_FACTOR_LEN], tbs[CS__WL_ID_LEN];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	cs_cert *peer = NULL;
	int r;

	if ((r = check_peer_cert(&peer, refusal, w, m, now)) < 0)
		return r;
	if ((r = cs_random(random, sizeof(random))) < 0 || (r = cs_random(factor, sizeof(factor))) < 0)
		goto done;
	cs__wl_execute_tbs(tbs, rr->d_init, m->digest, random, factor, w->device, m->device);
	if ((r = cs_key_sign(&sig, &siglen, w->key, tbs, sizeof(tbs))) < 0 ||
	    (r = cs__wl_enc_execute(out, m->digest, random, factor, w->device, w->name, w->cert_der,
		     w->cert_der_len, sig, siglen)) < 0)
		goto done;
	uint8_t d[CS__WL_ID_LEN];
	cs_sha256(d, out->data, out->len);
	if ((r = tx_begin(w)) < 0)
		goto done;
	if ((r = cs_store_run(NULL, w->db, "UPDATE receiver SET state = 'execute-sent', d_answer = ?, "
		     "d_execute = ?, d_last = ?, random_payer = ?, random = ?, factor = ?, peer = ?, "
		     "peer_name = ?, peer_cert = ?, last_msg = ? WHERE id = 1", "bbbbbbttbb",
		     (const void *)m->digest, (size_t)CS__WL_ID_LEN, (const void *)d, (size_t)CS__WL_ID_LEN,
		     (const void *)d, (size_t)CS__WL_ID_LEN, (const void *)m->random, (size_t)CS__WL_RANDOM_LEN,
		     (const void *)random, sizeof(random), (const void *)factor, sizeof(factor), m->device,
		     m->name, (const void *)m->cert, m->cert_len, (const void *)out->data, out->len)) < 0 ||
	    (r = cs__wl_cert_store(w, m->device, m->cert, m->cert_len)) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		goto done;
	}
	step->amount = rr->amount;
	snprintf(step->peer, sizeof(step->peer), "%s", m->device);
	snprintf(step->peer_name, sizeof(step->peer_name), "%s", m->name);
	step->stage = "execute";
done:
	if (r < 0)
		cs_wallet_msg_free(out);
	free(sig);
	cs_wipe(random, sizeof(random));
	cs_cert_free(peer);
	return r;
}

static int recv_exec_answer(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct receiver_row *rr, const struct cs__wl_msg *m)
{
	struct cs__wl_carried mc = {.w = w};
	struct cs__wl_coin coins[CS__WL_COINS_MAX];
	size_t ncoins = 0;
	uint8_t transfer[CS__WL_ID_LEN], key[CS__WL_MAC_LEN], mac[CS__WL_MAC_LEN];
	cs_cert *peer = NULL;
	cs_stmt *q = NULL;
	uint64_t sum = 0;
	int64_t hist = 0;
	int r;

	/* the session key, then the MAC, before looking at anything else */
	if ((r = cs_store_run(&q, w->db, "SELECT peer_cert FROM receiver WHERE id = 1", "")) <= 0) {
		r = r < 0 ? r : cs_error_set(CS_EDB, "no receiver row");
		goto done;
	}
	size_t pl;
	const void *pc = cs_stmt_blob(q, 0, &pl);
	r = pc ? cs_cert_from_der(&peer, pc, pl) : cs_error_set(CS_EDB, "the payer's certificate is missing");
	cs_stmt_free(q);
	if (r < 0)
		goto done;
	cs__wl_transfer_id(transfer, rr->d_init, rr->d_answer, rr->d_execute);
	if ((r = cs__wl_session_key(key, w->key, peer, rr->factor, rr->random_payer, rr->random,
		     transfer)) < 0)
		goto done;
	cs__wl_mac(mac, key, "certsync-wallet-execute-answer", m->macked, m->macked_len);
	if (!cs_memeq(mac, m->mac, sizeof(mac))) {
		r = refuse(refusal, CS_WR_MAC, "the payer's MAC over the vouchers does not verify under the "
			"session key");
		goto done;
	}
	for (size_t i = 0; i < m->ncerts; i++) {
		/* every certificate is checked, not only those a link uses: they
		 * are kept, and passed on with these coins later */
		int rc = cs__wl_carried_add(&mc, m->certs[i], m->cert_lens[i]);
		if (rc < 0) {
			r = refuse(refusal, rc == CS_EAUTH ? CS_WR_CERT_UNKNOWN : CS_WR_MALFORMED, "certificate %zu: %s",
				i + 1, cs_error_last());
			goto done;
		}
	}
	for (; ncoins < m->ncoins; ncoins++) {
		struct cs__wl_coin *c = &coins[ncoins];
		if (cs__wl_coin_decode(c, m->coins[ncoins], m->coin_len[ncoins]) < 0) {
			r = refuse(refusal, CS_WR_MALFORMED, "voucher %zu: %s", ncoins + 1, cs_error_last());
			goto done;
		}
		if ((r = cs__wl_coin_verify(refusal, c, w->ca, cs__wl_carried_lookup, &mc)) < 0) {
			r = refuse(refusal, *refusal, "voucher %zu: %s", ncoins + 1, cs_error_last());
			ncoins++;
			goto done;
		}
		if (c->n >= CS__WL_LINKS_MAX) {
			r = refuse(refusal, CS_WR_VOUCHER_VALUE, "voucher %zu carries %zu links: no room left to "
				"renew it", ncoins + 1, c->n);
			ncoins++;
			goto done;
		}
		const struct cs__wl_link *l = c->n ? &c->links[c->n - 1] : NULL;
		if (l == NULL || c->side != 0 || strcmp(l->payee, w->device) != 0 ||
		    strcmp(l->payer, rr->peer) != 0 || memcmp(l->transfer, transfer, CS__WL_ID_LEN) != 0 ||
		    l->counter != m->counter) {
			r = refuse(refusal, CS_WR_VOUCHER_VALUE, "voucher %zu is not paid to this wallet by "
				"this transfer", ncoins + 1);
			ncoins++;
			goto done;
		}
		for (size_t k = 0; k < ncoins; k++)
			if (memcmp(coins[k].state, c->state, CS__WL_ID_LEN) == 0) {
				r = refuse(refusal, CS_WR_REPLAYED, "voucher %zu appears twice", ncoins + 1);
				ncoins++;
				goto done;
			}
		if ((r = cs_store_run(NULL, w->db, "SELECT 1 FROM held_ever WHERE state = ?", "b",
			     (const void *)c->state, (size_t)CS__WL_ID_LEN)) != 0) {
			if (r > 0)
				r = refuse(refusal, CS_WR_REPLAYED, "voucher %zu was held here before", ncoins + 1);
			ncoins++;
			goto done;
		}
		sum += c->value;
	}
	if (sum != rr->amount) {
		r = refuse(refusal, CS_WR_VOUCHER_VALUE, "the vouchers carry %llu, the transfer is for %llu",
			(unsigned long long)sum, (unsigned long long)rr->amount);
		goto done;
	}
	cs__wl_mac(mac, key, "certsync-wallet-complete", m->digest, CS__WL_ID_LEN);
	if ((r = cs__wl_enc_mac_msg(out, CS__WL_COMPLETE, m->digest, mac)) < 0)
		goto done;
	uint8_t d[CS__WL_ID_LEN];
	cs_sha256(d, out->data, out->len);
	if ((r = tx_begin(w)) < 0)
		goto done;
	for (size_t i = 0; i < ncoins && r == 0; i++)
		r = cs__wl_coin_store(w, &coins[i]);
	if (r == 0)
		r = cs__wl_carried_keep(&mc);
	if (r < 0 ||
	    (r = cs__wl_history_add(w, &hist, "received", rr->peer, rr->peer_name, rr->amount, m->counter,
		     "received")) < 0 ||
	    (r = cs_store_run(NULL, w->db, "UPDATE receiver SET state = 'complete-sent', d_exec_answer = ?, "
		     "d_last = ?, key = ?, last_msg = ?, history = ? WHERE id = 1", "bbbbi",
		     (const void *)m->digest, (size_t)CS__WL_ID_LEN, (const void *)d, (size_t)CS__WL_ID_LEN,
		     (const void *)key, sizeof(key), (const void *)out->data, out->len, hist)) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		goto done;
	}
	step->amount = rr->amount;
	step->counter = m->counter;
	snprintf(step->peer, sizeof(step->peer), "%s", rr->peer);
	snprintf(step->peer_name, sizeof(step->peer_name), "%s", rr->peer_name);
	step->stage = "received";
done:
	if (r < 0)
		cs_wallet_msg_free(out);
	for (size_t i = 0; i < ncoins; i++)
		cs__wl_coin_clear(&coins[i]);
	cs__wl_carried_clear(&mc);
	cs_cert_free(peer);
	cs_wipe(key, sizeof(key));
	return r;
}

static int recv_complete_answer(int *refusal, cs_wallet_step *step, cs_wallet *w,
	const struct receiver_row *rr, const struct cs__wl_msg *m)
{
	uint8_t mac[CS__WL_MAC_LEN];
	int r;
	cs__wl_mac(mac, rr->key, "certsync-wallet-complete-answer", rr->d_last, CS__WL_ID_LEN);
	if (!cs_memeq(mac, m->mac, sizeof(mac)))
		return refuse(refusal, CS_WR_MAC, "the payer's acknowledgement does not verify under the "
			"session key");
	if ((r = tx_begin(w)) < 0)
		return r;
	if ((r = cs_store_run(NULL, w->db, "UPDATE history SET state = 'confirmed' WHERE id = ?", "i",
		     rr->history)) < 0 ||
	    (r = cs_store_run(NULL, w->db, "UPDATE receiver SET state = 'idle', key = NULL, last_msg = NULL "
		     "WHERE id = 1", "")) < 0 ||
	    (r = cs__wl_seen_add(w, m->digest)) < 0 || (r = tx_commit(w)) < 0) {
		tx_rollback(w);
		return r;
	}
	step->done = 1;
	step->amount = rr->amount;
	snprintf(step->peer, sizeof(step->peer), "%s", rr->peer);
	snprintf(step->peer_name, sizeof(step->peer_name), "%s", rr->peer_name);
	step->stage = "confirmed";
	return CS_OK;
}

/* The payer refused: the transfer ends unless value was received already. */
static int recv_error(int *refusal, cs_wallet *w, const struct receiver_row *rr,
	const struct cs__wl_msg *m)
{
	int r = CS_OK;
	if (strcmp(rr->state, "complete-sent") != 0)
		r = cs_store_run(NULL, w->db, "UPDATE receiver SET state = 'idle', key = NULL, last_msg = NULL "
			"WHERE id = 1", "");
	if (r < 0)
		return r;
	return refuse(refusal, CS_WR_PEER, "the payer refused (%s): %s", m->code, m->text);
}

static int receive_step(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now);

int cs_wallet_receive_handle(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now)
{
	return handle(receive_step, out, refusal, step, w, in, in_len, now);
}

static int receive_step(cs_wallet_msg *out, int *refusal, cs_wallet_step *step, cs_wallet *w,
	const uint8_t *in, size_t in_len, int64_t now)
{
	struct receiver_row rr;
	struct cs__wl_msg m;
	int r;

	if ((r = cs__wl_load_row(w)) < 0 || (r = decode(&m, refusal, in, in_len)) < 0)
		return r;
	if (m.type == CS__WL_INIT || m.type == CS__WL_EXECUTE || m.type == CS__WL_COMPLETE)
		return refuse(refusal, CS_WR_WRONG_ORDER, "a receiver takes the payer's answers; this is "
			"a %s, which the payer takes", cs_wallet_msg_type_name(m.type));
	if ((r = cs__wl_seen(w, m.digest)) != 0)
		return r < 0 ? r : refuse(refusal, CS_WR_REPLAYED, "this %s was handled before",
			cs_wallet_msg_type_name(m.type));
	if ((r = receiver_row(&rr, w)) < 0)
		return r;
	if (strcmp(rr.state, "idle") == 0) {
		r = refuse(refusal, CS_WR_WRONG_STATE, "no transfer is in progress: start one with "
			"'certsync wallet receive --amount N'");
		goto done;
	}
	if (memcmp(m.prev, rr.d_last, CS__WL_ID_LEN) != 0) {
		int earlier = memcmp(m.prev, rr.d_init, CS__WL_ID_LEN) == 0 ||
			memcmp(m.prev, rr.d_execute, CS__WL_ID_LEN) == 0;
		r = earlier ? refuse(refusal, CS_WR_WRONG_ORDER, "this %s answers an earlier message of the "
				"transfer in progress", cs_wallet_msg_type_name(m.type))
			    : refuse(refusal, CS_WR_UNKNOWN_TRANSFER, "this %s answers another transfer",
				cs_wallet_msg_type_name(m.type));
		goto done;
	}
	if (m.type == CS__WL_ERROR) {
		r = recv_error(refusal, w, &rr, &m);
		goto done;
	}
	static const struct { const char *state; int type; } expect[] = {
		{"init-sent", CS__WL_INIT_ANSWER}, {"execute-sent", CS__WL_EXECUTE_ANSWER},
		{"complete-sent", CS__WL_COMPLETE_ANSWER},
	};
	int ok = 0;
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		if (strcmp(rr.state, expect[i].state) == 0 && m.type == expect[i].type)
			ok = 1;
	if (!ok) {
		r = refuse(refusal, CS_WR_WRONG_ORDER, "a %s does not follow in state %s",
			cs_wallet_msg_type_name(m.type), rr.state);
		goto done;
	}
	if (m.type == CS__WL_INIT_ANSWER)
		r = recv_answer(out, refusal, step, w, &rr, &m, now);
	else if (m.type == CS__WL_EXECUTE_ANSWER)
		r = recv_exec_answer(out, refusal, step, w, &rr, &m);
	else
		r = recv_complete_answer(refusal, step, w, &rr, &m);
done:
	cs_wipe(&rr, sizeof(rr));
	return r;
}
