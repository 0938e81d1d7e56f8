/* Source side of relay sync (include/certsync/relay.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

struct planned {
	size_t entry;     /* manifest entry whose file holds the chunk */
	const char *path; /* its path (the manifest's copy), size and mtime */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t offset;
	uint32_t len;
	uint8_t verify;   /* hash the chunk again when it is read */
	uint8_t pack_end; /* the last record of its pack */
	uint8_t hash[32];
};

/* A manifest segment ready to go, with the records its packs carry: the
 * scan's thread plans it (it alone reads the index and the manifest), the
 * sender's thread reads, seals and uploads it. */
struct segment_job {
	struct segment_job *next;
	char name[16];
	cs_buf *blob;
	struct planned *plan;
	size_t nplan;
	uint64_t plan_base; /* record index of plan[0] */
};

struct sender {
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct segment_job *head, **tail;
	size_t queued;
	int closed;   /* no more jobs come */
	atomic_int stop; /* drop what is queued, and the segment being sent */
	int error;    /* the first failure */
	char message[512];
};

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
	uint64_t plan_base; /* record index of plan[0] */
	/* The manifest goes out in segments: entries from seg_entry and packs
	 * from seg_pack on are not sent yet; seg_bytes estimates their size. */
	size_t seg_entry, seg_pack;
	uint64_t seg_bytes;
	uint64_t prescan_seq; /* the folder's sequence number before the scan */
	uint64_t emitted_seq; /* changes of the scan up to here are in the manifest */
	cs_session_trailer t; /* counts and hash of what was sent */
	cs_sha256_ctx *mhash; /* over the segments' plaintexts */
	struct sender snd;
};

/* A segment is sent once its entries take about this much (a blob holds at
 * most 8 MiB), and the scan hands over its changes in batches of this many
 * files or bytes, so that destinations start while it goes on. */
#define SEGMENT_TARGET (4u << 20)
#define SENDER_QUEUE 4
#define SCAN_BATCH_CHANGES 2048
#define SCAN_BATCH_BYTES (UINT64_C(48) << 20)

/* A file whose mtime is this close to the scan could have been rewritten
 * within one tick of the file system's clock, keeping size and mtime: its
 * chunks are hashed again as they are read. Other files are checked by
 * their size and mtime before and after they are read; a change that kept
 * both (mtime set back by hand) fails the job at the destination, which
 * checks every file's hash before anything is applied. */
#define RACY_NS INT64_C(2000000000)


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
static int same_as_indexed(int fd, const struct planned *pl)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (uint64_t)st.st_size == pl->size &&
		(int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == pl->mtime_ns;
}

/* Close a file whose chunks were read: it must not have changed meanwhile. */
static int close_checked(int fd, const struct planned *pl)
{
	int same = same_as_indexed(fd, pl);
	close(fd);
	return same ? CS_OK : cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", pl->path);
}

/* Close the pack being planned once it holds CS_PACK_TARGET bytes. */
static int plan_pack_close(struct producer *p)
{
	uint64_t first = p->m.npacks ? p->m.packs[p->m.npacks - 1].first_record +
		p->m.packs[p->m.npacks - 1].nrecords : 0;
	if (p->next_record == first)
		return CS_OK;
	p->plan_pack_bytes = 0;
	p->plan[p->nplan - 1].pack_end = 1; /* the pack is never empty */
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
		memset(pl, 0, sizeof(*pl));
		pl->entry = p->m.nentries;
		pl->size = e->size;
		pl->mtime_ns = e->mtime_ns;
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

/* Read, check, seal and upload a segment's planned records, pack by pack
 * (on the sender's thread). A file that changed since it was scanned fails
 * the job. */
static int send_records(struct producer *p, const struct segment_job *j)
{
	int fd = -1, r = CS_OK;
	const struct planned *cur = NULL;
	for (size_t i = 0; i < j->nplan && r == 0; i++) {
		const struct planned *pl = &j->plan[i];
		if (atomic_load(&p->snd.stop)) {
			r = cs_error_set(CS_ESTATE, "the job stopped");
			break;
		}
		if (cur == NULL || pl->entry != cur->entry) {
			char *full = NULL;
			if (fd >= 0 && (r = close_checked(fd, cur)) < 0) {
				fd = -1;
				break;
			}
			if (asprintf(&full, "%s/%s", p->root, pl->path) < 0) {
				fd = -1;
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			free(full);
			cur = pl;
			if (fd < 0) {
				r = cs_error_set(CS_ECONFLICT, "%s vanished while it was being sent", pl->path);
				break;
			}
			if (!same_as_indexed(fd, pl)) {
				r = cs_error_set(CS_ECONFLICT, "%s changed while it was being sent", pl->path);
				break;
			}
		}
		cs_chunk_ref c = {{0}, pl->offset, pl->len};
		memcpy(c.hash, pl->hash, 32);
		if ((r = read_chunk(p, fd, pl->path, &c, pl->verify)) < 0 ||
		    (r = seal_record(p, j->plan_base + i, p->plain, pl->len)) < 0)
			break;
		p->res->records++;
		if (pl->pack_end)
			r = upload_pack(p, p->res->packs);
	}
	if (fd >= 0) {
		int cr = close_checked(fd, cur);
		if (r == 0)
			r = cr;
	}
	return r;
}

static void job_free(struct segment_job *j)
{
	cs_buf_free(j->blob);
	free(j->plan);
	free(j);
}

/* The sender's thread: each segment, then its packs, in order. */
static void *sender_main(void *arg)
{
	struct producer *p = arg;
	struct sender *s = &p->snd;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (s->head == NULL && !s->closed && !atomic_load(&s->stop))
			pthread_cond_wait(&s->cv, &s->lock);
		struct segment_job *j = s->head;
		if (j == NULL || atomic_load(&s->stop))
			break;
		s->head = j->next;
		if (s->head == NULL)
			s->tail = &s->head;
		s->queued--;
		pthread_cond_broadcast(&s->cv); /* room in the queue */
		int failed = s->error != 0;
		pthread_mutex_unlock(&s->lock);
		int r = CS_OK;
		if (!failed && (r = put_blob(p, j->name, cs_buf_ptr(j->blob), cs_buf_len(j->blob))) == 0)
			r = send_records(p, j);
		job_free(j);
		pthread_mutex_lock(&s->lock);
		if (r < 0 && s->error == 0) {
			s->error = r;
			snprintf(s->message, sizeof(s->message), "%s", cs_error_last());
		}
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int sender_start(struct producer *p)
{
	struct sender *s = &p->snd;
	s->tail = &s->head;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->thread, NULL, sender_main, p) != 0) {
		pthread_mutex_destroy(&s->lock);
		pthread_cond_destroy(&s->cv);
		return cs_error_set(CS_EIO, "cannot start the sender thread");
	}
	s->started = 1;
	return CS_OK;
}

/* The sender's first failure, raised on this thread. */
static int sender_failure(struct producer *p)
{
	struct sender *s = &p->snd;
	char message[sizeof(s->message)];
	pthread_mutex_lock(&s->lock);
	int e = s->error;
	if (e)
		memcpy(message, s->message, sizeof(message));
	pthread_mutex_unlock(&s->lock);
	return e ? cs_error_set(e, "%s", message) : CS_OK;
}

/* Wait for everything queued to be sent (or, with stop, dropped). */
static int sender_finish(struct producer *p, int stop)
{
	struct sender *s = &p->snd;
	if (!s->started)
		return CS_OK;
	pthread_mutex_lock(&s->lock);
	s->closed = 1;
	if (stop)
		atomic_store(&s->stop, 1);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->started = 0;
	while (s->head) {
		struct segment_job *j = s->head;
		s->head = j->next;
		job_free(j);
	}
	int r = stop ? CS_OK : sender_failure(p);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	return r;
}

/* Hand the manifest entries and packs planned since the last segment to
 * the sender as segment m<N>, sealed as manifest records (numbered across
 * segments), followed by the packs themselves. */
static int send_segment(struct producer *p, int last)
{
	uint8_t *plain = NULL;
	size_t len = 0;
	cs_buf *blob = NULL;
	int r;
	if ((r = plan_pack_close(p)) < 0 ||
	    (r = cs_manifest_segment_encode(&plain, &len, &p->m, p->seg_entry, p->seg_pack, last)) < 0)
		return r;
	uint32_t nrec = (uint32_t)((len + CS_MANIFEST_RECORD_PLAIN - 1) / CS_MANIFEST_RECORD_PLAIN);
	if (p->t.segments >= CS_SEGMENTS_MAX || len > CS_MANIFEST_MAX - p->t.manifest_len) {
		r = cs_error_set(CS_ELIMIT, "too many changes for one session (manifest of %llu bytes)",
			(unsigned long long)(p->t.manifest_len + len));
		goto done;
	}
	if (len + (size_t)nrec * (4 + CS_RECORD_TAG_LEN) > CS_PACK_MAX) {
		r = cs_error_set(CS_ELIMIT, "%s: too many chunks to list in one session",
			p->m.nentries ? p->m.entries[p->m.nentries - 1].path : "manifest");
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
		if ((r = seal_into(blob, &p->sk, CS_RECORD_MANIFEST, p->t.manifest_records + i,
			     plain + off, n)) < 0)
			goto done;
	}
	if ((r = sender_failure(p)) < 0)
		goto done;
	struct segment_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	cs_sha256_update(p->mhash, plain, len);
	snprintf(j->name, sizeof(j->name), "m%u", p->t.segments);
	j->blob = blob;
	blob = NULL;
	j->plan = p->plan;
	j->nplan = p->nplan;
	j->plan_base = p->plan_base;
	p->plan_base += p->nplan;
	p->plan = NULL;
	p->nplan = p->cap_plan = 0;
	p->t.segments++;
	p->t.manifest_records += nrec;
	p->t.manifest_len += len;
	p->seg_entry = p->m.nentries;
	p->seg_pack = p->m.npacks;
	p->seg_bytes = 0;
	/* The scan may run ahead of the uploads by a few segments, no more:
	 * each holds its sealed manifest and its plan. */
	pthread_mutex_lock(&p->snd.lock);
	while (p->snd.queued >= SENDER_QUEUE && p->snd.error == 0)
		pthread_cond_wait(&p->snd.cv, &p->snd.lock);
	*p->snd.tail = j;
	p->snd.tail = &j->next;
	p->snd.queued++;
	pthread_cond_broadcast(&p->snd.cv);
	pthread_mutex_unlock(&p->snd.lock);
done:
	cs_buf_free(blob);
	free(plain);
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
	/* A segment must fit in one blob: send what is pending before an
	 * entry that would take it past the target. */
	uint64_t bytes = 129 + strlen(e->path) + 44 * (uint64_t)e->nchunks;
	if (p->seg_bytes > 0 && p->seg_bytes + bytes > SEGMENT_TARGET && (r = send_segment(p, 0)) < 0)
		return r;
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
	if (r < 0)
		return r;
	/* the planned records of this entry read the manifest's copy of its
	 * path, which stays put while the entry array grows */
	for (size_t i = p->nplan; i-- > 0 && p->plan[i].entry == p->m.nentries - 1;)
		p->plan[i].path = p->m.entries[p->m.nentries - 1].path;
	p->seg_bytes += bytes;
	return CS_OK;
}

/* After each batch the scan writes: its changes go out as a segment. */
static int scan_committed(void *ud, uint64_t seq)
{
	struct producer *p = ud;
	int r = cs_index_changes_between(p->ix, p->folder, p->emitted_seq, seq, add_entry, p);
	if (r < 0)
		return r;
	p->emitted_seq = seq;
	return p->m.nentries > p->seg_entry ? send_segment(p, 0) : CS_OK;
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

/* Seal a signed plaintext to every destination (the header and the
 * trailer) and upload it. */
static int put_sealed(struct producer *p, const char *name, const uint8_t *plain, size_t len,
	const cs_relay_self *self, const cs_cert **recips, size_t ndests)
{
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	int r = cs_envelope_seal(&sealed, &sealed_len, plain, len, self->key, self->cert, recips,
		ndests);
	if (r == 0)
		r = put_blob(p, name, sealed, sealed_len);
	free(sealed);
	return r;
}

int cs_relay_produce(cs_relay_produce_result *res, cs_index *ix, const char *folder,
	uint64_t job, const cs_relay_self *self, const cs_relay_dest *dests, size_t ndests,
	const cs_relay_io *io)
{
	struct producer p;
	cs_session_header h;
	cs_scan_stats stats;
	const cs_cert **recips = NULL;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
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
	if ((r = cs_index_folder_root(&p.root, ix, folder)) < 0 ||
	    (r = cs_index_folder_seq(&p.prescan_seq, ix, folder)) < 0)
		goto done;
	/* One delta serves every destination: it starts at the smallest
	 * history. A history beyond our sequence number (our index was reset)
	 * cannot be trusted, so such a destination gets everything. */
	p.from = UINT64_MAX;
	for (size_t i = 0; i < ndests; i++) {
		uint64_t hst = dests[i].history > p.prescan_seq ? 0 : dests[i].history;
		if (hst < p.from)
			p.from = hst;
	}
	res->from_seq = p.from;
	p.emitted_seq = p.prescan_seq;
	p.plain = malloc(CS_RECORD_PLAIN_MAX);
	p.mhash = cs_sha256_new();
	recips = calloc(ndests, sizeof(*recips));
	h.recipients = calloc(ndests, sizeof(char *));
	if (p.plain == NULL || p.mhash == NULL || recips == NULL || h.recipients == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_session_key_generate(&p.sk)) < 0)
		goto done;

	/* The header first: destinations start on it and take the manifest
	 * segments and packs as the scan produces them. Naming the recipients
	 * inside the signature stops a recipient from re-sealing the header to
	 * a device it was not meant for. */
	h.job = job;
	h.folder = (char *)folder;
	h.source = (char *)self->device_id;
	h.from_seq = p.from;
	h.key = p.sk;
	h.nrecipients = (uint32_t)ndests;
	for (size_t i = 0; i < ndests; i++) {
		h.recipients[i] = (char *)dests[i].device_id;
		recips[i] = dests[i].cert;
	}
	if ((r = cs_session_header_encode(&plain, &plain_len, &h)) < 0 ||
	    (r = put_sealed(&p, "header", plain, plain_len, self, recips, ndests)) < 0)
		goto done;
	cs_freezero(plain, plain_len);
	plain = NULL;
	if (io->ready) {
		if (io->flush && (r = io->flush(io->ud)) < 0)
			goto done;
		if ((r = io->ready(io->ud, job, res)) < 0)
			goto done;
		res->announced = 1;
	}

	if ((r = sender_start(&p)) < 0)
		goto done;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p.settled_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - RACY_NS;
	int64_t t0 = cs_clock_mono_ms();
	cs_scan_options so = {NULL, scan_committed, &p, SCAN_BATCH_CHANGES, SCAN_BATCH_BYTES};
	if ((r = cs_index_scan_with(ix, folder, &stats, &so)) < 0)
		goto done;
	cs_log(CS_LOG_DEBUG, "relay.scanned", "job=%llu folder=%s files=%llu changed=%llu "
		"hashed=%llu ms=%lld", (unsigned long long)job, folder, (unsigned long long)stats.files,
		(unsigned long long)stats.changed, (unsigned long long)stats.hashed_bytes,
		(long long)(cs_clock_mono_ms() - t0));
	/* What this scan changed went out with its batches; now the changes
	 * of earlier scans that some destination still lacks. */
	if ((r = cs_index_folder_seq(&res->to_seq, ix, folder)) < 0 ||
	    (r = scan_committed(&p, res->to_seq)) < 0 ||
	    (r = cs_index_changes_between(ix, folder, p.from, p.prescan_seq, add_entry, &p)) < 0 ||
	    (r = send_segment(&p, 1)) < 0 || (r = sender_finish(&p, 0)) < 0)
		goto done;
	res->files = p.m.nentries;

	p.t.job = job;
	memcpy(p.t.session_id, p.sk.session_id, CS_SESSION_ID_LEN);
	p.t.to_seq = res->to_seq;
	cs_sha256_final(p.mhash, p.t.manifest_hash);
	p.mhash = NULL;
	p.t.data_records = p.next_record;
	p.t.packs = (uint32_t)p.m.npacks;
	if (p.t.data_records > UINT32_MAX || p.t.packs > CS_PACKS_MAX) {
		r = cs_error_set(CS_ELIMIT, "too many changes for one session (%llu records)",
			(unsigned long long)p.t.data_records);
		goto done;
	}
	if ((r = cs_session_trailer_encode(&plain, &plain_len, &p.t)) < 0 ||
	    (r = put_sealed(&p, "trailer", plain, plain_len, self, recips, ndests)) < 0)
		goto done;
	res->segments = p.t.segments;
	if (io->flush)
		r = io->flush(io->ud);
	if (r == 0)
		cs_log(CS_LOG_INFO, "relay.produced", "job=%llu folder=%s from=%llu to=%llu files=%llu "
			"records=%llu segments=%u bytes=%llu", (unsigned long long)job, folder,
			(unsigned long long)p.from, (unsigned long long)res->to_seq,
			(unsigned long long)res->files, (unsigned long long)res->records, p.t.segments,
			(unsigned long long)res->bytes);
done:
	sender_finish(&p, 1); /* after a failure: drop what is queued */
	if (plain)
		cs_freezero(plain, plain_len);
	free(recips);
	cs_wipe(&p.sk, sizeof(p.sk));
	free(h.recipients);
	cs_wipe(&h.key, sizeof(h.key));
	if (p.mhash)
		cs_sha256_free(p.mhash);
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
