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
	cs_store *store;
	cs_index *index;
	volatile sig_atomic_t stop;
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

/* A cs_relay_io that stores and fetches blobs at the hub. */
void cs__agent_relay_io(cs_relay_io *io, cs_agent *ag);

/* Fetch the hub's current CRL into ag->crl_pem and crl.pem (best effort:
 * the previous one is kept when the hub cannot be reached). */
int cs__agent_refresh_crl(cs_agent *ag);

/* Handle one task object from the poll. */
int cs__agent_handle_task(cs_agent *ag, json_t *task);

#endif
