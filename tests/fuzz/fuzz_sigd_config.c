/* libFuzzer target for the sigd node configuration parser
 * cs_sigd_config_parse (src/lib/sigd/config.c, include/certsync/sigd.h),
 * with relative paths taken from "/base". Any text must be refused with one
 * of the documented codes and a zeroed struct, or give a configuration that
 * keeps the promises config.c makes: every required string set, a valid
 * name, role and mode, 1..CS_SIGD_ANCHORS_MAX trust anchors, at most
 * CS_SIGD_PEERS_MAX peers each an https:// URL (and at least one for an
 * edge in fetch mode), every path absolute, every timeout and the thread
 * count within their ranges. cs_sigd_config_clear frees it and leaves the
 * struct zeroed. */
#include <stdlib.h>
#include <string.h>
#include <certsync/common.h>
#include <certsync/encoding.h>
#include <certsync/sigd.h>

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

static void check_path(const char *p)
{
	EXPECT(p != NULL && p[0] == '/');
}

/* entries [n, max) of a list are unused */
static void check_list_tail(char *const *list, size_t n, size_t max)
{
	for (size_t i = n; i < max; i++)
		EXPECT(list[i] == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_sigd_config c;
	int r = cs_sigd_config_parse(&c, (const char *)data, size, "/base");
	check_rc(r);
	if (r == CS_OK) {
		EXPECT(cs_text_is_name(c.name, 64, "._-"));
		EXPECT(c.listen != NULL);
		check_path(c.data_dir);
		check_path(c.tls_cert);
		check_path(c.tls_key);
		check_path(c.cluster_ca);
		EXPECT(c.role == CS_SIGD_CENTER || c.role == CS_SIGD_EDGE);
		EXPECT(c.mode == CS_SIGD_MODE_LOCAL || c.mode == CS_SIGD_MODE_FETCH);
		EXPECT(c.nanchors >= 1 && c.nanchors <= CS_SIGD_ANCHORS_MAX);
		for (size_t i = 0; i < c.nanchors; i++)
			check_path(c.anchors[i]);
		check_list_tail(c.anchors, c.nanchors, CS_SIGD_ANCHORS_MAX);
		EXPECT(c.ncrls <= CS_SIGD_ANCHORS_MAX);
		for (size_t i = 0; i < c.ncrls; i++)
			check_path(c.crls[i]);
		check_list_tail(c.crls, c.ncrls, CS_SIGD_ANCHORS_MAX);
		EXPECT(c.npeers <= CS_SIGD_PEERS_MAX);
		for (size_t i = 0; i < c.npeers; i++)
			EXPECT(c.peers[i] != NULL && strncmp(c.peers[i], "https://", 8) == 0);
		check_list_tail(c.peers, c.npeers, CS_SIGD_PEERS_MAX);
		EXPECT(!(c.role == CS_SIGD_EDGE && c.mode == CS_SIGD_MODE_FETCH && c.npeers == 0));
		/* the ranges of config.c */
		EXPECT(c.negative_cache_ms >= 0 && c.negative_cache_ms <= 86400000);
		EXPECT(c.health_interval_ms >= 100 && c.health_interval_ms <= 3600000);
		EXPECT(c.connect_timeout_ms >= 10 && c.connect_timeout_ms <= 60000);
		EXPECT(c.request_timeout_ms >= 10 && c.request_timeout_ms <= 600000);
		EXPECT(c.fetch_threads >= 1 && c.fetch_threads <= 64);
	} else {
		check_zero(&c, sizeof(c));
	}
	cs_sigd_config_clear(&c);
	check_zero(&c, sizeof(c));
	return 0;
}
