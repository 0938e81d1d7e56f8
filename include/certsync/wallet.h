#ifndef CERTSYNC_WALLET_H
#define CERTSYNC_WALLET_H
/*
 * Offline transfer of value between two devices (DESIGN §9, PROTOCOL.md
 * §13). The hub issues value as vouchers it signs; each transfer appends a
 * link signed by the payer to enough vouchers to cover the amount. Three
 * instructions travel from the receiver to the payer over any channel:
 *
 *   receiver                        payer
 *   init (amount, time)      --->
 *                            <---   init answer (random, id, name, cert)
 *   execute (signature, ...) --->   pays: balance down, counter up, links
 *                            <---   vouchers + MAC under the session key
 *   complete (MAC)           --->   records the transfer
 *                            <---   acknowledgement (MAC)
 *
 * A wallet lives in DATA/wallet.db (SQLite, WAL, 0600) beside the device
 * key (DATA/device.key). Online, `load` takes value from the account's
 * balance at the hub and `sync` uploads what the wallet did, settles, and
 * fetches what the hub knows the wallet owns (value in flight).
 *
 * Every state change happens in one database transaction that commits
 * before the message that reports it leaves: a process killed at any point
 * restarts with either the old or the new state, never value created.
 */
#include <certsync/common.h>

/* Largest amount anywhere (2^53 - 1, exact in JSON numbers). */
#define CS_WALLET_AMOUNT_MAX 9007199254740991ULL
/* Largest message on any channel. */
#define CS_WALLET_MSG_MAX (1u << 20)

/* Why a message was refused: each has its own code (PROTOCOL.md §13.6). */
enum cs_wallet_refusal {
	CS_WR_NONE = 0,
	CS_WR_MALFORMED,       /* does not parse as a wallet message */
	CS_WR_ALTERED,         /* the message digest does not match: changed on the way */
	CS_WR_WRONG_ORDER,     /* not the next message of the transfer in progress */
	CS_WR_WRONG_STATE,     /* no transfer in progress that could take it */
	CS_WR_UNKNOWN_TRANSFER,/* answers a message of another transfer */
	CS_WR_REPLAYED,        /* this exact message was handled before */
	CS_WR_SIGNATURE,       /* a signature does not verify */
	CS_WR_CERT_UNKNOWN,    /* a certificate not issued by this wallet's hub */
	CS_WR_CERT_EXPIRED,    /* a certificate outside its validity */
	CS_WR_BALANCE,         /* the payer's balance is below the amount */
	CS_WR_VOUCHER_VALUE,   /* the vouchers do not carry the amount */
	CS_WR_MAC,             /* a MAC under the session key does not verify */
	CS_WR_LIMIT_AMOUNT,    /* the amount is above the offline limit */
	CS_WR_LIMIT_COUNT,     /* the offline transfers since the last sync reached the limit */
	CS_WR_SELF,            /* payer and receiver are the same wallet */
	CS_WR_PEER,            /* the peer refused (its error message says why) */
	CS_WR_COUNT
};

/* The stable name of a refusal ("wrong_order", ...); "" for CS_WR_NONE. */
CS_EXTERN const char *cs_wallet_refusal_name(int refusal);

typedef struct cs_wallet cs_wallet;

/* Open the wallet of the device in data_dir (creating wallet.db when
 * missing). CS_ENOTFOUND when the directory has no device key. */
CS_EXTERN int cs_wallet_open(cs_wallet **out, const char *data_dir);
/* Close; NULL is a no-op. */
CS_EXTERN void cs_wallet_close(cs_wallet *w);

/* The wallet at a glance. */
typedef struct cs_wallet_info {
	char device[64];         /* this device's ID */
	char account[65];        /* account of the last load or sync; "" before */
	uint64_t balance;        /* sum of the vouchers held */
	uint64_t vouchers;       /* number of vouchers held */
	uint64_t counter;        /* transfers paid, ever */
	uint64_t since_sync;     /* transfers paid since the last sync */
	uint64_t max_amount;     /* offline limit: largest transfer (paid or received) */
	uint64_t max_transfers;  /* offline limit: transfers paid between syncs */
	int64_t cert_expires;    /* end of the wallet certificate; 0 when none */
	int64_t last_sync;       /* unix seconds; 0 when never */
	uint64_t unsettled;      /* transfers the peer never confirmed */
	const char *payer_state; /* "idle", "initiated" or "executed" */
	const char *receiver_state; /* "idle", "init-sent", "execute-sent", "complete-sent" */
} cs_wallet_info;
CS_EXTERN int cs_wallet_info_get(cs_wallet_info *info, cs_wallet *w);

/* Lower (or, up to the hub's limits, raise) the wallet's own offline
 * limits; 0 leaves a limit as it is. CS_EINVAL above the hub's limit. */
CS_EXTERN int cs_wallet_limits_set(cs_wallet *w, uint64_t max_amount, uint64_t max_transfers);

/* One transfer as the history shows it. Strings are borrowed for the call. */
typedef struct cs_wallet_entry {
	int64_t id;
	int64_t time;            /* unix seconds */
	const char *kind;        /* "load", "paid", "received", "settled" (value fetched at sync),
	                          * "renewed" (a fresh voucher for a long chain), "dropped" */
	const char *peer;        /* the other device ("" for load/settled) */
	const char *peer_name;
	uint64_t amount;
	uint64_t counter;        /* payer's transfer index */
	const char *state;       /* paid: "executed" | "completed"; received: "received" | "confirmed" */
} cs_wallet_entry;
/* Call fn for every entry, oldest first; a non-zero return from fn stops. */
CS_EXTERN int cs_wallet_history(cs_wallet *w, int (*fn)(void *ud, const cs_wallet_entry *e), void *ud);

/* ---- the offline transfer ---- */

/* A message, malloc'd by the functions below; free with cs_wallet_msg_free. */
typedef struct cs_wallet_msg {
	uint8_t *data;
	size_t len;
} cs_wallet_msg;
CS_EXTERN void cs_wallet_msg_free(cs_wallet_msg *m);

/* The message type byte of a frame (1..7), 0 when it is not a frame. */
CS_EXTERN int cs_wallet_msg_type(const uint8_t *data, size_t len);
/* The name of a message type ("init", "init-answer", ...). */
CS_EXTERN const char *cs_wallet_msg_type_name(int type);

/* Receiver: start a transfer of amount, writing the init instruction to
 * *out. A transfer started before and not yet completed is abandoned (its
 * value, if the payer paid, is settled at the next sync). */
CS_EXTERN int cs_wallet_receive_start(cs_wallet_msg *out, int *refusal, cs_wallet *w, uint64_t amount);

/* What one step did (filled by the two functions below). */
typedef struct cs_wallet_step {
	int done;                /* 1: this side has nothing more to send or await */
	uint64_t amount;
	uint64_t counter;        /* the payer's transfer index, once known */
	char peer[64];           /* the other device, once known */
	char peer_name[65];
	const char *stage;       /* what happened, e.g. "paid", "received" */
} cs_wallet_step;

/* Payer: handle one instruction (init, execute or complete) and write the
 * answer to *out. On refusal returns CS_EDENIED with *refusal set, the
 * reason in cs_error_last(), and *out holding an error message for the
 * receiver (when one can be made); nothing in the wallet changed. now: unix
 * seconds for certificate checks (0: the clock). */
CS_EXTERN int cs_wallet_pay_handle(cs_wallet_msg *out, int *refusal, cs_wallet_step *step,
	cs_wallet *w, const uint8_t *in, size_t in_len, int64_t now);

/* Receiver: handle one answer from the payer and write the next
 * instruction to *out (out->len 0 when there is none: the transfer is
 * done). Refusals as cs_wallet_pay_handle, without an error message. */
CS_EXTERN int cs_wallet_receive_handle(cs_wallet_msg *out, int *refusal, cs_wallet_step *step,
	cs_wallet *w, const uint8_t *in, size_t in_len, int64_t now);

/* The last instruction the receiver sent, again (for a channel that lost
 * it). CS_ENOTFOUND when no transfer is in progress. */
CS_EXTERN int cs_wallet_receive_last(cs_wallet_msg *out, cs_wallet *w);

/* ---- online: load and sync through the hub (sealed account calls) ---- */

/* What load and sync report. */
typedef struct cs_wallet_online {
	int64_t online_balance;   /* the account's balance at the hub (negative: owes a double spend) */
	uint64_t hub_balance;     /* the hub's view of this wallet's balance */
	uint64_t wallet_balance;  /* this wallet's balance afterwards */
	uint64_t vouchers_received; /* vouchers added (load; sync: value in flight) */
	uint64_t value_received;
	uint64_t vouchers_dropped;  /* vouchers the hub knows this wallet spent */
	uint64_t vouchers_renewed;  /* long chains exchanged for fresh vouchers */
	uint64_t uploaded;        /* vouchers uploaded (sync) */
	uint64_t conflicts;       /* double spends the hub holds against this wallet */
	uint64_t conflicts_new;   /* of which found by this sync */
} cs_wallet_online;

/* Take amount from the account's balance at the hub as a voucher (the
 * device must be logged in: `certsync account login`). Also obtains the
 * wallet certificate and the hub's offline limits. A load whose answer
 * was lost is repeated with the same request id, so value is never lost. */
CS_EXTERN int cs_wallet_load(cs_wallet_online *res, const char *data_dir, uint64_t amount);

/* Upload the wallet's log, let the hub settle, and fetch the result. */
CS_EXTERN int cs_wallet_sync(cs_wallet_online *res, const char *data_dir);

#endif
