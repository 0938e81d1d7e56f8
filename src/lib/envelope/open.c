/*
 * Opening a sealed header (include/certsync/envelope.h): check the outer
 * structure, decrypt with the recipient's key, then verify the inner
 * SignedData and hand back content and signer certificate. The signer's
 * chain is the caller's business (it knows which CA and CRL apply).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/buffer.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <certsync/error.h>
#include "lib/envelope/local.h"
#include "lib/identity/internal.h"

/* ---- outer structure ---- */

/* OID contents (without tag and length). */
static const uint8_t OID_AUTH_ENVELOPED[] = { /* 1.2.840.113549.1.9.16.1.23 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x17};
static const uint8_t OID_DATA[] = { /* 1.2.840.113549.1.7.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};
static const uint8_t OID_AES256_GCM[] = { /* 2.16.840.1.101.3.4.1.46 */
	0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e};

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

struct der {
	const uint8_t *p;
	size_t n; /* bytes left */
};

/* Read one DER element with the given tag: definite length only, length in
 * at most 4 bytes, bounds checked by subtraction. */
static int der_get(struct der *d, uint8_t tag, struct der *value)
{
	if (d->n < 2 || d->p[0] != tag)
		return 0;
	size_t len = d->p[1], hdr = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;
		if (k == 0 || k > 4 || d->n - 2 < k)
			return 0;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = (len << 8) | d->p[2 + i];
		hdr += k;
	}
	if (d->n - hdr < len)
		return 0;
	value->p = d->p + hdr;
	value->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return 1;
}

static int der_peek(const struct der *d, uint8_t tag)
{
	return d->n > 0 && d->p[0] == tag;
}

static int der_is(const struct der *v, const uint8_t *bytes, size_t len)
{
	return v->n == len && memcmp(v->p, bytes, len) == 0;
}

/*
 * RecipientInfos: only the kinds cs_envelope_seal writes, each with the
 * version RFC 5652 fixes for it, and a bounded number of them. Versions are
 * not authenticated by anything, so a non-canonical one is refused rather
 * than ignored, so that no altered header opens (test_envelope flips every
 * byte to check).
 */
static int check_recipient_infos(struct der *set)
{
	static const uint8_t v0[] = {0}, v3[] = {3};
	size_t count = 0;
	while (set->n > 0) {
		struct der ri, v;
		if (++count > CS__ENVELOPE_RECIPIENTS_MAX)
			return cs_error_set(CS_ELIMIT, "sealed header has more than %d recipients",
				CS__ENVELOPE_RECIPIENTS_MAX);
		if (der_get(set, 0x30, &ri)) {
			/* KeyTransRecipientInfo: v0, as cs_envelope_seal names the
			 * recipient by issuer and serial number. */
			if (!der_get(&ri, 0x02, &v) || !der_is(&v, v0, 1))
				return cs_error_set(CS_EMALFORMED, "sealed header: bad key transport recipient");
		} else if (der_get(set, 0xa1, &ri)) {
			/* KeyAgreeRecipientInfo: v3, originator [0] { [1] { alg,
			 * BIT STRING with no unused bits } } (an ephemeral key). */
			struct der orig, opk, alg, bits;
			if (!der_get(&ri, 0x02, &v) || !der_is(&v, v3, 1)
					|| !der_get(&ri, 0xa0, &orig) || !der_get(&orig, 0xa1, &opk)
					|| orig.n != 0 || !der_get(&opk, 0x30, &alg)
					|| !der_get(&opk, 0x03, &bits) || opk.n != 0
					|| bits.n < 2 || bits.p[0] != 0)
				return cs_error_set(CS_EMALFORMED, "sealed header: bad key agreement recipient");
		} else {
			return cs_error_set(CS_EMALFORMED, "sealed header: unsupported recipient type");
		}
	}
	if (count == 0)
		return cs_error_set(CS_EMALFORMED, "sealed header has no recipients");
	return CS_OK;
}

/*
 * OpenSSL would also decrypt an AuthEnvelopedData that names a non-AEAD
 * cipher, or one whose tag has been cut to a few bytes, and its parser
 * accepts BER. Sealed headers are only ever produced by cs_envelope_seal,
 * so anything but that exact shape is refused before OpenSSL sees it:
 *
 * ContentInfo ::= SEQUENCE { id-ct-authEnvelopedData, [0] AuthEnvelopedData }
 * AuthEnvelopedData ::= SEQUENCE { version INTEGER (0), [0] originatorInfo OPT,
 *     recipientInfos SET (see above), authEncryptedContentInfo SEQUENCE {
 *         contentType id-data, SEQUENCE { aes256-GCM, GCMParameters SEQUENCE {
 *             nonce OCTET STRING (12), icvLen INTEGER (16) OPT } },
 *         [0] encryptedContent OPT },
 *     [1] authAttrs OPT, mac OCTET STRING (16), [2] unauthAttrs OPT }
 */
int cs__envelope_check_outer(const uint8_t *der, size_t len)
{
	struct der all = {der, len}, ci, oid, body, aed, skip, ris, eci, alg, params, v;
	int r;

	if (!der_get(&all, 0x30, &ci))
		return cs_error_set(CS_EMALFORMED, "sealed header is not a DER CMS object");
	if (all.n != 0)
		return cs_error_set(CS_ETRAILING, "%zu bytes after the sealed header", all.n);
	if (!der_get(&ci, 0x06, &oid) || !der_is(&oid, OID_AUTH_ENVELOPED, sizeof(OID_AUTH_ENVELOPED)))
		return cs_error_set(CS_EMALFORMED, "sealed header is not CMS AuthEnvelopedData");
	if (!der_get(&ci, 0xa0, &body) || ci.n != 0 || !der_get(&body, 0x30, &aed) || body.n != 0)
		return cs_error_set(CS_EMALFORMED, "sealed header: bad AuthEnvelopedData wrapper");
	static const uint8_t v0[] = {0};
	if (!der_get(&aed, 0x02, &v) || !der_is(&v, v0, 1)
			|| (der_peek(&aed, 0xa0) && !der_get(&aed, 0xa0, &skip))
			|| !der_get(&aed, 0x31, &ris)
			|| !der_get(&aed, 0x30, &eci))
		return cs_error_set(CS_EMALFORMED, "sealed header: bad AuthEnvelopedData fields");
	if ((r = check_recipient_infos(&ris)) < 0)
		return r;
	if (!der_get(&eci, 0x06, &oid) || !der_is(&oid, OID_DATA, sizeof(OID_DATA)))
		return cs_error_set(CS_EMALFORMED, "sealed header: content type is not data");
	if (!der_get(&eci, 0x30, &alg)
			|| !der_get(&alg, 0x06, &oid) || !der_is(&oid, OID_AES256_GCM, sizeof(OID_AES256_GCM)))
		return cs_error_set(CS_EMALFORMED, "sealed header: content cipher is not AES-256-GCM");
	if (!der_get(&alg, 0x30, &params) || alg.n != 0
			|| !der_get(&params, 0x04, &v) || v.n != GCM_NONCE_LEN)
		return cs_error_set(CS_EMALFORMED, "sealed header: bad GCM parameters");
	if (params.n != 0) {
		static const uint8_t icv16[] = {GCM_TAG_LEN};
		if (!der_get(&params, 0x02, &v) || !der_is(&v, icv16, 1) || params.n != 0)
			return cs_error_set(CS_EMALFORMED, "sealed header: GCM tag length is not 16");
	}
	if ((der_peek(&aed, 0xa1) && !der_get(&aed, 0xa1, &skip))
			|| !der_get(&aed, 0x04, &v) || v.n != GCM_TAG_LEN
			|| (der_peek(&aed, 0xa2) && !der_get(&aed, 0xa2, &skip))
			|| aed.n != 0)
		return cs_error_set(CS_EMALFORMED, "sealed header: missing or short authentication tag");
	return CS_OK;
}

/* ---- decryption and verification ---- */

/* Parse DER that must be exactly one CMS ContentInfo of type nid. */
static int parse_cms(CMS_ContentInfo **out, const uint8_t *der, size_t len, int nid,
	const char *what)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms == NULL)
		return cs__ossl_error(CS_EMALFORMED, what);
	if (p != der + len) {
		CMS_ContentInfo_free(cms);
		return cs_error_set(CS_ETRAILING, "%s: trailing bytes", what);
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != nid) {
		CMS_ContentInfo_free(cms);
		return cs_error_set(CS_EMALFORMED, "%s: unexpected CMS content type", what);
	}
	*out = cms;
	return CS_OK;
}

/* The decrypted SignedData: exactly one signer, content embedded and of
 * type id-data; verify it and return content and signer. */
static int verify_inner(uint8_t **content, size_t *content_len, cs_cert **signer,
	const uint8_t *der, size_t len)
{
	CMS_ContentInfo *sd = NULL;
	BIO *out = NULL;
	STACK_OF(X509) *signers = NULL;
	BUF_MEM *bm = NULL;
	cs_cert *cert = NULL;
	uint8_t *copy = NULL;
	int r = parse_cms(&sd, der, len, NID_pkcs7_signed, "envelope content is not CMS SignedData");
	if (r < 0)
		return r;
	if (CMS_is_detached(sd)) {
		r = cs_error_set(CS_EMALFORMED, "envelope signature is detached");
		goto done;
	}
	if (OBJ_obj2nid(CMS_get0_eContentType(sd)) != NID_pkcs7_data) {
		r = cs_error_set(CS_EMALFORMED, "envelope signed content is not data");
		goto done;
	}
	if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(sd)) != 1) {
		r = cs_error_set(CS_EMALFORMED, "envelope must carry exactly one signature");
		goto done;
	}
	out = BIO_new(BIO_s_secmem());
	if (out == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* NO_SIGNER_CERT_VERIFY: the signature is checked against the embedded
	 * certificate here; whether that certificate is trusted, current and
	 * the expected sender is decided by the caller. */
	if (CMS_verify(sd, NULL, NULL, NULL, out, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		r = cs__ossl_error(CS_EAUTH, "envelope signature does not verify");
		goto done;
	}
	signers = CMS_get0_signers(sd);
	if (sk_X509_num(signers) != 1) {
		r = cs_error_set(CS_EAUTH, "envelope signer certificate missing");
		goto done;
	}
	cert = cs__cert_wrap(sk_X509_value(signers, 0));
	BIO_get_mem_ptr(out, &bm);
	copy = malloc(bm->length + 1);
	if (cert == NULL || copy == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (bm->length > 0) /* an empty BIO has no buffer at all */
		memcpy(copy, bm->data, bm->length);
	copy[bm->length] = 0;
	*content = copy;
	*content_len = bm->length;
	*signer = cert;
	copy = NULL;
	cert = NULL;
done:
	free(copy);
	cs_cert_free(cert);
	sk_X509_free(signers);
	BIO_free(out);
	CMS_ContentInfo_free(sd);
	return r;
}

/* 1 when some RecipientInfo names cert (by issuer and serial or key id). */
static int addressed_to(CMS_ContentInfo *env, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(env);
	for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return 1;
			break;
		case CMS_RECIPINFO_AGREE: {
			STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (int k = 0; k < sk_CMS_RecipientEncryptedKey_num(reks); k++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
						sk_CMS_RecipientEncryptedKey_value(reks, k), cert) == 0)
					return 1;
			break;
		}
		default:
			break;
		}
	}
	return 0;
}

int cs_envelope_open(uint8_t **content, size_t *content_len, cs_cert **signer,
	const uint8_t *der, size_t der_len,
	const cs_key *recipient_key, const cs_cert *recipient_cert)
{
	CMS_ContentInfo *env = NULL;
	BIO *plain = NULL;
	BUF_MEM *bm = NULL;
	int r;

	if (der_len == 0)
		return cs_error_set(CS_EMALFORMED, "sealed header is empty");
	if (der_len > CS_ENVELOPE_MAX)
		return cs_error_set(CS_ELIMIT, "sealed header of %zu bytes exceeds %u bytes",
			der_len, CS_ENVELOPE_MAX);
	if ((r = cs__envelope_check_outer(der, der_len)) < 0)
		return r;
	if ((r = parse_cms(&env, der, der_len, NID_id_smime_ct_authEnvelopedData,
			"sealed header is not CMS AuthEnvelopedData")) < 0)
		return r;
	plain = BIO_new(BIO_s_secmem());
	if (plain == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!addressed_to(env, recipient_cert->x509)) {
		r = cs_error_set(CS_EAUTH, "envelope is not addressed to this device");
		goto done;
	}
	/* Giving the certificate makes OpenSSL use only the RecipientInfo that
	 * names it (no trial decryption with every entry). */
	if (CMS_decrypt(env, recipient_key->pkey, recipient_cert->x509, NULL, plain, CMS_BINARY) != 1) {
		r = cs__ossl_error(CS_EAUTH, "cannot decrypt envelope (altered, or wrong key)");
		goto done;
	}
	BIO_get_mem_ptr(plain, &bm);
	r = verify_inner(content, content_len, signer, (const uint8_t *)bm->data, bm->length);
done:
	BIO_free(plain);
	CMS_ContentInfo_free(env);
	return r;
}
