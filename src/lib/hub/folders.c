/* Which devices carry which folders (PUT/DELETE /v1/agent/folders/{f}). */
#include <stdlib.h>
#include <string.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

int cs__hub_check_folder(const char *folder)
{
	size_t n = folder ? strlen(folder) : 0;
	if (n == 0 || n > CS__HUB_FOLDER_MAX)
		return cs_error_set(CS_EINVAL, "folder id must be 1..%d characters", CS__HUB_FOLDER_MAX);
	if (strcmp(folder, ".") == 0 || strcmp(folder, "..") == 0)
		return cs_error_set(CS_EINVAL, "folder id must not be \".\" or \"..\"");
	for (size_t i = 0; i < n; i++) {
		char c = folder[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return cs_error_set(CS_EINVAL, "folder id may contain only A-Z a-z 0-9 . _ -");
	}
	return CS_OK;
}

int cs__hub_folder_set(cs_hub *hub, const char *device, const char *folder, int carries)
{
	int r;
	if ((r = cs__hub_check_folder(folder)) < 0)
		return r;
	if ((r = cs__db_exec(hub->db, carries
		     ? "INSERT OR IGNORE INTO folders (folder, device_id) VALUES (?, ?)"
		     : "DELETE FROM folders WHERE folder = ? AND device_id = ?",
		     CS__DB_ARGS(CS__DB_T(folder), CS__DB_T(device)))) < 0)
		return r;
	cs_log(CS_LOG_INFO, carries ? "folder.added" : "folder.removed", "device=%s folder=%s",
		device, folder);
	return CS_OK;
}

int cs__hub_folder_carried(cs_hub *hub, const char *device, const char *folder)
{
	return cs__db_step(hub->db, "SELECT 1 FROM folders WHERE folder = ? AND device_id = ?",
		CS__DB_ARGS(CS__DB_T(folder), CS__DB_T(device)));
}

json_t *cs__hub_folders_json(cs_hub *hub, const char *device)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	if (arr == NULL)
		return NULL;
	if (cs_store_prepare(&q, hub->db,
		"SELECT folder FROM folders WHERE device_id = ? ORDER BY folder") < 0)
		return arr;
	cs_stmt_bind_text(q, 1, device);
	while (cs_stmt_step(q) == 1)
		json_array_append_new(arr, json_string(cs_stmt_text(q, 0)));
	cs_stmt_free(q);
	return arr;
}
