/* Parsing of the hub's task objects: everything the agent acts on is
 * checked here first, so the handlers only see well-formed values. */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/manifest.h>
#include "agent_internal.h"

static int get_u64(uint64_t *out, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return cs_error_set(CS_EMALFORMED, "task member '%s' missing or not a number", key);
	*out = (uint64_t)json_integer_value(v);
	return CS_OK;
}

static int get_str(const char **out, json_t *obj, const char *key, size_t max)
{
	json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);
	if (s == NULL || json_string_length(v) == 0 || json_string_length(v) > max ||
	    strlen(s) != json_string_length(v))
		return cs_error_set(CS_EMALFORMED, "task member '%s' missing, empty or too long", key);
	*out = s;
	return CS_OK;
}

static int parse_cert(cs_cert **out, json_t *obj, const char *key)
{
	const char *pem = NULL;
	int r = get_str(&pem, obj, key, 64 * 1024);
	if (r < 0)
		return r;
	if ((r = cs_cert_from_pem(out, pem, strlen(pem))) < 0)
		return cs_error_wrap("task member '%s'", key);
	return CS_OK;
}

int cs__agent_task_parse(struct cs__agent_task *t, json_t *task)
{
	int r;
	memset(t, 0, sizeof(*t));
	if (!json_is_object(task))
		return cs_error_set(CS_EMALFORMED, "task is not a JSON object");
	if ((r = get_str(&t->type, task, "type", 16)) < 0 ||
	    (r = get_str(&t->folder, task, "folder", CS_FOLDER_ID_MAX)) < 0 ||
	    (r = get_u64(&t->job, task, "job")) < 0)
		return r;
	if (strcmp(t->type, "produce") == 0) {
		json_t *dl = json_object_get(task, "destinations");
		size_t n = json_array_size(dl);
		if (!json_is_array(dl) || n == 0 || n > CS_AGENT_DESTS_MAX)
			return cs_error_set(CS_EMALFORMED, "produce task needs 1 to %d destinations",
				CS_AGENT_DESTS_MAX);
		t->dests = calloc(n, sizeof(*t->dests));
		t->certs = calloc(n, sizeof(*t->certs));
		if (t->dests == NULL || t->certs == NULL) {
			cs__agent_task_clear(t);
			return cs_error_set(CS_ENOMEM, "out of memory");
		}
		t->ndests = n;
		for (size_t i = 0; i < n; i++) {
			json_t *d = json_array_get(dl, i);
			if (!json_is_object(d) ||
			    (r = get_str(&t->dests[i].device_id, d, "device", CS_DEVICE_ID_LEN)) < 0 ||
			    (r = get_u64(&t->dests[i].history, d, "history")) < 0 ||
			    (r = parse_cert(&t->certs[i], d, "certificate")) < 0) {
				r = r < 0 ? r : cs_error_set(CS_EMALFORMED, "destination %zu is not an object", i);
				cs__agent_task_clear(t);
				return r;
			}
			t->dests[i].cert = t->certs[i];
		}
		return CS_OK;
	}
	if (strcmp(t->type, "apply") == 0) {
		if ((r = get_str(&t->source, task, "source", CS_DEVICE_ID_LEN)) < 0 ||
		    (r = get_u64(&t->history, task, "history")) < 0 ||
		    (r = get_u64(&t->to_seq, task, "to_seq")) < 0 ||
		    (r = parse_cert(&t->source_cert, task, "source_certificate")) < 0) {
			cs__agent_task_clear(t);
			return r;
		}
		return CS_OK;
	}
	return cs_error_set(CS_EMALFORMED, "unknown task type '%s'", t->type);
}

void cs__agent_task_clear(struct cs__agent_task *t)
{
	for (size_t i = 0; t->certs && i < t->ndests; i++)
		cs_cert_free(t->certs[i]);
	free(t->certs);
	free(t->dests);
	cs_cert_free(t->source_cert);
	memset(t, 0, sizeof(*t));
}
