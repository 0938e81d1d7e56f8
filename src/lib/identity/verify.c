/* Certificate chain verification against the hub CA, with optional CRL
 * (include/certsync/identity.h). */
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include "lib/identity/local.h"

static int read_crl(X509_CRL **out, const char *crl_pem, const X509 *ca)
{
	size_t len = strnlen(crl_pem, CS__PEM_MAX + 1);
	if (len > CS__PEM_MAX)
		return cs_error_set(CS_ELIMIT, "CRL larger than %u bytes", CS__PEM_MAX);
	BIO *bio = BIO_new_mem_buf(crl_pem, (int)len);
	if (bio == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, cs__no_pass, NULL);
	BIO_free(bio);
	if (crl == NULL)
		return cs__ossl_error(CS_EMALFORMED, "not a PEM CRL");
	/* Checked here as well as by the store, so that a CRL from another CA
	 * gets a message that says so instead of "unable to get CRL". */
	EVP_PKEY *pub = X509_get0_pubkey(ca);
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0
			|| pub == NULL || X509_CRL_verify(crl, pub) != 1) {
		X509_CRL_free(crl);
		return cs__ossl_error(CS_EAUTH, "CRL not signed by this hub's CA");
	}
	*out = crl;
	return CS_OK;
}

/* Translate the store's verdict into a result code and a sentence. */
static int verify_error(X509_STORE_CTX *ctx, const X509 *leaf)
{
	int err = X509_STORE_CTX_get_error(ctx);
	X509 *at = X509_STORE_CTX_get_current_cert(ctx);
	const char *who = (at == NULL || at == leaf) ? "certificate" : "hub CA certificate";
	char when[32];

	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		cs_clock_format(when, cs__asn1_time_epoch(X509_get0_notAfter(at ? at : leaf)));
		return cs_error_set(CS_EEXPIRED, "%s expired on %s", who, when);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		cs_clock_format(when, cs__asn1_time_epoch(X509_get0_notBefore(at ? at : leaf)));
		return cs_error_set(CS_EEXPIRED, "%s not valid before %s", who, when);
	case X509_V_ERR_CERT_REVOKED:
		return cs_error_set(CS_EREVOKED, "certificate revoked");
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return cs_error_set(CS_EEXPIRED, "revocation list expired: fetch a fresh CRL");
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return cs_error_set(CS_EEXPIRED, "revocation list not valid yet (clock skew?)");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
		return cs_error_set(CS_EAUTH, "certificate not issued by this hub's CA");
	default:
		return cs_error_set(CS_EAUTH, "certificate rejected: %s",
			X509_verify_cert_error_string(err));
	}
}

int cs_cert_verify(const cs_cert *cert, const cs_cert *ca, const char *crl_pem, int64_t now)
{
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_CRL *crl = NULL;
	int r = CS_OK;

	if (crl_pem != NULL && (r = read_crl(&crl, crl_pem, ca->x509)) < 0)
		return r;
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (store == NULL || ctx == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* The CA is the only trust anchor and no intermediates are offered:
	 * a chain is exactly leaf -> hub CA. */
	if (X509_STORE_add_cert(store, ca->x509) != 1
			|| (crl != NULL && X509_STORE_add_crl(store, crl) != 1)
			|| X509_STORE_CTX_init(ctx, store, cert->x509, NULL) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "set up certificate verification");
		goto done;
	}
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	if (now != 0)
		X509_VERIFY_PARAM_set_time(param, (time_t)now);
	if (crl != NULL)
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CRL_CHECK);

	int ok = X509_verify_cert(ctx);
	if (ok < 0)
		r = cs__ossl_error(CS_ECRYPTO, "certificate verification");
	else if (ok == 0)
		r = verify_error(ctx, cert->x509);
done:
	/* The store ran only for this call; whatever it queued is stale. */
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_CRL_free(crl);
	return r;
}
