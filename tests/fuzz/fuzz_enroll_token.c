/* libFuzzer target for cs_enroll_token_parse (PROTOCOL.md §3): any input
 * must be refused cleanly or parse into a token that re-encodes to the same
 * text. */
#include <stdlib.h>
#include <string.h>
#include <certsync/enroll_token.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	cs_enroll_token t = {0};
	if (cs_enroll_token_parse(&t, text) == 0) {
		char *again = NULL;
		if (cs_enroll_token_encode(&again, &t) != 0)
			abort();
		/* canonical base32: a parsed token re-encodes to its own text */
		if (strlen(text) == size && strcmp(again, text) != 0)
			abort();
		free(again);
	}
	cs_enroll_token_clear(&t);
	free(text);
	return 0;
}
