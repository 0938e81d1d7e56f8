#ifndef CERTSYNC_IDENTITY_H
#define CERTSYNC_IDENTITY_H
/*
 * Device identity and the hub's PKI: device keys (ECDSA P-256; RSA-3072 also
 * accepted when loading), certificate signing requests, the hub CA, device
 * certificates with SAN urn:certsync:device:<id>, CRLs, chain verification,
 * and device IDs.
 *
 * A device ID is derived from the SHA-256 of the public key (SPKI DER), so
 * it stays the same when the certificate is renewed. Printed form: the 32
 * hash bytes in base32 (52 characters), split into four groups of 13, each
 * followed by a Luhn mod-32 check character, shown as eight groups of seven
 * joined by '-' (63 characters). A mistyped character fails the check.
 */
#include <certsync/common.h>

#define CS_DEVICE_ID_LEN 63    /* printed form, without NUL */
#define CS_DEVICE_ID_SIZE 64   /* buffer size for the printed form */
#define CS_FINGERPRINT_SIZE 65 /* SHA-256 hex of a certificate's DER + NUL */

typedef struct cs_key cs_key;   /* a private key */
typedef struct cs_cert cs_cert; /* an X.509 certificate */
typedef struct cs_ca cs_ca;     /* the hub CA: key and certificate */

/* Certificate roles, used when issuing. */
enum cs_cert_role {
	CS_ROLE_DEVICE = 1, /* clientAuth + serverAuth, SAN urn:certsync:device:<id> */
	CS_ROLE_SERVER = 2, /* serverAuth, SAN DNS/IP names */
	CS_ROLE_ADMIN = 3,  /* clientAuth, SAN urn:certsync:admin:<name> */
};

/* ---- keys ---- */

/* Generate a new ECDSA P-256 key. */
CS_EXTERN int cs_key_generate(cs_key **out);
/* Load a PKCS#8 PEM private key; passphrase may be NULL. CS_EAUTH for a
 * wrong passphrase, CS_EINVAL for an unsupported key type. */
CS_EXTERN int cs_key_load(cs_key **out, const char *path, const char *passphrase);
/* Write the key as PKCS#8 PEM (encrypted with AES-256 when passphrase is
 * non-NULL) atomically with mode 0600. */
CS_EXTERN int cs_key_save(const cs_key *key, const char *path, const char *passphrase);
/* Free the key (and wipe it); NULL is a no-op. */
CS_EXTERN void cs_key_free(cs_key *key);
/* The device ID of the key's public half. */
CS_EXTERN int cs_key_device_id(char out[CS_DEVICE_ID_SIZE], const cs_key *key);
/* Sign data with the key (ECDSA or RSA-PSS over SHA-256); *sig is malloc'd. */
CS_EXTERN int cs_key_sign(uint8_t **sig, size_t *siglen, const cs_key *key,
	const void *data, size_t len);
/* Length of an ECDH shared secret between two P-256 keys. */
#define CS_KEY_AGREE_LEN 32
/* Static-static ECDH (the x coordinate of the shared point) between key
 * and the public key in peer. Both must be P-256 (CS_EINVAL otherwise).
 * The raw secret is not a key: derive one from it (HKDF). */
CS_EXTERN int cs_key_agree(uint8_t out[CS_KEY_AGREE_LEN], const cs_key *key, const cs_cert *peer);
/* 1 when cert's public key matches key, 0 otherwise. */
CS_EXTERN int cs_key_matches_cert(const cs_key *key, const cs_cert *cert);

/* ---- device IDs ---- */

/* Device ID from SPKI DER bytes. */
CS_EXTERN void cs_device_id_from_spki(char out[CS_DEVICE_ID_SIZE], const uint8_t *spki, size_t len);
/* Normalise typed text (any case, with or without '-' or spaces) into the
 * printed form and check every check character. CS_EMALFORMED on a typo. */
CS_EXTERN int cs_device_id_parse(char out[CS_DEVICE_ID_SIZE], const char *text);

/* The SHA-256 of the public key (SPKI DER) that a device ID stands for, as
 * 64 lowercase hex digits: what an operator compares when registering a
 * device by discovery. */
CS_EXTERN int cs_device_id_fingerprint(char out[CS_FINGERPRINT_SIZE], const char *device_id);

/* ---- certificate signing requests ---- */

/* A PEM CSR for key with CN=name; *pem is a malloc'd string. */
CS_EXTERN int cs_csr_new(char **pem, const cs_key *key, const char *name);

/* ---- certificates ---- */

CS_EXTERN int cs_cert_from_pem(cs_cert **out, const char *pem, size_t len);
CS_EXTERN int cs_cert_from_der(cs_cert **out, const uint8_t *der, size_t len);
CS_EXTERN int cs_cert_load(cs_cert **out, const char *path);
/* Write the certificate as PEM to path, atomically, mode 0644. */
CS_EXTERN int cs_cert_save(const cs_cert *cert, const char *path);
/* PEM text, malloc'd. */
CS_EXTERN int cs_cert_to_pem(char **out, const cs_cert *cert);
/* DER bytes, malloc'd. */
CS_EXTERN int cs_cert_to_der(uint8_t **out, size_t *len, const cs_cert *cert);
/* Another reference to the same certificate (free both). */
CS_EXTERN cs_cert *cs_cert_dup(const cs_cert *cert);
CS_EXTERN void cs_cert_free(cs_cert *cert);
/* Device ID of the certificate's public key. */
CS_EXTERN int cs_cert_device_id(char out[CS_DEVICE_ID_SIZE], const cs_cert *cert);
/* SHA-256 of the DER encoding, lowercase hex. */
CS_EXTERN int cs_cert_fingerprint(char out[CS_FINGERPRINT_SIZE], const cs_cert *cert);
/* Subject common name, malloc'd. */
CS_EXTERN int cs_cert_common_name(char **out, const cs_cert *cert);
/* Validity bounds, epoch seconds. */
CS_EXTERN int64_t cs_cert_not_before(const cs_cert *cert);
CS_EXTERN int64_t cs_cert_not_after(const cs_cert *cert);
/* Serial number as lowercase hex, malloc'd. */
CS_EXTERN int cs_cert_serial(char **out, const cs_cert *cert);
/* The device ID named in the SAN urn:certsync:device:<id>; CS_ENOTFOUND when
 * the certificate has none. */
CS_EXTERN int cs_cert_san_device_id(char out[CS_DEVICE_ID_SIZE], const cs_cert *cert);
/* The administrator name in the SAN urn:certsync:admin:<name> (as issued by
 * cs_ca_issue_admin), malloc'd; CS_ENOTFOUND when the certificate has none. */
CS_EXTERN int cs_cert_admin_name(char **out, const cs_cert *cert);
/* The kind of key a certificate holds, as cs_cert_verify_signature uses it:
 * CS_KEY_EC_P256 (ECDSA over SHA-256), CS_KEY_RSA (RSA-PSS over SHA-256),
 * or 0 for any other key. */
enum { CS_KEY_EC_P256 = 1, CS_KEY_RSA = 2 };
CS_EXTERN int cs_cert_key_kind(const cs_cert *cert);
/* Verify sig over data with the certificate's public key: CS_OK or CS_EAUTH. */
CS_EXTERN int cs_cert_verify_signature(const cs_cert *cert, const void *data, size_t len,
	const uint8_t *sig, size_t siglen);

/* Verify cert against the trust anchor ca: signature chain, validity at now
 * (epoch seconds; 0 means current time), and, when crl_pem is non-NULL,
 * revocation (the CRL must be signed by ca). Returns CS_OK, CS_EAUTH (bad
 * chain), CS_EEXPIRED, or CS_EREVOKED, with the reason in cs_error_last(). */
CS_EXTERN int cs_cert_verify(const cs_cert *cert, const cs_cert *ca, const char *crl_pem, int64_t now);

/* ---- the hub CA ---- */

/* Create a new CA in dir: ca.key (0600) and ca.crt, valid for 10 years,
 * with CN=name. CS_EEXISTS when dir already holds a CA. */
CS_EXTERN int cs_ca_create(const char *dir, const char *name);
/* Open the CA in dir. Serial numbers are 16 random bytes, so the CA keeps
 * no serial state and several hub instances may share one CA directory. */
CS_EXTERN int cs_ca_open(cs_ca **out, const char *dir);
CS_EXTERN void cs_ca_free(cs_ca *ca);
/* The CA certificate (owned by ca). */
CS_EXTERN const cs_cert *cs_ca_cert(const cs_ca *ca);

/* Sign data with the CA key (as cs_key_sign): statements the hub vouches
 * for, checked with cs_cert_verify_signature against the CA certificate. */
CS_EXTERN int cs_ca_sign(uint8_t **sig, size_t *siglen, const cs_ca *ca, const void *data,
	size_t len);
/* Issue a device certificate from a PEM CSR after checking its signature.
 * The subject CN is name (or the CSR's CN when name is NULL); the SAN is the
 * device ID of the CSR's key. days: validity. *cert_out is a new cert. */
CS_EXTERN int cs_ca_issue_device(cs_cert **cert_out, cs_ca *ca, const char *csr_pem,
	const char *name, int days);
/* Issue a TLS server certificate for key with the given DNS names and IP
 * addresses (NULL-terminated lists; either may be NULL). */
CS_EXTERN int cs_ca_issue_server(cs_cert **cert_out, cs_ca *ca, const cs_key *key,
	const char *cn, const char *const *dns, const char *const *ips, int days);
/* Issue an administrator client certificate for key. */
CS_EXTERN int cs_ca_issue_admin(cs_cert **cert_out, cs_ca *ca, const cs_key *key,
	const char *name, int days);

/* One revoked certificate for CRL generation. */
struct cs_revoked {
	const char *serial_hex; /* as from cs_cert_serial */
	int64_t revoked_at;     /* epoch seconds */
};
/* The nextUpdate of a PEM CRL (unix seconds): after it the CRL no longer
 * vouches for anything. CS_EMALFORMED when it does not parse; 0 when it
 * has no nextUpdate. */
CS_EXTERN int cs_crl_next_update(int64_t *out, const char *pem);
/* A PEM CRL signed by the CA listing the revoked serials, valid for days. */
CS_EXTERN int cs_ca_make_crl(char **pem_out, cs_ca *ca, const struct cs_revoked *list,
	size_t n, int days);

#endif
