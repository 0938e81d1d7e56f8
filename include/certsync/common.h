#ifndef CERTSYNC_COMMON_H
#define CERTSYNC_COMMON_H
/*
 * Definitions shared by every public header: the export macro and the
 * result codes. Functions return 0 on success or one of the negative CS_E*
 * codes below; the human-readable reason is in cs_error_last().
 */
#include <stddef.h>
#include <stdint.h>

#if defined(CS_BUILDING_LIBRARY)
#define CS_EXTERN __attribute__((visibility("default")))
#else
#define CS_EXTERN
#endif

enum cs_result {
	CS_OK = 0,
	CS_ERROR = -1,      /* failure that fits none of the codes below */
	CS_ENOMEM = -2,     /* out of memory */
	CS_EINVAL = -3,     /* an argument or a value is not acceptable */
	CS_ENOTFOUND = -4,  /* the named object does not exist */
	CS_EEXISTS = -5,    /* the object exists already */
	CS_EAUTH = -6,      /* authentication or signature check failed */
	CS_ECRYPTO = -7,    /* a cryptographic operation failed */
	CS_EIO = -8,        /* file or socket I/O failed */
	CS_EMALFORMED = -9, /* input does not follow its format */
	CS_ETRUNCATED = -10,/* input ended before its declared end */
	CS_ETRAILING = -11, /* input has bytes after its end */
	CS_ELIMIT = -12,    /* a size, count or depth limit was exceeded */
	CS_ENET = -13,      /* network or HTTP failure */
	CS_ECONFLICT = -14, /* state changed underneath (precondition failed) */
	CS_EREVOKED = -15,  /* certificate revoked */
	CS_EEXPIRED = -16,  /* certificate, token or object expired */
	CS_EDB = -17,       /* database failure */
	CS_ESTATE = -18,    /* operation not allowed in the current state */
	CS_EDENIED = -19,   /* the peer refused the request */
};

#endif
