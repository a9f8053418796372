/* The [child PEER/NAME] section: one CHILD_SA's mode, protocol, traffic
 * selectors, proposals and lifetimes, with the defaults and consistency
 * checks applied when the section ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf_int.h"
#include "core/replay.h"

enum {
	C_MODE, C_PROTOCOL, C_LOCAL_TS, C_REMOTE_TS, C_ESP, C_AH, C_REKEY_TIME, C_LIFE_TIME,
	C_REPLAY_WINDOW, C_N
};

static void set_mode(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "tunnel", "transport" };
	uint8_t w;
	if (conf_word(p, key, v, words, 2, &w))
		p->child->mode = w == 1 ? KT_MODE_TUNNEL : KT_MODE_TRANSPORT;
}

static void set_protocol(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "esp", "ah", "ah+esp" };
	conf_word(p, key, v, words, 3, &p->child->protocol);
}

static void set_local_ts(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_ts_list(p, key, v, p->child->local_ts, &p->child->n_local_ts);
}

static void set_remote_ts(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_ts_list(p, key, v, p->child->remote_ts, &p->child->n_remote_ts);
}

static void set_esp(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_pend_proposal(p, key, KT_IKE_PROTO_ESP, v);
}

static void set_ah(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_pend_proposal(p, key, KT_IKE_PROTO_AH, v);
}

static void set_rekey_time(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_duration(p, key, v, &p->child->rekey_time);
}

static void set_life_time(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_duration(p, key, v, &p->child->life_time);
}

static void set_replay_window(struct kt_conf_parser *p, const char *key, const char *v)
{
	if (conf_uint(p, key, v, KT_REPLAY_WINDOW_MAX, &p->child->replay_window) &&
	    !p->child->replay_window)
		conf_warn(p, p->line, "replay-window = 0 turns off replay protection");
}

static const struct conf_key child_keys[C_N] = {
	[C_MODE] = { "mode", set_mode, false },
	[C_PROTOCOL] = { "protocol", set_protocol, false },
	[C_LOCAL_TS] = { "local-ts", set_local_ts, true },
	[C_REMOTE_TS] = { "remote-ts", set_remote_ts, true },
	[C_ESP] = { "esp", set_esp, true },
	[C_AH] = { "ah", set_ah, true },
	[C_REKEY_TIME] = { "rekey-time", set_rekey_time, false },
	[C_LIFE_TIME] = { "life-time", set_life_time, false },
	[C_REPLAY_WINDOW] = { "replay-window", set_replay_window, false },
};

static void default_dynamic(struct kt_conf_ts *ts, size_t *n)
{
	memset(ts, 0, sizeof(*ts));
	ts->dynamic = true;
	ts->ts.port_end = UINT16_MAX;
	*n = 1;
}

static void check_ts(struct kt_conf_parser *p, struct kt_conf_child *c)
{
	bool local = conf_key_line(p, C_LOCAL_TS), remote = conf_key_line(p, C_REMOTE_TS);
	if (c->mode == KT_MODE_TUNNEL && (!local || !remote)) {
		conf_error(p, p->sec_line, "%s: tunnel mode needs local-ts and remote-ts (write "
					   "dynamic for the IKE SA's own address)", p->sec_label);
		return;
	}
	if (!local)
		default_dynamic(c->local_ts, &c->n_local_ts);
	if (!remote)
		default_dynamic(c->remote_ts, &c->n_remote_ts);
}

/* Default esp, or ah when only ah proposals are given; proposals for a
 * protocol the child does not use are a mistake worth reporting. */
static void resolve_protocol(struct kt_conf_parser *p, struct kt_conf_child *c)
{
	unsigned esp_line = 0, ah_line = 0;
	bool esp = conf_has_pending(p, KT_IKE_PROTO_ESP, &esp_line);
	bool ah = conf_has_pending(p, KT_IKE_PROTO_AH, &ah_line);
	if (!conf_key_line(p, C_PROTOCOL)) {
		if (esp && ah)
			conf_error(p, ah_line, "esp and ah proposals both given: set protocol = ah+esp");
		c->protocol = ah && !esp ? KT_CONF_PROTO_AH : KT_CONF_PROTO_ESP;
		return;
	}
	if (c->protocol == KT_CONF_PROTO_ESP && ah)
		conf_error(p, ah_line, "ah proposals given but protocol = esp");
	if (c->protocol == KT_CONF_PROTO_AH && esp)
		conf_error(p, esp_line, "esp proposals given but protocol = ah");
}

static void child_finish(struct kt_conf_parser *p)
{
	struct kt_conf_child *c = p->child;
	bool legacy = c->peer->legacy;
	if (!conf_key_line(p, C_MODE))
		c->mode = KT_MODE_TUNNEL;
	check_ts(p, c);
	resolve_protocol(p, c);
	if (c->protocol == KT_CONF_PROTO_ESP || c->protocol == KT_CONF_PROTO_AH_ESP)
		conf_take_proposals(p, KT_IKE_PROTO_ESP, legacy, c->esp, &c->n_esp);
	if (c->protocol == KT_CONF_PROTO_AH || c->protocol == KT_CONF_PROTO_AH_ESP)
		conf_take_proposals(p, KT_IKE_PROTO_AH, legacy, c->ah, &c->n_ah);
	conf_lifetimes(p, C_REKEY_TIME, C_LIFE_TIME, KT_CONF_CHILD_REKEY_TIME, &c->rekey_time,
		       &c->life_time);
	if (!conf_key_line(p, C_REPLAY_WINDOW))
		c->replay_window = KT_REPLAY_WINDOW_DEFAULT;
}

const struct conf_section conf_child_section = { child_keys, C_N, child_finish };

static bool child_room(struct kt_conf_parser *p, const struct kt_conf_peer *peer,
		       const char *name)
{
	for (size_t i = 0; i < peer->n_children; i++)
		if (strcmp(peer->children[i]->name, name) == 0) {
			conf_error(p, p->line, "duplicate child '%s/%s' (first on line %u)",
				   peer->name, name, peer->children[i]->line);
			return false;
		}
	if (peer->n_children == KT_CONF_MAX_CHILDREN_PER_PEER) {
		conf_error(p, p->line, "more than %d children of peer '%s'",
			   KT_CONF_MAX_CHILDREN_PER_PEER, peer->name);
		return false;
	}
	if (p->conf->n_children == KT_CONF_MAX_CHILDREN) {
		conf_error(p, p->line, "more than %d children", KT_CONF_MAX_CHILDREN);
		return false;
	}
	return true;
}

void conf_child_open(struct kt_conf_parser *p, const char *peer_name, const char *name)
{
	if (!conf_valid_name(peer_name) || !conf_valid_name(name)) {
		conf_error(p, p->line, "bad child section [child %s/%s]: names use 1 to %d "
				       "letters, digits, '.', '_' or '-'", peer_name, name,
			   KT_CONF_MAX_NAME);
		return;
	}
	struct kt_conf_peer *peer = (struct kt_conf_peer *)kt_conf_peer(p->conf, peer_name);
	if (!peer) {
		conf_error(p, p->line, "child '%s/%s' belongs to unknown peer '%s' (its [peer %s] "
				       "must come first)", peer_name, name, peer_name, peer_name);
		return;
	}
	if (!child_room(p, peer, name))
		return;
	struct kt_conf_child *c = calloc(1, sizeof(*c));
	if (!c) {
		p->nomem = true;
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->line = p->line;
	c->peer = peer;
	peer->children[peer->n_children++] = c;
	p->conf->children[p->conf->n_children++] = c;
	p->peer = peer;
	p->child = c;
	p->sec = SEC_CHILD;
	snprintf(p->sec_label, sizeof(p->sec_label), "[child %s/%s]", peer_name, name);
}
