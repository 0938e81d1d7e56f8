/* Removal of temporary files left by an interrupted apply. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/log.h>
#include <certsync/relay.h>

static int remove_tmp(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	if (flag == FTW_F && strncmp(path + ftw->base, CS_TMP_PREFIX, strlen(CS_TMP_PREFIX)) == 0) {
		if (unlink(path) == 0)
			cs_log(CS_LOG_INFO, "relay.tmp_removed", "path=\"%s\"", path);
	}
	return 0;
}

int cs_relay_clean_tmp(cs_index *ix, const char *folder)
{
	char *root = NULL;
	int r = cs_index_folder_root(&root, ix, folder);
	if (r < 0)
		return r;
	if (nftw(root, remove_tmp, 32, FTW_PHYS) != 0)
		r = cs_error_set(CS_EIO, "clean temporary files below %s", root);
	free(root);
	return r;
}
