#ifndef CS_AGENT_INTERNAL_H
#define CS_AGENT_INTERNAL_H
/* Private parts of the device agent shared by its files. */
#include <signal.h>
#include <jansson.h>
#include <certsync/agent.h>
#include <certsync/httpc.h>
#include <certsync/index.h>
#include <certsync/relay.h>
#include <certsync/store.h>

#define CS_AGENT_JSON_MAX (64u << 20) /* largest JSON answer read from the hub */
#define CS_AGENT_BLOB_MAX (9u << 20)  /* largest blob download */

#define CS_AGENT_TRANSFERS 4 /* parallel connections for blob transfers */

typedef struct cs__transfers cs__transfers;

struct cs_agent {
	char *dir;
	char *name;
	char *hub;
	char device_id[CS_DEVICE_ID_SIZE];
	cs_key *key;
	cs_cert *cert;
	cs_cert *ca;
	char *crl_pem;
	cs_httpc *http;
	cs__transfers *transfers;
	cs_store *store;
	cs_index *index;
	volatile int stop;
};

/* Paths inside the data directory (malloc'd). */
char *cs__agent_path(const char *dir, const char *file);

/* Read device.json: name and hub address (either may come back NULL). */
int cs__agent_read_config(const char *dir, char **name, char **hub);
/* Write device.json atomically. */
int cs__agent_write_config(const char *dir, const char *name, const char *hub);

/* A JSON request to the hub; on a 2xx answer *out receives the parsed body
 * (NULL for an empty one). Other statuses become errors carrying the hub's
 * message: 401/403 CS_EDENIED (or CS_EREVOKED), 404 CS_ENOTFOUND, others
 * CS_ENET or CS_EINVAL. body may be NULL. */
int cs__agent_call(json_t **out, long *status, cs_agent *ag, const char *method, const char *path,
	json_t *body, long timeout_ms);

/* A blob the source has not uploaded yet is answered 503 (after the hub
 * held the request for a while): wait a little and ask again (1 when the
 * caller should retry). A pack is waited for up to
 * CS_AGENT_NOT_READY_MAX_MS after the first 503 (*since_ms, 0 before it):
 * the source uploads it right after the segment that names it. A manifest
 * segment or the trailer is waited for as long as the hub says it may
 * come, since the source sends them as its scan goes, and one huge file
 * can take long to hash; the hub answers otherwise once the job has failed
 * or expired. The first second of waiting asks often; a source that went
 * quiet is asked less often. */
#define CS_AGENT_NOT_READY_POLL_MS 5
#define CS_AGENT_NOT_READY_SLOW_MS 40
#define CS_AGENT_NOT_READY_FAST_FOR_MS 1000
#define CS_AGENT_NOT_READY_MAX_MS (30 * 60 * 1000)
int cs__agent_not_ready(const cs_http_resp *resp, const char *name, int64_t *since_ms);

/* The error for a non-2xx answer: CS_EDENIED/CS_EREVOKED for 401/403,
 * CS_ENOTFOUND, CS_ECONFLICT, CS_EINVAL for other 4xx, CS_ENET otherwise. */
int cs__agent_status_error(long status, const cs_http_resp *resp, const char *what);

/* A pool of connections that move blobs in the background.
 * put copies the data and may block while too many uploads are waiting;
 * flush waits for every upload and returns the first failure.
 * prefetch starts fetching a blob (a hint: ignored when enough are held);
 * take hands over a prefetched blob, waiting for it if needed, or returns
 * CS_ENOTFOUND when it was never prefetched; drop_gets discards the rest. */
int cs__transfers_new(cs__transfers **out, cs_agent *ag, const struct cs_httpc_config *cfg);
void cs__transfers_free(cs__transfers *t);
int cs__transfers_put(cs__transfers *t, uint64_t job, const char *name, const uint8_t *data, size_t len);
/* As cs__transfers_put, taking data (from cs_bigmem_alloc) over: no copy. */
int cs__transfers_put_owned(cs__transfers *t, uint64_t job, const char *name, uint8_t *data, size_t len);
int cs__transfers_flush(cs__transfers *t);
void cs__transfers_prefetch(cs__transfers *t, uint64_t job, const char *name);
int cs__transfers_take(cs__transfers *t, uint64_t job, const char *name, uint8_t **data, size_t *len);
void cs__transfers_drop_gets(cs__transfers *t);

/* A cs_relay_io that stores and fetches blobs at the hub. */
void cs__agent_relay_io(cs_relay_io *io, cs_agent *ag);

/* Fetch the hub's current CRL into ag->crl_pem and crl.pem (best effort:
 * the previous one is kept when the hub cannot be reached). */
int cs__agent_refresh_crl(cs_agent *ag);

/* A task from the hub, checked and parsed (PROTOCOL §4). Certificates are
 * parsed; strings point into the JSON object the task was parsed from. */
struct cs__agent_task {
	const char *type;   /* "produce" or "apply" */
	const char *folder;
	uint64_t job;
	/* produce */
	cs_relay_dest *dests;
	cs_cert **certs;
	size_t ndests;
	/* apply */
	const char *source;
	cs_cert *source_cert;
	uint64_t history, to_seq;
};

#define CS_AGENT_DESTS_MAX 10000

/* Parse a task object; CS_EMALFORMED with a reason for anything missing,
 * mistyped or out of range. Free with cs__agent_task_clear. */
int cs__agent_task_parse(struct cs__agent_task *t, json_t *task);
void cs__agent_task_clear(struct cs__agent_task *t);

/* Handle one task object from the poll. */
int cs__agent_handle_task(cs_agent *ag, json_t *task);

#endif
