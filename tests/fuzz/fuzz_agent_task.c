/* libFuzzer target: the agent's parser of task objects from the hub. */
#include <stdint.h>
#include <stddef.h>
#include <jansson.h>
#include "lib/agent/agent_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t err;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		return 0;
	struct cs__agent_task t;
	if (cs__agent_task_parse(&t, j) == 0)
		cs__agent_task_clear(&t);
	json_decref(j);
	return 0;
}
