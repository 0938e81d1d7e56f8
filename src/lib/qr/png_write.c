/* Writing a QR code as a PNG file (include/certsync/qr.h). */
#include <assert.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/qr.h>
#include "qr_internal.h"

/* State shared with libpng's callbacks. libpng reports errors by calling
 * on_error, which must not return: it keeps the message and longjmps back
 * to the setjmp in encode_png. */
struct png_sink {
	cs_buf *out;
	int full;       /* the image outgrew out's maximum */
	char msg[160];
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct png_sink *s = png_get_error_ptr(png);
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	/* the library never prints; a warning is not a failure */
	(void)png;
	(void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t len)
{
	struct png_sink *s = png_get_io_ptr(png);
	if (cs_buf_put(s->out, data, len) != 0) {
		s->full = 1;
		png_error(png, "image too large");
	}
}

static void on_flush(png_structp png)
{
	(void)png;
}

/* Write the rows of qr, scaled, into s->out as a 1-bit grayscale PNG of
 * dim x dim pixels. row has room for dim bytes. Nothing here is allocated
 * between setjmp and a possible longjmp except libpng's own state, which
 * png_destroy_write_struct releases on both paths. */
static int encode_png(struct png_sink *s, const QRcode *qr, unsigned scale, unsigned dim,
	png_bytep row)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_error, on_warning);
	if (png == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	png_infop info = png_create_info_struct(png);
	if (info == NULL) {
		png_destroy_write_struct(&png, NULL);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return cs_error_set(s->full ? CS_ELIMIT : CS_ERROR, "encode PNG: %s", s->msg);
	}
	png_set_write_fn(png, s, on_write, on_flush);
	png_set_IHDR(png, info, dim, dim, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE); /* best for 1-bit */
	png_write_info(png, info);
	png_set_packing(png); /* rows below hold one pixel (0 or 1) per byte */

	unsigned width = (unsigned)qr->width;
	for (unsigned y = 0; y < dim; y++) {
		unsigned my = y / scale;
		for (unsigned x = 0; x < dim; x++) {
			unsigned mx = x / scale;
			int dark = mx >= CS__QR_PNG_QUIET && my >= CS__QR_PNG_QUIET &&
				mx - CS__QR_PNG_QUIET < width && my - CS__QR_PNG_QUIET < width &&
				(qr->data[(size_t)(my - CS__QR_PNG_QUIET) * width + (mx - CS__QR_PNG_QUIET)] & 1);
			row[x] = dark ? 0 : 1;
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return CS_OK;
}

int cs__qr_png_encode(uint8_t **out, size_t *len, const char *payload, unsigned scale)
{
	QRcode *qr = NULL;
	cs_buf *buf = NULL;
	png_bytep row = NULL;
	struct png_sink sink = {0};
	if (scale == 0)
		scale = CS_QR_PNG_SCALE_DEFAULT;
	int r = cs__qr_encode(&qr, payload);
	if (r != 0)
		return r;
	unsigned modules = (unsigned)qr->width + 2 * CS__QR_PNG_QUIET;
	if (scale > CS_QR_PNG_MAX_DIM / modules) {
		r = cs_error_set(CS_ELIMIT, "QR image of %u modules at scale %u exceeds %u pixels",
			modules, scale, CS_QR_PNG_MAX_DIM);
		goto done;
	}
	unsigned dim = modules * scale;
	buf = cs_buf_new(CS_QR_PNG_MAX_FILE);
	row = malloc(dim);
	if (buf == NULL || row == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	sink.out = buf;
	r = encode_png(&sink, qr, scale, dim, row);
	if (r == 0)
		r = cs_buf_steal(out, len, buf);
done:
	free(row);
	cs_buf_free(buf);
	QRcode_free(qr);
	return r;
}

int cs_qr_write_png(const char *path, const char *payload, unsigned scale)
{
	uint8_t *png = NULL;
	size_t len = 0;
	assert(path != NULL);
	int r = cs__qr_png_encode(&png, &len, payload, scale);
	if (r == 0)
		r = cs_fs_write_atomic(path, png, len, 0644);
	free(png);
	return r;
}
