/*
 * cs_index_scan: walk a folder's root and bring its index up to date.
 *
 * The walk runs without holding the store's write lock (hashing can take
 * minutes); it compares what it finds with a snapshot of the entries taken
 * at the start and queues changes, which cs__ix_apply writes in batches,
 * each in one transaction. Vanished paths are only known at the end, so
 * their tombstones go into the last batch, after every addition: a file
 * that was renamed keeps the chunk seqs of its old name.
 *
 * One scan per folder at a time: the caller serialises them.
 *
 * Directories are entries of their own; a change of their mode or mtime is
 * a change like any other, so that destinations can reproduce both.
 *
 * "Racily clean" files: a file whose mtime is within CS__IX_RACY_NS of the time
 * it was read could be rewritten with the same size and (coarse) mtime, and
 * a comparison of metadata would miss that. Such entries are stored with
 * recheck=1 and read again by the next scan, which clears the flag once
 * the time has passed (without a new seq when the content is the same).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include "index_internal.h"

/* Nesting limit: the walk holds one descriptor per level. */
#define IX_MAX_DEPTH 256
/* Write a batch when this many changes or this many hashed bytes are
 * pending, so that a huge first scan keeps its progress and its memory
 * bounded. */
#define IX_BATCH_CHANGES 8192
#define IX_BATCH_BYTES (UINT64_C(1) << 30)
#define IX_READ_BUF (8u * 1024 * 1024)
#define IX_PROGRESS_MS 100

/* An entry as stored when the scan started. */
struct ix_old {
	char *path;
	uint8_t kind, deleted, has_hash, recheck, seen;
	uint32_t mode;
	int64_t mtime_ns;
	uint64_t size;
	uint8_t hash[CS_HASH_LEN];
};

struct ix_scan {
	cs_index *ix;
	const char *folder_id;
	int64_t fid;
	struct ix_old *old;
	size_t nold;
	struct cs__ix_change *chg;
	size_t nchg, achg;
	uint64_t batch_bytes;
	cs_scan_stats stats;
	cs_scan_progress_fn progress;
	int (*committed)(void *ud, uint64_t seq);
	void *ud;
	size_t max_changes;
	uint64_t max_bytes;
	int64_t next_progress;
	uint8_t *buf;   /* the walk's read buffer: the reader's, or its own */
	size_t bufsize;
	struct cs__ix_hasher *hasher; /* started with buf; NULL hashes on one thread */
	struct cs__ix_reader *reader; /* started with buf; NULL reads on one thread */
	uint8_t *own_buf;
	int depth;
	char path[CS_PATH_MAX_LEN + 1]; /* relative path of the current entry */
	size_t pathlen;
};

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int cs__ix_is_racy(int64_t mtime_ns)
{
	return mtime_ns > now_ns() - CS__IX_RACY_NS;
}

static int64_t mtime_ns_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void progress_tick(void *arg)
{
	struct ix_scan *s = arg;
	if (s->progress == NULL)
		return;
	int64_t now = cs_clock_mono_ms();
	if (now < s->next_progress)
		return;
	s->next_progress = now + IX_PROGRESS_MS;
	s->progress(s->ud, &s->stats);
}

static int old_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ix_old *)a)->path, ((const struct ix_old *)b)->path);
}

static int old_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ix_old *)elem)->path);
}

static void old_free(struct ix_scan *s)
{
	for (size_t i = 0; i < s->nold; i++)
		free(s->old[i].path);
	free(s->old);
	s->old = NULL;
	s->nold = 0;
}

/* Snapshot the folder's entries (without chunk lists), sorted by path. */
static int old_load(struct ix_scan *s)
{
	cs_stmt *q = NULL;
	size_t alloc = 0;
	int r = cs_store_prepare(&q, s->ix->st, "SELECT path, kind, deleted, mode, mtime_ns, "
		"size, hash, recheck FROM ix_entry WHERE fid = ?");
	if (r < 0)
		return r;
	if ((r = cs_stmt_bind_int64(q, 1, s->fid)) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		if (s->nold == alloc) {
			size_t na = alloc ? alloc * 2 : 256;
			void *p = realloc(s->old, na * sizeof(*s->old));
			if (p == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				goto done;
			}
			s->old = p;
			alloc = na;
		}
		struct ix_old *o = &s->old[s->nold];
		const char *path = cs_stmt_text(q, 0);
		size_t hlen = 0;
		const void *h = cs_stmt_blob(q, 6, &hlen);
		memset(o, 0, sizeof(*o));
		if (path == NULL || (o->path = strdup(path)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		s->nold++;
		o->kind = (uint8_t)cs_stmt_int64(q, 1);
		o->deleted = cs_stmt_int64(q, 2) != 0;
		o->mode = (uint32_t)cs_stmt_int64(q, 3);
		o->mtime_ns = cs_stmt_int64(q, 4);
		o->size = (uint64_t)cs_stmt_int64(q, 5);
		o->recheck = cs_stmt_int64(q, 7) != 0;
		if (h != NULL && hlen == CS_HASH_LEN) {
			memcpy(o->hash, h, CS_HASH_LEN);
			o->has_hash = 1;
		}
	}
	if (r < 0)
		goto done;
	/* Sorted here rather than by SQL, so that lookups use exactly the
	 * order they search with. */
	if (s->nold > 1)
		qsort(s->old, s->nold, sizeof(*s->old), old_cmp);
	r = CS_OK;
done:
	cs_stmt_free(q);
	return r;
}

static struct ix_old *old_find(struct ix_scan *s, const char *path)
{
	if (s->nold == 0)
		return NULL;
	return bsearch(path, s->old, s->nold, sizeof(*s->old), old_key_cmp);
}

/* Keep the entry at s->path and everything below it as they are: used when
 * a directory cannot be read, which must not look like a deletion. */
static void keep_subtree(struct ix_scan *s)
{
	size_t lo = 0, hi = s->nold, n = s->pathlen;
	/* First entry >= path; entries below it follow in a block, since
	 * "path/..." sorts after "path" and before anything else. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->old[mid].path, s->path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < s->nold; i++) {
		const char *p = s->old[i].path;
		if (strcmp(p, s->path) == 0) {
			s->old[i].seen = 1;
			continue;
		}
		if (strncmp(p, s->path, n) != 0)
			break;
		if (p[n] == '/')
			s->old[i].seen = 1;
		else if ((unsigned char)p[n] > '/')
			break;
	}
}

static void change_clear(struct cs__ix_change *c)
{
	cs__ix_entry_clear(&c->e);
}

static void changes_free(struct ix_scan *s)
{
	for (size_t i = 0; i < s->nchg; i++)
		change_clear(&s->chg[i]);
	free(s->chg);
	s->chg = NULL;
	s->nchg = s->achg = 0;
}

static int flush(struct ix_scan *s)
{
	size_t n = s->nchg;
	int r = cs__ix_apply(s->ix, s->fid, s->chg, s->nchg);
	for (size_t i = 0; i < s->nchg; i++)
		change_clear(&s->chg[i]);
	s->nchg = 0;
	s->batch_bytes = 0;
	if (r == 0 && n > 0 && s->committed != NULL) {
		uint64_t seq = 0;
		if ((r = cs_index_folder_seq(&seq, s->ix, s->folder_id)) == 0)
			r = s->committed(s->ud, seq);
	}
	return r;
}

/* Queue *c (taking what it holds); writes a batch when enough is pending. */
static int push(struct ix_scan *s, struct cs__ix_change *c)
{
	if (s->nchg == s->achg) {
		size_t na = s->achg ? s->achg * 2 : 64;
		void *p = realloc(s->chg, na * sizeof(*s->chg));
		if (p == NULL) {
			change_clear(c);
			return cs_error_set(CS_ENOMEM, "out of memory");
		}
		s->chg = p;
		s->achg = na;
	}
	s->chg[s->nchg++] = *c;
	memset(c, 0, sizeof(*c));
	if (s->nchg >= s->max_changes || s->batch_bytes >= s->max_bytes)
		return flush(s);
	return CS_OK;
}

/* What came before a change: the previous content hash when the path was
 * a live file, nothing otherwise. */
static void set_prev(cs_file_entry *e, const struct ix_old *o)
{
	if (o != NULL && !o->deleted && o->kind == CS_KIND_FILE && o->has_hash) {
		memcpy(e->prev_hash, o->hash, CS_HASH_LEN);
		e->has_prev = 1;
	}
}

static int visit_dir(struct ix_scan *s, int dirfd, const char *name, const struct stat *st);

/* Whether the file at path, as st says it is, must be read: it is new, or
 * its size, mtime or mode changed, or it was racily clean. */
static int needs_read(struct ix_scan *s, const char *path, const struct stat *st)
{
	const struct ix_old *o = old_find(s, path);
	return !(o != NULL && !o->deleted && o->kind == CS_KIND_FILE && o->has_hash && !o->recheck &&
		o->size == (uint64_t)st->st_size && o->mtime_ns == mtime_ns_of(st) &&
		o->mode == (uint32_t)(st->st_mode & 07777));
}

/* The read buffer, the reading and the hashing threads, at the first file
 * that must be read. Without threads one does it all. */
static int start_reading(struct ix_scan *s)
{
	if (s->buf != NULL)
		return CS_OK;
	s->bufsize = IX_READ_BUF;
	if (s->bufsize < 2 * (size_t)s->ix->params.max_size)
		s->bufsize = 2 * (size_t)s->ix->params.max_size;
	if (cs__ix_reader_new(&s->reader, s->ix, s->bufsize) == 0) {
		s->buf = cs__ix_reader_buffer(s->reader);
	} else {
		cs_error_clear();
		if ((s->buf = s->own_buf = cs_bigmem_alloc(s->bufsize)) == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
	}
	if (cs__ix_hasher_new(&s->hasher, s->bufsize) < 0)
		cs_error_clear();
	return CS_OK;
}

/* work: the file's place in the reader's list, or SIZE_MAX to read it here. */
static int visit_file(struct ix_scan *s, int dirfd, const char *name, const struct stat *st,
	size_t work)
{
	struct ix_old *o = old_find(s, s->path);
	int was_file = o != NULL && !o->deleted && o->kind == CS_KIND_FILE && o->has_hash;
	struct cs__ix_change c;
	uint64_t hashed = 0;
	int r;

	if (!needs_read(s, s->path, st)) {
		o->seen = 1;
		s->stats.files++;
		s->stats.bytes += o->size;
		return CS_OK;
	}

	memset(&c, 0, sizeof(c));
	if ((c.e.path = strdup(s->path)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = start_reading(s)) < 0) {
		change_clear(&c);
		return r;
	}
	int racy = 0;
	if (work != SIZE_MAX) {
		char *path = c.e.path;
		r = cs__ix_reader_take(s->reader, work, &c.e, &hashed, &racy, s->hasher,
			progress_tick, s);
		c.e.path = path;
	} else {
		r = cs__ix_read_file(&c.e, &hashed, s->ix, dirfd, name, s->buf, s->bufsize, s->hasher,
			progress_tick, s);
		racy = r == CS__IX_READ_OK && cs__ix_is_racy(c.e.mtime_ns);
	}
	s->stats.hashed_bytes += hashed;
	s->batch_bytes += hashed;
	if (r != CS__IX_READ_OK) {
		change_clear(&c);
		if (r < 0)
			return r;
		/* Gone: no longer a file here, a tombstone if it was indexed.
		 * Skipped (unreadable, or changing under every read): keep the
		 * old entry rather than record a state that never existed. */
		if (r == CS__IX_READ_SKIP && o != NULL) {
			o->seen = 1;
			if (!o->deleted && o->kind == CS_KIND_FILE) {
				s->stats.files++;
				s->stats.bytes += o->size;
			}
		}
		return CS_OK;
	}
	if (o != NULL)
		o->seen = 1;
	s->stats.files++;
	s->stats.bytes += c.e.size;
	/* racy as of the read: a result taken later must not pass for settled */
	c.recheck = racy;

	if (was_file && o->size == c.e.size && o->mtime_ns == c.e.mtime_ns && o->mode == c.e.mode &&
	    memcmp(o->hash, c.e.hash, CS_HASH_LEN) == 0) {
		/* Same state as stored: at most the recheck flag changes. */
		if (c.recheck == o->recheck) {
			change_clear(&c);
			return CS_OK;
		}
		c.refresh = 1;
		return push(s, &c);
	}
	set_prev(&c.e, o);
	s->stats.changed++;
	return push(s, &c);
}

/* Read the names in a directory, sorted, without "." and "..". */
static int list_dir(char ***out, size_t *count, int dirfd)
{
	char **names = NULL;
	size_t n = 0, alloc = 0;
	int r = CS_OK;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return cs_error_set(CS_EIO, "open directory: %s", strerror(errno));
	}
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			if (errno != 0)
				r = cs_error_set(CS_EIO, "read directory: %s", strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 32;
			void *p = realloc(names, na * sizeof(*names));
			if (p == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			names = p;
			alloc = na;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		free(names);
		return r;
	}
	*out = names;
	*count = n;
	return CS_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The name's relative path into s->path (after base); 0 when it cannot be
 * an index path (too long, a temporary file, not valid). */
static int set_path(struct ix_scan *s, size_t base, const char *name)
{
	size_t len = strlen(name), start = base + (base > 0);
	if (strncmp(name, CS_TMP_PREFIX, sizeof(CS_TMP_PREFIX) - 1) == 0)
		return 0;
	if (start + len > CS_PATH_MAX_LEN)
		return 0;
	if (base > 0)
		s->path[base] = '/';
	memcpy(s->path + start, name, len + 1);
	s->pathlen = start + len;
	return cs_index_path_valid(s->path);
}

/* What fstatat said of a name, taken shortly before the walk comes to it
 * (when its run is planned, or at the name itself): only what the visits
 * use, so that a directory of a million names stays small. */
struct dir_entry {
	int8_t state;   /* 0 not taken yet, 1 taken, -1 vanished, -2 unreadable */
	uint32_t mode;
	int64_t size;
	struct timespec mtime;
	size_t work;    /* place in the reader's list, or SIZE_MAX */
};

/* Fill d from fstatat of names[i], unless done; 1 when it is an index path
 * that exists (with s->path set to it), 0 otherwise. */
static int stat_entry(struct ix_scan *s, int dirfd, size_t base, const char *name,
	struct dir_entry *d)
{
	if (!set_path(s, base, name))
		return 0;
	if (d->state == 0) {
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			d->state = 1;
			d->mode = st.st_mode;
			d->size = st.st_size;
			d->mtime = st.st_mtim;
		} else {
			d->state = errno == ENOENT ? -1 : -2;
		}
	}
	return d->state == 1;
}

/* The stat the visits get: only mode, size and mtime are used. */
static void entry_stat(struct stat *st, const struct dir_entry *d)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = d->mode;
	st->st_size = d->size;
	st->st_mtim = d->mtime;
}

/* From names[i] on, up to the next directory (whose walk would need the
 * reader itself): the files that must be read go to the reader when there
 * are two or more, to be read on two threads. Returns the end of the run. */
static size_t plan_run(struct ix_scan *s, int dirfd, char **names, struct dir_entry *d, size_t i,
	size_t n, size_t base, const char **work, size_t *nwork)
{
	size_t end = i, k = 0;
	for (; end < n; end++) {
		int exists = stat_entry(s, dirfd, base, names[end], &d[end]);
		if (exists && S_ISDIR(d[end].mode))
			break;
		struct stat st;
		entry_stat(&st, &d[end]);
		if (exists && S_ISREG(d[end].mode) && needs_read(s, s->path, &st))
			work[k++] = names[end];
	}
	s->pathlen = base;
	s->path[base] = 0;
	*nwork = k;
	if (k < 2)
		return end;
	k = 0;
	for (size_t j = i; j < end; j++)
		if (k < *nwork && names[j] == work[k])
			d[j].work = k++;
	return end;
}

/* Walk the directory open as dirfd, whose path is s->path ("" for the
 * root). */
static int walk(struct ix_scan *s, int dirfd)
{
	char **names = NULL;
	struct dir_entry *d = NULL;
	const char **work = NULL;
	size_t n = 0, base = s->pathlen, run_end = 0, nwork = 0;
	int r = list_dir(&names, &n, dirfd), reading = 0;
	if (r == CS_EIO && s->depth > 0) {
		/* An unreadable directory is not an empty one. */
		keep_subtree(s);
		return CS_OK;
	}
	if (r < 0)
		return r;
	/* Sorted, so that sequence numbers come out the same on every run. */
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	if (n > 0 && ((d = calloc(n, sizeof(*d))) == NULL || (work = calloc(n, sizeof(*work))) == NULL)) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		d[i].work = SIZE_MAX;
	for (size_t i = 0; i < n && r == CS_OK; i++) {
		/* the reader starts at the first file that must be read; runs
		 * are planned from the next entry on */
		if (i >= run_end && s->reader != NULL) {
			if (reading)
				cs__ix_reader_end(s->reader);
			reading = 0;
			run_end = plan_run(s, dirfd, names, d, i, n, base, work, &nwork);
			if (run_end == i)
				run_end = i + 1; /* a directory: a run of its own */
			else if (nwork >= 2) {
				if (cs__ix_reader_begin(s->reader, dirfd, work, nwork) == 0)
					reading = 1;
				else
					cs_error_clear(); /* this run on one thread */
			}
		}
		const char *name = names[i];
		struct stat st;
		int exists = stat_entry(s, dirfd, base, name, &d[i]);
		entry_stat(&st, &d[i]);
		if (!exists) {
			/* Not an index path: left alone. Vanished since readdir:
			 * a tombstone if indexed. Any other failure is not a
			 * deletion. */
			if (d[i].state == -2)
				keep_subtree(s);
		} else if (S_ISDIR(st.st_mode)) {
			r = visit_dir(s, dirfd, name, &st);
		} else if (S_ISREG(st.st_mode)) {
			r = visit_file(s, dirfd, name, &st, reading ? d[i].work : SIZE_MAX);
		}
		/* Symlinks, sockets, fifos and devices are not synced: skipped,
		 * and tombstoned if something of that name was indexed before. */
		s->pathlen = base;
		s->path[base] = 0;
		progress_tick(s);
	}
done:
	if (reading)
		cs__ix_reader_end(s->reader);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(d);
	free(work);
	return r;
}

static int visit_dir(struct ix_scan *s, int dirfd, const char *name, const struct stat *st)
{
	struct ix_old *o = old_find(s, s->path);
	uint32_t mode = (uint32_t)(st->st_mode & 07777);
	int64_t mtime = mtime_ns_of(st);
	int r;

	if (o != NULL)
		o->seen = 1;
	s->stats.dirs++;
	if (o == NULL || o->deleted || o->kind != CS_KIND_DIR || o->mode != mode || o->mtime_ns != mtime) {
		struct cs__ix_change c;
		memset(&c, 0, sizeof(c));
		if ((c.e.path = strdup(s->path)) == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		c.e.kind = CS_KIND_DIR;
		c.e.mode = mode;
		c.e.mtime_ns = mtime;
		set_prev(&c.e, o);
		s->stats.changed++;
		if ((r = push(s, &c)) < 0)
			return r;
	}
	if (s->depth >= IX_MAX_DEPTH)
		return cs_error_set(CS_ELIMIT, "%s: directories nested deeper than %d levels",
			s->path, IX_MAX_DEPTH);
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			return cs_error_set(CS_EIO, "open %s: %s", s->path, strerror(errno));
		/* Unreadable (or replaced since fstatat): what was indexed below
		 * stays as it is until it can be read. */
		keep_subtree(s);
		return CS_OK;
	}
	s->depth++;
	r = walk(s, fd);
	s->depth--;
	close(fd);
	return r;
}

int cs_index_scan(cs_index *ix, const char *folder_id, cs_scan_stats *stats,
	cs_scan_progress_fn progress, void *ud)
{
	cs_scan_options o = {progress, NULL, ud, 0, 0};
	return cs_index_scan_with(ix, folder_id, stats, &o);
}

int cs_index_scan_with(cs_index *ix, const char *folder_id, cs_scan_stats *stats,
	const cs_scan_options *opts)
{
	struct ix_scan *s = calloc(1, sizeof(*s));
	cs_scan_progress_fn progress = opts ? opts->progress : NULL;
	void *ud = opts ? opts->ud : NULL;
	char *root = NULL;
	int rootfd = -1, r;

	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	s->ix = ix;
	s->folder_id = folder_id;
	s->progress = progress;
	s->committed = opts ? opts->committed : NULL;
	s->ud = ud;
	s->max_changes = opts && opts->batch_changes ? opts->batch_changes : IX_BATCH_CHANGES;
	s->max_bytes = opts && opts->batch_bytes ? opts->batch_bytes : IX_BATCH_BYTES;
	s->next_progress = cs_clock_mono_ms() + IX_PROGRESS_MS;
	if ((r = cs__ix_folder_fid(&s->fid, ix, folder_id)) < 0 ||
	    (r = cs_index_folder_root(&root, ix, folder_id)) < 0)
		goto done;
	/* A missing or unreadable root is an error, never "everything was
	 * deleted": an unmounted disk must not turn into tombstones. */
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = cs_error_set(errno == ENOENT ? CS_ENOTFOUND : CS_EIO, "open folder root %s: %s",
			root, strerror(errno));
		goto done;
	}
	if ((r = old_load(s)) < 0)
		goto done;
	if ((r = walk(s, rootfd)) < 0)
		goto done;

	/* Tombstones last, so that the additions above (a renamed file's new
	 * name) reference their chunks before the old names let go of them. */
	for (size_t i = 0; i < s->nold; i++) {
		struct ix_old *o = &s->old[i];
		struct cs__ix_change c;
		if (o->seen || o->deleted)
			continue;
		memset(&c, 0, sizeof(c));
		if ((c.e.path = strdup(o->path)) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		c.e.kind = o->kind;
		c.e.deleted = 1;
		c.e.mode = o->mode;
		c.e.mtime_ns = o->mtime_ns;
		set_prev(&c.e, o);
		s->stats.deleted++;
		if ((r = push(s, &c)) < 0)
			goto done;
	}
	if ((r = flush(s)) < 0)
		goto done;
	if (progress)
		progress(ud, &s->stats);
	if (stats)
		*stats = s->stats;
	r = CS_OK;
done:
	if (r < 0)
		cs_error_wrap("scan folder %s", folder_id);
	if (rootfd >= 0)
		close(rootfd);
	free(root);
	cs__ix_hasher_free(s->hasher);
	cs__ix_reader_free(s->reader);
	cs_bigmem_free(s->own_buf);
	changes_free(s);
	old_free(s);
	free(s);
	return r;
}
