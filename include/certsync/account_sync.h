#ifndef CERTSYNC_ACCOUNT_SYNC_H
#define CERTSYNC_ACCOUNT_SYNC_H
/*
 * The client of account sync (DESIGN §7, PROTOCOL.md §11): log in to an
 * account on one or more hub instances that share a store, then keep
 * folders in step through the account's records. The hub only stores
 * versioned, encrypted records; every comparison, merge and conflict
 * decision is made here.
 *
 * State in the device's data directory:
 *   account.json  the login: hub URLs, CA, account, device, token, its
 *                 expiry, the message key and the account's data key
 *                 (mode 0600: it holds secrets, like device.key)
 *   device.db     the folder index (index.h) and, in tables as_*, what
 *                 each folder last agreed with the account: per path the
 *                 record version and content hash, and the collection
 *                 version seen last
 */
#include <certsync/common.h>

/* What cs_acct_login needs. */
struct cs_acct_login_options {
	const char *data_dir;        /* the device's data directory (device.key) */
	const char *const *hubs;     /* hub URLs ("https://host:port"), used in turn */
	size_t nhubs;
	const char *ca_path;         /* PEM CA the hubs' certificates chain to */
	const char *account;
	const char *password;
};

/* Log in (PROTOCOL.md §11.2): SCRAM exchange, check of the hub's
 * signature, then fetch and unwrap the account's data key, creating it when
 * the account has none yet. Writes account.json. CS_EAUTH for a wrong
 * account or password (message from the hub), CS_EDENIED for a disabled
 * account, CS_ENET when no hub answers. */
CS_EXTERN int cs_acct_login(const struct cs_acct_login_options *o);

/* Forget the login (removes account.json). CS_ENOTFOUND when none. */
CS_EXTERN int cs_acct_logout(const char *data_dir);

/* The login as the client knows it, and (when ask_hub) as the hub sees it. */
typedef struct cs_acct_status {
	char account[65];
	char device[64];
	int64_t expires;     /* unix seconds */
	unsigned nhubs;
	char hub[256];       /* the first hub URL */
	int hub_ok;          /* 1 when the hub accepted the token (ask_hub) */
	char hub_error[256]; /* why not, otherwise */
} cs_acct_status;

/* Read the login from data_dir; with ask_hub, also check the token with a
 * sealed whoami call. CS_ENOTFOUND when not logged in. */
CS_EXTERN int cs_acct_status_get(cs_acct_status *st, const char *data_dir, int ask_hub);

/* Counters of one sync run. */
typedef struct cs_acct_sync_stats {
	uint64_t pulled;        /* remote records applied (files, dirs, deletions) */
	uint64_t pushed;        /* local changes uploaded */
	uint64_t conflicts;     /* local edits kept as conflict copies */
	uint64_t chunks_up, bytes_up;     /* chunk records uploaded, payload bytes */
	uint64_t chunks_down, bytes_down; /* chunk records downloaded, payload bytes */
	uint64_t requests;      /* HTTP requests made */
	uint64_t rounds;        /* pull/push rounds (more than one after a 412) */
	uint64_t version;       /* the folder's collection version after the run */
} cs_acct_sync_stats;

/* Called now and then: phase ("scan", "pull", "push") and its done/total
 * bytes (total 0 when unknown). */
typedef void (*cs_acct_progress_fn)(void *ud, const char *phase, uint64_t done, uint64_t total);

/* Bring folder (added with `certsync folder add`) in step with the
 * account: scan it, pull and apply what other devices changed since the
 * last run, keep a local edit that a remote change would overwrite as a
 * ".sync-conflict-…" copy (uploaded too, so every device keeps it), and
 * push local changes with version preconditions; a 412 sends it back to
 * pull (at most a few rounds). Files are written to temporary files,
 * checked against their content hash and renamed into place, so no
 * partial file ever appears at a final path. cancel (may be NULL) aborts
 * between steps. */
CS_EXTERN int cs_acct_sync_run(cs_acct_sync_stats *stats, const char *data_dir, const char *folder,
	cs_acct_progress_fn progress, void *ud, const volatile int *cancel);

/* Local changes not yet pushed and the collection version last seen, for
 * `certsync sync status`. Reads only device.db (a scan is not run). */
CS_EXTERN int cs_acct_sync_pending(uint64_t *pending, uint64_t *version, const char *data_dir,
	const char *folder);

#endif
