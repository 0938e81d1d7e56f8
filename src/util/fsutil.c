/* Crash-safe file helpers (include/certsync/fsutil.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>

int cs_fs_mkdirs(const char *dir, mode_t mode)
{
	char *p = strdup(dir);
	if (p == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, mode) != 0 && errno != EEXIST) {
				int e = errno;
				free(p);
				return cs_error_set(CS_EIO, "create directory %s: %s", dir, strerror(e));
			}
			*s = c;
			if (c == 0)
				break;
		}
	}
	free(p);
	return CS_OK;
}

int cs_fs_fsync_dir(const char *path)
{
	struct stat st;
	char *copy = NULL;
	const char *dir = path;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
		copy = strdup(path);
		if (copy == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
		dir = dirname(copy);
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = CS_OK;
	if (fd < 0 || fsync(fd) != 0)
		r = cs_error_set(CS_EIO, "fsync directory %s: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int cs_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	size_t n = strlen(path) + 32;
	char *tmp = malloc(n);
	int fd = -1, r = CS_OK;
	if (tmp == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	snprintf(tmp, n, "%s.tmp-XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = cs_error_set(CS_EIO, "create %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (fchmod(fd, mode) != 0) {
		r = cs_error_set(CS_EIO, "chmod %s: %s", tmp, strerror(errno));
		goto done;
	}
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = cs_error_set(CS_EIO, "write %s: %s", tmp, strerror(errno));
			goto done;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0) {
		r = cs_error_set(CS_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		r = cs_error_set(CS_EIO, "rename %s: %s", path, strerror(errno));
		goto done;
	}
	r = cs_fs_fsync_dir(path);
done:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int cs_fs_read_all(uint8_t **out, size_t *len, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return cs_error_set(CS_ENOTFOUND, "%s: no such file", path);
		return cs_error_set(CS_EIO, "open %s: %s", path, strerror(errno));
	}
	struct stat st;
	int r = CS_OK;
	uint8_t *buf = NULL;
	if (fstat(fd, &st) != 0) {
		r = cs_error_set(CS_EIO, "stat %s: %s", path, strerror(errno));
		goto done;
	}
	if ((uint64_t)st.st_size > max) {
		r = cs_error_set(CS_ELIMIT, "%s is larger than %zu bytes", path, max);
		goto done;
	}
	size_t cap = (size_t)st.st_size, got = 0;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = cs_error_set(CS_EIO, "read %s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	*out = buf;
	*len = got;
	buf = NULL;
done:
	free(buf);
	close(fd);
	return r;
}

char *cs_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[0] == '/') {
		b++;
		lb--;
	}
	char *s = malloc(la + lb + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, a, la);
	s[la] = '/';
	memcpy(s + la + 1, b, lb);
	s[la + lb + 1] = 0;
	return s;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int cs_fs_remove_tree(const char *path)
{
	if (!cs_fs_exists(path))
		return CS_OK;
	if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return cs_error_set(CS_EIO, "remove %s: %s", path, strerror(errno));
	return CS_OK;
}

int cs_fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int cs_fs_syncfs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cs_error_set(CS_EIO, "open %s: %s", dir, strerror(errno));
	int r = syncfs(fd) == 0 ? CS_OK : cs_error_set(CS_EIO, "sync %s: %s", dir, strerror(errno));
	close(fd);
	return r;
}

int cs_fs_temp_in(char *tmp, size_t n, const char *dir, const char *prefix)
{
	int len = snprintf(tmp, n, "%s/%sXXXXXX", dir, prefix);
	if (len < 0 || (size_t)len >= n)
		return cs_error_set(CS_ELIMIT, "path in %s too long", dir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return cs_error_set(CS_EIO, "create a file in %s: %s", dir, strerror(errno));
	return fd;
}
