/* Certificate signing requests (include/certsync/identity.h). */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <certsync/error.h>
#include "lib/identity/local.h"

int cs_csr_new(char **pem, const cs_key *key, const char *name)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	BIO *bio = NULL;
	int r = cs__check_cn(name);
	if (r < 0)
		return r;

	req = X509_REQ_new();
	subj = X509_NAME_new();
	bio = BIO_new(BIO_s_mem());
	if (req == NULL || subj == NULL || bio == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* Version 1 (value 0) is the only one PKCS#10 defines. */
	if (X509_REQ_set_version(req, 0) != 1
			|| X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
				(const unsigned char *)name, -1, -1, 0) != 1
			|| X509_REQ_set_subject_name(req, subj) != 1
			|| X509_REQ_set_pubkey(req, key->pkey) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "build certificate request");
		goto done;
	}
	/* The signature proves possession of the key to the CA. For RSA keys
	 * PKCS#1 v1.5 is used here, as every CA accepts it. */
	if (X509_REQ_sign(req, key->pkey, EVP_sha256()) <= 0) {
		r = cs__ossl_error(CS_ECRYPTO, "sign certificate request");
		goto done;
	}
	if (PEM_write_bio_X509_REQ(bio, req) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "encode certificate request");
		goto done;
	}
	r = cs__bio_to_string(pem, bio);
done:
	BIO_free(bio);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return r;
}
