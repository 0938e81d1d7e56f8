#ifndef CERTSYNC_ENCODING_H
#define CERTSYNC_ENCODING_H
/*
 * Text encodings of binary data: lowercase hex, RFC 4648 base32 (upper case,
 * no padding) and base64 (standard alphabet, padded). Decoders reject any
 * character outside the alphabet and any length that does not fit.
 */
#include <certsync/common.h>

/* Write 2*len hex digits and a NUL to out (size >= 2*len+1). */
CS_EXTERN void cs_hex_encode(char *out, const void *data, size_t len);
/* Decode exactly outlen bytes from hex (case-insensitive); the string must be
 * exactly 2*outlen digits. CS_EMALFORMED otherwise. */
CS_EXTERN int cs_hex_decode(void *out, size_t outlen, const char *hex);

/* Base32 length for len bytes (without NUL). */
CS_EXTERN size_t cs_base32_len(size_t len);
/* Write the base32 encoding and a NUL to out (size >= cs_base32_len+1). */
CS_EXTERN void cs_base32_encode(char *out, const void *data, size_t len);
/* Decode unpadded base32 text; *outlen receives the byte count. out must have
 * room for strlen(text)*5/8 bytes. */
CS_EXTERN int cs_base32_decode(void *out, size_t *outlen, const char *text);

/* Base64: encode into a new heap string (caller frees). */
CS_EXTERN int cs_base64_encode(char **out, const void *data, size_t len);
/* Decode into a new heap block; rejects bad characters and padding, and
 * input longer than max_in characters (CS_ELIMIT). */
CS_EXTERN int cs_base64_decode(uint8_t **out, size_t *outlen, const char *text, size_t max_in);

/* 1 when s is a name: 1 to max characters, each an ASCII letter, a digit
 * or one of the characters in punct (e.g. "._-"); else 0. NULL is not a
 * name. */
CS_EXTERN int cs_text_is_name(const char *s, size_t max, const char *punct);

#endif
