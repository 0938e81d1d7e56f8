#ifndef CERTSYNC_RELAY_H
#define CERTSYNC_RELAY_H
/*
 * The relay sync engine (DESIGN §6), without sockets: the source side
 * (produce a sealed delta for destinations) and the destination side (open
 * and apply it). Blobs travel through a cs_relay_io supplied by the caller:
 * the agent binds it to the hub's HTTPS API, tests bind it to a directory.
 */
#include <certsync/common.h>
#include <certsync/identity.h>
#include <certsync/index.h>

#define CS_PACK_TARGET (4u << 20) /* a pack is closed once it reaches this size */
#define CS_PACK_MAX (8u << 20)    /* and never grows past this (what a hub takes) */

struct cs_relay_produce_result;
struct cs_relay_apply_result;

/* How blobs of a job are stored and fetched. */
typedef struct cs_relay_io {
	void *ud;
	/* Store blob name of job. May return before the blob is stored (the
	 * data is copied); flush then reports the outcome. */
	int (*put_blob)(void *ud, uint64_t job, const char *name, const uint8_t *data, size_t len);
	/* Optional: as put_blob, but data (from cs_bigmem_alloc) is taken
	 * over instead of copied, and released with cs_bigmem_free by the
	 * callee, also when it fails. Used for packs. */
	int (*take_blob)(void *ud, uint64_t job, const char *name, uint8_t *data, size_t len);
	/* Optional: wait until every blob passed to put_blob is stored; the
	 * first failure of any of them. */
	int (*flush)(void *ud);
	/* Optional: the header is stored (flush first) and the rest follows;
	 * destinations may start. planned holds nothing yet (zeros). */
	int (*ready)(void *ud, uint64_t job, const struct cs_relay_produce_result *planned);
	/* Fetch blob name of job into a new block (*data, *len) from malloc or
	 * cs_bigmem_alloc; the caller releases it with cs_bigmem_free(). */
	int (*get_blob)(void *ud, uint64_t job, const char *name, uint8_t **data, size_t *len);
	/* Optional: the job is applied and durable (res is final). Called
	 * before the destination's index is told what was written, which can
	 * take a while for many files, so that the caller can acknowledge at
	 * once. A failure here is what cs_relay_apply returns. */
	int (*applied)(void *ud, uint64_t job, const struct cs_relay_apply_result *res);
	/* Optional: a hint that blob name will be fetched soon. */
	void (*prefetch)(void *ud, uint64_t job, const char *name);
	/* Optional: report progress while applying. */
	void (*progress)(void *ud, uint64_t job, uint64_t files_done, uint64_t files_total,
		uint64_t bytes_done, uint64_t bytes_total);
} cs_relay_io;

/* This device: its key, certificate and the trust anchor (hub CA) with the
 * current CRL (may be NULL). */
typedef struct cs_relay_self {
	const cs_key *key;
	const cs_cert *cert;
	const char *device_id;
	const cs_cert *ca;
	const char *crl_pem;
} cs_relay_self;

/* A destination of a produce request. */
typedef struct cs_relay_dest {
	const char *device_id;
	const cs_cert *cert;
	uint64_t history; /* the source sequence number it has applied */
} cs_relay_dest;

typedef struct cs_relay_produce_result {
	uint64_t from_seq, to_seq;
	uint64_t files;   /* manifest entries */
	uint64_t records; /* data records uploaded */
	uint64_t packs;
	uint64_t segments; /* manifest segments uploaded */
	uint64_t bytes;   /* ciphertext bytes uploaded, all blobs */
	int announced;    /* ready() was called: destinations may have started */
} cs_relay_produce_result;

/* Source side. Checks every destination certificate (chain to the CA,
 * validity, revocation, device ID), uploads the header (sealed to every
 * destination) and calls io->ready, then rescans the folder and uploads one
 * delta for all destinations while it scans: after each batch of scanned
 * changes a manifest segment and the packs of the chunks it needs, then the
 * changes of earlier scans that a destination lacks, then the trailer
 * (signed: the manifest's hash and every count). Entries changed since the
 * smallest history go, and only the chunks that became part of the folder
 * after it; a file that changed since it was scanned fails the job. */
CS_EXTERN int cs_relay_produce(cs_relay_produce_result *res, cs_index *ix, const char *folder,
	uint64_t job, const cs_relay_self *self, const cs_relay_dest *dests, size_t ndests,
	const cs_relay_io *io);

typedef struct cs_relay_apply_result {
	uint64_t to_seq;
	uint64_t files;     /* entries applied (written, deleted or updated) */
	uint64_t bytes;     /* file bytes written */
	uint64_t downloaded;/* ciphertext bytes fetched */
	uint64_t conflicts; /* local changes kept aside */
	int applied;        /* 1 once the job is applied and durable, even if
	                     * cs_relay_io.applied failed afterwards */
} cs_relay_apply_result;

/* What the hub told the destination about the job. */
typedef struct cs_relay_apply_request {
	uint64_t job;
	const char *folder;
	const char *source_id;
	const cs_cert *source_cert; /* as registered at the hub */
	uint64_t history;
	uint64_t to_seq;
} cs_relay_apply_request;

/* Destination side. Opens the header with this device's key, checks that it
 * was signed by the expected source (same certificate, chain, revocation),
 * that it belongs to this job and folder, authenticates the manifest and
 * every record, and applies the changes atomically file by file: temporary
 * file, hash check, fsync, rename. A local change that would be overwritten
 * is kept as "<name>.sync-conflict-<date>-<time>-<device>[.ext]". Nothing is
 * written before the header and manifest have been verified. Safe to run
 * again after a crash: finished files are recognised by their hash. */
CS_EXTERN int cs_relay_apply(cs_relay_apply_result *res, cs_index *ix,
	const cs_relay_apply_request *req, const cs_relay_self *self, const cs_relay_io *io);

/* Remove leftover temporary files (from a crash) below the folder's root. */
CS_EXTERN int cs_relay_clean_tmp(cs_index *ix, const char *folder);

#endif
