/* Unit tests for src/lib/qr: terminal rendering, PNG write and read, the
 * real zbarimg as an independent reader, and hostile PNG files. */
#include <dirent.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/qr.h>
#include "helpers.h"
#include "qr/qr_internal.h"

/* ---- helpers ---- */

/* "CSB1:" and 296 upper-case base32 characters: 301 QR-alphanumeric
 * characters, as in a backup's connection information. */
static char *base32_payload(void)
{
	uint8_t raw[185];
	cs_test_fill_random(raw, sizeof(raw), 42);
	char *s = malloc(5 + cs_base32_len(sizeof(raw)) + 1);
	assert_non_null(s);
	memcpy(s, "CSB1:", 5);
	cs_base32_encode(s + 5, raw, sizeof(raw));
	assert_int_equal(strlen(s), 301);
	return s;
}

/* Valid UTF-8 that is far from alphanumeric: lower case, control
 * characters, quotes, a shell metacharacter or two, multi-byte sequences. */
static const char utf8_payload[] =
	"certsync backup v1\n\tkey=\"k3y/with+stuff==\"; path='/home/ünïcødé/€'\r\n"
	"\x01\x02\x1b[0m \x7f end {json: [1, 2.5e-3, null]} \xf0\x9f\x94\x91";

/* Bytes that are not UTF-8 at all. */
static char *binary_payload(void)
{
	char *s = malloc(256);
	assert_non_null(s);
	for (int i = 0; i < 255; i++)
		s[i] = (char)(255 - i); /* 0xff down to 0x01 */
	s[255] = '\0';
	return s;
}

static char *path_in(const char *dir, const char *name)
{
	char *p = cs_path_join(dir, name);
	assert_non_null(p);
	return p;
}

/* Run the real `zbarimg --raw -q [opts] path` and return what it printed,
 * without the newline it adds after the code. */
static char *zbarimg(const char *path, const char *opts)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "zbarimg --nodbus --raw -q %s '%s'", opts, path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t cap = 16384, n = 0, k;
	char *out = malloc(cap);
	assert_non_null(out);
	while ((k = fread(out + n, 1, cap - 1 - n, p)) > 0)
		n += k;
	int st = pclose(p);
	if (st != 0)
		fail_msg("%s exited with status %d", cmd, st);
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return out;
}

/* An 8-bit gray image of payload's QR code: scale pixels per module, a
 * 4-module white quiet zone. *w receives the side. */
static uint8_t *qr_gray(unsigned *w, const char *payload, unsigned scale)
{
	QRcode *qr = NULL;
	cs_assert_ok(cs__qr_encode(&qr, payload));
	unsigned side = ((unsigned)qr->width + 8) * scale;
	uint8_t *pix = malloc((size_t)side * side);
	assert_non_null(pix);
	memset(pix, 255, (size_t)side * side);
	for (int y = 0; y < qr->width; y++)
		for (int x = 0; x < qr->width; x++)
			if (qr->data[y * qr->width + x] & 1)
				for (unsigned dy = 0; dy < scale; dy++)
					memset(pix + ((size_t)(y + 4) * scale + dy) * side + (size_t)(x + 4) * scale,
						0, scale);
	QRcode_free(qr);
	*w = side;
	return pix;
}

enum variant {
	V_GRAY8,
	V_GRAY16,
	V_GRAY_ALPHA,    /* light modules transparent black */
	V_RGB8,          /* navy on pale yellow */
	V_RGBA16,
	V_PALETTE,
	V_PALETTE_TRNS,  /* both entries black, the light one transparent */
	V_GRAY8_ADAM7,   /* interlaced */
	V_COUNT
};

/* Write the gray image (0 or 255 per pixel) to path as a PNG of the given
 * variant, with libpng's full API. */
static void write_png_variant(const char *path, const uint8_t *gray, unsigned w, unsigned h,
	enum variant v)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	assert_non_null(info);
	uint8_t *row = malloc((size_t)w * 8);
	assert_non_null(row);
	if (setjmp(png_jmpbuf(png)))
		fail_msg("libpng failed to write %s", path);
	png_init_io(png, f);
	int ct = PNG_COLOR_TYPE_GRAY, depth = 8, interlace = PNG_INTERLACE_NONE;
	switch (v) {
	case V_GRAY16: depth = 16; break;
	case V_GRAY_ALPHA: ct = PNG_COLOR_TYPE_GRAY_ALPHA; break;
	case V_RGB8: ct = PNG_COLOR_TYPE_RGB; break;
	case V_RGBA16: ct = PNG_COLOR_TYPE_RGBA; depth = 16; break;
	case V_PALETTE: case V_PALETTE_TRNS: ct = PNG_COLOR_TYPE_PALETTE; break;
	case V_GRAY8_ADAM7: interlace = PNG_INTERLACE_ADAM7; break;
	default: break;
	}
	png_set_IHDR(png, info, w, h, depth, ct, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
		PNG_FILTER_TYPE_DEFAULT);
	if (v == V_PALETTE || v == V_PALETTE_TRNS) {
		png_color pal[2] = {{0, 0, 0}, {255, 255, 255}};
		if (v == V_PALETTE_TRNS)
			pal[1] = pal[0];
		png_set_PLTE(png, info, pal, 2);
		if (v == V_PALETTE_TRNS) {
			png_byte alpha[2] = {255, 0};
			png_set_tRNS(png, info, alpha, 2, NULL);
		}
	}
	png_write_info(png, info);
	int passes = interlace ? png_set_interlace_handling(png) : 1;
	for (int pass = 0; pass < passes; pass++) {
		for (unsigned y = 0; y < h; y++) {
			for (unsigned x = 0; x < w; x++) {
				uint8_t g = gray[(size_t)y * w + x];
				uint8_t *p;
				switch (v) {
				case V_GRAY16:
					row[2 * x] = row[2 * x + 1] = g;
					break;
				case V_GRAY_ALPHA:
					row[2 * x] = 0;
					row[2 * x + 1] = (uint8_t)(255 - g);
					break;
				case V_RGB8:
					p = row + 3 * x;
					p[0] = g ? 255 : 0;
					p[1] = g ? 255 : 0;
					p[2] = g ? 200 : 80;
					break;
				case V_RGBA16:
					memset(row + 8 * x, g, 6);
					row[8 * x + 6] = row[8 * x + 7] = 255;
					break;
				case V_PALETTE: case V_PALETTE_TRNS:
					row[x] = g ? 1 : 0;
					break;
				default:
					row[x] = g;
				}
			}
			png_write_row(png, row);
		}
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	free(row);
	assert_int_equal(fclose(f), 0);
}

/* A minimal PNG chunk: length, type, data, CRC-32 (written here so the
 * test needs no zlib). Returns the bytes written to out. */
static size_t put_chunk(uint8_t *out, const char *type, const uint8_t *data, uint32_t len)
{
	uint8_t *p = out;
	p[0] = (uint8_t)(len >> 24); p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8); p[3] = (uint8_t)len;
	memcpy(p + 4, type, 4);
	if (len)
		memcpy(p + 8, data, len);
	uint32_t crc = 0xffffffffu;
	for (uint32_t i = 4; i < 8 + len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	crc ^= 0xffffffffu;
	p[8 + len] = (uint8_t)(crc >> 24); p[9 + len] = (uint8_t)(crc >> 16);
	p[10 + len] = (uint8_t)(crc >> 8); p[11 + len] = (uint8_t)crc;
	return 12 + len;
}

/* Signature, an IHDR declaring w x h 8-bit gray, and IEND: no pixels. */
static size_t header_only_png(uint8_t *out, uint32_t w, uint32_t h)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	uint8_t ihdr[13] = {
		(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
		(uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
		8, 0, 0, 0, 0,
	};
	memcpy(out, sig, 8);
	size_t n = 8 + put_chunk(out + 8, "IHDR", ihdr, sizeof(ihdr));
	return n + put_chunk(out + n, "IEND", NULL, 0);
}

/* ---- tests ---- */

static void roundtrip_one(const char *dir, const char *name, const char *payload,
	unsigned scale, const char *zbar_opts)
{
	char *path = path_in(dir, name);
	cs_assert_ok(cs_qr_write_png(path, payload, scale));
	char *back = NULL;
	cs_assert_ok(cs_qr_read_png(&back, path));
	assert_string_equal(back, payload);
	free(back);
	/* an independent reader agrees (zbarimg needs 2 pixels a module; our
	 * reader enlarges small images itself) */
	if (zbar_opts != NULL) {
		char *z = zbarimg(path, zbar_opts);
		assert_string_equal(z, payload);
		free(z);
	}
	free(path);
}

static void test_png_roundtrip(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("qr-roundtrip");
	char *b32 = base32_payload();
	char *bin = binary_payload();
	roundtrip_one(dir, "short.png", "hello", 0, "");
	roundtrip_one(dir, "short-1.png", "x", 1, NULL);
	roundtrip_one(dir, "short-2.png", "x", 2, "");
	roundtrip_one(dir, "base32.png", b32, 0, "");
	roundtrip_one(dir, "base32-3.png", b32, 3, "");
	roundtrip_one(dir, "utf8.png", utf8_payload, 0, "");
	/* zbarimg guesses a character set for 8-bit data unless told not to */
	roundtrip_one(dir, "binary.png", bin, 0, "-Sbinary");

	/* the file: a PNG, mode 0644, no temporary left behind, replaced
	 * atomically when written again */
	char *path = path_in(dir, "short.png");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	uint8_t *data = NULL;
	size_t len = 0;
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 1 << 20));
	assert_true(len > 8 && png_sig_cmp(data, 0, 8) == 0);
	free(data);
	cs_assert_ok(cs_qr_write_png(path, "again", 0));
	char *back = NULL;
	cs_assert_ok(cs_qr_read_png(&back, path));
	assert_string_equal(back, "again");
	free(back);
	DIR *d = opendir(dir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL; )
		if (strstr(e->d_name, ".tmp") != NULL)
			fail_msg("temporary file %s left in %s", e->d_name, dir);
	closedir(d);
	free(path);

	cs_fs_remove_tree(dir);
	free(bin);
	free(b32);
	free(dir);
}

static void test_encode_limits(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("qr-limits");
	char *path = path_in(dir, "x.png");
	char *out = NULL;
	assert_int_equal(cs_qr_render_text(&out, ""), CS_EINVAL);
	assert_int_equal(cs_qr_write_png(path, "", 0), CS_EINVAL);

	/* 3391 alphanumeric characters fit at level M, 4000 do not */
	char *big = malloc(4001);
	assert_non_null(big);
	memset(big, 'A', 4000);
	big[4000] = '\0';
	assert_int_equal(cs_qr_render_text(&out, big), CS_ELIMIT);
	assert_int_equal(cs_qr_write_png(path, big, 0), CS_ELIMIT);
	assert_null(out);
	/* a version-40 code at 64 pixels a module is wider than 8192 */
	big[3391] = '\0';
	assert_int_equal(cs_qr_write_png(path, big, 64), CS_ELIMIT);
	assert_int_equal(cs_fs_exists(path), 0);
	cs_assert_ok(cs_qr_write_png(path, big, 2));
	char *back = NULL;
	cs_assert_ok(cs_qr_read_png(&back, path));
	assert_string_equal(back, big);
	free(back);
	free(big);

	cs_fs_remove_tree(dir);
	free(path);
	free(dir);
}

/* Split text into lines, check every character, and return the grid of
 * lit (drawn) half-modules: cols x rows, 1 = lit. */
static uint8_t *parse_render(unsigned *cols_out, unsigned *rows_out, const char *text)
{
	unsigned cols = 0, lines = 0, col = 0;
	uint8_t *grid = calloc(400 * 400, 1);
	assert_non_null(grid);
	for (const char *p = text; *p; ) {
		int top = 0, bottom = 0;
		if (*p == '\n') {
			if (lines == 0)
				cols = col;
			assert_int_equal(col, cols); /* every line as wide */
			lines++;
			col = 0;
			p++;
			continue;
		}
		if (*p == ' ') {
			top = bottom = 0;
			p++;
		} else if (strncmp(p, "\xe2\x96\x88", 3) == 0) {
			top = bottom = 1;
			p += 3;
		} else if (strncmp(p, "\xe2\x96\x80", 3) == 0) {
			top = 1, bottom = 0;
			p += 3;
		} else if (strncmp(p, "\xe2\x96\x84", 3) == 0) {
			top = 0, bottom = 1;
			p += 3;
		} else {
			fail_msg("unexpected character 0x%02x at offset %td", (unsigned char)*p, p - text);
		}
		assert_true(col < 400 && lines < 200);
		grid[(2 * lines) * 400 + col] = (uint8_t)top;
		grid[(2 * lines + 1) * 400 + col] = (uint8_t)bottom;
		col++;
	}
	assert_int_equal(col, 0); /* text ends with '\n' */
	*cols_out = cols;
	*rows_out = 2 * lines;
	return grid;
}

/* Render payload, check the shape, then "photograph" the terminal: lit
 * half-modules white, the rest and a dark terminal around them black, and
 * scan that picture. */
static void render_one(const char *payload, unsigned expect_width)
{
	char *text = NULL;
	cs_assert_ok(cs_qr_render_text(&text, payload));
	unsigned cols, rows;
	uint8_t *grid = parse_render(&cols, &rows, text);
	unsigned side = expect_width + 2 * CS__QR_TEXT_QUIET;
	assert_int_equal(cols, side);
	assert_int_equal(rows / 2, (expect_width + 5) / 2);
	/* the quiet zone is lit all round; the last half row is background */
	for (unsigned i = 0; i < side; i++) {
		assert_int_equal(grid[0 * 400 + i], 1);
		assert_int_equal(grid[(side - 1) * 400 + i], 1);
		assert_int_equal(grid[i * 400 + 0], 1);
		assert_int_equal(grid[i * 400 + side - 1], 1);
		assert_int_equal(grid[side * 400 + i], 0);
	}

	const unsigned scale = 4, border = 6;
	unsigned w = (side + 2 * border) * scale;
	uint8_t *pix = calloc((size_t)w * w, 1);
	assert_non_null(pix);
	for (unsigned y = 0; y < side; y++)
		for (unsigned x = 0; x < side; x++)
			if (grid[y * 400 + x])
				for (unsigned dy = 0; dy < scale; dy++)
					memset(pix + ((y + border) * scale + dy) * w + (x + border) * scale, 255, scale);
	char *back = NULL;
	cs_assert_ok(cs__qr_scan_gray(&back, pix, w, w));
	assert_string_equal(back, payload);
	free(back);

	/* and the same picture inverted, as on a dark-on-light terminal */
	for (size_t i = 0; i < (size_t)w * w; i++)
		pix[i] = (uint8_t)(255 - pix[i]);
	cs_assert_ok(cs__qr_scan_gray(&back, pix, w, w));
	assert_string_equal(back, payload);
	free(back);

	free(pix);
	free(grid);
	free(text);
}

static void test_render_text(void **state)
{
	(void)state;
	char *b32 = base32_payload();
	/* 5 bytes of 8-bit data: version 1, 21 modules */
	render_one("hello", 21);
	/* 301 alphanumeric characters: version 10 (57 modules) at level M;
	 * the same in 8-bit mode would need version 13 */
	render_one(b32, 57);
	/* 8-bit UTF-8 text */
	QRcode *qr = NULL;
	cs_assert_ok(cs__qr_encode(&qr, utf8_payload));
	unsigned width = (unsigned)qr->width;
	QRcode_free(qr);
	render_one(utf8_payload, width);
	free(b32);
}

/* Every PNG colour type and bit depth, transparency and interlacing. */
static void test_png_variants(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("qr-variants");
	char *b32 = base32_payload();
	unsigned w;
	uint8_t *gray = qr_gray(&w, b32, 3);
	for (int v = 0; v < V_COUNT; v++) {
		char name[32];
		snprintf(name, sizeof(name), "variant-%d.png", v);
		char *path = path_in(dir, name);
		write_png_variant(path, gray, w, w, (enum variant)v);
		char *back = NULL;
		int r = cs_qr_read_png(&back, path);
		if (r != 0)
			fail_msg("variant %d: %d %s", v, r, cs_error_last());
		assert_string_equal(back, b32);
		free(back);
		free(path);
	}
	free(gray);
	free(b32);
	cs_fs_remove_tree(dir);
	free(dir);
}

static void test_read_errors(void **state)
{
	(void)state;
	char *dir = cs_test_tmpdir("qr-errors");
	static char untouched[] = "untouched";
	char *payload = untouched;
	char *path;

	/* missing file */
	path = path_in(dir, "missing.png");
	assert_int_equal(cs_qr_read_png(&payload, path), CS_ENOTFOUND);
	free(path);

	/* not a PNG: text, empty, a JPEG signature */
	cs_test_write_file(dir, "text.png", "hello world, not a picture\n", 27);
	cs_test_write_file(dir, "empty.png", "", 0);
	cs_test_write_file(dir, "jpeg.png", "\xff\xd8\xff\xe0\0\x10JFIF\0", 11);
	const char *notpng[] = {"text.png", "empty.png", "jpeg.png"};
	for (size_t i = 0; i < 3; i++) {
		path = path_in(dir, notpng[i]);
		assert_int_equal(cs_qr_read_png(&payload, path), CS_EMALFORMED);
		assert_non_null(strstr(cs_error_last(), "not a PNG"));
		free(path);
	}

	/* truncated: a valid file cut in several places */
	path = path_in(dir, "whole.png");
	cs_assert_ok(cs_qr_write_png(path, "some connection information", 0));
	uint8_t *data = NULL;
	size_t len = 0;
	cs_assert_ok(cs_fs_read_all(&data, &len, path, 1 << 20));
	free(path);
	size_t cuts[] = {8, 20, 33, 50, len / 2, len - 13};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		cs_test_write_file(dir, "cut.png", data, cuts[i]);
		path = path_in(dir, "cut.png");
		int r = cs_qr_read_png(&payload, path);
		if (r != CS_ETRUNCATED)
			fail_msg("cut at %zu of %zu: %d %s", cuts[i], len, r, cs_error_last());
		free(path);
	}
	/* cut after the image data (only IEND missing): still readable */
	cs_test_write_file(dir, "noend.png", data, len - 12);
	path = path_in(dir, "noend.png");
	char *back = NULL;
	cs_assert_ok(cs_qr_read_png(&back, path));
	assert_string_equal(back, "some connection information");
	free(back);
	free(path);

	/* corrupt: a flipped bit in IHDR (filter method) fails its CRC;
	 * garbage image data */
	data[27] ^= 0x40;
	cs_test_write_file(dir, "crc.png", data, len);
	path = path_in(dir, "crc.png");
	assert_int_equal(cs_qr_read_png(&payload, path), CS_EMALFORMED);
	free(path);
	data[27] ^= 0x40;
	for (size_t i = 45; i < len - 20; i++)
		data[i] = (uint8_t)(i * 37);
	cs_test_write_file(dir, "garbage.png", data, len);
	path = path_in(dir, "garbage.png");
	int r = cs_qr_read_png(&payload, path);
	assert_true(r == CS_EMALFORMED || r == CS_ETRUNCATED);
	free(path);
	free(data);

	/* no QR code: a blank white image */
	unsigned w = 200;
	uint8_t *white = malloc((size_t)w * w);
	assert_non_null(white);
	memset(white, 255, (size_t)w * w);
	path = path_in(dir, "blank.png");
	write_png_variant(path, white, w, w, V_GRAY8);
	assert_int_equal(cs_qr_read_png(&payload, path), CS_ENOTFOUND);
	free(path);
	free(white);

	/* two QR codes side by side */
	unsigned w1, w2;
	uint8_t *a = qr_gray(&w1, "first code", 4), *b = qr_gray(&w2, "SECOND CODE", 4);
	assert_int_equal(w1, w2);
	uint8_t *two = malloc((size_t)w1 * 2 * w1);
	assert_non_null(two);
	for (unsigned y = 0; y < w1; y++) {
		memcpy(two + (size_t)y * 2 * w1, a + (size_t)y * w1, w1);
		memcpy(two + (size_t)y * 2 * w1 + w1, b + (size_t)y * w1, w1);
	}
	path = path_in(dir, "two.png");
	write_png_variant(path, two, 2 * w1, w1, V_GRAY8);
	assert_int_equal(cs_qr_read_png(&payload, path), CS_EINVAL);
	free(path);
	free(two);
	free(a);
	free(b);

	/* dimensions over the cap, and dimensions the file cannot hold */
	uint8_t hdr[64];
	size_t n = header_only_png(hdr, 9000, 10);
	cs_test_write_file(dir, "wide.png", hdr, n);
	path = path_in(dir, "wide.png");
	assert_int_equal(cs_qr_read_png(&payload, path), CS_ELIMIT);
	free(path);
	n = header_only_png(hdr, 8192, 8192);
	cs_test_write_file(dir, "bomb.png", hdr, n);
	path = path_in(dir, "bomb.png");
	assert_int_equal(cs_qr_read_png(&payload, path), CS_ETRUNCATED);
	free(path);

	/* a file over the size cap is refused before it is read (sparse) */
	path = path_in(dir, "huge.png");
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), (off_t)CS_QR_PNG_MAX_FILE + 1), 0);
	fclose(f);
	assert_int_equal(cs_qr_read_png(&payload, path), CS_ELIMIT);
	free(path);

	/* never touched on failure */
	assert_string_equal(payload, "untouched");
	cs_fs_remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png_roundtrip),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_png_variants),
		cmocka_unit_test(test_read_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
