/* Destination side of relay sync (include/certsync/relay.h).
 *
 * Order of work: verify the header (signer, chain, job), rescan the local
 * folder, then segment by segment as the source sends them: authenticate
 * and decode the manifest segment and stage its new and changed files (this
 * thread fetches, decrypts and checks chunks; a writer thread fills the
 * temporary files, stage_writer.h). Then verify the trailer (signer, the
 * hash and counts of everything received), make the staged files durable
 * with one syncfs, rename them into place in path order, then deletions in
 * reverse path order, then directory metadata, then one more syncfs. Only
 * then are the new bases recorded and the caller acknowledges. A crash
 * anywhere leaves either the old or the new version of each file, and a
 * rerun skips finished files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/envelope.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/manifest.h>
#include <certsync/relay.h>
#include <certsync/secure.h>
#include "stage_writer.h"

#define PACK_CACHE 2

struct cached_pack {
	int64_t index; /* -1 when empty */
	uint8_t *data;
	size_t len;
	size_t *offsets; /* record i of the pack starts at data + offsets[i] */
	size_t *lens;
	uint32_t nrecords;
};

struct touched_dir {
	char *path;
	struct timespec mtime; /* before our changes */
	int have_mtime;
};

struct applier {
	cs_index *ix;
	const cs_relay_apply_request *req;
	const cs_relay_self *self;
	const cs_relay_io *io;
	char *root;
	cs_session_header h;
	cs_session_trailer t;
	cs_manifest m;
	size_t *order; /* entry indices in path order, once the trailer is checked */
	uint32_t segments, manifest_records; /* received so far */
	uint64_t manifest_len, next_record;
	cs_sha256_ctx *mhash; /* over the received segments' plaintexts */
	struct cached_pack cache[PACK_CACHE];
	unsigned cache_next;
	struct cs_stage_writer writer;
	char **staged; /* per manifest entry: its temporary file, or NULL */
	uint8_t *in_place; /* per manifest entry: this job wrote it to its path */
	size_t cap_entries; /* room in staged and in_place */
	struct touched_dir *dirs; /* directories changed: restore mtime, fsync */
	size_t ndirs;
	uint64_t files_total, bytes_total, files_done, bytes_done;
	int64_t last_progress;
	cs_relay_apply_result *res;
};

static void progress(struct applier *a, int force)
{
	if (a->io->progress == NULL)
		return;
	int64_t now = cs_clock_mono_ms();
	if (!force && now - a->last_progress < 500)
		return;
	a->last_progress = now;
	a->io->progress(a->io->ud, a->req->job, a->files_done, a->files_total, a->bytes_done,
		a->bytes_total);
}

static int get_blob(struct applier *a, const char *name, uint8_t **data, size_t *len)
{
	int r = a->io->get_blob(a->io->ud, a->req->job, name, data, len);
	if (r < 0)
		return cs_error_wrap("download %s", name);
	a->res->downloaded += *len;
	return CS_OK;
}

/* Download blob name, open it with our key and check that it was signed
 * by the job's source as registered at the hub, still valid under our
 * trust anchor. */
static int open_signed(struct applier *a, const char *name, uint8_t **plain, size_t *plain_len)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	cs_cert *signer = NULL;
	char fp1[CS_FINGERPRINT_SIZE], fp2[CS_FINGERPRINT_SIZE];
	int r;
	if ((r = get_blob(a, name, &der, &der_len)) < 0)
		return r;
	if ((r = cs_envelope_open(plain, plain_len, &signer, der, der_len, a->self->key,
		     a->self->cert)) < 0) {
		cs_error_wrap("session %s", name);
		goto done;
	}
	if ((r = cs_cert_fingerprint(fp1, signer)) < 0 ||
	    (r = cs_cert_fingerprint(fp2, a->req->source_cert)) < 0)
		goto done;
	if (strcmp(fp1, fp2) != 0) {
		r = cs_error_set(CS_EAUTH, "session %s is not signed by the job's source device", name);
		goto done;
	}
	if ((r = cs_cert_verify(signer, a->self->ca, a->self->crl_pem, 0)) < 0)
		cs_error_wrap("source certificate");
done:
	if (r < 0 && *plain) {
		cs_freezero(*plain, *plain_len);
		*plain = NULL;
	}
	cs_bigmem_free(der);
	cs_cert_free(signer);
	return r;
}

static int open_header(struct applier *a)
{
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	int r;
	if ((r = open_signed(a, "header", &plain, &plain_len)) < 0)
		return r;
	if ((r = cs_session_header_decode(&a->h, plain, plain_len)) < 0)
		goto done;
	if (a->h.job != a->req->job || strcmp(a->h.folder, a->req->folder) != 0 ||
	    strcmp(a->h.source, a->req->source_id) != 0) {
		r = cs_error_set(CS_EAUTH, "session header belongs to another job (job %llu, folder %s)",
			(unsigned long long)a->h.job, a->h.folder);
		goto done;
	}
	int named = 0;
	for (uint32_t i = 0; i < a->h.nrecipients && !named; i++)
		named = strcmp(a->h.recipients[i], a->self->device_id) == 0;
	if (!named)
		r = cs_error_set(CS_EAUTH, "session header was not sealed for this device");
done:
	cs_freezero(plain, plain_len);
	return r;
}

/* The trailer: signed like the header, for this session, and it must
 * account for exactly what came. */
static int open_trailer(struct applier *a)
{
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	uint8_t hash[32];
	int r;
	if ((r = open_signed(a, "trailer", &plain, &plain_len)) < 0)
		return r;
	r = cs_session_trailer_decode(&a->t, plain, plain_len);
	cs_freezero(plain, plain_len);
	if (r < 0)
		return r;
	cs_sha256_final(a->mhash, hash);
	a->mhash = NULL;
	if (a->t.job != a->req->job || !cs_memeq(a->t.session_id, a->h.key.session_id, CS_SESSION_ID_LEN))
		return cs_error_set(CS_EAUTH, "session trailer belongs to another session");
	if (a->t.segments != a->segments || a->t.manifest_records != a->manifest_records ||
	    a->t.manifest_len != a->manifest_len || !cs_memeq(hash, a->t.manifest_hash, 32))
		return cs_error_set(CS_EAUTH, "manifest does not match the session trailer "
			"(%u segments received, %u signed)", a->segments, a->t.segments);
	if (a->t.data_records != a->next_record || a->t.packs != a->m.npacks)
		return cs_error_set(CS_EAUTH, "packs do not match the session trailer");
	if (a->t.to_seq < a->h.from_seq)
		return cs_error_set(CS_EMALFORMED, "session trailer ends before the session starts");
	return CS_OK;
}

/* Fetch, authenticate and decode manifest segment m<k> (its records are
 * numbered on from the previous segments'), appending its entries and
 * packs to the manifest. */
static int load_segment(struct applier *a, int *last)
{
	uint8_t *blob = NULL, *plain = NULL;
	size_t blob_len = 0, off = 0, got = 0;
	uint32_t count = 0;
	char name[32];
	int r;
	snprintf(name, sizeof(name), "m%u", a->segments);
	if ((r = get_blob(a, name, &blob, &blob_len)) < 0)
		return r;
	/* the records' plaintext is shorter than the blob */
	plain = malloc(blob_len + 1);
	if (plain == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (;;) {
		const uint8_t *rec;
		size_t rec_len;
		if ((r = cs_pack_next(&rec, &rec_len, blob, blob_len, &off)) < 0)
			goto done;
		if (r == 0)
			break;
		uint32_t index = a->manifest_records + count;
		if (index < a->manifest_records) {
			r = cs_error_set(CS_EMALFORMED, "too many manifest records");
			goto done;
		}
		if ((r = cs_record_open(plain + got, &a->h.key, CS_RECORD_MANIFEST, index, rec, rec_len)) < 0) {
			cs_error_wrap("manifest record %u", index);
			goto done;
		}
		got += rec_len - CS_RECORD_TAG_LEN;
		count++;
	}
	if (count == 0) {
		r = cs_error_set(CS_EMALFORMED, "manifest segment %s is empty", name);
		goto done;
	}
	if (got > CS_MANIFEST_MAX - a->manifest_len) {
		r = cs_error_set(CS_ELIMIT, "manifest larger than %u bytes", CS_MANIFEST_MAX);
		goto done;
	}
	cs_sha256_update(a->mhash, plain, got);
	if ((r = cs_manifest_segment_decode(&a->m, plain, got, &a->next_record, last)) < 0)
		goto done;
	a->segments++;
	a->manifest_records += count;
	a->manifest_len += got;
done:
	cs_bigmem_free(blob);
	free(plain);
	return r;
}

static void cache_clear(struct cached_pack *c)
{
	cs_bigmem_free(c->data);
	free(c->offsets);
	free(c->lens);
	memset(c, 0, sizeof(*c));
	c->index = -1;
}

static int fetch_pack(struct applier *a, size_t pi, struct cached_pack **out)
{
	for (unsigned i = 0; i < PACK_CACHE; i++)
		if (a->cache[i].index == (int64_t)pi) {
			*out = &a->cache[i];
			return CS_OK;
		}
	struct cached_pack *c = &a->cache[a->cache_next++ % PACK_CACHE];
	char name[32];
	/* Packs are read in order: ask for the next ones while this one is
	 * verified and written. */
	for (size_t k = pi + 1; a->io->prefetch && k < a->m.npacks && k <= pi + 3; k++) {
		snprintf(name, sizeof(name), "p%zu", k);
		a->io->prefetch(a->io->ud, a->req->job, name);
	}
	size_t off = 0;
	int r;
	cache_clear(c);
	snprintf(name, sizeof(name), "p%zu", pi);
	if ((r = get_blob(a, name, &c->data, &c->len)) < 0)
		return r;
	uint32_t want = a->m.packs[pi].nrecords;
	c->offsets = calloc(want, sizeof(size_t));
	c->lens = calloc(want, sizeof(size_t));
	if (c->offsets == NULL || c->lens == NULL) {
		cache_clear(c);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	for (;;) {
		const uint8_t *rec;
		size_t rec_len;
		if ((r = cs_pack_next(&rec, &rec_len, c->data, c->len, &off)) < 0)
			break;
		if (r == 0)
			break;
		if (c->nrecords == want) {
			r = cs_error_set(CS_EMALFORMED, "pack %s holds more records than announced", name);
			break;
		}
		c->offsets[c->nrecords] = (size_t)(rec - c->data);
		c->lens[c->nrecords] = rec_len;
		c->nrecords++;
	}
	if (r == 0 && c->nrecords != want)
		r = cs_error_set(CS_ETRUNCATED, "pack %s truncated: %u of %u records", name,
			c->nrecords, want);
	if (r < 0) {
		cache_clear(c);
		return r;
	}
	c->index = (int64_t)pi;
	*out = c;
	return CS_OK;
}

/* Decrypt the chunk's record into out and check it is the expected chunk. */
static int record_chunk(struct applier *a, const cs_manifest_chunk *ch, uint8_t *out)
{
	size_t lo = 0, hi = a->m.npacks;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (a->m.packs[mid].first_record <= ch->record)
			lo = mid;
		else
			hi = mid;
	}
	struct cached_pack *c = NULL;
	int r = fetch_pack(a, lo, &c);
	if (r < 0)
		return r;
	uint64_t i = ch->record - a->m.packs[lo].first_record;
	if (c->lens[i] != (size_t)ch->len + CS_RECORD_TAG_LEN)
		return cs_error_set(CS_EAUTH, "chunk record %llu has the wrong length",
			(unsigned long long)ch->record);
	r = cs_record_open(out, &a->h.key, CS_RECORD_DATA, ch->record, c->data + c->offsets[i], c->lens[i]);
	if (r < 0)
		return cs_error_set(CS_EAUTH, "chunk record %llu failed authentication (altered, "
			"reordered or from another session)", (unsigned long long)ch->record);
	uint8_t h[32];
	cs_sha256(h, out, ch->len);
	if (!cs_memeq(h, ch->hash, 32))
		return cs_error_set(CS_EAUTH, "chunk record %llu does not hold the announced chunk",
			(unsigned long long)ch->record);
	return CS_OK;
}

/* Read a chunk this device already holds (in any of its files) into out. */
static int local_chunk(struct applier *a, const cs_manifest_chunk *ch, uint8_t *out)
{
	char *path = NULL, *full = NULL;
	uint64_t off;
	uint32_t len;
	int fd = -1, r = cs_index_chunk_locate(&path, &off, &len, a->ix, a->req->folder, ch->hash);
	if (r < 0)
		goto done;
	r = CS_ENOTFOUND;
	if (len != ch->len || (full = cs_path_join(a->root, path)) == NULL)
		goto done;
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || pread(fd, out, len, (off_t)off) != (ssize_t)len)
		goto done;
	uint8_t h[32];
	cs_sha256(h, out, len);
	if (cs_memeq(h, ch->hash, 32))
		r = CS_OK;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	free(full);
	return r;
}

static int get_chunk(struct applier *a, const cs_manifest_entry *e, uint32_t i, uint8_t *out)
{
	const cs_manifest_chunk *ch = &e->chunks[i];
	/* A chunk we hold locally saves a download; a sent one is the fallback
	 * when our copy has changed since the last scan. */
	if (local_chunk(a, ch, out) == CS_OK)
		return CS_OK;
	if (ch->record != CS_RECORD_NONE)
		return record_chunk(a, ch, out);
	return cs_error_set(CS_ENOTFOUND, "%s: chunk %u is neither sent nor held locally "
		"(local copy changed); a full resync is needed", e->path, i);
}

/* Remember the directory holding path, and its mtime before we change
 * anything in it: renames and deletions bump a directory's mtime, and the
 * source's directory times must survive the sync. Call before the change. */
static int note_dir(struct applier *a, const char *path)
{
	char *dir = strdup(path);
	if (dir == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = 0;
	/* Entries come in path order: the match, if any, is most likely the
	 * directory noted last. */
	for (size_t i = a->ndirs; i-- > 0;)
		if (strcmp(a->dirs[i].path, dir) == 0) {
			free(dir);
			return CS_OK;
		}
	struct touched_dir *n = realloc(a->dirs, (a->ndirs + 1) * sizeof(*n));
	if (n == NULL) {
		free(dir);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	a->dirs = n;
	struct stat st;
	a->dirs[a->ndirs].path = dir;
	a->dirs[a->ndirs].have_mtime = lstat(dir, &st) == 0;
	if (a->dirs[a->ndirs].have_mtime)
		a->dirs[a->ndirs].mtime = st.st_mtim;
	a->ndirs++;
	return CS_OK;
}

/* Is the local version a change of our own, one the sync must not lose? */
static int is_local_change(struct applier *a, const cs_file_entry *local, const cs_manifest_entry *e)
{
	uint8_t base[32];
	if (local == NULL || local->deleted || local->kind != CS_KIND_FILE)
		return 0;
	if (memcmp(local->hash, e->hash, 32) == 0)
		return 0;
	if ((e->flags & CS_MANIFEST_HAS_PREV) && memcmp(local->hash, e->prev_hash, 32) == 0)
		return 0;
	if (cs_index_base_get(base, a->ix, a->req->folder, a->req->source_id, local->path) == 0 &&
	    memcmp(local->hash, base, 32) == 0)
		return 0;
	return 1;
}

/* Fetch, check and hand entry i's chunks to the writer, which stages them
 * in a temporary file (a->staged[i] once finished). The file is abandoned
 * when its content does not hash to the manifest's. */
static int write_temp(struct applier *a, size_t idx)
{
	const cs_manifest_entry *e = &a->m.entries[idx];
	int r = cs_stage_writer_open(&a->writer, idx, e->path, e->size);
	if (r < 0)
		return r;
	cs_sha256_ctx *fh = cs_sha256_new();
	if (fh == NULL) {
		cs_stage_writer_abandon(&a->writer);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < e->nchunks && r == 0; i++) {
		uint32_t len = e->chunks[i].len;
		uint8_t *data = malloc(len ? len : 1);
		if (data == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		if ((r = get_chunk(a, e, i, data)) < 0) {
			cs_freezero(data, len);
			break;
		}
		cs_sha256_update(fh, e->chunks[i].hash, 32);
		if ((r = cs_stage_writer_data(&a->writer, data, len)) < 0)
			break;
		a->bytes_done += len;
		a->res->bytes += len;
		progress(a, 0);
	}
	uint8_t h[32];
	cs_sha256_final(fh, h);
	if (r == 0 && memcmp(h, e->hash, 32) != 0)
		r = cs_error_set(CS_EAUTH, "%s: content hash does not match the manifest", e->path);
	/* No fsync per file: one syncfs() after staging makes every staged
	 * file durable before the first rename (sync_root), at a fraction of
	 * the cost for many small files. */
	if (r == 0)
		return cs_stage_writer_finish(&a->writer, e->mode, e->mtime_ns);
	cs_stage_writer_abandon(&a->writer);
	return r;
}

/* Move a local version aside as a conflict copy. */
static int keep_conflict(struct applier *a, const char *full)
{
	char aside[8192];
	cs_conflict_name(aside, sizeof(aside), full, a->self->device_id);
	if (rename(full, aside) != 0)
		return cs_error_set(CS_EIO, "keep conflicting %s: %s", full, strerror(errno));
	a->res->conflicts++;
	cs_log(CS_LOG_WARN, "relay.conflict", "path=\"%s\" kept_as=\"%s\"", full, aside);
	return CS_OK;
}

/* Phase 1: fetch, verify and write a changed file to a temporary file. */
static int stage_file(struct applier *a, size_t i)
{
	const cs_manifest_entry *e = &a->m.entries[i];
	cs_file_entry *local = NULL;
	int r = cs_index_get(&local, a->ix, a->req->folder, e->path);
	if (r == CS_ENOTFOUND)
		r = CS_OK;
	if (r == 0 && !(local && !local->deleted && local->kind == CS_KIND_FILE &&
			memcmp(local->hash, e->hash, 32) == 0))
		r = write_temp(a, i);
	cs_file_entry_free(local);
	return r;
}

/* Phase 2: put a staged file in place, or fix the metadata of a file that
 * already has the content (also the case after a crash). */
static int commit_file(struct applier *a, size_t i, const cs_file_entry *local, const char *full)
{
	const cs_manifest_entry *e = &a->m.entries[i];
	char *tmp = a->staged[i];
	int r;
	if (tmp == NULL) {
		if (local == NULL || local->deleted || memcmp(local->hash, e->hash, 32) != 0)
			return cs_error_set(CS_ECONFLICT, "%s changed during the sync", e->path);
		if ((local->mode & 07777) != e->mode && chmod(full, e->mode) != 0)
			return cs_error_set(CS_EIO, "chmod %s: %s", e->path, strerror(errno));
		if (local->mtime_ns != e->mtime_ns && (r = cs_file_set_mtime(-1, full, e->mtime_ns)) < 0)
			return r;
		a->bytes_done += e->size;
		return cs_index_base_set(a->ix, a->req->folder, a->req->source_id, e->path, e->hash);
	}
	if ((r = note_dir(a, full)) < 0)
		return r;
	if (is_local_change(a, local, e) && (r = keep_conflict(a, full)) < 0)
		return r;
	const char *slash = strrchr(full, '/');
	char *parent = strndup(full, (size_t)(slash - full));
	if (parent == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	/* Our copy may have lost a parent the source did not change. */
	r = cs_fs_exists(parent) ? CS_OK : cs_fs_mkdirs(parent, 0755);
	free(parent);
	if (r < 0)
		return r;
	if (local == NULL || local->deleted) {
		/* Never clobber a file that appeared after our scan. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, full, RENAME_NOREPLACE) != 0) {
			if (errno != EEXIST)
				return cs_error_set(CS_EIO, "rename into %s: %s", e->path, strerror(errno));
			struct stat st;
			if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
				return cs_error_set(CS_ECONFLICT, "%s is a directory here", e->path);
			if ((r = keep_conflict(a, full)) < 0)
				return r;
			if (rename(tmp, full) != 0)
				return cs_error_set(CS_EIO, "rename into %s: %s", e->path, strerror(errno));
		}
	} else if (rename(tmp, full) != 0) {
		return cs_error_set(CS_EIO, "rename into %s: %s", e->path, strerror(errno));
	}
	/* staged without its set-id and sticky bits (stage_writer.c) */
	if ((e->mode & 07000) && chmod(full, e->mode & 07777) != 0)
		return cs_error_set(CS_EIO, "chmod %s: %s", e->path, strerror(errno));
	free(tmp);
	a->staged[i] = NULL;
	a->in_place[i] = 1;
	return cs_index_base_set(a->ix, a->req->folder, a->req->source_id, e->path, e->hash);
}

static int apply_dir(struct applier *a, const cs_manifest_entry *e, const cs_file_entry *local,
	const char *full)
{
	struct stat st;
	int r = note_dir(a, full);
	if (r < 0)
		return r;
	if (lstat(full, &st) == 0 && !S_ISDIR(st.st_mode)) {
		/* A file of ours stands where the source has a directory. */
		if (local && !local->deleted && local->kind == CS_KIND_FILE &&
		    (r = keep_conflict(a, full)) < 0)
			return r;
	}
	if (mkdir(full, e->mode & 07777) != 0 && errno != EEXIST) {
		if (errno == ENOENT && cs_fs_mkdirs(full, 0755) == 0)
			return CS_OK;
		return cs_error_set(CS_EIO, "create directory %s: %s", e->path, strerror(errno));
	}
	return CS_OK;
}

static int apply_delete(struct applier *a, const cs_manifest_entry *e, const char *full)
{
	cs_file_entry *local = NULL;
	uint8_t base[32];
	int r = cs_index_get(&local, a->ix, a->req->folder, e->path);
	if (r == CS_ENOTFOUND || (r == 0 && local->deleted)) {
		r = CS_OK;
		goto forget;
	}
	if (r < 0)
		return r;
	if ((r = note_dir(a, full)) < 0)
		goto done;
	if (local->kind == CS_KIND_DIR) {
		if (rmdir(full) != 0 && errno != ENOENT) {
			cs_log(CS_LOG_WARN, "relay.keep_dir", "path=\"%s\" reason=\"%s\"", e->path, strerror(errno));
			a->res->conflicts++;
		}
	} else {
		int ours = !((e->flags & CS_MANIFEST_HAS_PREV) && memcmp(local->hash, e->prev_hash, 32) == 0) &&
			!(cs_index_base_get(base, a->ix, a->req->folder, a->req->source_id, e->path) == 0 &&
				memcmp(local->hash, base, 32) == 0);
		if (ours) {
			/* Deleted there, changed here: keep our version. */
			cs_log(CS_LOG_WARN, "relay.keep_changed", "path=\"%s\"", e->path);
			a->res->conflicts++;
		} else if (unlink(full) != 0 && errno != ENOENT) {
			r = cs_error_set(CS_EIO, "delete %s: %s", e->path, strerror(errno));
			goto done;
		}
	}
forget:
	r = cs_index_base_set(a->ix, a->req->folder, a->req->source_id, e->path, NULL);
done:
	cs_file_entry_free(local);
	return r;
}

/* Flush everything written below the folder's root to disk: the file
 * system's syncfs() covers staged files, renames and directory entries in
 * one call. */
static int sync_root(struct applier *a)
{
	return cs_fs_syncfs(a->root);
}

/*
 * Tell the index what the files this job wrote hold (hash and chunks from
 * the manifest, checked on the way in), so that the next scan does not read
 * them all again. Files it found already in place are not among them: what
 * the index knows of those comes from a scan, which may be older than a
 * local edit. Only an optimisation: on failure the next scan reads them.
 */
static void note_in_place(struct applier *a)
{
	size_t n = 0, noted = 0;
	int64_t t0 = cs_clock_mono_ms();
	cs_file_entry *files = calloc(a->m.nentries ? a->m.nentries : 1, sizeof(*files));
	int r = files ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < a->m.nentries && r == 0; i++) {
		const cs_manifest_entry *e = &a->m.entries[i];
		if (!a->in_place[i])
			continue;
		cs_file_entry *f = &files[n++];
		f->path = e->path;
		f->kind = CS_KIND_FILE;
		f->mode = e->mode;
		f->mtime_ns = e->mtime_ns;
		f->size = e->size;
		memcpy(f->hash, e->hash, sizeof(f->hash));
		f->nchunks = e->nchunks;
		f->chunks = calloc(e->nchunks ? e->nchunks : 1, sizeof(*f->chunks));
		if (f->chunks == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		uint64_t off = 0;
		for (uint32_t k = 0; k < e->nchunks; k++) {
			memcpy(f->chunks[k].hash, e->chunks[k].hash, sizeof(f->chunks[k].hash));
			f->chunks[k].offset = off;
			f->chunks[k].len = e->chunks[k].len;
			off += e->chunks[k].len;
		}
	}
	if (r == 0)
		r = cs_index_note_files(&noted, a->ix, a->req->folder, files, n);
	if (r < 0)
		cs_log(CS_LOG_WARN, "relay.note_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)a->req->job, cs_error_last());
	else
		cs_log(CS_LOG_DEBUG, "relay.noted", "job=%llu files=%zu ms=%lld", (unsigned long long)a->req->job,
			noted, (long long)(cs_clock_mono_ms() - t0));
	for (size_t i = 0; files && i < n; i++)
		free(files[i].chunks);
	free(files);
}

/* Room for entries up to the manifest's count in the per-entry arrays. */
static int grow_entries(struct applier *a)
{
	size_t cap = a->cap_entries;
	if (a->m.nentries <= cap)
		return CS_OK;
	size_t n = a->m.nentries > 2 * cap ? a->m.nentries : 2 * cap;
	uint8_t *ip = realloc(a->in_place, n);
	if (ip == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	a->in_place = ip;
	memset(a->in_place + cap, 0, n - cap);
	int r = cs_stage_writer_resize(&a->writer, cap, n);
	if (r == 0)
		a->cap_entries = n;
	return r;
}

struct by_path {
	const char *path;
	size_t index;
};

static int by_path_cmp(const void *x, const void *y)
{
	return strcmp(((const struct by_path *)x)->path, ((const struct by_path *)y)->path);
}

/* Entry indices in byte order of paths, which puts every directory before
 * what it contains; a path listed twice is refused. */
static int sort_entries(struct applier *a)
{
	size_t n = a->m.nentries;
	struct by_path *v = malloc((n ? n : 1) * sizeof(*v));
	a->order = malloc((n ? n : 1) * sizeof(*a->order));
	if (v == NULL || a->order == NULL) {
		free(v);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		v[i].path = a->m.entries[i].path;
		v[i].index = i;
	}
	qsort(v, n, sizeof(*v), by_path_cmp);
	int r = CS_OK;
	for (size_t i = 0; i < n; i++) {
		a->order[i] = v[i].index;
		if (i > 0 && strcmp(v[i - 1].path, v[i].path) == 0 && r == 0)
			r = cs_error_set(CS_EMALFORMED, "manifest lists %s twice", v[i].path);
	}
	free(v);
	return r;
}

/* Take the manifest segment by segment and stage the changed files of
 * each as it comes, until the last; then check the trailer. */
static int stage_all(struct applier *a)
{
	int last = 0, r = CS_OK;
	while (!last && r == 0) {
		size_t first = a->m.nentries;
		if (a->segments >= CS_SEGMENTS_MAX)
			return cs_error_set(CS_EMALFORMED, "too many manifest segments");
		if ((r = load_segment(a, &last)) < 0 || (r = grow_entries(a)) < 0)
			break;
		for (size_t i = first; i < a->m.nentries; i++) {
			const cs_manifest_entry *e = &a->m.entries[i];
			if (e->seq <= a->req->history)
				continue;
			a->files_total++;
			a->bytes_total += e->size;
		}
		progress(a, 1);
		for (size_t i = first; i < a->m.nentries && r == 0; i++) {
			const cs_manifest_entry *e = &a->m.entries[i];
			if (e->seq <= a->req->history || (e->flags & CS_MANIFEST_DELETED) ||
			    e->kind != CS_KIND_FILE)
				continue;
			r = stage_file(a, i);
		}
	}
	if (r == 0)
		r = open_trailer(a);
	return r;
}

static int run(struct applier *a)
{
	cs_scan_stats stats;
	int64_t t0 = cs_clock_mono_ms(), t_staged, t_synced, t_placed;
	int r;
	if ((r = open_header(a)) < 0)
		return r;
	if ((a->mhash = cs_sha256_new()) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_index_scan(a->ix, a->req->folder, &stats, NULL, NULL)) < 0)
		return r;
	/* Stage every changed file first, so that an altered, reordered or
	 * foreign record, or a manifest that the trailer does not vouch for,
	 * stops the job before anything is put in place. Staging only reads
	 * the index: one read transaction spares every lookup its own
	 * locking. */
	if ((r = cs_index_begin_read(a->ix)) < 0)
		return r;
	cs_stage_writer_start(&a->writer, a->root, &a->staged);
	r = stage_all(a);
	int wr = cs_stage_writer_drain(&a->writer);
	cs_stage_writer_stop(&a->writer);
	if (r == 0)
		r = wr;
	if (r == 0)
		r = sort_entries(a);
	if (r < 0) {
		cs_index_rollback(a->ix);
		return r;
	}
	if ((r = cs_index_commit(a->ix)) < 0)
		return r;
	t_staged = cs_clock_mono_ms();
	if ((r = sync_root(a)) < 0)
		return r;
	t_synced = cs_clock_mono_ms();
	if ((r = cs_index_begin(a->ix)) < 0)
		return r;
	/* Pass 1: directories and files, parents first. */
	for (size_t k = 0; k < a->m.nentries; k++) {
		size_t i = a->order[k];
		const cs_manifest_entry *e = &a->m.entries[i];
		if (e->seq <= a->req->history || (e->flags & CS_MANIFEST_DELETED))
			continue;
		char *full = cs_path_join(a->root, e->path);
		cs_file_entry *local = NULL;
		if (full == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		r = cs_index_get(&local, a->ix, a->req->folder, e->path);
		if (r == CS_ENOTFOUND)
			r = CS_OK;
		if (r == 0)
			r = e->kind == CS_KIND_DIR ? apply_dir(a, e, local, full) : commit_file(a, i, local, full);
		cs_file_entry_free(local);
		free(full);
		if (r < 0)
			goto fail;
		a->files_done++;
		a->res->files++;
		progress(a, 0);
	}
	/* Pass 2: deletions, children first. */
	for (size_t k = a->m.nentries; k-- > 0;) {
		const cs_manifest_entry *e = &a->m.entries[a->order[k]];
		if (e->seq <= a->req->history || !(e->flags & CS_MANIFEST_DELETED))
			continue;
		char *full = cs_path_join(a->root, e->path);
		if (full == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		r = apply_delete(a, e, full);
		free(full);
		if (r < 0)
			goto fail;
		a->files_done++;
		a->res->files++;
	}
	/* Pass 3: directory times. First the ones we changed as a side effect,
	 * back to what they were; then the source's directory modes and times,
	 * children first, since writing a child changes its parent's mtime. */
	for (size_t i = a->ndirs; i-- > 0;) {
		struct timespec ts[2] = {{0, UTIME_OMIT}, a->dirs[i].mtime};
		if (a->dirs[i].have_mtime && utimensat(AT_FDCWD, a->dirs[i].path, ts, AT_SYMLINK_NOFOLLOW) != 0 &&
		    errno != ENOENT) {
			r = cs_error_set(CS_EIO, "set time of %s: %s", a->dirs[i].path, strerror(errno));
			goto fail;
		}
	}
	for (size_t k = a->m.nentries; k-- > 0;) {
		const cs_manifest_entry *e = &a->m.entries[a->order[k]];
		if (e->seq <= a->req->history || (e->flags & CS_MANIFEST_DELETED) || e->kind != CS_KIND_DIR)
			continue;
		char *full = cs_path_join(a->root, e->path);
		if (full == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto fail;
		}
		if (chmod(full, e->mode & 07777) != 0)
			r = cs_error_set(CS_EIO, "chmod %s: %s", e->path, strerror(errno));
		else
			r = cs_file_set_mtime(-1, full, e->mtime_ns);
		free(full);
		if (r < 0)
			goto fail;
	}
	/* The renames, deletions and times must be durable before we record
	 * the new bases and acknowledge. */
	t_placed = cs_clock_mono_ms();
	if ((r = sync_root(a)) < 0)
		goto fail;
	if ((r = cs_index_commit(a->ix)) < 0)
		goto fail;
	cs_log(CS_LOG_DEBUG, "relay.apply_phases", "job=%llu staged_ms=%lld synced_ms=%lld placed_ms=%lld "
		"durable_ms=%lld", (unsigned long long)a->req->job, (long long)(t_staged - t0),
		(long long)(t_synced - t_staged), (long long)(t_placed - t_synced),
		(long long)(cs_clock_mono_ms() - t_placed));
	progress(a, 1);
	return CS_OK;
fail:
	cs_index_rollback(a->ix);
	return r;
}

int cs_relay_apply(cs_relay_apply_result *res, cs_index *ix, const cs_relay_apply_request *req,
	const cs_relay_self *self, const cs_relay_io *io)
{
	struct applier a;
	int r;
	memset(&a, 0, sizeof(a));
	memset(res, 0, sizeof(*res));
	a.ix = ix;
	a.req = req;
	a.self = self;
	a.io = io;
	a.res = res;
	for (unsigned i = 0; i < PACK_CACHE; i++)
		a.cache[i].index = -1;
	if ((r = cs_index_folder_root(&a.root, ix, req->folder)) == 0)
		r = run(&a);
	if (r == 0) {
		res->to_seq = a.t.to_seq;
		cs_log(CS_LOG_INFO, "relay.applied", "job=%llu folder=%s files=%llu bytes=%llu "
			"downloaded=%llu conflicts=%llu", (unsigned long long)req->job, req->folder,
			(unsigned long long)res->files, (unsigned long long)res->bytes,
			(unsigned long long)res->downloaded, (unsigned long long)res->conflicts);
		res->applied = 1;
		if (io->applied)
			r = io->applied(io->ud, req->job, res);
		note_in_place(&a);
	}
	cs_stage_writer_stop(&a.writer); /* before its files are removed */
	for (unsigned i = 0; i < PACK_CACHE; i++)
		cache_clear(&a.cache[i]);
	for (size_t i = 0; a.staged && i < a.cap_entries; i++) {
		if (a.staged[i])
			unlink(a.staged[i]);
		free(a.staged[i]);
	}
	free(a.staged);
	free(a.in_place);
	free(a.order);
	if (a.mhash)
		cs_sha256_free(a.mhash);
	for (size_t i = 0; i < a.ndirs; i++)
		free(a.dirs[i].path);
	free(a.dirs);
	cs_session_header_clear(&a.h);
	cs_manifest_clear(&a.m);
	free(a.root);
	return r;
}
