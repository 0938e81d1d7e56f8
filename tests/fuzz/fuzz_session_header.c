/* libFuzzer target: the session header decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs_session_header h;
	if (cs_session_header_decode(&h, data, size) == 0) {
		uint8_t *out = NULL;
		size_t len = 0;
		if (cs_session_header_encode(&out, &len, &h) != 0 || len != size || memcmp(out, data, len) != 0)
			abort();
		free(out);
		cs_session_header_clear(&h);
	}
	return 0;
}
