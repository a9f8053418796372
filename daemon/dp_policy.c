/* What the data plane derives from the configuration and the installed
 * CHILD_SAs: the SPD rules (a "trap" per configured child, with no SA: its
 * packets start IKE or are dropped, never sent in clear; and a rule with
 * SAs per installed CHILD_SA, first), the routes that bring the remote
 * selectors' traffic into the TUN, the nftables pairs that drop forged
 * cleartext, and the TUN's MTU. "dynamic" selectors resolve to the
 * configured addresses, or to the source address the host would use
 * toward the peer. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mtu.h"
#include "daemon/child.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"
#include "daemon/netlink.h"
#include "daemon/nft.h"
#include "daemon/worker.h"

#define COOKIE_CHILD (1ull << 63)   /* SA rules' cookies; traps' have it clear */
#define PROBE_PORT KT_IKE_PORT      /* any port: connect() on UDP sends nothing */

/* ---- the host: addresses, routes toward a peer ---- */

static void add_addr(const struct kt_addr *a, void *arg)
{
	struct kd_dp *dp = arg;
	if (dp->n_addrs < KD_DP_MAX_ADDRS)
		dp->addrs[dp->n_addrs++] = *a;
}

/* The outbound thread reads the list (ICMP sources): changed under the
 * write lock. */
static void refresh_addrs(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	kd_wk_lock(kd);
	dp->n_addrs = 0;
	int rc = kd_nl_addrs(dp->nl, add_addr, dp);
	kd_wk_unlock(kd);
	if (rc < 0)
		kd_warn("cannot list the host's addresses: %s", strerror(-rc));
}

/* Loopback and IPv6 link-local addresses never source routed traffic. */
static bool usable_src(const struct kt_addr *a)
{
	if (a->version == 4)
		return a->bytes[0] != 127;
	static const uint8_t loop6[16] = { [15] = 1 };
	return memcmp(a->bytes, loop6, 16) != 0 && !(a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80);
}

static bool in_range(const struct kt_addr *a, const struct kt_ts *ts)
{
	return ts->start.version == a->version && kt_addr_cmp(&ts->start, a) <= 0 &&
	       kt_addr_cmp(a, &ts->end) <= 0;
}

bool kd_dp_host_addr(const struct kd *kd, uint8_t version, const struct kt_ts *ts,
		     struct kt_addr *out)
{
	const struct kd_dp *dp = kd->dp;
	for (size_t i = 0; i < dp->n_addrs; i++) {
		const struct kt_addr *a = &dp->addrs[i];
		if (a->version == version && usable_src(a) && (!ts || in_range(a, ts))) {
			*out = *a;
			return true;
		}
	}
	return false;
}

int kd_dp_probe(const struct kd *kd, const struct kt_addr *dst, struct kt_addr *src,
		unsigned *mtu)
{
	int family = dst->version == 6 ? AF_INET6 : AF_INET;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_storage ss;
	struct kt_ike_endpoint ep = { .addr = *dst, .port = PROBE_PORT };
	socklen_t sl = kd_endpoint_to_sockaddr(&ep, family, &ss);
	int rc = -1;
	if (kd_dp_mark_socket(kd, fd) == 0 && connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		rc = 0;
		int m = 0;
		socklen_t ml = sizeof(m);
		if (mtu && getsockopt(fd, family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
				      family == AF_INET6 ? IPV6_MTU : IP_MTU, &m, &ml) == 0 && m > 0)
			*mtu = (unsigned)m;
		sl = sizeof(ss);
		if (src && (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
			    kd_sockaddr_to_endpoint((struct sockaddr *)&ss, &ep) < 0))
			rc = -1;
		else if (src)
			*src = ep.addr;
	}
	close(fd);
	return rc;
}

/* ---- traps: the configured children's rules ---- */

struct kd_trap *kd_dp_trap_by_cookie(struct kd *kd, uint64_t cookie)
{
	for (size_t i = 0; i < kd->dp->n_traps; i++)
		if (kd->dp->traps[i].cookie == cookie)
			return &kd->dp->traps[i];
	return NULL;
}

struct kd_trap *kd_dp_trap_find(struct kd *kd, const char *peer, const char *child)
{
	for (size_t i = 0; i < kd->dp->n_traps; i++) {
		struct kd_trap *t = &kd->dp->traps[i];
		if (strcmp(t->peer, peer) == 0 && strcmp(t->child, child) == 0)
			return t;
	}
	return NULL;
}

/* One side's selectors with "dynamic" replaced by dyn (skipped when dyn
 * is unknown). */
static size_t resolve(const struct kt_conf_ts *c, size_t n, const struct kt_addr *dyn,
		      struct kt_ts *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < KT_CONF_MAX_TS; i++) {
		if (!c[i].dynamic) {
			out[k++] = c[i].ts;
		} else if (dyn && dyn->version) {
			out[k] = c[i].ts;
			out[k].start = out[k].end = *dyn;
			k++;
		}
	}
	return k;
}

static void resolve_trap(struct kd *kd, const struct kt_conf_child *cc, struct kd_trap *t)
{
	const struct kt_conf_peer *p = cc->peer;
	const struct kt_addr *remote = p->remote_kind == KT_CONF_REMOTE_ADDR ? &p->remote : NULL;
	struct kt_addr local = p->local;
	if (!local.version && remote)
		kd_dp_probe(kd, remote, &local, NULL);
	t->n_local = resolve(cc->local_ts, cc->n_local_ts, &local, t->local);
	t->n_remote = resolve(cc->remote_ts, cc->n_remote_ts, remote, t->remote);
	t->on_traffic = p->start == KT_CONF_START_ON_TRAFFIC;
	t->transport = cc->mode == KT_MODE_TRANSPORT;
}

/* PROTECT rules for every pair of one version; their ids into ids. */
static size_t add_rules(struct kd *kd, const struct kt_ts *l, size_t nl, const struct kt_ts *r,
			size_t nr, uint32_t prio, struct kt_sa *esp, struct kt_sa *ah,
			uint64_t cookie, uint32_t *ids)
{
	size_t n = 0;
	for (size_t i = 0; i < nl; i++)
		for (size_t j = 0; j < nr; j++) {
			if (l[i].start.version != r[j].start.version || n == KD_DP_MAX_PAIRS)
				continue;
			struct kt_spd_rule rule = { .local = l[i], .remote = r[j],
						    .action = KT_ACT_PROTECT, .priority = prio,
						    .esp = esp, .ah = ah, .cookie = cookie };
			int rc = kt_spd_add(kd->ips_out.spd, &rule, &ids[n]);
			if (rc < 0)
				kd_err("cannot add an SPD rule: %s", kt_strerror(rc));
			else
				n++;
		}
	return n;
}

static void remove_rules(struct kd *kd, uint32_t *ids, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		kt_spd_remove(kd->ips_out.spd, ids[i]);
	*n = 0;
}

/* The new trap list follows the configuration; a child that stays keeps
 * its cookie and its waiting packets. */
static void sync_traps(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	const struct kt_conf *conf = kd->conf;
	struct kd_trap *nt = calloc(conf->n_children ? conf->n_children : 1, sizeof(*nt));
	if (!nt) {
		kd_err("data plane: out of memory for %zu children", conf->n_children);
		return;
	}
	kd_wk_lock(kd); /* the SPD changes */
	for (size_t i = 0; i < dp->n_traps; i++)
		remove_rules(kd, dp->traps[i].rules, &dp->traps[i].n_rules);
	for (size_t i = 0; i < conf->n_children; i++) {
		const struct kt_conf_child *cc = conf->children[i];
		struct kd_trap *t = &nt[i], *old = kd_dp_trap_find(kd, cc->peer->name, cc->name);
		if (old && !old->seen) {
			*t = *old;
			old->seen = true;
			old->queue = NULL;
		} else {
			snprintf(t->peer, sizeof(t->peer), "%s", cc->peer->name);
			snprintf(t->child, sizeof(t->child), "%s", cc->name);
			t->cookie = ++dp->next_cookie;
		}
		t->seen = false;
		resolve_trap(kd, cc, t);
		t->n_rules = add_rules(kd, t->local, t->n_local, t->remote, t->n_remote,
				       KD_DP_PRIO_TRAP, NULL, NULL, t->cookie, t->rules);
	}
	kd_wk_unlock(kd);
	for (size_t i = 0; i < dp->n_traps; i++)
		kd_dp_trap_drop_queue(&dp->traps[i]);
	free(dp->traps);
	dp->traps = nt;
	dp->n_traps = conf->n_children;
}

/* ---- routes ---- */

struct route_set {
	struct kd_route *v;
	size_t n;
	bool full;
};

static bool same_dst(const struct kd_route *a, const struct kd_route *b)
{
	return a->plen == b->plen && kt_addr_equal(&a->dst, &b->dst);
}

static bool same_route(const struct kd_route *a, const struct kd_route *b)
{
	return same_dst(a, b) && kt_addr_equal(&a->src, &b->src);
}

static void want_one(struct route_set *rs, const struct kd_route *r)
{
	for (size_t i = 0; i < rs->n; i++)
		if (same_dst(&rs->v[i], r))
			return;
	if (rs->n < KD_DP_MAX_ROUTES)
		rs->v[rs->n++] = *r;
	else
		rs->full = true;
}

/* Routes for the remote selectors, with a preferred source inside the
 * local ones so that the gateway's own packets match the policy. */
static void want_routes(struct kd *kd, struct route_set *rs, const struct kt_ts *l, size_t nl,
			const struct kt_ts *r, size_t nr)
{
	static struct kt_addr pfx[KT_TS_MAX_PREFIXES];
	static uint8_t lens[KT_TS_MAX_PREFIXES];
	for (size_t j = 0; j < nr; j++) {
		struct kd_route rt = { .src = { 0 } };
		for (size_t i = 0; i < nl && !rt.src.version; i++)
			if (l[i].start.version == r[j].start.version)
				kd_dp_host_addr(kd, l[i].start.version, &l[i], &rt.src);
		size_t n = kt_ts_prefixes(&r[j], pfx, lens, KT_TS_MAX_PREFIXES);
		for (size_t k = 0; k < n && k < KT_TS_MAX_PREFIXES; k++) {
			rt.dst = pfx[k];
			rt.plen = lens[k];
			want_one(rs, &rt);
		}
	}
}

static void route_op(struct kd *kd, bool add, const struct kd_route *r)
{
	struct kd_dp *dp = kd->dp;
	struct kd_nl_route nr = { .dst = r->dst, .src = r->src, .plen = r->plen,
				  .ifindex = dp->ifindex, .table = dp->mark };
	int rc = kd_nl_route(dp->nl, add, &nr);
	if (rc < 0) {
		char b[64];
		kd_warn("cannot %s the route %s/%u via %s: %s", add ? "add" : "delete",
			kt_addr_format(&r->dst, b, sizeof(b)), r->plen, dp->tun_name, strerror(-rc));
	}
}

/* Delete what is no longer wanted, then add (or replace) what is new. */
static void apply_routes(struct kd *kd, const struct route_set *rs)
{
	struct kd_dp *dp = kd->dp;
	for (size_t i = 0; i < dp->n_routes; i++) {
		bool keep = false;
		for (size_t j = 0; j < rs->n && !keep; j++)
			keep = same_dst(&dp->routes[i], &rs->v[j]);
		if (!keep)
			route_op(kd, false, &dp->routes[i]);
	}
	for (size_t j = 0; j < rs->n; j++) {
		bool have = false;
		for (size_t i = 0; i < dp->n_routes && !have; i++)
			have = same_route(&dp->routes[i], &rs->v[j]);
		if (!have)
			route_op(kd, true, &rs->v[j]);
	}
	memcpy(dp->routes, rs->v, rs->n * sizeof(rs->v[0]));
	dp->n_routes = rs->n;
}

static void sync_routes(struct kd *kd)
{
	static struct kd_route want[KD_DP_MAX_ROUTES];
	struct route_set rs = { .v = want };
	for (const struct kd_child *c = kd->children; c; c = c->next)
		want_routes(kd, &rs, c->csa.local_ts, c->csa.n_local_ts, c->csa.remote_ts,
			    c->csa.n_remote_ts);
	for (size_t i = 0; i < kd->dp->n_traps; i++) {
		const struct kd_trap *t = &kd->dp->traps[i];
		want_routes(kd, &rs, t->local, t->n_local, t->remote, t->n_remote);
	}
	if (rs.full)
		kd_warn("more than %d routes wanted for the remote selectors: the rest are left out",
			KD_DP_MAX_ROUTES);
	apply_routes(kd, &rs);
}

/* ---- nftables ---- */

static bool same_ts(const struct kt_ts *a, const struct kt_ts *b)
{
	return kt_addr_equal(&a->start, &b->start) && kt_addr_equal(&a->end, &b->end) &&
	       a->proto == b->proto && a->port_start == b->port_start && a->port_end == b->port_end;
}

/* An installed child usually repeats its trap's pairs: each goes once. */
static size_t add_pair(struct kd_nft_pair *v, size_t n, const struct kd_nft_pair *p)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].transport == p->transport && same_ts(&v[i].local, &p->local) &&
		    same_ts(&v[i].remote, &p->remote))
			return n;
	v[n] = *p;
	return n + 1;
}

static size_t add_pairs(struct kd_nft_pair *v, size_t n, const struct kt_ts *l, size_t nl,
			const struct kt_ts *r, size_t nr, bool transport)
{
	for (size_t i = 0; i < nl; i++)
		for (size_t j = 0; j < nr; j++)
			if (l[i].start.version == r[j].start.version)
				n = add_pair(v, n, &(struct kd_nft_pair){
					.local = l[i], .remote = r[j], .transport = transport });
	return n;
}

static void sync_nft(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (!dp->nft)
		return;
	size_t cap = dp->n_traps * KD_DP_MAX_PAIRS, n = 0;
	for (const struct kd_child *c = kd->children; c; c = c->next)
		cap += KD_DP_MAX_PAIRS;
	struct kd_nft_pair *v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v)
		return;
	for (const struct kd_child *c = kd->children; c; c = c->next)
		n = add_pairs(v, n, c->csa.local_ts, c->csa.n_local_ts, c->csa.remote_ts,
			      c->csa.n_remote_ts, c->csa.mode == KT_MODE_TRANSPORT);
	for (size_t i = 0; i < dp->n_traps; i++) {
		const struct kd_trap *t = &dp->traps[i];
		n = add_pairs(v, n, t->local, t->n_local, t->remote, t->n_remote, t->transport);
	}
	if (kd_nft_sync(dp->nft, v, n) < 0)
		kd_err("nftables: cannot install the drop rules for %zu selector pairs: %s", n,
		       kd_nft_error(dp->nft));
	free(v);
}

/* ---- sizes ---- */

static unsigned child_limit(unsigned path, const struct kt_conf_child *cc, uint8_t version)
{
	bool esp = cc->protocol != KT_CONF_PROTO_AH, ah = cc->protocol != KT_CONF_PROTO_ESP;
	size_t ov = kt_mtu_worst_overhead(esp, ah, version, cc->peer->nat_t != KT_CONF_NAT_OFF);
	return path > ov ? path - (unsigned)ov : 0;
}

/* The path MTU toward each configured peer less the worst overhead of its
 * children: so no packet the kernel hands us is too large once sealed. */
static unsigned tun_mtu(struct kd *kd)
{
	unsigned mtu = KD_DP_MTU_MAX;
	bool any = false;
	for (size_t i = 0; i < kd->conf->n_peers; i++) {
		const struct kt_conf_peer *p = kd->conf->peers[i];
		unsigned path = KD_DP_PATH_MTU_DEFAULT;
		uint8_t v = p->remote_kind == KT_CONF_REMOTE_ADDR ? p->remote.version : 6;
		if (p->remote_kind == KT_CONF_REMOTE_ADDR)
			kd_dp_probe(kd, &p->remote, NULL, &path);
		for (size_t j = 0; j < p->n_children; j++) {
			unsigned lim = child_limit(path, p->children[j], v);
			mtu = lim < mtu ? lim : mtu;
			any = true;
		}
	}
	if (!any)
		mtu = KD_DP_PATH_MTU_DEFAULT - (unsigned)kt_mtu_worst_overhead(true, false, 4, true);
	return mtu < KT_MTU_IPV6_MIN ? KT_MTU_IPV6_MIN : mtu;
}

static void sync_sizes(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	unsigned mtu = tun_mtu(kd);
	if (mtu != dp->mtu && kd_tun_set_mtu(kd, mtu) == 0)
		kd_info("TUN %s: MTU %u", dp->tun_name, mtu);
	size_t safe = SIZE_MAX;
	for (const struct kd_child *c = kd->children; c; c = c->next) {
		struct kt_sa *esp, *ah;
		kd_child_out_sas(c, &esp, &ah);
		size_t max = kt_mtu_inner_max(esp, ah, c->path_mtu);
		safe = max < safe ? max : safe;
	}
	kd_wk_lock(kd); /* the outbound thread's size check */
	dp->safe_len = safe;
	kd_wk_unlock(kd);
}

/* ---- forwarding ---- */

/* A tunnel whose local selector is more than this host forwards for
 * others: say so when the kernel does not forward (we never turn it on). */
static void check_forwarding(struct kd *kd)
{
	bool need[2] = { false, false };
	for (size_t i = 0; i < kd->conf->n_children; i++) {
		const struct kt_conf_child *cc = kd->conf->children[i];
		for (size_t j = 0; cc->mode == KT_MODE_TUNNEL && j < cc->n_local_ts; j++) {
			const struct kt_ts *ts = &cc->local_ts[j].ts;
			if (!cc->local_ts[j].dynamic && !kt_addr_equal(&ts->start, &ts->end))
				need[ts->start.version == 6] = true;
		}
	}
	bool off4 = need[0] && !kd_sysctl_on("/proc/sys/net/ipv4/ip_forward");
	bool off6 = need[1] && !kd_sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding");
	if ((off4 || off6) && !kd->dp->warned_forwarding)
		kd_warn("tunnel-mode children carry traffic for other hosts, but %s is 0: this host "
			"will not forward it", off4 ? "net.ipv4.ip_forward" :
			"net.ipv6.conf.all.forwarding");
	kd->dp->warned_forwarding = off4 || off6;
}

/* ---- entry points ---- */

void kd_dp_sync(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (!dp)
		return;
	dp->dirty = false;
	refresh_addrs(kd);
	sync_traps(kd);
	sync_routes(kd);
	sync_nft(kd);
	sync_sizes(kd);
	check_forwarding(kd);
}

/* The SPD changes: child.c holds the write lock around this and the SAs. */
int kd_dp_child_up(struct kd *kd, struct kd_child *c)
{
	struct kd_dp *dp = kd->dp;
	struct kt_sa *esp, *ah;
	kd_child_out_sas(c, &esp, &ah);
	if (!dp || (!esp && !ah))
		return KT_ERR_INVAL;
	const struct kt_sa *outer = ah ? ah : esp;
	c->cookie = COOKIE_CHILD | ++dp->next_cookie;
	c->path_mtu = KD_DP_PATH_MTU_DEFAULT;
	kd_dp_probe(kd, &outer->p.dst, NULL, &c->path_mtu);
	kd_wk_lock(kd);
	c->n_rules = add_rules(kd, c->csa.local_ts, c->csa.n_local_ts, c->csa.remote_ts,
			       c->csa.n_remote_ts, KD_DP_PRIO_SA, esp, ah, c->cookie, c->rules);
	kd_wk_unlock(kd);
	if (c->n_rules == 0) {
		kd_err("peer %s: CHILD_SA %s: no SPD rule for its selectors", c->peer, c->name);
		return KT_ERR_INVAL;
	}
	struct kd_trap *t = kd_dp_trap_find(kd, c->peer, c->name);
	if (t)
		kd_dp_acquire_flush(kd, t);
	dp->dirty = true;
	return 0;
}

void kd_dp_child_down(struct kd *kd, struct kd_child *c)
{
	if (!kd->dp)
		return;
	kd_wk_lock(kd);
	remove_rules(kd, c->rules, &c->n_rules);
	kd_wk_unlock(kd);
	kd->dp->dirty = true;
}

void kd_dp_policy_close(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	for (size_t i = 0; i < dp->n_routes; i++)
		route_op(kd, false, &dp->routes[i]);
	dp->n_routes = 0;
	kd_wk_lock(kd);
	for (size_t i = 0; i < dp->n_traps; i++) {
		if (kd->ips_out.spd)
			remove_rules(kd, dp->traps[i].rules, &dp->traps[i].n_rules);
		kd_dp_trap_drop_queue(&dp->traps[i]);
	}
	kd_wk_unlock(kd);
	free(dp->traps);
	dp->traps = NULL;
	dp->n_traps = 0;
}
