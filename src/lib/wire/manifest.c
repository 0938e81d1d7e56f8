/* Manifest codec and pack framing (docs/PROTOCOL.md §8-9). */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/manifest.h>

#define PATH_MAX_LEN 4096
#define CHUNKS_PER_FILE_MAX (1u << 24)

static const uint8_t segment_magic[4] = {'C', 'S', 'M', '2'};

int cs_manifest_path_valid(const char *path, size_t len)
{
	if (len == 0 || len > PATH_MAX_LEN || path[0] == '/' || memchr(path, 0, len))
		return 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || path[i] == '/') {
			size_t n = i - start;
			if (n == 0 || (n == 1 && path[start] == '.') ||
			    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
				return 0;
			start = i + 1;
		}
	}
	return 1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return CS_OK;
	size_t n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (q == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	*p = q;
	*cap = n;
	return CS_OK;
}

int cs_manifest_add_entry(cs_manifest *m, const cs_manifest_entry *e)
{
	int r = grow((void **)&m->entries, &m->cap_entries, m->nentries + 1, sizeof(*e));
	if (r < 0)
		return r;
	cs_manifest_entry *d = &m->entries[m->nentries];
	*d = *e;
	d->path = strdup(e->path);
	d->chunks = NULL;
	if (e->nchunks) {
		d->chunks = malloc(sizeof(*d->chunks) * e->nchunks);
		if (d->chunks)
			memcpy(d->chunks, e->chunks, sizeof(*d->chunks) * e->nchunks);
	}
	if (d->path == NULL || (e->nchunks && d->chunks == NULL)) {
		free(d->path);
		free(d->chunks);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	m->nentries++;
	return CS_OK;
}

int cs_manifest_add_pack(cs_manifest *m, uint64_t first_record, uint32_t nrecords)
{
	int r = grow((void **)&m->packs, &m->cap_packs, m->npacks + 1, sizeof(*m->packs));
	if (r < 0)
		return r;
	m->packs[m->npacks].first_record = first_record;
	m->packs[m->npacks].nrecords = nrecords;
	m->npacks++;
	return CS_OK;
}

void cs_manifest_clear(cs_manifest *m)
{
	for (size_t i = 0; i < m->nentries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].chunks);
	}
	free(m->entries);
	free(m->packs);
	memset(m, 0, sizeof(*m));
}

int cs_manifest_segment_encode(uint8_t **out, size_t *len, const cs_manifest *m,
	size_t first_entry, size_t first_pack, int last)
{
	cs_buf *b = cs_buf_new(CS_MANIFEST_MAX);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(b, segment_magic, 4)) < 0 || (r = cs_buf_put_u8(b, last ? 1 : 0)) < 0 ||
	    (r = cs_buf_put_u32(b, (uint32_t)(m->npacks - first_pack))) < 0)
		goto done;
	for (size_t i = first_pack; i < m->npacks; i++)
		if ((r = cs_buf_put_u64(b, m->packs[i].first_record)) < 0 ||
		    (r = cs_buf_put_u32(b, m->packs[i].nrecords)) < 0)
			goto done;
	if ((r = cs_buf_put_u32(b, (uint32_t)(m->nentries - first_entry))) < 0)
		goto done;
	for (size_t i = first_entry; i < m->nentries; i++) {
		const cs_manifest_entry *e = &m->entries[i];
		if ((r = cs_buf_put_cstring(b, e->path)) < 0 || (r = cs_buf_put_u8(b, e->kind)) < 0 ||
		    (r = cs_buf_put_u8(b, e->flags)) < 0 || (r = cs_buf_put_u32(b, e->mode)) < 0 ||
		    (r = cs_buf_put_u64(b, (uint64_t)e->mtime_ns)) < 0 ||
		    (r = cs_buf_put_u64(b, e->size)) < 0 || (r = cs_buf_put_u64(b, e->seq)) < 0 ||
		    (r = cs_buf_put(b, e->hash, 32)) < 0 || (r = cs_buf_put(b, e->prev_hash, 32)) < 0 ||
		    (r = cs_buf_put_u32(b, e->nchunks)) < 0)
			goto done;
		for (uint32_t c = 0; c < e->nchunks; c++) {
			if ((r = cs_buf_put(b, e->chunks[c].hash, 32)) < 0 ||
			    (r = cs_buf_put_u32(b, e->chunks[c].len)) < 0 ||
			    (r = cs_buf_put_u64(b, e->chunks[c].record)) < 0)
				goto done;
		}
	}
	r = cs_buf_steal(out, len, b);
done:
	cs_buf_free(b);
	return r;
}

static int decode_entry(cs_buf *b, cs_manifest_entry *e, uint64_t data_records)
{
	const uint8_t *path;
	size_t plen;
	uint64_t mtime;
	int r;
	if ((r = cs_buf_get_string_direct(b, &path, &plen, PATH_MAX_LEN)) < 0)
		return r;
	if (!cs_manifest_path_valid((const char *)path, plen))
		return cs_error_set(CS_EMALFORMED, "unsafe or invalid path in manifest");
	if ((r = cs_buf_get_u8(b, &e->kind)) < 0 || (r = cs_buf_get_u8(b, &e->flags)) < 0 ||
	    (r = cs_buf_get_u32(b, &e->mode)) < 0 || (r = cs_buf_get_u64(b, &mtime)) < 0 ||
	    (r = cs_buf_get_u64(b, &e->size)) < 0 || (r = cs_buf_get_u64(b, &e->seq)) < 0 ||
	    (r = cs_buf_get(b, e->hash, 32)) < 0 || (r = cs_buf_get(b, e->prev_hash, 32)) < 0 ||
	    (r = cs_buf_get_u32(b, &e->nchunks)) < 0)
		return r;
	e->mtime_ns = (int64_t)mtime;
	if (e->kind > 1 || (e->flags & ~3u) || (e->mode & ~07777u))
		return cs_error_set(CS_EMALFORMED, "bad kind, flags or mode in manifest");
	if (e->nchunks > CHUNKS_PER_FILE_MAX || e->nchunks > e->size ||
	    (e->kind != 0 && e->nchunks) || ((e->flags & CS_MANIFEST_DELETED) && e->nchunks))
		return cs_error_set(CS_EMALFORMED, "bad chunk count in manifest");
	/* 36+8 bytes per chunk must really be there before allocating. */
	if (cs_buf_len(b) / 44 < e->nchunks)
		return cs_error_set(CS_ETRUNCATED, "manifest truncated in a chunk list");
	e->path = strndup((const char *)path, plen);
	if (e->path == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (e->nchunks) {
		e->chunks = calloc(e->nchunks, sizeof(*e->chunks));
		if (e->chunks == NULL)
			return cs_error_set(CS_ENOMEM, "out of memory");
	}
	uint64_t sum = 0;
	for (uint32_t c = 0; c < e->nchunks; c++) {
		cs_manifest_chunk *k = &e->chunks[c];
		if ((r = cs_buf_get(b, k->hash, 32)) < 0 || (r = cs_buf_get_u32(b, &k->len)) < 0 ||
		    (r = cs_buf_get_u64(b, &k->record)) < 0)
			return r;
		if (k->len == 0 || k->len > CS_RECORD_PLAIN_MAX ||
		    (k->record != CS_RECORD_NONE && k->record >= data_records))
			return cs_error_set(CS_EMALFORMED, "bad chunk in manifest");
		sum += k->len;
	}
	if (e->kind == 0 && !(e->flags & CS_MANIFEST_DELETED) && sum != e->size)
		return cs_error_set(CS_EMALFORMED, "chunk lengths do not add up to the file size");
	return CS_OK;
}

int cs_manifest_segment_decode(cs_manifest *m, const uint8_t *data, size_t len,
	uint64_t *next_record, int *last)
{
	cs_buf b;
	uint8_t magic[4], flag;
	uint32_t n, npacks;
	size_t entries0 = m->nentries, packs0 = m->npacks;
	uint64_t next = *next_record;
	int r;
	cs_buf_view(&b, data, len);
	if ((r = cs_buf_get(&b, magic, 4)) < 0 || (r = cs_buf_get_u8(&b, &flag)) < 0 ||
	    (r = cs_buf_get_u32(&b, &npacks)) < 0)
		goto fail;
	if (memcmp(magic, segment_magic, 4) != 0 || flag > 1) {
		r = cs_error_set(CS_EMALFORMED, "not a certsync manifest segment");
		goto fail;
	}
	if (cs_buf_len(&b) / 12 < npacks || m->npacks + npacks > CS_PACKS_MAX) {
		r = cs_error_set(CS_EMALFORMED, "manifest pack count does not fit its size");
		goto fail;
	}
	for (uint32_t i = 0; i < npacks; i++) {
		uint64_t first;
		uint32_t cnt;
		if ((r = cs_buf_get_u64(&b, &first)) < 0 || (r = cs_buf_get_u32(&b, &cnt)) < 0)
			goto fail;
		if (first != next || cnt == 0 || cnt > CS_PACK_RECORDS_MAX || cnt > UINT32_MAX - next) {
			r = cs_error_set(CS_EMALFORMED, "manifest pack ranges are not consecutive");
			goto fail;
		}
		next += cnt;
		if ((r = cs_manifest_add_pack(m, first, cnt)) < 0)
			goto fail;
	}
	if ((r = cs_buf_get_u32(&b, &n)) < 0)
		goto fail;
	/* Each entry takes at least 103 bytes (a one-byte path, no chunk):
	 * never trust the count alone. */
	if (n > CS_MANIFEST_ENTRIES_MAX - m->nentries || cs_buf_len(&b) / 103 < n) {
		r = cs_error_set(CS_EMALFORMED, "manifest entry count %u does not fit its size", n);
		goto fail;
	}
	if ((r = grow((void **)&m->entries, &m->cap_entries, m->nentries + (n ? n : 1),
		     sizeof(*m->entries))) < 0)
		goto fail;
	for (uint32_t i = 0; i < n; i++) {
		cs_manifest_entry *e = &m->entries[m->nentries];
		memset(e, 0, sizeof(*e));
		m->nentries++;
		if ((r = decode_entry(&b, e, next)) < 0)
			goto fail;
	}
	if ((r = cs_buf_expect_end(&b)) < 0)
		goto fail;
	*next_record = next;
	*last = flag;
	return CS_OK;
fail:
	/* m is left as it was */
	for (size_t i = entries0; i < m->nentries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].chunks);
	}
	m->nentries = entries0;
	m->npacks = packs0;
	cs_error_wrap("manifest segment");
	return r;
}

int cs_pack_next(const uint8_t **rec, size_t *rec_len, const uint8_t *pack, size_t pack_len,
	size_t *off)
{
	if (*off == pack_len)
		return 0;
	if (*off > pack_len || pack_len - *off < 4)
		return cs_error_set(CS_EMALFORMED, "pack framing truncated");
	const uint8_t *p = pack + *off;
	uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (n <= CS_RECORD_TAG_LEN || n > CS_RECORD_PLAIN_MAX + CS_RECORD_TAG_LEN)
		return cs_error_set(CS_EMALFORMED, "pack record length %u out of range", n);
	if (pack_len - *off - 4 < n)
		return cs_error_set(CS_EMALFORMED, "pack record truncated");
	*rec = p + 4;
	*rec_len = n;
	*off += 4 + (size_t)n;
	return 1;
}
