/* The packet pipeline the daemon calls for each packet: SPD lookup and
 * sealing outbound; inbound, AH/ESP opened layer by layer, bundle rules and
 * the RFC 4301 §5.2 selector check. Every refusal is counted by reason. */
#include <string.h>

#include "core/ah.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ipsec.h"

/* SAs one inbound packet may pass through: an AH+ESP bundle, or transport
 * SAs nested a little. Deeper nesting is refused, not followed. */
#define MAX_NESTED_SA 4
#define NATT_KEEPALIVE 0xff     /* RFC 3948 §2.3: one byte, 0xFF */
#define NON_ESP_MARKER_LEN 4    /* RFC 3948 §2.2: four zero bytes before IKE */

int kt_ipsec_init(struct kt_ipsec *ips)
{
	memset(ips, 0, sizeof(*ips));
	ips->sad = kt_sad_new();
	ips->spd = kt_spd_new();
	if (!ips->sad || !ips->spd) {
		kt_ipsec_free(ips);
		return KT_ERR_NOMEM;
	}
	return 0;
}

void kt_ipsec_free(struct kt_ipsec *ips)
{
	/* Rules point at SAs: the SPD goes first. */
	if (ips->spd)
		kt_spd_del(ips->spd);
	if (ips->sad)
		kt_sad_del(ips->sad);
	ips->spd = NULL;
	ips->sad = NULL;
}

void kt_drops_count(struct kt_drops *d, int err)
{
	switch (err) {
	case KT_ERR_MALFORMED: d->malformed++; break;
	case KT_ERR_FRAGMENT: d->fragment++; break;
	case KT_ERR_NO_SA: d->no_sa++; break;
	case KT_ERR_REPLAY: d->replay++; break;
	case KT_ERR_TOO_OLD: d->too_old++; break;
	case KT_ERR_AUTH: d->auth++; break;
	case KT_ERR_PADDING: d->padding++; break;
	case KT_ERR_POLICY: d->policy++; break;
	case KT_ERR_PROTO: d->proto++; break;
	case KT_ERR_EXHAUSTED: d->exhausted++; break;
	case KT_ERR_EXPIRED: d->expired++; break;
	case KT_ERR_DUMMY: d->dummy++; break;
	case KT_ERR_NOSPACE: d->nospace++; break;
	case KT_ERR_DISCARD: d->discard++; break;
	case KT_ERR_ACQUIRE: d->acquire++; break;
	case KT_ERR_CRYPTO: d->crypto++; break;
	default: break; /* success, or a caller error with no packet reason */
	}
}

/* ---- Outbound ---- */

static int output(struct kt_ipsec *ips, struct kt_pkt *pkt, const struct kt_spd_rule **rule)
{
	const struct kt_spd_rule *r;
	struct kt_ip_info ip;
	int rc;

	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip))
		return KT_ERR_MALFORMED;
	r = kt_spd_lookup(ips->spd, &ip, true);
	*rule = r;
	if (!r || (r->action != KT_ACT_BYPASS && r->action != KT_ACT_PROTECT))
		return KT_ERR_DISCARD;
	if (r->action == KT_ACT_BYPASS)
		return KT_BYPASS;
	if (!r->esp && !r->ah)
		return KT_ERR_ACQUIRE;
	/* RFC 4301 §4.5: ESP inside, AH outside. */
	if (r->esp && (rc = kt_esp_seal(ips->sad, r->esp, pkt)))
		return rc;
	if (r->ah && (rc = kt_ah_seal(ips->sad, r->ah, pkt)))
		return rc;
	return KT_SEALED;
}

int kt_ipsec_output(struct kt_ipsec *ips, struct kt_pkt *pkt, const struct kt_spd_rule **rule)
{
	const struct kt_spd_rule *r = NULL;
	int rc = output(ips, pkt, &r);

	if (rule)
		*rule = r;
	if (rc < 0)
		kt_drops_count(&ips->drops, rc);
	return rc;
}

/* ---- Inbound ---- */

static bool is_natt(const struct kt_ip_info *ip)
{
	return ip->proto == KT_IPPROTO_UDP && ip->has_ports && ip->dport == KT_NAT_T_PORT;
}

static bool is_ipsec(const struct kt_ip_info *ip)
{
	return ip->proto == KT_IPPROTO_ESP || ip->proto == KT_IPPROTO_AH || is_natt(ip);
}

/* UDP to the NAT-T port: a keepalive, IKE behind the non-ESP marker, or
 * (0) ESP in UDP. */
static int classify_natt(const struct kt_pkt *pkt, const struct kt_ip_info *ip)
{
	static const uint8_t marker[NON_ESP_MARKER_LEN];
	const uint8_t *udp = kt_pkt_data(pkt) + ip->hdr_len;
	size_t avail = ip->tot_len - ip->hdr_len, ulen, plen;

	if (avail < KT_UDP_HDR_LEN)
		return KT_ERR_MALFORMED;
	ulen = (size_t)udp[4] << 8 | udp[5];
	if (ulen < KT_UDP_HDR_LEN || ulen > avail)
		return KT_ERR_MALFORMED;
	plen = ulen - KT_UDP_HDR_LEN;
	if (plen == 1 && udp[KT_UDP_HDR_LEN] == NATT_KEEPALIVE)
		return KT_KEEPALIVE;
	if (plen >= NON_ESP_MARKER_LEN && memcmp(udp + KT_UDP_HDR_LEN, marker, sizeof(marker)) == 0)
		return KT_IKE;
	return 0;
}

/* Open the outermost AH or ESP layer. Returns 0 and *sa, a positive verdict
 * for NAT-T control packets, or an error (*sa set when an SA was found). */
static int open_layer(struct kt_ipsec *ips, struct kt_pkt *pkt, const struct kt_ip_info *ip,
		      struct kt_sa **sa)
{
	int rc;

	*sa = NULL;
	if (ip->proto == KT_IPPROTO_ESP)
		return kt_esp_open(ips->sad, pkt, ip, false, sa);
	if (ip->proto == KT_IPPROTO_AH)
		return kt_ah_open(ips->sad, pkt, ip, sa);
	rc = classify_natt(pkt, ip);
	if (rc)
		return rc;
	return kt_esp_open(ips->sad, pkt, ip, true, sa);
}

/* An inbound bundle member only counts inside its bundle: AH right
 * outside ESP. */
static int check_bundles(struct kt_sa *const *used, size_t n, struct kt_sa **bad)
{
	for (size_t i = 0; i < n; i++) {
		struct kt_sa *s = used[i];
		bool ok;

		if (!s->p.bundled)
			continue;
		if (s->p.proto == KT_IPPROTO_AH)
			ok = i + 1 < n && used[i + 1]->p.proto == KT_IPPROTO_ESP;
		else
			ok = i > 0 && used[i - 1]->p.proto == KT_IPPROTO_AH;
		if (!ok) {
			s->stats.policy++;
			*bad = s;
			return KT_ERR_POLICY;
		}
	}
	return 0;
}

static bool any_match(const struct kt_ts *ts, size_t n, const struct kt_ts_point *pt)
{
	if (n == 0)
		return true;
	if (n > KT_SA_MAX_TS)
		n = KT_SA_MAX_TS;
	for (size_t i = 0; i < n; i++)
		if (kt_ts_match(&ts[i], pt))
			return true;
	return false;
}

/* RFC 4301 §5.2 step 4: the decapsulated packet must lie inside the
 * selectors of every SA it came through. */
static int check_selectors(struct kt_sa *const *used, size_t n, const struct kt_ip_info *ip,
			   struct kt_sa **bad)
{
	struct kt_ts_point local, remote;

	kt_ts_points(ip, false, &local, &remote);
	for (size_t i = 0; i < n; i++) {
		struct kt_sa *s = used[i];

		if (!any_match(s->p.local_ts, s->p.n_local_ts, &local) ||
		    !any_match(s->p.remote_ts, s->p.n_remote_ts, &remote)) {
			s->stats.policy++;
			*bad = s;
			return KT_ERR_POLICY;
		}
	}
	return 0;
}

/* Peel AH/ESP layers: after a transport-mode SA another AH or ESP header
 * is opened too; a tunnel-mode SA yields the final (inner) packet. */
static int decap(struct kt_ipsec *ips, struct kt_pkt *pkt, struct kt_ip_info *ip,
		 struct kt_sa **used, size_t *n, struct kt_sa **sa)
{
	for (;;) {
		int rc;

		if (*n == MAX_NESTED_SA)
			return KT_ERR_POLICY;
		rc = open_layer(ips, pkt, ip, sa);
		if (rc)
			return rc;
		used[(*n)++] = *sa;
		if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, ip))
			return KT_ERR_MALFORMED;
		if ((*sa)->p.mode == KT_MODE_TUNNEL ||
		    (ip->proto != KT_IPPROTO_ESP && ip->proto != KT_IPPROTO_AH))
			return 0;
	}
}

/* RFC 3948 §3.1.2: in transport mode the outer IP header is the packet's
 * only one, and a NAT on the way rewrote its addresses, which the TCP, UDP
 * and ICMPv6 checksums cover through their pseudo-header: the host's stack
 * would drop the packet. ESP has authenticated the payload, so recomputing
 * the checksum over the addresses as received is as safe as the RFC's
 * incremental fix with the NAT-OA addresses, and needs none. A NAT may
 * have rewritten the header if any layer was ESP in UDP (when the innermost
 * SA is transport mode, all are). Tunnel mode: the inner packet is left as
 * the peer sent it. */
static void fix_nat_csum(struct kt_pkt *pkt, struct kt_sa *const *used, size_t n)
{
	if (used[n - 1]->p.mode != KT_MODE_TRANSPORT)
		return;
	for (size_t i = 0; i < n; i++)
		if (used[i]->p.encap) {
			/* A transport header too short to hold its checksum is
			 * delivered as it is: the host drops it, NAT or not. */
			(void)kt_ip_fix_l4_csum(kt_pkt_data(pkt), pkt->len);
			return;
		}
}

static int input(struct kt_ipsec *ips, struct kt_pkt *pkt, struct kt_sa **sa)
{
	struct kt_sa *used[MAX_NESTED_SA];
	struct kt_ip_info ip;
	size_t n = 0;
	int rc;

	if (kt_ip_parse(kt_pkt_data(pkt), pkt->len, &ip))
		return KT_ERR_MALFORMED;
	if (ip.fragment)
		return KT_ERR_FRAGMENT;
	if (!is_ipsec(&ip)) {
		const struct kt_spd_rule *r = kt_spd_lookup(ips->spd, &ip, false);

		return r && r->action == KT_ACT_BYPASS ? KT_BYPASS : KT_ERR_POLICY;
	}
	rc = decap(ips, pkt, &ip, used, &n, sa);
	if (rc)
		return rc;
	rc = check_bundles(used, n, sa);
	if (rc == 0)
		rc = check_selectors(used, n, &ip, sa);
	if (rc)
		return rc;
	fix_nat_csum(pkt, used, n);
	*sa = used[n - 1];
	return KT_DECAPPED;
}

int kt_ipsec_input(struct kt_ipsec *ips, struct kt_pkt *pkt, struct kt_sa **sa)
{
	struct kt_sa *found = NULL;
	int rc = input(ips, pkt, &found);

	if (sa)
		*sa = found;
	if (rc < 0)
		kt_drops_count(&ips->drops, rc);
	return rc;
}
