/* libFuzzer target for account tokens and login tickets (PROTOCOL.md
 * §11.3): the input, as a NUL-terminated string, goes to
 * cs_acct_sealed_kid, cs_acct_token_open and cs_acct_ticket_open with the
 * fixed token key below (bytes 0x80, 0x81, ..., 0x9f). The seeds in
 * corpus/fuzz_account_token/ were sealed under it, so the fuzzer starts
 * from texts that open. Whatever opens must seal again and reopen to the
 * same values. */
#include <stdlib.h>
#include <string.h>
#include <certsync/account.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[CS_ACCT_KEY_LEN];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x80 + i);
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	uint32_t kid;
	(void)cs_acct_sealed_kid(&kid, text, 0);
	(void)cs_acct_sealed_kid(&kid, text, 1);

	cs_acct_token t, t2;
	if (cs_acct_token_open(&t, key, text) == 0) {
		char *again = NULL;
		if (strlen(t.account) > CS_ACCT_NAME_MAX || strlen(t.device) >= CS_DEVICE_ID_SIZE ||
		    cs_acct_sealed_kid(&kid, text, 0) != 0 || cs_acct_token_seal(&again, key, kid, &t) != 0 ||
		    cs_acct_token_open(&t2, key, again) != 0 || t2.account_id != t.account_id ||
		    strcmp(t2.account, t.account) != 0 || strcmp(t2.device, t.device) != 0 ||
		    t2.issued != t.issued || t2.expires != t.expires ||
		    memcmp(t2.message_key, t.message_key, CS_ACCT_KEY_LEN) != 0)
			abort();
		free(again);
	}

	cs_acct_ticket l, l2;
	if (cs_acct_ticket_open(&l, key, text) == 0) {
		char *again = NULL;
		if (strlen(l.account) > CS_ACCT_NAME_MAX || strlen(l.device) >= CS_DEVICE_ID_SIZE ||
		    cs_acct_sealed_kid(&kid, text, 1) != 0 || cs_acct_ticket_seal(&again, key, kid, &l) != 0 ||
		    cs_acct_ticket_open(&l2, key, again) != 0 || l2.account_id != l.account_id ||
		    strcmp(l2.account, l.account) != 0 || strcmp(l2.device, l.device) != 0 ||
		    l2.expires != l.expires || memcmp(l2.cnonce, l.cnonce, CS_ACCT_NONCE_LEN) != 0 ||
		    memcmp(l2.snonce, l.snonce, CS_ACCT_NONCE_LEN) != 0)
			abort();
		free(again);
	}
	free(text);
	return 0;
}
