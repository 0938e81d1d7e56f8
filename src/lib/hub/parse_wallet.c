/* Bodies of the wallet calls (PROTOCOL.md §13.8), parsed before any of
 * their content is trusted. Coins are only decoded here; their structure
 * and signatures are checked by the ledger. */
#include <stdlib.h>
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/wallet.h>
#include "hub/hub_internal.h"
#include "lib/wallet/local.h"

void cs__wallet_load_body_clear(struct cs__wallet_load_body *b)
{
	free(b->csr);
	memset(b, 0, sizeof(*b));
}

static int get_csr(char **out, json_t *root, int required)
{
	const char *csr = NULL;
	int r = cs__json_str(&csr, root, "csr", required, CS__HUB_WALLET_CSR_MAX);
	if (r < 0 || csr == NULL)
		return r;
	if (strncmp(csr, "-----BEGIN CERTIFICATE REQUEST-----", 35) != 0)
		return cs_error_set(CS_EINVAL, "csr is not a PEM certificate request");
	if ((*out = strdup(csr)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	return CS_OK;
}

int cs__parse_wallet_load(struct cs__wallet_load_body *out, const char *text, size_t len)
{
	struct cs__wallet_load_body b = {0};
	json_t *root = NULL;
	const char *req = NULL;
	int64_t amount = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_WALLET_LOAD_MAX)) < 0)
		return r;
	if ((r = cs__json_str(&req, root, "request", 1, 32)) < 0 ||
	    (r = cs__json_int(&amount, root, "amount", 1, 1, (int64_t)CS_WALLET_AMOUNT_MAX)) < 0 ||
	    (r = get_csr(&b.csr, root, 1)) < 0)
		goto done;
	if (strlen(req) != 32 || strspn(req, "0123456789abcdef") != 32) {
		r = cs_error_set(CS_EINVAL, "request is 32 lower-case hex digits");
		goto done;
	}
	memcpy(b.request, req, 33);
	b.amount = (uint64_t)amount;
	*out = b;
	memset(&b, 0, sizeof(b));
done:
	cs__wallet_load_body_clear(&b);
	json_decref(root);
	return r;
}

void cs__wallet_sync_body_clear(struct cs__wallet_sync_body *b)
{
	for (size_t i = 0; i < b->nheld; i++)
		free(b->held[i]);
	for (size_t i = 0; i < b->npaid; i++)
		free(b->paid[i]);
	free(b->held);
	free(b->held_len);
	free(b->paid);
	free(b->paid_len);
	free(b->csr);
	memset(b, 0, sizeof(*b));
}

/* An array of base64 coins. */
static int get_coins(uint8_t ***items, size_t **lens, size_t *n, json_t *root, const char *key)
{
	json_t *a = json_object_get(root, key);
	*n = 0;
	if (a == NULL || json_is_null(a))
		return CS_OK;
	if (!json_is_array(a))
		return cs_error_set(CS_EMALFORMED, "%s is not an array", key);
	size_t count = json_array_size(a);
	if (count > CS__HUB_WALLET_COINS_MAX)
		return cs_error_set(CS_ELIMIT, "%s holds %zu vouchers (at most %d per sync)", key, count,
			CS__HUB_WALLET_COINS_MAX);
	if ((*items = calloc(count + 1, sizeof(**items))) == NULL ||
	    (*lens = calloc(count + 1, sizeof(**lens))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (; *n < count; (*n)++) {
		const char *t = json_string_value(json_array_get(a, *n));
		if (t == NULL)
			return cs_error_set(CS_EMALFORMED, "%s[%zu] is not a string", key, *n);
		if (cs_base64_decode(&(*items)[*n], &(*lens)[*n], t, (CS__WL_COIN_MAX / 3 + 1) * 4) < 0)
			return cs_error_wrap("%s[%zu]", key, *n);
	}
	return CS_OK;
}

int cs__parse_wallet_sync(struct cs__wallet_sync_body *out, const char *text, size_t len)
{
	struct cs__wallet_sync_body b = {0};
	json_t *root = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = cs__parse_object(&root, text, len, CS__HUB_WALLET_SYNC_MAX)) < 0)
		return r;
	if ((r = get_csr(&b.csr, root, 0)) < 0 ||
	    (r = get_coins(&b.held, &b.held_len, &b.nheld, root, "held")) < 0 ||
	    (r = get_coins(&b.paid, &b.paid_len, &b.npaid, root, "paid")) < 0)
		goto done;
	*out = b;
	memset(&b, 0, sizeof(b));
done:
	cs__wallet_sync_body_clear(&b);
	json_decref(root);
	return r;
}
