/*
 * Account sync of one folder (include/certsync/account_sync.h,
 * PROTOCOL.md §11.6). The hub stores records and versions; everything else
 * happens here:
 *
 *  1. scan the folder (index.h);
 *  2. pull: read the folder's collection since the version seen last and,
 *     for every remote record, compare three states of its path: the
 *     remote one, the local one (index) and the base (what this device and
 *     the account last agreed on, table as_base).
 *       local == remote            nothing to write; base := remote
 *       local == base              a remote change: apply it
 *       otherwise                  both changed: the local file is renamed
 *                                  to a conflict copy and the remote one
 *                                  applied (a local edit against a remote
 *                                  deletion is kept and pushed instead)
 *  3. scan again, then push every path whose local state differs from its
 *     base: new chunks first (collection "chunks"), then the path records
 *     with if_version = the base's version. A 412 means another device
 *     got there first: go back to 2 (a few rounds at most).
 *
 * A conflict copy is an ordinary new file, so the push uploads it and
 * every device ends up with both versions. Files are written to a
 * temporary file in their directory, checked chunk by chunk and against
 * the record's content hash, fsynced and renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/index.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include <certsync/store.h>
#include "account/local.h"

#define CHUNKS_COLLECTION "chunks"
#define ROUNDS_MAX 5
#define GROUP_BYTES (32u << 20)   /* chunk bytes fetched before applying */
#define FETCH_BYTES (12u << 20)   /* chunk bytes asked for in one get (the hub answers up to 16 MiB) */
#define FETCH_IDS 1000
#define CONTENT_MAX (6u << 20)    /* a path record's JSON */
#define PAYLOAD_B64_MAX (9u << 20)

static const char *const schema =
	"CREATE TABLE IF NOT EXISTS as_folders ("
	"  account TEXT NOT NULL, folder TEXT NOT NULL, since INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (account, folder));"
	"CREATE TABLE IF NOT EXISTS as_base ("
	"  account TEXT NOT NULL, folder TEXT NOT NULL, path TEXT NOT NULL,"
	"  version INTEGER NOT NULL, kind INTEGER NOT NULL, deleted INTEGER NOT NULL,"
	"  mode INTEGER NOT NULL, hash BLOB,"
	"  PRIMARY KEY (account, folder, path));"
	"CREATE TABLE IF NOT EXISTS as_chunks ("
	"  account TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (account, id));";

/* A chunk fetched for the current group. */
struct fetched {
	uint8_t hash[CS_HASH_LEN];
	uint8_t *data;
	uint32_t len;
};

struct syncer {
	const char *folder;
	struct cs__acct_session s;
	struct cs__acct_conn cn;
	cs_store *st;
	cs_index *ix;
	char *root;
	char coll[40]; /* the folder's collection */
	cs_acct_sync_stats *stats;
	cs_acct_progress_fn progress;
	void *ud;
	const volatile int *cancel;
	uint64_t done, total;
	struct fetched *got;
	size_t ngot, got_alloc;
	char **rmdirs; /* directories deleted remotely, removed at the end */
	size_t nrmdirs;
	struct staged {  /* files written to temporary names, to put in place */
		char *tmp, *full, *path;
	} *staged;
	size_t nstaged;
};

static int cancelled(struct syncer *y)
{
	if (y->cancel && *y->cancel)
		return cs_error_set(CS_ESTATE, "sync interrupted");
	return CS_OK;
}

static void progress(struct syncer *y, const char *phase)
{
	if (y->progress)
		y->progress(y->ud, phase, y->done, y->total);
}

/* ---- state comparison ---- */

static void state_of_entry(struct cs__acct_state *p, const cs_file_entry *e)
{
	memset(p, 0, sizeof(*p));
	if (e == NULL || e->deleted)
		return;
	p->exists = 1;
	p->kind = e->kind;
	p->mode = e->mode & 07777;
	if (e->kind == CS_KIND_FILE)
		memcpy(p->hash, e->hash, CS_HASH_LEN);
}

static int state_eq(const struct cs__acct_state *a, const struct cs__acct_state *b)
{
	if (a->exists != b->exists)
		return 0;
	if (!a->exists)
		return 1;
	return a->kind == b->kind && a->mode == b->mode &&
		(a->kind != CS_KIND_FILE || memcmp(a->hash, b->hash, CS_HASH_LEN) == 0);
}

/* Same content, ignoring the mode: enough to skip writing the bytes. */
static int content_eq(const struct cs__acct_state *a, const struct cs__acct_state *b)
{
	return a->exists && b->exists && a->kind == b->kind &&
		(a->kind != CS_KIND_FILE || memcmp(a->hash, b->hash, CS_HASH_LEN) == 0);
}

/* ---- the base (as_base) ---- */

static int base_get(struct cs__acct_state *p, int64_t *version, struct syncer *y, const char *path)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st,
		"SELECT version, kind, deleted, mode, hash FROM as_base "
		"WHERE account = ? AND folder = ? AND path = ?");
	memset(p, 0, sizeof(*p));
	*version = 0;
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, y->folder);
	cs_stmt_bind_text(q, 3, path);
	if ((r = cs_stmt_step(q)) == 1) {
		size_t hl = 0;
		const void *h = cs_stmt_blob(q, 4, &hl);
		*version = cs_stmt_int64(q, 0);
		p->kind = (int)cs_stmt_int64(q, 1);
		p->exists = !cs_stmt_int64(q, 2);
		p->mode = (uint32_t)cs_stmt_int64(q, 3);
		if (h != NULL && hl == CS_HASH_LEN)
			memcpy(p->hash, h, CS_HASH_LEN);
		r = 1;
	}
	cs_stmt_free(q);
	return r; /* 1 found, 0 none, < 0 error */
}

static int base_set(struct syncer *y, const char *path, int64_t version, const struct cs__acct_state *p)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st,
		"INSERT OR REPLACE INTO as_base (account, folder, path, version, kind, deleted, mode, hash) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, y->folder);
	cs_stmt_bind_text(q, 3, path);
	cs_stmt_bind_int64(q, 4, version);
	cs_stmt_bind_int64(q, 5, p->kind);
	cs_stmt_bind_int64(q, 6, !p->exists);
	cs_stmt_bind_int64(q, 7, p->mode);
	if (p->exists && p->kind == CS_KIND_FILE)
		cs_stmt_bind_blob(q, 8, p->hash, CS_HASH_LEN);
	else
		cs_stmt_bind_null(q, 8);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

static int since_get(int64_t *since, struct syncer *y)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st, "SELECT since FROM as_folders WHERE account = ? AND folder = ?");
	*since = 0;
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, y->folder);
	if ((r = cs_stmt_step(q)) == 1)
		*since = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

static int since_set(struct syncer *y, int64_t since)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st,
		"INSERT OR REPLACE INTO as_folders (account, folder, since) VALUES (?, ?, ?)");
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, y->folder);
	cs_stmt_bind_int64(q, 3, since);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

static int chunk_known(struct syncer *y, const char *id)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st, "SELECT 1 FROM as_chunks WHERE account = ? AND id = ?");
	if (r < 0)
		return 0;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, id);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r == 1;
}

static int chunk_mark(struct syncer *y, const char *id)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, y->st, "INSERT OR IGNORE INTO as_chunks (account, id) VALUES (?, ?)");
	if (r < 0)
		return r;
	cs_stmt_bind_text(q, 1, y->s.account);
	cs_stmt_bind_text(q, 2, id);
	r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

static int chunk_id(char out[33], struct syncer *y, const uint8_t hash[CS_HASH_LEN])
{
	char hex[2 * CS_HASH_LEN + 1];
	cs_hex_encode(hex, hash, CS_HASH_LEN);
	return cs__acct_name(out, y->s.dk, "chunk", hex, NULL);
}

/* A record's sealed payload: from the answer's attachments ("payload_at",
 * "payload_len") or from base64 ("payload"). *out points into att, or is
 * malloc'd (*owned set). CS_ENOTFOUND for a record without payload. */
static int record_payload(const uint8_t **out, size_t *len, uint8_t **owned, json_t *rec,
	const uint8_t *att, size_t att_len)
{
	json_t *at = json_object_get(rec, "payload_at"), *pl = json_object_get(rec, "payload_len");
	const char *b64 = json_string_value(json_object_get(rec, "payload"));
	*owned = NULL;
	if (json_is_integer(at) && json_is_integer(pl)) {
		json_int_t a = json_integer_value(at), n = json_integer_value(pl);
		if (a < 0 || n < 0 || (uint64_t)a > att_len || (uint64_t)n > att_len - (uint64_t)a)
			return cs_error_set(CS_EMALFORMED, "a record's payload lies outside the answer");
		*out = att + a;
		*len = (size_t)n;
		return CS_OK;
	}
	if (b64 == NULL)
		return CS_ENOTFOUND;
	if (cs_base64_decode(owned, len, b64, PAYLOAD_B64_MAX) < 0)
		return cs_error_set(CS_EMALFORMED, "a record's payload is not base64");
	*out = *owned;
	return CS_OK;
}

/* Decrypt and decode one record of a changes answer. */
static int remote_from_json(struct cs__acct_path *rm, struct syncer *y, json_t *rec,
	const uint8_t *att, size_t att_len)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	json_t *ver = json_object_get(rec, "version");
	const uint8_t *sealed = NULL;
	uint8_t *owned = NULL, *plain = NULL;
	size_t sl = 0, pl = 0;
	int r;

	memset(rm, 0, sizeof(*rm));
	if (id == NULL || !json_is_integer(ver))
		return cs_error_set(CS_EMALFORMED, "changes: a record without id or version");
	if ((r = record_payload(&sealed, &sl, &owned, rec, att, att_len)) == CS_ENOTFOUND) {
		rm->version = json_integer_value(ver);
		return CS_ENOTFOUND; /* removed at the record level: not written by this client */
	}
	if (r < 0)
		return r;
	r = cs__acct_payload_open(&plain, &pl, y->s.dk, y->coll, id, sealed, sl);
	free(owned);
	if (r < 0)
		return r;
	r = cs__acct_path_decode(rm, plain, pl);
	rm->version = json_integer_value(ver);
	/* the id must be the one this path maps to: no record moved between paths */
	char want[33];
	if (r == 0 && ((r = cs__acct_name(want, y->s.dk, "path", y->folder, rm->path)) < 0 ||
		       strcmp(want, id) != 0))
		r = r < 0 ? r : cs_error_set(CS_EAUTH, "record %s does not belong to path %s", id, rm->path);
	free(plain);
	if (r < 0)
		cs__acct_path_clear(rm);
	return r;
}

/* ---- chunks: fetching and finding ---- */

static int fetched_cmp(const void *a, const void *b)
{
	return memcmp(((const struct fetched *)a)->hash, ((const struct fetched *)b)->hash, CS_HASH_LEN);
}

static void fetched_clear(struct syncer *y)
{
	for (size_t i = 0; i < y->ngot; i++)
		free(y->got[i].data);
	y->ngot = 0;
}

static struct fetched *fetched_find(struct syncer *y, const uint8_t hash[CS_HASH_LEN])
{
	struct fetched key;
	memcpy(key.hash, hash, CS_HASH_LEN);
	return y->ngot ? bsearch(&key, y->got, y->ngot, sizeof(*y->got), fetched_cmp) : NULL;
}

/* Read a chunk from a local file that holds it, checking its hash. */
static int local_chunk(uint8_t **out, struct syncer *y, const cs_chunk_ref *c)
{
	char *rel = NULL, *full = NULL;
	uint64_t off;
	uint32_t len;
	uint8_t *buf = NULL, h[CS_HASH_LEN];
	int fd = -1, r = cs_index_chunk_locate(&rel, &off, &len, y->ix, y->folder, c->hash);
	if (r < 0)
		return r;
	r = CS_ENOTFOUND;
	if (len != c->len || (full = cs_path_join(y->root, rel)) == NULL ||
	    (buf = malloc(len ? len : 1)) == NULL || (fd = open(full, O_RDONLY | O_CLOEXEC)) < 0 ||
	    pread(fd, buf, len, (off_t)off) != (ssize_t)len)
		goto done;
	cs_sha256(h, buf, len);
	if (memcmp(h, c->hash, CS_HASH_LEN) != 0)
		goto done; /* changed since the scan */
	*out = buf;
	buf = NULL;
	r = CS_OK;
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(rel);
	free(full);
	cs_error_clear();
	return r;
}

/* Ask the hub for the chunks of ids[0..n) (hashes alongside). */
static int fetch_batch(struct syncer *y, char (*ids)[33], const uint8_t (*hashes)[CS_HASH_LEN],
	const uint32_t *lens, size_t n)
{
	json_t *list = json_array(), *resp = NULL;
	int status, r;
	if (list == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_string(ids[i]));
	uint8_t *att = NULL;
	size_t att_len = 0;
	if ((r = cs__acct_call_att(&y->cn, "/v1/account/records/get",
		     json_pack("{s:s, s:o, s:b}", "collection", CHUNKS_COLLECTION, "ids", list,
			     "attachments", 1), NULL, 0, &resp, &status, &att, &att_len)) < 0)
		return r;
	json_t *recs = json_object_get(resp, "records");
	for (size_t i = 0; i < n; i++) {
		json_t *rec = NULL;
		for (size_t k = 0; k < json_array_size(recs); k++) {
			const char *id = json_string_value(json_object_get(json_array_get(recs, k), "id"));
			if (id && strcmp(id, ids[i]) == 0)
				rec = json_array_get(recs, k);
		}
		const uint8_t *sealed = NULL;
		uint8_t *owned = NULL, *plain = NULL, h[CS_HASH_LEN];
		size_t sl = 0, pl = 0;
		if (rec == NULL || (r = record_payload(&sealed, &sl, &owned, rec, att, att_len)) == CS_ENOTFOUND) {
			r = cs_error_set(CS_ENOTFOUND, "chunk record %s is missing on the hub", ids[i]);
			break;
		}
		if (r < 0)
			break;
		r = cs__acct_payload_open(&plain, &pl, y->s.dk, CHUNKS_COLLECTION, ids[i], sealed, sl);
		free(owned);
		if (r < 0)
			break;
		cs_sha256(h, plain, pl);
		if (pl != lens[i] || memcmp(h, hashes[i], CS_HASH_LEN) != 0) {
			free(plain);
			r = cs_error_set(CS_EAUTH, "chunk record %s does not hold the chunk it names", ids[i]);
			break;
		}
		if (y->ngot == y->got_alloc) {
			size_t na = y->got_alloc ? 2 * y->got_alloc : 64;
			struct fetched *g = realloc(y->got, na * sizeof(*g));
			if (g == NULL) {
				free(plain);
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			y->got = g;
			y->got_alloc = na;
		}
		memcpy(y->got[y->ngot].hash, hashes[i], CS_HASH_LEN);
		y->got[y->ngot].data = plain;
		y->got[y->ngot].len = (uint32_t)pl;
		y->ngot++;
		y->stats->chunks_down++;
		y->stats->bytes_down += pl;
		y->done += pl;
	}
	json_decref(resp);
	free(att);
	qsort(y->got, y->ngot, sizeof(*y->got), fetched_cmp);
	progress(y, "pull");
	return r;
}

/* Fetch every chunk the files to write in rms[0..n) need and this device
 * cannot read from its own files. */
static int fetch_group(struct syncer *y, struct cs__acct_path *rms, const int *write, size_t n)
{
	char (*ids)[33] = malloc(FETCH_IDS * sizeof(*ids));
	uint8_t (*hashes)[CS_HASH_LEN] = malloc(FETCH_IDS * sizeof(*hashes));
	uint32_t lens[FETCH_IDS];
	size_t k = 0, bytes = 0;
	int r = CS_OK;

	if (ids == NULL || hashes == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		if (!write[i])
			continue;
		for (size_t c = 0; c < rms[i].nchunks && r == 0; c++) {
			const cs_chunk_ref *ch = &rms[i].chunks[c];
			uint8_t *tmp = NULL;
			int dup = fetched_find(y, ch->hash) != NULL;
			for (size_t q = 0; q < k && !dup; q++)
				dup = memcmp(hashes[q], ch->hash, CS_HASH_LEN) == 0;
			if (dup)
				continue;
			if (local_chunk(&tmp, y, ch) == 0) {
				free(tmp);
				continue;
			}
			if ((r = chunk_id(ids[k], y, ch->hash)) < 0)
				break;
			memcpy(hashes[k], ch->hash, CS_HASH_LEN);
			lens[k++] = ch->len;
			bytes += ch->len;
			if (k == FETCH_IDS || bytes >= FETCH_BYTES) {
				r = fetch_batch(y, ids, (const uint8_t(*)[CS_HASH_LEN])hashes, lens, k);
				k = 0;
				bytes = 0;
			}
		}
	}
	if (r == 0 && k > 0)
		r = fetch_batch(y, ids, (const uint8_t(*)[CS_HASH_LEN])hashes, lens, k);
done:
	free(ids);
	free(hashes);
	return r;
}

/* Fetch one chunk now. */
static int fetch_one(struct syncer *y, const cs_chunk_ref *c)
{
	char id[1][33];
	uint8_t hash[1][CS_HASH_LEN];
	uint32_t len = c->len;
	int r = chunk_id(id[0], y, c->hash);
	if (r < 0)
		return r;
	memcpy(hash[0], c->hash, CS_HASH_LEN);
	return fetch_batch(y, id, (const uint8_t(*)[CS_HASH_LEN])hash, &len, 1);
}

/* ---- writing ---- */

/* Write rm's content to a temporary file next to full and rename it into
 * place. Every chunk is checked against its hash on the way. */
static int stage_file(struct syncer *y, const struct cs__acct_path *rm, const char *full)
{
	char *slash = strrchr(full, '/'), tmp[8192];
	int fd = -1, r;

	*slash = 0;
	if ((r = cs_fs_mkdirs(full, 0755)) == 0)
		r = fd = cs_fs_temp_in(tmp, sizeof(tmp), full, CS_TMP_PREFIX);
	*slash = '/';
	if (r < 0)
		return r;
	r = CS_OK;
	for (size_t i = 0; i < rm->nchunks; i++) {
		const cs_chunk_ref *c = &rm->chunks[i];
		uint8_t *own = NULL;
		const uint8_t *data;
		struct fetched *f = fetched_find(y, c->hash);
		if (f != NULL) {
			data = f->data;
		} else if (local_chunk(&own, y, c) == 0) {
			data = own;
		} else if ((r = fetch_one(y, c)) == 0 && (f = fetched_find(y, c->hash)) != NULL) {
			/* the local copy went away (a file deleted or replaced earlier
			 * in this pull): fetch it after all */
			data = f->data;
		} else {
			r = r < 0 ? r : cs_error_set(CS_ENOTFOUND, "%s: chunk %zu is missing", rm->path, i);
			goto fail;
		}
		ssize_t w = pwrite(fd, data, c->len, (off_t)c->offset);
		free(own);
		if (w != (ssize_t)c->len) {
			r = cs_error_set(CS_EIO, "write %s: %s", tmp, w < 0 ? strerror(errno) : "short write");
			goto fail;
		}
	}
	if (fchmod(fd, rm->st.mode & 07777) != 0 || (r = cs_file_set_mtime(fd, tmp, rm->mtime_ns)) < 0) {
		r = cs_error_set(CS_EIO, "finish %s: %s", tmp, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	/* put in place by put_staged, after one syncfs for the whole group */
	struct staged *v = realloc(y->staged, (y->nstaged + 1) * sizeof(*v));
	if (v == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	y->staged = v;
	if ((v[y->nstaged].tmp = strdup(tmp)) == NULL || (v[y->nstaged].full = strdup(full)) == NULL ||
	    (v[y->nstaged].path = strdup(rm->path)) == NULL) {
		free(v[y->nstaged].tmp);
		free(v[y->nstaged].full);
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	y->nstaged++;
	return CS_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

/* Make the path's local state the remote one. */
static int apply(struct syncer *y, const struct cs__acct_path *rm, const struct cs__acct_state *local)
{
	char *full = cs_path_join(y->root, rm->path);
	int r = CS_OK;
	if (full == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (!rm->st.exists) {
		if (local->exists && local->kind == CS_KIND_FILE) {
			if (unlink(full) != 0 && errno != ENOENT)
				r = cs_error_set(CS_EIO, "remove %s: %s", full, strerror(errno));
		} else if (local->exists && local->kind == CS_KIND_DIR) {
			char **v = realloc(y->rmdirs, (y->nrmdirs + 1) * sizeof(*v));
			if (v == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
			} else {
				y->rmdirs = v;
				y->rmdirs[y->nrmdirs++] = full;
				full = NULL;
			}
		}
	} else if (rm->st.kind == CS_KIND_DIR) {
		if ((r = cs_fs_mkdirs(full, 0755)) == 0 && chmod(full, rm->st.mode) != 0)
			r = cs_error_set(CS_EIO, "chmod %s: %s", full, strerror(errno));
	} else if (content_eq(local, &rm->st)) {
		if (chmod(full, rm->st.mode) != 0 || cs_file_set_mtime(-1, full, rm->mtime_ns) < 0)
			r = cs_error_set(CS_EIO, "set mode and time of %s: %s", full, strerror(errno));
	} else {
		r = stage_file(y, rm, full);
	}
	free(full);
	if (r == 0)
		y->stats->pulled++;
	return r;
}

/* Keep the local file at rm->path as a conflict copy. */
static int keep_conflict(struct syncer *y, const char *path)
{
	char aside[8192];
	char *full = cs_path_join(y->root, path);
	int r = CS_OK;
	if (full == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	cs_conflict_name(aside, sizeof(aside), full, y->s.device);
	if (rename(full, aside) != 0)
		r = cs_error_set(CS_EIO, "keep conflicting %s: %s", full, strerror(errno));
	else
		cs_log(CS_LOG_WARN, "account.conflict", "path=\"%s\" kept_as=\"%s\"", full, aside);
	free(full);
	if (r == 0)
		y->stats->conflicts++;
	return r;
}

/* What to do with one remote record: 1 apply, 0 only record the base. */
static int decide(struct syncer *y, const struct cs__acct_path *rm, struct cs__acct_state *local, int *write)
{
	cs_file_entry *e = NULL;
	struct cs__acct_state base;
	int64_t bv;
	int r = cs_index_get(&e, y->ix, y->folder, rm->path);
	if (r < 0 && r != CS_ENOTFOUND)
		return r;
	state_of_entry(local, r == 0 ? e : NULL);
	cs_file_entry_free(e);
	*write = 0;
	if (state_eq(local, &rm->st))
		return CS_OK;
	if ((r = base_get(&base, &bv, y, rm->path)) < 0)
		return r;
	/* the record is what this device already agreed on (typically its own
	 * push coming back): only a local change is left, for the push */
	if (r == 1 && state_eq(&rm->st, &base))
		return CS_OK;
	if (state_eq(local, &base) || (!local->exists && !base.exists)) {
		*write = 1; /* a remote change only */
		return CS_OK;
	}
	/* both sides changed the path */
	if (local->exists && local->kind == CS_KIND_FILE && rm->st.exists) {
		if ((r = keep_conflict(y, rm->path)) < 0)
			return r;
		memset(local, 0, sizeof(*local));
		*write = 1;
	} else if (!local->exists && rm->st.exists) {
		*write = 1; /* deleted here, changed there: the change wins */
	}
	/* else: changed here, deleted or turned into a directory there: keep
	 * the local version; the push uploads it over the remote one */
	return CS_OK;
}

/* Make what was written under the folder durable: one syncfs() instead of
 * an fsync per file (the same file system holds every file of the folder). */
static int sync_folder(struct syncer *y)
{
	return cs_fs_syncfs(y->root);
}

static void staged_clear(struct syncer *y)
{
	for (size_t i = 0; i < y->nstaged; i++) {
		if (y->staged[i].tmp != NULL)
			unlink(y->staged[i].tmp);
		free(y->staged[i].tmp);
		free(y->staged[i].full);
		free(y->staged[i].path);
	}
	free(y->staged);
	y->staged = NULL;
	y->nstaged = 0;
}

/* Put the staged files in place: they are durable first (syncfs), so no
 * rename can ever expose a file whose bytes are not on disk. */
static int put_staged(struct syncer *y)
{
	int r = y->nstaged ? sync_folder(y) : CS_OK;
	for (size_t i = 0; i < y->nstaged && r == 0; i++) {
		struct staged *st = &y->staged[i];
		if (rename(st->tmp, st->full) != 0) {
			r = cs_error_set(CS_EIO, "rename into %s: %s", st->full, strerror(errno));
			break;
		}
		free(st->tmp);
		st->tmp = NULL;
		/* same size and (coarse) mtime as the file it replaced is
		 * possible: the next scan must read it */
		r = cs_index_recheck(y->ix, y->folder, st->path);
	}
	staged_clear(y);
	return r;
}

/* Apply the records of one changes page in groups of bounded memory. */
static int pull_page(struct syncer *y, json_t *recs, const uint8_t *att, size_t att_len, int64_t *since)
{
	size_t n = json_array_size(recs), start = 0;
	struct cs__acct_path *rms = calloc(n ? n : 1, sizeof(*rms));
	struct cs__acct_state *locals = calloc(n ? n : 1, sizeof(*locals));
	int *write = calloc(n ? n : 1, sizeof(int)), *skip = calloc(n ? n : 1, sizeof(int));
	int r = CS_OK;

	if (rms == NULL || locals == NULL || write == NULL || skip == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		r = remote_from_json(&rms[i], y, json_array_get(recs, i), att, att_len);
		if (r == CS_ENOTFOUND) {
			skip[i] = 1;
			r = CS_OK;
		}
	}
	while (r == 0 && start < n) {
		/* a group: records up to GROUP_BYTES of file content */
		size_t end = start, bytes = 0;
		for (; end < n && (end == start || bytes < GROUP_BYTES); end++) {
			if (skip[end])
				continue;
			if ((r = decide(y, &rms[end], &locals[end], &write[end])) < 0)
				break;
			if (write[end] && rms[end].st.exists && rms[end].st.kind == CS_KIND_FILE)
				bytes += rms[end].size;
		}
		if (r < 0)
			break;
		if ((r = fetch_group(y, rms + start, write + start, end - start)) < 0 || (r = cancelled(y)) < 0)
			break;
		if ((r = cs_store_begin(y->st)) < 0)
			break;
		/* deletions last: a file written in this group may take its
		 * chunks from a file that the group deletes (a rename) */
		for (size_t i = start; i < end && r == 0; i++)
			if (!skip[i] && write[i] && rms[i].st.exists)
				r = apply(y, &rms[i], &locals[i]);
		if (r == 0)
			r = put_staged(y);
		for (size_t i = start; i < end && r == 0; i++) {
			if (!skip[i] && write[i] && !rms[i].st.exists)
				r = apply(y, &rms[i], &locals[i]);
			if (!skip[i] && r == 0)
				r = base_set(y, rms[i].path, rms[i].version, &rms[i].st);
			if (r == 0 && rms[i].version > *since)
				*since = rms[i].version;
		}
		if (r == 0)
			r = since_set(y, *since);
		/* the folder's new state is on disk before the bases say so */
		int wrote = 0;
		for (size_t i = start; i < end; i++)
			wrote |= !skip[i] && write[i];
		if (r == 0 && wrote)
			r = sync_folder(y);
		if (r == 0)
			r = cs_store_commit(y->st);
		else
			cs_store_rollback(y->st);
		fetched_clear(y);
		start = end;
	}
done:
	for (size_t i = 0; rms && i < n; i++)
		cs__acct_path_clear(&rms[i]);
	free(rms);
	free(locals);
	free(write);
	free(skip);
	return r;
}

static int pull(struct syncer *y)
{
	int64_t since;
	int r = since_get(&since, y);
	json_t *resp = NULL;
	int more = 1, status;

	while (r == 0 && more) {
		uint8_t *att = NULL;
		size_t att_len = 0;
		if ((r = cs__acct_call_att(&y->cn, "/v1/account/records/changes",
			     json_pack("{s:s, s:I, s:i, s:b}", "collection", y->coll, "since", (json_int_t)since,
				     "limit", 1000, "attachments", 1), NULL, 0, &resp, &status, &att, &att_len)) < 0)
			break;
		more = json_is_true(json_object_get(resp, "more"));
		json_t *v = json_object_get(resp, "version");
		if (json_is_integer(v))
			y->stats->version = (uint64_t)json_integer_value(v);
		r = pull_page(y, json_object_get(resp, "records"), att, att_len, &since);
		free(att);
		json_decref(resp);
		resp = NULL;
	}
	/* directories deleted remotely: deepest first, only when empty */
	for (size_t i = y->nrmdirs; i-- > 0;) {
		if (rmdir(y->rmdirs[i]) != 0 && errno != ENOENT)
			cs_log(CS_LOG_WARN, "account.rmdir", "path=\"%s\" error=\"%s\"", y->rmdirs[i],
				strerror(errno));
		free(y->rmdirs[i]);
	}
	y->nrmdirs = 0;
	return r;
}

/* ---- pushing ---- */

/* A local change to upload. */
struct change {
	cs_file_entry *e; /* owned copy */
	int64_t base_version;
	int has_base;
};

struct changes {
	struct change *v;
	size_t n, alloc;
	uint64_t bytes;
};

struct collect {
	struct syncer *y;
	struct changes *out;
	int r;
};

static cs_file_entry *entry_dup(const cs_file_entry *e)
{
	cs_file_entry *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	*d = *e;
	d->path = strdup(e->path);
	d->chunks = e->nchunks ? malloc(e->nchunks * sizeof(*e->chunks)) : NULL;
	if (d->path == NULL || (e->nchunks && d->chunks == NULL)) {
		free(d->path);
		free(d->chunks);
		free(d);
		return NULL;
	}
	if (e->nchunks)
		memcpy(d->chunks, e->chunks, e->nchunks * sizeof(*e->chunks));
	return d;
}

static int collect_one(void *ud, const cs_file_entry *e)
{
	struct collect *c = ud;
	struct cs__acct_state local, base;
	int64_t bv;
	int r = base_get(&base, &bv, c->y, e->path);
	if (r < 0) {
		c->r = r;
		return 1;
	}
	state_of_entry(&local, e);
	if ((r == 0 && !local.exists) || (r == 1 && state_eq(&local, &base)))
		return 0;
	struct changes *ch = c->out;
	if (ch->n == ch->alloc) {
		size_t na = ch->alloc ? 2 * ch->alloc : 256;
		struct change *v = realloc(ch->v, na * sizeof(*v));
		if (v == NULL) {
			c->r = cs_error_set(CS_ENOMEM, "out of memory");
			return 1;
		}
		ch->v = v;
		ch->alloc = na;
	}
	if ((ch->v[ch->n].e = entry_dup(e)) == NULL) {
		c->r = cs_error_set(CS_ENOMEM, "out of memory");
		return 1;
	}
	ch->v[ch->n].base_version = bv;
	ch->v[ch->n].has_base = r == 1;
	if (local.exists && e->kind == CS_KIND_FILE)
		ch->bytes += e->size;
	ch->n++;
	return 0;
}

static void changes_clear(struct changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		cs_file_entry_free(ch->v[i].e);
	free(ch->v);
	memset(ch, 0, sizeof(*ch));
}

/* An upload batch being filled. */
struct batch {
	json_t *records;
	cs_buf *att;          /* the sealed payloads, sent as attachments */
	size_t bytes;
	const char *collection;
	/* for path records: the changes in it, to record their bases after */
	size_t *which;
	size_t n;
	/* for chunk records: the ids, to mark after */
	char (*ids)[33];
};

static int batch_init(struct batch *b, const char *collection)
{
	memset(b, 0, sizeof(*b));
	b->collection = collection;
	b->records = json_array();
	b->att = cs_buf_new(CS__ACCT_BATCH_BYTES + (8u << 20));
	b->which = malloc(CS__ACCT_BATCH_RECORDS * sizeof(*b->which));
	b->ids = malloc(CS__ACCT_BATCH_RECORDS * sizeof(*b->ids));
	if (b->records == NULL || b->att == NULL || b->which == NULL || b->ids == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	return CS_OK;
}

static void batch_free(struct batch *b)
{
	json_decref(b->records);
	cs_buf_free(b->att);
	free(b->which);
	free(b->ids);
	memset(b, 0, sizeof(*b));
}

static int batch_full(const struct batch *b, size_t next)
{
	return b->n > 0 && (b->n == CS__ACCT_BATCH_RECORDS || b->bytes + next > CS__ACCT_BATCH_BYTES);
}

/* Seal content for (collection, id) and add it to the batch. */
static int batch_add(struct syncer *y, struct batch *b, const char *id, const uint8_t *content,
	size_t len, int with_precondition, int64_t if_version)
{
	uint8_t *sealed = NULL;
	size_t sl = 0, at = cs_buf_len(b->att);
	int r = cs__acct_payload_seal(&sealed, &sl, y->s.dk, b->collection, id, content, len);
	if (r < 0)
		return r;
	r = cs_buf_put(b->att, sealed, sl);
	free(sealed);
	if (r < 0)
		return r;
	json_t *rec = json_pack("{s:s, s:I, s:I}", "id", id, "payload_at", (json_int_t)at,
		"payload_len", (json_int_t)sl);
	if (rec == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (with_precondition)
		json_object_set_new(rec, "if_version", json_integer(if_version));
	json_array_append_new(b->records, rec);
	snprintf(b->ids[b->n], sizeof(b->ids[b->n]), "%s", id);
	b->n++;
	b->bytes += sl;
	return CS_OK;
}

/* Send a batch. 1 when the hub answered 412 (conflicts), 0 when written. */
static int batch_send(struct syncer *y, struct batch *b, json_t **resp)
{
	int status, r;
	*resp = NULL;
	if (b->n == 0)
		return 0;
	json_t *req = json_pack("{s:s, s:O}", "collection", b->collection, "records", b->records);
	if ((r = cs__acct_call_att(&y->cn, "/v1/account/records/upload", req, cs_buf_ptr(b->att),
		     cs_buf_len(b->att), resp, &status, NULL, NULL)) < 0)
		return r;
	return status == 412 ? 1 : 0;
}

static void batch_reset(struct batch *b)
{
	json_array_clear(b->records);
	cs_buf_reset(b->att);
	b->n = 0;
	b->bytes = 0;
}

static int send_chunks(struct syncer *y, struct batch *b)
{
	json_t *resp = NULL;
	int r = batch_send(y, b, &resp);
	json_decref(resp);
	if (r == 1)
		return cs_error_set(CS_EINVAL, "the hub refused an unconditional chunk upload");
	for (size_t i = 0; r == 0 && i < b->n; i++)
		r = chunk_mark(y, b->ids[i]);
	y->stats->chunks_up += b->n;
	batch_reset(b);
	progress(y, "push");
	return r;
}

/* Upload the chunks of a changed file that the hub does not hold yet.
 * CS_ECONFLICT when the file changed since the scan (skipped this run). */
static int push_file_chunks(struct syncer *y, struct batch *b, const cs_file_entry *e)
{
	char *full = cs_path_join(y->root, e->path);
	uint8_t *buf = NULL, h[CS_HASH_LEN];
	int fd = -1, r = CS_OK;

	if (full == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < e->nchunks && r == 0; i++) {
		const cs_chunk_ref *c = &e->chunks[i];
		char id[33];
		if ((r = chunk_id(id, y, c->hash)) < 0)
			break;
		int dup = chunk_known(y, id);
		for (size_t k = 0; k < b->n && !dup; k++)
			dup = strcmp(b->ids[k], id) == 0;
		if (dup) {
			y->done += c->len;
			continue;
		}
		if (fd < 0 && (fd = open(full, O_RDONLY | O_CLOEXEC)) < 0) {
			r = CS_ECONFLICT;
			break;
		}
		uint8_t *nb = realloc(buf, c->len ? c->len : 1);
		if (nb == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		buf = nb;
		if (pread(fd, buf, c->len, (off_t)c->offset) != (ssize_t)c->len) {
			r = CS_ECONFLICT;
			break;
		}
		cs_sha256(h, buf, c->len);
		if (memcmp(h, c->hash, CS_HASH_LEN) != 0) {
			r = CS_ECONFLICT;
			break;
		}
		if (batch_full(b, c->len) && (r = send_chunks(y, b)) < 0)
			break;
		if ((r = batch_add(y, b, id, buf, c->len, 0, 0)) < 0)
			break;
		y->stats->bytes_up += c->len;
		y->done += c->len;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(full);
	return r;
}

/* Send the path records of a batch; record the new bases. 1 on 412. */
static int send_paths(struct syncer *y, struct batch *b, struct changes *ch)
{
	json_t *resp = NULL;
	int r = batch_send(y, b, &resp);
	if (r == 0 && b->n > 0) {
		json_t *vers = json_object_get(resp, "versions");
		if (json_array_size(vers) != b->n) {
			r = cs_error_set(CS_EMALFORMED, "upload: the hub answered %zu versions for %zu records",
				json_array_size(vers), b->n);
		} else if ((r = cs_store_begin(y->st)) == 0) {
			for (size_t i = 0; i < b->n && r == 0; i++) {
				struct cs__acct_state p;
				const cs_file_entry *e = ch->v[b->which[i]].e;
				state_of_entry(&p, e);
				r = base_set(y, e->path, json_integer_value(json_array_get(vers, i)), &p);
			}
			if (r == 0)
				r = cs_store_commit(y->st);
			else
				cs_store_rollback(y->st);
		}
		y->stats->pushed += b->n;
	} else if (r == 1) {
		json_t *c = json_object_get(resp, "conflicts");
		cs_log(CS_LOG_INFO, "account.push_conflict", "folder=%s conflicts=%zu", y->folder,
			json_array_size(c));
		for (size_t i = 0; i < json_array_size(c); i++) {
			const char *id = json_string_value(json_object_get(json_array_get(c, i), "id"));
			for (size_t k = 0; id && k < b->n; k++)
				if (strcmp(b->ids[k], id) == 0)
					cs_log(CS_LOG_DEBUG, "account.push_conflict_path", "path=\"%s\" hub_version=%lld",
						ch->v[b->which[k]].e->path, (long long)json_integer_value(
							json_object_get(json_array_get(c, i), "version")));
		}
	}
	json_decref(resp);
	batch_reset(b);
	return r;
}

/* 0 when every local change was pushed, 1 when the hub said 412. */
static int push(struct syncer *y)
{
	struct changes ch = {0};
	struct collect c = {y, &ch, 0};
	struct batch chunks, paths;
	int r, conflict = 0;

	if ((r = batch_init(&chunks, CHUNKS_COLLECTION)) < 0 || (r = batch_init(&paths, y->coll)) < 0)
		goto done;
	if ((r = cs_index_changes_since(y->ix, y->folder, 0, collect_one, &c)) < 0 || (r = c.r) < 0)
		goto done;
	if (ch.n == 0)
		goto done;
	y->done = 0;
	y->total = ch.bytes;
	for (size_t i = 0; i < ch.n && r == 0; i++) {
		const cs_file_entry *e = ch.v[i].e;
		if (e->deleted && !ch.v[i].has_base)
			continue;
		if (!e->deleted && e->kind == CS_KIND_FILE) {
			r = push_file_chunks(y, &chunks, e);
			if (r == CS_ECONFLICT) {
				/* changed since the scan: the next run takes it */
				cs_log(CS_LOG_INFO, "account.changed_during_push", "path=\"%s\"", e->path);
				cs_error_clear();
				r = CS_OK;
				continue;
			}
			if (r < 0)
				break;
		}
		char id[33], *content = cs__acct_path_encode(e, y->s.device);
		if (content == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		size_t cl = strlen(content);
		if (cl > CONTENT_MAX) {
			free(content);
			r = cs_error_set(CS_ELIMIT, "%s: too many chunks for one record", e->path);
			break;
		}
		if ((r = cs__acct_name(id, y->s.dk, "path", y->folder, e->path)) < 0) {
			free(content);
			break;
		}
		/* a path record is sent only after the chunks it names */
		if (batch_full(&paths, cl) || paths.n == CS__ACCT_BATCH_RECORDS) {
			if ((r = send_chunks(y, &chunks)) < 0 || (r = send_paths(y, &paths, &ch)) != 0) {
				free(content);
				conflict = r == 1;
				break;
			}
		}
		paths.which[paths.n] = i;
		r = batch_add(y, &paths, id, (const uint8_t *)content, cl, 1,
			ch.v[i].has_base ? ch.v[i].base_version : 0);
		free(content);
		if (r == 0)
			r = cancelled(y);
	}
	if (r == 0 && (r = send_chunks(y, &chunks)) == 0)
		r = send_paths(y, &paths, &ch);
	if (r == 1) {
		conflict = 1;
		r = CS_OK;
	}
done:
	batch_free(&chunks);
	batch_free(&paths);
	changes_clear(&ch);
	return r < 0 ? r : conflict;
}

/* ---- the run ---- */

static void scan_progress(void *ud, const cs_scan_stats *so_far)
{
	struct syncer *y = ud;
	y->done = so_far->hashed_bytes;
	y->total = 0;
	progress(y, "scan");
}

static int scan(struct syncer *y)
{
	int r = cs_index_scan(y->ix, y->folder, NULL, scan_progress, y);
	return r < 0 ? cs_error_wrap("scan %s", y->root) : CS_OK;
}

static int open_syncer(struct syncer *y, const char *data_dir, const volatile int *cancel)
{
	char *db = cs_path_join(data_dir, "device.db");
	char name[33];
	int r;
	if (db == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (!cs_fs_exists(db)) {
		free(db);
		return cs_error_set(CS_ENOTFOUND, "%s: no device here; run 'certsync device init'", data_dir);
	}
	r = cs_store_open(&y->st, db);
	free(db);
	if (r < 0 || (r = cs_store_exec(y->st, schema)) < 0 || (r = cs_index_open(&y->ix, y->st)) < 0)
		return r;
	if ((r = cs_index_folder_root(&y->root, y->ix, y->folder)) < 0)
		return r == CS_ENOTFOUND ? cs_error_set(CS_ENOTFOUND,
			"no folder %s on this device (add it with 'certsync folder add')", y->folder) : r;
	if ((r = cs__acct_session_load(&y->s, data_dir)) < 0)
		return r;
	if ((r = cs__acct_name(name, y->s.dk, "folder", y->folder, NULL)) < 0)
		return r;
	snprintf(y->coll, sizeof(y->coll), "f.%s", name);
	return cs__acct_conn_open(&y->cn, &y->s, cancel);
}

static void close_syncer(struct syncer *y)
{
	fetched_clear(y);
	free(y->got);
	for (size_t i = 0; i < y->nrmdirs; i++)
		free(y->rmdirs[i]);
	free(y->rmdirs);
	staged_clear(y);
	cs__acct_conn_close(&y->cn);
	cs__acct_session_clear(&y->s);
	cs_index_close(y->ix);
	cs_store_close(y->st);
	free(y->root);
}

int cs_acct_sync_run(cs_acct_sync_stats *stats, const char *data_dir, const char *folder,
	cs_acct_progress_fn progress_fn, void *ud, const volatile int *cancel)
{
	struct syncer y;
	int r;

	memset(&y, 0, sizeof(y));
	memset(stats, 0, sizeof(*stats));
	y.folder = folder;
	y.stats = stats;
	y.progress = progress_fn;
	y.ud = ud;
	y.cancel = cancel;
	if ((r = open_syncer(&y, data_dir, cancel)) < 0 || (r = scan(&y)) < 0)
		goto done;
	for (int round = 0; round < ROUNDS_MAX; round++) {
		stats->rounds++;
		if ((r = pull(&y)) < 0 || (r = cancelled(&y)) < 0 || (r = scan(&y)) < 0 ||
		    (r = push(&y)) <= 0)
			break;
		/* 412: another device pushed first; pull its change and retry */
	}
	if (r == 1)
		r = cs_error_set(CS_ECONFLICT, "other devices kept changing %s; run the sync again", folder);
done:
	stats->requests = y.cn.requests;
	if (r < 0)
		cs_log(CS_LOG_WARN, "account.sync_failed", "folder=%s error=\"%s\"", folder, cs_error_last());
	else
		cs_log(CS_LOG_INFO, "account.synced", "folder=%s pulled=%llu pushed=%llu conflicts=%llu "
			"version=%llu", folder, (unsigned long long)stats->pulled,
			(unsigned long long)stats->pushed, (unsigned long long)stats->conflicts,
			(unsigned long long)stats->version);
	close_syncer(&y);
	return r;
}

struct pending_count {
	struct syncer *y;
	uint64_t n;
	int r;
};

static int count_one(void *ud, const cs_file_entry *e)
{
	struct pending_count *pc = ud;
	struct cs__acct_state local, base;
	int64_t bv;
	int r = base_get(&base, &bv, pc->y, e->path);
	if (r < 0) {
		pc->r = r;
		return 1;
	}
	state_of_entry(&local, e);
	if (!((r == 0 && !local.exists) || (r == 1 && state_eq(&local, &base))))
		pc->n++;
	return 0;
}

int cs_acct_sync_pending(uint64_t *pending, uint64_t *version, const char *data_dir,
	const char *folder)
{
	struct syncer y;
	struct pending_count pc = {&y, 0, 0};
	int64_t since = 0;
	char *db = cs_path_join(data_dir, "device.db"), name[33];
	int r;

	memset(&y, 0, sizeof(y));
	y.folder = folder;
	if (db == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	r = cs_store_open(&y.st, db);
	free(db);
	if (r == 0 && (r = cs_store_exec(y.st, schema)) == 0 && (r = cs_index_open(&y.ix, y.st)) == 0 &&
	    (r = cs_index_folder_root(&y.root, y.ix, folder)) == 0 &&
	    (r = cs__acct_session_load(&y.s, data_dir)) == 0 &&
	    (r = cs__acct_name(name, y.s.dk, "folder", folder, NULL)) == 0 &&
	    (r = cs_index_changes_since(y.ix, folder, 0, count_one, &pc)) == 0 && (r = pc.r) == 0 &&
	    (r = since_get(&since, &y)) == 0) {
		*pending = pc.n;
		*version = (uint64_t)since;
	}
	cs__acct_session_clear(&y.s);
	cs_index_close(y.ix);
	cs_store_close(y.st);
	free(y.root);
	return r;
}
