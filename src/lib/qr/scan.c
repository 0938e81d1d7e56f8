/* Finding the QR code in a grayscale image with zbar (qr_internal.h). */
#include <stdlib.h>
#include <string.h>
#include <zbar.h>
#include <certsync/error.h>
#include <certsync/qr.h>
#include "qr_internal.h"

/* zbar's finder needs about two pixels a module; a smaller image (such as
 * cs_qr_write_png at scale 1) is tried again enlarged this many times,
 * when it is at most UPSCALE_MAX_DIM a side. */
#define UPSCALE 3u
#define UPSCALE_MAX_DIM 1024u

static int scan_once(char **payload, const uint8_t *pixels, unsigned width, unsigned height)
{
	zbar_image_scanner_t *scanner = zbar_image_scanner_create();
	zbar_image_t *img = zbar_image_create();
	int r = CS_OK;
	if (scanner == NULL || img == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	/* QR codes only; BINARY hands back the code's bytes as they are, where
	 * zbar would otherwise guess a character set and convert 8-bit data to
	 * UTF-8; TEST_INVERTED also finds light-on-dark codes, such as a
	 * screenshot of cs_qr_render_text on a light terminal. */
	zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_ENABLE, 0);
	zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
	zbar_image_scanner_set_config(scanner, 0, ZBAR_CFG_TEST_INVERTED, 1);
	zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(img, width, height);
	/* no cleanup handler: zbar does not free pixels, the caller does */
	zbar_image_set_data(img, pixels, (unsigned long)width * height, NULL);
	if (zbar_scan_image(scanner, img) < 0) {
		r = cs_error_set(CS_ERROR, "QR scanner failed");
		goto done;
	}

	const zbar_symbol_t *found = NULL;
	unsigned count = 0;
	for (const zbar_symbol_t *s = zbar_image_first_symbol(img); s; s = zbar_symbol_next(s)) {
		if (zbar_symbol_get_type(s) != ZBAR_QRCODE)
			continue;
		if (found == NULL)
			found = s;
		count++;
	}
	if (count == 0) {
		r = cs_error_set(CS_ENOTFOUND, "no QR code found in the image");
		goto done;
	}
	if (count > 1) {
		r = cs_error_set(CS_EINVAL, "the image holds %u QR codes, expected one", count);
		goto done;
	}
	const char *data = zbar_symbol_get_data(found);
	size_t len = zbar_symbol_get_data_length(found);
	if (len > CS_QR_PAYLOAD_MAX) {
		r = cs_error_set(CS_ELIMIT, "QR code text of %zu bytes exceeds %u", len, CS_QR_PAYLOAD_MAX);
		goto done;
	}
	if (len == 0 || data == NULL || memchr(data, 0, len) != NULL) {
		r = cs_error_set(CS_EMALFORMED, "QR code text is empty or contains a NUL byte");
		goto done;
	}
	char *text = malloc(len + 1);
	if (text == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(text, data, len);
	text[len] = '\0';
	*payload = text;
done:
	if (img != NULL)
		zbar_image_destroy(img);
	if (scanner != NULL)
		zbar_image_scanner_destroy(scanner);
	return r;
}

int cs__qr_scan_gray(char **payload, const uint8_t *pixels, unsigned width, unsigned height)
{
	int r = scan_once(payload, pixels, width, height);
	if (r != CS_ENOTFOUND || width > UPSCALE_MAX_DIM || height > UPSCALE_MAX_DIM)
		return r;
	unsigned w = width * UPSCALE, h = height * UPSCALE;
	uint8_t *big = malloc((size_t)w * h);
	if (big == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (unsigned y = 0; y < h; y++) {
		const uint8_t *src = pixels + (size_t)(y / UPSCALE) * width;
		uint8_t *dst = big + (size_t)y * w;
		for (unsigned x = 0; x < w; x++)
			dst[x] = src[x / UPSCALE];
	}
	r = scan_once(payload, big, w, h);
	free(big);
	return r;
}
