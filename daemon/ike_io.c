/* The engine's output, drained after every input: datagrams to the UDP
 * sockets, events to the log, the SAD and the bookkeeping; plus the
 * commands that start IKE SAs (start = now, `kotetsu up`). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "daemon/child.h"
#include "daemon/kotetsud.h"
#include "daemon/log.h"
#include "daemon/netaddr.h"

/* ---- notes: the last failure per peer ---- */

static struct kd_note *note_find(const struct kd *kd, const char *peer)
{
	for (struct kd_note *n = kd->notes; n; n = n->next)
		if (strcmp(n->peer, peer) == 0)
			return n;
	return NULL;
}

const struct kd_note *kd_note_get(const struct kd *kd, const char *peer)
{
	return note_find(kd, peer);
}

static struct kd_note *note_make(struct kd *kd, const char *peer)
{
	struct kd_note *n = note_find(kd, peer);
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->peer, sizeof(n->peer), "%s", peer);
	n->next = kd->notes;
	kd->notes = n;
	return n;
}

static void note_down(struct kd *kd, const char *peer, const char *text)
{
	struct kd_note *n = note_make(kd, peer);
	if (n)
		snprintf(n->text, sizeof(n->text), "%s",
			 n->problem[0] && !n->problem_before_up ? n->problem : text);
}

/* The engine's "peer NAME: " prefix is left out: status names the peer. */
static void note_problem(struct kd *kd, const char *peer, const char *text)
{
	struct kd_note *n = note_make(kd, peer);
	if (!n)
		return;
	size_t len = strlen(peer);
	if (strncmp(text, "peer ", 5) == 0 && strncmp(text + 5, peer, len) == 0 &&
	    strncmp(text + 5 + len, ": ", 2) == 0)
		text += 5 + len + 2;
	snprintf(n->problem, sizeof(n->problem), "%s", text);
	n->problem_before_up = false;
}

/* Up: no down reason any more; a problem logged on the way (a child
 * refused, say) stays for status and `up --wait` until the next attempt. */
static void note_up(struct kd *kd, const char *peer)
{
	struct kd_note *n = note_find(kd, peer);
	if (n) {
		n->text[0] = '\0';
		n->problem_before_up = true;
	}
}

static void note_clear(struct kd *kd, const char *peer)
{
	for (struct kd_note **pp = &kd->notes; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->peer, peer) == 0) {
			struct kd_note *n = *pp;
			*pp = n->next;
			free(n);
			return;
		}
	}
}

void kd_notes_free(struct kd *kd)
{
	while (kd->notes) {
		struct kd_note *n = kd->notes;
		kd->notes = n->next;
		free(n);
	}
}

/* ---- events ---- */

/* Engine LOG lines name their peer themselves ("peer site-b: ..."). */
static void on_log(struct kd *kd, const struct kt_ike_event *ev)
{
	kd_log(ev->level, "%s", ev->text);
	if (ev->peer[0] && ev->level <= KT_IKE_LOG_WARN)
		note_problem(kd, ev->peer, ev->text);
}

static void log_event_text(const struct kt_ike_event *ev, uint8_t level)
{
	if (!ev->text[0])
		return;
	if (ev->peer[0])
		kd_log(level, "peer %s: %s", ev->peer, ev->text);
	else
		kd_log(level, "%s", ev->text);
}

static void on_child_up(struct kd *kd, const struct kt_ike_event *ev)
{
	int rc = kd_child_install(kd, ev);
	if (rc < 0) {
		kd_err("peer %s: CHILD_SA %s negotiated but not installed: %s", ev->peer, ev->child,
		       kt_strerror(rc));
		return;
	}
	kd_debug("peer %s: CHILD_SA %s: %zu SAs in the SAD", ev->peer, ev->child, ev->child_sa.n_sa);
}

static void on_ike_down(struct kd *kd, const struct kt_ike_event *ev)
{
	kd_child_remove_ike(kd, ev->ike_id);
	if (ev->peer[0])
		note_down(kd, ev->peer, ev->text[0] ? ev->text : "IKE SA down");
}

static void handle_event(struct kd *kd, const struct kt_ike_event *ev)
{
	switch (ev->type) {
	case KT_IKE_EV_LOG:
		on_log(kd, ev);
		break;
	/* The engine logs these changes itself: the event text is a repeat. */
	case KT_IKE_EV_IKE_UP:
		note_up(kd, ev->peer);
		log_event_text(ev, KT_CONF_LOG_DEBUG);
		break;
	case KT_IKE_EV_IKE_DOWN:
		on_ike_down(kd, ev);
		log_event_text(ev, KT_CONF_LOG_DEBUG);
		break;
	case KT_IKE_EV_CHILD_UP:
		on_child_up(kd, ev);
		break;
	case KT_IKE_EV_CHILD_DOWN:
		kd_child_remove(kd, ev);
		log_event_text(ev, KT_CONF_LOG_DEBUG);
		break;
	case KT_IKE_EV_PEER_MOVED:
		kd_natt_moved(kd, ev);
		break;
	default:
		kd_debug("unknown engine event %u", ev->type);
	}
}

/* Lifetime events of the SAD: rekeying comes with the SA lifecycle work;
 * for now they are only logged. */
static void drain_sad(struct kd *kd)
{
	struct kt_sa_event sev;
	while (kd_sad_next_event(kd, &sev))
		kd_info("SA %08x (%s): %s lifetime reached", sev.spi,
			sev.dir == KT_DIR_IN ? "in" : "out",
			sev.type == KT_SA_EV_SOFT ? "soft" : sev.type == KT_SA_EV_HARD ? "hard" :
			"sequence number");
}

void kd_ike_flush(struct kd *kd)
{
	for (;;) {
		struct kt_ike_dgram d;
		int n = kt_ike_next_dgram(kd->ike, &d, kd->buf + 4, sizeof(kd->buf) - 4);
		if (n <= 0) {
			if (n < 0)
				kd_err("engine datagram does not fit %zu bytes: %s",
				       sizeof(kd->buf) - 4, kt_strerror(n));
			break;
		}
		d.len = (size_t)n;
		kd_udp_send(kd, &d);
	}
	/* The event is large (keys, selectors): keep it off the stack. */
	static struct kt_ike_event ev;
	while (kt_ike_next_event(kd->ike, &ev)) {
		handle_event(kd, &ev);
		kt_ike_event_wipe(&ev);
	}
	drain_sad(kd);
}

/* ---- initiating ---- */

/* getaddrinfo for a DNS remote, preferring the local address's family.
 * Blocks the loop while the resolver works (at start-up and on `up`). */
static int resolve(const struct kt_conf_peer *peer, struct kt_ike_endpoint *ep, char *err,
		   size_t err_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	hints.ai_family = peer->local.version == 4 ? AF_INET :
			  peer->local.version == 6 ? AF_INET6 : AF_UNSPEC;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(peer->remote_host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, err_len, "%s: cannot resolve %s: %s", peer->name, peer->remote_host,
			 gai_strerror(rc));
		return -1;
	}
	rc = kd_sockaddr_to_endpoint(res->ai_addr, ep);
	freeaddrinfo(res);
	ep->port = KT_IKE_PORT;
	if (rc < 0)
		snprintf(err, err_len, "%s: %s resolves to no IP address", peer->name,
			 peer->remote_host);
	return rc;
}

int kd_ike_initiate(struct kd *kd, const char *peer, const char *child, char *err, size_t err_len)
{
	const struct kt_conf_peer *p = kt_conf_peer(kd->conf, peer);
	if (!p) {
		snprintf(err, err_len, "no peer %s in %s", peer, kd->conf_path);
		return -1;
	}
	if (child && !kt_conf_child(kd->conf, peer, child)) {
		snprintf(err, err_len, "no child %s/%s in %s", peer, child, kd->conf_path);
		return -1;
	}
	if (p->remote_kind == KT_CONF_REMOTE_ANY) {
		snprintf(err, err_len, "%s has remote = any: it can only respond", peer);
		return -1;
	}
	struct kt_ike_endpoint ep, *remote = NULL;
	if (p->remote_kind == KT_CONF_REMOTE_DNS) {
		if (resolve(p, &ep, err, err_len) < 0)
			return -1;
		remote = &ep;
	}
	note_clear(kd, peer);
	int rc = kt_ike_initiate(kd->ike, kd_now(), peer, child, remote);
	if (rc < 0) {
		snprintf(err, err_len, "%s%s%s: cannot initiate: %s", peer, child ? "/" : "",
			 child ? child : "", kt_strerror(rc));
		return -1;
	}
	return 0;
}

void kd_ike_start_peers(struct kd *kd, const struct kt_conf *old)
{
	for (size_t i = 0; i < kd->conf->n_peers; i++) {
		const struct kt_conf_peer *p = kd->conf->peers[i];
		if (p->start != KT_CONF_START_NOW || (old && kt_conf_peer(old, p->name)))
			continue;
		char err[KT_IKE_LOG_LEN];
		if (kd_ike_initiate(kd, p->name, NULL, err, sizeof(err)) < 0) {
			kd_err("%s", err);
			note_down(kd, p->name, err);
		} else {
			kd_info("peer %s: initiating (start = now)", p->name);
		}
	}
}

static void count_sa(const struct kt_ike_sa_info *info, void *arg)
{
	(void)info;
	(*(size_t *)arg)++;
}

size_t kd_ike_count(const struct kd *kd)
{
	size_t n = 0;
	kt_ike_foreach(kd->ike, count_sa, &n);
	return n;
}
