/* Crash-safe file helpers (include/certsync/fsutil.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdint.h>
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

/* Write len bytes of data at the start of fd with O_DIRECT, the last
 * block padded (data is readable that far), then cut the file to len.
 * 1 when the file system refuses direct I/O (nothing written), 0 when
 * written, -1 with errno on a failure. */
int cs_fs_write_fd(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cs_fs_pwrite_direct(int fd, const void *data, size_t len, uint64_t offset)
{
	const uint8_t *p = data;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0)
		return 1;
	size_t padded = (len + CS_FS_DIRECT_ALIGN - 1) / CS_FS_DIRECT_ALIGN * CS_FS_DIRECT_ALIGN;
	size_t done = 0;
	int r = 0;
	while (done < padded) {
		ssize_t w = pwrite(fd, p + done, padded - done, (off_t)(offset + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EINVAL && done == 0) {
			r = 1; /* this file system wants another alignment or none */
			break;
		}
		if (w <= 0 || (size_t)w % CS_FS_DIRECT_ALIGN != 0) {
			if (w >= 0)
				errno = EIO;
			r = -1;
			break;
		}
		done += (size_t)w;
	}
	int saved = errno;
	if (fcntl(fd, F_SETFL, fl) != 0 && r == 0)
		r = -1;
	else
		errno = saved;
	return r;
}

/* All of data through direct I/O, then the file cut to len: 0, or 1 when the
 * file system refuses direct I/O, or -1 with errno set. */
static int write_direct(int fd, const uint8_t *data, size_t len)
{
	int r = cs_fs_pwrite_direct(fd, data, len, 0);
	if (r == 0 && ftruncate(fd, (off_t)len) != 0)
		r = -1;
	return r;
}

/* The temporary file next to path, written in full and renamed over it;
 * durable: fsync of the file before the rename and of the directory after;
 * direct: through write_direct when the file system allows. */
static int write_replace(const char *path, const void *data, size_t len, mode_t mode, int durable,
	int direct)
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
	if (direct && len > 0) {
		int d = write_direct(fd, p, len);
		if (d < 0) {
			r = cs_error_set(CS_EIO, "write %s: %s", tmp, strerror(errno));
			goto done;
		}
		if (d == 0)
			left = 0;
	}
	if (cs_fs_write_fd(fd, p, left) != 0) {
		r = cs_error_set(CS_EIO, "write %s: %s", tmp, strerror(errno));
		goto done;
	}
	if (durable && fsync(fd) != 0) {
		r = cs_error_set(CS_EIO, "fsync %s: %s", tmp, strerror(errno));
		goto done;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		r = cs_error_set(CS_EIO, "rename %s: %s", path, strerror(errno));
		goto done;
	}
	if (durable)
		r = cs_fs_fsync_dir(path);
done:
	if (fd >= 0)
		close(fd);
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int cs_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_replace(path, data, len, mode, 1, 0);
}

int cs_fs_write_replace(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_replace(path, data, len, mode, 0, 0);
}

int cs_fs_write_replace_direct(const char *path, const void *data, size_t len, mode_t mode)
{
	if (((uintptr_t)data & (CS_FS_DIRECT_ALIGN - 1)) != 0)
		return cs_error_set(CS_EINVAL, "direct write of %s: unaligned buffer", path);
	return write_replace(path, data, len, mode, 0, 1);
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
