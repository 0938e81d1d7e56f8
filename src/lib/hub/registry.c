/*
 * The device registry (registration ways 1-3 all end in
 * cs__hub_device_insert_tx), revocation and the CRL, and the list of
 * administrator certificates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/log.h>
#include "hub/hub_internal.h"

#define SEEN_PERSIST_S 30 /* last_seen is written at most this often */
#define DEVICE_COLS "device_id, name, address, cert_pem, fingerprint, serial, status, " \
	"revoked_at, created, last_seen, not_after"

void cs__device_clear(struct cs__device *d)
{
	if (d == NULL)
		return;
	free(d->name);
	free(d->address);
	free(d->cert_pem);
	free(d->serial);
	memset(d, 0, sizeof(*d));
}

static char *dup_col(cs_stmt *q, int col)
{
	const char *s = cs_stmt_text(q, col);
	return strdup(s ? s : "");
}

static int load_row(struct cs__device *out, cs_stmt *q)
{
	struct cs__device d = {0};
	snprintf(d.id, sizeof(d.id), "%s", cs_stmt_text(q, 0));
	d.name = dup_col(q, 1);
	d.address = dup_col(q, 2);
	d.cert_pem = dup_col(q, 3);
	snprintf(d.fingerprint, sizeof(d.fingerprint), "%s", cs_stmt_text(q, 4));
	d.serial = dup_col(q, 5);
	const char *st = cs_stmt_text(q, 6);
	d.revoked = st && strcmp(st, "revoked") == 0;
	d.revoked_at = cs_stmt_int64(q, 7);
	d.created = cs_stmt_int64(q, 8);
	d.last_seen = cs_stmt_int64(q, 9);
	d.not_after = cs_stmt_int64(q, 10);
	if (!d.name || !d.address || !d.cert_pem || !d.serial) {
		cs__device_clear(&d);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	*out = d;
	return CS_OK;
}

static int get_where(cs_hub *hub, struct cs__device *out, const char *where, const char *arg)
{
	char sql[256];
	cs_stmt *q = NULL;
	int r;
	snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLS " FROM devices WHERE %s", where);
	if ((r = cs_store_prepare(&q, hub->db, sql)) < 0)
		return r;
	if ((r = cs_stmt_bind_text(q, 1, arg)) < 0)
		goto done;
	r = cs_stmt_step(q);
	if (r == 0)
		r = cs_error_set(CS_ENOTFOUND, "no such device");
	else if (r == 1)
		r = load_row(out, q);
done:
	cs_stmt_free(q);
	return r;
}

int cs__hub_device_get(cs_hub *hub, struct cs__device *out, const char *id)
{
	char norm[CS_DEVICE_ID_SIZE];
	if (cs_device_id_parse(norm, id) < 0)
		return cs_error_set(CS_ENOTFOUND, "no such device: not a valid device ID");
	int r = get_where(hub, out, "device_id = ?", norm);
	if (r == CS_ENOTFOUND)
		cs_error_set(CS_ENOTFOUND, "no device %s is registered", norm);
	return r;
}

int cs__hub_device_by_fingerprint(cs_hub *hub, struct cs__device *out, const char *fp)
{
	return get_where(hub, out, "fingerprint = ?", fp);
}

int cs__hub_check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > CS__HUB_NAME_MAX)
		return cs_error_set(CS_EINVAL, "name must be 1..%d bytes", CS__HUB_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return cs_error_set(CS_EINVAL, "name contains a control character");
	}
	return CS_OK;
}

int cs__hub_check_address(const char *addr)
{
	size_t n = addr ? strlen(addr) : 0;
	if (n == 0 || n > CS__HUB_TEXT_MAX)
		return cs_error_set(CS_EINVAL, "address must be 1..%d bytes", CS__HUB_TEXT_MAX);
	for (size_t i = 0; i < n; i++)
		if (addr[i] < 0x21 || addr[i] > 0x7e)
			return cs_error_set(CS_EINVAL, "address contains a space or control character");
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || colon[1] == '\0' || strlen(colon + 1) > 5)
		return cs_error_set(CS_EINVAL, "address must be host:port");
	long port = 0;
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return cs_error_set(CS_EINVAL, "address must be host:port");
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return cs_error_set(CS_EINVAL, "address has a bad port");
	return CS_OK;
}

int cs__device_id_spki_hex(char out[65], const char *device_id)
{
	char norm[CS_DEVICE_ID_SIZE];
	char b32[53];
	uint8_t h[40];
	size_t n = 0, hl = 0;
	int r;
	if ((r = cs_device_id_parse(norm, device_id)) < 0)
		return r;
	/* drop dashes and the check character after every 13 data characters */
	size_t k = 0;
	for (const char *p = norm; *p; p++) {
		if (*p == '-')
			continue;
		if (k++ % 14 == 13)
			continue;
		b32[n++] = *p;
	}
	b32[n] = '\0';
	if (n != 52 || cs_base32_decode(h, &hl, b32) < 0 || hl != 32) {
		/* 52 characters hold 260 bits; the decoder keeps 32 bytes and
		 * checks that the 4 spare bits are zero, as cs_device_id_parse did */
		return cs_error_set(CS_EMALFORMED, "device ID does not encode a key hash");
	}
	cs_hex_encode(out, h, 32);
	return CS_OK;
}

int cs__hub_device_insert_tx(cs_hub *hub, const cs_cert *cert, const char *name,
	const char *address, char id_out[CS_DEVICE_ID_SIZE])
{
	char id[CS_DEVICE_ID_SIZE], fp[CS_FINGERPRINT_SIZE];
	char *pem = NULL, *serial = NULL;
	cs_stmt *q = NULL;
	int r;

	if ((r = cs_cert_device_id(id, cert)) < 0 || (r = cs_cert_fingerprint(fp, cert)) < 0 ||
	    (r = cs_cert_to_pem(&pem, cert)) < 0 || (r = cs_cert_serial(&serial, cert)) < 0)
		goto done;
	if ((r = cs_store_prepare(&q, hub->db, "SELECT status FROM devices WHERE device_id = ?")) < 0 ||
	    (r = cs_stmt_bind_text(q, 1, id)) < 0)
		goto done;
	if ((r = cs_stmt_step(q)) < 0)
		goto done;
	if (r == 1) {
		/* A revoked key stays out: revocation is meant to exclude a device
		 * for good; it can enroll again only with a new key. */
		r = cs_error_set(CS_EEXISTS, "device %s is registered already%s", id,
			strcmp(cs_stmt_text(q, 0), "revoked") == 0 ? " (revoked; use a new key)" : "");
		goto done;
	}
	cs_stmt_free(q);
	q = NULL;
	if ((r = cs__db_exec(hub->db,
		     "INSERT INTO devices (device_id, name, address, cert_pem, fingerprint, serial,"
		     " not_after, status, created, last_seen) VALUES (?,?,?,?,?,?,?,'active',?,0)",
		     CS__DB_ARGS(CS__DB_T(id), CS__DB_T(name), CS__DB_T(address ? address : ""),
			     CS__DB_T(pem), CS__DB_T(fp), CS__DB_T(serial),
			     CS__DB_I(cs_cert_not_after(cert)), CS__DB_I(cs_clock_now())))) < 0) {
		if (r == CS_ECONFLICT)
			r = cs_error_set(CS_EEXISTS, "this certificate is registered already");
		goto done;
	}
	snprintf(id_out, CS_DEVICE_ID_SIZE, "%s", id);
	cs_log(CS_LOG_INFO, "device.registered", "device=%s fingerprint=%s", id, fp);
	r = CS_OK;
done:
	cs_stmt_free(q);
	free(pem);
	free(serial);
	return r;
}

int cs__hub_issue_and_register_tx(cs_hub *hub, const char *csr_pem, const char *name,
	const char *address, char id_out[CS_DEVICE_ID_SIZE], char **cert_pem_out)
{
	cs_cert *cert = NULL;
	char id[CS_DEVICE_ID_SIZE];
	char *pem = NULL;
	int r;

	if ((r = cs_ca_issue_device(&cert, hub->ca, csr_pem, name, CS__HUB_DEVICE_DAYS)) < 0) {
		if (r != CS_ENOMEM) {
			char why[256];
			snprintf(why, sizeof(why), "%s", cs_error_last());
			r = cs_error_set(CS_EMALFORMED, "certificate request refused: %s", why);
		}
		goto done;
	}
	if ((r = cs__hub_device_insert_tx(hub, cert, name, address, id)) < 0 ||
	    (r = cs_cert_to_pem(&pem, cert)) < 0)
		goto done;
	snprintf(id_out, CS_DEVICE_ID_SIZE, "%s", id);
	*cert_pem_out = pem;
	pem = NULL;
done:
	free(pem);
	cs_cert_free(cert);
	return r;
}

void cs__hub_device_seen(cs_hub *hub, struct cs__device *d)
{
	int64_t now = cs_clock_now();
	if (now - d->last_seen < SEEN_PERSIST_S)
		return;
	d->last_seen = now;
	(void)cs__db_step(hub->db, "UPDATE devices SET last_seen = ? WHERE device_id = ?",
		CS__DB_ARGS(CS__DB_I(now), CS__DB_T(d->id)));
}

int cs__hub_device_online(cs_hub *hub, const char *id, int64_t last_seen)
{
	return cs__hub_waiter_exists(hub, id) || cs_clock_now() - last_seen <= CS__HUB_ONLINE_S;
}

json_t *cs__hub_device_json(cs_hub *hub, const struct cs__device *d)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:s, s:s}",
		"device_id", d->id, "name", d->name, "address", d->address,
		"status", d->revoked ? "revoked" : "active",
		"online", !d->revoked && cs__hub_device_online(hub, d->id, d->last_seen),
		"last_seen", (json_int_t)d->last_seen, "cert_not_after", (json_int_t)d->not_after,
		"created", (json_int_t)d->created, "fingerprint", d->fingerprint,
		"serial", d->serial);
	if (j == NULL)
		return NULL;
	if (d->revoked)
		json_object_set_new(j, "revoked_at", json_integer(d->revoked_at));
	json_t *f = cs__hub_folders_json(hub, d->id);
	json_object_set_new(j, "folders", f ? f : json_array());
	return j;
}

int cs__hub_devices_json(cs_hub *hub, json_t **out)
{
	cs_stmt *q = NULL;
	json_t *arr = json_array();
	int r;
	if (arr == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT " DEVICE_COLS " FROM devices ORDER BY created, device_id")) < 0)
		goto done;
	while ((r = cs_stmt_step(q)) == 1) {
		struct cs__device d;
		if ((r = load_row(&d, q)) < 0)
			goto done;
		json_t *dj = cs__hub_device_json(hub, &d);
		cs__device_clear(&d);
		if (dj == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		json_array_append_new(arr, dj);
	}
	if (r < 0)
		goto done;
	if ((*out = json_pack("{s:o}", "devices", arr)) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		arr = NULL;
		goto done;
	}
	arr = NULL;
	r = CS_OK;
done:
	json_decref(arr);
	cs_stmt_free(q);
	return r;
}

int cs__hub_make_crl(cs_hub *hub)
{
	cs_stmt *q = NULL;
	struct cs_revoked *list = NULL;
	char **serials = NULL;
	size_t n = 0, alloc = 0;
	char *pem = NULL, *path = NULL;
	int r;

	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT serial, revoked_at FROM revoked_serials ORDER BY revoked_at")) < 0)
		return r;
	while ((r = cs_stmt_step(q)) == 1) {
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 16;
			struct cs_revoked *nl = realloc(list, na * sizeof(*nl));
			char **ns = nl ? realloc(serials, na * sizeof(*ns)) : NULL;
			if (nl)
				list = nl;
			if (ns)
				serials = ns;
			if (nl == NULL || ns == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				goto done;
			}
			alloc = na;
		}
		if ((serials[n] = strdup(cs_stmt_text(q, 0))) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		list[n].serial_hex = serials[n];
		list[n].revoked_at = cs_stmt_int64(q, 1);
		n++;
	}
	if (r < 0)
		goto done;
	if ((r = cs_ca_make_crl(&pem, hub->ca, list, n, CS__HUB_CRL_DAYS)) < 0)
		goto done;
	if ((path = cs_path_join(hub->data_dir, "crl.pem")) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	if ((r = cs_fs_write_atomic(path, pem, strlen(pem), 0644)) < 0)
		goto done;
	free(hub->crl_pem);
	hub->crl_pem = pem;
	pem = NULL;
	hub->crl_made = cs_clock_now();
	r = CS_OK;
done:
	for (size_t i = 0; i < n; i++)
		free(serials[i]);
	free(serials);
	free(list);
	free(pem);
	free(path);
	cs_stmt_free(q);
	return r;
}

/* Run sql with the device id as its only parameter. */
static int exec_id(cs_hub *hub, const char *sql, const char *id)
{
	cs_stmt *q = NULL;
	int r = cs_store_prepare(&q, hub->db, sql);
	if (r < 0)
		return r;
	if ((r = cs_stmt_bind_text(q, 1, id)) == 0)
		r = cs_stmt_step(q);
	cs_stmt_free(q);
	return r < 0 ? r : CS_OK;
}

int cs__hub_device_revoke(cs_hub *hub, const char *id_text)
{
	struct cs__device d = {0};
	cs_stmt *q = NULL;
	int64_t *jobs = NULL;
	size_t nj = 0, aj = 0;
	int r;

	if ((r = cs__hub_device_get(hub, &d, id_text)) < 0)
		return r;
	if (d.revoked) {
		cs__device_clear(&d);
		return CS_OK;
	}
	int64_t now = cs_clock_now();
	if ((r = cs_store_begin(hub->db)) < 0)
		goto done;
	if ((r = cs__db_exec(hub->db,
		     "UPDATE devices SET status = 'revoked', revoked_at = ? WHERE device_id = ?",
		     CS__DB_ARGS(CS__DB_I(now), CS__DB_T(d.id)))) < 0 ||
	    (r = cs__db_exec(hub->db,
		     "INSERT OR IGNORE INTO revoked_serials (serial, revoked_at) VALUES (?, ?)",
		     CS__DB_ARGS(CS__DB_T(d.serial), CS__DB_I(now)))) < 0)
		goto fail;
	/* its unfinished work: jobs it is the source of fail; as a destination
	 * it fails and the job settles without it */
	if ((r = cs_store_prepare(&q, hub->db,
		     "SELECT id FROM jobs WHERE source = ? AND state IN ('producing','delivering') "
		     "UNION SELECT job FROM job_dests WHERE device = ? AND state IN ('queued','sending')")) < 0)
		goto fail;
	cs_stmt_bind_text(q, 1, d.id);
	cs_stmt_bind_text(q, 2, d.id);
	while ((r = cs_stmt_step(q)) == 1) {
		if (nj == aj) {
			size_t na = aj ? aj * 2 : 8;
			int64_t *nl = realloc(jobs, na * sizeof(*nl));
			if (nl == NULL) {
				r = cs_error_set(CS_ENOMEM, "out of memory");
				goto fail;
			}
			jobs = nl;
			aj = na;
		}
		jobs[nj++] = cs_stmt_int64(q, 0);
	}
	if (r < 0)
		goto fail;
	cs_stmt_free(q);
	q = NULL;
	if ((r = exec_id(hub, "UPDATE job_dests SET state = 'failed', reason = 'device revoked' "
		     "WHERE device = ? AND state IN ('queued','sending')", d.id)) < 0 ||
	    (r = exec_id(hub, "UPDATE tasks SET state = 'done' WHERE device = ? AND state != 'done'",
		     d.id)) < 0)
		goto fail;
	for (size_t i = 0; i < nj; i++) {
		char *state = NULL, *folder = NULL;
		char source[CS_DEVICE_ID_SIZE];
		if ((r = cs__hub_job_info(hub, jobs[i], &state, source, &folder)) < 0)
			goto fail;
		int is_source = strcmp(source, d.id) == 0;
		free(state);
		free(folder);
		if (is_source)
			r = cs__hub_job_fail_tx(hub, jobs[i], "source device revoked");
		else
			r = cs__hub_job_settle_tx(hub, jobs[i]);
		if (r < 0)
			goto fail;
	}
	if ((r = cs_store_commit(hub->db)) < 0)
		goto fail;
	cs_log(CS_LOG_INFO, "device.revoked", "device=%s serial=%s", d.id, d.serial);
	cs__relay_sweep(hub);
	r = cs__hub_make_crl(hub);
	goto done;
fail:
	cs_store_rollback(hub->db);
done:
	free(jobs);
	cs_stmt_free(q);
	cs__device_clear(&d);
	return r;
}

int cs__hub_admin_add(cs_hub *hub, const char *fingerprint, const char *name)
{
	return cs__db_exec(hub->db,
		"INSERT OR REPLACE INTO admins (fingerprint, name, created) VALUES (?, ?, ?)",
		CS__DB_ARGS(CS__DB_T(fingerprint), CS__DB_T(name), CS__DB_I(cs_clock_now())));
}

int cs__hub_admin_check(cs_hub *hub, const cs_cert *cert)
{
	char fp[CS_FINGERPRINT_SIZE];
	int r;

	if (cert == NULL)
		return cs_error_set(CS_EDENIED, "an administrator client certificate is required");
	if ((r = cs_cert_verify(cert, cs_ca_cert(hub->ca), hub->crl_pem, 0)) < 0)
		return cs_error_set(r == CS_EREVOKED ? CS_EREVOKED : CS_EDENIED,
			"client certificate is not from this hub's CA");
	if ((r = cs_cert_fingerprint(fp, cert)) < 0)
		return r;
	if ((r = cs__db_step(hub->db, "SELECT 1 FROM admins WHERE fingerprint = ?",
		     CS__DB_ARGS(CS__DB_T(fp)))) < 0)
		return r;
	if (r == 0)
		return cs_error_set(CS_EDENIED, "client certificate is not an administrator's");
	return CS_OK;
}
