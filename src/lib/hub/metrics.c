/* GET /metrics: Prometheus text exposition of the hub's counters and gauges. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/clock.h>
#include "hub/hub_internal.h"

#define METRICS_MAX (256u << 10)

static void put(cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(cs_buf *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		cs_buf_put(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static int64_t count(cs_hub *hub, const char *sql, const char *arg)
{
	cs_stmt *q = NULL;
	int64_t v = 0;
	if (cs_store_prepare(&q, hub->db, sql) < 0)
		return 0;
	if (arg)
		cs_stmt_bind_text(q, 1, arg);
	if (cs_stmt_step(q) == 1)
		v = cs_stmt_int64(q, 0);
	cs_stmt_free(q);
	return v;
}

void cs__hub_metrics(cs_http_req *req, void *ud)
{
	cs_hub *hub = ud;
	cs_buf *b = cs_buf_new(METRICS_MAX);
	if (b == NULL) {
		cs__hub_reply_error(hub, req, 500, "error", "out of memory");
		return;
	}
	/* count this scrape before writing, so the counter is consistent */
	cs__hub_count(hub, 200);
	put(b, "# HELP certsync_hub_requests_total HTTP requests answered, by status code.\n"
		"# TYPE certsync_hub_requests_total counter\n");
	for (int s = 100; s < 600; s++)
		if (hub->m.requests[s])
			put(b, "certsync_hub_requests_total{code=\"%d\"} %llu\n", s,
				(unsigned long long)hub->m.requests[s]);
	put(b, "# HELP certsync_hub_blob_bytes_received_total Ciphertext bytes uploaded by sources.\n"
		"# TYPE certsync_hub_blob_bytes_received_total counter\n"
		"certsync_hub_blob_bytes_received_total %llu\n",
		(unsigned long long)hub->m.blob_bytes_received);
	put(b, "# HELP certsync_hub_blob_bytes_sent_total Ciphertext bytes downloaded by devices.\n"
		"# TYPE certsync_hub_blob_bytes_sent_total counter\n"
		"certsync_hub_blob_bytes_sent_total %llu\n", (unsigned long long)hub->m.blob_bytes_sent);
	put(b, "# HELP certsync_hub_chunk_records_received_total Data records received in packs "
		"p<N> (not header, trailer or manifest segments).\n"
		"# TYPE certsync_hub_chunk_records_received_total counter\n"
		"certsync_hub_chunk_records_received_total %llu\n",
		(unsigned long long)hub->m.chunk_records_received);
	put(b, "# HELP certsync_hub_blob_uploads_total Blobs uploaded.\n"
		"# TYPE certsync_hub_blob_uploads_total counter\n"
		"certsync_hub_blob_uploads_total %llu\n", (unsigned long long)hub->m.blob_uploads);
	put(b, "# HELP certsync_hub_blob_reads_total Blobs handed to devices, by where they came from.\n"
		"# TYPE certsync_hub_blob_reads_total counter\n"
		"certsync_hub_blob_reads_total{from=\"memory\"} %llu\n"
		"certsync_hub_blob_reads_total{from=\"disk\"} %llu\n",
		(unsigned long long)hub->m.blob_reads_memory, (unsigned long long)hub->m.blob_reads_disk);
	put(b, "# HELP certsync_hub_blob_downloads_held Downloads waiting for a pack not uploaded yet.\n"
		"# TYPE certsync_hub_blob_downloads_held gauge\n"
		"certsync_hub_blob_downloads_held %zu\n", cs__blob_waiting(hub));
	put(b, "# HELP certsync_hub_jobs_total Jobs by state.\n# TYPE certsync_hub_jobs_total gauge\n");
	static const char *const job_states[] = {"producing", "delivering", "done", "failed"};
	for (size_t i = 0; i < 4; i++)
		put(b, "certsync_hub_jobs_total{state=\"%s\"} %lld\n", job_states[i],
			(long long)count(hub, "SELECT COUNT(*) FROM jobs WHERE state = ?", job_states[i]));
	put(b, "# HELP certsync_hub_devices Registered devices by state.\n"
		"# TYPE certsync_hub_devices gauge\n");
	put(b, "certsync_hub_devices{state=\"active\"} %lld\n",
		(long long)count(hub, "SELECT COUNT(*) FROM devices WHERE status = ?", "active"));
	put(b, "certsync_hub_devices{state=\"revoked\"} %lld\n",
		(long long)count(hub, "SELECT COUNT(*) FROM devices WHERE status = ?", "revoked"));
	int64_t online = 0;
	for (struct cs__waiter *w = hub->waiters; w; w = w->next)
		online++;
	put(b, "certsync_hub_devices{state=\"polling\"} %lld\n", (long long)online);
	put(b, "# HELP certsync_hub_relay_bytes_stored Ciphertext bytes held by the relay.\n"
		"# TYPE certsync_hub_relay_bytes_stored gauge\n"
		"certsync_hub_relay_bytes_stored %lld\n", (long long)cs__relay_stored_bytes(hub));
	put(b, "# HELP certsync_hub_relay_quota_bytes The relay quota.\n"
		"# TYPE certsync_hub_relay_quota_bytes gauge\n"
		"certsync_hub_relay_quota_bytes %lld\n", (long long)hub->cfg.relay_quota_bytes);
	put(b, "# HELP certsync_hub_account_logins_total Account logins finished by this process, "
		"by result.\n# TYPE certsync_hub_account_logins_total counter\n");
	put(b, "certsync_hub_account_logins_total{result=\"ok\"} %llu\n",
		(unsigned long long)hub->m.acct_logins_ok);
	put(b, "certsync_hub_account_logins_total{result=\"failed\"} %llu\n",
		(unsigned long long)hub->m.acct_logins_failed);
	put(b, "certsync_hub_account_logins_total{result=\"disabled\"} %llu\n",
		(unsigned long long)hub->m.acct_logins_disabled);
	put(b, "# HELP certsync_hub_account_requests_total Sealed account calls that passed "
		"authentication.\n# TYPE certsync_hub_account_requests_total counter\n"
		"certsync_hub_account_requests_total %llu\n", (unsigned long long)hub->m.acct_requests);
	put(b, "# HELP certsync_hub_account_refused_total Sealed account calls refused before "
		"their body was read (PROTOCOL.md 11.4).\n"
		"# TYPE certsync_hub_account_refused_total counter\n"
		"certsync_hub_account_refused_total %llu\n", (unsigned long long)hub->m.acct_refused);
	put(b, "# HELP certsync_hub_wallet_requests_total Wallet calls answered by this process, by "
		"call and result.\n# TYPE certsync_hub_wallet_requests_total counter\n");
	put(b, "certsync_hub_wallet_requests_total{call=\"load\",result=\"ok\"} %llu\n",
		(unsigned long long)hub->m.wallet_loads);
	put(b, "certsync_hub_wallet_requests_total{call=\"sync\",result=\"ok\"} %llu\n",
		(unsigned long long)hub->m.wallet_syncs);
	put(b, "certsync_hub_wallet_requests_total{result=\"refused\"} %llu\n",
		(unsigned long long)hub->m.wallet_refused);
	put(b, "# HELP certsync_hub_wallet_double_spends_total Double spends found by this process.\n"
		"# TYPE certsync_hub_wallet_double_spends_total counter\n"
		"certsync_hub_wallet_double_spends_total %llu\n", (unsigned long long)hub->m.wallet_conflicts);
	put(b, "# HELP certsync_hub_account_records_written_total Account records written "
		"(deletions included).\n# TYPE certsync_hub_account_records_written_total counter\n"
		"certsync_hub_account_records_written_total %llu\n",
		(unsigned long long)hub->m.acct_records_written);
	put(b, "# HELP certsync_hub_account_bytes_received_total Record payload bytes written.\n"
		"# TYPE certsync_hub_account_bytes_received_total counter\n"
		"certsync_hub_account_bytes_received_total %llu\n",
		(unsigned long long)hub->m.acct_bytes_received);
	put(b, "# HELP certsync_hub_account_bytes_sent_total Record payload bytes answered.\n"
		"# TYPE certsync_hub_account_bytes_sent_total counter\n"
		"certsync_hub_account_bytes_sent_total %llu\n",
		(unsigned long long)hub->m.acct_bytes_sent);
	put(b, "# HELP certsync_hub_accounts Sync accounts by state.\n"
		"# TYPE certsync_hub_accounts gauge\n");
	put(b, "certsync_hub_accounts{state=\"active\"} %lld\n",
		(long long)count(hub, "SELECT COUNT(*) FROM accounts WHERE disabled = 0", NULL));
	put(b, "certsync_hub_accounts{state=\"disabled\"} %lld\n",
		(long long)count(hub, "SELECT COUNT(*) FROM accounts WHERE disabled = 1", NULL));
	cs_http_reply(req, 200, "text/plain; version=0.0.4", cs_buf_ptr(b), cs_buf_len(b));
	cs_buf_free(b);
}
