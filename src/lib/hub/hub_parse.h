#ifndef CS_HUB_PARSE_H
#define CS_HUB_PARSE_H
/*
 * The request bodies of the hub's API (PROTOCOL.md §2, §4, §5, §10) as pure
 * functions: JSON text in, a validated struct or an error out. No hub, no
 * database, no network: what a handler then does is its own business, and
 * the fuzz target tests/fuzz/fuzz_hub_json.c drives every parser here.
 *
 * Contract shared by every cs__parse_* function:
 *   - text[0..len) is the body as received (need not be NUL-terminated);
 *   - a body over the endpoint's limit is CS_ELIMIT (413 too_large); text
 *     that is not one JSON object, duplicate keys, a NUL inside a string, a
 *     member of the wrong type or out of range is CS_EMALFORMED (400
 *     malformed); a missing required member or a value the endpoint refuses
 *     is CS_EINVAL (400 invalid); the reason is in cs_error_last();
 *   - on success *out is filled; its strings point into out->root, which
 *     the matching _clear releases (wiping secrets first). On failure *out
 *     is left zeroed, and _clear of a zeroed struct is a no-op.
 *   - unknown members are ignored (PROTOCOL.md §1).
 */
#include <jansson.h>
#include <certsync/account.h>
#include <certsync/common.h>
#include <certsync/identity.h>

/* ---- limits ---- */
#define CS__HUB_JSON_MAX (1u << 20)        /* JSON request bodies */
#define CS__HUB_ENROLL_MAX (64u << 10)     /* /v1/enroll bodies */
#define CS__HUB_LOGIN_MAX (4u << 10)       /* /v1/console/login: before authentication */
#define CS__HUB_NAME_MAX 64                /* device names (enroll) */
#define CS__HUB_TEXT_MAX 255               /* other names, addresses */
#define CS__HUB_DESTS_MAX 10000            /* destinations of one job */
#define CS__HUB_PEM_MAX (64u << 10)        /* a certificate or CSR */
#define CS__HUB_FOLDER_MAX 64
#define CS__HUB_PACKS_MAX (1u << 20)
#define CS__HUB_REASON_MAX 1024            /* reasons sent by agents */
#define CS__HUB_INFO_MAX (256u << 10)      /* a device's answer to /v1/device/info */
#define CS__HUB_SIG_B64_MAX 2048           /* its signature, base64 */
#define CS__HUB_COUNT_MAX (INT64_C(1) << 62)
#define CS__HUB_TOKEN_USES_MAX 100000
#define CS__HUB_TOKEN_TTL_MAX (366ll * 86400)
#define CS__HUB_USER_MAX 64                /* console user names */
#define CS__HUB_PASSWORD_MIN 12            /* characters (UTF-8 code points) */
#define CS__HUB_PASSWORD_MAX 1024          /* bytes */

/* Load text as one JSON object (duplicate keys and "\u0000" refused). */
int cs__parse_object(json_t **out, const char *text, size_t len, size_t max);

/* POST /v1/enroll. The token's text is wiped by _clear. */
struct cs__enroll_body {
	json_t *root;
	const char *token, *name, *csr;
};
int cs__parse_enroll(struct cs__enroll_body *out, const char *text, size_t len);
void cs__enroll_body_clear(struct cs__enroll_body *b);

/* POST /v1/admin/devices: exactly one of certificate and csr is set;
 * address is NULL when absent or empty. */
struct cs__device_add_body {
	json_t *root;
	const char *name, *address, *certificate, *csr;
};
int cs__parse_device_add(struct cs__device_add_body *out, const char *text, size_t len);
void cs__device_add_body_clear(struct cs__device_add_body *b);

/* POST /v1/admin/devices/discover: a checked "host:port". */
struct cs__discover_body {
	json_t *root;
	const char *address;
};
int cs__parse_discover(struct cs__discover_body *out, const char *text, size_t len);
void cs__discover_body_clear(struct cs__discover_body *b);

/* The device's answer to GET /v1/device/info (PROTOCOL.md §6), read by the
 * hub during registration way 3: name checked, device_id in its canonical
 * form, signature decoded (sig is malloc'd, freed by _clear). Whether the
 * signature and the ID belong to the CSR's key is checked by the caller. */
struct cs__device_info_body {
	json_t *root;
	const char *name, *csr;
	char device_id[CS_DEVICE_ID_SIZE];
	uint8_t *sig;
	size_t siglen;
};
int cs__parse_device_info(struct cs__device_info_body *out, const char *text, size_t len);
void cs__device_info_body_clear(struct cs__device_info_body *b);

/* POST /v1/admin/devices/discover/{pending}/confirm: the fingerprint as 64
 * lower-case hex digits (case, ':' and spaces of the input ignored). */
struct cs__confirm_body {
	char fingerprint[65];
};
int cs__parse_confirm(struct cs__confirm_body *out, const char *text, size_t len);

/* POST /v1/admin/tokens, with the defaults (1 use, 1 day) filled in. */
struct cs__token_body {
	int64_t uses, ttl;
};
int cs__parse_token(struct cs__token_body *out, const char *text, size_t len);

/* POST /v1/admin/jobs: dests[0..n) (not yet resolved to devices), or all.
 * The folder id is checked; dests is malloc'd and freed by _clear. */
struct cs__job_body {
	json_t *root;
	const char *folder, *source;
	const char **dests;
	size_t n;
	int all;
};
int cs__parse_job(struct cs__job_body *out, const char *text, size_t len);
void cs__job_body_clear(struct cs__job_body *b);

/* POST /v1/agent/jobs/{job}/produced. */
struct cs__produced {
	int64_t to_seq, records, packs, segments, bytes, files;
};
int cs__parse_produced(struct cs__produced *out, const char *text, size_t len);

/* POST /v1/agent/jobs/{job}/failed: reason "" when absent. */
struct cs__failed_body {
	json_t *root;
	const char *reason;
};
int cs__parse_failed(struct cs__failed_body *out, const char *text, size_t len);
void cs__failed_body_clear(struct cs__failed_body *b);

/* POST /v1/agent/jobs/{job}/progress. */
struct cs__progress {
	int64_t files_done, files_total, bytes_done, bytes_total;
};
int cs__parse_progress(struct cs__progress *out, const char *text, size_t len);

/* POST /v1/agent/jobs/{job}/ack: to_seq is required when applied; reason
 * is "" when absent. */
struct cs__ack_body {
	json_t *root;
	int applied;
	int64_t to_seq, files, bytes, conflicts;
	const char *reason;
};
int cs__parse_ack(struct cs__ack_body *out, const char *text, size_t len);
void cs__ack_body_clear(struct cs__ack_body *b);

/* POST /v1/console/login: user 1..64 bytes, password 1..1024 bytes (its
 * strength is judged when it is set, not at login). The password is wiped
 * by _clear. */
struct cs__login_body {
	json_t *root;
	const char *user, *password;
};
int cs__parse_login(struct cs__login_body *out, const char *text, size_t len);
void cs__login_body_clear(struct cs__login_body *b);

/* ---- account sync (PROTOCOL.md §11; parse_account.c) ---- */

/* Limits. Login bodies come before any authentication, so they are small;
 * the sealed bodies are checked against these once the frame has been
 * authenticated (the frame itself is bounded by the same limit plus
 * CS_ACCT_FRAME_OVERHEAD before anything is decrypted). */
#define CS__HUB_ACCT_LOGIN_MAX (4u << 10)        /* login/start, login/finish */
#define CS__HUB_ACCT_JSON_MAX (1u << 20)         /* changes, get, whoami (plaintext) */
#define CS__HUB_ACCT_UPLOAD_MAX ((8u << 20) + (64u << 10)) /* upload plaintext: one 6 MiB
                                                    payload in base64 and the JSON around it */
#define CS__HUB_ACCT_NAME_MAX 128                /* collection names and record ids */
#define CS__HUB_ACCT_BATCH_MAX 1000              /* records or ids in one call */
#define CS__HUB_ACCT_PAYLOAD_MAX (6u << 20)      /* one record's payload, decoded */
#define CS__HUB_ACCT_VERSION_MAX (INT64_C(1) << 53) /* versions stay exact in any JSON reader */

/* 1 when s is a collection name or record id: 1..128 of A-Z a-z 0-9 . _ : - */
int cs__acct_name_ok(const char *s);

/* POST /v1/account/login/start: the account name checked with
 * cs_acct_name_valid, the device ID in its canonical printed form (the
 * auth message carries it as sent, so another spelling is refused rather
 * than normalised), the client nonce decoded from 36 hex digits. */
struct cs__acct_start_body {
	char account[CS_ACCT_NAME_MAX + 1];
	char device[CS_DEVICE_ID_SIZE];
	uint8_t cnonce[CS_ACCT_NONCE_LEN];
};
int cs__parse_acct_start(struct cs__acct_start_body *out, const char *text, size_t len);

/* POST /v1/account/login/finish: the ticket's text (not opened here) and
 * the proof decoded from 64 hex digits. Wipe with cs_wipe after use. */
struct cs__acct_finish_body {
	char ticket[CS_ACCT_TOKEN_MAX + 1];
	uint8_t proof[CS_ACCT_KEY_LEN];
};
int cs__parse_acct_finish(struct cs__acct_finish_body *out, const char *text, size_t len);

/* POST /v1/account/records/changes: since 0..2^53 (default 0), limit
 * 1..1000 (default 1000). */
struct cs__acct_changes_body {
	char collection[CS__HUB_ACCT_NAME_MAX + 1];
	int64_t since, limit;
	int attachments; /* payloads as attachments rather than base64 */
};
int cs__parse_acct_changes(struct cs__acct_changes_body *out, const char *text, size_t len);

/* POST /v1/account/records/get: ids[0..n), n <= 1000, each a valid id and
 * none twice. ids point into root; ids is malloc'd; _clear frees both. */
struct cs__acct_get_body {
	json_t *root;
	int attachments; /* payloads as attachments rather than base64 */
	char collection[CS__HUB_ACCT_NAME_MAX + 1];
	const char **ids;
	size_t n;
};
int cs__parse_acct_get(struct cs__acct_get_body *out, const char *text, size_t len);
void cs__acct_get_body_clear(struct cs__acct_get_body *b);

/* One record of an upload: if_version -1 when absent (unconditional);
 * payload (malloc'd, at most 6 MiB; from base64 "payload", or copied from
 * the body's attachments by "payload_at" and "payload_len") is required
 * unless deleted, and refused with deleted. The parsers of sealed bodies
 * read JSON up to the first NUL byte; an upload's attachments follow it. */
struct cs__acct_upload_rec {
	const char *id;
	int64_t if_version;
	int deleted;
	uint8_t *payload;
	size_t len;
};

/* POST /v1/account/records/upload: recs[0..n), n <= 1000, no id twice;
 * bytes is the sum of the payload lengths. _clear frees everything. */
struct cs__acct_upload_body {
	json_t *root;
	char collection[CS__HUB_ACCT_NAME_MAX + 1];
	struct cs__acct_upload_rec *recs;
	size_t n;
	size_t bytes;
};
int cs__parse_acct_upload(struct cs__acct_upload_body *out, const char *text, size_t len);
void cs__acct_upload_body_clear(struct cs__acct_upload_body *b);

/* POST /v1/account/whoami: any JSON object (its members are ignored). */
int cs__parse_acct_whoami(const char *text, size_t len);

/* POST /v1/account/pairings/create (a backup terminal): the SHA-256
 * fingerprint of the terminal's certificate and of the one-time secret,
 * each 64 hex digits; ttl 1..3600 s (default 600). */
#define CS__HUB_PAIRING_TTL_DEFAULT 600
#define CS__HUB_PAIRING_TTL_MAX 3600
#define CS__HUB_PAIRING_ID_LEN 32
struct cs__pairing_create_body {
	uint8_t fingerprint[32];
	uint8_t secret_hash[32];
	int64_t ttl;
};
int cs__parse_pairing_create(struct cs__pairing_create_body *out, const char *text, size_t len);

/* POST /v1/account/pairings/claim (the device that scanned the code): the
 * pairing id (32 letters and digits), the one-time secret and the device's
 * nonce, each 64 hex digits. Wipe after use. */
struct cs__pairing_claim_body {
	char pairing[CS__HUB_PAIRING_ID_LEN + 1];
	uint8_t secret[32];
	uint8_t nonce[32];
};
int cs__parse_pairing_claim(struct cs__pairing_claim_body *out, const char *text, size_t len);

/* ---- offline transfer (PROTOCOL.md §13.8; parse_wallet.c) ---- */

#define CS__HUB_WALLET_LOAD_MAX (16u << 10)    /* wallet/load plaintext */
#define CS__HUB_WALLET_SYNC_MAX (8u << 20)     /* wallet/sync plaintext */
#define CS__HUB_WALLET_COINS_MAX 4096          /* held or paid coins in one sync */
#define CS__HUB_WALLET_CSR_MAX 8192

/* wallet/load: {"request": 32 hex, "amount": 1..2^53-1, "csr": PEM}. */
struct cs__wallet_load_body {
	char request[33];
	uint64_t amount;
	char *csr;
};
int cs__parse_wallet_load(struct cs__wallet_load_body *out, const char *text, size_t len);
void cs__wallet_load_body_clear(struct cs__wallet_load_body *b);

/* wallet/sync: {"csr"?: PEM, "held": [base64 coin], "paid": [base64 coin]}. */
struct cs__wallet_sync_body {
	char *csr;
	uint8_t **held;
	size_t *held_len;
	size_t nheld;
	uint8_t **paid;
	size_t *paid_len;
	size_t npaid;
};
int cs__parse_wallet_sync(struct cs__wallet_sync_body *out, const char *text, size_t len);
void cs__wallet_sync_body_clear(struct cs__wallet_sync_body *b);

/* ---- member accessors used by the parsers (json.c) ---- */

/* CS_EINVAL when required and missing, CS_EMALFORMED when of the wrong
 * type or out of range (the message names the member). JSON null counts as
 * absent. Absent optional members leave *out untouched. */
int cs__json_str(const char **out, json_t *o, const char *key, int required, size_t maxlen);
int cs__json_int(int64_t *out, json_t *o, const char *key, int required, int64_t min, int64_t max);
int cs__json_bool(int *out, json_t *o, const char *key, int required);

/* ---- pure checks shared with the handlers ---- */

/* 1..64 bytes, no control characters (registry.c). */
int cs__hub_check_name(const char *name);
/* "host:port", 1..255 printable bytes without spaces (registry.c). */
int cs__hub_check_address(const char *addr);
/* 1..64 of [A-Za-z0-9._-], not "." or ".." (folders.c). */
int cs__hub_check_folder(const char *folder);
/* Lower-case hex without ':' or spaces into out; CS_EINVAL unless exactly
 * 64 hex digits remain. */
int cs__hub_norm_fingerprint(char out[65], const char *in);
/* Characters (UTF-8 code points, counted by their lead bytes) of s. */
size_t cs__utf8_chars(const char *s);

#endif
