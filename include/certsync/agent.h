#ifndef CERTSYNC_AGENT_H
#define CERTSYNC_AGENT_H
/*
 * The device agent: a device's identity on disk, enrollment with a hub, its
 * folders, and the loop that keeps one outbound connection to the hub (a
 * long poll, so devices behind NAT receive requests) and answers produce and
 * apply tasks with the relay engine.
 *
 * Data directory layout:
 *   device.key   private key, PKCS#8 PEM, mode 0600
 *   device.json  {"name": ..., "hub": "host:port"}
 *   device.crt   certificate issued by the hub (after enrollment)
 *   ca.crt       the hub CA, pinned at enrollment
 *   crl.pem      the hub's latest CRL
 *   device.db    the folder index (SQLite)
 */
#include <certsync/common.h>
#include <certsync/identity.h>

typedef struct cs_agent cs_agent;

/* Create a device identity in data_dir: a new P-256 key and device.json.
 * CS_EEXISTS when a key is already there. device_id receives the ID. */
CS_EXTERN int cs_agent_init(char device_id[CS_DEVICE_ID_SIZE], const char *data_dir, const char *name);

/* Enroll with the hub named in token (PROTOCOL §3): fetch and pin the hub
 * CA by its fingerprint, send a CSR, store the certificate. name overrides
 * the name in device.json when non-NULL. */
CS_EXTERN int cs_agent_enroll(const char *data_dir, const char *token, const char *name);

/* Registration way 3 (PROTOCOL §6): serve this device's signed information
 * on listen ("host:port") until the hub delivers a certificate issued by
 * the CA whose SHA-256 fingerprint (hex) is ca_fingerprint; then store it,
 * remember hub_address as the hub, and return. ready (may be NULL) is called
 * once the socket is bound, with the port. */
CS_EXTERN int cs_agent_listen(const char *data_dir, const char *listen, const char *hub_address,
	const char *ca_fingerprint, void (*ready)(void *ud, int port), void *ud);

/* Open the agent in data_dir (key, certificate and CA must exist). */
CS_EXTERN int cs_agent_open(cs_agent **out, const char *data_dir);
CS_EXTERN void cs_agent_free(cs_agent *ag);

/* This device's ID. */
CS_EXTERN const char *cs_agent_device_id(const cs_agent *ag);

/* Add a folder (id, directory) to the index and declare it to the hub. */
CS_EXTERN int cs_agent_folder_add(cs_agent *ag, const char *folder, const char *path);

/* Serve tasks from the hub until cs_agent_stop(). With once, return after
 * the first poll that finds no work. Network errors are retried with
 * backoff; a task that fails is reported to the hub as failed. */
CS_EXTERN int cs_agent_run(cs_agent *ag, int once);

/* Ask a running agent to stop after the current step (signal-safe). */
CS_EXTERN void cs_agent_stop(cs_agent *ag);

#endif
