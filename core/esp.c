/* ESP, RFC 4303, in place: sealing writes the headers into the headroom and
 * the trailer into the tailroom around an IP packet; opening verifies,
 * decrypts and strips them again. Tunnel mode moves no payload bytes;
 * transport mode moves only the IP header. Crypto is the xform's. */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ip.h"

#define ESP_DEFAULT_TTL 64    /* RFC 1700's recommended TTL */
#define IPV4_TOT_LEN_MAX 65535 /* 16-bit total length, RFC 791 */
#define IPV6_PAYLOAD_MAX 65535 /* 16-bit payload length, RFC 8200 (no jumbograms) */
#define UDP_LEN_OFF 4
#define UDP_CSUM_OFF 6

static size_t round_up(size_t n, size_t block) { return (n + block - 1) / block * block; }

/* ---- seal ---- */

/* Where everything goes, computed before the packet is touched. */
struct seal_plan {
	size_t ip_len;   /* outer header (tunnel) or kept IP header (transport) */
	size_t udp_len;  /* 8 with ESP in UDP, else 0 */
	size_t front;    /* bytes added before the payload */
	size_t body_len; /* payload bytes from the original packet */
	size_t plen;     /* body + TFC padding */
	size_t enc_len;  /* plen + padding + trailer: the encrypted part */
	size_t total;    /* the sealed packet */
	uint8_t ver;     /* IP version of the sealed packet */
};

static size_t ip_max_len(uint8_t ver)
{
	return ver == 6 ? KT_IPV6_HDR_LEN + IPV6_PAYLOAD_MAX : IPV4_TOT_LEN_MAX;
}

/* The largest encrypted part (a multiple of the block) that fits both the
 * tailroom and the IP length field; 0 if none does. */
static size_t max_enc_len(const struct kt_xform *x, const struct seal_plan *pl, size_t tail)
{
	size_t fixed = pl->ip_len + pl->udp_len + KT_ESP_HDR_LEN + x->iv_len + x->icv_len;
	size_t room = pl->body_len + tail, lim = ip_max_len(pl->ver);

	if (room < x->icv_len || lim < fixed)
		return 0;
	room -= x->icv_len;
	if (room > lim - fixed)
		room = lim - fixed;
	return room / x->block_size * x->block_size;
}

static int plan_seal(const struct kt_sa *sa, const struct kt_ip_info *ip,
		     const struct kt_pkt *pkt, struct seal_plan *pl)
{
	const struct kt_xform *x = &sa->xf;
	bool tunnel = sa->p.mode == KT_MODE_TUNNEL;
	size_t tail = pkt->cap - pkt->off - ip->tot_len, enc_max;

	pl->ver = tunnel ? sa->p.dst.version : ip->version;
	pl->ip_len = tunnel ? kt_ip_hdr_len(pl->ver) : ip->hdr_len;
	pl->udp_len = sa->p.encap ? KT_UDP_HDR_LEN : 0;
	pl->front = pl->udp_len + KT_ESP_HDR_LEN + x->iv_len + (tunnel ? pl->ip_len : 0);
	pl->body_len = tunnel ? ip->tot_len : ip->tot_len - ip->hdr_len;
	enc_max = max_enc_len(x, pl, tail);
	if (pkt->off < pl->front ||
	    enc_max < round_up(pl->body_len + KT_ESP_TRAILER_LEN, x->block_size))
		return KT_ERR_NOSPACE;
	pl->plen = pl->body_len;
	/* RFC 4303 §2.7: TFC padding only where the receiver can find the
	 * inner packet's end from its own header, i.e. in tunnel mode. */
	if (tunnel && sa->p.tfc_pad > pl->plen)
		pl->plen = sa->p.tfc_pad < enc_max - KT_ESP_TRAILER_LEN
				   ? sa->p.tfc_pad : enc_max - KT_ESP_TRAILER_LEN;
	pl->enc_len = round_up(pl->plen + KT_ESP_TRAILER_LEN, x->block_size);
	pl->total = pl->ip_len + pl->udp_len + KT_ESP_HDR_LEN + x->iv_len + pl->enc_len +
		    x->icv_len;
	return 0;
}

static void write_udp(uint8_t *udp, const struct kt_sa *sa, size_t len)
{
	kt_put16(udp, sa->p.encap_sport);
	kt_put16(udp + 2, sa->p.encap_dport);
	kt_put16(udp + UDP_LEN_OFF, len);
	/* RFC 3948 §2.1 allows zero over IPv4; IPv6 gets the real checksum
	 * once the datagram is sealed (RFC 8200 §8.1). */
	kt_put16(udp + UDP_CSUM_OFF, 0);
}

/* Tunnel: a new outer header in the headroom; the inner packet stays put. */
static uint8_t *frame_tunnel(const struct kt_sa *sa, struct kt_pkt *pkt,
			     const struct seal_plan *pl, uint64_t seq)
{
	uint8_t *inner = kt_pkt_data(pkt);
	uint8_t *out = inner - pl->front;
	uint8_t ttl = sa->p.ttl ? sa->p.ttl : ESP_DEFAULT_TTL;
	uint8_t proto = sa->p.encap ? KT_IPPROTO_UDP : KT_IPPROTO_ESP;

	kt_ip_build(out, &sa->p.src, &sa->p.dst, proto, pl->total - pl->ip_len,
		    kt_ip_tos(inner), ttl, (uint16_t)seq);
	return out;
}

/* Transport: the IP header (with IPv6 extension headers) moves to the front
 * and ESP goes between it and the upper-layer payload. */
static uint8_t *frame_transport(const struct kt_sa *sa, struct kt_pkt *pkt,
				const struct seal_plan *pl, const struct kt_ip_info *ip)
{
	uint8_t *out = kt_pkt_data(pkt) - pl->front;

	memmove(out, kt_pkt_data(pkt), ip->hdr_len);
	out[ip->proto_off] = sa->p.encap ? KT_IPPROTO_UDP : KT_IPPROTO_ESP;
	kt_ip_set_len(out, pl->total);
	return out;
}

/* Payload is followed by TFC zeros, padding 1, 2, 3, ... (RFC 4303 §2.4),
 * pad length and next header. */
static void write_trailer(uint8_t *payload, const struct seal_plan *pl, uint8_t nh)
{
	size_t pad = pl->enc_len - pl->plen - KT_ESP_TRAILER_LEN;

	memset(payload + pl->body_len, 0, pl->plen - pl->body_len);
	for (size_t i = 0; i < pad; i++)
		payload[pl->plen + i] = (uint8_t)(i + 1);
	payload[pl->enc_len - 2] = (uint8_t)pad;
	payload[pl->enc_len - 1] = nh;
}

/* ESP header, trailer, then encryption and ICV by the transform. */
static int seal_esp(struct kt_sa *sa, uint8_t *esp, const struct seal_plan *pl, uint64_t seq,
		    uint8_t nh)
{
	uint8_t *payload = esp + KT_ESP_HDR_LEN + sa->xf.iv_len;
	struct kt_xform_io io = {
		.hdr = esp, .seq = seq, .esn = sa->p.esn, .iv = esp + KT_ESP_HDR_LEN,
		.data = payload, .len = pl->enc_len, .icv = payload + pl->enc_len,
	};

	kt_put32(esp, sa->p.spi);
	kt_put32(esp + 4, (uint32_t)seq);
	write_trailer(payload, pl, nh);
	return kt_xform_seal(&sa->xf, &io);
}

static int check_seal_sa(const struct kt_sa *sa)
{
	if (sa->p.dir != KT_DIR_OUT || sa->p.proto != KT_IPPROTO_ESP)
		return KT_ERR_INVAL;
	if (sa->hard_fired)
		return KT_ERR_EXPIRED;
	if (sa->exhausted)
		return KT_ERR_EXHAUSTED;
	return 0;
}

int kt_esp_seal(struct kt_sad *sad, struct kt_sa *sa, struct kt_pkt *pkt)
{
	struct kt_ip_info ip;
	struct seal_plan pl;
	uint64_t seq;
	bool tunnel = sa->p.mode == KT_MODE_TUNNEL;
	int err = check_seal_sa(sa);

	if (err)
		return err;
	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip) < 0)
		return KT_ERR_MALFORMED;
	/* Transport ESP on a fragment could never be opened: the receiver
	 * reassembles before IPsec (RFC 4303 §3.4.1). */
	if (!tunnel && ip.fragment)
		return KT_ERR_FRAGMENT;
	if ((err = plan_seal(sa, &ip, pkt, &pl)) < 0)
		return err;
	if ((err = kt_sa_next_seq(sad, sa, &seq)) < 0)
		return err;

	uint8_t *out = tunnel ? frame_tunnel(sa, pkt, &pl, seq) : frame_transport(sa, pkt, &pl, &ip);
	uint8_t *udp = out + pl.ip_len, *esp = udp + pl.udp_len;
	uint8_t nh = tunnel ? (ip.version == 4 ? KT_IPPROTO_IPIP : KT_IPPROTO_IPV6) : ip.proto;

	if (sa->p.encap)
		write_udp(udp, sa, pl.total - pl.ip_len);
	if ((err = seal_esp(sa, esp, &pl, seq, nh)) < 0)
		return err;
	if (sa->p.encap && pl.ver == 6) /* RFC 8200 §8.1: mandatory over IPv6 */
		kt_put16(udp + UDP_CSUM_OFF, kt_udp_csum(tunnel ? &sa->p.src : &ip.src,
						      tunnel ? &sa->p.dst : &ip.dst, udp,
						      pl.total - pl.ip_len));
	pkt->off -= pl.front;
	pkt->len = pl.total;
	kt_sa_account(sad, sa, ip.tot_len);
	return 0;
}

size_t kt_esp_overhead(const struct kt_sa *sa, size_t inner_len)
{
	const struct kt_xform *x = &sa->xf;
	size_t bs = x->block_size ? x->block_size : 4;
	size_t fixed = (sa->p.encap ? KT_UDP_HDR_LEN : 0) + KT_ESP_HDR_LEN + x->iv_len + x->icv_len;

	if (sa->p.mode == KT_MODE_TUNNEL) {
		size_t plen = inner_len < sa->p.tfc_pad ? sa->p.tfc_pad : inner_len;
		return kt_ip_hdr_len(sa->p.dst.version) + fixed +
		       round_up(plen + KT_ESP_TRAILER_LEN, bs) - inner_len;
	}
	/* The payload's alignment depends on the IP header length, which is not
	 * known here: count the largest padding. */
	return fixed + bs - 1 + KT_ESP_TRAILER_LEN;
}

/* ---- open ---- */

/* The offset of the ESP header: after the IP header, and after a UDP
 * header whose length must describe exactly the rest of the packet. */
static int esp_offset(const uint8_t *p, const struct kt_ip_info *ip, bool udp, size_t *off)
{
	size_t end = ip->tot_len, o = ip->hdr_len;

	if (o > end)
		return KT_ERR_MALFORMED;
	if (udp) {
		if (end - o < KT_UDP_HDR_LEN || kt_get16(p + o + UDP_LEN_OFF) != end - o)
			return KT_ERR_MALFORMED;
		o += KT_UDP_HDR_LEN;
	}
	if (end - o < KT_ESP_HDR_LEN)
		return KT_ERR_MALFORMED;
	*off = o;
	return 0;
}

/* Padding must be 1, 2, 3, ... (RFC 4303 §2.4); a receiver MAY check, and
 * doing it after the ICV costs nothing and refuses sloppy peers early. */
static int check_trailer(const uint8_t *data, size_t enc_len, size_t *plen, uint8_t *nh)
{
	size_t pad = data[enc_len - 2];

	if (pad + KT_ESP_TRAILER_LEN > enc_len)
		return KT_ERR_PADDING;
	*plen = enc_len - KT_ESP_TRAILER_LEN - pad;
	for (size_t i = 0; i < pad; i++)
		if (data[*plen + i] != (uint8_t)(i + 1))
			return KT_ERR_PADDING;
	*nh = data[enc_len - 1];
	return 0;
}

/* Tunnel: the inner packet becomes pkt, trimmed to its own length so TFC
 * padding goes (RFC 4303 §2.7). Nothing moves. */
static int decap_tunnel(struct kt_pkt *pkt, uint8_t *payload, size_t plen, uint8_t nh)
{
	struct kt_ip_info inner;
	uint8_t want = nh == KT_IPPROTO_IPIP ? 4 : nh == KT_IPPROTO_IPV6 ? 6 : 0;

	if (want == 0)
		return KT_ERR_PROTO;
	if (plen == 0)
		return KT_ERR_MALFORMED;
	if (payload[0] >> 4 != want)
		return KT_ERR_PROTO;
	if (kt_ip_parse(payload, plen, &inner) < 0)
		return KT_ERR_MALFORMED;
	pkt->off = (size_t)(payload - pkt->head);
	pkt->len = inner.tot_len;
	return 0;
}

/* Transport: the IP header slides forward over UDP, ESP and IV and takes
 * the next header as its protocol. */
static void decap_transport(struct kt_pkt *pkt, const struct kt_ip_info *ip, uint8_t *payload,
			    size_t plen, uint8_t nh)
{
	uint8_t *out = payload - ip->hdr_len;

	memmove(out, kt_pkt_data(pkt), ip->hdr_len);
	out[ip->proto_off] = nh;
	kt_ip_set_len(out, ip->hdr_len + plen);
	pkt->off = (size_t)(out - pkt->head);
	pkt->len = ip->hdr_len + plen;
}

/* Layout checks and replay check: everything before the ICV. */
static int open_precheck(struct kt_sa *sa, const uint8_t *esp, size_t esp_len, uint64_t *seq)
{
	const struct kt_xform *x = &sa->xf;
	size_t min = KT_ESP_HDR_LEN + x->iv_len + x->icv_len + KT_ESP_TRAILER_LEN;
	int err;

	if (esp_len < min || (esp_len - min + KT_ESP_TRAILER_LEN) % x->block_size) {
		sa->stats.malformed++;
		return KT_ERR_MALFORMED;
	}
	*seq = kt_replay_infer(&sa->replay, kt_get32(esp + 4));
	err = kt_replay_check(&sa->replay, *seq);
	if (err == KT_ERR_REPLAY)
		sa->stats.replay++;
	else if (err == KT_ERR_TOO_OLD)
		sa->stats.too_old++;
	return err;
}

/* After the ICV verified: trailer, next header, decapsulation. */
static int open_payload(struct kt_sa *sa, struct kt_pkt *pkt, const struct kt_ip_info *ip,
			uint8_t *data, size_t enc_len)
{
	size_t plen;
	uint8_t nh;
	int err = check_trailer(data, enc_len, &plen, &nh);

	if (err) {
		sa->stats.padding++;
		return err;
	}
	if (nh == KT_IPPROTO_NONE) /* RFC 4303 §2.6: dummy packet */
		return KT_ERR_DUMMY;
	if (sa->p.mode == KT_MODE_TUNNEL) {
		err = decap_tunnel(pkt, data, plen, nh);
		if (err == KT_ERR_PROTO)
			sa->stats.proto++;
		else if (err == KT_ERR_MALFORMED)
			sa->stats.malformed++;
		return err;
	}
	decap_transport(pkt, ip, data, plen, nh);
	return 0;
}

int kt_esp_open(struct kt_sad *sad, struct kt_pkt *pkt, const struct kt_ip_info *ip, bool udp,
		struct kt_sa **sap)
{
	uint8_t *p = kt_pkt_data(pkt);
	size_t off;
	uint64_t seq;
	int err;

	*sap = NULL;
	if (ip->tot_len > pkt->len || esp_offset(p, ip, udp, &off) < 0)
		return KT_ERR_MALFORMED;
	uint8_t *esp = p + off;
	struct kt_sa *sa = kt_sad_lookup(sad, kt_get32(esp), KT_IPPROTO_ESP, KT_DIR_IN, &ip->dst);
	if (!sa)
		return KT_ERR_NO_SA;
	*sap = sa;
	if (!kt_sa_usable(sa))
		return KT_ERR_EXPIRED;
	size_t esp_len = ip->tot_len - off;
	if ((err = open_precheck(sa, esp, esp_len, &seq)) < 0)
		return err;
	size_t enc_len = esp_len - KT_ESP_HDR_LEN - sa->xf.iv_len - sa->xf.icv_len;
	struct kt_xform_io io = {
		.hdr = esp, .seq = seq, .esn = sa->p.esn, .iv = esp + KT_ESP_HDR_LEN,
		.data = esp + KT_ESP_HDR_LEN + sa->xf.iv_len, .len = enc_len,
	};
	io.icv = io.data + enc_len;
	if ((err = kt_xform_open(&sa->xf, &io)) < 0) {
		if (err == KT_ERR_AUTH)
			sa->stats.auth++;
		return err;
	}
	/* Authentic: the number is spent even if what it carries is refused. */
	kt_replay_advance(&sa->replay, seq);
	if ((err = open_payload(sa, pkt, ip, io.data, enc_len)) < 0)
		return err;
	return kt_sa_account(sad, sa, pkt->len);
}
