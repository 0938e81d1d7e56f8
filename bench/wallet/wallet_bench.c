/*
 * Offline transfer throughput, in one process (bench/README.md, "wallet"):
 * two wallets with real keys, certificates from a real CA and vouchers the
 * CA signed, exchanging the six messages in memory. Every step runs as in
 * the command (signatures, ECDH, HKDF, MACs, one durable SQLite
 * transaction per state change); only the processes and the channel are
 * left out, which bench/lib/wallet.bash measures separately.
 *
 * Usage: wallet_bench DIR [TRANSFERS]   (DIR must not exist)
 * Prints "key value" lines: transfers, seconds, transfers_per_s, the size
 * of each message type, and p50/p99 of one transfer in milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include <certsync/wallet.h>
#include "lib/wallet/wallet_internal.h"

#define DIE(...) do { fprintf(stderr, "wallet_bench: " __VA_ARGS__); \
	fprintf(stderr, ": %s\n", cs_error_last()); exit(1); } while (0)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A wallet in dir/name with a certificate from ca and nv vouchers of value. */
static cs_wallet *wallet_new(const char *dir, const char *name, cs_ca *ca, int nv, uint64_t value)
{
	char *d = cs_path_join(dir, name), *keyp = d ? cs_path_join(d, "device.key") : NULL;
	char *csr = NULL, id[CS_DEVICE_ID_SIZE];
	cs_key *key = NULL;
	cs_cert *cert = NULL;
	cs_wallet *w = NULL;
	uint8_t *der = NULL, *ca_der = NULL, *body = NULL, *sig = NULL, serial[16] = {0};
	size_t der_len, ca_len, body_len, sig_len;
	struct cs__wl_coin c;
	cs_buf *b = cs_buf_new(4096);

	if (keyp == NULL || b == NULL || cs_fs_mkdirs(d, 0700) < 0 || cs_key_generate(&key) < 0 ||
	    cs_key_save(key, keyp, NULL) < 0 || cs_key_device_id(id, key) < 0 ||
	    cs_csr_new(&csr, key, name) < 0 || cs_ca_issue_device(&cert, ca, csr, NULL, 30) < 0 ||
	    cs_cert_to_der(&der, &der_len, cert) < 0 || cs_cert_to_der(&ca_der, &ca_len, cs_ca_cert(ca)) < 0 ||
	    cs_wallet_open(&w, d) < 0 ||
	    cs__wl_set_identity(w, ca_der, ca_len, der, der_len, "bench", CS_WALLET_AMOUNT_MAX, 1000000) < 0)
		DIE("set up wallet %s", name);
	memcpy(serial, name, strlen(name) < 8 ? strlen(name) : 8);
	for (int i = 0; i < nv; i++) {
		serial[15] = (uint8_t)i;
		cs_buf_reset(b);
		if (cs__wl_voucher_body(&body, &body_len, serial, value, id, "bench", 0) < 0 ||
		    cs_ca_sign(&sig, &sig_len, ca, body, body_len) < 0 ||
		    cs__wl_voucher_pack(b, body, body_len, sig, sig_len) < 0 ||
		    cs__wl_coin_from_voucher(&c, cs_buf_ptr(b), cs_buf_len(b)) < 0 || cs__wl_coin_store(w, &c) < 0)
			DIE("voucher for %s", name);
		cs__wl_coin_clear(&c);
		free(body), free(sig);
	}
	cs_buf_free(b);
	free(der), free(ca_der), free(csr), free(keyp), free(d);
	cs_cert_free(cert);
	cs_key_free(key);
	return w;
}

static size_t sizes[8];

/* One transfer of amount from payer to receiver; 0 or dies. */
static void transfer(cs_wallet *payer, cs_wallet *receiver, uint64_t amount)
{
	cs_wallet_msg m = {0}, a = {0};
	cs_wallet_step st;
	int refusal;

	if (cs_wallet_receive_start(&m, &refusal, receiver, amount) < 0)
		DIE("init (%s)", cs_wallet_refusal_name(refusal));
	for (;;) {
		sizes[cs_wallet_msg_type(m.data, m.len)] = m.len;
		if (cs_wallet_pay_handle(&a, &refusal, &st, payer, m.data, m.len, 0) < 0)
			DIE("payer (%s)", cs_wallet_refusal_name(refusal));
		sizes[cs_wallet_msg_type(a.data, a.len)] = a.len;
		cs_wallet_msg_free(&m);
		if (cs_wallet_receive_handle(&m, &refusal, &st, receiver, a.data, a.len, 0) < 0)
			DIE("receiver (%s)", cs_wallet_refusal_name(refusal));
		cs_wallet_msg_free(&a);
		if (m.len == 0)
			break;
	}
	cs_wallet_msg_free(&m);
}

static int cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: wallet_bench DIR [TRANSFERS]\n");
		return 2;
	}
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 200;
	if (n < 2 || n > 4000) {
		fprintf(stderr, "wallet_bench: TRANSFERS is 2..4000\n");
		return 2;
	}
	char *cadir = cs_path_join(argv[1], "ca");
	cs_ca *ca = NULL;
	if (cadir == NULL || cs_fs_mkdirs(argv[1], 0700) < 0 || cs_ca_create(cadir, "bench hub") < 0 ||
	    cs_ca_open(&ca, cadir) < 0)
		DIE("CA in %s", argv[1]);
	/* value moves both ways so that neither runs dry. A payment extends the
	 * largest coin by a link, so with 64 equal vouchers the payments rotate
	 * over them and no chain nears CS__WL_LINKS_MAX (the command renews long
	 * chains at sync; here there is no hub) */
	cs_wallet *a = wallet_new(argv[1], "a", ca, 64, 100000), *b = wallet_new(argv[1], "b", ca, 64, 100000);
	double *lat = calloc((size_t)n, sizeof(*lat)), t0 = now_s();
	for (long i = 0; i < n; i++) {
		double s = now_s();
		if (i % 2 == 0)
			transfer(a, b, 3);
		else
			transfer(b, a, 2);
		lat[i] = now_s() - s;
	}
	double secs = now_s() - t0;
	qsort(lat, (size_t)n, sizeof(*lat), cmp);
	printf("transfers %ld\nseconds %.3f\ntransfers_per_s %.1f\np50_ms %.2f\np99_ms %.2f\n", n, secs,
		(double)n / secs, lat[n / 2] * 1000, lat[(n * 99) / 100] * 1000);
	for (int t = 1; t <= 6; t++)
		printf("size_%s %zu\n", cs_wallet_msg_type_name(t), sizes[t]);
	cs_wallet_info ia, ib;
	if (cs_wallet_info_get(&ia, a) < 0 || cs_wallet_info_get(&ib, b) < 0)
		DIE("info");
	printf("conserved %d\n", ia.balance + ib.balance == 2 * 64 * 100000);
	cs_wallet_close(a);
	cs_wallet_close(b);
	cs_ca_free(ca);
	free(lat);
	free(cadir);
	return 0;
}
