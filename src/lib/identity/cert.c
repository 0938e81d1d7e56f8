/* X.509 certificates: parsing, encoding and accessors
 * (include/certsync/identity.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include "lib/identity/local.h"

#define DEVICE_URN "urn:certsync:device:"
#define ADMIN_URN "urn:certsync:admin:"

cs_cert *cs__cert_wrap(X509 *x)
{
	cs_cert *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (X509_up_ref(x) != 1) {
		free(c);
		return NULL;
	}
	c->x509 = x;
	return c;
}

/* Hand a freshly parsed X509 (whose reference we own) to a new cs_cert. */
static int cert_take(cs_cert **out, X509 *x)
{
	cs_cert *c = cs__cert_wrap(x);
	X509_free(x);
	if (c == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	*out = c;
	return CS_OK;
}

/* The first certificate in the PEM text; text after it (a chain, comments)
 * is ignored, as every PEM reader does. */
int cs_cert_from_pem(cs_cert **out, const char *pem, size_t len)
{
	if (len > CS__PEM_MAX)
		return cs_error_set(CS_ELIMIT, "certificate PEM larger than %u bytes", CS__PEM_MAX);
	BIO *bio = BIO_new_mem_buf(len > 0 ? pem : "", (int)len);
	if (bio == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	X509 *x = PEM_read_bio_X509(bio, NULL, cs__no_pass, NULL);
	BIO_free(bio);
	if (x == NULL)
		return cs__ossl_error(CS_EMALFORMED, "not a PEM certificate");
	return cert_take(out, x);
}

int cs_cert_from_der(cs_cert **out, const uint8_t *der, size_t len)
{
	if (len > CS__PEM_MAX)
		return cs_error_set(CS_ELIMIT, "certificate larger than %u bytes", CS__PEM_MAX);
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL)
		return cs__ossl_error(CS_EMALFORMED, "not a DER certificate");
	if (p != der + len) {
		X509_free(x);
		return cs_error_set(CS_ETRAILING, "%zu bytes after the certificate",
			(size_t)(der + len - p));
	}
	return cert_take(out, x);
}

int cs_cert_load(cs_cert **out, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = cs_fs_read_all(&data, &len, path, CS__PEM_MAX);
	if (r < 0)
		return r;
	r = cs_cert_from_pem(out, (const char *)data, len);
	if (r < 0)
		cs_error_wrap("%s", path);
	free(data);
	return r;
}

int cs_cert_to_pem(char **out, const cs_cert *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	int r;
	if (bio == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (PEM_write_bio_X509(bio, cert->x509) != 1)
		r = cs__ossl_error(CS_ECRYPTO, "encode certificate");
	else
		r = cs__bio_to_string(out, bio);
	BIO_free(bio);
	return r;
}

int cs_cert_to_der(uint8_t **out, size_t *len, const cs_cert *cert)
{
	unsigned char *der = NULL;
	int n = i2d_X509(cert->x509, &der);
	if (n <= 0)
		return cs__ossl_error(CS_ECRYPTO, "encode certificate");
	/* Copy into malloc'd memory: callers free with free(). */
	uint8_t *copy = malloc((size_t)n);
	if (copy == NULL) {
		OPENSSL_free(der);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(copy, der, (size_t)n);
	OPENSSL_free(der);
	*out = copy;
	*len = (size_t)n;
	return CS_OK;
}

cs_cert *cs_cert_dup(const cs_cert *cert)
{
	return cs__cert_wrap(cert->x509);
}

void cs_cert_free(cs_cert *cert)
{
	if (cert == NULL)
		return;
	X509_free(cert->x509);
	free(cert);
}

int cs_cert_device_id(char out[CS_DEVICE_ID_SIZE], const cs_cert *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert->x509);
	if (pub == NULL)
		return cs__ossl_error(CS_EMALFORMED, "certificate public key");
	return cs__pkey_device_id(out, pub);
}

int cs_cert_fingerprint(char out[CS_FINGERPRINT_SIZE], const cs_cert *cert)
{
	unsigned char *der = NULL;
	uint8_t h[CS_SHA256_LEN];
	int n = i2d_X509(cert->x509, &der);
	if (n <= 0)
		return cs__ossl_error(CS_ECRYPTO, "encode certificate");
	cs_sha256(h, der, (size_t)n);
	OPENSSL_free(der);
	cs_hex_encode(out, h, sizeof(h));
	return CS_OK;
}

int cs_cert_common_name(char **out, const cs_cert *cert)
{
	return cs__name_cn(out, X509_get_subject_name(cert->x509));
}

int64_t cs_cert_not_before(const cs_cert *cert)
{
	return cs__asn1_time_epoch(X509_get0_notBefore(cert->x509));
}

int64_t cs_cert_not_after(const cs_cert *cert)
{
	return cs__asn1_time_epoch(X509_get0_notAfter(cert->x509));
}

int cs_cert_serial(char **out, const cs_cert *cert)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(cert->x509);
	int len = ASN1_STRING_length(sn);
	const unsigned char *p = ASN1_STRING_get0_data(sn);
	int neg = ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER;
	/* ASN1_INTEGER holds the magnitude big-endian without leading zeros;
	 * zero has no bytes at all. */
	if (len < 0 || len > 64)
		return cs_error_set(CS_EMALFORMED, "certificate serial number too long");
	char *s = malloc((size_t)len * 2 + 4);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	char *w = s;
	if (neg)
		*w++ = '-';
	if (len == 0)
		memcpy(w, "00", 3);
	else
		cs_hex_encode(w, p, (size_t)len);
	*out = s;
	return CS_OK;
}

/* The text after prefix in the only SAN URI starting with prefix.
 * CS_ENOTFOUND when there is none; CS_EMALFORMED when there are two, since
 * a certificate naming two devices must not be read as either. */
static int san_uri(char **out, const X509 *x, const char *prefix)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const char *found = NULL;
	size_t found_len = 0, plen = strlen(prefix);
	int r = CS_OK;

	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		if (gn->type != GEN_URI)
			continue;
		const char *u = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		int ulen = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (ulen < 0 || (size_t)ulen < plen || strncasecmp(u, prefix, plen) != 0)
			continue;
		if (found != NULL) {
			r = cs_error_set(CS_EMALFORMED, "certificate names more than one %s", prefix);
			goto done;
		}
		found = u + plen;
		found_len = (size_t)ulen - plen;
	}
	if (found == NULL) {
		r = cs_error_set(CS_ENOTFOUND, "certificate has no %s name", prefix);
		goto done;
	}
	if (memchr(found, 0, found_len) != NULL) {
		r = cs_error_set(CS_EMALFORMED, "certificate SAN contains a NUL byte");
		goto done;
	}
	char *s = malloc(found_len + 1);
	if (s == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(s, found, found_len);
	s[found_len] = '\0';
	*out = s;
done:
	GENERAL_NAMES_free(names);
	return r;
}

int cs_cert_san_device_id(char out[CS_DEVICE_ID_SIZE], const cs_cert *cert)
{
	char *id = NULL;
	int r = san_uri(&id, cert->x509, DEVICE_URN);
	if (r < 0)
		return r;
	r = cs_device_id_parse(out, id);
	if (r < 0)
		cs_error_wrap("certificate SAN");
	free(id);
	return r;
}

int cs_cert_admin_name(char **out, const cs_cert *cert)
{
	return san_uri(out, cert->x509, ADMIN_URN);
}

int cs_cert_verify_signature(const cs_cert *cert, const void *data, size_t len,
	const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert->x509);
	if (pub == NULL)
		return cs__ossl_error(CS_EMALFORMED, "certificate public key");
	return cs__verify(pub, data, len, sig, siglen);
}

int cs_cert_key_kind(const cs_cert *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert->x509);
	char group[32] = "";
	size_t n = 0;
	if (pub == NULL)
		return 0;
	if (EVP_PKEY_is_a(pub, "RSA"))
		return CS_KEY_RSA;
	if (EVP_PKEY_is_a(pub, "EC") &&
	    EVP_PKEY_get_utf8_string_param(pub, "group", group, sizeof(group), &n) == 1 &&
	    strcmp(group, "prime256v1") == 0)
		return CS_KEY_EC_P256;
	return 0;
}

int cs_cert_save(const cs_cert *cert, const char *path)
{
	char *pem = NULL;
	int r = cs_cert_to_pem(&pem, cert);
	if (r < 0)
		return r;
	r = cs_fs_write_atomic(path, pem, strlen(pem), 0644);
	free(pem);
	return r;
}
