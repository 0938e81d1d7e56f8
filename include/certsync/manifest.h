#ifndef CERTSYNC_MANIFEST_H
#define CERTSYNC_MANIFEST_H
/*
 * The plaintext formats of a relay-sync session (docs/PROTOCOL.md §7-9):
 * the session header (sealed to the destinations), the manifest (what
 * changed, and where each chunk travels), and the pack framing of sealed
 * records. Decoders check every length, count and rule before returning.
 */
#include <certsync/common.h>
#include <certsync/envelope.h>

#define CS_RECORD_NONE UINT64_MAX       /* chunk not sent: the destination holds it */
#define CS_RECORD_PLAIN_MAX (4u << 20)  /* largest record plaintext */
#define CS_MANIFEST_RECORD_PLAIN (1u << 20) /* manifest plaintext per record */
#define CS_MANIFEST_MAX (256u << 20)    /* largest manifest plaintext */
#define CS_MANIFEST_ENTRIES_MAX 10000000u
#define CS_FOLDER_ID_MAX 64

/* The content of the sealed header, the session's first blob: who sends,
 * to whom, and the key. What the session holds is only known once the
 * source has scanned, and comes in the trailer. */
typedef struct cs_session_header {
	uint64_t job;
	char *folder;
	char *source;
	uint64_t from_seq;
	cs_session_key key;
	char **recipients;    /* device IDs the header is sealed to */
	uint32_t nrecipients; /* <= CS_HEADER_RECIPIENTS_MAX */
} cs_session_header;

#define CS_HEADER_RECIPIENTS_MAX 10000

/* Encode h into a new heap block. */
CS_EXTERN int cs_session_header_encode(uint8_t **out, size_t *len, const cs_session_header *h);
/* Decode; on success *out owns its strings (free with _clear). */
CS_EXTERN int cs_session_header_decode(cs_session_header *out, const uint8_t *data, size_t len);
/* Free strings and wipe the key. */
CS_EXTERN void cs_session_header_clear(cs_session_header *h);

/* The content of the sealed trailer, the session's last blob: what the
 * manifest segments and packs add up to, signed by the source like the
 * header, so that nothing can be left out or added on the way. */
typedef struct cs_session_trailer {
	uint64_t job;
	uint8_t session_id[CS_SESSION_ID_LEN];
	uint64_t to_seq;
	uint32_t segments;         /* manifest blobs m0 .. m<segments-1> */
	uint32_t manifest_records; /* kind-2 records in them */
	uint64_t manifest_len;     /* plaintext bytes in them */
	uint8_t manifest_hash[32]; /* SHA-256 of the segments' plaintexts, in order */
	uint64_t data_records;
	uint32_t packs;
} cs_session_trailer;

#define CS_SEGMENTS_MAX (1u << 20)
#define CS_PACKS_MAX (1u << 20)
/* Records in one pack: a pack blob is at most 8 MiB (CS_PACK_MAX in
 * relay.h), and a framed record at least 21 bytes. */
#define CS_PACK_RECORDS_MAX ((8u << 20) / 21)

/* Encode t into a new heap block. */
CS_EXTERN int cs_session_trailer_encode(uint8_t **out, size_t *len, const cs_session_trailer *t);
/* Decode and check the ranges. */
CS_EXTERN int cs_session_trailer_decode(cs_session_trailer *out, const uint8_t *data, size_t len);

typedef struct cs_manifest_chunk {
	uint8_t hash[32];
	uint32_t len;
	uint64_t record; /* CS_RECORD_NONE when not sent */
} cs_manifest_chunk;

enum { CS_MANIFEST_DELETED = 1, CS_MANIFEST_HAS_PREV = 2 };

typedef struct cs_manifest_entry {
	char *path;
	uint8_t kind;  /* enum cs_entry_kind (index.h) */
	uint8_t flags; /* CS_MANIFEST_* */
	uint32_t mode;
	int64_t mtime_ns;
	uint64_t size;
	uint64_t seq;
	uint8_t hash[32];
	uint8_t prev_hash[32];
	uint32_t nchunks;
	cs_manifest_chunk *chunks;
} cs_manifest_entry;

typedef struct cs_manifest_pack {
	uint64_t first_record;
	uint32_t nrecords;
} cs_manifest_pack;

typedef struct cs_manifest {
	cs_manifest_entry *entries;
	size_t nentries, cap_entries;
	cs_manifest_pack *packs;
	size_t npacks, cap_packs;
} cs_manifest;

/* Append a copy of e (path and chunks copied). */
CS_EXTERN int cs_manifest_add_entry(cs_manifest *m, const cs_manifest_entry *e);
/* Append a pack range. */
CS_EXTERN int cs_manifest_add_pack(cs_manifest *m, uint64_t first_record, uint32_t nrecords);
/*
 * A manifest travels in segments (blobs m0, m1, ...), each sent as soon as
 * the source has scanned the files it lists, ahead of the packs that carry
 * their chunks. Encode entries[first_entry..] and packs[first_pack..] of m
 * as one segment; last marks the final one.
 */
CS_EXTERN int cs_manifest_segment_encode(uint8_t **out, size_t *len, const cs_manifest *m,
	size_t first_entry, size_t first_pack, int last);
/* Decode one segment and append its entries and packs to m, checking paths,
 * chunk sums, and that its packs continue the record numbering at
 * *next_record, which advances past them. A chunk may name any record up to
 * the end of this segment's packs. *last is set from the segment. */
CS_EXTERN int cs_manifest_segment_decode(cs_manifest *m, const uint8_t *data, size_t len,
	uint64_t *next_record, int *last);
/* Free everything in m and zero it. */
CS_EXTERN void cs_manifest_clear(cs_manifest *m);

/* 1 when path is a safe relative path (PROTOCOL §9), else 0. */
CS_EXTERN int cs_manifest_path_valid(const char *path, size_t len);

/* Walk the records of a pack: on success *rec and *rec_len point at the next
 * sealed record inside pack and *off advances. Returns 1 when a record was
 * read, 0 at the end, CS_EMALFORMED on broken framing. */
CS_EXTERN int cs_pack_next(const uint8_t **rec, size_t *rec_len, const uint8_t *pack,
	size_t pack_len, size_t *off);

#endif
