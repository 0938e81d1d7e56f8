#ifndef CERTSYNC_HUB_H
#define CERTSYNC_HUB_H
/*
 * The hub (DESIGN §4, §6; PROTOCOL.md §1-6): the CA, the device registry,
 * the relay of sync jobs and its HTTPS API. All state lives in one data
 * directory:
 *
 *   DATA/hub.json            configuration (listen, public_address,
 *                            relay_quota_bytes, blob_ttl_s, console_idle_s,
 *                            console_max_s, account_token_ttl_s,
 *                            account_window_s, account_key_rotate_s)
 *   DATA/hub.db              registry, tokens, folders, jobs, tasks, history,
 *                            console users (argon2id hashes) and sessions,
 *                            sync accounts (verifiers), their token keys and
 *                            their encrypted records
 *   DATA/ca/                 the hub CA (ca.key 0600, ca.crt, ca.serial)
 *   DATA/crl.pem             the current CRL (regenerated at start and on
 *                            every revocation)
 *   DATA/tls/server.{key,crt} the HTTPS server identity
 *   DATA/admin/admin.{key,crt} the administrator's client identity
 *   DATA/admin/console-password the console password of user "admin" made by
 *                            cs_hub_init (0600); removed when a password is
 *                            set with cs_hub_console_password_set
 *   DATA/blobs/<job>/<name>  ciphertext uploaded by sources
 *
 * A hub is single-threaded: cs_hub_run drives an event loop and every
 * function here must be called from the thread that opened the hub.
 */
#include <certsync/common.h>

typedef struct cs_hub cs_hub;

/* Options of cs_hub_init; every member may be NULL/0 for the default. */
struct cs_hub_init_options {
	const char *name;           /* CA common name; default "certsync hub" */
	const char *listen;         /* default "127.0.0.1:8443" */
	const char *public_address; /* "host:port" devices use (put into
	                               enrollment tokens); default: listen, or
	                               the first extra host with listen's port
	                               when listen is a wildcard address */
	const char *const *hosts;   /* NULL-terminated extra DNS names or IP
	                               addresses for the server certificate, which
	                               always carries localhost and 127.0.0.1 */
	int64_t relay_quota_bytes;  /* default 10 GiB */
	int64_t blob_ttl_s;         /* default 7 days */
};

/* Create a new hub in data_dir (created when missing, mode 0700): the CA,
 * the server and administrator certificates, hub.json and the database,
 * and the console user "admin" with a random 20-character password, which
 * is written to DATA/admin/console-password (mode 0600) for the caller to
 * show; the database keeps only its argon2id hash.
 * CS_EEXISTS when data_dir already holds a hub (hub.json or ca/); nothing is
 * overwritten. */
CS_EXTERN int cs_hub_init(const char *data_dir, const struct cs_hub_init_options *o);

/* Set the web console password of user (1..64 of A-Z a-z 0-9 . _ @ -;
 * created when missing) in the hub at data_dir: at least 12 characters
 * (UTF-8), at most 1024 bytes, else CS_EINVAL. Stored as an argon2id hash;
 * every session of the user ends; DATA/admin/console-password is removed.
 * Opens only the database, so it may run while the hub serves. */
CS_EXTERN int cs_hub_console_password_set(const char *data_dir, const char *user,
	const char *password);

/* ---- sync accounts (PROTOCOL.md §11) ----
 *
 * These open only the database, so they may run while one or more hub
 * processes serve the same data directory; a change takes effect at the
 * next request (a disabled account is refused at its next call). */

/* Add the sync account name (1..64 of a-z A-Z 0-9 . _ @ -) with password:
 * at least 12 characters (UTF-8), at most 1024 bytes. The hub stores a
 * random 16-byte salt, the argon2id cost and the SCRAM verifier (StoredKey,
 * ServerKey) derived from argon2id(password, salt, t_cost passes, m_kib KiB,
 * 1 lane); never the password. Runs argon2id here, in the caller's process
 * (it costs m_kib of memory), never on a hub's event loop. t_cost 0 and
 * m_kib 0 take the defaults (3 passes, 65536 KiB); otherwise t_cost is
 * 1..16 and m_kib 8..2097152. CS_EINVAL for a bad name, password or cost;
 * CS_EEXISTS when the name is taken; CS_ENOTFOUND when data_dir holds no
 * hub. */
CS_EXTERN int cs_hub_account_add(const char *data_dir, const char *name, const char *password,
	uint32_t t_cost, uint32_t m_kib);

/* One account as cs_hub_account_list shows it. Strings are borrowed for
 * the duration of the callback. */
struct cs_hub_account_info {
	int64_t id;
	const char *name;
	int disabled;
	int64_t created;    /* unix seconds */
	uint32_t t_cost;    /* argon2id passes */
	uint32_t m_kib;     /* argon2id memory, KiB */
	int64_t collections;
	int64_t records;    /* live records (not deleted) */
	int64_t bytes;      /* payload bytes held, deleted records included */
};

/* Call fn(ud, info) for every account of the hub at data_dir, by name.
 * Stops at fn's first non-zero return value, which is then returned. */
CS_EXTERN int cs_hub_account_list(const char *data_dir,
	int (*fn)(void *ud, const struct cs_hub_account_info *info), void *ud);

/* Disable (disabled 1) or enable (0) the account name. A disabled account
 * cannot log in (403 account_disabled after a correct password) and every
 * sealed call with a token issued before is refused (403); its records are
 * kept. CS_ENOTFOUND when there is no such account. */
CS_EXTERN int cs_hub_account_set_disabled(const char *data_dir, const char *name, int disabled);

/* ---- offline transfer (PROTOCOL.md §13.8) ---- */

/* Add amount (1..2^53-1) to the account's online balance, from which its
 * devices load vouchers. *balance (when not NULL) gets the new balance. */
CS_EXTERN int cs_hub_wallet_credit(const char *data_dir, const char *account, int64_t amount,
	int64_t *balance);
/* The ledger as JSON text (malloc'd): accounts with their online balance,
 * devices with the value the ledger says they hold, every double spend
 * with the payer's two signed links, and totals with the conservation
 * check. Works beside running hub processes. */
CS_EXTERN int cs_hub_wallet_report(char **json_text, const char *data_dir);

/* Open the hub in data_dir and bind its listening socket. listen_override
 * (may be NULL) replaces hub.json's "listen"; port 0 picks a free port.
 * Brings the database schema up to date, regenerates the CRL, removes the
 * blobs of finished jobs left behind by a crash. Free with cs_hub_free. */
CS_EXTERN int cs_hub_open(cs_hub **out, const char *data_dir, const char *listen_override);

/* The bound TCP port. */
CS_EXTERN int cs_hub_port(const cs_hub *hub);

/* The "host:port" the hub tells devices to use (hub.json's public_address,
 * with the bound port when it was configured with port 0 or follows listen).
 * Owned by hub. */
CS_EXTERN const char *cs_hub_public_address(const cs_hub *hub);

/* The URL of the bound socket, "https://127.0.0.1:8443" (a wildcard
 * listen address is shown as 127.0.0.1). Owned by hub. */
CS_EXTERN const char *cs_hub_url(const cs_hub *hub);

/* Serve until cs_hub_stop() or SIGINT/SIGTERM. Returns CS_OK after a clean
 * stop. Every state change was committed before it was acknowledged, so a
 * hub killed at any moment restarts where it left off. */
CS_EXTERN int cs_hub_run(cs_hub *hub);

/* Ask cs_hub_run to return (safe from a signal handler or a handler). */
CS_EXTERN void cs_hub_stop(cs_hub *hub);

/* Close the hub: answers pending long polls with 204, waits for calls to
 * devices in flight, closes the database.
 * NULL is a no-op. */
CS_EXTERN void cs_hub_free(cs_hub *hub);

#endif
