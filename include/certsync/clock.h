#ifndef CERTSYNC_CLOCK_H
#define CERTSYNC_CLOCK_H
/* Wall-clock and monotonic time. */
#include <certsync/common.h>

/* Wall-clock time in milliseconds since the Unix epoch. */
CS_EXTERN int64_t cs_clock_now_ms(void);
/* Wall-clock time in seconds since the Unix epoch. */
CS_EXTERN int64_t cs_clock_now(void);
/* Monotonic milliseconds, for durations and timeouts. */
CS_EXTERN int64_t cs_clock_mono_ms(void);
/* Format epoch seconds as RFC 3339 UTC ("2026-01-02T03:04:05Z") into out. */
CS_EXTERN void cs_clock_format(char out[32], int64_t epoch_seconds);

#endif
