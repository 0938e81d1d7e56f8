/*
 * Unit tests for the hub's state (src/lib/hub): registry, tokens, jobs,
 * tasks with leases and resume, history, the relay store with its quota and
 * expiry, and recovery after the hub is closed mid-job. No sockets: the
 * hub is opened with cs__hub_open_core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hub.h>
#include <certsync/identity.h>
#include "helpers.h"
#include "hub/hub_internal.h"

struct fixture {
	char *dir;
	cs_hub *hub;
	char id[4][CS_DEVICE_ID_SIZE];
};

/* Register a new device called name through the CSR path. */
static void add_device(cs_hub *hub, char id[CS_DEVICE_ID_SIZE], const char *name)
{
	cs_key *key = NULL;
	char *csr = NULL, *cert = NULL;
	cs_assert_ok(cs_key_generate(&key));
	cs_assert_ok(cs_csr_new(&csr, key, name));
	cs_assert_ok(cs_store_begin(hub->db));
	cs_assert_ok(cs__hub_issue_and_register_tx(hub, csr, name, NULL, id, &cert));
	cs_assert_ok(cs_store_commit(hub->db));
	assert_non_null(strstr(cert, "BEGIN CERTIFICATE"));
	free(csr);
	free(cert);
	cs_key_free(key);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = cs_test_tmpdir("hub-store");
	char *data = cs_path_join(f->dir, "hub");
	cs_assert_ok(cs_hub_init(data, NULL));
	cs_assert_ok(cs__hub_open_core(&f->hub, data));
	free(data);
	const char *names[4] = {"src", "d1", "d2", "other"};
	for (int i = 0; i < 4; i++)
		add_device(f->hub, f->id[i], names[i]);
	for (int i = 0; i < 3; i++)
		cs_assert_ok(cs__hub_folder_set(f->hub, f->id[i], "photos", 1));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cs_hub_free(f->hub);
	cs_fs_remove_tree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	char *data = strdup(f->hub->data_dir);
	cs_hub_free(f->hub);
	f->hub = NULL;
	cs_assert_ok(cs__hub_open_core(&f->hub, data));
	free(data);
}

static const char *jstate(cs_hub *hub, int64_t job)
{
	static char buf[32];
	char *st = NULL, *folder = NULL;
	char src[CS_DEVICE_ID_SIZE];
	cs_assert_ok(cs__hub_job_info(hub, job, &st, src, &folder));
	snprintf(buf, sizeof(buf), "%s", st);
	free(st);
	free(folder);
	return buf;
}

/* A pack of n records of 20 bytes each (framing only). */
static uint8_t *pack(size_t n, size_t *len)
{
	*len = n * 24;
	uint8_t *p = calloc(1, *len);
	for (size_t i = 0; i < n; i++)
		p[i * 24 + 3] = 20;
	return p;
}

static void upload_all(struct fixture *f, int64_t job, int packs)
{
	size_t len;
	uint64_t rec;
	uint8_t *p = pack(2, &len);
	cs_assert_ok(cs__relay_put(f->hub, job, "header", (const uint8_t *)"hdr", 3, &rec));
	cs_assert_ok(cs__relay_put(f->hub, job, "m0", p, len, &rec));
	assert_int_equal(rec, 2);
	for (int i = 0; i < packs; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		cs_assert_ok(cs__relay_put(f->hub, job, name, p, len, &rec));
	}
	cs_assert_ok(cs__relay_put(f->hub, job, "trailer", (const uint8_t *)"trl", 3, &rec));
	free(p);
}

static void test_job_lifecycle(void **state)
{
	struct fixture *f = *state;
	cs_hub *hub = f->hub;
	int64_t job;
	json_t *t = NULL;
	const char *dests[] = {f->id[1], f->id[2]};

	cs_assert_ok(cs__hub_job_create(hub, &job, "photos", f->id[0], dests, 2, 0));
	assert_string_equal(jstate(hub, job), "producing");

	/* the produce task carries each destination's certificate and history */
	cs_assert_ok(cs__hub_task_next(hub, &t, f->id[0]));
	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "type")), "produce");
	assert_int_equal(json_integer_value(json_object_get(t, "job")), job);
	json_t *d = json_object_get(t, "destinations");
	assert_int_equal(json_array_size(d), 2);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(d, 0), "certificate")),
		"BEGIN CERTIFICATE"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "history")), 0);
	json_decref(t);

	/* produced before uploads: refused */
	struct cs__produced p = {.to_seq = 41, .records = 4, .packs = 2, .segments = 1, .bytes = 100,
		.files = 3};
	assert_int_equal(cs__hub_job_produced(hub, job, f->id[0], &p), CS_EINVAL);
	/* only the source */
	assert_int_equal(cs__hub_job_produced(hub, job, f->id[1], &p), CS_EDENIED);
	upload_all(f, job, 2);
	/* the declared segments and packs must be exactly those stored */
	struct cs__produced wrong = p;
	wrong.segments = 2;
	assert_int_equal(cs__hub_job_produced(hub, job, f->id[0], &wrong), CS_EINVAL);
	wrong = p;
	wrong.packs = 1;
	assert_int_equal(cs__hub_job_produced(hub, job, f->id[0], &wrong), CS_EINVAL);
	wrong = p;
	wrong.segments = 0; /* a session has at least one */
	assert_int_equal(cs__hub_job_produced(hub, job, f->id[0], &wrong), CS_EINVAL);
	cs_assert_ok(cs__hub_job_produced(hub, job, f->id[0], &p));
	cs_assert_ok(cs__hub_job_produced(hub, job, f->id[0], &p)); /* retry */
	assert_string_equal(jstate(hub, job), "delivering");

	/* apply tasks for both destinations, blobs in order */
	cs_assert_ok(cs__hub_task_next(hub, &t, f->id[1]));
	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "type")), "apply");
	assert_int_equal(json_integer_value(json_object_get(t, "to_seq")), 41);
	json_t *blobs = json_object_get(t, "blobs");
	assert_int_equal(json_array_size(blobs), 5);
	assert_string_equal(json_string_value(json_object_get(json_array_get(blobs, 0), "name")), "header");
	assert_string_equal(json_string_value(json_object_get(json_array_get(blobs, 1), "name")), "m0");
	assert_string_equal(json_string_value(json_object_get(json_array_get(blobs, 3), "name")), "p1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(blobs, 4), "name")), "trailer");
	json_decref(t);

	/* wrong to_seq refused; applied recorded; repeat is a no-op */
	struct cs__progress pr = {3, 3, 100, 100};
	assert_int_equal(cs__hub_job_ack(hub, job, f->id[1], 1, 40, &pr, NULL), CS_EINVAL);
	cs_assert_ok(cs__hub_job_ack(hub, job, f->id[1], 1, 41, &pr, NULL));
	cs_assert_ok(cs__hub_job_ack(hub, job, f->id[1], 0, 0, NULL, "late"));
	assert_int_equal(cs__hub_job_ack(hub, job, f->id[3], 1, 41, &pr, NULL), CS_EDENIED);
	int64_t h = -1;
	cs_assert_ok(cs__hub_history_get(hub, &h, "photos", f->id[0], f->id[1]));
	assert_int_equal(h, 41);
	assert_string_equal(jstate(hub, job), "delivering");
	char *bdir = cs_path_join(hub->data_dir, "blobs");
	char jdir[4200];
	snprintf(jdir, sizeof(jdir), "%s/%lld", bdir, (long long)job);
	assert_true(cs_fs_exists(jdir));

	cs_assert_ok(cs__hub_job_ack(hub, job, f->id[2], 1, 41, &pr, NULL));
	assert_string_equal(jstate(hub, job), "done");
	assert_false(cs_fs_exists(jdir));
	assert_int_equal(cs__relay_stored_bytes(hub), 0);

	/* the next job starts from the recorded history */
	int64_t job2;
	cs_assert_ok(cs__hub_job_create(hub, &job2, "photos", f->id[0], NULL, 0, 1));
	cs_assert_ok(cs__hub_task_next(hub, &t, f->id[0]));
	d = json_object_get(t, "destinations");
	assert_int_equal(json_array_size(d), 2); /* "all": d1 and d2, not "other" */
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(json_integer_value(json_object_get(json_array_get(d, i), "history")), 41);
	json_decref(t);

	/* admin JSON */
	json_t *j = NULL;
	cs_assert_ok(cs__hub_job_json(hub, &j, job));
	assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
	assert_int_equal(json_integer_value(json_object_get(j, "records")), 4);
	assert_int_equal(json_array_size(json_object_get(j, "destinations")), 2);
	json_decref(j);
	free(bdir);
}

/* A finished job's blob directory is removed on the relay's writer thread,
 * after the acknowledgement that finished the job has returned: freeing a
 * large job's files must not hold up the loop. */
static void test_job_blobs_removed_by_writer(void **state)
{
	struct fixture *f = *state;
	char *data = strdup(f->hub->data_dir);
	cs_hub_free(f->hub);
	cs_assert_ok(cs_hub_open(&f->hub, data, "127.0.0.1:0"));
	free(data);
	cs_hub *hub = f->hub;
	int64_t job;
	json_t *t = NULL;
	const char *dests[] = {f->id[1]};
	cs_assert_ok(cs__hub_job_create(hub, &job, "photos", f->id[0], dests, 1, 0));
	cs_assert_ok(cs__hub_task_next(hub, &t, f->id[0]));
	json_decref(t);
	upload_all(f, job, 3);
	struct cs__produced p = {.to_seq = 7, .records = 6, .packs = 3, .segments = 1, .bytes = 100,
		.files = 2};
	cs_assert_ok(cs__hub_job_produced(hub, job, f->id[0], &p));
	char jdir[4200];
	snprintf(jdir, sizeof(jdir), "%s/blobs/%lld", hub->data_dir, (long long)job);
	assert_true(cs_fs_exists(jdir));

	assert_null(hub->writer); /* no upload came over HTTP */
	assert_non_null(cs__hub_relay_writer(hub));
	cs__blob_writer_hold(hub->writer, 1);
	struct cs__progress pr = {2, 2, 100, 100};
	cs_assert_ok(cs__hub_job_ack(hub, job, f->id[1], 1, 7, &pr, NULL));
	assert_string_equal(jstate(hub, job), "done");
	/* the rows are gone with the acknowledgement, the files not yet */
	assert_int_equal(cs__relay_stored_bytes(hub), 0);
	assert_true(cs_fs_exists(jdir));
	const uint8_t *b = NULL;
	size_t blen = 0;
	assert_int_equal(cs__relay_get(hub, &b, &blen, job, "p0"), CS_ENOTFOUND);
	cs__blob_writer_hold(hub->writer, 0);
	cs__blob_writer_free(hub); /* drains the queue */
	assert_false(cs_fs_exists(jdir));
}

static void test_job_validation(void **state)
{
	struct fixture *f = *state;
	int64_t job;
	const char *self[] = {f->id[0]};
	const char *other[] = {f->id[3]};
	const char *bogus[] = {"AAAAAAA-AAAAAAA"};
	const char *dup[] = {f->id[1], f->id[1]};
	assert_int_equal(cs__hub_job_create(f->hub, &job, "nofolder", f->id[0], NULL, 0, 1), CS_ENOTFOUND);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "photos", f->id[0], self, 1, 0), CS_EINVAL);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "photos", f->id[0], other, 1, 0), CS_EINVAL);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "photos", f->id[0], bogus, 1, 0), CS_ENOTFOUND);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "photos", f->id[0], NULL, 0, 0), CS_EINVAL);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "bad/id", f->id[0], NULL, 0, 1), CS_EINVAL);
	assert_int_equal(cs__hub_job_create(f->hub, &job, "photos", f->id[3], NULL, 0, 1), CS_EINVAL);
	/* duplicates collapse; lower case and no dashes name the same device */
	char loose[CS_DEVICE_ID_SIZE];
	size_t k = 0;
	for (const char *p = f->id[2]; *p; p++)
		if (*p != '-')
			loose[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	loose[k] = '\0';
	const char *mixed[] = {f->id[1], loose, f->id[1]};
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], mixed, 3, 0));
	json_t *j = NULL;
	cs_assert_ok(cs__hub_job_json(f->hub, &j, job));
	assert_int_equal(json_array_size(json_object_get(j, "destinations")), 2);
	json_decref(j);
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], dup, 2, 0));
}

static void test_lease_resume_and_restart(void **state)
{
	struct fixture *f = *state;
	int64_t job;
	json_t *t = NULL;
	const char *dests[] = {f->id[1]};
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], dests, 1, 0));
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[0]));
	assert_non_null(t);
	int64_t task = json_integer_value(json_object_get(t, "task"));
	json_decref(t);
	/* delivered: not handed out again within the lease */
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[0]));
	assert_null(t);
	/* resume=1 makes it deliverable again */
	cs_assert_ok(cs__hub_tasks_resume(f->hub, f->id[0]));
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[0]));
	assert_non_null(t);
	assert_int_equal(json_integer_value(json_object_get(t, "task")), task);
	json_decref(t);
	/* the lease runs out: handed out again */
	cs_stmt *q = NULL;
	cs_assert_ok(cs_store_prepare(&q, f->hub->db, "UPDATE tasks SET delivered_at = ? WHERE id = ?"));
	cs_stmt_bind_int64(q, 1, cs_clock_now() - CS__HUB_LEASE_S - 1);
	cs_stmt_bind_int64(q, 2, task);
	assert_int_equal(cs_stmt_step(q), 0);
	cs_stmt_free(q);
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[0]));
	assert_non_null(t);
	json_decref(t);

	/* a partial upload survives the hub going away (closed without any
	 * further step, as after a kill) */
	size_t len;
	uint64_t rec;
	uint8_t *p = pack(3, &len);
	cs_assert_ok(cs__relay_put(f->hub, job, "header", p, len, &rec));
	cs_assert_ok(cs__relay_put(f->hub, job, "p0", p, len, &rec));
	assert_int_equal(rec, 3);
	reopen(f);
	cs__relay_sweep(f->hub); /* as at start: must keep an unfinished job's blobs */
	const uint8_t *got;
	size_t size;
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0"));
	assert_int_equal(size, len);
	assert_memory_equal(got, p, len);
	assert_string_equal(jstate(f->hub, job), "producing");
	cs_assert_ok(cs__hub_tasks_resume(f->hub, f->id[0]));
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[0]));
	assert_non_null(t);
	json_decref(t);
	free(p);
}

/* Blobs come back from memory while recent, from their file after a
 * restart; a file replaced behind the hub's back is read again, and a file
 * cut short (lost in a power cut) is refused rather than served. */
static void test_relay_blobs(void **state)
{
	struct fixture *f = *state;
	int64_t job;
	uint64_t rec;
	const uint8_t *got;
	size_t len, size;
	const char *dests[] = {f->id[1]};
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], dests, 1, 0));
	uint8_t *a = pack(5000, &len); /* 120,000 bytes: not a whole number of blocks */
	a[100] = 'a';
	cs_assert_ok(cs__relay_put(f->hub, job, "p0", a, len, &rec));
	assert_int_equal(rec, 5000);
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0"));
	assert_int_equal(size, len);
	assert_memory_equal(got, a, len);
	assert_int_equal(f->hub->m.blob_reads_memory, 1);
	assert_int_equal(f->hub->m.blob_reads_disk, 0);
	assert_int_equal(cs__relay_get(f->hub, &got, &size, job, "p1"), CS_ENOTFOUND);

	/* A reply still sending a blob keeps its bytes after the cache has let
	 * it go (ASan would see a use after free); unknown bytes are not held. */
	void *held = cs__blob_cache_hold(&f->hub->blobs, got);
	assert_non_null(held);
	assert_null(cs__blob_cache_hold(&f->hub->blobs, a));
	cs__blob_cache_drop_job(&f->hub->blobs, job);
	assert_memory_equal(got, a, len);
	cs__blob_cache_release(held);
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0")); /* back from the file */
	assert_int_equal(f->hub->m.blob_reads_disk, 1);
	f->hub->m.blob_reads_disk = 0;
	f->hub->m.blob_reads_memory = 0;

	char rel[64];
	snprintf(rel, sizeof(rel), "blobs/%lld/p0", (long long)job);
	char *path = cs_path_join(f->hub->data_dir, rel);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)len);

	/* restarted: read from the file once, then from memory */
	reopen(f);
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0"));
	assert_int_equal(size, len);
	assert_memory_equal(got, a, len);
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0"));
	assert_int_equal(f->hub->m.blob_reads_disk, 1);
	assert_int_equal(f->hub->m.blob_reads_memory, 1);

	/* replaced by another hub on the same data directory */
	a[100] = 'b';
	cs_assert_ok(cs_fs_write_replace(path, a, len, 0600));
	cs_assert_ok(cs__relay_get(f->hub, &got, &size, job, "p0"));
	assert_int_equal(got[100], 'b');
	assert_int_equal(f->hub->m.blob_reads_disk, 2);

	/* cut short: refused with its own message */
	assert_int_equal(truncate(path, (off_t)len - 24), 0);
	assert_int_equal(cs__relay_get(f->hub, &got, &size, job, "p0"), CS_EIO);
	assert_non_null(strstr(cs_error_last(), "lost"));
	free(path);
	free(a);
}

static void test_relay_rules(void **state)
{
	struct fixture *f = *state;
	int64_t job;
	uint64_t rec, n;
	const char *dests[] = {f->id[1]};
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], dests, 1, 0));

	assert_true(cs__relay_name_ok("header"));
	assert_true(cs__relay_name_ok("p0"));
	assert_true(cs__relay_name_ok("p1048575"));
	assert_false(cs__relay_name_ok("p1048576"));
	assert_false(cs__relay_name_ok("p01"));
	assert_false(cs__relay_name_ok("p"));
	assert_false(cs__relay_name_ok("p-1"));
	assert_false(cs__relay_name_ok("../x"));
	assert_false(cs__relay_name_ok("headers"));

	/* framing: too short a record, truncated, empty pack */
	uint8_t shortrec[4 + 16] = {0, 0, 0, 16};
	uint8_t trunc[4 + 10] = {0, 0, 0, 20};
	uint8_t half[2] = {0, 0};
	assert_int_equal(cs__relay_count_records(&n, shortrec, sizeof(shortrec)), CS_EMALFORMED);
	assert_int_equal(cs__relay_count_records(&n, trunc, sizeof(trunc)), CS_EMALFORMED);
	assert_int_equal(cs__relay_count_records(&n, half, sizeof(half)), CS_EMALFORMED);
	assert_int_equal(cs__relay_count_records(&n, NULL, 0), CS_EMALFORMED);
	assert_int_equal(cs__relay_put(f->hub, job, "p0", trunc, sizeof(trunc), &rec), CS_EMALFORMED);

	/* quota: a blob over it is refused; replacing counts the old size */
	size_t len;
	uint8_t *p = pack(10, &len); /* 240 bytes */
	f->hub->cfg.relay_quota_bytes = 500;
	cs_assert_ok(cs__relay_put(f->hub, job, "p0", p, len, &rec));
	cs_assert_ok(cs__relay_put(f->hub, job, "p0", p, len, &rec));
	cs_assert_ok(cs__relay_put(f->hub, job, "p1", p, len, &rec));
	assert_int_equal(cs__relay_put(f->hub, job, "p2", p, len, &rec), CS_ELIMIT);
	assert_int_equal(cs__relay_stored_bytes(f->hub), 480);

	/* expiry: an idle job fails and its blobs go */
	cs_assert_ok(cs__hub_jobs_expire(f->hub, cs_clock_now() + f->hub->cfg.blob_ttl_s + 10));
	assert_string_equal(jstate(f->hub, job), "failed");
	assert_int_equal(cs__relay_stored_bytes(f->hub), 0);
	const uint8_t *got;
	size_t size;
	assert_int_equal(cs__relay_get(f->hub, &got, &size, job, "p0"), CS_ENOTFOUND);
	free(p);
}

static void test_revoke_and_tokens(void **state)
{
	struct fixture *f = *state;
	int64_t job, expires;
	const char *dests[] = {f->id[1], f->id[2]};
	cs_assert_ok(cs__hub_job_create(f->hub, &job, "photos", f->id[0], dests, 2, 0));
	upload_all(f, job, 1);
	struct cs__produced p = {.to_seq = 5, .packs = 1, .segments = 1};
	cs_assert_ok(cs__hub_job_produced(f->hub, job, f->id[0], &p));
	struct cs__progress pr = {1, 1, 1, 1};
	cs_assert_ok(cs__hub_job_ack(f->hub, job, f->id[1], 1, 5, &pr, NULL));
	/* revoking the last open destination settles the job */
	cs_assert_ok(cs__hub_device_revoke(f->hub, f->id[2]));
	cs_assert_ok(cs__hub_device_revoke(f->hub, f->id[2]));
	assert_string_equal(jstate(f->hub, job), "failed");
	struct cs__device d;
	cs_assert_ok(cs__hub_device_get(f->hub, &d, f->id[2]));
	assert_true(d.revoked);
	cs__device_clear(&d);
	assert_non_null(strstr(f->hub->crl_pem, "BEGIN X509 CRL"));
	json_t *t = NULL;
	cs_assert_ok(cs__hub_task_next(f->hub, &t, f->id[2]));
	assert_null(t);
	assert_int_equal(cs__hub_device_revoke(f->hub, "nonsense"), CS_ENOTFOUND);

	/* tokens: uses run out; unknown; malformed */
	char *tok = NULL;
	cs_assert_ok(cs__hub_token_create(f->hub, &tok, &expires, 2, 60));
	assert_true(expires > cs_clock_now());
	for (int i = 0; i < 3; i++) {
		cs_assert_ok(cs_store_begin(f->hub->db));
		int r = cs__hub_token_use_tx(f->hub, tok);
		cs_assert_ok(cs_store_commit(f->hub->db));
		assert_int_equal(r, i < 2 ? CS_OK : CS_EAUTH);
	}
	free(tok);
	cs_assert_ok(cs_store_begin(f->hub->db));
	assert_int_equal(cs__hub_token_use_tx(f->hub, "cse1:AAAA"), CS_EMALFORMED); /* version 0 */
	cs_store_rollback(f->hub->db);
	assert_int_equal(cs__hub_token_create(f->hub, &tok, &expires, 0, 60), CS_EINVAL);

	/* the SPKI fingerprint recovered from a device ID has 64 hex digits */
	char spki[65];
	cs_assert_ok(cs__device_id_spki_hex(spki, f->id[0]));
	assert_int_equal(strlen(spki), 64);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_job_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_blobs_removed_by_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_resume_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_and_tokens, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
