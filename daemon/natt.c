/* NAT traversal in the daemon: an authenticated ESP-in-UDP packet from a
 * new address or port (the peer's NAT mapping changed) goes to the engine,
 * which decides whether to follow it (RFC 7296 §2.23: only the side that
 * is not behind the NAT follows); when it does (PEER_MOVED, also after an
 * IKE message from the new place), every SA of that IKE SA's children
 * sends to, and expects, the new endpoint. Main thread only. */
#include "core/err.h"
#include "daemon/child.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"

/* When the engine would not follow (we are the side behind the NAT, say),
 * each further packet from there would ask again: an SA asks at most this
 * often, remembered in a small table indexed by its SPI. */
#define NATT_RECHECK (1 * KT_SECONDS)
#define NATT_SEEN_SLOTS 64

static struct {
	uint32_t spi;
	kt_tstamp when;
} seen[NATT_SEEN_SLOTS];

static bool asked_recently(uint32_t spi, kt_tstamp now)
{
	size_t i = spi % NATT_SEEN_SLOTS;
	if (seen[i].spi == spi && seen[i].when && now - seen[i].when < NATT_RECHECK)
		return true;
	seen[i].spi = spi;
	seen[i].when = now;
	return false;
}

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
	kt_tstamp now = kd_now();
	struct kd_child *c = child_by_spi_in(kd, spi_in);
	if (!c || asked_recently(spi_in, now))
		return;
	if (kt_ike_peer_seen(kd->ike, now, c->ike_id, from) == 1)
		kd_ike_flush(kd); /* PEER_MOVED comes back through kd_natt_moved */
}

void kd_natt_moved(struct kd *kd, const struct kt_ike_event *ev)
{
	for (struct kd_child *c = kd->children; c; c = c->next) {
		if (c->ike_id != ev->ike_id)
			continue;
		int rc = kd_child_set_peer(kd, c, &ev->remote);
		if (rc < 0)
			kd_warn("peer %s: CHILD_SA %s cannot follow the peer to its new address: %s",
				c->peer, c->name, kt_strerror(rc));
		for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++)
			if (c->csa.sa[i].dir == KT_DIR_IN)
				seen[c->csa.sa[i].spi % NATT_SEEN_SLOTS].when = 0;
	}
}
