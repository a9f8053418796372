/* A simulated network for IKE engine tests: two engines (side 0 the
 * initiator at 192.0.2.1, side 1 the responder at 192.0.2.2) exchange
 * datagrams through a queue with configurable loss, duplication, reordering
 * and optional NATs: one in front of side 0 (a NAPT whose port mapping can
 * change), one in front of side 1 (a port forward), on a fake clock advanced
 * to the next delivery or the next engine deadline. NAT keepalives are
 * recorded, not delivered. Events are recorded per side and CHILD_SAs
 * installed into a kt_sad per side, so tests can pass ESP both ways. Every
 * function is static inline so each test file takes what it uses. */
#ifndef KT_TEST_IKE_SIM_H
#define KT_TEST_IKE_SIM_H

#include "tests/unit/testutil.h"

#include "core/ah.h"
#include "core/conf/conf.h"
#include "core/err.h"
#include "core/esp.h"
#include "core/ike/crypt.h"
#include "core/ike/ike.h"
#include "core/ike/msg.h"
#include "core/ip.h"

#define SIM_MAX_EV 512
#define SIM_LATENCY (10 * KT_MILLISECONDS)
#define SIM_REORDER_SPREAD (40 * KT_MILLISECONDS)
#define SIM_ADDR_A "192.0.2.1"
#define SIM_ADDR_B "192.0.2.2"
#define SIM_ADDR_NAT "198.51.100.77"   /* side 0's NAT: source address */
#define SIM_ADDR_NAT_R "203.0.113.9"   /* side 1's NAT: forwards 500, 4500 to side 1 */
#define SIM_NAT_PORT_SHIFT 10000       /* side 0's NAT: initial port mapping */
#define SIM_MAX_KEEPALIVE 64

struct sim_ev {
	uint8_t type, level;
	uint16_t reason;
	uint64_t ike_id;
	char peer[KT_CONF_MAX_NAME + 1], child[KT_CONF_MAX_NAME + 1];
	char text[KT_IKE_LOG_LEN];
	uint32_t spi_in, spi_out;
	uint8_t mode, protocol;
	bool encap, esn;
	char proposal[96];
	kt_tstamp at;
	struct kt_ike_endpoint local, remote;  /* PEER_MOVED */
	struct kt_ike_endpoint out_src, out_dst; /* CHILD_UP: the outbound SA's outer
						    addresses and UDP ports */
	struct kt_ts lts, rts;                 /* CHILD_UP: the first selectors */
	size_t n_lts, n_rts;
};

/* A NAT keepalive a side sent. */
struct sim_keepalive {
	kt_tstamp at;
	struct kt_ike_endpoint local, remote;
};

struct sim_side {
	struct kt_ike *ike;
	struct kt_conf *conf;
	struct kt_addr addr;
	struct kt_sad *sad;
	struct sim_ev ev[SIM_MAX_EV];
	size_t n_ev;
	uint32_t last_req_id; /* highest request message ID this side sent */
	bool sent_req;
	size_t n_sent;        /* datagrams sent (keepalives aside) */
	struct sim_keepalive ka[SIM_MAX_KEEPALIVE];
	size_t n_ka;          /* keepalives sent (the first SIM_MAX_KEEPALIVE kept) */
};

struct sim_pkt {
	struct sim_pkt *next;
	int to;
	kt_tstamp at;
	struct kt_ike_endpoint src, dst;
	size_t len;
	uint8_t data[];
};

struct sim;
/* Called for every datagram entering the network: return false to drop it. */
typedef bool (*sim_tap)(struct sim *s, int from, uint8_t *data, size_t *len);

struct sim {
	struct sim_side s[2];
	kt_tstamp now;
	uint64_t rng;
	unsigned loss, dup, reorder; /* percent */
	bool drop_all;
	bool nat;                    /* side 0 is behind a NAT */
	uint16_t nat_shift;          /* its port mapping: port + shift (change
					it to model a new mapping: the old
					one then drops what it gets) */
	bool nat_r;                  /* side 1 is behind a port forward */
	struct sim_pkt *q;
	sim_tap tap;
	void *tap_arg;
};

static inline uint32_t sim_rand(struct sim *s)
{
	/* xorshift64*: deterministic from the test's printed seed */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return (uint32_t)((s->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static inline bool sim_chance(struct sim *s, unsigned pct) { return pct && sim_rand(s) % 100 < pct; }

static inline struct kt_conf *sim_parse(const char *text)
{
	struct kt_conf *c = NULL;
	struct kt_conf_diag d;
	int rc = kt_conf_parse(text, strlen(text), "sim.conf", &c, &d);
	if (rc)
		fail_msg("config: %s\n%s", d.n_errors ? d.errors[0] : "?", text);
	return c;
}

/* ---- Configuration text ---- */

struct sim_opt {
	const char *ike, *esp, *mode, *proto_line;   /* for both sides unless overridden */
	const char *ike_r, *esp_r, *mode_r;
	const char *psk_i, *psk_r;                  /* whole "psk = ..." lines */
	const char *local_id_i, *remote_id_i, *local_id_r, *remote_id_r;
	const char *nat_t_i, *nat_t_r;
	const char *lts_i, *rts_i, *lts_r, *rts_r;
	const char *extra_i, *extra_r;              /* more sections */
	const char *remote_r;                       /* responder's remote (default A) */
	const char *remote_i;                       /* initiator's remote (default B) */
	const char *peer_i, *peer_r;                /* more lines for the [peer] section */
};

#define SIM_PSK "psk = \"sim-psk-0123456789-abcdefghij\"\n"

static inline void sim_conf_text(char *buf, size_t len, const struct sim_opt *o, bool responder)
{
	const char *ike = responder && o->ike_r ? o->ike_r : o->ike ? o->ike : "aes128gcm16-prfsha256-x25519";
	const char *esp = responder && o->esp_r ? o->esp_r : o->esp ? o->esp : "aes128gcm16";
	const char *mode = responder && o->mode_r ? o->mode_r : o->mode ? o->mode : "tunnel";
	bool transport = strcmp(mode, "transport") == 0;
	/* local-id "-": neither local nor local-id (the address in use is the ID) */
	const char *lid = responder ? o->local_id_r : o->local_id_i;
	bool bare = lid && strcmp(lid, "-") == 0;
	const char *lts = responder ? (o->lts_r ? o->lts_r : transport ? "dynamic" : "10.2.0.0/24")
				    : (o->lts_i ? o->lts_i : transport ? "dynamic" : "10.1.0.0/24");
	const char *rts = responder ? (o->rts_r ? o->rts_r : transport ? "dynamic" : "10.1.0.0/24")
				    : (o->rts_i ? o->rts_i : transport ? "dynamic" : "10.2.0.0/24");
	snprintf(buf, len,
		 "[daemon]\nsocket = /nonexistent/%s.sock\nlog-level = debug\n"
		 "[peer %s]\n%s%s%s\nremote = %s\n%s%s%s\nremote-id = %s\n%sike = %s\n"
		 "nat-t = %s\n%s"
		 "[child %s/net]\nmode = %s\nlocal-ts = %s\nremote-ts = %s\n%s%s = %s\n%s",
		 responder ? "b" : "a", responder ? "a" : "b", bare ? "#" : "", "local = ",
		 responder ? SIM_ADDR_B : SIM_ADDR_A,
		 responder ? (o->remote_r ? o->remote_r : SIM_ADDR_A) : (o->remote_i ? o->remote_i : SIM_ADDR_B),
		 bare ? "#" : "",
		 "local-id = ",
		 bare ? "" : responder ? (o->local_id_r ? o->local_id_r : "@b.example")
				       : (o->local_id_i ? o->local_id_i : "@a.example"),
		 responder ? (o->remote_id_r ? o->remote_id_r : "@a.example")
			   : (o->remote_id_i ? o->remote_id_i : "@b.example"),
		 responder ? (o->psk_r ? o->psk_r : SIM_PSK) : (o->psk_i ? o->psk_i : SIM_PSK), ike,
		 responder ? (o->nat_t_r ? o->nat_t_r : "auto") : (o->nat_t_i ? o->nat_t_i : "auto"),
		 responder ? (o->peer_r ? o->peer_r : "") : (o->peer_i ? o->peer_i : ""),
		 responder ? "a" : "b", mode, lts, rts, o->proto_line ? o->proto_line : "",
		 o->proto_line && strstr(o->proto_line, "= ah") && !strstr(o->proto_line, "ah+esp") ? "ah" : "esp",
		 esp, responder ? (o->extra_r ? o->extra_r : "") : (o->extra_i ? o->extra_i : ""));
}

/* ---- Setup ---- */

static inline void sim_side_init(struct sim *s, int i, const char *text, const char *addr,
				 const struct kt_ike_settings *set)
{
	struct sim_side *sd = &s->s[i];
	sd->conf = sim_parse(text);
	assert_int_equal(kt_addr_parse(&sd->addr, addr), 0);
	struct kt_ike_settings st = set ? *set : (struct kt_ike_settings){ 0 };
	st.conf = sd->conf;
	assert_int_equal(kt_ike_new(&st, s->now, &sd->ike), 0);
	sd->sad = kt_sad_new();
	assert_non_null(sd->sad);
}

static inline void sim_init(struct sim *s, const struct sim_opt *o, uint64_t seed,
			    const struct kt_ike_settings *set_i, const struct kt_ike_settings *set_r)
{
	static char ta[4096], tb[4096];
	memset(s, 0, sizeof(*s));
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
	s->now = 1000 * KT_SECONDS;
	s->nat_shift = SIM_NAT_PORT_SHIFT;
	sim_conf_text(ta, sizeof(ta), o, false);
	sim_conf_text(tb, sizeof(tb), o, true);
	sim_side_init(s, 0, ta, SIM_ADDR_A, set_i);
	sim_side_init(s, 1, tb, SIM_ADDR_B, set_r);
}

static inline void sim_free(struct sim *s)
{
	while (s->q) {
		struct sim_pkt *p = s->q;
		s->q = p->next;
		free(p);
	}
	for (int i = 0; i < 2; i++) {
		kt_ike_del(s->s[i].ike);
		kt_sad_del(s->s[i].sad);
		kt_conf_free(s->s[i].conf);
	}
}

/* ---- Events ---- */

static inline void sim_install(struct sim_side *sd, const struct kt_ike_event *ev)
{
	for (size_t i = 0; i < ev->child_sa.n_sa; i++) {
		struct kt_sa *sa;
		int rc = kt_sad_add(sd->sad, &ev->child_sa.sa[i], 0, &sa);
		if (rc)
			fail_msg("kt_sad_add: %s", kt_strerror(rc));
	}
}

static inline void sim_uninstall(struct sim_side *sd, const struct kt_ike_event *ev)
{
	uint8_t proto = ev->child_sa.protocol == KT_CONF_PROTO_AH ? KT_IPPROTO_AH : KT_IPPROTO_ESP;
	struct kt_sa *in = kt_sad_lookup(sd->sad, ev->child_sa.spi_in, proto, KT_DIR_IN, NULL);
	struct kt_sa *out = kt_sad_lookup(sd->sad, ev->child_sa.spi_out, proto, KT_DIR_OUT, NULL);
	if (in)
		kt_sad_remove(sd->sad, in);
	if (out)
		kt_sad_remove(sd->sad, out);
}

/* Endpoints and selectors of PEER_MOVED and CHILD_UP events. */
static inline void sim_note_child(struct sim_ev *r, const struct kt_ike_event *ev)
{
	r->local = ev->local;
	r->remote = ev->remote;
	const struct kt_ike_child_sa *cs = &ev->child_sa;
	for (size_t i = 0; i < cs->n_sa; i++) {
		const struct kt_sa_params *p = &cs->sa[i];
		if (p->dir != KT_DIR_OUT)
			continue;
		r->out_src = (struct kt_ike_endpoint){ .addr = p->src, .port = p->encap_sport };
		r->out_dst = (struct kt_ike_endpoint){ .addr = p->dst, .port = p->encap_dport };
	}
	r->n_lts = cs->n_local_ts;
	r->n_rts = cs->n_remote_ts;
	if (cs->n_local_ts)
		r->lts = cs->local_ts[0];
	if (cs->n_remote_ts)
		r->rts = cs->remote_ts[0];
}

static inline void sim_drain_events(struct sim *s)
{
	for (int i = 0; i < 2; i++) {
		struct sim_side *sd = &s->s[i];
		struct kt_ike_event ev;
		while (kt_ike_next_event(sd->ike, &ev)) {
			if (getenv("SIM_VERBOSE"))
				fprintf(stderr, "[%c %8.3f] %d %s%s%s\n", i ? 'B' : 'A',
					(double)(s->now - 1000 * KT_SECONDS) / 1e9, ev.type, ev.text,
					ev.child[0] ? " child=" : "", ev.child);
			if (sd->n_ev < SIM_MAX_EV) {
				struct sim_ev *r = &sd->ev[sd->n_ev++];
				memset(r, 0, sizeof(*r));
				r->type = ev.type;
				r->level = ev.level;
				r->reason = ev.reason;
				r->ike_id = ev.ike_id;
				r->at = s->now;
				snprintf(r->peer, sizeof(r->peer), "%s", ev.peer);
				snprintf(r->child, sizeof(r->child), "%s", ev.child);
				snprintf(r->text, sizeof(r->text), "%s", ev.text);
				r->spi_in = ev.child_sa.spi_in;
				r->spi_out = ev.child_sa.spi_out;
				r->mode = ev.child_sa.mode;
				r->protocol = ev.child_sa.protocol;
				r->encap = ev.child_sa.encap;
				r->esn = ev.child_sa.n_sa ? ev.child_sa.sa[0].esn : false;
				snprintf(r->proposal, sizeof(r->proposal), "%s", ev.child_sa.proposal);
				sim_note_child(r, &ev);
			}
			if (ev.type == KT_IKE_EV_CHILD_UP)
				sim_install(sd, &ev);
			if (ev.type == KT_IKE_EV_CHILD_DOWN)
				sim_uninstall(sd, &ev);
			kt_ike_event_wipe(&ev);
		}
	}
}

static inline size_t sim_count(const struct sim *s, int side, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < s->s[side].n_ev; i++)
		n += s->s[side].ev[i].type == type;
	return n;
}

static inline const struct sim_ev *sim_find(const struct sim *s, int side, uint8_t type, size_t nth)
{
	for (size_t i = 0; i < s->s[side].n_ev; i++)
		if (s->s[side].ev[i].type == type && nth-- == 0)
			return &s->s[side].ev[i];
	return NULL;
}

/* A log line containing all the given fragments (NULL-terminated). */
static inline const struct sim_ev *sim_log_has(const struct sim *s, int side, const char *a,
					       const char *b)
{
	for (size_t i = 0; i < s->s[side].n_ev; i++) {
		const struct sim_ev *e = &s->s[side].ev[i];
		if (e->type == KT_IKE_EV_LOG && strstr(e->text, a) && (!b || strstr(e->text, b)))
			return e;
	}
	return NULL;
}

static inline void sim_dump_logs(const struct sim *s)
{
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < s->s[i].n_ev; k++)
			fprintf(stderr, "  %c: %s\n", i ? 'B' : 'A', s->s[i].ev[k].text);
}

/* ---- Network ---- */

static inline void sim_enqueue(struct sim *s, int to, const struct kt_ike_endpoint *src,
			       const struct kt_ike_endpoint *dst, const uint8_t *data, size_t len,
			       kt_tstamp at)
{
	struct sim_pkt *p = malloc(sizeof(*p) + len);
	assert_non_null(p);
	p->to = to;
	p->at = at;
	p->src = *src;
	p->dst = *dst;
	p->len = len;
	memcpy(p->data, data, len);
	struct sim_pkt **pp = &s->q;
	while (*pp && (*pp)->at <= at)
		pp = &(*pp)->next;
	p->next = *pp;
	*pp = p;
}

static inline struct kt_addr sim_addr(const char *text)
{
	struct kt_addr a;
	assert_int_equal(kt_addr_parse(&a, text), 0);
	return a;
}

/* The NAT in front of side 0 rewrites its source going out, and the
 * destination of what comes back through its current mapping (anything
 * else sent to it is dropped: returns false). The port forward in front of
 * side 1 rewrites its source address going out and its own address as
 * destination coming in. */
static inline bool sim_nat(struct sim *s, int from, struct kt_ike_endpoint *src, struct kt_ike_endpoint *dst)
{
	struct kt_addr nat = sim_addr(SIM_ADDR_NAT), nat_r = sim_addr(SIM_ADDR_NAT_R);
	if (s->nat && from == 0) {
		src->addr = nat;
		src->port = (uint16_t)(src->port + s->nat_shift);
	} else if (s->nat && kt_addr_equal(&dst->addr, &nat)) {
		uint16_t port = (uint16_t)(dst->port - s->nat_shift);
		if (port != KT_IKE_PORT && port != KT_IKE_NATT_PORT)
			return false; /* no such mapping (any more) */
		dst->addr = s->s[0].addr;
		dst->port = port;
	}
	if (s->nat_r && from == 1)
		src->addr = nat_r;
	else if (s->nat_r && kt_addr_equal(&dst->addr, &nat_r))
		dst->addr = s->s[1].addr;
	return true;
}

/* A NAT keepalive (RFC 3948 §2.3): recorded, never delivered. */
static inline bool sim_keepalive(struct sim *s, struct sim_side *sd, const struct kt_ike_dgram *d,
				 const uint8_t *buf, size_t n)
{
	if (n != 1 || buf[0] != 0xff)
		return false;
	assert_false(d->marker);
	assert_int_equal(d->local.port, KT_IKE_NATT_PORT);
	if (sd->n_ka < SIM_MAX_KEEPALIVE)
		sd->ka[sd->n_ka] = (struct sim_keepalive){ .at = s->now, .local = d->local, .remote = d->remote };
	sd->n_ka++;
	return true;
}

static inline void sim_note_request(struct sim_side *sd, const uint8_t *data, size_t len)
{
	struct kt_ike_hdr h;
	if (kt_ike_decode_hdr(data, len, &h) == 0 && !(h.flags & KT_IKE_FLAG_R) &&
	    (!sd->sent_req || h.msg_id > sd->last_req_id)) {
		sd->last_req_id = h.msg_id;
		sd->sent_req = true;
	}
}

static inline void sim_flush(struct sim *s)
{
	static uint8_t buf[KT_IKE_MAX_MSG];
	for (int i = 0; i < 2; i++) {
		struct sim_side *sd = &s->s[i];
		struct kt_ike_dgram d;
		int len;
		while ((len = kt_ike_next_dgram(sd->ike, &d, buf, sizeof(buf))) > 0) {
			size_t n = (size_t)len;
			if (sim_keepalive(s, sd, &d, buf, n))
				continue;
			sd->n_sent++;
			assert_int_equal(d.marker, d.local.port == KT_IKE_NATT_PORT);
			sim_note_request(sd, buf, n);
			if (s->tap && !s->tap(s, i, buf, &n))
				continue;
			if (s->drop_all || sim_chance(s, s->loss))
				continue;
			struct kt_ike_endpoint src = d.local, dst = d.remote;
			if (src.addr.version == 0)
				src.addr = sd->addr;
			if (!sim_nat(s, i, &src, &dst))
				continue;
			int copies = sim_chance(s, s->dup) ? 2 : 1;
			for (int c = 0; c < copies; c++) {
				kt_tstamp at = s->now + SIM_LATENCY;
				if (sim_chance(s, s->reorder))
					at += sim_rand(s) % SIM_REORDER_SPREAD;
				sim_enqueue(s, 1 - i, &src, &dst, buf, n, at);
			}
		}
		assert_int_equal(len, 0);
	}
	sim_drain_events(s);
}

static inline kt_tstamp sim_next_expiry(const struct sim *s)
{
	kt_tstamp a = kt_ike_next_expiry(s->s[0].ike), b = kt_ike_next_expiry(s->s[1].ike);
	return a < b ? a : b;
}

/* One step: the next delivery or the next deadline, whichever is first.
 * Returns false when nothing happens before limit. */
static inline bool sim_step(struct sim *s, kt_tstamp limit)
{
	sim_flush(s);
	kt_tstamp exp = sim_next_expiry(s);
	if (s->q && s->q->at <= exp && s->q->at <= limit) {
		struct sim_pkt *p = s->q;
		s->q = p->next;
		if (p->at > s->now)
			s->now = p->at;
		kt_ike_recv(s->s[p->to].ike, s->now, &p->dst, &p->src, p->data, p->len);
		free(p);
	} else if (exp <= limit) {
		if (exp > s->now)
			s->now = exp;
		kt_ike_handle_expiry(s->s[0].ike, s->now);
		kt_ike_handle_expiry(s->s[1].ike, s->now);
	} else {
		return false;
	}
	sim_flush(s);
	return true;
}

typedef bool (*sim_done)(const struct sim *s, void *arg);

/* Run until done (if given) holds or nothing happens for `span`. */
static inline bool sim_run(struct sim *s, kt_tstamp span, sim_done done, void *arg)
{
	kt_tstamp limit = s->now + span;
	sim_flush(s);
	while (!(done && done(s, arg)))
		if (!sim_step(s, limit))
			return done == NULL;
	return true;
}

static inline bool sim_both_up(const struct sim *s, void *arg)
{
	(void)arg;
	return sim_count(s, 0, KT_IKE_EV_IKE_UP) && sim_count(s, 1, KT_IKE_EV_IKE_UP) &&
	       sim_count(s, 0, KT_IKE_EV_CHILD_UP) && sim_count(s, 1, KT_IKE_EV_CHILD_UP);
}

static inline bool sim_settled(const struct sim *s, void *arg)
{
	(void)arg;
	return s->q == NULL;
}

/* Initiate from side 0 and run the network until quiet (no deliveries
 * pending) or the limit. */
static inline void sim_connect(struct sim *s, kt_tstamp span)
{
	assert_int_equal(kt_ike_initiate(s->s[0].ike, s->now, "b", NULL, NULL), 0);
	sim_run(s, span, sim_both_up, NULL);
	sim_run(s, 2 * KT_SECONDS, sim_settled, NULL);
}

/* The default pair (no options), connected: most tests start here. */
static inline void sim_up(struct sim *s, uint64_t seed)
{
	struct sim_opt o = { 0 };
	sim_init(s, &o, seed, NULL, NULL);
	sim_connect(s, 5 * KT_SECONDS);
}

/* ---- Crafted messages with an established SA's keys ---- */

struct sim_keys {
	struct kt_ike_key_export k;
	bool found;
};

static inline void sim_keys_cb(const struct kt_ike_key_export *k, void *arg)
{
	struct sim_keys *sk = arg;
	sk->k = *k;
	sk->found = true;
}

/* The crypto of `side`'s SA as that side sees it (out = what it sends). */
static inline bool sim_crypt(struct sim *s, int side, bool initiator, struct kt_ike_crypt *c,
			     struct sim_keys *sk)
{
	memset(sk, 0, sizeof(*sk));
	kt_ike_foreach_keys(s->s[side].ike, sim_keys_cb, sk);
	if (!sk->found)
		return false;
	struct kt_ike_keys keys;
	memset(&keys, 0, sizeof(keys));
	keys.encr_len = sk->k.encr_len;
	keys.integ_len = sk->k.integ_len;
	memcpy(keys.sk_ei, sk->k.sk_ei, sizeof(keys.sk_ei));
	memcpy(keys.sk_er, sk->k.sk_er, sizeof(keys.sk_er));
	memcpy(keys.sk_ai, sk->k.sk_ai, sizeof(keys.sk_ai));
	memcpy(keys.sk_ar, sk->k.sk_ar, sizeof(keys.sk_ar));
	return kt_ike_crypt_init(c, sk->k.encr, sk->k.encr_key_bits, sk->k.integ, &keys, initiator,
				 true) == 0;
}

/* Encrypt an inner payload chain (first type `first`, bytes body) as a
 * request from side 0 (the original initiator) and deliver it to side 1.
 * Returns kt_ike_recv's result. */
static inline int sim_inject(struct sim *s, uint8_t exchange, uint32_t msg_id, uint8_t first,
			     const uint8_t *body, size_t len, bool response)
{
	struct kt_ike_crypt c;
	struct sim_keys sk;
	assert_true(sim_crypt(s, 0, true, &c, &sk));
	c.iv_counter = 1u << 30; /* far from the engine's own IVs */
	static uint8_t buf[KT_IKE_MAX_MSG];
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	struct kt_ike_hdr h = { .spi_i = sk.k.spi_i, .spi_r = sk.k.spi_r, .exchange = exchange,
				.msg_id = msg_id,
				.flags = (uint8_t)(KT_IKE_FLAG_I | (response ? KT_IKE_FLAG_R : 0)) };
	kt_ike_write_hdr(&w, &h);
	kt_ike_write_sk_begin(&w, c.iv_len);
	struct kt_ike_sk sko;
	if (len) {
		/* splice the raw chain in: write it as payload bytes after
		 * fixing the SK payload's next-payload field */
		w.buf[w.sk_off] = first;
		memcpy(w.buf + w.len, body, len);
		w.len += len;
	}
	assert_int_equal(kt_ike_write_sk_end(&w, c.block_size, c.icv_len, &sko), 0);
	sko.next = first;
	int n = kt_ike_writer_finish(&w);
	assert_true(n > 0);
	assert_int_equal(kt_ike_crypt_seal(&c, buf, (size_t)n, &sko), 0);
	kt_ike_crypt_free(&c);
	struct kt_ike_endpoint src = { .addr = s->s[0].addr, .port = KT_IKE_PORT };
	struct kt_ike_endpoint dst = { .addr = s->s[1].addr, .port = KT_IKE_PORT };
	int rc = kt_ike_recv(s->s[1].ike, s->now, &dst, &src, buf, (size_t)n);
	return rc;
}

/* Decrypt a message side 1 sent to side 0 (in place); decoded into m. */
static inline int sim_open_from_responder(struct sim *s, uint8_t *buf, size_t len, struct kt_ike_msg *m)
{
	struct kt_ike_crypt c;
	struct sim_keys sk;
	assert_true(sim_crypt(s, 0, true, &c, &sk));
	int rc = kt_ike_decode(buf, len, m);
	struct kt_ike_sk sko;
	if (!rc)
		rc = kt_ike_sk_locate(m, c.iv_len, c.icv_len, c.block_size, &sko);
	int n = rc ? rc : kt_ike_crypt_open(&c, buf, len, &sko);
	kt_ike_crypt_free(&c);
	if (n < 0)
		return n;
	return kt_ike_decode_chain(sko.next, buf + sko.ct_off, (size_t)n, m);
}

/* Pop the datagrams side `side` has queued, keeping the last one. */
static inline size_t sim_take_last(struct sim *s, int side, uint8_t *out, size_t cap)
{
	struct kt_ike_dgram d;
	size_t last = 0;
	int len;
	while ((len = kt_ike_next_dgram(s->s[side].ike, &d, out, cap)) > 0)
		last = (size_t)len;
	return last;
}

/* ---- Data through the installed CHILD_SAs ---- */

static inline void sim_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IPv4 UDP packet src -> dst with a recognisable payload. */
static inline size_t sim_packet(uint8_t *p, const char *src, const char *dst, size_t payload)
{
	struct kt_addr s, d;
	kt_addr_parse(&s, src);
	kt_addr_parse(&d, dst);
	memset(p, 0, 28);
	p[0] = 0x45;
	sim_put16(p + 2, (uint16_t)(28 + payload));
	p[8] = 64;
	p[9] = KT_IPPROTO_UDP;
	memcpy(p + 12, s.bytes, 4);
	memcpy(p + 16, d.bytes, 4);
	kt_ip4_set_csum(p);
	sim_put16(p + 20, 4242);
	sim_put16(p + 22, 5353);
	sim_put16(p + 24, (uint16_t)(8 + payload));
	for (size_t i = 0; i < payload; i++)
		p[28 + i] = (uint8_t)(i * 13 + 1);
	return 28 + payload;
}

/* The NATs rewrite the outer IPv4 and UDP header of ESP in UDP from `from`. */
static inline void sim_nat_outer(struct sim *s, int from, uint8_t *o, size_t len, struct kt_ip_info *ip)
{
	struct kt_ike_endpoint src = { .addr = { .version = 4 } }, dst = { .addr = { .version = 4 } };
	memcpy(src.addr.bytes, o + 12, 4);
	memcpy(dst.addr.bytes, o + 16, 4);
	src.port = (uint16_t)(o[ip->hdr_len] << 8 | o[ip->hdr_len + 1]);
	dst.port = (uint16_t)(o[ip->hdr_len + 2] << 8 | o[ip->hdr_len + 3]);
	assert_true(sim_nat(s, from, &src, &dst));
	memcpy(o + 12, src.addr.bytes, 4);
	memcpy(o + 16, dst.addr.bytes, 4);
	sim_put16(o + ip->hdr_len, src.port);
	sim_put16(o + ip->hdr_len + 2, dst.port);
	sim_put16(o + ip->hdr_len + 6, 0); /* no UDP checksum (RFC 3948 §2.1 allows it) */
	kt_ip4_set_csum(o);
	assert_int_equal(kt_ip_parse(o, len, ip), 0);
}

/* Seal an inner packet with `from`'s outbound SA spi_out and open it with
 * the other side's SAD; the result must equal the original. */
static inline void sim_pass(struct sim *s, int from, uint32_t spi_out, bool ah, const char *src,
			    const char *dst)
{
	uint8_t orig[256], buf[KT_PKT_HEADROOM + 256 + KT_PKT_TAILROOM];
	size_t n = sim_packet(orig, src, dst, 64);
	struct kt_pkt pkt = { .head = buf, .cap = sizeof(buf), .off = KT_PKT_HEADROOM, .len = n };
	memcpy(buf + KT_PKT_HEADROOM, orig, n);
	uint8_t proto = ah ? KT_IPPROTO_AH : KT_IPPROTO_ESP;
	struct kt_sa *out = kt_sad_lookup(s->s[from].sad, spi_out, proto, KT_DIR_OUT, NULL);
	assert_non_null(out);
	assert_int_equal(ah ? kt_ah_seal(s->s[from].sad, out, &pkt) : kt_esp_seal(s->s[from].sad, out, &pkt), 0);
	struct kt_ip_info ip;
	assert_int_equal(kt_ip_parse(kt_pkt_data(&pkt), pkt.len, &ip), 0);
	if (ip.proto == KT_IPPROTO_UDP)
		sim_nat_outer(s, from, kt_pkt_data(&pkt), pkt.len, &ip);
	struct kt_sa *in = NULL;
	int rc = ah ? kt_ah_open(s->s[1 - from].sad, &pkt, &ip, &in)
		    : kt_esp_open(s->s[1 - from].sad, &pkt, &ip, ip.proto == KT_IPPROTO_UDP, &in);
	assert_int_equal(rc, 0);
	assert_int_equal(pkt.len, n);
	assert_memory_equal(kt_pkt_data(&pkt), orig, n);
}

/* Count IKE SAs of a side. */
static inline void sim_count_cb(const struct kt_ike_sa_info *in, void *arg)
{
	(void)in;
	(*(size_t *)arg)++;
}

static inline size_t sim_n_sas(const struct sim *s, int side)
{
	size_t n = 0;
	kt_ike_foreach(s->s[side].ike, sim_count_cb, &n);
	return n;
}

#endif
