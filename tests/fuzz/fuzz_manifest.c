/* libFuzzer target: the manifest decoder and the pack framing walker. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs_manifest m;
	/* The first byte picks how many data records the header announced, so
	 * that pack coverage and record references are exercised too. */
	uint64_t records = size ? data[0] % 8 : 0;
	if (cs_manifest_decode(&m, data + (size ? 1 : 0), size ? size - 1 : 0, records) == 0) {
		uint8_t *out = NULL;
		size_t len = 0;
		/* A decoded manifest must encode back to the same bytes. */
		if (cs_manifest_encode(&out, &len, &m) != 0 || len != size - 1 || memcmp(out, data + 1, len) != 0)
			abort();
		free(out);
		cs_manifest_clear(&m);
	}
	const uint8_t *rec;
	size_t rec_len, off = 0;
	while (cs_pack_next(&rec, &rec_len, data, size, &off) == 1)
		;
	return 0;
}
