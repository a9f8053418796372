/* Installing and removing CHILD_SAs in the daemon's SADs (one per
 * direction: each data-plane thread changes only its own) as the engine
 * reports them, with the data plane's SPD rules for them; the SADs'
 * lifetimes and events. Every change and every read of what the workers
 * write is made under the write lock (worker.h). The keys stay in the
 * table only for `keys --wireshark`; they are wiped when the child is
 * removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/err.h"
#include "daemon/child.h"
#include "daemon/dataplane.h"
#include "daemon/log.h"
#include "daemon/worker.h"

/* A key pointer of the event, moved into our copy of the keys at the same
 * offset (the engine points them into ev->child_sa.keys); NULL if it
 * points elsewhere. */
static const uint8_t *rebase(const uint8_t *k, const struct kt_ike_child_sa *from,
			     const struct kt_ike_child_sa *to)
{
	const uint8_t *lo = (const uint8_t *)from->keys;
	if (!k || k < lo || k >= lo + sizeof(from->keys))
		return NULL;
	return (const uint8_t *)to->keys + (k - lo);
}

static struct kt_sad *sad_for(struct kd *kd, uint8_t dir)
{
	return dir == KT_DIR_IN ? kd->ips_in.sad : kd->ips_out.sad;
}

/* Under the write lock. */
static void free_child(struct kd *kd, struct kd_child *c)
{
	kd_dp_child_down(kd, c);
	for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++) {
		if (!c->sa[i])
			continue;
		kt_spd_forget_sa(kd->ips_out.spd, c->sa[i]);
		kt_sad_remove(sad_for(kd, c->sa[i]->p.dir), c->sa[i]);
	}
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static int add_sas(struct kd *kd, struct kd_child *c)
{
	kt_tstamp now = kd_now();
	for (size_t i = 0; i < c->csa.n_sa; i++) {
		const struct kt_sa_params *p = &c->csa.sa[i];
		int rc = kt_sad_add(sad_for(kd, p->dir), p, now, &c->sa[i]);
		if (rc < 0) {
			kd_err("peer %s: CHILD_SA %s: cannot install SA %08x_%s: %s", c->peer, c->name,
			       p->spi, p->dir == KT_DIR_IN ? "i" : "o", kt_strerror(rc));
			c->sa[i] = NULL;
			return rc;
		}
	}
	return 0;
}

int kd_child_install(struct kd *kd, const struct kt_ike_event *ev)
{
	if (ev->child_sa.n_sa > KT_IKE_CHILD_MAX_SA)
		return KT_ERR_INVAL;
	struct kd_child *c = calloc(1, sizeof(*c));
	if (!c)
		return KT_ERR_NOMEM;
	snprintf(c->peer, sizeof(c->peer), "%s", ev->peer);
	snprintf(c->name, sizeof(c->name), "%s", ev->child);
	c->ike_id = ev->ike_id;
	c->installed = kd_now();
	c->csa = ev->child_sa;
	for (size_t i = 0; i < c->csa.n_sa; i++) {
		struct kt_xform_params *xf = &c->csa.sa[i].xf;
		xf->encr_key = rebase(xf->encr_key, &ev->child_sa, &c->csa);
		xf->integ_key = rebase(xf->integ_key, &ev->child_sa, &c->csa);
	}
	kd_wk_lock(kd);
	int rc = add_sas(kd, c);
	if (rc == 0)
		rc = kd_dp_child_up(kd, c);
	if (rc < 0) {
		free_child(kd, c);
	} else {
		c->next = kd->children;
		kd->children = c;
	}
	kd_wk_unlock(kd);
	return rc < 0 ? rc : 0;
}

struct kd_child *kd_child_find(struct kd *kd, const char *peer, uint32_t spi_in, uint32_t spi_out)
{
	for (struct kd_child *c = kd->children; c; c = c->next)
		if (c->csa.spi_in == spi_in && c->csa.spi_out == spi_out &&
		    (!peer || strcmp(c->peer, peer) == 0))
			return c;
	return NULL;
}

/* Unlink and free every child for which match() is true. */
static void remove_if(struct kd *kd, bool (*match)(const struct kd_child *, const void *),
		      const void *arg)
{
	kd_wk_lock(kd);
	for (struct kd_child **pp = &kd->children; *pp;) {
		struct kd_child *c = *pp;
		if (!match(c, arg)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		free_child(kd, c);
	}
	kd_wk_unlock(kd);
}

static bool match_event(const struct kd_child *c, const void *arg)
{
	const struct kt_ike_event *ev = arg;
	return c->csa.spi_in == ev->child_sa.spi_in && c->csa.spi_out == ev->child_sa.spi_out &&
	       strcmp(c->peer, ev->peer) == 0;
}

static bool match_ike(const struct kd_child *c, const void *arg)
{
	return c->ike_id == *(const uint64_t *)arg;
}

static bool match_all(const struct kd_child *c, const void *arg)
{
	(void)c;
	(void)arg;
	return true;
}

void kd_child_remove(struct kd *kd, const struct kt_ike_event *ev)
{
	remove_if(kd, match_event, ev);
}

void kd_child_remove_ike(struct kd *kd, uint64_t ike_id)
{
	remove_if(kd, match_ike, &ike_id);
}

void kd_child_remove_all(struct kd *kd)
{
	remove_if(kd, match_all, NULL);
}

void kd_child_out_sas(const struct kd_child *c, struct kt_sa **esp, struct kt_sa **ah)
{
	*esp = *ah = NULL;
	for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++) {
		struct kt_sa *sa = c->sa[i];
		if (!sa || sa->p.dir != KT_DIR_OUT)
			continue;
		if (sa->p.proto == KT_IPPROTO_ESP)
			*esp = sa;
		else if (sa->p.proto == KT_IPPROTO_AH)
			*ah = sa;
	}
}

static uint8_t main_proto(const struct kd_child *c)
{
	return c->csa.protocol == KT_CONF_PROTO_AH ? KT_IPPROTO_AH : KT_IPPROTO_ESP;
}

void kd_child_counters(const struct kd_child *c, struct kt_sa_stats *in, struct kt_sa_stats *out)
{
	memset(in, 0, sizeof(*in));
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++) {
		const struct kt_sa *sa = c->sa[i];
		if (!sa || sa->p.proto != main_proto(c))
			continue;
		if (sa->p.dir == KT_DIR_IN && sa->p.spi == c->csa.spi_in)
			*in = sa->stats;
		else if (sa->p.dir == KT_DIR_OUT && sa->p.spi == c->csa.spi_out)
			*out = sa->stats;
	}
}

int kd_child_set_peer(struct kd *kd, struct kd_child *c, const struct kt_ike_endpoint *peer)
{
	int rc = 0;
	kd_wk_lock(kd);
	for (size_t i = 0; i < c->csa.n_sa && i < KT_IKE_CHILD_MAX_SA; i++) {
		struct kt_sa *sa = c->sa[i];
		if (!sa)
			continue;
		rc = kt_sad_set_peer(sad_for(kd, sa->p.dir), sa, &peer->addr, peer->port);
		if (rc < 0)
			break;
		/* Our copy (status, keys) follows; its key pointers stay. */
		struct kt_sa_params *p = &c->csa.sa[i];
		p->src = sa->p.src;
		p->dst = sa->p.dst;
		p->encap_sport = sa->p.encap_sport;
		p->encap_dport = sa->p.encap_dport;
	}
	kd_wk_unlock(kd);
	return rc;
}

/* ---- the SADs' lifetimes and events ---- */

kt_tstamp kd_sad_next_expiry(struct kd *kd)
{
	kd_wk_lock(kd);
	kt_tstamp a = kt_sad_next_expiry(kd->ips_out.sad), b = kt_sad_next_expiry(kd->ips_in.sad);
	kd_wk_unlock(kd);
	return a < b ? a : b;
}

void kd_sad_handle_expiry(struct kd *kd, kt_tstamp now)
{
	kd_wk_lock(kd);
	kt_sad_handle_expiry(kd->ips_out.sad, now);
	kt_sad_handle_expiry(kd->ips_in.sad, now);
	kd_wk_unlock(kd);
}

bool kd_sad_next_event(struct kd *kd, struct kt_sa_event *ev)
{
	kd_wk_lock(kd);
	bool got = kt_sad_next_event(kd->ips_out.sad, ev) || kt_sad_next_event(kd->ips_in.sad, ev);
	kd_wk_unlock(kd);
	return got;
}
