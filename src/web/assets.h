#ifndef CS_WEB_ASSETS_H
#define CS_WEB_ASSETS_H
#include <stddef.h>

/* One static file of the web console, compiled into the binary. */
struct cs_web_asset {
	const char *path;         /* request path, e.g. "/index.html" */
	const char *content_type; /* HTTP Content-Type */
	const unsigned char *data;
	size_t len;
};

/* Every console asset; the table ends with an entry whose path is NULL. */
extern const struct cs_web_asset cs_web_assets[];

#endif
