/* Session header and trailer codecs (docs/PROTOCOL.md §7). */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/identity.h>
#include <certsync/manifest.h>
#include <certsync/secure.h>

static const uint8_t header_magic[4] = {'C', 'S', 'H', '2'};
static const uint8_t trailer_magic[4] = {'C', 'S', 'T', '2'};

int cs_session_header_encode(uint8_t **out, size_t *len, const cs_session_header *h)
{
	cs_buf *b = cs_buf_new(1 << 20);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(b, header_magic, 4)) < 0 || (r = cs_buf_put_u8(b, 2)) < 0 ||
	    (r = cs_buf_put_u64(b, h->job)) < 0 || (r = cs_buf_put_cstring(b, h->folder)) < 0 ||
	    (r = cs_buf_put_cstring(b, h->source)) < 0 || (r = cs_buf_put_u64(b, h->from_seq)) < 0 ||
	    (r = cs_buf_put(b, h->key.session_id, CS_SESSION_ID_LEN)) < 0 ||
	    (r = cs_buf_put(b, h->key.key, CS_CONTENT_KEY_LEN)) < 0 ||
	    (r = cs_buf_put_u32(b, h->nrecipients)) < 0)
		goto done;
	for (uint32_t i = 0; i < h->nrecipients; i++)
		if ((r = cs_buf_put_cstring(b, h->recipients[i])) < 0)
			goto done;
	r = cs_buf_steal(out, len, b);
done:
	cs_buf_free(b);
	return r;
}

int cs_session_header_decode(cs_session_header *out, const uint8_t *data, size_t len)
{
	cs_session_header h;
	cs_buf b;
	uint8_t magic[4], version;
	int r;
	memset(&h, 0, sizeof(h));
	cs_buf_view(&b, data, len);
	if ((r = cs_buf_get(&b, magic, 4)) < 0 || (r = cs_buf_get_u8(&b, &version)) < 0)
		goto fail;
	if (memcmp(magic, header_magic, 4) != 0 || version != 2) {
		r = cs_error_set(CS_EMALFORMED, "not a certsync session header (version 2)");
		goto fail;
	}
	if ((r = cs_buf_get_u64(&b, &h.job)) < 0 ||
	    (r = cs_buf_get_cstring(&b, &h.folder, CS_FOLDER_ID_MAX)) < 0 ||
	    (r = cs_buf_get_cstring(&b, &h.source, CS_DEVICE_ID_LEN)) < 0 ||
	    (r = cs_buf_get_u64(&b, &h.from_seq)) < 0 ||
	    (r = cs_buf_get(&b, h.key.session_id, CS_SESSION_ID_LEN)) < 0 ||
	    (r = cs_buf_get(&b, h.key.key, CS_CONTENT_KEY_LEN)) < 0 ||
	    (r = cs_buf_get_u32(&b, &h.nrecipients)) < 0)
		goto fail;
	/* Each recipient takes at least 5 bytes: never trust the count alone. */
	if (h.nrecipients == 0 || h.nrecipients > CS_HEADER_RECIPIENTS_MAX ||
	    cs_buf_len(&b) / 5 < h.nrecipients) {
		r = cs_error_set(CS_EMALFORMED, "bad recipient count %u", h.nrecipients);
		goto fail;
	}
	if ((h.recipients = calloc(h.nrecipients, sizeof(char *))) == NULL) {
		r = cs_error_set(CS_ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < h.nrecipients; i++)
		if ((r = cs_buf_get_cstring(&b, &h.recipients[i], CS_DEVICE_ID_LEN)) < 0)
			goto fail;
	if ((r = cs_buf_expect_end(&b)) < 0)
		goto fail;
	*out = h;
	return CS_OK;
fail:
	cs_error_wrap("session header");
	cs_session_header_clear(&h);
	return r;
}

void cs_session_header_clear(cs_session_header *h)
{
	for (uint32_t i = 0; h->recipients && i < h->nrecipients; i++)
		free(h->recipients[i]);
	free(h->recipients);
	free(h->folder);
	free(h->source);
	cs_wipe(h, sizeof(*h));
}

int cs_session_trailer_encode(uint8_t **out, size_t *len, const cs_session_trailer *t)
{
	cs_buf *b = cs_buf_new(256);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(b, trailer_magic, 4)) == 0 && (r = cs_buf_put_u64(b, t->job)) == 0 &&
	    (r = cs_buf_put(b, t->session_id, CS_SESSION_ID_LEN)) == 0 &&
	    (r = cs_buf_put_u64(b, t->to_seq)) == 0 && (r = cs_buf_put_u32(b, t->segments)) == 0 &&
	    (r = cs_buf_put_u32(b, t->manifest_records)) == 0 &&
	    (r = cs_buf_put_u64(b, t->manifest_len)) == 0 &&
	    (r = cs_buf_put(b, t->manifest_hash, 32)) == 0 &&
	    (r = cs_buf_put_u64(b, t->data_records)) == 0 && (r = cs_buf_put_u32(b, t->packs)) == 0)
		r = cs_buf_steal(out, len, b);
	cs_buf_free(b);
	return r;
}

int cs_session_trailer_decode(cs_session_trailer *out, const uint8_t *data, size_t len)
{
	cs_session_trailer t;
	cs_buf b;
	uint8_t magic[4];
	int r;
	memset(&t, 0, sizeof(t));
	cs_buf_view(&b, data, len);
	if ((r = cs_buf_get(&b, magic, 4)) < 0)
		goto fail;
	if (memcmp(magic, trailer_magic, 4) != 0) {
		r = cs_error_set(CS_EMALFORMED, "not a certsync session trailer");
		goto fail;
	}
	if ((r = cs_buf_get_u64(&b, &t.job)) < 0 ||
	    (r = cs_buf_get(&b, t.session_id, CS_SESSION_ID_LEN)) < 0 ||
	    (r = cs_buf_get_u64(&b, &t.to_seq)) < 0 || (r = cs_buf_get_u32(&b, &t.segments)) < 0 ||
	    (r = cs_buf_get_u32(&b, &t.manifest_records)) < 0 ||
	    (r = cs_buf_get_u64(&b, &t.manifest_len)) < 0 ||
	    (r = cs_buf_get(&b, t.manifest_hash, 32)) < 0 ||
	    (r = cs_buf_get_u64(&b, &t.data_records)) < 0 || (r = cs_buf_get_u32(&b, &t.packs)) < 0 ||
	    (r = cs_buf_expect_end(&b)) < 0)
		goto fail;
	/* Every segment holds at least one record, every record at most
	 * CS_MANIFEST_RECORD_PLAIN bytes. */
	if (t.segments == 0 || t.segments > CS_SEGMENTS_MAX || t.manifest_records < t.segments ||
	    t.manifest_len > CS_MANIFEST_MAX ||
	    t.manifest_len > (uint64_t)t.manifest_records * CS_MANIFEST_RECORD_PLAIN ||
	    t.data_records > UINT32_MAX || t.packs > CS_PACKS_MAX || t.packs > t.data_records) {
		r = cs_error_set(CS_EMALFORMED, "session trailer values out of range");
		goto fail;
	}
	*out = t;
	return CS_OK;
fail:
	cs_error_wrap("session trailer");
	return r;
}
