/* The device agent's lifecycle and poll loop (include/certsync/agent.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/encoding.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include "agent_internal.h"

#define POLL_WAIT_S 25

int cs_agent_open(cs_agent **out, const char *data_dir)
{
	cs_agent *ag = calloc(1, sizeof(*ag));
	char *key_path = cs__agent_path(data_dir, "device.key");
	char *crt_path = cs__agent_path(data_dir, "device.crt");
	char *ca_path = cs__agent_path(data_dir, "ca.crt");
	char *crl_path = cs__agent_path(data_dir, "crl.pem");
	char *db_path = cs__agent_path(data_dir, "device.db");
	char *url = NULL;
	int r;
	if (!ag || !key_path || !crt_path || !ca_path || !crl_path || !db_path) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	ag->dir = strdup(data_dir);
	if ((r = cs__agent_read_config(data_dir, &ag->name, &ag->hub)) < 0)
		goto done;
	if ((r = cs_key_load(&ag->key, key_path, NULL)) < 0 ||
	    (r = cs_key_device_id(ag->device_id, ag->key)) < 0)
		goto done;
	if ((r = cs_store_open(&ag->store, db_path)) < 0 || (r = cs_index_open(&ag->index, ag->store)) < 0)
		goto done;
	if (ag->hub == NULL || !cs_fs_exists(crt_path)) {
		/* Not enrolled yet: local commands (folders, scans) still work. */
		*out = ag;
		ag = NULL;
		goto done;
	}
	if ((r = cs_cert_load(&ag->cert, crt_path)) < 0 || (r = cs_cert_load(&ag->ca, ca_path)) < 0)
		goto done;
	uint8_t *crl = NULL;
	size_t crl_len = 0;
	if (cs_fs_read_all(&crl, &crl_len, crl_path, 16u << 20) == 0)
		ag->crl_pem = (char *)crl;
	if (asprintf(&url, "https://%s", ag->hub) < 0) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	struct cs_httpc_config cfg = {
		.base_url = url, .ca_path = ca_path, .cert_path = crt_path, .key_path = key_path,
		.cancel = &ag->stop,
	};
	if ((r = cs_httpc_new(&ag->http, &cfg)) < 0 || (r = cs__transfers_new(&ag->transfers, ag, &cfg)) < 0)
		goto done;
	*out = ag;
	ag = NULL;
done:
	cs_agent_free(ag);
	free(key_path);
	free(crt_path);
	free(ca_path);
	free(crl_path);
	free(db_path);
	free(url);
	return r;
}

void cs_agent_free(cs_agent *ag)
{
	if (ag == NULL)
		return;
	cs__transfers_free(ag->transfers);
	cs_httpc_free(ag->http);
	cs_index_close(ag->index);
	cs_store_close(ag->store);
	cs_key_free(ag->key);
	cs_cert_free(ag->cert);
	cs_cert_free(ag->ca);
	free(ag->crl_pem);
	free(ag->dir);
	free(ag->name);
	free(ag->hub);
	free(ag);
}

const char *cs_agent_device_id(const cs_agent *ag) { return ag->device_id; }

void cs_agent_stop(cs_agent *ag) { ag->stop = 1; }

static int valid_folder_id(const char *id)
{
	return cs_text_is_name(id, 64, "._-") && id[0] != '.';
}

int cs_agent_folder_add(cs_agent *ag, const char *folder, const char *path)
{
	char *abs = NULL;
	char rootbuf[4096];
	int r;
	if (!valid_folder_id(folder))
		return cs_error_set(CS_EINVAL, "folder id '%s': use 1 to 64 of A-Z a-z 0-9 . _ -", folder);
	if ((r = cs_fs_mkdirs(path, 0755)) < 0)
		return r;
	if (realpath(path, rootbuf) == NULL)
		return cs_error_set(CS_EIO, "resolve %s", path);
	abs = rootbuf;
	r = cs_index_folder_add(ag->index, folder, abs);
	if (r < 0 && r != CS_EEXISTS)
		return r;
	if (ag->http == NULL)
		return r;
	char url[128];
	snprintf(url, sizeof(url), "/v1/agent/folders/%s", folder);
	int hr = cs__agent_call(NULL, NULL, ag, "PUT", url, NULL, 30000);
	if (hr < 0)
		return cs_error_wrap("folder %s added locally, but the hub was not told", folder);
	return r == CS_EEXISTS ? CS_OK : r;
}

int cs_agent_run(cs_agent *ag, int once)
{
	int resume = 1;
	unsigned backoff = 1;
	if (ag->http == NULL)
		return cs_error_set(CS_ESTATE, "this device is not enrolled; run 'certsync device enroll'");
	cs_log(CS_LOG_INFO, "agent.started", "device=%s hub=%s", ag->device_id, ag->hub);
	while (!ag->stop) {
		char path[96];
		json_t *task = NULL;
		long status = 0;
		snprintf(path, sizeof(path), "/v1/agent/poll?wait=%d%s", once ? 1 : POLL_WAIT_S,
			resume ? "&resume=1" : "");
		int r = cs__agent_call(&task, &status, ag, "GET", path, NULL, (POLL_WAIT_S + 15) * 1000L);
		if (r == CS_EREVOKED || r == CS_EDENIED) {
			return r;
		}
		if (r < 0) {
			cs_log(CS_LOG_WARN, "agent.hub_unreachable", "retry_in=%u reason=\"%s\"", backoff,
				cs_error_last());
			if (once)
				return r;
			for (unsigned i = 0; i < backoff * 10 && !ag->stop; i++)
				usleep(100000);
			backoff = backoff < 16 ? backoff * 2 : 30;
			resume = 1;
			continue;
		}
		backoff = 1;
		resume = 0;
		if (status == 204 || task == NULL) {
			json_decref(task);
			if (once)
				return CS_OK;
			continue;
		}
		r = cs__agent_handle_task(ag, task);
		json_decref(task);
		if (r == CS_ENET)
			resume = 1; /* the hub went away mid-task: ask for it again */
	}
	return CS_OK;
}
