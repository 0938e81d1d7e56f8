/* Small conversions between OpenSSL objects and plain C values, shared by
 * the identity files (local.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/asn1.h>
#include <openssl/buffer.h>
#include <openssl/objects.h>
#include <certsync/error.h>
#include "lib/identity/local.h"

int cs__no_pass(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int cs__bio_to_string(char **out, BIO *bio)
{
	BUF_MEM *bm = NULL;
	BIO_get_mem_ptr(bio, &bm);
	if (bm == NULL)
		return cs_error_set(CS_ERROR, "no output produced");
	char *s = malloc(bm->length + 1);
	if (s == NULL)
		return cs_error_set(CS_ENOMEM, "out of memory");
	if (bm->length > 0) /* an empty BIO has no buffer at all */
		memcpy(s, bm->data, bm->length);
	s[bm->length] = '\0';
	*out = s;
	return CS_OK;
}

/* Rejects control characters and malformed UTF-8 so that a name shown in
 * the console or a log cannot carry escape sequences or forge lines. */
int cs__check_cn(const char *cn)
{
	if (cn == NULL || cn[0] == '\0')
		return cs_error_set(CS_EINVAL, "name must not be empty");
	size_t n = strlen(cn);
	if (n > CS__CN_MAX)
		return cs_error_set(CS_EINVAL, "name longer than %d bytes", CS__CN_MAX);
	const unsigned char *p = (const unsigned char *)cn;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t extra;
		if (c < 0x20 || c == 0x7f)
			return cs_error_set(CS_EINVAL, "name contains a control character");
		if (c < 0x80)
			extra = 0;
		else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			extra = 1;
		else if ((c & 0xf0) == 0xe0)
			extra = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			extra = 3;
		else
			return cs_error_set(CS_EINVAL, "name is not valid UTF-8");
		if (extra > n - i - 1)
			return cs_error_set(CS_EINVAL, "name is not valid UTF-8");
		for (size_t k = 1; k <= extra; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return cs_error_set(CS_EINVAL, "name is not valid UTF-8");
		i += 1 + extra;
	}
	return CS_OK;
}

int cs__name_cn(char **out, const X509_NAME *name)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0)
		return cs_error_set(CS_ENOTFOUND, "no common name");
	const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, idx);
	const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
	unsigned char *utf8 = NULL;
	int len = ASN1_STRING_to_UTF8(&utf8, s);
	if (len < 0)
		return cs__ossl_error(CS_EMALFORMED, "common name");
	/* An embedded NUL would make C code see a different name. */
	if (memchr(utf8, 0, (size_t)len) != NULL) {
		OPENSSL_free(utf8);
		return cs_error_set(CS_EMALFORMED, "common name contains a NUL byte");
	}
	char *c = malloc((size_t)len + 1);
	if (c == NULL) {
		OPENSSL_free(utf8);
		return cs_error_set(CS_ENOMEM, "out of memory");
	}
	memcpy(c, utf8, (size_t)len);
	c[len] = '\0';
	OPENSSL_free(utf8);
	*out = c;
	return CS_OK;
}

int64_t cs__asn1_time_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}
