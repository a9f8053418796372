/* rtnetlink through libmnl: the TUN's MTU and state, the routes of our
 * table, the policy-routing rules that keep kotetsud's own packets out of
 * the TUN, and the host's addresses. Each call sends one request and waits
 * for the kernel's answer, so errors come back where they are made. */
#ifndef KD_NETLINK_H
#define KD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"

struct kd_nl;

/* One route to dst/plen through ifindex in table; src (version 0: none)
 * is the preferred source address for packets the host itself sends. */
struct kd_nl_route {
	struct kt_addr dst, src;
	uint8_t plen;
	int ifindex;
	uint32_t table;
};

/* Every call returns 0 or a negative errno. */
int kd_nl_open(struct kd_nl **out);
void kd_nl_close(struct kd_nl *nl);

/* Set the link's MTU and transmit queue length (0: leave it) and bring
 * it up. */
int kd_nl_link_up(struct kd_nl *nl, int ifindex, unsigned mtu, unsigned txqlen);
/* Add (replacing one with the same destination) or delete a route;
 * deleting a route that is not there is not an error. */
int kd_nl_route(struct kd_nl *nl, bool add, const struct kd_nl_route *r);
/* The rule "not fwmark MARK lookup TABLE" at priority for the family of
 * version. Adding one that exists and deleting one that does not are not
 * errors. */
int kd_nl_rule(struct kd_nl *nl, bool add, uint8_t version, uint32_t mark, uint32_t table,
	       uint32_t priority);
/* Call fn for every address configured on the host (both families). */
int kd_nl_addrs(struct kd_nl *nl, void (*fn)(const struct kt_addr *a, void *arg), void *arg);

#endif
