/*
 * cs_index_note_files: record files whose content the caller has just
 * written, as a scan that read them would record them.
 *
 * A destination that has applied a gigabyte knows every byte it wrote: the
 * content hash and the chunks come from the source's manifest and were
 * checked on the way in. Without this, the next scan would find every such
 * file new and read and hash it all again.
 *
 * Each file is looked at first: it is only recorded when it is still a
 * regular file with the size, mtime and mode the caller wrote. Anything
 * else (it was changed or removed meanwhile) is left to the next scan, which
 * reads it. A file whose mtime is within CS__IX_RACY_NS of now is recorded with
 * the recheck flag, as a scan would (see scan.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/error.h>
#include "index_internal.h"

#define IX_NOTE_BATCH 8192

/* Does the file at root/path still hold what f describes? */
static int still_written(int rootfd, const cs_file_entry *f)
{
	struct stat st;
	if (fstatat(rootfd, f->path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
		return 0;
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return (uint64_t)st.st_size == f->size && mtime == f->mtime_ns &&
		(uint32_t)(st.st_mode & 07777) == (f->mode & 07777);
}

/* The change for f, or 0 in *wanted when the index already says the same. */
static int make_change(struct cs__ix_change *c, int *wanted, cs_index *ix, const char *folder_id,
	const cs_file_entry *f)
{
	cs_file_entry *old = NULL;
	int r = cs_index_get(&old, ix, folder_id, f->path);
	if (r < 0 && r != CS_ENOTFOUND)
		return r;
	int recheck = cs__ix_is_racy(f->mtime_ns);
	int was_file = r == 0 && !old->deleted && old->kind == CS_KIND_FILE;
	int same = was_file && old->size == f->size && old->mtime_ns == f->mtime_ns &&
		old->mode == (f->mode & 07777) && memcmp(old->hash, f->hash, CS_HASH_LEN) == 0;
	memset(c, 0, sizeof(*c));
	/* The same state: at most the recheck flag changes, without a new seq
	 * (a scan does the same). */
	*wanted = !same || recheck;
	if (same && recheck) {
		c->e.path = strdup(f->path);
		c->refresh = 1;
		c->recheck = 1;
		cs_file_entry_free(old);
		return c->e.path ? CS_OK : cs_error_set(CS_ENOMEM, "out of memory");
	}
	if (*wanted) {
		c->e.path = strdup(f->path);
		c->e.chunks = malloc((f->nchunks ? f->nchunks : 1) * sizeof(*f->chunks));
		if (c->e.path == NULL || c->e.chunks == NULL) {
			cs__ix_entry_clear(&c->e);
			cs_file_entry_free(old);
			return cs_error_set(CS_ENOMEM, "out of memory");
		}
		memcpy(c->e.chunks, f->chunks, f->nchunks * sizeof(*f->chunks));
		c->e.nchunks = f->nchunks;
		c->e.kind = CS_KIND_FILE;
		c->e.mode = f->mode & 07777;
		c->e.mtime_ns = f->mtime_ns;
		c->e.size = f->size;
		memcpy(c->e.hash, f->hash, CS_HASH_LEN);
		if (was_file) {
			memcpy(c->e.prev_hash, old->hash, CS_HASH_LEN);
			c->e.has_prev = 1;
		}
		c->recheck = recheck;
	}
	cs_file_entry_free(old);
	return CS_OK;
}

/* Write the changes gathered so far in one transaction. */
static int flush(size_t *noted, cs_index *ix, int64_t fid, struct cs__ix_change *batch, size_t *n)
{
	int r = *n ? cs__ix_apply(ix, fid, batch, *n) : CS_OK;
	if (r == 0)
		*noted += *n;
	for (size_t k = 0; k < *n; k++)
		cs__ix_entry_clear(&batch[k].e);
	*n = 0;
	return r;
}

int cs_index_note_files(size_t *noted, cs_index *ix, const char *folder_id, const cs_file_entry *files,
	size_t n)
{
	struct cs__ix_change *batch = NULL;
	size_t nbatch = 0;
	char *root = NULL;
	int64_t fid;
	int rootfd = -1, r;

	*noted = 0;
	if (n == 0)
		return CS_OK;
	if ((r = cs__ix_folder_fid(&fid, ix, folder_id)) < 0 ||
	    (r = cs_index_folder_root(&root, ix, folder_id)) < 0)
		goto done;
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = cs_error_set(CS_EIO, "open folder root %s: %s", root, strerror(errno));
		goto done;
	}
	batch = calloc(n < IX_NOTE_BATCH ? n : IX_NOTE_BATCH, sizeof(*batch));
	if (batch == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* Per batch: the lookups in one read transaction (the store's locks
	 * taken once, not per file), then the writes in one write transaction. */
	for (size_t i = 0; i < n;) {
		if ((r = cs_store_begin_read(ix->st)) < 0)
			goto done;
		for (; i < n && nbatch < IX_NOTE_BATCH; i++) {
			const cs_file_entry *f = &files[i];
			int wanted = 0;
			if (f->kind != CS_KIND_FILE || f->deleted || !still_written(rootfd, f))
				continue;
			if ((r = make_change(&batch[nbatch], &wanted, ix, folder_id, f)) < 0)
				break;
			nbatch += wanted != 0;
		}
		if (r < 0) {
			cs_store_rollback(ix->st);
			goto done;
		}
		if ((r = cs_store_commit(ix->st)) < 0) {
			cs_store_rollback(ix->st);
			goto done;
		}
		if ((r = flush(noted, ix, fid, batch, &nbatch)) < 0)
			goto done;
	}
done:
	for (size_t k = 0; k < nbatch; k++)
		cs__ix_entry_clear(&batch[k].e);
	if (r < 0)
		cs_error_wrap("note written files of folder %s", folder_id);
	if (rootfd >= 0)
		close(rootfd);
	free(batch);
	free(root);
	return r;
}
