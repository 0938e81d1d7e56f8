#ifndef CERTSYNC_LOG_H
#define CERTSYNC_LOG_H
/*
 * Structured logging in logfmt: one line per event,
 *   ts=2026-01-02T03:04:05.678Z level=info event=job.created job=12 msg="..."
 * The library logs only through this module; the destination and level are
 * chosen by the program. Secrets must never be passed to it.
 */
#include <stdio.h>
#include <certsync/common.h>

enum cs_log_level { CS_LOG_DEBUG = 0, CS_LOG_INFO, CS_LOG_WARN, CS_LOG_ERROR, CS_LOG_OFF };

/* Only events at level or above are written. Default: CS_LOG_WARN. */
CS_EXTERN void cs_log_set_level(enum cs_log_level level);

/* Parse "debug", "info", "warn", "error" or "off"; -1 when unknown. */
CS_EXTERN int cs_log_level_parse(const char *name);

/* Write log lines to f (default stderr). Not owned. */
CS_EXTERN void cs_log_set_output(FILE *f);

/* Set the role tag printed on every line (e.g. "hub", "agent"). Not copied. */
CS_EXTERN void cs_log_set_role(const char *role);

/* Log one event. event is a dotted name; fmt formats key=value pairs that
 * follow it, e.g. cs_log(CS_LOG_INFO, "job.created", "job=%lld", id). */
CS_EXTERN void cs_log(enum cs_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
