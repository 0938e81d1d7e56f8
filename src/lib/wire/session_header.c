/* Session header codec (docs/PROTOCOL.md §7). */
#include <stdlib.h>
#include <string.h>
#include <certsync/buf.h>
#include <certsync/error.h>
#include <certsync/identity.h>
#include <certsync/manifest.h>
#include <certsync/secure.h>

static const uint8_t header_magic[4] = {'C', 'S', 'H', '1'};

int cs_session_header_encode(uint8_t **out, size_t *len, const cs_session_header *h)
{
	cs_buf *b = cs_buf_new(1 << 20);
	int r;
	if (b == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if ((r = cs_buf_put(b, header_magic, 4)) < 0 || (r = cs_buf_put_u8(b, 1)) < 0 ||
	    (r = cs_buf_put_u64(b, h->job)) < 0 || (r = cs_buf_put_cstring(b, h->folder)) < 0 ||
	    (r = cs_buf_put_cstring(b, h->source)) < 0 || (r = cs_buf_put_u64(b, h->from_seq)) < 0 ||
	    (r = cs_buf_put_u64(b, h->to_seq)) < 0 ||
	    (r = cs_buf_put(b, h->key.session_id, CS_SESSION_ID_LEN)) < 0 ||
	    (r = cs_buf_put(b, h->key.key, CS_CONTENT_KEY_LEN)) < 0 ||
	    (r = cs_buf_put_u64(b, h->manifest_len)) < 0 ||
	    (r = cs_buf_put(b, h->manifest_hash, 32)) < 0 ||
	    (r = cs_buf_put_u32(b, h->manifest_records)) < 0 ||
	    (r = cs_buf_put_u64(b, h->data_records)) < 0 || (r = cs_buf_put_u32(b, h->packs)) < 0 ||
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
	if (memcmp(magic, header_magic, 4) != 0 || version != 1) {
		r = cs_error_set(CS_EMALFORMED, "not a certsync session header (version 1)");
		goto fail;
	}
	if ((r = cs_buf_get_u64(&b, &h.job)) < 0 ||
	    (r = cs_buf_get_cstring(&b, &h.folder, CS_FOLDER_ID_MAX)) < 0 ||
	    (r = cs_buf_get_cstring(&b, &h.source, CS_DEVICE_ID_LEN)) < 0 ||
	    (r = cs_buf_get_u64(&b, &h.from_seq)) < 0 || (r = cs_buf_get_u64(&b, &h.to_seq)) < 0 ||
	    (r = cs_buf_get(&b, h.key.session_id, CS_SESSION_ID_LEN)) < 0 ||
	    (r = cs_buf_get(&b, h.key.key, CS_CONTENT_KEY_LEN)) < 0 ||
	    (r = cs_buf_get_u64(&b, &h.manifest_len)) < 0 ||
	    (r = cs_buf_get(&b, h.manifest_hash, 32)) < 0 ||
	    (r = cs_buf_get_u32(&b, &h.manifest_records)) < 0 ||
	    (r = cs_buf_get_u64(&b, &h.data_records)) < 0 || (r = cs_buf_get_u32(&b, &h.packs)) < 0 ||
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
	if (h.manifest_len > CS_MANIFEST_MAX || h.manifest_records > 256 ||
	    h.data_records > UINT32_MAX || h.packs > (1u << 20) || h.from_seq > h.to_seq ||
	    h.manifest_records == 0 ||
	    h.manifest_len > (uint64_t)h.manifest_records * CS_MANIFEST_RECORD_PLAIN) {
		r = cs_error_set(CS_EMALFORMED, "session header values out of range");
		goto fail;
	}
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
