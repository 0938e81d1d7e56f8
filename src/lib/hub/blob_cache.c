/*
 * The relay's recent blobs, kept in memory (hub_internal.h). A destination
 * that keeps up with its source asks for each pack moments after it was
 * stored; serving it from here spares reading it back from the disk. The
 * buffers are aligned for direct I/O, so the same copy is what the relay
 * writes to its file.
 *
 * An entry remembers the file it was written as (inode, size, mtime); a
 * blob replaced meanwhile, by this hub or another one sharing the data
 * directory, no longer matches and is dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include "hub/hub_internal.h"

struct cs__blob_entry {
	struct cs__blob_entry *next; /* newest first */
	int64_t job;
	char name[CS__HUB_BLOB_NAME_MAX];
	uint8_t *data; /* aligned to CS_FS_DIRECT_ALIGN, zero-padded */
	size_t len, cap;
	ino_t ino;
	int64_t mtime_ns;
	int stored; /* the file was written as this entry says */
	int refs;   /* the cache's own (while listed) and replies still sending it */
};

static int64_t mtime_of(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static void entry_free(struct cs__blob_entry *e)
{
	cs_bigmem_free(e->data);
	free(e);
}

/* Drop one reference; the last one frees the entry. */
static void entry_unref(struct cs__blob_entry *e)
{
	if (--e->refs <= 0)
		entry_free(e);
}

/* An entry with an aligned buffer for len bytes, zero-padded to a block. */
static struct cs__blob_entry *entry_alloc(size_t len)
{
	struct cs__blob_entry *e = calloc(1, sizeof(*e));
	size_t cap = (len + CS_FS_DIRECT_ALIGN - 1) / CS_FS_DIRECT_ALIGN * CS_FS_DIRECT_ALIGN;
	if (cap == 0)
		cap = CS_FS_DIRECT_ALIGN;
	if (e == NULL || (e->data = cs_bigmem_alloc(cap)) == NULL) {
		free(e);
		cs_error_set(CS_ENOMEM, "out of memory");
		return NULL;
	}
	memset(e->data + (cap - CS_FS_DIRECT_ALIGN), 0, CS_FS_DIRECT_ALIGN);
	e->refs = 1;
	e->len = len;
	e->cap = cap;
	return e;
}

int cs__blob_cache_new_empty(struct cs__blob_entry **out, uint8_t **buf, size_t len)
{
	struct cs__blob_entry *e = entry_alloc(len);
	if (e == NULL)
		return CS_ENOMEM;
	*buf = e->data;
	*out = e;
	return CS_OK;
}

int cs__blob_cache_new(struct cs__blob_entry **out, const uint8_t *data, size_t len)
{
	uint8_t *buf;
	int r = cs__blob_cache_new_empty(out, &buf, len);
	if (r == 0)
		memcpy(buf, data, len);
	return r;
}

const uint8_t *cs__blob_entry_data(const struct cs__blob_entry *e)
{
	return e->data;
}

size_t cs__blob_entry_len(const struct cs__blob_entry *e)
{
	return e->len;
}

void cs__blob_cache_discard(struct cs__blob_entry *e)
{
	if (e != NULL)
		entry_unref(e);
}

static void unlink_entry(struct cs__blob_cache *c, struct cs__blob_entry **link)
{
	struct cs__blob_entry *e = *link;
	*link = e->next;
	e->next = NULL;
	c->bytes -= e->cap;
	entry_unref(e); /* a reply still sending it keeps it until it is done */
}

void *cs__blob_cache_hold(struct cs__blob_cache *c, const uint8_t *data)
{
	for (struct cs__blob_entry *e = c->head; e; e = e->next)
		if (e->data == data) {
			e->refs++;
			return e;
		}
	return NULL;
}

void cs__blob_cache_release(void *entry)
{
	entry_unref(entry);
}

static struct cs__blob_entry **find(struct cs__blob_cache *c, int64_t job, const char *name)
{
	struct cs__blob_entry **p;
	for (p = &c->head; *p; p = &(*p)->next)
		if ((*p)->job == job && strcmp((*p)->name, name) == 0)
			return p;
	return NULL;
}

void cs__blob_cache_put(struct cs__blob_cache *c, int64_t job, const char *name,
	struct cs__blob_entry *e, const char *path)
{
	struct stat st;
	struct cs__blob_entry **old = find(c, job, name);
	if (old != NULL)
		unlink_entry(c, old);
	if (e->cap > CS__HUB_BLOB_CACHE_BYTES / 2 || stat(path, &st) != 0) {
		entry_unref(e);
		return;
	}
	e->job = job;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->ino = st.st_ino;
	e->mtime_ns = mtime_of(&st);
	e->stored = (uint64_t)st.st_size == e->len;
	/* the oldest go first until the newest fits */
	while (c->head != NULL && c->bytes + e->cap > CS__HUB_BLOB_CACHE_BYTES) {
		struct cs__blob_entry **last = &c->head;
		while ((*last)->next != NULL)
			last = &(*last)->next;
		unlink_entry(c, last);
	}
	e->next = c->head;
	c->head = e;
	c->bytes += e->cap;
}

int cs__blob_cache_get(struct cs__blob_cache *c, const uint8_t **data, size_t *len, int64_t job,
	const char *name, const char *path)
{
	struct stat st;
	struct cs__blob_entry **link = find(c, job, name);
	if (link == NULL)
		return 0;
	struct cs__blob_entry *e = *link;
	if (!e->stored || stat(path, &st) != 0 || st.st_ino != e->ino || mtime_of(&st) != e->mtime_ns ||
	    (uint64_t)st.st_size != e->len) {
		unlink_entry(c, link);
		return 0;
	}
	*data = e->data;
	*len = e->len;
	return 1;
}

/* Read exactly len bytes of fd into buf (room for len rounded up to a
 * block); 0, or -1 when the file is shorter or unreadable. */
static int read_all(int fd, uint8_t *buf, size_t cap, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, cap - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return got == len ? 0 : -1;
}

int cs__blob_cache_load(struct cs__blob_cache *c, const uint8_t **data, size_t *len, int64_t job,
	const char *name, const char *path, size_t want)
{
	struct stat st;
	struct cs__blob_entry *e = entry_alloc(want);
	if (e == NULL)
		return CS_ENOMEM;
	/* Direct I/O: a blob that left the cache is read in one request
	 * instead of trickling through readahead while the loop waits. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size != want ||
	    read_all(fd, e->data, e->cap, want) != 0) {
		if (fd >= 0)
			close(fd);
		entry_free(e);
		return cs_error_set(CS_EIO, "blob %s of job %lld was lost by the hub (it stopped "
			"uncleanly); run the job again", name, (long long)job);
	}
	close(fd);
	cs__blob_cache_put(c, job, name, e, path);
	/* put may refuse to keep it (too large): read it from the list */
	if (cs__blob_cache_get(c, data, len, job, name, path))
		return CS_OK;
	return cs_error_set(CS_ELIMIT, "blob %s of job %lld does not fit in memory", name, (long long)job);
}

void cs__blob_cache_drop_job(struct cs__blob_cache *c, int64_t job)
{
	struct cs__blob_entry **p = &c->head;
	while (*p)
		if ((*p)->job == job)
			unlink_entry(c, p);
		else
			p = &(*p)->next;
}

void cs__blob_cache_free(struct cs__blob_cache *c)
{
	while (c->head)
		unlink_entry(c, &c->head);
}
