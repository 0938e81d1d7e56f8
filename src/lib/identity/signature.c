/* Raw signatures with device keys: ECDSA over SHA-256 for EC keys, RSA-PSS
 * over SHA-256 for RSA keys (local.h, identity.h). */
#include <stdlib.h>
#include <openssl/rsa.h>
#include <certsync/error.h>
#include "lib/identity/local.h"

/* The longest signature accepted for verification: RSA-8192. */
#define SIG_MAX 1024

/* PSS with the salt as long as the digest, the choice of RFC 8017 and of
 * TLS 1.3; both sides set it so that verification is strict. */
static int set_pss(EVP_PKEY_CTX *pctx, EVP_PKEY *pkey)
{
	if (!EVP_PKEY_is_a(pkey, "RSA"))
		return 1;
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
		&& EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

int cs__sign(uint8_t **sig, size_t *siglen, EVP_PKEY *pkey, const void *data, size_t len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *s = NULL;
	size_t n = 0;
	int r = CS_OK;

	if (mctx == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", NULL, NULL, pkey, NULL) != 1
			|| !set_pss(pctx, pkey)
			|| EVP_DigestSign(mctx, NULL, &n, data, len) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "sign");
		goto done;
	}
	s = malloc(n);
	if (s == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (EVP_DigestSign(mctx, s, &n, data, len) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "sign");
		goto done;
	}
	*sig = s;
	*siglen = n;
	s = NULL;
done:
	free(s);
	EVP_MD_CTX_free(mctx);
	return r;
}

int cs__verify(EVP_PKEY *pkey, const void *data, size_t len, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx = NULL;
	int r = CS_OK;

	if (siglen == 0 || siglen > SIG_MAX)
		return cs_error_set(CS_EAUTH, "signature does not verify (bad length %zu)", siglen);
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, NULL, pkey, NULL) != 1
			|| !set_pss(pctx, pkey)) {
		r = cs__ossl_error(CS_ECRYPTO, "verify");
		goto done;
	}
	if (EVP_DigestVerify(mctx, sig, siglen, data, len) != 1) {
		r = cs__ossl_error(CS_EAUTH, "signature does not verify");
		goto done;
	}
done:
	EVP_MD_CTX_free(mctx);
	return r;
}
