/* libFuzzer target: cs_device_id_parse on arbitrary text, as typed by a
 * user or sent by a peer. Checks that accepted input is canonicalised:
 * the output parses again to itself. */
#include <stdlib.h>
#include <string.h>
#include <certsync/identity.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], out[CS_DEVICE_ID_SIZE], again[CS_DEVICE_ID_SIZE];
	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';

	if (cs_device_id_parse(out, text) != 0)
		return 0;
	if (strlen(out) != CS_DEVICE_ID_LEN)
		abort();
	if (cs_device_id_parse(again, out) != 0 || strcmp(again, out) != 0)
		abort();
	return 0;
}
