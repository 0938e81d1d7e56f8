/*
 * Vouchers, links and coins (PROTOCOL.md §13.2): their binary forms, the
 * structural rules every coin obeys, and the signature checks.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "lib/wallet/local.h"

static const uint8_t voucher_magic[4] = {'C', 'S', 'V', '1'};
static const uint8_t link_magic[4] = {'C', 'S', 'L', '1'};
static const uint8_t coin_magic[4] = {'C', 'S', 'C', '1'};

void cs__wl_state_id(uint8_t out[CS__WL_ID_LEN], const uint8_t id[CS__WL_ID_LEN], uint8_t side)
{
	uint8_t in[6 + CS__WL_ID_LEN + 1];
	memcpy(in, "state", 6);
	memcpy(in + 6, id, CS__WL_ID_LEN);
	in[6 + CS__WL_ID_LEN] = side;
	cs_sha256(out, in, sizeof(in));
}

void cs__wl_renew_id(uint8_t out[CS__WL_ID_LEN], const uint8_t state[CS__WL_ID_LEN])
{
	static const char label[] = "certsync-wallet-renew-v1";
	uint8_t in[sizeof(label) + CS__WL_ID_LEN];
	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), state, CS__WL_ID_LEN);
	cs_sha256(out, in, sizeof(in));
}

int cs__wl_coin_renewing(const struct cs__wl_coin *c)
{
	return c->n > 0 && c->links[c->n - 1].counter == 0 && c->side == 0;
}

/* A device ID field: a string of exactly the printed form. */
static int get_device(cs_buf *b, char out[CS_DEVICE_ID_SIZE], const char *what)
{
	const uint8_t *p;
	size_t n;
	char text[CS_DEVICE_ID_SIZE], norm[CS_DEVICE_ID_SIZE];
	int r = cs_buf_get_string_direct(b, &p, &n, CS_DEVICE_ID_LEN);
	if (r < 0)
		return cs_error_wrap("%s", what);
	if (n != CS_DEVICE_ID_LEN)
		return cs_error_set(CS_EMALFORMED, "%s: not a device ID", what);
	memcpy(text, p, n);
	text[n] = '\0';
	if (cs_device_id_parse(norm, text) < 0 || strcmp(norm, text) != 0)
		return cs_error_set(CS_EMALFORMED, "%s: not a device ID in printed form", what);
	memcpy(out, text, CS_DEVICE_ID_SIZE);
	return CS_OK;
}

static int put_device(cs_buf *b, const char *id)
{
	return cs_buf_put_string(b, id, strlen(id));
}

/* Copy a string field into a malloc'd buffer. */
static int get_copy(cs_buf *b, uint8_t **out, size_t *len, size_t max, const char *what)
{
	const uint8_t *p;
	size_t n;
	if (cs_buf_get_string_direct(b, &p, &n, max) < 0)
		return cs_error_wrap("%s", what);
	if (n == 0)
		return cs_error_set(CS_EMALFORMED, "%s is empty", what);
	if ((*out = malloc(n)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(*out, p, n);
	*len = n;
	return CS_OK;
}

static void *dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q != NULL && n)
		memcpy(q, p, n);
	return q;
}

/* ---- vouchers ---- */

int cs__wl_voucher_body(uint8_t **body, size_t *len, const uint8_t serial[CS__WL_SERIAL_LEN],
	uint64_t value, const char *owner, const char *account, int64_t issued)
{
	cs_buf *b = cs_buf_new(512);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (value == 0 || value > CS_WALLET_AMOUNT_MAX || strlen(account) > CS__WL_ACCOUNT_MAX) {
		r = cs_error_set(CS_EINVAL, "voucher value or account out of range");
		goto done;
	}
	if ((r = cs_buf_put(b, voucher_magic, 4)) < 0 || (r = cs_buf_put(b, serial, CS__WL_SERIAL_LEN)) < 0 ||
	    (r = cs_buf_put_u64(b, value)) < 0 || (r = put_device(b, owner)) < 0 ||
	    (r = cs_buf_put_string(b, account, strlen(account))) < 0 ||
	    (r = cs_buf_put_u64(b, (uint64_t)issued)) < 0)
		goto done;
	r = cs_buf_steal(body, len, b);
done:
	cs_buf_free(b);
	return r;
}

int cs__wl_voucher_pack(cs_buf *out, const uint8_t *body, size_t body_len, const uint8_t *sig,
	size_t sig_len)
{
	int r = cs_buf_put_string(out, body, body_len);
	return r < 0 ? r : cs_buf_put_string(out, sig, sig_len);
}

void cs__wl_voucher_clear(struct cs__wl_voucher *v)
{
	free(v->body);
	free(v->sig);
	memset(v, 0, sizeof(*v));
}

static int voucher_decode(struct cs__wl_voucher *v, cs_buf *in)
{
	cs_buf b;
	uint8_t magic[4];
	uint64_t issued;
	const uint8_t *acc;
	size_t acc_len;
	int r;

	memset(v, 0, sizeof(*v));
	if ((r = get_copy(in, &v->body, &v->body_len, 1024, "voucher")) < 0 ||
	    (r = get_copy(in, &v->sig, &v->sig_len, CS__WL_SIG_MAX, "voucher signature")) < 0)
		goto fail;
	cs_buf_view(&b, v->body, v->body_len);
	if ((r = cs_buf_get(&b, magic, 4)) < 0 || memcmp(magic, voucher_magic, 4) != 0) {
		r = cs_error_set(CS_EMALFORMED, "not a voucher");
		goto fail;
	}
	if ((r = cs_buf_get(&b, v->serial, CS__WL_SERIAL_LEN)) < 0 || (r = cs_buf_get_u64(&b, &v->value)) < 0 ||
	    (r = get_device(&b, v->owner, "voucher owner")) < 0 ||
	    (r = cs_buf_get_string_direct(&b, &acc, &acc_len, CS__WL_ACCOUNT_MAX)) < 0 ||
	    (r = cs_buf_get_u64(&b, &issued)) < 0 || (r = cs_buf_expect_end(&b)) < 0) {
		cs_error_wrap("voucher");
		goto fail;
	}
	if (v->value == 0 || v->value > CS_WALLET_AMOUNT_MAX || acc_len == 0 ||
	    memchr(acc, 0, acc_len) != NULL || issued > (uint64_t)INT64_MAX) {
		r = cs_error_set(CS_EMALFORMED, "voucher: value, account or time out of range");
		goto fail;
	}
	memcpy(v->account, acc, acc_len);
	v->account[acc_len] = '\0';
	v->issued = (int64_t)issued;
	cs_sha256(v->id, v->body, v->body_len);
	return CS_OK;
fail:
	cs__wl_voucher_clear(v);
	return r;
}

static int voucher_copy(struct cs__wl_voucher *out, const struct cs__wl_voucher *v)
{
	*out = *v;
	out->body = dup_bytes(v->body, v->body_len);
	out->sig = dup_bytes(v->sig, v->sig_len);
	if (out->body == NULL || out->sig == NULL) {
		cs__wl_voucher_clear(out);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	return CS_OK;
}

/* ---- links ---- */

void cs__wl_link_clear(struct cs__wl_link *l)
{
	free(l->body);
	free(l->sig);
	memset(l, 0, sizeof(*l));
}

static int link_body(cs_buf *b, const struct cs__wl_link *l)
{
	int r;
	if ((r = cs_buf_put(b, link_magic, 4)) < 0 || (r = cs_buf_put(b, l->prev, CS__WL_ID_LEN)) < 0 ||
	    (r = cs_buf_put_u8(b, l->side)) < 0 || (r = put_device(b, l->payer)) < 0 ||
	    (r = put_device(b, l->payee)) < 0 || (r = cs_buf_put_u64(b, l->amount)) < 0 ||
	    (r = cs_buf_put_u64(b, l->change)) < 0 || (r = cs_buf_put_u64(b, l->counter)) < 0 ||
	    (r = cs_buf_put_u64(b, (uint64_t)l->time_ms)) < 0 ||
	    (r = cs_buf_put(b, l->transfer, CS__WL_ID_LEN)) < 0)
		return r;
	return CS_OK;
}

static int link_decode(struct cs__wl_link *l, cs_buf *in)
{
	cs_buf b;
	uint8_t magic[4];
	uint64_t t;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = get_copy(in, &l->body, &l->body_len, 1024, "link")) < 0 ||
	    (r = get_copy(in, &l->sig, &l->sig_len, CS__WL_SIG_MAX, "link signature")) < 0)
		goto fail;
	cs_buf_view(&b, l->body, l->body_len);
	if ((r = cs_buf_get(&b, magic, 4)) < 0 || memcmp(magic, link_magic, 4) != 0) {
		r = cs_error_set(CS_EMALFORMED, "not a link");
		goto fail;
	}
	if ((r = cs_buf_get(&b, l->prev, CS__WL_ID_LEN)) < 0 || (r = cs_buf_get_u8(&b, &l->side)) < 0 ||
	    (r = get_device(&b, l->payer, "link payer")) < 0 ||
	    (r = get_device(&b, l->payee, "link payee")) < 0 || (r = cs_buf_get_u64(&b, &l->amount)) < 0 ||
	    (r = cs_buf_get_u64(&b, &l->change)) < 0 || (r = cs_buf_get_u64(&b, &l->counter)) < 0 ||
	    (r = cs_buf_get_u64(&b, &t)) < 0 || (r = cs_buf_get(&b, l->transfer, CS__WL_ID_LEN)) < 0 ||
	    (r = cs_buf_expect_end(&b)) < 0) {
		cs_error_wrap("link");
		goto fail;
	}
	if (l->side > 1 || l->amount == 0 || l->amount > CS_WALLET_AMOUNT_MAX ||
	    l->change > CS_WALLET_AMOUNT_MAX - l->amount || t > (uint64_t)INT64_MAX ||
	    (strcmp(l->payer, l->payee) == 0) != (l->counter == 0) ||
	    (l->counter == 0 && l->change != 0)) {
		/* a payment names two devices and a counter; a renewal (a link to
		 * oneself, PROTOCOL.md §13.2) counter 0 and no change */
		r = cs_error_set(CS_EMALFORMED, "link: side, amounts, counter or parties out of range");
		goto fail;
	}
	l->time_ms = (int64_t)t;
	cs_sha256(l->id, l->body, l->body_len);
	return CS_OK;
fail:
	cs__wl_link_clear(l);
	return r;
}

static int link_copy(struct cs__wl_link *out, const struct cs__wl_link *l)
{
	*out = *l;
	out->body = dup_bytes(l->body, l->body_len);
	out->sig = dup_bytes(l->sig, l->sig_len);
	if (out->body == NULL || out->sig == NULL) {
		cs__wl_link_clear(out);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	return CS_OK;
}

int cs__wl_link_make(struct cs__wl_link *l, const struct cs__wl_coin *c, const cs_key *key,
	const char *payer, const char *payee, uint64_t amount, uint64_t counter, int64_t time_ms,
	const uint8_t transfer[CS__WL_ID_LEN])
{
	cs_buf *b = NULL;
	int r;

	memset(l, 0, sizeof(*l));
	if (amount == 0 || amount > c->value || strcmp(c->holder, payer) != 0 ||
	    (strcmp(payer, payee) == 0) != (counter == 0) || (counter == 0 && amount != c->value))
		return cs_error_set(CS_EINVAL, "a link must spend 1..%llu of its payer's coin",
			(unsigned long long)c->value);
	memcpy(l->prev, c->n ? c->links[c->n - 1].id : c->v.id, CS__WL_ID_LEN);
	l->side = c->side;
	memcpy(l->payer, payer, CS_DEVICE_ID_SIZE);
	snprintf(l->payee, sizeof(l->payee), "%s", payee);
	l->amount = amount;
	l->change = c->value - amount;
	l->counter = counter;
	l->time_ms = time_ms;
	memcpy(l->transfer, transfer, CS__WL_ID_LEN);
	if ((b = cs_buf_new(1024)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	if ((r = link_body(b, l)) < 0 || (r = cs_buf_steal(&l->body, &l->body_len, b)) < 0 ||
	    (r = cs_key_sign(&l->sig, &l->sig_len, key, l->body, l->body_len)) < 0)
		goto fail;
	cs_sha256(l->id, l->body, l->body_len);
	cs_buf_free(b);
	return CS_OK;
fail:
	cs_buf_free(b);
	cs__wl_link_clear(l);
	return r;
}

/* ---- coins ---- */

void cs__wl_coin_clear(struct cs__wl_coin *c)
{
	cs__wl_voucher_clear(&c->v);
	for (size_t i = 0; i < c->n; i++)
		cs__wl_link_clear(&c->links[i]);
	free(c->links);
	memset(c, 0, sizeof(*c));
}

/* Value and holder of branch side of element i (0: the voucher; i >= 1:
 * link i - 1). 0 value when the branch does not exist. */
static void branch(uint64_t *value, const char **holder, const struct cs__wl_coin *c, size_t i,
	uint8_t side)
{
	if (i == 0) {
		*value = side == 0 ? c->v.value : 0;
		*holder = c->v.owner;
		return;
	}
	const struct cs__wl_link *l = &c->links[i - 1];
	*value = side == 0 ? l->amount : l->change;
	*holder = side == 0 ? l->payee : l->payer;
}

/* Check the chain and derive value, holder and state. */
static int coin_check(struct cs__wl_coin *c)
{
	uint64_t value;
	const char *holder;

	for (size_t i = 0; i < c->n; i++) {
		const struct cs__wl_link *l = &c->links[i];
		const uint8_t *prev = i == 0 ? c->v.id : c->links[i - 1].id;
		if (memcmp(l->prev, prev, CS__WL_ID_LEN) != 0)
			return cs_error_set(CS_EMALFORMED, "coin: link %zu does not follow the one before", i + 1);
		branch(&value, &holder, c, i, l->side);
		if (value == 0)
			return cs_error_set(CS_EMALFORMED, "coin: link %zu spends a branch that does not exist", i + 1);
		if (strcmp(holder, l->payer) != 0)
			return cs_error_set(CS_EMALFORMED, "coin: link %zu is signed over by a device that does "
				"not hold the branch", i + 1);
		if (l->amount + l->change != value)
			return cs_error_set(CS_EMALFORMED, "coin: link %zu moves %llu of a branch of %llu", i + 1,
				(unsigned long long)(l->amount + l->change), (unsigned long long)value);
		if (l->counter == 0) { /* a renewal names the branch it renews */
			uint8_t st[CS__WL_ID_LEN], want[CS__WL_ID_LEN];
			cs__wl_state_id(st, l->prev, l->side);
			cs__wl_renew_id(want, st);
			if (memcmp(want, l->transfer, CS__WL_ID_LEN) != 0)
				return cs_error_set(CS_EMALFORMED, "coin: renewal link %zu names another branch", i + 1);
		}
	}
	branch(&value, &holder, c, c->n, c->side);
	if (c->side > 1 || value == 0)
		return cs_error_set(CS_EMALFORMED, "coin: its branch does not exist");
	c->value = value;
	memcpy(c->holder, holder, CS_DEVICE_ID_SIZE);
	cs__wl_state_id(c->state, c->n ? c->links[c->n - 1].id : c->v.id, c->side);
	return CS_OK;
}

int cs__wl_coin_decode(struct cs__wl_coin *c, const uint8_t *data, size_t len)
{
	cs_buf in, vb;
	uint8_t magic[4];
	const uint8_t *p;
	size_t plen;
	uint16_t n;
	int r;

	memset(c, 0, sizeof(*c));
	if (len > CS__WL_COIN_MAX)
		return cs_error_set(CS_ELIMIT, "coin larger than %u bytes", CS__WL_COIN_MAX);
	cs_buf_view(&in, data, len);
	if ((r = cs_buf_get(&in, magic, 4)) < 0 || memcmp(magic, coin_magic, 4) != 0)
		return cs_error_set(CS_EMALFORMED, "not a coin");
	if ((r = cs_buf_get_string_direct(&in, &p, &plen, 4096)) < 0)
		return cs_error_wrap("coin");
	cs_buf_view(&vb, p, plen);
	if ((r = voucher_decode(&c->v, &vb)) < 0)
		return r;
	if ((r = cs_buf_expect_end(&vb)) < 0 || (r = cs_buf_get_u16(&in, &n)) < 0) {
		cs_error_wrap("coin");
		goto fail;
	}
	if (n > CS__WL_LINKS_MAX) {
		r = cs_error_set(CS_ELIMIT, "coin: %u links (at most %d)", n, CS__WL_LINKS_MAX);
		goto fail;
	}
	if (n && (c->links = calloc(n, sizeof(*c->links))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (; c->n < n; c->n++) {
		cs_buf lb;
		if ((r = cs_buf_get_string_direct(&in, &p, &plen, 4096)) < 0) {
			cs_error_wrap("coin");
			goto fail;
		}
		cs_buf_view(&lb, p, plen);
		if ((r = link_decode(&c->links[c->n], &lb)) < 0)
			goto fail;
		if ((r = cs_buf_expect_end(&lb)) < 0) {
			cs__wl_link_clear(&c->links[c->n]);
			cs_error_wrap("coin link");
			goto fail;
		}
	}
	if ((r = cs_buf_get_u8(&in, &c->side)) < 0 || (r = cs_buf_expect_end(&in)) < 0) {
		cs_error_wrap("coin");
		goto fail;
	}
	if ((r = coin_check(c)) < 0)
		goto fail;
	return CS_OK;
fail:
	cs__wl_coin_clear(c);
	return r;
}

int cs__wl_coin_pack(cs_buf *out, const struct cs__wl_part *parts, size_t n, uint8_t side)
{
	int r;
	if (n == 0 || n - 1 > CS__WL_LINKS_MAX)
		return cs_error_set(CS_ELIMIT, "a coin has a voucher and at most %d links", CS__WL_LINKS_MAX);
	if ((r = cs_buf_put(out, coin_magic, 4)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct cs__wl_part *p = &parts[i];
		if ((i == 1 && (r = cs_buf_put_u16(out, (uint16_t)(n - 1))) < 0) ||
		    (r = cs_buf_put_u32(out, (uint32_t)(8 + p->body_len + p->sig_len))) < 0 ||
		    (r = cs_buf_put_string(out, p->body, p->body_len)) < 0 ||
		    (r = cs_buf_put_string(out, p->sig, p->sig_len)) < 0)
			return r;
	}
	if (n == 1 && (r = cs_buf_put_u16(out, 0)) < 0)
		return r;
	return cs_buf_put_u8(out, side);
}

int cs__wl_coin_encode(cs_buf *out, const struct cs__wl_coin *c)
{
	struct cs__wl_part parts[CS__WL_LINKS_MAX + 1];
	if (c->n > CS__WL_LINKS_MAX)
		return cs_error_set(CS_ELIMIT, "a coin has at most %d links", CS__WL_LINKS_MAX);
	parts[0] = (struct cs__wl_part){c->v.body, c->v.body_len, c->v.sig, c->v.sig_len};
	for (size_t i = 0; i < c->n; i++)
		parts[i + 1] = (struct cs__wl_part){c->links[i].body, c->links[i].body_len, c->links[i].sig,
			c->links[i].sig_len};
	return cs__wl_coin_pack(out, parts, c->n + 1, c->side);
}

int cs__wl_coin_extend(struct cs__wl_coin *out, const struct cs__wl_coin *c,
	const struct cs__wl_link *l, uint8_t side)
{
	int r;
	memset(out, 0, sizeof(*out));
	if (c->n + 1 > CS__WL_LINKS_MAX)
		return cs_error_set(CS_ELIMIT, "a voucher carries at most %d links; sync to renew it",
			CS__WL_LINKS_MAX);
	if ((out->links = calloc(c->n + 1, sizeof(*out->links))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = voucher_copy(&out->v, &c->v)) < 0)
		goto fail;
	for (; out->n < c->n; out->n++)
		if ((r = link_copy(&out->links[out->n], &c->links[out->n])) < 0)
			goto fail;
	if ((r = link_copy(&out->links[out->n], l)) < 0)
		goto fail;
	out->n++;
	out->side = side;
	if ((r = coin_check(out)) < 0)
		goto fail;
	return CS_OK;
fail:
	cs__wl_coin_clear(out);
	return r;
}

int cs__wl_coin_from_voucher(struct cs__wl_coin *out, const uint8_t *voucher, size_t len)
{
	cs_buf b;
	int r;
	memset(out, 0, sizeof(*out));
	cs_buf_view(&b, voucher, len);
	if ((r = voucher_decode(&out->v, &b)) < 0)
		return r;
	if ((r = cs_buf_expect_end(&b)) < 0 || (r = coin_check(out)) < 0) {
		cs__wl_coin_clear(out);
		return r;
	}
	return CS_OK;
}

static int refuse(int *refusal, int why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(int *refusal, int why, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*refusal = why;
	return cs_error_set(CS_EDENIED, "%s", msg);
}

int cs__wl_coin_verify(int *refusal, const struct cs__wl_coin *c, const cs_cert *ca,
	cs__wl_cert_fn fn, void *ud)
{
	*refusal = CS_WR_NONE;
	if (cs_cert_verify_signature(ca, c->v.body, c->v.body_len, c->v.sig, c->v.sig_len) < 0)
		return refuse(refusal, CS_WR_SIGNATURE,
			"the voucher is not signed by the hub");
	for (size_t i = 0; i < c->n; i++) {
		const struct cs__wl_link *l = &c->links[i];
		const cs_cert *cert = fn(ud, l->payer);
		char san[CS_DEVICE_ID_SIZE];
		if (cert == NULL || cs_cert_san_device_id(san, cert) < 0 || strcmp(san, l->payer) != 0)
			return refuse(refusal, CS_WR_CERT_UNKNOWN,
				"no certificate for %s, the payer of link %zu", l->payer, i + 1);
		/* the chain, not the time: a link signed while its payer's
		 * certificate was valid stays valid after it expires, as a signed
		 * cheque does; validity is checked when a peer presents its own */
		int r = cs_cert_verify(cert, ca, NULL, cs_cert_not_before(cert) + 1);
		if (r < 0)
			return refuse(refusal, CS_WR_CERT_UNKNOWN,
				"the certificate of %s (link %zu) is not issued by this hub", l->payer, i + 1);
		if (cs_cert_verify_signature(cert, l->body, l->body_len, l->sig, l->sig_len) < 0)
			return refuse(refusal, CS_WR_SIGNATURE,
				"the signature of %s on link %zu does not verify", l->payer, i + 1);
	}
	return CS_OK;
}
