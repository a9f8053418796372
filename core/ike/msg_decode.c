/* IKEv2 decoding, step one (RFC 7296 §3.1-3.2, §3.14; RFC 7383 §2.5): the
 * fixed header, the walk over generic payload headers (outer chain and,
 * after decryption, the inner one) and the spans of the SK/SKF payload.
 * Payload bodies are interpreted in payload.c and payload_sa.c. */
#include <limits.h>

#include "core/err.h"
#include "core/ike/codec.h"

int kt_ike_decode_hdr(const uint8_t *buf, size_t len, struct kt_ike_hdr *hdr)
{
	if (len < KT_IKE_HDR_LEN)
		return KT_ERR_MALFORMED;
	*hdr = (struct kt_ike_hdr){
		.spi_i = rdn(buf, 8),
		.spi_r = rdn(buf + 8, 8),
		.next = buf[IKE_HDR_NEXT_OFF],
		.major = buf[IKE_HDR_VERSION_OFF] >> 4,
		.minor = buf[IKE_HDR_VERSION_OFF] & 0x0f,
		.exchange = buf[IKE_HDR_EXCHANGE_OFF],
		.flags = buf[IKE_HDR_FLAGS_OFF] & KT_IKE_FLAGS_KNOWN,
		.msg_id = rd32(buf + IKE_HDR_MSGID_OFF),
		.length = rd32(buf + IKE_HDR_LENGTH_OFF),
	};
	/* Version first: a later major version may lay out the rest differently. */
	if (hdr->major > KT_IKE_MAJOR_VERSION)
		return KT_ERR_IKE_MAJOR_VERSION;
	if (hdr->major < KT_IKE_MAJOR_VERSION)
		return KT_ERR_UNSUPPORTED;
	if (hdr->length != len)
		return KT_ERR_MALFORMED;
	return 0;
}

static bool known_type(uint8_t type)
{
	return (type >= KT_IKE_PL_SA && type <= KT_IKE_PL_EAP) || type == KT_IKE_PL_SKF;
}

static bool is_sk(uint8_t type) { return type == KT_IKE_PL_SK || type == KT_IKE_PL_SKF; }

static int record(struct kt_ike_msg *m, uint8_t type, const uint8_t *ph, bool inner)
{
	bool critical = ph[1] & IKE_PL_CRITICAL;
	if (!known_type(type)) {
		/* RFC 7296 §2.5: skip unless the sender marked it critical. */
		if (critical)
			return KT_ERR_IKE_CRITICAL;
		m->n_skipped++;
		return 0;
	}
	if (m->n_pl == KT_IKE_MAX_PAYLOADS)
		return KT_ERR_IKE_LIMIT;
	m->pl[m->n_pl++] = (struct kt_ike_payload){
		.type = type,
		.next = ph[0],
		.critical = critical,
		.encrypted = inner,
		.body = ph + KT_IKE_PAYLOAD_HDR_LEN,
		.len = rd16(ph + 2) - KT_IKE_PAYLOAD_HDR_LEN,
	};
	return 0;
}

/* Walk the chain starting with `type` that must fill p[0..len) exactly.
 * SK/SKF ends the chain: its next-payload field names the inner chain. */
static int walk(struct kt_ike_msg *m, uint8_t type, const uint8_t *p, size_t len, bool inner)
{
	size_t off = 0;
	while (type != KT_IKE_PL_NONE) {
		m->err_type = type;
		if (len - off < KT_IKE_PAYLOAD_HDR_LEN)
			return KT_ERR_MALFORMED;
		size_t plen = rd16(p + off + 2);
		if (plen < KT_IKE_PAYLOAD_HDR_LEN || plen > len - off)
			return KT_ERR_MALFORMED;
		if (is_sk(type) && inner)
			return KT_ERR_IKE_SYNTAX;
		int rc = record(m, type, p + off, inner);
		if (rc)
			return rc;
		uint8_t next = p[off];
		off += plen;
		if (is_sk(type))
			/* RFC 7296 §3.14, RFC 7383 §2.5: it must be the last payload. */
			return off == len ? 0 : KT_ERR_IKE_SYNTAX;
		type = next;
	}
	m->err_type = KT_IKE_PL_NONE;
	return off == len ? 0 : KT_ERR_MALFORMED;
}

int kt_ike_decode(const uint8_t *buf, size_t len, struct kt_ike_msg *msg)
{
	msg->buf = buf;
	msg->len = len;
	msg->n_pl = 0;
	msg->n_skipped = 0;
	msg->err_type = KT_IKE_PL_NONE;
	int rc = kt_ike_decode_hdr(buf, len, &msg->hdr);
	if (rc)
		return rc;
	rc = walk(msg, msg->hdr.next, buf + KT_IKE_HDR_LEN, len - KT_IKE_HDR_LEN, false);
	if (rc == 0)
		msg->err_type = KT_IKE_PL_NONE;
	return rc;
}

int kt_ike_decode_chain(uint8_t first, const uint8_t *buf, size_t len, struct kt_ike_msg *msg)
{
	size_t n_pl = msg->n_pl, n_skipped = msg->n_skipped;
	if (len > 0 && buf == NULL)
		return KT_ERR_INVAL;
	int rc = walk(msg, first, buf, len, true);
	if (rc) {
		msg->n_pl = n_pl;
		msg->n_skipped = n_skipped;
		return rc;
	}
	msg->err_type = KT_IKE_PL_NONE;
	return 0;
}

const struct kt_ike_payload *kt_ike_find(const struct kt_ike_msg *msg, uint8_t type,
					 const struct kt_ike_payload *prev)
{
	size_t i = prev ? (size_t)(prev - msg->pl) + 1 : 0;
	for (; i < msg->n_pl; i++)
		if (msg->pl[i].type == type)
			return &msg->pl[i];
	return NULL;
}

static const struct kt_ike_payload *outer_sk(const struct kt_ike_msg *msg)
{
	for (size_t i = 0; i < msg->n_pl; i++)
		if (is_sk(msg->pl[i].type) && !msg->pl[i].encrypted)
			return &msg->pl[i];
	return NULL;
}

/* RFC 7383 §2.5: numbers run 1..total; only fragment 1 names the first
 * inner payload. */
static int skf_numbers(const struct kt_ike_payload *pl, struct kt_ike_sk *sk)
{
	if (pl->len < KT_IKE_SKF_HDR_LEN)
		return KT_ERR_MALFORMED;
	sk->frag_num = rd16(pl->body);
	sk->frag_total = rd16(pl->body + 2);
	if (sk->frag_num == 0 || sk->frag_num > sk->frag_total)
		return KT_ERR_IKE_SYNTAX;
	if (sk->frag_num != 1 && sk->next != KT_IKE_PL_NONE)
		return KT_ERR_IKE_SYNTAX;
	return 0;
}

int kt_ike_sk_locate(const struct kt_ike_msg *msg, size_t iv_len, size_t icv_len,
		     size_t block_size, struct kt_ike_sk *sk)
{
	if (block_size == 0)
		return KT_ERR_INVAL;
	const struct kt_ike_payload *pl = outer_sk(msg);
	if (!pl)
		return KT_ERR_NOT_FOUND;
	struct kt_ike_sk s = { .fragment = pl->type == KT_IKE_PL_SKF, .next = pl->next };
	size_t off = (size_t)(pl->body - msg->buf), len = pl->len;
	if (s.fragment) {
		int rc = skf_numbers(pl, &s);
		if (rc)
			return rc;
		off += KT_IKE_SKF_HDR_LEN;
		len -= KT_IKE_SKF_HDR_LEN;
	}
	/* At least the Pad Length byte must be encrypted (RFC 7296 §3.14). */
	if (len < iv_len || len - iv_len < icv_len || len - iv_len - icv_len < 1)
		return KT_ERR_MALFORMED;
	s.iv_off = off;
	s.iv_len = iv_len;
	s.ct_off = off + iv_len;
	s.ct_len = len - iv_len - icv_len;
	s.icv_off = s.ct_off + s.ct_len;
	s.icv_len = icv_len;
	if (s.ct_len % block_size)
		return KT_ERR_MALFORMED;
	*sk = s;
	return 0;
}

int kt_ike_sk_unpad(const uint8_t *plain, size_t len)
{
	if (len == 0 || len > INT_MAX)
		return KT_ERR_MALFORMED;
	size_t pad = plain[len - 1];
	if (pad + 1 > len)
		return KT_ERR_MALFORMED;
	return (int)(len - 1 - pad);
}
