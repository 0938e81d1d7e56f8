/* Unit tests for the offline transfer (src/lib/wallet/; include/certsync/wallet.h):
 * the codecs of coins and message frames, payments between wallets set up
 * without a hub (a CA made here issues the certificates and signs the
 * vouchers, as src/lib/hub/wallet_ledger.c does), every refusal of the two
 * state machines, and what a wallet restored from a copy does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/store.h>
#include <certsync/wallet.h>
#include "lib/wallet/local.h"
#include "lib/wallet/wallet_internal.h"
#include "helpers.h"

#define HEAD_LEN 9               /* frame: magic, type, u32 body length */
#define DAY 86400
#define ACCOUNT "acct-test"
#define HUB_MAX_AMOUNT 1000
#define HUB_MAX_TRANSFERS 100

/* ---- the world: two CAs, made once ---- */

static struct env {
	char *dir;
	cs_ca *ca, *ca2;          /* the wallets' hub, and another */
	uint8_t *ca_der, *ca2_der;
	size_t ca_len, ca2_len;
	int ndev;
} E;

static void ca_make(cs_ca **ca, uint8_t **der, size_t *len, const char *sub, const char *name)
{
	char *dir = cs_path_join(E.dir, sub);
	assert_non_null(dir);
	cs_assert_ok(cs_ca_create(dir, name));
	cs_assert_ok(cs_ca_open(ca, dir));
	cs_assert_ok(cs_cert_to_der(der, len, cs_ca_cert(*ca)));
	free(dir);
}

static int group_setup(void **state)
{
	(void)state;
	E.dir = cs_test_tmpdir("wallet");
	ca_make(&E.ca, &E.ca_der, &E.ca_len, "ca", "test hub");
	ca_make(&E.ca2, &E.ca2_der, &E.ca2_len, "ca2", "other hub");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	cs_ca_free(E.ca);
	cs_ca_free(E.ca2);
	free(E.ca_der);
	free(E.ca2_der);
	cs_fs_remove_tree(E.dir);
	free(E.dir);
	memset(&E, 0, sizeof(E));
	return 0;
}

/* ---- devices and their wallets ---- */

struct dev {
	char *dir;
	char name[32];
	char id[CS_DEVICE_ID_SIZE];
	cs_key *key;
	cs_cert *cert;
	uint8_t *cert_der;
	size_t cert_len;
	cs_wallet *w;
};

/* A device with a wallet whose certificate issuer issued and whose trust
 * anchor is anchor (normally both the test hub). */
static void dev_make(struct dev *d, const char *name, cs_ca *issuer, const uint8_t *anchor,
	size_t anchor_len)
{
	char sub[64], json[128], *keypath, *pem = NULL;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(sub, sizeof(sub), "%s-%d", name, ++E.ndev);
	d->dir = cs_path_join(E.dir, sub);
	assert_non_null(d->dir);
	cs_assert_ok(cs_fs_mkdirs(d->dir, 0700));
	cs_assert_ok(cs_key_generate(&d->key));
	cs_assert_ok(cs_key_device_id(d->id, d->key));
	keypath = cs_path_join(d->dir, "device.key");
	cs_assert_ok(cs_key_save(d->key, keypath, NULL));
	free(keypath);
	snprintf(json, sizeof(json), "{\"name\": \"%s\"}", name);
	cs_test_write_file(d->dir, "device.json", json, strlen(json));
	cs_assert_ok(cs_wallet_open(&d->w, d->dir));
	cs_assert_ok(cs_csr_new(&pem, d->key, name));
	cs_assert_ok(cs_ca_issue_device(&d->cert, issuer, pem, NULL, 30));
	free(pem);
	cs_assert_ok(cs_cert_to_der(&d->cert_der, &d->cert_len, d->cert));
	cs_assert_ok(cs__wl_set_identity(d->w, anchor, anchor_len, d->cert_der, d->cert_len, ACCOUNT,
		HUB_MAX_AMOUNT, HUB_MAX_TRANSFERS));
}

static void dev_free(struct dev *d)
{
	cs_wallet_close(d->w);
	cs_key_free(d->key);
	cs_cert_free(d->cert);
	free(d->cert_der);
	free(d->dir);
	memset(d, 0, sizeof(*d));
}

/* Three devices of the test hub, fresh for every test. */
struct world {
	struct dev a, b, c;
};

static int setup(void **state)
{
	struct world *wd = calloc(1, sizeof(*wd));
	assert_non_null(wd);
	dev_make(&wd->a, "alice", E.ca, E.ca_der, E.ca_len);
	dev_make(&wd->b, "bob", E.ca, E.ca_der, E.ca_len);
	dev_make(&wd->c, "carol", E.ca, E.ca_der, E.ca_len);
	*state = wd;
	return 0;
}

static int teardown(void **state)
{
	struct world *wd = *state;
	dev_free(&wd->a);
	dev_free(&wd->b);
	dev_free(&wd->c);
	free(wd);
	return 0;
}

/* A voucher of value for owner, signed by the test hub, as a packed
 * voucher (what cs__wl_coin_from_voucher takes). */
static cs_buf *voucher_new(const char *owner, uint64_t value, const cs_ca *ca)
{
	uint8_t serial[CS__WL_SERIAL_LEN], *body = NULL, *sig = NULL;
	size_t body_len = 0, sig_len = 0;
	cs_buf *b = cs_buf_new(4096);

	assert_non_null(b);
	cs_assert_ok(cs_random(serial, sizeof(serial)));
	cs_assert_ok(cs__wl_voucher_body(&body, &body_len, serial, value, owner, ACCOUNT, time(NULL)));
	cs_assert_ok(cs_ca_sign(&sig, &sig_len, ca, body, body_len));
	cs_assert_ok(cs__wl_voucher_pack(b, body, body_len, sig, sig_len));
	free(body);
	free(sig);
	return b;
}

/* Give d a voucher of value signed by ca (what a load does). */
static void fund_by(struct dev *d, uint64_t value, const cs_ca *ca)
{
	struct cs__wl_coin c;
	cs_buf *v = voucher_new(d->id, value, ca);
	cs_assert_ok(cs__wl_coin_from_voucher(&c, cs_buf_ptr(v), cs_buf_len(v)));
	cs_assert_ok(cs__wl_coin_store(d->w, &c));
	cs__wl_coin_clear(&c);
	cs_buf_free(v);
}

static void fund(struct dev *d, uint64_t value)
{
	fund_by(d, value, E.ca);
}

static cs_wallet_info info(struct dev *d)
{
	cs_wallet_info i;
	cs_assert_ok(cs_wallet_info_get(&i, d->w));
	return i;
}

static uint64_t balance(struct dev *d)
{
	return info(d).balance;
}

/* The coins d holds, largest first, decoded; raw (when not NULL) gets
 * copies of their bytes. Returns their number. */
static size_t held(struct cs__wl_coin *out, cs_wallet_msg *raw, size_t max, struct dev *d)
{
	cs_stmt *q = NULL;
	size_t n = 0;
	int r;

	cs_assert_ok(cs_store_prepare(&q, d->w->db, "SELECT coin FROM coins ORDER BY value DESC, state"));
	while ((r = cs_stmt_step(q)) == 1) {
		size_t len;
		const uint8_t *p = cs_stmt_blob(q, 0, &len);
		assert_true(n < max);
		cs_assert_ok(cs__wl_coin_decode(&out[n], p, len));
		if (raw != NULL) {
			raw[n].data = malloc(len);
			assert_non_null(raw[n].data);
			memcpy(raw[n].data, p, len);
			raw[n].len = len;
		}
		n++;
	}
	assert_int_equal(r, 0);
	cs_stmt_free(q);
	return n;
}

static void coins_clear(struct cs__wl_coin *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cs__wl_coin_clear(&c[i]);
}

/* ---- history ---- */

struct hist {
	size_t n;
	struct {
		char kind[16], state[16], peer[CS_DEVICE_ID_SIZE], peer_name[66];
		uint64_t amount, counter;
	} e[16];
};

static int hist_cb(void *ud, const cs_wallet_entry *e)
{
	struct hist *h = ud;
	assert_true(h->n < 16);
	snprintf(h->e[h->n].kind, sizeof(h->e[h->n].kind), "%s", e->kind);
	snprintf(h->e[h->n].state, sizeof(h->e[h->n].state), "%s", e->state);
	snprintf(h->e[h->n].peer, sizeof(h->e[h->n].peer), "%s", e->peer);
	snprintf(h->e[h->n].peer_name, sizeof(h->e[h->n].peer_name), "%s", e->peer_name);
	h->e[h->n].amount = e->amount;
	h->e[h->n].counter = e->counter;
	h->n++;
	return 0;
}

static struct hist history(struct dev *d)
{
	struct hist h;
	memset(&h, 0, sizeof(h));
	cs_assert_ok(cs_wallet_history(d->w, hist_cb, &h));
	return h;
}

static void assert_entry(const struct hist *h, size_t i, const char *kind, const char *state,
	const struct dev *peer, uint64_t amount, uint64_t counter)
{
	assert_true(i < h->n);
	assert_string_equal(h->e[i].kind, kind);
	assert_string_equal(h->e[i].state, state);
	assert_string_equal(h->e[i].peer, peer->id);
	assert_string_equal(h->e[i].peer_name, peer->name);
	assert_int_equal(h->e[i].amount, amount);
	assert_int_equal(h->e[i].counter, counter);
}

/* ---- transfers, one message at a time ---- */

/* m[1] init, m[2] init answer, m[3] execute, m[4] execute answer,
 * m[5] complete, m[6] complete answer, m[7] the receiver's empty last. */
struct flow {
	struct dev *payer, *recv;
	uint64_t amount;
	cs_wallet_msg m[8];
	cs_wallet_step step;       /* of the last step */
	int n;                     /* messages made so far */
};

static void flow_init(struct flow *f, struct dev *payer, struct dev *recv, uint64_t amount)
{
	memset(f, 0, sizeof(*f));
	f->payer = payer;
	f->recv = recv;
	f->amount = amount;
}

static void flow_free(struct flow *f)
{
	for (size_t i = 0; i < 8; i++)
		cs_wallet_msg_free(&f->m[i]);
}

static int payer_take(cs_wallet_msg *out, int *refusal, struct dev *d, const cs_wallet_msg *in,
	int64_t now)
{
	cs_wallet_step step;
	return cs_wallet_pay_handle(out, refusal, &step, d->w, in->data, in->len, now);
}

static int receiver_take(cs_wallet_msg *out, int *refusal, struct dev *d, const cs_wallet_msg *in,
	int64_t now)
{
	cs_wallet_step step;
	return cs_wallet_receive_handle(out, refusal, &step, d->w, in->data, in->len, now);
}

/* Run the transfer until message upto is made, checking every step. */
static void flow_to(struct flow *f, int upto)
{
	while (f->n < upto) {
		int k = f->n + 1, refusal = -1, r;
		const cs_wallet_msg *in = &f->m[k - 1];
		memset(&f->step, 0, sizeof(f->step));
		if (k == 1)
			r = cs_wallet_receive_start(&f->m[1], &refusal, f->recv->w, f->amount);
		else if (k % 2 == 0)
			r = cs_wallet_pay_handle(&f->m[k], &refusal, &f->step, f->payer->w, in->data, in->len, 0);
		else
			r = cs_wallet_receive_handle(&f->m[k], &refusal, &f->step, f->recv->w, in->data, in->len, 0);
		if (r != 0)
			fail_msg("step %d of a transfer of %llu: %d (%s, refusal %s)", k,
				(unsigned long long)f->amount, r, cs_error_last(), cs_wallet_refusal_name(refusal));
		assert_int_equal(refusal, CS_WR_NONE);
		if (k < 7)
			assert_int_equal(cs_wallet_msg_type(f->m[k].data, f->m[k].len), k);
		else
			assert_int_equal(f->m[k].len, 0);
		f->n = k;
	}
}

/* A whole transfer, checking what each side reports and that the two
 * balances move by amount and nothing else. */
static void transfer(struct dev *payer, struct dev *recv, uint64_t amount)
{
	struct flow f;
	uint64_t pb = balance(payer), rb = balance(recv);
	uint64_t counter = info(payer).counter + 1;

	flow_init(&f, payer, recv, amount);
	flow_to(&f, 4);
	assert_string_equal(f.step.stage, "paid");
	assert_int_equal(f.step.amount, amount);
	assert_int_equal(f.step.counter, counter);
	assert_string_equal(f.step.peer, recv->id);
	assert_string_equal(f.step.peer_name, recv->name);
	assert_int_equal(f.step.done, 0);
	flow_to(&f, 5);
	assert_string_equal(f.step.stage, "received");
	assert_int_equal(f.step.counter, counter);
	assert_string_equal(f.step.peer, payer->id);
	assert_string_equal(f.step.peer_name, payer->name);
	flow_to(&f, 6);
	assert_int_equal(f.step.done, 1);
	flow_to(&f, 7);
	assert_int_equal(f.step.done, 1);
	assert_int_equal(f.step.amount, amount);

	assert_int_equal(balance(payer), pb - amount);
	assert_int_equal(balance(recv), rb + amount);
	cs_wallet_info pi = info(payer), ri = info(recv);
	assert_int_equal(pi.counter, counter);
	assert_string_equal(pi.payer_state, "idle");
	assert_string_equal(ri.receiver_state, "idle");
	flow_free(&f);
}

/* ---- refusals ---- */

/* Balances and voucher counts of up to three wallets, before a refused step. */
struct watch {
	struct dev *d[3];
	uint64_t balance[3], vouchers[3];
};

static struct watch watch(struct dev *a, struct dev *b, struct dev *c)
{
	struct watch wt = {{a, b, c}, {0}, {0}};
	for (size_t i = 0; i < 3; i++)
		if (wt.d[i] != NULL) {
			cs_wallet_info in = info(wt.d[i]);
			wt.balance[i] = in.balance;
			wt.vouchers[i] = in.vouchers;
		}
	return wt;
}

/* r and refusal are what a refused step returned: CS_EDENIED and want,
 * and no watched wallet's value moved. */
static void assert_refused(int r, int refusal, int want, const struct watch *wt)
{
	if (r != CS_EDENIED || refusal != want)
		fail_msg("returned %d, refusal '%s' (%s); want CS_EDENIED, '%s'", r,
			cs_wallet_refusal_name(refusal), cs_error_last(), cs_wallet_refusal_name(want));
	for (size_t i = 0; i < 3; i++)
		if (wt->d[i] != NULL) {
			cs_wallet_info in = info(wt->d[i]);
			assert_int_equal(in.balance, wt->balance[i]);
			assert_int_equal(in.vouchers, wt->vouchers[i]);
		}
}

/* The payer's refusal: an error message naming the refusal that answers
 * the message refused (prev; NULL: any). */
static void assert_error_msg(const cs_wallet_msg *out, int refusal, const cs_wallet_msg *refused)
{
	struct cs__wl_msg m;
	assert_int_equal(cs_wallet_msg_type(out->data, out->len), CS__WL_ERROR);
	cs_assert_ok(cs__wl_msg_decode(&m, out->data, out->len));
	assert_string_equal(m.code, cs_wallet_refusal_name(refusal));
	if (refused != NULL) {
		struct cs__wl_msg r;
		cs_assert_ok(cs__wl_msg_decode(&r, refused->data, refused->len));
		assert_memory_equal(m.prev, r.digest, CS__WL_ID_LEN);
	}
}

static void decode_ok(struct cs__wl_msg *m, const cs_wallet_msg *w)
{
	cs_assert_ok(cs__wl_msg_decode(m, w->data, w->len));
}

/* A copy of m with byte i flipped, the digest left as it was. */
static void flip(cs_wallet_msg *out, const cs_wallet_msg *m, size_t i)
{
	assert_true(i < m->len);
	out->data = malloc(m->len);
	assert_non_null(out->data);
	memcpy(out->data, m->data, m->len);
	out->data[i] ^= 0x01;
	out->len = m->len;
}

/* Write the body length field of frame x. */
static void set_len(cs_wallet_msg *x, size_t bl)
{
	x->data[5] = (uint8_t)(bl >> 24);
	x->data[6] = (uint8_t)(bl >> 16);
	x->data[7] = (uint8_t)(bl >> 8);
	x->data[8] = (uint8_t)bl;
}

/* A copy of m with byte off of its body flipped and framed again, so that
 * its digest matches (a forger's edit). */
static void flip_reframe(cs_wallet_msg *out, const cs_wallet_msg *m, size_t off)
{
	size_t bl = m->len - HEAD_LEN - CS__WL_ID_LEN;
	uint8_t *body = malloc(bl);
	cs_buf v;
	assert_true(off < bl);
	assert_non_null(body);
	memcpy(body, m->data + HEAD_LEN, bl);
	body[off] ^= 0x80;
	cs_buf_view(&v, body, bl);
	cs_assert_ok(cs__wl_frame(out, m->data[4], &v));
	free(body);
}

/* The execute a receiver would send for the init answer f->m[2], but
 * signed by signer (as receiver `as`, showing its certificate). */
static void forge_execute(cs_wallet_msg *out, const struct flow *f, const struct dev *as,
	const cs_key *signer)
{
	struct cs__wl_msg m1, m2;
	uint8_t random[CS__WL_RANDOM_LEN], factor[CS__WL_FACTOR_LEN], tbs[CS__WL_ID_LEN], *sig = NULL;
	size_t sig_len = 0;

	decode_ok(&m1, &f->m[1]);
	decode_ok(&m2, &f->m[2]);
	cs_assert_ok(cs_random(random, sizeof(random)));
	cs_assert_ok(cs_random(factor, sizeof(factor)));
	cs__wl_execute_tbs(tbs, m1.digest, m2.digest, random, factor, as->id, m2.device);
	cs_assert_ok(cs_key_sign(&sig, &sig_len, signer, tbs, sizeof(tbs)));
	cs_assert_ok(cs__wl_enc_execute(out, m2.digest, random, factor, as->id, as->name, as->cert_der,
		as->cert_len, sig, sig_len));
	free(sig);
}

/* ---- 1. codecs ---- */

static void assert_coin_roundtrip(const uint8_t *data, size_t len)
{
	struct cs__wl_coin c;
	cs_buf *b = cs_buf_new(CS__WL_COIN_MAX);
	assert_non_null(b);
	cs_assert_ok(cs__wl_coin_decode(&c, data, len));
	cs_assert_ok(cs__wl_coin_encode(b, &c));
	assert_int_equal(cs_buf_len(b), len);
	assert_memory_equal(cs_buf_ptr(b), data, len);
	cs__wl_coin_clear(&c);
	cs_buf_free(b);
}

/* Every defect of an encoded coin is refused, and a refused decode leaves
 * nothing allocated (valgrind checks) and the coin empty. */
static void assert_coin_strict(const uint8_t *data, size_t len)
{
	struct cs__wl_coin c;
	uint8_t *p;

	for (size_t i = 0; i < len; i++) {
		/* exactly i bytes on the heap, so that an over-read shows */
		p = malloc(i ? i : 1);
		assert_non_null(p);
		memcpy(p, data, i);
		int r = cs__wl_coin_decode(&c, p, i);
		if (r >= 0)
			fail_msg("a coin cut to %zu of %zu bytes decoded", i, len);
		assert_null(c.links);
		assert_null(c.v.body);
		free(p);
	}
	p = malloc(len + 1);
	assert_non_null(p);
	memcpy(p, data, len);
	p[len] = 0;
	assert_int_equal(cs__wl_coin_decode(&c, p, len + 1), CS_ETRAILING);
	memcpy(p, data, len);
	p[0] = 'X';
	assert_int_equal(cs__wl_coin_decode(&c, p, len), CS_EMALFORMED);
	p[0] = data[0];
	p[3] = '2';
	assert_int_equal(cs__wl_coin_decode(&c, p, len), CS_EMALFORMED);
	free(p);
	assert_coin_roundtrip(data, len); /* the original is fine */
}

static void test_coin_voucher_roundtrip(void **state)
{
	struct world *wd = *state;
	struct cs__wl_coin c, d;
	cs_buf *v = voucher_new(wd->a.id, 42, E.ca), *enc = cs_buf_new(CS__WL_COIN_MAX);

	assert_non_null(enc);
	cs_assert_ok(cs__wl_coin_from_voucher(&c, cs_buf_ptr(v), cs_buf_len(v)));
	assert_int_equal(c.value, 42);
	assert_int_equal(c.n, 0);
	assert_int_equal(c.side, 0);
	assert_string_equal(c.holder, wd->a.id);
	assert_string_equal(c.v.owner, wd->a.id);
	assert_string_equal(c.v.account, ACCOUNT);
	uint8_t id[CS__WL_ID_LEN], st[CS__WL_ID_LEN];
	cs_sha256(id, c.v.body, c.v.body_len);
	assert_memory_equal(c.v.id, id, CS__WL_ID_LEN);
	cs__wl_state_id(st, c.v.id, 0);
	assert_memory_equal(c.state, st, CS__WL_ID_LEN);
	/* the hub's signature verifies; a voucher of another hub's does not */
	int refusal = -1;
	cs_assert_ok(cs__wl_coin_verify(&refusal, &c, cs_ca_cert(E.ca), cs__wl_cert_lookup, wd->a.w));
	assert_int_equal(cs__wl_coin_verify(&refusal, &c, cs_ca_cert(E.ca2), cs__wl_cert_lookup, wd->a.w),
		CS_EDENIED);
	assert_int_equal(refusal, CS_WR_SIGNATURE);

	cs_assert_ok(cs__wl_coin_encode(enc, &c));
	cs_assert_ok(cs__wl_coin_decode(&d, cs_buf_ptr(enc), cs_buf_len(enc)));
	assert_int_equal(d.value, 42);
	assert_int_equal(d.n, 0);
	assert_string_equal(d.holder, wd->a.id);
	assert_memory_equal(d.v.serial, c.v.serial, CS__WL_SERIAL_LEN);
	assert_memory_equal(d.state, c.state, CS__WL_ID_LEN);
	assert_int_equal(d.v.issued, c.v.issued);
	assert_coin_roundtrip(cs_buf_ptr(enc), cs_buf_len(enc));
	assert_coin_strict(cs_buf_ptr(enc), cs_buf_len(enc));
	/* a voucher alone: trailing bytes refused */
	struct cs__wl_coin e;
	uint8_t *p = malloc(cs_buf_len(v) + 1);
	assert_non_null(p);
	memcpy(p, cs_buf_ptr(v), cs_buf_len(v));
	p[cs_buf_len(v)] = 0;
	assert_int_equal(cs__wl_coin_from_voucher(&e, p, cs_buf_len(v) + 1), CS_ETRAILING);
	assert_null(e.v.body);
	free(p);
	cs__wl_coin_clear(&c);
	cs__wl_coin_clear(&d);
	cs_buf_free(v);
	cs_buf_free(enc);
}

static void test_coin_extended_roundtrip(void **state)
{
	struct world *wd = *state;
	struct cs__wl_coin bc[4], ac[4], cc[4];
	cs_wallet_msg raw[4] = {{0}};

	fund(&wd->a, 10);
	transfer(&wd->a, &wd->b, 7);
	/* the payee's coin: one link, side 0 */
	assert_int_equal(held(bc, raw, 4, &wd->b), 1);
	assert_int_equal(bc[0].n, 1);
	assert_int_equal(bc[0].side, 0);
	assert_int_equal(bc[0].value, 7);
	assert_string_equal(bc[0].holder, wd->b.id);
	const struct cs__wl_link *l = &bc[0].links[0];
	assert_string_equal(l->payer, wd->a.id);
	assert_string_equal(l->payee, wd->b.id);
	assert_int_equal(l->amount, 7);
	assert_int_equal(l->change, 3);
	assert_int_equal(l->counter, 1);
	assert_memory_equal(l->prev, bc[0].v.id, CS__WL_ID_LEN);
	assert_coin_roundtrip(raw[0].data, raw[0].len);
	assert_coin_strict(raw[0].data, raw[0].len);
	/* the payer's change: the same link, side 1 */
	assert_int_equal(held(ac, NULL, 4, &wd->a), 1);
	assert_int_equal(ac[0].side, 1);
	assert_int_equal(ac[0].value, 3);
	assert_string_equal(ac[0].holder, wd->a.id);
	assert_memory_equal(ac[0].links[0].id, l->id, CS__WL_ID_LEN);
	/* two links after a second transfer, and still byte for byte */
	transfer(&wd->b, &wd->c, 5);
	assert_int_equal(held(cc, NULL, 4, &wd->c), 1);
	assert_int_equal(cc[0].n, 2);
	assert_int_equal(cc[0].value, 5);
	cs_buf *enc = cs_buf_new(CS__WL_COIN_MAX);
	assert_non_null(enc);
	cs_assert_ok(cs__wl_coin_encode(enc, &cc[0]));
	assert_coin_roundtrip(cs_buf_ptr(enc), cs_buf_len(enc));
	assert_coin_strict(cs_buf_ptr(enc), cs_buf_len(enc));
	cs_buf_free(enc);
	/* extend as the payer does gives the coin the payee holds */
	struct cs__wl_coin v, x;
	cs_buf *vb = cs_buf_new(4096);
	assert_non_null(vb);
	cs_assert_ok(cs__wl_voucher_pack(vb, bc[0].v.body, bc[0].v.body_len, bc[0].v.sig, bc[0].v.sig_len));
	cs_assert_ok(cs__wl_coin_from_voucher(&v, cs_buf_ptr(vb), cs_buf_len(vb)));
	cs_assert_ok(cs__wl_coin_extend(&x, &v, l, 0));
	assert_memory_equal(x.state, bc[0].state, CS__WL_ID_LEN);
	assert_int_equal(x.value, 7);
	cs__wl_coin_clear(&x);
	cs_assert_ok(cs__wl_coin_extend(&x, &v, l, 1));
	assert_memory_equal(x.state, ac[0].state, CS__WL_ID_LEN);
	cs__wl_coin_clear(&x);
	cs__wl_coin_clear(&v);
	cs_buf_free(vb);
	coins_clear(bc, 1);
	coins_clear(ac, 1);
	coins_clear(cc, 1);
	cs_wallet_msg_free(&raw[0]);
}

/* A link body as coin.c writes it, with any field. */
static void link_body(cs_buf *b, const uint8_t prev[CS__WL_ID_LEN], uint8_t side, const char *payer,
	const char *payee, uint64_t amount, uint64_t change)
{
	uint8_t tid[CS__WL_ID_LEN];
	cs_test_fill_random(tid, sizeof(tid), 7);
	cs_buf_reset(b);
	cs_assert_ok(cs_buf_put(b, "CSL1", 4));
	cs_assert_ok(cs_buf_put(b, prev, CS__WL_ID_LEN));
	cs_assert_ok(cs_buf_put_u8(b, side));
	cs_assert_ok(cs_buf_put_string(b, payer, strlen(payer)));
	cs_assert_ok(cs_buf_put_string(b, payee, strlen(payee)));
	cs_assert_ok(cs_buf_put_u64(b, amount));
	cs_assert_ok(cs_buf_put_u64(b, change));
	cs_assert_ok(cs_buf_put_u64(b, 1));
	cs_assert_ok(cs_buf_put_u64(b, 1700000000000ULL));
	cs_assert_ok(cs_buf_put(b, tid, sizeof(tid)));
}

/* Decode a coin of voucher c and the given link bodies (unsigned: decode
 * checks structure only), held at side. */
static int decode_chain(struct cs__wl_coin *out, const struct cs__wl_coin *c, cs_buf *const *links,
	size_t n, uint8_t side)
{
	static const uint8_t sig[] = "not checked by decode";
	struct cs__wl_part parts[4];
	cs_buf *b = cs_buf_new(CS__WL_COIN_MAX);
	assert_non_null(b);
	assert_true(n < 4);
	parts[0] = (struct cs__wl_part){c->v.body, c->v.body_len, c->v.sig, c->v.sig_len};
	for (size_t i = 0; i < n; i++)
		parts[i + 1] = (struct cs__wl_part){cs_buf_ptr(links[i]), cs_buf_len(links[i]), sig, sizeof(sig)};
	cs_assert_ok(cs__wl_coin_pack(b, parts, n + 1, side));
	int r = cs__wl_coin_decode(out, cs_buf_ptr(b), cs_buf_len(b));
	cs_buf_free(b);
	return r;
}

static void test_coin_decode_chain_rules(void **state)
{
	struct world *wd = *state;
	const char *A = wd->a.id, *B = wd->b.id, *C = wd->c.id;
	struct cs__wl_coin v, c;
	cs_buf *vb = voucher_new(A, 10, E.ca), *l1 = cs_buf_new(1024), *l2 = cs_buf_new(1024);
	uint8_t l1_id[CS__WL_ID_LEN], other[CS__WL_ID_LEN];

	assert_non_null(l1);
	assert_non_null(l2);
	cs_assert_ok(cs__wl_coin_from_voucher(&v, cs_buf_ptr(vb), cs_buf_len(vb)));

	/* the control: A gives 6 of 10 to B, keeps 4 */
	link_body(l1, v.v.id, 0, A, B, 6, 4);
	cs_assert_ok(decode_chain(&c, &v, &l1, 1, 0));
	assert_int_equal(c.value, 6);
	assert_string_equal(c.holder, B);
	cs__wl_coin_clear(&c);
	cs_assert_ok(decode_chain(&c, &v, &l1, 1, 1));
	assert_int_equal(c.value, 4);
	assert_string_equal(c.holder, A);
	cs__wl_coin_clear(&c);
	cs_sha256(l1_id, cs_buf_ptr(l1), cs_buf_len(l1));

	/* amount + change is not the branch's value: more, and less */
	link_body(l1, v.v.id, 0, A, B, 6, 5);
	assert_int_equal(decode_chain(&c, &v, &l1, 1, 0), CS_EMALFORMED);
	assert_null(c.links);
	link_body(l1, v.v.id, 0, A, B, 6, 3);
	assert_int_equal(decode_chain(&c, &v, &l1, 1, 0), CS_EMALFORMED);
	/* signed over by a device that does not hold the branch */
	link_body(l1, v.v.id, 0, B, C, 6, 4);
	assert_int_equal(decode_chain(&c, &v, &l1, 1, 0), CS_EMALFORMED);
	/* naming another element before it, or a branch a voucher lacks */
	memcpy(other, v.v.id, sizeof(other));
	other[0] ^= 1;
	link_body(l1, other, 0, A, B, 6, 4);
	assert_int_equal(decode_chain(&c, &v, &l1, 1, 0), CS_EMALFORMED);
	link_body(l1, v.v.id, 1, A, B, 6, 4);
	assert_int_equal(decode_chain(&c, &v, &l1, 1, 0), CS_EMALFORMED);
	/* a voucher has no side 1 */
	assert_int_equal(decode_chain(&c, &v, NULL, 0, 1), CS_EMALFORMED);

	/* second link: B holds side 0 (6), A side 1 (4) */
	link_body(l1, v.v.id, 0, A, B, 6, 4);
	cs_buf *both[2] = {l1, l2};
	link_body(l2, l1_id, 0, B, C, 2, 4);
	cs_assert_ok(decode_chain(&c, &v, both, 2, 0));
	assert_int_equal(c.value, 2);
	assert_string_equal(c.holder, C);
	cs__wl_coin_clear(&c);
	link_body(l2, l1_id, 1, A, C, 4, 0);
	cs_assert_ok(decode_chain(&c, &v, both, 2, 0));
	assert_int_equal(c.value, 4);
	cs__wl_coin_clear(&c);
	/* A spends B's branch; B spends A's change; B moves 7 of 6 */
	link_body(l2, l1_id, 0, A, C, 2, 4);
	assert_int_equal(decode_chain(&c, &v, both, 2, 0), CS_EMALFORMED);
	link_body(l2, l1_id, 1, B, C, 4, 0);
	assert_int_equal(decode_chain(&c, &v, both, 2, 0), CS_EMALFORMED);
	link_body(l2, l1_id, 0, B, C, 2, 5);
	assert_int_equal(decode_chain(&c, &v, both, 2, 0), CS_EMALFORMED);
	/* a change of 0 is a branch that does not exist to be held */
	link_body(l2, l1_id, 0, B, C, 6, 0);
	cs_assert_ok(decode_chain(&c, &v, both, 2, 0));
	cs__wl_coin_clear(&c);
	assert_int_equal(decode_chain(&c, &v, both, 2, 1), CS_EMALFORMED);

	cs__wl_coin_clear(&v);
	cs_buf_free(vb);
	cs_buf_free(l1);
	cs_buf_free(l2);
}

static void test_msg_decode_rejects(void **state)
{
	struct world *wd = *state;
	struct flow f;
	struct cs__wl_msg m;
	cs_wallet_msg x;

	fund(&wd->a, 10);
	flow_init(&f, &wd->a, &wd->b, 4);
	flow_to(&f, 4);
	for (int k = 1; k <= 4; k++) {
		const cs_wallet_msg *o = &f.m[k];
		decode_ok(&m, o);
		assert_int_equal(m.type, k);
		/* one flipped byte anywhere but the magic and the length: altered */
		for (size_t i = 4; i < o->len; i++) {
			if (i >= 5 && i < HEAD_LEN)
				continue;
			flip(&x, o, i);
			int r = cs__wl_msg_decode(&m, x.data, x.len);
			if (r != CS_EAUTH)
				fail_msg("message %d with byte %zu of %zu flipped: %d (%s)", k, i, o->len, r,
					cs_error_last());
			cs_wallet_msg_free(&x);
		}
		/* the length field one more and one less than the body */
		size_t bl = o->len - HEAD_LEN - CS__WL_ID_LEN;
		flip(&x, o, 0);
		x.data[0] = o->data[0];
		set_len(&x, bl + 1);
		assert_int_equal(cs__wl_msg_decode(&m, x.data, x.len), CS_ETRUNCATED);
		set_len(&x, bl - 1);
		assert_int_equal(cs__wl_msg_decode(&m, x.data, x.len), CS_ETRAILING);
		set_len(&x, 0x80000000u);
		assert_int_equal(cs__wl_msg_decode(&m, x.data, x.len), CS_ETRUNCATED);
		set_len(&x, bl);
		cs_assert_ok(cs__wl_msg_decode(&m, x.data, x.len));
		x.data[0] = 'X';
		assert_int_equal(cs__wl_msg_decode(&m, x.data, x.len), CS_EMALFORMED);
		assert_int_equal(cs_wallet_msg_type(x.data, x.len), 0);
		cs_wallet_msg_free(&x);
		/* cut short */
		for (size_t i = 0; i < o->len; i += (i < 64 ? 1 : 61))
			assert_true(cs__wl_msg_decode(&m, o->data, i) < 0);
	}
	/* a body that does not parse, framed correctly: malformed, not altered */
	uint8_t junk[8] = {0};
	cs_buf v;
	cs_buf_view(&v, junk, sizeof(junk));
	cs_assert_ok(cs__wl_frame(&x, CS__WL_EXECUTE, &v));
	assert_int_equal(cs_wallet_msg_type(x.data, x.len), CS__WL_EXECUTE);
	assert_true(cs__wl_msg_decode(&m, x.data, x.len) < 0);
	assert_int_not_equal(cs__wl_msg_decode(&m, x.data, x.len), CS_EAUTH);
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	flow_free(&f);
}

/* ---- 2. payments ---- */

static void test_pay_exact(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct hist h;

	fund(A, 10);
	assert_int_equal(balance(A), 10);
	flow_init(&f, A, B, 10);
	flow_to(&f, 1);
	assert_string_equal(info(B).receiver_state, "init-sent");
	flow_to(&f, 2);
	assert_string_equal(info(A).payer_state, "initiated");
	assert_int_equal(balance(A), 10);
	flow_to(&f, 3);
	assert_string_equal(info(B).receiver_state, "execute-sent");
	flow_to(&f, 4);
	/* the payer paid: its value left with the execute answer */
	cs_wallet_info ai = info(A);
	assert_string_equal(ai.payer_state, "executed");
	assert_int_equal(ai.balance, 0);
	assert_int_equal(ai.vouchers, 0);
	assert_int_equal(ai.counter, 1);
	assert_int_equal(ai.since_sync, 1);
	assert_int_equal(ai.unsettled, 1);
	h = history(A);
	assert_int_equal(h.n, 1);
	assert_entry(&h, 0, "paid", "executed", B, 10, 1);
	assert_int_equal(balance(B), 0);
	flow_to(&f, 5);
	cs_wallet_info bi = info(B);
	assert_string_equal(bi.receiver_state, "complete-sent");
	assert_int_equal(bi.balance, 10);
	assert_int_equal(bi.vouchers, 1);
	assert_int_equal(bi.unsettled, 1);
	h = history(B);
	assert_int_equal(h.n, 1);
	assert_entry(&h, 0, "received", "received", A, 10, 1);
	flow_to(&f, 6);
	assert_string_equal(info(A).payer_state, "idle");
	assert_int_equal(info(A).unsettled, 0);
	h = history(A);
	assert_entry(&h, 0, "paid", "completed", B, 10, 1);
	flow_to(&f, 7);
	assert_int_equal(f.step.done, 1);
	assert_string_equal(info(B).receiver_state, "idle");
	assert_int_equal(info(B).unsettled, 0);
	h = history(B);
	assert_int_equal(h.n, 1);
	assert_entry(&h, 0, "received", "confirmed", A, 10, 1);
	/* the last instruction is gone once done */
	cs_wallet_msg last;
	assert_int_equal(cs_wallet_receive_last(&last, B->w), CS_ENOTFOUND);
	flow_free(&f);
	/* B's coin spends the whole voucher: no change */
	struct cs__wl_coin c[2];
	assert_int_equal(held(c, NULL, 2, B), 1);
	assert_int_equal(c[0].value, 10);
	assert_int_equal(c[0].links[0].change, 0);
	coins_clear(c, 1);
	assert_int_equal(balance(A) + balance(B), 10);
}

static void test_pay_change(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct cs__wl_coin c[2];

	fund(A, 100);
	transfer(A, B, 30);
	assert_int_equal(balance(A), 70);
	assert_int_equal(info(A).vouchers, 1);
	assert_int_equal(balance(B), 30);
	assert_int_equal(held(c, NULL, 2, A), 1);
	assert_int_equal(c[0].side, 1);
	assert_int_equal(c[0].value, 70);
	coins_clear(c, 1);
	/* the change pays again */
	transfer(A, B, 70);
	assert_int_equal(balance(A), 0);
	assert_int_equal(info(A).vouchers, 0);
	assert_int_equal(balance(B), 100);
	assert_int_equal(info(B).vouchers, 2);
	struct hist h = history(A);
	assert_int_equal(h.n, 2);
	assert_entry(&h, 0, "paid", "completed", B, 30, 1);
	assert_entry(&h, 1, "paid", "completed", B, 70, 2);
	h = history(B);
	assert_int_equal(h.n, 2);
	assert_entry(&h, 1, "received", "confirmed", A, 70, 2);
}

static void test_pay_several_vouchers(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct cs__wl_coin c[4];

	fund(A, 10);
	fund(A, 10);
	fund(A, 10);
	assert_int_equal(info(A).vouchers, 3);
	transfer(A, B, 25);
	assert_int_equal(balance(B), 25);
	assert_int_equal(info(B).vouchers, 3);
	assert_int_equal(balance(A), 5);
	assert_int_equal(info(A).vouchers, 1);
	assert_int_equal(held(c, NULL, 4, B), 3);
	assert_int_equal(c[0].value, 10);
	assert_int_equal(c[1].value, 10);
	assert_int_equal(c[2].value, 5);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(c[i].n, 1);
		assert_string_equal(c[i].links[0].payer, A->id);
		assert_string_equal(c[i].links[0].payee, B->id);
		assert_int_equal(c[i].links[0].counter, 1);
		/* one transfer: the same transfer id on every link */
		assert_memory_equal(c[i].links[0].transfer, c[0].links[0].transfer, CS__WL_ID_LEN);
	}
	/* three different vouchers */
	assert_memory_not_equal(c[0].v.id, c[1].v.id, CS__WL_ID_LEN);
	assert_memory_not_equal(c[1].v.id, c[2].v.id, CS__WL_ID_LEN);
	coins_clear(c, 3);
	assert_int_equal(held(c, NULL, 4, A), 1);
	assert_int_equal(c[0].value, 5);
	assert_int_equal(c[0].side, 1);
	coins_clear(c, 1);
	struct hist h = history(A);
	assert_int_equal(h.n, 1);
	assert_entry(&h, 0, "paid", "completed", B, 25, 1);
	/* largest first: of 20, 10 and 5, a payment of 12 takes the 20 alone */
	fund(A, 20);
	fund(A, 10);
	transfer(A, B, 12);
	assert_int_equal(info(B).vouchers, 4);
	assert_int_equal(held(c, NULL, 4, A), 3);
	assert_int_equal(c[0].value, 10);
	assert_int_equal(c[1].value, 8);
	assert_int_equal(c[2].value, 5);
	coins_clear(c, 3);
}

static void test_pay_chain(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct cs__wl_coin c[4];

	fund(A, 100);
#define TOTAL() (balance(A) + balance(B) + balance(C))
	transfer(A, B, 60);
	assert_int_equal(TOTAL(), 100);
	transfer(B, C, 40);
	assert_int_equal(TOTAL(), 100);
	assert_int_equal(held(c, NULL, 4, C), 1);
	assert_int_equal(c[0].n, 2);
	assert_string_equal(c[0].links[0].payer, A->id);
	assert_string_equal(c[0].links[1].payer, B->id);
	assert_string_equal(c[0].links[1].payee, C->id);
	assert_int_equal(c[0].links[1].amount, 40);
	assert_int_equal(c[0].links[1].change, 20);
	coins_clear(c, 1);
	transfer(C, A, 30);
	assert_int_equal(TOTAL(), 100);
	assert_int_equal(balance(A), 70);
	assert_int_equal(balance(B), 20);
	assert_int_equal(balance(C), 10);
	/* A holds its change of the voucher and the branch that came round */
	assert_int_equal(held(c, NULL, 4, A), 2);
	assert_int_equal(c[0].value, 40);
	assert_int_equal(c[0].n, 1);
	assert_int_equal(c[0].side, 1);
	assert_int_equal(c[1].value, 30);
	assert_int_equal(c[1].n, 3);
	assert_int_equal(c[1].side, 0);
	assert_string_equal(c[1].links[0].payer, A->id);
	assert_string_equal(c[1].links[1].payer, B->id);
	assert_string_equal(c[1].links[2].payer, C->id);
	assert_string_equal(c[1].links[2].payee, A->id);
	assert_memory_equal(c[0].v.id, c[1].v.id, CS__WL_ID_LEN);
	/* every link verifies with the certificates A learned on the way */
	int refusal = -1;
	cs_assert_ok(cs__wl_coin_verify(&refusal, &c[1], cs_ca_cert(E.ca), cs__wl_cert_lookup, A->w));
	coins_clear(c, 2);
	/* and the value goes round again */
	transfer(A, B, 70);
	transfer(B, C, 90);
	assert_int_equal(balance(C), 100);
	assert_int_equal(TOTAL(), 100);
#undef TOTAL
	struct hist h = history(B);
	assert_int_equal(h.n, 4);
	assert_entry(&h, 0, "received", "confirmed", A, 60, 1);
	assert_entry(&h, 1, "paid", "completed", C, 40, 1);
	assert_entry(&h, 2, "received", "confirmed", A, 70, 2);
	assert_entry(&h, 3, "paid", "completed", C, 90, 2);
}

/* ---- 3. refusals ---- */

static void test_refuse_wrong_order(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	struct watch wt;
	struct cs__wl_msg m2;
	cs_wallet_msg out, x, y;
	int refusal, r;

	fund(A, 50);
	fund(C, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 2);
	/* payer initiated, given a complete */
	uint8_t mac[CS__WL_MAC_LEN];
	decode_ok(&m2, &f.m[2]);
	cs_test_fill_random(mac, sizeof(mac), 3);
	cs_assert_ok(cs__wl_enc_mac_msg(&x, CS__WL_COMPLETE, m2.digest, mac));
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	assert_error_msg(&out, CS_WR_WRONG_ORDER, &x);
	assert_string_equal(info(A).payer_state, "initiated");
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	/* payer given a message the receiver takes */
	r = payer_take(&out, &refusal, A, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	cs_wallet_msg_free(&out);
	flow_to(&f, 3);
	/* receiver given an execute (which the payer takes) */
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &f.m[3], 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	assert_int_equal(out.len, 0);
	/* a second payer's answer to the init the receiver moved on from */
	cs_assert_ok(payer_take(&y, &refusal, C, &f.m[1], 0));
	wt = watch(A, B, C);
	r = receiver_take(&out, &refusal, B, &y, 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	assert_string_equal(info(B).receiver_state, "execute-sent");
	cs_wallet_msg_free(&y);
	flow_to(&f, 4);
	/* payer executed, given another (new, validly signed) execute */
	forge_execute(&x, &f, B, B->key);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	assert_int_equal(info(A).counter, 1);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	/* receiver complete-sent, given an execute answer of the execute before */
	flow_to(&f, 5);
	flip_reframe(&x, &f.m[4], CS__WL_ID_LEN + 7); /* another counter: another answer */
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_WRONG_ORDER, &wt);
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	assert_int_equal(balance(A), 40);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_wrong_state(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out, x;
	int refusal, r;

	fund(A, 50);
	fund(C, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 3);
	/* a payer with no transfer in progress, given an execute */
	wt = watch(A, B, C);
	r = payer_take(&out, &refusal, C, &f.m[3], 0);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	assert_error_msg(&out, CS_WR_WRONG_STATE, &f.m[3]);
	assert_string_equal(info(C).payer_state, "idle");
	cs_wallet_msg_free(&out);
	/* a receiver with no transfer in progress, given an answer */
	r = receiver_take(&out, &refusal, C, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	assert_int_equal(out.len, 0);
	assert_string_equal(info(C).receiver_state, "idle");
	/* a payer with no transfer in progress, given a complete */
	flow_to(&f, 7);
	uint8_t mac[CS__WL_MAC_LEN] = {0};
	struct cs__wl_msg m4;
	decode_ok(&m4, &f.m[4]);
	cs_assert_ok(cs__wl_enc_mac_msg(&x, CS__WL_COMPLETE, m4.digest, mac));
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	/* the receiver, idle again, given an answer it has not seen */
	flow_free(&f);
	flow_init(&f, A, C, 5);
	flow_to(&f, 2);
	r = receiver_take(&out, &refusal, B, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	/* a wallet without a certificate yet can neither pay nor receive */
	struct dev D;
	dev_make(&D, "dave", E.ca, E.ca_der, E.ca_len);
	cs_assert_ok(cs_store_run(NULL, D.w->db, "UPDATE wallet SET ca = NULL, cert = NULL", ""));
	fund(&D, 10);
	wt = watch(&D, C, NULL);
	r = payer_take(&out, &refusal, &D, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	cs_wallet_msg_free(&out);
	r = cs_wallet_receive_start(&out, &refusal, D.w, 1);
	assert_refused(r, refusal, CS_WR_WRONG_STATE, &wt);
	dev_free(&D);
	flow_to(&f, 7);
	flow_free(&f);
}

static void test_refuse_replayed(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 2);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	assert_error_msg(&out, CS_WR_REPLAYED, &f.m[1]);
	cs_wallet_msg_free(&out);
	flow_to(&f, 4);
	wt = watch(A, B, NULL);
	/* the same execute twice: paid once */
	r = payer_take(&out, &refusal, A, &f.m[3], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	assert_int_equal(info(A).counter, 1);
	cs_wallet_msg_free(&out);
	r = receiver_take(&out, &refusal, B, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	flow_to(&f, 5);
	/* the same vouchers twice: received once */
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &f.m[4], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	assert_int_equal(balance(B), 10);
	flow_to(&f, 6);
	r = payer_take(&out, &refusal, A, &f.m[5], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	cs_wallet_msg_free(&out);
	flow_to(&f, 7);
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &f.m[6], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	/* the whole transfer again, to an idle payer: the init is known */
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_REPLAYED, &wt);
	cs_wallet_msg_free(&out);
	assert_int_equal(balance(A), 40);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_altered(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out, x;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 3);
	wt = watch(A, B, NULL);
	for (size_t i = HEAD_LEN; i < f.m[3].len; i += 97) {
		flip(&x, &f.m[3], i);
		r = payer_take(&out, &refusal, A, &x, 0);
		assert_refused(r, refusal, CS_WR_ALTERED, &wt);
		assert_error_msg(&out, CS_WR_ALTERED, NULL);
		cs_wallet_msg_free(&out);
		cs_wallet_msg_free(&x);
	}
	/* the length field changed: malformed */
	flip(&x, &f.m[3], HEAD_LEN - 1);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_MALFORMED, &wt);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	assert_string_equal(info(A).payer_state, "initiated");
	flow_to(&f, 4);
	wt = watch(A, B, NULL);
	for (size_t i = HEAD_LEN; i < f.m[4].len; i += 89) {
		flip(&x, &f.m[4], i);
		r = receiver_take(&out, &refusal, B, &x, 0);
		assert_refused(r, refusal, CS_WR_ALTERED, &wt);
		assert_int_equal(out.len, 0);
		cs_wallet_msg_free(&x);
	}
	assert_string_equal(info(B).receiver_state, "execute-sent");
	flow_to(&f, 7);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_signature(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out, x;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 3);
	/* B's execute, signed by C's key */
	forge_execute(&x, &f, B, C->key);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_SIGNATURE, &wt);
	assert_error_msg(&out, CS_WR_SIGNATURE, &x);
	assert_string_equal(info(A).payer_state, "initiated");
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	/* the real execute's signature with one bit changed, framed again */
	struct cs__wl_msg m3;
	decode_ok(&m3, &f.m[3]);
	size_t sig_off = (size_t)(m3.sig - f.m[3].data) - HEAD_LEN;
	flip_reframe(&x, &f.m[3], sig_off + m3.sig_len - 1);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_SIGNATURE, &wt);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_cert_unknown(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a;
	struct dev X, Y;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;

	fund(A, 50);
	/* X trusts the test hub but its certificate is the other hub's */
	dev_make(&X, "xavier", E.ca2, E.ca_der, E.ca_len);
	flow_init(&f, A, &X, 10);
	flow_to(&f, 3);
	wt = watch(A, &X, NULL);
	r = payer_take(&out, &refusal, A, &f.m[3], 0);
	assert_refused(r, refusal, CS_WR_CERT_UNKNOWN, &wt);
	assert_error_msg(&out, CS_WR_CERT_UNKNOWN, &f.m[3]);
	cs_wallet_msg_free(&out);
	flow_free(&f);
	/* Y belongs to the other hub: A's certificate is unknown to it */
	dev_make(&Y, "yvonne", E.ca2, E.ca2_der, E.ca2_len);
	flow_init(&f, A, &Y, 10);
	flow_to(&f, 2);
	wt = watch(A, &Y, NULL);
	r = receiver_take(&out, &refusal, &Y, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_CERT_UNKNOWN, &wt);
	assert_string_equal(info(&Y).receiver_state, "init-sent");
	flow_free(&f);
	/* a certificate of the hub naming another device than the message */
	flow_init(&f, A, &wd->b, 10);
	flow_to(&f, 2);
	struct cs__wl_msg m2;
	cs_wallet_msg x;
	decode_ok(&m2, &f.m[2]);
	cs_assert_ok(cs__wl_enc_init_answer(&x, m2.prev, m2.random, wd->c.id, m2.name, m2.cert, m2.cert_len));
	wt = watch(A, &wd->b, NULL);
	r = receiver_take(&out, &refusal, &wd->b, &x, 0);
	assert_refused(r, refusal, CS_WR_CERT_UNKNOWN, &wt);
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	flow_free(&f);
	dev_free(&X);
	dev_free(&Y);
}

static void test_refuse_cert_expired(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;
	int64_t later = (int64_t)time(NULL) + 400 * DAY, before = (int64_t)time(NULL) - 400 * DAY;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 2);
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &f.m[2], later);
	assert_refused(r, refusal, CS_WR_CERT_EXPIRED, &wt);
	r = receiver_take(&out, &refusal, B, &f.m[2], before);
	assert_refused(r, refusal, CS_WR_CERT_EXPIRED, &wt);
	assert_string_equal(info(B).receiver_state, "init-sent");
	flow_to(&f, 3);
	r = payer_take(&out, &refusal, A, &f.m[3], later);
	assert_refused(r, refusal, CS_WR_CERT_EXPIRED, &wt);
	assert_error_msg(&out, CS_WR_CERT_EXPIRED, &f.m[3]);
	cs_wallet_msg_free(&out);
	r = payer_take(&out, &refusal, A, &f.m[3], before);
	assert_refused(r, refusal, CS_WR_CERT_EXPIRED, &wt);
	cs_wallet_msg_free(&out);
	assert_string_equal(info(A).payer_state, "initiated");
	/* the same message, now: paid */
	flow_to(&f, 7);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_balance(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;

	fund(A, 10);
	fund(A, 5);
	flow_init(&f, A, B, 16);
	flow_to(&f, 1);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_BALANCE, &wt);
	assert_error_msg(&out, CS_WR_BALANCE, &f.m[1]);
	assert_string_equal(info(A).payer_state, "idle");
	cs_wallet_msg_free(&out);
	flow_free(&f);
	/* all of it is fine */
	transfer(A, B, 15);
	assert_int_equal(balance(A), 0);
	wt = watch(A, B, NULL);
	flow_init(&f, A, B, 1);
	flow_to(&f, 1);
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_BALANCE, &wt);
	cs_wallet_msg_free(&out);
	flow_free(&f);
}

/* Re-derive the session key of a transfer run to message 3 as the payer
 * does, and check it by rebuilding the payer's execute answer exactly. */
static void session_key(uint8_t key[CS__WL_MAC_LEN], const struct flow *f)
{
	struct cs__wl_msg m1, m2, m3;
	uint8_t tid[CS__WL_ID_LEN];
	decode_ok(&m1, &f->m[1]);
	decode_ok(&m2, &f->m[2]);
	decode_ok(&m3, &f->m[3]);
	cs__wl_transfer_id(tid, m1.digest, m2.digest, m3.digest);
	cs_assert_ok(cs__wl_session_key(key, f->payer->key, f->recv->cert, m3.factor, m2.random, m3.random,
		tid));
}

/* An execute answer with the coins of m4 that keep[] selects and its
 * certificates, plus extra (a DER certificate) when not NULL, MAC'd with
 * key; the coin at index corrupt (none when negative) gets the last byte of
 * its last link's signature flipped. */
static void rebuild_answer(cs_wallet_msg *out, const cs_wallet_msg *m4, const int *keep, int corrupt,
	const uint8_t *extra, size_t extra_len, const uint8_t key[CS__WL_MAC_LEN])
{
	struct cs__wl_msg m;
	cs_buf *coins[CS__WL_COINS_MAX], *certs[CS__WL_CERTS_MAX];
	size_t nc = 0, nt = 0;

	decode_ok(&m, m4);
	for (size_t i = 0; i < m.ncoins; i++) {
		if (!keep[i])
			continue;
		uint8_t *c = malloc(m.coin_len[i]);
		assert_non_null(c);
		memcpy(c, m.coins[i], m.coin_len[i]);
		if ((int)i == corrupt) /* a coin ends: ..., last signature, side */
			c[m.coin_len[i] - 2] ^= 0x01;
		assert_non_null(coins[nc] = cs_buf_new(m.coin_len[i]));
		cs_assert_ok(cs_buf_put(coins[nc++], c, m.coin_len[i]));
		free(c);
	}
	for (; nt < m.ncerts; nt++) {
		assert_non_null(certs[nt] = cs_buf_new(m.cert_lens[nt]));
		cs_assert_ok(cs_buf_put(certs[nt], m.certs[nt], m.cert_lens[nt]));
	}
	if (extra != NULL) {
		assert_non_null(certs[nt] = cs_buf_new(extra_len));
		cs_assert_ok(cs_buf_put(certs[nt++], extra, extra_len));
	}
	cs_assert_ok(cs__wl_enc_execute_answer(out, m.prev, m.counter, (const cs_buf *const *)coins, nc,
		(const cs_buf *const *)certs, nt, key));
	for (size_t i = 0; i < nc; i++)
		cs_buf_free(coins[i]);
	for (size_t i = 0; i < nt; i++)
		cs_buf_free(certs[i]);
}

static void test_refuse_voucher_value(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	uint8_t key[CS__WL_MAC_LEN];
	cs_wallet_msg out, x;
	int refusal, r;
	int all[3] = {1, 1, 1}, two[3] = {1, 1, 0}, one[3] = {0, 0, 1};

	fund(A, 10);
	fund(A, 10);
	fund(A, 10);
	flow_init(&f, A, B, 30);
	flow_to(&f, 4);
	session_key(key, &f);
	/* the key is right: the payer's answer rebuilt is the same bytes */
	rebuild_answer(&x, &f.m[4], all, -1, NULL, 0, key);
	assert_int_equal(x.len, f.m[4].len);
	assert_memory_equal(x.data, f.m[4].data, x.len);
	cs_wallet_msg_free(&x);
	/* two of the three vouchers, with a valid MAC: 20 of 30 */
	wt = watch(A, B, NULL);
	rebuild_answer(&x, &f.m[4], two, -1, NULL, 0, key);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_VOUCHER_VALUE, &wt);
	assert_int_equal(out.len, 0);
	cs_wallet_msg_free(&x);
	rebuild_answer(&x, &f.m[4], one, -1, NULL, 0, key);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_VOUCHER_VALUE, &wt);
	cs_wallet_msg_free(&x);
	assert_string_equal(info(B).receiver_state, "execute-sent");
	/* the real answer carries it all */
	flow_to(&f, 7);
	assert_int_equal(balance(B), 30);
	flow_free(&f);
}

/* An execute answer to m4's execute with m4's counter and certificates
 * but the one coin given, MAC'd with key. */
static void answer_with(cs_wallet_msg *out, const cs_wallet_msg *m4, const cs_buf *coin,
	const uint8_t key[CS__WL_MAC_LEN])
{
	struct cs__wl_msg m;
	cs_buf *certs[CS__WL_CERTS_MAX];
	decode_ok(&m, m4);
	for (size_t i = 0; i < m.ncerts; i++) {
		assert_non_null(certs[i] = cs_buf_new(m.cert_lens[i]));
		cs_assert_ok(cs_buf_put(certs[i], m.certs[i], m.cert_lens[i]));
	}
	cs_assert_ok(cs__wl_enc_execute_answer(out, m.prev, m.counter, &coin, 1,
		(const cs_buf *const *)certs, m.ncerts, key));
	for (size_t i = 0; i < m.ncerts; i++)
		cs_buf_free(certs[i]);
}

/* A coin the payer signs over from the first coin it holds: amount to
 * payee, with counter and transfer id tid. */
static cs_buf *coin_forge(struct dev *payer, const char *payee, uint64_t amount, uint64_t counter,
	const uint8_t tid[CS__WL_ID_LEN])
{
	struct cs__wl_coin held_c[4], x;
	struct cs__wl_link l;
	size_t n = held(held_c, NULL, 4, payer);
	cs_buf *b = cs_buf_new(CS__WL_COIN_MAX);

	assert_true(n >= 1);
	assert_non_null(b);
	cs_assert_ok(cs__wl_link_make(&l, &held_c[0], payer->key, payer->id, payee, amount, counter,
		(int64_t)time(NULL) * 1000, tid));
	cs_assert_ok(cs__wl_coin_extend(&x, &held_c[0], &l, 0));
	cs_assert_ok(cs__wl_coin_encode(b, &x));
	cs__wl_coin_clear(&x);
	cs__wl_link_clear(&l);
	coins_clear(held_c, n);
	return b;
}

/* Coins signed by the payer but not paid to this wallet by this transfer:
 * refused under a valid MAC; the same made right is taken. */
static void test_refuse_coin_not_for_transfer(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	struct watch wt;
	struct cs__wl_msg m1, m2, m3, m4;
	uint8_t key[CS__WL_MAC_LEN], tid[CS__WL_ID_LEN], other[CS__WL_ID_LEN];
	cs_wallet_msg out, x;
	cs_buf *coin;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 4);
	session_key(key, &f);
	decode_ok(&m1, &f.m[1]);
	decode_ok(&m2, &f.m[2]);
	decode_ok(&m3, &f.m[3]);
	decode_ok(&m4, &f.m[4]);
	cs__wl_transfer_id(tid, m1.digest, m2.digest, m3.digest);
	memcpy(other, tid, sizeof(other));
	other[0] ^= 1;
	wt = watch(A, B, NULL);
	struct {
		const char *payee;
		uint64_t counter;
		const uint8_t *tid;
	} bad[] = {
		{B->id, m4.counter, other},     /* another transfer (same counter) */
		{B->id, m4.counter + 1, tid},   /* another counter */
		{C->id, m4.counter, tid},       /* paid to another device */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		coin = coin_forge(A, bad[i].payee, 10, bad[i].counter, bad[i].tid);
		answer_with(&x, &f.m[4], coin, key);
		r = receiver_take(&out, &refusal, B, &x, 0);
		assert_refused(r, refusal, CS_WR_VOUCHER_VALUE, &wt);
		cs_wallet_msg_free(&x);
		cs_buf_free(coin);
	}
	assert_string_equal(info(B).receiver_state, "execute-sent");
	/* the control: right payee, counter and transfer */
	coin = coin_forge(A, B->id, 10, m4.counter, tid);
	answer_with(&x, &f.m[4], coin, key);
	cs_assert_ok(receiver_take(&out, &refusal, B, &x, 0));
	assert_int_equal(cs_wallet_msg_type(out.data, out.len), CS__WL_COMPLETE);
	assert_int_equal(balance(B), 10);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	cs_buf_free(coin);
	flow_free(&f);
}

/* The receiver checks every signature in the vouchers it is paid with. */
static void test_refuse_voucher_signature(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	struct watch wt;
	uint8_t key[CS__WL_MAC_LEN];
	cs_wallet_msg out, x;
	int refusal, r, all[1] = {1};

	/* a link whose signature does not verify, under a valid MAC */
	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 4);
	session_key(key, &f);
	rebuild_answer(&x, &f.m[4], all, 0, NULL, 0, key);
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_SIGNATURE, &wt);
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	flow_free(&f);
	/* a voucher the hub did not sign */
	fund_by(C, 20, E.ca2);
	assert_int_equal(balance(C), 20);
	flow_init(&f, C, B, 5);
	flow_to(&f, 4);
	wt = watch(B, C, NULL);
	r = receiver_take(&out, &refusal, B, &f.m[4], 0);
	assert_refused(r, refusal, CS_WR_SIGNATURE, &wt);
	assert_string_equal(info(B).receiver_state, "execute-sent");
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_mac(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out, x;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, B, 10);
	flow_to(&f, 4);
	/* the execute answer's MAC (the last 32 bytes of its body) */
	size_t bl = f.m[4].len - HEAD_LEN - CS__WL_ID_LEN;
	wt = watch(A, B, NULL);
	for (size_t k = 0; k < CS__WL_MAC_LEN; k += 31) {
		flip_reframe(&x, &f.m[4], bl - CS__WL_MAC_LEN + k);
		r = receiver_take(&out, &refusal, B, &x, 0);
		assert_refused(r, refusal, CS_WR_MAC, &wt);
		assert_int_equal(out.len, 0);
		cs_wallet_msg_free(&x);
	}
	/* a voucher's serial changed, framed again: the MAC covers the vouchers
	 * (body: prev, counter, u16 count, then the first coin as a string:
	 * "CSC1", the voucher string, its body string, "CSV1", the serial) */
	flip_reframe(&x, &f.m[4], CS__WL_ID_LEN + 8 + 2 + 4 + 4 + 4 + 4 + 4 + 5);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_MAC, &wt);
	cs_wallet_msg_free(&x);
	assert_string_equal(info(B).receiver_state, "execute-sent");
	flow_to(&f, 5);
	/* the complete's MAC at the payer */
	wt = watch(A, B, NULL);
	flip_reframe(&x, &f.m[5], CS__WL_ID_LEN);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_MAC, &wt);
	assert_error_msg(&out, CS_WR_MAC, &x);
	assert_string_equal(info(A).payer_state, "executed");
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	flow_to(&f, 6);
	/* the acknowledgement's MAC at the receiver */
	flip_reframe(&x, &f.m[6], CS__WL_ID_LEN + 5);
	r = receiver_take(&out, &refusal, B, &x, 0);
	assert_refused(r, refusal, CS_WR_MAC, &wt);
	assert_string_equal(info(B).receiver_state, "complete-sent");
	cs_wallet_msg_free(&x);
	flow_to(&f, 7);
	assert_int_equal(balance(A), 40);
	assert_int_equal(balance(B), 10);
	flow_free(&f);
}

static void test_refuse_limits(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;

	fund(A, 100);
	/* not above the hub's */
	assert_int_equal(cs_wallet_limits_set(A->w, HUB_MAX_AMOUNT + 1, 0), CS_EINVAL);
	assert_int_equal(cs_wallet_limits_set(A->w, 0, HUB_MAX_TRANSFERS + 1), CS_EINVAL);
	assert_int_equal(info(A).max_amount, HUB_MAX_AMOUNT);
	cs_assert_ok(cs_wallet_limits_set(A->w, 5, 0));
	assert_int_equal(info(A).max_amount, 5);
	assert_int_equal(info(A).max_transfers, HUB_MAX_TRANSFERS);
	flow_init(&f, A, B, 6);
	flow_to(&f, 1);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_LIMIT_AMOUNT, &wt);
	assert_error_msg(&out, CS_WR_LIMIT_AMOUNT, &f.m[1]);
	cs_wallet_msg_free(&out);
	flow_free(&f);
	/* the receiver's own limit */
	cs_assert_ok(cs_wallet_limits_set(B->w, 3, 0));
	r = cs_wallet_receive_start(&out, &refusal, B->w, 4);
	assert_refused(r, refusal, CS_WR_LIMIT_AMOUNT, &wt);
	assert_int_equal(out.len, 0);
	assert_string_equal(info(B).receiver_state, "init-sent"); /* the refused start changed nothing */
	cs_assert_ok(cs_wallet_limits_set(B->w, HUB_MAX_AMOUNT, 0));
	/* transfers between syncs */
	cs_assert_ok(cs_wallet_limits_set(A->w, 0, 2));
	assert_int_equal(info(A).max_amount, 5);
	transfer(A, B, 5);
	transfer(A, B, 5);
	assert_int_equal(info(A).since_sync, 2);
	flow_init(&f, A, B, 1);
	flow_to(&f, 1);
	wt = watch(A, B, NULL);
	r = payer_take(&out, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_LIMIT_COUNT, &wt);
	assert_error_msg(&out, CS_WR_LIMIT_COUNT, &f.m[1]);
	cs_wallet_msg_free(&out);
	flow_free(&f);
	assert_int_equal(balance(A), 90);
}

static void test_refuse_self(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a;
	struct flow f;
	struct watch wt;
	cs_wallet_msg out, x;
	int refusal, r;

	fund(A, 50);
	flow_init(&f, A, A, 10);
	flow_to(&f, 2);
	/* the receiver sees its own certificate in the answer */
	wt = watch(A, NULL, NULL);
	r = receiver_take(&out, &refusal, A, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_SELF, &wt);
	assert_string_equal(info(A).receiver_state, "init-sent");
	/* the payer sees its own in an execute */
	forge_execute(&x, &f, A, A->key);
	r = payer_take(&out, &refusal, A, &x, 0);
	assert_refused(r, refusal, CS_WR_SELF, &wt);
	assert_error_msg(&out, CS_WR_SELF, &x);
	assert_int_equal(info(A).counter, 0);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	flow_free(&f);
	assert_int_equal(balance(A), 50);
}

/* A message that answers another transfer. */
static void test_refuse_unknown_transfer(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f, g;
	struct watch wt;
	cs_wallet_msg out;
	int refusal, r;

	fund(A, 50);
	fund(C, 50);
	flow_init(&f, A, B, 10);
	flow_init(&g, C, B, 10);
	/* B starts with A and again with C: A's answer is to the abandoned init */
	flow_to(&f, 2);
	flow_to(&g, 1);
	wt = watch(A, B, C);
	r = receiver_take(&out, &refusal, B, &f.m[2], 0);
	assert_refused(r, refusal, CS_WR_UNKNOWN_TRANSFER, &wt);
	flow_to(&g, 3);
	/* A, initiated by f, given g's execute (which answers C's answer) */
	r = payer_take(&out, &refusal, A, &g.m[3], 0);
	assert_refused(r, refusal, CS_WR_UNKNOWN_TRANSFER, &wt);
	assert_error_msg(&out, CS_WR_UNKNOWN_TRANSFER, &g.m[3]);
	cs_wallet_msg_free(&out);
	flow_to(&g, 5);
	/* A executed for another receiver, given g's complete */
	struct flow h;
	flow_init(&h, A, C, 5);
	flow_to(&h, 4);
	wt = watch(A, B, C);
	r = payer_take(&out, &refusal, A, &g.m[5], 0);
	assert_refused(r, refusal, CS_WR_UNKNOWN_TRANSFER, &wt);
	cs_wallet_msg_free(&out);
	flow_to(&g, 7);
	flow_to(&h, 7);
	assert_int_equal(balance(A), 45);
	assert_int_equal(balance(B), 10);
	assert_int_equal(balance(C), 45);
	flow_free(&f);
	flow_free(&g);
	flow_free(&h);
}

/* Certificates that come with vouchers are kept for paying on: one that
 * does not chain to the hub must not replace a good one. */
static void test_received_certs_are_verified(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct flow f;
	uint8_t key[CS__WL_MAC_LEN], *bogus_der = NULL;
	size_t bogus_len = 0;
	cs_cert *bogus = NULL;
	cs_wallet_msg out, x;
	char *pem = NULL;
	int refusal, r, all[1] = {1};

	fund(A, 10);
	transfer(A, B, 10);             /* B holds a coin with a link A signed */
	/* another hub's certificate for A's key */
	cs_assert_ok(cs_csr_new(&pem, A->key, "alice"));
	cs_assert_ok(cs_ca_issue_device(&bogus, E.ca2, pem, NULL, 30));
	cs_assert_ok(cs_cert_to_der(&bogus_der, &bogus_len, bogus));
	free(pem);
	cs_cert_free(bogus);
	/* C pays B 5 and slips it into its execute answer, under a valid MAC */
	fund(C, 5);
	flow_init(&f, C, B, 5);
	flow_to(&f, 4);
	session_key(key, &f);
	rebuild_answer(&x, &f.m[4], all, -1, bogus_der, bogus_len, key);
	r = receiver_take(&out, &refusal, B, &x, 0);
	cs_wallet_msg_free(&out);
	cs_wallet_msg_free(&x);
	if (r != 0)             /* refusing the answer is fine too: take the real one */
		flow_to(&f, 5);
	flow_free(&f);
	free(bogus_der);
	assert_int_equal(balance(B), 15);
	/* B pays on both coins: C must be given A's real certificate (checked
	 * by hand, so that a failure leaks nothing under valgrind) */
	flow_init(&f, B, C, 15);
	flow_to(&f, 4);
	r = receiver_take(&out, &refusal, C, &f.m[4], 0);
	char why[256];
	snprintf(why, sizeof(why), "%s", cs_error_last());
	cs_wallet_msg_free(&out);
	flow_free(&f);
	if (r != 0)
		fail_msg("C refused B's coins (%s: %s): B kept the unverified certificate C slipped in "
			"and handed it on", cs_wallet_refusal_name(refusal), why);
	assert_int_equal(balance(C), 15);
}

/* ---- 4. the payer's error reaches the receiver ---- */

static void test_peer_error(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b;
	struct flow f;
	struct watch wt;
	struct cs__wl_msg em;
	cs_wallet_msg out, err;
	int refusal, r;

	fund(A, 10);
	/* refused init: the receiver was init-sent */
	flow_init(&f, A, B, 11);
	flow_to(&f, 1);
	wt = watch(A, B, NULL);
	r = payer_take(&err, &refusal, A, &f.m[1], 0);
	assert_refused(r, refusal, CS_WR_BALANCE, &wt);
	assert_int_equal(cs_wallet_msg_type(err.data, err.len), 7);
	decode_ok(&em, &err);
	assert_string_equal(em.code, "balance_insufficient");
	assert_non_null(strstr(em.text, "balance"));
	r = receiver_take(&out, &refusal, B, &err, 0);
	assert_refused(r, refusal, CS_WR_PEER, &wt);
	assert_int_equal(out.len, 0);
	assert_string_equal(info(B).receiver_state, "idle");
	assert_int_equal(cs_wallet_receive_last(&out, B->w), CS_ENOTFOUND);
	cs_wallet_msg_free(&err);
	flow_free(&f);
	/* refused execute: the receiver was execute-sent */
	flow_init(&f, A, B, 10);
	flow_to(&f, 3);
	r = payer_take(&err, &refusal, A, &f.m[3], (int64_t)time(NULL) + 400 * DAY);
	assert_refused(r, refusal, CS_WR_CERT_EXPIRED, &wt);
	assert_int_equal(cs_wallet_msg_type(err.data, err.len), 7);
	r = receiver_take(&out, &refusal, B, &err, 0);
	assert_refused(r, refusal, CS_WR_PEER, &wt);
	assert_string_equal(info(B).receiver_state, "idle");
	cs_wallet_msg_free(&err);
	flow_free(&f);
	/* an error once the receiver holds the value: it keeps it and waits */
	flow_init(&f, A, B, 4);
	flow_to(&f, 5);
	struct cs__wl_msg m5;
	decode_ok(&m5, &f.m[5]);
	cs_assert_ok(cs__wl_enc_error(&err, m5.digest, "mac_invalid", "forged"));
	wt = watch(A, B, NULL);
	r = receiver_take(&out, &refusal, B, &err, 0);
	assert_refused(r, refusal, CS_WR_PEER, &wt);
	assert_string_equal(info(B).receiver_state, "complete-sent");
	assert_int_equal(balance(B), 4);
	cs_wallet_msg_free(&err);
	flow_to(&f, 7);
	flow_free(&f);
	/* both start over and it works */
	fund(A, 10);
	transfer(A, B, 10);
	assert_int_equal(balance(B), 14);
	struct hist h = history(B);
	assert_int_equal(h.n, 2);
	assert_entry(&h, 0, "received", "confirmed", A, 4, 1);
	assert_entry(&h, 1, "received", "confirmed", A, 10, 2);
}

/* ---- 5. a wallet restored from a copy ---- */

static void copy_file(const char *from, const char *to)
{
	uint8_t *data = NULL;
	size_t len = 0;
	if (!cs_fs_exists(from)) {
		unlink(to);
		return;
	}
	cs_assert_ok(cs_fs_read_all(&data, &len, from, 1u << 30));
	FILE *f = fopen(to, "wb");
	if (f == NULL)
		fail_msg("cannot write %s", to);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(data);
}

/* Copy wallet.db and its -wal and -shm between the directories. */
static void copy_db(const char *from_dir, const char *to_dir)
{
	static const char *const names[] = {"wallet.db", "wallet.db-wal", "wallet.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		char *a = cs_path_join(from_dir, names[i]), *b = cs_path_join(to_dir, names[i]);
		assert_non_null(a);
		assert_non_null(b);
		copy_file(a, b);
		free(a);
		free(b);
	}
}

static void test_rollback_double_spend(void **state)
{
	struct world *wd = *state;
	struct dev *A = &wd->a, *B = &wd->b, *C = &wd->c;
	struct cs__wl_coin bc[2], cc[2];
	char *saved = cs_path_join(E.dir, "alice-saved");

	assert_non_null(saved);
	cs_assert_ok(cs_fs_mkdirs(saved, 0700));
	fund(A, 50);
	cs_wallet_close(A->w);
	A->w = NULL;
	copy_db(A->dir, saved);
	cs_assert_ok(cs_wallet_open(&A->w, A->dir));
	assert_int_equal(balance(A), 50);
	transfer(A, B, 20);
	assert_int_equal(balance(A), 30);
	/* restore the copy: the voucher is back */
	cs_wallet_close(A->w);
	A->w = NULL;
	copy_db(saved, A->dir);
	cs_assert_ok(cs_wallet_open(&A->w, A->dir));
	assert_int_equal(balance(A), 50);
	assert_int_equal(info(A).counter, 0);
	transfer(A, C, 20);
	assert_int_equal(balance(A), 30);
	/* two links spend the same branch of the same voucher */
	assert_int_equal(held(bc, NULL, 2, B), 1);
	assert_int_equal(held(cc, NULL, 2, C), 1);
	assert_int_equal(bc[0].n, 1);
	assert_int_equal(cc[0].n, 1);
	const struct cs__wl_link *lb = &bc[0].links[0], *lc = &cc[0].links[0];
	assert_memory_equal(bc[0].v.id, cc[0].v.id, CS__WL_ID_LEN);
	assert_memory_equal(lb->prev, lc->prev, CS__WL_ID_LEN);
	assert_int_equal(lb->side, lc->side);
	assert_string_equal(lb->payer, A->id);
	assert_string_equal(lc->payer, A->id);
	assert_string_equal(lb->payee, B->id);
	assert_string_equal(lc->payee, C->id);
	assert_memory_not_equal(lb->id, lc->id, CS__WL_ID_LEN);
	uint8_t sb[CS__WL_ID_LEN], sc[CS__WL_ID_LEN];
	cs__wl_state_id(sb, lb->prev, lb->side);
	cs__wl_state_id(sc, lc->prev, lc->side);
	assert_memory_equal(sb, sc, CS__WL_ID_LEN);
	coins_clear(bc, 1);
	coins_clear(cc, 1);
	free(saved);
}

/* A coin of 63 links is not paid from again (a coin paid from needs room for
 * the payee's link and a renewal), so every coin can be renewed: none can
 * block its holder's sync. */
static void test_chain_keeps_room_to_renew(void **state)
{
	struct world *wd = *state;
	struct cs__wl_coin c[4];
	fund(&wd->a, 100);
	for (int i = 0; i < CS__WL_LINKS_MAX - 1; i++)
		transfer(&wd->a, &wd->b, 1);
	size_t n = held(c, NULL, 4, &wd->a);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].n, CS__WL_LINKS_MAX - 1);
	assert_int_equal(c[0].value, 100 - (CS__WL_LINKS_MAX - 1));
	coins_clear(c, n);
	/* the 37 left are held but cannot be paid on: refused as not spendable */
	struct flow f;
	cs_wallet_msg out = {0};
	int refusal;
	flow_init(&f, &wd->a, &wd->b, 1);
	flow_to(&f, 1);
	assert_int_equal(payer_take(&out, &refusal, &wd->a, &f.m[1], 0), CS_EDENIED);
	assert_int_equal(refusal, CS_WR_BALANCE);
	cs_wallet_msg_free(&out);
	flow_free(&f);
	assert_int_equal(balance(&wd->a), 100 - (CS__WL_LINKS_MAX - 1));
	/* a fresh voucher pays as usual */
	fund(&wd->a, 10);
	transfer(&wd->a, &wd->c, 5);
}

/* One execute handled twice pays once: the second finds it handled, even
 * when both start from the same state (as two processes would). */
static void test_execute_twice_pays_once(void **state)
{
	struct world *wd = *state;
	fund(&wd->a, 50);
	struct flow f;
	flow_init(&f, &wd->a, &wd->b, 20);
	flow_to(&f, 3);
	cs_wallet_msg ans = {0}, again = {0};
	cs_wallet_step st;
	int refusal;
	cs_assert_ok(cs_wallet_pay_handle(&ans, &refusal, &st, wd->a.w, f.m[3].data, f.m[3].len, 0));
	assert_int_equal(cs_wallet_pay_handle(&again, &refusal, &st, wd->a.w, f.m[3].data, f.m[3].len, 0),
		CS_EDENIED);
	assert_int_equal(refusal, CS_WR_REPLAYED);
	assert_int_equal(balance(&wd->a), 30);
	cs_wallet_msg_free(&ans);
	cs_wallet_msg_free(&again);
	flow_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_coin_voucher_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coin_extended_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coin_decode_chain_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msg_decode_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay_several_vouchers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pay_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_wrong_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_wrong_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_replayed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_altered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_cert_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_cert_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_balance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_voucher_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_coin_not_for_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_voucher_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_mac, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_unknown_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_received_certs_are_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_double_spend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_keeps_room_to_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(test_execute_twice_pays_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
