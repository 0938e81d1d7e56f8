/* The hub CA: creating and opening the CA directory
 * (include/certsync/identity.h). */
#include <stdlib.h>
#include <string.h>
#include <openssl/x509v3.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include "lib/identity/local.h"

#define CA_DAYS 3650

/*
 * ca.crt is written last and is what marks a CA as created: a crash after
 * ca.key but before ca.crt leaves a directory that cs_ca_create simply
 * starts again in (no certificate was ever issued from that key), instead
 * of one that can be neither opened nor re-created.
 */
int cs_ca_create(const char *dir, const char *name)
{
	char *key_path = cs_path_join(dir, "ca.key");
	char *crt_path = cs_path_join(dir, "ca.crt");
	cs_key *key = NULL;
	X509 *x = NULL;
	cs_cert *cert = NULL;
	char *pem = NULL;
	int r;

	if (key_path == NULL || crt_path == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs__check_cn(name)) < 0)
		goto done;
	if (cs_fs_exists(crt_path)) {
		r = cs_error_set(CS_EEXISTS, "%s already holds a CA", dir);
		goto done;
	}
	if ((r = cs_fs_mkdirs(dir, 0700)) < 0 || (r = cs_key_generate(&key)) < 0)
		goto done;
	if ((r = cs__cert_start(&x, key->pkey, name, NULL, CA_DAYS)) < 0)
		goto done;
	/* pathlen:0 — this CA signs end-entity certificates only; a leaked
	 * device key must never be able to act as an intermediate CA. */
	if ((r = cs__cert_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) < 0
			|| (r = cs__cert_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0
			|| (r = cs__cert_add_ext(x, x, NID_subject_key_identifier, "hash")) < 0
			|| (r = cs__cert_add_ext(x, x, NID_authority_key_identifier, "keyid:always")) < 0
			|| (r = cs__cert_sign(x, key->pkey)) < 0)
		goto done;
	cert = cs__cert_wrap(x);
	if (cert == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_cert_to_pem(&pem, cert)) < 0
			|| (r = cs_key_save(key, key_path, NULL)) < 0
			|| (r = cs_fs_write_atomic(crt_path, pem, strlen(pem), 0644)) < 0)
		goto done;
done:
	free(pem);
	cs_cert_free(cert);
	X509_free(x);
	cs_key_free(key);
	free(crt_path);
	free(key_path);
	return r;
}

int cs_ca_open(cs_ca **out, const char *dir)
{
	char *key_path = cs_path_join(dir, "ca.key");
	char *crt_path = cs_path_join(dir, "ca.crt");
	cs_ca *ca = calloc(1, sizeof(*ca));
	int r = CS_OK;

	if (key_path == NULL || crt_path == NULL || ca == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!cs_fs_exists(crt_path)) {
		r = cs_error_set(CS_ENOTFOUND, "no CA in %s (ca.crt missing)", dir);
		goto done;
	}
	if ((r = cs_cert_load(&ca->cert, crt_path)) < 0
			|| (r = cs_key_load(&ca->key, key_path, NULL)) < 0)
		goto done;
	if (!cs_key_matches_cert(ca->key, ca->cert)) {
		r = cs_error_set(CS_EINVAL, "%s: ca.key does not belong to ca.crt", dir);
		goto done;
	}
	if (X509_check_ca(ca->cert->x509) < 1) {
		r = cs_error_set(CS_EINVAL, "%s: ca.crt is not a CA certificate", dir);
		goto done;
	}
	*out = ca;
	ca = NULL;
done:
	cs_ca_free(ca);
	free(crt_path);
	free(key_path);
	return r;
}

void cs_ca_free(cs_ca *ca)
{
	if (ca == NULL)
		return;
	cs_key_free(ca->key);
	cs_cert_free(ca->cert);
	free(ca);
}

const cs_cert *cs_ca_cert(const cs_ca *ca)
{
	return ca->cert;
}

int cs_ca_sign(uint8_t **sig, size_t *siglen, const cs_ca *ca, const void *data, size_t len)
{
	return cs_key_sign(sig, siglen, ca->key, data, len);
}
