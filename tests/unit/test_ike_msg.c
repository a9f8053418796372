/* IKEv2 codec tests: an IKE_SA_INIT request shaped as strongSwan sends it,
 * laid out byte by byte from RFC 7296 §3 and compared with the encoder's
 * output; every payload encoded and decoded back to equal values; SK
 * framing; tables of malformed messages and payload bodies, each with its
 * specific error; and a writer capacity sweep that must never overflow. */
#include "core/err.h"
#include "core/ike/msg.h"
#include "tests/unit/testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BIG 8192

/* ---- Fixtures ---------------------------------------------------------- */

static const uint64_t SPI_I = 0x5f3a1c9e4277b0d1ULL;
static const uint64_t SPI_R = 0xc0ffee0011223344ULL;

static uint8_t ke_data[32], nonce_data[32], natd_s[20], natd_d[20];
static const uint8_t sig_hash[] = { 0, 2, 0, 3, 0, 4, 0, 5 };

static void seq(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static int setup(void **state)
{
	(void)state;
	seq(ke_data, sizeof(ke_data), 0x10);
	seq(nonce_data, sizeof(nonce_data), 0x40);
	seq(natd_s, sizeof(natd_s), 0x60);
	seq(natd_d, sizeof(natd_d), 0x80);
	return 0;
}

/* IKE_SA_INIT request as strongSwan 5.9 sends it for
 * ike = aes256-sha256-x25519: HDR, SA, KE, Ni, N(NATD_S_IP),
 * N(NATD_D_IP), N(FRAG_SUP), N(SIGNATURE_HASH_ALGORITHMS). */
static const char sa_init_hex[] =
	/* header (§3.1) */
	"5f3a1c9e4277b0d1 0000000000000000"   /* SPIi, SPIr */
	"21 20 22 08"                         /* next SA, version 2.0, IKE_SA_INIT, flags I */
	"00000000 000000e8"                   /* message ID 0, length 232 */
	/* SA (§3.3) */
	"22 00 0030"                          /* next KE, length 48 */
	"00 00 002c 01 01 00 04"              /* last proposal, 44 bytes, #1, IKE, no SPI, 4 transforms */
	"03 00 000c 01 00 000c 800e 0100"     /* ENCR AES_CBC, Key Length (TV) 256 */
	"03 00 0008 03 00 000c"               /* INTEG HMAC_SHA2_256_128 */
	"03 00 0008 02 00 0005"               /* PRF HMAC_SHA2_256 */
	"00 00 0008 04 00 001f"               /* last: DH Curve25519 */
	/* KE (§3.4) */
	"28 00 0028 001f 0000"                /* next Nonce, length 40, group 31 */
	"101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
	/* Nonce (§3.9) */
	"29 00 0024"                          /* next Notify, length 36 */
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
	/* Notify (§3.10) */
	"29 00 001c 00 00 4004"               /* NAT_DETECTION_SOURCE_IP */
	"606162636465666768696a6b6c6d6e6f70717273"
	"29 00 001c 00 00 4005"               /* NAT_DETECTION_DESTINATION_IP */
	"808182838485868788898a8b8c8d8e8f90919293"
	"29 00 0008 00 00 402e"               /* IKEV2_FRAGMENTATION_SUPPORTED */
	"00 00 0010 00 00 402f 0002 0003 0004 0005"; /* SIGNATURE_HASH_ALGORITHMS */

static const struct kt_ike_proposal ike_prop = {
	.num = 1, .proto = KT_IKE_PROTO_IKE, .n_xf = 4,
	.xf = {
		{ KT_IKE_XF_ENCR, KT_ENCR_AES_CBC, 256, false },
		{ KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_256_128, 0, false },
		{ KT_IKE_XF_PRF, KT_PRF_HMAC_SHA2_256, 0, false },
		{ KT_IKE_XF_DH, KT_DH_CURVE_25519, 0, false },
	},
};

static int build_sa_init(uint8_t *buf, size_t cap)
{
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, cap);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .spi_i = SPI_I, .exchange = KT_IKE_EXCH_IKE_SA_INIT,
						   .flags = KT_IKE_FLAG_I });
	kt_ike_write_sa(&w, &ike_prop, 1);
	kt_ike_write_ke(&w, KT_DH_CURVE_25519, ke_data, sizeof(ke_data));
	kt_ike_write_nonce(&w, nonce_data, sizeof(nonce_data));
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_NAT_DETECTION_SOURCE_IP,
							 .data = { natd_s, sizeof(natd_s) } });
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_NAT_DETECTION_DESTINATION_IP,
							 .data = { natd_d, sizeof(natd_d) } });
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_IKEV2_FRAGMENTATION_SUPPORTED });
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_SIGNATURE_HASH_ALGORITHMS,
							 .data = { sig_hash, sizeof(sig_hash) } });
	return kt_ike_writer_finish(&w);
}

/* Values for the every-payload message. */
static const uint8_t fqdn[] = "site-a.example";
static const uint8_t v4[] = { 192, 0, 2, 1 };
static const uint8_t auth_data[] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t cert_data[] = { 0x30, 0x82, 0x01, 0x0a, 0x02, 0x01 };
static const uint8_t ca_hash[20] = { 0xaa, 0xbb };
static const uint8_t vid_data[] = { 0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc };
static const uint8_t rekey_spi_data[] = { 0x01 };
static const uint32_t del_spis[] = { 0xc1a2b3d4, 0x00000101 };
static const uint8_t cp_addr[] = { 10, 8, 0, 5 };
static const uint8_t eap_msg[] = { KT_IKE_EAP_REQUEST, 7, 0, 10, 1, 'h', 'e', 'l', 'l', 'o' };

static struct kt_ts ts_of(const char *text, uint8_t proto, uint16_t ps, uint16_t pe)
{
	struct kt_ts ts;
	assert_int_equal(kt_ts_parse(&ts, text), 0);
	ts.proto = proto;
	ts.port_start = ps;
	ts.port_end = pe;
	return ts;
}

static struct kt_ike_proposal esp_props[2];
static struct kt_ts tsi[2], tsr[1];
static struct kt_ike_cp cp_in;

static void all_fixtures(void)
{
	esp_props[0] = (struct kt_ike_proposal){
		.num = 1, .proto = KT_IKE_PROTO_ESP, .spi_size = 4, .spi = 0xcafe0001, .n_xf = 2,
		.xf = { { KT_IKE_XF_ENCR, KT_ENCR_AES_GCM_16, 128, false },
			{ KT_IKE_XF_ESN, KT_IKE_ESN_NO, 0, false } },
	};
	esp_props[1] = (struct kt_ike_proposal){
		.num = 2, .proto = KT_IKE_PROTO_ESP, .spi_size = 4, .spi = 0xcafe0001, .n_xf = 3,
		.xf = { { KT_IKE_XF_ENCR, KT_ENCR_AES_CBC, 256, false },
			{ KT_IKE_XF_INTEG, KT_INTEG_HMAC_SHA2_512_256, 0, false },
			{ KT_IKE_XF_ESN, KT_IKE_ESN_YES, 0, false } },
	};
	tsi[0] = ts_of("10.1.0.0/24", 0, 0, 0xffff);
	tsi[1] = ts_of("2001:db8::/32", KT_IPPROTO_TCP, 80, 443);
	tsr[0] = ts_of("10.2.0.7", KT_IPPROTO_UDP, KT_IKE_TS_OPAQUE_START, KT_IKE_TS_OPAQUE_END);
	cp_in = (struct kt_ike_cp){ .type = KT_IKE_CFG_REPLY, .n = 3, .attr = {
		{ KT_IKE_CFG_INTERNAL_IP4_ADDRESS, { cp_addr, sizeof(cp_addr) } },
		{ KT_IKE_CFG_INTERNAL_IP4_DNS, { NULL, 0 } },
		{ KT_IKE_CFG_APPLICATION_VERSION, { fqdn, 6 } },
	} };
}

static int build_all(uint8_t *buf, size_t cap)
{
	all_fixtures();
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, cap);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .spi_i = SPI_I, .spi_r = SPI_R, .msg_id = 1,
						   .exchange = KT_IKE_EXCH_CREATE_CHILD_SA,
						   .flags = KT_IKE_FLAG_R });
	kt_ike_write_sa(&w, esp_props, 2);
	kt_ike_write_ke(&w, KT_DH_ECP_256, ke_data, sizeof(ke_data));
	kt_ike_write_nonce(&w, nonce_data, KT_NONCE_MIN_LEN);
	kt_ike_write_id(&w, KT_IKE_PL_IDI, &(struct kt_ike_id){ KT_IKE_ID_FQDN, { fqdn, sizeof(fqdn) - 1 }, { 0 } });
	kt_ike_write_id(&w, KT_IKE_PL_IDR, &(struct kt_ike_id){ KT_IKE_ID_IPV4_ADDR, { v4, 4 }, { 0 } });
	kt_ike_write_auth(&w, KT_IKE_AUTH_PSK, auth_data, sizeof(auth_data));
	kt_ike_write_cert(&w, KT_IKE_PL_CERT, KT_IKE_CERT_X509_SIG, cert_data, sizeof(cert_data));
	kt_ike_write_cert(&w, KT_IKE_PL_CERTREQ, KT_IKE_CERT_X509_SIG, ca_hash, sizeof(ca_hash));
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .proto = KT_IKE_PROTO_ESP, .spi_size = 4,
							 .type = KT_IKE_N_REKEY_SA, .spi = 0xabcdef01,
							 .data = { rekey_spi_data, 1 } });
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_USE_TRANSPORT_MODE });
	kt_ike_write_delete(&w, KT_IKE_PROTO_ESP, del_spis, 2);
	kt_ike_write_delete(&w, KT_IKE_PROTO_IKE, NULL, 0);
	kt_ike_write_vid(&w, vid_data, sizeof(vid_data));
	kt_ike_write_ts(&w, KT_IKE_PL_TSI, tsi, 2);
	kt_ike_write_ts(&w, KT_IKE_PL_TSR, tsr, 1);
	kt_ike_write_cp(&w, &cp_in);
	kt_ike_write_eap(&w, eap_msg, sizeof(eap_msg));
	return kt_ike_writer_finish(&w);
}

static const uint8_t all_types[] = {
	KT_IKE_PL_SA, KT_IKE_PL_KE, KT_IKE_PL_NONCE, KT_IKE_PL_IDI, KT_IKE_PL_IDR, KT_IKE_PL_AUTH,
	KT_IKE_PL_CERT, KT_IKE_PL_CERTREQ, KT_IKE_PL_NOTIFY, KT_IKE_PL_NOTIFY, KT_IKE_PL_DELETE,
	KT_IKE_PL_DELETE, KT_IKE_PL_VID, KT_IKE_PL_TSI, KT_IKE_PL_TSR, KT_IKE_PL_CP, KT_IKE_PL_EAP,
};

/* IKE_AUTH request: HDR, SK { IDi, AUTH, SA, TSi, TSr }. */
static int build_auth_sk(uint8_t *buf, size_t cap, size_t iv, size_t block, size_t icv,
			 struct kt_ike_sk *sk)
{
	all_fixtures();
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, cap);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .spi_i = SPI_I, .spi_r = SPI_R, .msg_id = 1,
						   .exchange = KT_IKE_EXCH_IKE_AUTH, .flags = KT_IKE_FLAG_I });
	kt_ike_write_sk_begin(&w, iv);
	kt_ike_write_id(&w, KT_IKE_PL_IDI, &(struct kt_ike_id){ KT_IKE_ID_FQDN, { fqdn, sizeof(fqdn) - 1 }, { 0 } });
	kt_ike_write_auth(&w, KT_IKE_AUTH_PSK, auth_data, sizeof(auth_data));
	kt_ike_write_sa(&w, esp_props, 1);
	kt_ike_write_ts(&w, KT_IKE_PL_TSI, tsi, 1);
	kt_ike_write_ts(&w, KT_IKE_PL_TSR, tsr, 1);
	kt_ike_write_sk_end(&w, block, icv, sk);
	return kt_ike_writer_finish(&w);
}

static int build_auth_cbc(uint8_t *buf, size_t cap)
{
	struct kt_ike_sk sk;
	return build_auth_sk(buf, cap, 16, 16, 16, &sk);
}

/* ---- Helpers ----------------------------------------------------------- */

static void decode_ok(const uint8_t *buf, size_t len, struct kt_ike_msg *m)
{
	int rc = kt_ike_decode(buf, len, m);
	if (rc != 0)
		fail_msg("decode: %s (type %u)", kt_strerror(rc), m->err_type);
}

/* Parse one payload with the parser its type calls for (as the engine and
 * the fuzzer do); returns that parser's result. */
static int parse_any(const struct kt_ike_payload *pl)
{
	union {
		struct kt_ike_proposals sa;
		struct kt_ike_ke ke;
		struct kt_chunk c;
		struct kt_ike_id id;
		struct kt_ike_auth auth;
		struct kt_ike_cert cert;
		struct kt_ike_notify n;
		struct kt_ike_delete d;
		struct kt_ike_ts_list ts;
		struct kt_ike_cp cp;
		struct kt_ike_eap eap;
	} u;
	switch (pl->type) {
	case KT_IKE_PL_SA: return kt_ike_parse_sa(pl, &u.sa);
	case KT_IKE_PL_KE: return kt_ike_parse_ke(pl, &u.ke);
	case KT_IKE_PL_NONCE: return kt_ike_parse_nonce(pl, &u.c);
	case KT_IKE_PL_IDI: case KT_IKE_PL_IDR: return kt_ike_parse_id(pl, &u.id);
	case KT_IKE_PL_AUTH: return kt_ike_parse_auth(pl, &u.auth);
	case KT_IKE_PL_CERT: case KT_IKE_PL_CERTREQ: return kt_ike_parse_cert(pl, &u.cert);
	case KT_IKE_PL_NOTIFY: return kt_ike_parse_notify(pl, &u.n);
	case KT_IKE_PL_DELETE: return kt_ike_parse_delete(pl, &u.d);
	case KT_IKE_PL_VID: return kt_ike_parse_vid(pl, &u.c);
	case KT_IKE_PL_TSI: case KT_IKE_PL_TSR: return kt_ike_parse_ts(pl, &u.ts);
	case KT_IKE_PL_CP: return kt_ike_parse_cp(pl, &u.cp);
	case KT_IKE_PL_EAP: return kt_ike_parse_eap(pl, &u.eap);
	}
	return KT_ERR_INVAL;
}

/* Re-encode every outer payload of a decoded message from its parsed
 * values: for canonical input the bytes must come out the same. */
static void write_parsed(struct kt_ike_writer *w, const struct kt_ike_payload *pl)
{
	struct kt_ike_proposals sa;
	struct kt_ike_ke ke;
	struct kt_chunk c;
	struct kt_ike_id id;
	struct kt_ike_auth auth;
	struct kt_ike_cert cert;
	struct kt_ike_notify n;
	struct kt_ike_delete d;
	struct kt_ike_ts_list ts;
	struct kt_ike_cp cp;
	uint32_t spis[16];
	assert_int_equal(parse_any(pl), 0);
	switch (pl->type) {
	case KT_IKE_PL_SA: kt_ike_parse_sa(pl, &sa); kt_ike_write_sa(w, sa.prop, sa.n); break;
	case KT_IKE_PL_KE: kt_ike_parse_ke(pl, &ke); kt_ike_write_ke(w, ke.group, ke.data.p, ke.data.len); break;
	case KT_IKE_PL_NONCE: kt_ike_parse_nonce(pl, &c); kt_ike_write_nonce(w, c.p, c.len); break;
	case KT_IKE_PL_IDI: case KT_IKE_PL_IDR: kt_ike_parse_id(pl, &id); kt_ike_write_id(w, pl->type, &id); break;
	case KT_IKE_PL_AUTH: kt_ike_parse_auth(pl, &auth); kt_ike_write_auth(w, auth.method, auth.data.p, auth.data.len); break;
	case KT_IKE_PL_CERT: case KT_IKE_PL_CERTREQ:
		kt_ike_parse_cert(pl, &cert);
		kt_ike_write_cert(w, pl->type, cert.encoding, cert.data.p, cert.data.len);
		break;
	case KT_IKE_PL_NOTIFY: kt_ike_parse_notify(pl, &n); kt_ike_write_notify(w, &n); break;
	case KT_IKE_PL_DELETE:
		kt_ike_parse_delete(pl, &d);
		assert_true(d.n <= ARRAY_LEN(spis));
		for (size_t i = 0; i < d.n; i++)
			spis[i] = kt_ike_delete_spi(&d, i);
		kt_ike_write_delete(w, d.proto, spis, d.n);
		break;
	case KT_IKE_PL_VID: kt_ike_parse_vid(pl, &c); kt_ike_write_vid(w, c.p, c.len); break;
	case KT_IKE_PL_TSI: case KT_IKE_PL_TSR: kt_ike_parse_ts(pl, &ts); kt_ike_write_ts(w, pl->type, ts.ts, ts.n); break;
	case KT_IKE_PL_CP: kt_ike_parse_cp(pl, &cp); kt_ike_write_cp(w, &cp); break;
	case KT_IKE_PL_EAP: kt_ike_write_eap(w, pl->body, pl->len); break;
	default: fail_msg("no writer for type %u", pl->type);
	}
}

static void assert_reencodes(const uint8_t *buf, size_t len)
{
	struct kt_ike_msg m;
	decode_ok(buf, len, &m);
	uint8_t out[BIG];
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, out, sizeof(out));
	assert_int_equal(kt_ike_write_hdr(&w, &m.hdr), 0);
	for (size_t i = 0; i < m.n_pl; i++)
		write_parsed(&w, &m.pl[i]);
	assert_int_equal(kt_ike_writer_finish(&w), (int)len);
	assert_memory_equal(out, buf, len);
}

/* ---- IKE_SA_INIT --------------------------------------------------------- */

static void test_sa_init_decode(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = unhex(buf, sizeof(buf), sa_init_hex);
	assert_int_equal(len, 232);
	struct kt_ike_msg m;
	decode_ok(buf, len, &m);
	assert_true(m.hdr.spi_i == SPI_I);
	assert_true(m.hdr.spi_r == 0);
	assert_int_equal(m.hdr.major, 2);
	assert_int_equal(m.hdr.minor, 0);
	assert_int_equal(m.hdr.exchange, KT_IKE_EXCH_IKE_SA_INIT);
	assert_int_equal(m.hdr.flags, KT_IKE_FLAG_I);
	assert_int_equal(m.hdr.msg_id, 0);
	assert_int_equal(m.n_pl, 7);
	static const uint8_t want[] = { KT_IKE_PL_SA, KT_IKE_PL_KE, KT_IKE_PL_NONCE, KT_IKE_PL_NOTIFY,
					KT_IKE_PL_NOTIFY, KT_IKE_PL_NOTIFY, KT_IKE_PL_NOTIFY };
	for (size_t i = 0; i < m.n_pl; i++) {
		assert_int_equal(m.pl[i].type, want[i]);
		assert_false(m.pl[i].encrypted);
	}

	struct kt_ike_proposals sa;
	assert_int_equal(kt_ike_parse_sa(&m.pl[0], &sa), 0);
	assert_int_equal(sa.n, 1);
	assert_int_equal(sa.prop[0].num, 1);
	assert_int_equal(sa.prop[0].proto, KT_IKE_PROTO_IKE);
	assert_int_equal(sa.prop[0].spi_size, 0);
	assert_int_equal(sa.prop[0].n_xf, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(sa.prop[0].xf[i].type, ike_prop.xf[i].type);
		assert_int_equal(sa.prop[0].xf[i].id, ike_prop.xf[i].id);
		assert_int_equal(sa.prop[0].xf[i].key_bits, ike_prop.xf[i].key_bits);
		assert_false(sa.prop[0].xf[i].unknown_attr);
	}
	struct kt_ike_ke ke;
	assert_int_equal(kt_ike_parse_ke(&m.pl[1], &ke), 0);
	assert_int_equal(ke.group, KT_DH_CURVE_25519);
	assert_int_equal(ke.data.len, 32);
	assert_memory_equal(ke.data.p, ke_data, 32);
	struct kt_chunk nonce;
	assert_int_equal(kt_ike_parse_nonce(&m.pl[2], &nonce), 0);
	assert_memory_equal(nonce.p, nonce_data, 32);

	/* kt_ike_find walks the notifies in order. */
	static const uint16_t ntypes[] = { KT_IKE_N_NAT_DETECTION_SOURCE_IP, KT_IKE_N_NAT_DETECTION_DESTINATION_IP,
					   KT_IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, KT_IKE_N_SIGNATURE_HASH_ALGORITHMS };
	static const size_t nlen[] = { 20, 20, 0, 8 };
	const struct kt_ike_payload *pl = NULL;
	for (size_t i = 0; i < 4; i++) {
		pl = kt_ike_find(&m, KT_IKE_PL_NOTIFY, pl);
		assert_non_null(pl);
		struct kt_ike_notify n;
		assert_int_equal(kt_ike_parse_notify(pl, &n), 0);
		assert_int_equal(n.type, ntypes[i]);
		assert_int_equal(n.proto, 0);
		assert_int_equal(n.spi_size, 0);
		assert_int_equal(n.data.len, nlen[i]);
	}
	assert_null(kt_ike_find(&m, KT_IKE_PL_NOTIFY, pl));
	assert_null(kt_ike_find(&m, KT_IKE_PL_SK, NULL));
}

static void test_sa_init_encode_matches_rfc_layout(void **state)
{
	(void)state;
	uint8_t want[512], got[512];
	size_t len = unhex(want, sizeof(want), sa_init_hex);
	assert_int_equal(build_sa_init(got, sizeof(got)), (int)len);
	assert_memory_equal(got, want, len);
	assert_reencodes(want, len);
}

/* ---- Every payload ------------------------------------------------------ */

static void assert_chunk(struct kt_chunk c, const uint8_t *p, size_t len)
{
	assert_int_equal(c.len, len);
	if (len)
		assert_memory_equal(c.p, p, len);
}

static void check_all_sa(const struct kt_ike_payload *pl)
{
	struct kt_ike_proposals sa;
	assert_int_equal(kt_ike_parse_sa(pl, &sa), 0);
	assert_int_equal(sa.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct kt_ike_proposal *g = &sa.prop[i], *w = &esp_props[i];
		assert_int_equal(g->num, w->num);
		assert_int_equal(g->proto, w->proto);
		assert_int_equal(g->spi_size, 4);
		assert_true(g->spi == w->spi);
		assert_int_equal(g->n_xf, w->n_xf);
		for (size_t j = 0; j < w->n_xf; j++) {
			assert_int_equal(g->xf[j].type, w->xf[j].type);
			assert_int_equal(g->xf[j].id, w->xf[j].id);
			assert_int_equal(g->xf[j].key_bits, w->xf[j].key_bits);
		}
	}
}

static void check_all_ids(const struct kt_ike_msg *m)
{
	struct kt_ike_id id;
	assert_int_equal(kt_ike_parse_id(kt_ike_find(m, KT_IKE_PL_IDI, NULL), &id), 0);
	assert_int_equal(id.type, KT_IKE_ID_FQDN);
	assert_chunk(id.data, fqdn, sizeof(fqdn) - 1);
	assert_int_equal(id.addr.version, 0);
	assert_int_equal(kt_ike_parse_id(kt_ike_find(m, KT_IKE_PL_IDR, NULL), &id), 0);
	assert_int_equal(id.type, KT_IKE_ID_IPV4_ADDR);
	struct kt_addr a;
	kt_addr_parse(&a, "192.0.2.1");
	assert_true(kt_addr_equal(&id.addr, &a));
}

static void check_all_notify_delete(const struct kt_ike_msg *m)
{
	struct kt_ike_notify n;
	const struct kt_ike_payload *pl = kt_ike_find(m, KT_IKE_PL_NOTIFY, NULL);
	assert_int_equal(kt_ike_parse_notify(pl, &n), 0);
	assert_int_equal(n.proto, KT_IKE_PROTO_ESP);
	assert_int_equal(n.spi_size, 4);
	assert_true(n.spi == 0xabcdef01);
	assert_int_equal(n.type, KT_IKE_N_REKEY_SA);
	assert_chunk(n.data, rekey_spi_data, 1);
	assert_int_equal(kt_ike_parse_notify(kt_ike_find(m, KT_IKE_PL_NOTIFY, pl), &n), 0);
	assert_int_equal(n.type, KT_IKE_N_USE_TRANSPORT_MODE);
	assert_int_equal(n.data.len, 0);

	struct kt_ike_delete d;
	pl = kt_ike_find(m, KT_IKE_PL_DELETE, NULL);
	assert_int_equal(kt_ike_parse_delete(pl, &d), 0);
	assert_int_equal(d.proto, KT_IKE_PROTO_ESP);
	assert_int_equal(d.n, 2);
	assert_int_equal(kt_ike_delete_spi(&d, 0), del_spis[0]);
	assert_int_equal(kt_ike_delete_spi(&d, 1), del_spis[1]);
	assert_int_equal(kt_ike_parse_delete(kt_ike_find(m, KT_IKE_PL_DELETE, pl), &d), 0);
	assert_int_equal(d.proto, KT_IKE_PROTO_IKE);
	assert_int_equal(d.spi_size, 0);
	assert_int_equal(d.n, 0);
}

static void assert_ts_equal(const struct kt_ts *g, const struct kt_ts *w)
{
	assert_true(kt_addr_equal(&g->start, &w->start));
	assert_true(kt_addr_equal(&g->end, &w->end));
	assert_int_equal(g->proto, w->proto);
	assert_int_equal(g->port_start, w->port_start);
	assert_int_equal(g->port_end, w->port_end);
}

static void check_all_ts_cp_eap(const struct kt_ike_msg *m)
{
	struct kt_ike_ts_list ts;
	assert_int_equal(kt_ike_parse_ts(kt_ike_find(m, KT_IKE_PL_TSI, NULL), &ts), 0);
	assert_int_equal(ts.n, 2);
	assert_ts_equal(&ts.ts[0], &tsi[0]);
	assert_ts_equal(&ts.ts[1], &tsi[1]);
	assert_int_equal(kt_ike_parse_ts(kt_ike_find(m, KT_IKE_PL_TSR, NULL), &ts), 0);
	assert_int_equal(ts.n, 1);
	assert_ts_equal(&ts.ts[0], &tsr[0]);

	struct kt_ike_cp cp;
	assert_int_equal(kt_ike_parse_cp(kt_ike_find(m, KT_IKE_PL_CP, NULL), &cp), 0);
	assert_int_equal(cp.type, cp_in.type);
	assert_int_equal(cp.n, cp_in.n);
	for (size_t i = 0; i < cp.n; i++) {
		assert_int_equal(cp.attr[i].type, cp_in.attr[i].type);
		assert_chunk(cp.attr[i].value, cp_in.attr[i].value.p, cp_in.attr[i].value.len);
	}

	struct kt_ike_eap eap;
	assert_int_equal(kt_ike_parse_eap(kt_ike_find(m, KT_IKE_PL_EAP, NULL), &eap), 0);
	assert_int_equal(eap.code, KT_IKE_EAP_REQUEST);
	assert_int_equal(eap.id, 7);
	assert_int_equal(eap.type, 1);
	assert_chunk(eap.msg, eap_msg, sizeof(eap_msg));
}

static void test_every_payload_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[BIG];
	int len = build_all(buf, sizeof(buf));
	assert_true(len > 0);
	struct kt_ike_msg m;
	decode_ok(buf, (size_t)len, &m);
	assert_true(m.hdr.spi_r == SPI_R);
	assert_int_equal(m.hdr.msg_id, 1);
	assert_int_equal(m.hdr.flags, KT_IKE_FLAG_R);
	assert_int_equal(m.n_pl, ARRAY_LEN(all_types));
	for (size_t i = 0; i < m.n_pl; i++)
		assert_int_equal(m.pl[i].type, all_types[i]);

	check_all_sa(kt_ike_find(&m, KT_IKE_PL_SA, NULL));
	struct kt_ike_ke ke;
	assert_int_equal(kt_ike_parse_ke(kt_ike_find(&m, KT_IKE_PL_KE, NULL), &ke), 0);
	assert_int_equal(ke.group, KT_DH_ECP_256);
	struct kt_chunk c;
	assert_int_equal(kt_ike_parse_nonce(kt_ike_find(&m, KT_IKE_PL_NONCE, NULL), &c), 0);
	assert_chunk(c, nonce_data, KT_NONCE_MIN_LEN);
	check_all_ids(&m);
	struct kt_ike_auth auth;
	assert_int_equal(kt_ike_parse_auth(kt_ike_find(&m, KT_IKE_PL_AUTH, NULL), &auth), 0);
	assert_int_equal(auth.method, KT_IKE_AUTH_PSK);
	assert_chunk(auth.data, auth_data, sizeof(auth_data));
	struct kt_ike_cert cert;
	assert_int_equal(kt_ike_parse_cert(kt_ike_find(&m, KT_IKE_PL_CERT, NULL), &cert), 0);
	assert_int_equal(cert.encoding, KT_IKE_CERT_X509_SIG);
	assert_chunk(cert.data, cert_data, sizeof(cert_data));
	assert_int_equal(kt_ike_parse_cert(kt_ike_find(&m, KT_IKE_PL_CERTREQ, NULL), &cert), 0);
	assert_chunk(cert.data, ca_hash, sizeof(ca_hash));
	check_all_notify_delete(&m);
	assert_int_equal(kt_ike_parse_vid(kt_ike_find(&m, KT_IKE_PL_VID, NULL), &c), 0);
	assert_chunk(c, vid_data, sizeof(vid_data));
	check_all_ts_cp_eap(&m);

	assert_reencodes(buf, (size_t)len);
}

/* ---- SK ------------------------------------------------------------------ */

static void check_sk(size_t iv, size_t block, size_t icv)
{
	uint8_t buf[BIG];
	struct kt_ike_sk ws, rs;
	int len = build_auth_sk(buf, sizeof(buf), iv, block, icv, &ws);
	assert_true(len > 0);
	struct kt_ike_msg m;
	decode_ok(buf, (size_t)len, &m);
	assert_int_equal(m.n_pl, 1);
	assert_int_equal(m.pl[0].type, KT_IKE_PL_SK);
	assert_int_equal(m.pl[0].next, KT_IKE_PL_IDI);

	assert_int_equal(kt_ike_sk_locate(&m, iv, icv, block, &rs), 0);
	assert_false(rs.fragment);
	assert_int_equal(rs.next, ws.next);
	assert_int_equal(rs.iv_off, ws.iv_off);
	assert_int_equal(rs.iv_off, KT_IKE_HDR_LEN + KT_IKE_PAYLOAD_HDR_LEN);
	assert_int_equal(rs.iv_len, iv);
	assert_int_equal(rs.ct_off, ws.ct_off);
	assert_int_equal(rs.ct_len, ws.ct_len);
	assert_int_equal(rs.ct_len % block, 0);
	assert_int_equal(rs.icv_off, ws.icv_off);
	assert_int_equal(rs.icv_off + icv, (size_t)len);

	/* "Decrypt" (identity here), unpad, decode the inner chain. */
	int inner = kt_ike_sk_unpad(buf + rs.ct_off, rs.ct_len);
	assert_true(inner > 0);
	assert_true(rs.ct_len - (size_t)inner - 1 < block);
	assert_int_equal(kt_ike_decode_chain(rs.next, buf + rs.ct_off, (size_t)inner, &m), 0);
	static const uint8_t want[] = { KT_IKE_PL_SK, KT_IKE_PL_IDI, KT_IKE_PL_AUTH, KT_IKE_PL_SA,
					KT_IKE_PL_TSI, KT_IKE_PL_TSR };
	assert_int_equal(m.n_pl, ARRAY_LEN(want));
	for (size_t i = 0; i < m.n_pl; i++) {
		assert_int_equal(m.pl[i].type, want[i]);
		assert_int_equal(m.pl[i].encrypted, i > 0);
		assert_int_equal(parse_any(&m.pl[i]), i == 0 ? KT_ERR_INVAL : 0);
	}
	/* Locate still finds the outer SK after the inner payloads were added. */
	assert_int_equal(kt_ike_sk_locate(&m, iv, icv, block, &rs), 0);
	assert_int_equal(rs.ct_off, ws.ct_off);
}

static void test_sk_cbc_and_aead(void **state)
{
	(void)state;
	check_sk(16, 16, 16); /* AES-CBC + HMAC-SHA2-256-128 */
	check_sk(8, 1, 16);   /* AES-GCM-16: no alignment */
	check_sk(8, 4, 16);
	check_sk(0, 1, 0);
}

static void test_sk_locate_errors(void **state)
{
	(void)state;
	uint8_t buf[BIG];
	struct kt_ike_sk sk;
	int len = build_auth_sk(buf, sizeof(buf), 16, 16, 16, &sk);
	struct kt_ike_msg m;
	decode_ok(buf, (size_t)len, &m);
	size_t body = m.pl[0].len;
	assert_int_equal(kt_ike_sk_locate(&m, 16, 16, 0, &sk), KT_ERR_INVAL);
	assert_int_equal(kt_ike_sk_locate(&m, 16, body - 16, 1, &sk), KT_ERR_MALFORMED); /* no pad length byte */
	assert_int_equal(kt_ike_sk_locate(&m, 16, body - 17, 1, &sk), 0);
	assert_int_equal(kt_ike_sk_locate(&m, SIZE_MAX, 16, 1, &sk), KT_ERR_MALFORMED);
	assert_int_equal(kt_ike_sk_locate(&m, 16, SIZE_MAX, 1, &sk), KT_ERR_MALFORMED);
	assert_int_equal(kt_ike_sk_locate(&m, 16, 12, 16, &sk), KT_ERR_MALFORMED); /* misaligned */

	uint8_t init[512];
	size_t ilen = unhex(init, sizeof(init), sa_init_hex);
	decode_ok(init, ilen, &m);
	assert_int_equal(kt_ike_sk_locate(&m, 16, 16, 16, &sk), KT_ERR_NOT_FOUND);

	static const uint8_t pad_bad[] = { 1, 2, 3, 4 }; /* 4 padding bytes claimed, 3 present */
	static const uint8_t pad_ok[] = { 1, 2, 9, 9, 2 };
	assert_int_equal(kt_ike_sk_unpad(pad_bad, 0), KT_ERR_MALFORMED);
	assert_int_equal(kt_ike_sk_unpad(pad_bad, sizeof(pad_bad)), KT_ERR_MALFORMED);
	assert_int_equal(kt_ike_sk_unpad(pad_ok, sizeof(pad_ok)), 2);
	assert_int_equal(kt_ike_sk_unpad(pad_ok + 2, 3), 0); /* all padding */
}

/* SKF (RFC 7383): fragment numbers and next payload. */
static int build_skf(uint8_t *buf, size_t cap, uint8_t next, uint16_t num, uint16_t total)
{
	uint8_t body[4 + 8 + 8 + 16] = { (uint8_t)(num >> 8), (uint8_t)num, (uint8_t)(total >> 8), (uint8_t)total };
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, cap);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .spi_i = SPI_I, .spi_r = SPI_R, .msg_id = 1,
						   .exchange = KT_IKE_EXCH_IKE_AUTH });
	kt_ike_write_payload(&w, KT_IKE_PL_SKF, false, body, sizeof(body));
	int len = kt_ike_writer_finish(&w);
	buf[KT_IKE_HDR_LEN] = next; /* the SKF's next payload */
	return len;
}

static void test_skf(void **state)
{
	(void)state;
	static const struct {
		uint8_t next;
		uint16_t num, total;
		int rc;
	} cases[] = {
		{ KT_IKE_PL_IDI, 1, 3, 0 },
		{ KT_IKE_PL_NONE, 2, 3, 0 },
		{ KT_IKE_PL_NONE, 3, 3, 0 },
		{ KT_IKE_PL_IDI, 2, 3, KT_ERR_IKE_SYNTAX },  /* only fragment 1 names the inner chain */
		{ KT_IKE_PL_NONE, 0, 3, KT_ERR_IKE_SYNTAX },
		{ KT_IKE_PL_NONE, 4, 3, KT_ERR_IKE_SYNTAX },
		{ KT_IKE_PL_IDI, 1, 0, KT_ERR_IKE_SYNTAX },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		uint8_t buf[256];
		int len = build_skf(buf, sizeof(buf), cases[i].next, cases[i].num, cases[i].total);
		struct kt_ike_msg m;
		decode_ok(buf, (size_t)len, &m);
		assert_int_equal(m.pl[0].type, KT_IKE_PL_SKF);
		struct kt_ike_sk sk;
		int rc = kt_ike_sk_locate(&m, 8, 16, 1, &sk);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		if (rc == 0) {
			assert_true(sk.fragment);
			assert_int_equal(sk.frag_num, cases[i].num);
			assert_int_equal(sk.frag_total, cases[i].total);
			assert_int_equal(sk.iv_off, KT_IKE_HDR_LEN + 4 + KT_IKE_SKF_HDR_LEN);
			assert_int_equal(sk.ct_len, 8);
			assert_int_equal(sk.icv_off + 16, (size_t)len);
		}
	}
}

/* ---- Malformed messages ------------------------------------------------ */

static size_t with_hdr(uint8_t *buf, size_t cap, uint8_t first, const char *chain_hex)
{
	size_t n = unhex(buf + KT_IKE_HDR_LEN, cap - KT_IKE_HDR_LEN, chain_hex);
	size_t len = KT_IKE_HDR_LEN + n;
	static const char hdr[] = "5f3a1c9e4277b0d1 c0ffee0011223344 00 20 25 08 00000002 00000000";
	unhex(buf, KT_IKE_HDR_LEN, hdr);
	buf[16] = first;
	buf[24] = (uint8_t)(len >> 24);
	buf[25] = (uint8_t)(len >> 16);
	buf[26] = (uint8_t)(len >> 8);
	buf[27] = (uint8_t)len;
	return len;
}

static const struct msg_case {
	const char *name;
	uint8_t first;
	const char *chain;
	int rc;
	uint8_t err_type;
	size_t n_pl;
} msg_cases[] = {
	{ "valid VID", 43, "00 00 0005 aa", 0, 0, 1 },
	{ "no payloads", 0, "", 0, 0, 0 },
	{ "payload length 3", 43, "00 00 0003 aa", KT_ERR_MALFORMED, 43, 0 },
	{ "payload length 0", 43, "00 00 0000 aa", KT_ERR_MALFORMED, 43, 0 },
	{ "payload length past end", 43, "00 00 0009 aabbccdd", KT_ERR_MALFORMED, 43, 0 },
	{ "generic header truncated", 43, "00 00 00", KT_ERR_MALFORMED, 43, 0 },
	{ "chain names a missing payload", 43, "29 00 0005 aa", KT_ERR_MALFORMED, 41, 1 },
	{ "trailing bytes after last", 43, "00 00 0005 aa ffff", KT_ERR_MALFORMED, 0, 1 },
	{ "first payload missing", 33, "", KT_ERR_MALFORMED, 33, 0 },
	{ "unknown critical payload", 43, "63 00 0004 00 80 0006 abcd", KT_ERR_IKE_CRITICAL, 99, 1 },
	{ "unknown critical first", 200, "00 80 0004", KT_ERR_IKE_CRITICAL, 200, 0 },
	{ "unknown non-critical skipped", 99, "2b 00 0006 abcd 00 00 0005 aa", 0, 0, 1 },
	{ "unknown non-critical GSPM skipped", 49, "00 7f 0004", 0, 0, 0 },
	{ "critical bit on known type ignored", 43, "00 80 0005 aa", 0, 0, 1 },
	{ "payload after SK", 46, "2b 00 0018 00000000000000000000000000000000 00000000 2b 00 0004",
	  KT_ERR_IKE_SYNTAX, 46, 1 },
	{ "SK length past end", 46, "23 00 0010 00000000", KT_ERR_MALFORMED, 46, 0 },
	{ "SK last", 43, "2e 00 0005 aa 23 00 0008 00000000", 0, 0, 2 },
	{ "SKF after VID", 43, "35 00 0005 aa 00 00 000c 0001 0001 00000000", 0, 0, 2 },
	{ "payload after SKF", 53, "00 00 000c 0002 0002 00000000 aa", KT_ERR_IKE_SYNTAX, 53, 1 },
	{ "unknown critical after bad length", 43, "63 00 0009 aa", KT_ERR_MALFORMED, 43, 0 },
};

static void test_malformed_messages(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(msg_cases); i++) {
		const struct msg_case *c = &msg_cases[i];
		uint8_t buf[512];
		size_t len = with_hdr(buf, sizeof(buf), c->first, c->chain);
		struct kt_ike_msg m;
		int rc = kt_ike_decode(buf, len, &m);
		if (rc != c->rc || m.err_type != c->err_type || m.n_pl != c->n_pl)
			fail_msg("%s: rc %d (%s) type %u n %zu, want %d type %u n %zu", c->name, rc,
				 kt_strerror(rc), m.err_type, m.n_pl, c->rc, c->err_type, c->n_pl);
	}
}

static void test_header_errors(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = unhex(buf, sizeof(buf), sa_init_hex);
	struct kt_ike_msg m;
	struct kt_ike_hdr h;

	for (size_t n = 0; n < KT_IKE_HDR_LEN; n++)
		assert_int_equal(kt_ike_decode(buf, n, &m), KT_ERR_MALFORMED);
	assert_int_equal(kt_ike_decode(buf, len - 1, &m), KT_ERR_MALFORMED); /* length field > datagram */
	assert_int_equal(kt_ike_decode_hdr(buf, len - 1, &h), KT_ERR_MALFORMED);
	uint8_t longer[600];
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_int_equal(kt_ike_decode(longer, len + 1, &m), KT_ERR_MALFORMED); /* length field < datagram */
	assert_int_equal(kt_ike_decode_hdr(buf, len, &h), 0);
	assert_int_equal(h.length, len);

	buf[17] = 0x30; /* major version 3 */
	assert_int_equal(kt_ike_decode(buf, len, &m), KT_ERR_IKE_MAJOR_VERSION);
	assert_true(m.hdr.spi_i == SPI_I); /* enough to answer INVALID_MAJOR_VERSION */
	assert_int_equal(m.hdr.major, 3);
	assert_int_equal(kt_ike_decode(buf, KT_IKE_HDR_LEN, &m), KT_ERR_IKE_MAJOR_VERSION);
	buf[17] = 0x10; /* IKEv1 */
	assert_int_equal(kt_ike_decode(buf, len, &m), KT_ERR_UNSUPPORTED);
	assert_int_equal(m.hdr.major, 1);
	buf[17] = 0x2f; /* minor version ignored */
	assert_int_equal(kt_ike_decode(buf, len, &m), 0);
	assert_int_equal(m.hdr.minor, 15);
	buf[19] = 0xff; /* unknown flag bits ignored */
	assert_int_equal(kt_ike_decode(buf, len, &m), 0);
	assert_int_equal(m.hdr.flags, KT_IKE_FLAG_I | KT_IKE_FLAG_V | KT_IKE_FLAG_R);
}

/* Every payload's generic length, made to lie both ways. */
static void test_each_generic_length_lies(void **state)
{
	(void)state;
	uint8_t good[BIG];
	int len = build_all(good, sizeof(good));
	struct kt_ike_msg m;
	decode_ok(good, (size_t)len, &m);
	for (size_t i = 0; i < m.n_pl; i++) {
		size_t off = (size_t)(m.pl[i].body - good) - KT_IKE_PAYLOAD_HDR_LEN;
		size_t lies[] = { 0, 3, (size_t)len - off + 1, 0xffff };
		for (size_t j = 0; j < ARRAY_LEN(lies); j++) {
			uint8_t buf[BIG];
			memcpy(buf, good, (size_t)len);
			buf[off + 2] = (uint8_t)(lies[j] >> 8);
			buf[off + 3] = (uint8_t)lies[j];
			struct kt_ike_msg bad;
			int rc = kt_ike_decode(buf, (size_t)len, &bad);
			if (rc != KT_ERR_MALFORMED || bad.err_type != m.pl[i].type)
				fail_msg("payload %zu (%s) length %zu: rc %d type %u", i,
					 kt_ike_payload_name(m.pl[i].type), lies[j], rc, bad.err_type);
		}
	}
}

static int build_vids(uint8_t *buf, size_t cap, size_t n)
{
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, cap);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = KT_IKE_EXCH_INFORMATIONAL });
	for (size_t i = 0; i < n; i++)
		kt_ike_write_vid(&w, NULL, 0);
	return kt_ike_writer_finish(&w);
}

static void test_payload_limit(void **state)
{
	(void)state;
	uint8_t buf[BIG];
	struct kt_ike_msg m;
	int len = build_vids(buf, sizeof(buf), KT_IKE_MAX_PAYLOADS);
	assert_int_equal(kt_ike_decode(buf, (size_t)len, &m), 0);
	assert_int_equal(m.n_pl, KT_IKE_MAX_PAYLOADS);
	len = build_vids(buf, sizeof(buf), KT_IKE_MAX_PAYLOADS + 1);
	assert_int_equal(kt_ike_decode(buf, (size_t)len, &m), KT_ERR_IKE_LIMIT);
	assert_int_equal(m.err_type, KT_IKE_PL_VID);

	/* Inner payloads count too; a failed chain leaves msg as it was. */
	len = build_vids(buf, sizeof(buf), KT_IKE_MAX_PAYLOADS - 1);
	assert_int_equal(kt_ike_decode(buf, (size_t)len, &m), 0);
	uint8_t inner[] = { 43, 0, 0, 4, 0, 0, 0, 4 };
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_VID, inner, sizeof(inner), &m), KT_ERR_IKE_LIMIT);
	assert_int_equal(m.n_pl, KT_IKE_MAX_PAYLOADS - 1);
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_VID, inner, 4, &m), KT_ERR_MALFORMED); /* names a 2nd */
	inner[0] = 0;
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_VID, inner, 4, &m), 0);
	assert_int_equal(m.n_pl, KT_IKE_MAX_PAYLOADS);
	assert_true(m.pl[KT_IKE_MAX_PAYLOADS - 1].encrypted);
}

static void test_inner_chain_rules(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct kt_ike_msg m;
	size_t len = with_hdr(buf, sizeof(buf), KT_IKE_PL_SK, "23 00 0008 00000000");
	decode_ok(buf, len, &m);
	uint8_t inner[64];
	size_t n = unhex(inner, sizeof(inner), "2e 00 0005 aa 00 00 0004"); /* VID, then an SK */
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_VID, inner, n, &m), KT_ERR_IKE_SYNTAX);
	assert_int_equal(m.n_pl, 1);
	n = unhex(inner, sizeof(inner), "00 00 0008 0001 0001");
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_SKF, inner, n, &m), KT_ERR_IKE_SYNTAX);
	n = unhex(inner, sizeof(inner), "00 80 0004");
	assert_int_equal(kt_ike_decode_chain(120, inner, n, &m), KT_ERR_IKE_CRITICAL);
	assert_int_equal(m.err_type, 120);
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_NONE, inner, 0, &m), 0);
	assert_int_equal(kt_ike_decode_chain(KT_IKE_PL_NONE, inner, 1, &m), KT_ERR_MALFORMED);
	assert_int_equal(m.n_pl, 1);
}

/* ---- Malformed payload bodies ------------------------------------------ */

/* A valid ESP proposal body, for the SA cases below to vary. */
#define ESP_REST "0018 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080"
#define ESP_PROP "00 00 " ESP_REST
#define ESP_PROP_MORE "02 00 " ESP_REST

static const struct body_case {
	const char *name;
	uint8_t type;
	const char *body;
	int rc;
} body_cases[] = {
	{ "SA valid", 33, ESP_PROP, 0 },
	{ "SA empty", 33, "", KT_ERR_IKE_SYNTAX },
	{ "SA proposal header truncated", 33, "00 00 0018 01 03 04", KT_ERR_MALFORMED },
	{ "SA proposal length past end", 33, "00 00 0019 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_MALFORMED },
	{ "SA proposal length below 8", 33, "00 00 0007 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_MALFORMED },
	{ "SA proposal shorter than its SPI", 33, "00 00 000a 01 03 04 01 cafe", KT_ERR_MALFORMED },
	{ "SA transform length past proposal", 33, "00 00 0018 01 03 04 01 cafe0001 00 00 000d 01 00 0014 800e 0080", KT_ERR_MALFORMED },
	{ "SA transform length below 8", 33, "00 00 0018 01 03 04 01 cafe0001 00 00 0007 01 00 0014 800e 0080", KT_ERR_MALFORMED },
	{ "SA transform header truncated", 33, "00 00 0010 01 03 04 01 cafe0001 00 00 000c", KT_ERR_MALFORMED },
	{ "SA attribute TLV length past transform", 33, "00 00 001a 01 03 04 01 cafe0001 00 00 000e 01 00 0014 0001 0003 aaaa", KT_ERR_MALFORMED },
	{ "SA attribute header truncated", 33, "00 00 0016 01 03 04 01 cafe0001 00 00 000a 01 00 0014 800e", KT_ERR_MALFORMED },
	{ "SA unknown TLV attribute kept", 33, "00 00 001b 01 03 04 01 cafe0001 00 00 000f 01 00 0014 0001 0003 aabbcc", 0 },
	{ "SA transform count says 2, has 1", 33, "00 00 0018 01 03 04 02 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_MALFORMED },
	{ "SA transform count says 1, has 2", 33, "00 00 0020 01 03 04 01 cafe0001 03 00 000c 01 00 0014 800e 0080 00 00 0008 05 00 0000", KT_ERR_MALFORMED },
	{ "SA transform count 0", 33, "00 00 000c 01 03 04 00 cafe0001", KT_ERR_IKE_SYNTAX },
	{ "SA ESP with 8-byte SPI", 33, "00 00 001c 01 03 08 01 cafe0001cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA ESP without SPI", 33, "00 00 0014 01 03 00 01 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA AH with 8-byte SPI", 33, "00 00 0018 01 02 08 01 cafe0001cafe0001 00 00 0008 03 00 000c", KT_ERR_IKE_SYNTAX },
	{ "SA IKE with 4-byte SPI", 33, "00 00 0018 01 01 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA IKE with 8-byte SPI (rekey)", 33, "00 00 001c 01 01 08 01 cafe0001cafe0001 00 00 000c 01 00 0014 800e 0080", 0 },
	{ "SA unknown protocol", 33, "00 00 0018 01 07 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA only proposal says more follow", 33, "02 00 0018 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA Last Substruc 1", 33, "01 00 0018 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA first of two says last", 33, ESP_PROP " 00 00 0018 02 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA two proposals", 33, ESP_PROP_MORE " 00 00 0018 02 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", 0 },
	{ "SA proposals numbered 1, 3", 33, ESP_PROP_MORE " 00 00 0018 03 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA lone proposal numbered 0", 33, "00 00 0018 00 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA lone proposal numbered 5 (response)", 33, "00 00 0018 05 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0080", 0 },
	{ "SA transform says more, is last", 33, "00 00 0018 01 03 04 01 cafe0001 03 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA transform Last Substruc 2", 33, "00 00 0018 01 03 04 01 cafe0001 02 00 000c 01 00 0014 800e 0080", KT_ERR_IKE_SYNTAX },
	{ "SA Key Length in TLV form", 33, "00 00 001a 01 03 04 01 cafe0001 00 00 000e 01 00 0014 000e 0002 0080", KT_ERR_IKE_SYNTAX },
	{ "SA Key Length 0", 33, "00 00 0018 01 03 04 01 cafe0001 00 00 000c 01 00 0014 800e 0000", KT_ERR_IKE_SYNTAX },
	{ "SA Key Length twice", 33, "00 00 001c 01 03 04 01 cafe0001 00 00 0010 01 00 0014 800e 0080 800e 0080", KT_ERR_IKE_SYNTAX },

	{ "KE valid", 34, "0013 0000 aa", 0 },
	{ "KE truncated", 34, "0013 00", KT_ERR_MALFORMED },
	{ "KE without data", 34, "0013 0000", KT_ERR_IKE_SYNTAX },

	{ "Nonce 15 bytes", 40, "000102030405060708090a0b0c0d0e", KT_ERR_IKE_SYNTAX },
	{ "Nonce 16 bytes", 40, "000102030405060708090a0b0c0d0e0f", 0 },
	{ "Nonce empty", 40, "", KT_ERR_IKE_SYNTAX },

	{ "ID truncated", 35, "01 0000", KT_ERR_MALFORMED },
	{ "ID IPv4 valid", 35, "01 000000 c0000201", 0 },
	{ "ID IPv4 5 bytes", 35, "01 000000 c000020101", KT_ERR_IKE_SYNTAX },
	{ "ID IPv4 3 bytes", 36, "01 000000 c00002", KT_ERR_IKE_SYNTAX },
	{ "ID IPv6 4 bytes", 35, "05 000000 20010db8", KT_ERR_IKE_SYNTAX },
	{ "ID IPv6 valid", 36, "05 000000 20010db8000000000000000000000001", 0 },
	{ "ID FQDN empty", 35, "02 000000", KT_ERR_IKE_SYNTAX },
	{ "ID RFC822 empty", 35, "03 000000", KT_ERR_IKE_SYNTAX },
	{ "ID DN empty", 35, "09 000000", KT_ERR_IKE_SYNTAX },
	{ "ID KEY_ID empty", 35, "0b 000000", KT_ERR_IKE_SYNTAX },
	{ "ID NULL with data", 35, "0d 000000 aa", KT_ERR_IKE_SYNTAX },
	{ "ID NULL", 35, "0d 000000", 0 },
	{ "ID unknown type passed on", 35, "c8 000000 aa", 0 },

	{ "AUTH truncated", 39, "02 0000", KT_ERR_MALFORMED },
	{ "AUTH without data", 39, "02 000000", KT_ERR_IKE_SYNTAX },
	{ "AUTH valid", 39, "02 000000 aa", 0 },

	{ "CERT empty body", 37, "", KT_ERR_MALFORMED },
	{ "CERT without data", 37, "04", KT_ERR_IKE_SYNTAX },
	{ "CERTREQ without hashes", 38, "04", 0 },
	{ "CERTREQ empty body", 38, "", KT_ERR_MALFORMED },

	{ "Notify truncated", 41, "00 00 40", KT_ERR_MALFORMED },
	{ "Notify SPI past end", 41, "03 04 4009 cafe00", KT_ERR_MALFORMED },
	{ "Notify ESP 8-byte SPI", 41, "03 08 4009 cafe0001cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Notify SPI without protocol", 41, "00 04 4009 cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Notify IKE 4-byte SPI", 41, "01 04 4009 cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Notify IKE 8-byte SPI", 41, "01 08 0004 cafe0001cafe0001", 0 },
	{ "Notify protocol without SPI ignored", 41, "03 00 000e", 0 },

	{ "Delete truncated", 42, "03 04 00", KT_ERR_MALFORMED },
	{ "Delete count 2, one SPI", 42, "03 04 0002 cafe0001", KT_ERR_MALFORMED },
	{ "Delete count 1, two SPIs", 42, "03 04 0001 cafe0001 cafe0002", KT_ERR_MALFORMED },
	{ "Delete count 1, partial SPI", 42, "03 04 0001 cafe00", KT_ERR_MALFORMED },
	{ "Delete ESP 8-byte SPI", 42, "03 08 0001 cafe0001cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Delete IKE with SPI size 8", 42, "01 08 0001 cafe0001cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Delete IKE with count", 42, "01 00 0003", KT_ERR_IKE_SYNTAX },
	{ "Delete unknown protocol", 42, "09 04 0001 cafe0001", KT_ERR_IKE_SYNTAX },
	{ "Delete AH", 42, "02 04 0001 cafe0001", 0 },

	{ "VID empty", 43, "", 0 },

	{ "TS truncated", 44, "01 0000", KT_ERR_MALFORMED },
	{ "TS none", 44, "00 000000", KT_ERR_IKE_SYNTAX },
	{ "TS IPv4 valid", 44, "01 000000 07 06 0010 0050 0050 0a000000 0a0000ff", 0 },
	{ "TS count 2, one selector", 44, "02 000000 07 06 0010 0050 0050 0a000000 0a0000ff", KT_ERR_MALFORMED },
	{ "TS bytes after the selectors", 44, "01 000000 07 06 0010 0050 0050 0a000000 0a0000ff 00", KT_ERR_MALFORMED },
	{ "TS selector header truncated", 44, "01 000000 07 06 00", KT_ERR_MALFORMED },
	{ "TS selector length past end", 45, "01 000000 07 06 0011 0050 0050 0a000000 0a0000ff", KT_ERR_MALFORMED },
	{ "TS IPv4 selector length 40", 45, "01 000000 07 06 0028 0050 0050 0a000000 0a0000ff 000000000000000000000000000000000000000000000000", KT_ERR_MALFORMED },
	{ "TS IPv6 selector length 16", 45, "01 000000 08 06 0010 0050 0050 0a000000 0a0000ff", KT_ERR_MALFORMED },
	{ "TS unknown type", 44, "01 000000 0a 00 0008 aabbccdd", KT_ERR_UNSUPPORTED },
	{ "TS IPv4 start above end", 44, "01 000000 07 00 0010 0000 ffff 0a000100 0a0000ff", KT_ERR_IKE_SYNTAX },
	{ "TS IPv6 start above end", 44, "01 000000 08 00 0028 0000 ffff 20010db8000000000000000000000002 20010db8000000000000000000000001", KT_ERR_IKE_SYNTAX },
	{ "TS IPv6 valid", 44, "01 000000 08 00 0028 0000 ffff 20010db8000000000000000000000001 20010db8000000000000000000000001", 0 },
	{ "TS port start above end", 44, "01 000000 07 06 0010 0051 0050 0a000000 0a0000ff", KT_ERR_IKE_SYNTAX },
	{ "TS OPAQUE ports", 44, "01 000000 07 11 0010 ffff 0000 0a000000 0a0000ff", 0 },

	{ "CP truncated", 47, "01 0000", KT_ERR_MALFORMED },
	{ "CP unknown type", 47, "09 000000", KT_ERR_IKE_SYNTAX },
	{ "CP request", 47, "01 000000 0001 0000 0003 0000 0008 0000", 0 },
	{ "CP attribute length past end", 47, "02 000000 0001 0005 0a000001", KT_ERR_MALFORMED },
	{ "CP attribute header truncated", 47, "02 000000 0001 00", KT_ERR_MALFORMED },
	{ "CP IPv4 address of 3 bytes", 47, "02 000000 0001 0003 0a0000", KT_ERR_IKE_SYNTAX },
	{ "CP IPv6 address of 16 bytes", 47, "02 000000 0008 0010 20010db8000000000000000000000001", KT_ERR_IKE_SYNTAX },
	{ "CP IPv6 address with prefix", 47, "02 000000 0008 0011 20010db8000000000000000000000001 40", 0 },
	{ "CP IPv4 subnet of 4 bytes", 47, "02 000000 000d 0004 0a000000", KT_ERR_IKE_SYNTAX },
	{ "CP reserved bit ignored", 47, "02 000000 8001 0004 0a000001", 0 },

	{ "EAP truncated", 48, "01 07 00", KT_ERR_MALFORMED },
	{ "EAP length above body", 48, "01 07 0006 01", KT_ERR_MALFORMED },
	{ "EAP length below body", 48, "01 07 0005 01 aa", KT_ERR_MALFORMED },
	{ "EAP request without type", 48, "01 07 0004", KT_ERR_MALFORMED },
	{ "EAP success with data", 48, "03 07 0005 00", KT_ERR_MALFORMED },
	{ "EAP success", 48, "03 07 0004", 0 },
	{ "EAP response", 48, "02 07 0006 01 41", 0 },
};

static void test_malformed_bodies(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(body_cases); i++) {
		const struct body_case *c = &body_cases[i];
		uint8_t body[512];
		struct kt_ike_payload pl = { .type = c->type, .body = body };
		pl.len = unhex(body, sizeof(body), c->body);
		int rc = parse_any(&pl);
		if (rc != c->rc)
			fail_msg("%s: rc %d (%s), want %d (%s)", c->name, rc, kt_strerror(rc), c->rc,
				 kt_strerror(c->rc));
	}
}

static void test_parser_details(void **state)
{
	(void)state;
	uint8_t body[128];
	struct kt_ike_payload pl = { .type = KT_IKE_PL_SA, .body = body };
	pl.len = unhex(body, sizeof(body), "00 00 001b 01 03 04 01 cafe0001 00 00 000f 01 00 0014 0001 0003 aabbcc");
	struct kt_ike_proposals sa;
	assert_int_equal(kt_ike_parse_sa(&pl, &sa), 0);
	assert_true(sa.prop[0].xf[0].unknown_attr);
	assert_int_equal(sa.prop[0].xf[0].key_bits, 0);
	assert_true(sa.prop[0].spi == 0xcafe0001);

	/* Each parser refuses payloads of another type. */
	struct kt_ike_payload other = { .type = KT_IKE_PL_VID, .body = body, .len = 8 };
	struct kt_ike_ke ke;
	struct kt_ike_ts_list ts;
	struct kt_chunk c;
	assert_int_equal(kt_ike_parse_sa(&other, &sa), KT_ERR_INVAL);
	assert_int_equal(kt_ike_parse_ke(&other, &ke), KT_ERR_INVAL);
	assert_int_equal(kt_ike_parse_ts(&other, &ts), KT_ERR_INVAL);
	assert_int_equal(kt_ike_parse_nonce(&other, &c), KT_ERR_INVAL);
	assert_int_equal(kt_ike_parse_sa(NULL, &sa), KT_ERR_INVAL);

	/* Opaque ports stay as sent. */
	pl.type = KT_IKE_PL_TSR;
	pl.len = unhex(body, sizeof(body), "01 000000 07 11 0010 ffff 0000 0a000000 0a0000ff");
	assert_int_equal(kt_ike_parse_ts(&pl, &ts), 0);
	assert_int_equal(ts.ts[0].port_start, 0xffff);
	assert_int_equal(ts.ts[0].port_end, 0);
	assert_int_equal(ts.ts[0].proto, KT_IPPROTO_UDP);
}

/* Limits built programmatically: 17 proposals, 65 transforms, 17 TS, 33 CP attributes. */
static void test_parser_limits(void **state)
{
	(void)state;
	static struct kt_ike_proposal props[KT_IKE_MAX_PROPOSALS + 1];
	for (size_t i = 0; i < ARRAY_LEN(props); i++)
		props[i] = (struct kt_ike_proposal){ .num = (uint8_t)(i + 1), .proto = KT_IKE_PROTO_IKE, .n_xf = 1,
						     .xf = { { KT_IKE_XF_DH, 31, 0, false } } };
	static uint8_t buf[BIG];
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(kt_ike_write_sa(&w, props, ARRAY_LEN(props)), KT_ERR_INVAL); /* writer refuses too */

	/* Hand-built: 17 proposals of one transform each. */
	uint8_t body[BIG];
	size_t len = 0;
	for (size_t i = 0; i < ARRAY_LEN(props); i++) {
		uint8_t p[16] = { i + 1 < ARRAY_LEN(props) ? 2 : 0, 0, 0, 16, (uint8_t)(i + 1), 1, 0, 1,
				  0, 0, 0, 8, 4, 0, 0, 31 };
		memcpy(body + len, p, sizeof(p));
		len += sizeof(p);
	}
	struct kt_ike_payload pl = { .type = KT_IKE_PL_SA, .body = body, .len = len };
	static struct kt_ike_proposals sa;
	assert_int_equal(kt_ike_parse_sa(&pl, &sa), KT_ERR_IKE_LIMIT);
	pl.len = len - 16;
	body[len - 32] = 0; /* the 16th becomes the last */
	assert_int_equal(kt_ike_parse_sa(&pl, &sa), 0);
	assert_int_equal(sa.n, KT_IKE_MAX_PROPOSALS);

	/* One proposal with 65 transforms. */
	size_t nx = KT_IKE_MAX_TRANSFORMS + 1, plen = 8 + 8 * nx;
	uint8_t head[8] = { 0, 0, (uint8_t)(plen >> 8), (uint8_t)plen, 1, 1, 0, (uint8_t)nx };
	memcpy(body, head, 8);
	for (size_t i = 0; i < nx; i++) {
		uint8_t x[8] = { i + 1 < nx ? 3 : 0, 0, 0, 8, 4, 0, 0, 31 };
		memcpy(body + 8 + 8 * i, x, 8);
	}
	pl.len = plen;
	assert_int_equal(kt_ike_parse_sa(&pl, &sa), KT_ERR_IKE_LIMIT);

	/* 17 traffic selectors. */
	size_t nts = KT_IKE_MAX_TS + 1;
	body[0] = (uint8_t)nts;
	memset(body + 1, 0, 3);
	for (size_t i = 0; i < nts; i++) {
		uint8_t t[16] = { 7, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 0xff };
		memcpy(body + 4 + 16 * i, t, 16);
	}
	struct kt_ike_ts_list ts;
	struct kt_ike_payload tpl = { .type = KT_IKE_PL_TSI, .body = body, .len = 4 + 16 * nts };
	assert_int_equal(kt_ike_parse_ts(&tpl, &ts), KT_ERR_IKE_LIMIT);
	body[0] = KT_IKE_MAX_TS;
	tpl.len -= 16;
	assert_int_equal(kt_ike_parse_ts(&tpl, &ts), 0);
	assert_int_equal(ts.n, KT_IKE_MAX_TS);

	/* 33 CP attributes. */
	size_t na = KT_IKE_MAX_CP_ATTRS + 1;
	body[0] = KT_IKE_CFG_REQUEST;
	for (size_t i = 0; i < na; i++) {
		uint8_t a[4] = { 0, KT_IKE_CFG_INTERNAL_IP4_DNS, 0, 0 };
		memcpy(body + 4 + 4 * i, a, 4);
	}
	struct kt_ike_cp cp;
	struct kt_ike_payload cpl = { .type = KT_IKE_PL_CP, .body = body, .len = 4 + 4 * na };
	assert_int_equal(kt_ike_parse_cp(&cpl, &cp), KT_ERR_IKE_LIMIT);
	cpl.len -= 4;
	assert_int_equal(kt_ike_parse_cp(&cpl, &cp), 0);
	assert_int_equal(cp.n, KT_IKE_MAX_CP_ATTRS);
}

/* ---- Writer --------------------------------------------------------------- */

#define CANARY 32

static void sweep(const char *name, int (*build)(uint8_t *, size_t))
{
	uint8_t full[BIG];
	int n = build(full, sizeof(full));
	assert_true(n > 0);
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		uint8_t *buf = malloc(cap + CANARY);
		assert_non_null(buf);
		memset(buf, 0xa5, cap + CANARY);
		int rc = build(buf, cap);
		int want = cap < (size_t)n ? KT_ERR_NOSPACE : n;
		if (rc != want)
			fail_msg("%s cap %zu: rc %d, want %d", name, cap, rc, want);
		for (size_t i = cap; i < cap + CANARY; i++)
			if (buf[i] != 0xa5)
				fail_msg("%s cap %zu: byte %zu written", name, cap, i);
		if (rc > 0)
			assert_memory_equal(buf, full, (size_t)n);
		free(buf);
	}
}

static void test_writer_capacity_sweep(void **state)
{
	(void)state;
	sweep("IKE_SA_INIT", build_sa_init);
	sweep("every payload", build_all);
	sweep("IKE_AUTH SK", build_auth_cbc);
}

static void test_writer_refuses(void **state)
{
	(void)state;
	all_fixtures();
	uint8_t buf[1024], n15[15] = { 0 }, n257[257] = { 0 };
	struct kt_ike_writer w;
	struct kt_ike_sk sk;
	struct kt_ts bad_ts = ts_of("10.0.0.0/8", 0, 0, 0xffff);
	bad_ts.start.bytes[0] = 11;
	struct kt_ts mixed = ts_of("10.0.0.0/8", 0, 0, 0xffff);
	mixed.end.version = 6;
	struct kt_ike_proposal p = esp_props[0];
	struct kt_ike_cp bad_cp = { .type = KT_IKE_CFG_REPLY, .n = 1,
				    .attr = { { KT_IKE_CFG_INTERNAL_IP4_ADDRESS, { v4, 3 } } } };
	static const uint8_t bad_eap[] = { 3, 1, 0, 5, 0 };
	struct {
		const char *name;
		int rc;
	} cases[12];
	size_t n = 0;
#define TRY(label, call) do { \
		kt_ike_writer_init(&w, buf, sizeof(buf)); \
		kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37 }); \
		cases[n].name = label; \
		cases[n++].rc = (call); \
	} while (0)
	TRY("nonce 15", kt_ike_write_nonce(&w, n15, sizeof(n15)));
	TRY("nonce 257", kt_ike_write_nonce(&w, n257, sizeof(n257)));
	TRY("IPv4 ID of 3 bytes", kt_ike_write_id(&w, KT_IKE_PL_IDI,
						  &(struct kt_ike_id){ KT_IKE_ID_IPV4_ADDR, { v4, 3 }, { 0 } }));
	TRY("TS start above end", kt_ike_write_ts(&w, KT_IKE_PL_TSI, &bad_ts, 1));
	TRY("TS mixed versions", kt_ike_write_ts(&w, KT_IKE_PL_TSI, &mixed, 1));
	TRY("notify protocol without SPI",
	    kt_ike_write_notify(&w, &(struct kt_ike_notify){ .proto = 3, .type = KT_IKE_N_REKEY_SA }));
	TRY("delete ESP without SPIs", kt_ike_write_delete(&w, KT_IKE_PROTO_ESP, NULL, 0));
	p.spi_size = 8;
	TRY("ESP proposal with 8-byte SPI", kt_ike_write_sa(&w, &p, 1));
	TRY("CP address of 3 bytes", kt_ike_write_cp(&w, &bad_cp));
	TRY("EAP success with data", kt_ike_write_eap(&w, bad_eap, sizeof(bad_eap)));
	TRY("SK end without begin", kt_ike_write_sk_end(&w, 16, 16, &sk));
	TRY("second header", kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37 }));
#undef TRY
	for (size_t i = 0; i < n; i++)
		if (cases[i].rc != KT_ERR_INVAL)
			fail_msg("%s: rc %d, want KT_ERR_INVAL", cases[i].name, cases[i].rc);

	/* Nothing may follow a closed SK; finish refuses an open one. */
	kt_ike_writer_init(&w, buf, sizeof(buf));
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37 });
	assert_int_equal(kt_ike_write_sk_begin(&w, 16), 0);
	assert_int_equal(kt_ike_writer_finish(&w), KT_ERR_INVAL);
	kt_ike_writer_init(&w, buf, sizeof(buf));
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37 });
	kt_ike_write_sk_begin(&w, 16);
	assert_int_equal(kt_ike_write_sk_end(&w, 16, 16, &sk), 0);
	assert_int_equal(kt_ike_write_vid(&w, v4, 4), KT_ERR_INVAL);

	/* Errors are sticky: a later call that would fit still fails. */
	kt_ike_writer_init(&w, buf, 40);
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37 });
	assert_int_equal(kt_ike_write_vid(&w, n257, 20), KT_ERR_NOSPACE);
	assert_int_equal(kt_ike_write_vid(&w, v4, 1), KT_ERR_NOSPACE);
	assert_int_equal(kt_ike_writer_finish(&w), KT_ERR_NOSPACE);
}

static void test_writer_chaining(void **state)
{
	(void)state;
	uint8_t buf[256];
	struct kt_ike_writer w;
	/* A bare chain (no header), as fragmentation will need. */
	kt_ike_writer_init(&w, buf, sizeof(buf));
	kt_ike_write_vid(&w, v4, 4);
	kt_ike_write_payload(&w, 99, true, v4, 2);
	int len = kt_ike_writer_finish(&w);
	assert_int_equal(len, 8 + 6);
	assert_int_equal(w.first, KT_IKE_PL_VID);
	uint8_t want[14];
	unhex(want, sizeof(want), "63 00 0008 c0000201 00 80 0006 c000");
	assert_memory_equal(buf, want, sizeof(want));
	struct kt_ike_msg m = { 0 };
	assert_int_equal(kt_ike_decode_chain(w.first, buf, (size_t)len, &m), KT_ERR_IKE_CRITICAL);
	assert_int_equal(m.err_type, 99);

	/* SK framing: header and SK lengths final before encryption. */
	struct kt_ike_sk sk;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	kt_ike_write_hdr(&w, &(struct kt_ike_hdr){ .exchange = 37, .msg_id = 9 });
	kt_ike_write_sk_begin(&w, 8);
	kt_ike_write_notify(&w, &(struct kt_ike_notify){ .type = KT_IKE_N_INITIAL_CONTACT });
	kt_ike_write_sk_end(&w, 16, 16, &sk);
	len = kt_ike_writer_finish(&w);
	/* 28 + 4 + 8 IV + (8 notify + 7 pad + 1) + 16 ICV */
	assert_int_equal(len, 28 + 4 + 8 + 16 + 16);
	assert_int_equal(buf[16], KT_IKE_PL_SK);
	assert_int_equal(buf[28], KT_IKE_PL_NOTIFY);
	assert_int_equal(buf[30] << 8 | buf[31], len - 28);
	assert_int_equal(buf[27], len);
	assert_int_equal(sk.ct_len, 16);
	assert_int_equal(buf[sk.ct_off + sk.ct_len - 1], 7);
	assert_int_equal(sk.icv_off, (size_t)len - 16);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(kt_ike_exchange_name(34), "IKE_SA_INIT");
	assert_string_equal(kt_ike_exchange_name(37), "INFORMATIONAL");
	assert_null(kt_ike_exchange_name(33));
	assert_string_equal(kt_ike_payload_name(46), "SK");
	assert_string_equal(kt_ike_payload_name(35), "IDi");
	assert_null(kt_ike_payload_name(99));
	assert_string_equal(kt_ike_notify_name(16388), "NAT_DETECTION_SOURCE_IP");
	assert_string_equal(kt_ike_notify_name(14), "NO_PROPOSAL_CHOSEN");
	assert_string_equal(kt_ike_notify_name(16431), "SIGNATURE_HASH_ALGORITHMS");
	assert_null(kt_ike_notify_name(12345));
	assert_true(kt_ike_notify_is_error(KT_IKE_N_INVALID_SYNTAX));
	assert_false(kt_ike_notify_is_error(KT_IKE_N_COOKIE));
	static const int codes[] = { KT_ERR_IKE_MAJOR_VERSION, KT_ERR_IKE_CRITICAL, KT_ERR_IKE_SYNTAX,
				     KT_ERR_IKE_LIMIT };
	for (size_t i = 0; i < ARRAY_LEN(codes); i++)
		assert_string_not_equal(kt_strerror(codes[i]), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sa_init_decode),
		cmocka_unit_test(test_sa_init_encode_matches_rfc_layout),
		cmocka_unit_test(test_every_payload_roundtrip),
		cmocka_unit_test(test_sk_cbc_and_aead),
		cmocka_unit_test(test_sk_locate_errors),
		cmocka_unit_test(test_skf),
		cmocka_unit_test(test_malformed_messages),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_each_generic_length_lies),
		cmocka_unit_test(test_payload_limit),
		cmocka_unit_test(test_inner_chain_rules),
		cmocka_unit_test(test_malformed_bodies),
		cmocka_unit_test(test_parser_details),
		cmocka_unit_test(test_parser_limits),
		cmocka_unit_test(test_writer_capacity_sweep),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_writer_chaining),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
