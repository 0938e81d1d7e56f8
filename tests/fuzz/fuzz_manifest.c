/* libFuzzer target: the manifest segment decoder and the pack framing walker. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs_manifest m;
	memset(&m, 0, sizeof(m));
	/* The first byte picks where the record numbering stands (the packs of
	 * earlier segments), so that pack continuity and record references are
	 * exercised too. */
	uint64_t start = size ? data[0] % 8 : 0, next = start;
	int last = 0;
	if (cs_manifest_segment_decode(&m, data + (size ? 1 : 0), size ? size - 1 : 0, &next, &last) == 0) {
		uint8_t *out = NULL;
		size_t len = 0;
		/* A decoded segment must encode back to the same bytes. */
		if (cs_manifest_segment_encode(&out, &len, &m, 0, 0, last) != 0 || len != size - 1 ||
		    memcmp(out, data + 1, len) != 0)
			abort();
		free(out);
	} else if (m.nentries != 0 || m.npacks != 0 || next != start) {
		abort(); /* a refused segment leaves everything as it was */
	}
	cs_manifest_clear(&m);
	const uint8_t *rec;
	size_t rec_len, off = 0;
	while (cs_pack_next(&rec, &rec_len, data, size, &off) == 1)
		;
	return 0;
}
