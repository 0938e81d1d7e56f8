/* libFuzzer target: the session trailer decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/manifest.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs_session_trailer t;
	if (cs_session_trailer_decode(&t, data, size) == 0) {
		uint8_t *out = NULL;
		size_t len = 0;
		if (cs_session_trailer_encode(&out, &len, &t) != 0 || len != size || memcmp(out, data, len) != 0)
			abort();
		free(out);
	}
	return 0;
}
