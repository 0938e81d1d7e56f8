/* The key fingerprint behind a device ID (include/certsync/identity.h). */
#include <string.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/identity.h>

int cs_device_id_fingerprint(char out[CS_FINGERPRINT_SIZE], const char *device_id)
{
	char id[CS_DEVICE_ID_SIZE], b32[53];
	uint8_t hash[33];
	size_t n = 0, len = 0;
	int r = cs_device_id_parse(id, device_id);
	if (r < 0)
		return r;
	/* Printed form: 56 characters in groups of 7 joined by '-'; each run of
	 * 13 data characters is followed by one check character. */
	size_t k = 0;
	for (const char *p = id; *p; p++) {
		if (*p == '-')
			continue;
		if (k % 14 != 13 && n < 52)
			b32[n++] = *p;
		k++;
	}
	b32[n] = 0;
	if (n != 52 || cs_base32_decode(hash, &len, b32) < 0 || len != 32)
		return cs_error_set(CS_EMALFORMED, "not a device ID");
	cs_hex_encode(out, hash, 32);
	return CS_OK;
}
