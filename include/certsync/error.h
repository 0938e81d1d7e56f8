#ifndef CERTSYNC_ERROR_H
#define CERTSYNC_ERROR_H
/*
 * Thread-local last error, in the manner of libgit2's git_error_last():
 * a failing function stores a code and a message and returns the code.
 */
#include <certsync/common.h>

/* Record code and a printf-style message as this thread's last error.
 * Returns code, so that callers can write `return cs_error_set(...)`. */
CS_EXTERN int cs_error_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message with "context: ", keeping the code. Returns the
 * current code. Used when an error travels up through layers. */
CS_EXTERN int cs_error_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last error message of this thread; never NULL ("" when none). */
CS_EXTERN const char *cs_error_last(void);

/* The last error code of this thread (CS_OK when none). */
CS_EXTERN int cs_error_code(void);

/* Forget the last error of this thread. */
CS_EXTERN void cs_error_clear(void);

/* A short constant description of a CS_E* code, e.g. "not found". */
CS_EXTERN const char *cs_strerror(int code);

/* A stable identifier for a code, e.g. "not_found", for JSON error bodies. */
CS_EXTERN const char *cs_error_name(int code);

#endif
