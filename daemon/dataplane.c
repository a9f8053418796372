/* The data plane's start and stop: the buffers (once, at start-up), the
 * TUN, the policy-routing rules that keep marked traffic (ours) out of our
 * table, the raw sockets and the nftables table; the deferred work after
 * each loop turn; the counters of its paths added up. dataplane.h explains
 * the whole. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/netlink.h"
#include "daemon/nft.h"

uint32_t kd_dp_mark(const struct kd *kd)
{
	return kd->dp ? kd->dp->mark : 0;
}

int kd_dp_mark_socket(const struct kd *kd, int fd)
{
	uint32_t mark = kd_dp_mark(kd);
	if (mark == 0)
		return 0;
	return setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
}

/* "not fwmark M lookup M" for each family. A rule left by an earlier
 * daemon on a TUN with the same index is the same rule: replaced. */
static int rules_add(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	for (uint8_t v = 4; v <= 6; v += 2) {
		kd_nl_rule(dp->nl, false, v, dp->mark, dp->mark, KD_DP_RULE_PRIORITY);
		int rc = kd_nl_rule(dp->nl, true, v, dp->mark, dp->mark, KD_DP_RULE_PRIORITY);
		if (rc < 0 && v == 4) {
			kd_err("cannot add the IPv4 rule \"not fwmark %#x lookup %#x\": %s", dp->mark,
			       dp->mark, strerror(-rc));
			return -1;
		}
		if (rc < 0)
			kd_warn("no IPv6 policy routing (\"not fwmark %#x lookup %#x\": %s): IPv6 "
				"traffic will not reach the TUN", dp->mark, dp->mark, strerror(-rc));
		*(v == 4 ? &dp->rule4 : &dp->rule6) = rc == 0;
	}
	return 0;
}

static void rules_del(struct kd_dp *dp)
{
	if (dp->rule4)
		kd_nl_rule(dp->nl, false, 4, dp->mark, dp->mark, KD_DP_RULE_PRIORITY);
	if (dp->rule6)
		kd_nl_rule(dp->nl, false, 6, dp->mark, dp->mark, KD_DP_RULE_PRIORITY);
	dp->rule4 = dp->rule6 = false;
}

static void nft_open(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	int rc = kd_nft_open(dp->tun_name, &dp->nft);
	if (rc == 0)
		return;
	kd_err("nftables: cannot create table inet kotetsu_%s: %s; cleartext that should have "
	       "come through the tunnel is not dropped", dp->tun_name,
	       dp->nft ? kd_nft_error(dp->nft) : strerror(-rc));
	kd_nft_close(dp->nft);
	dp->nft = NULL;
}

static int alloc(struct kd *kd)
{
	struct kd_dp *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -1;
	kd->dp = dp;
	dp->tun.fd = dp->hdrinc4 = dp->hdrinc6 = -1;
	for (size_t i = 0; i < sizeof(dp->raw) / sizeof(dp->raw[0]); i++)
		dp->raw[i].io.fd = -1;
	dp->out.buf = malloc((size_t)(KD_DP_BATCH + 1) * KD_DP_SLOT);
	dp->in.buf = malloc((size_t)KD_DP_BATCH * KD_DP_SLOT);
	if (dp->out.buf) {
		for (size_t i = 0; i < KD_DP_BATCH; i++)
			dp->out.slot[i] = dp->out.buf + i * KD_DP_SLOT;
		dp->out.spare = dp->out.buf + (size_t)KD_DP_BATCH * KD_DP_SLOT;
	}
	dp->out.icmp_tokens = KD_DP_ICMP_BURST;
	dp->safe_len = SIZE_MAX;
	return dp->out.buf && dp->in.buf ? 0 : -1;
}

int kd_dp_open(struct kd *kd)
{
	if (alloc(kd) < 0) {
		kd_err("data plane: out of memory");
		return -1;
	}
	int rc = kd_nl_open(&kd->dp->nl);
	if (rc < 0) {
		kd_err("cannot open a netlink socket: %s", strerror(-rc));
		return -1;
	}
	if (kd_tun_open(kd) < 0 || rules_add(kd) < 0 || kd_dp_raw_open(kd) < 0)
		return -1;
	nft_open(kd);
	return 0;
}

void kd_dp_close(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (!dp)
		return;
	kd_nft_close(dp->nft);
	if (dp->nl) {
		kd_dp_policy_close(kd);
		rules_del(dp);
	}
	kd_dp_raw_close(kd);
	kd_tun_close(kd);
	kd_nl_close(dp->nl);
	free(dp->out.buf);
	free(dp->in.buf);
	free(dp);
	kd->dp = NULL;
}

void kd_dp_tick(struct kd *kd)
{
	struct kd_dp *dp = kd->dp;
	if (dp && dp->dirty)
		kd_dp_sync(kd);
}

/* Every field is a uint64_t counter: they are added as an array. */
_Static_assert(sizeof(struct kd_dp_stats) % sizeof(uint64_t) == 0,
	       "struct kd_dp_stats holds uint64_t counters only");

void kd_dp_stats_sum(const struct kd_dp *dp, struct kd_dp_stats *sum)
{
	const struct kd_dp_stats *parts[] = { &dp->st, &dp->out.st, &dp->in.st };
	uint64_t *dst = (uint64_t *)sum;
	size_t n = sizeof(*sum) / sizeof(uint64_t);
	memset(sum, 0, sizeof(*sum));
	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
		const uint64_t *src = (const uint64_t *)parts[p];
		for (size_t i = 0; i < n; i++)
			dst[i] += src[i];
	}
}
