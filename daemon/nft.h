/* The nftables rules that make the kernel drop forged cleartext (RFC 4301
 * §5.2): a packet that arrives from anywhere but the TUN with addresses
 * under a PROTECT policy should have come through the tunnel, so it is
 * dropped. One table per TUN, "inet kotetsu_<tun>", driven by libnftables. */
#ifndef KD_NFT_H
#define KD_NFT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/ts.h"

/* Longest message kd_nft_error returns, terminating NUL included. */
#define KD_NFT_ERR_LEN 256

struct kd_nft;

/* One PROTECT policy as the kernel must see it inbound: packets from
 * `remote` to `local` that did not come out of the TUN are dropped.
 * local and remote hold addresses of the same version. transport: the two
 * selectors are the gateways' own addresses, so IPsec itself (ESP, AH, and
 * UDP to our ports 500 and 4500) between them is accepted first. */
struct kd_nft_pair {
	struct kt_ts local, remote;
	bool transport;
};

/* Create the table "inet kotetsu_<tun>" with chains "input" and "forward"
 * (filter, priority filter - 10, policy accept) and no rules yet, replacing
 * a stale table of that name in the same transaction. tun: 1 to 15
 * letters, digits, '.', '_' or '-'.
 * Returns 0, -EINVAL (bad tun name), -ENOMEM, or -EIO (nftables refused:
 * no CAP_NET_ADMIN, no nf_tables in the kernel). Whenever *out is not NULL
 * afterwards, success or not, the caller reads the reason with
 * kd_nft_error(*out) and releases it with kd_nft_close (as sqlite3_open):
 * *out is NULL only when memory ran out. A failed open leaves no table. */
int kd_nft_open(const char *tun, struct kd_nft **out);

/* Replace every rule with those for pairs (n_pairs may be 0: no drops), in
 * one nftables transaction: on failure the previous rules stay whole.
 * Rule counters start again at zero. Per pair, in both chains:
 *   transport only: ESP, AH, UDP to port 500 or 4500, remote -> local: accept
 *   iifname not tun nor lo, remote -> local, proto and ports: counter drop
 * (the accept rules of every pair come before the drops; loopback packets
 * never left this host, and a 0.0.0.0/0 pair must not cut them). A pair whose
 * selectors no packet can match (two different protocols, ports on a
 * protocol without ports) adds no rule; a non-initial fragment has no ports
 * and so escapes only port-specific pairs, as RFC 4301 §4.4.1.3 wants.
 * Rules carry the comment "ipsec N" or "drop N", N the pair's index.
 * Returns 0, -EINVAL (pair with mixed or unset versions, n NULL), -ENOMEM
 * or -EIO; kd_nft_error(n) says why. */
int kd_nft_sync(struct kd_nft *n, const struct kd_nft_pair *pairs, size_t n_pairs);

/* The reason for the last failure of kd_nft_open or kd_nft_sync on n, one
 * line ("" after a success); "out of memory" for n NULL. Valid until the
 * next call on n. */
const char *kd_nft_error(const struct kd_nft *n);

/* Delete the table (if open created it) and free n. NULL is a no-op. */
void kd_nft_close(struct kd_nft *n);

#endif
