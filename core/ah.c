/* AH (RFC 4302): seal and open in place, transport and tunnel mode, IPv4 and
 * IPv6. The ICV covers the IP header chain with its mutable fields zeroed in
 * a bounded stack copy: the packet itself is never modified for the ICV. */
#include <string.h>

#include <openssl/crypto.h>

#include "core/ah.h"
#include "core/bytes.h"
#include "core/err.h"
#include "core/ip.h"

/* RFC 4302 §2.2: Payload Length is the AH length in 32-bit words minus 2. */
#define AH_LEN_UNIT 4
#define AH_LEN_BIAS 2
/* RFC 4302 §2.6, §3.3.3.2.1: AH is a multiple of 32 bits after IPv4 and of
 * 64 bits after IPv6, with only the padding needed for that. */
#define AH_ALIGN_V4 4
#define AH_ALIGN_V6 8
#define AH_SEQ_HI_LEN 4 /* RFC 4302 §2.5.1, §3.3.3.3: ESN high bits */
/* Longest IP header chain (IPv4 header with options, IPv6 header with its
 * extension headers before AH) the ICV copy holds. Real chains are tens of
 * bytes; a longer one is refused as malformed rather than copied. */
#define AH_CHAIN_MAX 512
#define AH_DEFAULT_TTL 64
#define IP_LEN_MAX 65535

/* IPv4 header fields that change in transit, RFC 4302 §3.3.3.1.1.1. */
#define IPV4_TOS_OFF 1
#define IPV4_FRAG_OFF 6 /* flags and fragment offset: 2 bytes */
#define IPV4_TTL_OFF 8
#define IPV4_CSUM_OFF 10
/* RFC 791 §3.1 option types; immutable ones per RFC 4302 Appendix A1. */
#define IPOPT_EOL 0
#define IPOPT_NOP 1
#define IPOPT_SEC 130
#define IPOPT_ESEC 133
#define IPOPT_CIPSO 134  /* Commercial Security */
#define IPOPT_RA 148     /* Router Alert, RFC 2113 */
#define IPOPT_SDMDD 149  /* Sender Directed Multi-Destination Delivery */
#define IPOPT_HDR_LEN 2  /* type + length */

#define IPV6_HOPLIM_OFF 7
#define IPV6_EXT_UNIT 8       /* RFC 8200 §4.3: Hdr Ext Len unit */
#define IPV6_FRAG_HDR_LEN 8   /* RFC 8200 §4.5 */
#define IPV6_OPT_PAD1 0       /* RFC 8200 §4.2: a single byte, no length */
#define IPV6_OPT_MUTABLE 0x20 /* RFC 8200 §4.2: option data may change en route */

/* Where AH sits in a packet laid out for sealing or opening. */
struct ah_view {
	const uint8_t *pkt;
	uint8_t version;
	size_t hdr_len; /* IP header chain before AH */
	size_t ah_len;  /* AH header, ICV and ICV padding */
	size_t tot_len; /* whole packet */
};

static size_t ah_len_for(uint8_t version, size_t icv_len)
{
	size_t align = version == 6 ? AH_ALIGN_V6 : AH_ALIGN_V4;

	return (KT_AH_HDR_LEN + icv_len + align - 1) / align * align;
}

size_t kt_ah_overhead(const struct kt_sa *sa)
{
	/* Transport mode over a packet of unknown version: the IPv6 alignment
	 * is never shorter. */
	uint8_t v = sa->p.mode == KT_MODE_TUNNEL || sa->p.dst.version == 4 ? sa->p.dst.version : 6;
	size_t len = ah_len_for(v, sa->xf.icv_len);

	if (sa->p.mode == KT_MODE_TUNNEL)
		len += kt_ip_hdr_len(v);
	return len;
}

/* RFC 4302 Appendix A1. Everything else, Loose and Strict Source Route
 * included, is zeroed whole ("the entire option is viewed as a unit",
 * §3.3.3.1.1.1). We do not predict the final destination of a source-routed
 * packet (§3.3.3.1.1.1 calls it mutable but predictable): the destination
 * address is hashed as it stands, so such packets verify only if no router
 * rewrote it. Source routing is dropped by nearly every network anyway. */
static bool v4_opt_immutable(uint8_t type)
{
	switch (type) {
	case IPOPT_SEC:
	case IPOPT_ESEC:
	case IPOPT_CIPSO:
	case IPOPT_RA:
	case IPOPT_SDMDD:
		return true;
	}
	return false;
}

/* Walk the IPv4 options in h[20..ihl), validating every length; with
 * `zero`, blank the mutable ones. */
static int v4_opts(uint8_t *h, size_t ihl, bool zero)
{
	size_t i = KT_IPV4_HDR_MIN;

	while (i < ihl) {
		size_t olen;

		if (h[i] == IPOPT_EOL) /* the rest is padding, hashed as sent */
			break;
		if (h[i] == IPOPT_NOP) {
			i++;
			continue;
		}
		if (ihl - i < IPOPT_HDR_LEN)
			return KT_ERR_MALFORMED;
		olen = h[i + 1];
		if (olen < IPOPT_HDR_LEN || olen > ihl - i)
			return KT_ERR_MALFORMED;
		if (zero && !v4_opt_immutable(h[i]))
			memset(h + i, 0, olen);
		i += olen;
	}
	return 0;
}

/* Options of a hop-by-hop or destination options header in h[off..end):
 * RFC 4302 §3.3.3.1.2.2 zeroes the data of options marked as changing en
 * route; type and length stay in the ICV. */
static int v6_opts(uint8_t *h, size_t off, size_t end, bool zero)
{
	while (off < end) {
		size_t dlen;

		if (h[off] == IPV6_OPT_PAD1) {
			off++;
			continue;
		}
		if (end - off < 2)
			return KT_ERR_MALFORMED;
		dlen = h[off + 1];
		if (dlen > end - off - 2)
			return KT_ERR_MALFORMED;
		if (zero && (h[off] & IPV6_OPT_MUTABLE))
			memset(h + off + 2, 0, dlen);
		off += 2 + dlen;
	}
	return 0;
}

/* Walk the extension headers in h[40..hdr_len), validating their lengths
 * and options; *last gets the next header named by the last one. The
 * routing header is hashed as it stands: type 0, the one whose addresses
 * rotate on the way, is deprecated (RFC 5095), and predicting the final
 * destination of others is out of scope here. */
static int v6_exts(uint8_t *h, size_t hdr_len, bool zero, uint8_t *last)
{
	size_t off = KT_IPV6_HDR_LEN;
	uint8_t nh = h[6];

	while (off < hdr_len) {
		size_t elen;
		int rc = 0;

		if (hdr_len - off < 2)
			return KT_ERR_MALFORMED;
		elen = nh == KT_IPPROTO_FRAGMENT ? IPV6_FRAG_HDR_LEN
						 : ((size_t)h[off + 1] + 1) * IPV6_EXT_UNIT;
		if (elen > hdr_len - off)
			return KT_ERR_MALFORMED;
		if (nh == KT_IPPROTO_HOPOPTS || nh == KT_IPPROTO_DSTOPTS)
			rc = v6_opts(h, off + 2, off + elen, zero);
		else if (nh != KT_IPPROTO_ROUTING && nh != KT_IPPROTO_FRAGMENT)
			rc = KT_ERR_MALFORMED;
		if (rc)
			return rc;
		nh = h[off];
		off += elen;
	}
	*last = nh;
	return 0;
}

/* Can the chain be hashed? Checked on the real packet (nothing written)
 * before sealing changes it. */
static int chain_ok(uint8_t *p, uint8_t version, size_t hdr_len)
{
	uint8_t last;

	if (hdr_len > AH_CHAIN_MAX)
		return KT_ERR_MALFORMED;
	return version == 4 ? v4_opts(p, hdr_len, false) : v6_exts(p, hdr_len, false, &last);
}

/* Blank the mutable fields of the chain copy h, RFC 4302 §3.3.3.1.1
 * (IPv4: TOS, flags and fragment offset, TTL, checksum) and §3.3.3.1.2
 * (IPv6: traffic class, flow label, hop limit). */
static int zero_chain(uint8_t *h, uint8_t version, size_t hdr_len)
{
	uint8_t last;
	int rc;

	if (version == 4) {
		h[IPV4_TOS_OFF] = 0;
		h[IPV4_FRAG_OFF] = h[IPV4_FRAG_OFF + 1] = 0;
		h[IPV4_TTL_OFF] = 0;
		h[IPV4_CSUM_OFF] = h[IPV4_CSUM_OFF + 1] = 0;
		return v4_opts(h, hdr_len, true);
	}
	h[0] &= 0xf0;
	h[1] = h[2] = h[3] = 0;
	h[IPV6_HOPLIM_OFF] = 0;
	rc = v6_exts(h, hdr_len, true, &last);
	if (rc == 0 && last != KT_IPPROTO_AH)
		rc = KT_ERR_MALFORMED;
	return rc;
}

/* ICV input (RFC 4302 §3.3.3): header chain with mutable fields zeroed, AH
 * with the ICV zeroed (its padding as sent, §3.3.3.2.1), the rest of the
 * packet, then the high ESN bits (§2.5.1). */
static int compute_icv(struct kt_sa *sa, const struct ah_view *v, uint64_t seq, uint8_t *icv)
{
	static const uint8_t zeros[KT_XFORM_MAX_ICV];
	uint8_t chain[AH_CHAIN_MAX], seq_hi[AH_SEQ_HI_LEN];
	const uint8_t *ah = v->pkt + v->hdr_len;
	size_t icv_len = sa->xf.icv_len, body = v->hdr_len + v->ah_len;
	struct kt_chunk c[6];
	size_t n = 0;
	int rc;

	if (v->hdr_len > sizeof(chain))
		return KT_ERR_MALFORMED;
	memcpy(chain, v->pkt, v->hdr_len);
	rc = zero_chain(chain, v->version, v->hdr_len);
	if (rc)
		return rc;
	c[n++] = (struct kt_chunk){ chain, v->hdr_len };
	c[n++] = (struct kt_chunk){ ah, KT_AH_HDR_LEN };
	c[n++] = (struct kt_chunk){ zeros, icv_len };
	c[n++] = (struct kt_chunk){ ah + KT_AH_HDR_LEN + icv_len, v->ah_len - KT_AH_HDR_LEN - icv_len };
	c[n++] = (struct kt_chunk){ v->pkt + body, v->tot_len - body };
	if (sa->p.esn) {
		kt_put32(seq_hi, (uint32_t)(seq >> 32));
		c[n++] = (struct kt_chunk){ seq_hi, sizeof(seq_hi) };
	}
	return kt_xform_mac(&sa->xf, c, n, icv);
}

/* ---- Outbound ---- */

static int check_out_sa(const struct kt_sa *sa)
{
	uint8_t v = sa->p.src.version;

	if (sa->p.proto != KT_IPPROTO_AH || sa->p.dir != KT_DIR_OUT ||
	    sa->xf.encr != KT_ENCR_NONE || sa->xf.icv_len == 0 ||
	    sa->xf.icv_len > KT_XFORM_MAX_ICV)
		return KT_ERR_INVAL;
	if (sa->p.mode == KT_MODE_TUNNEL) {
		if ((v != 4 && v != 6) || sa->p.dst.version != v)
			return KT_ERR_INVAL;
	} else if (sa->p.mode != KT_MODE_TRANSPORT) {
		return KT_ERR_INVAL;
	}
	if (!kt_sa_usable(sa))
		return sa->exhausted ? KT_ERR_EXHAUSTED : KT_ERR_EXPIRED;
	return 0;
}

/* Everything that can refuse the packet, checked before anything changes:
 * fragments, room for AH (and the outer header) in front, the 16-bit length
 * field, a header chain that can be hashed. */
static int check_seal_pkt(const struct kt_sa *sa, const struct kt_ip_info *ip,
			  const struct kt_pkt *pkt)
{
	bool tunnel = sa->p.mode == KT_MODE_TUNNEL;
	uint8_t v = tunnel ? sa->p.src.version : ip->version;
	size_t outer = tunnel ? kt_ip_hdr_len(v) : 0;
	size_t ah_len = ah_len_for(v, sa->xf.icv_len);
	size_t ip_payload = ip->tot_len + outer + ah_len - (v == 6 ? KT_IPV6_HDR_LEN : 0);

	if (!tunnel && ip->fragment) /* RFC 4302 §3.3.3: whole datagrams only */
		return KT_ERR_FRAGMENT;
	/* The sealed packet must still fit the 16-bit length field. */
	if (kt_pkt_headroom(pkt) < outer + ah_len || ip_payload > IP_LEN_MAX)
		return KT_ERR_NOSPACE;
	return tunnel ? 0 : chain_ok(kt_pkt_data(pkt), ip->version, ip->hdr_len);
}

static void write_ah(uint8_t *ah, uint8_t next, size_t ah_len, uint32_t spi, uint64_t seq)
{
	ah[0] = next;
	ah[1] = (uint8_t)(ah_len / AH_LEN_UNIT - AH_LEN_BIAS);
	ah[2] = ah[3] = 0; /* reserved */
	kt_put32(ah + 4, spi);
	kt_put32(ah + 8, (uint32_t)seq);
	memset(ah + KT_AH_HDR_LEN, 0, ah_len - KT_AH_HDR_LEN); /* ICV and padding */
}

/* Tunnel mode: outer header (tos from the inner packet, ID from the
 * sequence number), AH, the inner packet. Fills *v for the ICV. */
static int wrap_tunnel(const struct kt_sa *sa, struct kt_pkt *pkt, const struct kt_ip_info *ip,
		       uint64_t seq, struct ah_view *v)
{
	uint8_t tos = kt_ip_tos(kt_pkt_data(pkt));
	uint8_t ttl = sa->p.ttl ? sa->p.ttl : AH_DEFAULT_TTL;
	uint8_t next = ip->version == 4 ? KT_IPPROTO_IPIP : KT_IPPROTO_IPV6;
	uint8_t *p;
	int rc;

	v->version = sa->p.src.version;
	v->hdr_len = kt_ip_hdr_len(v->version);
	v->ah_len = ah_len_for(v->version, sa->xf.icv_len);
	pkt->off -= v->hdr_len + v->ah_len;
	pkt->len += v->hdr_len + v->ah_len;
	p = kt_pkt_data(pkt);
	rc = kt_ip_build(p, &sa->p.src, &sa->p.dst, KT_IPPROTO_AH, pkt->len - v->hdr_len, tos,
			 ttl, (uint16_t)seq);
	if (rc < 0)
		return rc;
	write_ah(p + v->hdr_len, next, v->ah_len, sa->p.spi, seq);
	return 0;
}

/* Transport mode: the header chain moves toward the head to make room for
 * AH right after it; the byte that named the upper layer now names AH. */
static void insert_transport(const struct kt_sa *sa, struct kt_pkt *pkt,
			     const struct kt_ip_info *ip, uint64_t seq, struct ah_view *v)
{
	uint8_t *old = kt_pkt_data(pkt), *p;
	uint8_t next = old[ip->proto_off];

	v->version = ip->version;
	v->hdr_len = ip->hdr_len;
	v->ah_len = ah_len_for(ip->version, sa->xf.icv_len);
	pkt->off -= v->ah_len;
	pkt->len += v->ah_len;
	p = kt_pkt_data(pkt);
	memmove(p, old, ip->hdr_len);
	p[ip->proto_off] = KT_IPPROTO_AH;
	kt_ip_set_len(p, pkt->len);
	write_ah(p + ip->hdr_len, next, v->ah_len, sa->p.spi, seq);
}

int kt_ah_seal(struct kt_sad *sad, struct kt_sa *sa, struct kt_pkt *pkt)
{
	struct kt_ip_info ip;
	struct ah_view v;
	uint64_t seq;
	size_t inner_len;
	int rc = check_out_sa(sa);

	if (rc)
		return rc;
	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip))
		return KT_ERR_MALFORMED;
	rc = check_seal_pkt(sa, &ip, pkt);
	if (rc)
		return rc;
	rc = kt_sa_next_seq(sad, sa, &seq);
	if (rc)
		return rc;
	inner_len = ip.tot_len;
	pkt->len = ip.tot_len; /* drop link-layer padding */
	if (sa->p.mode == KT_MODE_TUNNEL)
		rc = wrap_tunnel(sa, pkt, &ip, seq, &v);
	else
		insert_transport(sa, pkt, &ip, seq, &v);
	if (rc)
		return rc;
	v.pkt = kt_pkt_data(pkt);
	v.tot_len = pkt->len;
	rc = compute_icv(sa, &v, seq, kt_pkt_data(pkt) + v.hdr_len + KT_AH_HDR_LEN);
	if (rc)
		return rc;
	return kt_sa_account(sad, sa, inner_len);
}

/* ---- Inbound ---- */

/* Lengths that need no SA: AH present and its length field within the
 * packet. The exact length for the SA's ICV is checked once it is known. */
static int check_frame(const struct kt_pkt *pkt, const struct kt_ip_info *ip, struct ah_view *v)
{
	const uint8_t *ah;

	if (ip->proto != KT_IPPROTO_AH || ip->tot_len > pkt->len || ip->hdr_len > ip->tot_len)
		return KT_ERR_MALFORMED;
	if (ip->fragment)
		return KT_ERR_FRAGMENT;
	if (ip->hdr_len > AH_CHAIN_MAX || ip->tot_len - ip->hdr_len < KT_AH_HDR_LEN)
		return KT_ERR_MALFORMED;
	ah = kt_pkt_data(pkt) + ip->hdr_len;
	v->pkt = kt_pkt_data(pkt);
	v->version = ip->version;
	v->hdr_len = ip->hdr_len;
	v->tot_len = ip->tot_len;
	v->ah_len = ((size_t)ah[1] + AH_LEN_BIAS) * AH_LEN_UNIT;
	if (v->ah_len < KT_AH_HDR_LEN || v->ah_len > v->tot_len - v->hdr_len)
		return KT_ERR_MALFORMED;
	return 0;
}

static int verify_icv(struct kt_sa *sa, const struct ah_view *v, uint64_t seq)
{
	uint8_t icv[KT_XFORM_MAX_ICV];
	int rc = compute_icv(sa, v, seq, icv);

	if (rc)
		return rc;
	if (CRYPTO_memcmp(icv, v->pkt + v->hdr_len + KT_AH_HDR_LEN, sa->xf.icv_len) != 0)
		return KT_ERR_AUTH;
	return 0;
}

/* What remains after AH must suit the SA's mode. Returns the length of the
 * resulting packet in *out_len. */
static int check_inner(const struct kt_sa *sa, const struct ah_view *v, size_t *out_len)
{
	const uint8_t *inner = v->pkt + v->hdr_len + v->ah_len;
	uint8_t next = v->pkt[v->hdr_len];
	struct kt_ip_info in;

	if (sa->p.mode != KT_MODE_TUNNEL) {
		*out_len = v->tot_len - v->ah_len;
		return 0;
	}
	if (next != KT_IPPROTO_IPIP && next != KT_IPPROTO_IPV6)
		return KT_ERR_PROTO;
	if (v->tot_len - v->hdr_len - v->ah_len == 0)
		return KT_ERR_MALFORMED;
	if (inner[0] >> 4 != (next == KT_IPPROTO_IPIP ? 4 : 6))
		return KT_ERR_PROTO;
	if (kt_ip_parse(inner, v->tot_len - v->hdr_len - v->ah_len, &in))
		return KT_ERR_MALFORMED;
	*out_len = in.tot_len;
	return 0;
}

static void strip(const struct kt_sa *sa, struct kt_pkt *pkt, const struct kt_ip_info *ip,
		  const struct ah_view *v, size_t out_len)
{
	uint8_t *p = kt_pkt_data(pkt);
	uint8_t next = p[v->hdr_len];

	if (sa->p.mode == KT_MODE_TUNNEL) {
		pkt->off += v->hdr_len + v->ah_len;
		pkt->len = out_len;
		return;
	}
	memmove(p + v->ah_len, p, v->hdr_len);
	pkt->off += v->ah_len;
	pkt->len = out_len;
	p = kt_pkt_data(pkt);
	p[ip->proto_off] = next;
	kt_ip_set_len(p, out_len);
}

/* Checks that need the SA, in the fixed inbound order: lifetime, exact AH
 * length for its ICV, replay, ICV. Each failure is counted on the SA. */
static int check_with_sa(struct kt_sa *sa, const struct ah_view *v, uint64_t *seq)
{
	int rc;

	if (!kt_sa_usable(sa))
		return KT_ERR_EXPIRED;
	if (v->ah_len != ah_len_for(v->version, sa->xf.icv_len)) {
		sa->stats.malformed++;
		return KT_ERR_MALFORMED;
	}
	*seq = kt_replay_infer(&sa->replay, kt_get32(v->pkt + v->hdr_len + 8));
	rc = kt_replay_check(&sa->replay, *seq);
	if (rc) {
		if (rc == KT_ERR_TOO_OLD)
			sa->stats.too_old++;
		else
			sa->stats.replay++;
		return rc;
	}
	rc = verify_icv(sa, v, *seq);
	if (rc == KT_ERR_AUTH)
		sa->stats.auth++;
	else if (rc == KT_ERR_MALFORMED) /* options or extension headers */
		sa->stats.malformed++;
	return rc;
}

int kt_ah_open(struct kt_sad *sad, struct kt_pkt *pkt, const struct kt_ip_info *ip,
	       struct kt_sa **sap)
{
	struct ah_view v;
	struct kt_sa *sa;
	uint64_t seq;
	size_t out_len;
	int rc;

	*sap = NULL;
	rc = check_frame(pkt, ip, &v);
	if (rc)
		return rc;
	sa = kt_sad_lookup(sad, kt_get32(v.pkt + v.hdr_len + 4), KT_IPPROTO_AH, KT_DIR_IN, &ip->dst);
	if (!sa)
		return KT_ERR_NO_SA;
	*sap = sa;
	rc = check_with_sa(sa, &v, &seq);
	if (rc)
		return rc;
	/* Authentic: the number is spent even if what it carries is refused. */
	kt_replay_advance(&sa->replay, seq);
	rc = check_inner(sa, &v, &out_len);
	if (rc == KT_ERR_PROTO)
		sa->stats.proto++;
	else if (rc == KT_ERR_MALFORMED)
		sa->stats.malformed++;
	if (rc)
		return rc;
	rc = kt_sa_account(sad, sa, out_len);
	if (rc)
		return rc;
	strip(sa, pkt, ip, &v, out_len);
	return 0;
}
