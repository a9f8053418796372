/* Conversions between the core's addresses and the socket API's, and the
 * "addr:port" text that logs and status use ("[2001:db8::1]:500" for v6). */
#ifndef KD_NETADDR_H
#define KD_NETADDR_H

#include <sys/socket.h>

#include "core/ike/ike.h"

#define KD_ENDPOINT_TEXT 56 /* "[" INET6_ADDRSTRLEN "]:65535" */

/* Returns 0, or -1 for a family other than AF_INET/AF_INET6. */
int kd_sockaddr_to_endpoint(const struct sockaddr *sa, struct kt_ike_endpoint *ep);
/* An unset address (version 0) becomes the wildcard of `family`. */
socklen_t kd_endpoint_to_sockaddr(const struct kt_ike_endpoint *ep, int family,
				  struct sockaddr_storage *ss);
char *kd_endpoint_format(const struct kt_ike_endpoint *ep, char *buf, size_t size);

#endif
