#ifndef CERTSYNC_BUF_H
#define CERTSYNC_BUF_H
/*
 * Bounded byte buffer for building and parsing wire formats, after
 * OpenSSH's sshbuf. Every buffer has a maximum size; integers are big-endian;
 * strings are a u32 length followed by the bytes. Readers consume from the
 * front. Getters move results to the caller only on success and return
 * CS_ETRUNCATED when bytes are missing, CS_EMALFORMED for bad content and
 * CS_ELIMIT when a declared length exceeds the caller's cap.
 *
 * The struct is visible so that a read-only view can live on the stack
 * (cs_buf_view); its fields are private.
 */
#include <certsync/common.h>

typedef struct cs_buf {
	uint8_t *data;
	size_t off;   /* read position */
	size_t len;   /* end of valid data */
	size_t alloc; /* allocated bytes; 0 for a view */
	size_t max;   /* never grow beyond this */
	int readonly;
} cs_buf;

/* Allocate an empty buffer that will never hold more than max bytes.
 * Free with cs_buf_free. Returns NULL on allocation failure. */
CS_EXTERN cs_buf *cs_buf_new(size_t max);

/* Free b and wipe its contents; NULL is a no-op. */
CS_EXTERN void cs_buf_free(cs_buf *b);

/* Initialise *b as a read-only view of data[0..len). No allocation; the view
 * must not outlive data and needs no free. */
CS_EXTERN void cs_buf_view(cs_buf *b, const void *data, size_t len);

/* Pointer to the unread bytes and their count. */
CS_EXTERN const uint8_t *cs_buf_ptr(const cs_buf *b);
CS_EXTERN size_t cs_buf_len(const cs_buf *b);

/* Drop all contents (and wipe them). */
CS_EXTERN void cs_buf_reset(cs_buf *b);

/* Hand the unread bytes to the caller as a malloc'd block (*out, *len) and
 * leave b empty. The block is NUL-terminated one past *len for convenience. */
CS_EXTERN int cs_buf_steal(uint8_t **out, size_t *len, cs_buf *b);

/* Appending; CS_ELIMIT when the maximum would be exceeded. */
CS_EXTERN int cs_buf_put(cs_buf *b, const void *data, size_t len);
CS_EXTERN int cs_buf_put_u8(cs_buf *b, uint8_t v);
CS_EXTERN int cs_buf_put_u16(cs_buf *b, uint16_t v);
CS_EXTERN int cs_buf_put_u32(cs_buf *b, uint32_t v);
CS_EXTERN int cs_buf_put_u64(cs_buf *b, uint64_t v);
/* u32 length, then the bytes. */
CS_EXTERN int cs_buf_put_string(cs_buf *b, const void *data, size_t len);
/* u32 length, then strlen(s) bytes, no terminator. */
CS_EXTERN int cs_buf_put_cstring(cs_buf *b, const char *s);
/* Reserve len bytes at the end and return a pointer to them in *out. */
CS_EXTERN int cs_buf_reserve(uint8_t **out, cs_buf *b, size_t len);

/* Consuming reads. */
CS_EXTERN int cs_buf_get(cs_buf *b, void *out, size_t len);
CS_EXTERN int cs_buf_get_u8(cs_buf *b, uint8_t *out);
CS_EXTERN int cs_buf_get_u16(cs_buf *b, uint16_t *out);
CS_EXTERN int cs_buf_get_u32(cs_buf *b, uint32_t *out);
CS_EXTERN int cs_buf_get_u64(cs_buf *b, uint64_t *out);
/* A length-prefixed string, returned as a pointer into b (valid while b's
 * data is). CS_ELIMIT when the declared length exceeds max. */
CS_EXTERN int cs_buf_get_string_direct(cs_buf *b, const uint8_t **out, size_t *len, size_t max);
/* A length-prefixed string copied into a new NUL-terminated heap string.
 * Rejects embedded NUL bytes (CS_EMALFORMED) and lengths above max. */
CS_EXTERN int cs_buf_get_cstring(cs_buf *b, char **out, size_t max);
/* Skip len bytes. */
CS_EXTERN int cs_buf_skip(cs_buf *b, size_t len);
/* CS_OK when nothing is left unread, else CS_ETRAILING. */
CS_EXTERN int cs_buf_expect_end(const cs_buf *b);

#endif
