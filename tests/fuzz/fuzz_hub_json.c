/* libFuzzer target for the hub's request-body parsers (src/lib/hub/parse.c,
 * hub_parse.h). The first input byte picks the parser (modulo their
 * number), the rest is the body. Any input must be refused with one of the
 * documented codes and a zeroed result, or parse into a struct that keeps
 * the promises of hub_parse.h. */
#include <stdlib.h>
#include <string.h>
#include <certsync/common.h>
#include "lib/hub/hub_parse.h"

enum { ENROLL, DEVICE_ADD, DEVICE_INFO, DISCOVER, CONFIRM, TOKEN, JOB, PRODUCED, FAILED, PROGRESS,
	ACK, LOGIN, NPARSERS };

static void check_rc(int r)
{
	if (r != CS_OK && r != CS_EINVAL && r != CS_EMALFORMED && r != CS_ELIMIT && r != CS_ENOMEM)
		abort();
}

/* every byte of a failed parse's result is zero */
static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			abort();
}

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_str(const char *s, size_t max)
{
	EXPECT(s != NULL && strlen(s) <= max);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	int r;

	switch (data[0] % NPARSERS) {
	case ENROLL: {
		struct cs__enroll_body b;
		check_rc(r = cs__parse_enroll(&b, text, len));
		if (r == 0) {
			check_str(b.token, 512);
			check_str(b.name, CS__HUB_NAME_MAX);
			EXPECT(b.name[0] != '\0');
			check_str(b.csr, CS__HUB_PEM_MAX);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__enroll_body_clear(&b);
		break;
	}
	case DEVICE_ADD: {
		struct cs__device_add_body b;
		check_rc(r = cs__parse_device_add(&b, text, len));
		if (r == 0) {
			check_str(b.name, CS__HUB_NAME_MAX);
			EXPECT((b.certificate == NULL) != (b.csr == NULL));
			EXPECT(b.address == NULL || cs__hub_check_address(b.address) == 0);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__device_add_body_clear(&b);
		break;
	}
	case DEVICE_INFO: {
		struct cs__device_info_body b;
		check_rc(r = cs__parse_device_info(&b, text, len));
		if (r == 0) {
			check_str(b.name, CS__HUB_NAME_MAX);
			check_str(b.csr, CS__HUB_PEM_MAX);
			EXPECT(strlen(b.device_id) < sizeof(b.device_id));
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__device_info_body_clear(&b);
		break;
	}
	case DISCOVER: {
		struct cs__discover_body b;
		check_rc(r = cs__parse_discover(&b, text, len));
		if (r == 0)
			EXPECT(cs__hub_check_address(b.address) == 0);
		else
			check_zero(&b, sizeof(b));
		cs__discover_body_clear(&b);
		break;
	}
	case CONFIRM: {
		struct cs__confirm_body b;
		check_rc(r = cs__parse_confirm(&b, text, len));
		if (r == 0) {
			EXPECT(strlen(b.fingerprint) == 64);
			EXPECT(strspn(b.fingerprint, "0123456789abcdef") == 64);
		} else {
			check_zero(&b, sizeof(b));
		}
		break;
	}
	case TOKEN: {
		struct cs__token_body b;
		check_rc(r = cs__parse_token(&b, text, len));
		if (r == 0)
			EXPECT(b.uses >= 1 && b.uses <= CS__HUB_TOKEN_USES_MAX && b.ttl >= 1 &&
				b.ttl <= CS__HUB_TOKEN_TTL_MAX);
		else
			check_zero(&b, sizeof(b));
		break;
	}
	case JOB: {
		struct cs__job_body b;
		check_rc(r = cs__parse_job(&b, text, len));
		if (r == 0) {
			EXPECT(cs__hub_check_folder(b.folder) == 0);
			check_str(b.source, 128);
			EXPECT(b.n <= CS__HUB_DESTS_MAX);
			EXPECT(b.all ? b.n == 0 : b.n > 0);
			for (size_t i = 0; i < b.n; i++)
				check_str(b.dests[i], 128);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__job_body_clear(&b);
		break;
	}
	case PRODUCED: {
		struct cs__produced p;
		check_rc(r = cs__parse_produced(&p, text, len));
		if (r == 0)
			EXPECT(p.to_seq >= 0 && p.packs >= 0 && p.packs <= CS__HUB_PACKS_MAX &&
				p.records >= 0 && p.bytes >= 0 && p.files >= 0);
		else
			check_zero(&p, sizeof(p));
		break;
	}
	case FAILED: {
		struct cs__failed_body b;
		check_rc(r = cs__parse_failed(&b, text, len));
		if (r == 0)
			check_str(b.reason, CS__HUB_REASON_MAX);
		else
			check_zero(&b, sizeof(b));
		cs__failed_body_clear(&b);
		break;
	}
	case PROGRESS: {
		struct cs__progress p;
		check_rc(r = cs__parse_progress(&p, text, len));
		if (r == 0)
			EXPECT(p.files_done >= 0 && p.files_total >= 0 && p.bytes_done >= 0 &&
				p.bytes_total >= 0);
		else
			check_zero(&p, sizeof(p));
		break;
	}
	case ACK: {
		struct cs__ack_body b;
		check_rc(r = cs__parse_ack(&b, text, len));
		if (r == 0) {
			check_str(b.reason, CS__HUB_REASON_MAX);
			EXPECT(b.to_seq >= 0 && b.files >= 0 && b.bytes >= 0 && b.conflicts >= 0);
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__ack_body_clear(&b);
		break;
	}
	case LOGIN: {
		struct cs__login_body b;
		check_rc(r = cs__parse_login(&b, text, len));
		if (r == 0) {
			check_str(b.user, CS__HUB_USER_MAX);
			check_str(b.password, CS__HUB_PASSWORD_MAX);
			EXPECT(b.user[0] != '\0' && b.password[0] != '\0');
		} else {
			check_zero(&b, sizeof(b));
		}
		cs__login_body_clear(&b);
		break;
	}
	}
	return 0;
}
