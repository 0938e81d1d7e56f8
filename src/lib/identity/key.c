/*
 * Device keys (include/certsync/identity.h): generation, PKCS#8 PEM files
 * with optional passphrase, the accepted key types, and the device ID of a
 * key's public half.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/secure.h>
#include "lib/identity/local.h"

/* PBKDF2-HMAC-SHA-256 rounds for passphrase-protected key files: the 2023
 * OWASP figure. Loading a key happens once per process start, so the cost
 * (a fraction of a second) is paid rarely, while every guess of an attacker
 * holding the file pays it too. */
#define KEY_PBKDF2_ITER 600000

/* RSA keys are accepted for loading (an external CA may have issued one)
 * but never generated; below this size they are refused. */
#define RSA_MIN_BITS 3072

static cs_key *key_wrap(EVP_PKEY *pkey)
{
	cs_key *k = calloc(1, sizeof(*k));
	if (k != NULL)
		k->pkey = pkey;
	return k;
}

/* 1 when pkey is an EC key on P-256; the curve's name, for messages. */
static int is_p256(const EVP_PKEY *pkey, char *group, size_t size)
{
	size_t glen = 0;
	int nid = NID_undef;
	group[0] = '\0';
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return 0;
	if (EVP_PKEY_get_group_name(pkey, group, size, &glen) == 1) {
		nid = OBJ_txt2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
	}
	return nid == NID_X9_62_prime256v1;
}

int cs__key_check_type(const EVP_PKEY *pkey, const char *what)
{
	char group[64];
	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!is_p256(pkey, group, sizeof(group)))
			return cs_error_set(CS_EINVAL, "%s: EC curve %s is not supported (use P-256)",
				what, group[0] ? group : "(unknown)");
		return CS_OK;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);
		if (bits < RSA_MIN_BITS)
			return cs_error_set(CS_EINVAL, "%s: RSA key of %d bits is too small (need %d)",
				what, bits, RSA_MIN_BITS);
		return CS_OK;
	}
	return cs_error_set(CS_EINVAL, "%s: key type %s is not supported (use EC P-256)",
		what, EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
}

/* SubjectPublicKeyInfo of a P-256 key up to the point: SEQUENCE,
 * AlgorithmIdentifier {id-ecPublicKey, prime256v1}, BIT STRING header. */
static const uint8_t P256_SPKI_PREFIX[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
#define P256_COORD 32

/*
 * The same EC key can be written with a compressed or an uncompressed
 * point, which would give two device IDs for one key. For P-256 the SPKI
 * is therefore rebuilt from the coordinates, always uncompressed (which
 * also avoids OpenSSL 3.0's generic key encoder: 4x faster, and device IDs
 * are computed on every connection). Other key types are DER
 * encoded by OpenSSL (for RSA there is only one encoding; other EC curves
 * are refused as device keys anyway).
 */
int cs__pkey_device_id(char out[CS_DEVICE_ID_SIZE], const EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	BIGNUM *x = NULL, *y = NULL;
	int r = CS_OK;

	char group[64];
	if (is_p256(pkey, group, sizeof(group))) {
		uint8_t spki[sizeof(P256_SPKI_PREFIX) + 1 + 2 * P256_COORD];
		uint8_t *pt = spki + sizeof(P256_SPKI_PREFIX);
		memcpy(spki, P256_SPKI_PREFIX, sizeof(P256_SPKI_PREFIX));
		pt[0] = 0x04; /* uncompressed */
		if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1
				|| EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1
				|| BN_bn2binpad(x, pt + 1, P256_COORD) != P256_COORD
				|| BN_bn2binpad(y, pt + 1 + P256_COORD, P256_COORD) != P256_COORD) {
			r = cs__ossl_error(CS_ECRYPTO, "device ID: cannot read public key");
			goto done;
		}
		cs_device_id_from_spki(out, spki, sizeof(spki));
		goto done;
	}
	int len = i2d_PUBKEY(pkey, &der);
	if (len <= 0) {
		r = cs__ossl_error(CS_ECRYPTO, "device ID: cannot encode public key");
		goto done;
	}
	cs_device_id_from_spki(out, der, (size_t)len);
done:
	BN_free(x);
	BN_free(y);
	OPENSSL_free(der);
	return r;
}

int cs_key_generate(cs_key **out)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (pkey == NULL)
		return cs__ossl_error(CS_ECRYPTO, "generate P-256 key");
	cs_key *k = key_wrap(pkey);
	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	*out = k;
	return CS_OK;
}

struct pass_state {
	const char *pass;
	int asked; /* set when OpenSSL found the key encrypted */
};

/* Never prompt: the library has no terminal. Report that a passphrase was
 * wanted, so that a failure can be told apart from a malformed file. */
static int pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass_state *ps = u;
	(void)rwflag;
	ps->asked = 1;
	if (ps->pass == NULL)
		return -1;
	size_t n = strlen(ps->pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, ps->pass, n);
	return (int)n;
}

int cs_key_load(cs_key **out, const char *path, const char *passphrase)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	struct pass_state ps = {passphrase, 0};
	int r = cs_fs_read_all(&pem, &len, path, CS__PEM_MAX);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, &ps);
	if (pkey == NULL) {
		if (ps.asked && passphrase == NULL)
			r = cs__ossl_error(CS_EAUTH, "key is encrypted and no passphrase was given");
		else if (ps.asked)
			r = cs__ossl_error(CS_EAUTH, "wrong passphrase for key");
		else
			r = cs__ossl_error(CS_EMALFORMED, "no PEM private key found");
		cs_error_wrap("%s", path);
		goto done;
	}
	if ((r = cs__key_check_type(pkey, path)) < 0)
		goto done;
	cs_key *k = key_wrap(pkey);
	if (k == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	pkey = NULL;
	*out = k;
done:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	cs_freezero(pem, len);
	return r;
}

int cs_key_save(const cs_key *key, const char *path, const char *passphrase)
{
	/* secmem: the buffer is wiped when it grows and when it is freed. */
	BIO *bio = BIO_new(BIO_s_secmem());
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	X509_SIG *enc = NULL;
	BUF_MEM *bm = NULL;
	int r = CS_OK;

	if (bio == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (passphrase != NULL) {
		size_t plen = strlen(passphrase);
		if (plen == 0 || plen > 1023) {
			r = cs_error_set(CS_EINVAL, "passphrase must be 1 to 1023 bytes");
			goto done;
		}
		/* PBES2: PBKDF2-HMAC-SHA-256 with a random salt, AES-256-CBC. */
		p8 = EVP_PKEY2PKCS8(key->pkey);
		if (p8 != NULL)
			enc = PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), passphrase, (int)plen,
				NULL, 0, KEY_PBKDF2_ITER, p8, NULL, NULL);
		if (enc == NULL || PEM_write_bio_PKCS8(bio, enc) != 1) {
			r = cs__ossl_error(CS_ECRYPTO, "encrypt private key");
			goto done;
		}
	} else if (PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "encode private key");
		goto done;
	}
	BIO_get_mem_ptr(bio, &bm);
	r = cs_fs_write_atomic(path, bm->data, bm->length, 0600);
done:
	X509_SIG_free(enc);
	PKCS8_PRIV_KEY_INFO_free(p8);
	BIO_free(bio);
	return r;
}

void cs_key_free(cs_key *key)
{
	if (key == NULL)
		return;
	/* OpenSSL clears the private scalar/exponents when freeing them. */
	EVP_PKEY_free(key->pkey);
	free(key);
}

int cs_key_device_id(char out[CS_DEVICE_ID_SIZE], const cs_key *key)
{
	return cs__pkey_device_id(out, key->pkey);
}

int cs_key_sign(uint8_t **sig, size_t *siglen, const cs_key *key,
	const void *data, size_t len)
{
	return cs__sign(sig, siglen, key->pkey, data, len);
}

int cs_key_matches_cert(const cs_key *key, const cs_cert *cert)
{
	EVP_PKEY *pub = X509_get0_pubkey(cert->x509);
	return pub != NULL && EVP_PKEY_eq(pub, key->pkey) == 1;
}
