#ifndef CS_CLI_PASSWORD_H
#define CS_CLI_PASSWORD_H
/* Reading passwords for the commands that need one. */

/* The password from file ("-": standard input; the whole content but one
 * trailing newline), or, when file is NULL, typed on the terminal without
 * echo after prompt (twice when confirm). *out is malloc'd: wipe it with
 * cs_free_secret_str. Returns 0, or the command's exit status after
 * printing why (2 for a usage error, 1 otherwise). */
int cli_password_read(char **out, const char *file, const char *prompt, int confirm);

#endif
