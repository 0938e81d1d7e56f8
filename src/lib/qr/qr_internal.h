#ifndef CS_QR_INTERNAL_H
#define CS_QR_INTERNAL_H
/* Internals of the QR module (include/certsync/qr.h), shared by its files,
 * the unit test and the fuzz target. */
#include <qrencode.h>
#include <certsync/common.h>

/* Quiet zone around the code, in modules: the spec's 4 in the PNG; 2 in the
 * terminal, to keep large codes within 80 columns (phone scanners read a
 * 2-module zone reliably, and the terminal background beyond it is dark). */
#define CS__QR_PNG_QUIET 4
#define CS__QR_TEXT_QUIET 2

/* Encode payload (level M, smallest version) into *out; free it with
 * QRcode_free. CS_EINVAL for an empty payload, CS_ELIMIT when it does not
 * fit, CS_ENOMEM. Module (x, y) is dark when data[y * width + x] & 1. */
int cs__qr_encode(QRcode **out, const char *payload);

/* Encode payload into a PNG image in memory (*out malloc'd, *len bytes);
 * scale as for cs_qr_write_png. */
int cs__qr_png_encode(uint8_t **out, size_t *len, const char *payload, unsigned scale);

/* cs_qr_read_png on the len bytes of a PNG file at data. */
int cs__qr_read_png_mem(char **payload, const uint8_t *data, size_t len);

/* Scan an 8-bit grayscale image (width * height bytes, row after row, 0
 * black) for exactly one QR code and return its text in *payload
 * (malloc'd). Errors as for cs_qr_read_png. */
int cs__qr_scan_gray(char **payload, const uint8_t *pixels, unsigned width, unsigned height);

#endif
