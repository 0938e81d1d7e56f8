/*
 * A node's certificates: DATA/sigd.db (SQLite, WAL) and, for the hot path,
 * an in-memory hash table by fingerprint holding each certificate parsed
 * once. Nothing enters either without passing the trust anchors.
 */
#include <stdlib.h>
#include <string.h>
#include <certsync/clock.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/hash.h>
#include <certsync/log.h>
#include "lib/sigd/local.h"

static const char *const schema[] = {
	"CREATE TABLE certs ("
	"  fp BLOB PRIMARY KEY,"      /* SHA-256 of the DER */
	"  der BLOB NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"     /* "admin" or the peer it came from */
	"  added INTEGER NOT NULL);",
};

static size_t bucket(const struct cs__sigd_store *st, const uint8_t fp[CS__SIGD_FP_LEN])
{
	uint64_t h;
	memcpy(&h, fp, sizeof(h)); /* a SHA-256 is already uniform */
	return (size_t)(h % st->nbuckets);
}

const struct cs__sigd_cert *cs__sigd_store_get(const struct cs__sigd_store *st,
	const uint8_t fp[CS__SIGD_FP_LEN])
{
	for (const struct cs__sigd_cert *e = st->buckets[bucket(st, fp)]; e != NULL; e = e->next)
		if (memcmp(e->fp, fp, CS__SIGD_FP_LEN) == 0)
			return e;
	return NULL;
}

static int grow(struct cs__sigd_store *st)
{
	size_t n = st->nbuckets * 2;
	struct cs__sigd_cert **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < st->nbuckets; i++)
		for (struct cs__sigd_cert *e = st->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			uint64_t h;
			memcpy(&h, e->fp, sizeof(h));
			e->next = b[h % n];
			b[h % n] = e;
		}
	free(st->buckets);
	st->buckets = b;
	st->nbuckets = n;
	return CS_OK;
}

/* Put a parsed certificate into the table (takes cert). */
static int table_put(struct cs__sigd_store *st, const uint8_t fp[CS__SIGD_FP_LEN], cs_cert *cert,
	int64_t until)
{
	struct cs__sigd_cert *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		cs_cert_free(cert);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(e->fp, fp, CS__SIGD_FP_LEN);
	e->cert = cert;
	e->kind = cs_cert_key_kind(cert);
	e->not_after = cs_cert_not_after(cert);
	e->trusted_until = until;
	if (cs_cert_common_name(&e->subject, cert) < 0)
		e->subject = strdup("");
	size_t b = bucket(st, fp);
	e->next = st->buckets[b];
	st->buckets[b] = e;
	st->count++;
	if (st->count > st->nbuckets * 2)
		return grow(st);
	return CS_OK;
}

int cs__sigd_validate(const struct cs__sigd_store *st, const cs_cert *cert, const char **code,
	int64_t *trusted_until)
{
	int last = CS_EAUTH;
	int64_t until = cs_cert_not_after(cert);
	for (size_t a = 0; a < st->nanchors; a++) {
		int r = cs_cert_verify(cert, st->anchors[a], NULL, 0);
		if (r == CS_EAUTH) {
			continue; /* not this anchor's */
		}
		if (r == CS_EEXPIRED) {
			*code = "cert_expired";
			return r;
		}
		if (r < 0) {
			last = r;
			continue;
		}
		/* chained to anchor a: the CRLs that anchor signed decide revocation;
		 * a CRL of another anchor does not verify (CS_EAUTH) and is passed
		 * over; one of this anchor that is out of date refuses, since it can
		 * no longer say the certificate is not revoked */
		if (cs_cert_not_after(st->anchors[a]) < until)
			until = cs_cert_not_after(st->anchors[a]);
		for (size_t i = 0; i < st->ncrls; i++) {
			int rc = cs_cert_verify(cert, st->anchors[a], st->crls[i], 0);
			if (rc == CS_EAUTH)
				continue;
			if (rc == CS_OK) { /* this anchor's CRL: trusted until its next update */
				if (st->crl_next[i] > 0 && st->crl_next[i] < until)
					until = st->crl_next[i];
				continue;
			}
			if (rc == CS_EREVOKED) {
				*code = "cert_revoked";
				return cs_error_set(CS_EREVOKED, "the certificate is revoked by its issuer");
			}
			*code = "cert_untrusted";
			return cs_error_set(CS_EAUTH, "the revocation list of its issuer cannot be used (%s)",
				cs_error_last());
		}
		if (trusted_until != NULL)
			*trusted_until = until;
		return CS_OK;
	}
	*code = "cert_untrusted";
	return cs_error_set(last == CS_EAUTH ? CS_EAUTH : last,
		"the certificate does not chain to any of this node's trust anchors");
}

static int fingerprint(uint8_t fp[CS__SIGD_FP_LEN], const cs_cert *c)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int r = cs_cert_to_der(&der, &len, c);
	if (r < 0)
		return r;
	cs_sha256(fp, der, len);
	free(der);
	return CS_OK;
}

int cs__sigd_store_add(struct cs__sigd_store *st, uint8_t fp[CS__SIGD_FP_LEN], const uint8_t *der,
	size_t len, const char *source, const char **code)
{
	cs_cert *c = NULL;
	char *subject = NULL;
	int r;

	*code = "malformed";
	if (len == 0 || len > CS__SIGD_CERT_MAX || cs_cert_from_der(&c, der, len) < 0)
		return cs_error_set(CS_EMALFORMED, "not a DER certificate");
	cs_sha256(fp, der, len);
	if (cs__sigd_store_get(st, fp) != NULL) {
		cs_cert_free(c);
		return CS_OK;
	}
	int64_t until = 0;
	if ((r = cs__sigd_validate(st, c, code, &until)) < 0) {
		cs_cert_free(c);
		return r;
	}
	if (cs_cert_common_name(&subject, c) < 0)
		subject = NULL;
	r = cs_store_run(NULL, st->db, "INSERT OR IGNORE INTO certs (fp, der, subject, not_after, source, added) "
		"VALUES (?, ?, ?, ?, ?, ?)", "bbtiti", (const void *)fp, (size_t)CS__SIGD_FP_LEN, (const void *)der,
		len, subject ? subject : "", cs_cert_not_after(c), source, cs_clock_now());
	free(subject);
	if (r < 0) {
		cs_cert_free(c);
		*code = "store_failed";
		return r;
	}
	return table_put(st, fp, c, until);
}

static int load_pem_file(char **out, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = cs_fs_read_all(&data, &len, path, 16u << 20);
	if (r < 0)
		return cs_error_wrap("%s", path);
	*out = (char *)data;
	return CS_OK;
}

int cs__sigd_store_open(struct cs__sigd_store *st, const struct cs_sigd_config *c)
{
	char *path = NULL;
	cs_stmt *q = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	st->nbuckets = 1024;
	if ((st->buckets = calloc(st->nbuckets, sizeof(*st->buckets))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->nanchors; i++) {
		if ((r = cs_cert_load(&st->anchors[i], c->anchors[i])) < 0) {
			cs_error_wrap("trust anchor %s", c->anchors[i]);
			goto fail;
		}
		st->nanchors++;
	}
	for (size_t i = 0; i < c->ncrls; i++) {
		if ((r = load_pem_file(&st->crls[i], c->crls[i])) < 0)
			goto fail;
		st->ncrls++;
		if ((r = cs_crl_next_update(&st->crl_next[i], st->crls[i])) < 0) {
			cs_error_wrap("CRL %s", c->crls[i]);
			goto fail;
		}
	}
	if ((r = cs_fs_mkdirs(c->data_dir, 0700)) < 0 || (path = cs_path_join(c->data_dir, "sigd.db")) == NULL ||
	    (r = cs_store_open(&st->db, path)) < 0 ||
	    (r = cs_store_migrate(st->db, schema, sizeof(schema) / sizeof(schema[0]))) < 0 ||
	    (r = cs_store_prepare(&q, st->db, "SELECT fp, der FROM certs")) < 0)
		goto fail;
	while ((r = cs_stmt_step(q)) == 1) {
		size_t fl, dl;
		const void *fp = cs_stmt_blob(q, 0, &fl), *der = cs_stmt_blob(q, 1, &dl);
		cs_cert *cert = NULL;
		uint8_t check[CS__SIGD_FP_LEN];
		if (fp == NULL || fl != CS__SIGD_FP_LEN || der == NULL || cs_cert_from_der(&cert, der, dl) < 0)
			continue; /* an unreadable row: skipped, as if never stored */
		const char *why = NULL;
		if (fingerprint(check, cert) < 0 || memcmp(check, fp, CS__SIGD_FP_LEN) != 0) {
			cs_cert_free(cert);
			continue;
		}
		/* the anchors and CRLs may have changed since it was stored */
		int64_t until = 0;
		if (cs__sigd_validate(st, cert, &why, &until) < 0) {
			cs_log(CS_LOG_WARN, "store.skipped", "code=%s error=\"%s\"", why, cs_error_last());
			cs_cert_free(cert);
			st->skipped++;
			continue;
		}
		if ((r = table_put(st, check, cert, until)) < 0)
			goto fail;
	}
	if (r < 0)
		goto fail;
	cs_stmt_free(q);
	free(path);
	return CS_OK;
fail:
	cs_stmt_free(q);
	free(path);
	cs__sigd_store_close(st);
	return r;
}

void cs__sigd_store_close(struct cs__sigd_store *st)
{
	for (size_t i = 0; st->buckets != NULL && i < st->nbuckets; i++)
		for (struct cs__sigd_cert *e = st->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			cs_cert_free(e->cert);
			free(e->subject);
			free(e);
		}
	free(st->buckets);
	for (size_t i = 0; i < st->nanchors; i++)
		cs_cert_free(st->anchors[i]);
	for (size_t i = 0; i < st->ncrls; i++)
		free(st->crls[i]);
	cs_store_close(st->db);
	memset(st, 0, sizeof(*st));
}
