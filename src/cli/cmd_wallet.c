/*
 * certsync wallet: value carried offline between two devices
 * (include/certsync/wallet.h, PROTOCOL.md §13, docs/wallet.md).
 *
 * Messages travel by file (--in/--out, '-' for standard input/output,
 * one step per run), by a local socket (--listen/--connect: the whole
 * exchange in one run), or over standard input/output (--stdio).
 * Exit status: 0 done, 1 error, 2 usage, 3 refused (the refusal code is
 * printed as "refused: CODE: reason").
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include <certsync/wallet.h>
#include "cli.h"
#include "commands.h"

#define EXIT_REFUSED 3
#define IO_TIMEOUT_MS 60000
#define DATA_OPTION {"data", 'd', "DIR", "device data directory", NULL, NULL, 0}

static char *device_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? strdup(d) : cli_default_data_dir("device");
}

static int open_wallet(cs_wallet **w, char **dir, const struct cli_option *opts)
{
	if ((*dir = device_dir(opts)) == NULL)
		return cli_fail("out of memory");
	if (cs_wallet_open(w, *dir) < 0)
		return cli_fail("open the wallet in %s", *dir);
	return 0;
}

static int refused(int refusal)
{
	fprintf(stderr, "refused: %s: %s\n", cs_wallet_refusal_name(refusal), cs_error_last());
	return EXIT_REFUSED;
}

/* ---- carrying messages ---- */

static int read_file_msg(uint8_t **out, size_t *len, const char *path)
{
	if (strcmp(path, "-") != 0)
		return cs_fs_read_all(out, len, path, CS_WALLET_MSG_MAX);
	size_t cap = 4096, n = 0;
	uint8_t *p = malloc(cap);
	while (p != NULL) {
		if (n == cap) {
			if (cap >= CS_WALLET_MSG_MAX) {
				free(p);
				return cs_error_set(CS_ELIMIT, "standard input holds more than a message");
			}
			uint8_t *q = realloc(p, cap * 2);
			if (q == NULL)
				break;
			p = q;
			cap *= 2;
		}
		ssize_t k = read(0, p + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			free(p);
			return cs_error_set(CS_EIO, "read standard input: %s", strerror(errno));
		}
		if (k == 0) {
			*out = p;
			*len = n;
			return CS_OK;
		}
		n += (size_t)k;
	}
	free(p);
	return cs_error_set(CS_ENOMEM, "out of memory");
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	if (cs_fs_write_fd(fd, p, n) != 0)
		return cs_error_set(CS_EIO, "write: %s", strerror(errno));
	return CS_OK;
}

static int write_file_msg(const char *path, const cs_wallet_msg *m)
{
	if (strcmp(path, "-") == 0)
		return write_all(1, m->data, m->len);
	return cs_fs_write_atomic(path, m->data, m->len, 0600);
}

/* Read exactly n bytes from fd within the timeout; 0 at a clean EOF before
 * the first byte (*eof set). */
static int read_exact(int fd, uint8_t *p, size_t n, int *eof)
{
	size_t got = 0;
	*eof = 0;
	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, IO_TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return cs_error_set(CS_EIO, "the peer sent nothing for %d s", IO_TIMEOUT_MS / 1000);
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return cs_error_set(CS_EIO, "read: %s", strerror(errno));
		if (k == 0) {
			if (got == 0) {
				*eof = 1;
				return CS_OK;
			}
			return cs_error_set(CS_ETRUNCATED, "the peer hung up inside a message");
		}
		got += (size_t)k;
	}
	return CS_OK;
}

/* One frame from a stream: the 9-byte head says how much follows. */
static int read_frame(uint8_t **out, size_t *len, int fd, int *eof)
{
	uint8_t head[9];
	int r = read_exact(fd, head, sizeof(head), eof);
	if (r < 0 || *eof)
		return r;
	if (memcmp(head, "CSW1", 4) != 0)
		return cs_error_set(CS_EMALFORMED, "the peer sent something that is not a wallet message");
	size_t body = (size_t)head[5] << 24 | (size_t)head[6] << 16 | (size_t)head[7] << 8 | head[8];
	size_t n = sizeof(head) + body + 32;
	if (n > CS_WALLET_MSG_MAX)
		return cs_error_set(CS_ELIMIT, "the peer announced a message of %zu bytes", n);
	uint8_t *p = malloc(n);
	if (p == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	memcpy(p, head, sizeof(head));
	int e2;
	if ((r = read_exact(fd, p + sizeof(head), n - sizeof(head), &e2)) < 0 || e2) {
		free(p);
		return r < 0 ? r : cs_error_set(CS_ETRUNCATED, "the peer hung up inside a message");
	}
	*out = p;
	*len = n;
	return CS_OK;
}

static int unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return cs_error_set(CS_EINVAL, "socket path %s is too long", path);
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return CS_OK;
}

static void print_step(const cs_wallet_step *s, const char *role)
{
	if (s->stage == NULL)
		return;
	fprintf(stderr, "%s: %s", role, s->stage);
	if (s->amount)
		fprintf(stderr, " amount %llu", (unsigned long long)s->amount);
	if (s->peer[0])
		fprintf(stderr, " %s %s%s%s%s", strcmp(role, "payer") == 0 ? "to" : "from", s->peer,
			s->peer_name[0] ? " (" : "", s->peer_name, s->peer_name[0] ? ")" : "");
	if (s->counter)
		fprintf(stderr, " transfer #%llu", (unsigned long long)s->counter);
	fputc('\n', stderr);
}

/* ---- pay ---- */

/* Serve instructions on a stream until a transfer completes (or EOF). */
static int pay_stream(cs_wallet *w, int in, int out)
{
	for (;;) {
		uint8_t *msg = NULL;
		size_t len = 0;
		int eof, refusal;
		if (read_frame(&msg, &len, in, &eof) < 0)
			return cli_fail("wallet pay");
		if (eof)
			return cli_fail("the receiver hung up before the transfer completed");
		cs_wallet_msg ans;
		cs_wallet_step step;
		int r = cs_wallet_pay_handle(&ans, &refusal, &step, w, msg, len, 0);
		free(msg);
		if (ans.len && write_all(out, ans.data, ans.len) < 0) {
			cs_wallet_msg_free(&ans);
			return cli_fail("send the answer");
		}
		cs_wallet_msg_free(&ans);
		if (r < 0)
			return refusal ? refused(refusal) : cli_fail("wallet pay");
		print_step(&step, "payer");
		if (step.done)
			return 0;
	}
}

static int wallet_pay(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"in", 'i', "FILE", "the receiver's instruction ('-': standard input)", NULL, NULL, 0},
		{"out", 'o', "FILE", "where the answer goes ('-': standard output)", NULL, NULL, 0},
		{"listen", 'l', "SOCKET", "serve one transfer on a local (Unix) socket", NULL, NULL, 0},
		{"stdio", 0, NULL, "serve one transfer on standard input and output", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts,
		"certsync wallet pay (--in FILE --out FILE | --listen SOCKET | --stdio) [--data DIR]",
		"Answer a receiver's instructions as the payer: init (the amount; answered with this "
		"wallet's random number, ID and certificate), execute (the receiver's signature; this "
		"wallet pays, lowering its balance, and answers with the vouchers and a MAC) and complete "
		"(the receiver's MAC; the transfer is recorded). With --in/--out each run handles one "
		"instruction; with --listen or --stdio one run serves a whole transfer. A refused "
		"instruction changes nothing, writes an error message for the receiver and exits 3.", NULL, 0);
	if (rc >= 0)
		return rc;
	const char *in = cli_get(opts, "in"), *out = cli_get(opts, "out"), *sock = cli_get(opts, "listen");
	int stdio = cli_flag(opts, "stdio");
	if ((in != NULL) + (sock != NULL) + stdio != 1 || (in != NULL) != (out != NULL))
		return cli_usage_error("give one of --in FILE --out FILE, --listen SOCKET or --stdio");
	cs_wallet *w = NULL;
	char *dir = NULL;
	if ((rc = open_wallet(&w, &dir, opts)) != 0)
		goto done;
	if (in != NULL) {
		uint8_t *msg = NULL;
		size_t len = 0;
		int refusal;
		cs_wallet_msg ans;
		cs_wallet_step step;
		if (read_file_msg(&msg, &len, in) < 0) {
			rc = cli_fail("read %s", in);
			goto done;
		}
		int r = cs_wallet_pay_handle(&ans, &refusal, &step, w, msg, len, 0);
		free(msg);
		if (ans.len && write_file_msg(out, &ans) < 0)
			rc = cli_fail("write %s", out);
		cs_wallet_msg_free(&ans);
		if (r < 0)
			rc = refusal ? refused(refusal) : cli_fail("wallet pay");
		else
			print_step(&step, "payer");
	} else if (stdio) {
		rc = pay_stream(w, 0, 1);
	} else {
		struct sockaddr_un sa;
		int ls = -1, cs = -1;
		if (unix_addr(&sa, sock) < 0) {
			rc = cli_fail("--listen");
			goto done;
		}
		unlink(sock);
		/* the socket is made 0600 from the start: no moment in which
		 * another user could connect */
		mode_t old_mask = umask(077);
		int bound = (ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0 &&
			bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		umask(old_mask);
		if (!bound || listen(ls, 1) < 0) {
			cs_error_set(CS_EIO, "%s: %s", sock, strerror(errno));
			rc = cli_fail("listen");
		} else {
			fprintf(stderr, "payer: waiting on %s\n", sock);
			while ((cs = accept(ls, NULL, NULL)) < 0 && errno == EINTR)
				;
			if (cs < 0) {
				cs_error_set(CS_EIO, "accept: %s", strerror(errno));
				rc = cli_fail("listen");
			} else {
				rc = pay_stream(w, cs, cs);
				close(cs);
			}
		}
		if (ls >= 0)
			close(ls);
		unlink(sock);
	}
done:
	cs_wallet_close(w);
	free(dir);
	return rc;
}

/* ---- receive ---- */

/* Drive a whole transfer over a stream. */
static int receive_stream(cs_wallet *w, uint64_t amount, int in, int out)
{
	cs_wallet_msg msg;
	int refusal;
	if (cs_wallet_receive_start(&msg, &refusal, w, amount) < 0)
		return refusal ? refused(refusal) : cli_fail("wallet receive");
	for (;;) {
		int r = write_all(out, msg.data, msg.len);
		cs_wallet_msg_free(&msg);
		if (r < 0)
			return cli_fail("send to the payer");
		uint8_t *ans = NULL;
		size_t len = 0;
		int eof;
		if (read_frame(&ans, &len, in, &eof) < 0)
			return cli_fail("wallet receive");
		if (eof)
			return cli_fail("the payer hung up before the transfer completed");
		cs_wallet_step step;
		r = cs_wallet_receive_handle(&msg, &refusal, &step, w, ans, len, 0);
		free(ans);
		if (r < 0)
			return refusal ? refused(refusal) : cli_fail("wallet receive");
		print_step(&step, "receiver");
		if (msg.len == 0)
			return 0;
	}
}

static int wallet_receive(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"amount", 'a', "N", "start a transfer of N to this wallet", NULL, NULL, 0},
		{"in", 'i', "FILE", "the payer's answer ('-': standard input)", NULL, NULL, 0},
		{"out", 'o', "FILE", "where the next instruction goes ('-': standard output)", NULL, NULL, 0},
		{"resend", 0, NULL, "write the last instruction again (for a channel that lost it)", NULL, NULL, 0},
		{"connect", 'c', "SOCKET", "run the whole transfer with a payer listening on a local socket",
			NULL, NULL, 0},
		{"stdio", 0, NULL, "run the whole transfer over standard input and output", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts,
		"certsync wallet receive (--amount N --out FILE | --in FILE [--out FILE] | --resend --out FILE | "
		"--amount N --connect SOCKET | --amount N --stdio) [--data DIR]",
		"Receive value as the receiver, which drives the transfer: --amount N writes the init "
		"instruction; each --in FILE takes the payer's answer, checks it (certificate, signatures, "
		"vouchers, MAC) and writes the next instruction (execute, then complete, after which the "
		"balance has risen), until the payer's acknowledgement ends the transfer. --connect and "
		"--stdio run all of it in one go. A refused answer changes nothing and exits 3.", NULL, 0);
	if (rc >= 0)
		return rc;
	const char *a = cli_get(opts, "amount"), *in = cli_get(opts, "in"), *out = cli_get(opts, "out");
	const char *sock = cli_get(opts, "connect");
	int stdio = cli_flag(opts, "stdio"), resend = cli_flag(opts, "resend");
	uint64_t amount = a ? cli_count(a, CS_WALLET_AMOUNT_MAX) : 0;
	if (a != NULL && amount == 0)
		return cli_usage_error("--amount must be 1..%llu", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	if ((a != NULL) + (in != NULL) + resend != 1 || ((sock != NULL) + stdio > 0 && a == NULL) ||
	    (sock != NULL) + stdio > 1 || (a != NULL && (sock == NULL && !stdio) && out == NULL) ||
	    (resend && out == NULL))
		return cli_usage_error("give --amount N with --out FILE, --connect SOCKET or --stdio; or --in "
			"FILE; or --resend --out FILE");
	cs_wallet *w = NULL;
	char *dir = NULL;
	cs_wallet_msg msg = {0};
	int refusal;
	if ((rc = open_wallet(&w, &dir, opts)) != 0)
		goto done;
	if (stdio) {
		rc = receive_stream(w, amount, 0, 1);
	} else if (sock != NULL) {
		struct sockaddr_un sa;
		int s = -1;
		if (unix_addr(&sa, sock) < 0 || (s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (cs_error_code() == CS_OK || s >= 0)
				cs_error_set(CS_EIO, "%s: %s", sock, strerror(errno));
			rc = cli_fail("connect");
		} else {
			rc = receive_stream(w, amount, s, s);
		}
		if (s >= 0)
			close(s);
	} else if (a != NULL) {
		if (cs_wallet_receive_start(&msg, &refusal, w, amount) < 0)
			rc = refusal ? refused(refusal) : cli_fail("wallet receive");
		else if (write_file_msg(out, &msg) < 0)
			rc = cli_fail("write %s", out);
		else
			fprintf(stderr, "receiver: init for %llu written to %s\n", (unsigned long long)amount, out);
	} else if (resend) {
		if (cs_wallet_receive_last(&msg, w) < 0)
			rc = cli_fail("resend");
		else if (write_file_msg(out, &msg) < 0)
			rc = cli_fail("write %s", out);
	} else {
		uint8_t *ans = NULL;
		size_t len = 0;
		cs_wallet_step step;
		if (read_file_msg(&ans, &len, in) < 0) {
			rc = cli_fail("read %s", in);
			goto done;
		}
		int r = cs_wallet_receive_handle(&msg, &refusal, &step, w, ans, len, 0);
		free(ans);
		if (r < 0) {
			rc = refusal ? refused(refusal) : cli_fail("wallet receive");
		} else {
			print_step(&step, "receiver");
			if (msg.len) {
				if (out == NULL)
					rc = cli_usage_error("the transfer goes on: give --out FILE for the next instruction");
				else if (write_file_msg(out, &msg) < 0)
					rc = cli_fail("write %s", out);
			}
		}
	}
done:
	cs_wallet_msg_free(&msg);
	cs_wallet_close(w);
	free(dir);
	return rc;
}

/* ---- online ---- */

static void print_online(const cs_wallet_online *o, int sync)
{
	printf("wallet balance   %llu\n", (unsigned long long)o->wallet_balance);
	if (sync)
		printf("hub's view       %llu%s\n", (unsigned long long)o->hub_balance,
			o->hub_balance == o->wallet_balance ? " (agrees)" : " (differs: sync again)");
	printf("account balance  %lld (online, at the hub)\n", (long long)o->online_balance);
	if (o->vouchers_received)
		printf("received         %llu voucher(s) worth %llu%s\n", (unsigned long long)o->vouchers_received,
			(unsigned long long)o->value_received, sync ? " (value in flight, settled by the hub)" : "");
	if (o->vouchers_dropped)
		printf("dropped          %llu voucher(s) the hub knows this wallet spent\n",
			(unsigned long long)o->vouchers_dropped);
	if (o->vouchers_renewed)
		printf("renewed          %llu voucher(s) with long chains exchanged for fresh ones\n",
			(unsigned long long)o->vouchers_renewed);
	if (sync)
		printf("uploaded         %llu voucher(s)\n", (unsigned long long)o->uploaded);
	if (o->conflicts)
		printf("DOUBLE SPENDING  %llu conflict(s) held against this wallet (%llu new); the account "
			"was charged\n", (unsigned long long)o->conflicts, (unsigned long long)o->conflicts_new);
}

static int wallet_load(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"amount", 'a', "N", "how much to take from the account's balance", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync wallet load --amount N [--data DIR]",
		"Online: take N from the account's balance at the hub as a voucher the hub signs (the device "
		"must be logged in: certsync account login). Also renews the wallet certificate and fetches "
		"the hub's offline limits.", NULL, 0);
	if (rc >= 0)
		return rc;
	uint64_t amount = cli_count(cli_get(opts, "amount"), CS_WALLET_AMOUNT_MAX);
	if (amount == 0)
		return cli_usage_error("--amount N is required (1..%llu)", (unsigned long long)CS_WALLET_AMOUNT_MAX);
	char *dir = device_dir(opts);
	cs_wallet_online o;
	if (dir == NULL)
		return cli_fail("out of memory");
	if (cs_wallet_load(&o, dir, amount) < 0)
		rc = cli_fail("wallet load");
	else
		print_online(&o, 0);
	free(dir);
	return rc < 0 ? 0 : rc;
}

static int wallet_sync(int argc, char **argv)
{
	struct cli_option opts[] = {DATA_OPTION, CLI_OPTIONS_END};
	int rc = cli_parse_args(argc, argv, opts, "certsync wallet sync [--data DIR]",
		"Online: upload every voucher held and every one paid since the last sync; the hub checks "
		"every signature, records the transfers, settles value in flight (this wallet receives what "
		"the ledger says it owns and does not hold) and catches double spending. Also renews the "
		"wallet certificate and resets the count of offline transfers.", NULL, 0);
	if (rc >= 0)
		return rc;
	char *dir = device_dir(opts);
	cs_wallet_online o;
	if (dir == NULL)
		return cli_fail("out of memory");
	if (cs_wallet_sync(&o, dir) < 0)
		rc = cli_fail("wallet sync");
	else
		print_online(&o, 1);
	free(dir);
	return rc < 0 ? 0 : rc;
}

/* ---- local views ---- */

static int wallet_balance(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"json", 0, NULL, "print JSON", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync wallet balance [--data DIR] [--json]",
		"Show the balance (the sum of the vouchers held), the transfer counter, the offline limits "
		"and the state of a transfer in progress.", NULL, 0);
	if (rc >= 0)
		return rc;
	cs_wallet *w = NULL;
	char *dir = NULL;
	cs_wallet_info in;
	if ((rc = open_wallet(&w, &dir, opts)) == 0 && cs_wallet_info_get(&in, w) < 0)
		rc = cli_fail("wallet balance");
	if (rc == 0 && cli_flag(opts, "json")) {
		printf("{\"device\": \"%s\", \"account\": \"%s\", \"balance\": %llu, \"vouchers\": %llu, "
			"\"counter\": %llu, \"since_sync\": %llu, \"max_amount\": %llu, \"max_transfers\": %llu, "
			"\"cert_expires\": %lld, \"last_sync\": %lld, \"unsettled\": %llu, \"payer_state\": \"%s\", "
			"\"receiver_state\": \"%s\"}\n", in.device, in.account, (unsigned long long)in.balance,
			(unsigned long long)in.vouchers, (unsigned long long)in.counter,
			(unsigned long long)in.since_sync, (unsigned long long)in.max_amount,
			(unsigned long long)in.max_transfers, (long long)in.cert_expires, (long long)in.last_sync,
			(unsigned long long)in.unsettled, in.payer_state, in.receiver_state);
	} else if (rc == 0) {
		char exp[32] = "none (load or sync online first)", last[32] = "never";
		if (in.cert_expires)
			cs_clock_format(exp, in.cert_expires);
		if (in.last_sync)
			cs_clock_format(last, in.last_sync);
		printf("balance        %llu in %llu voucher(s)\ndevice         %s\naccount        %s\n"
			"transfers      %llu paid, %llu since the last sync (limit %llu)\nlargest        %llu per "
			"transfer\ncertificate    until %s\nlast sync      %s\nunconfirmed    %llu transfer(s)\n"
			"in progress    payer %s, receiver %s\n", (unsigned long long)in.balance,
			(unsigned long long)in.vouchers, in.device, in.account[0] ? in.account : "-",
			(unsigned long long)in.counter, (unsigned long long)in.since_sync,
			(unsigned long long)in.max_transfers, (unsigned long long)in.max_amount, exp, last,
			(unsigned long long)in.unsettled, in.payer_state, in.receiver_state);
	}
	cs_wallet_close(w);
	free(dir);
	return rc;
}

static int print_entry(void *ud, const cs_wallet_entry *e)
{
	int json = *(int *)ud;
	char when[32];
	cs_clock_format(when, e->time);
	if (json)
		printf("{\"id\": %lld, \"time\": %lld, \"kind\": \"%s\", \"peer\": \"%s\", \"amount\": %llu, "
			"\"counter\": %llu, \"state\": \"%s\"}\n", (long long)e->id, (long long)e->time, e->kind,
			e->peer, (unsigned long long)e->amount, (unsigned long long)e->counter, e->state);
	else
		printf("%-5lld %s  %-8s %10llu  %-15s %s%s%s\n", (long long)e->id, when, e->kind,
			(unsigned long long)e->amount, e->state, e->peer, e->peer_name[0] ? " " : "", e->peer_name);
	return 0;
}

static int wallet_history(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"json", 0, NULL, "print one JSON object per line", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync wallet history [--data DIR] [--json]",
		"List loads, payments, receipts and what a sync settled or dropped, oldest first.", NULL, 0);
	if (rc >= 0)
		return rc;
	cs_wallet *w = NULL;
	char *dir = NULL;
	int json = cli_flag(opts, "json");
	if ((rc = open_wallet(&w, &dir, opts)) == 0) {
		if (!json)
			printf("%-5s %-20s  %-8s %10s  %-15s %s\n", "ID", "TIME", "KIND", "AMOUNT", "STATE", "PEER");
		if (cs_wallet_history(w, print_entry, &json) < 0)
			rc = cli_fail("wallet history");
	}
	cs_wallet_close(w);
	free(dir);
	return rc;
}

static int wallet_limits(int argc, char **argv)
{
	struct cli_option opts[] = {
		DATA_OPTION,
		{"max-amount", 0, "N", "largest transfer, paid or received", NULL, NULL, 0},
		{"max-transfers", 0, "N", "transfers this wallet may pay between two syncs", NULL, NULL, 0},
		CLI_OPTIONS_END,
	};
	int rc = cli_parse_args(argc, argv, opts, "certsync wallet limits [--max-amount N] [--max-transfers N] [--data DIR]",
		"Show or set the wallet's offline limits. The hub sets the highest values (hub.json "
		"wallet_max_amount, wallet_max_transfers); a wallet may set lower ones. They bound what a "
		"lost or cloned device can spend before the next sync.", NULL, 0);
	if (rc >= 0)
		return rc;
	const char *ma = cli_get(opts, "max-amount"), *mt = cli_get(opts, "max-transfers");
	uint64_t a = ma ? cli_count(ma, CS_WALLET_AMOUNT_MAX) : 0, t = mt ? cli_count(mt, CS_WALLET_AMOUNT_MAX) : 0;
	if ((ma && a == 0) || (mt && t == 0))
		return cli_usage_error("limits are positive numbers");
	cs_wallet *w = NULL;
	char *dir = NULL;
	cs_wallet_info in;
	if ((rc = open_wallet(&w, &dir, opts)) == 0) {
		if ((a || t) && cs_wallet_limits_set(w, a, t) < 0)
			rc = cli_fail("wallet limits");
		else if (cs_wallet_info_get(&in, w) < 0)
			rc = cli_fail("wallet limits");
		else
			printf("max amount     %llu per transfer\nmax transfers  %llu between syncs\n",
				(unsigned long long)in.max_amount, (unsigned long long)in.max_transfers);
	}
	cs_wallet_close(w);
	free(dir);
	return rc;
}

static const struct cli_command wallet_commands[] = {
	{"load", wallet_load, "online: take value from the account as a voucher"},
	{"pay", wallet_pay, "offline: answer a receiver's instructions and pay"},
	{"receive", wallet_receive, "offline: drive a transfer to this wallet"},
	{"balance", wallet_balance, "show the balance, counter and limits"},
	{"history", wallet_history, "list what the wallet did"},
	{"sync", wallet_sync, "online: upload the log, settle with the hub, fetch the result"},
	{"limits", wallet_limits, "show or lower the offline limits"},
	{NULL, NULL, NULL},
};

int cmd_wallet(int argc, char **argv)
{
	cs_log_set_role("wallet");
	signal(SIGPIPE, SIG_IGN);
	return cli_dispatch(argc, argv, wallet_commands, "certsync wallet");
}
