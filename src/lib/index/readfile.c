/* Reading one file during a scan: cut it into chunks, hash each chunk and
 * the file, and make sure the bytes belong to one state of the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "index_internal.h"

/* A file that changes under every attempt is left for the next scan. */
#define IX_READ_ATTEMPTS 3
/* Internal result: the file changed while being read. */
#define IX_READ_AGAIN 3
/* File systems stamp mtime and ctime from a clock that advances in ticks of
 * a few milliseconds, so a write in the same tick as our fstat would leave
 * both unchanged. A file touched less than this long ago is read only after
 * the tick has surely passed; any later write then shows in its times. */
#define IX_SETTLE_NS INT64_C(50000000)

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Wait until the file's last change is IX_SETTLE_NS old. Returns 1 when a
 * wait was needed (the caller must fstat again), 0 when not. */
static int settle(const struct stat *st)
{
	struct timespec now;
	int64_t last = ts_ns(&st->st_mtim);
	if (ts_ns(&st->st_ctim) > last)
		last = ts_ns(&st->st_ctim);
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t age = ts_ns(&now) - last;
	/* A time in the future (clock skew, touch -d) cannot be waited out;
	 * the recheck flag of the scan covers that case. */
	if (age < 0 || age >= IX_SETTLE_NS)
		return 0;
	int64_t wait = IX_SETTLE_NS - age;
	struct timespec d = { .tv_sec = (time_t)(wait / 1000000000), .tv_nsec = (long)(wait % 1000000000) };
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
	return 1;
}

/* Whether two fstat results describe the same state of the same file. ctime
 * is included because it changes on every write and cannot be set back by
 * the writer, unlike mtime. */
static int same_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
		a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
		a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
		a->st_mode == b->st_mode;
}

/* Record a chunk; its hash is computed later, with the buffer's others. */
static int push_chunk(cs_chunk_ref **v, size_t *n, size_t *alloc, uint32_t len, uint64_t offset)
{
	if (*n == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 16;
		cs_chunk_ref *p = realloc(*v, na * sizeof(*p));
		if (p == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		*v = p;
		*alloc = na;
	}
	cs_chunk_ref *c = &(*v)[(*n)++];
	c->offset = offset;
	c->len = len;
	return CS_OK;
}

static int read_once(cs_file_entry *e, uint64_t *hashed, const cs_index *ix, int dirfd,
	const char *name, uint8_t *buf, size_t bufsize, struct cs__ix_hasher *hasher,
	void (*tick)(void *arg), void *arg)
{
	cs_chunk_ref *chunks = NULL;
	size_t nchunks = 0, achunks = 0, fill = 0, pos = 0, unhashed = 0;
	uint64_t total = 0;
	struct stat before, after;
	int eof = 0, r;
	/* b is the buffer being filled and cut; spare, when there is one, the
	 * other, whose chunks may still be being hashed meanwhile. */
	uint8_t *b = buf, *spare = cs__ix_hasher_spare(hasher, bufsize);
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return CS__IX_READ_GONE;
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			return cs_error_set(CS_EIO, "open %s: %s", name, strerror(errno));
		return CS__IX_READ_SKIP;
	}
	if (fstat(fd, &before) != 0) {
		r = CS__IX_READ_SKIP;
		goto done;
	}
	/* O_NONBLOCK above keeps a fifo swapped in after lstat from hanging the
	 * scan; anything but a regular file is no longer this entry. */
	if (!S_ISREG(before.st_mode)) {
		r = CS__IX_READ_GONE;
		goto done;
	}
	if (settle(&before)) {
		if (fstat(fd, &after) != 0) {
			r = CS__IX_READ_SKIP;
			goto done;
		}
		if (!same_state(&before, &after)) {
			r = IX_READ_AGAIN;
			goto done;
		}
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	for (;;) {
		size_t avail = fill - pos;
		size_t n = avail ? cs_chunker_next(&ix->params, b + pos, avail, eof) : 0;
		if (n > 0) {
			if ((r = push_chunk(&chunks, &nchunks, &achunks, (uint32_t)n, total - avail)) < 0)
				goto done;
			pos += n;
			if (tick)
				tick(arg);
			continue;
		}
		/* The buffer is about to change (or the file is done): the
		 * previous batch must be hashed by now, and the chunks cut from
		 * this buffer are hashed while the next bytes are read and cut.
		 * b[0] is at file offset total - fill. (Finishing when no batch
		 * is open does nothing.) */
		cs__ix_hasher_finish(hasher, chunks);
		if (nchunks > unhashed)
			cs__ix_hasher_begin(hasher, b, total - fill, chunks, unhashed,
				nchunks - unhashed);
		unhashed = nchunks;
		if (eof)
			break;
		/* The chunker wants more bytes than are buffered (fewer than
		 * max_size): read behind them, first moving them to the front
		 * of the other buffer (free: only this one's batch is open),
		 * or of this one once its batch is done, when less than
		 * max_size is free behind them. */
		if (bufsize - fill < ix->params.max_size) {
			if (spare != NULL) {
				uint8_t *next = spare;
				memcpy(next, b + pos, avail);
				spare = b;
				b = next;
			} else {
				cs__ix_hasher_finish(hasher, chunks);
				memmove(b, b + pos, avail);
			}
			fill = avail;
			pos = 0;
		}
		ssize_t got;
		do
			got = read(fd, b + fill, bufsize - fill);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			r = CS__IX_READ_SKIP;
			goto done;
		}
		if (got == 0)
			eof = 1;
		fill += (size_t)got;
		total += (uint64_t)got;
		*hashed += (uint64_t)got;
		if (total > (uint64_t)before.st_size) {
			r = IX_READ_AGAIN; /* growing while we read */
			goto done;
		}
	}
	cs__ix_hasher_finish(hasher, chunks);
	if (fstat(fd, &after) != 0) {
		r = CS__IX_READ_SKIP;
		goto done;
	}
	if (!same_state(&before, &after) || total != (uint64_t)before.st_size) {
		r = IX_READ_AGAIN;
		goto done;
	}

	/* The file hash covers the chunk hashes, so that a peer can check a
	 * chunk list against it without the data. */
	cs_sha256_ctx *ctx = cs_sha256_new();
	if (ctx == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nchunks; i++)
		cs_sha256_update(ctx, chunks[i].hash, CS_HASH_LEN);
	cs_sha256_final(ctx, e->hash);

	free(e->chunks);
	e->chunks = chunks;
	e->nchunks = nchunks;
	chunks = NULL;
	e->kind = CS_KIND_FILE;
	e->deleted = 0;
	e->mode = (uint32_t)(before.st_mode & 07777);
	e->mtime_ns = ts_ns(&before.st_mtim);
	e->size = (uint64_t)before.st_size;
	r = CS__IX_READ_OK;
done:
	cs__ix_hasher_finish(hasher, chunks); /* a batch left open by a failure */
	close(fd);
	free(chunks);
	return r;
}

int cs__ix_read_file(cs_file_entry *e, uint64_t *hashed, const cs_index *ix, int dirfd,
	const char *name, uint8_t *buf, size_t bufsize, struct cs__ix_hasher *hasher,
	void (*tick)(void *arg), void *arg)
{
	/* Reads stop at max_size boundaries, so the buffer must hold a whole
	 * maximal chunk plus room to read behind it. */
	if (bufsize < 2 * (size_t)ix->params.max_size)
		return cs_error_set(CS_EINVAL, "read buffer too small");
	for (int i = 0; i < IX_READ_ATTEMPTS; i++) {
		int r = read_once(e, hashed, ix, dirfd, name, buf, bufsize, hasher, tick, arg);
		if (r != IX_READ_AGAIN)
			return r;
	}
	return CS__IX_READ_SKIP;
}
