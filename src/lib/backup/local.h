#ifndef CS_BACKUP_LOCAL_H
#define CS_BACKUP_LOCAL_H
/* Definitions shared by the files of src/lib/backup/ only. */
#include <jansson.h>
#include <certsync/backup.h>
#include <certsync/identity.h>
#include "account/local.h"

#define CS__BK_CHUNKS "backup-chunks"       /* namespaces of sealed payloads */
#define CS__BK_MANIFESTS "backup-manifests"
#define CS__BK_NONCE_LEN 32
#define CS__BK_BODY_MAX (5u << 20)          /* a chunk record and its frame */
#define CS__BK_MANIFEST_MAX (64u << 20)

/* The first verification information, decoded (handshake.c). */
struct cs__bk_first {
	char account[CS_ACCT_NAME_MAX + 1];
	char pairing[CS_BACKUP_PAIRING_ID_LEN + 1];
	char phone[CS_DEVICE_ID_SIZE];
	char terminal[CS_DEVICE_ID_SIZE];
	char terminal_fingerprint[65];
	uint8_t phone_nonce[CS__BK_NONCE_LEN];
	int64_t expires;
};

/* Check the hub's signature over statement (base64 of its JSON bytes) with
 * the hub CA, then decode it. CS_EAUTH "not signed by the hub",
 * CS_EMALFORMED otherwise. */
int cs__bk_first_open(struct cs__bk_first *f, const char *statement_b64, const char *sig_b64,
	const cs_cert *hub_ca);

/* Decode the statement's JSON (after its signature was checked). */
int cs__bk_first_decode(struct cs__bk_first *f, const uint8_t *st, size_t stlen);

/* The MACs of the exchange: HMAC-SHA-256(secret, label "\n" account "\n"
 * pairing "\n" phone "\n" hex(phone nonce) [ "\n" hex(terminal nonce) ]),
 * label one of "certsync-backup-hello", "-second", "-confirm". */
int cs__bk_mac(uint8_t out[32], const uint8_t secret[32], const char *label, const char *account,
	const char *pairing, const char *phone, const uint8_t pnonce[CS__BK_NONCE_LEN],
	const uint8_t *tnonce);

/* A member of 2n hex digits decoded into out[n]. */
int cs__bk_hex(uint8_t *out, size_t n, json_t *o, const char *key);

/* ---- what the last push read (scan_cache.c) ---- */

struct cs__bk_cache;
/* Open the cache in data_dir/device.db (table bk_scan). */
int cs__bk_cache_open(struct cs__bk_cache **out, const char *data_dir);
void cs__bk_cache_close(struct cs__bk_cache *c);
/* The chunks of full when its size, mtime and inode are the ones recorded
 * (and the mtime is not within the last 2 s): CS_OK with *chunks
 * (malloc'd, offsets filled in) or CS_ENOTFOUND. c may be NULL. */
int cs__bk_cache_get(struct cs__bk_cache *c, const char *full, uint64_t size, int64_t mtime_ns,
	uint64_t ino, cs_chunk_ref **chunks, size_t *n);
/* Record what full was cut into (skipped for a recently modified file). */
int cs__bk_cache_put(struct cs__bk_cache *c, const char *full, uint64_t size, int64_t mtime_ns,
	uint64_t ino, const cs_chunk_ref *chunks, size_t n);
/* Forget everything (after a file was found to differ from its record). */
int cs__bk_cache_forget(struct cs__bk_cache *c);
int cs__bk_cache_begin(struct cs__bk_cache *c);
int cs__bk_cache_commit(struct cs__bk_cache *c);

#endif
