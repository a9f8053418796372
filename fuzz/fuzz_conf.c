/* Fuzz target for the configuration parser: any text either fails with
 * diagnostics or yields a model whose invariants hold; then it is freed
 * (ASan checks that the secrets' buffers are sound and nothing leaks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/err.h"

static void check_child(const struct kt_conf_child *c)
{
	if (!c->peer || c->n_local_ts > KT_CONF_MAX_TS || c->n_remote_ts > KT_CONF_MAX_TS)
		abort();
	if (c->n_local_ts == 0 || c->n_remote_ts == 0)
		abort();
	bool esp = c->protocol == KT_CONF_PROTO_ESP || c->protocol == KT_CONF_PROTO_AH_ESP;
	bool ah = c->protocol == KT_CONF_PROTO_AH || c->protocol == KT_CONF_PROTO_AH_ESP;
	if ((c->n_esp > 0) != esp || (c->n_ah > 0) != ah)
		abort();
	if (c->rekey_time && c->life_time && c->life_time <= c->rekey_time)
		abort();
}

static void check(const struct kt_conf *conf)
{
	for (size_t i = 0; i < conf->n_peers; i++) {
		const struct kt_conf_peer *p = conf->peers[i];
		if (kt_conf_peer(conf, p->name) != p || !p->n_ike || p->n_ike > KT_PROPOSAL_MAX_LIST)
			abort();
		if (p->auth == KT_CONF_AUTH_PSK && !p->n_psk)
			abort();
		for (size_t j = 0; j < p->n_psk; j++)
			if (p->psk[j].kind == KT_CONF_PSK_SECRET && (!p->psk[j].len || !p->psk[j].secret))
				abort();
		for (size_t j = 0; j < p->n_ike; j++)
			if (kt_proposal_is_legacy(&p->ike[j]) && !p->legacy)
				abort();
		for (size_t j = 0; j < p->n_children; j++)
			if (kt_conf_child(conf, p->name, p->children[j]->name) != p->children[j])
				abort();
	}
	for (size_t i = 0; i < conf->n_children; i++)
		check_child(conf->children[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kt_conf_diag diag;
	struct kt_conf *conf = NULL;
	int rc = kt_conf_parse((const char *)data, size, "fuzz.conf", &conf, &diag);
	if (rc == 0) {
		if (!conf || diag.n_errors)
			abort();
		check(conf);
	} else if (conf || (rc == KT_ERR_INVAL && !diag.n_errors)) {
		abort();
	}
	kt_conf_free(conf);
	return 0;
}
