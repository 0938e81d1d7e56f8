/* libFuzzer target for account sync's sealed bodies (PROTOCOL.md §11.4):
 * the input is a request frame for cs_acct_request_parse and, when it
 * parses, cs_acct_request_open; and a response frame for
 * cs_acct_response_open. Both open with the fixed message key below
 * (bytes 0, 1, ..., 31) for POST FUZZ_PATH; a response belongs to request
 * timestamp FUZZ_REQ_TS and status 200. The seeds in
 * corpus/fuzz_account_frame/ were sealed with these values, so the fuzzer
 * starts from frames that open. */
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>
#include <certsync/aead.h>

#define FUZZ_METHOD "POST"
#define FUZZ_PATH "/v1/account/records/changes"
#define FUZZ_REQ_TS 1700000000123LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mk[CS_ACCT_KEY_LEN];
	for (size_t i = 0; i < sizeof(mk); i++)
		mk[i] = (uint8_t)i;

	cs_acct_request_frame f;
	uint8_t *plain = NULL;
	size_t plain_len = 0;
	if (cs_acct_request_parse(&f, data, size) == 0) {
		/* A parsed frame points inside the input, tag included. */
		if (f.nonce < data || f.sealed + f.sealed_len != data + size ||
		    f.sealed != f.nonce + CS_AEAD_NONCE_LEN || f.sealed_len < CS_AEAD_TAG_LEN ||
		    f.ts_ms < 0 || strlen(f.token) == 0 || strlen(f.token) > CS_ACCT_TOKEN_MAX)
			abort();
		if (cs_acct_request_open(&plain, &plain_len, &f, mk, FUZZ_METHOD, FUZZ_PATH) == 0) {
			if (plain_len != f.sealed_len - CS_AEAD_TAG_LEN || plain[plain_len] != 0)
				abort();
			free(plain);
		}
	}
	plain = NULL;
	if (cs_acct_response_open(&plain, &plain_len, mk, FUZZ_METHOD, FUZZ_PATH, FUZZ_REQ_TS, 200,
		    data, size) == 0) {
		if (plain_len != size - 4 - CS_AEAD_NONCE_LEN - CS_AEAD_TAG_LEN || plain[plain_len] != 0)
			abort();
		free(plain);
	}
	return 0;
}
