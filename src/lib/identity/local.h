#ifndef CS_IDENTITY_LOCAL_H
#define CS_IDENTITY_LOCAL_H
/* Helpers shared by the files of src/lib/identity/ only. */
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "lib/identity/internal.h"

/* Largest PEM file (key, certificate, CSR, CRL) read or parsed here; real
 * ones are a few kilobytes, CRLs of thousands of entries well under this. */
#define CS__PEM_MAX (4u << 20)

/* Longest subject common name (RFC 5280 ub-common-name). */
#define CS__CN_MAX 64

/* Validity backdating: certificates start this many seconds in the past so
 * that a peer whose clock runs a little slow accepts them at once. */
#define CS__BACKDATE 3600

/* The hub CA. Serial numbers are random (see issue.c), so the CA carries
 * no counter. */
struct cs_ca {
	cs_key *key;
	cs_cert *cert;
};

/* Longest validity accepted when issuing, in days (30 years). */
#define CS__DAYS_MAX 10950

/* A new certificate signed by issuer_key, before extensions: version 3,
 * random positive 16-byte serial, subject CN=cn, the issuer's subject as
 * issuer (subject itself when issuer is NULL: self-signed), validity from
 * now - CS__BACKDATE for days days (never past the issuer's own end). The
 * caller adds extensions and signs with cs__cert_sign. */
int cs__cert_start(X509 **out, EVP_PKEY *subject_key, const char *cn, const X509 *issuer, int days);

/* Add an extension given in OpenSSL's configuration syntax (only for
 * fixed strings: never pass text that came from outside). issuer may be
 * the certificate itself for a self-signed one. */
int cs__cert_add_ext(X509 *x, X509 *issuer, int nid, const char *value);

/* Sign x with key using SHA-256. */
int cs__cert_sign(X509 *x, EVP_PKEY *key);

/* CS_OK when pkey is an accepted device key type (EC P-256, RSA >= 3072),
 * else CS_EINVAL with the reason. what names the key in the message. */
int cs__key_check_type(const EVP_PKEY *pkey, const char *what);

/* The device ID of a public key (SHA-256 of its SPKI DER). */
int cs__pkey_device_id(char out[CS_DEVICE_ID_SIZE], const EVP_PKEY *pkey);

/* pem_password_cb that never supplies a passphrase: certificates, CSRs and
 * CRLs are not encrypted, and the default callback would prompt on the
 * terminal if hostile input claimed otherwise. */
int cs__no_pass(char *buf, int size, int rwflag, void *u);

/* Copy the contents of a memory BIO into a new NUL-terminated string. */
int cs__bio_to_string(char **out, BIO *bio);

/* Check a subject common name: 1..64 bytes of printable UTF-8 text with no
 * control characters. */
int cs__check_cn(const char *cn);

/* The CN of a name, malloc'd; CS_ENOTFOUND when there is none. */
int cs__name_cn(char **out, const X509_NAME *name);

/* Convert an ASN.1 time to epoch seconds; 0 on failure. */
int64_t cs__asn1_time_epoch(const ASN1_TIME *t);

/* Sign or verify data with SHA-256: ECDSA for EC keys, RSA-PSS (salt =
 * digest length) for RSA keys. */
int cs__sign(uint8_t **sig, size_t *siglen, EVP_PKEY *pkey, const void *data, size_t len);
int cs__verify(EVP_PKEY *pkey, const void *data, size_t len, const uint8_t *sig, size_t siglen);

#endif
