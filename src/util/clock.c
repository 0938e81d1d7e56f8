/* Time sources (include/certsync/clock.h). */
#include <stdio.h>
#include <time.h>
#include <certsync/clock.h>

int64_t cs_clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cs_clock_now(void)
{
	return (int64_t)time(NULL);
}

int64_t cs_clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cs_clock_format(char out[32], int64_t epoch_seconds)
{
	time_t t = (time_t)epoch_seconds;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)epoch_seconds);
}
