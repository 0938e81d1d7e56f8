/* QR encoding and the terminal rendering (include/certsync/qr.h). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/qr.h>
#include "qr_internal.h"

int cs__qr_encode(QRcode **out, const char *payload)
{
	assert(out != NULL && payload != NULL);
	if (payload[0] == '\0')
		return cs_error_set(CS_EINVAL, "QR payload is empty");
	/* libqrencode takes only QR_MODE_8 or QR_MODE_KANJI as the hint; KANJI
	 * would re-read Shift-JIS byte pairs. With QR_MODE_8 and case
	 * sensitivity on, its optimiser encodes an all-alphanumeric payload in
	 * alphanumeric mode (digit runs in numeric mode) and everything else
	 * as 8-bit data: the smallest code that keeps the bytes exact. */
	errno = 0;
	QRcode *qr = QRcode_encodeString(payload, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (qr == NULL) {
		if (errno == ERANGE)
			return cs_error_set(CS_ELIMIT, "QR payload of %zu bytes does not fit in a QR code",
				strlen(payload));
		if (errno == ENOMEM)
			return cs_error_set(CS_ENOMEM, "out of memory");
		return cs_error_set(CS_EINVAL, "cannot encode QR payload: %s",
			errno ? strerror(errno) : "unknown error");
	}
	*out = qr;
	return CS_OK;
}

/* 1 when the module at (x, y) of the padded grid should be drawn: the light
 * modules and the quiet zone. Rows at or past size (the missing lower half
 * of the last text line) are left to the background. */
static int text_lit(const QRcode *qr, int size, int x, int y)
{
	if (y >= size)
		return 0;
	x -= CS__QR_TEXT_QUIET;
	y -= CS__QR_TEXT_QUIET;
	if (x < 0 || y < 0 || x >= qr->width || y >= qr->width)
		return 1;
	return !(qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1);
}

int cs_qr_render_text(char **out, const char *payload)
{
	static const char *const glyph[4] = {
		" ",            /* neither half lit */
		"\xe2\x96\x80", /* U+2580 upper half: top lit */
		"\xe2\x96\x84", /* U+2584 lower half: bottom lit */
		"\xe2\x96\x88", /* U+2588 full block: both lit */
	};
	QRcode *qr = NULL;
	int r = cs__qr_encode(&qr, payload);
	if (r != 0)
		return r;
	/* width <= 177, so none of this can overflow */
	int size = qr->width + 2 * CS__QR_TEXT_QUIET;
	int lines = (size + 1) / 2;
	size_t cap = (size_t)lines * ((size_t)size * 3 + 1) + 1;
	char *text = malloc(cap), *p = text;
	if (text == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (int line = 0; line < lines; line++) {
		for (int x = 0; x < size; x++) {
			int g = text_lit(qr, size, x, 2 * line) | text_lit(qr, size, x, 2 * line + 1) << 1;
			size_t n = strlen(glyph[g]);
			memcpy(p, glyph[g], n);
			p += n;
		}
		*p++ = '\n';
	}
	*p = '\0';
	*out = text;
done:
	QRcode_free(qr);
	return r;
}
