/* Building the status and keys documents from the engine's view of its
 * IKE SAs, the installed CHILD_SAs' counters and the packet drops. The
 * status is read under the write lock: the data-plane threads write the
 * counters (worker.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon/child.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"
#include "daemon/status.h"
#include "daemon/tsfmt.h"
#include "daemon/worker.h"

#define HEX_SPI64 17
#define HEX_SPI32 9

static json_t *hex64(uint64_t v)
{
	char b[HEX_SPI64];
	snprintf(b, sizeof(b), "%016llx", (unsigned long long)v);
	return json_string(b);
}

static json_t *hex32(uint32_t v)
{
	char b[HEX_SPI32];
	snprintf(b, sizeof(b), "%08x", v);
	return json_string(b);
}

static json_t *endpoint(const struct kt_ike_endpoint *ep)
{
	char b[KD_ENDPOINT_TEXT];
	return json_string(kd_endpoint_format(ep, b, sizeof(b)));
}

static json_t *ts_list(const struct kt_ts *ts, size_t n)
{
	json_t *a = json_array();
	char b[KD_TS_TEXT];
	for (size_t i = 0; i < n && i < KT_IKE_MAX_CHILD_TS; i++)
		json_array_append_new(a, json_string(kd_ts_format(&ts[i], b, sizeof(b))));
	return a;
}

/* ---- status ---- */

static json_t *child_json(struct kd *kd, const char *peer, const struct kt_ike_child_info *ci)
{
	struct kt_sa_stats in = { 0 }, out = { 0 };
	const struct kd_child *c = kd_child_find(kd, peer, ci->spi_in, ci->spi_out);
	if (c)
		kd_child_counters(c, &in, &out);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:I, s:I, s:I, s:I}",
			 "name", ci->name, "state", ci->state ? ci->state : "?",
			 "mode", ci->mode == KT_MODE_TRANSPORT ? "transport" : "tunnel",
			 "protocol", kt_conf_protocol_name(ci->protocol),
			 "encap", ci->encap ? "udp" : "none",
			 "spi_in", hex32(ci->spi_in), "spi_out", hex32(ci->spi_out),
			 "local_ts", ts_list(ci->local_ts, ci->n_local_ts),
			 "remote_ts", ts_list(ci->remote_ts, ci->n_remote_ts),
			 "proposal", ci->proposal,
			 "bytes_in", (json_int_t)in.bytes, "bytes_out", (json_int_t)out.bytes,
			 "packets_in", (json_int_t)in.packets, "packets_out", (json_int_t)out.packets);
}

static json_t *ike_json(const struct kt_ike_sa_info *in, kt_tstamp now)
{
	json_t *o = json_pack("{s:i, s:I, s:o, s:o, s:b, s:s, s:o, s:o, s:b, s:b, s:b, s:s, s:s}",
			      "version", 2, "id", (json_int_t)in->ike_id,
			      "spi_i", hex64(in->spi_i), "spi_r", hex64(in->spi_r),
			      "initiator", in->initiator, "proposal", in->proposal,
			      "local", endpoint(&in->local), "remote", endpoint(&in->remote),
			      "nat", in->nat_local || in->nat_remote,
			      "nat_local", in->nat_local, "nat_remote", in->nat_remote,
			      "local_id", in->local_id, "remote_id", in->remote_id);
	if (o && in->established && now >= in->established)
		json_object_set_new(o, "established_seconds",
				    json_integer((json_int_t)((now - in->established) / KT_SECONDS)));
	return o;
}

/* The fields every peer entry has, up or down. */
static json_t *peer_base(struct kd *kd, const char *name, const char *state)
{
	json_t *o = json_pack("{s:s, s:s}", "name", name, "state", state);
	const struct kt_conf_peer *p = kt_conf_peer(kd->conf, name);
	if (!o || !p)
		return o;
	json_t *names = json_array();
	for (size_t i = 0; i < p->n_children; i++)
		json_array_append_new(names, json_string(p->children[i]->name));
	json_object_set_new(o, "start", json_string(kt_conf_start_name(p->start)));
	json_object_set_new(o, "remote_host", json_string(p->remote_host));
	json_object_set_new(o, "configured_children", names);
	const struct kd_note *n = kd_note_get(kd, name);
	if (n && n->problem[0])
		json_object_set_new(o, "last_problem", json_string(n->problem));
	return o;
}

struct collect {
	struct kd *kd;
	json_t *by_peer; /* name -> array of peer entries */
	kt_tstamp now;
};

static void collect_sa(const struct kt_ike_sa_info *in, void *arg)
{
	struct collect *col = arg;
	json_t *o = peer_base(col->kd, in->peer, in->state ? in->state : "?");
	json_t *children = json_array();
	for (size_t i = 0; i < in->n_children && i < KT_IKE_INFO_MAX_CHILDREN; i++)
		json_array_append_new(children, child_json(col->kd, in->peer, &in->children[i]));
	json_object_set_new(o, "ike", ike_json(in, col->now));
	json_object_set_new(o, "children", children);
	json_t *list = json_object_get(col->by_peer, in->peer);
	if (!list) {
		list = json_array();
		json_object_set_new(col->by_peer, in->peer, list);
	}
	json_array_append_new(list, o);
}

static json_t *down_peer(struct kd *kd, const char *name)
{
	json_t *o = peer_base(kd, name, "down");
	json_object_set_new(o, "ike", json_null());
	json_object_set_new(o, "children", json_array());
	const struct kd_note *n = kd_note_get(kd, name);
	if (n && n->text[0])
		json_object_set_new(o, "down_reason", json_string(n->text));
	return o;
}

static json_t *peers_json(struct kd *kd)
{
	struct collect col = { .kd = kd, .by_peer = json_object(), .now = kd_now() };
	kt_ike_foreach(kd->ike, collect_sa, &col);
	json_t *peers = json_array();
	for (size_t i = 0; i < kd->conf->n_peers; i++) {
		const char *name = kd->conf->peers[i]->name;
		json_t *list = json_object_get(col.by_peer, name);
		if (list)
			json_array_extend(peers, list);
		else
			json_array_append_new(peers, down_peer(kd, name));
		json_object_del(col.by_peer, name);
	}
	/* IKE SAs of peers a reload removed, until the engine deletes them. */
	const char *name;
	json_t *list;
	json_object_foreach(col.by_peer, name, list)
		json_array_extend(peers, list);
	json_decref(col.by_peer);
	return peers;
}

/* The outbound and inbound paths' drops together. */
static void drops_sum(const struct kd *kd, struct kt_drops *sum)
{
	const struct kt_drops *a = &kd->ips_out.drops, *b = &kd->ips_in.drops;
	*sum = (struct kt_drops){
		.malformed = a->malformed + b->malformed, .fragment = a->fragment + b->fragment,
		.no_sa = a->no_sa + b->no_sa, .replay = a->replay + b->replay,
		.too_old = a->too_old + b->too_old, .auth = a->auth + b->auth,
		.padding = a->padding + b->padding, .policy = a->policy + b->policy,
		.proto = a->proto + b->proto, .exhausted = a->exhausted + b->exhausted,
		.expired = a->expired + b->expired, .dummy = a->dummy + b->dummy,
		.nospace = a->nospace + b->nospace, .discard = a->discard + b->discard,
		.acquire = a->acquire + b->acquire, .crypto = a->crypto + b->crypto,
	};
}

static json_t *drops_json(const struct kt_drops *d)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
			 "replay", (json_int_t)(d->replay + d->too_old),
			 "auth", (json_int_t)d->auth, "no_sa", (json_int_t)d->no_sa,
			 "policy", (json_int_t)(d->policy + d->discard + d->acquire),
			 "malformed", (json_int_t)(d->malformed + d->padding + d->proto + d->fragment),
			 "other", "exhausted", (json_int_t)d->exhausted,
			 "expired", (json_int_t)d->expired, "dummy", (json_int_t)d->dummy,
			 "nospace", (json_int_t)d->nospace, "crypto", (json_int_t)d->crypto,
			 "too_old", (json_int_t)d->too_old, "padding", (json_int_t)d->padding,
			 "fragment", (json_int_t)d->fragment);
}

/* The data plane's device and counters: where packets went and why some
 * did not. */
static json_t *dataplane_json(struct kd *kd)
{
	const struct kd_dp *dp = kd->dp;
	if (!dp)
		return json_null();
	struct kd_dp_stats sum;
	const struct kd_dp_stats *st = &sum;
	kd_dp_stats_sum(dp, &sum);
	json_t *o = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:i}", "tun", dp->tun_name,
			      "ifindex", dp->ifindex, "mtu", (int)dp->mtu,
			      "fwmark", (json_int_t)dp->mark, "routes", (json_int_t)dp->n_routes,
			      "spd_rules", (json_int_t)kt_spd_count(kd->ips_out.spd),
			      "workers", (int)kd_wk_count(kd));
	json_object_set_new(o, "offload", json_boolean(dp->vnet));
	json_t *c = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "tun_rx", (json_int_t)st->tun_rx, "tun_tx", (json_int_t)st->tun_tx,
			      "tun_errors", (json_int_t)st->tun_errors,
			      "tx_raw", (json_int_t)st->tx_raw, "tx_udp", (json_int_t)st->tx_udp,
			      "tx_errors", (json_int_t)st->tx_errors,
			      "tx_nosock", (json_int_t)st->tx_nosock,
			      "rx_raw", (json_int_t)st->rx_raw, "rx_udp", (json_int_t)st->rx_udp,
			      "rx_errors", (json_int_t)st->rx_errors,
			      "rx_truncated", (json_int_t)st->rx_truncated);
	json_t *d = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			      "decapped", (json_int_t)st->decapped,
			      "out_dropped", (json_int_t)st->out_dropped,
			      "in_dropped", (json_int_t)st->in_dropped,
			      "link_local", (json_int_t)st->link_local,
			      "too_big", (json_int_t)st->too_big,
			      "icmp_sent", (json_int_t)st->icmp_sent,
			      "icmp_limited", (json_int_t)st->icmp_limited,
			      "acquires", (json_int_t)st->acquires, "queued", (json_int_t)st->queued,
			      "queue_dropped", (json_int_t)st->queue_dropped,
			      "flushed", (json_int_t)st->flushed);
	json_object_update(c, d);
	json_decref(d);
	json_object_set_new(c, "tun_gso", json_integer((json_int_t)st->tun_gso));
	json_object_set_new(c, "tun_gro", json_integer((json_int_t)st->tun_gro));
	json_object_set_new(c, "tun_bad_vnet", json_integer((json_int_t)st->tun_bad_vnet));
	struct kd_wk_stats ws;
	kd_wk_stats(kd, &ws);
	json_object_set_new(c, "handoff_dropped", json_pack(
		"{s:I, s:I, s:I}", "ike", (json_int_t)ws.ike_dropped,
		"natt", (json_int_t)ws.natt_dropped, "acquire", (json_int_t)ws.acquire_dropped));
	json_object_set_new(o, "counters", c);
	return o;
}

static json_t *daemon_json(struct kd *kd)
{
	struct kt_ike_stats st;
	kt_ike_get_stats(kd->ike, &st);
	return json_pack("{s:I, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:I, s:I}",
			 "pid", (json_int_t)getpid(), "config", kd->conf_path,
			 "log_level", kt_conf_log_level_name(kd_log_level()),
			 "ike", "rx", (json_int_t)st.rx, "tx", (json_int_t)st.tx,
			 "dropped_malformed", (json_int_t)st.dropped_malformed,
			 "dropped_unknown_spi", (json_int_t)st.dropped_unknown_spi,
			 "dropped_auth", (json_int_t)st.dropped_auth,
			 "retransmits", (json_int_t)st.retransmits,
			 "half_open", (json_int_t)st.half_open,
			 "esp_in_udp_dropped", (json_int_t)kd->udp.esp_in_udp_dropped,
			 "installed_sas", (json_int_t)(kt_sad_count(kd->ips_out.sad) +
						       kt_sad_count(kd->ips_in.sad)));
}

json_t *kd_status_json(struct kd *kd)
{
	struct kt_drops drops;
	kd_wk_lock(kd);
	drops_sum(kd, &drops);
	json_t *o = json_pack("{s:o, s:o, s:o, s:o}", "peers", peers_json(kd),
			      "drops", drops_json(&drops), "daemon", daemon_json(kd),
			      "dataplane", dataplane_json(kd));
	kd_wk_unlock(kd);
	return o;
}

/* ---- keys ---- */

static json_t *hexbytes(const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char b[2 * KT_XFORM_MAX_KEY + 1];
	if (!p)
		n = 0;
	if (n > KT_XFORM_MAX_KEY)
		n = KT_XFORM_MAX_KEY;
	for (size_t i = 0; i < n; i++) {
		b[2 * i] = digits[p[i] >> 4];
		b[2 * i + 1] = digits[p[i] & 15];
	}
	b[2 * n] = '\0';
	json_t *s = json_string(b);
	OPENSSL_cleanse(b, sizeof(b));
	return s;
}

static void add_ike_keys(const struct kt_ike_key_export *k, void *arg)
{
	json_array_append_new(arg, json_pack(
		"{s:o, s:o, s:i, s:i, s:i, s:o, s:o, s:o, s:o}",
		"spi_i", hex64(k->spi_i), "spi_r", hex64(k->spi_r), "encr", k->encr,
		"encr_key_bits", k->encr_key_bits, "integ", k->integ,
		"sk_ei", hexbytes(k->sk_ei, k->encr_len), "sk_er", hexbytes(k->sk_er, k->encr_len),
		"sk_ai", hexbytes(k->sk_ai, k->integ_len), "sk_ar", hexbytes(k->sk_ar, k->integ_len)));
}

static json_t *addr_json(const struct kt_addr *a)
{
	char b[48];
	return json_string(a->version ? kt_addr_format(a, b, sizeof(b)) : "*");
}

static json_t *sa_keys(const struct kd_child *c, size_t i)
{
	const struct kt_sa_params *p = &c->csa.sa[i];
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:i, s:o, s:i, s:o, s:b, "
			 "s:i, s:i}",
			 "peer", c->peer, "child", c->name,
			 "protocol", p->proto == KT_IPPROTO_AH ? "ah" : "esp",
			 "dir", p->dir == KT_DIR_IN ? "in" : "out",
			 "family", (p->src.version ? p->src : p->dst).version == 6 ? "IPv6" : "IPv4",
			 "src", addr_json(&p->src), "dst", addr_json(&p->dst), "spi", hex32(p->spi),
			 "encr", p->xf.encr, "encr_key_bits", p->xf.encr_key_bits,
			 "encr_key", hexbytes(p->xf.encr_key, p->xf.encr_key_len),
			 "integ", p->xf.integ,
			 "integ_key", hexbytes(p->xf.integ_key, p->xf.integ_key_len),
			 "encap", p->encap, "sport", p->encap_sport, "dport", p->encap_dport);
}

json_t *kd_keys_json(struct kd *kd)
{
	json_t *ike = json_array(), *sas = json_array();
	kt_ike_foreach_keys(kd->ike, add_ike_keys, ike);
	for (const struct kd_child *c = kd->children; c; c = c->next)
		for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++)
			json_array_append_new(sas, sa_keys(c, i));
	return json_pack("{s:o, s:o}", "ike", ike, "sas", sas);
}
