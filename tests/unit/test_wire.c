/* Unit tests for the session header and trailer, manifest segment and pack
 * framing codecs. */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/manifest.h>
#include "helpers.h"

static void sample_manifest(cs_manifest *m)
{
	static cs_manifest_chunk ch[2] = {{{1}, 5, 0}, {{2}, 7, CS_RECORD_NONE}};
	cs_manifest_entry d = {0}, f = {0}, t = {0};
	memset(m, 0, sizeof(*m));
	d.path = "dir";
	d.kind = 1;
	d.mode = 0755;
	f.path = "dir/a.txt";
	f.mode = 0644;
	f.size = 12;
	f.seq = 3;
	f.nchunks = 2;
	f.chunks = ch;
	t.path = "gone";
	t.flags = CS_MANIFEST_DELETED;
	cs_assert_ok(cs_manifest_add_entry(m, &d));
	cs_assert_ok(cs_manifest_add_entry(m, &f));
	cs_assert_ok(cs_manifest_add_entry(m, &t));
	cs_assert_ok(cs_manifest_add_pack(m, 0, 1));
}

static void test_segment_roundtrip(void **state)
{
	(void)state;
	cs_manifest m, back;
	uint8_t *enc;
	size_t len;
	uint64_t next = 0;
	int last = 0;
	sample_manifest(&m);
	cs_assert_ok(cs_manifest_segment_encode(&enc, &len, &m, 0, 0, 1));
	memset(&back, 0, sizeof(back));
	cs_assert_ok(cs_manifest_segment_decode(&back, enc, len, &next, &last));
	assert_int_equal(back.nentries, 3);
	assert_int_equal(back.npacks, 1);
	assert_int_equal(next, 1);
	assert_int_equal(last, 1);
	assert_string_equal(back.entries[1].path, "dir/a.txt");
	assert_int_equal(back.entries[1].nchunks, 2);
	assert_true(back.entries[1].chunks[1].record == CS_RECORD_NONE);
	/* Every truncation is refused, and so is a trailing byte; a refused
	 * segment leaves the manifest and the record count as they were. */
	for (size_t cut = 0; cut < len; cut++) {
		next = 1;
		assert_int_not_equal(cs_manifest_segment_decode(&back, enc, cut, &next, &last), 0);
		assert_int_equal(back.nentries, 3);
		assert_int_equal(back.npacks, 1);
		assert_int_equal(next, 1);
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, enc, len);
	longer[len] = 0;
	next = 0;
	cs_manifest x = {0};
	assert_int_equal(cs_manifest_segment_decode(&x, longer, len + 1, &next, &last), CS_ETRAILING);
	/* No pack holds more records than 8 MiB can. */
	cs_manifest big = {0};
	uint8_t *benc;
	size_t blen;
	cs_assert_ok(cs_manifest_add_pack(&big, 0, CS_PACK_RECORDS_MAX + 1));
	cs_assert_ok(cs_manifest_segment_encode(&benc, &blen, &big, 0, 0, 1));
	next = 0;
	assert_int_equal(cs_manifest_segment_decode(&x, benc, blen, &next, &last), CS_EMALFORMED);
	free(benc);
	cs_manifest_clear(&big);
	/* The packs must continue the record numbering where it stands. */
	next = 2;
	assert_int_equal(cs_manifest_segment_decode(&x, enc, len, &next, &last), CS_EMALFORMED);
	assert_int_equal(x.nentries, 0);
	free(longer);
	free(enc);
	cs_manifest_clear(&x);
	cs_manifest_clear(&back);
	cs_manifest_clear(&m);
}

/* Add a file entry of the given chunks to m, and a pack of one record at
 * the end of m's packs, and encode them as a segment (the second one last). */
static void add_file_segment(cs_manifest *m, cs_manifest_entry *f, const char *path,
	cs_manifest_chunk *chunks, uint32_t n, int last, uint8_t **out, size_t *len)
{
	size_t e0 = m->nentries, p0 = m->npacks;
	f->path = (char *)path;
	f->size = 0;
	for (uint32_t i = 0; i < n; i++)
		f->size += chunks[i].len;
	f->nchunks = n;
	f->chunks = chunks;
	cs_assert_ok(cs_manifest_add_entry(m, f));
	cs_assert_ok(cs_manifest_add_pack(m, p0, 1));
	cs_assert_ok(cs_manifest_segment_encode(out, len, m, e0, p0, last));
}

/* A manifest in two segments: the second's packs go on from the first's,
 * and its chunks may name a record sent in the first. */
static void test_segments_continue(void **state)
{
	(void)state;
	static cs_manifest_chunk c1[1] = {{{1}, 5, 0}}, c2[2] = {{{1}, 5, 0}, {{3}, 9, 1}};
	cs_manifest m = {0}, back = {0};
	cs_manifest_entry f = {0};
	uint8_t *s1, *s2;
	size_t l1, l2;
	uint64_t next = 0;
	int last = 1;
	add_file_segment(&m, &f, "a", c1, 1, 0, &s1, &l1);
	add_file_segment(&m, &f, "b", c2, 2, 1, &s2, &l2);
	/* out of order: the second segment's pack does not start at record 0 */
	assert_int_equal(cs_manifest_segment_decode(&back, s2, l2, &next, &last), CS_EMALFORMED);
	cs_assert_ok(cs_manifest_segment_decode(&back, s1, l1, &next, &last));
	assert_int_equal(last, 0);
	assert_int_equal(next, 1);
	cs_assert_ok(cs_manifest_segment_decode(&back, s2, l2, &next, &last));
	assert_int_equal(last, 1);
	assert_int_equal(next, 2);
	assert_int_equal(back.nentries, 2);
	assert_int_equal(back.npacks, 2);
	assert_int_equal(back.entries[1].chunks[1].record, 1);
	/* a chunk may not name a record beyond its segment's packs */
	cs_manifest early = {0};
	uint8_t *s3;
	size_t l3;
	next = 0;
	m.entries[0].chunks[0].record = 1;
	cs_manifest one = {0};
	cs_assert_ok(cs_manifest_add_entry(&one, &m.entries[0]));
	cs_assert_ok(cs_manifest_add_pack(&one, 0, 1));
	cs_assert_ok(cs_manifest_segment_encode(&s3, &l3, &one, 0, 0, 1));
	assert_int_equal(cs_manifest_segment_decode(&early, s3, l3, &next, &last), CS_EMALFORMED);
	assert_int_equal(early.nentries, 0);
	free(s3);
	cs_manifest_clear(&one);
	cs_manifest_clear(&early);
	free(s1);
	free(s2);
	cs_manifest_clear(&back);
	cs_manifest_clear(&m);
}

/* Entries as small as they come (a one-letter tombstone, 103 bytes) and
 * nothing after them: the count check must not refuse them. */
static void test_segment_of_tombstones(void **state)
{
	(void)state;
	cs_manifest m = {0}, back = {0};
	const char *names[] = {"a", "b", "c", "d", "e"};
	uint8_t *enc;
	size_t len;
	uint64_t next = 0;
	int last;
	for (size_t i = 0; i < 5; i++) {
		cs_manifest_entry e = {0};
		e.path = (char *)names[i];
		e.flags = CS_MANIFEST_DELETED;
		cs_assert_ok(cs_manifest_add_entry(&m, &e));
	}
	cs_assert_ok(cs_manifest_segment_encode(&enc, &len, &m, 0, 0, 1));
	assert_int_equal(len, 4 + 1 + 4 + 4 + 5 * 103);
	cs_assert_ok(cs_manifest_segment_decode(&back, enc, len, &next, &last));
	assert_int_equal(back.nentries, 5);
	free(enc);
	cs_manifest_clear(&m);
	cs_manifest_clear(&back);
}

static void test_manifest_rejects_unsafe_paths(void **state)
{
	(void)state;
	const char *bad[] = {"", "/etc/passwd", "../x", "a/../b", "a//b", "a/", ".", "a/./b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(cs_manifest_path_valid(bad[i], strlen(bad[i])));
		cs_manifest m = {0}, x = {0};
		cs_manifest_entry e = {0};
		uint8_t *enc;
		size_t len;
		uint64_t next = 0;
		int last;
		e.path = (char *)bad[i];
		cs_assert_ok(cs_manifest_add_entry(&m, &e));
		cs_assert_ok(cs_manifest_segment_encode(&enc, &len, &m, 0, 0, 1));
		assert_int_equal(cs_manifest_segment_decode(&x, enc, len, &next, &last), CS_EMALFORMED);
		free(enc);
		cs_manifest_clear(&m);
		cs_manifest_clear(&x);
	}
	assert_true(cs_manifest_path_valid("a/b.c/.hidden", 13));
	assert_false(cs_manifest_path_valid("a\0b", 3));
}

static void test_header_roundtrip(void **state)
{
	(void)state;
	cs_session_header h, back;
	char *rec[2] = {"AAAAAAA-BBBBBBB", "CCCCCCC"};
	uint8_t *enc;
	size_t len;
	memset(&h, 0, sizeof(h));
	h.job = 7;
	h.folder = "docs";
	h.source = "SRC";
	h.from_seq = 2;
	h.key.key[0] = 0x42;
	h.recipients = rec;
	h.nrecipients = 2;
	cs_assert_ok(cs_session_header_encode(&enc, &len, &h));
	cs_assert_ok(cs_session_header_decode(&back, enc, len));
	assert_int_equal(back.job, 7);
	assert_int_equal(back.from_seq, 2);
	assert_string_equal(back.folder, "docs");
	assert_int_equal(back.nrecipients, 2);
	assert_string_equal(back.recipients[1], "CCCCCCC");
	assert_int_equal(back.key.key[0], 0x42);
	cs_session_header_clear(&back);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(cs_session_header_decode(&back, enc, cut), 0);
	free(enc);
	/* no recipient is refused */
	h.nrecipients = 0;
	cs_assert_ok(cs_session_header_encode(&enc, &len, &h));
	assert_int_equal(cs_session_header_decode(&back, enc, len), CS_EMALFORMED);
	free(enc);
}

static void test_trailer_roundtrip(void **state)
{
	(void)state;
	cs_session_trailer t, back;
	uint8_t *enc;
	size_t len;
	memset(&t, 0, sizeof(t));
	t.job = 7;
	t.session_id[0] = 9;
	t.to_seq = 12;
	t.segments = 2;
	t.manifest_records = 3;
	t.manifest_len = 1000;
	t.manifest_hash[31] = 0x55;
	t.data_records = 40;
	t.packs = 4;
	cs_assert_ok(cs_session_trailer_encode(&enc, &len, &t));
	cs_assert_ok(cs_session_trailer_decode(&back, enc, len));
	assert_memory_equal(&back, &t, sizeof(t));
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(cs_session_trailer_decode(&back, enc, cut), 0);
	free(enc);
	/* counts that cannot be: no segment, fewer records than segments,
	 * more manifest bytes than its records hold, more packs than records */
	cs_session_trailer bad[4] = {t, t, t, t};
	bad[0].segments = 0;
	bad[1].manifest_records = 1;
	bad[2].manifest_len = 3u * CS_MANIFEST_RECORD_PLAIN + 1;
	bad[3].packs = 41;
	for (size_t i = 0; i < 4; i++) {
		cs_assert_ok(cs_session_trailer_encode(&enc, &len, &bad[i]));
		assert_int_equal(cs_session_trailer_decode(&back, enc, len), CS_EMALFORMED);
		free(enc);
	}
}

static void test_pack_framing(void **state)
{
	(void)state;
	uint8_t pack[4 + 20 + 4 + 17];
	memset(pack, 0, sizeof(pack));
	pack[3] = 20;
	pack[24 + 3] = 17;
	const uint8_t *rec;
	size_t rl, off = 0;
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack), &off), 1);
	assert_int_equal(rl, 20);
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack), &off), 1);
	assert_int_equal(rl, 17);
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack), &off), 0);
	off = 0;
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack) - 1, &off), 1);
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack) - 1, &off), CS_EMALFORMED);
	pack[3] = 16; /* a record no longer than its tag */
	off = 0;
	assert_int_equal(cs_pack_next(&rec, &rl, pack, sizeof(pack), &off), CS_EMALFORMED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_segment_roundtrip),
		cmocka_unit_test(test_segments_continue),
		cmocka_unit_test(test_segment_of_tombstones),
		cmocka_unit_test(test_trailer_roundtrip),
		cmocka_unit_test(test_manifest_rejects_unsafe_paths),
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_pack_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
