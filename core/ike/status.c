/* Read-only views of the IKE engine for kotetsu status and keys
 * --wireshark: one kt_ike_sa_info per IKE SA with its CHILD_SAs, the IKE
 * keys Wireshark needs, and the counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/ike/ike_int.h"

/* ---- Status ---- */

static const char *sa_status(uint8_t state)
{
	switch (state) {
	case IKE_S_ESTABLISHED: return "established";
	case IKE_S_DELETING: return "deleting";
	default: return "connecting";
	}
}

static const char *child_status(uint8_t state)
{
	switch (state) {
	case CHILD_S_INSTALLED: return "installed";
	case CHILD_S_DELETING: return "deleting";
	default: return "creating";
	}
}

static void child_info(const struct ike_child *c, struct kt_ike_child_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	snprintf(ci->name, sizeof(ci->name), "%s", c->name);
	ci->state = child_status(c->state);
	ci->mode = c->mode;
	ci->protocol = c->proto == KT_IKE_PROTO_AH ? KT_CONF_PROTO_AH : KT_CONF_PROTO_ESP;
	ci->encap = c->encap;
	ci->spi_in = c->spi_in;
	ci->spi_out = c->spi_out;
	if (c->state == CHILD_S_INSTALLED) {
		struct kt_ike_choice ch = { .proto = c->proto, .encr = c->encr, .encr_bits = c->encr_bits,
					    .integ = c->integ, .dh = c->dh, .esn = c->esn };
		kt_ike_nego_display(&ch, ci->proposal, sizeof(ci->proposal));
	}
	ci->n_local_ts = c->n_lts < KT_IKE_MAX_CHILD_TS ? c->n_lts : KT_IKE_MAX_CHILD_TS;
	ci->n_remote_ts = c->n_rts < KT_IKE_MAX_CHILD_TS ? c->n_rts : KT_IKE_MAX_CHILD_TS;
	for (size_t i = 0; i < ci->n_local_ts; i++)
		ci->local_ts[i] = c->ts[i];
	for (size_t i = 0; i < ci->n_remote_ts; i++)
		ci->remote_ts[i] = c->ts[c->n_lts + i];
}

static void sa_info(const struct ike_sa *sa, struct kt_ike_sa_info *in)
{
	memset(in, 0, offsetof(struct kt_ike_sa_info, children));
	snprintf(in->peer, sizeof(in->peer), "%s", sa->peer_name);
	in->ike_id = sa->id;
	in->state = sa_status(sa->state);
	in->initiator = sa->initiator;
	in->spi_i = sa->spi_i;
	in->spi_r = sa->spi_r;
	if (sa->crypt_ready) {
		struct kt_ike_choice ch = { .proto = KT_IKE_PROTO_IKE, .encr = sa->encr, .encr_bits = sa->encr_bits,
					    .integ = sa->integ, .prf = sa->prf, .dh = sa->dh };
		kt_ike_nego_display(&ch, in->proposal, sizeof(in->proposal));
	}
	in->local = sa->local;
	in->remote = sa->remote;
	in->nat_local = sa->nat_local;
	in->nat_remote = sa->nat_remote;
	if (sa->peer) {
		struct kt_ike_id id;
		kt_ike_id_ours(&sa->peer->local_id, &sa->local.addr, &id);
		kt_ike_id_format(&id, in->local_id, sizeof(in->local_id));
	}
	if (sa->remote_id)
		snprintf(in->remote_id, sizeof(in->remote_id), "%s", sa->remote_id);
	in->established = sa->established;
	in->n_children = 0;
	for (const struct ike_child *c = sa->children; c && in->n_children < KT_IKE_INFO_MAX_CHILDREN; c = c->next)
		child_info(c, &in->children[in->n_children++]);
}

void kt_ike_foreach(const struct kt_ike *ike, void (*fn)(const struct kt_ike_sa_info *, void *),
		    void *arg)
{
	struct kt_ike_sa_info *in = malloc(sizeof(*in));
	if (!in)
		return;
	for (const struct ike_sa *sa = ike->sas; sa; sa = sa->next) {
		sa_info(sa, in);
		fn(in, arg);
	}
	free(in);
}

void kt_ike_foreach_keys(const struct kt_ike *ike,
			 void (*fn)(const struct kt_ike_key_export *, void *), void *arg)
{
	for (const struct ike_sa *sa = ike->sas; sa; sa = sa->next) {
		const struct ike_keys_kept *k = sa->keys;
		if (!k || sa->state != IKE_S_ESTABLISHED)
			continue;
		struct kt_ike_key_export x = { .spi_i = sa->spi_i, .spi_r = sa->spi_r, .encr = sa->encr,
					       .encr_key_bits = sa->encr_bits, .integ = sa->integ,
					       .encr_len = k->e_len, .integ_len = k->a_len };
		const uint8_t *p = k->data + k->d_len;
		memcpy(x.sk_ei, p, k->e_len);
		memcpy(x.sk_er, p + k->e_len, k->e_len);
		memcpy(x.sk_ai, p + 2 * k->e_len, k->a_len);
		memcpy(x.sk_ar, p + 2 * k->e_len + k->a_len, k->a_len);
		fn(&x, arg);
		OPENSSL_cleanse(&x, sizeof(x));
	}
}

void kt_ike_get_stats(const struct kt_ike *ike, struct kt_ike_stats *st)
{
	*st = ike->stats;
	st->half_open = ike->half_open;
}
