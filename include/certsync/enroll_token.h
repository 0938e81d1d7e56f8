#ifndef CERTSYNC_ENROLL_TOKEN_H
#define CERTSYNC_ENROLL_TOKEN_H
/*
 * The enrollment token of PROTOCOL.md §3: what an administrator hands to a
 * new device so that it can register and pin the hub from its first
 * connection. Text form "cse1:" + unpadded upper-case base32 of
 *
 *   u8       version = 1
 *   string   hub address "host:port" (1..255 bytes, printable ASCII)
 *   byte[32] SHA-256 of the hub CA certificate (DER)
 *   byte[16] secret
 */
#include <certsync/common.h>

#define CS_ENROLL_TOKEN_PREFIX "cse1:"
#define CS_ENROLL_TOKEN_VERSION 1
#define CS_ENROLL_ADDRESS_MAX 255
#define CS_ENROLL_SECRET_LEN 16
/* Longest text form: prefix + base32 of the largest payload. */
#define CS_ENROLL_TOKEN_TEXT_MAX 512

typedef struct cs_enroll_token {
	char *hub_address;          /* "host:port", malloc'd */
	uint8_t ca_fingerprint[32]; /* SHA-256 of the hub CA certificate DER */
	uint8_t secret[16];         /* the one-time secret; wipe after use */
} cs_enroll_token;

/* Encode t into a new NUL-terminated string *out (caller frees, ideally with
 * cs_free_secret_str since it carries the secret). CS_EINVAL when the
 * address is empty, too long or not "host:port". */
CS_EXTERN int cs_enroll_token_encode(char **out, const cs_enroll_token *t);

/* Parse text into *out (which the caller clears with cs_enroll_token_clear).
 * Rejects a wrong prefix or version, characters outside the base32 alphabet,
 * bad lengths, embedded NULs, an address that is not "host:port", and
 * trailing bytes, each with CS_EMALFORMED (CS_ETRUNCATED / CS_ETRAILING /
 * CS_ELIMIT where those describe the fault). *out is filled only on success. */
CS_EXTERN int cs_enroll_token_parse(cs_enroll_token *out, const char *text);

/* Free the address and wipe the secret; t stays usable as an empty token.
 * NULL is a no-op. */
CS_EXTERN void cs_enroll_token_clear(cs_enroll_token *t);

#endif
