/* The configuration model and its parser (sans-I/O: the caller reads the
 * file and passes its text and name). Every problem is reported as
 * "FILE:LINE: message"; all errors are collected, not just the first, so
 * that `kotetsu check` can list them at once.
 *
 * File format (INI; DESIGN.md fixes these names; more keys may come):
 *
 *   [daemon]
 *   socket    = PATH        control socket; default /run/kotetsu/kotetsud.sock
 *                           (at most 107 bytes: sockaddr_un)
 *   pidfile   = PATH        default /run/kotetsu/kotetsud.pid
 *   tun       = NAME        TUN device; default kt0 (at most 15 bytes)
 *   log-level = error | warn | info | debug        default info
 *   workers   = auto | 0 | 2                       packet threads beside the
 *                           main one; default auto (2 on a host with 2+ CPUs)
 *   offload   = auto | off  TUN offloads (segmentation, checksums); default auto
 *
 *   [peer NAME]             one IKE SA; NAME: letters, digits, '.', '_', '-'
 *   local     = ADDRESS     our address; default: whatever the route picks
 *   remote    = ADDRESS | DNS-NAME | any           required
 *   local-id  = ID          default: the local address (if given)
 *   remote-id = ID | %any   default: the remote address (if one is given);
 *                           with a DNS name or "any" the peer's ID is not
 *                           checked unless remote-id is set
 *   auth      = psk | pubkey                       default psk
 *   psk       = "quoted" | 0xHEX | file:/ABSOLUTE/PATH   may repeat: all are
 *                           accepted from the peer, the first is ours
 *                           (rotation). Quotes may contain \" and \\.
 *   ike       = PROPOSALS   default KT_PROPOSAL_DEFAULT_IKE
 *   start     = now | on-traffic | listen          default now, listen
 *                           when remote = any
 *   nat-t     = auto | force | off                 default auto
 *   legacy    = yes | no    allow des, 3des, md5, sha1, modp768/1024/1536
 *                           in this peer's and its children's proposals
 *   rekey-time = DURATION   default 4h; 0: never rekey
 *   life-time  = DURATION   hard limit; default rekey-time + 10%
 *   keepalive  = DURATION   NAT keepalive interval when this host is behind
 *                           a NAT (RFC 3948 §2.3); default 20s; 0: none
 *
 *   [child PEER/NAME]       one CHILD_SA of [peer PEER], which must come
 *                           earlier in the file
 *   mode      = tunnel | transport                 default tunnel
 *   protocol  = esp | ah | ah+esp                  default esp, or ah when
 *                           only ah proposals are given
 *   local-ts  = TS, ...     strongSwan's form "10.1.0.0/24[tcp/80]", or
 *   remote-ts = TS, ...     "dynamic" (the IKE SA's address, optionally
 *                           "dynamic[udp/53]"). Required in tunnel mode
 *                           (a tunnel without selectors is usually a
 *                           mistake; write "dynamic" for host to host);
 *                           default dynamic in transport mode.
 *   esp       = PROPOSALS   default KT_PROPOSAL_DEFAULT_ESP
 *   ah        = PROPOSALS   default KT_PROPOSAL_DEFAULT_AH
 *   rekey-time = DURATION   default 1h; 0: never rekey
 *   life-time  = DURATION   default rekey-time + 10%
 *   replay-window = N       packets, 0..65536; default 128; 0 turns the
 *                           replay check off (a warning)
 *
 * ID: an address gives ID_IPV4_ADDR/ID_IPV6_ADDR; "@name" is an FQDN;
 * "user@name" an RFC822 address; "@#hex" or "keyid:#hex" a KEY_ID of those
 * bytes ("keyid:text" of the text); prefixes "fqdn:", "email:", "rfc822:",
 * "ipv4:", "ipv6:" force a type; anything else is an FQDN (as strongSwan).
 * DURATION: a number of seconds, or with a suffix s, m, h, d.
 * PROPOSALS: a comma list of strongSwan proposals (core/ike/proposal.h).
 * Lists (psk, local-ts, remote-ts, ike, esp, ah) may repeat their key;
 * entries accumulate, which also keeps lines short. Other keys must not
 * repeat.
 *
 * Syntax: '#' or ';' starts a comment at the start of a line or after
 * white space, except inside double quotes. Lines are limited to
 * KT_CONF_MAX_LINE characters (inih's buffer), counted after leading
 * white space and comments are removed.
 *
 * Warnings (separate from errors; parsing still succeeds): a quoted psk
 * shorter than KT_CONF_PSK_WARN_CHARS, a hex psk shorter than
 * KT_CONF_PSK_WARN_BYTES, legacy algorithms in use, replay-window = 0,
 * remote = any without remote-id. */
#ifndef KT_CONF_CONF_H
#define KT_CONF_CONF_H

#include "core/ike/msg.h"      /* enum kt_ike_id_type */
#include "core/ike/proposal.h"
#include "core/sad.h"          /* enum kt_mode, KT_SA_MAX_TS */
#include "core/ts.h"
#include "core/types.h"

#define KT_CONF_DEFAULT_FILE "/etc/kotetsu/kotetsu.conf"
#define KT_CONF_DEFAULT_SOCKET "/run/kotetsu/kotetsud.sock"
#define KT_CONF_DEFAULT_PIDFILE "/run/kotetsu/kotetsud.pid"
#define KT_CONF_DEFAULT_TUN "kt0"

/* Limits (ours). */
#define KT_CONF_MAX_PEERS 256
#define KT_CONF_MAX_CHILDREN 1024           /* in the whole file */
#define KT_CONF_MAX_CHILDREN_PER_PEER 64
#define KT_CONF_MAX_PSKS 4                  /* per peer: current and next, and some */
#define KT_CONF_MAX_PSK_LEN 256             /* bytes of one secret */
#define KT_CONF_MAX_TS KT_SA_MAX_TS         /* per side of a child: what an SA holds */
#define KT_CONF_MAX_NAME 63                 /* peer and child names */
#define KT_CONF_MAX_PATH 255
#define KT_CONF_MAX_SOCKET_PATH 107         /* sizeof(sun_path) - 1 */
#define KT_CONF_MAX_IFNAME 15               /* IFNAMSIZ - 1 */
#define KT_CONF_MAX_HOST 253                /* RFC 1035 §2.3.4, without the final dot */
#define KT_CONF_MAX_ID 255                  /* bytes of ID payload data */
#define KT_CONF_MAX_LINE 198                /* inih's INI_MAX_LINE, less '\n' and NUL */
#define KT_CONF_MAX_DURATION (366u * 86400) /* seconds */
#define KT_CONF_PSK_WARN_CHARS 20           /* quoted psk shorter than this: warning */
#define KT_CONF_PSK_WARN_BYTES 16           /* hex psk shorter than this: warning */

/* Defaults (strongSwan's): lifetimes are rekey time + 10%. */
#define KT_CONF_IKE_REKEY_TIME (4u * 3600)
#define KT_CONF_CHILD_REKEY_TIME (1u * 3600)
#define KT_CONF_LIFE_MARGIN_PERCENT 10
#define KT_CONF_KEEPALIVE 20u               /* seconds, as strongSwan's keep_alive */

/* Diagnostics: the first KT_CONF_DIAG_MAX of each kind are kept, all are
 * counted. Each line is "FILE:LINE: message". */
#define KT_CONF_DIAG_MAX 32
#define KT_CONF_DIAG_LEN 256
struct kt_conf_diag {
	size_t n_errors, n_warnings;
	char errors[KT_CONF_DIAG_MAX][KT_CONF_DIAG_LEN];
	char warnings[KT_CONF_DIAG_MAX][KT_CONF_DIAG_LEN];
};

enum kt_conf_log_level {
	KT_CONF_LOG_ERROR = 0,
	KT_CONF_LOG_WARN = 1,
	KT_CONF_LOG_INFO = 2,
	KT_CONF_LOG_DEBUG = 3,
};

/* [daemon] workers: the data plane's threads. auto is the zero value, so
 * that a file without the key gets it. */
enum kt_conf_workers {
	KT_CONF_WORKERS_AUTO = 0,  /* "auto": TWO when the host has 2+ CPUs, else NONE */
	KT_CONF_WORKERS_NONE = 1,  /* "0": packets on the main thread */
	KT_CONF_WORKERS_TWO = 2,   /* "2": an outbound and an inbound thread */
};

struct kt_conf_daemon {
	char socket[KT_CONF_MAX_SOCKET_PATH + 1];
	char pidfile[KT_CONF_MAX_PATH + 1];
	char tun[KT_CONF_MAX_IFNAME + 1];
	uint8_t log_level; /* enum kt_conf_log_level */
	uint8_t workers;   /* enum kt_conf_workers */
	bool offload_off;  /* offload = off: a plain TUN, one packet per read */
};

/* An identity as sent in an ID payload. */
struct kt_conf_id {
	uint8_t type;                 /* enum kt_ike_id_type; 0: not set */
	bool any;                     /* remote-id = %any: accept any identity */
	struct kt_addr addr;          /* address types */
	uint8_t data[KT_CONF_MAX_ID]; /* ID payload data (RFC 7296 §3.5) */
	size_t len;
	char text[KT_CONF_MAX_ID + 1]; /* as written (or the address), for logs */
};

enum kt_conf_psk_kind { KT_CONF_PSK_SECRET = 1, KT_CONF_PSK_FILE = 2 };

struct kt_conf_psk {
	uint8_t kind;    /* enum kt_conf_psk_kind */
	uint8_t *secret; /* SECRET: the bytes, wiped by kt_conf_free */
	size_t len;
	char *path;      /* FILE: absolute path; the daemon reads it and checks
			    its permissions */
	unsigned line;   /* where it was given, for the daemon's messages */
};

enum kt_conf_remote { KT_CONF_REMOTE_ADDR = 1, KT_CONF_REMOTE_DNS = 2, KT_CONF_REMOTE_ANY = 3 };
enum kt_conf_auth { KT_CONF_AUTH_PSK = 1, KT_CONF_AUTH_PUBKEY = 2 };
enum kt_conf_start { KT_CONF_START_NOW = 1, KT_CONF_START_ON_TRAFFIC = 2, KT_CONF_START_LISTEN = 3 };
enum kt_conf_nat_t { KT_CONF_NAT_AUTO = 1, KT_CONF_NAT_FORCE = 2, KT_CONF_NAT_OFF = 3 };
enum kt_conf_protocol { KT_CONF_PROTO_ESP = 1, KT_CONF_PROTO_AH = 2, KT_CONF_PROTO_AH_ESP = 3 };

struct kt_conf_child;

struct kt_conf_peer {
	char name[KT_CONF_MAX_NAME + 1];
	unsigned line;                 /* of the section header */
	struct kt_addr local;          /* version 0: not set */
	uint8_t remote_kind;           /* enum kt_conf_remote */
	struct kt_addr remote;         /* KT_CONF_REMOTE_ADDR only */
	char remote_host[KT_CONF_MAX_HOST + 1]; /* as written: address, name or "any" */
	struct kt_conf_id local_id, remote_id;
	uint8_t auth;                  /* enum kt_conf_auth */
	struct kt_conf_psk psk[KT_CONF_MAX_PSKS];
	size_t n_psk;
	struct kt_proposal ike[KT_PROPOSAL_MAX_LIST];
	size_t n_ike;
	uint8_t start;                 /* enum kt_conf_start */
	uint8_t nat_t;                 /* enum kt_conf_nat_t */
	bool legacy;
	uint32_t rekey_time, life_time; /* seconds; 0: none */
	uint32_t keepalive;            /* seconds between NAT keepalives; 0: none */
	struct kt_conf_child *children[KT_CONF_MAX_CHILDREN_PER_PEER];
	size_t n_children;
};

/* One traffic selector entry: either fixed, or "dynamic" (the IKE SA's
 * own address at the time, with ts.proto and ports from the brackets). */
struct kt_conf_ts {
	bool dynamic;
	struct kt_ts ts; /* dynamic: only proto and ports are meaningful */
};

struct kt_conf_child {
	char name[KT_CONF_MAX_NAME + 1];
	unsigned line;
	struct kt_conf_peer *peer;
	uint8_t mode;     /* enum kt_mode */
	uint8_t protocol; /* enum kt_conf_protocol */
	struct kt_conf_ts local_ts[KT_CONF_MAX_TS], remote_ts[KT_CONF_MAX_TS];
	size_t n_local_ts, n_remote_ts;
	struct kt_proposal esp[KT_PROPOSAL_MAX_LIST]; /* protocol esp or ah+esp */
	size_t n_esp;
	struct kt_proposal ah[KT_PROPOSAL_MAX_LIST];  /* protocol ah or ah+esp */
	size_t n_ah;
	uint32_t rekey_time, life_time;
	uint32_t replay_window; /* 0: replay check off */
};

struct kt_conf {
	struct kt_conf_daemon daemon;
	struct kt_conf_peer *peers[KT_CONF_MAX_PEERS]; /* in file order */
	size_t n_peers;
	struct kt_conf_child *children[KT_CONF_MAX_CHILDREN]; /* in file order */
	size_t n_children;
};

/* Parse a configuration file's text (len bytes, need not be
 * NUL-terminated; filename is only used in messages). diag may be NULL.
 * Returns 0 with *out set (warnings may have been reported), or
 *   KT_ERR_INVAL  at least one error (all are in diag); *out is NULL;
 *   KT_ERR_NOMEM.
 * Secrets are copied; the caller should wipe its text when done. */
int kt_conf_parse(const char *text, size_t len, const char *filename, struct kt_conf **out,
		  struct kt_conf_diag *diag);

/* Free a configuration, wiping every PSK. kt_conf_free(NULL) is a no-op. */
void kt_conf_free(struct kt_conf *conf);

/* Lookups; NULL if there is no such peer or child. */
const struct kt_conf_peer *kt_conf_peer(const struct kt_conf *conf, const char *name);
const struct kt_conf_child *kt_conf_child(const struct kt_conf *conf, const char *peer,
					  const char *name);

/* Names for messages and status: "psk", "now", "auto", "esp", "ah+esp",
 * "info"; "?" for values out of range. */
const char *kt_conf_auth_name(uint8_t auth);
const char *kt_conf_start_name(uint8_t start);
const char *kt_conf_nat_t_name(uint8_t nat_t);
const char *kt_conf_protocol_name(uint8_t protocol);
const char *kt_conf_log_level_name(uint8_t level);

#endif
