#ifndef CS_ACCOUNT_LOCAL_H
#define CS_ACCOUNT_LOCAL_H
/* Definitions shared by the files of src/lib/account/ only. */
#include <jansson.h>
#include <certsync/account.h>
#include <certsync/account_sync.h>
#include <certsync/httpc.h>
#include <certsync/index.h>

#define CS__ACCT_HUBS_MAX 8
#define CS__ACCT_RESP_MAX (32u << 20)   /* largest response read */
#define CS__ACCT_BATCH_BYTES (5u << 20) /* payload bytes per upload request */
#define CS__ACCT_BATCH_RECORDS 1000
#define CS__ACCT_TIMEOUT_MS 120000

/* The login, as kept in account.json (session.c). */
struct cs__acct_session {
	char *hubs[CS__ACCT_HUBS_MAX];
	size_t nhubs;
	char *ca_path;
	char account[CS_ACCT_NAME_MAX + 1];
	char device[CS_DEVICE_ID_SIZE];
	char *token;
	uint32_t kid;
	int64_t expires;
	uint8_t mk[CS_ACCT_KEY_LEN];   /* message key */
	uint8_t dk[CS_ACCT_KEY_LEN];   /* the account's data key */
};

int cs__acct_session_load(struct cs__acct_session *s, const char *data_dir);
int cs__acct_session_save(const struct cs__acct_session *s, const char *data_dir);
/* Free and wipe. */
void cs__acct_session_clear(struct cs__acct_session *s);

/* Connections to the session's hubs, used in turn (client.c). */
struct cs__acct_conn {
	struct cs__acct_session *s;
	cs_httpc *c[CS__ACCT_HUBS_MAX];
	size_t next;
	uint64_t requests;
	const volatile int *cancel;
};

int cs__acct_conn_open(struct cs__acct_conn *cn, struct cs__acct_session *s,
	const volatile int *cancel);
void cs__acct_conn_close(struct cs__acct_conn *cn);

/* One sealed call: seal req (a JSON object; stolen) for path, send it to the
 * next hub (the one after on a network failure), open the answer. On 200
 * or 412 *resp is the decoded body and *status the status; any other
 * status is an error whose message is the hub's. */
int cs__acct_call(struct cs__acct_conn *cn, const char *path, json_t *req, json_t **resp,
	int *status);
/* The same with attachments (PROTOCOL.md §11.4): att[0..att_len) follows
 * the request's JSON after a NUL byte when att is not NULL; the answer's
 * attachments (what follows its JSON) are copied to *resp_att (malloc'd;
 * NULL when none) when resp_att is not NULL. */
int cs__acct_call_att(struct cs__acct_conn *cn, const char *path, json_t *req, const uint8_t *att,
	size_t att_len, json_t **resp, int *status, uint8_t **resp_att, size_t *resp_att_len);

/* The account's data key sealing a record payload (PROTOCOL.md §11.6):
 * *out (malloc'd) = nonce || AES-256-GCM(dk, plain), AAD naming the
 * collection and id. */
int cs__acct_payload_seal(uint8_t **out, size_t *out_len, const uint8_t dk[CS_ACCT_KEY_LEN],
	const char *collection, const char *id, const uint8_t *plain, size_t len);
int cs__acct_payload_open(uint8_t **out, size_t *out_len, const uint8_t dk[CS_ACCT_KEY_LEN],
	const char *collection, const char *id, const uint8_t *sealed, size_t len);

/* hex(HMAC(dk, label || 0 || a [|| 0 || b]))[0..32] into out[33];
 * CS_ELIMIT when the parts are longer than CS__ACCT_NAME_INPUT_MAX. */
#define CS__ACCT_NAME_INPUT_MAX 8448
int cs__acct_name(char out[33], const uint8_t dk[CS_ACCT_KEY_LEN], const char *label,
	const char *a, const char *b);

/* ---- path records (record.c, PROTOCOL.md §11.6) ---- */

/* The state of a path: on disk (index), remote (record) or agreed (base). */
struct cs__acct_state {
	int exists;     /* 0: absent or deleted */
	int kind;       /* enum cs_entry_kind */
	uint32_t mode;
	uint8_t hash[CS_HASH_LEN];
};

/* A path record, decoded. */
struct cs__acct_path {
	char *path;
	int64_t version;      /* set by the caller: the hub's version */
	struct cs__acct_state st;
	int64_t mtime_ns;
	uint64_t size;
	cs_chunk_ref *chunks; /* offsets follow from the lengths */
	size_t nchunks;
};

/* Decode a path record's JSON content. Checks the path (index rules), the
 * kind, the mode, each chunk's length (1..4 MiB) and that the content hash
 * is the SHA-256 of the chunk hashes. CS_EMALFORMED with the reason. */
int cs__acct_path_decode(struct cs__acct_path *p, const uint8_t *text, size_t len);
void cs__acct_path_clear(struct cs__acct_path *p);

/* The JSON content of a path record for index entry e, written by device;
 * malloc'd, NULL when out of memory. */
char *cs__acct_path_encode(const cs_file_entry *e, const char *device);

#endif
