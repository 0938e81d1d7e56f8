/*
 * Verification requests (PROTOCOL.md §14.2): one verification as a JSON
 * object, or a batch {"items": [...]}. Parsed in full before anything is
 * looked up; every field has a limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include "lib/hub/hub_parse.h"
#include "lib/sigd/local.h"

static const struct { const char *name; int alg; } algs[] = {
	{"ecdsa-p256-sha256", CS__SIGD_ALG_ECDSA_P256},
	{"rsa-pss-sha256", CS__SIGD_ALG_RSA_PSS},
};

const char *cs__sigd_alg_name(int alg)
{
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return "";
}

int cs__sigd_fp_parse(uint8_t fp[CS__SIGD_FP_LEN], const char *text)
{
	char hex[2 * CS__SIGD_FP_LEN + 1];
	size_t n = 0;
	for (const char *p = text; *p; p++) {
		if (*p == ':' && n > 0 && n % 2 == 0 && p[1] != '\0' && p[-1] != ':')
			continue;
		if (n == 2 * CS__SIGD_FP_LEN)
			return cs_error_set(CS_EINVAL, "a certificate fingerprint is 64 hex digits");
		char c = *p;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return cs_error_set(CS_EINVAL, "a certificate fingerprint is 64 hex digits");
		hex[n++] = c;
	}
	hex[n] = '\0';
	if (n != 2 * CS__SIGD_FP_LEN || cs_hex_decode(fp, CS__SIGD_FP_LEN, hex) < 0)
		return cs_error_set(CS_EINVAL, "a certificate fingerprint is 64 hex digits");
	return CS_OK;
}

void cs__sigd_request_clear(struct cs__sigd_request *rq)
{
	for (size_t i = 0; i < rq->n; i++) {
		free(rq->items[i].data);
		free(rq->items[i].sig);
	}
	free(rq->items);
	memset(rq, 0, sizeof(*rq));
}

/* One item; on failure it is marked with status and code (and its
 * buffers freed) and the error is returned. */
static int item_parse(struct cs__sigd_item *it, json_t *o)
{
	const char *cert = NULL, *alg = NULL, *data = NULL, *sig = NULL;
	int r;

	if (!json_is_object(o)) {
		r = cs_error_set(CS_EMALFORMED, "a verification must be a JSON object");
		goto fail;
	}
	if ((r = cs__json_str(&cert, o, "cert", 1, 256)) < 0 || (r = cs__json_str(&alg, o, "alg", 1, 64)) < 0 ||
	    (r = cs__json_str(&data, o, "data", 1, (CS__SIGD_DATA_MAX / 3 + 1) * 4)) < 0 ||
	    (r = cs__json_str(&sig, o, "signature", 1, (CS__SIGD_SIG_MAX / 3 + 1) * 4)) < 0)
		goto fail;
	if ((r = cs__sigd_fp_parse(it->fp, cert)) < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(alg, algs[i].name) == 0)
			it->alg = algs[i].alg;
	if (it->alg == 0) {
		it->status = 400;
		it->code = "alg_unknown";
		snprintf(it->msg, sizeof(it->msg), "unknown algorithm \"%.40s\" (ecdsa-p256-sha256, rsa-pss-sha256)",
			alg);
		return cs_error_set(CS_EINVAL, "%s", it->msg);
	}
	if ((r = cs_base64_decode(&it->data, &it->data_len, data, (CS__SIGD_DATA_MAX / 3 + 1) * 4)) < 0 ||
	    (r = cs_base64_decode(&it->sig, &it->sig_len, sig, (CS__SIGD_SIG_MAX / 3 + 1) * 4)) < 0) {
		cs_error_wrap("data or signature");
		goto fail;
	}
	if (it->data_len > CS__SIGD_DATA_MAX || it->sig_len == 0 || it->sig_len > CS__SIGD_SIG_MAX) {
		r = cs_error_set(CS_EINVAL, "data is at most %u bytes, a signature 1..%u", CS__SIGD_DATA_MAX,
			CS__SIGD_SIG_MAX);
		goto fail;
	}
	return CS_OK;
fail:
	free(it->data);
	free(it->sig);
	it->data = it->sig = NULL;
	it->status = 400;
	it->code = "malformed";
	snprintf(it->msg, sizeof(it->msg), "%s", cs_error_last());
	return r;
}

int cs__sigd_request_parse(struct cs__sigd_request *rq, const char **code, const char *text, size_t len)
{
	json_t *root = NULL, *items, *v;
	size_t i;
	int r;

	memset(rq, 0, sizeof(*rq));
	*code = "malformed";
	if ((r = cs__parse_object(&root, text, len, CS__SIGD_BODY_MAX)) < 0)
		return r;
	items = json_object_get(root, "items");
	if (items == NULL) {
		if ((rq->items = calloc(1, sizeof(*rq->items))) == NULL) {
			r = cs_error_set(CS_ENOMEM, "out of memory");
			goto done;
		}
		rq->n = 1;
		if ((r = item_parse(&rq->items[0], root)) < 0) {
			*code = rq->items[0].code;
			cs__sigd_request_clear(rq);
		}
		goto done;
	}
	if (!json_is_array(items) || json_array_size(items) == 0 || json_object_size(root) != 1) {
		r = cs_error_set(CS_EMALFORMED, "a batch is {\"items\": [1..%d verifications]}", CS__SIGD_BATCH_MAX);
		goto done;
	}
	if (json_array_size(items) > CS__SIGD_BATCH_MAX) {
		r = cs_error_set(CS_ELIMIT, "a batch holds at most %d verifications", CS__SIGD_BATCH_MAX);
		goto done;
	}
	rq->batch = 1;
	if ((rq->items = calloc(json_array_size(items), sizeof(*rq->items))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto done;
	}
	json_array_foreach(items, i, v) {
		item_parse(&rq->items[i], v); /* a bad item is marked; the others stand */
		rq->n++;
	}
	r = CS_OK;
	cs_error_clear();
done:
	json_decref(root);
	return r;
}
