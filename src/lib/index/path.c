/* Which strings are index paths (include/certsync/index.h). Paths arrive
 * from peers and are joined to a folder's root, so this check is what keeps
 * a remote entry inside the folder. */
#include <string.h>
#include "index_internal.h"

int cs_index_path_valid(const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > CS_PATH_MAX_LEN || path[0] == '/')
		return 0;
	/* Every '/'-separated component must be non-empty and neither "." nor
	 * "..": that rules out absolute paths, "a//b", a trailing '/', and any
	 * way of climbing out of the root. */
	const char *c = path;
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		if (slash == NULL)
			return 1;
		c = slash + 1;
	}
}
