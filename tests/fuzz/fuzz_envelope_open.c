/*
 * libFuzzer target: cs_envelope_open on arbitrary bytes, as a device would
 * receive them from the hub.
 *
 * The recipient key and certificate are fixed (a throwaway P-256 test key,
 * embedded below) rather than generated at start-up, so that the seed
 * envelopes in corpus/envelope_open/, sealed to this certificate, stay
 * decryptable and mutations reach key agreement and decryption, not only
 * the outer parser.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <certsync/envelope.h>
#include <certsync/identity.h>
#include "lib/identity/internal.h"

static const char KEY_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1M24JzMDOWAbYIYY\n"
	"37jtiSCSXJ2ldjn4PQVSGbVGNHGhRANCAAS7VYqLbvi6zSiQIrDg+3k2/h5Fpv8f\n"
	"cnxs/g7imulvNNxwdeRMt8cz1AHEvD1BdcKNwD0QZJC7ZyQuP8vkTa6a\n"
	"-----END PRIVATE KEY-----\n";

static const char CERT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBijCCAS+gAwIBAgIUYXD9LA+nc/VIb2erWjPaxe4mLigwCgYIKoZIzj0EAwIw\n"
	"GTEXMBUGA1UEAwwOZnV6eiByZWNpcGllbnQwIBcNMjYxMTIzMDEyMDI2WhgPMjEy\n"
	"NjEwMzAwMTIwMjZaMBkxFzAVBgNVBAMMDmZ1enogcmVjaXBpZW50MFkwEwYHKoZI\n"
	"zj0CAQYIKoZIzj0DAQcDQgAEu1WKi274us0okCKw4Pt5Nv4eRab/H3J8bP4O4prp\n"
	"bzTccHXkTLfHM9QBxLw9QXXCjcA9EGSQu2ckLj/L5E2umqNTMFEwHQYDVR0OBBYE\n"
	"FO1AI6eRZRm3jjy38PZbfdaFZK1eMB8GA1UdIwQYMBaAFO1AI6eRZRm3jjy38PZb\n"
	"fdaFZK1eMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAP9a0LFe\n"
	"66D3YtHjKyLW97I67OXzk762a2gQPJkwSz3eAiEA7xS5SYB3eDjhtwrZz7QgJ+lF\n"
	"3kCS/kTCUw3/ZcGCUc0=\n"
	"-----END CERTIFICATE-----\n";

static cs_key *recipient_key;
static cs_cert *recipient_cert;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	BIO *bio = BIO_new_mem_buf(KEY_PEM, -1);
	recipient_key = calloc(1, sizeof(*recipient_key));
	if (bio == NULL || recipient_key == NULL)
		abort();
	recipient_key->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (recipient_key->pkey == NULL
			|| cs_cert_from_pem(&recipient_cert, CERT_PEM, sizeof(CERT_PEM) - 1) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *content = NULL;
	size_t content_len = 0;
	cs_cert *signer = NULL;

	int r = cs_envelope_open(&content, &content_len, &signer, data, size,
		recipient_key, recipient_cert);
	if (r == 0) {
		/* Success must hand out both results, and the signer must be a
		 * usable certificate. */
		char fp[CS_FINGERPRINT_SIZE];
		if (content == NULL || signer == NULL || cs_cert_fingerprint(fp, signer) != 0)
			abort();
	} else if (content != NULL || signer != NULL) {
		abort(); /* out-parameters are only set on success */
	}
	free(content);
	cs_cert_free(signer);
	return 0;
}
