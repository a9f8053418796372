/* IKEv2 decoding, step two, for every payload but SA (payload_sa.c): each
 * parser validates the body's lengths before reading a field, then the
 * values RFC 7296 §3.4-3.16 constrain. The value rules are shared with the
 * writer (codec.h) so that what we send always parses. */
#include <string.h>

#include "core/err.h"
#include "core/ike/codec.h"

/* Fixed parts of the bodies (after the generic header), RFC 7296 §3.x. */
#define KE_FIXED 4       /* §3.4: DH group, reserved */
#define ID_FIXED 4       /* §3.5: ID type, reserved */
#define CERT_FIXED 1     /* §3.6/3.7: encoding */
#define AUTH_FIXED 4     /* §3.8: method, reserved */
#define NOTIFY_FIXED 4   /* §3.10: protocol, SPI size, type */
#define DELETE_FIXED 4   /* §3.11: protocol, SPI size, number of SPIs */
#define TS_FIXED 4       /* §3.13: number of TSs, reserved */
#define TS_HDR 4         /* §3.13.1: type, IP protocol, selector length */
#define TS_ADDR_OFF 8    /* §3.13.1: the above, start and end port */
#define CP_FIXED 4       /* §3.15: CFG type, reserved */
#define CP_ATTR_HDR 4    /* §3.15.1: type, length */
#define CP_ATTR_TYPE_MASK 0x7fff /* the top bit is reserved, ignored on receipt */
#define EAP_HDR 4        /* RFC 3748 §4: code, identifier, length */
#define EAP_TYPED_MIN 5  /* Request/Response carry a Type */

static bool has_type(const struct kt_ike_payload *pl, uint8_t a, uint8_t b)
{
	return pl && (pl->type == a || pl->type == b);
}

static struct kt_chunk tail(const struct kt_ike_payload *pl, size_t off)
{
	return (struct kt_chunk){ pl->body + off, pl->len - off };
}

int kt_ike_parse_ke(const struct kt_ike_payload *pl, struct kt_ike_ke *out)
{
	if (!has_type(pl, KT_IKE_PL_KE, KT_IKE_PL_KE))
		return KT_ERR_INVAL;
	if (pl->len < KE_FIXED)
		return KT_ERR_MALFORMED;
	if (pl->len == KE_FIXED)
		return KT_ERR_IKE_SYNTAX; /* no group has an empty public value */
	out->group = rd16(pl->body);
	out->data = tail(pl, KE_FIXED);
	return 0;
}

int kt_ike_parse_nonce(const struct kt_ike_payload *pl, struct kt_chunk *out)
{
	if (!has_type(pl, KT_IKE_PL_NONCE, KT_IKE_PL_NONCE))
		return KT_ERR_INVAL;
	if (pl->len < KT_NONCE_MIN_LEN || pl->len > KT_NONCE_MAX_LEN)
		return KT_ERR_IKE_SYNTAX;
	*out = tail(pl, 0);
	return 0;
}

int kt_ike_check_id(uint8_t type, size_t len)
{
	switch (type) {
	case KT_IKE_ID_IPV4_ADDR:
		return len == 4 ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_ID_IPV6_ADDR:
		return len == 16 ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_ID_FQDN:
	case KT_IKE_ID_RFC822_ADDR:
	case KT_IKE_ID_DER_ASN1_DN:
	case KT_IKE_ID_DER_ASN1_GN:
	case KT_IKE_ID_KEY_ID:
		return len > 0 ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_ID_NULL:
		return len == 0 ? 0 : KT_ERR_IKE_SYNTAX; /* RFC 7619 §3 */
	}
	return 0;
}

int kt_ike_parse_id(const struct kt_ike_payload *pl, struct kt_ike_id *out)
{
	if (!has_type(pl, KT_IKE_PL_IDI, KT_IKE_PL_IDR))
		return KT_ERR_INVAL;
	if (pl->len < ID_FIXED)
		return KT_ERR_MALFORMED;
	struct kt_ike_id id = { .type = pl->body[0], .data = tail(pl, ID_FIXED) };
	int rc = kt_ike_check_id(id.type, id.data.len);
	if (rc)
		return rc;
	if (id.type == KT_IKE_ID_IPV4_ADDR || id.type == KT_IKE_ID_IPV6_ADDR) {
		id.addr.version = id.type == KT_IKE_ID_IPV4_ADDR ? 4 : 6;
		memcpy(id.addr.bytes, id.data.p, id.data.len);
	}
	*out = id;
	return 0;
}

int kt_ike_parse_auth(const struct kt_ike_payload *pl, struct kt_ike_auth *out)
{
	if (!has_type(pl, KT_IKE_PL_AUTH, KT_IKE_PL_AUTH))
		return KT_ERR_INVAL;
	if (pl->len < AUTH_FIXED)
		return KT_ERR_MALFORMED;
	if (pl->len == AUTH_FIXED)
		return KT_ERR_IKE_SYNTAX;
	out->method = pl->body[0];
	out->data = tail(pl, AUTH_FIXED);
	return 0;
}

int kt_ike_parse_cert(const struct kt_ike_payload *pl, struct kt_ike_cert *out)
{
	if (!has_type(pl, KT_IKE_PL_CERT, KT_IKE_PL_CERTREQ))
		return KT_ERR_INVAL;
	if (pl->len < CERT_FIXED)
		return KT_ERR_MALFORMED;
	if (pl->type == KT_IKE_PL_CERT && pl->len == CERT_FIXED)
		return KT_ERR_IKE_SYNTAX;
	out->encoding = pl->body[0];
	out->data = tail(pl, CERT_FIXED);
	return 0;
}

int kt_ike_check_notify_spi(uint8_t proto, size_t spi_size)
{
	if (spi_size == 0)
		return 0;
	if (proto == KT_IKE_PROTO_IKE && spi_size == KT_IKE_SPI_SIZE_IKE)
		return 0;
	if ((proto == KT_IKE_PROTO_AH || proto == KT_IKE_PROTO_ESP) && spi_size == KT_IKE_SPI_SIZE_CHILD)
		return 0;
	return KT_ERR_IKE_SYNTAX;
}

int kt_ike_parse_notify(const struct kt_ike_payload *pl, struct kt_ike_notify *out)
{
	if (!has_type(pl, KT_IKE_PL_NOTIFY, KT_IKE_PL_NOTIFY))
		return KT_ERR_INVAL;
	if (pl->len < NOTIFY_FIXED)
		return KT_ERR_MALFORMED;
	struct kt_ike_notify n = {
		.proto = pl->body[0],
		.spi_size = pl->body[1],
		.type = rd16(pl->body + 2),
	};
	if (n.spi_size > pl->len - NOTIFY_FIXED)
		return KT_ERR_MALFORMED;
	int rc = kt_ike_check_notify_spi(n.proto, n.spi_size);
	if (rc)
		return rc;
	n.spi = rdn(pl->body + NOTIFY_FIXED, n.spi_size);
	n.data = tail(pl, NOTIFY_FIXED + n.spi_size);
	*out = n;
	return 0;
}

/* RFC 7296 §3.11: the IKE SA is deleted with no SPI at all. */
int kt_ike_check_delete(uint8_t proto, size_t spi_size, size_t n)
{
	if (proto == KT_IKE_PROTO_IKE)
		return spi_size == 0 && n == 0 ? 0 : KT_ERR_IKE_SYNTAX;
	if (proto == KT_IKE_PROTO_AH || proto == KT_IKE_PROTO_ESP)
		return spi_size == KT_IKE_SPI_SIZE_CHILD ? 0 : KT_ERR_IKE_SYNTAX;
	return KT_ERR_IKE_SYNTAX;
}

int kt_ike_parse_delete(const struct kt_ike_payload *pl, struct kt_ike_delete *out)
{
	if (!has_type(pl, KT_IKE_PL_DELETE, KT_IKE_PL_DELETE))
		return KT_ERR_INVAL;
	if (pl->len < DELETE_FIXED)
		return KT_ERR_MALFORMED;
	struct kt_ike_delete d = {
		.proto = pl->body[0],
		.spi_size = pl->body[1],
		.n = rd16(pl->body + 2),
		.spis = pl->body + DELETE_FIXED,
	};
	if ((size_t)d.n * d.spi_size != pl->len - DELETE_FIXED)
		return KT_ERR_MALFORMED;
	int rc = kt_ike_check_delete(d.proto, d.spi_size, d.n);
	if (rc)
		return rc;
	*out = d;
	return 0;
}

uint32_t kt_ike_delete_spi(const struct kt_ike_delete *d, size_t i)
{
	return (uint32_t)rdn(d->spis + i * KT_IKE_SPI_SIZE_CHILD, KT_IKE_SPI_SIZE_CHILD);
}

int kt_ike_parse_vid(const struct kt_ike_payload *pl, struct kt_chunk *out)
{
	if (!has_type(pl, KT_IKE_PL_VID, KT_IKE_PL_VID))
		return KT_ERR_INVAL;
	*out = tail(pl, 0);
	return 0;
}

int kt_ike_check_ts(const struct kt_ts *ts)
{
	if (kt_addr_cmp(&ts->start, &ts->end) > 0)
		return KT_ERR_IKE_SYNTAX;
	bool opaque = ts->port_start == KT_IKE_TS_OPAQUE_START && ts->port_end == KT_IKE_TS_OPAQUE_END;
	if (ts->port_start > ts->port_end && !opaque)
		return KT_ERR_IKE_SYNTAX;
	return 0;
}

/* One selector at p[0..avail); sets *used. */
static int parse_one_ts(const uint8_t *p, size_t avail, struct kt_ts *ts, size_t *used)
{
	if (avail < TS_HDR)
		return KT_ERR_MALFORMED;
	size_t sel_len = rd16(p + 2);
	if (sel_len < TS_HDR || sel_len > avail)
		return KT_ERR_MALFORMED;
	size_t alen;
	if (p[0] == KT_IKE_TS_IPV4_ADDR_RANGE)
		alen = 4;
	else if (p[0] == KT_IKE_TS_IPV6_ADDR_RANGE)
		alen = 16;
	else
		return KT_ERR_UNSUPPORTED;
	if (sel_len != TS_ADDR_OFF + 2 * alen)
		return KT_ERR_MALFORMED;
	memset(ts, 0, sizeof(*ts));
	ts->proto = p[1];
	ts->port_start = rd16(p + 4);
	ts->port_end = rd16(p + 6);
	ts->start.version = ts->end.version = alen == 4 ? 4 : 6;
	memcpy(ts->start.bytes, p + TS_ADDR_OFF, alen);
	memcpy(ts->end.bytes, p + TS_ADDR_OFF + alen, alen);
	*used = sel_len;
	return kt_ike_check_ts(ts);
}

int kt_ike_parse_ts(const struct kt_ike_payload *pl, struct kt_ike_ts_list *out)
{
	if (!has_type(pl, KT_IKE_PL_TSI, KT_IKE_PL_TSR))
		return KT_ERR_INVAL;
	if (pl->len < TS_FIXED)
		return KT_ERR_MALFORMED;
	size_t n = pl->body[0], off = TS_FIXED;
	if (n == 0)
		return KT_ERR_IKE_SYNTAX;
	if (n > KT_IKE_MAX_TS)
		return KT_ERR_IKE_LIMIT;
	for (size_t i = 0; i < n; i++) {
		size_t used;
		int rc = parse_one_ts(pl->body + off, pl->len - off, &out->ts[i], &used);
		if (rc)
			return rc;
		off += used;
	}
	if (off != pl->len)
		return KT_ERR_MALFORMED;
	out->n = (uint8_t)n;
	return 0;
}

/* RFC 7296 §3.15.1: requests send empty values; otherwise a fixed size. */
int kt_ike_check_cp_attr(uint16_t type, size_t len)
{
	if (len == 0)
		return 0;
	switch (type) {
	case KT_IKE_CFG_INTERNAL_IP4_ADDRESS:
	case KT_IKE_CFG_INTERNAL_IP4_NETMASK:
	case KT_IKE_CFG_INTERNAL_IP4_DNS:
	case KT_IKE_CFG_INTERNAL_IP4_NBNS:
	case KT_IKE_CFG_INTERNAL_IP4_DHCP:
		return len == 4 ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_CFG_INTERNAL_IP4_SUBNET:
		return len == 8 ? 0 : KT_ERR_IKE_SYNTAX;  /* address, netmask */
	case KT_IKE_CFG_INTERNAL_IP6_ADDRESS:
	case KT_IKE_CFG_INTERNAL_IP6_SUBNET:
		return len == 17 ? 0 : KT_ERR_IKE_SYNTAX; /* address, prefix length */
	case KT_IKE_CFG_INTERNAL_IP6_DNS:
	case KT_IKE_CFG_INTERNAL_IP6_DHCP:
		return len == 16 ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_CFG_SUPPORTED_ATTRIBUTES:
		return len % 2 == 0 ? 0 : KT_ERR_IKE_SYNTAX;
	}
	return 0;
}

static bool cp_type_known(uint8_t type)
{
	return type >= KT_IKE_CFG_REQUEST && type <= KT_IKE_CFG_ACK;
}

int kt_ike_parse_cp(const struct kt_ike_payload *pl, struct kt_ike_cp *out)
{
	if (!has_type(pl, KT_IKE_PL_CP, KT_IKE_PL_CP))
		return KT_ERR_INVAL;
	if (pl->len < CP_FIXED)
		return KT_ERR_MALFORMED;
	if (!cp_type_known(pl->body[0]))
		return KT_ERR_IKE_SYNTAX;
	out->type = pl->body[0];
	out->n = 0;
	for (size_t off = CP_FIXED; off < pl->len;) {
		const uint8_t *a = pl->body + off;
		if (pl->len - off < CP_ATTR_HDR)
			return KT_ERR_MALFORMED;
		size_t alen = rd16(a + 2);
		if (alen > pl->len - off - CP_ATTR_HDR)
			return KT_ERR_MALFORMED;
		uint16_t type = rd16(a) & CP_ATTR_TYPE_MASK;
		int rc = kt_ike_check_cp_attr(type, alen);
		if (rc)
			return rc;
		if (out->n == KT_IKE_MAX_CP_ATTRS)
			return KT_ERR_IKE_LIMIT;
		out->attr[out->n++] = (struct kt_ike_cp_attr){ type, { a + CP_ATTR_HDR, alen } };
		off += CP_ATTR_HDR + alen;
	}
	return 0;
}

int kt_ike_check_eap(const uint8_t *msg, size_t len)
{
	if (len < EAP_HDR || rd16(msg + 2) != len)
		return KT_ERR_MALFORMED;
	switch (msg[0]) {
	case KT_IKE_EAP_REQUEST:
	case KT_IKE_EAP_RESPONSE:
		return len >= EAP_TYPED_MIN ? 0 : KT_ERR_MALFORMED;
	case KT_IKE_EAP_SUCCESS:
	case KT_IKE_EAP_FAILURE:
		return len == EAP_HDR ? 0 : KT_ERR_MALFORMED;
	}
	return 0; /* other codes (RFC 6696) are the EAP layer's to judge */
}

int kt_ike_parse_eap(const struct kt_ike_payload *pl, struct kt_ike_eap *out)
{
	if (!has_type(pl, KT_IKE_PL_EAP, KT_IKE_PL_EAP))
		return KT_ERR_INVAL;
	int rc = kt_ike_check_eap(pl->body, pl->len);
	if (rc)
		return rc;
	const uint8_t *m = pl->body;
	bool typed = m[0] == KT_IKE_EAP_REQUEST || m[0] == KT_IKE_EAP_RESPONSE;
	*out = (struct kt_ike_eap){
		.code = m[0],
		.id = m[1],
		.type = typed ? m[EAP_HDR] : 0,
		.msg = tail(pl, 0),
	};
	return 0;
}
