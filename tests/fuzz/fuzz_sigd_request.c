/* libFuzzer target for the sigd verification request parser
 * cs__sigd_request_parse (src/lib/sigd/request.c, local.h) and the
 * fingerprint parser cs__sigd_fp_parse, which also gets the whole input as
 * a C string. Any body must be refused with one of the documented codes, a
 * code string and a zeroed request, or parse into 1..CS__SIGD_BATCH_MAX
 * items (exactly one unless a batch) of which each either carries its
 * refusal (status 400, a code, a NUL-terminated message, no buffers) or a
 * known algorithm, data of at most CS__SIGD_DATA_MAX bytes and a signature
 * of 1..CS__SIGD_SIG_MAX bytes. Whatever parsed is freed with
 * cs__sigd_request_clear, which leaves the request zeroed. A fingerprint
 * that parses is the input's hex digits with the ':' separators taken out. */
#include <stdlib.h>
#include <string.h>
#include <certsync/common.h>
#include <certsync/encoding.h>
#include "lib/sigd/local.h"

#define EXPECT(cond) do { if (!(cond)) abort(); } while (0)

static void check_rc(int r)
{
	EXPECT(r == CS_OK || r == CS_EINVAL || r == CS_EMALFORMED || r == CS_ELIMIT || r == CS_ENOMEM);
}

/* every byte is zero */
static void check_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		EXPECT(b[i] == 0);
}

/* touch every byte: ASan catches a short buffer */
static void touch(const uint8_t *p, size_t n)
{
	volatile uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum ^= p[i];
	(void)sum;
}

static int is_item_code(const char *code)
{
	return code != NULL && (strcmp(code, "malformed") == 0 || strcmp(code, "alg_unknown") == 0);
}

static void check_item(const struct cs__sigd_item *it)
{
	if (it->status != 0) {
		EXPECT(it->status == 400);
		EXPECT(is_item_code(it->code));
		EXPECT(memchr(it->msg, '\0', sizeof(it->msg)) != NULL);
		EXPECT(it->data == NULL && it->sig == NULL);
		return;
	}
	EXPECT(it->alg == CS__SIGD_ALG_ECDSA_P256 || it->alg == CS__SIGD_ALG_RSA_PSS);
	EXPECT(cs__sigd_alg_name(it->alg)[0] != '\0');
	EXPECT(it->data_len <= CS__SIGD_DATA_MAX);
	EXPECT(it->data != NULL || it->data_len == 0);
	EXPECT(it->sig != NULL && it->sig_len >= 1 && it->sig_len <= CS__SIGD_SIG_MAX);
	touch(it->data, it->data_len);
	touch(it->sig, it->sig_len);
}

static void fuzz_request(const char *text, size_t len)
{
	struct cs__sigd_request rq;
	const char *code = NULL;
	int r = cs__sigd_request_parse(&rq, &code, text, len);
	check_rc(r);
	EXPECT(code != NULL);
	if (r == CS_OK) {
		EXPECT(rq.n >= 1 && rq.n <= CS__SIGD_BATCH_MAX);
		EXPECT(rq.items != NULL);
		EXPECT(rq.batch == 0 || rq.batch == 1);
		if (!rq.batch) /* a single verification that did not parse is refused as a whole */
			EXPECT(rq.n == 1 && rq.items[0].status == 0);
		for (size_t i = 0; i < rq.n; i++)
			check_item(&rq.items[i]);
	} else {
		check_zero(&rq, sizeof(rq));
		EXPECT(is_item_code(code));
		/* "alg_unknown" only names a single verification's algorithm */
		EXPECT(strcmp(code, "alg_unknown") != 0 || r == CS_EINVAL);
	}
	cs__sigd_request_clear(&rq);
	check_zero(&rq, sizeof(rq));
}

static void fuzz_fp(const char *text, size_t len)
{
	char *s = malloc(len + 1);
	if (s == NULL)
		return;
	memcpy(s, text, len);
	s[len] = '\0';
	uint8_t fp[CS__SIGD_FP_LEN];
	int r = cs__sigd_fp_parse(fp, s);
	EXPECT(r == CS_OK || r == CS_EINVAL);
	if (r == CS_OK) {
		/* the input's digits, lower-cased and without ':', spell fp */
		char want[2 * CS__SIGD_FP_LEN + 1], got[2 * CS__SIGD_FP_LEN + 1];
		size_t n = 0;
		for (const char *p = s; *p; p++) {
			if (*p == ':')
				continue;
			EXPECT(n < 2 * CS__SIGD_FP_LEN);
			char c = *p;
			if (c >= 'A' && c <= 'F')
				c = (char)(c - 'A' + 'a');
			want[n++] = c;
		}
		want[n] = '\0';
		EXPECT(n == 2 * CS__SIGD_FP_LEN);
		EXPECT(s[0] != ':' && s[strlen(s) - 1] != ':');
		cs_hex_encode(got, fp, CS__SIGD_FP_LEN);
		EXPECT(strcmp(want, got) == 0);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request((const char *)data, size);
	fuzz_fp((const char *)data, size);
	return 0;
}
