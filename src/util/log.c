/* logfmt logging (include/certsync/log.h). */
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <certsync/log.h>

static enum cs_log_level min_level = CS_LOG_WARN;
static FILE *log_out;
static const char *log_role;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void cs_log_set_level(enum cs_log_level level) { min_level = level; }
void cs_log_set_output(FILE *f) { log_out = f; }
void cs_log_set_role(const char *role) { log_role = role; }

int cs_log_level_parse(const char *name)
{
	for (int i = 0; i <= CS_LOG_OFF; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void cs_log(enum cs_log_level level, const char *event, const char *fmt, ...)
{
	if (level < min_level || level >= CS_LOG_OFF)
		return;
	FILE *f = log_out ? log_out : stderr;
	struct timeval tv;
	struct tm tm;
	char ts[32];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per part under the stream lock keeps lines whole even
	 * when several threads log. */
	flockfile(f);
	fprintf(f, "ts=%s.%03dZ level=%s", ts, (int)(tv.tv_usec / 1000), level_names[level]);
	if (log_role)
		fprintf(f, " role=%s", log_role);
	fprintf(f, " event=%s", event);
	if (fmt && fmt[0]) {
		va_list ap;
		fputc(' ', f);
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
	}
	fputc('\n', f);
	fflush(f);
	funlockfile(f);
}
