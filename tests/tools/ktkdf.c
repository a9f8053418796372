/* Test tool: kotetsu's key exchange and IKEv2 key schedule from the command
 * line, hex in argv and hex out on stdout, so that tests/py can compare them
 * with an independent implementation. Not installed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto/dh.h"
#include "core/crypto/prf.h"
#include "core/err.h"

#define TOOL_NAME "ktkdf"
#include "tests/tools/toolutil.h"

static const char usage[] =
	"usage: ktkdf dh GROUP PEER [PRIV]\n"
	"       ktkdf prfplus PRF KEY SEED LEN\n"
	"       ktkdf ike PRF GIR NI NR SPII SPIR ENCR_LEN INTEG_LEN\n"
	"       ktkdf rekey OLD_PRF OLD_SK_D NEW_PRF GIR NI NR SPII SPIR ENCR_LEN INTEG_LEN\n"
	"       ktkdf child PRF SK_D GIR|- NI NR ENCR_LEN INTEG_LEN\n"
	"Values are hex (\"\" for empty); PRF and GROUP are IKEv2 transform IDs.\n";

static void prf_open(struct kt_prf *prf, const char *id)
{
	int rc = kt_prf_init(prf, (uint16_t)number(id, 10), false);

	if (rc < 0)
		die("kt_prf_init", rc);
}

static int cmd_dh(int argc, char **argv)
{
	uint8_t pub[KT_DH_MAX_PUBLIC], secret[KT_DH_MAX_SECRET];
	uint16_t group;
	struct buf peer;
	struct kt_dh *dh;
	int rc, n;

	if (argc != 2 && argc != 3)
		return 2;
	group = (uint16_t)number(argv[0], 10);
	peer = hex(argv[1]);
	if (argc == 3) {
		struct buf priv = hex(argv[2]);

		rc = kt_dh_new_with_private(group, priv.p, priv.len, &dh);
		free(priv.p);
	} else {
		rc = kt_dh_new(group, false, &dh);
	}
	if (rc < 0)
		die("key pair", rc);
	n = kt_dh_public(dh, pub, sizeof(pub));
	if (n < 0)
		die("kt_dh_public", n);
	put("public", pub, (size_t)n);
	rc = kt_dh_derive(dh, peer.p, peer.len, secret, sizeof(secret));
	if (rc < 0)
		die("kt_dh_derive", rc);
	put("secret", secret, (size_t)rc);
	kt_dh_secret_wipe(secret, sizeof(secret));
	kt_dh_del(dh);
	free(peer.p);
	return 0;
}

static int cmd_prfplus(int argc, char **argv)
{
	struct kt_prf prf;
	struct buf key, seed;
	size_t len;
	uint8_t *out;
	int rc;

	if (argc != 4)
		return 2;
	prf_open(&prf, argv[0]);
	key = hex(argv[1]);
	seed = hex(argv[2]);
	len = number(argv[3], 10);
	out = malloc(len + 1);
	rc = kt_prf_plus(&prf, key.p, key.len, seed.p, seed.len, out, len);
	if (rc < 0)
		die("kt_prf_plus", rc);
	put(NULL, out, len);
	free(out);
	free(key.p);
	free(seed.p);
	kt_prf_free(&prf);
	return 0;
}

/* argv: GIR NI NR [SPII SPIR] ENCR_LEN INTEG_LEN; GIR may be "-". */
static struct kt_kdf_in kdf_in(char **argv, bool spis, struct buf *keep)
{
	struct kt_kdf_in in = { 0 };
	int k = 0;

	if (strcmp(argv[0], "-") != 0) {
		keep[k] = hex(argv[0]);
		in.g_ir = keep[k].p;
		in.g_ir_len = keep[k++].len;
	}
	keep[k] = hex(argv[1]);
	in.ni = keep[k].p;
	in.ni_len = keep[k++].len;
	keep[k] = hex(argv[2]);
	in.nr = keep[k].p;
	in.nr_len = keep[k++].len;
	argv += 3;
	if (spis) {
		keep[k] = hex(argv[0]);
		keep[k + 1] = hex(argv[1]);
		if (keep[k].len != KT_IKE_SPI_LEN || keep[k + 1].len != KT_IKE_SPI_LEN) {
			fprintf(stderr, "ktkdf: SPIs are 8 bytes\n");
			exit(2);
		}
		in.spi_i = keep[k].p;
		in.spi_r = keep[k + 1].p;
		argv += 2;
	}
	in.encr_key_len = number(argv[0], 10);
	in.integ_key_len = number(argv[1], 10);
	return in;
}

static void put_ike_keys(const struct kt_ike_keys *k)
{
	put("sk_d", k->sk_d, k->prf_len);
	put("sk_ai", k->sk_ai, k->integ_len);
	put("sk_ar", k->sk_ar, k->integ_len);
	put("sk_ei", k->sk_ei, k->encr_len);
	put("sk_er", k->sk_er, k->encr_len);
	put("sk_pi", k->sk_pi, k->prf_len);
	put("sk_pr", k->sk_pr, k->prf_len);
}

static int cmd_ike(int argc, char **argv)
{
	struct buf keep[5] = { { 0 } };
	struct kt_ike_keys k;
	struct kt_kdf_in in;
	struct kt_prf prf;
	int rc;

	if (argc != 8)
		return 2;
	prf_open(&prf, argv[0]);
	in = kdf_in(argv + 1, true, keep);
	rc = kt_ike_keys_derive(&prf, &in, &k);
	if (rc < 0)
		die("kt_ike_keys_derive", rc);
	put_ike_keys(&k);
	kt_ike_keys_wipe(&k);
	kt_prf_free(&prf);
	for (int i = 0; i < 5; i++)
		free(keep[i].p);
	return 0;
}

static int cmd_rekey(int argc, char **argv)
{
	struct buf keep[5] = { { 0 } }, sk_d;
	struct kt_prf oldp, newp;
	struct kt_ike_keys k;
	struct kt_kdf_in in;
	int rc;

	if (argc != 10)
		return 2;
	prf_open(&oldp, argv[0]);
	sk_d = hex(argv[1]);
	prf_open(&newp, argv[2]);
	in = kdf_in(argv + 3, true, keep);
	rc = kt_ike_keys_rekey(&oldp, sk_d.p, sk_d.len, &newp, &in, &k);
	if (rc < 0)
		die("kt_ike_keys_rekey", rc);
	put_ike_keys(&k);
	kt_ike_keys_wipe(&k);
	kt_prf_free(&oldp);
	kt_prf_free(&newp);
	free(sk_d.p);
	for (int i = 0; i < 5; i++)
		free(keep[i].p);
	return 0;
}

static int cmd_child(int argc, char **argv)
{
	struct buf keep[3] = { { 0 } }, sk_d;
	struct kt_child_keys k;
	struct kt_kdf_in in;
	struct kt_prf prf;
	int rc;

	if (argc != 7)
		return 2;
	prf_open(&prf, argv[0]);
	sk_d = hex(argv[1]);
	in = kdf_in(argv + 2, false, keep);
	rc = kt_child_keys_derive(&prf, sk_d.p, sk_d.len, &in, &k);
	if (rc < 0)
		die("kt_child_keys_derive", rc);
	put("encr_i", k.encr_i, k.encr_len);
	put("integ_i", k.integ_i, k.integ_len);
	put("encr_r", k.encr_r, k.encr_len);
	put("integ_r", k.integ_r, k.integ_len);
	kt_child_keys_wipe(&k);
	kt_prf_free(&prf);
	free(sk_d.p);
	for (int i = 0; i < 3; i++)
		free(keep[i].p);
	return 0;
}

static const struct tool_cmd cmds[] = {
	{ "dh", cmd_dh },
	{ "prfplus", cmd_prfplus },
	{ "ike", cmd_ike },
	{ "rekey", cmd_rekey },
	{ "child", cmd_child },
};

int main(int argc, char **argv)
{
	return tool_main(cmds, sizeof(cmds) / sizeof(cmds[0]), usage, argc, argv);
}
