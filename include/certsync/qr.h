#ifndef CERTSYNC_QR_H
#define CERTSYNC_QR_H
/*
 * QR codes for moving short text between devices, e.g. the "connection
 * information" of a backup: a terminal shows it as a QR code drawn with
 * characters and writes it as a PNG file; another device reads the PNG back.
 *
 * Encoding uses error correction level M and the smallest version that fits
 * (at most 2331 bytes of 8-bit data or 3391 alphanumeric characters). A
 * payload made only of QR-alphanumeric characters (0-9 A-Z space $ % * + - .
 * / :), such as upper-case base32 with a "CSB1:" prefix, is encoded in
 * alphanumeric mode, which needs a much smaller code; other text in 8-bit
 * mode. Payloads are C strings: non-empty, no embedded NUL.
 *
 * Reading treats the PNG as hostile: the file size and the image dimensions
 * are capped before anything is allocated from them, and a truncated or
 * corrupt file is an error, never a crash.
 */
#include <certsync/common.h>

#define CS_QR_PNG_SCALE_DEFAULT 8        /* pixels per module when scale is 0 */
#define CS_QR_PNG_MAX_DIM 8192u          /* widest and tallest PNG read or written */
#define CS_QR_PNG_MAX_FILE (64u << 20)   /* largest PNG file read, in bytes */
#define CS_QR_PAYLOAD_MAX 7089u          /* most characters any QR code holds */

/* Render payload as a QR code for a terminal into a new heap string
 * (caller frees with free()).
 *
 * Each text line holds two module rows drawn with the UTF-8 half blocks
 * U+2588 '█', U+2580 '▀', U+2584 '▄' and ' ', and ends with '\n'. The
 * block characters draw the *light* modules and the 2-module quiet zone,
 * spaces leave the dark modules to the terminal background: on the usual
 * light-on-dark terminal the code appears dark on light, as scanners
 * expect. (On a dark-on-light terminal it appears inverted; many phone
 * scanners still read it, the PNG is the dependable path.) A code of width
 * w modules gives (w + 5) / 2 lines of w + 4 characters.
 *
 * CS_EINVAL for an empty payload, CS_ELIMIT when it does not fit in a QR
 * code, CS_ENOMEM. */
CS_EXTERN int cs_qr_render_text(char **out, const char *payload);

/* Write payload as a QR code to path as a grayscale PNG (1 bit per pixel,
 * black modules on white) with scale pixels per module (0 means
 * CS_QR_PNG_SCALE_DEFAULT) and a 4-module quiet zone. The file is replaced
 * atomically (temporary file, fsync, rename) and gets mode 0644.
 *
 * CS_EINVAL for an empty payload, CS_ELIMIT when the payload does not fit in
 * a QR code or the image would exceed CS_QR_PNG_MAX_DIM pixels a side,
 * CS_EIO when the file cannot be written, CS_ENOMEM. */
CS_EXTERN int cs_qr_write_png(const char *path, const char *payload, unsigned scale);

/* Read the PNG at path and decode the one QR code in it into *payload, a
 * new heap string (caller frees with free()); *payload is set only on
 * success. Any PNG colour type and bit depth is accepted (transparency is
 * composited onto white); interlaced images too.
 *
 * CS_ENOTFOUND when path does not exist or the image holds no readable QR
 * code; CS_EINVAL when it holds more than one; CS_ELIMIT when the file is
 * larger than CS_QR_PNG_MAX_FILE, the image larger than CS_QR_PNG_MAX_DIM
 * a side, or the text longer than CS_QR_PAYLOAD_MAX; CS_EMALFORMED when the
 * file is not a PNG, is corrupt or the code's text contains a NUL byte;
 * CS_ETRUNCATED when the file ends early; CS_EIO, CS_ENOMEM. */
CS_EXTERN int cs_qr_read_png(char **payload, const char *path);

#endif
