/* libFuzzer target: arbitrary bytes as the PNG file that cs_qr_read_png
 * reads (through cs__qr_read_png_mem, the same code without the file):
 * our size checks, libpng's decoding under our limits and transforms, then
 * zbar's scan.
 *
 * libpng and zbar come from the system, uninstrumented, so the fuzzer
 * cannot see that a mutation broke a chunk's CRC; nearly every input would
 * stop there. The harness therefore rewrites each chunk's CRC before
 * decoding (the input stays valid PNG framing, the contents stay
 * arbitrary). The seeds in corpus/fuzz_qr_png/ are small valid QR codes in
 * several PNG colour types, bit depths and interlacing, so the fuzzer
 * reaches the scanner from the start. */
#include <stdlib.h>
#include <string.h>
#include <certsync/qr.h>
#include "lib/qr/qr_internal.h"

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return crc ^ 0xffffffffu;
}

/* Give every complete chunk after the signature its correct CRC. */
static void fix_crcs(uint8_t *d, size_t size)
{
	size_t off = 8;
	while (off + 12 <= size) {
		uint32_t len = (uint32_t)d[off] << 24 | (uint32_t)d[off + 1] << 16 |
			(uint32_t)d[off + 2] << 8 | d[off + 3];
		if (len > size - off - 12)
			break;
		uint32_t crc = crc32_png(d + off + 4, 4 + (size_t)len);
		uint8_t *c = d + off + 8 + len;
		c[0] = (uint8_t)(crc >> 24);
		c[1] = (uint8_t)(crc >> 16);
		c[2] = (uint8_t)(crc >> 8);
		c[3] = (uint8_t)crc;
		off += 12 + (size_t)len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);
	fix_crcs(copy, size);

	char *payload = NULL;
	if (cs__qr_read_png_mem(&payload, copy, size) == 0) {
		/* a decoded payload is a non-empty C string within the cap */
		size_t n = strlen(payload);
		if (n == 0 || n > CS_QR_PAYLOAD_MAX)
			abort();
		free(payload);
	} else if (payload != NULL) {
		abort(); /* set only on success */
	}
	free(copy);
	return 0;
}
