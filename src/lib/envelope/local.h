#ifndef CS_ENVELOPE_LOCAL_H
#define CS_ENVELOPE_LOCAL_H
/* Definitions shared by the files of src/lib/envelope/ only. */
#include <certsync/envelope.h>

/* Most recipients of one sealed header. Each adds about 200 bytes (EC) or
 * 500 bytes (RSA-3072), so this keeps a header far below CS_ENVELOPE_MAX. */
#define CS__ENVELOPE_RECIPIENTS_MAX 16384

/* Check the outer structure of a sealed header before OpenSSL parses it:
 * an AuthEnvelopedData whose content is encrypted with AES-256-GCM, a
 * 12-byte nonce and a full 16-byte tag, DER-encoded with nothing after it.
 * CS_OK, or CS_EMALFORMED / CS_ETRAILING with the reason. See open.c. */
int cs__envelope_check_outer(const uint8_t *der, size_t len);

#endif
