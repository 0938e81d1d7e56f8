/* libFuzzer target for the coin decoder cs__wl_coin_decode
 * (src/lib/wallet/coin.c, local.h; PROTOCOL.md §13.2). The input is one
 * coin. What decodes keeps the promises of local.h: a value of
 * 1..CS_WALLET_AMOUNT_MAX, a holder that is a device ID in printed form, at
 * most CS__WL_LINKS_MAX links, each naming the id of the element before it,
 * every id the SHA-256 of its body and the state that of the last element's
 * branch; and cs__wl_coin_encode gives back exactly the input bytes (a coin
 * has one spelling). What is refused leaves the struct zeroed. Either way
 * the coin is cleared (LSan catches what is left). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/common.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/wallet.h>
#include "lib/wallet/local.h"

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_rc(int r)
{
	EXPECT(r == CS_OK || r == CS_EMALFORMED || r == CS_ETRUNCATED || r == CS_ETRAILING ||
		r == CS_ELIMIT || r == CS_ENOMEM);
}

/* every byte of a failed decode's result is zero */
static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		EXPECT(b[i] == 0);
}

/* a device ID string in its printed form within buf */
static void check_device(const char *buf)
{
	char canon[CS_DEVICE_ID_SIZE];
	EXPECT(memchr(buf, '\0', CS_DEVICE_ID_SIZE) != NULL);
	EXPECT(strlen(buf) == CS_DEVICE_ID_LEN);
	EXPECT(cs_device_id_parse(canon, buf) == 0);
	EXPECT(strcmp(canon, buf) == 0);
}

/* id is SHA-256(body); body and sig are non-empty heap blocks (touched
 * through the hash and a checksum: ASan catches a short one) */
static void check_signed(const uint8_t id[CS__WL_ID_LEN], const uint8_t *body, size_t body_len,
	const uint8_t *sig, size_t sig_len)
{
	uint8_t h[CS__WL_ID_LEN];
	EXPECT(body != NULL && body_len >= 1 && body_len <= 1024);
	EXPECT(sig != NULL && sig_len >= 1 && sig_len <= CS__WL_SIG_MAX);
	cs_sha256(h, body, body_len);
	EXPECT(memcmp(h, id, CS__WL_ID_LEN) == 0);
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < sig_len; i++)
		sum ^= sig[i];
	(void)sum;
}

static void check_coin(const struct cs__wl_coin *c, const uint8_t *data, size_t size)
{
	uint8_t state[CS__WL_ID_LEN];

	EXPECT(c->value >= 1 && c->value <= CS_WALLET_AMOUNT_MAX);
	check_device(c->holder);
	EXPECT(c->side <= 1);

	const struct cs__wl_voucher *v = &c->v;
	check_signed(v->id, v->body, v->body_len, v->sig, v->sig_len);
	EXPECT(v->value >= 1 && v->value <= CS_WALLET_AMOUNT_MAX);
	check_device(v->owner);
	EXPECT(memchr(v->account, '\0', sizeof(v->account)) != NULL && v->account[0] != '\0');
	EXPECT(v->issued >= 0);

	EXPECT(c->n <= CS__WL_LINKS_MAX);
	EXPECT(c->n == 0 || c->links != NULL);
	for (size_t i = 0; i < c->n; i++) {
		const struct cs__wl_link *l = &c->links[i];
		const uint8_t *prev = i == 0 ? v->id : c->links[i - 1].id;
		EXPECT(memcmp(l->prev, prev, CS__WL_ID_LEN) == 0);
		check_signed(l->id, l->body, l->body_len, l->sig, l->sig_len);
		EXPECT(l->side <= 1);
		check_device(l->payer);
		check_device(l->payee);
		EXPECT(strcmp(l->payer, l->payee) != 0);
		EXPECT(l->amount >= 1 && l->amount <= CS_WALLET_AMOUNT_MAX);
		EXPECT(l->change <= CS_WALLET_AMOUNT_MAX - l->amount);
		EXPECT(l->counter >= 1 && l->time_ms >= 0);
	}
	/* the branch the coin stands for */
	if (c->n == 0) {
		EXPECT(c->side == 0 && c->value == v->value && strcmp(c->holder, v->owner) == 0);
	} else {
		const struct cs__wl_link *last = &c->links[c->n - 1];
		EXPECT(c->value == (c->side == 0 ? last->amount : last->change));
		EXPECT(strcmp(c->holder, c->side == 0 ? last->payee : last->payer) == 0);
	}
	cs__wl_state_id(state, c->n ? c->links[c->n - 1].id : v->id, c->side);
	EXPECT(memcmp(state, c->state, sizeof(state)) == 0);

	/* the round trip: encoding gives back the input, byte for byte */
	cs_buf *out = cs_buf_new(CS__WL_COIN_MAX);
	if (out == NULL)
		return;
	EXPECT(cs__wl_coin_encode(out, c) == 0);
	EXPECT(cs_buf_len(out) == size && memcmp(cs_buf_ptr(out), data, size) == 0);
	cs_buf_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs__wl_coin c;
	int r;

	memset(&c, 0xa5, sizeof(c));
	check_rc(r = cs__wl_coin_decode(&c, data, size));
	if (r == CS_OK)
		check_coin(&c, data, size);
	else
		check_zero(&c, sizeof(c));
	cs__wl_coin_clear(&c);
	check_zero(&c, sizeof(c));
	return 0;
}
