/* libFuzzer target: the decoder of account-sync path records (the JSON
 * another device sealed into the folder's collection). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lib/account/local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs__acct_path p;
	if (cs__acct_path_decode(&p, data, size) == 0) {
		/* what decodes must name a valid path and a consistent chunk list */
		if (p.path == NULL || !cs_index_path_valid(p.path))
			abort();
		uint64_t off = 0;
		for (size_t i = 0; i < p.nchunks; i++) {
			if (p.chunks[i].offset != off || p.chunks[i].len == 0)
				abort();
			off += p.chunks[i].len;
		}
		if (p.st.exists && p.st.kind == CS_KIND_FILE && off != p.size)
			abort();
		cs__acct_path_clear(&p);
	}
	return 0;
}
