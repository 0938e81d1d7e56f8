/* libFuzzer target: cs_cert_from_pem (and cs_cert_from_der on the same
 * bytes) followed by every accessor, as a hub does with a certificate an
 * operator pastes or a device presents. */
#include <stdlib.h>
#include <string.h>
#include <certsync/identity.h>

static void exercise(const cs_cert *c)
{
	char id[CS_DEVICE_ID_SIZE], fp[CS_FINGERPRINT_SIZE];
	char *s = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	(void)cs_cert_device_id(id, c);
	(void)cs_cert_fingerprint(fp, c);
	if (cs_cert_common_name(&s, c) == 0)
		free(s);
	s = NULL;
	(void)cs_cert_not_before(c);
	(void)cs_cert_not_after(c);
	if (cs_cert_serial(&s, c) == 0)
		free(s);
	s = NULL;
	if (cs_cert_san_device_id(id, c) == 0 && strlen(id) != CS_DEVICE_ID_LEN)
		abort();
	if (cs_cert_admin_name(&s, c) == 0)
		free(s);
	s = NULL;
	(void)cs_cert_verify(c, c, NULL, 0);
	(void)cs_cert_verify_signature(c, "x", 1, (const uint8_t *)"sig", 3);
	if (cs_cert_to_pem(&s, c) == 0)
		free(s);
	/* Encoding and decoding again gives the same certificate. */
	if (cs_cert_to_der(&der, &len, c) == 0) {
		cs_cert *back = NULL;
		char fp2[CS_FINGERPRINT_SIZE];
		if (cs_cert_from_der(&back, der, len) == 0) {
			if (cs_cert_fingerprint(fp2, back) == 0 && strcmp(fp, fp2) != 0)
				abort();
			cs_cert_free(back);
		}
		free(der);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cs_cert *c = NULL;
	if (cs_cert_from_pem(&c, (const char *)data, size) == 0) {
		exercise(c);
		cs_cert_free(c);
	}
	c = NULL;
	if (cs_cert_from_der(&c, data, size) == 0) {
		exercise(c);
		cs_cert_free(c);
	}
	return 0;
}
