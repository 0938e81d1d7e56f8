/* The agent's answers to produce and apply tasks (PROTOCOL §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "agent_internal.h"

static void report_failure(cs_agent *ag, uint64_t job, const char *what, const char *reason)
{
	char path[96];
	json_t *body;
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/%s", (unsigned long long)job, what);
	if (strcmp(what, "ack") == 0)
		body = json_pack("{ssss}", "status", "failed", "reason", reason);
	else
		body = json_pack("{ss}", "reason", reason);
	if (cs__agent_call(NULL, NULL, ag, "POST", path, body, 30000) < 0)
		cs_log(CS_LOG_WARN, "agent.report_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)job, cs_error_last());
	json_decref(body);
}

static int produce(cs_agent *ag, const struct cs__agent_task *t)
{
	cs_relay_produce_result res;
	cs_relay_io io;
	cs__agent_refresh_crl(ag);
	cs_relay_self self = {ag->key, ag->cert, ag->device_id, ag->ca, ag->crl_pem};
	cs__agent_relay_io(&io, ag);
	/* A file that changes between its scan and its upload fails the job
	 * (destinations may hold this session's header by then); the next job
	 * carries the change. */
	int r = cs_relay_produce(&res, ag->index, t->folder, t->job, &self, t->dests, t->ndests, &io);
	if (r == 0) {
		char path[96];
		json_t *body = json_pack("{sIsIsIsIsIsI}", "to_seq", (json_int_t)res.to_seq,
			"records", (json_int_t)res.records, "packs", (json_int_t)res.packs,
			"segments", (json_int_t)res.segments, "bytes", (json_int_t)res.bytes,
			"files", (json_int_t)res.files);
		snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/produced", (unsigned long long)t->job);
		r = cs__agent_call(NULL, NULL, ag, "POST", path, body, 30000);
		json_decref(body);
	} else if (r != CS_ENET) {
		cs_log(CS_LOG_WARN, "agent.produce_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)t->job, cs_error_last());
		report_failure(ag, t->job, "failed", cs_error_last());
	}
	return r;
}

/* The job is applied and durable: tell the hub before the index catches up
 * with what was written (cs_relay_io.applied). */
static int acknowledge(void *ud, uint64_t job, const cs_relay_apply_result *res)
{
	char path[96];
	json_t *body = json_pack("{sssIsIsIsI}", "status", "applied", "to_seq",
		(json_int_t)res->to_seq, "files", (json_int_t)res->files, "bytes",
		(json_int_t)res->bytes, "conflicts", (json_int_t)res->conflicts);
	snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/ack", (unsigned long long)job);
	int r = cs__agent_call(NULL, NULL, ud, "POST", path, body, 30000);
	json_decref(body);
	if (r < 0)
		cs_log(CS_LOG_WARN, "agent.ack_failed", "job=%llu reason=\"%s\"", (unsigned long long)job,
			cs_error_last());
	return r;
}

static int apply(cs_agent *ag, const struct cs__agent_task *t)
{
	cs_relay_apply_request req = {t->job, t->folder, t->source, t->source_cert, t->history, t->to_seq};
	cs_relay_apply_result res;
	cs_relay_io io;
	cs__agent_refresh_crl(ag);
	cs_relay_self self = {ag->key, ag->cert, ag->device_id, ag->ca, ag->crl_pem};
	cs__agent_relay_io(&io, ag);
	io.applied = acknowledge;
	cs_relay_clean_tmp(ag->index, t->folder);
	/* Applied and acknowledged, or not. A failed acknowledgement is not a
	 * failed job: the task comes again and finds the work done. */
	int r = cs_relay_apply(&res, ag->index, &req, &self, &io);
	cs__transfers_drop_gets(ag->transfers);
	if (r < 0 && r != CS_ENET && !res.applied) {
		cs_log(CS_LOG_WARN, "agent.apply_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)t->job, cs_error_last());
		report_failure(ag, t->job, "ack", cs_error_last());
	}
	return r;
}

int cs__agent_handle_task(cs_agent *ag, json_t *task)
{
	struct cs__agent_task t;
	char *root = NULL;
	int r = cs__agent_task_parse(&t, task);
	if (r < 0) {
		/* Tell the hub, when we know which job it was, so it does not
		 * hand the same broken task out again. */
		json_t *job = json_object_get(task, "job");
		const char *type = json_string_value(json_object_get(task, "type"));
		cs_log(CS_LOG_WARN, "agent.bad_task", "reason=\"%s\"", cs_error_last());
		if (json_is_integer(job) && json_integer_value(job) > 0 && type)
			report_failure(ag, (uint64_t)json_integer_value(job),
				strcmp(type, "apply") == 0 ? "ack" : "failed", cs_error_last());
		return r;
	}
	cs_log(CS_LOG_INFO, "agent.task", "type=%s job=%llu folder=%s", t.type,
		(unsigned long long)t.job, t.folder);
	if (cs_index_folder_root(&root, ag->index, t.folder) < 0) {
		char reason[256];
		snprintf(reason, sizeof(reason), "device does not carry folder %s", t.folder);
		report_failure(ag, t.job, strcmp(t.type, "apply") == 0 ? "ack" : "failed", reason);
		r = cs_error_set(CS_ENOTFOUND, "%s", reason);
	} else if (strcmp(t.type, "produce") == 0) {
		r = produce(ag, &t);
	} else {
		r = apply(ag, &t);
	}
	free(root);
	cs__agent_task_clear(&t);
	return r;
}
