/* Certificate revocation lists signed by the hub CA
 * (include/certsync/identity.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include "lib/identity/local.h"

/* Enough for every device a hub will ever revoke; bounds the CRL size. */
#define CRL_ENTRIES_MAX 1000000
/* Longest serial accepted: RFC 5280 allows 20 octets; be lenient. */
#define SERIAL_HEX_MAX 64

static int parse_serial(ASN1_INTEGER **out, const char *hex)
{
	size_t n = hex != NULL ? strnlen(hex, SERIAL_HEX_MAX + 1) : 0;
	if (n == 0 || n > SERIAL_HEX_MAX)
		return cs_error_set(CS_EINVAL, "serial number must be 1 to %d hex digits", SERIAL_HEX_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return cs_error_set(CS_EINVAL, "serial number '%.64s' is not hex", hex);
	}
	BIGNUM *bn = NULL;
	if (BN_hex2bn(&bn, hex) != (int)n) {
		BN_free(bn);
		return cs__ossl_error(CS_EINVAL, "serial number");
	}
	ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (ai == NULL)
		return cs__ossl_error(CS_ENOMEM, "serial number");
	*out = ai;
	return CS_OK;
}

static int add_entry(X509_CRL *crl, const struct cs_revoked *rv)
{
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *when = NULL;
	X509_REVOKED *e = NULL;
	int r = parse_serial(&sn, rv->serial_hex);
	if (r < 0)
		return r;
	when = ASN1_TIME_set(NULL, (time_t)rv->revoked_at);
	e = X509_REVOKED_new();
	if (when == NULL || e == NULL
			|| X509_REVOKED_set_serialNumber(e, sn) != 1
			|| X509_REVOKED_set_revocationDate(e, when) != 1
			|| X509_CRL_add0_revoked(crl, e) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "CRL entry");
		X509_REVOKED_free(e);
	}
	ASN1_TIME_free(when);
	ASN1_INTEGER_free(sn);
	return r;
}

int cs_ca_make_crl(char **pem_out, cs_ca *ca, const struct cs_revoked *list,
	size_t n, int days)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *number = NULL;
	X509_EXTENSION *aki = NULL;
	BIO *bio = NULL;
	X509 *cax = ca->cert->x509;
	int r = CS_OK;

	if (days < 1 || days > CS__DAYS_MAX)
		return cs_error_set(CS_EINVAL, "CRL validity of %d days is out of range", days);
	if (n > CRL_ENTRIES_MAX)
		return cs_error_set(CS_ELIMIT, "more than %d revoked certificates", CRL_ENTRIES_MAX);
	crl = X509_CRL_new();
	bio = BIO_new(BIO_s_mem());
	if (crl == NULL || bio == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	int64_t now = cs_clock_now();
	/* lastUpdate is backdated like certificates, so that a peer with a
	 * slow clock does not see a CRL from the future. */
	if (X509_CRL_set_version(crl, 1) != 1 /* v2: needed for extensions */
			|| X509_CRL_set_issuer_name(crl, X509_get_subject_name(cax)) != 1
			|| (t = ASN1_TIME_set(NULL, (time_t)(now - CS__BACKDATE))) == NULL
			|| X509_CRL_set1_lastUpdate(crl, t) != 1
			|| ASN1_TIME_set(t, (time_t)(now + (int64_t)days * 86400)) == NULL
			|| X509_CRL_set1_nextUpdate(crl, t) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "build CRL");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		if ((r = add_entry(crl, &list[i])) < 0)
			goto done;

	/* The CRL number only has to grow from one CRL to the next (RFC 5280
	 * 5.2.3); the time in milliseconds does, without stored state. */
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, cax, NULL, NULL, crl, 0);
	number = ASN1_INTEGER_new();
	if (number == NULL || ASN1_INTEGER_set_int64(number, cs_clock_now_ms()) != 1
			|| X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) != 1
			|| (aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier,
				"keyid:always")) == NULL
			|| X509_CRL_add_ext(crl, aki, -1) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "CRL extensions");
		goto done;
	}
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key->pkey, EVP_sha256()) <= 0) {
		r = cs__ossl_error(CS_ECRYPTO, "sign CRL");
		goto done;
	}
	if (PEM_write_bio_X509_CRL(bio, crl) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "encode CRL");
		goto done;
	}
	r = cs__bio_to_string(pem_out, bio);
done:
	BIO_free(bio);
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return r;
}

int cs_crl_next_update(int64_t *out, const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509_CRL *crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, cs__no_pass, NULL) : NULL;
	BIO_free(bio);
	if (crl == NULL) {
		ERR_clear_error();
		return cs_error_set(CS_EMALFORMED, "not a PEM CRL");
	}
	const ASN1_TIME *t = X509_CRL_get0_nextUpdate(crl);
	*out = t ? cs__asn1_time_epoch(t) : 0;
	X509_CRL_free(crl);
	return CS_OK;
}
