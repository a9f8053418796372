/* Fuzz the IKEv2 decoder: decode the input as a datagram; on success check
 * the payload table's invariants, run every per-payload parser on every
 * recorded payload (under its own type and under every other parser's
 * type), re-encode what parsed and decode it back to the same values, and
 * treat the SK content as if it were decrypted plaintext. Any violated
 * invariant aborts. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/msg.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const uint8_t parser_types[] = {
	KT_IKE_PL_SA, KT_IKE_PL_KE, KT_IKE_PL_IDI, KT_IKE_PL_CERT, KT_IKE_PL_CERTREQ,
	KT_IKE_PL_AUTH, KT_IKE_PL_NONCE, KT_IKE_PL_NOTIFY, KT_IKE_PL_DELETE, KT_IKE_PL_VID,
	KT_IKE_PL_TSI, KT_IKE_PL_CP, KT_IKE_PL_EAP,
};

static void check_chunk(struct kt_chunk c, const struct kt_ike_payload *pl)
{
	CHECK(c.len <= pl->len);
	if (c.len)
		CHECK(c.p >= pl->body && (size_t)(c.p - pl->body) <= pl->len - c.len);
}

/* Write one payload into a bare chain and decode it back. */
static const struct kt_ike_payload *reencode(struct kt_ike_writer *w, uint8_t *buf, size_t cap,
					     struct kt_ike_msg *m, int rc)
{
	CHECK(rc == 0);
	int len = kt_ike_writer_finish(w);
	CHECK(len > 0 && (size_t)len <= cap);
	memset(m, 0, sizeof(*m));
	CHECK(kt_ike_decode_chain(w->first, buf, (size_t)len, m) == 0);
	CHECK(m->n_pl == 1);
	return &m->pl[0];
}

static void roundtrip_sa(const struct kt_ike_proposals *sa)
{
	static uint8_t buf[65536 + 64];
	static struct kt_ike_proposals back;
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *pl = reencode(&w, buf, sizeof(buf), &m, kt_ike_write_sa(&w, sa->prop, sa->n));
	CHECK(kt_ike_parse_sa(pl, &back) == 0 && back.n == sa->n);
	for (size_t i = 0; i < sa->n; i++) {
		const struct kt_ike_proposal *a = &sa->prop[i], *b = &back.prop[i];
		CHECK(a->num == b->num && a->proto == b->proto && a->spi_size == b->spi_size);
		CHECK(a->spi == b->spi && a->n_xf == b->n_xf);
		for (size_t j = 0; j < a->n_xf; j++)
			CHECK(a->xf[j].type == b->xf[j].type && a->xf[j].id == b->xf[j].id &&
			      a->xf[j].key_bits == b->xf[j].key_bits && !b->xf[j].unknown_attr);
	}
}

static void check_sa(const struct kt_ike_payload *pl)
{
	static struct kt_ike_proposals sa;
	if (kt_ike_parse_sa(pl, &sa) != 0)
		return;
	CHECK(sa.n >= 1 && sa.n <= KT_IKE_MAX_PROPOSALS);
	for (size_t i = 0; i < sa.n; i++) {
		const struct kt_ike_proposal *p = &sa.prop[i];
		CHECK(p->n_xf >= 1 && p->n_xf <= KT_IKE_MAX_TRANSFORMS);
		CHECK(p->spi_size == 0 || p->spi_size == 4 || p->spi_size == 8);
		CHECK(p->proto >= KT_IKE_PROTO_IKE && p->proto <= KT_IKE_PROTO_ESP);
	}
	roundtrip_sa(&sa);
}

static void check_ts(const struct kt_ike_payload *pl)
{
	struct kt_ike_ts_list ts, back;
	if (kt_ike_parse_ts(pl, &ts) != 0)
		return;
	CHECK(ts.n >= 1 && ts.n <= KT_IKE_MAX_TS);
	for (size_t i = 0; i < ts.n; i++) {
		CHECK(ts.ts[i].start.version == ts.ts[i].end.version);
		CHECK(kt_addr_cmp(&ts.ts[i].start, &ts.ts[i].end) <= 0);
	}
	uint8_t buf[1024];
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *b = reencode(&w, buf, sizeof(buf), &m,
						  kt_ike_write_ts(&w, KT_IKE_PL_TSR, ts.ts, ts.n));
	CHECK(kt_ike_parse_ts(b, &back) == 0 && back.n == ts.n);
	CHECK(memcmp(back.ts, ts.ts, ts.n * sizeof(ts.ts[0])) == 0);
}

static void check_id(const struct kt_ike_payload *pl)
{
	struct kt_ike_id id, back;
	if (kt_ike_parse_id(pl, &id) != 0)
		return;
	check_chunk(id.data, pl);
	if (id.type == KT_IKE_ID_IPV4_ADDR || id.type == KT_IKE_ID_IPV6_ADDR)
		CHECK(id.data.len == (id.addr.version == 4 ? 4u : 16u));
	else
		CHECK(id.addr.version == 0);
	static uint8_t buf[65536 + 64];
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *b = reencode(&w, buf, sizeof(buf), &m,
						  kt_ike_write_id(&w, KT_IKE_PL_IDR, &id));
	CHECK(kt_ike_parse_id(b, &back) == 0 && back.type == id.type && back.data.len == id.data.len);
	CHECK(back.data.len == 0 || memcmp(back.data.p, id.data.p, id.data.len) == 0);
}

static void check_notify(const struct kt_ike_payload *pl)
{
	struct kt_ike_notify n, back;
	if (kt_ike_parse_notify(pl, &n) != 0)
		return;
	CHECK(n.spi_size == 0 || n.spi_size == 4 || n.spi_size == 8);
	check_chunk(n.data, pl);
	if (n.spi_size == 0)
		n.proto = 0; /* ignored on receipt, sent as zero (RFC 7296 §3.10) */
	static uint8_t buf[65536 + 64];
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *b = reencode(&w, buf, sizeof(buf), &m, kt_ike_write_notify(&w, &n));
	CHECK(kt_ike_parse_notify(b, &back) == 0);
	CHECK(back.proto == n.proto && back.spi_size == n.spi_size && back.type == n.type &&
	      back.spi == n.spi && back.data.len == n.data.len);
}

static void check_delete(const struct kt_ike_payload *pl)
{
	struct kt_ike_delete d, back;
	if (kt_ike_parse_delete(pl, &d) != 0)
		return;
	CHECK((size_t)d.n * d.spi_size == pl->len - 4);
	if (d.proto == KT_IKE_PROTO_IKE || d.n == 0)
		return;
	static uint32_t spis[0x10000];
	for (size_t i = 0; i < d.n; i++)
		spis[i] = kt_ike_delete_spi(&d, i);
	static uint8_t buf[65536 + 64];
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *b = reencode(&w, buf, sizeof(buf), &m,
						  kt_ike_write_delete(&w, d.proto, spis, d.n));
	CHECK(kt_ike_parse_delete(b, &back) == 0 && back.n == d.n);
	for (size_t i = 0; i < d.n; i++)
		CHECK(kt_ike_delete_spi(&back, i) == spis[i]);
}

static void check_cp(const struct kt_ike_payload *pl)
{
	struct kt_ike_cp cp, back;
	if (kt_ike_parse_cp(pl, &cp) != 0)
		return;
	CHECK(cp.n <= KT_IKE_MAX_CP_ATTRS);
	for (size_t i = 0; i < cp.n; i++)
		check_chunk(cp.attr[i].value, pl);
	static uint8_t buf[65536 + 64];
	struct kt_ike_writer w;
	struct kt_ike_msg m;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	const struct kt_ike_payload *b = reencode(&w, buf, sizeof(buf), &m, kt_ike_write_cp(&w, &cp));
	CHECK(kt_ike_parse_cp(b, &back) == 0 && back.n == cp.n && back.type == cp.type);
	for (size_t i = 0; i < cp.n; i++)
		CHECK(back.attr[i].type == cp.attr[i].type && back.attr[i].value.len == cp.attr[i].value.len);
}

static void check_simple(const struct kt_ike_payload *pl)
{
	struct kt_ike_ke ke;
	struct kt_chunk c;
	struct kt_ike_auth auth;
	struct kt_ike_cert cert;
	struct kt_ike_eap eap;
	if (kt_ike_parse_ke(pl, &ke) == 0) {
		CHECK(ke.data.len >= 1);
		check_chunk(ke.data, pl);
	}
	if (kt_ike_parse_nonce(pl, &c) == 0)
		CHECK(c.len >= KT_NONCE_MIN_LEN && c.len <= KT_NONCE_MAX_LEN);
	if (kt_ike_parse_vid(pl, &c) == 0)
		check_chunk(c, pl);
	if (kt_ike_parse_auth(pl, &auth) == 0) {
		CHECK(auth.data.len >= 1);
		check_chunk(auth.data, pl);
	}
	if (kt_ike_parse_cert(pl, &cert) == 0)
		check_chunk(cert.data, pl);
	if (kt_ike_parse_eap(pl, &eap) == 0) {
		CHECK(eap.msg.len == pl->len && eap.msg.len >= 4);
		CHECK((eap.msg.p[2] << 8 | eap.msg.p[3]) == (int)pl->len);
	}
}

static void check_payload(const struct kt_ike_payload *pl)
{
	check_sa(pl);
	check_ts(pl);
	check_id(pl);
	check_notify(pl);
	check_delete(pl);
	check_cp(pl);
	check_simple(pl);
}

/* Each payload under its own type, then under every parser's type. */
static void check_all_parsers(const struct kt_ike_payload *pl)
{
	check_payload(pl);
	for (size_t i = 0; i < sizeof(parser_types); i++) {
		struct kt_ike_payload as = *pl;
		as.type = parser_types[i];
		check_payload(&as);
	}
}

static void check_table(const struct kt_ike_msg *m, const uint8_t *buf, size_t len, size_t from)
{
	CHECK(m->n_pl <= KT_IKE_MAX_PAYLOADS);
	for (size_t i = from; i < m->n_pl; i++) {
		const struct kt_ike_payload *pl = &m->pl[i];
		CHECK(kt_ike_payload_name(pl->type) != NULL);
		CHECK(pl->body >= buf + 4 && pl->len <= len && (size_t)(pl->body - buf) <= len - pl->len);
		if (i > from)
			CHECK(pl->body >= m->pl[i - 1].body + m->pl[i - 1].len + 4);
		if (pl->type == KT_IKE_PL_SK || pl->type == KT_IKE_PL_SKF)
			CHECK(i + 1 == m->n_pl && pl->body + pl->len == buf + len && !pl->encrypted);
	}
}

static void try_inner(struct kt_ike_msg *m, size_t iv, size_t icv, size_t block)
{
	struct kt_ike_sk sk;
	if (kt_ike_sk_locate(m, iv, icv, block, &sk) != 0)
		return;
	CHECK(sk.iv_len == iv && sk.icv_len == icv && sk.ct_len >= 1 && sk.ct_len % block == 0);
	CHECK(sk.ct_off == sk.iv_off + iv && sk.icv_off == sk.ct_off + sk.ct_len);
	CHECK(sk.icv_off + icv == m->len);
	/* Pretend the ciphertext is the plaintext, as a peer's decryption could yield. */
	const uint8_t *plain = m->buf + sk.ct_off;
	int inner = kt_ike_sk_unpad(plain, sk.ct_len);
	if (inner < 0)
		return;
	CHECK((size_t)inner < sk.ct_len);
	size_t before = m->n_pl;
	if (kt_ike_decode_chain(sk.next, plain, (size_t)inner, m) != 0) {
		CHECK(m->n_pl == before);
		return;
	}
	check_table(m, plain, (size_t)inner, before);
	for (size_t i = before; i < m->n_pl; i++) {
		CHECK(m->pl[i].encrypted);
		check_all_parsers(&m->pl[i]);
	}
	m->n_pl = before;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kt_ike_msg m;
	int rc = kt_ike_decode(data, size, &m);
	if (rc == KT_ERR_IKE_CRITICAL)
		CHECK(kt_ike_payload_name(m.err_type) == NULL);
	if (rc != 0)
		return 0;
	CHECK(m.hdr.length == size && m.hdr.major == KT_IKE_MAJOR_VERSION);
	CHECK((m.hdr.flags & ~KT_IKE_FLAGS_KNOWN) == 0);
	check_table(&m, data, size, 0);
	for (size_t i = 0; i < m.n_pl; i++)
		check_all_parsers(&m.pl[i]);
	try_inner(&m, 16, 16, 16); /* AES-CBC + HMAC-SHA2-256-128 */
	try_inner(&m, 8, 16, 1);   /* AES-GCM-16 */
	return 0;
}
