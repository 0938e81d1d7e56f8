/* Issuing certificates from the hub CA: device, server and administrator
 * certificates (include/certsync/identity.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "lib/identity/local.h"

#define DEVICE_URN "urn:certsync:device:"
#define ADMIN_URN "urn:certsync:admin:"
#define SERIAL_LEN 16
#define DNS_NAME_MAX 253
#define SAN_NAMES_MAX 64

/*
 * Serial numbers are 16 random bytes rather than a counter in ca.serial:
 * nothing to keep in step between hub instances that share a CA, nothing to
 * corrupt on a crash, and (RFC 5280, CA/B forum) unpredictable. The top bit
 * is cleared to keep the number positive and the next one set so that
 * every serial has the same length.
 */
static int random_serial(ASN1_INTEGER *sn)
{
	uint8_t b[SERIAL_LEN];
	int r = cs_random(b, sizeof(b));
	if (r < 0)
		return r;
	b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, sn) == NULL)
		r = cs__ossl_error(CS_ECRYPTO, "serial number");
	BN_free(bn);
	return r;
}

int cs__cert_start(X509 **out, EVP_PKEY *subject_key, const char *cn, const X509 *issuer, int days)
{
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	int r;

	if (days < 1 || days > CS__DAYS_MAX)
		return cs_error_set(CS_EINVAL, "validity of %d days is out of range (1..%d)",
			days, CS__DAYS_MAX);
	if ((r = cs__check_cn(cn)) < 0)
		return r;
	x = X509_new();
	subj = X509_NAME_new();
	if (x == NULL || subj == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = random_serial(X509_get_serialNumber(x))) < 0)
		goto done;

	int64_t now = cs_clock_now();
	int64_t end = now + (int64_t)days * 86400;
	/* A certificate outliving its issuer would only fail later, at a
	 * confusing moment; end it with the issuer instead. */
	if (issuer != NULL) {
		int64_t issuer_end = cs__asn1_time_epoch(X509_get0_notAfter(issuer));
		if (issuer_end > 0 && end > issuer_end)
			end = issuer_end;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1
			|| X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
				(const unsigned char *)cn, -1, -1, 0) != 1
			|| X509_set_subject_name(x, subj) != 1
			|| X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : subj) != 1
			|| ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - CS__BACKDATE)) == NULL
			|| ASN1_TIME_set(X509_getm_notAfter(x), (time_t)end) == NULL
			|| X509_set_pubkey(x, subject_key) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "build certificate");
		goto done;
	}
	*out = x;
	x = NULL;
done:
	X509_NAME_free(subj);
	X509_free(x);
	return r;
}

int cs__cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return cs__ossl_error(CS_ECRYPTO, "certificate extension");
	int ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		return cs__ossl_error(CS_ECRYPTO, "certificate extension");
	return CS_OK;
}

int cs__cert_sign(X509 *x, EVP_PKEY *key)
{
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		return cs__ossl_error(CS_ECRYPTO, "sign certificate");
	return CS_OK;
}

/* Append a name of type GEN_DNS or GEN_URI (IA5 text) to names. */
static int add_ia5_name(GENERAL_NAMES *names, int type, const char *text)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	if (gn == NULL || s == NULL || ASN1_STRING_set(s, text, -1) != 1) {
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	GENERAL_NAME_set0_value(gn, type, s);
	if (sk_GENERAL_NAME_push(names, gn) <= 0) {
		GENERAL_NAME_free(gn);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	return CS_OK;
}

static int add_ip_name(GENERAL_NAMES *names, const char *ip)
{
	ASN1_OCTET_STRING *a = a2i_IPADDRESS(ip);
	if (a == NULL) {
		ERR_clear_error();
		return cs_error_set(CS_EINVAL, "'%s' is not an IP address", ip);
	}
	GENERAL_NAME *gn = GENERAL_NAME_new();
	if (gn == NULL) {
		ASN1_OCTET_STRING_free(a);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, a);
	if (sk_GENERAL_NAME_push(names, gn) <= 0) {
		GENERAL_NAME_free(gn);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	return CS_OK;
}

/* Host names: letters, digits, '-' and '.', optionally one leading "*."
 * label; 1..253 characters. Anything else would be refused by TLS clients
 * anyway, and could smuggle text into logs. */
static int check_dns_name(const char *name)
{
	size_t n = strlen(name);
	const char *p = name;
	if (n == 0 || n > DNS_NAME_MAX)
		return cs_error_set(CS_EINVAL, "DNS name must be 1 to %d characters", DNS_NAME_MAX);
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	for (; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
				|| c == '-' || c == '.'))
			return cs_error_set(CS_EINVAL, "DNS name '%.64s' has an invalid character", name);
	}
	return CS_OK;
}

/* Administrator names end up in a URI: RFC 3986 unreserved characters
 * plus '@', so that an e-mail address works and nothing needs escaping. */
static int check_admin_name(const char *name)
{
	int r = cs__check_cn(name);
	if (r < 0)
		return r;
	for (const char *p = name; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
				|| c == '-' || c == '.' || c == '_' || c == '~' || c == '@'))
			return cs_error_set(CS_EINVAL,
				"administrator name may only hold letters, digits and - . _ ~ @");
	}
	return CS_OK;
}

/* keyUsage for an end-entity key: ECDH keys agree on keys, RSA keys have
 * keys encrypted to them (CMS key transport). */
static const char *leaf_key_usage(EVP_PKEY *pkey, int encrypt)
{
	if (!encrypt)
		return "critical,digitalSignature";
	return EVP_PKEY_is_a(pkey, "RSA") ? "critical,digitalSignature,keyEncipherment"
		: "critical,digitalSignature,keyAgreement";
}

/* Build, extend and sign an end-entity certificate; names becomes the SAN
 * extension. */
static int issue(cs_cert **cert_out, cs_ca *ca, EVP_PKEY *pub, const char *cn,
	const GENERAL_NAMES *names, const char *eku, int encrypt, int days)
{
	X509 *x = NULL;
	X509 *cax = ca->cert->x509;
	int r;

	if ((r = cs__cert_start(&x, pub, cn, cax, days)) < 0)
		return r;
	if ((r = cs__cert_add_ext(x, cax, NID_basic_constraints, "critical,CA:FALSE")) < 0
			|| (r = cs__cert_add_ext(x, cax, NID_key_usage, leaf_key_usage(pub, encrypt))) < 0
			|| (r = cs__cert_add_ext(x, cax, NID_ext_key_usage, eku)) < 0
			|| (r = cs__cert_add_ext(x, cax, NID_subject_key_identifier, "hash")) < 0
			|| (r = cs__cert_add_ext(x, cax, NID_authority_key_identifier, "keyid:always")) < 0)
		goto done;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)names, 0, X509V3_ADD_DEFAULT) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "certificate subject alternative name");
		goto done;
	}
	if ((r = cs__cert_sign(x, ca->key->pkey)) < 0)
		goto done;
	cs_cert *c = cs__cert_wrap(x);
	if (c == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	*cert_out = c;
done:
	X509_free(x);
	return r;
}

/* Parse a PEM CSR and check that it is signed by the key it carries. */
static int read_csr(X509_REQ **out, const char *csr_pem)
{
	size_t len = strnlen(csr_pem, CS__PEM_MAX + 1);
	if (len > CS__PEM_MAX)
		return cs_error_set(CS_ELIMIT, "certificate request larger than %u bytes", CS__PEM_MAX);
	BIO *bio = BIO_new_mem_buf(csr_pem, (int)len);
	if (bio == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, cs__no_pass, NULL);
	BIO_free(bio);
	if (req == NULL)
		return cs__ossl_error(CS_EMALFORMED, "not a PEM certificate request");
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if (pub == NULL) {
		X509_REQ_free(req);
		return cs__ossl_error(CS_EMALFORMED, "certificate request public key");
	}
	/* Proof of possession: without it anyone could get a certificate
	 * naming somebody else's public key (and so their device ID). */
	if (X509_REQ_verify(req, pub) != 1) {
		X509_REQ_free(req);
		return cs__ossl_error(CS_EAUTH, "certificate request signature does not verify");
	}
	*out = req;
	return CS_OK;
}

int cs_ca_issue_device(cs_cert **cert_out, cs_ca *ca, const char *csr_pem,
	const char *name, int days)
{
	X509_REQ *req = NULL;
	GENERAL_NAMES *names = NULL;
	char *csr_cn = NULL;
	char id[CS_DEVICE_ID_SIZE];
	char uri[sizeof(DEVICE_URN) + CS_DEVICE_ID_SIZE];
	int r;

	if ((r = read_csr(&req, csr_pem)) < 0)
		return r;
	EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
	if ((r = cs__key_check_type(pub, "certificate request")) < 0)
		goto done;
	if (name == NULL) {
		if ((r = cs__name_cn(&csr_cn, X509_REQ_get_subject_name(req))) < 0) {
			cs_error_wrap("certificate request has no name and none was given");
			goto done;
		}
		name = csr_cn;
	}
	if ((r = cs__pkey_device_id(id, pub)) < 0)
		goto done;
	snprintf(uri, sizeof(uri), "%s%s", DEVICE_URN, id);
	names = sk_GENERAL_NAME_new_null();
	if (names == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = add_ia5_name(names, GEN_URI, uri)) < 0)
		goto done;
	r = issue(cert_out, ca, pub, name, names, "clientAuth,serverAuth", 1, days);
done:
	GENERAL_NAMES_free(names);
	free(csr_cn);
	X509_REQ_free(req);
	return r;
}

int cs_ca_issue_server(cs_cert **cert_out, cs_ca *ca, const cs_key *key,
	const char *cn, const char *const *dns, const char *const *ips, int days)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	int r = CS_OK, count = 0;

	if (names == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs__key_check_type(key->pkey, "server key")) < 0)
		goto done;
	for (size_t i = 0; dns != NULL && dns[i] != NULL; i++, count++) {
		if (count >= SAN_NAMES_MAX) {
			r = cs_error_set(CS_ELIMIT, "more than %d server names", SAN_NAMES_MAX);
			goto done;
		}
		if ((r = check_dns_name(dns[i])) < 0 || (r = add_ia5_name(names, GEN_DNS, dns[i])) < 0)
			goto done;
	}
	for (size_t i = 0; ips != NULL && ips[i] != NULL; i++, count++) {
		if (count >= SAN_NAMES_MAX) {
			r = cs_error_set(CS_ELIMIT, "more than %d server names", SAN_NAMES_MAX);
			goto done;
		}
		if ((r = add_ip_name(names, ips[i])) < 0)
			goto done;
	}
	/* TLS clients match host names against the SAN only (RFC 6125). */
	if (count == 0) {
		r = cs_error_set(CS_EINVAL, "a server certificate needs at least one DNS name or IP address");
		goto done;
	}
	r = issue(cert_out, ca, key->pkey, cn, names, "serverAuth", 0, days);
done:
	GENERAL_NAMES_free(names);
	return r;
}

int cs_ca_issue_admin(cs_cert **cert_out, cs_ca *ca, const cs_key *key,
	const char *name, int days)
{
	GENERAL_NAMES *names = NULL;
	char uri[sizeof(ADMIN_URN) + CS__CN_MAX];
	int r;

	if ((r = check_admin_name(name)) < 0 || (r = cs__key_check_type(key->pkey, "admin key")) < 0)
		return r;
	names = sk_GENERAL_NAME_new_null();
	if (names == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	snprintf(uri, sizeof(uri), "%s%s", ADMIN_URN, name);
	if ((r = add_ia5_name(names, GEN_URI, uri)) == 0)
		r = issue(cert_out, ca, key->pkey, name, names, "clientAuth", 0, days);
	GENERAL_NAMES_free(names);
	return r;
}
