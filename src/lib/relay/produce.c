/* Source side of relay sync (include/certsync/relay.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include <certsync/envelope.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include <certsync/manifest.h>
#include <certsync/relay.h>
#include <certsync/secure.h>
#include "chunk_table.h"

struct producer {
	cs_index *ix;
	const char *folder;
	uint64_t job;
	const cs_relay_io *io;
	char *root;
	uint64_t from;
	cs_session_key sk;
	cs_manifest m;
	struct cs_chunk_table sent; /* chunk hash -> record index */
	uint8_t *pack; /* the pack being sealed (cs_bigmem_alloc), PACK_CAP bytes */
	size_t pack_len;
	uint64_t next_record;
	uint8_t *plain;
	cs_relay_produce_result *res;
	/* The plan: every record to send, in record order, and where its
	 * bytes are; built from the index before any file is read. */
	struct planned *plan;
	size_t nplan, cap_plan;
	uint64_t plan_pack_bytes; /* sealed bytes of the pack being planned */
	int64_t settled_ns; /* files changed before this are trusted by their metadata */
};

/* A file whose mtime is this close to the scan could have been rewritten
 * within one tick of the file system's clock, keeping size and mtime: its
 * chunks are hashed again as they are read. Other files are checked by
 * their size and mtime before and after they are read; a change that kept
 * both (mtime set back by hand) fails the job at the destination, which
 * checks every file's hash before anything is applied. */
#define RACY_NS INT64_C(2000000000)

struct planned {
	size_t entry;  /* manifest entry whose file holds the chunk */
	uint64_t offset;
	uint32_t len;
	uint8_t verify; /* hash the chunk again when it is read */
	uint8_t hash[32];
};

static int put_blob(struct producer *p, const char *name, const uint8_t *data, size_t len)
{
	int r = p->io->put_blob(p->io->ud, p->job, name, data, len);
	if (r < 0)
		return cs_error_wrap("upload %s", name);
	p->res->bytes += len;
	return CS_OK;
}

/* Room for a pack: the planner never lets one grow past CS_PACK_MAX. */
#define PACK_CAP CS_PACK_MAX

/* Upload the sealed pack k: handed over without a copy when the io takes
 * blobs, and a fresh buffer (from the pool) takes its place. */
static int upload_pack(struct producer *p, size_t k)
{
	char name[32];
	int r;
	snprintf(name, sizeof(name), "p%zu", k);
	if (p->io->take_blob != NULL) {
		uint8_t *full = p->pack;
		size_t len = p->pack_len;
		p->pack = NULL; /* the next record takes a fresh one */
		p->pack_len = 0;
		r = p->io->take_blob(p->io->ud, p->job, name, full, len);
		if (r < 0)
			r = cs_error_wrap("upload %s", name);
		else
			p->res->bytes += len;
	} else {
		r = put_blob(p, name, p->pack, p->pack_len);
		p->pack_len = 0;
	}
	if (r == 0)
		p->res->packs++;
	return r;
}

/* Seal one data record onto the pack: u32 length, then ciphertext + tag. */
static int seal_record(struct producer *p, uint64_t index, const uint8_t *plain, size_t len)
{
	size_t n = 4 + len + CS_RECORD_TAG_LEN;
	if (p->pack == NULL && (p->pack = cs_bigmem_alloc(PACK_CAP)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (len > CS_RECORD_PLAIN_MAX || n > PACK_CAP - p->pack_len)
		return cs_error_set(CS_ELIMIT, "record %llu does not fit its pack",
			(unsigned long long)index);
	uint8_t *dst = p->pack + p->pack_len;
	uint32_t sealed = (uint32_t)(len + CS_RECORD_TAG_LEN);
	dst[0] = (uint8_t)(sealed >> 24);
	dst[1] = (uint8_t)(sealed >> 16);
	dst[2] = (uint8_t)(sealed >> 8);
	dst[3] = (uint8_t)sealed;
	int r = cs_record_seal(dst + 4, &p->sk, CS_RECORD_DATA, index, plain, len);
	if (r == 0)
		p->pack_len += n;
	return r;
}

/* Seal one record into a pack buffer: u32 length, then ciphertext + tag. */
static int seal_into(cs_buf *pack, const cs_session_key *sk, enum cs_record_kind kind,
	uint64_t index, const uint8_t *plain, size_t len)
{
	uint8_t *dst;
	int r = cs_buf_put_u32(pack, (uint32_t)(len + CS_RECORD_TAG_LEN));
	if (r < 0 || (r = cs_buf_reserve(&dst, pack, len + CS_RECORD_TAG_LEN)) < 0)
		return r;
	return cs_record_seal(dst, sk, kind, index, plain, len);
}

/* Read one chunk of a file; with verify, check it still has the indexed
 * content: a file that changed since the scan must not be sent under a
 * stale hash. */
static int read_chunk(struct producer *p, int fd, const char *path, const cs_chunk_ref *c,
	int verify)
{
	size_t got = 0;
	while (got < c->len) {
		ssize_t n = pread(fd, p->plain + got, c->len - got, (off_t)(c->offset + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", path);
		got += (size_t)n;
	}
	if (!verify)
		return CS_OK;
	uint8_t h[32];
	cs_sha256(h, p->plain, c->len);
	if (memcmp(h, c->hash, 32) != 0)
		return cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", path);
	return CS_OK;
}

/* Whether the open file still has the size and mtime the index gave it. */
static int same_as_indexed(int fd, const cs_manifest_entry *e)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (uint64_t)st.st_size == e->size &&
		(int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == e->mtime_ns;
}

/* Close a file whose chunks were read: it must not have changed meanwhile. */
static int close_checked(int fd, const cs_manifest_entry *e)
{
	int same = same_as_indexed(fd, e);
	close(fd);
	return same ? CS_OK : cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", e->path);
}

/* Close the pack being planned once it holds CS_PACK_TARGET bytes. */
static int plan_pack_close(struct producer *p)
{
	uint64_t first = p->m.npacks ? p->m.packs[p->m.npacks - 1].first_record +
		p->m.packs[p->m.npacks - 1].nrecords : 0;
	if (p->next_record == first)
		return CS_OK;
	p->plan_pack_bytes = 0;
	return cs_manifest_add_pack(&p->m, first, (uint32_t)(p->next_record - first));
}

/* Decide, for each chunk of a file, whether it travels (and as which
 * record) or is already held by every destination. */
static int plan_file(struct producer *p, const cs_file_entry *e, cs_manifest_entry *me)
{
	for (size_t i = 0; i < e->nchunks; i++) {
		const cs_chunk_ref *c = &e->chunks[i];
		cs_manifest_chunk *mc = &me->chunks[i];
		uint64_t seq, rec;
		memcpy(mc->hash, c->hash, 32);
		mc->len = c->len;
		if (cs_chunk_table_get(&p->sent, c->hash, &rec)) {
			mc->record = rec;
			continue;
		}
		/* Chunks that were already part of the folder at the smallest
		 * history are held by every destination. */
		int r = cs_index_chunk_seq(&seq, p->ix, p->folder, c->hash);
		if (r == CS_OK && seq <= p->from) {
			mc->record = CS_RECORD_NONE;
			continue;
		}
		if (r < 0 && r != CS_ENOTFOUND)
			return r;
		if (p->nplan == p->cap_plan) {
			size_t n = p->cap_plan ? p->cap_plan * 2 : 1024;
			struct planned *q = realloc(p->plan, n * sizeof(*q));
			if (q == NULL)
				return cs_error_set(CS_ENOMEM, "out of memory");
			p->plan = q;
			p->cap_plan = n;
		}
		/* A pack closes once it reaches CS_PACK_TARGET; a record that
		 * would carry it past CS_PACK_MAX (what a hub takes) starts the
		 * next one instead. */
		uint64_t rec_bytes = 4 + (uint64_t)c->len + CS_RECORD_TAG_LEN;
		if (p->plan_pack_bytes > 0 && p->plan_pack_bytes + rec_bytes > CS_PACK_MAX &&
		    (r = plan_pack_close(p)) < 0)
			return r;
		struct planned *pl = &p->plan[p->nplan++];
		pl->entry = p->m.nentries;
		pl->offset = c->offset;
		pl->len = c->len;
		pl->verify = e->mtime_ns > p->settled_ns;
		memcpy(pl->hash, c->hash, 32);
		rec = p->next_record++;
		if ((r = cs_chunk_table_put(&p->sent, c->hash, rec)) < 0)
			return r;
		mc->record = rec;
		p->plan_pack_bytes += rec_bytes;
		if (p->plan_pack_bytes >= CS_PACK_TARGET && (r = plan_pack_close(p)) < 0)
			return r;
	}
	return CS_OK;
}

/* Read, check, seal and upload every planned record, pack by pack. A file
 * that changed since the scan fails the job. */
static int send_records(struct producer *p)
{
	int fd = -1, r = CS_OK;
	size_t open_entry = SIZE_MAX, pack = 0;
	for (size_t i = 0; i < p->nplan && r == 0; i++) {
		const struct planned *pl = &p->plan[i];
		const char *path = p->m.entries[pl->entry].path;
		if (pl->entry != open_entry) {
			char *full = NULL;
			if (fd >= 0 && (r = close_checked(fd, &p->m.entries[open_entry])) < 0) {
				fd = -1;
				break;
			}
			if (asprintf(&full, "%s/%s", p->root, path) < 0) {
				fd = -1;
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			free(full);
			open_entry = pl->entry;
			if (fd < 0) {
				r = cs_error_set(CS_ECONFLICT, "%s vanished while it was being sent", path);
				break;
			}
			if (!same_as_indexed(fd, &p->m.entries[open_entry])) {
				r = cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", path);
				break;
			}
		}
		cs_chunk_ref c = {{0}, pl->offset, pl->len};
		memcpy(c.hash, pl->hash, 32);
		if ((r = read_chunk(p, fd, path, &c, pl->verify)) < 0 ||
		    (r = seal_record(p, i, p->plain, pl->len)) < 0)
			break;
		p->res->records++;
		const cs_manifest_pack *mp = &p->m.packs[pack];
		if (i + 1 == mp->first_record + mp->nrecords) {
			r = upload_pack(p, pack);
			pack++;
		}
	}
	if (fd >= 0) {
		int cr = close_checked(fd, &p->m.entries[open_entry]);
		if (r == 0)
			r = cr;
	}
	return r;
}

static int add_entry(void *ud, const cs_file_entry *e)
{
	struct producer *p = ud;
	cs_manifest_entry me;
	int r;
	memset(&me, 0, sizeof(me));
	me.path = e->path;
	me.kind = e->kind;
	me.flags = (uint8_t)((e->deleted ? CS_MANIFEST_DELETED : 0) |
		(e->has_prev ? CS_MANIFEST_HAS_PREV : 0));
	me.mode = e->mode & 07777;
	me.mtime_ns = e->mtime_ns;
	me.size = e->deleted ? 0 : e->size;
	me.seq = e->seq;
	memcpy(me.hash, e->hash, 32);
	memcpy(me.prev_hash, e->prev_hash, 32);
	if (e->kind == CS_KIND_FILE && !e->deleted && e->nchunks > 0) {
		me.nchunks = (uint32_t)e->nchunks;
		me.chunks = calloc(e->nchunks, sizeof(*me.chunks));
		if (me.chunks == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		if ((r = plan_file(p, e, &me)) < 0) {
			free(me.chunks);
			return r;
		}
	}
	r = cs_manifest_add_entry(&p->m, &me);
	free(me.chunks);
	return r;
}

/* The manifest travels as kind-2 records in its own blob, so that the CMS
 * header stays small however many files change. */
static int upload_manifest(struct producer *p, cs_session_header *h)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	cs_buf *blob = NULL;
	int r = cs_manifest_encode(&plain, &len, &p->m);
	if (r < 0)
		return r;
	h->manifest_len = len;
	cs_sha256(h->manifest_hash, plain, len);
	uint32_t nrec = (uint32_t)((len + CS_MANIFEST_RECORD_PLAIN - 1) / CS_MANIFEST_RECORD_PLAIN);
	if (nrec == 0)
		nrec = 1;
	if (nrec > 256) {
		r = cs_error_set(CS_ELIMIT, "too many changes for one session (manifest of %zu bytes)", len);
		goto done;
	}
	blob = cs_buf_new(len + nrec * (4 + CS_RECORD_TAG_LEN) + 16);
	if (blob == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (uint32_t i = 0; i < nrec; i++) {
		size_t off = (size_t)i * CS_MANIFEST_RECORD_PLAIN;
		size_t n = len - off < CS_MANIFEST_RECORD_PLAIN ? len - off : CS_MANIFEST_RECORD_PLAIN;
		if ((r = seal_into(blob, &p->sk, CS_RECORD_MANIFEST, i, plain + off, n)) < 0)
			goto done;
	}
	h->manifest_records = nrec;
	r = put_blob(p, "manifest", cs_buf_ptr(blob), cs_buf_len(blob));
done:
	cs_buf_free(blob);
	free(plain);
	return r;
}

static int check_destinations(const cs_relay_self *self, const cs_relay_dest *dests, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char id[CS_DEVICE_ID_SIZE];
		int r = cs_cert_verify(dests[i].cert, self->ca, self->crl_pem, 0);
		if (r < 0)
			return cs_error_wrap("destination %.7s", dests[i].device_id);
		if ((r = cs_cert_device_id(id, dests[i].cert)) < 0)
			return r;
		if (strcmp(id, dests[i].device_id) != 0)
			return cs_error_set(CS_EAUTH, "destination %.7s: certificate belongs to device %.7s",
				dests[i].device_id, id);
	}
	return CS_OK;
}

int cs_relay_produce(cs_relay_produce_result *res, cs_index *ix, const char *folder,
	uint64_t job, const cs_relay_self *self, const cs_relay_dest *dests, size_t ndests,
	const cs_relay_io *io)
{
	struct producer p;
	cs_session_header h;
	cs_scan_stats stats;
	const cs_cert **recips = NULL;
	uint8_t *hdr_plain = NULL, *sealed = NULL;
	size_t hdr_len = 0, sealed_len = 0;
	int r;

	memset(&p, 0, sizeof(p));
	memset(&h, 0, sizeof(h));
	memset(res, 0, sizeof(*res));
	if (ndests == 0)
		return cs_error_set(CS_EINVAL, "no destinations");
	if ((r = check_destinations(self, dests, ndests)) < 0)
		return r;
	p.ix = ix;
	p.folder = folder;
	p.job = job;
	p.io = io;
	p.res = res;
	if ((r = cs_index_folder_root(&p.root, ix, folder)) < 0)
		goto done;
	int64_t t0 = cs_clock_mono_ms();
	if ((r = cs_index_scan(ix, folder, &stats, NULL, NULL)) < 0)
		goto done;
	int64_t t_scan = cs_clock_mono_ms();
	cs_log(CS_LOG_DEBUG, "relay.scanned", "job=%llu folder=%s files=%llu changed=%llu "
		"hashed=%llu ms=%lld", (unsigned long long)job, folder, (unsigned long long)stats.files,
		(unsigned long long)stats.changed, (unsigned long long)stats.hashed_bytes,
		(long long)(t_scan - t0));
	if ((r = cs_index_folder_seq(&res->to_seq, ix, folder)) < 0)
		goto done;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p.settled_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - RACY_NS;
	/* One delta serves every destination: it starts at the smallest
	 * history. A history beyond our sequence number (our index was reset)
	 * cannot be trusted, so such a destination gets everything. */
	p.from = UINT64_MAX;
	for (size_t i = 0; i < ndests; i++) {
		uint64_t hst = dests[i].history > res->to_seq ? 0 : dests[i].history;
		if (hst < p.from)
			p.from = hst;
	}
	res->from_seq = p.from;
	p.plain = malloc(CS_RECORD_PLAIN_MAX);
	if (p.plain == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_session_key_generate(&p.sk)) < 0)
		goto done;
	if ((r = cs_index_changes_since(ix, folder, p.from, add_entry, &p)) < 0)
		goto done;
	if ((r = plan_pack_close(&p)) < 0)
		goto done;
	res->files = p.m.nentries;

	h.job = job;
	h.folder = (char *)folder;
	h.source = (char *)self->device_id;
	h.from_seq = p.from;
	h.to_seq = res->to_seq;
	h.key = p.sk;
	h.data_records = p.next_record;
	h.packs = (uint32_t)p.m.npacks;
	/* Naming the recipients inside the signature stops a recipient from
	 * re-sealing this header to a device it was not meant for. */
	h.nrecipients = (uint32_t)ndests;
	h.recipients = calloc(ndests, sizeof(char *));
	if (h.recipients == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < ndests; i++)
		h.recipients[i] = (char *)dests[i].device_id;
	if ((r = upload_manifest(&p, &h)) < 0)
		goto done;
	if ((r = cs_session_header_encode(&hdr_plain, &hdr_len, &h)) < 0)
		goto done;
	recips = calloc(ndests, sizeof(*recips));
	if (recips == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < ndests; i++)
		recips[i] = dests[i].cert;
	if ((r = cs_envelope_seal(&sealed, &sealed_len, hdr_plain, hdr_len, self->key, self->cert,
		     recips, ndests)) < 0)
		goto done;
	/* Header and manifest first: with them stored, destinations can
	 * start while the packs are still on their way. */
	if ((r = put_blob(&p, "header", sealed, sealed_len)) < 0)
		goto done;
	if (io->ready) {
		res->records = p.next_record; /* announced; counted again as sent */
		res->packs = p.m.npacks;
		r = io->ready(io->ud, job, res);
		res->records = res->packs = 0;
		if (r < 0)
			goto done;
		res->announced = 1;
		cs_log(CS_LOG_DEBUG, "relay.announced", "job=%llu records=%llu packs=%zu manifest=%llu "
			"ms=%lld", (unsigned long long)job, (unsigned long long)p.next_record, p.m.npacks,
			(unsigned long long)h.manifest_len, (long long)(cs_clock_mono_ms() - t_scan));
	}
	r = send_records(&p);
	if (io->flush) {
		int fr = io->flush(io->ud);
		if (r == 0)
			r = fr;
	}
	if (r == 0)
		cs_log(CS_LOG_INFO, "relay.produced", "job=%llu folder=%s from=%llu to=%llu files=%llu "
			"records=%llu bytes=%llu", (unsigned long long)job, folder,
			(unsigned long long)p.from, (unsigned long long)res->to_seq,
			(unsigned long long)res->files, (unsigned long long)res->records,
			(unsigned long long)res->bytes);
done:
	if (hdr_plain)
		cs_freezero(hdr_plain, hdr_len);
	free(sealed);
	free(recips);
	cs_wipe(&p.sk, sizeof(p.sk));
	free(h.recipients);
	cs_wipe(&h.key, sizeof(h.key));
	cs_manifest_clear(&p.m);
	cs_chunk_table_free(&p.sent);
	if (r < 0 && io->flush)
		io->flush(io->ud); /* never leave uploads running past a failure */
	cs_bigmem_free(p.pack);
	free(p.plan);
	free(p.plain);
	free(p.root);
	return r;
}
