/* libFuzzer target for the hub's account-sync request parsers
 * (src/lib/hub/parse_account.c, hub_parse.h, PROTOCOL.md §11). The first
 * input byte picks the parser (modulo their number), the rest is the body.
 * Any input must be refused with one of the documented codes and a zeroed
 * result, or parse into a struct that keeps the promises of hub_parse.h;
 * whatever a parser returns is freed with its _clear. */
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/common.h>
#include <certsync/identity.h>
#include <certsync/secure.h>
#include "lib/hub/hub_parse.h"

enum { START, FINISH, CHANGES, GET, UPLOAD, WHOAMI, NPARSERS };

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_rc(int r)
{
	EXPECT(r == CS_OK || r == CS_EINVAL || r == CS_EMALFORMED || r == CS_ELIMIT ||
		r == CS_ENOMEM);
}

/* every byte of a failed parse's result is zero */
static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		EXPECT(b[i] == 0);
}

/* a NUL-terminated string within buf */
static void check_buf_str(const char *buf, size_t size)
{
	EXPECT(memchr(buf, '\0', size) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	int r;

	switch (data[0] % NPARSERS) {
	case START: {
		struct cs__acct_start_body b;
		check_rc(r = cs__parse_acct_start(&b, text, len));
		if (r == 0) {
			check_buf_str(b.account, sizeof(b.account));
			EXPECT(cs_acct_name_valid(b.account));
			check_buf_str(b.device, sizeof(b.device));
			/* the printed form, as parsing it again gives it back */
			char canon[CS_DEVICE_ID_SIZE];
			EXPECT(cs_device_id_parse(canon, b.device) == 0);
			EXPECT(strcmp(canon, b.device) == 0);
		} else {
			check_zero(&b, sizeof(b));
		}
		break;
	}
	case FINISH: {
		struct cs__acct_finish_body b;
		check_rc(r = cs__parse_acct_finish(&b, text, len));
		if (r == 0) {
			check_buf_str(b.ticket, sizeof(b.ticket));
			EXPECT(b.ticket[0] != '\0');
		} else {
			check_zero(&b, sizeof(b));
		}
		cs_wipe(&b, sizeof(b));
		break;
	}
	case CHANGES: {
		struct cs__acct_changes_body b;
		check_rc(r = cs__parse_acct_changes(&b, text, len));
		if (r == 0) {
			check_buf_str(b.collection, sizeof(b.collection));
			EXPECT(cs__acct_name_ok(b.collection));
			EXPECT(b.since >= 0 && b.since <= CS__HUB_ACCT_VERSION_MAX);
			EXPECT(b.limit >= 1 && b.limit <= CS__HUB_ACCT_BATCH_MAX);
		} else {
			check_zero(&b, sizeof(b));
		}
		break;
	}
	case GET: {
		struct cs__acct_get_body b;
		check_rc(r = cs__parse_acct_get(&b, text, len));
		if (r == 0) {
			EXPECT(b.root != NULL);
			EXPECT(cs__acct_name_ok(b.collection));
			EXPECT(b.n <= CS__HUB_ACCT_BATCH_MAX);
			EXPECT(b.n == 0 || b.ids != NULL);
			for (size_t i = 0; i < b.n; i++) {
				EXPECT(cs__acct_name_ok(b.ids[i]));
				for (size_t k = 0; k < i; k++)
					EXPECT(strcmp(b.ids[k], b.ids[i]) != 0);
			}
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__acct_get_body_clear(&b);
		check_zero(&b, sizeof(b));
		break;
	}
	case UPLOAD: {
		struct cs__acct_upload_body b;
		check_rc(r = cs__parse_acct_upload(&b, text, len));
		if (r == 0) {
			EXPECT(b.root != NULL);
			EXPECT(cs__acct_name_ok(b.collection));
			EXPECT(b.n <= CS__HUB_ACCT_BATCH_MAX);
			EXPECT(b.n == 0 || b.recs != NULL);
			size_t bytes = 0;
			for (size_t i = 0; i < b.n; i++) {
				const struct cs__acct_upload_rec *rec = &b.recs[i];
				EXPECT(cs__acct_name_ok(rec->id));
				EXPECT(rec->if_version >= -1 && rec->if_version <= CS__HUB_ACCT_VERSION_MAX);
				EXPECT(rec->deleted == 0 || rec->deleted == 1);
				if (rec->deleted) {
					EXPECT(rec->payload == NULL && rec->len == 0);
				} else {
					EXPECT(rec->len <= CS__HUB_ACCT_PAYLOAD_MAX);
					EXPECT(rec->payload != NULL || rec->len == 0);
					/* touch every byte: ASan catches a short buffer */
					volatile uint8_t sum = 0;
					for (size_t k = 0; k < rec->len; k++)
						sum ^= rec->payload[k];
					(void)sum;
				}
				bytes += rec->len;
				for (size_t k = 0; k < i; k++)
					EXPECT(strcmp(b.recs[k].id, rec->id) != 0);
			}
			EXPECT(bytes == b.bytes);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__acct_upload_body_clear(&b);
		check_zero(&b, sizeof(b));
		break;
	}
	case WHOAMI:
		check_rc(cs__parse_acct_whoami(text, len));
		break;
	}
	return 0;
}
