/*
 * The backup terminal (include/certsync/backup.h, PROTOCOL.md §12): an
 * HTTPS server on its own small CA, whose certificate's fingerprint goes
 * into the code it shows. One code, one device: the hello that uses a code
 * makes the terminal register the next one at once.
 *
 * Storage under DIR:
 *   tls/ca/          the terminal's CA (its certificate is what the code pins)
 *   tls/server.{key,crt}
 *   chunks/xx/<id>   chunk records, sealed by the device with the account's
 *                    data key; written atomically, so a killed push leaves
 *                    only whole chunks behind, which the next push skips
 *   backups/<id>.json one file per committed backup: id, created, device,
 *                    counts, and the sealed manifest
 *   pairing.txt, pairing.png  the current code
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/httpd.h>
#include <certsync/index.h>
#include <certsync/log.h>
#include <certsync/qr.h>
#include <certsync/secure.h>
#include "backup/local.h"

#define PREFIX "/v1/backup/"
#define SESSIONS_MAX 16
#define SESSION_IDLE_MS (15 * 60 * 1000)
#define TTL_DEFAULT 600
#define CERT_DAYS 3650

enum sstate { S_FREE = 0, S_HELLO, S_READY };

struct session {
	enum sstate state;
	char id[65];
	char phone[CS_DEVICE_ID_SIZE];
	char pairing[CS_BACKUP_PAIRING_ID_LEN + 1];
	uint8_t secret[32];
	uint8_t pnonce[CS__BK_NONCE_LEN], tnonce[CS__BK_NONCE_LEN];
	int64_t last_ms;
	uint64_t received;
};

struct terminal {
	const struct cs_backup_terminal_options *o;
	struct cs__acct_session s;
	struct cs__acct_conn cn;
	cs_cert *hub_ca;
	char *ca_pem;             /* the terminal CA certificate (served, pinned) */
	char fingerprint[65];
	cs_httpd *httpd;
	char addrs[CS_BACKUP_ADDRS_MAX][CS_BACKUP_ADDR_MAX];
	size_t naddrs;
	/* the current code */
	cs_backup_pairing code;
	int code_live;
	struct session sess[SESSIONS_MAX];
};

static char *at(struct terminal *t, const char *rel)
{
	return cs_path_join(t->o->dir, rel);
}

/* ---- TLS identity ---- */

static int save_text(const char *path, const char *text, mode_t mode)
{
	return cs_fs_write_atomic(path, text, strlen(text), mode);
}

/* Create (first run) or load the terminal's CA and server certificate. */
static int tls_identity(struct terminal *t, char **key_path, char **crt_path)
{
	char *cadir = at(t, "tls/ca"), *capath = at(t, "tls/ca/ca.crt");
	cs_ca *ca = NULL;
	cs_key *key = NULL;
	cs_cert *crt = NULL;
	char *pem = NULL;
	const char *dns[CS_BACKUP_ADDRS_MAX + 2], *ips[CS_BACKUP_ADDRS_MAX + 2];
	char hosts[CS_BACKUP_ADDRS_MAX][CS_BACKUP_ADDR_MAX];
	size_t nd = 0, ni = 0;
	int r;

	*key_path = at(t, "tls/server.key");
	*crt_path = at(t, "tls/server.crt");
	if (cadir == NULL || capath == NULL || *key_path == NULL || *crt_path == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if (!cs_fs_exists(capath)) {
		if ((r = cs_fs_mkdirs(cadir, 0700)) < 0 || (r = cs_ca_create(cadir, "certsync backup terminal")) < 0)
			goto done;
	}
	if ((r = cs_ca_open(&ca, cadir)) < 0 || (r = cs_cert_fingerprint(t->fingerprint, cs_ca_cert(ca))) < 0 ||
	    (r = cs_cert_to_pem(&t->ca_pem, cs_ca_cert(ca))) < 0)
		goto done;
	/* a server certificate for every address in the code, made anew each
	 * start (addresses may change; the pinned CA does not) */
	dns[nd++] = "localhost";
	ips[ni++] = "127.0.0.1";
	for (size_t i = 0; i < t->naddrs; i++) {
		uint8_t buf[16];
		char *colon;
		snprintf(hosts[i], sizeof(hosts[i]), "%s", t->addrs[i]);
		if (hosts[i][0] == '[' && (colon = strchr(hosts[i], ']')) != NULL) {
			*colon = 0;
			memmove(hosts[i], hosts[i] + 1, strlen(hosts[i]));
		} else if ((colon = strrchr(hosts[i], ':')) != NULL) {
			*colon = 0;
		}
		if (inet_pton(AF_INET, hosts[i], buf) == 1 || inet_pton(AF_INET6, hosts[i], buf) == 1)
			ips[ni++] = hosts[i];
		else
			dns[nd++] = hosts[i];
	}
	dns[nd] = NULL;
	ips[ni] = NULL;
	if ((r = cs_key_generate(&key)) < 0 || (r = cs_key_save(key, *key_path, NULL)) < 0 ||
	    (r = cs_ca_issue_server(&crt, ca, key, "certsync backup terminal", dns, ips, CERT_DAYS)) < 0 ||
	    (r = cs_cert_to_pem(&pem, crt)) < 0)
		goto done;
	/* the chain: server certificate, then the CA the code pins */
	size_t n = strlen(pem) + strlen(t->ca_pem) + 1;
	char *chain = malloc(n);
	if (chain == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	snprintf(chain, n, "%s%s", pem, t->ca_pem);
	r = save_text(*crt_path, chain, 0644);
	free(chain);
done:
	free(pem);
	cs_cert_free(crt);
	cs_key_free(key);
	cs_ca_free(ca);
	free(cadir);
	free(capath);
	return r;
}

/* ---- codes ---- */

static int register_code(struct terminal *t)
{
	cs_backup_pairing p;
	uint8_t hash[32];
	char fp_hex[65], sh_hex[65], *payload = NULL, *txt = NULL, *png = NULL;
	json_t *resp = NULL;
	int status, r;

	memset(&p, 0, sizeof(p));
	t->code_live = 0;
	if ((r = cs_random(p.secret, sizeof(p.secret))) < 0)
		return r;
	cs_sha256(hash, p.secret, sizeof(p.secret));
	cs_hex_encode(sh_hex, hash, sizeof(hash));
	snprintf(fp_hex, sizeof(fp_hex), "%s", t->fingerprint);
	if (cs_hex_decode(p.fingerprint, 32, fp_hex) < 0)
		return cs_error_set(CS_EINVAL, "bad certificate fingerprint");
	r = cs__acct_call(&t->cn, "/v1/account/pairings/create",
		json_pack("{s:s, s:s, s:I}", "fingerprint", fp_hex, "secret_hash", sh_hex, "ttl",
			(json_int_t)(t->o->ttl > 0 ? t->o->ttl : TTL_DEFAULT)), &resp, &status);
	if (r < 0)
		goto done;
	const char *id = json_string_value(json_object_get(resp, "pairing"));
	json_t *exp = json_object_get(resp, "expires");
	if (id == NULL || strlen(id) != CS_BACKUP_PAIRING_ID_LEN || !json_is_integer(exp)) {
		r = cs_error_set(CS_EMALFORMED, "the hub's pairing answer is malformed");
		goto done;
	}
	memcpy(p.id, id, CS_BACKUP_PAIRING_ID_LEN + 1);
	p.expires = json_integer_value(exp);
	for (size_t i = 0; i < t->naddrs; i++)
		memcpy(p.addrs[i], t->addrs[i], CS_BACKUP_ADDR_MAX);
	p.naddrs = t->naddrs;
	if ((r = cs_backup_pairing_encode(&payload, &p)) < 0)
		goto done;
	if ((txt = at(t, "pairing.txt")) == NULL || (png = at(t, "pairing.png")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_qr_write_png(png, payload, 0)) < 0 || (r = save_text(txt, payload, 0600)) < 0)
		goto done;
	t->code = p;
	t->code_live = 1;
	cs_log(CS_LOG_INFO, "backup.code", "pairing=%s expires=%lld", p.id, (long long)p.expires);
	if (t->o->on_pairing)
		t->o->on_pairing(t->o->ud, payload, png);
done:
	cs_wipe(&p, sizeof(p));
	json_decref(resp);
	free(payload);
	free(txt);
	free(png);
	return r;
}

static void tick(void *ud)
{
	struct terminal *t = ud;
	int64_t now = cs_clock_mono_ms();
	if (!t->code_live || t->code.expires <= cs_clock_now()) {
		if (register_code(t) < 0)
			cs_log(CS_LOG_WARN, "backup.code_failed", "error=\"%s\"", cs_error_last());
	}
	for (size_t i = 0; i < SESSIONS_MAX; i++)
		if (t->sess[i].state != S_FREE && now - t->sess[i].last_ms > SESSION_IDLE_MS)
			cs_wipe(&t->sess[i], sizeof(t->sess[i]));
}

/* ---- requests ---- */

static void reply_json(cs_http_req *req, int status, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
		return;
	}
	cs_http_reply(req, status, "application/json", text, strlen(text));
	free(text);
}

static json_t *body_json(cs_http_req *req)
{
	size_t len;
	const uint8_t *b = cs_http_req_body(req, &len);
	json_t *j = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, NULL);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* 1 when s is n lowercase hex digits. */
static int is_hex(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int hello_checked(struct terminal *t, cs_http_req *req)
{
	struct cs__bk_first f;
	uint8_t pnonce[CS__BK_NONCE_LEN], proof[32], want[32];
	json_t *j = body_json(req);
	struct session *s = NULL;
	int r, ok = 0;

	if (j == NULL) {
		cs_http_reply_error(req, 400, "malformed", "the body is not a JSON object");
		return 0;
	}
	r = cs__bk_first_open(&f, json_string_value(json_object_get(j, "first")),
		json_string_value(json_object_get(j, "signature")), t->hub_ca);
	if (r < 0) {
		cs_http_reply_error(req, 401, "first_invalid", "%s", cs_error_last());
		goto done;
	}
	if (cs__bk_hex(pnonce, sizeof(pnonce), j, "nonce") < 0 || cs__bk_hex(proof, sizeof(proof), j, "proof") < 0) {
		cs_http_reply_error(req, 400, "malformed", "%s", cs_error_last());
		goto done;
	}
	const char *why = NULL;
	if (strcmp(f.account, t->s.account) != 0)
		why = "it names another account";
	else if (strcmp(f.terminal, t->s.device) != 0 || strcmp(f.terminal_fingerprint, t->fingerprint) != 0)
		why = "it names another terminal";
	else if (f.expires < cs_clock_now())
		why = "it expired";
	else if (memcmp(f.phone_nonce, pnonce, sizeof(pnonce)) != 0)
		why = "its nonce is not the device's";
	if (why != NULL) {
		cs_http_reply_error(req, 403, "first_mismatch", "first verification information refused: %s", why);
		goto done;
	}
	if (!t->code_live || strcmp(f.pairing, t->code.id) != 0) {
		cs_http_reply_error(req, 409, "pairing_used",
			"this code was used already or replaced; scan the code the terminal shows now");
		goto done;
	}
	if ((r = cs__bk_mac(want, t->code.secret, "certsync-backup-hello", f.account, f.pairing, f.phone,
		     pnonce, NULL)) < 0 || !cs_memeq(want, proof, sizeof(want))) {
		cs_http_reply_error(req, 401, "proof_invalid", "the device did not prove it read the code");
		goto done;
	}
	for (size_t i = 0; i < SESSIONS_MAX && s == NULL; i++)
		if (t->sess[i].state == S_FREE)
			s = &t->sess[i];
	if (s == NULL) {
		/* all slots taken: the session idle longest makes room */
		s = &t->sess[0];
		for (size_t i = 1; i < SESSIONS_MAX; i++)
			if (t->sess[i].last_ms < s->last_ms)
				s = &t->sess[i];
		cs_log(CS_LOG_INFO, "backup.session_evicted", "device=%s", s->phone);
		cs_wipe(s, sizeof(*s));
	}
	uint8_t sid[32], mac[32];
	char tn_hex[65], mac_hex[65];
	if (cs_random(sid, sizeof(sid)) < 0 || cs_random(s->tnonce, sizeof(s->tnonce)) < 0) {
		cs_http_reply_error(req, 500, "error", "no randomness");
		goto done;
	}
	cs_hex_encode(s->id, sid, sizeof(sid));
	memcpy(s->secret, t->code.secret, 32);
	memcpy(s->pnonce, pnonce, sizeof(pnonce));
	snprintf(s->phone, sizeof(s->phone), "%s", f.phone);
	snprintf(s->pairing, sizeof(s->pairing), "%s", f.pairing);
	s->state = S_HELLO;
	s->last_ms = cs_clock_mono_ms();
	cs__bk_mac(mac, s->secret, "certsync-backup-second", f.account, f.pairing, f.phone, pnonce,
		s->tnonce);
	cs_hex_encode(tn_hex, s->tnonce, sizeof(s->tnonce));
	cs_hex_encode(mac_hex, mac, sizeof(mac));
	cs_log(CS_LOG_INFO, "backup.hello", "device=%s pairing=%s", f.phone, f.pairing);
	reply_json(req, 200, json_pack("{s:s, s:s, s:s}", "session", s->id, "nonce", tn_hex, "mac", mac_hex));
	ok = 1;
done:
	json_decref(j);
	cs_wipe(&f, sizeof(f));
	return ok;
}

/* A hello spends the code whatever its outcome: the device claimed the
 * pairing at the hub before it came here, so show the next code. */
static void hello(struct terminal *t, cs_http_req *req)
{
	int ok = hello_checked(t, req);
	if (!ok)
		cs_log(CS_LOG_WARN, "backup.hello_refused", "remote=%s", cs_http_req_remote(req));
	if (register_code(t) < 0)
		cs_log(CS_LOG_WARN, "backup.code_failed", "error=\"%s\"", cs_error_last());
}

static struct session *find_session(struct terminal *t, const char *id, enum sstate want)
{
	if (!is_hex(id, 64))
		return NULL;
	for (size_t i = 0; i < SESSIONS_MAX; i++)
		if (t->sess[i].state == want && cs_memeq(t->sess[i].id, id, 64)) {
			t->sess[i].last_ms = cs_clock_mono_ms();
			return &t->sess[i];
		}
	return NULL;
}

static void confirm(struct terminal *t, cs_http_req *req, struct session *s)
{
	uint8_t mac[32], want[32];
	json_t *j = body_json(req);
	if (j == NULL || cs__bk_hex(mac, sizeof(mac), j, "mac") < 0) {
		cs_http_reply_error(req, 400, "malformed", "confirm needs {\"mac\": 64 hex digits}");
	} else if (cs__bk_mac(want, s->secret, "certsync-backup-confirm", t->s.account, s->pairing,
			   s->phone, s->pnonce, s->tnonce) < 0 || !cs_memeq(mac, want, sizeof(want))) {
		cs_wipe(s, sizeof(*s));
		cs_http_reply_error(req, 401, "confirm_invalid", "the device's confirmation does not verify");
	} else {
		s->state = S_READY;
		cs_log(CS_LOG_INFO, "backup.ready", "device=%s", s->phone);
		reply_json(req, 200, json_pack("{s:b}", "ready", 1));
	}
	json_decref(j);
}

static char *chunk_path(struct terminal *t, const char *id)
{
	char rel[64];
	snprintf(rel, sizeof(rel), "chunks/%.2s/%s", id, id);
	return at(t, rel);
}

static void missing(struct terminal *t, cs_http_req *req)
{
	json_t *j = body_json(req), *ids = json_object_get(j, "ids"), *out = json_array();
	if (!json_is_array(ids) || json_array_size(ids) > 1000 || out == NULL) {
		cs_http_reply_error(req, 400, "malformed", "missing needs {\"ids\": [at most 1000 ids]}");
		json_decref(out);
		json_decref(j);
		return;
	}
	for (size_t i = 0; i < json_array_size(ids); i++) {
		const char *id = json_string_value(json_array_get(ids, i));
		if (!is_hex(id, 32)) {
			cs_http_reply_error(req, 400, "malformed", "a chunk id is 32 hex digits");
			json_decref(out);
			json_decref(j);
			return;
		}
		char *p = chunk_path(t, id);
		if (p != NULL && !cs_fs_exists(p))
			json_array_append_new(out, json_string(id));
		free(p);
	}
	reply_json(req, 200, json_pack("{s:o}", "missing", out));
	json_decref(j);
}

/* Write a chunk record: temporary file, fsync, rename. The directory
 * entries are made durable by the syncfs() before a commit is answered
 * (the chunk directories exist from the start, see make_chunk_dirs). */
static int store_chunk(const char *dir, const char *path, const uint8_t *b, size_t len)
{
	char tmp[4096];
	int fd, r = CS_OK;
	if ((fd = cs_fs_temp_in(tmp, sizeof(tmp), dir, CS_TMP_PREFIX)) < 0)
		return fd;
	size_t done = 0;
	while (done < len && r == 0) {
		ssize_t w = write(fd, b + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			r = cs_error_set(CS_EIO, "write %s: %s", tmp, w < 0 ? strerror(errno) : "short write");
		else
			done += (size_t)w;
	}
	if (r == 0 && fsync(fd) != 0)
		r = cs_error_set(CS_EIO, "fsync %s: %s", tmp, strerror(errno));
	close(fd);
	if (r == 0 && rename(tmp, path) != 0)
		r = cs_error_set(CS_EIO, "rename %s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

/* chunks/00 .. chunks/ff, made once so that storing a chunk is one file. */
static int make_chunk_dirs(struct terminal *t)
{
	for (int i = 0; i < 256; i++) {
		char rel[16];
		snprintf(rel, sizeof(rel), "chunks/%02x", i);
		char *p = at(t, rel);
		int r = p ? cs_fs_mkdirs(p, 0700) : cs_error_set(CS_ENOMEM, "out of memory");
		free(p);
		if (r < 0)
			return r;
	}
	return CS_OK;
}

/* Make every chunk stored so far durable (file data was fsynced; this
 * covers the renames) before a backup that names them is committed. */
static int sync_store(struct terminal *t)
{
	return cs_fs_syncfs(t->o->dir);
}

static void put_chunk(struct terminal *t, cs_http_req *req, struct session *s, const char *id)
{
	size_t len;
	const uint8_t *b = cs_http_req_body(req, &len);
	char *p = chunk_path(t, id), *dir = p ? strdup(p) : NULL;
	int r;
	if (p == NULL || dir == NULL) {
		cs_http_reply_error(req, 500, "error", "out of memory");
	} else if (len < 28 || len > CS__BK_BODY_MAX) {
		cs_http_reply_error(req, 400, "malformed", "a chunk record is 28 bytes to 5 MiB");
	} else {
		*strrchr(dir, '/') = 0;
		if ((r = store_chunk(dir, p, b, len)) < 0) {
			cs_log(CS_LOG_ERROR, "backup.write_failed", "error=\"%s\"", cs_error_last());
			cs_http_reply_error(req, 507, "storage", "cannot store the chunk: %s", cs_error_last());
		} else {
			s->received += len;
			if (t->o->on_progress)
				t->o->on_progress(t->o->ud, "receiving", s->received, 0);
			cs_http_reply(req, 204, NULL, NULL, 0);
		}
	}
	free(p);
	free(dir);
}

static void get_chunk(struct terminal *t, cs_http_req *req, struct session *s, const char *id)
{
	char *p = chunk_path(t, id);
	struct stat st;
	int fd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
	free(p);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		cs_http_reply_error(req, 404, "not_found", "no such chunk");
		return;
	}
	s->received += (uint64_t)st.st_size;
	if (t->o->on_progress)
		t->o->on_progress(t->o->ud, "sending", s->received, 0);
	cs_http_reply_file(req, 200, "application/octet-stream", fd, (uint64_t)st.st_size);
}

static int backup_id_ok(const char *id)
{
	return cs_text_is_name(id, 48, "-") != 0;
}

static void commit(struct terminal *t, cs_http_req *req, struct session *s)
{
	json_t *j = body_json(req);
	const char *manifest = json_string_value(json_object_get(j, "manifest"));
	const char *id = json_string_value(json_object_get(j, "backup"));
	json_t *files = json_object_get(j, "files"), *bytes = json_object_get(j, "bytes");
	const char *source = json_string_value(json_object_get(j, "source"));
	char rel[80], *p = NULL, *text = NULL;
	int r;

	if (manifest == NULL || !backup_id_ok(id) || !json_is_integer(files) || !json_is_integer(bytes) ||
	    source == NULL || strlen(source) > 255) {
		cs_http_reply_error(req, 400, "malformed", "commit needs backup, manifest, files, bytes, source");
		goto done;
	}
	snprintf(rel, sizeof(rel), "backups/%s.json", id);
	json_t *rec = json_pack("{s:s, s:I, s:s, s:s, s:O, s:O, s:s}", "id", id, "created",
		(json_int_t)cs_clock_now(), "device", s->phone, "source", source, "files", files, "bytes",
		bytes, "manifest", manifest);
	text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	json_decref(rec);
	char *dir = at(t, "backups");
	if (text == NULL || dir == NULL || (p = at(t, rel)) == NULL) {
		free(dir);
		cs_http_reply_error(req, 500, "error", "out of memory");
		goto done;
	}
	if (cs_fs_exists(p)) {
		free(dir);
		cs_http_reply_error(req, 409, "exists", "backup %s exists", id);
		goto done;
	}
	r = cs_fs_mkdirs(dir, 0700);
	free(dir);
	if (r < 0 || (r = sync_store(t)) < 0 || (r = cs_fs_write_atomic(p, text, strlen(text), 0600)) < 0) {
		cs_http_reply_error(req, 507, "storage", "cannot store the backup: %s", cs_error_last());
		goto done;
	}
	cs_log(CS_LOG_INFO, "backup.committed", "backup=%s device=%s files=%lld", id, s->phone,
		(long long)json_integer_value(files));
	reply_json(req, 200, json_pack("{s:s}", "backup", id));
done:
	free(text);
	free(p);
	json_decref(j);
}

/* Every backup's record, or (id non-NULL) that one's. */
static void list(struct terminal *t, cs_http_req *req, const char *only)
{
	char *dir = at(t, "backups");
	DIR *d = dir ? opendir(dir) : NULL;
	json_t *arr = json_array();
	struct dirent *e;
	while (d != NULL && arr != NULL && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		char rel[300];
		snprintf(rel, sizeof(rel), "backups/%s", e->d_name);
		char *p = at(t, rel);
		json_t *rec = p ? json_load_file(p, JSON_REJECT_DUPLICATES, NULL) : NULL;
		free(p);
		const char *id = json_string_value(json_object_get(rec, "id"));
		if (rec != NULL && id != NULL && (only == NULL || strcmp(id, only) == 0))
			json_array_append(arr, rec);
		json_decref(rec);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	if (only != NULL && json_array_size(arr) == 0) {
		json_decref(arr);
		cs_http_reply_error(req, 404, "not_found", "no backup %s on this terminal", only);
		return;
	}
	reply_json(req, 200, json_pack("{s:o}", "backups", arr));
}

/* /v1/backup/s/<session>/<what>[/<id>] */
static void session_call(struct terminal *t, cs_http_req *req, const char *rest)
{
	char sid[65], what[16], id[80] = "";
	const char *method = cs_http_req_method(req);
	const char *slash = strchr(rest, '/');
	if (slash == NULL || slash - rest != 64) {
		cs_http_reply_error(req, 404, "not_found", "no such resource");
		return;
	}
	memcpy(sid, rest, 64);
	sid[64] = 0;
	const char *w = slash + 1, *s2 = strchr(w, '/');
	size_t wl = s2 ? (size_t)(s2 - w) : strlen(w);
	if (wl == 0 || wl >= sizeof(what) || (s2 && strlen(s2 + 1) >= sizeof(id))) {
		cs_http_reply_error(req, 404, "not_found", "no such resource");
		return;
	}
	memcpy(what, w, wl);
	what[wl] = 0;
	if (s2)
		snprintf(id, sizeof(id), "%s", s2 + 1);
	if (strcmp(what, "confirm") == 0) {
		struct session *s = find_session(t, sid, S_HELLO);
		if (s == NULL)
			cs_http_reply_error(req, 401, "session", "no such handshake (expired or done)");
		else
			confirm(t, req, s);
		return;
	}
	struct session *s = find_session(t, sid, S_READY);
	if (s == NULL) {
		cs_http_reply_error(req, 401, "session", "no such session (finish the handshake first)");
		return;
	}
	int post = strcmp(method, "POST") == 0;
	if (strcmp(what, "close") == 0 && post) {
		cs_wipe(s, sizeof(*s));
		cs_http_reply(req, 204, NULL, NULL, 0);
	} else if (strcmp(what, "missing") == 0 && post)
		missing(t, req);
	else if (strcmp(what, "chunks") == 0 && is_hex(id, 32) && strcmp(method, "PUT") == 0)
		put_chunk(t, req, s, id);
	else if (strcmp(what, "chunks") == 0 && is_hex(id, 32) && strcmp(method, "GET") == 0)
		get_chunk(t, req, s, id);
	else if (strcmp(what, "commit") == 0 && post)
		commit(t, req, s);
	else if (strcmp(what, "list") == 0 && post)
		list(t, req, NULL);
	else if (strcmp(what, "backups") == 0 && backup_id_ok(id) && strcmp(method, "GET") == 0)
		list(t, req, id);
	else
		cs_http_reply_error(req, 404, "not_found", "no such resource");
}

static void route(cs_http_req *req, void *ud)
{
	struct terminal *t = ud;
	const char *path = cs_http_req_path(req) + strlen(PREFIX);
	const char *method = cs_http_req_method(req);
	if (strcmp(path, "cert") == 0 && strcmp(method, "GET") == 0)
		cs_http_reply(req, 200, "application/x-pem-file", t->ca_pem, strlen(t->ca_pem));
	else if (strcmp(path, "hello") == 0 && strcmp(method, "POST") == 0)
		hello(t, req);
	else if (strncmp(path, "s/", 2) == 0)
		session_call(t, req, path + 2);
	else
		cs_http_reply_error(req, 404, "not_found", "no such resource");
}

/* The addresses in the code: the given hosts with the bound port, or the
 * listen address (a wildcard shown as 127.0.0.1). */
static int make_addrs(struct terminal *t, int port)
{
	const char *const *h = t->o->hosts;
	char host[CS_BACKUP_ADDR_MAX - 8];
	t->naddrs = 0;
	if (h == NULL || h[0] == NULL) {
		snprintf(host, sizeof(host), "%s", t->o->listen);
		char *c = strrchr(host, ':');
		if (c != NULL)
			*c = 0;
		if (host[0] == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
		    strcmp(host, "[::]") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		snprintf(t->addrs[t->naddrs++], CS_BACKUP_ADDR_MAX, "%.48s:%d", host, port);
		return CS_OK;
	}
	for (; *h != NULL; h++) {
		if (t->naddrs == CS_BACKUP_ADDRS_MAX || strlen(*h) > 48)
			return cs_error_set(CS_EINVAL, "at most %d host names of up to %d characters",
				CS_BACKUP_ADDRS_MAX, 48);
		snprintf(t->addrs[t->naddrs++], CS_BACKUP_ADDR_MAX, "%.48s:%d", *h, port);
	}
	return CS_OK;
}

int cs_backup_terminal_run(const struct cs_backup_terminal_options *o)
{
	struct terminal *t = calloc(1, sizeof(*t));
	char *key_path = NULL, *crt_path = NULL;
	int r;

	if (t == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	t->o = o;
	if ((r = cs_fs_mkdirs(o->dir, 0700)) < 0 || (r = make_chunk_dirs(t)) < 0 ||
	    (r = cs__acct_session_load(&t->s, o->data_dir)) < 0 ||
	    (r = cs_cert_load(&t->hub_ca, t->s.ca_path)) < 0 || (r = cs__acct_conn_open(&t->cn, &t->s, NULL)) < 0)
		goto done;
	/* certificates name hosts, not ports: issue for the hosts, bind, then
	 * put the bound port into the addresses of the code */
	if ((r = make_addrs(t, 0)) < 0 || (r = tls_identity(t, &key_path, &crt_path)) < 0)
		goto done;
	struct cs_httpd_config cfg = {
		.listen = o->listen, .cert_path = crt_path, .key_path = key_path,
		.max_body = CS__BK_BODY_MAX + 4096, .timeout_s = 120,
	};
	if ((r = cs_httpd_new(&t->httpd, &cfg)) < 0 || (r = make_addrs(t, cs_httpd_port(t->httpd))) < 0 ||
	    (r = cs_httpd_route(t->httpd, "*", PREFIX, route, t)) < 0 ||
	    (r = cs_httpd_every(t->httpd, 1000, tick, t)) < 0)
		goto done;
	if ((r = register_code(t)) < 0)
		goto done;
	cs_log(CS_LOG_INFO, "backup.terminal", "listen=%s dir=%s fingerprint=%s", t->addrs[0], o->dir,
		t->fingerprint);
	r = cs_httpd_run(t->httpd);
done:
	if (t->httpd)
		cs_httpd_free(t->httpd);
	free(key_path);
	free(crt_path);
	cs__acct_conn_close(&t->cn);
	cs__acct_session_clear(&t->s);
	cs_cert_free(t->hub_ca);
	free(t->ca_pem);
	cs_wipe(t, sizeof(*t));
	free(t);
	return r;
}
