/* Tests of the configuration parser: DESIGN.md's example parsed to the
 * expected model, defaults, identities, PSK forms, comment and line
 * handling, and a table of broken files each giving its "file:line:
 * message", several of them at once. */
#include "tests/unit/testutil.h"

#include "core/conf/conf.h"
#include "core/err.h"

static struct kt_conf_diag diag;

static struct kt_conf *parse_ok(const char *text)
{
	struct kt_conf *conf = NULL;
	int rc = kt_conf_parse(text, strlen(text), "kotetsu.conf", &conf, &diag);
	if (rc)
		fail_msg("parse failed (%d), %zu errors, first: %s", rc, diag.n_errors,
			 diag.n_errors ? diag.errors[0] : "-");
	assert_non_null(conf);
	return conf;
}

static void expect_ts(const struct kt_conf_ts *t, const char *text)
{
	struct kt_ts want;
	assert_int_equal(kt_ts_parse(&want, text), 0);
	assert_false(t->dynamic);
	assert_memory_equal(&t->ts, &want, sizeof(want));
}

/* DESIGN.md's example, word for word. */
static const char design_example[] =
	"[daemon]\n"
	"socket    = /run/kotetsu/kotetsud.sock   # control socket\n"
	"tun       = kt0                          # TUN device name\n"
	"log-level = info                         # error | warn | info | debug\n"
	"\n"
	"[peer site-b]                  # one IKE SA\n"
	"local     = 192.0.2.1          # our address; optional\n"
	"remote    = 192.0.2.2          # address or DNS name; \"any\" for a responder\n"
	"local-id  = site-a.example     # default: local address\n"
	"remote-id = site-b.example     # default: remote address\n"
	"auth      = psk                # psk | pubkey (certificates, raw keys: later)\n"
	"psk       = file:/etc/kotetsu/site-b.psk   # or a quoted string; may repeat (rotation)\n"
	"ike       = aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256\n"
	"start     = now                # now | on-traffic | listen\n"
	"nat-t     = auto               # auto | force | off\n"
	"\n"
	"[child site-b/lan]             # one CHILD_SA of peer site-b\n"
	"mode      = tunnel             # tunnel | transport\n"
	"protocol  = esp                # esp | ah | ah+esp\n"
	"local-ts  = 10.1.0.0/24        # comma list; CIDR with optional [proto/port], as strongSwan writes it\n"
	"remote-ts = 10.2.0.0/24\n"
	"esp       = aes256gcm16        # ESP proposals; \"ah = sha256\" for AH\n";

static void test_design_example(void **state)
{
	(void)state;
	struct kt_conf *conf = parse_ok(design_example);
	assert_int_equal(diag.n_errors, 0);
	assert_int_equal(diag.n_warnings, 0);

	assert_string_equal(conf->daemon.socket, "/run/kotetsu/kotetsud.sock");
	assert_string_equal(conf->daemon.tun, "kt0");
	assert_string_equal(conf->daemon.pidfile, KT_CONF_DEFAULT_PIDFILE);
	assert_int_equal(conf->daemon.log_level, KT_CONF_LOG_INFO);

	assert_int_equal(conf->n_peers, 1);
	const struct kt_conf_peer *peer = kt_conf_peer(conf, "site-b");
	assert_ptr_equal(peer, conf->peers[0]);
	assert_int_equal(peer->line, 6);
	struct kt_addr a;
	kt_addr_parse(&a, "192.0.2.1");
	assert_true(kt_addr_equal(&peer->local, &a));
	kt_addr_parse(&a, "192.0.2.2");
	assert_int_equal(peer->remote_kind, KT_CONF_REMOTE_ADDR);
	assert_true(kt_addr_equal(&peer->remote, &a));
	assert_string_equal(peer->remote_host, "192.0.2.2");
	assert_int_equal(peer->local_id.type, KT_IKE_ID_FQDN);
	assert_int_equal(peer->local_id.len, strlen("site-a.example"));
	assert_memory_equal(peer->local_id.data, "site-a.example", peer->local_id.len);
	assert_int_equal(peer->remote_id.type, KT_IKE_ID_FQDN);
	assert_string_equal(peer->remote_id.text, "site-b.example");
	assert_int_equal(peer->auth, KT_CONF_AUTH_PSK);
	assert_int_equal(peer->n_psk, 1);
	assert_int_equal(peer->psk[0].kind, KT_CONF_PSK_FILE);
	assert_string_equal(peer->psk[0].path, "/etc/kotetsu/site-b.psk");
	assert_null(peer->psk[0].secret);
	assert_int_equal(peer->psk[0].line, 12);
	assert_int_equal(peer->n_ike, 2);
	char buf[256];
	assert_true(kt_proposal_format_list(peer->ike, peer->n_ike, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256");
	assert_int_equal(peer->start, KT_CONF_START_NOW);
	assert_int_equal(peer->nat_t, KT_CONF_NAT_AUTO);
	assert_false(peer->legacy);
	assert_int_equal(peer->rekey_time, 4 * 3600);
	assert_int_equal(peer->life_time, 4 * 3600 + 24 * 60);
	assert_int_equal(peer->keepalive, 20); /* RFC 3948 §2.3's usual 20 s */

	assert_int_equal(conf->n_children, 1);
	assert_int_equal(peer->n_children, 1);
	const struct kt_conf_child *c = kt_conf_child(conf, "site-b", "lan");
	assert_ptr_equal(c, peer->children[0]);
	assert_ptr_equal(c, conf->children[0]);
	assert_ptr_equal(c->peer, peer);
	assert_int_equal(c->line, 17);
	assert_int_equal(c->mode, KT_MODE_TUNNEL);
	assert_int_equal(c->protocol, KT_CONF_PROTO_ESP);
	assert_int_equal(c->n_local_ts, 1);
	expect_ts(&c->local_ts[0], "10.1.0.0/24");
	assert_int_equal(c->n_remote_ts, 1);
	expect_ts(&c->remote_ts[0], "10.2.0.0/24");
	assert_int_equal(c->n_esp, 1);
	assert_true(kt_proposal_display(&c->esp[0], buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "AES_GCM_16_256");
	assert_int_equal(c->n_ah, 0);
	assert_int_equal(c->rekey_time, 3600);
	assert_int_equal(c->life_time, 3960);
	assert_int_equal(c->replay_window, 128);

	assert_null(kt_conf_peer(conf, "site-c"));
	assert_null(kt_conf_child(conf, "site-b", "wan"));
	assert_null(kt_conf_child(conf, "site-c", "lan"));
	kt_conf_free(conf);
}

static void test_defaults(void **state)
{
	(void)state;
	struct kt_conf *conf = parse_ok("[peer h]\n"
					"remote = 2001:db8::2\n"
					"local = 2001:db8::1\n"
					"psk = \"correct horse battery staple\"\n"
					"[child h/all]\n"
					"mode = transport\n");
	assert_int_equal(diag.n_warnings, 0);
	assert_string_equal(conf->daemon.socket, KT_CONF_DEFAULT_SOCKET);
	assert_string_equal(conf->daemon.tun, KT_CONF_DEFAULT_TUN);
	const struct kt_conf_peer *peer = conf->peers[0];
	/* IDs default to the addresses. */
	assert_int_equal(peer->local_id.type, KT_IKE_ID_IPV6_ADDR);
	assert_int_equal(peer->local_id.len, 16);
	assert_memory_equal(peer->local_id.data, peer->local.bytes, 16);
	assert_string_equal(peer->local_id.text, "2001:db8::1");
	assert_int_equal(peer->remote_id.type, KT_IKE_ID_IPV6_ADDR);
	assert_memory_equal(peer->remote_id.data, peer->remote.bytes, 16);
	assert_int_equal(peer->auth, KT_CONF_AUTH_PSK);
	assert_int_equal(peer->psk[0].kind, KT_CONF_PSK_SECRET);
	assert_int_equal(peer->psk[0].len, strlen("correct horse battery staple"));
	assert_memory_equal(peer->psk[0].secret, "correct horse battery staple", peer->psk[0].len);
	char buf[512];
	assert_true(kt_proposal_format_list(peer->ike, peer->n_ike, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256, "
				 "aes256-sha256-prfsha256-modp2048");
	assert_int_equal(peer->start, KT_CONF_START_NOW);

	const struct kt_conf_child *c = conf->children[0];
	assert_int_equal(c->mode, KT_MODE_TRANSPORT);
	assert_int_equal(c->protocol, KT_CONF_PROTO_ESP);
	assert_int_equal(c->n_local_ts, 1);
	assert_true(c->local_ts[0].dynamic);
	assert_int_equal(c->local_ts[0].ts.proto, 0);
	assert_int_equal(c->local_ts[0].ts.port_end, 65535);
	assert_int_equal(c->n_remote_ts, 1);
	assert_true(c->remote_ts[0].dynamic);
	assert_true(kt_proposal_format_list(c->esp, c->n_esp, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "aes256gcm16, aes128gcm16, chacha20poly1305, aes256-sha256");
	kt_conf_free(conf);

	/* An empty file is a daemon with no peers. */
	conf = parse_ok("");
	assert_int_equal(conf->n_peers, 0);
	assert_int_equal(conf->daemon.log_level, KT_CONF_LOG_INFO);
	kt_conf_free(conf);
}

/* keepalive: a DURATION per peer; 0 turns NAT keepalives off. */
static void test_keepalive(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		uint32_t seconds;
	} cases[] = { { "", 20 }, { "keepalive = 0\n", 0 }, { "keepalive = 45\n", 45 },
		      { "keepalive = 2m\n", 120 }, { "keepalive = 1h\n", 3600 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "[peer p]\nremote = 192.0.2.2\npsk = \"01234567890123456789\"\n%s",
			 cases[i].line);
		struct kt_conf *conf = parse_ok(text);
		assert_int_equal(conf->peers[0]->keepalive, cases[i].seconds);
		kt_conf_free(conf);
	}
}

/* [daemon] workers: auto when absent, "0" and "2" as written. */
static void test_workers(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		uint8_t workers;
	} cases[] = { { "", KT_CONF_WORKERS_AUTO },
		      { "[daemon]\nworkers = auto\n", KT_CONF_WORKERS_AUTO },
		      { "[daemon]\nworkers = 0\n", KT_CONF_WORKERS_NONE },
		      { "[daemon]\nworkers = 2\n", KT_CONF_WORKERS_TWO } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_conf *conf = parse_ok(cases[i].text);
		assert_int_equal(conf->daemon.workers, cases[i].workers);
		kt_conf_free(conf);
	}
}

/* [daemon] offload: on unless "off". */
static void test_offload(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		bool off;
	} cases[] = { { "", false },
		      { "[daemon]\noffload = auto\n", false },
		      { "[daemon]\noffload = off\n", true } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kt_conf *conf = parse_ok(cases[i].text);
		assert_int_equal(conf->daemon.offload_off, cases[i].off);
		kt_conf_free(conf);
	}
}

static void test_responder_and_options(void **state)
{
	(void)state;
	struct kt_conf *conf = parse_ok(
		"[daemon]\n"
		"pidfile = /tmp/ns1/kotetsud.pid\n"
		"socket = /tmp/ns1/kotetsud.sock\n"
		"log-level = debug\n"
		"[peer road]\n"
		"remote = any\n"
		"remote-id = %any\n"
		"psk = 0x00112233445566778899aabbccddeeff\n"
		"nat-t = force\n"
		"legacy = yes\n"
		"ike = aes256-sha1-modp1024\n"           /* legacy, allowed: a warning */
		"rekey-time = 2h\n"
		"life-time = 3h\n"
		"[child road/ah]\n"
		"mode = transport\n"
		"ah = sha256, sha384-esn\n"
		"local-ts = dynamic[tcp/22], 10.0.0.0/8\n"
		"rekey-time = 0\n"
		"replay-window = 1024\n"
		"[child road/both]\n"
		"protocol = ah+esp\n"
		"local-ts = 10.1.0.0/24\n"
		"remote-ts = 0.0.0.0/0\n"
		"esp = 3des-md5\n"
		"ah = sha512\n"
		"life-time = 1d\n");
	assert_int_equal(diag.n_warnings, 2);
	assert_string_equal(diag.warnings[0],
			    "kotetsu.conf:11: ike proposal aes256-sha1-prfsha1-modp1024 uses legacy algorithms");
	assert_string_equal(diag.warnings[1],
			    "kotetsu.conf:24: esp proposal 3des-md5 uses legacy algorithms");
	assert_string_equal(conf->daemon.pidfile, "/tmp/ns1/kotetsud.pid");
	assert_int_equal(conf->daemon.log_level, KT_CONF_LOG_DEBUG);
	const struct kt_conf_peer *peer = kt_conf_peer(conf, "road");
	assert_int_equal(peer->remote_kind, KT_CONF_REMOTE_ANY);
	assert_int_equal(peer->local.version, 0);
	assert_int_equal(peer->local_id.type, 0); /* not set: the daemon's address */
	assert_true(peer->remote_id.any);
	assert_int_equal(peer->start, KT_CONF_START_LISTEN);
	assert_int_equal(peer->nat_t, KT_CONF_NAT_FORCE);
	assert_true(peer->legacy);
	assert_int_equal(peer->psk[0].len, 16);
	assert_int_equal(peer->psk[0].secret[15], 0xff);
	assert_int_equal(peer->rekey_time, 7200);
	assert_int_equal(peer->life_time, 10800);

	const struct kt_conf_child *c = kt_conf_child(conf, "road", "ah");
	assert_int_equal(c->protocol, KT_CONF_PROTO_AH); /* only ah proposals given */
	assert_int_equal(c->n_esp, 0);
	assert_int_equal(c->n_ah, 2);
	assert_int_equal(c->ah[1].esn[0], KT_IKE_ESN_YES);
	assert_int_equal(c->n_local_ts, 2);
	assert_true(c->local_ts[0].dynamic);
	assert_int_equal(c->local_ts[0].ts.proto, 6);
	assert_int_equal(c->local_ts[0].ts.port_start, 22);
	assert_int_equal(c->local_ts[0].ts.port_end, 22);
	expect_ts(&c->local_ts[1], "10.0.0.0/8");
	assert_true(c->remote_ts[0].dynamic);
	assert_int_equal(c->rekey_time, 0);
	assert_int_equal(c->life_time, 0);
	assert_int_equal(c->replay_window, 1024);

	c = kt_conf_child(conf, "road", "both");
	assert_int_equal(c->protocol, KT_CONF_PROTO_AH_ESP);
	assert_int_equal(c->n_esp, 1);
	assert_int_equal(c->n_ah, 1);
	assert_int_equal(c->rekey_time, 3600);
	assert_int_equal(c->life_time, 86400);
	assert_int_equal(peer->n_children, 2);
	kt_conf_free(conf);
}

struct id_case {
	const char *text;
	uint8_t type;
	const char *hex_data; /* NULL: the expected data is `data` */
	const char *data;
};

static const struct id_case ids[] = {
	{ "192.0.2.9", KT_IKE_ID_IPV4_ADDR, "c0000209", NULL },
	{ "2001:db8::1", KT_IKE_ID_IPV6_ADDR, "20010db8000000000000000000000001", NULL },
	{ "@gw.example", KT_IKE_ID_FQDN, NULL, "gw.example" },
	{ "gw.example", KT_IKE_ID_FQDN, NULL, "gw.example" },
	{ "alice@example.org", KT_IKE_ID_RFC822_ADDR, NULL, "alice@example.org" },
	{ "keyid:#0a0B0c", KT_IKE_ID_KEY_ID, "0a0b0c", NULL },
	{ "@#01ff", KT_IKE_ID_KEY_ID, "01ff", NULL },
	{ "keyid:abc", KT_IKE_ID_KEY_ID, NULL, "abc" },
	{ "fqdn:192.0.2.1", KT_IKE_ID_FQDN, NULL, "192.0.2.1" },
	{ "email:ops", KT_IKE_ID_RFC822_ADDR, NULL, "ops" },
	{ "rfc822:a@b", KT_IKE_ID_RFC822_ADDR, NULL, "a@b" },
	{ "ipv4:10.0.0.1", KT_IKE_ID_IPV4_ADDR, "0a000001", NULL },
	{ "ipv6:::1", KT_IKE_ID_IPV6_ADDR, "00000000000000000000000000000001", NULL },
};

static void test_ids(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "[peer p]\nremote = 192.0.2.2\nauth = psk\n"
					     "psk = \"01234567890123456789\"\nlocal-id = %s\n",
			 ids[i].text);
		struct kt_conf *conf = parse_ok(text);
		const struct kt_conf_id *id = &conf->peers[0]->local_id;
		uint8_t want[64];
		size_t n = ids[i].hex_data ? unhex(want, sizeof(want), ids[i].hex_data)
					   : strlen(ids[i].data);
		if (!ids[i].hex_data)
			memcpy(want, ids[i].data, n);
		if (id->type != ids[i].type || id->len != n || memcmp(id->data, want, n))
			fail_msg("id '%s': type %u len %zu", ids[i].text, id->type, id->len);
		assert_string_equal(id->text, ids[i].text);
		kt_conf_free(conf);
	}
}

static void test_psk_forms(void **state)
{
	(void)state;
	struct kt_conf *conf = parse_ok(
		"[peer p]\n"
		"remote = gw.example.org\n"
		"psk = \"semi ; and # hash \\\" quote \\\\ end\"  # a comment\n"
		"psk = 0xDEADbeef\n"
		"psk = \"short\"\n"
		"psk = file:/etc/kotetsu/p.psk\n");
	const struct kt_conf_peer *peer = conf->peers[0];
	assert_int_equal(peer->remote_kind, KT_CONF_REMOTE_DNS);
	assert_string_equal(peer->remote_host, "gw.example.org");
	assert_int_equal(peer->remote_id.type, 0); /* a DNS name gives no default ID */
	assert_int_equal(peer->n_psk, 4);
	const char *first = "semi ; and # hash \" quote \\ end";
	assert_int_equal(peer->psk[0].len, strlen(first));
	assert_memory_equal(peer->psk[0].secret, first, strlen(first));
	assert_int_equal(peer->psk[1].len, 4);
	assert_memory_equal(peer->psk[1].secret, "\xde\xad\xbe\xef", 4);
	assert_int_equal(peer->psk[2].len, 5);
	assert_int_equal(peer->psk[3].kind, KT_CONF_PSK_FILE);
	assert_int_equal(diag.n_warnings, 2);
	assert_string_equal(diag.warnings[0], "kotetsu.conf:4: psk has only 4 bytes; use at least 16");
	assert_string_equal(diag.warnings[1],
			    "kotetsu.conf:5: psk has only 5 characters; use at least 20 "
			    "(kotetsu genpsk makes a strong one)");
	kt_conf_free(conf);
}

/* Comments, CRLF, a BOM, indentation, ':' separators and repeated list keys;
 * the final error proves the line count survived all of it. */
static void test_syntax(void **state)
{
	(void)state;
	static const char text[] =
		"\xef\xbb\xbf# kotetsu\r\n"
		"; another comment\r\n"
		"\r\n"
		"  [peer a]   ; trailing comment\r\n"
		"\tremote: 192.0.2.2\r\n"
		"    psk = \"01234567890123456789\"\r\n"
		"local-ts=10.1.0.0/24 # tight\r\n"
		"ike = aes256gcm16-prfsha384-x25519\r\n"
		"ike = aes128gcm16-prfsha256-ecp256\r\n"
		"[child a/c]\n"
		"local-ts = 10.1.0.0/24, 10.1.1.0/24\n"
		"local-ts = 10.1.2.0/24\n"
		"remote-ts = 10.2.0.0/16#not-a-comment\n";
	struct kt_conf *conf = NULL;
	assert_int_equal(kt_conf_parse(text, strlen(text), "kotetsu.conf", &conf, &diag), KT_ERR_INVAL);
	assert_null(conf);
	assert_int_equal(diag.n_errors, 2);
	assert_string_equal(diag.errors[0],
			    "kotetsu.conf:7: unknown key 'local-ts' in [peer a] (did you mean 'local-id'?)");
	assert_string_equal(diag.errors[1],
			    "kotetsu.conf:13: bad remote-ts entry '10.2.0.0/16#not-a-comment': expected "
			    "a subnet or address with optional [proto/port], or dynamic");

	/* The same without the two mistakes parses, with lists accumulated. */
	static const char good_text[] =
		"\xef\xbb\xbf# kotetsu\r\n"
		"  [peer a]   ; trailing comment\r\n"
		"\tremote: 192.0.2.2\r\n"
		"    psk = \"01234567890123456789\"\r\n"
		"ike = aes256gcm16-prfsha384-x25519\r\n"
		"ike = aes128gcm16-prfsha256-ecp256\r\n"
		"[child a/c]\n"
		"local-ts = 10.1.0.0/24, 10.1.1.0/24\n"
		"local-ts = 10.1.2.0/24\n"
		"remote-ts = 10.2.0.0/16 #comment";
	conf = parse_ok(good_text);
	assert_int_equal(conf->peers[0]->n_ike, 2);
	const struct kt_conf_child *c = conf->children[0];
	assert_int_equal(c->n_local_ts, 3);
	expect_ts(&c->local_ts[2], "10.1.2.0/24");
	expect_ts(&c->remote_ts[0], "10.2.0.0/16");
	kt_conf_free(conf);
}

/* legacy = yes may come after the proposals it allows. */
static void test_key_order(void **state)
{
	(void)state;
	struct kt_conf *conf = parse_ok("[peer p]\n"
					"ike = 3des-sha256-modp2048\n"
					"psk = \"01234567890123456789\"\n"
					"legacy = yes\n"
					"remote = 192.0.2.2\n"
					"[child p/c]\n"
					"esp = aes256-sha1\n"
					"remote-ts = 10.2.0.0/16\n"
					"local-ts = 10.1.0.0/16\n");
	assert_int_equal(conf->peers[0]->ike[0].encr[0].id, KT_ENCR_3DES_CBC);
	assert_int_equal(conf->children[0]->esp[0].integ[0], KT_INTEG_HMAC_SHA1_96);
	assert_int_equal(diag.n_warnings, 2);
	kt_conf_free(conf);
}

#define PEER "[peer p]\nremote = 192.0.2.2\npsk = \"01234567890123456789\"\n" /* lines 1-3 */
#define CHILD "[child p/c]\nlocal-ts = 10.1.0.0/24\nremote-ts = 10.2.0.0/24\n" /* 3 lines */

struct bad_case {
	const char *text;
	const char *error;
};

static const struct bad_case bad[] = {
	{ "[foo]\n", "kotetsu.conf:1: unknown section [foo] (expected [daemon], [peer NAME] or "
		     "[child PEER/NAME])" },
	{ "[peer site-b]\nremtoe = 192.0.2.2\nremote = 192.0.2.2\npsk = \"01234567890123456789\"\n",
	  "kotetsu.conf:2: unknown key 'remtoe' in [peer site-b] (did you mean 'remote'?)" },
	{ PEER "colour = blue\n", "kotetsu.conf:4: unknown key 'colour' in [peer p]" },
	{ PEER "local = 192.0.2.300\n",
	  "kotetsu.conf:4: bad local '192.0.2.300': expected an IPv4 or IPv6 address" },
	{ "[peer p]\nremote = 1.2.3\npsk = \"01234567890123456789\"\n",
	  "kotetsu.conf:2: bad remote '1.2.3': expected an address, a DNS name or any" },
	{ "[peer p]\nremote = bad_name.example\npsk = \"01234567890123456789\"\n",
	  "kotetsu.conf:2: bad remote 'bad_name.example': expected an address, a DNS name or any" },
	{ PEER "ike = aes256gcm16-prfsha256\n",
	  "kotetsu.conf:4: bad ike proposal 'aes256gcm16-prfsha256': an IKE proposal needs a key "
	  "exchange group (e.g. x25519)" },
	{ PEER "ike = aes256gcm16-prfsha384-x25519, 3des-sha256-modp2048\n",
	  "kotetsu.conf:4: bad ike proposal '3des-sha256-modp2048': 3des is insecure; set legacy = "
	  "yes on the peer to allow it" },
	{ PEER "ike = aes256gcm16-prfsha384-x25519,\n",
	  "kotetsu.conf:4: bad ike proposals: empty proposal in the list" },
	{ PEER CHILD "esp = aes256-sha1\n",
	  "kotetsu.conf:7: bad esp proposal 'aes256-sha1': sha1 is insecure; set legacy = yes on the "
	  "peer to allow it" },
	{ PEER CHILD "esp = aes256gcm16-sha256\n",
	  "kotetsu.conf:7: bad esp proposal 'aes256gcm16-sha256': aes256gcm16 is an AEAD cipher and "
	  "takes no integrity algorithm: remove sha256" },
	{ PEER "[child q/c]\nlocal-ts = 10.1.0.0/24\n",
	  "kotetsu.conf:4: child 'q/c' belongs to unknown peer 'q' (its [peer q] must come first)" },
	{ CHILD PEER, "kotetsu.conf:1: child 'p/c' belongs to unknown peer 'p' (its [peer p] must "
		      "come first)" },
	{ PEER PEER, "kotetsu.conf:4: duplicate peer 'p' (first on line 1)" },
	{ PEER CHILD CHILD, "kotetsu.conf:7: duplicate child 'p/c' (first on line 4)" },
	{ "[peer p]\nremote = 192.0.2.2\n",
	  "kotetsu.conf:1: [peer p] authenticates with a psk but has none (kotetsu genpsk makes one)" },
	{ "[peer p]\nremote = 192.0.2.2\nauth = psk\n",
	  "kotetsu.conf:3: [peer p] authenticates with a psk but has none (kotetsu genpsk makes one)" },
	{ "[peer p]\npsk = \"01234567890123456789\"\n",
	  "kotetsu.conf:1: [peer p] needs remote = an address, a DNS name or any" },
	{ PEER "auth = pubkey\n", "kotetsu.conf:4: auth = pubkey needs certificates or raw public "
				  "keys, which kotetsu does not support yet" },
	{ PEER CHILD "local-ts = 10.1.0.0/33\n",
	  "kotetsu.conf:7: bad local-ts entry '10.1.0.0/33': expected a subnet or address with "
	  "optional [proto/port], or dynamic" },
	{ PEER CHILD "local-ts = 10.1.0.0/24,,10.3.0.0/24\n", "kotetsu.conf:7: empty entry in local-ts" },
	{ PEER CHILD "local-ts = 1.0.0.1, 1.0.0.2, 1.0.0.3, 1.0.0.4, 1.0.0.5, 1.0.0.6, 1.0.0.7\n"
		     "local-ts = 1.0.0.8\n",
	  "kotetsu.conf:8: more than 8 local-ts entries" },
	{ PEER CHILD "remote-ts = dynamic[tcp/99999]\n",
	  "kotetsu.conf:7: bad remote-ts entry 'dynamic[tcp/99999]': expected a subnet or address "
	  "with optional [proto/port], or dynamic" },
	{ PEER "[child p/c]\nlocal-ts = 10.1.0.0/24\n",
	  "kotetsu.conf:4: [child p/c]: tunnel mode needs local-ts and remote-ts (write dynamic for "
	  "the IKE SA's own address)" },
	{ PEER CHILD "protocol = esp\nah = sha256\n",
	  "kotetsu.conf:8: ah proposals given but protocol = esp" },
	{ PEER CHILD "protocol = ah\nesp = aes256gcm16\n",
	  "kotetsu.conf:8: esp proposals given but protocol = ah" },
	{ PEER CHILD "esp = aes256gcm16\nah = sha256\n",
	  "kotetsu.conf:8: esp and ah proposals both given: set protocol = ah+esp" },
	{ PEER CHILD "protocol = gre\n", "kotetsu.conf:7: bad protocol 'gre': expected esp | ah | ah+esp" },
	{ PEER CHILD "mode = beet\n", "kotetsu.conf:7: bad mode 'beet': expected tunnel | transport" },
	{ PEER CHILD "replay-window = 70000\n",
	  "kotetsu.conf:7: bad replay-window '70000': expected a number from 0 to 65536" },
	{ PEER CHILD "rekey-time = 1h\nlife-time = 30m\n",
	  "kotetsu.conf:8: life-time (1800s) must be longer than rekey-time (3600s)" },
	{ PEER "rekey-time = 5x\n", "kotetsu.conf:4: bad rekey-time '5x': expected seconds, or a "
				    "number with s, m, h or d (at most 366d)" },
	{ PEER "keepalive = often\n", "kotetsu.conf:4: bad keepalive 'often': expected seconds, or a "
				       "number with s, m, h or d (at most 366d)" },
	{ PEER "keepalive = 20s\nkeepalive = 30s\n",
	  "kotetsu.conf:5: 'keepalive' is given twice in [peer p] (first on line 4)" },
	{ PEER "life-time = 367d\n", "kotetsu.conf:4: bad life-time '367d': expected seconds, or a "
				     "number with s, m, h or d (at most 366d)" },
	{ PEER "remote = 192.0.2.3\n", "kotetsu.conf:4: 'remote' is given twice in [peer p] (first "
				       "on line 2)" },
	{ PEER "remote =\n", "kotetsu.conf:4: 'remote' is given twice in [peer p] (first on line 2)" },
	{ "[peer p]\nremote =\npsk = \"01234567890123456789\"\n", "kotetsu.conf:2: 'remote' needs a value" },
	{ "remote = 192.0.2.2\n" PEER, "kotetsu.conf:1: 'remote' is outside any section (put "
				       "[daemon], [peer NAME] or [child PEER/NAME] above it)" },
	{ PEER "just some words\n", "kotetsu.conf:4: expected 'key = value' or a [section]" },
	{ PEER "= value\n", "kotetsu.conf:4: expected 'key = value' or a [section]" },
	{ "[peer p\nremote = 192.0.2.2\n", "kotetsu.conf:1: section header without ']'" },
	{ "[peer p] x\nremote = 192.0.2.2\n", "kotetsu.conf:1: text after ']' in a section header" },
	{ "[peer]\n", "kotetsu.conf:1: [peer] needs a name" },
	{ "[peer a/b]\n", "kotetsu.conf:1: bad peer name 'a/b': use 1 to 63 letters, digits, '.', "
			  "'_' or '-'" },
	{ "[child p]\n", "kotetsu.conf:1: child section needs PEER/NAME, as in [child site-b/lan]" },
	{ PEER "[child p/c d]\n", "kotetsu.conf:4: bad child section [child p/c d]: names use 1 to 63 "
				  "letters, digits, '.', '_' or '-'" },
	{ "[daemon x]\n", "kotetsu.conf:1: [daemon] takes no name" },
	{ "[daemon]\n[daemon]\n", "kotetsu.conf:2: second [daemon] section (the first is on line 1)" },
	{ "[peer p]\nremote = any\npsk = \"01234567890123456789\"\nremote-id = x\nstart = now\n",
	  "kotetsu.conf:5: start = now needs a remote address or name; with remote = any use "
	  "start = listen" },
	{ PEER "start = later\n", "kotetsu.conf:4: bad start 'later': expected now | on-traffic | listen" },
	{ PEER "nat-t = maybe\n", "kotetsu.conf:4: bad nat-t 'maybe': expected auto | force | off" },
	{ PEER "legacy = perhaps\n", "kotetsu.conf:4: bad legacy 'perhaps': expected yes | no | true | false" },
	{ PEER "local = 2001:db8::1\n", "kotetsu.conf:4: local and remote are of different address "
					"families (IPv6, IPv4)" },
	{ PEER "local-id = CN=gw\n", "kotetsu.conf:4: local-id 'CN=gw': distinguished names come with "
				     "certificates, which kotetsu does not support yet" },
	{ PEER "local-id = @\n", "kotetsu.conf:4: bad local-id '@': expected an address, @fqdn, "
				 "user@domain or keyid:#hex" },
	{ PEER "local-id = keyid:#abc\n", "kotetsu.conf:4: bad local-id 'keyid:#abc': expected an "
					  "address, @fqdn, user@domain or keyid:#hex" },
	{ PEER "local-id = ipv4:2001:db8::1\n", "kotetsu.conf:4: bad local-id 'ipv4:2001:db8::1': "
						"expected an address, @fqdn, user@domain or keyid:#hex" },
	{ PEER "local-id = %any\n", "kotetsu.conf:4: local-id cannot be %any" },
	{ PEER "psk = secret\n", "kotetsu.conf:4: psk must be a \"quoted string\", 0x followed by hex "
				 "digits, or file:/path" },
	{ PEER "psk = \"unterminated\n", "kotetsu.conf:4: psk has no closing quote" },
	{ PEER "psk = \"a\"b\n", "kotetsu.conf:4: psk has text after its closing quote" },
	{ PEER "psk = \"a\\nb\"\n", "kotetsu.conf:4: psk has an unknown escape (only \\\" and \\\\ are known)" },
	{ PEER "psk = 0x123\n", "kotetsu.conf:4: psk is not valid hex (0x followed by pairs of hex digits)" },
	{ PEER "psk = 0xzz\n", "kotetsu.conf:4: psk is not valid hex (0x followed by pairs of hex digits)" },
	{ PEER "psk = \"\"\n", "kotetsu.conf:4: psk is empty" },
	{ PEER "psk = file:etc/p.psk\n", "kotetsu.conf:4: psk file: needs an absolute path of at most 255 bytes" },
	{ PEER "psk = 0x01\npsk = 0x02\npsk = 0x03\npsk = 0x04\n", "kotetsu.conf:7: more than 4 psk values" },
	{ "[daemon]\nsocket = run/k.sock\n", "kotetsu.conf:2: socket must be an absolute path" },
	{ "[daemon]\nsocket = /run/kotetsu/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
	  "kotetsu.conf:2: socket is longer than 107 bytes" },
	{ "[daemon]\ntun = kt/0\n", "kotetsu.conf:2: bad tun 'kt/0': an interface name of 1 to 15 "
				   "characters without '/', ':' or spaces" },
	{ "[daemon]\ntun = a-very-long-interface\n", "kotetsu.conf:2: bad tun 'a-very-long-interface': "
						     "an interface name of 1 to 15 characters without "
						     "'/', ':' or spaces" },
	{ "[daemon]\nlog-level = loud\n", "kotetsu.conf:2: bad log-level 'loud': expected error | warn | "
					  "info | debug" },
	{ "[daemon]\nlog-level = info\x01\n", "kotetsu.conf:2: control character 0x01 in the line" },
	{ "[daemon]\nworkers = 4\n", "kotetsu.conf:2: bad workers '4': expected auto | 0 | 2" },
	{ "[daemon]\nworkers = 1\n", "kotetsu.conf:2: bad workers '1': expected auto | 0 | 2" },
	{ "[daemon]\noffload = on\n", "kotetsu.conf:2: bad offload 'on': expected auto | off" },
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kt_conf *conf = (struct kt_conf *)1;
		int rc = kt_conf_parse(bad[i].text, strlen(bad[i].text), "kotetsu.conf", &conf, &diag);
		if (rc != KT_ERR_INVAL || diag.n_errors != 1 || strcmp(diag.errors[0], bad[i].error))
			fail_msg("case %zu: rc %d, %zu errors, first '%s'\n  want '%s'", i, rc,
				 diag.n_errors, diag.n_errors ? diag.errors[0] : "", bad[i].error);
		assert_null(conf);
	}
}

static void test_long_line(void **state)
{
	(void)state;
	char text[600];
	int n = snprintf(text, sizeof(text), PEER "[child p/c]\nremote-ts = 10.2.0.0/24\n");
	int line_start = n;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "local-ts = ");
	while (n - line_start < KT_CONF_MAX_LINE + 20)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "10.1.0.0/24, ");
	snprintf(text + n, sizeof(text) - (size_t)n, "10.1.0.0/24\n");
	struct kt_conf *conf;
	assert_int_equal(kt_conf_parse(text, strlen(text), "k.conf", &conf, &diag), KT_ERR_INVAL);
	assert_int_equal(diag.n_errors, 2);
	assert_non_null(strstr(diag.errors[0], "k.conf:6: line too long ("));
	assert_non_null(strstr(diag.errors[0], "at most 198): split the list over several lines "
					       "with the same key"));
	/* The lost local-ts then counts as missing. */
	assert_string_equal(diag.errors[1], "k.conf:4: [child p/c]: tunnel mode needs local-ts and "
					    "remote-ts (write dynamic for the IKE SA's own address)");

	/* Exactly at the limit is fine; a comment does not count. */
	char line[KT_CONF_MAX_LINE + 1];
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "remote-id = ", 12);
	snprintf(text, sizeof(text), PEER "%s    # a comment that takes the line far beyond the "
		 "limit, well past it, really, far far far away\n", line);
	conf = parse_ok(text);
	assert_int_equal(conf->peers[0]->remote_id.len, KT_CONF_MAX_LINE - 12);
	kt_conf_free(conf);
}

/* Every error of a file is reported, in file order, with its line. */
static void test_many_errors(void **state)
{
	(void)state;
	static const char text[] =
		"[daemon]\n"                               /* 1 */
		"log-level = chatty\n"                     /* 2 */
		"[peer site-b]\n"                          /* 3 */
		"remtoe = 192.0.2.2\n"                     /* 4 */
		"ike = 3des-sha1-modp1024\n"               /* 5 */
		"[peer site-b]\n"                          /* 6 */
		"remote = 192.0.2.3\n"                     /* 7: skipped with its section */
		"[child site-c/lan]\n"                     /* 8 */
		"[child site-b/lan]\n"                     /* 9 */
		"local-ts = 10.1.0.0/40\n"                 /* 10: given, if badly: no
							      "needs local-ts" at 9 */
		"remote-ts = 10.2.0.0/24\n"                /* 11 */
		"[wat]\n";                                 /* 12 */
	struct kt_conf *conf;
	assert_int_equal(kt_conf_parse(text, sizeof(text) - 1, "kotetsu.conf", &conf, &diag),
			 KT_ERR_INVAL);
	static const char *const want[] = {
		"kotetsu.conf:2: bad log-level 'chatty': expected error | warn | info | debug",
		"kotetsu.conf:4: unknown key 'remtoe' in [peer site-b] (did you mean 'remote'?)",
		"kotetsu.conf:3: [peer site-b] needs remote = an address, a DNS name or any",
		"kotetsu.conf:3: [peer site-b] authenticates with a psk but has none (kotetsu genpsk "
		"makes one)",
		"kotetsu.conf:5: bad ike proposal '3des-sha1-modp1024': 3des is insecure; set legacy = "
		"yes on the peer to allow it",
		"kotetsu.conf:6: duplicate peer 'site-b' (first on line 3)",
		"kotetsu.conf:8: child 'site-c/lan' belongs to unknown peer 'site-c' (its [peer site-c] "
		"must come first)",
		"kotetsu.conf:10: bad local-ts entry '10.1.0.0/40': expected a subnet or address with "
		"optional [proto/port], or dynamic",
		"kotetsu.conf:12: unknown section [wat] (expected [daemon], [peer NAME] or "
		"[child PEER/NAME])",
	};
	assert_int_equal(diag.n_errors, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < diag.n_errors; i++)
		assert_string_equal(diag.errors[i], want[i]);
}

static void test_diag_bounds(void **state)
{
	(void)state;
	char text[4096] = "[peer p]\nremote = 192.0.2.2\npsk = \"01234567890123456789\"\n";
	for (int i = 0; i < KT_CONF_DIAG_MAX + 8; i++)
		strcat(text, "nope = 1\n");
	struct kt_conf *conf;
	assert_int_equal(kt_conf_parse(text, strlen(text), "f", &conf, &diag), KT_ERR_INVAL);
	assert_int_equal(diag.n_errors, KT_CONF_DIAG_MAX + 8);
	assert_string_equal(diag.errors[KT_CONF_DIAG_MAX - 1], "f:35: unknown key 'nope' in [peer p]");
	/* No diag at all, a NULL file name, text without a NUL terminator. */
	assert_int_equal(kt_conf_parse(text, strlen(text), NULL, &conf, NULL), KT_ERR_INVAL);
	static const char unterminated[] = { '[', 'd', 'a', 'e', 'm', 'o', 'n', ']', '\n', 't', 'u',
					     'n', '=', 'k', 't', '9', 'X' };
	assert_int_equal(kt_conf_parse(unterminated, sizeof(unterminated) - 1, NULL, &conf, &diag), 0);
	assert_string_equal(conf->daemon.tun, "kt9");
	kt_conf_free(conf);
	/* An embedded NUL is a control character, not the end of the text. */
	static const char nul[] = "[daemon]\ntun = kt1\0\n[wat]\n";
	assert_int_equal(kt_conf_parse(nul, sizeof(nul) - 1, "f", &conf, &diag), KT_ERR_INVAL);
	assert_int_equal(diag.n_errors, 2);
	assert_string_equal(diag.errors[0], "f:2: control character 0x00 in the line");
	assert_string_equal(diag.errors[1],
			    "f:3: unknown section [wat] (expected [daemon], [peer NAME] or [child PEER/NAME])");
	kt_conf_free(NULL);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(kt_conf_auth_name(KT_CONF_AUTH_PSK), "psk");
	assert_string_equal(kt_conf_start_name(KT_CONF_START_ON_TRAFFIC), "on-traffic");
	assert_string_equal(kt_conf_nat_t_name(KT_CONF_NAT_OFF), "off");
	assert_string_equal(kt_conf_protocol_name(KT_CONF_PROTO_AH_ESP), "ah+esp");
	assert_string_equal(kt_conf_log_level_name(KT_CONF_LOG_WARN), "warn");
	assert_string_equal(kt_conf_auth_name(0), "?");
	assert_string_equal(kt_conf_protocol_name(9), "?");
	assert_string_equal(kt_conf_log_level_name(4), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_workers),
		cmocka_unit_test(test_offload),
		cmocka_unit_test(test_responder_and_options),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_psk_forms),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_key_order),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_diag_bounds),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
