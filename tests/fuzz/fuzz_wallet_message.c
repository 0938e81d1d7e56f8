/* libFuzzer target for the offline transfer's frame decoder
 * cs__wl_msg_decode (src/lib/wallet/message.c, local.h; PROTOCOL.md §13.4).
 * The input is one frame. Any input is refused with CS_EMALFORMED,
 * CS_ETRUNCATED, CS_ETRAILING, CS_ELIMIT or CS_EAUTH, or decodes into a
 * message that keeps the promises of local.h: a type 1..7, the digest of
 * the whole frame, every pointer + length it sets (cert, sig, coins[i],
 * certs[i], macked) inside the input, counts within the CS__WL_*_MAX limits
 * and every string (device, name, code, text) NUL-terminated within its
 * array. An accepted frame is framed again: cs_wallet_msg_type names the
 * same type and cs__wl_frame of its body gives back the same bytes; with
 * its last byte flipped it is refused as altered (CS_EAUTH).
 *
 * A mutated frame almost never carries the right SHA-256, so the input is
 * checked twice: as it is (the frame checks), then sealed again, with the
 * length field and the digest made to fit (the body decoders). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/common.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/wallet.h>
#include "lib/wallet/local.h"

#define HEAD_LEN 9 /* magic, type, u32 length (message.c) */

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_rc(int r)
{
	EXPECT(r == CS_OK || r == CS_EMALFORMED || r == CS_ETRUNCATED || r == CS_ETRAILING ||
		r == CS_ELIMIT || r == CS_EAUTH);
}

/* p[0..n) lies inside data[0..size); touch every byte so that ASan sees a
 * pointer that only looks right. A NULL pointer is only fine with n == 0. */
static void check_inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	if (p == NULL) {
		EXPECT(n == 0);
		return;
	}
	EXPECT(p >= data && n <= size && (size_t)(p - data) <= size - n);
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum ^= p[i];
	(void)sum;
}

/* a NUL-terminated string within buf */
static void check_buf_str(const char *buf, size_t size)
{
	EXPECT(memchr(buf, '\0', size) != NULL);
}

/* no control bytes (the decoder's rule for text fields) */
static void check_text(const char *s)
{
	for (; *s; s++)
		EXPECT((uint8_t)*s >= 0x20 && *s != 0x7f);
}

static void check_message(const struct cs__wl_msg *m, const uint8_t *data, size_t size)
{
	uint8_t digest[CS__WL_ID_LEN];

	EXPECT(m->type >= CS__WL_INIT && m->type <= CS__WL_ERROR);
	EXPECT(size >= HEAD_LEN + CS__WL_ID_LEN && size <= CS_WALLET_MSG_MAX);
	cs_sha256(digest, data, size);
	EXPECT(memcmp(digest, m->digest, sizeof(digest)) == 0);

	check_buf_str(m->device, sizeof(m->device));
	check_buf_str(m->name, sizeof(m->name));
	check_buf_str(m->code, sizeof(m->code));
	check_buf_str(m->text, sizeof(m->text));
	check_text(m->name);
	check_text(m->code);
	check_text(m->text);

	check_inside(m->cert, m->cert_len, data, size);
	EXPECT(m->cert_len <= CS__WL_CERT_MAX);
	check_inside(m->sig, m->sig_len, data, size);
	EXPECT(m->sig_len <= CS__WL_SIG_MAX);
	EXPECT(m->ncoins <= CS__WL_COINS_MAX);
	for (size_t i = 0; i < m->ncoins; i++) {
		EXPECT(m->coins[i] != NULL && m->coin_len[i] >= 1 && m->coin_len[i] <= CS__WL_COIN_MAX);
		check_inside(m->coins[i], m->coin_len[i], data, size);
	}
	EXPECT(m->ncerts <= CS__WL_CERTS_MAX);
	for (size_t i = 0; i < m->ncerts; i++) {
		EXPECT(m->certs[i] != NULL && m->cert_lens[i] >= 1 && m->cert_lens[i] <= CS__WL_CERT_MAX);
		check_inside(m->certs[i], m->cert_lens[i], data, size);
	}
	check_inside(m->macked, m->macked_len, data, size);

	switch (m->type) {
	case CS__WL_INIT:
		EXPECT(m->amount >= 1 && m->amount <= CS_WALLET_AMOUNT_MAX);
		EXPECT(m->time_ms >= 0);
		break;
	case CS__WL_INIT_ANSWER:
	case CS__WL_EXECUTE: {
		/* the sender's device ID in its printed form */
		char canon[CS_DEVICE_ID_SIZE];
		EXPECT(cs_device_id_parse(canon, m->device) == 0);
		EXPECT(strcmp(canon, m->device) == 0);
		EXPECT(m->cert != NULL && m->cert_len >= 1);
		if (m->type == CS__WL_EXECUTE)
			EXPECT(m->sig != NULL && m->sig_len >= 1);
		else
			EXPECT(m->sig == NULL && m->sig_len == 0);
		break;
	}
	case CS__WL_EXECUTE_ANSWER:
		EXPECT(m->counter >= 1);
		EXPECT(m->ncoins >= 1);
		/* the MAC covers the whole body but the MAC itself */
		EXPECT(m->macked == data + HEAD_LEN);
		EXPECT(m->macked_len == size - HEAD_LEN - CS__WL_ID_LEN - CS__WL_MAC_LEN);
		EXPECT(memcmp(m->mac, data + size - CS__WL_ID_LEN - CS__WL_MAC_LEN, CS__WL_MAC_LEN) == 0);
		break;
	case CS__WL_ERROR:
		EXPECT(m->code[0] != '\0');
		break;
	default:
		break;
	}
	if (m->type != CS__WL_EXECUTE_ANSWER) {
		EXPECT(m->ncoins == 0 && m->ncerts == 0);
		EXPECT(m->macked == NULL && m->macked_len == 0);
	}
	if (m->type != CS__WL_INIT_ANSWER && m->type != CS__WL_EXECUTE) {
		EXPECT(m->device[0] == '\0' && m->cert == NULL);
	}
}

/* Frame the body of an accepted message again: the same bytes. */
static void check_reframe(const struct cs__wl_msg *m, const uint8_t *data, size_t size)
{
	size_t bl = size - HEAD_LEN - CS__WL_ID_LEN;
	cs_buf *body = cs_buf_new(bl ? bl : 1);
	cs_wallet_msg out = {0};

	EXPECT(cs_wallet_msg_type(data, size) == m->type);
	if (body == NULL)
		return;
	EXPECT(cs_buf_put(body, data + HEAD_LEN, bl) == 0);
	EXPECT(cs__wl_frame(&out, m->type, body) == 0);
	EXPECT(out.len == size && memcmp(out.data, data, size) == 0);
	cs_wallet_msg_free(&out);
	cs_buf_free(body);
}

/* An accepted frame with its last byte changed is refused as altered. */
static void check_flip(const uint8_t *data, size_t size)
{
	struct cs__wl_msg m;
	uint8_t *copy = malloc(size);
	if (copy == NULL)
		return;
	memcpy(copy, data, size);
	copy[size - 1] ^= 0xff;
	EXPECT(cs__wl_msg_decode(&m, copy, size) == CS_EAUTH);
	free(copy);
}

/* Decode one frame and check what the decoder promises. */
static void check_frame(const uint8_t *data, size_t size)
{
	struct cs__wl_msg m;
	int r;

	memset(&m, 0xa5, sizeof(m));
	check_rc(r = cs__wl_msg_decode(&m, data, size));
	if (r != CS_OK)
		return;
	check_message(&m, data, size);
	check_reframe(&m, data, size);
	check_flip(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_frame(data, size);

	/* the same frame with a length field and digest that fit its body */
	if (size < HEAD_LEN + CS__WL_ID_LEN || size > CS_WALLET_MSG_MAX)
		return 0;
	size_t bl = size - HEAD_LEN - CS__WL_ID_LEN;
	uint8_t *sealed = malloc(size);
	if (sealed == NULL)
		return 0;
	memcpy(sealed, data, size);
	sealed[5] = (uint8_t)(bl >> 24), sealed[6] = (uint8_t)(bl >> 16);
	sealed[7] = (uint8_t)(bl >> 8), sealed[8] = (uint8_t)bl;
	cs_sha256(sealed + HEAD_LEN + bl, sealed, HEAD_LEN + bl);
	if (memcmp(sealed, data, size) != 0)
		check_frame(sealed, size);
	free(sealed);
	return 0;
}
