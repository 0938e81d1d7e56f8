#ifndef CERTSYNC_BACKUP_H
#define CERTSYNC_BACKUP_H
/*
 * Backup to a paired terminal and restore by identifier (DESIGN §8,
 * PROTOCOL.md §12).
 *
 * The terminal (a PC) and the device are both logged in to the same
 * account (account_sync.h). The terminal registers a one-time pairing with
 * the hub and shows the connection information as a QR code; the device
 * claims the pairing at the hub, which answers with the first verification
 * information (a statement signed with the hub CA key); the device then
 * talks straight to the terminal over TLS pinned by the fingerprint in the
 * code, the terminal answers with the second verification information, the
 * device confirms, and the data moves. Everything the terminal stores is
 * sealed with the account's data key: the terminal keeps ciphertext it can
 * deduplicate but not read without the account.
 */
#include <certsync/common.h>

#define CS_BACKUP_ADDRS_MAX 4
#define CS_BACKUP_ADDR_MAX 64      /* "host:port" */
#define CS_BACKUP_PAIRING_ID_LEN 32

/* The connection information a terminal shows (the QR code's text). */
typedef struct cs_backup_pairing {
	char id[CS_BACKUP_PAIRING_ID_LEN + 1];
	uint8_t secret[32];        /* one-time secret */
	uint8_t fingerprint[32];   /* SHA-256 of the terminal's certificate (DER) */
	int64_t expires;           /* unix seconds */
	char addrs[CS_BACKUP_ADDRS_MAX][CS_BACKUP_ADDR_MAX]; /* where the terminal listens */
	size_t naddrs;
} cs_backup_pairing;

/* Encode as "CSB1:" + base32 (upper case: QR alphanumeric mode), malloc'd. */
CS_EXTERN int cs_backup_pairing_encode(char **out, const cs_backup_pairing *p);
/* Decode the text of a code. CS_EMALFORMED with the reason; expiry is the
 * caller's to check. Surrounding white space is ignored. */
CS_EXTERN int cs_backup_pairing_decode(cs_backup_pairing *p, const char *text);

/* ---- the terminal ---- */

struct cs_backup_terminal_options {
	const char *data_dir;   /* the terminal's device directory (account login) */
	const char *dir;        /* where backups are kept (created when missing) */
	const char *listen;     /* "host:port"; port 0 picks a free one */
	const char *const *hosts; /* addresses put into the code (NULL-terminated);
	                           * default: the listen address */
	int64_t ttl;            /* seconds a code lives (default 600) */
	/* called with every new code: its text and the PNG written for it */
	void (*on_pairing)(void *ud, const char *payload, const char *png_path);
	/* called on progress of a transfer: what ("push", "restore"), done, total */
	void (*on_progress)(void *ud, const char *what, uint64_t done, uint64_t total);
	void *ud;
};

/* Run the terminal until SIGINT/SIGTERM: listen, register a pairing, write
 * DIR/pairing.txt and DIR/pairing.png, serve one device per code (a new
 * code is registered as soon as one is used or expires). */
CS_EXTERN int cs_backup_terminal_run(const struct cs_backup_terminal_options *o);

/* ---- the device ---- */

typedef struct cs_backup_stats {
	uint64_t files, bytes;         /* in the backup, or restored */
	uint64_t chunks, chunks_sent;  /* chunks in the backup; of them sent (or fetched) */
	uint64_t bytes_sent;           /* payload bytes sent (or fetched) */
	uint64_t kept;                 /* restore: newer local files left alone */
	char backup[64];               /* the backup's id */
} cs_backup_stats;

typedef void (*cs_backup_progress_fn)(void *ud, const char *phase, uint64_t done, uint64_t total);

/* Back up directory source to the terminal named by the code: claim the
 * pairing, verify the terminal, send what it does not hold yet, commit.
 * A killed push leaves the chunks sent so far on the terminal, so the next
 * push (with a new code) sends only the rest. */
CS_EXTERN int cs_backup_push(cs_backup_stats *st, const char *data_dir, const char *code,
	const char *source, cs_backup_progress_fn progress, void *ud);

/* One backup as listed. */
typedef struct cs_backup_info {
	char id[64];
	int64_t created;
	char source[256];
	uint64_t files, bytes;
} cs_backup_info;
/* One item of a backup. */
typedef struct cs_backup_item {
	char id[16];
	const char *path;
	uint64_t size;
	int is_dir;
} cs_backup_item;

/* List the terminal's backups of this account; with backup non-NULL, call
 * item_fn for each item of that backup instead. */
CS_EXTERN int cs_backup_list(const char *data_dir, const char *code, const char *backup,
	int (*backup_fn)(void *ud, const cs_backup_info *b),
	int (*item_fn)(void *ud, const cs_backup_item *it), void *ud);

/* Restore backup into dest: every item, or those of items[0..n). A local
 * file newer than the backed-up one (later mtime, other content) is kept
 * unless force. Files appear atomically (temporary file, rename). */
CS_EXTERN int cs_backup_restore(cs_backup_stats *st, const char *data_dir, const char *code,
	const char *backup, const char *const *items, size_t nitems, const char *dest, int force,
	cs_backup_progress_fn progress, void *ud);

#endif
