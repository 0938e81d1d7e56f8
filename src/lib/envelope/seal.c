/*
 * Sealing a header (include/certsync/envelope.h): CMS SignedData by the
 * sender inside a CMS AuthEnvelopedData to every recipient.
 *
 * Content encryption is AES-256-GCM (RFC 5083 AuthEnvelopedData, RFC 5084)
 * rather than AES-256-CBC EnvelopedData. With CBC, a hub that alters the
 * ciphertext and watches how a device fails (padding error, or a SignedData
 * that does not parse, or a bad signature) has a decryption oracle; with
 * GCM every alteration fails the tag before any plaintext is looked at.
 * OpenSSL 3.0 buffers GCM CMS content in memory, which is harmless for
 * headers (bulk data goes in records), and `openssl cms -decrypt` opens it.
 *
 * Key management: ECDH (ephemeral-static, dhSinglePass-stdDH) with the
 * X9.63 KDF over SHA-256 — OpenSSL's default is SHA-1 — and AES-256 key
 * wrap for EC recipients; RSA-OAEP with SHA-256 and MGF1-SHA-256 for RSA
 * recipients. The signature is ECDSA-SHA-256, or RSA-PSS-SHA-256 for RSA
 * senders.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <certsync/error.h>
#include "lib/envelope/local.h"
#include "lib/identity/internal.h"

/* SignedData over content; *out is OpenSSL-allocated DER. */
static int sign_content(unsigned char **out, int *out_len, const uint8_t *content, size_t len,
	const cs_key *key, const cs_cert *cert)
{
	/* No S/MIME capabilities attribute: nobody negotiates from it, and it
	 * would only make every header larger. */
	const unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	int is_rsa = EVP_PKEY_is_a(key->pkey, "RSA");
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	int r = CS_OK;

	cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	in = BIO_new_mem_buf(len > 0 ? (const void *)content : "", (int)len);
	if (cms == NULL || in == NULL) {
		r = cs__ossl_error(CS_ENOMEM, "sign envelope");
		goto done;
	}
	CMS_SignerInfo *si = CMS_add1_signer(cms, cert->x509, key->pkey, EVP_sha256(),
		flags | (is_rsa ? CMS_KEY_PARAM : 0));
	if (si == NULL) {
		r = cs__ossl_error(CS_ECRYPTO, "sign envelope");
		goto done;
	}
	if (is_rsa) {
		EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);
		if (pctx == NULL
				|| EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0
				|| EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0) {
			r = cs__ossl_error(CS_ECRYPTO, "sign envelope (RSA-PSS)");
			goto done;
		}
	}
	if (CMS_final(cms, in, NULL, flags) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "sign envelope");
		goto done;
	}
	*out = NULL;
	*out_len = i2d_CMS_ContentInfo(cms, out);
	if (*out_len <= 0)
		r = cs__ossl_error(CS_ECRYPTO, "encode signed envelope content");
done:
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return r;
}

static int add_recipient(CMS_ContentInfo *cms, const cs_cert *cert)
{
	/* CMS_KEY_PARAM defers the key-agreement setup until CMS_final, so the
	 * KDF digest set below is the one used and written out. */
	CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, cert->x509, CMS_KEY_PARAM);
	if (ri == NULL)
		return cs__ossl_error(CS_EINVAL, "envelope recipient has an unusable key");
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	int ok = pctx != NULL;
	switch (CMS_RecipientInfo_type(ri)) {
	case CMS_RECIPINFO_AGREE:
		/* Only the digest: OpenSSL picks the X9.63 KDF itself and refuses
		 * a KDF type set in advance. */
		ok = ok && EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0;
		break;
	case CMS_RECIPINFO_TRANS:
		ok = ok && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) > 0
			&& EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0
			&& EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
		break;
	default:
		ok = 0;
		break;
	}
	if (!ok)
		return cs__ossl_error(CS_EINVAL, "envelope recipient key type not supported");
	return CS_OK;
}

int cs_envelope_seal(uint8_t **out, size_t *out_len,
	const uint8_t *content, size_t len,
	const cs_key *signer_key, const cs_cert *signer_cert,
	const cs_cert *const *recipients, size_t nrecipients)
{
	unsigned char *signed_der = NULL, *der = NULL;
	int signed_len = 0, der_len = 0;
	CMS_ContentInfo *env = NULL;
	BIO *in = NULL;
	int r;

	if (nrecipients == 0)
		return cs_error_set(CS_EINVAL, "envelope needs at least one recipient");
	if (nrecipients > CS__ENVELOPE_RECIPIENTS_MAX)
		return cs_error_set(CS_ELIMIT, "more than %d envelope recipients",
			CS__ENVELOPE_RECIPIENTS_MAX);
	if (len > CS_ENVELOPE_MAX)
		return cs_error_set(CS_ELIMIT, "envelope content larger than %u bytes", CS_ENVELOPE_MAX);
	if (!cs_key_matches_cert(signer_key, signer_cert))
		return cs_error_set(CS_EINVAL, "signer key does not match signer certificate");

	if ((r = sign_content(&signed_der, &signed_len, content, len, signer_key, signer_cert)) < 0)
		goto done;

	env = CMS_encrypt(NULL, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_PARTIAL);
	in = BIO_new_mem_buf(signed_der, signed_len);
	if (env == NULL || in == NULL) {
		r = cs__ossl_error(CS_ECRYPTO, "create envelope");
		goto done;
	}
	for (size_t i = 0; i < nrecipients; i++) {
		if ((r = add_recipient(env, recipients[i])) < 0) {
			cs_error_wrap("recipient %zu", i + 1);
			goto done;
		}
	}
	if (CMS_final(env, in, NULL, CMS_BINARY) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "encrypt envelope");
		goto done;
	}
	der_len = i2d_CMS_ContentInfo(env, &der);
	if (der_len <= 0) {
		r = cs__ossl_error(CS_ECRYPTO, "encode envelope");
		goto done;
	}
	/* The opener refuses anything larger; fail here, where it is clear. */
	if ((size_t)der_len > CS_ENVELOPE_MAX) {
		r = cs_error_set(CS_ELIMIT, "sealed envelope of %d bytes exceeds %u bytes",
			der_len, CS_ENVELOPE_MAX);
		goto done;
	}
	uint8_t *copy = malloc((size_t)der_len);
	if (copy == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(copy, der, (size_t)der_len);
	*out = copy;
	*out_len = (size_t)der_len;
done:
	OPENSSL_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(env);
	/* The SignedData holds the plaintext. */
	if (signed_der != NULL)
		OPENSSL_clear_free(signed_der, (size_t)signed_len);
	return r;
}
