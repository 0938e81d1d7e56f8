/*
 * The offline transfer's messages (PROTOCOL.md §13.4): one frame format,
 * seven bodies. The trailing digest catches a message changed on the way
 * (a flipped bit on NFC, an edited file) before anything is parsed; the
 * signatures and MACs inside catch a forger who recomputes the digest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include "lib/wallet/local.h"

static const uint8_t frame_magic[4] = {'C', 'S', 'W', '1'};
#define HEAD_LEN 9 /* magic, type, u32 length */

void cs_wallet_msg_free(cs_wallet_msg *m)
{
	if (m == NULL)
		return;
	free(m->data);
	m->data = NULL;
	m->len = 0;
}

int cs_wallet_msg_type(const uint8_t *data, size_t len)
{
	if (len < HEAD_LEN + CS__WL_ID_LEN || memcmp(data, frame_magic, 4) != 0)
		return 0;
	return data[4] >= CS__WL_INIT && data[4] <= CS__WL_ERROR ? data[4] : 0;
}

const char *cs_wallet_msg_type_name(int type)
{
	static const char *const names[] = {"", "init", "init-answer", "execute", "execute-answer",
		"complete", "complete-answer", "error"};
	return type >= 1 && type <= 7 ? names[type] : "unknown";
}

int cs__wl_frame(cs_wallet_msg *out, int type, const cs_buf *body)
{
	size_t bl = cs_buf_len(body), n = HEAD_LEN + bl + CS__WL_ID_LEN;
	uint8_t *p;

	if (n > CS_WALLET_MSG_MAX)
		return cs_error_set(CS_ELIMIT, "message of %zu bytes (at most %u)", n, CS_WALLET_MSG_MAX);
	if ((p = malloc(n)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(p, frame_magic, 4);
	p[4] = (uint8_t)type;
	p[5] = (uint8_t)(bl >> 24), p[6] = (uint8_t)(bl >> 16), p[7] = (uint8_t)(bl >> 8), p[8] = (uint8_t)bl;
	memcpy(p + HEAD_LEN, cs_buf_ptr(body), bl);
	cs_sha256(p + HEAD_LEN + bl, p, HEAD_LEN + bl);
	out->data = p;
	out->len = n;
	return CS_OK;
}

/* Encode with a fresh body buffer: fn writes the fields. */
#define BODY_BEGIN(cap) \
	cs_buf *b = cs_buf_new(cap); \
	int r; \
	if (b == NULL) \
		return cs_error_set(CS_ENOMEM, "out of memory");
#define BODY_END(type) \
	if (r == 0) \
		r = cs__wl_frame(out, type, b); \
	cs_buf_free(b); \
	return r;

static int put_str(cs_buf *b, const char *s)
{
	return cs_buf_put_string(b, s, strlen(s));
}

int cs__wl_enc_init(cs_wallet_msg *out, uint64_t amount, int64_t time_ms)
{
	BODY_BEGIN(64)
	if ((r = cs_buf_put_u64(b, amount)) == 0)
		r = cs_buf_put_u64(b, (uint64_t)time_ms);
	BODY_END(CS__WL_INIT)
}

/* The fields a party sends about itself: id, name, certificate. */
static int put_party(cs_buf *b, const char *device, const char *name, const uint8_t *cert,
	size_t cert_len)
{
	int r;
	if ((r = put_str(b, device)) < 0 || (r = put_str(b, name)) < 0)
		return r;
	return cs_buf_put_string(b, cert, cert_len);
}

int cs__wl_enc_init_answer(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t random[CS__WL_RANDOM_LEN], const char *device, const char *name,
	const uint8_t *cert, size_t cert_len)
{
	BODY_BEGIN(CS__WL_CERT_MAX + 512)
	if ((r = cs_buf_put(b, prev, CS__WL_ID_LEN)) == 0 && (r = cs_buf_put(b, random, CS__WL_RANDOM_LEN)) == 0)
		r = put_party(b, device, name, cert, cert_len);
	BODY_END(CS__WL_INIT_ANSWER)
}

int cs__wl_enc_execute(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t random[CS__WL_RANDOM_LEN], const uint8_t factor[CS__WL_FACTOR_LEN],
	const char *device, const char *name, const uint8_t *cert, size_t cert_len,
	const uint8_t *sig, size_t sig_len)
{
	BODY_BEGIN(CS__WL_CERT_MAX + CS__WL_SIG_MAX + 512)
	if ((r = cs_buf_put(b, prev, CS__WL_ID_LEN)) == 0 &&
	    (r = cs_buf_put(b, random, CS__WL_RANDOM_LEN)) == 0 &&
	    (r = cs_buf_put(b, factor, CS__WL_FACTOR_LEN)) == 0 &&
	    (r = put_party(b, device, name, cert, cert_len)) == 0)
		r = cs_buf_put_string(b, sig, sig_len);
	BODY_END(CS__WL_EXECUTE)
}

int cs__wl_enc_execute_answer(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	uint64_t counter, const cs_buf *const *coins, size_t ncoins, const cs_buf *const *certs,
	size_t ncerts, const uint8_t key[CS__WL_MAC_LEN])
{
	if (ncoins == 0 || ncoins > CS__WL_COINS_MAX || ncerts > CS__WL_CERTS_MAX)
		return cs_error_set(CS_ELIMIT, "a transfer carries 1..%d vouchers and at most %d "
			"certificates", CS__WL_COINS_MAX, CS__WL_CERTS_MAX);
	BODY_BEGIN(CS_WALLET_MSG_MAX)
	uint8_t mac[CS__WL_MAC_LEN];
	if ((r = cs_buf_put(b, prev, CS__WL_ID_LEN)) == 0 && (r = cs_buf_put_u64(b, counter)) == 0 &&
	    (r = cs_buf_put_u16(b, (uint16_t)ncoins)) == 0) {
		for (size_t i = 0; i < ncoins && r == 0; i++)
			r = cs_buf_put_string(b, cs_buf_ptr(coins[i]), cs_buf_len(coins[i]));
		if (r == 0)
			r = cs_buf_put_u16(b, (uint16_t)ncerts);
		for (size_t i = 0; i < ncerts && r == 0; i++)
			r = cs_buf_put_string(b, cs_buf_ptr(certs[i]), cs_buf_len(certs[i]));
	}
	if (r == 0) {
		cs__wl_mac(mac, key, "certsync-wallet-execute-answer", cs_buf_ptr(b), cs_buf_len(b));
		r = cs_buf_put(b, mac, sizeof(mac));
	}
	BODY_END(CS__WL_EXECUTE_ANSWER)
}

int cs__wl_enc_mac_msg(cs_wallet_msg *out, int type, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t mac[CS__WL_MAC_LEN])
{
	BODY_BEGIN(128)
	if ((r = cs_buf_put(b, prev, CS__WL_ID_LEN)) == 0)
		r = cs_buf_put(b, mac, CS__WL_MAC_LEN);
	BODY_END(type)
}

int cs__wl_enc_error(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN], const char *code,
	const char *text)
{
	char t[257];
	snprintf(t, sizeof(t), "%s", text); /* long messages are cut, not refused */
	BODY_BEGIN(512)
	if ((r = cs_buf_put(b, prev, CS__WL_ID_LEN)) == 0 && (r = put_str(b, code)) == 0)
		r = put_str(b, t);
	BODY_END(CS__WL_ERROR)
}

/* ---- decoding ---- */

/* A string of printable text (no control bytes) of at most max bytes. */
static int get_text(cs_buf *b, char *out, size_t max, int nonempty, const char *what)
{
	const uint8_t *p;
	size_t n;
	if (cs_buf_get_string_direct(b, &p, &n, max) < 0)
		return cs_error_wrap("%s", what);
	if (nonempty && n == 0)
		return cs_error_set(CS_EMALFORMED, "%s is empty", what);
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return cs_error_set(CS_EMALFORMED, "%s holds a control character", what);
	memcpy(out, p, n);
	out[n] = '\0';
	return CS_OK;
}

static int get_party(struct cs__wl_msg *m, cs_buf *b)
{
	char norm[CS_DEVICE_ID_SIZE];
	int r;
	if ((r = get_text(b, m->device, CS_DEVICE_ID_LEN, 1, "device ID")) < 0)
		return r;
	if (cs_device_id_parse(norm, m->device) < 0 || strcmp(norm, m->device) != 0)
		return cs_error_set(CS_EMALFORMED, "'%s' is not a device ID", m->device);
	if ((r = get_text(b, m->name, CS__WL_NAME_MAX, 0, "device name")) < 0)
		return r;
	if ((r = cs_buf_get_string_direct(b, &m->cert, &m->cert_len, CS__WL_CERT_MAX)) < 0)
		return cs_error_wrap("certificate");
	if (m->cert_len == 0)
		return cs_error_set(CS_EMALFORMED, "certificate is empty");
	return CS_OK;
}

static int get_list(cs_buf *b, const uint8_t **items, size_t *lens, size_t *n, size_t max_n,
	size_t max_len, const char *what)
{
	uint16_t count;
	int r;
	if ((r = cs_buf_get_u16(b, &count)) < 0)
		return cs_error_wrap("%s", what);
	if (count > max_n)
		return cs_error_set(CS_ELIMIT, "%u %s (at most %zu)", count, what, max_n);
	for (*n = 0; *n < count; (*n)++) {
		if ((r = cs_buf_get_string_direct(b, &items[*n], &lens[*n], max_len)) < 0)
			return cs_error_wrap("%s", what);
		if (lens[*n] == 0)
			return cs_error_set(CS_EMALFORMED, "an empty item in %s", what);
	}
	return CS_OK;
}

int cs__wl_msg_decode(struct cs__wl_msg *m, const uint8_t *data, size_t len)
{
	uint8_t digest[CS__WL_ID_LEN];
	uint32_t bl;
	cs_buf b;
	int r = CS_OK;

	memset(m, 0, sizeof(*m));
	if (len > CS_WALLET_MSG_MAX)
		return cs_error_set(CS_ELIMIT, "message of %zu bytes (at most %u)", len, CS_WALLET_MSG_MAX);
	if (len < HEAD_LEN + CS__WL_ID_LEN || memcmp(data, frame_magic, 4) != 0)
		return cs_error_set(CS_EMALFORMED, "not a certsync wallet message");
	bl = (uint32_t)data[5] << 24 | (uint32_t)data[6] << 16 | (uint32_t)data[7] << 8 | data[8];
	if (bl != len - HEAD_LEN - CS__WL_ID_LEN)
		return cs_error_set(bl > len - HEAD_LEN - CS__WL_ID_LEN ? CS_ETRUNCATED : CS_ETRAILING,
			"message length field says %u bytes of %zu", bl, len - HEAD_LEN - CS__WL_ID_LEN);
	cs_sha256(digest, data, HEAD_LEN + bl);
	if (memcmp(digest, data + HEAD_LEN + bl, CS__WL_ID_LEN) != 0)
		return cs_error_set(CS_EAUTH, "the message digest does not match: it was altered on the way");
	m->type = data[4];
	cs_sha256(m->digest, data, len);
	cs_buf_view(&b, data + HEAD_LEN, bl);
	if (m->type != CS__WL_INIT && (r = cs_buf_get(&b, m->prev, CS__WL_ID_LEN)) < 0)
		return cs_error_wrap("message");
	switch (m->type) {
	case CS__WL_INIT: {
		uint64_t t;
		if ((r = cs_buf_get_u64(&b, &m->amount)) < 0 || (r = cs_buf_get_u64(&b, &t)) < 0)
			return cs_error_wrap("init");
		if (m->amount == 0 || m->amount > CS_WALLET_AMOUNT_MAX || t > (uint64_t)INT64_MAX)
			return cs_error_set(CS_EMALFORMED, "init: amount or time out of range");
		m->time_ms = (int64_t)t;
		break;
	}
	case CS__WL_INIT_ANSWER:
		if ((r = cs_buf_get(&b, m->random, CS__WL_RANDOM_LEN)) < 0 || (r = get_party(m, &b)) < 0)
			return cs_error_wrap("init answer");
		break;
	case CS__WL_EXECUTE:
		if ((r = cs_buf_get(&b, m->random, CS__WL_RANDOM_LEN)) < 0 ||
		    (r = cs_buf_get(&b, m->factor, CS__WL_FACTOR_LEN)) < 0 || (r = get_party(m, &b)) < 0 ||
		    (r = cs_buf_get_string_direct(&b, &m->sig, &m->sig_len, CS__WL_SIG_MAX)) < 0)
			return cs_error_wrap("execute");
		if (m->sig_len == 0)
			return cs_error_set(CS_EMALFORMED, "execute: empty signature");
		break;
	case CS__WL_EXECUTE_ANSWER:
		m->macked = data + HEAD_LEN;
		if ((r = cs_buf_get_u64(&b, &m->counter)) < 0 ||
		    (r = get_list(&b, m->coins, m->coin_len, &m->ncoins, CS__WL_COINS_MAX, CS__WL_COIN_MAX,
			     "vouchers")) < 0 ||
		    (r = get_list(&b, m->certs, m->cert_lens, &m->ncerts, CS__WL_CERTS_MAX, CS__WL_CERT_MAX,
			     "certificates")) < 0)
			return cs_error_wrap("execute answer");
		m->macked_len = bl - cs_buf_len(&b);
		if (m->ncoins == 0 || m->counter == 0)
			return cs_error_set(CS_EMALFORMED, "execute answer: no vouchers or no counter");
		if ((r = cs_buf_get(&b, m->mac, CS__WL_MAC_LEN)) < 0)
			return cs_error_wrap("execute answer");
		break;
	case CS__WL_COMPLETE:
	case CS__WL_COMPLETE_ANSWER:
		if ((r = cs_buf_get(&b, m->mac, CS__WL_MAC_LEN)) < 0)
			return cs_error_wrap("%s", cs_wallet_msg_type_name(m->type));
		break;
	case CS__WL_ERROR:
		if ((r = get_text(&b, m->code, sizeof(m->code) - 1, 1, "error code")) < 0 ||
		    (r = get_text(&b, m->text, sizeof(m->text) - 1, 0, "error message")) < 0)
			return cs_error_wrap("error");
		break;
	default:
		return cs_error_set(CS_EMALFORMED, "unknown message type %d", m->type);
	}
	if ((r = cs_buf_expect_end(&b)) < 0)
		return cs_error_wrap("%s", cs_wallet_msg_type_name(m->type));
	return CS_OK;
}
