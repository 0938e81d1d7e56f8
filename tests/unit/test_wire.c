/* Unit tests for the session header, manifest and pack framing codecs. */
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

static void test_manifest_roundtrip(void **state)
{
	(void)state;
	cs_manifest m, back;
	uint8_t *enc;
	size_t len;
	sample_manifest(&m);
	cs_assert_ok(cs_manifest_encode(&enc, &len, &m));
	cs_assert_ok(cs_manifest_decode(&back, enc, len, 1));
	assert_int_equal(back.nentries, 3);
	assert_string_equal(back.entries[1].path, "dir/a.txt");
	assert_int_equal(back.entries[1].nchunks, 2);
	assert_true(back.entries[1].chunks[1].record == CS_RECORD_NONE);
	/* Every truncation is refused, and so is a trailing byte. */
	for (size_t cut = 0; cut < len; cut++) {
		cs_manifest x;
		assert_int_not_equal(cs_manifest_decode(&x, enc, cut, 1), 0);
	}
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, enc, len);
	longer[len] = 0;
	cs_manifest x;
	assert_int_equal(cs_manifest_decode(&x, longer, len + 1, 1), CS_ETRAILING);
	/* Packs must cover exactly the announced records. */
	assert_int_equal(cs_manifest_decode(&x, enc, len, 2), CS_EMALFORMED);
	free(longer);
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
		cs_manifest m = {0}, x;
		cs_manifest_entry e = {0};
		uint8_t *enc;
		size_t len;
		e.path = (char *)bad[i];
		cs_assert_ok(cs_manifest_add_entry(&m, &e));
		cs_assert_ok(cs_manifest_encode(&enc, &len, &m));
		assert_int_equal(cs_manifest_decode(&x, enc, len, 0), CS_EMALFORMED);
		free(enc);
		cs_manifest_clear(&m);
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
	h.to_seq = 9;
	h.key.key[0] = 0x42;
	h.manifest_len = 100;
	h.manifest_records = 1;
	h.data_records = 4;
	h.packs = 1;
	h.recipients = rec;
	h.nrecipients = 2;
	cs_assert_ok(cs_session_header_encode(&enc, &len, &h));
	cs_assert_ok(cs_session_header_decode(&back, enc, len));
	assert_int_equal(back.job, 7);
	assert_string_equal(back.folder, "docs");
	assert_int_equal(back.nrecipients, 2);
	assert_string_equal(back.recipients[1], "CCCCCCC");
	assert_int_equal(back.key.key[0], 0x42);
	cs_session_header_clear(&back);
	/* from beyond to is refused */
	h.from_seq = 10;
	free(enc);
	cs_assert_ok(cs_session_header_encode(&enc, &len, &h));
	assert_int_equal(cs_session_header_decode(&back, enc, len), CS_EMALFORMED);
	free(enc);
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
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_manifest_rejects_unsafe_paths),
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test(test_pack_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
