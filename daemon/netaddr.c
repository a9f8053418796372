/* Addresses between struct kt_addr and struct sockaddr, and as text. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "daemon/netaddr.h"

int kd_sockaddr_to_endpoint(const struct sockaddr *sa, struct kt_ike_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		ep->addr.version = 4;
		memcpy(ep->addr.bytes, &in->sin_addr, 4);
		ep->port = ntohs(in->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		ep->addr.version = 6;
		memcpy(ep->addr.bytes, &in6->sin6_addr, 16);
		ep->port = ntohs(in6->sin6_port);
		return 0;
	}
	return -1;
}

socklen_t kd_endpoint_to_sockaddr(const struct kt_ike_endpoint *ep, int family,
				  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(ep->port);
		if (ep->addr.version == 4)
			memcpy(&in->sin_addr, ep->addr.bytes, 4);
		return sizeof(*in);
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(ep->port);
	if (ep->addr.version == 6)
		memcpy(&in6->sin6_addr, ep->addr.bytes, 16);
	return sizeof(*in6);
}

char *kd_endpoint_format(const struct kt_ike_endpoint *ep, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	if (ep->addr.version == 0)
		snprintf(buf, size, "*:%u", ep->port);
	else if (ep->addr.version == 6)
		snprintf(buf, size, "[%s]:%u", kt_addr_format(&ep->addr, a, sizeof(a)), ep->port);
	else
		snprintf(buf, size, "%s:%u", kt_addr_format(&ep->addr, a, sizeof(a)), ep->port);
	return buf;
}
