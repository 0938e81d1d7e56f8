#ifndef CS_IDENTITY_INTERNAL_H
#define CS_IDENTITY_INTERNAL_H
/* Definitions shared by the modules allowed to include OpenSSL (identity,
 * envelope, net). Not part of the public API. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <certsync/identity.h>

struct cs_key {
	EVP_PKEY *pkey;
};

struct cs_cert {
	X509 *x509;
};

/* Wrap an X509 (takes a reference of its own). NULL on failure. */
cs_cert *cs__cert_wrap(X509 *x);

/* Drain OpenSSL's error queue into the thread's last error as
 * "what: <openssl reason>" and return code. */
int cs__ossl_error(int code, const char *what);

#endif
