/*
 * The device side of backup (include/certsync/backup.h, PROTOCOL.md §12):
 * claim the code's pairing at the hub, verify the terminal (certificate
 * pinned by the code, second verification information), confirm, then push
 * a backup, list backups, or restore items.
 *
 * A backup is a manifest (sealed with the account's data key) naming every
 * item with its chunks; chunks are content-defined (FastCDC), named by an
 * HMAC under the data key, and sealed too, so the terminal deduplicates
 * what it holds without learning what it is.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/chunker.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/index.h>
#include <certsync/log.h>
#include <certsync/secure.h>
#include "backup/local.h"

#define MISSING_BATCH 1000
#define DEPTH_MAX 64

/* A connection to the terminal after a successful handshake. */
struct link {
	struct cs__acct_session s;
	cs_backup_pairing code;
	cs_httpc *c;
	char ca_file[256];    /* the pinned terminal CA, as a file for libcurl */
	char url[96];         /* the terminal, "https://host:port" */
	char session[65];
	char base[96];        /* "/v1/backup/s/<session>/" */
	cs_backup_progress_fn progress;
	void *ud;
};

static void link_close(struct link *l)
{
	if (l->c != NULL && l->session[0]) {
		/* free the terminal's session slot; best effort */
		cs_http_resp resp = {0};
		char path[160];
		snprintf(path, sizeof(path), "%sclose", l->base);
		(void)cs_httpc_request(&resp, l->c, "POST", path, "application/json", "{}", 2, 4096, 10000);
		cs_http_resp_clear(&resp);
	}
	cs_httpc_free(l->c);
	if (l->ca_file[0])
		unlink(l->ca_file);
	cs__acct_session_clear(&l->s);
	cs_wipe(l, sizeof(*l));
}

/* ---- handshake ---- */

static int claim(json_t **out, struct link *l, const uint8_t pnonce[CS__BK_NONCE_LEN])
{
	struct cs__acct_conn cn;
	char secret[65], nonce[65];
	int status, r = cs__acct_conn_open(&cn, &l->s, NULL);
	if (r < 0)
		return r;
	cs_hex_encode(secret, l->code.secret, 32);
	cs_hex_encode(nonce, pnonce, CS__BK_NONCE_LEN);
	r = cs__acct_call(&cn, "/v1/account/pairings/claim",
		json_pack("{s:s, s:s, s:s}", "pairing", l->code.id, "secret", secret, "nonce", nonce), out,
		&status);
	cs_wipe(secret, sizeof(secret));
	cs__acct_conn_close(&cn);
	if (r < 0)
		return cs_error_wrap("the hub refused the pairing");
	return CS_OK;
}

/* Fetch the terminal's CA certificate without trusting it, and accept it
 * only when its fingerprint is the one in the code. */
static int pin_terminal(struct link *l, const char *addr)
{
	char url[96], fp[CS_FINGERPRINT_SIZE], want[65];
	cs_httpc *c = NULL;
	cs_http_resp resp = {0};
	cs_cert *cert = NULL;
	int fd = -1, r;

	snprintf(url, sizeof(url), "https://%s", addr);
	struct cs_httpc_config cfg = {.base_url = url, .insecure = 1, .connect_timeout_ms = 5000};
	if ((r = cs_httpc_new(&c, &cfg)) < 0)
		return r;
	r = cs_httpc_request(&resp, c, "GET", "/v1/backup/cert", NULL, NULL, 0, 64 << 10, 15000);
	cs_httpc_free(c);
	if (r < 0)
		return r;
	if (resp.status != 200 || (r = cs_cert_from_pem(&cert, (const char *)resp.body, resp.len)) < 0 ||
	    (r = cs_cert_fingerprint(fp, cert)) < 0) {
		r = cs_error_set(CS_EAUTH, "the terminal at %s did not present a certificate", addr);
		goto done;
	}
	cs_hex_encode(want, l->code.fingerprint, 32);
	if (!cs_memeq(fp, want, 64)) {
		r = cs_error_set(CS_EAUTH, "the terminal at %s presents certificate %.16s…, not %.16s… from "
					   "the code: refusing to connect", addr, fp, want);
		goto done;
	}
	const char *tmpdir = getenv("TMPDIR");
	if ((fd = cs_fs_temp_in(l->ca_file, sizeof(l->ca_file),
		     tmpdir && tmpdir[0] && strlen(tmpdir) < 200 ? tmpdir : "/tmp", "certsync-terminal-")) < 0) {
		r = fd;
		l->ca_file[0] = 0;
		goto done;
	}
	if (write(fd, resp.body, resp.len) != (ssize_t)resp.len) {
		r = cs_error_set(CS_EIO, "write %s: %s", l->ca_file, strerror(errno));
		goto done;
	}
	snprintf(l->url, sizeof(l->url), "%s", url);
	struct cs_httpc_config pinned = {.base_url = url, .ca_path = l->ca_file, .connect_timeout_ms = 5000};
	r = cs_httpc_new(&l->c, &pinned);
done:
	if (fd >= 0)
		close(fd);
	cs_cert_free(cert);
	cs_http_resp_clear(&resp);
	return r;
}

/* POST a JSON object (stolen) to the terminal; 200 answers come back. */
static int tcall(json_t **out, struct link *l, const char *path, json_t *body)
{
	cs_http_resp resp = {0};
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r;
	json_decref(body);
	*out = NULL;
	if (text == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	r = cs_httpc_request(&resp, l->c, "POST", path, "application/json", text, strlen(text),
		CS__BK_MANIFEST_MAX, 120000);
	free(text);
	if (r < 0)
		return r;
	if (resp.status != 200) {
		char msg[512];
		cs_http_resp_error(msg, sizeof(msg), &resp);
		r = cs_error_set(resp.status == 401 || resp.status == 403 ? CS_EAUTH : CS_EDENIED,
			"the terminal refused: %s (%ld)", msg, resp.status);
	} else if ((*out = json_loadb((const char *)resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL)) == NULL ||
		   !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		r = cs_error_set(CS_EMALFORMED, "the terminal's answer is not a JSON object");
	}
	cs_http_resp_clear(&resp);
	return r;
}

static int link_open(struct link *l, const char *data_dir, const char *code)
{
	uint8_t pnonce[CS__BK_NONCE_LEN], mac[32], want[32], tnonce[CS__BK_NONCE_LEN];
	char pn_hex[65], mac_hex[65];
	json_t *cl = NULL, *hi = NULL, *ok = NULL;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = cs_backup_pairing_decode(&l->code, code)) < 0 ||
	    (r = cs__acct_session_load(&l->s, data_dir)) < 0 || (r = cs_random(pnonce, sizeof(pnonce))) < 0)
		return r;
	/* the terminal first, pinned by the code's fingerprint: a wrong or
	 * unreachable terminal is refused before the code is spent */
	r = CS_ENET;
	for (size_t i = 0; i < l->code.naddrs && r == CS_ENET; i++)
		r = pin_terminal(l, l->code.addrs[i]);
	if (r < 0)
		goto done;
	/* then the hub vouches for the pairing, the account and this device */
	if ((r = claim(&cl, l, pnonce)) < 0)
		goto done;
	if ((r = cs__bk_mac(mac, l->code.secret, "certsync-backup-hello", l->s.account, l->code.id,
		     l->s.device, pnonce, NULL)) < 0)
		goto done;
	cs_hex_encode(pn_hex, pnonce, sizeof(pnonce));
	cs_hex_encode(mac_hex, mac, sizeof(mac));
	if ((r = tcall(&hi, l, "/v1/backup/hello",
		     json_pack("{s:O, s:O, s:s, s:s}", "first", json_object_get(cl, "first"), "signature",
			     json_object_get(cl, "signature"), "nonce", pn_hex, "proof", mac_hex))) < 0)
		goto done;
	/* the second verification information: only the holder of the code's
	 * secret, which saw this device's nonce, can make it */
	const char *sid = json_string_value(json_object_get(hi, "session"));
	if (sid == NULL || strlen(sid) != 64 || cs__bk_hex(tnonce, sizeof(tnonce), hi, "nonce") < 0 ||
	    cs__bk_hex(mac, sizeof(mac), hi, "mac") < 0) {
		r = cs_error_set(CS_EMALFORMED, "the terminal's second verification information is malformed");
		goto done;
	}
	if ((r = cs__bk_mac(want, l->code.secret, "certsync-backup-second", l->s.account, l->code.id,
		     l->s.device, pnonce, tnonce)) < 0)
		goto done;
	if (!cs_memeq(want, mac, sizeof(mac))) {
		r = cs_error_set(CS_EAUTH, "the terminal's second verification information does not verify: "
					   "it is not the terminal of this code");
		goto done;
	}
	memcpy(l->session, sid, 65);
	snprintf(l->base, sizeof(l->base), "/v1/backup/s/%s/", sid);
	char path[160];
	snprintf(path, sizeof(path), "%sconfirm", l->base);
	if ((r = cs__bk_mac(mac, l->code.secret, "certsync-backup-confirm", l->s.account, l->code.id,
		     l->s.device, pnonce, tnonce)) < 0)
		goto done;
	cs_hex_encode(mac_hex, mac, sizeof(mac));
	r = tcall(&ok, l, path, json_pack("{s:s}", "mac", mac_hex));
done:
	json_decref(cl);
	json_decref(hi);
	json_decref(ok);
	cs_wipe(mac, sizeof(mac));
	cs_wipe(want, sizeof(want));
	if (r < 0)
		link_close(l);
	return r;
}

/* ---- reading the source ---- */

struct chunk {
	char id[33];
	uint8_t hash[32];
	uint32_t len;
	uint64_t offset;
};

struct item {
	char *path;
	int is_dir;
	uint64_t ino;
	uint32_t mode;
	int64_t mtime_ns;
	uint64_t size;
	struct chunk *chunks;
	size_t nchunks;
};

struct tree {
	struct cs__bk_cache *cache; /* what the last push read (may be NULL) */
	struct item *v;
	size_t n, alloc;
	uint64_t bytes, nchunks;
};

static void tree_free(struct tree *t)
{
	cs__bk_cache_close(t->cache);
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].path);
		free(t->v[i].chunks);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int chunk_id(char out[33], const uint8_t dk[32], const uint8_t hash[32])
{
	char hex[65];
	cs_hex_encode(hex, hash, 32);
	return cs__acct_name(out, dk, "backup-chunk", hex, NULL);
}

/* Chunk one file (mapped) into it. */
/* Take the chunks of an unchanged file from the cache. 1 when done. */
static int chunk_file_cached(struct item *it, const uint8_t dk[32], struct cs__bk_cache *cache,
	const char *full)
{
	cs_chunk_ref *refs = NULL;
	size_t n = 0;
	if (cs__bk_cache_get(cache, full, it->size, it->mtime_ns, it->ino, &refs, &n) != 0) {
		cs_error_clear();
		return 0;
	}
	if (n > 0 && (it->chunks = calloc(n, sizeof(*it->chunks))) == NULL) {
		free(refs);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(it->chunks[i].hash, refs[i].hash, 32);
		it->chunks[i].len = refs[i].len;
		it->chunks[i].offset = refs[i].offset;
		if (chunk_id(it->chunks[i].id, dk, refs[i].hash) < 0) {
			free(refs);
			free(it->chunks);
			it->chunks = NULL;
			return 0;
		}
	}
	it->nchunks = n;
	free(refs);
	return 1;
}

static int chunk_file(struct item *it, const uint8_t dk[32], struct cs__bk_cache *cache,
	const char *full)
{
	cs_chunker_params cp;
	struct stat st;
	int fd = open(full, O_RDONLY | O_CLOEXEC), r = CS_OK;
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = cs_error_set(CS_EIO, "read %s: %s", full, strerror(errno));
		goto done;
	}
	it->size = (uint64_t)st.st_size;
	it->ino = (uint64_t)st.st_ino;
	it->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (st.st_size == 0 || chunk_file_cached(it, dk, cache, full))
		goto done;
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m == MAP_FAILED) {
		r = cs_error_set(CS_EIO, "map %s: %s", full, strerror(errno));
		goto done;
	}
	cs_chunker_params_default(&cp);
	size_t off = 0, alloc = 0, n = (size_t)st.st_size;
	while (off < n && r == 0) {
		size_t len = cs_chunker_next(&cp, m + off, n - off, 1);
		if (it->nchunks == alloc) {
			alloc = alloc ? 2 * alloc : 8;
			struct chunk *v = realloc(it->chunks, alloc * sizeof(*v));
			if (v == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			it->chunks = v;
		}
		struct chunk *c = &it->chunks[it->nchunks++];
		cs_sha256(c->hash, m + off, len);
		c->len = (uint32_t)len;
		c->offset = off;
		r = chunk_id(c->id, dk, c->hash);
		off += len;
	}
	munmap(m, (size_t)st.st_size);
done:
	if (fd >= 0)
		close(fd);
	return r;
}

static int walk(struct tree *t, const uint8_t dk[32], const char *root, const char *rel, int depth)
{
	char *dir = rel[0] ? cs_path_join(root, rel) : strdup(root);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int r = CS_OK;
	if (d == NULL) {
		r = cs_error_set(dir ? CS_EIO : CS_ENOMEM, "read directory %s: %s", dir ? dir : "",
			strerror(errno));
		free(dir);
		return r;
	}
	if (depth > DEPTH_MAX) {
		closedir(d);
		free(dir);
		return cs_error_set(CS_ELIMIT, "directories nested deeper than %d", DEPTH_MAX);
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strncmp(e->d_name, CS_TMP_PREFIX, strlen(CS_TMP_PREFIX)) == 0)
			continue;
		char *path = rel[0] ? cs_path_join(rel, e->d_name) : strdup(e->d_name);
		char *full = path ? cs_path_join(root, path) : NULL;
		struct stat st;
		if (full == NULL) {
			free(path);
			r = cs_error_set(CS_ENOMEM, "out of memory");
			break;
		}
		if (lstat(full, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) &&
		    cs_index_path_valid(path)) {
			if (t->n == t->alloc) {
				size_t na = t->alloc ? 2 * t->alloc : 64;
				struct item *v = realloc(t->v, na * sizeof(*v));
				if (v == NULL) {
					r = cs_error_set(CS_ENOMEM, "out of memory");
					free(path);
					free(full);
					break;
				}
				t->v = v;
				t->alloc = na;
			}
			struct item *it = &t->v[t->n++];
			memset(it, 0, sizeof(*it));
			it->path = path;
			path = NULL;
			it->is_dir = S_ISDIR(st.st_mode);
			it->mode = st.st_mode & 07777;
			it->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
			if (it->is_dir) {
				r = walk(t, dk, root, it->path, depth + 1);
			} else if ((r = chunk_file(it, dk, t->cache, full)) == 0) {
				t->bytes += it->size;
				t->nchunks += it->nchunks;
			}
		}
		free(path);
		free(full);
	}
	closedir(d);
	free(dir);
	return r;
}

/* Record what every file of a committed backup was cut into, so that the
 * next push need not read unchanged files (best effort). */
static void remember_scan(struct tree *t, const char *root)
{
	if (t->cache == NULL || cs__bk_cache_begin(t->cache) < 0)
		return;
	for (size_t i = 0; i < t->n; i++) {
		struct item *it = &t->v[i];
		if (it->is_dir)
			continue;
		cs_chunk_ref *refs = calloc(it->nchunks ? it->nchunks : 1, sizeof(*refs));
		char *full = cs_path_join(root, it->path);
		if (refs != NULL && full != NULL) {
			for (size_t c = 0; c < it->nchunks; c++) {
				memcpy(refs[c].hash, it->chunks[c].hash, 32);
				refs[c].offset = it->chunks[c].offset;
				refs[c].len = it->chunks[c].len;
			}
			(void)cs__bk_cache_put(t->cache, full, it->size, it->mtime_ns, it->ino, refs, it->nchunks);
		}
		free(refs);
		free(full);
	}
	if (cs__bk_cache_commit(t->cache) < 0)
		cs_log(CS_LOG_WARN, "backup.cache_unsaved", "error=\"%s\"", cs_error_last());
	cs_error_clear();
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static int item_id(char out[13], const uint8_t dk[32], const char *path)
{
	char full[33];
	int r = cs__acct_name(full, dk, "backup-item", path, NULL);
	memcpy(out, full, 12);
	out[12] = 0;
	return r;
}

/* ---- push ---- */

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Ask which of the tree's chunks the terminal lacks; sorted into *out. */
static int ask_missing(char ***out, size_t *nout, struct link *l, const struct tree *t)
{
	char **all = malloc((t->nchunks ? t->nchunks : 1) * sizeof(char *)), **miss = NULL;
	size_t n = 0, nm = 0;
	char path[160];
	int r = CS_OK;
	if (all == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->n; i++)
		for (size_t c = 0; c < t->v[i].nchunks; c++)
			all[n++] = t->v[i].chunks[c].id;
	qsort(all, n, sizeof(*all), id_cmp);
	size_t u = 0; /* unique */
	for (size_t i = 0; i < n; i++)
		if (u == 0 || strcmp(all[u - 1], all[i]) != 0)
			all[u++] = all[i];
	if ((miss = malloc((u ? u : 1) * sizeof(char *))) == NULL) {
		free(all);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	snprintf(path, sizeof(path), "%smissing", l->base);
	for (size_t i = 0; i < u && r == 0; i += MISSING_BATCH) {
		json_t *ids = json_array(), *resp = NULL;
		for (size_t k = i; k < u && k < i + MISSING_BATCH; k++)
			json_array_append_new(ids, json_string(all[k]));
		if ((r = tcall(&resp, l, path, json_pack("{s:o}", "ids", ids))) < 0)
			break;
		json_t *m = json_object_get(resp, "missing");
		for (size_t k = 0; k < json_array_size(m); k++) {
			const char *id = json_string_value(json_array_get(m, k));
			char **hit = id ? bsearch(&id, all, u, sizeof(*all), id_cmp) : NULL;
			if (hit != NULL)
				miss[nm++] = *hit;
		}
		json_decref(resp);
	}
	free(all);
	if (r < 0) {
		free(miss);
		return r;
	}
	qsort(miss, nm, sizeof(*miss), id_cmp);
	*out = miss;
	*nout = nm;
	return CS_OK;
}

static int send_chunk(struct link *l, cs_httpc *hc, const uint8_t *data, const struct chunk *c)
{
	uint8_t *sealed = NULL;
	size_t sl = 0;
	char path[200];
	cs_http_resp resp = {0};
	int r = cs__acct_payload_seal(&sealed, &sl, l->s.dk, CS__BK_CHUNKS, c->id, data, c->len);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%schunks/%s", l->base, c->id);
	r = cs_httpc_request(&resp, hc, "PUT", path, "application/octet-stream", sealed, sl, 4096, 120000);
	free(sealed);
	if (r == 0 && resp.status != 204) {
		char msg[512];
		cs_http_resp_error(msg, sizeof(msg), &resp);
		r = cs_error_set(CS_EIO, "the terminal did not store a chunk: %s", msg);
	}
	cs_http_resp_clear(&resp);
	return r;
}

/* Sending the missing chunks: PUSH_WORKERS threads, each with its own
 * connection to the terminal, take chunks off one list, read them from
 * their file again, check them against the hash of the scan, seal and send
 * them. The terminal stores each chunk on its own, so order does not
 * matter; the commit waits for all of them. */
#define PUSH_WORKERS 3

struct push_job {
	const struct item *it;
	const struct chunk *ch;
};

struct pusher {
	struct link *l;
	const char *source;
	struct push_job *jobs;
	size_t njobs, next;
	pthread_mutex_t mu;
	int failed, err_code;
	char err[512];
	cs_backup_stats *st;
	uint64_t done, total;
};

static int push_one(struct pusher *p, cs_httpc *hc, uint8_t *buf, const struct push_job *j)
{
	char *full = cs_path_join(p->source, j->it->path);
	uint8_t h[32];
	int fd = full ? open(full, O_RDONLY | O_CLOEXEC) : -1, r = CS_OK;
	free(full);
	if (fd < 0)
		return cs_error_set(CS_EIO, "read %s again: %s", j->it->path, strerror(errno));
	if (pread(fd, buf, j->ch->len, (off_t)j->ch->offset) != (ssize_t)j->ch->len) {
		r = cs_error_set(CS_ECONFLICT, "%s changed during the backup; run it again", j->it->path);
	} else {
		cs_sha256(h, buf, j->ch->len);
		if (memcmp(h, j->ch->hash, 32) != 0)
			r = cs_error_set(CS_ECONFLICT, "%s changed during the backup; run it again", j->it->path);
		else
			r = send_chunk(p->l, hc, buf, j->ch);
	}
	close(fd);
	return r;
}

static void *push_worker(void *arg)
{
	struct pusher *p = arg;
	struct cs_httpc_config cfg = {.base_url = p->l->url, .ca_path = p->l->ca_file, .connect_timeout_ms = 5000};
	cs_httpc *hc = NULL;
	uint8_t *buf = malloc(CS_CHUNK_MAX_DEFAULT);
	int r = buf == NULL ? cs_error_set(CS_ENOMEM, "out of memory") : cs_httpc_new(&hc, &cfg);
	while (r == 0) {
		pthread_mutex_lock(&p->mu);
		if (p->failed || p->next == p->njobs) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		const struct push_job *j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->mu);
		if ((r = push_one(p, hc, buf, j)) < 0)
			break;
		pthread_mutex_lock(&p->mu);
		p->st->chunks_sent++;
		p->st->bytes_sent += j->ch->len;
		p->done += j->ch->len;
		if (p->l->progress)
			p->l->progress(p->l->ud, "sending", p->done, p->total);
		pthread_mutex_unlock(&p->mu);
	}
	if (r < 0) {
		pthread_mutex_lock(&p->mu);
		if (!p->failed) {
			p->failed = 1;
			p->err_code = r;
			snprintf(p->err, sizeof(p->err), "%s", cs_error_last());
		}
		pthread_mutex_unlock(&p->mu);
	}
	cs_httpc_free(hc);
	free(buf);
	return NULL;
}

static int send_missing(cs_backup_stats *st, struct link *l, const char *source, struct tree *t,
	char **miss, size_t nmiss)
{
	struct pusher p;
	pthread_t th[PUSH_WORKERS];
	size_t started = 0;
	uint8_t *taken = calloc(nmiss ? nmiss : 1, 1);

	memset(&p, 0, sizeof(p));
	p.l = l;
	p.source = source;
	p.st = st;
	p.jobs = malloc((nmiss ? nmiss : 1) * sizeof(*p.jobs));
	if (taken == NULL || p.jobs == NULL) {
		free(taken);
		free(p.jobs);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	/* each missing chunk once, from the first item that holds it */
	for (size_t i = 0; i < t->n; i++)
		for (size_t c = 0; c < t->v[i].nchunks; c++) {
			const char *id = t->v[i].chunks[c].id;
			char **hit = bsearch(&id, miss, nmiss, sizeof(*miss), id_cmp);
			if (hit != NULL && !taken[hit - miss]) {
				taken[hit - miss] = 1;
				p.jobs[p.njobs].it = &t->v[i];
				p.jobs[p.njobs++].ch = &t->v[i].chunks[c];
				p.total += t->v[i].chunks[c].len;
			}
		}
	free(taken);
	pthread_mutex_init(&p.mu, NULL);
	for (size_t i = 0; i < PUSH_WORKERS && i < p.njobs; i++)
		if (pthread_create(&th[i], NULL, push_worker, &p) == 0)
			started++;
	if (started == 0 && p.njobs > 0)
		push_worker(&p); /* no thread to spare: do it here */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.mu);
	free(p.jobs);
	if (p.failed)
		return cs_error_set(p.err_code, "%s", p.err);
	return CS_OK;
}

static json_t *manifest_json(const struct tree *t, const uint8_t dk[32], const char *source,
	const char *device)
{
	json_t *items = json_array();
	for (size_t i = 0; items && i < t->n; i++) {
		const struct item *it = &t->v[i];
		char iid[13], hex[65];
		if (item_id(iid, dk, it->path) < 0) {
			json_decref(items);
			return NULL;
		}
		json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "id", iid, "path", it->path, "kind",
			it->is_dir ? "dir" : "file", "mode", (int)it->mode, "mtime_ns", (json_int_t)it->mtime_ns,
			"size", (json_int_t)it->size);
		json_t *cs = json_array();
		for (size_t c = 0; o && cs && c < it->nchunks; c++) {
			cs_hex_encode(hex, it->chunks[c].hash, 32);
			json_array_append_new(cs, json_pack("[s, I, s]", it->chunks[c].id,
				(json_int_t)it->chunks[c].len, hex));
		}
		json_object_set_new(o, "chunks", cs);
		json_array_append_new(items, o);
	}
	return json_pack("{s:i, s:s, s:s, s:I, s:o}", "v", 1, "source", source, "device", device,
		"created", (json_int_t)cs_clock_now(), "items", items);
}

int cs_backup_push(cs_backup_stats *st, const char *data_dir, const char *code, const char *source,
	cs_backup_progress_fn progress, void *ud)
{
	struct link l;
	struct tree t = {0};
	char **miss = NULL, *abs = NULL, *text = NULL, *b64 = NULL, path[160];
	size_t nmiss = 0;
	uint8_t *sealed = NULL, rnd[2];
	size_t sl = 0;
	json_t *resp = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	if ((abs = realpath(source, NULL)) == NULL)
		return cs_error_set(CS_ENOTFOUND, "%s: %s", source, strerror(errno));
	if ((r = link_open(&l, data_dir, code)) < 0) {
		free(abs);
		return r;
	}
	l.progress = progress;
	l.ud = ud;
	if (progress)
		progress(ud, "reading", 0, 0);
	if (cs__bk_cache_open(&t.cache, data_dir) < 0) {
		cs_log(CS_LOG_WARN, "backup.cache_unavailable", "error=\"%s\"", cs_error_last());
		t.cache = NULL; /* every file is read: slower, not wrong */
	}
	if ((r = walk(&t, l.s.dk, abs, "", 0)) < 0)
		goto done;
	qsort(t.v, t.n, sizeof(*t.v), item_cmp);
	for (size_t i = 0; i < t.n; i++)
		st->files += !t.v[i].is_dir;
	st->bytes = t.bytes;
	st->chunks = t.nchunks;
	if ((r = ask_missing(&miss, &nmiss, &l, &t)) < 0)
		goto done;
	if ((r = send_missing(st, &l, abs, &t, miss, nmiss)) < 0) {
		if (r == CS_ECONFLICT) /* a file differs from what the scan (or the cache) said */
			(void)cs__bk_cache_forget(t.cache);
		goto done;
	}
	/* the backup's id: its time and a little randomness */
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	if ((r = cs_random(rnd, sizeof(rnd))) < 0)
		goto done;
	strftime(st->backup, sizeof(st->backup), "%Y%m%d-%H%M%S", &tm);
	snprintf(st->backup + strlen(st->backup), sizeof(st->backup) - strlen(st->backup), "-%02x%02x",
		rnd[0], rnd[1]);
	json_t *m = manifest_json(&t, l.s.dk, abs, l.s.device);
	if (m == NULL || (text = json_dumps(m, JSON_COMPACT)) == NULL) {
		json_decref(m);
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	json_decref(m);
	if ((r = cs__acct_payload_seal(&sealed, &sl, l.s.dk, CS__BK_MANIFESTS, st->backup,
		     (const uint8_t *)text, strlen(text))) < 0 ||
	    (r = cs_base64_encode(&b64, sealed, sl)) < 0)
		goto done;
	snprintf(path, sizeof(path), "%scommit", l.base);
	r = tcall(&resp, &l, path, json_pack("{s:s, s:s, s:I, s:I, s:s}", "backup", st->backup,
		"manifest", b64, "files", (json_int_t)t.n, "bytes", (json_int_t)t.bytes, "source", ""));
	if (r == 0) {
		cs_log(CS_LOG_INFO, "backup.pushed", "backup=%s files=%zu chunks_sent=%llu", st->backup, t.n,
			(unsigned long long)st->chunks_sent);
		remember_scan(&t, abs);
	}
done:
	json_decref(resp);
	free(b64);
	free(sealed);
	free(text);
	free(miss);
	free(abs);
	tree_free(&t);
	link_close(&l);
	return r;
}

/* ---- list and restore ---- */

/* Open a backup record's sealed manifest. */
static int open_manifest(json_t **out, struct link *l, json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *b64 = json_string_value(json_object_get(rec, "manifest"));
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sl = 0, pl = 0;
	int r;
	*out = NULL;
	if (id == NULL || b64 == NULL || cs_base64_decode(&sealed, &sl, b64, CS__BK_MANIFEST_MAX) < 0)
		return cs_error_set(CS_EMALFORMED, "a backup record of the terminal is malformed");
	r = cs__acct_payload_open(&plain, &pl, l->s.dk, CS__BK_MANIFESTS, id, sealed, sl);
	free(sealed);
	if (r < 0)
		return cs_error_wrap("backup %s", id);
	*out = json_loadb((const char *)plain, pl, JSON_REJECT_DUPLICATES, NULL);
	free(plain);
	if (*out == NULL || !json_is_array(json_object_get(*out, "items"))) {
		json_decref(*out);
		*out = NULL;
		return cs_error_set(CS_EMALFORMED, "the manifest of backup %s does not decode", id);
	}
	return CS_OK;
}

int cs_backup_list(const char *data_dir, const char *code, const char *backup,
	int (*backup_fn)(void *ud, const cs_backup_info *b),
	int (*item_fn)(void *ud, const cs_backup_item *it), void *ud)
{
	struct link l;
	json_t *resp = NULL;
	char path[200];
	int r = link_open(&l, data_dir, code);
	if (r < 0)
		return r;
	if (backup != NULL)
		snprintf(path, sizeof(path), "%sbackups/%s", l.base, backup);
	else
		snprintf(path, sizeof(path), "%slist", l.base);
	if (backup != NULL) {
		cs_http_resp hr = {0};
		if ((r = cs_httpc_request(&hr, l.c, "GET", path, NULL, NULL, 0, CS__BK_MANIFEST_MAX, 120000)) == 0) {
			if (hr.status != 200)
				r = cs_error_set(CS_ENOTFOUND, "no backup %s on the terminal", backup);
			else if ((resp = json_loadb((const char *)hr.body, hr.len, 0, NULL)) == NULL)
				r = cs_error_set(CS_EMALFORMED, "the terminal's answer is not JSON");
		}
		cs_http_resp_clear(&hr);
	} else {
		r = tcall(&resp, &l, path, json_object());
	}
	json_t *arr = json_object_get(resp, "backups");
	for (size_t i = 0; r == 0 && i < json_array_size(arr); i++) {
		json_t *rec = json_array_get(arr, i), *m = NULL;
		const char *rid = json_string_value(json_object_get(rec, "id"));
		if (backup != NULL && (rid == NULL || strcmp(rid, backup) != 0)) {
			r = cs_error_set(CS_EAUTH, "the terminal answered with backup %s instead of %s",
				rid ? rid : "?", backup);
			break;
		}
		if ((r = open_manifest(&m, &l, rec)) < 0)
			break;
		if (backup == NULL) {
			cs_backup_info b;
			memset(&b, 0, sizeof(b));
			snprintf(b.id, sizeof(b.id), "%s", json_string_value(json_object_get(rec, "id")));
			snprintf(b.source, sizeof(b.source), "%s",
				json_string_value(json_object_get(m, "source")) ? json_string_value(json_object_get(m, "source")) : "");
			b.created = json_integer_value(json_object_get(rec, "created"));
			b.files = (uint64_t)json_integer_value(json_object_get(rec, "files"));
			b.bytes = (uint64_t)json_integer_value(json_object_get(rec, "bytes"));
			r = backup_fn ? backup_fn(ud, &b) : 0;
		} else {
			json_t *items = json_object_get(m, "items");
			for (size_t k = 0; r == 0 && k < json_array_size(items); k++) {
				json_t *o = json_array_get(items, k);
				cs_backup_item it;
				memset(&it, 0, sizeof(it));
				snprintf(it.id, sizeof(it.id), "%s", json_string_value(json_object_get(o, "id")) ?
					json_string_value(json_object_get(o, "id")) : "");
				it.path = json_string_value(json_object_get(o, "path"));
				it.size = (uint64_t)json_integer_value(json_object_get(o, "size"));
				it.is_dir = json_string_value(json_object_get(o, "kind")) &&
					strcmp(json_string_value(json_object_get(o, "kind")), "dir") == 0;
				if (it.path != NULL && item_fn)
					r = item_fn(ud, &it);
			}
		}
		json_decref(m);
	}
	json_decref(resp);
	link_close(&l);
	return r;
}

/* Fetch, check and write one file item. */
/* Restoring files: RESTORE_WORKERS threads, each with its own connection,
 * take whole files off one list. */
#define RESTORE_WORKERS 3

struct restorer {
	struct link *l;
	cs_backup_stats *st;
	struct rjob {
		json_t *o;   /* borrowed from the manifest (read only) */
		char *full;
	} *jobs;
	size_t njobs, next;
	pthread_mutex_t mu;
	int failed, err_code;
	char err[512];
	uint64_t done, total;
};

static int restore_file(struct restorer *rs, cs_httpc *hc, json_t *o, const char *full)
{
	struct link *l = rs->l;
	json_t *chunks = json_object_get(o, "chunks");
	char tmp[8192], *slash = strrchr(full, '/');
	int fd = -1, r = CS_OK;
	uint64_t off = 0;

	*slash = 0;
	if ((r = cs_fs_mkdirs(full, 0755)) == 0)
		r = fd = cs_fs_temp_in(tmp, sizeof(tmp), full, CS_TMP_PREFIX);
	*slash = '/';
	if (r < 0)
		return r;
	r = CS_OK;
	for (size_t i = 0; i < json_array_size(chunks) && r == 0; i++) {
		json_t *c = json_array_get(chunks, i);
		const char *id = json_string_value(json_array_get(c, 0));
		const char *hash_hex = json_string_value(json_array_get(c, 2));
		uint8_t want[32], h[32], *plain = NULL;
		size_t pl = 0;
		cs_http_resp resp = {0};
		char path[200];
		if (id == NULL || strlen(id) != 32 || hash_hex == NULL || cs_hex_decode(want, 32, hash_hex) < 0) {
			r = cs_error_set(CS_EMALFORMED, "a chunk entry of the manifest is malformed");
			break;
		}
		snprintf(path, sizeof(path), "%schunks/%s", l->base, id);
		if ((r = cs_httpc_request(&resp, hc, "GET", path, NULL, NULL, 0, CS__BK_BODY_MAX, 120000)) < 0)
			break;
		if (resp.status != 200)
			r = cs_error_set(CS_ENOTFOUND, "the terminal lacks chunk %s", id);
		else
			r = cs__acct_payload_open(&plain, &pl, l->s.dk, CS__BK_CHUNKS, id, resp.body, resp.len);
		cs_http_resp_clear(&resp);
		if (r < 0)
			break;
		cs_sha256(h, plain, pl);
		if (memcmp(h, want, 32) != 0)
			r = cs_error_set(CS_EAUTH, "chunk %s does not hold what the manifest names", id);
		else if (pwrite(fd, plain, pl, (off_t)off) != (ssize_t)pl)
			r = cs_error_set(CS_EIO, "write %s: %s", tmp, strerror(errno));
		off += pl;
		free(plain);
		pthread_mutex_lock(&rs->mu);
		rs->st->chunks_sent++;
		rs->st->bytes_sent += pl;
		rs->done += pl;
		if (l->progress)
			l->progress(l->ud, "restoring", rs->done, rs->total);
		pthread_mutex_unlock(&rs->mu);
	}
	json_t *mode = json_object_get(o, "mode"), *mt = json_object_get(o, "mtime_ns");
	if (r == 0 && (fchmod(fd, (mode_t)(json_integer_value(mode) & 07777)) != 0 ||
		       cs_file_set_mtime(fd, tmp, json_integer_value(mt)) < 0 || fsync(fd) != 0))
		r = cs_error_set(CS_EIO, "finish %s: %s", tmp, strerror(errno));
	close(fd);
	if (r == 0 && rename(tmp, full) != 0)
		r = cs_error_set(CS_EIO, "rename into %s: %s", full, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

static void *restore_worker(void *arg)
{
	struct restorer *rs = arg;
	struct cs_httpc_config cfg = {.base_url = rs->l->url, .ca_path = rs->l->ca_file, .connect_timeout_ms = 5000};
	cs_httpc *hc = NULL;
	int r = cs_httpc_new(&hc, &cfg);
	while (r == 0) {
		pthread_mutex_lock(&rs->mu);
		if (rs->failed || rs->next == rs->njobs) {
			pthread_mutex_unlock(&rs->mu);
			break;
		}
		struct rjob *j = &rs->jobs[rs->next++];
		pthread_mutex_unlock(&rs->mu);
		if ((r = restore_file(rs, hc, j->o, j->full)) < 0)
			break;
		pthread_mutex_lock(&rs->mu);
		rs->st->files++;
		rs->st->bytes += (uint64_t)json_integer_value(json_object_get(j->o, "size"));
		pthread_mutex_unlock(&rs->mu);
	}
	if (r < 0) {
		pthread_mutex_lock(&rs->mu);
		if (!rs->failed) {
			rs->failed = 1;
			rs->err_code = r;
			snprintf(rs->err, sizeof(rs->err), "%s", cs_error_last());
		}
		pthread_mutex_unlock(&rs->mu);
	}
	cs_httpc_free(hc);
	return NULL;
}

static int restore_run(struct restorer *rs)
{
	pthread_t th[RESTORE_WORKERS];
	size_t started = 0;
	pthread_mutex_init(&rs->mu, NULL);
	for (size_t i = 0; i < RESTORE_WORKERS && i < rs->njobs; i++)
		if (pthread_create(&th[i], NULL, restore_worker, rs) == 0)
			started++;
	if (started == 0 && rs->njobs > 0)
		restore_worker(rs);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&rs->mu);
	return rs->failed ? cs_error_set(rs->err_code, "%s", rs->err) : CS_OK;
}

int cs_backup_restore(cs_backup_stats *st, const char *data_dir, const char *code,
	const char *backup, const char *const *items, size_t nitems, const char *dest, int force,
	cs_backup_progress_fn progress, void *ud)
{
	struct link l;
	json_t *rec = NULL, *m = NULL;
	cs_http_resp hr = {0};
	char path[200];
	struct restorer rs;
	int r;

	memset(st, 0, sizeof(*st));
	memset(&rs, 0, sizeof(rs));
	snprintf(st->backup, sizeof(st->backup), "%s", backup);
	if ((r = link_open(&l, data_dir, code)) < 0)
		return r;
	l.progress = progress;
	l.ud = ud;
	snprintf(path, sizeof(path), "%sbackups/%s", l.base, backup);
	if ((r = cs_httpc_request(&hr, l.c, "GET", path, NULL, NULL, 0, CS__BK_MANIFEST_MAX, 120000)) < 0)
		goto done;
	json_t *list = hr.status == 200 ? json_loadb((const char *)hr.body, hr.len, 0, NULL) : NULL;
	rec = json_incref(json_array_get(json_object_get(list, "backups"), 0));
	json_decref(list);
	if (rec == NULL) {
		r = cs_error_set(CS_ENOTFOUND, "no backup %s on the terminal", backup);
		goto done;
	}
	/* the manifest is sealed to its backup's id: a terminal cannot answer
	 * with another backup of the account */
	const char *rid = json_string_value(json_object_get(rec, "id"));
	if (rid == NULL || strcmp(rid, backup) != 0) {
		r = cs_error_set(CS_EAUTH, "the terminal answered with backup %s instead of %s",
			rid ? rid : "?", backup);
		goto done;
	}
	if ((r = open_manifest(&m, &l, rec)) < 0)
		goto done;
	json_t *all = json_object_get(m, "items");
	/* every named item must exist: nothing is restored otherwise */
	for (size_t k = 0; k < nitems; k++) {
		int found = 0;
		for (size_t i = 0; i < json_array_size(all) && !found; i++) {
			const char *id = json_string_value(json_object_get(json_array_get(all, i), "id"));
			found = id && strcmp(id, items[k]) == 0;
		}
		if (!found) {
			r = cs_error_set(CS_ENOTFOUND, "no item %s in backup %s (see 'certsync backup list --backup %s')",
				items[k], backup, backup);
			goto done;
		}
	}
	rs.l = &l;
	rs.st = st;
	if ((rs.jobs = calloc(json_array_size(all) + 1, sizeof(*rs.jobs))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		for (size_t i = 0; i < json_array_size(all) && r == 0; i++) {
			json_t *o = json_array_get(all, i);
			const char *id = json_string_value(json_object_get(o, "id"));
			const char *p = json_string_value(json_object_get(o, "path"));
			const char *kind = json_string_value(json_object_get(o, "kind"));
			int chosen = nitems == 0;
			for (size_t k = 0; k < nitems && !chosen; k++)
				chosen = id && strcmp(id, items[k]) == 0;
			if (!chosen || p == NULL || kind == NULL || !cs_index_path_valid(p)) {
				if (chosen && (p == NULL || !cs_index_path_valid(p)))
					r = cs_error_set(CS_EMALFORMED, "an item of the manifest has an invalid path");
				continue;
			}
			int is_dir = strcmp(kind, "dir") == 0;
			if (pass == 0) { /* count */
				if (!is_dir)
					rs.total += (uint64_t)json_integer_value(json_object_get(o, "size"));
				continue;
			}
			char *full = cs_path_join(dest, p);
			struct stat lst;
			if (full == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				break;
			}
			if (is_dir) {
				if ((r = cs_fs_mkdirs(full, 0755)) == 0)
					chmod(full, (mode_t)(json_integer_value(json_object_get(o, "mode")) & 07777));
			} else if (!force && lstat(full, &lst) == 0 &&
				   (int64_t)lst.st_mtim.tv_sec * 1000000000 + lst.st_mtim.tv_nsec >
					   json_integer_value(json_object_get(o, "mtime_ns"))) {
				st->kept++;
				cs_log(CS_LOG_WARN, "backup.kept_newer", "path=\"%s\"", full);
			} else {
				rs.jobs[rs.njobs].o = o;
				rs.jobs[rs.njobs++].full = full;
				full = NULL;
			}
			free(full);
		}
	}
	/* directories exist now; the files, in parallel */
	if (r == 0)
		r = restore_run(&rs);
done:
	for (size_t i = 0; i < rs.njobs; i++)
		free(rs.jobs[i].full);
	free(rs.jobs);
	cs_http_resp_clear(&hr);
	json_decref(rec);
	json_decref(m);
	link_close(&l);
	return r;
}
