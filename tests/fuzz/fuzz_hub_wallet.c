/* libFuzzer target for the hub's wallet request parsers
 * cs__parse_wallet_load and cs__parse_wallet_sync (src/lib/hub/parse_wallet.c,
 * hub_parse.h, PROTOCOL.md §13.8). The first input byte picks the parser
 * (modulo their number), the rest is the body. Any input must be refused
 * with CS_EINVAL, CS_EMALFORMED, CS_ELIMIT or CS_ENOMEM and a zeroed result,
 * or parse into a struct within the limits: a request of 32 lower-case hex
 * digits, an amount of 1..CS_WALLET_AMOUNT_MAX, a PEM request, at most
 * CS__HUB_WALLET_COINS_MAX held and paid coins. Whatever a parser returns
 * is freed with its _clear (LSan catches what is left). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/common.h>
#include <certsync/encoding.h>
#include <certsync/wallet.h>
#include "lib/hub/hub_parse.h"
#include "lib/wallet/local.h"

enum { LOAD, SYNC, NPARSERS };

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_rc(int r)
{
	EXPECT(r == CS_OK || r == CS_EINVAL || r == CS_EMALFORMED || r == CS_ELIMIT ||
		r == CS_ENOMEM);
}

/* every byte of a failed parse's result is zero */
static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		EXPECT(b[i] == 0);
}

/* NULL, or a PEM certificate request of at most CS__HUB_WALLET_CSR_MAX bytes */
static void check_csr(const char *csr)
{
	if (csr == NULL)
		return;
	EXPECT(strlen(csr) <= CS__HUB_WALLET_CSR_MAX);
	EXPECT(strncmp(csr, "-----BEGIN CERTIFICATE REQUEST-----", 35) == 0);
}

/* n coins of base64-decoded bytes; touch every byte (ASan) */
static void check_coins(uint8_t *const *items, const size_t *lens, size_t n)
{
	EXPECT(n <= CS__HUB_WALLET_COINS_MAX);
	EXPECT(n == 0 || (items != NULL && lens != NULL));
	for (size_t i = 0; i < n; i++) {
		EXPECT(items[i] != NULL);
		EXPECT(lens[i] <= (CS__WL_COIN_MAX / 3 + 1) * 3);
		volatile uint8_t sum = 0;
		for (size_t k = 0; k < lens[i]; k++)
			sum ^= items[i][k];
		(void)sum;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	int r;

	switch (data[0] % NPARSERS) {
	case LOAD: {
		struct cs__wallet_load_body b;
		memset(&b, 0xa5, sizeof(b));
		check_rc(r = cs__parse_wallet_load(&b, text, len));
		if (r == CS_OK) {
			EXPECT(memchr(b.request, '\0', sizeof(b.request)) != NULL);
			EXPECT(strlen(b.request) == 32);
			EXPECT(strspn(b.request, "0123456789abcdef") == 32);
			EXPECT(b.amount >= 1 && b.amount <= CS_WALLET_AMOUNT_MAX);
			EXPECT(b.csr != NULL);
			check_csr(b.csr);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__wallet_load_body_clear(&b);
		check_zero(&b, sizeof(b));
		break;
	}
	case SYNC: {
		struct cs__wallet_sync_body b;
		memset(&b, 0xa5, sizeof(b));
		check_rc(r = cs__parse_wallet_sync(&b, text, len));
		if (r == CS_OK) {
			check_csr(b.csr);
			check_coins(b.held, b.held_len, b.nheld);
			check_coins(b.paid, b.paid_len, b.npaid);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__wallet_sync_body_clear(&b);
		check_zero(&b, sizeof(b));
		break;
	}
	}
	return 0;
}
