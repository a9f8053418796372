/* The [daemon] and [peer NAME] sections: their keys, and the defaults and
 * cross-key checks applied when a section ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf_int.h"

/* ---- [daemon] ------------------------------------------------------------ */

enum { D_SOCKET, D_PIDFILE, D_TUN, D_LOG_LEVEL, D_WORKERS, D_OFFLOAD, D_N };

static void set_socket(struct kt_conf_parser *p, const char *key, const char *v)
{
	struct kt_conf_daemon *d = &p->conf->daemon;
	conf_path(p, key, v, d->socket, KT_CONF_MAX_SOCKET_PATH);
}

static void set_pidfile(struct kt_conf_parser *p, const char *key, const char *v)
{
	struct kt_conf_daemon *d = &p->conf->daemon;
	conf_path(p, key, v, d->pidfile, KT_CONF_MAX_PATH);
}

/* Linux's dev_valid_name: not "." or "..", no '/', ':' or white space. */
static void set_tun(struct kt_conf_parser *p, const char *key, const char *v)
{
	size_t n = strlen(v);
	if (n > KT_CONF_MAX_IFNAME || strcmp(v, ".") == 0 || strcmp(v, "..") == 0 ||
	    strpbrk(v, "/: \t")) {
		conf_error(p, p->line, "bad %s '%s': an interface name of 1 to %d characters "
				       "without '/', ':' or spaces", key, v, KT_CONF_MAX_IFNAME);
		return;
	}
	snprintf(p->conf->daemon.tun, sizeof(p->conf->daemon.tun), "%s", v);
}

static void set_log_level(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "error", "warn", "info", "debug" };
	uint8_t w;
	if (conf_word(p, key, v, words, 4, &w))
		p->conf->daemon.log_level = (uint8_t)(w - 1);
}

static void set_workers(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "auto", "0", "2" };
	static const uint8_t values[] = { KT_CONF_WORKERS_AUTO, KT_CONF_WORKERS_NONE,
					   KT_CONF_WORKERS_TWO };
	uint8_t w;
	if (conf_word(p, key, v, words, 3, &w))
		p->conf->daemon.workers = values[w - 1];
}

static void set_offload(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "auto", "off" };
	uint8_t w;
	if (conf_word(p, key, v, words, 2, &w))
		p->conf->daemon.offload_off = w == 2;
}

static const struct conf_key daemon_keys[D_N] = {
	[D_SOCKET] = { "socket", set_socket, false },
	[D_PIDFILE] = { "pidfile", set_pidfile, false },
	[D_TUN] = { "tun", set_tun, false },
	[D_LOG_LEVEL] = { "log-level", set_log_level, false },
	[D_WORKERS] = { "workers", set_workers, false },
	[D_OFFLOAD] = { "offload", set_offload, false },
};

static void daemon_finish(struct kt_conf_parser *p)
{
	(void)p; /* every key has a default and stands alone */
}

const struct conf_section conf_daemon_section = { daemon_keys, D_N, daemon_finish };

/* ---- [peer NAME] ---------------------------------------------------------- */

enum {
	P_LOCAL, P_REMOTE, P_LOCAL_ID, P_REMOTE_ID, P_AUTH, P_PSK, P_IKE, P_START, P_NAT_T,
	P_LEGACY, P_REKEY_TIME, P_LIFE_TIME, P_KEEPALIVE, P_N
};

static void set_local(struct kt_conf_parser *p, const char *key, const char *v)
{
	if (strcmp(v, "any") == 0 || strcmp(v, "%any") == 0)
		return; /* the same as not setting it */
	if (kt_addr_parse(&p->peer->local, v))
		conf_error(p, p->line, "bad %s '%s': expected an IPv4 or IPv6 address", key, v);
}

static void set_remote(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_host(p, key, v, p->peer);
}

static void set_local_id(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_id(p, key, v, false, &p->peer->local_id);
}

static void set_remote_id(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_id(p, key, v, true, &p->peer->remote_id);
}

static void set_auth(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "psk", "pubkey" };
	conf_word(p, key, v, words, 2, &p->peer->auth);
}

static void set_psk(struct kt_conf_parser *p, const char *key, const char *v)
{
	struct kt_conf_peer *peer = p->peer;
	(void)key;
	if (peer->n_psk == KT_CONF_MAX_PSKS) {
		conf_error(p, p->line, "more than %d psk values", KT_CONF_MAX_PSKS);
		return;
	}
	if (conf_psk(p, v, &peer->psk[peer->n_psk]))
		peer->n_psk++;
}

static void set_ike(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_pend_proposal(p, key, KT_IKE_PROTO_IKE, v);
}

static void set_start(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "now", "on-traffic", "listen" };
	conf_word(p, key, v, words, 3, &p->peer->start);
}

static void set_nat_t(struct kt_conf_parser *p, const char *key, const char *v)
{
	static const char *const words[] = { "auto", "force", "off" };
	conf_word(p, key, v, words, 3, &p->peer->nat_t);
}

static void set_legacy(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_bool(p, key, v, &p->peer->legacy);
}

static void set_rekey_time(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_duration(p, key, v, &p->peer->rekey_time);
}

static void set_life_time(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_duration(p, key, v, &p->peer->life_time);
}

static void set_keepalive(struct kt_conf_parser *p, const char *key, const char *v)
{
	conf_duration(p, key, v, &p->peer->keepalive);
}

static const struct conf_key peer_keys[P_N] = {
	[P_LOCAL] = { "local", set_local, false },
	[P_REMOTE] = { "remote", set_remote, false },
	[P_LOCAL_ID] = { "local-id", set_local_id, false },
	[P_REMOTE_ID] = { "remote-id", set_remote_id, false },
	[P_AUTH] = { "auth", set_auth, false },
	[P_PSK] = { "psk", set_psk, true },
	[P_IKE] = { "ike", set_ike, true },
	[P_START] = { "start", set_start, false },
	[P_NAT_T] = { "nat-t", set_nat_t, false },
	[P_LEGACY] = { "legacy", set_legacy, false },
	[P_REKEY_TIME] = { "rekey-time", set_rekey_time, false },
	[P_LIFE_TIME] = { "life-time", set_life_time, false },
	[P_KEEPALIVE] = { "keepalive", set_keepalive, false },
};

static void check_addresses(struct kt_conf_parser *p, struct kt_conf_peer *peer)
{
	if (!conf_key_line(p, P_REMOTE)) {
		conf_error(p, p->sec_line, "%s needs remote = an address, a DNS name or any",
			   p->sec_label);
		return;
	}
	if (peer->local.version && peer->remote_kind == KT_CONF_REMOTE_ADDR &&
	    peer->local.version != peer->remote.version)
		conf_error(p, conf_key_line(p, P_LOCAL),
			   "local and remote are of different address families (IPv%u, IPv%u)",
			   peer->local.version, peer->remote.version);
}

static void default_ids(struct kt_conf_parser *p, struct kt_conf_peer *peer)
{
	if (!conf_key_line(p, P_LOCAL_ID) && peer->local.version)
		conf_id_from_addr(&peer->local_id, &peer->local);
	if (!conf_key_line(p, P_REMOTE_ID) && peer->remote_kind == KT_CONF_REMOTE_ADDR)
		conf_id_from_addr(&peer->remote_id, &peer->remote);
	if (!conf_key_line(p, P_REMOTE_ID) && peer->remote_kind == KT_CONF_REMOTE_ANY &&
	    peer->auth == KT_CONF_AUTH_PSK)
		conf_warn(p, p->sec_line, "%s: remote = any without remote-id accepts any peer "
					  "that knows the psk", p->sec_label);
}

static void check_auth(struct kt_conf_parser *p, struct kt_conf_peer *peer)
{
	unsigned line = conf_key_line(p, P_AUTH);
	if (!line)
		peer->auth = KT_CONF_AUTH_PSK;
	if (peer->auth == KT_CONF_AUTH_PUBKEY)
		conf_error(p, line, "auth = pubkey needs certificates or raw public keys, which "
				    "kotetsu does not support yet");
	if (peer->auth == KT_CONF_AUTH_PSK && !conf_key_line(p, P_PSK))
		conf_error(p, line ? line : p->sec_line,
			   "%s authenticates with a psk but has none (kotetsu genpsk makes one)",
			   p->sec_label);
}

static void check_start(struct kt_conf_parser *p, struct kt_conf_peer *peer)
{
	unsigned line = conf_key_line(p, P_START);
	bool any = peer->remote_kind == KT_CONF_REMOTE_ANY;
	if (!line)
		peer->start = any ? KT_CONF_START_LISTEN : KT_CONF_START_NOW;
	else if (any && peer->start && peer->start != KT_CONF_START_LISTEN)
		conf_error(p, line, "start = %s needs a remote address or name; with remote = any "
				    "use start = listen", kt_conf_start_name(peer->start));
}

static void peer_finish(struct kt_conf_parser *p)
{
	struct kt_conf_peer *peer = p->peer;
	check_addresses(p, peer);
	check_auth(p, peer);
	default_ids(p, peer);
	conf_take_proposals(p, KT_IKE_PROTO_IKE, peer->legacy, peer->ike, &peer->n_ike);
	check_start(p, peer);
	if (!conf_key_line(p, P_NAT_T))
		peer->nat_t = KT_CONF_NAT_AUTO;
	if (!conf_key_line(p, P_KEEPALIVE))
		peer->keepalive = KT_CONF_KEEPALIVE;
	conf_lifetimes(p, P_REKEY_TIME, P_LIFE_TIME, KT_CONF_IKE_REKEY_TIME, &peer->rekey_time,
		       &peer->life_time);
}

const struct conf_section conf_peer_section = { peer_keys, P_N, peer_finish };

void conf_peer_open(struct kt_conf_parser *p, const char *name)
{
	struct kt_conf *conf = p->conf;
	if (!conf_valid_name(name)) {
		conf_error(p, p->line, "bad peer name '%s': use 1 to %d letters, digits, '.', '_' "
				       "or '-'", name, KT_CONF_MAX_NAME);
		return;
	}
	const struct kt_conf_peer *old = kt_conf_peer(conf, name);
	if (old) {
		conf_error(p, p->line, "duplicate peer '%s' (first on line %u)", name, old->line);
		return;
	}
	if (conf->n_peers == KT_CONF_MAX_PEERS) {
		conf_error(p, p->line, "more than %d peers", KT_CONF_MAX_PEERS);
		return;
	}
	struct kt_conf_peer *peer = calloc(1, sizeof(*peer));
	if (!peer) {
		p->nomem = true;
		return;
	}
	snprintf(peer->name, sizeof(peer->name), "%s", name);
	peer->line = p->line;
	conf->peers[conf->n_peers++] = peer;
	p->peer = peer;
	p->sec = SEC_PEER;
	snprintf(p->sec_label, sizeof(p->sec_label), "[peer %s]", name);
}
