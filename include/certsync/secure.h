#ifndef CERTSYNC_SECURE_H
#define CERTSYNC_SECURE_H
/* Handling of secrets: wiping and constant-time comparison. */
#include <certsync/common.h>

/* Overwrite len bytes at p with zeros in a way the compiler cannot elide. */
CS_EXTERN void cs_wipe(void *p, size_t len);
/* Wipe and free a heap block of len bytes; NULL is a no-op. */
CS_EXTERN void cs_freezero(void *p, size_t len);
/* Wipe and free a NUL-terminated heap string; NULL is a no-op. */
CS_EXTERN void cs_free_secret_str(char *s);
/* 1 when a and b are equal, 0 otherwise; time depends only on len. */
CS_EXTERN int cs_memeq(const void *a, const void *b, size_t len);

#endif
