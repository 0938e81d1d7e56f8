/* libFuzzer target: cs_blobc_parse_head on the head of an HTTP response as
 * a server (or anything posing as one) sends it to the bulk client. The
 * input is copied to a buffer of exactly its size so that a read past the
 * end is caught. Checks what an accepted head promises. */
#include <stdlib.h>
#include <string.h>
#include <certsync/blobc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status = 0;
	int64_t len = 0;
	int closes = 0;
	char *head = malloc(size ? size : 1);
	if (head == NULL)
		return 0;
	memcpy(head, data, size);
	if (cs_blobc_parse_head(&status, &len, &closes, head, size) == 0) {
		if (status < 100 || status > 599 || len < -1 || (len < 0 && !closes))
			abort();
		if (size < 4 || memcmp(head + size - 4, "\r\n\r\n", 4) != 0)
			abort();
	}
	free(head);
	return 0;
}
