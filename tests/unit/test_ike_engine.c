/* Two IKE engines over a simulated network (tests/unit/ike_sim.h):
 * establishment for a matrix of IKE and ESP/AH transform sets, both modes,
 * ESN on and off, with both sides' events compared and real ESP/AH packets
 * passed both ways through the CHILD_SAs they installed; the log lines and
 * status a person reads; NAT detection and the move to port 4500; further
 * CHILD_SAs through CREATE_CHILD_SA; Delete from either side. Failures,
 * loss and hostile input are in test_ike_exchanges.c. */
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
	struct sim_opt o = { 0 };
	sim_init(&s, &o, seed, NULL, NULL);
	sim_connect(&s, 5 * KT_SECONDS);
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
	struct sim_opt o = { 0 };
	sim_init(&s, &o, seed, NULL, NULL);
	sim_connect(&s, 5 * KT_SECONDS);
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
