/* The device's identity and configuration on disk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include "agent_internal.h"

char *cs__agent_path(const char *dir, const char *file)
{
	return cs_path_join(dir, file);
}

int cs__agent_read_config(const char *dir, char **name, char **hub)
{
	char *path = cs__agent_path(dir, "device.json");
	json_error_t jerr;
	*name = *hub = NULL;
	if (path == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		int r = cs_fs_exists(path) ? cs_error_set(CS_EMALFORMED, "%s: %s (line %d)", path, jerr.text, jerr.line)
			: cs_error_set(CS_ENOTFOUND, "%s: no device here; run 'certsync device init'", dir);
		free(path);
		return r;
	}
	free(path);
	const char *n = json_string_value(json_object_get(root, "name"));
	const char *h = json_string_value(json_object_get(root, "hub"));
	*name = n ? strdup(n) : NULL;
	*hub = h ? strdup(h) : NULL;
	json_decref(root);
	return CS_OK;
}

int cs__agent_write_config(const char *dir, const char *name, const char *hub)
{
	json_t *root = json_object();
	json_object_set_new(root, "name", json_string(name ? name : ""));
	if (hub)
		json_object_set_new(root, "hub", json_string(hub));
	char *text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	char *path = cs__agent_path(dir, "device.json");
	int r = text && path ? cs_fs_write_atomic(path, text, strlen(text), 0644)
		: cs_error_set(CS_ENOMEM, "out of memory");
	free(text);
	free(path);
	return r;
}

int cs_agent_init(char device_id[CS_DEVICE_ID_SIZE], const char *data_dir, const char *name)
{
	cs_key *key = NULL;
	char *path = NULL;
	int r;
	if (name == NULL || name[0] == 0 || strlen(name) > 64)
		return cs_error_set(CS_EINVAL, "a device name of 1 to 64 characters is needed");
	if ((r = cs_fs_mkdirs(data_dir, 0700)) < 0)
		return r;
	path = cs__agent_path(data_dir, "device.key");
	if (path == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (cs_fs_exists(path)) {
		r = cs_error_set(CS_EEXISTS, "%s already holds a device key", data_dir);
		goto done;
	}
	if ((r = cs_key_generate(&key)) < 0 || (r = cs_key_save(key, path, NULL)) < 0 ||
	    (r = cs_key_device_id(device_id, key)) < 0)
		goto done;
	r = cs__agent_write_config(data_dir, name, NULL);
done:
	cs_key_free(key);
	free(path);
	return r;
}
