#ifndef CERTSYNC_ACCOUNT_H
#define CERTSYNC_ACCOUNT_H
/*
 * Account sync's wire cryptography (DESIGN §7, PROTOCOL.md §11), shared by
 * the hub and the client:
 *
 *  - login: a SCRAM-SHA-256-style salted challenge-response in which the
 *    salted password is argon2id(password, salt). The hub stores only
 *    StoredKey and ServerKey; the password, and anything the hub could
 *    replay as the client, never leaves the client.
 *  - the message key: both sides derive it from ClientKey (which the hub
 *    learns only from a valid proof) and the exchange's auth message, so it
 *    never crosses the wire, not even inside TLS.
 *  - tokens and login tickets: self-contained, sealed with AES-256-GCM
 *    under a hub token key named by a key id, so any hub instance that
 *    shares the store can check them with no session table.
 *  - sealed bodies: every request and response after login travels in a
 *    frame sealed with the message key and bound to the method, the path,
 *    the request's timestamp and (for responses) the status.
 */
#include <certsync/buf.h>
#include <certsync/common.h>
#include <certsync/identity.h>

#define CS_ACCT_KEY_LEN 32          /* message keys, token keys, derived keys */
#define CS_ACCT_SALT_LEN 16
#define CS_ACCT_NONCE_LEN 18        /* client and server login nonces */
#define CS_ACCT_NAME_MAX 64         /* account names: 1..64 of a-z A-Z 0-9 . _ @ - */
#define CS_ACCT_TOKEN_MAX 512       /* longest token or ticket text */
#define CS_ACCT_KDF_T_DEFAULT 3     /* argon2id passes */
#define CS_ACCT_KDF_M_DEFAULT 65536 /* argon2id memory, KiB (64 MiB) */
#define CS_ACCT_KDF_T_MAX 16
#define CS_ACCT_KDF_M_MAX (1u << 21) /* 2 GiB */

/* argon2id parameters of an account's salted password. */
typedef struct cs_acct_kdf {
	uint8_t salt[CS_ACCT_SALT_LEN];
	uint32_t t_cost; /* passes, 1..CS_ACCT_KDF_T_MAX */
	uint32_t m_kib;  /* memory in KiB, 8..CS_ACCT_KDF_M_MAX */
} cs_acct_kdf;

/* 1 when name is a valid account name, else 0. */
CS_EXTERN int cs_acct_name_valid(const char *name);

/* ---- login (SCRAM-SHA-256 with argon2id) ---- */

/* SaltedPassword = argon2id(password, kdf->salt, t, m, lanes 1, 32 bytes).
 * CS_EINVAL for parameters out of range. Costs m_kib of memory. */
CS_EXTERN int cs_acct_salted_password(uint8_t sp[CS_ACCT_KEY_LEN], const char *password,
	const cs_acct_kdf *kdf);

/* What the hub stores: StoredKey = SHA-256(ClientKey) and ServerKey =
 * HMAC(SaltedPassword, "Server Key"), ClientKey = HMAC(SaltedPassword,
 * "Client Key"). */
CS_EXTERN void cs_acct_verifier(uint8_t stored_key[CS_ACCT_KEY_LEN],
	uint8_t server_key[CS_ACCT_KEY_LEN], const uint8_t sp[CS_ACCT_KEY_LEN]);

/* The auth message both sides sign: every value of the exchange, one per
 * line (PROTOCOL.md §11.2). *out is malloc'd and NUL-terminated. */
CS_EXTERN int cs_acct_auth_message(char **out, const char *account, const char *device,
	const uint8_t cnonce[CS_ACCT_NONCE_LEN], const uint8_t snonce[CS_ACCT_NONCE_LEN],
	const cs_acct_kdf *kdf);

/* Client side: proof = ClientKey XOR HMAC(StoredKey, auth); also returns
 * ClientKey (for cs_acct_message_key) when client_key is not NULL. */
CS_EXTERN void cs_acct_client_proof(uint8_t proof[CS_ACCT_KEY_LEN],
	uint8_t client_key[CS_ACCT_KEY_LEN], const uint8_t sp[CS_ACCT_KEY_LEN], const char *auth);

/* Hub side: recover ClientKey from proof and check that its SHA-256 is
 * stored_key (constant time). CS_EAUTH when it is not; client_key is then
 * wiped. */
CS_EXTERN int cs_acct_check_proof(uint8_t client_key[CS_ACCT_KEY_LEN],
	const uint8_t stored_key[CS_ACCT_KEY_LEN], const char *auth,
	const uint8_t proof[CS_ACCT_KEY_LEN]);

/* ServerSignature = HMAC(ServerKey, auth): the hub proves it holds the
 * account's verifier; the client checks it with cs_memeq. */
CS_EXTERN void cs_acct_server_signature(uint8_t sig[CS_ACCT_KEY_LEN],
	const uint8_t server_key[CS_ACCT_KEY_LEN], const char *auth);

/* MessageKey = HMAC(ClientKey, "certsync message key\n" || SHA-256(auth)). */
CS_EXTERN void cs_acct_message_key(uint8_t mk[CS_ACCT_KEY_LEN],
	const uint8_t client_key[CS_ACCT_KEY_LEN], const char *auth);

/* The key that wraps the account's data key: HMAC(SaltedPassword,
 * "certsync account data key"). The hub cannot compute it. */
CS_EXTERN void cs_acct_wrapping_key(uint8_t kek[CS_ACCT_KEY_LEN], const uint8_t sp[CS_ACCT_KEY_LEN]);

/* ---- tokens and login tickets ---- */

/* A token: what the hub needs to serve a request, sealed. */
typedef struct cs_acct_token {
	int64_t account_id;
	char account[CS_ACCT_NAME_MAX + 1];
	char device[CS_DEVICE_ID_SIZE];
	int64_t issued;  /* unix seconds */
	int64_t expires; /* unix seconds */
	uint8_t message_key[CS_ACCT_KEY_LEN];
} cs_acct_token;

/* A login ticket: the state of a login between its two requests. */
typedef struct cs_acct_ticket {
	int64_t account_id; /* 0 when the account is unknown (the login will fail) */
	char account[CS_ACCT_NAME_MAX + 1];
	char device[CS_DEVICE_ID_SIZE];
	int64_t expires;
	uint8_t cnonce[CS_ACCT_NONCE_LEN];
	uint8_t snonce[CS_ACCT_NONCE_LEN];
} cs_acct_ticket;

/* Seal t under key (named kid) into text "cst1.<base64>", malloc'd. */
CS_EXTERN int cs_acct_token_seal(char **out, const uint8_t key[CS_ACCT_KEY_LEN], uint32_t kid,
	const cs_acct_token *t);
/* Seal a login ticket ("csl1.<base64>"). */
CS_EXTERN int cs_acct_ticket_seal(char **out, const uint8_t key[CS_ACCT_KEY_LEN], uint32_t kid,
	const cs_acct_ticket *t);

/* The key id a token or ticket names, read without a key. CS_EMALFORMED
 * when the text is not a token (is_ticket 0) or ticket (is_ticket 1). */
CS_EXTERN int cs_acct_sealed_kid(uint32_t *kid, const char *text, int is_ticket);

/* Open a token or ticket with the key its key id names. CS_EAUTH when it
 * was not sealed under key or was altered; CS_EMALFORMED when its content
 * does not parse. Expiry is the caller's to check. */
CS_EXTERN int cs_acct_token_open(cs_acct_token *t, const uint8_t key[CS_ACCT_KEY_LEN],
	const char *text);
CS_EXTERN int cs_acct_ticket_open(cs_acct_ticket *t, const uint8_t key[CS_ACCT_KEY_LEN],
	const char *text);

/* ---- sealed bodies ---- */

#define CS_ACCT_FRAME_OVERHEAD (4 + 2 + CS_ACCT_TOKEN_MAX + 8 + 12 + 16)

/* The outer, unauthenticated view of a request frame. Pointers borrow the
 * frame's bytes. */
typedef struct cs_acct_request_frame {
	char token[CS_ACCT_TOKEN_MAX + 1];
	int64_t ts_ms;          /* the client's clock, ms since the epoch */
	const uint8_t *nonce;   /* 12 bytes */
	const uint8_t *sealed;  /* ciphertext and tag */
	size_t sealed_len;
} cs_acct_request_frame;

/* Client: frame plain[0..len) for method and path under token and its
 * message key, stamped ts_ms; appended to out. */
CS_EXTERN int cs_acct_request_seal(cs_buf *out, const char *token,
	const uint8_t mk[CS_ACCT_KEY_LEN], const char *method, const char *path, int64_t ts_ms,
	const uint8_t *plain, size_t len);

/* Hub: split a request frame into f without any key. CS_EMALFORMED,
 * CS_ETRUNCATED or CS_ETRAILING with the reason. */
CS_EXTERN int cs_acct_request_parse(cs_acct_request_frame *f, const uint8_t *in, size_t len);

/* Hub: open a parsed frame with the token's message key for the method
 * and path it arrived on. *plain is malloc'd (NUL-terminated one past
 * *plain_len). CS_EAUTH when the frame was sealed with another key, for
 * another method, path, timestamp or token, or altered. */
CS_EXTERN int cs_acct_request_open(uint8_t **plain, size_t *plain_len,
	const cs_acct_request_frame *f, const uint8_t mk[CS_ACCT_KEY_LEN], const char *method,
	const char *path);

/* Hub: frame a response body, bound to the request (method, path, its
 * ts_ms) and to the HTTP status; appended to out. */
CS_EXTERN int cs_acct_response_seal(cs_buf *out, const uint8_t mk[CS_ACCT_KEY_LEN],
	const char *method, const char *path, int64_t req_ts_ms, int status,
	const uint8_t *plain, size_t len);

/* Client: open a response to the request (method, path, req_ts_ms) that
 * came with status. *plain as above. CS_EAUTH when it does not belong to
 * that request and status or was altered. */
CS_EXTERN int cs_acct_response_open(uint8_t **plain, size_t *plain_len,
	const uint8_t mk[CS_ACCT_KEY_LEN], const char *method, const char *path,
	int64_t req_ts_ms, int status, const uint8_t *in, size_t len);

#endif
