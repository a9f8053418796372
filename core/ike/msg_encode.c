/* IKEv2 encoding: a writer over a caller buffer that chains next-payload
 * fields and sets lengths itself, the header, every payload but SA
 * (payload_sa.c), and the SK payload's framing (padding, Pad Length, room
 * for IV and ICV) around plaintext payloads for the crypto layer to seal. */
#include <limits.h>
#include <string.h>

#include "core/err.h"
#include "core/ike/codec.h"

#define VERSION_2_0 (KT_IKE_MAJOR_VERSION << 4 | KT_IKE_MINOR_VERSION)
#define PAYLOAD_MAX 0xffff   /* 16-bit Payload Length (RFC 7296 §3.2) */
#define SK_PAD_MAX 255       /* one-byte Pad Length (RFC 7296 §3.14) */
#define TS_MAX_COUNT 255     /* one-byte Number of TSs (RFC 7296 §3.13) */
#define DELETE_MAX_COUNT 0xffff

/* ---- Primitives (codec.h) ---- */

void kt_ike_writer_init(struct kt_ike_writer *w, uint8_t *buf, size_t cap)
{
	*w = (struct kt_ike_writer){ .buf = buf, .cap = buf ? cap : 0 };
}

int kt_ike_w_fail(struct kt_ike_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

uint8_t *kt_ike_w_put(struct kt_ike_writer *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n == 0 || n > w->cap - w->len) {
		kt_ike_w_fail(w, n == 0 ? KT_ERR_INVAL : KT_ERR_NOSPACE);
		return NULL;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

int kt_ike_w_bytes(struct kt_ike_writer *w, const uint8_t *p, size_t n)
{
	if (w->err || n == 0)
		return w->err;
	uint8_t *d = kt_ike_w_put(w, n);
	if (!d)
		return w->err;
	if (p)
		memcpy(d, p, n);
	else
		memset(d, 0, n);
	return 0;
}

int kt_ike_w_begin(struct kt_ike_writer *w, uint8_t type, bool critical, size_t *start)
{
	*start = w->len;
	if (w->err)
		return w->err;
	if (w->sk_done)
		return kt_ike_w_fail(w, KT_ERR_INVAL); /* SK must stay last */
	uint8_t *h = kt_ike_w_put(w, KT_IKE_PAYLOAD_HDR_LEN);
	if (!h)
		return w->err;
	h[0] = KT_IKE_PL_NONE;
	h[1] = critical ? IKE_PL_CRITICAL : 0;
	wr16(h + 2, 0);
	if (w->np)
		*w->np = type;
	else
		w->first = type;
	w->np = h;
	return 0;
}

int kt_ike_w_end(struct kt_ike_writer *w, size_t start)
{
	if (w->err)
		return w->err;
	if (w->len - start > PAYLOAD_MAX)
		return kt_ike_w_fail(w, KT_ERR_INVAL);
	wr16(w->buf + start + 2, (uint16_t)(w->len - start));
	return 0;
}

/* A payload made of a fixed part and a variable tail. */
static int write_simple(struct kt_ike_writer *w, uint8_t type, const uint8_t *fixed,
			size_t fixed_len, const uint8_t *data, size_t len)
{
	size_t start;
	if (kt_ike_w_begin(w, type, false, &start))
		return w->err;
	kt_ike_w_bytes(w, fixed, fixed_len);
	if (len > 0 && !data)
		return kt_ike_w_fail(w, KT_ERR_INVAL);
	kt_ike_w_bytes(w, data, len);
	return kt_ike_w_end(w, start);
}

static int refuse(struct kt_ike_writer *w) { return kt_ike_w_fail(w, KT_ERR_INVAL); }

/* ---- Header ---- */

int kt_ike_write_hdr(struct kt_ike_writer *w, const struct kt_ike_hdr *hdr)
{
	if (w->err)
		return w->err;
	if (w->len != 0 || w->has_hdr)
		return refuse(w);
	uint8_t *p = kt_ike_w_put(w, KT_IKE_HDR_LEN);
	if (!p)
		return w->err;
	wrn(p, hdr->spi_i, 8);
	wrn(p + 8, hdr->spi_r, 8);
	p[IKE_HDR_NEXT_OFF] = KT_IKE_PL_NONE;
	p[IKE_HDR_VERSION_OFF] = VERSION_2_0;
	p[IKE_HDR_EXCHANGE_OFF] = hdr->exchange;
	p[IKE_HDR_FLAGS_OFF] = hdr->flags & KT_IKE_FLAGS_KNOWN;
	wrn(p + IKE_HDR_MSGID_OFF, hdr->msg_id, 4);
	wrn(p + IKE_HDR_LENGTH_OFF, 0, 4);
	w->np = p + IKE_HDR_NEXT_OFF;
	w->has_hdr = true;
	return 0;
}

int kt_ike_writer_finish(struct kt_ike_writer *w)
{
	if (w->err)
		return w->err;
	if (w->sk_open || w->len > INT_MAX || w->len > UINT32_MAX)
		return refuse(w);
	if (w->has_hdr)
		wrn(w->buf + IKE_HDR_LENGTH_OFF, w->len, 4);
	return (int)w->len;
}

/* ---- Payloads ---- */

int kt_ike_write_payload(struct kt_ike_writer *w, uint8_t type, bool critical,
			 const uint8_t *body, size_t len)
{
	size_t start;
	if (kt_ike_w_begin(w, type, critical, &start))
		return w->err;
	if (len > 0 && !body)
		return refuse(w);
	kt_ike_w_bytes(w, body, len);
	return kt_ike_w_end(w, start);
}

int kt_ike_write_ke(struct kt_ike_writer *w, uint16_t group, const uint8_t *data, size_t len)
{
	if (len == 0)
		return refuse(w);
	uint8_t fixed[4] = { (uint8_t)(group >> 8), (uint8_t)group, 0, 0 };
	return write_simple(w, KT_IKE_PL_KE, fixed, sizeof(fixed), data, len);
}

int kt_ike_write_nonce(struct kt_ike_writer *w, const uint8_t *nonce, size_t len)
{
	if (len < KT_NONCE_MIN_LEN || len > KT_NONCE_MAX_LEN)
		return refuse(w);
	return write_simple(w, KT_IKE_PL_NONCE, NULL, 0, nonce, len);
}

int kt_ike_write_id(struct kt_ike_writer *w, uint8_t type, const struct kt_ike_id *id)
{
	if ((type != KT_IKE_PL_IDI && type != KT_IKE_PL_IDR) || kt_ike_check_id(id->type, id->data.len))
		return refuse(w);
	uint8_t fixed[4] = { id->type, 0, 0, 0 };
	return write_simple(w, type, fixed, sizeof(fixed), id->data.p, id->data.len);
}

int kt_ike_write_auth(struct kt_ike_writer *w, uint8_t method, const uint8_t *data, size_t len)
{
	if (len == 0)
		return refuse(w);
	uint8_t fixed[4] = { method, 0, 0, 0 };
	return write_simple(w, KT_IKE_PL_AUTH, fixed, sizeof(fixed), data, len);
}

int kt_ike_write_cert(struct kt_ike_writer *w, uint8_t type, uint8_t encoding,
		      const uint8_t *data, size_t len)
{
	if (type != KT_IKE_PL_CERT && type != KT_IKE_PL_CERTREQ)
		return refuse(w);
	if (type == KT_IKE_PL_CERT && len == 0)
		return refuse(w);
	return write_simple(w, type, &encoding, 1, data, len);
}

int kt_ike_write_notify(struct kt_ike_writer *w, const struct kt_ike_notify *n)
{
	/* RFC 7296 §3.10: without an SPI the protocol is sent as zero. */
	if (kt_ike_check_notify_spi(n->proto, n->spi_size) || (n->spi_size == 0 && n->proto != 0))
		return refuse(w);
	uint8_t fixed[4 + KT_IKE_SPI_SIZE_IKE] = { n->proto, n->spi_size,
						   (uint8_t)(n->type >> 8), (uint8_t)n->type };
	wrn(fixed + 4, n->spi, n->spi_size);
	return write_simple(w, KT_IKE_PL_NOTIFY, fixed, 4 + n->spi_size, n->data.p, n->data.len);
}

int kt_ike_write_delete(struct kt_ike_writer *w, uint8_t proto, const uint32_t *spis, size_t n)
{
	bool ike = proto == KT_IKE_PROTO_IKE;
	size_t spi_size = ike ? 0 : KT_IKE_SPI_SIZE_CHILD;
	if (kt_ike_check_delete(proto, spi_size, n) || (!ike && (n == 0 || !spis)) || n > DELETE_MAX_COUNT)
		return refuse(w);
	uint8_t fixed[4] = { proto, (uint8_t)spi_size, (uint8_t)(n >> 8), (uint8_t)n };
	size_t start;
	if (kt_ike_w_begin(w, KT_IKE_PL_DELETE, false, &start))
		return w->err;
	kt_ike_w_bytes(w, fixed, sizeof(fixed));
	for (size_t i = 0; i < n && !w->err; i++) {
		uint8_t spi[KT_IKE_SPI_SIZE_CHILD];
		wrn(spi, spis[i], sizeof(spi));
		kt_ike_w_bytes(w, spi, sizeof(spi));
	}
	return kt_ike_w_end(w, start);
}

int kt_ike_write_vid(struct kt_ike_writer *w, const uint8_t *data, size_t len)
{
	return kt_ike_write_payload(w, KT_IKE_PL_VID, false, data, len);
}

static bool ts_writable(const struct kt_ts *ts)
{
	uint8_t v = ts->start.version;
	return (v == 4 || v == 6) && ts->end.version == v && kt_ike_check_ts(ts) == 0;
}

static int write_one_ts(struct kt_ike_writer *w, const struct kt_ts *ts)
{
	size_t alen = ts->start.version == 4 ? 4 : 16;
	uint8_t h[8];
	h[0] = alen == 4 ? KT_IKE_TS_IPV4_ADDR_RANGE : KT_IKE_TS_IPV6_ADDR_RANGE;
	h[1] = ts->proto;
	wr16(h + 2, alen == 4 ? KT_IKE_TS_IPV4_LEN : KT_IKE_TS_IPV6_LEN);
	wr16(h + 4, ts->port_start);
	wr16(h + 6, ts->port_end);
	kt_ike_w_bytes(w, h, sizeof(h));
	kt_ike_w_bytes(w, ts->start.bytes, alen);
	return kt_ike_w_bytes(w, ts->end.bytes, alen);
}

int kt_ike_write_ts(struct kt_ike_writer *w, uint8_t type, const struct kt_ts *ts, size_t n)
{
	if ((type != KT_IKE_PL_TSI && type != KT_IKE_PL_TSR) || n == 0 || n > TS_MAX_COUNT)
		return refuse(w);
	for (size_t i = 0; i < n; i++)
		if (!ts_writable(&ts[i]))
			return refuse(w);
	uint8_t fixed[4] = { (uint8_t)n, 0, 0, 0 };
	size_t start;
	if (kt_ike_w_begin(w, type, false, &start))
		return w->err;
	kt_ike_w_bytes(w, fixed, sizeof(fixed));
	for (size_t i = 0; i < n && !w->err; i++)
		write_one_ts(w, &ts[i]);
	return kt_ike_w_end(w, start);
}

int kt_ike_write_cp(struct kt_ike_writer *w, const struct kt_ike_cp *cp)
{
	if (cp->type < KT_IKE_CFG_REQUEST || cp->type > KT_IKE_CFG_ACK || cp->n > KT_IKE_MAX_CP_ATTRS)
		return refuse(w);
	for (size_t i = 0; i < cp->n; i++) {
		const struct kt_ike_cp_attr *a = &cp->attr[i];
		if (a->type > 0x7fff || a->value.len > PAYLOAD_MAX || kt_ike_check_cp_attr(a->type, a->value.len))
			return refuse(w);
	}
	uint8_t fixed[4] = { cp->type, 0, 0, 0 };
	size_t start;
	if (kt_ike_w_begin(w, KT_IKE_PL_CP, false, &start))
		return w->err;
	kt_ike_w_bytes(w, fixed, sizeof(fixed));
	for (size_t i = 0; i < cp->n && !w->err; i++) {
		const struct kt_ike_cp_attr *a = &cp->attr[i];
		uint8_t h[4];
		wr16(h, a->type);
		wr16(h + 2, (uint16_t)a->value.len);
		kt_ike_w_bytes(w, h, sizeof(h));
		if (a->value.len > 0 && !a->value.p)
			return refuse(w);
		kt_ike_w_bytes(w, a->value.p, a->value.len);
	}
	return kt_ike_w_end(w, start);
}

int kt_ike_write_eap(struct kt_ike_writer *w, const uint8_t *msg, size_t len)
{
	if (!msg || kt_ike_check_eap(msg, len))
		return refuse(w);
	return kt_ike_write_payload(w, KT_IKE_PL_EAP, false, msg, len);
}

/* ---- SK ---- */

int kt_ike_write_sk_begin(struct kt_ike_writer *w, size_t iv_len)
{
	if (w->err)
		return w->err;
	if (w->sk_open)
		return refuse(w);
	size_t start;
	if (kt_ike_w_begin(w, KT_IKE_PL_SK, false, &start))
		return w->err;
	if (kt_ike_w_bytes(w, NULL, iv_len))
		return w->err;
	w->sk_off = start;
	w->sk_iv_len = iv_len;
	w->sk_open = true;
	return 0;
}

int kt_ike_write_sk_end(struct kt_ike_writer *w, size_t block_size, size_t icv_len,
			struct kt_ike_sk *sk)
{
	if (w->err)
		return w->err;
	if (!w->sk_open || block_size == 0 || block_size > SK_PAD_MAX + 1)
		return refuse(w);
	size_t ct_off = w->sk_off + KT_IKE_PAYLOAD_HDR_LEN + w->sk_iv_len;
	size_t inner = w->len - ct_off;
	size_t pad = (block_size - (inner + 1) % block_size) % block_size;
	if (kt_ike_w_bytes(w, NULL, pad + 1))
		return w->err;
	w->buf[w->len - 1] = (uint8_t)pad;
	if (kt_ike_w_bytes(w, NULL, icv_len) || kt_ike_w_end(w, w->sk_off))
		return w->err;
	*sk = (struct kt_ike_sk){
		.next = w->buf[w->sk_off],
		.iv_off = w->sk_off + KT_IKE_PAYLOAD_HDR_LEN,
		.iv_len = w->sk_iv_len,
		.ct_off = ct_off,
		.ct_len = inner + pad + 1,
		.icv_off = ct_off + inner + pad + 1,
		.icv_len = icv_len,
	};
	w->sk_open = false;
	w->sk_done = true;
	return 0;
}
