/* rtnetlink requests over one libmnl socket: build the message, send it
 * with NLM_F_ACK, read until the kernel's ACK or error (or, for a dump,
 * NLMSG_DONE). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include "daemon/netlink.h"

#define NL_BUF 16384   /* one request or one batch of a dump's answers */

struct kd_nl {
	struct mnl_socket *sock;
	unsigned portid;
	uint32_t seq;
	uint8_t req[NL_BUF], ans[NL_BUF];
};

int kd_nl_open(struct kd_nl **out)
{
	struct kd_nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->sock || mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		kd_nl_close(nl);
		return -e;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	*out = nl;
	return 0;
}

void kd_nl_close(struct kd_nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl);
}

static struct nlmsghdr *start(struct kd_nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->req);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Send the request and run cb on each answer until ACK, error or DONE. */
static int talk(struct kd_nl *nl, const struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->ans, sizeof(nl->ans));
		if (n < 0)
			return -errno;
		int rc = mnl_cb_run(nl->ans, (size_t)n, nlh->nlmsg_seq, nl->portid, cb, arg);
		if (rc < 0)
			return errno ? -errno : -EIO;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

static void put_addr(struct nlmsghdr *nlh, uint16_t type, const struct kt_addr *a)
{
	mnl_attr_put(nlh, type, a->version == 6 ? 16 : 4, a->bytes);
}

static int family(uint8_t version) { return version == 6 ? AF_INET6 : AF_INET; }

int kd_nl_link_up(struct kd_nl *nl, int ifindex, unsigned mtu, unsigned txqlen)
{
	struct nlmsghdr *nlh = start(nl, RTM_NEWLINK, NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (txqlen)
		mnl_attr_put_u32(nlh, IFLA_TXQLEN, txqlen);
	return talk(nl, nlh, NULL, NULL);
}

int kd_nl_route(struct kd_nl *nl, bool add, const struct kd_nl_route *r)
{
	struct nlmsghdr *nlh = start(nl, add ? RTM_NEWROUTE : RTM_DELROUTE,
				     NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0));
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family(r->dst.version);
	rtm->rtm_dst_len = r->plen;
	rtm->rtm_table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = r->dst.version == 4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	put_addr(nlh, RTA_DST, &r->dst);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->ifindex);
	if (add && r->src.version == r->dst.version)
		put_addr(nlh, RTA_PREFSRC, &r->src);
	int rc = talk(nl, nlh, NULL, NULL);
	return !add && (rc == -ESRCH || rc == -ENOENT) ? 0 : rc;
}

int kd_nl_rule(struct kd_nl *nl, bool add, uint8_t version, uint32_t mark, uint32_t table,
	       uint32_t priority)
{
	struct nlmsghdr *nlh = start(nl, add ? RTM_NEWRULE : RTM_DELRULE,
				     NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family(version);
	frh->table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	frh->action = FR_ACT_TO_TBL;
	frh->flags = FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_FWMARK, mark);
	mnl_attr_put_u32(nlh, FRA_FWMASK, UINT32_MAX);
	mnl_attr_put_u32(nlh, FRA_TABLE, table);
	mnl_attr_put_u32(nlh, FRA_PRIORITY, priority);
	int rc = talk(nl, nlh, NULL, NULL);
	if (add && rc == -EEXIST)
		return 0;
	return !add && rc == -ENOENT ? 0 : rc;
}

struct addr_walk {
	void (*fn)(const struct kt_addr *a, void *arg);
	void *arg;
};

static int addr_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);
	if ((type == IFA_LOCAL || type == IFA_ADDRESS) && mnl_attr_validate(attr, MNL_TYPE_BINARY) >= 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

/* IPv4 puts our own address in IFA_LOCAL (IFA_ADDRESS is the peer's on a
 * point-to-point link); IPv6 has only IFA_ADDRESS. */
static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_walk *w = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = { 0 };
	mnl_attr_parse(nlh, sizeof(*ifa), addr_attr, tb);
	const struct nlattr *at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	size_t len = ifa->ifa_family == AF_INET6 ? 16 : 4;
	if (!at || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
	    mnl_attr_get_payload_len(at) != len)
		return MNL_CB_OK;
	struct kt_addr a = { .version = ifa->ifa_family == AF_INET6 ? 6 : 4 };
	memcpy(a.bytes, mnl_attr_get_payload(at), len);
	w->fn(&a, w->arg);
	return MNL_CB_OK;
}

int kd_nl_addrs(struct kd_nl *nl, void (*fn)(const struct kt_addr *a, void *arg), void *arg)
{
	struct nlmsghdr *nlh = start(nl, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	struct addr_walk w = { fn, arg };
	return talk(nl, nlh, addr_cb, &w);
}
