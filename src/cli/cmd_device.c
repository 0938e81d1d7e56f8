/* certsync device: this device's identity and enrollment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <certsync/agent.h>
#include <certsync/error.h>
#include <certsync/fsutil.h>
#include <certsync/identity.h>
#include "cli.h"
#include "commands.h"

static const char *data_dir(const struct cli_option *opts)
{
	const char *d = cli_get(opts, "data");
	return d ? d : cli_default_data_dir("device");
}

static int device_init(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"name", 'n', "NAME", "a name for this device, shown to the operator", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync device init --name NAME [--data DIR]",
		"Create this device's key (ECDSA P-256, never leaves the device) and print its device ID.",
		&npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 0)
		return cli_usage_error("device init takes no arguments");
	const char *name = cli_get(opts, "name");
	if (name == NULL)
		return cli_usage_error("device init needs --name NAME");
	char id[CS_DEVICE_ID_SIZE];
	if (cs_agent_init(id, data_dir(opts), name) < 0)
		return cli_fail("device init");
	printf("%s\n", id);
	return 0;
}

static int device_enroll(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"name", 'n', "NAME", "name to register under (default: the name given at init)", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync device enroll TOKEN [--data DIR]",
		"Register with the hub named in TOKEN (from 'certsync hub token create'). The hub's CA is "
		"pinned by the fingerprint inside the token.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (npos != 1)
		return cli_usage_error("device enroll needs exactly one TOKEN");
	if (cs_agent_enroll(data_dir(opts), argv[1], cli_get(opts, "name")) < 0)
		return cli_fail("device enroll");
	printf("enrolled\n");
	return 0;
}

static int device_show(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts, "certsync device show [--data DIR]",
		"Print this device's ID, name, hub and certificate.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	const char *dir = data_dir(opts);
	char *key_path = cs_path_join(dir, "device.key"), *crt_path = cs_path_join(dir, "device.crt");
	cs_key *key = NULL;
	cs_cert *cert = NULL;
	char id[CS_DEVICE_ID_SIZE];
	int rc = 0;
	if (cs_key_load(&key, key_path, NULL) < 0 || cs_key_device_id(id, key) < 0) {
		rc = cli_fail("device show");
		goto done;
	}
	char kfp[CS_FINGERPRINT_SIZE] = "";
	cs_device_id_fingerprint(kfp, id);
	printf("device id:   %s\n", id);
	printf("key:         %s\n", kfp);
	if (cs_cert_load(&cert, crt_path) == 0) {
		char fp[CS_FINGERPRINT_SIZE], *cn = NULL;
		cs_cert_fingerprint(fp, cert);
		cs_cert_common_name(&cn, cert);
		printf("name:        %s\n", cn ? cn : "");
		printf("certificate: %s\n", fp);
		printf("expires:     %lld\n", (long long)cs_cert_not_after(cert));
		free(cn);
	} else {
		printf("certificate: none (not enrolled)\n");
	}
done:
	cs_key_free(key);
	cs_cert_free(cert);
	free(key_path);
	free(crt_path);
	return rc;
}

static void listen_ready(void *ud, int port)
{
	const char *id = ud;
	char kfp[CS_FINGERPRINT_SIZE] = "";
	cs_device_id_fingerprint(kfp, id);
	printf("device %s\nfingerprint %s\nlistening on port %d; on the hub run:\n"
		"  certsync hub device discover ADDRESS:%d\nand check that it shows this fingerprint.\n",
		id, kfp, port, port);
	fflush(stdout);
}

static int device_listen(int argc, char **argv)
{
	struct cli_option opts[] = {
		{"data", 'd', "DIR", "device data directory", NULL, NULL, 0},
		{"listen", 'l', "ADDR", "address to listen on", "127.0.0.1:7443", NULL, 0},
		{"hub", 0, "HOST:PORT", "the hub this device will use", NULL, NULL, 0},
		{"hub-ca", 0, "SHA256", "fingerprint of the hub CA (from 'certsync hub init')", NULL, NULL, 0},
		{NULL, 0, NULL, NULL, NULL, NULL, 0},
	};
	int npos, r = cli_parse(argc, argv, opts,
		"certsync device listen --hub HOST:PORT --hub-ca SHA256 [--listen ADDR] [--data DIR]",
		"Wait for the hub to ask for this device's information (registration by the operator, "
		"'certsync hub device discover'), then accept the certificate it delivers. Only a "
		"certificate from the CA with the given fingerprint is accepted.", &npos);
	if (r)
		return r > 0 ? 0 : 2;
	if (!cli_get(opts, "hub") || !cli_get(opts, "hub-ca"))
		return cli_usage_error("device listen needs --hub and --hub-ca");
	const char *dir = data_dir(opts);
	char *key_path = cs_path_join(dir, "device.key");
	cs_key *key = NULL;
	char id[CS_DEVICE_ID_SIZE] = "";
	if (cs_key_load(&key, key_path, NULL) == 0)
		cs_key_device_id(id, key);
	cs_key_free(key);
	free(key_path);
	if (cs_agent_listen(dir, cli_get(opts, "listen"), cli_get(opts, "hub"), cli_get(opts, "hub-ca"),
		    listen_ready, id) < 0)
		return cli_fail("device listen");
	printf("registered; start the agent with 'certsync agent run'\n");
	return 0;
}

static const struct cli_command device_commands[] = {
	{"init", device_init, "create this device's key and ID"},
	{"enroll", device_enroll, "register with a hub using an enrollment token"},
	{"show", device_show, "print this device's ID and certificate"},
	{"listen", device_listen, "wait to be registered by the operator (discovery)"},
	{NULL, NULL, NULL},
};

int cmd_device(int argc, char **argv)
{
	return cli_dispatch(argc, argv, device_commands, "certsync device");
}
