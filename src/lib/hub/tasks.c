/*
 * Per-device task queues and the long polls that deliver them
 * (GET /v1/agent/poll). A task is queued in the database in the same
 * transaction as the state change that creates it, handed out (delivered)
 * when the device polls, and done when the device reports the outcome; a
 * delivered task whose device went quiet for the lease, or that restarted
 * (resume=1), is handed out again. So a hub or agent killed at any moment
 * loses no task.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

#define LEASE_CHECK_TICKS 20 /* look for lease-expired tasks every 20 ticks */

static void wake_note(cs_hub *hub, const char *device)
{
	for (size_t i = 0; i < hub->nwake; i++)
		if (strcmp(hub->wake[i], device) == 0)
			return;
	if (hub->nwake == hub->wake_alloc) {
		size_t na = hub->wake_alloc ? hub->wake_alloc * 2 : 16;
		void *p = realloc(hub->wake, na * sizeof(*hub->wake));
		if (p == NULL)
			return; /* the device still gets the task at its next poll */
		hub->wake = p;
		hub->wake_alloc = na;
	}
	snprintf(hub->wake[hub->nwake++], CS_DEVICE_ID_SIZE, "%s", device);
}

int cs__hub_task_add_tx(cs_hub *hub, const char *device, int64_t job, const char *type,
	json_t *payload)
{
	char *text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	int r = cs__db_exec(hub->db,
		"INSERT INTO tasks (device, job, type, payload, state, created) "
		"VALUES (?, ?, ?, ?, 'queued', ?)",
		CS__DB_ARGS(CS__DB_T(device), CS__DB_I(job), CS__DB_T(type), CS__DB_T(text),
			CS__DB_I(cs_clock_now())));
	free(text);
	if (r == 0)
		wake_note(hub, device);
	return r;
}

int cs__hub_task_done_tx(cs_hub *hub, int64_t job, const char *device, const char *type)
{
	return cs__db_exec(hub->db,
		"UPDATE tasks SET state = 'done' WHERE job = ?1 AND (?2 IS NULL OR device = ?2) "
		"AND (?3 IS NULL OR type = ?3) AND state != 'done'",
		CS__DB_ARGS(CS__DB_I(job), CS__DB_T(device), CS__DB_T(type)));
}

int cs__hub_tasks_resume(cs_hub *hub, const char *device)
{
	return cs__db_exec(hub->db,
		"UPDATE tasks SET state = 'queued' WHERE device = ? AND state = 'delivered'",
		CS__DB_ARGS(CS__DB_T(device)));
}

int cs__hub_task_next(cs_hub *hub, json_t **task_out, const char *device)
{
	cs_stmt *q = NULL;
	json_t *task = NULL;
	json_error_t err;
	int64_t now = cs_clock_now();
	int r;

	*task_out = NULL;
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT id, job, type, payload FROM tasks WHERE device = ? AND (state = 'queued' "
		     "OR (state = 'delivered' AND delivered_at <= ?)) ORDER BY id LIMIT 1")) < 0)
		return r;
	cs_stmt_bind_text(q, 1, device);
	cs_stmt_bind_int64(q, 2, now - CS__HUB_LEASE_S);
	if ((r = cs_stmt_step(q)) <= 0) {
		cs_stmt_free(q);
		return r;
	}
	int64_t id = cs_stmt_int64(q, 0), job = cs_stmt_int64(q, 1);
	int apply = strcmp(cs_stmt_text(q, 2), "apply") == 0;
	task = json_loads(cs_stmt_text(q, 3), 0, &err);
	cs_stmt_free(q);
	if (task == NULL || json_object_set_new(task, "task", json_integer(id)) < 0) {
		json_decref(task);
		return cs_error_set(CS_EDB, "task %lld has a damaged payload", (long long)id);
	}
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "UPDATE tasks SET state = 'delivered', delivered_at = ? WHERE id = ?",
		     CS__DB_ARGS(CS__DB_I(now), CS__DB_I(id)))) < 0)
		goto fail;
	if (apply && (r = cs__db_exec(hub->db,
			      "UPDATE job_dests SET state = 'sending', updated = ? "
			      "WHERE job = ? AND device = ? AND state = 'queued'",
			      CS__DB_ARGS(CS__DB_I(now), CS__DB_I(job), CS__DB_T(device)))) < 0)
		goto fail;
	if ((r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "task.delivered", "task=%lld job=%lld device=%s type=%s", (long long)id,
		(long long)job, device, apply ? "apply" : "produce");
	*task_out = task;
	task = NULL;
	r = CS_OK;
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	json_decref(task);
	return r;
}

/* ---- long polls ---- */

static void waiter_unlink(cs_hub *hub, struct cs__waiter *w)
{
	for (struct cs__waiter **pp = &hub->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void on_close(cs_http_req *req, void *ud)
{
	(void)req;
	struct cs__waiter *w = ud;
	/* the client went away; req is released by the server */
	waiter_unlink(w->hub, w);
	free(w);
}

/* Answer and forget a waiter: with the task, or 204 when task is NULL. */
static void waiter_finish(cs_hub *hub, struct cs__waiter *w, json_t *task)
{
	waiter_unlink(hub, w);
	if (task)
		cs__hub_reply_json(hub, w->req, 200, task);
	else
		cs__hub_reply(hub, w->req, 204, NULL, NULL, 0);
	free(w);
}

static struct cs__waiter *waiter_find(cs_hub *hub, const char *device)
{
	for (struct cs__waiter *w = hub->waiters; w; w = w->next)
		if (strcmp(w->device, device) == 0)
			return w;
	return NULL;
}

int cs__hub_waiter_exists(cs_hub *hub, const char *device)
{
	return waiter_find(hub, device) != NULL;
}

void cs__hub_waiter_add(cs_hub *hub, cs_http_req *req, const char *device, int wait_s)
{
	struct cs__waiter *old = waiter_find(hub, device);
	/* one poll per device: a newer poll supersedes an older one (the agent
	 * reconnected, or a second agent runs with the same identity) */
	if (old)
		waiter_finish(hub, old, NULL);
	if (wait_s <= 0) {
		cs__hub_reply(hub, req, 204, NULL, NULL, 0);
		return;
	}
	struct cs__waiter *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		cs__hub_reply_error(hub, req, 503, "error", "out of memory");
		return;
	}
	w->hub = hub;
	w->req = req;
	snprintf(w->device, sizeof(w->device), "%s", device);
	w->deadline_ms = cs_clock_mono_ms() + (int64_t)wait_s * 1000;
	w->next = hub->waiters;
	hub->waiters = w;
	cs_http_req_on_close(req, on_close, w);
}

/* Hand the device's next task to its waiting poll, if both exist. */
static void deliver(cs_hub *hub, struct cs__waiter *w)
{
	json_t *task = NULL;
	if (cs__hub_task_next(hub, &task, w->device) < 0) {
		cs_log(CS_LOG_ERROR, "task.deliver_failed", "device=%s error=\"%s\"", w->device,
			cs_error_last());
		return;
	}
	if (task)
		waiter_finish(hub, w, task);
}

void cs__hub_wake_flush(cs_hub *hub)
{
	/* the list may be extended by nothing below (delivery only reads and
	 * marks tasks), but copy the count first to stay safe */
	size_t n = hub->nwake;
	for (size_t i = 0; i < n; i++) {
		struct cs__waiter *w = waiter_find(hub, hub->wake[i]);
		if (w)
			deliver(hub, w);
	}
	hub->nwake = 0;
}

void cs__hub_wake_discard(cs_hub *hub)
{
	hub->nwake = 0;
}

void cs__hub_waiters_tick(cs_hub *hub)
{
	int64_t now = cs_clock_mono_ms();
	int lease_check = ++hub->ticks % LEASE_CHECK_TICKS == 0;
	struct cs__waiter *w = hub->waiters, *next;
	for (; w; w = next) {
		next = w->next;
		if (now >= w->deadline_ms)
			waiter_finish(hub, w, NULL);
		else if (lease_check)
			deliver(hub, w); /* a lease may have run out */
	}
}

void cs__hub_waiters_free(cs_hub *hub)
{
	while (hub->waiters)
		waiter_finish(hub, hub->waiters, NULL);
}
