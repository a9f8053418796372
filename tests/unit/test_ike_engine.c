/* Two IKE engines over a simulated network (tests/unit/ike_sim.h):
 * establishment for a matrix of IKE and ESP/AH transform sets, both modes,
 * ESN on and off, with both sides' events compared and real ESP/AH packets
 * passed both ways through the CHILD_SAs they installed; the log lines and
 * status a person reads; NAT detection and the move to port 4500, NAT
 * keepalives, following the peer's new NAT mapping, transport mode through
 * NAT; further CHILD_SAs through CREATE_CHILD_SA; Delete from either side.
 * Failures, loss and hostile input are in test_ike_exchanges.c. */
#include "tests/unit/ike_sim.h"

static uint64_t seed;

/* Both sides agree on what they installed: crossed SPIs, one proposal. */
static void check_pair(const struct sim *s, size_t nth)
{
	const struct sim_ev *a = sim_find(s, 0, KT_IKE_EV_CHILD_UP, nth);
	const struct sim_ev *b = sim_find(s, 1, KT_IKE_EV_CHILD_UP, nth);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->spi_in, b->spi_out);
	assert_int_equal(a->spi_out, b->spi_in);
	assert_true(a->spi_in >= 256 && a->spi_out >= 256);
	assert_string_equal(a->proposal, b->proposal);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->esn, b->esn);
	assert_int_equal(a->encap, b->encap);
	assert_string_equal(a->child, "net");
	assert_string_equal(b->child, "net");
}

struct status {
	char proposal[128];
	char state[16];
	char local_id[KT_CONF_MAX_ID + 1], remote_id[KT_CONF_MAX_ID + 1];
	size_t n, children;
	bool nat_local, nat_remote;
	uint16_t lport, rport;
	struct kt_ike_endpoint local, remote;
	char child_state[16];
};

static void status_cb(const struct kt_ike_sa_info *in, void *arg)
{
	struct status *st = arg;
	st->n++;
	snprintf(st->proposal, sizeof(st->proposal), "%s", in->proposal);
	snprintf(st->state, sizeof(st->state), "%s", in->state);
	snprintf(st->local_id, sizeof(st->local_id), "%s", in->local_id);
	snprintf(st->remote_id, sizeof(st->remote_id), "%s", in->remote_id);
	st->children = in->n_children;
	st->nat_local = in->nat_local;
	st->nat_remote = in->nat_remote;
	st->lport = in->local.port;
	st->rport = in->remote.port;
	st->local = in->local;
	st->remote = in->remote;
	if (in->n_children)
		snprintf(st->child_state, sizeof(st->child_state), "%s", in->children[0].state);
}

static struct status status_of(const struct sim *s, int side)
{
	struct status st;
	memset(&st, 0, sizeof(st));
	kt_ike_foreach(s->s[side].ike, status_cb, &st);
	return st;
}

/* ---- The matrix ---- */

struct combo {
	const char *ike, *esp, *mode, *proto_line;
	const char *ike_display, *child_display;
	bool esn;
};

static const struct combo combos[] = {
	{ "aes128gcm16-prfsha256-x25519", "aes128gcm16", "tunnel", NULL,
	  "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", "AES_GCM_16_128", false },
	{ "aes256gcm16-prfsha384-ecp384", "aes256gcm16-esn", "transport", NULL,
	  "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_384", "AES_GCM_16_256/EXT_SEQ", true },
	{ "chacha20poly1305-prfsha512-ecp521", "chacha20poly1305", "tunnel", NULL,
	  "CHACHA20_POLY1305/PRF_HMAC_SHA2_512/ECP_521", "CHACHA20_POLY1305", false },
	{ "aes128-sha256-modp2048", "aes128-sha256-esn", "tunnel", NULL,
	  "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
	  "AES_CBC_128/HMAC_SHA2_256_128/EXT_SEQ", true },
	{ "aes256-sha384-ecp256", "aes256-sha384", "transport", NULL,
	  "AES_CBC_256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_256", "AES_CBC_256/HMAC_SHA2_384_192",
	  false },
	{ "aes256-sha512-modp3072", "aes256-sha512", "tunnel", NULL,
	  "AES_CBC_256/HMAC_SHA2_512_256/PRF_HMAC_SHA2_512/MODP_3072", "AES_CBC_256/HMAC_SHA2_512_256",
	  false },
	{ "aes256gcm16-prfsha256-modp4096", "sha256", "tunnel", "protocol = ah\n",
	  "AES_GCM_16_256/PRF_HMAC_SHA2_256/MODP_4096", "HMAC_SHA2_256_128", false },
	{ "aes128gcm16-prfsha512-ecp256", "sha384-esn", "transport", "protocol = ah\n",
	  "AES_GCM_16_128/PRF_HMAC_SHA2_512/ECP_256", "HMAC_SHA2_384_192/EXT_SEQ", true },
	{ "chacha20poly1305-prfsha384-x25519", "aes256gcm16-esn", "tunnel", NULL,
	  "CHACHA20_POLY1305/PRF_HMAC_SHA2_384/CURVE_25519", "AES_GCM_16_256/EXT_SEQ", true },
	{ "aes128-sha256-prfsha512-modp2048", "aes128gcm16", "transport", NULL,
	  "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_512/MODP_2048", "AES_GCM_16_128", false },
};

static void pass_both_ways(struct sim *s, const struct combo *c)
{
	const struct sim_ev *a = sim_find(s, 0, KT_IKE_EV_CHILD_UP, 0);
	bool ah = c->proto_line != NULL;
	bool transport = strcmp(c->mode, "transport") == 0;
	const char *ai = transport ? SIM_ADDR_A : "10.1.0.5", *bi = transport ? SIM_ADDR_B : "10.2.0.9";
	sim_pass(s, 0, a->spi_out, ah, ai, bi);
	sim_pass(s, 1, a->spi_in, ah, bi, ai);
	sim_pass(s, 0, a->spi_out, ah, ai, bi);
}

static void test_matrix(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(combos) / sizeof(combos[0]); i++) {
		const struct combo *c = &combos[i];
		struct sim s;
		struct sim_opt o = { .ike = c->ike, .esp = c->esp, .mode = c->mode, .proto_line = c->proto_line };
		sim_init(&s, &o, seed + i, NULL, NULL);
		sim_connect(&s, 5 * KT_SECONDS);
		if (!sim_both_up(&s, NULL)) {
			sim_dump_logs(&s);
			fail_msg("combination %zu (%s / %s) did not come up", i, c->ike, c->esp);
		}
		check_pair(&s, 0);
		const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0);
		assert_string_equal(a->proposal, c->child_display);
		assert_int_equal(a->esn, c->esn);
		assert_int_equal(a->mode, strcmp(c->mode, "transport") ? KT_MODE_TUNNEL : KT_MODE_TRANSPORT);
		assert_int_equal(a->protocol, c->proto_line ? KT_CONF_PROTO_AH : KT_CONF_PROTO_ESP);
		struct status sa = status_of(&s, 0), sb = status_of(&s, 1);
		assert_string_equal(sa.proposal, c->ike_display);
		assert_string_equal(sb.proposal, c->ike_display);
		assert_string_equal(sa.state, "established");
		assert_string_equal(sa.child_state, "installed");
		assert_false(a->encap);
		pass_both_ways(&s, c);
		sim_free(&s);
	}
}

/* ---- What a person reads ---- */

static void test_log_lines_and_status(void **state)
{
	(void)state;
	struct sim s;
	sim_up(&s, seed);
	assert_true(sim_both_up(&s, NULL));
	assert_non_null(sim_log_has(&s, 0, "peer b: IKE SA established AES_GCM_16_128/PRF_HMAC_SHA2_256/"
					    "CURVE_25519, 192.0.2.1[500] a.example <-> 192.0.2.2[500] b.example",
				    NULL));
	assert_non_null(sim_log_has(&s, 1, "peer a: IKE SA established", "192.0.2.2[500] b.example <-> "
										"192.0.2.1[500] a.example"));
	const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0);
	char spis[64];
	snprintf(spis, sizeof(spis), "SPIs %08x_i %08x_o", a->spi_in, a->spi_out);
	assert_non_null(sim_log_has(&s, 0, "CHILD_SA net installed, ESP tunnel AES_GCM_16_128", spis));
	assert_non_null(sim_log_has(&s, 0, "10.1.0.0/24 === 10.2.0.0/24", NULL));
	assert_non_null(sim_log_has(&s, 1, "10.2.0.0/24 === 10.1.0.0/24", NULL));
	struct status st = status_of(&s, 0);
	assert_int_equal(st.n, 1);
	assert_string_equal(st.local_id, "a.example");
	assert_string_equal(st.remote_id, "b.example");
	assert_int_equal(st.children, 1);
	const struct sim_ev *up = sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0);
	assert_string_equal(up->peer, "b");
	assert_true(up->ike_id > 0);
	struct kt_ike_stats stats;
	kt_ike_get_stats(s.s[1].ike, &stats);
	assert_int_equal(stats.rx, 2);
	assert_int_equal(stats.tx, 2);
	assert_int_equal(stats.half_open, 0);
	sim_free(&s);
}

/* ---- NAT ---- */

static void test_nat_detected(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .remote_r = "any" };
	sim_init(&s, &o, seed, NULL, NULL);
	s.nat = true;
	sim_connect(&s, 5 * KT_SECONDS);
	assert_true(sim_both_up(&s, NULL));
	check_pair(&s, 0);
	const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0);
	assert_true(a->encap);
	struct status sa = status_of(&s, 0), sb = status_of(&s, 1);
	assert_true(sa.nat_local);
	assert_false(sa.nat_remote);
	assert_true(sb.nat_remote);
	assert_false(sb.nat_local);
	assert_int_equal(sa.lport, KT_IKE_NATT_PORT);
	assert_int_equal(sa.rport, KT_IKE_NATT_PORT);
	assert_int_equal(sb.lport, KT_IKE_NATT_PORT);
	assert_int_equal(sb.rport, KT_IKE_NATT_PORT + SIM_NAT_PORT_SHIFT); /* the NAT's mapping */
	sim_pass(&s, 0, a->spi_out, false, "10.1.0.5", "10.2.0.9");
	sim_pass(&s, 1, a->spi_in, false, "10.2.0.9", "10.1.0.5");
	sim_free(&s);
}

static void test_nat_force_and_off(void **state)
{
	(void)state;
	struct {
		const char *nat_i, *nat_r;
		bool nat, encap;
	} cases[] = {
		{ "force", "auto", false, true },  /* fake hash: both encapsulate, as strongSwan */
		{ "auto", "force", false, true },
		{ "off", "auto", true, false },    /* no NATD sent: nothing detected */
		{ "auto", "auto", false, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim s;
		struct sim_opt o = { .nat_t_i = cases[i].nat_i, .nat_t_r = cases[i].nat_r, .remote_r = "any" };
		sim_init(&s, &o, seed, NULL, NULL);
		s.nat = cases[i].nat;
		sim_connect(&s, 5 * KT_SECONDS);
		assert_true(sim_both_up(&s, NULL));
		check_pair(&s, 0);
		const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0);
		assert_int_equal(a->encap, cases[i].encap);
		struct status sa = status_of(&s, 0);
		assert_int_equal(sa.lport, cases[i].encap ? KT_IKE_NATT_PORT : KT_IKE_PORT);
		sim_pass(&s, 0, a->spi_out, false, "10.1.0.5", "10.2.0.9");
		sim_free(&s);
	}
}

/* AH authenticates the addresses a NAT rewrites: with a NAT in the path
 * (or nat-t = force) the AH child is refused with a reason a person can act
 * on, the IKE SA stays up, and nothing is installed on either side. */
static void test_ah_refused_across_nat(void **state)
{
	(void)state;
	struct {
		const char *nat_i;
		bool nat;
	} cases[] = { { "auto", true }, { "force", false } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim s;
		struct sim_opt o = { .proto_line = "protocol = ah\n", .esp = "sha256",
				     .nat_t_i = cases[i].nat_i, .remote_r = "any" };
		sim_init(&s, &o, seed, NULL, NULL);
		s.nat = cases[i].nat;
		sim_connect(&s, 5 * KT_SECONDS);
		assert_non_null(sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0));
		assert_non_null(sim_find(&s, 1, KT_IKE_EV_IKE_UP, 0));
		assert_null(sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0));
		assert_null(sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 0));
		assert_non_null(sim_log_has(&s, 0, "AH cannot cross NAT (it authenticates the IP "
					    "addresses the NAT rewrites): use ESP", NULL));
		sim_free(&s);
	}
}

/* ---- More CHILD_SAs ---- */

static const char second_child_i[] = "[child b/more]\nlocal-ts = 10.1.1.0/24\nremote-ts = 10.2.1.0/24\n"
				     "esp = aes256gcm16-ecp256\n";
static const char second_child_r[] = "[child a/more]\nlocal-ts = 10.2.0.0/16\nremote-ts = 10.1.0.0/16\n"
				     "esp = aes256gcm16-x25519-ecp256\n";

/* ---- NAT keepalives, the peer's new mapping, transport mode (RFC 3948 §2.3,
 * RFC 7296 §2.23, §2.23.1) ---- */

static struct kt_ike_endpoint ep(const char *addr, uint16_t port)
{
	return (struct kt_ike_endpoint){ .addr = sim_addr(addr), .port = port };
}

static void expect_ep(const struct kt_ike_endpoint *e, const char *addr, uint16_t port)
{
	char got[48];
	kt_addr_format(&e->addr, got, sizeof(got));
	if (strcmp(got, addr) || e->port != port)
		fail_msg("endpoint %s:%u, expected %s:%u", got, e->port, addr, port);
}

/* A single-host selector of addr. */
static void expect_host(const struct kt_ts *t, const char *addr)
{
	struct kt_addr a = sim_addr(addr);
	char got[48];
	if (!kt_addr_equal(&t->start, &a) || !kt_addr_equal(&t->end, &a))
		fail_msg("selector starts at %s, expected the host %s", kt_addr_format(&t->start, got,
										   sizeof(got)), addr);
}

/* Run the network until `at`. */
static void run_until(struct sim *s, kt_tstamp at)
{
	if (at > s->now)
		sim_run(s, at - s->now, NULL, NULL);
}

static uint64_t stat_keepalives(const struct sim *s, int side, uint64_t *tx)
{
	struct kt_ike_stats st;
	kt_ike_get_stats(s->s[side].ike, &st);
	if (tx)
		*tx = st.tx;
	return st.keepalives;
}

/* The side behind the NAT sends a keepalive every 20 s (the default) from
 * its port 4500 to the peer's, only while the IKE SA is up; the other side
 * sends none; they are no IKE messages (tx does not count them). */
static void test_nat_keepalive(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .remote_r = "any" };
	sim_init(&s, &o, seed, NULL, NULL);
	s.nat = true;
	sim_connect(&s, 5 * KT_SECONDS);
	assert_true(sim_both_up(&s, NULL));
	assert_int_equal(s.s[0].n_ka, 0); /* none during the handshake */
	kt_tstamp up = sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0)->at;
	uint64_t tx0, tx1;
	stat_keepalives(&s, 0, &tx0);
	run_until(&s, up + 65 * KT_SECONDS);
	assert_int_equal(s.s[0].n_ka, 3);
	for (size_t k = 0; k < 3; k++) {
		assert_int_equal(s.s[0].ka[k].at, up + (k + 1) * 20 * KT_SECONDS);
		expect_ep(&s.s[0].ka[k].local, SIM_ADDR_A, KT_IKE_NATT_PORT);
		expect_ep(&s.s[0].ka[k].remote, SIM_ADDR_B, KT_IKE_NATT_PORT);
	}
	assert_int_equal(s.s[1].n_ka, 0);
	assert_int_equal(stat_keepalives(&s, 0, &tx1), 3);
	assert_int_equal(tx1, tx0);
	assert_int_equal(stat_keepalives(&s, 1, NULL), 0);
	/* The SA goes, and its keepalives with it. */
	assert_int_equal(kt_ike_terminate(s.s[0].ike, s.now, "b", NULL), 0);
	sim_run(&s, 2 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_n_sas(&s, 0), 0);
	run_until(&s, s.now + 120 * KT_SECONDS);
	assert_int_equal(s.s[0].n_ka, 3);
	sim_free(&s);
}

/* Who sends keepalives: only a side behind a NAT, at its own interval. */
static void test_keepalive_who_and_when(void **state)
{
	(void)state;
	struct {
		bool nat, nat_r;
		const char *nat_t_i, *peer_i, *peer_r;
		size_t ka_i, ka_r; /* within 61 s of IKE_UP */
	} cases[] = {
		{ true, false, "auto", NULL, NULL, 3, 0 },
		{ true, false, "auto", "keepalive = 0\n", NULL, 0, 0 },     /* turned off */
		{ true, false, "auto", "keepalive = 7s\n", NULL, 8, 0 },
		{ false, false, "force", NULL, NULL, 0, 0 },               /* UDP, but no NAT */
		{ false, false, "auto", NULL, NULL, 0, 0 },
		{ true, false, "off", NULL, NULL, 0, 0 },                  /* nothing detected */
		{ false, true, "auto", NULL, "keepalive = 10s\n", 0, 6 },  /* the responder is behind it */
		{ true, true, "auto", NULL, NULL, 3, 3 },                  /* both are */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim s;
		struct sim_opt o = { .remote_r = "any", .remote_i = cases[i].nat_r ? SIM_ADDR_NAT_R : NULL,
				     .nat_t_i = cases[i].nat_t_i, .peer_i = cases[i].peer_i,
				     .peer_r = cases[i].peer_r };
		sim_init(&s, &o, seed + i, NULL, NULL);
		s.nat = cases[i].nat;
		s.nat_r = cases[i].nat_r;
		sim_connect(&s, 5 * KT_SECONDS);
		if (!sim_both_up(&s, NULL)) {
			sim_dump_logs(&s);
			fail_msg("case %zu did not come up", i);
		}
		run_until(&s, sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0)->at + 61 * KT_SECONDS);
		if (s.s[0].n_ka != cases[i].ka_i || s.s[1].n_ka != cases[i].ka_r)
			fail_msg("case %zu: %zu and %zu keepalives, expected %zu and %zu", i, s.s[0].n_ka,
				 s.s[1].n_ka, cases[i].ka_i, cases[i].ka_r);
		assert_int_equal(stat_keepalives(&s, 1, NULL), cases[i].ka_r);
		if (cases[i].ka_r) {
			expect_ep(&s.s[1].ka[0].local, SIM_ADDR_B, KT_IKE_NATT_PORT);
			expect_ep(&s.s[1].ka[0].remote, cases[i].nat ? SIM_ADDR_NAT : SIM_ADDR_A,
				  KT_IKE_NATT_PORT + (cases[i].nat ? SIM_NAT_PORT_SHIFT : 0));
		}
		sim_free(&s);
	}
}

static void reload_side0(struct sim *s, const struct sim_opt *o)
{
	char text[4096];
	sim_conf_text(text, sizeof(text), o, false);
	struct kt_conf *c = sim_parse(text);
	assert_int_equal(kt_ike_set_conf(s->s[0].ike, s->now, c), 0);
	kt_conf_free(s->s[0].conf);
	s->s[0].conf = c;
}

/* A reload starts, changes and stops keepalives of an SA that is up. */
static void test_keepalive_reload(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .remote_r = "any", .peer_i = "keepalive = 0\n" };
	sim_init(&s, &o, seed, NULL, NULL);
	s.nat = true;
	sim_connect(&s, 5 * KT_SECONDS);
	run_until(&s, s.now + 30 * KT_SECONDS);
	assert_int_equal(s.s[0].n_ka, 0);
	o.peer_i = "keepalive = 5s\n";
	reload_side0(&s, &o);
	kt_tstamp at = s.now;
	run_until(&s, at + 11 * KT_SECONDS);
	assert_int_equal(s.s[0].n_ka, 2);
	assert_int_equal(s.s[0].ka[0].at, at + 5 * KT_SECONDS);
	o.peer_i = "keepalive = 0\n";
	reload_side0(&s, &o);
	run_until(&s, s.now + 30 * KT_SECONDS);
	assert_int_equal(s.s[0].n_ka, 2);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_IKE_DOWN), 0);
	sim_free(&s);
}

/* Initiator behind a NAT, responder with remote = any and a second child
 * each: the first child ("net") is being initiated. */
static void nat_pair_initiate(struct sim *s)
{
	struct sim_opt o = { .remote_r = "any", .extra_i = second_child_i, .extra_r = second_child_r };
	sim_init(s, &o, seed, NULL, NULL);
	s->nat = true;
	assert_int_equal(kt_ike_initiate(s->s[0].ike, s->now, "b", "net", NULL), 0);
}

/* The NAT in front of the initiator changes its mapping: the responder,
 * not behind a NAT, follows the next authentic message (log line,
 * PEER_MOVED); a CHILD_SA created afterwards is sent to the new mapping,
 * and so are the responder's own requests. */
static void test_peer_moved_with_nat_mapping(void **state)
{
	(void)state;
	struct sim s;
	nat_pair_initiate(&s);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_CHILD_UP), 1);
	expect_ep(&sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 0)->out_dst, SIM_ADDR_NAT, 14500);
	s.nat_shift = 20000; /* the NAT forgot the old mapping and made a new one */
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "more", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_PEER_MOVED), 1);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_PEER_MOVED), 0);
	const struct sim_ev *mv = sim_find(&s, 1, KT_IKE_EV_PEER_MOVED, 0);
	expect_ep(&mv->remote, SIM_ADDR_NAT, 24500);
	expect_ep(&mv->local, SIM_ADDR_B, KT_IKE_NATT_PORT);
	assert_string_equal(mv->peer, "a");
	assert_int_equal(mv->ike_id, sim_find(&s, 1, KT_IKE_EV_IKE_UP, 0)->ike_id);
	const struct sim_ev *log = sim_log_has(&s, 1, "peer a: peer moved from 198.51.100.77:14500 to "
						      "198.51.100.77:24500 (NAT mapping changed)", NULL);
	assert_non_null(log);
	assert_int_equal(log->level, KT_IKE_LOG_INFO);
	struct status sb = status_of(&s, 1);
	expect_ep(&sb.remote, SIM_ADDR_NAT, 24500);
	/* The child created after the move goes to the new mapping. */
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 2);
	const struct sim_ev *b = sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 1);
	assert_non_null(b);
	assert_true(b->encap);
	expect_ep(&b->out_dst, SIM_ADDR_NAT, 24500);
	expect_ep(&b->out_src, SIM_ADDR_B, KT_IKE_NATT_PORT);
	/* The responder's own request reaches the initiator at once. */
	assert_int_equal(kt_ike_terminate(s.s[1].ike, s.now, "a", "more"), 0);
	sim_run(&s, 2 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_DOWN), 1);
	struct kt_ike_stats st;
	kt_ike_get_stats(s.s[1].ike, &st);
	assert_int_equal(st.retransmits, 0);
	sim_free(&s);
}

/* kt_ike_peer_seen: ESP from a new place moves an SA that may follow
 * (established, in UDP, not behind a NAT), nothing else. */
static void test_peer_seen(void **state)
{
	(void)state;
	struct sim s;
	nat_pair_initiate(&s);
	struct kt_ike_endpoint b2 = ep(SIM_ADDR_B, 4501), n2 = ep(SIM_ADDR_NAT, 14501);
	assert_int_equal(kt_ike_peer_seen(s.s[0].ike, s.now, 1, &b2), 0); /* not established */
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	uint64_t id0 = sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0)->ike_id;
	uint64_t id1 = sim_find(&s, 1, KT_IKE_EV_IKE_UP, 0)->ike_id;
	struct kt_ike_endpoint same = ep(SIM_ADDR_NAT, 14500), v6 = ep("2001:db8::1", 14500);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1 + 100, &n2), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, NULL), KT_ERR_INVAL);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, &same), 0);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, &v6), 0);
	assert_int_equal(kt_ike_peer_seen(s.s[0].ike, s.now, id0, &b2), 0); /* behind the NAT */
	sim_drain_events(&s);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_PEER_MOVED) + sim_count(&s, 1, KT_IKE_EV_PEER_MOVED), 0);
	struct status st0 = status_of(&s, 0);
	expect_ep(&st0.remote, SIM_ADDR_B, KT_IKE_NATT_PORT);
	/* The NAT's mapping moved to 14501: ESP from there moves the responder. */
	s.nat_shift = 10001;
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, &n2), 1);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, &n2), 0);
	sim_drain_events(&s);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_PEER_MOVED), 1);
	const struct sim_ev *mv = sim_find(&s, 1, KT_IKE_EV_PEER_MOVED, 0);
	expect_ep(&mv->remote, SIM_ADDR_NAT, 14501);
	expect_ep(&mv->local, SIM_ADDR_B, KT_IKE_NATT_PORT);
	assert_int_equal(mv->ike_id, id1);
	assert_non_null(sim_log_has(&s, 1, "peer moved from 198.51.100.77:14500 to 198.51.100.77:14501", NULL));
	struct status st1 = status_of(&s, 1);
	expect_ep(&st1.remote, SIM_ADDR_NAT, 14501);
	/* A child created now is installed toward the new mapping. */
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "more", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	const struct sim_ev *b = sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 1);
	assert_non_null(b);
	expect_ep(&b->out_dst, SIM_ADDR_NAT, 14501);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_PEER_MOVED), 1);
	/* Gone: unknown. */
	assert_int_equal(kt_ike_terminate(s.s[1].ike, s.now, "a", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_IKE_DOWN), 1);
	assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, id1, &n2), KT_ERR_NOT_FOUND);
	sim_free(&s);
}

/* Without UDP encapsulation nobody follows ESP; with nat-t = force and no
 * NAT, neither side is behind one, so both may. */
static void test_peer_seen_nat_t_modes(void **state)
{
	(void)state;
	struct {
		const char *nat_t;
		int moved;
	} cases[] = { { "auto", 0 }, { "force", 1 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim s;
		struct sim_opt o = { .nat_t_i = cases[i].nat_t };
		sim_init(&s, &o, seed, NULL, NULL);
		sim_connect(&s, 5 * KT_SECONDS);
		assert_true(sim_both_up(&s, NULL));
		struct kt_ike_endpoint a2 = ep(SIM_ADDR_A, 4501), b2 = ep(SIM_ADDR_B, 4501);
		assert_int_equal(kt_ike_peer_seen(s.s[1].ike, s.now, sim_find(&s, 1, KT_IKE_EV_IKE_UP, 0)->ike_id,
						  &a2), cases[i].moved);
		assert_int_equal(kt_ike_peer_seen(s.s[0].ike, s.now, sim_find(&s, 0, KT_IKE_EV_IKE_UP, 0)->ike_id,
						  &b2), cases[i].moved);
		sim_drain_events(&s);
		assert_int_equal(sim_count(&s, 0, KT_IKE_EV_PEER_MOVED), (size_t)cases[i].moved);
		assert_int_equal(sim_count(&s, 1, KT_IKE_EV_PEER_MOVED), (size_t)cases[i].moved);
		sim_free(&s);
	}
}

/* RFC 7296 §2.23.1: transport mode with dynamic selectors through a NAT in
 * front of either side or both. Each side installs its own view: the
 * addresses its IP headers carry. */
static void test_transport_through_nat(void **state)
{
	(void)state;
	struct {
		bool nat, nat_r, ports;
	} cases[] = { { true, false, false }, { false, true, false }, { true, true, false }, { true, false, true } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool nat = cases[i].nat, nat_r = cases[i].nat_r, ports = cases[i].ports;
		struct sim s;
		struct sim_opt o = { .mode = "transport", .remote_r = "any",
				     .remote_i = nat_r ? SIM_ADDR_NAT_R : NULL };
		if (ports) { /* proto and ports survive the substitution */
			o.lts_i = o.rts_r = "dynamic[tcp]";
			o.rts_i = o.lts_r = "dynamic[tcp/22]";
		}
		sim_init(&s, &o, seed + i, NULL, NULL);
		s.nat = nat;
		s.nat_r = nat_r;
		sim_connect(&s, 5 * KT_SECONDS);
		if (!sim_both_up(&s, NULL)) {
			sim_dump_logs(&s);
			fail_msg("case %zu did not come up", i);
		}
		check_pair(&s, 0);
		const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 0);
		const struct sim_ev *b = sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 0);
		assert_int_equal(a->mode, KT_MODE_TRANSPORT);
		assert_true(a->encap);
		const char *b_seen = nat_r ? SIM_ADDR_NAT_R : SIM_ADDR_B, *a_seen = nat ? SIM_ADDR_NAT : SIM_ADDR_A;
		expect_host(&a->lts, SIM_ADDR_A);
		expect_host(&a->rts, b_seen);
		expect_ep(&a->out_dst, b_seen, KT_IKE_NATT_PORT);
		expect_host(&b->lts, SIM_ADDR_B);
		expect_host(&b->rts, a_seen);
		expect_ep(&b->out_dst, a_seen, KT_IKE_NATT_PORT + (nat ? SIM_NAT_PORT_SHIFT : 0));
		assert_int_equal(a->n_lts, 1);
		assert_int_equal(b->n_rts, 1);
		if (nat)
			assert_non_null(sim_log_has(&s, 1, "transport mode through NAT: TSi 192.0.2.1 taken as "
							   "198.51.100.77", NULL));
		if (nat_r)
			assert_non_null(sim_log_has(&s, 1, "transport mode through NAT: TSr 203.0.113.9 taken as "
							   "192.0.2.2", NULL));
		if (ports) {
			assert_int_equal(b->lts.proto, 6);
			assert_int_equal(b->lts.port_start, 22);
			assert_int_equal(b->lts.port_end, 22);
			assert_int_equal(b->rts.proto, 6);
			assert_int_equal(b->rts.port_end, 65535);
			assert_int_equal(a->rts.port_start, 22);
		}
		sim_free(&s);
	}
}

static void test_create_child_sa(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .extra_i = second_child_i, .extra_r = second_child_r };
	sim_init(&s, &o, seed, NULL, NULL);
	sim_connect(&s, 5 * KT_SECONDS);
	/* Both children: the first in IKE_AUTH, the second with PFS (ECP-256). */
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 2);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_CHILD_UP), 2);
	const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 1);
	const struct sim_ev *b = sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 1);
	assert_string_equal(a->child, "more");
	assert_string_equal(b->child, "more");
	assert_int_equal(a->spi_in, b->spi_out);
	assert_int_equal(a->spi_out, b->spi_in);
	assert_string_equal(a->proposal, "AES_GCM_16_256/ECP_256");
	/* The responder narrowed its 10.2.0.0/16 to what was asked. */
	assert_non_null(sim_log_has(&s, 1, "CHILD_SA more installed", "10.2.1.0/24 === 10.1.1.0/24"));
	sim_pass(&s, 0, a->spi_out, false, "10.1.1.5", "10.2.1.9");
	sim_pass(&s, 1, a->spi_in, false, "10.2.1.9", "10.1.1.5");
	/* Asking again creates nothing new. */
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "more", NULL), 0);
	sim_run(&s, 2 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 2);
	sim_free(&s);
}

static void test_create_child_on_command(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .extra_i = second_child_i, .extra_r = second_child_r };
	sim_init(&s, &o, seed, NULL, NULL);
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "net", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 1);
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "more", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 2);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_CHILD_UP), 2);
	assert_int_equal(sim_n_sas(&s, 0), 1);
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "nope", NULL), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "nope", NULL, NULL), KT_ERR_NOT_FOUND);
	assert_int_equal(kt_ike_initiate(s.s[1].ike, s.now, "a", NULL, NULL), 0);
	sim_free(&s);
}

/* The responder of IKE_AUTH can open CHILD_SAs too (its own message IDs). */
static void test_child_from_responder(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .extra_i = "[child b/more]\nlocal-ts = 10.1.1.0/24\nremote-ts = 10.2.1.0/24\n",
			     .extra_r = "[child a/more]\nlocal-ts = 10.2.1.0/24\nremote-ts = 10.1.1.0/24\n" };
	sim_init(&s, &o, seed, NULL, NULL);
	assert_int_equal(kt_ike_initiate(s.s[0].ike, s.now, "b", "net", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(kt_ike_initiate(s.s[1].ike, s.now, "a", "more", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_UP), 2);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_CHILD_UP), 2);
	const struct sim_ev *b = sim_find(&s, 1, KT_IKE_EV_CHILD_UP, 1);
	const struct sim_ev *a = sim_find(&s, 0, KT_IKE_EV_CHILD_UP, 1);
	assert_int_equal(a->spi_in, b->spi_out);
	sim_pass(&s, 1, b->spi_out, false, "10.2.1.9", "10.1.1.5");
	sim_pass(&s, 0, a->spi_out, false, "10.1.1.5", "10.2.1.9");
	assert_int_equal(sim_n_sas(&s, 0), 1);
	assert_int_equal(sim_n_sas(&s, 1), 1);
	sim_free(&s);
}

/* ---- Delete ---- */

static void test_delete_ike_either_side(void **state)
{
	(void)state;
	for (int side = 0; side < 2; side++) {
		struct sim s;
		struct sim_opt o = { .extra_i = second_child_i, .extra_r = second_child_r };
		sim_init(&s, &o, seed, NULL, NULL);
		sim_connect(&s, 5 * KT_SECONDS);
		assert_int_equal(sim_count(&s, side, KT_IKE_EV_CHILD_UP), 2);
		assert_int_equal(kt_ike_terminate(s.s[side].ike, s.now, side ? "a" : "b", NULL), 0);
		sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
		for (int k = 0; k < 2; k++) {
			assert_int_equal(sim_count(&s, k, KT_IKE_EV_CHILD_DOWN), 2);
			assert_int_equal(sim_count(&s, k, KT_IKE_EV_IKE_DOWN), 1);
			assert_int_equal(sim_n_sas(&s, k), 0);
			assert_int_equal(kt_sad_count(s.s[k].sad), 0);
			assert_int_equal(sim_find(&s, k, KT_IKE_EV_IKE_DOWN, 0)->reason, 0);
		}
		assert_int_equal(kt_ike_terminate(s.s[side].ike, s.now, side ? "a" : "b", NULL), KT_ERR_NOT_FOUND);
		sim_free(&s);
	}
}

static void test_delete_child_either_side(void **state)
{
	(void)state;
	for (int side = 0; side < 2; side++) {
		struct sim s;
		struct sim_opt o = { .extra_i = second_child_i, .extra_r = second_child_r };
		sim_init(&s, &o, seed, NULL, NULL);
		sim_connect(&s, 5 * KT_SECONDS);
		assert_int_equal(kt_ike_terminate(s.s[side].ike, s.now, side ? "a" : "b", "net"), 0);
		sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
		for (int k = 0; k < 2; k++) {
			assert_int_equal(sim_count(&s, k, KT_IKE_EV_CHILD_DOWN), 1);
			assert_string_equal(sim_find(&s, k, KT_IKE_EV_CHILD_DOWN, 0)->child, "net");
			assert_int_equal(sim_count(&s, k, KT_IKE_EV_IKE_DOWN), 0);
			assert_int_equal(kt_sad_count(s.s[k].sad), 2); /* "more" stays */
		}
		const struct sim_ev *da = sim_find(&s, 0, KT_IKE_EV_CHILD_DOWN, 0);
		const struct sim_ev *db = sim_find(&s, 1, KT_IKE_EV_CHILD_DOWN, 0);
		assert_int_equal(da->spi_in, db->spi_out);
		/* the IKE SA still works: delete the other child too */
		assert_int_equal(kt_ike_terminate(s.s[1 - side].ike, s.now, side ? "b" : "a", "more"), 0);
		sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
		assert_int_equal(kt_sad_count(s.s[0].sad), 0);
		assert_int_equal(kt_sad_count(s.s[1].sad), 0);
		sim_free(&s);
	}
}

/* Both sides delete the same CHILD_SA at once (RFC 7296 §1.4.1). */
static void test_delete_crossing(void **state)
{
	(void)state;
	struct sim s;
	sim_up(&s, seed);
	assert_int_equal(kt_ike_terminate(s.s[0].ike, s.now, "b", "net"), 0);
	assert_int_equal(kt_ike_terminate(s.s[1].ike, s.now, "a", "net"), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(sim_count(&s, k, KT_IKE_EV_CHILD_DOWN), 1);
		assert_int_equal(kt_sad_count(s.s[k].sad), 0);
		assert_int_equal(sim_n_sas(&s, k), 1);
	}
	/* and the IKE SA at once, too */
	assert_int_equal(kt_ike_terminate(s.s[0].ike, s.now, "b", NULL), 0);
	assert_int_equal(kt_ike_terminate(s.s[1].ike, s.now, "a", NULL), 0);
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(sim_count(&s, k, KT_IKE_EV_IKE_DOWN), 1);
		assert_int_equal(sim_n_sas(&s, k), 0);
	}
	sim_free(&s);
}

/* A reload that drops the child config deletes the CHILD_SA; one that
 * drops the peer deletes the IKE SA. */
static void test_reload(void **state)
{
	(void)state;
	struct sim s;
	struct sim_opt o = { .extra_i = second_child_i, .extra_r = second_child_r };
	sim_init(&s, &o, seed, NULL, NULL);
	sim_connect(&s, 5 * KT_SECONDS);
	char text[4096];
	struct sim_opt o2 = { 0 };
	sim_conf_text(text, sizeof(text), &o2, false);
	struct kt_conf *c2 = sim_parse(text);
	assert_int_equal(kt_ike_set_conf(s.s[0].ike, s.now, c2), 0);
	kt_conf_free(s.s[0].conf);
	s.s[0].conf = c2;
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_CHILD_DOWN), 1);
	assert_string_equal(sim_find(&s, 0, KT_IKE_EV_CHILD_DOWN, 0)->child, "more");
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_CHILD_DOWN), 1);
	const char empty[] = "[daemon]\nsocket = /nonexistent/a.sock\n";
	struct kt_conf *c3 = sim_parse(empty);
	assert_int_equal(kt_ike_set_conf(s.s[0].ike, s.now, c3), 0);
	kt_conf_free(s.s[0].conf);
	s.s[0].conf = c3;
	sim_run(&s, 5 * KT_SECONDS, sim_settled, NULL);
	assert_int_equal(sim_count(&s, 0, KT_IKE_EV_IKE_DOWN), 1);
	assert_int_equal(sim_count(&s, 1, KT_IKE_EV_IKE_DOWN), 1);
	assert_int_equal(sim_n_sas(&s, 0), 0);
	assert_int_equal(sim_n_sas(&s, 1), 0);
	sim_free(&s);
}

static void test_event_wipe(void **state)
{
	(void)state;
	struct kt_ike_event ev;
	memset(&ev, 0xaa, sizeof(ev));
	ev.child_sa.sa[0].xf.encr_key = ev.child_sa.keys[0][0];
	kt_ike_event_wipe(&ev);
	for (size_t i = 0; i < sizeof(ev.child_sa.keys); i++)
		assert_int_equal(((uint8_t *)ev.child_sa.keys)[i], 0);
	assert_null(ev.child_sa.sa[0].xf.encr_key);
	kt_ike_event_wipe(NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *env = getenv("KT_TEST_SEED");
	seed = env ? strtoull(env, NULL, 0) : 20240601;
	printf("test_ike_engine: seed %llu (KT_TEST_SEED to change)\n", (unsigned long long)seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_log_lines_and_status),
		cmocka_unit_test(test_nat_detected),
		cmocka_unit_test(test_nat_force_and_off),
		cmocka_unit_test(test_ah_refused_across_nat),
		cmocka_unit_test(test_nat_keepalive),
		cmocka_unit_test(test_keepalive_who_and_when),
		cmocka_unit_test(test_keepalive_reload),
		cmocka_unit_test(test_peer_moved_with_nat_mapping),
		cmocka_unit_test(test_peer_seen),
		cmocka_unit_test(test_peer_seen_nat_t_modes),
		cmocka_unit_test(test_transport_through_nat),
		cmocka_unit_test(test_create_child_sa),
		cmocka_unit_test(test_create_child_on_command),
		cmocka_unit_test(test_child_from_responder),
		cmocka_unit_test(test_delete_ike_either_side),
		cmocka_unit_test(test_delete_child_either_side),
		cmocka_unit_test(test_delete_crossing),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_event_wipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
