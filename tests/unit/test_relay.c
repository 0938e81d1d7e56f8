/* Unit tests for the relay engine without sockets: produce into a
 * directory, apply from it, and check every refusal of DESIGN §5. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <certsync/bigmem.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include <certsync/index.h>
#include <certsync/envelope.h>
#include <certsync/manifest.h>
#include <certsync/relay.h>
#include <certsync/store.h>
#include "helpers.h"
#include "relay/stage_writer.h"

struct device {
	cs_key *key;
	cs_cert *cert;
	char id[CS_DEVICE_ID_SIZE];
	cs_store *st;
	cs_index *ix;
	char *root;
};

struct world {
	char *dir;
	cs_ca *ca;
	struct device a, b, c;
	cs_relay_io io;
	char *blobs;
	int taken; /* packs handed over through take_blob */
	int applied_calls; /* on_applied: calls, and what the index knew then */
	int applied_index_knew;
};

static int dir_put(void *ud, uint64_t job, const char *name, const uint8_t *data, size_t len)
{
	struct world *w = ud;
	char path[4096];
	assert_true(len <= CS_PACK_MAX); /* what a hub takes */
	snprintf(path, sizeof(path), "%s/%llu", w->blobs, (unsigned long long)job);
	cs_fs_mkdirs(path, 0700);
	snprintf(path, sizeof(path), "%s/%llu/%s", w->blobs, (unsigned long long)job, name);
	return cs_fs_write_atomic(path, data, len, 0600);
}

/* Packs are handed over: stored like the rest, then released here. */
static int dir_take(void *ud, uint64_t job, const char *name, uint8_t *data, size_t len)
{
	struct world *w = ud;
	int r = dir_put(ud, job, name, data, len);
	cs_bigmem_free(data);
	w->taken++;
	return r;
}

static int dir_get(void *ud, uint64_t job, const char *name, uint8_t **data, size_t *len)
{
	struct world *w = ud;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%llu/%s", w->blobs, (unsigned long long)job, name);
	return cs_fs_read_all(data, len, path, 64u << 20);
}

static void device_make(struct world *w, struct device *d, const char *name)
{
	char *csr = NULL, path[4096];
	cs_assert_ok(cs_key_generate(&d->key));
	cs_assert_ok(cs_csr_new(&csr, d->key, name));
	cs_assert_ok(cs_ca_issue_device(&d->cert, w->ca, csr, name, 30));
	cs_assert_ok(cs_key_device_id(d->id, d->key));
	free(csr);
	snprintf(path, sizeof(path), "%s/%s.db", w->dir, name);
	cs_assert_ok(cs_store_open(&d->st, path));
	cs_assert_ok(cs_index_open(&d->ix, d->st));
	snprintf(path, sizeof(path), "%s/%s-root", w->dir, name);
	cs_fs_mkdirs(path, 0755);
	d->root = strdup(path);
	cs_assert_ok(cs_index_folder_add(d->ix, "f", d->root));
}

static void device_free(struct device *d)
{
	cs_index_close(d->ix);
	cs_store_close(d->st);
	cs_key_free(d->key);
	cs_cert_free(d->cert);
	free(d->root);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	char path[4096];
	w->dir = cs_test_tmpdir("relay");
	snprintf(path, sizeof(path), "%s/ca", w->dir);
	cs_assert_ok(cs_ca_create(path, "test hub"));
	cs_assert_ok(cs_ca_open(&w->ca, path));
	device_make(w, &w->a, "a");
	device_make(w, &w->b, "b");
	device_make(w, &w->c, "c");
	snprintf(path, sizeof(path), "%s/blobs", w->dir);
	w->blobs = strdup(path);
	w->io.ud = w;
	w->io.put_blob = dir_put;
	w->io.take_blob = dir_take;
	w->io.get_blob = dir_get;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	device_free(&w->a);
	device_free(&w->b);
	device_free(&w->c);
	cs_ca_free(w->ca);
	cs_fs_remove_tree(w->dir);
	free(w->dir);
	free(w->blobs);
	free(w);
	return 0;
}

static cs_relay_self self_of(struct world *w, struct device *d)
{
	cs_relay_self s = {d->key, d->cert, d->id, cs_ca_cert(w->ca), NULL};
	return s;
}

static int produce(struct world *w, uint64_t job, struct device *dst, uint64_t history,
	cs_relay_produce_result *res)
{
	cs_relay_dest dest = {dst->id, dst->cert, history};
	cs_relay_self self = self_of(w, &w->a);
	return cs_relay_produce(res, w->a.ix, "f", job, &self, &dest, 1, &w->io);
}

static int apply(struct world *w, uint64_t job, struct device *dst, uint64_t history,
	uint64_t to_seq, cs_relay_apply_result *res)
{
	cs_relay_apply_request req = {job, "f", w->a.id, w->a.cert, history, to_seq};
	cs_relay_self self = self_of(w, dst);
	return cs_relay_apply(res, dst->ix, &req, &self, &w->io);
}

static void file_equal(const char *a, const char *b)
{
	uint8_t *x, *y;
	size_t xl, yl;
	cs_assert_ok(cs_fs_read_all(&x, &xl, a, 1u << 28));
	cs_assert_ok(cs_fs_read_all(&y, &yl, b, 1u << 28));
	assert_int_equal(xl, yl);
	assert_memory_equal(x, y, xl);
	free(x);
	free(y);
}

/* cs_relay_io.applied: the job is final, the index not yet told what was
 * written (the caller acknowledges first). */
static int on_applied(void *ud, uint64_t job, const cs_relay_apply_result *res)
{
	struct world *w = ud;
	cs_file_entry *e = NULL;
	(void)job;
	w->applied_calls++;
	if (res->applied && cs_index_get(&e, w->b.ix, "f", "d/big.bin") == 0)
		w->applied_index_knew = 1;
	cs_file_entry_free(e);
	return CS_OK;
}

static void test_full_then_incremental(void **state)
{
	struct world *w = *state;
	size_t big = 6u << 20;
	uint8_t *data = malloc(big);
	cs_test_fill_random(data, big, 1);
	cs_test_write_file(w->a.root, "d/big.bin", data, big);
	cs_test_write_file(w->a.root, "empty", "", 0);
	cs_test_write_file(w->a.root, "d/e/small.txt", "hello", 5);
	chmod(w->a.root, 0755);
	/* older than the two seconds within which a scan trusts no mtime */
	const char *files[] = {"d/big.bin", "empty", "d/e/small.txt"};
	for (size_t i = 0; i < 3; i++) {
		char *p = cs_path_join(w->a.root, files[i]);
		cs_assert_ok(cs_file_set_mtime(-1, p, INT64_C(1700000000000000000) + (int64_t)i));
		free(p);
	}

	cs_relay_produce_result pr;
	cs_relay_apply_result ar;
	cs_assert_ok(produce(w, 1, &w->b, 0, &pr));
	assert_true(pr.records >= 3);
	w->io.applied = on_applied;
	cs_assert_ok(apply(w, 1, &w->b, 0, pr.to_seq, &ar));
	w->io.applied = NULL;
	assert_int_equal(w->applied_calls, 1);
	assert_true(w->taken >= 1); /* the 6 MiB file's packs were handed over */
	assert_int_equal(w->applied_index_knew, 0);
	assert_int_equal(ar.applied, 1);
	char p1[4096], p2[4096];
	snprintf(p1, sizeof(p1), "%s/d/big.bin", w->a.root);
	snprintf(p2, sizeof(p2), "%s/d/big.bin", w->b.root);
	file_equal(p1, p2);
	snprintf(p2, sizeof(p2), "%s/d/e/small.txt", w->b.root);
	assert_true(cs_fs_exists(p2));
	/* The destination's index knows what it wrote: its next scan reads
	 * nothing again, and finds the files as they were applied. */
	cs_scan_stats st;
	cs_assert_ok(cs_index_scan(w->b.ix, "f", &st, NULL, NULL));
	assert_int_equal(st.hashed_bytes, 0);
	assert_int_equal(st.files, 3);
	cs_file_entry *be = NULL, *ae = NULL;
	cs_assert_ok(cs_index_get(&be, w->b.ix, "f", "d/big.bin"));
	cs_assert_ok(cs_index_get(&ae, w->a.ix, "f", "d/big.bin"));
	assert_memory_equal(be->hash, ae->hash, CS_HASH_LEN);
	assert_int_equal(be->nchunks, ae->nchunks);
	assert_memory_equal(be->chunks, ae->chunks, ae->nchunks * sizeof(*ae->chunks));
	cs_file_entry_free(be);
	cs_file_entry_free(ae);

	/* Nothing changed: nothing is sent. */
	uint64_t h = pr.to_seq;
	cs_assert_ok(produce(w, 2, &w->b, h, &pr));
	assert_int_equal(pr.records, 0);
	assert_int_equal(pr.files, 0);
	cs_assert_ok(apply(w, 2, &w->b, h, pr.to_seq, &ar));

	/* One byte changed: one chunk travels. */
	data[big / 2] ^= 0xff;
	cs_test_write_file(w->a.root, "d/big.bin", data, big);
	cs_assert_ok(produce(w, 3, &w->b, h, &pr));
	assert_int_equal(pr.records, 1);
	cs_assert_ok(apply(w, 3, &w->b, h, pr.to_seq, &ar));
	snprintf(p2, sizeof(p2), "%s/d/big.bin", w->b.root);
	file_equal(p1, p2);
	free(data);
}

static void corrupt(struct world *w, uint64_t job, const char *name, size_t at)
{
	char path[4096];
	uint8_t *d;
	size_t len;
	snprintf(path, sizeof(path), "%s/%llu/%s", w->blobs, (unsigned long long)job, name);
	cs_assert_ok(cs_fs_read_all(&d, &len, path, 64u << 20));
	assert_true(at < len);
	d[at] ^= 1;
	cs_assert_ok(cs_fs_write_atomic(path, d, len, 0600));
	free(d);
}

/* What a fellow recipient could do with the session key (and a hub that
 * helps it): open segment m0 of a job meant for B, drop its last entry and
 * seal it again, correctly numbered. */
static void forge_segment(struct world *w, uint64_t job)
{
	char path[4096];
	uint8_t *der, *plain, *blob, *seg, *enc;
	size_t der_len, plain_len, blob_len, enc_len;
	cs_cert *signer = NULL;
	cs_session_header h;
	snprintf(path, sizeof(path), "%s/%llu/header", w->blobs, (unsigned long long)job);
	cs_assert_ok(cs_fs_read_all(&der, &der_len, path, 1u << 20));
	cs_assert_ok(cs_envelope_open(&plain, &plain_len, &signer, der, der_len, w->b.key, w->b.cert));
	cs_assert_ok(cs_session_header_decode(&h, plain, plain_len));
	snprintf(path, sizeof(path), "%s/%llu/m0", w->blobs, (unsigned long long)job);
	cs_assert_ok(cs_fs_read_all(&blob, &blob_len, path, 8u << 20));
	const uint8_t *rec;
	size_t rec_len, off = 0;
	assert_int_equal(cs_pack_next(&rec, &rec_len, blob, blob_len, &off), 1);
	assert_int_equal(off, blob_len); /* one record */
	seg = malloc(rec_len);
	cs_assert_ok(cs_record_open(seg, &h.key, CS_RECORD_MANIFEST, 0, rec, rec_len));
	cs_manifest m = {0};
	uint64_t next = 0;
	int last = 0;
	cs_assert_ok(cs_manifest_segment_decode(&m, seg, rec_len - CS_RECORD_TAG_LEN, &next, &last));
	assert_true(m.nentries >= 2);
	m.nentries--;
	free(m.entries[m.nentries].path);
	free(m.entries[m.nentries].chunks);
	cs_assert_ok(cs_manifest_segment_encode(&enc, &enc_len, &m, 0, 0, last));
	uint8_t *out = malloc(4 + enc_len + CS_RECORD_TAG_LEN);
	uint32_t n = (uint32_t)(enc_len + CS_RECORD_TAG_LEN);
	out[0] = (uint8_t)(n >> 24), out[1] = (uint8_t)(n >> 16), out[2] = (uint8_t)(n >> 8), out[3] = (uint8_t)n;
	cs_assert_ok(cs_record_seal(out + 4, &h.key, CS_RECORD_MANIFEST, 0, enc, enc_len));
	cs_assert_ok(cs_fs_write_atomic(path, out, 4 + n, 0600));
	free(out);
	free(enc);
	cs_manifest_clear(&m);
	free(seg);
	free(blob);
	cs_session_header_clear(&h);
	free(plain);
	free(der);
	cs_cert_free(signer);
}

/* Produce job twice for B, put blob name of the first session into the
 * second, and apply that. */
static int produce_with_blob_of_earlier(struct world *w, uint64_t job, const char *name,
	cs_relay_produce_result *pr)
{
	char path[4096];
	uint8_t *d;
	size_t len;
	cs_relay_apply_result ar;
	cs_assert_ok(produce(w, job, &w->b, 0, pr));
	snprintf(path, sizeof(path), "%s/%llu/%s", w->blobs, (unsigned long long)job, name);
	cs_assert_ok(cs_fs_read_all(&d, &len, path, 1u << 26));
	cs_assert_ok(produce(w, job, &w->b, 0, pr));
	cs_assert_ok(cs_fs_write_atomic(path, d, len, 0600));
	free(d);
	return apply(w, job, &w->b, 0, pr->to_seq, &ar);
}

static void test_refusals(void **state)
{
	struct world *w = *state;
	cs_relay_produce_result pr;
	cs_relay_apply_result ar;
	char path[4096];
	cs_test_write_file(w->a.root, "x.txt", "some content", 12);
	cs_test_write_file(w->a.root, "y.txt", "other content", 13);

	/* A tampered record: refused, nothing written. */
	cs_assert_ok(produce(w, 10, &w->b, 0, &pr));
	corrupt(w, 10, "p0", 30);
	assert_int_equal(apply(w, 10, &w->b, 0, pr.to_seq, &ar), CS_EAUTH);
	snprintf(path, sizeof(path), "%s/x.txt", w->b.root);
	assert_false(cs_fs_exists(path));

	/* A pack from another session. */
	cs_assert_ok(produce(w, 11, &w->b, 0, &pr));
	cs_assert_ok(produce(w, 12, &w->b, 0, &pr));
	char a[4096], b[4096];
	uint8_t *d;
	size_t len;
	snprintf(a, sizeof(a), "%s/11/p0", w->blobs);
	snprintf(b, sizeof(b), "%s/12/p0", w->blobs);
	cs_assert_ok(cs_fs_read_all(&d, &len, a, 1u << 26));
	cs_assert_ok(cs_fs_write_atomic(b, d, len, 0600));
	free(d);
	assert_int_equal(apply(w, 12, &w->b, 0, pr.to_seq, &ar), CS_EAUTH);
	assert_false(cs_fs_exists(path));

	/* A header meant for B cannot be opened by C. */
	assert_int_not_equal(apply(w, 11, &w->c, 0, pr.to_seq, &ar), 0);

	/* A header replayed into another job is refused. */
	snprintf(a, sizeof(a), "%s/11", w->blobs);
	snprintf(b, sizeof(b), "%s/13", w->blobs);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(apply(w, 13, &w->b, 0, pr.to_seq, &ar), CS_EAUTH);

	/* A job whose source is another device: signature check fails. */
	cs_assert_ok(produce(w, 14, &w->b, 0, &pr));
	cs_relay_apply_request req = {14, "f", w->c.id, w->c.cert, 0, pr.to_seq};
	cs_relay_self self = self_of(w, &w->b);
	assert_int_equal(cs_relay_apply(&ar, w->b.ix, &req, &self, &w->io), CS_EAUTH);
	assert_false(cs_fs_exists(path));

	/* A manifest segment, or the trailer, from another session of the
	 * same job. */
	assert_int_equal(produce_with_blob_of_earlier(w, 16, "m0", &pr), CS_EAUTH);
	assert_false(cs_fs_exists(path));
	assert_int_equal(produce_with_blob_of_earlier(w, 17, "trailer", &pr), CS_EAUTH);
	assert_non_null(strstr(cs_error_last(), "trailer"));
	assert_false(cs_fs_exists(path));

	/* A segment that a holder of the session key altered: the source's
	 * signed trailer does not vouch for it, and nothing is put in place. */
	cs_assert_ok(produce(w, 18, &w->b, 0, &pr));
	forge_segment(w, 18);
	assert_int_equal(apply(w, 18, &w->b, 0, pr.to_seq, &ar), CS_EAUTH);
	assert_non_null(strstr(cs_error_last(), "does not match the session trailer"));
	assert_false(cs_fs_exists(path));

	/* And the genuine job still applies, set-id bits and all (they are
	 * set only once the file is in place). */
	char suid[4096];
	struct stat st;
	cs_test_write_file(w->a.root, "tool", "#!/bin/sh\n", 10);
	snprintf(suid, sizeof(suid), "%s/tool", w->a.root);
	assert_int_equal(chmod(suid, 04750), 0);
	cs_assert_ok(produce(w, 15, &w->b, 0, &pr));
	cs_assert_ok(apply(w, 15, &w->b, 0, pr.to_seq, &ar));
	assert_true(cs_fs_exists(path));
	snprintf(suid, sizeof(suid), "%s/tool", w->b.root);
	assert_int_equal(stat(suid, &st), 0);
	assert_int_equal(st.st_mode & 07777, 04750);
}

static void test_conflict_copy(void **state)
{
	struct world *w = *state;
	cs_relay_produce_result pr;
	cs_relay_apply_result ar;
	w->io.take_blob = NULL; /* packs are copied (put_blob) in this one */
	cs_test_write_file(w->a.root, "doc.txt", "v1", 2);
	cs_assert_ok(produce(w, 20, &w->b, 0, &pr));
	cs_assert_ok(apply(w, 20, &w->b, 0, pr.to_seq, &ar));
	uint64_t h = pr.to_seq;
	cs_test_write_file(w->b.root, "doc.txt", "local edit", 10);
	cs_test_write_file(w->a.root, "doc.txt", "v2 from a", 9);
	cs_assert_ok(produce(w, 21, &w->b, h, &pr));
	cs_assert_ok(apply(w, 21, &w->b, h, pr.to_seq, &ar));
	assert_int_equal(ar.conflicts, 1);
	char p[4096];
	snprintf(p, sizeof(p), "%s/doc.txt", w->b.root);
	uint8_t *d;
	size_t len;
	cs_assert_ok(cs_fs_read_all(&d, &len, p, 100));
	assert_int_equal(len, 9);
	free(d);
}

/* Files whose name starts with the temporary prefix, directly under dir. */
static int temporaries_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, CS_TMP_PREFIX, strlen(CS_TMP_PREFIX)) == 0;
	closedir(d);
	return n;
}

static uint8_t *copy_of(const char *s)
{
	uint8_t *d = malloc(strlen(s));
	memcpy(d, s, strlen(s));
	return d;
}

/* The descriptors this process has open. */
static size_t open_fds(void)
{
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* Stage len random bytes as entry 1 through a writer of its own, handed
 * over in pieces of `piece` bytes; the staged file must hold exactly them. */
static void stage_in_pieces(struct world *w, char **staged, size_t len, size_t piece)
{
	struct cs_stage_writer sw;
	uint8_t *data = malloc(len), *back = NULL;
	size_t back_len = 0;
	assert_non_null(data);
	cs_test_fill_random(data, len, len);
	cs_assert_ok(cs_stage_writer_start(&sw, w->b.root, &(char **){staged}));
	cs_assert_ok(cs_stage_writer_open(&sw, 1, "pieces", len));
	for (size_t at = 0; at < len; at += piece) {
		size_t n = len - at < piece ? len - at : piece;
		uint8_t *p = malloc(n);
		assert_non_null(p);
		memcpy(p, data + at, n);
		cs_assert_ok(cs_stage_writer_data(&sw, p, n));
	}
	cs_assert_ok(cs_stage_writer_finish(&sw, 0600, 0));
	cs_assert_ok(cs_stage_writer_drain(&sw));
	cs_stage_writer_stop(&sw);
	assert_non_null(staged[1]);
	cs_assert_ok(cs_fs_read_all(&back, &back_len, staged[1], 1u << 25));
	assert_int_equal(back_len, len);
	assert_memory_equal(back, data, len);
	free(back);
	free(data);
	unlink(staged[1]);
	free(staged[1]);
	staged[1] = NULL;
}

static void test_stage_writer(void **state)
{
	struct world *w = *state;
	char *staged[3] = {NULL, NULL, NULL};
	struct cs_stage_writer sw;
	struct stat st;

	/* Two files, the second abandoned: only the first is staged, with its
	 * content, mode and mtime. */
	cs_assert_ok(cs_stage_writer_start(&sw, w->b.root, &(char **){staged}));
	cs_assert_ok(cs_stage_writer_open(&sw, 0, "one", 11));
	cs_assert_ok(cs_stage_writer_data(&sw, copy_of("hello "), 6));
	cs_assert_ok(cs_stage_writer_data(&sw, copy_of("world"), 5));
	cs_assert_ok(cs_stage_writer_finish(&sw, 0640, INT64_C(1500000000123456789)));
	cs_assert_ok(cs_stage_writer_open(&sw, 1, "two", 3));
	cs_assert_ok(cs_stage_writer_data(&sw, copy_of("bad"), 3));
	cs_stage_writer_abandon(&sw);
	cs_assert_ok(cs_stage_writer_drain(&sw));
	cs_stage_writer_stop(&sw);
	cs_stage_writer_stop(&sw); /* twice is harmless */
	assert_non_null(staged[0]);
	assert_null(staged[1]);
	assert_int_equal(temporaries_in(w->b.root), 1);
	assert_int_equal(stat(staged[0], &st), 0);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_mtim.tv_sec, 1500000000);
	assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	unlink(staged[0]);
	free(staged[0]);
	staged[0] = NULL;

	/* A large file goes through direct I/O in odd-sized pieces; its last
	 * block is padded on the disk and cut back to the length. */
	stage_in_pieces(w, staged, (3u << 19) + 123, 77777);
	/* One of several direct-I/O requests is flushed in the background while
	 * it is written, and comes out whole too. */
	size_t flushed = cs__stage_writer_flushes();
	stage_in_pieces(w, staged, (13u << 20) + 4097, 7 * 77777);
	assert_true(cs__stage_writer_flushes() > flushed);

	/* Stopped without a drain, with direct-I/O data still queued: the
	 * steps are carried out, the file is removed (never finished) and no
	 * descriptor is left behind by the flushes asked for on the way. */
	size_t fds = open_fds(), big_len = 12u << 20;
	uint8_t *big_data = malloc(big_len);
	assert_non_null(big_data);
	cs_test_fill_random(big_data, big_len, 12);
	cs_assert_ok(cs_stage_writer_start(&sw, w->b.root, &(char **){staged}));
	cs_assert_ok(cs_stage_writer_open(&sw, 2, "queued", big_len));
	for (size_t at = 0; at < big_len; at += 1u << 20) {
		uint8_t *p = malloc(1u << 20);
		assert_non_null(p);
		memcpy(p, big_data + at, 1u << 20);
		cs_assert_ok(cs_stage_writer_data(&sw, p, 1u << 20));
	}
	cs_stage_writer_stop(&sw);
	free(big_data);
	assert_null(staged[2]);
	assert_int_equal(temporaries_in(w->b.root), 0);
	assert_int_equal(open_fds(), fds);

	/* A file left open when the writer stops is removed. */
	cs_assert_ok(cs_stage_writer_start(&sw, w->b.root, &(char **){staged}));
	cs_assert_ok(cs_stage_writer_open(&sw, 2, "three", 7));
	cs_assert_ok(cs_stage_writer_data(&sw, copy_of("partial"), 7));
	cs_assert_ok(cs_stage_writer_drain(&sw));
	cs_stage_writer_stop(&sw);
	assert_null(staged[2]);
	assert_int_equal(temporaries_in(w->b.root), 0);

	/* A failure is kept and returned by every later call, naming the file. */
	char missing[4096];
	snprintf(missing, sizeof(missing), "%s/no-such-dir", w->b.root);
	cs_assert_ok(cs_stage_writer_start(&sw, missing, &(char **){staged}));
	int r = cs_stage_writer_open(&sw, 0, "four", 0);
	if (r == 0)
		r = cs_stage_writer_drain(&sw);
	assert_int_equal(r, CS_EIO);
	assert_non_null(strstr(cs_error_last(), "create temporary file for four"));
	assert_int_equal(cs_stage_writer_data(&sw, copy_of("x"), 1), CS_EIO);
	assert_int_equal(cs_stage_writer_finish(&sw, 0644, 0), CS_EIO);
	cs_stage_writer_stop(&sw);
	assert_null(staged[0]);
}

/* A destination that cannot write (a file size limit standing in for a full
 * disk): the job fails with the file named, nothing is put in place, no
 * temporary file is left, and the same job applies once there is room. */
static void test_write_failure(void **state)
{
	struct world *w = *state;
	cs_relay_produce_result pr;
	cs_relay_apply_result ar;
	size_t big = 3u << 20;
	uint8_t *data = malloc(big);
	cs_test_fill_random(data, big, 7);
	cs_test_write_file(w->a.root, "a-small.txt", "fits", 4);
	cs_test_write_file(w->a.root, "b-big.bin", data, big);
	free(data);
	cs_assert_ok(produce(w, 30, &w->b, 0, &pr));

	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1u << 20;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int r = apply(w, 30, &w->b, 0, pr.to_seq, &ar);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, CS_EIO);
	assert_non_null(strstr(cs_error_last(), "write b-big.bin"));
	char p[4096];
	snprintf(p, sizeof(p), "%s/a-small.txt", w->b.root);
	assert_false(cs_fs_exists(p));
	assert_int_equal(temporaries_in(w->b.root), 0);

	cs_assert_ok(apply(w, 30, &w->b, 0, pr.to_seq, &ar));
	assert_true(cs_fs_exists(p));
	char q[4096];
	snprintf(p, sizeof(p), "%s/b-big.bin", w->a.root);
	snprintf(q, sizeof(q), "%s/b-big.bin", w->b.root);
	file_equal(p, q);
	assert_int_equal(temporaries_in(w->b.root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_then_incremental, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
