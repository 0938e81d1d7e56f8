/*
 * Path records (PROTOCOL.md §11.6): the JSON a device seals into its
 * folder's collection for every file or directory,
 *
 *   {"path", "kind": "file"|"dir", "deleted", "device",
 *    "mode", "mtime_ns", "size", "hash", "chunks": [[hex, len]…]}
 *
 * (mode and what follows only for a live entry; size, hash and chunks only
 * for a file). The decoder is the only reader of what other devices wrote,
 * so it trusts nothing: the fuzz target fuzz_account_record drives it.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <certsync/chunker.h>
#include <certsync/encoding.h>
#include <certsync/error.h>
#include <certsync/hash.h>
#include "account/local.h"

#define CHUNKS_MAX (1u << 20) /* 4 TiB of 4 MiB chunks: far above any file here */

void cs__acct_path_clear(struct cs__acct_path *p)
{
	free(p->path);
	free(p->chunks);
	memset(p, 0, sizeof(*p));
}

static int hash_hex(uint8_t out[CS_HASH_LEN], json_t *v)
{
	const char *h = json_string_value(v);
	return h != NULL && strlen(h) == 2 * CS_HASH_LEN && cs_hex_decode(out, CS_HASH_LEN, h) == 0
		? CS_OK : CS_EMALFORMED;
}

static int bad(const char *why)
{
	return cs_error_set(CS_EMALFORMED, "path record: %s", why);
}

static int decode_chunks(struct cs__acct_path *p, json_t *chunks)
{
	uint64_t off = 0;
	uint8_t h[CS_HASH_LEN];
	if (!json_is_array(chunks) || json_array_size(chunks) > CHUNKS_MAX)
		return bad("chunks is not a list");
	p->nchunks = json_array_size(chunks);
	if (p->nchunks > 0 && (p->chunks = calloc(p->nchunks, sizeof(*p->chunks))) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nchunks; i++) {
		json_t *c = json_array_get(chunks, i), *l = json_array_get(c, 1);
		if (!json_is_array(c) || json_array_size(c) != 2 ||
		    hash_hex(p->chunks[i].hash, json_array_get(c, 0)) < 0)
			return bad("a chunk is not [hash, length]");
		if (!json_is_integer(l) || json_integer_value(l) < 1 ||
		    json_integer_value(l) > CS_CHUNK_MAX_DEFAULT)
			return bad("a chunk length is out of range");
		p->chunks[i].offset = off;
		p->chunks[i].len = (uint32_t)json_integer_value(l);
		off += p->chunks[i].len;
	}
	p->size = off;
	/* the content hash covers the chunk list: check it before any fetch */
	cs_sha256_ctx *ctx = cs_sha256_new();
	if (ctx == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nchunks; i++)
		cs_sha256_update(ctx, p->chunks[i].hash, CS_HASH_LEN);
	cs_sha256_final(ctx, h);
	if (memcmp(h, p->st.hash, CS_HASH_LEN) != 0)
		return bad("the content hash does not match the chunk list");
	return CS_OK;
}

static int decode(struct cs__acct_path *p, json_t *j)
{
	const char *path = json_string_value(json_object_get(j, "path"));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	json_t *del = json_object_get(j, "deleted"), *mode, *mt, *size;

	if (path == NULL || !cs_index_path_valid(path))
		return bad("missing or invalid path");
	if (kind == NULL || (strcmp(kind, "file") != 0 && strcmp(kind, "dir") != 0))
		return bad("kind must be file or dir");
	if (del != NULL && !json_is_boolean(del))
		return bad("deleted must be true or false");
	if ((p->path = strdup(path)) == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	p->st.kind = strcmp(kind, "dir") == 0 ? CS_KIND_DIR : CS_KIND_FILE;
	p->st.exists = !json_is_true(del);
	if (!p->st.exists)
		return CS_OK;
	mode = json_object_get(j, "mode");
	mt = json_object_get(j, "mtime_ns");
	if (!json_is_integer(mode) || json_integer_value(mode) < 0 || json_integer_value(mode) > 07777)
		return bad("mode out of range");
	if (!json_is_integer(mt))
		return bad("mtime_ns is not a number");
	p->st.mode = (uint32_t)json_integer_value(mode);
	p->mtime_ns = json_integer_value(mt);
	if (p->st.kind == CS_KIND_DIR)
		return CS_OK;
	if (hash_hex(p->st.hash, json_object_get(j, "hash")) < 0)
		return bad("hash is not 64 hex digits");
	int r = decode_chunks(p, json_object_get(j, "chunks"));
	size = json_object_get(j, "size");
	if (r == 0 && (!json_is_integer(size) || (uint64_t)json_integer_value(size) != p->size))
		r = bad("size does not match the chunks");
	return r;
}

int cs__acct_path_decode(struct cs__acct_path *p, const uint8_t *text, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
	int r;
	memset(p, 0, sizeof(*p));
	if (j == NULL || !json_is_object(j))
		r = bad(j ? "not a JSON object" : err.text);
	else
		r = decode(p, j);
	json_decref(j);
	if (r < 0)
		cs__acct_path_clear(p);
	return r;
}

char *cs__acct_path_encode(const cs_file_entry *e, const char *device)
{
	char hex[2 * CS_HASH_LEN + 1];
	json_t *j = json_pack("{s:s, s:s, s:b, s:s}", "path", e->path, "kind",
		e->kind == CS_KIND_DIR ? "dir" : "file", "deleted", e->deleted ? 1 : 0, "device", device);
	char *text;
	if (j == NULL)
		return NULL;
	if (!e->deleted) {
		json_object_set_new(j, "mode", json_integer(e->mode & 07777));
		json_object_set_new(j, "mtime_ns", json_integer(e->mtime_ns));
		if (e->kind == CS_KIND_FILE) {
			json_t *chunks = json_array();
			cs_hex_encode(hex, e->hash, CS_HASH_LEN);
			json_object_set_new(j, "hash", json_string(hex));
			json_object_set_new(j, "size", json_integer((json_int_t)e->size));
			for (size_t i = 0; chunks && i < e->nchunks; i++) {
				cs_hex_encode(hex, e->chunks[i].hash, CS_HASH_LEN);
				json_array_append_new(chunks, json_pack("[s, I]", hex, (json_int_t)e->chunks[i].len));
			}
			json_object_set_new(j, "chunks", chunks);
		}
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}
