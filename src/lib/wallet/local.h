#ifndef CS_WALLET_LOCAL_H
#define CS_WALLET_LOCAL_H
/* Definitions shared by src/lib/wallet/ and the hub's ledger
 * (src/lib/hub/wallet*.c): vouchers, links, coins and frames
 * (PROTOCOL.md §13). */
#include <certsync/buf.h>
#include <certsync/hash.h>
#include <certsync/identity.h>
#include <certsync/wallet.h>

#define CS__WL_ID_LEN 32          /* SHA-256 of a signed body */
#define CS__WL_SERIAL_LEN 16
#define CS__WL_RANDOM_LEN 32
#define CS__WL_FACTOR_LEN 16
#define CS__WL_MAC_LEN 32
#define CS__WL_ACCOUNT_MAX 64
#define CS__WL_NAME_MAX 64
#define CS__WL_SIG_MAX 1024
#define CS__WL_CERT_MAX 8192
#define CS__WL_LINKS_MAX 64       /* links in one coin */
#define CS__WL_COINS_MAX 64       /* coins in one transfer */
#define CS__WL_CERTS_MAX 64       /* certificates in one message */
#define CS__WL_SYNC_CERTS_MAX 4096 /* certificates in one sync answer */
#define CS__WL_COIN_MAX (CS__WL_LINKS_MAX * 1024 + 4096)
/* A coin with this many links is renewed at the next sync: its holder signs
 * it over to itself (a renewal link) and the hub issues a fresh voucher. */
#define CS__WL_RENEW_LINKS 32

/* A voucher the hub issued: body signed with the hub CA key. */
struct cs__wl_voucher {
	uint8_t id[CS__WL_ID_LEN];        /* SHA-256(body) */
	uint8_t serial[CS__WL_SERIAL_LEN];
	uint64_t value;
	char owner[CS_DEVICE_ID_SIZE];
	char account[CS__WL_ACCOUNT_MAX + 1];
	int64_t issued;
	uint8_t *body;
	size_t body_len;
	uint8_t *sig;
	size_t sig_len;
};

/* A link: the payer hands one branch of a voucher to the payee, keeping
 * change. Body signed by the payer's device key. */
struct cs__wl_link {
	uint8_t id[CS__WL_ID_LEN];        /* SHA-256(body) */
	uint8_t prev[CS__WL_ID_LEN];      /* id of the voucher or link before */
	uint8_t side;                     /* which branch of prev it spends (0 or 1) */
	char payer[CS_DEVICE_ID_SIZE];
	char payee[CS_DEVICE_ID_SIZE];
	uint64_t amount;                  /* branch 0: to the payee */
	uint64_t change;                  /* branch 1: back to the payer */
	uint64_t counter;                 /* the payer's transfer index */
	int64_t time_ms;
	uint8_t transfer[CS__WL_ID_LEN];  /* the transfer's id */
	uint8_t *body;
	size_t body_len;
	uint8_t *sig;
	size_t sig_len;
};

/* A coin: one branch of a voucher as its holder keeps it: the voucher,
 * the links down to the branch and which side of the last one. */
struct cs__wl_coin {
	struct cs__wl_voucher v;
	struct cs__wl_link *links;
	size_t n;
	uint8_t side;
	/* derived by decode */
	uint64_t value;
	char holder[CS_DEVICE_ID_SIZE];
	uint8_t state[CS__WL_ID_LEN];     /* the branch: SHA-256("state" || last id || side) */
};

/* The transfer id a renewal link carries:
 * SHA-256("certsync-wallet-renew-v1\0" || state id of the coin renewed). */
void cs__wl_renew_id(uint8_t out[CS__WL_ID_LEN], const uint8_t state[CS__WL_ID_LEN]);
/* 1 when the coin's last link is a renewal (the holder gave it to itself). */
int cs__wl_coin_renewing(const struct cs__wl_coin *c);

/* The branch id of element id, side (what a spending link names). */
void cs__wl_state_id(uint8_t out[CS__WL_ID_LEN], const uint8_t id[CS__WL_ID_LEN], uint8_t side);

/* ---- vouchers (coin.c) ---- */

/* The body of a voucher into *body (malloc'd). */
int cs__wl_voucher_body(uint8_t **body, size_t *len, const uint8_t serial[CS__WL_SERIAL_LEN],
	uint64_t value, const char *owner, const char *account, int64_t issued);
/* Encode a voucher from a body and its signature: string body || string sig. */
int cs__wl_voucher_pack(cs_buf *out, const uint8_t *body, size_t body_len, const uint8_t *sig,
	size_t sig_len);
void cs__wl_voucher_clear(struct cs__wl_voucher *v);

/* ---- links ---- */

/* Make a link spending coin c's branch and sign it with key. A payment
 * names another payee and counter >= 1; a renewal names the payer itself,
 * counter 0 and the coin's whole value. */
int cs__wl_link_make(struct cs__wl_link *l, const struct cs__wl_coin *c, const cs_key *key,
	const char *payer, const char *payee, uint64_t amount, uint64_t counter, int64_t time_ms,
	const uint8_t transfer[CS__WL_ID_LEN]);
void cs__wl_link_clear(struct cs__wl_link *l);

/* ---- coins ---- */

/* Decode a coin and check its structure: magic, every field, limits, that
 * each link names the element before and a branch that exists, that its
 * payer holds that branch and that amount + change is the branch's value.
 * Signatures are not checked (cs__wl_coin_verify). CS_EMALFORMED (and
 * kin) with the reason. */
int cs__wl_coin_decode(struct cs__wl_coin *c, const uint8_t *data, size_t len);
/* Encode. */
int cs__wl_coin_encode(cs_buf *out, const struct cs__wl_coin *c);
/* One signed element: a voucher or link body and its signature. */
struct cs__wl_part {
	const uint8_t *body;
	size_t body_len;
	const uint8_t *sig;
	size_t sig_len;
};
/* Encode a coin from its elements (parts[0] the voucher, then the links)
 * and side, without checking them (decode the result for that). */
int cs__wl_coin_pack(cs_buf *out, const struct cs__wl_part *parts, size_t n, uint8_t side);
/* A coin whose elements are copies of c's plus link l (copied), side side. */
int cs__wl_coin_extend(struct cs__wl_coin *out, const struct cs__wl_coin *c,
	const struct cs__wl_link *l, uint8_t side);
/* A coin of a voucher alone. */
int cs__wl_coin_from_voucher(struct cs__wl_coin *out, const uint8_t *voucher, size_t len);
void cs__wl_coin_clear(struct cs__wl_coin *c);

/* Finds the certificate of a device (borrowed), NULL when unknown. */
typedef const cs_cert *(*cs__wl_cert_fn)(void *ud, const char *device);

/* Check a decoded coin's signatures: the voucher's against the hub CA,
 * every link's against its payer's certificate (found with fn), which must
 * be issued by ca to that device (its validity period is not checked here:
 * see coin.c). Returns 0, or CS_EDENIED with *refusal (signature_invalid,
 * cert_unknown). */
int cs__wl_coin_verify(int *refusal, const struct cs__wl_coin *c, const cs_cert *ca,
	cs__wl_cert_fn fn, void *ud);

/* ---- frames (message.c) ---- */

enum cs__wl_type {
	CS__WL_INIT = 1,
	CS__WL_INIT_ANSWER = 2,
	CS__WL_EXECUTE = 3,
	CS__WL_EXECUTE_ANSWER = 4,
	CS__WL_COMPLETE = 5,
	CS__WL_COMPLETE_ANSWER = 6,
	CS__WL_ERROR = 7,
};

/* A decoded message: the fields of its type; pointers borrow the frame. */
struct cs__wl_msg {
	int type;
	uint8_t digest[CS__WL_ID_LEN];      /* SHA-256 of the whole frame */
	uint8_t prev[CS__WL_ID_LEN];        /* digest of the message answered (types 2..7) */
	/* init */
	uint64_t amount;
	int64_t time_ms;
	/* init answer / execute: the sender of the message */
	uint8_t random[CS__WL_RANDOM_LEN];
	uint8_t factor[CS__WL_FACTOR_LEN];  /* execute */
	char device[CS_DEVICE_ID_SIZE];
	char name[CS__WL_NAME_MAX + 1];
	const uint8_t *cert;
	size_t cert_len;
	const uint8_t *sig;                 /* execute */
	size_t sig_len;
	/* execute answer */
	uint64_t counter;
	const uint8_t *coins[CS__WL_COINS_MAX];
	size_t coin_len[CS__WL_COINS_MAX];
	size_t ncoins;
	const uint8_t *certs[CS__WL_CERTS_MAX];
	size_t cert_lens[CS__WL_CERTS_MAX];
	size_t ncerts;
	/* execute answer, complete, complete answer */
	uint8_t mac[CS__WL_MAC_LEN];
	/* error */
	char code[33];
	char text[257];
	/* the bytes a MAC covers in an execute answer: the body without the MAC */
	const uint8_t *macked;
	size_t macked_len;
};

/* Decode a frame: CS_EMALFORMED (and kin) when it does not parse, CS_EAUTH
 * when its digest does not match (altered). */
int cs__wl_msg_decode(struct cs__wl_msg *m, const uint8_t *data, size_t len);

/* Frame a body: "CSW1" || type || u32 len || body || SHA-256 of all before.
 * body is the message's fields as written by the encoders in message.c. */
int cs__wl_frame(cs_wallet_msg *out, int type, const cs_buf *body);

/* Frame bodies. */
int cs__wl_enc_init(cs_wallet_msg *out, uint64_t amount, int64_t time_ms);
int cs__wl_enc_init_answer(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t random[CS__WL_RANDOM_LEN], const char *device, const char *name,
	const uint8_t *cert, size_t cert_len);
int cs__wl_enc_execute(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t random[CS__WL_RANDOM_LEN], const uint8_t factor[CS__WL_FACTOR_LEN],
	const char *device, const char *name, const uint8_t *cert, size_t cert_len,
	const uint8_t *sig, size_t sig_len);
/* The execute answer: coins and certificates, then the MAC computed by
 * mac_fn over the body written so far. */
int cs__wl_enc_execute_answer(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN],
	uint64_t counter, const cs_buf *const *coins, size_t ncoins, const cs_buf *const *certs,
	size_t ncerts, const uint8_t key[CS__WL_MAC_LEN]);
int cs__wl_enc_mac_msg(cs_wallet_msg *out, int type, const uint8_t prev[CS__WL_ID_LEN],
	const uint8_t mac[CS__WL_MAC_LEN]);
int cs__wl_enc_error(cs_wallet_msg *out, const uint8_t prev[CS__WL_ID_LEN], const char *code,
	const char *text);

/* ---- the session key and MACs (session_key.c) ---- */

/* transfer id = SHA-256("certsync-wallet-transfer-v1" || d_init || d_answer || d_execute) */
void cs__wl_transfer_id(uint8_t out[CS__WL_ID_LEN], const uint8_t d_init[CS__WL_ID_LEN],
	const uint8_t d_answer[CS__WL_ID_LEN], const uint8_t d_execute[CS__WL_ID_LEN]);
/* What the receiver signs in execute. */
void cs__wl_execute_tbs(uint8_t out[CS__WL_ID_LEN], const uint8_t d_init[CS__WL_ID_LEN],
	const uint8_t d_answer[CS__WL_ID_LEN], const uint8_t random[CS__WL_RANDOM_LEN],
	const uint8_t factor[CS__WL_FACTOR_LEN], const char *receiver, const char *payer);
/* K = HKDF-SHA-256(ECDH(key, peer), salt = factor || r_payer || r_receiver,
 * info = "certsync-wallet-session-v1" || transfer id). */
int cs__wl_session_key(uint8_t k[CS__WL_MAC_LEN], const cs_key *key, const cs_cert *peer,
	const uint8_t factor[CS__WL_FACTOR_LEN], const uint8_t r_payer[CS__WL_RANDOM_LEN],
	const uint8_t r_receiver[CS__WL_RANDOM_LEN], const uint8_t transfer[CS__WL_ID_LEN]);
/* HMAC-SHA-256(k, label || data). */
void cs__wl_mac(uint8_t out[CS__WL_MAC_LEN], const uint8_t k[CS__WL_MAC_LEN], const char *label,
	const uint8_t *data, size_t len);

#endif
