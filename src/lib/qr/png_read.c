/* Reading a QR code back from a PNG file (include/certsync/qr.h).
 *
 * The file is hostile: it is read whole under a size cap, its declared
 * dimensions are checked before any pixel buffer exists, and libpng's
 * errors (which longjmp) land in one place that frees everything. */
#include <assert.h>
#include <inttypes.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/qr.h>
#include "qr_internal.h"

/* zlib cannot inflate more than about 1032 bytes from one byte of input,
 * so image data larger than that multiple of the remaining file cannot be
 * there: reject such a declaration before allocating for it. */
#define INFLATE_MAX_RATIO 1032u

/* The file being decoded and what went wrong, shared with the callbacks. */
struct png_source {
	const uint8_t *data;
	size_t len;
	size_t off;
	int truncated; /* a read went past the end of data */
	char msg[160];
};

static void on_error(png_structp png, png_const_charp msg)
{
	struct png_source *s = png_get_error_ptr(png);
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	/* the library never prints; warnings (bad ancillary chunks) are ignored */
	(void)png;
	(void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n)
{
	struct png_source *s = png_get_io_ptr(png);
	if (n > s->len - s->off) {
		s->truncated = 1;
		png_error(png, "file ends early");
	}
	memcpy(out, s->data + s->off, n);
	s->off += n;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Check the dimensions that the IHDR chunk (first, at offset 8) declares
 * before libpng sees the file: CS_ELIMIT when over the cap, CS_ETRUNCATED
 * when the rest of the file is too short to inflate to that many pixels.
 * A missing or odd IHDR is left for libpng to reject. */
static int check_ihdr(const uint8_t *data, size_t len)
{
	static const uint8_t channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type */
	if (len < 8 + 8 + 13 || be32(data + 8) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
		return CS_OK;
	uint32_t w = be32(data + 16), h = be32(data + 20);
	unsigned depth = data[24], type = data[25];
	if (w > CS_QR_PNG_MAX_DIM || h > CS_QR_PNG_MAX_DIM)
		return cs_error_set(CS_ELIMIT, "PNG image of %" PRIu32 "x%" PRIu32 " pixels exceeds %ux%u",
			w, h, CS_QR_PNG_MAX_DIM, CS_QR_PNG_MAX_DIM);
	if (depth > 16 || type > 6 || channels[type] == 0)
		return CS_OK;
	/* rows of packed pixels, each after a filter byte */
	uint64_t raw = (uint64_t)h * (((uint64_t)w * depth * channels[type] + 7) / 8 + 1);
	size_t rest = len - 33;
	if (raw > (uint64_t)rest * INFLATE_MAX_RATIO + 4096)
		return cs_error_set(CS_ETRUNCATED,
			"PNG image of %" PRIu32 "x%" PRIu32 " pixels cannot fit in %zu bytes", w, h, len);
	return CS_OK;
}

/* Decode the PNG in src into a new 8-bit grayscale image *out of *width x
 * *height pixels, transparency composited onto white. pix and rows change
 * after setjmp and are read after a longjmp, hence volatile. */
static int decode_gray(uint8_t **out, unsigned *width, unsigned *height, struct png_source *src)
{
	/* ancillary chunks that allocate or inflate and that we never use */
	static const png_byte ignored[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf";
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, src, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	uint8_t *volatile pix = NULL;
	png_bytep *volatile rows = NULL;
	int r = CS_OK;
	if (info == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (setjmp(png_jmpbuf(png))) {
		r = cs_error_set(src->truncated ? CS_ETRUNCATED : CS_EMALFORMED,
			"not a valid PNG: %s", src->msg);
		goto done;
	}
	png_set_read_fn(png, src, on_read);
	png_set_user_limits(png, CS_QR_PNG_MAX_DIM, CS_QR_PNG_MAX_DIM); /* belt and braces */
	png_set_chunk_cache_max(png, 128);
	png_set_chunk_malloc_max(png, 1u << 20);
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, ignored, (int)(sizeof(ignored) / 5));
	png_read_info(png, info);

	/* at most CS_QR_PNG_MAX_DIM each: check_ihdr, and libpng's user limits */
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);

	/* to 8-bit gray (+ alpha): palette to RGB, low bit depths up to 8,
	 * tRNS to an alpha channel, 16 bits down to 8, colour to gray */
	png_byte ct = png_get_color_type(png, info);
	png_set_expand(png);
	png_set_scale_16(png);
	if (ct & PNG_COLOR_MASK_COLOR)
		png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, -1, -1);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);

	png_byte channels = png_get_channels(png, info);
	size_t rowbytes = png_get_rowbytes(png, info);
	if (png_get_bit_depth(png, info) != 8 || (channels != 1 && channels != 2) ||
	    rowbytes != (size_t)w * channels) {
		r = cs_error_set(CS_EMALFORMED, "PNG did not convert to 8-bit gray");
		goto done;
	}
	pix = malloc((size_t)h * rowbytes);
	rows = malloc((size_t)h * sizeof(*rows));
	if (pix == NULL || rows == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t y = 0; y < h; y++)
		rows[y] = pix + y * rowbytes;
	/* Chunks after the image data are not read: a file cut after its last
	 * IDAT still holds the whole image. */
	png_read_image(png, rows);

	if (channels == 2) {
		/* composite onto white in place: pixel i is written after bytes
		 * 2i and 2i+1 have been read */
		size_t n = (size_t)w * h;
		for (size_t i = 0; i < n; i++) {
			unsigned g = pix[2 * i], a = pix[2 * i + 1];
			pix[i] = (uint8_t)((g * a + 255u * (255u - a) + 127u) / 255u);
		}
	}
	*out = pix;
	*width = w;
	*height = h;
	pix = NULL;
done:
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	free(pix);
	return r;
}

int cs__qr_read_png_mem(char **payload, const uint8_t *data, size_t len)
{
	assert(payload != NULL && (data != NULL || len == 0));
	if (len > CS_QR_PNG_MAX_FILE)
		return cs_error_set(CS_ELIMIT, "PNG file is larger than %u bytes", CS_QR_PNG_MAX_FILE);
	if (len < 8 || png_sig_cmp(data, 0, 8) != 0)
		return cs_error_set(CS_EMALFORMED, "not a PNG file");
	int r = check_ihdr(data, len);
	if (r != 0)
		return r;
	struct png_source src = {.data = data, .len = len};
	uint8_t *pix = NULL;
	unsigned w = 0, h = 0;
	r = decode_gray(&pix, &w, &h, &src);
	if (r == 0)
		r = cs__qr_scan_gray(payload, pix, w, h);
	free(pix);
	return r;
}

int cs_qr_read_png(char **payload, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	assert(payload != NULL && path != NULL);
	int r = cs_fs_read_all(&data, &len, path, CS_QR_PNG_MAX_FILE);
	if (r == 0) {
		r = cs__qr_read_png_mem(payload, data, len);
		if (r != 0)
			cs_error_wrap("%s", path);
	}
	free(data);
	return r;
}
