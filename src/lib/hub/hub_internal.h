#ifndef CS_HUB_INTERNAL_H
#define CS_HUB_INTERNAL_H
/*
 * Definitions shared by the files of src/lib/hub/ and by the hub's unit
 * tests. Not part of the public API.
 *
 * Naming: a function ending in _tx must be called inside a transaction the
 * caller opened (cs_store_begin) and commits; the others open and commit
 * their own, so that every state change is durable before the HTTP reply
 * that announces it.
 */
#include <jansson.h>
#include <certsync/account.h>
#include <certsync/buf.h>
#include <certsync/httpd.h>
#include <certsync/hub.h>
#include <certsync/identity.h>
#include <certsync/store.h>
#include "hub/hub_parse.h"

/* ---- limits (PROTOCOL.md §1; those of request bodies are in hub_parse.h) ---- */
#define CS__HUB_BLOB_MAX (8u << 20)        /* one uploaded blob (CS_PACK_MAX in relay.h) */
#define CS__HUB_BLOB_NAME_MAX 16            /* "header", "trailer", "m<N>", "p<N>" and a NUL */
#define CS__HUB_BLOB_CACHE_BYTES (24u << 20) /* recent blobs kept in memory */
/* Downloads held for a pack not uploaded yet: how long, how many at once. */
#define CS__HUB_BLOB_WAIT_MS 5000
#define CS__HUB_BLOB_WAITS_MAX 1024
/* a sealed account upload (hub_parse.h) in its frame */
#define CS__HUB_ACCT_FRAME_MAX (CS__HUB_ACCT_UPLOAD_MAX + CS_ACCT_FRAME_OVERHEAD)
/* the largest request body the HTTPS server reads at all */
#define CS__HUB_BODY_MAX \
	(CS__HUB_ACCT_FRAME_MAX > CS__HUB_BLOB_MAX ? CS__HUB_ACCT_FRAME_MAX : CS__HUB_BLOB_MAX)
#define CS__HUB_RECORD_MIN 17              /* 1 byte + 16-byte tag */
#define CS__HUB_RECORD_MAX ((4u << 20) + 16)
#define CS__HUB_LEASE_S 600                /* a delivered task is handed out again after */
#define CS__HUB_ONLINE_S 90                /* seen this recently = online */
#define CS__HUB_POLL_DEFAULT_S 25
#define CS__HUB_POLL_MAX_S 60
#define CS__HUB_PENDING_TTL_S 600          /* discovered, unconfirmed devices */
#define CS__HUB_CRL_DAYS 30
#define CS__HUB_DEVICE_DAYS 365
#define CS__HUB_DEFAULT_QUOTA (10ll << 30)
#define CS__HUB_DEFAULT_TTL (7ll * 86400)
#define CS__CONSOLE_IDLE_DEFAULT_S (30 * 60)   /* a session ends this long after its last request */
#define CS__CONSOLE_MAX_DEFAULT_S (12 * 3600)  /* and this long after the login at most */
#define CS__CONSOLE_TIME_MAX_S (366ll * 86400) /* largest console_idle_s / console_max_s */
/* account sync (PROTOCOL.md §11): hub.json defaults and ranges */
#define CS__ACCT_TTL_DEFAULT_S 3600           /* account_token_ttl_s */
#define CS__ACCT_TTL_MIN_S 1
#define CS__ACCT_TTL_MAX_S (30ll * 86400)
#define CS__ACCT_WINDOW_DEFAULT_S 300         /* account_window_s */
#define CS__ACCT_WINDOW_MIN_S 1
#define CS__ACCT_WINDOW_MAX_S 3600
#define CS__ACCT_ROTATE_DEFAULT_S 86400       /* account_key_rotate_s */
#define CS__ACCT_ROTATE_MIN_S 60
#define CS__ACCT_ROTATE_MAX_S (366ll * 86400)
#define CS__ACCT_TICKET_S 120                 /* a login ticket's life */
/* offline transfer (PROTOCOL.md §13): hub.json defaults and ranges */
#define CS__WALLET_MAX_AMOUNT_DEFAULT 10000     /* wallet_max_amount */
#define CS__WALLET_MAX_TRANSFERS_DEFAULT 100    /* wallet_max_transfers */
#define CS__WALLET_MAX_TRANSFERS_MAX 1000000
#define CS__WALLET_CERT_DAYS_DEFAULT 30         /* wallet_cert_days */
#define CS__WALLET_CERT_DAYS_MAX 3650

struct cs_hub_config {
	char *listen;
	char *public_address;
	int64_t relay_quota_bytes;
	int64_t blob_ttl_s;
	int64_t console_idle_s;
	int64_t console_max_s;
	int64_t account_token_ttl_s;
	int64_t account_window_s;
	int64_t account_key_rotate_s;
	int64_t wallet_max_amount;
	int64_t wallet_max_transfers;
	int64_t wallet_cert_days;
};

/* A long poll kept open until a task arrives or it times out. */
struct cs__waiter {
	struct cs__waiter *next;
	cs_hub *hub;
	cs_http_req *req;
	char device[CS_DEVICE_ID_SIZE];
	int64_t deadline_ms; /* monotonic */
};

/* Failed console logins by remote address (console_auth.c): each failure
 * in a row doubles the delay before the 401, from 0.25 s up to 8 s. */
#define CS__THROTTLE_SLOTS 256
#define CS__THROTTLE_FIRST_MS 250
#define CS__THROTTLE_MAX_MS 8000
#define CS__THROTTLE_FORGET_MS (15 * 60 * 1000) /* a quiet address starts afresh */
struct cs__throttle {
	struct cs__throttle_slot {
		char remote[64];    /* "" = free */
		unsigned failures;  /* in a row */
		int64_t last_ms;    /* monotonic time of the last failure */
		int64_t until_ms;   /* the last failure's 401 is sent at this time */
	} slot[CS__THROTTLE_SLOTS];
};

/* A console login being checked on a worker thread (console.c). */
struct cs__login;

/* An outbound HTTPS call (registration way 3) that runs on a worker thread
 * so that a slow or unreachable device cannot stall the event loop. */
struct cs__async;

struct cs__metrics {
	uint64_t requests[600]; /* by HTTP status */
	uint64_t blob_bytes_received;
	uint64_t blob_bytes_sent;
	uint64_t chunk_records_received;
	uint64_t blob_uploads;
	uint64_t blob_reads_memory; /* blobs served from the relay's memory */
	uint64_t blob_reads_disk;   /* blobs read back from their files */
	/* account sync */
	uint64_t acct_logins_ok, acct_logins_failed, acct_logins_disabled;
	uint64_t acct_requests;       /* sealed calls that passed authentication */
	uint64_t acct_refused;        /* sealed calls refused before their body was read */
	uint64_t acct_records_written;
	uint64_t acct_bytes_received; /* record payload bytes written */
	uint64_t acct_bytes_sent;     /* record payload bytes answered */
	/* offline transfer */
	uint64_t wallet_loads, wallet_syncs, wallet_refused;
	uint64_t wallet_conflicts;    /* double spends found by this process */
};

/* One account token key (PROTOCOL.md §11.1). */
struct cs__acct_key {
	uint32_t kid;
	int64_t created; /* unix seconds */
	uint8_t key[CS_ACCT_KEY_LEN];
};

/* What a hub process remembers of the shared store's account keys: the
 * token keys (ascending kid) as last read, and the secret behind the salts
 * of unknown accounts. Every hub process sharing hub.db has its own. */
struct cs__acct_cache {
	struct cs__acct_key *keys;
	size_t nkeys;
	int have_secret;
	uint8_t secret[CS_ACCT_KEY_LEN];
};

/* A failed account login whose 401 waits out its delay (api_account.c). */
struct cs__acct_delay;

/* An upload on its way to the disk: checked and copied on the loop,
 * written by the relay's writer thread (blob_writer.c) or at once by
 * cs__relay_put, recorded on the loop again (relay.c). The same queue
 * removes a finished job's directory (remove set, dir its path, no entry):
 * freeing a gigabyte of extents takes the file system a good part of a
 * second, which the loop cannot spare. */
struct cs__blob_entry;
struct cs__blob_write {
	struct cs__blob_write *next;
	int64_t job;
	char name[CS__HUB_BLOB_NAME_MAX];
	char *dir, *path;
	struct cs__blob_entry *entry;
	size_t len;
	uint64_t records;
	int rc;           /* of the write (cs__relay_put_write) */
	char *err;        /* its message, for the loop (errors are per thread) */
	int remove;       /* remove dir and what it holds instead of writing */
	cs_http_req *req; /* the upload to answer; NULL once its client left */
};
struct cs__blob_writer;

/* Recent relay blobs in memory (blob_cache.c). */
struct cs__blob_cache {
	struct cs__blob_entry *head; /* newest first */
	size_t bytes;
};

struct cs_hub {
	char *data_dir;
	struct cs_hub_config cfg;
	char *public_address; /* effective, see cs_hub_public_address */
	char *url;            /* see cs_hub_url */
	cs_store *db;
	cs_ca *ca;
	char *ca_pem;
	char ca_fingerprint[CS_FINGERPRINT_SIZE];
	char *crl_pem;
	int64_t crl_made;
	cs_httpd *httpd;
	struct cs__waiter *waiters;
	struct cs__blob_wait *blob_waits; /* downloads held for a pack (blob_wait.c) */
	size_t nblob_waits;
	struct cs__async *async;
	struct cs__metrics m;
	/* devices that got a task in the current operation; woken after commit */
	char (*wake)[CS_DEVICE_ID_SIZE];
	size_t nwake, wake_alloc;
	unsigned ticks; /* of cs__hub_waiters_tick */
	/* console logins: in flight, and the delays of failed ones */
	struct cs__login *logins;
	int verifying;   /* password checks running on worker threads */
	int login_poll;  /* a timer collecting finished checks is armed */
	struct cs__throttle throttle;
	/* account sync: token keys, and failed logins waiting for their 401 */
	struct cs__acct_cache acct;
	struct cs__acct_delay *acct_delays;
	unsigned acct_ndelays;
	struct cs__blob_cache blobs;
	struct cs__blob_writer *writer; /* see cs__hub_relay_writer */
	size_t relay_writing;           /* bytes of uploads not yet recorded */
};

/* ---- offline transfer (wallet_ledger.c, PROTOCOL.md §13.8) ---- */

/* Handle wallet/load and wallet/sync for the device of a sealed call. On
 * success *out is the answer's body; on failure *code, when set, is the
 * error code to answer with (else the code follows from the result). */
int cs__wallet_load(cs_hub *hub, json_t **out, const char **code, int64_t account_id,
	const char *account, const char *device, const struct cs__wallet_load_body *b);
int cs__wallet_sync(cs_hub *hub, json_t **out, const char **code, int64_t account_id,
	const char *account, const char *device, const struct cs__wallet_sync_body *b);
/* Credit an account's online balance; *balance gets the new one. */
int cs__wallet_credit(cs_store *db, const char *account, int64_t amount, int64_t *balance);
/* The ledger for the operator: accounts, devices, conflicts, totals. */
int cs__wallet_report(json_t **out, cs_store *db);

/* ---- one-shot statements (db.c) ---- */

/* A statement parameter: CS__DB_I(int64) or CS__DB_T(text, NULL = SQL NULL). */
struct cs__db_arg {
	enum { CS__DB_INT, CS__DB_TEXT } type;
	int64_t i;
	const char *t;
};
#define CS__DB_I(v) ((struct cs__db_arg){CS__DB_INT, (v), NULL})
#define CS__DB_T(v) ((struct cs__db_arg){CS__DB_TEXT, 0, (v)})
/* The parameter list of a cs__db_* call: array and count, bound to ?1..?n. */
#define CS__DB_ARGS(...) ((const struct cs__db_arg[]){__VA_ARGS__}), \
	(sizeof((const struct cs__db_arg[]){__VA_ARGS__}) / sizeof(struct cs__db_arg))

/* Prepare sql on db, bind args[0..n), step once and free the statement.
 * cs__db_step returns what the step did: 1 when a row came back, 0 when
 * none, negative on error. cs__db_exec is for statements whose rows are not
 * wanted: CS_OK or negative. cs__db_int64 is cs__db_step that also copies
 * column 0 of the row, when there is one, into *out (else leaves it). */
int cs__db_step(cs_store *db, const char *sql, const struct cs__db_arg *args, size_t n);
int cs__db_exec(cs_store *db, const char *sql, const struct cs__db_arg *args, size_t n);
int cs__db_int64(cs_store *db, int64_t *out, const char *sql, const struct cs__db_arg *args,
	size_t n);

/* ---- core (hub.c) ---- */

/* Open the hub's state (config, database, CA, CRL) without any network:
 * what the unit tests drive. cs_hub_free closes it. */
int cs__hub_open_core(cs_hub **out, const char *data_dir);
/* Housekeeping run once a minute: expire abandoned jobs, renew the CRL. */
void cs__hub_maintain(cs_hub *hub);
/* The schema migrations (schema.c). */
extern const char *const cs__hub_schema[];
extern const size_t cs__hub_schema_count;

/* ---- devices (registry.c) ---- */

struct cs__device {
	char id[CS_DEVICE_ID_SIZE];
	char *name;
	char *address;
	char *cert_pem;
	char fingerprint[CS_FINGERPRINT_SIZE];
	char *serial;
	int revoked;
	int64_t revoked_at, created, last_seen, not_after;
};
void cs__device_clear(struct cs__device *d);

/* Register cert (already checked by the caller to come from the hub CA) as
 * a device called name. CS_EEXISTS when the device ID is registered. */
int cs__hub_device_insert_tx(cs_hub *hub, const cs_cert *cert, const char *name,
	const char *address, char id_out[CS_DEVICE_ID_SIZE]);
/* Look a device up by its printed ID (normalised first). CS_ENOTFOUND. */
int cs__hub_device_get(cs_hub *hub, struct cs__device *out, const char *id);
/* Look a device up by the SHA-256 fingerprint of its certificate. */
int cs__hub_device_by_fingerprint(cs_hub *hub, struct cs__device *out, const char *fp);
/* Revoke: mark the row, fail its unfinished jobs, drop its tasks,
 * regenerate the CRL. CS_ENOTFOUND; revoking twice is fine. */
int cs__hub_device_revoke(cs_hub *hub, const char *id);
/* Remember that a device was seen (persisted at most every 30 s; d's
 * last_seen is updated too). */
void cs__hub_device_seen(cs_hub *hub, struct cs__device *d);
/* 1 when the device is online (a poll waiting, or seen within 90 s). */
int cs__hub_device_online(cs_hub *hub, const char *id, int64_t last_seen);
/* JSON of one registry row (PROTOCOL.md §5), new reference. */
json_t *cs__hub_device_json(cs_hub *hub, const struct cs__device *d);
/* {"devices": [...]} of every device. */
int cs__hub_devices_json(cs_hub *hub, json_t **out);
/* Regenerate DATA/crl.pem and hub->crl_pem from the revoked rows. */
int cs__hub_make_crl(cs_hub *hub);
/* Issue a certificate from a CSR and register it (ways 1-3 end here).
 * Inside the caller's transaction. *cert_pem_out is malloc'd. */
int cs__hub_issue_and_register_tx(cs_hub *hub, const char *csr_pem, const char *name,
	const char *address, char id_out[CS_DEVICE_ID_SIZE], char **cert_pem_out);
/* 32 bytes of SHA-256(SPKI) recovered from a printed device ID (the ID is
 * that hash in base32 with check characters), as 64 hex digits. */
int cs__device_id_spki_hex(char out[65], const char *device_id);

/* ---- administrators (registry.c) ---- */

/* Add a certificate fingerprint to the administrators. */
int cs__hub_admin_add(cs_hub *hub, const char *fingerprint, const char *name);
/* CS_OK when cert may use /v1/admin: it chains to the hub CA, is neither
 * expired nor revoked, and its fingerprint is in the admins table (which
 * cs_hub_init fills with DATA/admin/admin.crt). This stands in for parsing
 * the urn:certsync:admin: SAN, which would need OpenSSL here: only the hub
 * issues admin certificates and it records each one it issues. */
int cs__hub_admin_check(cs_hub *hub, const cs_cert *cert);

/* ---- tokens (tokens.c) ---- */

/* A new enrollment token usable uses times for ttl seconds. *text_out is
 * malloc'd (free with cs_free_secret_str). */
int cs__hub_token_create(cs_hub *hub, char **text_out, int64_t *expires_out,
	int64_t uses, int64_t ttl);
/* Consume one use of the token whose text is given. CS_EAUTH (unknown,
 * used up, another hub's token), CS_EEXPIRED, CS_EMALFORMED. */
int cs__hub_token_use_tx(cs_hub *hub, const char *text);

/* ---- folders (folders.c) ---- */

int cs__hub_folder_set(cs_hub *hub, const char *device, const char *folder, int carries);
/* 1 when device carries folder, 0 when not, negative on error. */
int cs__hub_folder_carried(cs_hub *hub, const char *device, const char *folder);
/* json array of the device's folders (new reference). */
json_t *cs__hub_folders_json(cs_hub *hub, const char *device);

/* ---- jobs (jobs.c) ---- */

/* Create a job: destinations dests[0..n) or, with all, every other active
 * device carrying the folder. Queues the produce task. */
int cs__hub_job_create(cs_hub *hub, int64_t *job_out, const char *folder,
	const char *source, const char *const *dests, size_t n, int all);
/* The source finished uploading: queue an apply task per destination. */
int cs__hub_job_produced(cs_hub *hub, int64_t job, const char *source,
	const struct cs__produced *p);
/* The source gave up: every unfinished destination fails with reason. */
int cs__hub_job_source_failed(cs_hub *hub, int64_t job, const char *source, const char *reason);
/* A destination reports progress. */
int cs__hub_job_progress(cs_hub *hub, int64_t job, const char *dest, const struct cs__progress *p);
/* A destination is done: applied (to_seq recorded as history) or failed.
 * p (may be NULL: keep the last progress) holds the final counts. */
int cs__hub_job_ack(cs_hub *hub, int64_t job, const char *dest, int applied,
	int64_t to_seq, const struct cs__progress *p, const char *reason);
/* Fail a job and its unfinished destinations (inside a transaction). */
int cs__hub_job_fail_tx(cs_hub *hub, int64_t job, const char *reason);
/* Finish the job when every destination is final; 1 when it became final. */
int cs__hub_job_settle_tx(cs_hub *hub, int64_t job);
/* The job's state into *state (malloc'd) and its source and folder. */
int cs__hub_job_info(cs_hub *hub, int64_t job, char **state, char source[CS_DEVICE_ID_SIZE],
	char **folder);
/* 1 while the job's source may still upload blobs (producing, or
 * delivering after "ready" and before "produced"), 0 when not. */
int cs__hub_job_uploading(cs_hub *hub, int64_t job);
/* POST .../ready: the header is stored; queue the apply tasks now, while
 * manifest segments and packs are still being uploaded. */
int cs__hub_job_ready(cs_hub *hub, int64_t job, const char *source, const struct cs__produced *p);
/* 1 when device is a destination of job, 0 when not. */
int cs__hub_job_is_dest(cs_hub *hub, int64_t job, const char *device);
/* Admin JSON of one job (PROTOCOL.md §5) or the latest limit jobs. */
int cs__hub_job_json(cs_hub *hub, json_t **out, int64_t job);
int cs__hub_jobs_json(cs_hub *hub, json_t **out, int64_t limit);
int cs__hub_history_json(cs_hub *hub, json_t **out, const char *folder);
/* The history of (folder, source, dest); 0 when none. */
int cs__hub_history_get(cs_hub *hub, int64_t *seq, const char *folder, const char *source,
	const char *dest);
/* Expire unfinished jobs idle for longer than the blob TTL. */
int cs__hub_jobs_expire(cs_hub *hub, int64_t now);

/* ---- tasks and long polls (tasks.c) ---- */

/* Queue a task; payload is stolen. The device is woken after the caller's
 * commit by cs__hub_wake_flush. */
int cs__hub_task_add_tx(cs_hub *hub, const char *device, int64_t job, const char *type,
	json_t *payload);
/* Mark the tasks of (job, device, type) done; type NULL: every type. */
int cs__hub_task_done_tx(cs_hub *hub, int64_t job, const char *device, const char *type);
/* Hand out the device's next deliverable task (queued, or delivered more than
 * the lease ago): *task_out gets the payload with "task": id, or NULL. */
int cs__hub_task_next(cs_hub *hub, json_t **task_out, const char *device);
/* resume=1: every delivered, unfinished task of device becomes deliverable. */
int cs__hub_tasks_resume(cs_hub *hub, const char *device);
/* Deliver queued tasks to waiting polls of the devices noted by
 * cs__hub_task_add_tx (and forget the notes). */
void cs__hub_wake_flush(cs_hub *hub);
/* Forget the notes without waking (after a rollback). */
void cs__hub_wake_discard(cs_hub *hub);
/* Keep req as a long poll of device until deadline. */
void cs__hub_waiter_add(cs_hub *hub, cs_http_req *req, const char *device, int wait_s);
/* Reply 204 to expired polls; hand lease-expired tasks to waiting polls. */
void cs__hub_waiters_tick(cs_hub *hub);
/* 1 when device has a poll waiting. */
int cs__hub_waiter_exists(cs_hub *hub, const char *device);
/* Drop every waiter (no reply; used when closing). */
void cs__hub_waiters_free(cs_hub *hub);

/* ---- downloads held for a pack not uploaded yet (blob_wait.c) ---- */
struct cs__blob_wait;
/* Hold req (device's download of pack name of job, which is still taking
 * uploads) until the pack is stored; a device revoked meanwhile is then
 * answered 403. CS_ELIMIT when too many are held. */
int cs__blob_wait_add(cs_hub *hub, cs_http_req *req, int64_t job, const char *name,
	const char *device);
/* The pack was stored: answer the downloads held for it. */
void cs__blob_wait_stored(cs_hub *hub, int64_t job, const char *name);
/* Each tick: answer the downloads of jobs that stopped taking uploads,
 * and 503 those held for CS__HUB_BLOB_WAIT_MS. */
void cs__blob_wait_tick(cs_hub *hub);
/* How many downloads are held (for tests and metrics). */
size_t cs__blob_waiting(const cs_hub *hub);
/* Answer every held download with a 503 (the hub is stopping). */
void cs__blob_waits_free(cs_hub *hub);
/* Send blob name of job to req, which may download it (api_agent.c): the
 * bytes, an error, or, when device is given and a pack is still to come, a
 * request held for device (cs__blob_wait_add) or a 503. */
void cs__hub_blob_send(cs_hub *hub, cs_http_req *req, int64_t job, const char *name,
	const char *device);

/* ---- relay blob store (relay.c) ---- */

/* 1 when name is "header", "trailer", "m<N>" (a manifest segment) or "p<N>"
 * (a pack; N < 2^20, no leading 0). */
int cs__relay_name_ok(const char *name);
/* 1 for the blobs that are one CMS envelope (header, trailer) rather than
 * framed records. */
int cs__relay_name_is_sealed(const char *name);
/* Count the records of a pack (PROTOCOL.md §8); CS_EMALFORMED when the
 * framing is broken. */
int cs__relay_count_records(uint64_t *records, const uint8_t *data, size_t len);
/* Store a blob for job atomically (replacing one of the same name) within
 * the quota; counts records of packs. CS_ELIMIT over quota. The three
 * steps below at once. */
int cs__relay_put(cs_hub *hub, int64_t job, const char *name, const uint8_t *data, size_t len,
	uint64_t *records_out);
/* Check an upload (name, size, framing, quota counting the uploads still
 * being written) and copy it into a new *out. */
int cs__relay_put_begin(cs_hub *hub, struct cs__blob_write **out, int64_t job, const char *name,
	const uint8_t *data, size_t len);
/* cs__relay_put_begin for an upload already copied into entry (taken over,
 * also on failure). */
int cs__relay_put_begin_entry(cs_hub *hub, struct cs__blob_write **out, int64_t job,
	const char *name, struct cs__blob_entry *entry);
/* Write the upload's file, or remove the job's directory when w->remove
 * (any thread; touches no hub state). */
void cs__relay_put_write(struct cs__blob_write *w);
/* On the loop: record the written upload (its row, the memory of recent
 * blobs) unless the write failed or the job stopped taking uploads; frees
 * w. *records_out (may be NULL) gets the pack's record count. */
int cs__relay_put_end(cs_hub *hub, struct cs__blob_write *w, uint64_t *records_out);
/* On the loop: log a removal the writer thread did, and free w. */
void cs__relay_remove_end(struct cs__blob_write *w);
/* Free an upload that will not be written. */
void cs__relay_write_free(struct cs__blob_write *w);

/* ---- the relay's writer thread (blob_writer.c) ---- */

/* Start the thread; finish runs on the loop for each written upload (a
 * removal is logged and freed there without it). */
int cs__blob_writer_start(cs_hub *hub, void (*finish)(cs_hub *hub, struct cs__blob_write *w));
/* Queue w (taken over) for writing, or for removal when w->remove. */
void cs__blob_writer_submit(struct cs__blob_writer *bw, struct cs__blob_write *w);
/* Write and remove what is queued, finish it, stop the thread. */
void cs__blob_writer_free(cs_hub *hub);
/* The relay's writer thread, started on first use; NULL when the hub has
 * no HTTP server (cs__hub_open_core) or the thread cannot start, and the
 * caller then does the work on the loop. */
struct cs__blob_writer *cs__hub_relay_writer(cs_hub *hub);
/* Tests: while held, the thread takes nothing from its queue. */
void cs__blob_writer_hold(struct cs__blob_writer *bw, int hold);
/* A stored blob's bytes (borrowed until the next relay call): from memory
 * when recent, else read from its file into memory. CS_ENOTFOUND when not
 * stored, CS_EIO when its file no longer has the size it was stored with. */
int cs__relay_get(cs_hub *hub, const uint8_t **data, size_t *len, int64_t job, const char *name);
/* Delete every blob of job: its rows and memory at once, its directory on
 * the writer thread (after the writes queued before), or at once when
 * there is none. */
int cs__relay_delete_job(cs_hub *hub, int64_t job);
/* Bytes held by the relay. */
int64_t cs__relay_stored_bytes(cs_hub *hub);
/* Remove blob directories of jobs that are final or unknown (after a crash
 * between the commit and the deletion). */
void cs__relay_sweep(cs_hub *hub);

/* ---- recent relay blobs in memory (blob_cache.c) ---- */

/* A new entry holding a copy of data in a buffer aligned for direct I/O
 * (zero-padded to a whole block). */
int cs__blob_cache_new(struct cs__blob_entry **out, const uint8_t *data, size_t len);
/* A new entry of len bytes for the caller to fill through *buf. */
int cs__blob_cache_new_empty(struct cs__blob_entry **out, uint8_t **buf, size_t len);
/* The entry's aligned copy, and its length. */
const uint8_t *cs__blob_entry_data(const struct cs__blob_entry *e);
size_t cs__blob_entry_len(const struct cs__blob_entry *e);
/* Free an entry that was not put. */
void cs__blob_cache_discard(struct cs__blob_entry *e);
/* Keep e (taken over) as job's blob name, stored at path; evicts the
 * oldest entries beyond CS__HUB_BLOB_CACHE_BYTES. */
void cs__blob_cache_put(struct cs__blob_cache *c, int64_t job, const char *name,
	struct cs__blob_entry *e, const char *path);
/* 1 with the bytes (borrowed until the next call on c) when held and the
 * file at path is still the one written; 0 otherwise. */
int cs__blob_cache_get(struct cs__blob_cache *c, const uint8_t **data, size_t *len, int64_t job,
	const char *name, const char *path);
/* Read job's blob name from path (want bytes) into the cache and return
 * it as cs__blob_cache_get does. CS_EIO when the file is not want bytes. */
int cs__blob_cache_load(struct cs__blob_cache *c, const uint8_t **data, size_t *len, int64_t job,
	const char *name, const char *path, size_t want);
/* Forget every blob of job. */
/* Keep the listed entry whose bytes are data (from cs__blob_cache_get)
 * alive while a reply sends them, even if it leaves the cache meanwhile;
 * NULL when no entry holds data. Undone by cs__blob_cache_release. */
void *cs__blob_cache_hold(struct cs__blob_cache *c, const uint8_t *data);
void cs__blob_cache_release(void *entry);
void cs__blob_cache_drop_job(struct cs__blob_cache *c, int64_t job);
void cs__blob_cache_free(struct cs__blob_cache *c);

/* ---- console users and sessions (console_auth.c) ---- */

/* A live console session, as stored. */
struct cs__session {
	char user[CS__HUB_USER_MAX + 1];
	char csrf[65];          /* 64 hex digits */
	int64_t created_ms, last_used_ms;
	int64_t expires;        /* epoch seconds: the earlier of the idle and absolute ends */
};

/* argon2id parameters (OWASP's second recommendation: 19 MiB, 2 passes,
 * 1 lane): about 80 ms per check on one core, cheap enough for tests on a
 * small machine, costly enough for an offline guesser. */
#define CS__ARGON2_T 2
#define CS__ARGON2_M_KIB 19456
#define CS__ARGON2_P 1
#define CS__ARGON2_SALT 16
#define CS__ARGON2_HASH 32

/* 1 when user is an acceptable console user name: 1..64 of
 * [A-Za-z0-9._@-]. */
int cs__console_user_ok(const char *user);
/* CS_EINVAL unless password is valid UTF-8 of 12 characters or more and
 * at most 1024 bytes. */
int cs__console_password_ok(const char *password);
/* The argon2id hash of password in PHC string form (fresh salt) into *out,
 * malloc'd. */
int cs__console_hash_password(char **out, const char *password);
/* CS_OK when password matches the PHC string encoded, CS_EAUTH when not.
 * Touches nothing else, so it may run on any thread; the only way the hub
 * compares passwords. */
int cs__console_verify_password(const char *encoded, const char *password);
/* Set user's password (the user is created when missing) and end every
 * session of the user. Checks name and password first. */
int cs__console_user_set(cs_store *db, const char *user, const char *password);
/* The stored hash of user into *hash (malloc'd). CS_ENOTFOUND. */
int cs__console_user_hash(cs_hub *hub, char **hash, const char *user);
/* A hash in the stored form whose password nobody knows: checked instead of
 * a missing user's, so that an unknown name costs the same time. */
extern const char cs__console_dummy_hash[];

/* Start a session for user: a fresh token (64 hex digits, for the cookie;
 * only its SHA-256 is stored) into token_out and the session into *s.
 * At most CS__CONSOLE_SESSIONS_MAX sessions per user; older ones end. */
#define CS__CONSOLE_SESSIONS_MAX 64
int cs__console_session_new(cs_hub *hub, char token_out[65], struct cs__session *s,
	const char *user, const char *remote);
/* The live session of token into *s, marking it used now (persisted when
 * the last mark is older than 1/60 of the idle time, so the idle end is
 * exact to within that). CS_ENOTFOUND for an unknown token, CS_EEXPIRED for
 * an expired one (which is deleted). */
int cs__console_session_use(cs_hub *hub, struct cs__session *s, const char *token);
/* End the session of token (no error when there is none). */
int cs__console_session_end(cs_hub *hub, const char *token);
/* Delete every session that has expired by now_ms (wall clock). */
int cs__console_sessions_expire(cs_hub *hub, int64_t now_ms);
/* The token of the first well-formed cs_session cookie in a Cookie header
 * into out (64 lower-case hex digits). CS_ENOTFOUND when there is none. */
int cs__console_cookie_token(char out[65], const char *cookie_header);

/* Login throttling: remote's delay for a failure that arrived at start_ms
 * (monotonic), counting it; returns when its 401 is due (start_ms + delay). */
int64_t cs__throttle_fail(struct cs__throttle *t, const char *remote, int64_t start_ms);
/* A successful login from remote: forget its failures. */
void cs__throttle_ok(struct cs__throttle *t, const char *remote);
/* 1 when the 401 of an earlier failure from remote is still pending at
 * now_ms: a new attempt then is refused without looking at the password. */
int cs__throttle_busy(const struct cs__throttle *t, const char *remote, int64_t now_ms);

/* ---- accounts (accounts.c; PROTOCOL.md §11) ---- */

/* One account row. Free of secrets in the sense that matters (the hub
 * never holds a password), but the verifier lets whoever has it pose as
 * the hub to the account's devices: wiped by cs__acct_clear. */
struct cs__account {
	int64_t id;
	char name[CS_ACCT_NAME_MAX + 1];
	cs_acct_kdf kdf;
	uint8_t stored_key[CS_ACCT_KEY_LEN];
	uint8_t server_key[CS_ACCT_KEY_LEN];
	int disabled;
	int64_t created;
};
void cs__acct_clear(struct cs__account *a);

/* Add account name with the given verifier (computed by the caller from
 * the salted password). CS_EINVAL for a bad name or KDF parameters,
 * CS_EEXISTS when the name is taken. */
int cs__acct_add(cs_store *db, const char *name, const cs_acct_kdf *kdf,
	const uint8_t stored_key[CS_ACCT_KEY_LEN], const uint8_t server_key[CS_ACCT_KEY_LEN]);
/* Look an account up by name or by id. CS_ENOTFOUND. */
int cs__acct_get(cs_store *db, struct cs__account *out, const char *name);
int cs__acct_get_id(cs_store *db, struct cs__account *out, int64_t id);
/* Disable (1) or enable (0) an account. CS_ENOTFOUND. */
int cs__acct_set_disabled(cs_store *db, const char *name, int disabled);
/* CS_OK when account id exists under name and is enabled, CS_EDENIED when
 * it is disabled or gone, negative on a database error. */
int cs__acct_check_active(cs_store *db, int64_t id, const char *name);
/* Call fn for every account, by name; stops at fn's first non-zero return,
 * which is returned. */
int cs__acct_list(cs_store *db, int (*fn)(void *ud, const struct cs_hub_account_info *a),
	void *ud);

/* The token key to seal with now: the newest in the store unless it is
 * rotate_s old or older, in which case a new one is added (in an IMMEDIATE
 * transaction that looks again, so that of two hub processes noticing at
 * once only one adds a key). Adding a key also deletes every key older
 * than the newest one that is ttl_s old: a key is last used when the next
 * one appears, so once that one is ttl_s old, every token sealed under the
 * key has expired. The caller passes the longer of the token and the
 * ticket lifetime as ttl_s. Copied into *out (wipe it after use). */
int cs__acct_key_current(cs_store *db, struct cs__acct_cache *c, struct cs__acct_key *out,
	int64_t now, int64_t rotate_s, int64_t ttl_s);
/* The token key kid into *out. A kid newer than every cached one makes the
 * cache read the store again (another hub process may have added it).
 * CS_ENOTFOUND when the store does not hold it. */
int cs__acct_key_find(cs_store *db, struct cs__acct_cache *c, struct cs__acct_key *out,
	uint32_t kid);
/* Forget and wipe the cache. */
void cs__acct_cache_clear(struct cs__acct_cache *c);

/* The salt shown for an unknown account name: HMAC of the name under a
 * secret kept in the store (made on first use), so it is the same on every
 * hub process, every time, and tells a probe nothing. */
int cs__acct_fake_salt(cs_store *db, struct cs__acct_cache *c, uint8_t salt[CS_ACCT_SALT_LEN],
	const char *name);

/* Failed logins by account name, in the store so that every hub process
 * counts them: the delay before the 401 starts at 250 ms and doubles with
 * each failure up to 8 s; 15 minutes without one start afresh. */
#define CS__ACCT_FAIL_FIRST_MS 250
#define CS__ACCT_FAIL_MAX_MS 8000
#define CS__ACCT_FAIL_FORGET_MS (15 * 60 * 1000)
/* Count a failure of name at now_ms (wall clock) and return its delay. */
int cs__acct_fail(cs_store *db, int64_t *delay_ms, const char *name, int64_t now_ms);
/* A successful login: forget name's failures. */
int cs__acct_fail_reset(cs_store *db, const char *name);
/* Forget failures quiet since now_ms - 15 min (housekeeping). */
int cs__acct_fail_expire(cs_store *db, int64_t now_ms);

/* Records (PROTOCOL.md §11.5). Each builds the JSON answer in *out (new
 * reference) and adds the payload bytes it holds to *bytes (may be NULL).
 *
 * With att non-NULL, payloads are appended to att and named by
 * "payload_at"/"payload_len" instead of carried as base64 "payload".
 *
 * changes: records of collection with version > since in version order,
 * at most limit, stopping before max_bytes of payload (but never before
 * the first record); "version" and the records come from one snapshot. */
int cs__acct_changes(cs_store *db, json_t **out, uint64_t *bytes, int64_t account,
	const char *collection, int64_t since, int64_t limit, size_t max_bytes, cs_buf *att);
/* get: the records among ids[0..n) that exist (deleted ones as
 * tombstones), in the order asked, stopping before max_bytes of payload
 * (never before the first) with "more": true. */
int cs__acct_get_records(cs_store *db, json_t **out, uint64_t *bytes, int64_t account,
	const char *collection, const char *const *ids, size_t n, size_t max_bytes, cs_buf *att);
/* upload: in one IMMEDIATE transaction, check every precondition; when all
 * hold, give each record the collection's next version in request order
 * and write it: CS_OK with {"versions", "version"}. When any fails,
 * nothing is written: CS_ECONFLICT with {"conflicts", "version"} in *out. */
int cs__acct_upload(cs_store *db, json_t **out, int64_t account, const char *collection,
	const struct cs__acct_upload_rec *recs, size_t n);

/* Largest payload of a changes or get answer (PROTOCOL.md §11.5). */
#define CS__ACCT_ANSWER_BYTES (16u << 20)
/* attachments of one answer: up to the cap, plus one record that crosses it */
#define CS__ACCT_ATTACH_MAX (CS__ACCT_ANSWER_BYTES + CS__HUB_ACCT_PAYLOAD_MAX + 1024)

/* ---- account HTTP (api_account.c) ---- */

/* Answer failed logins still waiting out their delay with 503 and free
 * them (closing). */
void cs__hub_account_free(cs_hub *hub);

/* ---- console HTTP (console.c) ---- */

/* 1 when req carries a cs_session cookie (it then authenticates by it). */
int cs__console_has_cookie(cs_http_req *req);
/* Authorise req by its session cookie for /v1/admin: CS_OK, or req has
 * been answered (401 "session" for an unknown or expired session, 403
 * "csrf" for a method other than GET/HEAD without the session's
 * X-CSRF-Token) and a negative code is returned. */
int cs__console_authorize(cs_hub *hub, cs_http_req *req);
/* Add the console's security headers (PROTOCOL.md §10) to req's reply. */
void cs__console_headers(cs_http_req *req);
/* Collect finished password checks if the poll timer could not be armed
 * (from the hub's tick). */
void cs__console_tick(cs_hub *hub);
/* Answer logins still being checked with 503 and free them (closing). */
void cs__console_free(cs_hub *hub);

/* ---- HTTP plumbing (json.c) ---- */

/* req's body as text for the cs__parse_* functions (hub_parse.h). */
static inline const char *cs__hub_body(cs_http_req *req, size_t *len)
{
	return (const char *)cs_http_req_body(req, len);
}
/* Reply with a JSON value (stolen) and count the status. */
void cs__hub_reply_json(cs_hub *hub, cs_http_req *req, int status, json_t *body);
/* Reply with {"error", "code"} and count the status. */
void cs__hub_reply_error(cs_hub *hub, cs_http_req *req, int status, const char *code,
	const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Reply with the error for a CS_E* code and cs_error_last(). */
void cs__hub_reply_cs_error(cs_hub *hub, cs_http_req *req, int rc);
/* Reply with raw bytes and count the status. */
void cs__hub_reply(cs_hub *hub, cs_http_req *req, int status, const char *type,
	const void *body, size_t len);
/* Count a status of a reply made elsewhere (files, long polls). */
void cs__hub_count(cs_hub *hub, int status);
/* Split path after prefix into at most max '/'-separated segments (each
 * non-empty, copied into storage of size n). Returns the count or -1. */
int cs__path_split(char *storage, size_t n, const char **seg, int max, const char *path,
	const char *prefix);
/* Parse a decimal job id (1..2^53). */
int cs__parse_id(int64_t *out, const char *s);

/* ---- handlers ---- */

void cs__hub_api_public_routes(cs_hub *hub);
void cs__hub_api_agent_routes(cs_hub *hub);
void cs__hub_api_admin_routes(cs_hub *hub);
void cs__hub_console_routes(cs_hub *hub);
void cs__hub_api_account_routes(cs_hub *hub);
/* GET /metrics (metrics.c). */
void cs__hub_metrics(cs_http_req *req, void *ud);
/* POST /v1/admin/devices/discover[/{pending}/confirm] (discover.c). */
/* address is checked; fp is normalised (cs__parse_discover, cs__parse_confirm). */
void cs__hub_discover_start(cs_hub *hub, cs_http_req *req, const char *address);
void cs__hub_discover_confirm(cs_hub *hub, cs_http_req *req, const char *pending,
	const char fp[65]);
/* Finish outbound calls whose worker thread is done (on the loop). */
void cs__hub_async_tick(cs_hub *hub);
/* Wait for and free every outbound call (when closing). */
void cs__hub_async_free(cs_hub *hub);

/* ---- pairings of backup terminals (pairings.c) ---- */

/* How long the first verification information is valid after a claim. */
#define CS__HUB_FIRST_TTL_S 300

/* A claimed pairing: the terminal's device ID and certificate fingerprint. */
struct cs__pairing {
	char terminal[CS_DEVICE_ID_SIZE];
	char fingerprint[65];
	int64_t expires;
};

/* Register a pairing for terminal (a device of account); writes its new
 * id and expiry. */
int cs__pairing_create(cs_store *db, char id[CS__HUB_PAIRING_ID_LEN + 1], int64_t *expires,
	int64_t account, const char *terminal, const struct cs__pairing_create_body *b);
/* Claim a pairing for device phone of account, once: CS_ENOTFOUND unknown,
 * CS_EDENIED another account's, CS_EEXPIRED, CS_ESTATE used already,
 * CS_EAUTH wrong secret; nothing changes then. */
int cs__pairing_claim(cs_store *db, struct cs__pairing *out, int64_t account, const char *phone,
	const struct cs__pairing_claim_body *b);

#endif
