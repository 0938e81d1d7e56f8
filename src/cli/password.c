/* Reading passwords: from a file or standard input, or from the terminal
 * with echo off (restored even when interrupted). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <certsync/fsutil.h>
#include <certsync/secure.h>
#include "cli.h"
#include "password.h"

#define PASSWORD_MAX 4096

static struct termios saved_tty;
static volatile sig_atomic_t tty_hidden;

/* Ctrl-C at the prompt must not leave the terminal without echo. */
static void restore_tty(int sig)
{
	if (tty_hidden)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One line from the terminal without echo, into buf (newline removed).
 * 0 on success, -1 on end of input or a line too long. */
static int read_hidden(char *buf, size_t n, const char *prompt)
{
	struct termios t;
	int rc = -1;
	fprintf(stderr, "%s", prompt);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return -1;
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_lflag |= ECHONL;
	signal(SIGINT, restore_tty);
	signal(SIGTERM, restore_tty);
	tty_hidden = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0 && fgets(buf, (int)n, stdin) != NULL) {
		size_t len = strlen(buf);
		if (len > 0 && buf[len - 1] == '\n') {
			buf[--len] = '\0';
			rc = 0;
		}
	}
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	tty_hidden = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	return rc;
}

static int read_file(char **out, const char *path)
{
	int from_stdin = strcmp(path, "-") == 0;
	FILE *fp = from_stdin ? stdin : fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0;
	int err = 0;

	if (fp == NULL) {
		fprintf(stderr, "certsync: cannot read %s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((data = malloc(PASSWORD_MAX + 1)) != NULL) {
		len = fread(data, 1, PASSWORD_MAX + 1, fp);
		err = ferror(fp) ? errno : 0;
	}
	if (!from_stdin)
		fclose(fp);
	if (data == NULL)
		return cli_fail("out of memory");
	if (err != 0) {
		cs_freezero(data, PASSWORD_MAX + 1);
		fprintf(stderr, "certsync: cannot read %s: %s\n", from_stdin ? "standard input" : path,
			strerror(err));
		return 1;
	}
	if (len > PASSWORD_MAX) {
		cs_freezero(data, PASSWORD_MAX + 1);
		return cli_usage_error("the password in %s is too long",
			from_stdin ? "standard input" : path);
	}
	data[len] = '\0';
	if (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	if (len > 0 && data[len - 1] == '\r')
		data[--len] = '\0';
	if (strlen((char *)data) != len) {
		cs_freezero(data, PASSWORD_MAX + 1);
		return cli_usage_error("the password must not contain NUL bytes");
	}
	*out = (char *)data;
	return 0;
}

int cli_password_read(char **out, const char *file, const char *prompt, int confirm)
{
	char a[PASSWORD_MAX], b[PASSWORD_MAX];
	*out = NULL;
	if (file != NULL)
		return read_file(out, file);
	if (!isatty(STDIN_FILENO))
		return cli_usage_error("standard input is not a terminal; give --password-file");
	if (read_hidden(a, sizeof(a), prompt) != 0 ||
	    (confirm && read_hidden(b, sizeof(b), "again: ") != 0)) {
		cs_wipe(a, sizeof(a));
		cs_wipe(b, sizeof(b));
		return cli_usage_error("no password given");
	}
	int same = !confirm || strcmp(a, b) == 0;
	cs_wipe(b, sizeof(b));
	if (!same) {
		cs_wipe(a, sizeof(a));
		return cli_usage_error("the two passwords differ; nothing changed");
	}
	*out = strdup(a);
	cs_wipe(a, sizeof(a));
	return *out ? 0 : cli_fail("out of memory");
}
