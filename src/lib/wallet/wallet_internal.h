#ifndef CS_WALLET_INTERNAL_H
#define CS_WALLET_INTERNAL_H
/* The device's wallet (wallet.c), shared by transfer.c and online.c only. */
#include <certsync/store.h>
#include "lib/wallet/local.h"

/* Limits a wallet starts with, before the hub's arrive with the first load. */
#define CS__WL_DEFAULT_MAX_AMOUNT 10000
#define CS__WL_DEFAULT_MAX_TRANSFERS 100

struct cs_wallet {
	cs_store *db;
	cs_key *key;
	char *dir;
	char device[CS_DEVICE_ID_SIZE];
	char name[CS__WL_NAME_MAX + 1];
	/* from the wallet row, read by cs__wl_load_row */
	cs_cert *ca;    /* the hub CA; NULL before the first load */
	cs_cert *cert;  /* this wallet's certificate; NULL before the first load */
	uint8_t *cert_der;
	size_t cert_der_len;
	uint64_t counter, since_sync, max_amount, max_transfers;
	int outer_tx;   /* a handler's transaction is open (transfer.c) */
	/* certificates looked up, kept until close */
	struct cs__wl_cached { char device[CS_DEVICE_ID_SIZE]; cs_cert *cert; } *certs;
	size_t ncerts;
};

/* Re-read the wallet row (certificates, counters, limits) into w. */
int cs__wl_load_row(cs_wallet *w);
/* The balance: the sum of the coins held, and their number. */
int cs__wl_balance(cs_wallet *w, uint64_t *balance, uint64_t *count);
/* What can be paid now: the coins held, less those being renewed and those
 * with more than CS__WL_LINKS_MAX - 2 links (renewed at the next sync). */
int cs__wl_spendable(cs_wallet *w, uint64_t *balance);
/* The certificate of a device this wallet has met (cached; borrowed until
 * the wallet closes), or its own. NULL when unknown. */
const cs_cert *cs__wl_cert_lookup(void *w, const char *device);
/* Certificates carried with coins (an execute answer, a sync answer): each
 * checked to be one the wallet's hub CA issued to the device it names, and
 * looked up before the wallet's own (cs__wl_carried_lookup). */
struct cs__wl_carried {
	cs_wallet *w;
	cs_cert **c;
	char (*id)[CS_DEVICE_ID_SIZE];
	uint8_t **der;
	size_t *der_len;
	size_t n, cap;
};
/* Add one (DER): CS_EMALFORMED when it does not parse or names no device,
 * CS_EAUTH when the hub CA did not issue it. */
int cs__wl_carried_add(struct cs__wl_carried *cc, const uint8_t *der, size_t len);
const cs_cert *cs__wl_carried_lookup(void *cc, const char *device);
/* Remember them all (cs__wl_cert_store), once the coins are accepted. */
int cs__wl_carried_keep(struct cs__wl_carried *cc);
void cs__wl_carried_clear(struct cs__wl_carried *cc);
/* Remember a device's certificate (DER). */
int cs__wl_cert_store(cs_wallet *w, const char *device, const uint8_t *der, size_t len);
/* 1 when a message digest was handled before, 0 when not. */
int cs__wl_seen(cs_wallet *w, const uint8_t digest[CS__WL_ID_LEN]);
int cs__wl_seen_add(cs_wallet *w, const uint8_t digest[CS__WL_ID_LEN]);
/* Add a history entry; *id (when not NULL) gets its row id. */
int cs__wl_history_add(cs_wallet *w, int64_t *id, const char *kind, const char *peer,
	const char *peer_name, uint64_t amount, uint64_t counter, const char *state);
/* Keep what the hub gave: its CA and this wallet's certificate (DER; cert
 * may be NULL to keep the one held), the account and the hub's limits.
 * Reloads the wallet row. */
int cs__wl_set_identity(cs_wallet *w, const uint8_t *ca, size_t ca_len, const uint8_t *cert,
	size_t cert_len, const char *account, uint64_t max_amount, uint64_t max_transfers);
/* Store a coin as held (CS_EEXISTS when its branch is held now or was
 * held before: a branch enters a wallet once). */
int cs__wl_coin_store(cs_wallet *w, const struct cs__wl_coin *c);

#endif
