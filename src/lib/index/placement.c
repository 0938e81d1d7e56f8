/*
 * Helpers shared by the engines that write synced files into a folder
 * (relay/apply.c, account/sync.c): conflict-copy names and file times.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <certsync/error.h>
#include <certsync/index.h>

void cs_conflict_name(char *out, size_t n, const char *full, const char *device_id)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	const char *base = strrchr(full, '/');
	base = base ? base + 1 : full;
	const char *dot = strrchr(base, '.');
	if (dot == NULL || dot == base)
		dot = base + strlen(base);
	snprintf(out, n, "%.*s.sync-conflict-%s-%.7s%s", (int)(dot - full), full, stamp, device_id, dot);
}

int cs_file_set_mtime(int fd, const char *full, int64_t mtime_ns)
{
	struct timespec ts[2];
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)(mtime_ns / 1000000000);
	ts[1].tv_nsec = (long)(mtime_ns % 1000000000);
	if (ts[1].tv_nsec < 0) {
		ts[1].tv_nsec += 1000000000;
		ts[1].tv_sec--;
	}
	int r = fd >= 0 ? futimens(fd, ts) : utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW);
	return r == 0 ? CS_OK : cs_error_set(CS_EIO, "set time of %s: %s", full, strerror(errno));
}
