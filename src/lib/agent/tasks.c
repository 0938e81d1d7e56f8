/* The agent's answers to produce and apply tasks (PROTOCOL §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "agent_internal.h"

static int json_u64(uint64_t *out, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return cs_error_set(CS_EMALFORMED, "task member '%s' missing or not a number", key);
	*out = (uint64_t)json_integer_value(v);
	return CS_OK;
}

static const char *json_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

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

static int produce(cs_agent *ag, json_t *task, uint64_t job, const char *folder)
{
	json_t *dl = json_object_get(task, "destinations");
	size_t n = json_array_size(dl);
	cs_relay_dest *dests = calloc(n ? n : 1, sizeof(*dests));
	cs_cert **certs = calloc(n ? n : 1, sizeof(*certs));
	cs_relay_produce_result res;
	cs_relay_io io;
	int r = CS_OK;
	if (!dests || !certs) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!json_is_array(dl) || n == 0) {
		r = cs_error_set(CS_EMALFORMED, "produce task without destinations");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_array_get(dl, i);
		const char *id = json_str(d, "device"), *pem = json_str(d, "certificate");
		if (!id || !pem || (r = json_u64(&dests[i].history, d, "history")) < 0) {
			r = r < 0 ? r : cs_error_set(CS_EMALFORMED, "malformed destination in task");
			goto done;
		}
		if ((r = cs_cert_from_pem(&certs[i], pem, strlen(pem))) < 0)
			goto done;
		dests[i].device_id = id;
		dests[i].cert = certs[i];
	}
	cs__agent_refresh_crl(ag);
	cs_relay_self self = {ag->key, ag->cert, ag->device_id, ag->ca, ag->crl_pem};
	cs__agent_relay_io(&io, ag);
	r = cs_relay_produce(&res, ag->index, folder, job, &self, dests, n, &io);
	if (r == CS_ECONFLICT) {
		/* A file changed under us: one fresh scan usually settles it. */
		cs_log(CS_LOG_INFO, "agent.produce_retry", "job=%llu reason=\"%s\"",
			(unsigned long long)job, cs_error_last());
		r = cs_relay_produce(&res, ag->index, folder, job, &self, dests, n, &io);
	}
	if (r == 0) {
		char path[96];
		json_t *body = json_pack("{sIsIsIsIsI}", "to_seq", (json_int_t)res.to_seq,
			"records", (json_int_t)res.records, "packs", (json_int_t)res.packs,
			"bytes", (json_int_t)res.bytes, "files", (json_int_t)res.files);
		snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/produced", (unsigned long long)job);
		r = cs__agent_call(NULL, NULL, ag, "POST", path, body, 30000);
		json_decref(body);
	} else if (r != CS_ENET) {
		report_failure(ag, job, "failed", cs_error_last());
	}
done:
	for (size_t i = 0; certs && i < n; i++)
		cs_cert_free(certs[i]);
	free(certs);
	free(dests);
	return r;
}

static int apply(cs_agent *ag, json_t *task, uint64_t job, const char *folder)
{
	cs_relay_apply_request req;
	cs_relay_apply_result res;
	cs_relay_io io;
	cs_cert *src_cert = NULL;
	const char *src = json_str(task, "source"), *pem = json_str(task, "source_certificate");
	int r;
	memset(&req, 0, sizeof(req));
	if (!src || !pem || json_u64(&req.history, task, "history") < 0 ||
	    json_u64(&req.to_seq, task, "to_seq") < 0) {
		r = cs_error_set(CS_EMALFORMED, "malformed apply task");
		report_failure(ag, job, "ack", cs_error_last());
		return r;
	}
	if ((r = cs_cert_from_pem(&src_cert, pem, strlen(pem))) < 0) {
		report_failure(ag, job, "ack", cs_error_last());
		return r;
	}
	req.job = job;
	req.folder = folder;
	req.source_id = src;
	req.source_cert = src_cert;
	cs__agent_refresh_crl(ag);
	cs_relay_self self = {ag->key, ag->cert, ag->device_id, ag->ca, ag->crl_pem};
	cs__agent_relay_io(&io, ag);
	cs_relay_clean_tmp(ag->index, folder);
	r = cs_relay_apply(&res, ag->index, &req, &self, &io);
	if (r == 0) {
		char path[96];
		json_t *body = json_pack("{sssIsIsIsI}", "status", "applied", "to_seq",
			(json_int_t)res.to_seq, "files", (json_int_t)res.files, "bytes",
			(json_int_t)res.bytes, "conflicts", (json_int_t)res.conflicts);
		snprintf(path, sizeof(path), "/v1/agent/jobs/%llu/ack", (unsigned long long)job);
		r = cs__agent_call(NULL, NULL, ag, "POST", path, body, 30000);
		json_decref(body);
	} else if (r != CS_ENET) {
		cs_log(CS_LOG_WARN, "agent.apply_failed", "job=%llu reason=\"%s\"",
			(unsigned long long)job, cs_error_last());
		report_failure(ag, job, "ack", cs_error_last());
	}
	cs_cert_free(src_cert);
	return r;
}

int cs__agent_handle_task(cs_agent *ag, json_t *task)
{
	const char *type = json_str(task, "type");
	const char *folder = json_str(task, "folder");
	uint64_t job;
	char *root = NULL;
	if (type == NULL || folder == NULL || json_u64(&job, task, "job") < 0) {
		cs_log(CS_LOG_WARN, "agent.bad_task", "reason=\"malformed task from hub\"");
		return cs_error_set(CS_EMALFORMED, "malformed task from hub");
	}
	cs_log(CS_LOG_INFO, "agent.task", "type=%s job=%llu folder=%s", type,
		(unsigned long long)job, folder);
	if (cs_index_folder_root(&root, ag->index, folder) < 0) {
		char reason[256];
		snprintf(reason, sizeof(reason), "device does not carry folder %s", folder);
		report_failure(ag, job, strcmp(type, "apply") == 0 ? "ack" : "failed", reason);
		return cs_error_set(CS_ENOTFOUND, "%s", reason);
	}
	free(root);
	if (strcmp(type, "produce") == 0)
		return produce(ag, task, job, folder);
	if (strcmp(type, "apply") == 0)
		return apply(ag, task, job, folder);
	cs_log(CS_LOG_WARN, "agent.unknown_task", "type=%s", type);
	return cs_error_set(CS_EMALFORMED, "unknown task type %s", type);
}
