#ifndef CERTSYNC_SIGD_H
#define CERTSYNC_SIGD_H
/*
 * The signature verification cluster (DESIGN §10, PROTOCOL.md §14,
 * docs/sigd.md). A node answers "is this signature by the holder of the
 * certificate with this fingerprint valid?". A node that lacks the
 * certificate may fetch it from its peers: a center asks the other centers
 * in order, an edge asks the centers in order; peers that fail are skipped
 * until a health check finds them again. A fetched certificate is checked
 * against the node's trust anchors (chain, validity, revocation) before it
 * is stored; a lookup that found nothing is remembered for a while
 * (negative cache); concurrent requests for one missing certificate share
 * one lookup.
 */
#include <certsync/common.h>

#define CS_SIGD_PEERS_MAX 16
#define CS_SIGD_ANCHORS_MAX 16

enum cs_sigd_role { CS_SIGD_CENTER = 1, CS_SIGD_EDGE = 2 };
enum cs_sigd_mode { CS_SIGD_MODE_LOCAL = 1, CS_SIGD_MODE_FETCH = 2 };

/* A node's configuration (sigd.json; docs/sigd.md lists every key). Paths
 * are absolute once loaded (relative ones are taken from the file's
 * directory). */
struct cs_sigd_config {
	char *name;
	int role;                  /* enum cs_sigd_role */
	int mode;                  /* enum cs_sigd_mode */
	char *listen;              /* "127.0.0.1:9443" */
	char *data_dir;            /* the store: DIR/sigd.db */
	char *tls_cert, *tls_key;  /* this node's HTTPS certificate and key */
	char *cluster_ca;          /* CA of the cluster: peers' TLS and admins */
	char *peers[CS_SIGD_PEERS_MAX];        /* base URLs, in the order asked */
	size_t npeers;
	char *anchors[CS_SIGD_ANCHORS_MAX];    /* PEM CA certificates */
	size_t nanchors;
	char *crls[CS_SIGD_ANCHORS_MAX];       /* PEM CRLs, each by one anchor */
	size_t ncrls;
	int64_t negative_cache_ms; /* how long a failed lookup is remembered */
	int64_t health_interval_ms;
	int64_t connect_timeout_ms;
	int64_t request_timeout_ms;/* one peer request, whole */
	int fetch_threads;         /* lookups that may run at once */
};

/* Parse a configuration (JSON text); relative paths are taken from base_dir.
 * CS_EINVAL or CS_EMALFORMED naming the key at fault. */
CS_EXTERN int cs_sigd_config_parse(struct cs_sigd_config *c, const char *text, size_t len,
	const char *base_dir);
/* Read and parse the file at path (*c is zeroed on failure). */
CS_EXTERN int cs_sigd_config_load(struct cs_sigd_config *c, const char *path);
/* Free the strings; NULL-safe. */
CS_EXTERN void cs_sigd_config_clear(struct cs_sigd_config *c);

/* What `certsync sigd init` makes. */
struct cs_sigd_init_options {
	const char *dir;           /* the node's directory (created) */
	const char *cluster_ca;    /* the cluster CA directory (created when empty) */
	const char *name;
	int role;
	int mode;
	const char *listen;
	const char *const *hosts;  /* names and addresses for the TLS certificate; NULL-terminated */
	const char *const *peers;  /* NULL-terminated */
	const char *const *anchors;/* NULL-terminated */
};
/* Create a node: DIR/tls/{server.crt,server.key} issued by the cluster CA
 * and DIR/sigd.json (the store, DIR/sigd.db, is made at the first serve);
 * with a new cluster CA, its admin credentials CA_DIR/admin.{crt,key}.
 * CS_EEXISTS when DIR has a node. */
CS_EXTERN int cs_sigd_init(const struct cs_sigd_init_options *o);

typedef struct cs_sigd cs_sigd;

/* Open the store and load its certificates (skipping, with a warning, any
 * that no longer pass the trust anchors and CRLs), bind the listening
 * socket and start the lookup and health threads. */
CS_EXTERN int cs_sigd_new(cs_sigd **out, const struct cs_sigd_config *c);
/* The bound port. */
CS_EXTERN int cs_sigd_port(const cs_sigd *s);
/* Serve until SIGINT/SIGTERM or cs_sigd_stop. */
CS_EXTERN int cs_sigd_run(cs_sigd *s);
CS_EXTERN void cs_sigd_stop(cs_sigd *s);
/* Stop the threads and free; NULL is a no-op. */
CS_EXTERN void cs_sigd_free(cs_sigd *s);

#endif
