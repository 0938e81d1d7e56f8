/* Secret handling (include/certsync/secure.h). */
#include <stdlib.h>
#include <string.h>
#include <certsync/secure.h>

void cs_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

void cs_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	cs_wipe(p, len);
	free(p);
}

void cs_free_secret_str(char *s)
{
	if (s == NULL)
		return;
	cs_freezero(s, strlen(s));
}

int cs_memeq(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *x = a;
	const volatile unsigned char *y = b;
	unsigned char diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}
