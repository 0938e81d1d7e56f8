/* Unit tests for src/lib/index: folders, scans, sequence numbers, chunk
 * references, bases and path rules. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/index.h>
#include <certsync/store.h>
#include "helpers.h"
#include "lib/index/index_internal.h"

#define FOLDER "photos"
#define BIG_LEN (6u * 1024 * 1024)
#define NAIVE "na\xc3\xafve-\xc3\x9f.txt" /* "naïve-ß.txt" */

struct fx {
	char *dir, *root;
	cs_store *st;
	cs_index *ix;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char db[4096];
	assert_non_null(f);
	f->dir = cs_test_tmpdir("index");
	f->root = cs_path_join(f->dir, "root");
	assert_non_null(f->root);
	cs_assert_ok(cs_fs_mkdirs(f->root, 0755));
	snprintf(db, sizeof(db), "%s/state.db", f->dir);
	cs_assert_ok(cs_store_open(&f->st, db));
	cs_assert_ok(cs_index_open(&f->ix, f->st));
	cs_assert_ok(cs_index_folder_add(f->ix, FOLDER, f->root));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	cs_index_close(f->ix);
	cs_store_close(f->st);
	cs_fs_remove_tree(f->dir);
	free(f->root);
	free(f->dir);
	free(f);
	return 0;
}

static char *at(const struct fx *f, const char *rel)
{
	char *p = cs_path_join(f->root, rel);
	assert_non_null(p);
	return p;
}

static void put(const struct fx *f, const char *rel, const void *data, size_t len)
{
	cs_test_write_file(f->root, rel, data, len);
}

static void put_str(const struct fx *f, const char *rel, const char *s)
{
	put(f, rel, s, strlen(s));
}

static void chmod_rel(const struct fx *f, const char *rel, mode_t mode)
{
	char *p = at(f, rel);
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

/* The entries a changes_since call delivered, copied. */
struct seen {
	cs_file_entry *v[64];
	size_t n;
};

static int collect(void *ud, const cs_file_entry *e)
{
	struct seen *s = ud;
	assert_true(s->n < 64);
	cs_file_entry *c = malloc(sizeof(*c));
	assert_non_null(c);
	*c = *e;
	c->path = strdup(e->path);
	c->chunks = NULL;
	if (e->nchunks) {
		c->chunks = malloc(e->nchunks * sizeof(*c->chunks));
		assert_non_null(c->chunks);
		memcpy(c->chunks, e->chunks, e->nchunks * sizeof(*c->chunks));
	}
	s->v[s->n++] = c;
	return 0;
}

static void seen_clear(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		cs_file_entry_free(s->v[i]);
	s->n = 0;
}

static void changes(struct seen *s, const struct fx *f, uint64_t since)
{
	seen_clear(s);
	cs_assert_ok(cs_index_changes_since(f->ix, FOLDER, since, collect, s));
}

static const cs_file_entry *find(const struct seen *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i]->path, path) == 0)
			return s->v[i];
	return NULL;
}

static uint64_t folder_seq(const struct fx *f)
{
	uint64_t seq = 0;
	cs_assert_ok(cs_index_folder_seq(&seq, f->ix, FOLDER));
	return seq;
}

static void scan(const struct fx *f, cs_scan_stats *st)
{
	cs_scan_stats tmp;
	cs_assert_ok(cs_index_scan(f->ix, FOLDER, st ? st : &tmp, NULL, NULL));
}

static cs_file_entry *get(const struct fx *f, const char *path)
{
	cs_file_entry *e = NULL;
	cs_assert_ok(cs_index_get(&e, f->ix, FOLDER, path));
	return e;
}

static uint64_t chunk_seq(const struct fx *f, const uint8_t *hash)
{
	uint64_t seq = 0;
	cs_assert_ok(cs_index_chunk_seq(&seq, f->ix, FOLDER, hash));
	return seq;
}

/* The file's bytes match the entry: chunk offsets are cumulative, every
 * chunk hash is the SHA-256 of its bytes, and the file hash is the SHA-256
 * of the chunk hashes. */
static void check_content(const struct fx *f, const cs_file_entry *e)
{
	char *p = at(f, e->path);
	uint8_t *data = NULL, h[CS_SHA256_LEN];
	size_t len = 0;
	uint64_t off = 0;
	cs_assert_ok(cs_fs_read_all(&data, &len, p, 64u << 20));
	assert_int_equal(len, e->size);
	cs_sha256_ctx *ctx = cs_sha256_new();
	for (size_t i = 0; i < e->nchunks; i++) {
		assert_int_equal(e->chunks[i].offset, off);
		cs_sha256(h, data + off, e->chunks[i].len);
		assert_memory_equal(h, e->chunks[i].hash, CS_SHA256_LEN);
		cs_sha256_update(ctx, e->chunks[i].hash, CS_SHA256_LEN);
		off += e->chunks[i].len;
	}
	cs_sha256_final(ctx, h);
	assert_int_equal(off, e->size);
	assert_memory_equal(h, e->hash, CS_SHA256_LEN);
	free(data);
	free(p);
}

/* The tree most tests start from; returns the big file's bytes. */
static uint8_t *make_tree(const struct fx *f)
{
	uint8_t *big = malloc(BIG_LEN);
	assert_non_null(big);
	cs_test_fill_random(big, BIG_LEN, 42);
	put_str(f, "a.txt", "hello world\n");
	put(f, "empty", "", 0);
	put_str(f, "dir/x.sh", "#!/bin/sh\necho hi\n");
	chmod_rel(f, "dir/x.sh", 0755);
	put(f, "dir/sub/big.bin", big, BIG_LEN);
	put_str(f, NAIVE, "non-ASCII name\n");
	char *p = at(f, "emptydir");
	assert_int_equal(mkdir(p, 0750), 0);
	free(p);
	/* Not indexed: a temporary file, a symlink, a fifo. */
	put_str(f, CS_TMP_PREFIX "partial", "half a file");
	p = at(f, "link");
	assert_int_equal(symlink("a.txt", p), 0);
	free(p);
	p = at(f, "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);
	return big;
}

static void test_path_valid(void **state)
{
	(void)state;
	static const char *good[] = { "a", "a/b", "a.b", ".hidden", "..a", "a..", "...",
		("dir/" NAIVE), "a b/c\td" };
	static const char *bad[] = { "", "/", "/a", "a/", "a//b", ".", "..", "./a", "a/.",
		"a/./b", "a/../b", "../a", "a/..", "//" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(cs_index_path_valid(good[i]), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cs_index_path_valid(bad[i]), 0);
	char *longp = malloc(CS_PATH_MAX_LEN + 2);
	assert_non_null(longp);
	memset(longp, 'x', CS_PATH_MAX_LEN + 1);
	longp[CS_PATH_MAX_LEN + 1] = 0;
	assert_int_equal(cs_index_path_valid(longp), 0);
	longp[CS_PATH_MAX_LEN] = 0;
	assert_int_equal(cs_index_path_valid(longp), 1);
	free(longp);
}

static int count_folder(void *ud, const char *id, const char *root)
{
	(void)id;
	(void)root;
	(*(int *)ud)++;
	return 0;
}

static void test_folders(void **state)
{
	struct fx *f = *state;
	char *root = NULL;
	uint64_t seq = 99;
	int n = 0;
	assert_int_equal(cs_index_folder_add(f->ix, FOLDER, "/elsewhere"), CS_EEXISTS);
	assert_int_equal(cs_index_folder_add(f->ix, "x", "relative/root"), CS_EINVAL);
	assert_int_equal(cs_index_folder_add(f->ix, "", "/tmp"), CS_EINVAL);
	cs_assert_ok(cs_index_folder_add(f->ix, "other", "/nonexistent/certsync-test"));
	cs_assert_ok(cs_index_folder_root(&root, f->ix, FOLDER));
	assert_string_equal(root, f->root);
	free(root);
	assert_int_equal(cs_index_folder_root(&root, f->ix, "nope"), CS_ENOTFOUND);
	cs_assert_ok(cs_index_folder_seq(&seq, f->ix, FOLDER));
	assert_int_equal(seq, 0);
	assert_int_equal(cs_index_folder_seq(&seq, f->ix, "nope"), CS_ENOTFOUND);
	cs_assert_ok(cs_index_folder_each(f->ix, count_folder, &n));
	assert_int_equal(n, 2);

	/* A missing root is an error, not a deletion of everything. */
	cs_scan_stats st;
	assert_int_equal(cs_index_scan(f->ix, "other", &st, NULL, NULL), CS_ENOTFOUND);
	assert_int_equal(cs_index_scan(f->ix, "nope", &st, NULL, NULL), CS_ENOTFOUND);

	/* Reopening finds the same tables and data. */
	cs_index_close(f->ix);
	cs_assert_ok(cs_index_open(&f->ix, f->st));
	cs_assert_ok(cs_index_folder_root(&root, f->ix, "other"));
	free(root);
}

static void progress_count(void *ud, const cs_scan_stats *so_far)
{
	(void)so_far;
	(*(int *)ud)++;
}

static void test_scan_tree(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	cs_scan_stats st;
	uint8_t h[CS_SHA256_LEN];
	int calls = 0;
	uint8_t *big = make_tree(f);

	cs_assert_ok(cs_index_scan(f->ix, FOLDER, &st, progress_count, &calls));
	assert_true(calls >= 1);
	assert_int_equal(st.files, 5);
	assert_int_equal(st.dirs, 3);
	assert_int_equal(st.changed, 8);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(st.bytes, 12 + 0 + 18 + BIG_LEN + 15);
	assert_int_equal(st.hashed_bytes, st.bytes);
	assert_int_equal(folder_seq(f), 8);

	changes(&s, f, 0);
	static const char *order[] = { "a.txt", "dir", "dir/sub", "dir/sub/big.bin", "dir/x.sh",
		"empty", "emptydir", NAIVE };
	assert_int_equal(s.n, 8);
	for (size_t i = 0; i < s.n; i++) {
		const cs_file_entry *e = s.v[i];
		assert_string_equal(e->path, order[i]);
		assert_false(e->deleted);
		assert_false(e->has_prev);
		assert_true(e->seq >= 1 && e->seq <= 8);
		if (e->kind == CS_KIND_FILE)
			check_content(f, e);
	}
	/* Sequence numbers are unique. */
	for (size_t i = 0; i < s.n; i++)
		for (size_t j = i + 1; j < s.n; j++)
			assert_true(s.v[i]->seq != s.v[j]->seq);

	const cs_file_entry *e = find(&s, "dir/x.sh");
	assert_int_equal(e->mode & 0777, 0755);
	e = find(&s, "emptydir");
	assert_int_equal(e->kind, CS_KIND_DIR);
	assert_int_equal(e->mode & 0777, 0750);
	assert_int_equal(e->nchunks, 0);
	e = find(&s, "empty");
	assert_int_equal(e->kind, CS_KIND_FILE);
	assert_int_equal(e->size, 0);
	assert_int_equal(e->nchunks, 0);
	cs_sha256(h, "", 0);
	assert_memory_equal(e->hash, h, CS_SHA256_LEN);
	e = find(&s, "a.txt");
	assert_int_equal(e->nchunks, 1);
	cs_sha256(h, "hello world\n", 12);
	assert_memory_equal(e->chunks[0].hash, h, CS_SHA256_LEN);
	cs_sha256(h, h, CS_SHA256_LEN);
	assert_memory_equal(e->hash, h, CS_SHA256_LEN);
	e = find(&s, "dir/sub/big.bin");
	assert_true(e->nchunks >= 3);

	/* Parents come before children. */
	for (size_t i = 0; i < s.n; i++) {
		const char *slash = strrchr(s.v[i]->path, '/');
		if (slash == NULL)
			continue;
		size_t plen = (size_t)(slash - s.v[i]->path);
		int found = 0;
		for (size_t j = 0; j < i; j++)
			found |= strlen(s.v[j]->path) == plen && strncmp(s.v[j]->path, s.v[i]->path, plen) == 0;
		assert_true(found);
	}

	/* A second scan with nothing changed bumps nothing. */
	scan(f, &st);
	assert_int_equal(st.changed, 0);
	assert_int_equal(st.deleted, 0);
	assert_int_equal(st.files, 5);
	assert_int_equal(folder_seq(f), 8);
	changes(&s, f, 8);
	assert_int_equal(s.n, 0);

	cs_file_entry *g = NULL;
	assert_int_equal(cs_index_get(&g, f->ix, FOLDER, "link"), CS_ENOTFOUND);
	assert_int_equal(cs_index_get(&g, f->ix, FOLDER, "fifo"), CS_ENOTFOUND);
	assert_int_equal(cs_index_get(&g, f->ix, FOLDER, CS_TMP_PREFIX "partial"), CS_ENOTFOUND);
	g = get(f, NAIVE);
	assert_int_equal(g->size, 15);
	cs_file_entry_free(g);
	cs_file_entry_free(NULL);

	seen_clear(&s);
	free(big);
}

/* One byte changes: exactly that file gets a new seq; its unchanged chunks
 * keep their seq, the new chunk gets the entry's. Written right after the
 * scan, so the size and (coarse) mtime may look unchanged. */
static void test_modify(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	cs_scan_stats st;
	uint8_t *big = make_tree(f);
	scan(f, NULL);
	cs_file_entry *before = get(f, "dir/sub/big.bin");
	uint64_t seq0 = folder_seq(f);
	uint64_t *cseq = calloc(before->nchunks, sizeof(*cseq));
	assert_non_null(cseq);
	for (size_t i = 0; i < before->nchunks; i++) {
		cseq[i] = chunk_seq(f, before->chunks[i].hash);
		assert_int_equal(cseq[i], before->seq);
	}

	big[BIG_LEN - 1000] ^= 0x5a;
	put(f, "dir/sub/big.bin", big, BIG_LEN);
	scan(f, &st);
	assert_int_equal(st.changed, 1);
	assert_int_equal(st.hashed_bytes >= BIG_LEN, 1);
	assert_int_equal(folder_seq(f), seq0 + 1);
	changes(&s, f, seq0);
	assert_int_equal(s.n, 1);
	const cs_file_entry *e = s.v[0];
	assert_string_equal(e->path, "dir/sub/big.bin");
	assert_int_equal(e->seq, seq0 + 1);
	assert_true(e->has_prev);
	assert_memory_equal(e->prev_hash, before->hash, CS_SHA256_LEN);
	assert_memory_not_equal(e->hash, before->hash, CS_SHA256_LEN);
	check_content(f, e);

	size_t kept = 0, fresh = 0;
	for (size_t i = 0; i < e->nchunks; i++) {
		int old = 0;
		for (size_t j = 0; j < before->nchunks; j++)
			old |= memcmp(e->chunks[i].hash, before->chunks[j].hash, CS_SHA256_LEN) == 0;
		uint64_t cs = chunk_seq(f, e->chunks[i].hash);
		if (old) {
			assert_int_equal(cs, before->seq);
			kept++;
		} else {
			assert_int_equal(cs, e->seq);
			fresh++;
		}
	}
	assert_true(kept >= 1);
	assert_true(fresh >= 1 && fresh <= 2);
	/* The replaced chunk is no longer referenced by any live file. */
	size_t gone = 0;
	for (size_t j = 0; j < before->nchunks; j++) {
		int still = 0;
		uint64_t x;
		for (size_t i = 0; i < e->nchunks; i++)
			still |= memcmp(e->chunks[i].hash, before->chunks[j].hash, CS_SHA256_LEN) == 0;
		if (!still) {
			assert_int_equal(cs_index_chunk_seq(&x, f->ix, FOLDER, before->chunks[j].hash),
				CS_ENOTFOUND);
			gone++;
		}
	}
	assert_true(gone >= 1);

	/* A mode change alone is a change, with the same content hash. */
	chmod_rel(f, NAIVE, 0600);
	cs_file_entry *n0 = get(f, NAIVE);
	scan(f, &st);
	assert_int_equal(st.changed, 1);
	cs_file_entry *n1 = get(f, NAIVE);
	assert_int_equal(n1->mode & 0777, 0600);
	assert_int_equal(n1->seq, seq0 + 2);
	assert_memory_equal(n1->hash, n0->hash, CS_SHA256_LEN);
	assert_true(n1->has_prev);
	assert_memory_equal(n1->prev_hash, n0->hash, CS_SHA256_LEN);
	cs_file_entry_free(n0);
	cs_file_entry_free(n1);

	seen_clear(&s);
	cs_file_entry_free(before);
	free(cseq);
	free(big);
}

/* Rename: a tombstone and a new entry; the chunks keep their seq. */
static void test_rename(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	cs_scan_stats st;
	uint8_t *big = make_tree(f);
	scan(f, NULL);
	cs_file_entry *before = get(f, "dir/sub/big.bin");
	uint64_t seq0 = folder_seq(f);

	char *from = at(f, "dir/sub/big.bin"), *to = at(f, "moved.bin");
	assert_int_equal(rename(from, to), 0);
	scan(f, &st);
	assert_int_equal(st.deleted, 1);
	changes(&s, f, seq0);
	/* dir/sub changed its mtime, its file left, moved.bin arrived. */
	assert_int_equal(s.n, 3);
	assert_string_equal(s.v[0]->path, "dir/sub");
	assert_string_equal(s.v[1]->path, "dir/sub/big.bin");
	assert_string_equal(s.v[2]->path, "moved.bin");
	assert_int_equal(st.changed, 2);

	const cs_file_entry *t = s.v[1];
	assert_true(t->deleted);
	assert_true(t->has_prev);
	assert_memory_equal(t->prev_hash, before->hash, CS_SHA256_LEN);
	assert_int_equal(t->nchunks, 0);
	const cs_file_entry *m = s.v[2];
	assert_false(m->deleted);
	assert_false(m->has_prev);
	assert_memory_equal(m->hash, before->hash, CS_SHA256_LEN);
	assert_int_equal(m->nchunks, before->nchunks);
	/* The tombstone is numbered after the new name. */
	assert_true(t->seq > m->seq);
	for (size_t i = 0; i < m->nchunks; i++) {
		char *path = NULL;
		uint64_t off;
		uint32_t len;
		assert_int_equal(chunk_seq(f, m->chunks[i].hash), before->seq);
		cs_assert_ok(cs_index_chunk_locate(&path, &off, &len, f->ix, FOLDER, m->chunks[i].hash));
		assert_string_equal(path, "moved.bin");
		assert_int_equal(off, m->chunks[i].offset);
		assert_int_equal(len, m->chunks[i].len);
		free(path);
	}
	cs_file_entry *g = get(f, "dir/sub/big.bin");
	assert_true(g->deleted);
	cs_file_entry_free(g);

	/* A tombstone that stays absent is not bumped again. */
	scan(f, &st);
	assert_int_equal(st.changed + st.deleted, 0);

	seen_clear(&s);
	cs_file_entry_free(before);
	free(from);
	free(to);
	free(big);
}

/* Deletion makes tombstones; a path that comes back is live again with a
 * new seq, and so are its chunks. */
static void test_delete_and_return(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	cs_scan_stats st;
	uint8_t h[CS_SHA256_LEN];
	uint64_t x;
	uint8_t *big = make_tree(f);
	scan(f, NULL);
	cs_sha256(h, "hello world\n", 12);
	cs_file_entry *a0 = get(f, "a.txt");
	assert_int_equal(chunk_seq(f, h), a0->seq);

	char *p = at(f, "a.txt");
	assert_int_equal(unlink(p), 0);
	char *d = at(f, "dir");
	cs_assert_ok(cs_fs_remove_tree(d));
	uint64_t seq0 = folder_seq(f);
	scan(f, &st);
	assert_int_equal(st.deleted, 5); /* a.txt, dir, dir/sub, dir/sub/big.bin, dir/x.sh */
	assert_int_equal(st.changed, 0);
	changes(&s, f, seq0);
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.v[i]->deleted);
	const cs_file_entry *t = find(&s, "a.txt");
	assert_true(t->has_prev);
	assert_memory_equal(t->prev_hash, a0->hash, CS_SHA256_LEN);
	t = find(&s, "dir");
	assert_int_equal(t->kind, CS_KIND_DIR);
	assert_false(t->has_prev);
	assert_int_equal(cs_index_chunk_seq(&x, f->ix, FOLDER, h), CS_ENOTFOUND);
	char *path = NULL;
	uint64_t off;
	uint32_t len;
	assert_int_equal(cs_index_chunk_locate(&path, &off, &len, f->ix, FOLDER, h), CS_ENOTFOUND);

	put_str(f, "a.txt", "hello world\n");
	seq0 = folder_seq(f);
	scan(f, &st);
	assert_int_equal(st.changed, 1);
	cs_file_entry *a1 = get(f, "a.txt");
	assert_false(a1->deleted);
	assert_int_equal(a1->seq, seq0 + 1);
	assert_memory_equal(a1->hash, a0->hash, CS_SHA256_LEN);
	assert_int_equal(chunk_seq(f, h), a1->seq);

	seen_clear(&s);
	cs_file_entry_free(a0);
	cs_file_entry_free(a1);
	free(p);
	free(d);
	free(big);
}

/* One chunk in several files and several times in one file. */
static void test_shared_chunks(void **state)
{
	struct fx *f = *state;
	const size_t max = 4u * 1024 * 1024;
	uint8_t *zeros = calloc(1, 2 * max);
	uint64_t x;
	assert_non_null(zeros);
	/* Zeros never cut before max_size: two identical 4 MiB chunks. */
	put(f, "z1", zeros, 2 * max);
	put_str(f, "c1", "same bytes");
	put_str(f, "c2", "same bytes");
	scan(f, NULL);
	cs_file_entry *z = get(f, "z1");
	assert_int_equal(z->nchunks, 2);
	assert_memory_equal(z->chunks[0].hash, z->chunks[1].hash, CS_SHA256_LEN);
	uint64_t zseq = chunk_seq(f, z->chunks[0].hash);
	assert_int_equal(zseq, z->seq);
	char *path = NULL;
	uint64_t off;
	uint32_t len;
	cs_assert_ok(cs_index_chunk_locate(&path, &off, &len, f->ix, FOLDER, z->chunks[0].hash));
	assert_string_equal(path, "z1");
	assert_int_equal(off, 0);
	assert_int_equal(len, max);
	free(path);

	/* Half of it goes: the chunk is still held, with its seq. */
	put(f, "z1", zeros, max);
	scan(f, NULL);
	assert_int_equal(chunk_seq(f, z->chunks[0].hash), zseq);

	/* c1 and c2 share a chunk; it outlives one of them. */
	cs_file_entry *c1 = get(f, "c1");
	uint64_t cseq = chunk_seq(f, c1->chunks[0].hash);
	char *p = at(f, "c1");
	assert_int_equal(unlink(p), 0);
	scan(f, NULL);
	assert_int_equal(chunk_seq(f, c1->chunks[0].hash), cseq);
	cs_assert_ok(cs_index_chunk_locate(&path, &off, &len, f->ix, FOLDER, c1->chunks[0].hash));
	assert_string_equal(path, "c2");
	free(path);
	free(p);
	p = at(f, "c2");
	assert_int_equal(unlink(p), 0);
	scan(f, NULL);
	assert_int_equal(cs_index_chunk_seq(&x, f->ix, FOLDER, c1->chunks[0].hash), CS_ENOTFOUND);

	free(p);
	cs_file_entry_free(c1);
	cs_file_entry_free(z);
	free(zeros);
}

static void test_base(void **state)
{
	struct fx *f = *state;
	uint8_t h[CS_HASH_LEN], got[CS_HASH_LEN];
	cs_sha256(h, "v1", 2);
	assert_int_equal(cs_index_base_get(got, f->ix, FOLDER, "dev-A", "a/b.txt"), CS_ENOTFOUND);
	cs_assert_ok(cs_index_base_set(f->ix, FOLDER, "dev-A", "a/b.txt", h));
	cs_assert_ok(cs_index_base_get(got, f->ix, FOLDER, "dev-A", "a/b.txt"));
	assert_memory_equal(got, h, CS_HASH_LEN);
	/* Per source: another source has no base for the same path. */
	assert_int_equal(cs_index_base_get(got, f->ix, FOLDER, "dev-B", "a/b.txt"), CS_ENOTFOUND);
	cs_sha256(h, "v2", 2);
	cs_assert_ok(cs_index_base_set(f->ix, FOLDER, "dev-A", "a/b.txt", h));
	cs_assert_ok(cs_index_base_get(got, f->ix, FOLDER, "dev-A", "a/b.txt"));
	assert_memory_equal(got, h, CS_HASH_LEN);
	cs_assert_ok(cs_index_base_set(f->ix, FOLDER, "dev-A", "a/b.txt", NULL));
	assert_int_equal(cs_index_base_get(got, f->ix, FOLDER, "dev-A", "a/b.txt"), CS_ENOTFOUND);
	cs_assert_ok(cs_index_base_set(f->ix, FOLDER, "dev-A", "a/b.txt", NULL));
	assert_int_equal(cs_index_base_set(f->ix, FOLDER, "dev-A", "../escape", h), CS_EINVAL);
	assert_int_equal(cs_index_base_set(f->ix, "nope", "dev-A", "a", h), CS_ENOTFOUND);
}

/* A damaged chunk list is refused, not trusted. */
static void test_malformed_blob(void **state)
{
	struct fx *f = *state;
	struct seen s = {0};
	cs_file_entry *e = NULL;
	put_str(f, "a.txt", "hello world\n");
	scan(f, NULL);
	static const char *blobs[] = {
		"x'00'", /* not a whole record */
		/* one record of length 1, but the file has 12 bytes */
		"x'0000000000000000000000000000000000000000000000000000000000000000" "00000001'",
		/* length 0 */
		"x'0000000000000000000000000000000000000000000000000000000000000000" "00000000'",
		/* two records adding up to more than the size */
		"x'0000000000000000000000000000000000000000000000000000000000000000" "0000000c"
		"0000000000000000000000000000000000000000000000000000000000000000" "00000001'",
	};
	for (size_t i = 0; i < sizeof(blobs) / sizeof(blobs[0]); i++) {
		char sql[512];
		snprintf(sql, sizeof(sql), "UPDATE ix_entry SET chunks = %s WHERE path = 'a.txt'", blobs[i]);
		cs_assert_ok(cs_store_exec(f->st, sql));
		assert_int_equal(cs_index_get(&e, f->ix, FOLDER, "a.txt"), CS_EMALFORMED);
		assert_int_equal(cs_index_changes_since(f->ix, FOLDER, 0, collect, &s), CS_EMALFORMED);
		seen_clear(&s);
	}
	cs_assert_ok(cs_store_exec(f->st, "UPDATE ix_entry SET chunks = NULL WHERE path = 'a.txt'"));
	assert_int_equal(cs_index_get(&e, f->ix, FOLDER, "a.txt"), CS_EMALFORMED);
	cs_assert_ok(cs_store_exec(f->st, "UPDATE ix_entry SET chunks = NULL, hash = x'00' "
		"WHERE path = 'a.txt'"));
	assert_int_equal(cs_index_get(&e, f->ix, FOLDER, "a.txt"), CS_EMALFORMED);
	assert_null(e);
}

/* A directory that cannot be read keeps its entries (not a deletion). */
static void test_unreadable_dir(void **state)
{
	struct fx *f = *state;
	cs_scan_stats st;
	if (geteuid() == 0)
		skip(); /* root reads everything */
	put_str(f, "locked/inside.txt", "secret");
	scan(f, NULL);
	chmod_rel(f, "locked", 0);
	scan(f, &st);
	chmod_rel(f, "locked", 0755);
	assert_int_equal(st.deleted, 0);
	cs_file_entry *e = get(f, "locked/inside.txt");
	assert_false(e->deleted);
	cs_file_entry_free(e);
}

/* A writer rewrites a file in place, alternating two contents of the same
 * size, while scans run: whatever the index records must be one of the
 * two, never a mix of both. */
#define TORN_LEN (8u * 1024 * 1024)

struct writer {
	const char *path;
	const uint8_t *content[2];
	atomic_int stop;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned n = 0;
	while (!atomic_load(&w->stop)) {
		int fd = open(w->path, O_WRONLY);
		if (fd >= 0) {
			/* In pieces, so that a reader can see half of each. */
			const uint8_t *c = w->content[n++ & 1];
			for (size_t off = 0; off < TORN_LEN; off += TORN_LEN / 8) {
				struct timespec gap = { 0, 1000000L };
				if (pwrite(fd, c + off, TORN_LEN / 8, (off_t)off) < 0)
					break;
				nanosleep(&gap, NULL);
			}
			close(fd);
		}
		struct timespec d = { 0, (long)(n % 7) * 15 * 1000000L };
		nanosleep(&d, NULL);
	}
	return NULL;
}

static void test_torn_reads(void **state)
{
	struct fx *f = *state;
	uint8_t *a = malloc(TORN_LEN), *b = malloc(TORN_LEN);
	uint8_t ha[CS_SHA256_LEN], hb[CS_SHA256_LEN];
	struct writer w = {0};
	pthread_t t;
	int recorded = 0;
	assert_non_null(a);
	assert_non_null(b);
	cs_test_fill_random(a, TORN_LEN, 100);
	cs_test_fill_random(b, TORN_LEN, 200);
	put(f, "busy.bin", a, TORN_LEN);
	scan(f, NULL);
	cs_file_entry *e = get(f, "busy.bin");
	memcpy(ha, e->hash, CS_SHA256_LEN);
	cs_file_entry_free(e);
	put(f, "busy.bin", b, TORN_LEN);
	scan(f, NULL);
	e = get(f, "busy.bin");
	memcpy(hb, e->hash, CS_SHA256_LEN);
	cs_file_entry_free(e);
	assert_memory_not_equal(ha, hb, CS_SHA256_LEN);

	w.path = at(f, "busy.bin");
	w.content[0] = a;
	w.content[1] = b;
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	for (int i = 0; i < 25; i++) {
		uint64_t before = folder_seq(f);
		scan(f, NULL);
		e = get(f, "busy.bin");
		assert_false(e->deleted);
		assert_true(memcmp(e->hash, ha, CS_SHA256_LEN) == 0 ||
			memcmp(e->hash, hb, CS_SHA256_LEN) == 0);
		recorded += folder_seq(f) != before;
		cs_file_entry_free(e);
	}
	atomic_store(&w.stop, 1);
	pthread_join(t, NULL);
	print_message("busy file recorded anew in %d of 25 scans\n", recorded);
	free((char *)w.path);
	free(a);
	free(b);
}

/* Many files in a directory, between subdirectories, more than the reader
 * reads ahead, some unchanged: read on two threads, each recorded exactly
 * as its bytes say; unchanged ones are skipped by their metadata. */
static void test_parallel_reads(void **state)
{
	struct fx *f = *state;
	enum { N = 48, LEN = 256 * 1024 };
	uint8_t *data = malloc(N * LEN);
	char name[64];
	cs_scan_stats st;
	assert_non_null(data);
	cs_test_fill_random(data, N * LEN, 7);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "d/f%02d", i);
		put(f, name, data + i * LEN, (size_t)(i * 29017) % LEN);
		if (i == N / 2)
			put_str(f, "d/f24-sub/inner", "inner file");
	}
	/* settled mtimes: an unchanged file is not read again */
	for (int i = 0; i <= N; i++) {
		snprintf(name, sizeof(name), i < N ? "d/f%02d" : "d/f24-sub/inner", i);
		char *p = at(f, name);
		cs_assert_ok(cs_file_set_mtime(-1, p, INT64_C(1700000000000000000) + i));
		free(p);
	}
	size_t before = cs__ix_reader_helped();
	cs_assert_ok(cs_index_scan(f->ix, FOLDER, &st, NULL, NULL));
	assert_int_equal(st.files, N + 1);
	assert_true(cs__ix_reader_helped() > before);

	/* change every third file (settled too); the rest are not read */
	for (int i = 0; i < N; i += 3) {
		snprintf(name, sizeof(name), "d/f%02d", i);
		put(f, name, data + (N - 1 - i) * LEN, LEN / 2);
		char *p = at(f, name);
		cs_assert_ok(cs_file_set_mtime(-1, p, INT64_C(1710000000000000000) + i));
		free(p);
	}
	cs_assert_ok(cs_index_scan(f->ix, FOLDER, &st, NULL, NULL));
	assert_int_equal(st.changed, N / 3);
	assert_int_equal(st.hashed_bytes, (N / 3) * (LEN / 2));

	for (int i = 0; i < N; i++) {
		cs_file_entry *e = NULL;
		uint8_t want[CS_SHA256_LEN];
		snprintf(name, sizeof(name), "d/f%02d", i);
		cs_assert_ok(cs_index_get(&e, f->ix, FOLDER, name));
		const uint8_t *bytes = i % 3 == 0 ? data + (N - 1 - i) * LEN : data + i * LEN;
		size_t len = i % 3 == 0 ? LEN / 2 : (size_t)(i * 29017) % LEN;
		assert_int_equal(e->size, len);
		assert_int_equal(e->nchunks, len ? 1 : 0);
		if (len) {
			cs_sha256(want, bytes, len);
			assert_memory_equal(e->chunks[0].hash, want, CS_SHA256_LEN);
		}
		cs_file_entry_free(e);
	}
	free(data);
}

/*
 * Large files are hashed a buffer behind the reading and cutting, on a
 * helper thread, while the next buffer is filled: every chunk hash must
 * still be that of its own bytes, across many buffer switches, with chunks
 * that repeat (the same bytes in both buffers) and a file whose length is
 * not a multiple of anything.
 */
static void test_pipelined_hashing(void **state)
{
	struct fx *f = *state;
	const size_t len = (37u << 20) + 12345, block = 5u << 20;
	uint8_t *data = malloc(len);
	cs_scan_stats st;
	assert_non_null(data);
	cs_test_fill_random(data, len, 99);
	put(f, "random.bin", data, len);
	for (size_t off = block; off + block <= len; off += block)
		memcpy(data + off, data, block);
	put(f, "repeats.bin", data, len);
	/* Each file is read by the walk (the reader's helper only takes part
	 * in runs of several files), a buffer of at least 8 MiB at a time:
	 * at least five batches per file go to the hashing helper. */
	size_t before = cs__ix_hasher_shared();
	cs_assert_ok(cs_index_scan(f->ix, FOLDER, &st, NULL, NULL));
	assert_int_equal(st.hashed_bytes, 2 * len);
	assert_true(cs__ix_hasher_shared() >= before + 8);
	const char *names[] = {"random.bin", "repeats.bin"};
	for (size_t i = 0; i < 2; i++) {
		cs_file_entry *e = get(f, names[i]);
		assert_true(e->nchunks > 8);
		check_content(f, e);
		cs_file_entry_free(e);
	}
	free(data);
}

/*
 * The hasher on its own: two batches of uneven chunks as a scan hands them
 * over, with and without the spare buffer, shared between the two threads
 * or left wholly to the helper; every hash must be that of its own bytes and
 * land on its own chunk. A batch begun while another is open is hashed on
 * the spot.
 */
static void test_hasher_batches(void **state)
{
	(void)state;
	const size_t len = 24u << 20;
	const uint64_t base = 1000000;
	uint8_t *data = malloc(len), want[CS_SHA256_LEN];
	cs_chunk_ref chunks[64], extra[2];
	size_t n = 0;
	assert_non_null(data);
	cs_test_fill_random(data, len, 5);
	for (uint64_t off = 0; off < len && n < 64; n++) {
		size_t c = (n * 7919 % 900 + 100) * 1024;
		if (c > len - off)
			c = len - off;
		chunks[n].offset = base + off;
		chunks[n].len = (uint32_t)c;
		off += c;
	}
	for (size_t i = 0; i < 2; i++) {
		extra[i].offset = base + i * (512u << 10);
		extra[i].len = 512u << 10;
	}
	for (int spare = 0; spare <= 1; spare++) {
		for (int leave = 0; leave <= 1; leave++) {
			struct cs__ix_hasher *h = NULL;
			size_t half = n / 2, before = cs__ix_hasher_helper_hashed();
			cs_assert_ok(cs__ix_hasher_new(&h, spare ? len : 0));
			assert_true((cs__ix_hasher_spare(h, len) != NULL) == spare);
			assert_null(cs__ix_hasher_spare(h, len + 1));
			for (size_t i = 0; i < n; i++)
				memset(chunks[i].hash, 0, CS_SHA256_LEN);
			memset(extra[0].hash, 0, CS_SHA256_LEN);
			memset(extra[1].hash, 0, CS_SHA256_LEN);
			cs__ix_hasher_leave_to_helper(leave);
			assert_int_equal(cs__ix_hasher_begin(h, data, base, chunks, 0, half), 1);
			assert_int_equal(cs__ix_hasher_begin(h, data, base, extra, 0, 2), 0);
			cs__ix_hasher_finish(h, chunks);
			assert_int_equal(cs__ix_hasher_begin(h, data, base, chunks, half, n - half), 1);
			cs__ix_hasher_finish(h, chunks);
			cs__ix_hasher_finish(h, chunks); /* nothing open: nothing happens */
			cs__ix_hasher_leave_to_helper(0);
			if (leave)
				assert_int_equal(cs__ix_hasher_helper_hashed() - before, n);
			for (size_t i = 0; i < n; i++) {
				cs_sha256(want, data + (chunks[i].offset - base), chunks[i].len);
				assert_memory_equal(want, chunks[i].hash, CS_SHA256_LEN);
			}
			for (size_t i = 0; i < 2; i++) {
				cs_sha256(want, data + (extra[i].offset - base), extra[i].len);
				assert_memory_equal(want, extra[i].hash, CS_SHA256_LEN);
			}
			cs__ix_hasher_free(h);
		}
	}
	free(data);
}

/*
 * Files a caller wrote with known content are recorded without being read:
 * the next scan hashes none of them. One whose mtime moved before it was
 * noted, one replaced by a directory and one never written are left to the
 * scan; one with a fresh mtime is recorded for a recheck.
 */
static void test_note_files(void **state)
{
	struct fx *f = *state;
	char *ref_root = cs_path_join(f->dir, "ref");
	assert_non_null(ref_root);
	cs_assert_ok(cs_fs_mkdirs(ref_root, 0755));
	cs_assert_ok(cs_index_folder_add(f->ix, "ref", ref_root));
	const char *names[] = {"a.txt", "big.bin", "moved.txt", "dir-now", "fresh.txt"};
	enum { N = 5 };
	uint8_t *big = malloc(BIG_LEN);
	assert_non_null(big);
	cs_test_fill_random(big, BIG_LEN, 41);
	const int64_t old_mtime = INT64_C(1600000000123456789);
	for (int i = 0; i < N; i++) {
		const void *data = i == 1 ? (const void *)big : names[i];
		size_t len = i == 1 ? BIG_LEN : strlen(names[i]);
		cs_test_write_file(ref_root, names[i], data, len);
		cs_test_write_file(f->root, names[i], data, len);
		int64_t mt = i == 4 ? (int64_t)time(NULL) * 1000000000 : old_mtime;
		char *p1 = cs_path_join(ref_root, names[i]), *p2 = at(f, names[i]);
		cs_assert_ok(cs_file_set_mtime(-1, p1, mt));
		cs_assert_ok(cs_file_set_mtime(-1, p2, mt));
		free(p1);
		free(p2);
	}
	cs_scan_stats st;
	cs_assert_ok(cs_index_scan(f->ix, "ref", &st, NULL, NULL));
	cs_file_entry *ref[N];
	for (int i = 0; i < N; i++)
		cs_assert_ok(cs_index_get(&ref[i], f->ix, "ref", names[i]));

	/* after "writing": one file's mtime moves, one path becomes a directory */
	char *p = at(f, "moved.txt");
	cs_assert_ok(cs_file_set_mtime(-1, p, old_mtime + 1000));
	free(p);
	p = at(f, "dir-now");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	cs_file_entry list[N];
	for (int i = 0; i < N; i++)
		list[i] = *ref[i];
	size_t noted = 0;
	cs_assert_ok(cs_index_note_files(&noted, f->ix, FOLDER, list, N));
	assert_int_equal(noted, 3);
	cs_file_entry *e = get(f, "big.bin");
	assert_int_equal(e->size, BIG_LEN);
	assert_memory_equal(e->hash, ref[1]->hash, CS_HASH_LEN);
	assert_int_equal(e->nchunks, ref[1]->nchunks);
	assert_true(e->seq > 0);
	check_content(f, e);
	cs_file_entry_free(e);
	/* noting the same again changes nothing */
	cs_assert_ok(cs_index_note_files(&noted, f->ix, FOLDER, list, N));
	assert_int_equal(noted, 1); /* only the fresh one, which is rechecked */

	/* the scan reads only what was left to it and the fresh file */
	uint64_t seq = folder_seq(f);
	scan(f, &st);
	assert_int_equal(st.hashed_bytes, strlen("moved.txt") + strlen("fresh.txt"));
	assert_int_equal(st.changed, 2); /* moved.txt's mtime; dir-now is a directory */
	assert_true(folder_seq(f) > seq);
	e = get(f, "a.txt");
	assert_int_equal(e->seq <= seq, 1);
	cs_file_entry_free(e);
	for (int i = 0; i < N; i++)
		cs_file_entry_free(ref[i]);
	free(big);
	free(ref_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_valid),
		cmocka_unit_test_setup_teardown(test_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_and_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_hashing, setup, teardown),
		cmocka_unit_test(test_hasher_batches),
		cmocka_unit_test_setup_teardown(test_note_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
