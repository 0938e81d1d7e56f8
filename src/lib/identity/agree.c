/* Static-static ECDH between a device key and a peer's certificate
 * (identity.h): the offline transfer's session key starts here. */
#include <string.h>
#include <openssl/core_names.h>
#include <certsync/error.h>
#include <certsync/secure.h>
#include "lib/identity/local.h"

int cs_key_agree(uint8_t out[CS_KEY_AGREE_LEN], const cs_key *key, const cs_cert *peer)
{
	EVP_PKEY *pub = X509_get0_pubkey(peer->x509);
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t z[66];
	size_t zlen = sizeof(z);
	int r = CS_OK;

	if (pub == NULL || !EVP_PKEY_is_a(key->pkey, "EC") || !EVP_PKEY_is_a(pub, "EC"))
		return cs_error_set(CS_EINVAL, "key agreement needs two EC keys");
	/* both must be P-256: the shared secret is then exactly 32 bytes */
	char g1[32] = "", g2[32] = "";
	size_t l1 = 0, l2 = 0;
	if (EVP_PKEY_get_utf8_string_param(key->pkey, OSSL_PKEY_PARAM_GROUP_NAME, g1, sizeof(g1), &l1) != 1 ||
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, g2, sizeof(g2), &l2) != 1 ||
	    strcmp(g1, "prime256v1") != 0 || strcmp(g2, "prime256v1") != 0)
		return cs_error_set(CS_EINVAL, "key agreement needs two P-256 keys");
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, pub, 1) != 1 ||
	    EVP_PKEY_derive(ctx, z, &zlen) != 1) {
		r = cs__ossl_error(CS_ECRYPTO, "ECDH");
		goto done;
	}
	if (zlen != CS_KEY_AGREE_LEN) {
		r = cs_error_set(CS_ECRYPTO, "ECDH gave %zu bytes", zlen);
		goto done;
	}
	memcpy(out, z, CS_KEY_AGREE_LEN);
done:
	cs_wipe(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	return r;
}
