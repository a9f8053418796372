/* The IKEv2 engine (RFC 7296), sans-I/O in the shape of ngtcp2: the caller
 * passes received datagrams and the time in, and takes datagrams to send,
 * events (SAs to install or remove, log lines) and the next deadline out.
 * One engine holds every IKE SA of a daemon, answers as responder for any
 * configured peer and initiates on command. It never reads a socket, a
 * clock or a file; randomness comes from kt_random (core/crypto/xform.h). */
#ifndef KT_IKE_IKE_H
#define KT_IKE_IKE_H

#include "core/conf/conf.h"
#include "core/sad.h"

#define KT_IKE_PORT 500
#define KT_IKE_NATT_PORT 4500     /* RFC 3948, RFC 7296 §2.23 */
#define KT_IKE_MAX_MSG 8192       /* our largest datagram (no fragmentation yet) */
#define KT_IKE_LOG_LEN 320        /* one log line */
#define KT_IKE_MAX_CHILD_TS KT_SA_MAX_TS

/* Defaults for struct kt_ike_settings (0 in a field means "default"). */
#define KT_IKE_RETRANSMIT_BASE (4 * KT_SECONDS) /* strongSwan's retransmit_timeout */
#define KT_IKE_RETRANSMIT_FACTOR_PCT 180        /* each try waits 1.8 times longer */
#define KT_IKE_RETRANSMIT_TRIES 5               /* then the SA fails */
#define KT_IKE_RETRANSMIT_JITTER_PCT 20         /* up to 20% shorter, at random */
#define KT_IKE_HALF_OPEN_TIMEOUT (30 * KT_SECONDS)
#define KT_IKE_COOKIE_THRESHOLD 64              /* half-open SAs before cookies */
#define KT_IKE_COOKIE_THRESHOLD_PER_SRC 8       /* from one source address */
#define KT_IKE_HALF_OPEN_MAX 4096               /* then new requests are dropped */
#define KT_IKE_COOKIE_SECRET_LIFETIME (120 * KT_SECONDS)

struct kt_ike_settings {
	const struct kt_conf *conf;    /* peers and children; file PSKs already
	                                  read (kind SECRET); must outlive the
	                                  engine or the next kt_ike_set_conf */
	kt_tstamp retransmit_base;
	uint32_t retransmit_factor_pct;
	uint32_t retransmit_tries;
	uint32_t retransmit_jitter_pct;
	kt_tstamp half_open_timeout;
	uint32_t cookie_threshold, cookie_threshold_per_src, half_open_max;
	bool send_vendor_id;           /* off: no vendor IDs, nothing to fingerprint */
};

struct kt_ike_endpoint {
	struct kt_addr addr;
	uint16_t port;
};

struct kt_ike;

/* Create an engine. Returns 0, KT_ERR_INVAL, KT_ERR_NOMEM. */
int kt_ike_new(const struct kt_ike_settings *s, kt_tstamp now, struct kt_ike **out);
/* Free everything; keys wiped. Sends nothing (call kt_ike_terminate first
 * for a clean shutdown). */
void kt_ike_del(struct kt_ike *ike);
/* Replace the configuration (reload): SAs whose peer or child is gone are
 * deleted (with Delete payloads queued); others keep running. */
int kt_ike_set_conf(struct kt_ike *ike, kt_tstamp now, const struct kt_conf *conf);

/* ---- input ---- */

/* One received IKE message (for port 4500 the caller has removed the
 * non-ESP marker). local is the address and port it arrived on. Returns 0
 * when it was processed (responses, events and errors are queued), or a
 * negative KT_ERR_* when it was dropped (counted in kt_ike_stats). */
int kt_ike_recv(struct kt_ike *ike, kt_tstamp now, const struct kt_ike_endpoint *local,
		const struct kt_ike_endpoint *remote, const uint8_t *msg, size_t len);

/* An authenticated (ICV-verified, replay-checked) ESP-in-UDP packet of one
 * of IKE SA ike_id's CHILD_SAs arrived from remote. RFC 7296 §2.23: a host
 * not behind a NAT follows the peer to the address and port of its last
 * authentic packet; a host behind one does not (anyone who can replay a
 * packet could then redirect it). So if the SA is established (or its
 * Delete is out), uses UDP encapsulation, we are not behind a NAT and
 * remote is new (same address family), the SA's IKE messages go to remote
 * from now on and PEER_MOVED is queued, with an INFO log line. New
 * authentic IKE messages on port 4500 move the SA by the same rule (a
 * retransmitted request is answered where it came from but moves nothing);
 * during the handshake the SA simply takes the address of each authentic
 * message (the move to port 4500), without an event. Returns 1 if it moved,
 * 0 if nothing changed (or the rule says no), KT_ERR_NOT_FOUND for an
 * unknown ike_id, KT_ERR_INVAL for NULL. */
int kt_ike_peer_seen(struct kt_ike *ike, kt_tstamp now, uint64_t ike_id,
		     const struct kt_ike_endpoint *remote);

/* ---- commands ---- */

/* Initiate the IKE SA of peer and the given child (NULL: every child of the
 * peer; the first rides in IKE_AUTH, the others in CREATE_CHILD_SA). If the
 * IKE SA is up, only the missing children are created. local/remote from
 * the config; for a DNS remote the caller resolves it into *remote (NULL
 * otherwise). Returns 0, KT_ERR_NOT_FOUND (no such peer/child), KT_ERR_INVAL
 * (remote = any). */
int kt_ike_initiate(struct kt_ike *ike, kt_tstamp now, const char *peer, const char *child,
		    const struct kt_ike_endpoint *remote);
/* Delete the IKE SA of peer (and its children) with an INFORMATIONAL
 * Delete; child != NULL deletes only that CHILD_SA. Returns 0 or
 * KT_ERR_NOT_FOUND. */
int kt_ike_terminate(struct kt_ike *ike, kt_tstamp now, const char *peer, const char *child);

/* ---- output ---- */

struct kt_ike_dgram {
	struct kt_ike_endpoint local, remote;
	bool marker;   /* port 4500: the caller prepends the 4-byte non-ESP marker;
	                  false for a NAT keepalive (RFC 3948 §2.3: the single
	                  byte 0xFF, sent as it is from port 4500) */
	size_t len;
};
/* Pop the next datagram to send into buf. Returns its length, 0 when none,
 * KT_ERR_NOSPACE if cap is too small (the datagram stays queued). */
int kt_ike_next_dgram(struct kt_ike *ike, struct kt_ike_dgram *d, uint8_t *buf, size_t cap);

enum kt_ike_ev_type {
	KT_IKE_EV_LOG = 1,        /* text: a line a person can act on */
	KT_IKE_EV_IKE_UP = 2,     /* IKE SA established */
	KT_IKE_EV_IKE_DOWN = 3,   /* IKE SA gone (deleted, failed, timed out) */
	KT_IKE_EV_CHILD_UP = 4,   /* install child.sa[] (inbound and outbound) */
	KT_IKE_EV_CHILD_DOWN = 5, /* remove the SAs with child.spi_in/out */
	KT_IKE_EV_PEER_MOVED = 6, /* the IKE SA's peer now sits at ev.remote: its
				     CHILD_SAs' outbound SAs must be sent there
				     (RFC 7296 §2.23: the NAT's mapping changed) */
};

enum kt_ike_log_level { KT_IKE_LOG_ERROR = 0, KT_IKE_LOG_WARN = 1, KT_IKE_LOG_INFO = 2, KT_IKE_LOG_DEBUG = 3 };

/* A negotiated CHILD_SA: one protocol (ESP or AH) or an AH+ESP bundle,
 * each with an inbound and an outbound SA. Key pointers in sa[] point into
 * keys[] of the same event; kt_ike_event_wipe clears them. */
#define KT_IKE_CHILD_MAX_SA 4
struct kt_ike_child_sa {
	struct kt_sa_params sa[KT_IKE_CHILD_MAX_SA];
	size_t n_sa;
	uint8_t keys[KT_IKE_CHILD_MAX_SA][2][KT_XFORM_MAX_KEY]; /* encr, integ */
	uint32_t spi_in, spi_out;   /* of the ESP SA (AH for AH alone) */
	uint8_t protocol;           /* enum kt_conf_protocol */
	uint8_t mode;               /* enum kt_mode */
	bool encap;                 /* ESP in UDP */
	char proposal[96];          /* strongSwan display form: "AES_GCM_16_256" */
	struct kt_ts local_ts[KT_IKE_MAX_CHILD_TS], remote_ts[KT_IKE_MAX_CHILD_TS];
	size_t n_local_ts, n_remote_ts;  /* as narrowed */
};

struct kt_ike_event {
	uint8_t type;                        /* enum kt_ike_ev_type */
	uint8_t level;                       /* LOG: enum kt_ike_log_level */
	char peer[KT_CONF_MAX_NAME + 1];     /* "" when unknown (e.g. bad message) */
	char child[KT_CONF_MAX_NAME + 1];
	uint64_t ike_id;                     /* engine-wide id of the IKE SA */
	uint16_t reason;                     /* IKE_DOWN/CHILD_DOWN: notify type
	                                        that ended it, or 0 (deleted, timeout) */
	char text[KT_IKE_LOG_LEN];           /* LOG, and a summary for the others */
	struct kt_ike_endpoint local, remote; /* PEER_MOVED: the IKE SA's endpoints
						 after the move */
	struct kt_ike_child_sa child_sa;     /* CHILD_UP (and spis for CHILD_DOWN) */
};
/* Pop the oldest event; false when none. Events carry keys: wipe each with
 * kt_ike_event_wipe once handled. */
bool kt_ike_next_event(struct kt_ike *ike, struct kt_ike_event *ev);
void kt_ike_event_wipe(struct kt_ike_event *ev);

/* ---- timers ---- */

kt_tstamp kt_ike_next_expiry(const struct kt_ike *ike);
/* Retransmissions, half-open timeouts, cookie secret rotation, NAT
 * keepalives (the [peer] keepalive interval, sent only by a host behind a
 * NAT while its IKE SA is established). */
void kt_ike_handle_expiry(struct kt_ike *ike, kt_tstamp now);

/* ---- status ---- */

struct kt_ike_child_info {
	char name[KT_CONF_MAX_NAME + 1];
	const char *state;          /* "installed", "creating", "deleting" */
	uint8_t mode, protocol;
	bool encap;
	uint32_t spi_in, spi_out;
	char proposal[96];
	struct kt_ts local_ts[KT_IKE_MAX_CHILD_TS], remote_ts[KT_IKE_MAX_CHILD_TS];
	size_t n_local_ts, n_remote_ts;
};

#define KT_IKE_INFO_MAX_CHILDREN 16
struct kt_ike_sa_info {
	char peer[KT_CONF_MAX_NAME + 1];
	uint64_t ike_id;
	const char *state;          /* "connecting", "established", "rekeying", "deleting" */
	bool initiator;
	uint64_t spi_i, spi_r;
	char proposal[128];         /* "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519" */
	struct kt_ike_endpoint local, remote;
	bool nat_local, nat_remote; /* which side is behind a NAT */
	char local_id[KT_CONF_MAX_ID + 1], remote_id[KT_CONF_MAX_ID + 1];
	kt_tstamp established;
	struct kt_ike_child_info children[KT_IKE_INFO_MAX_CHILDREN];
	size_t n_children;
};
/* Call fn for each IKE SA. */
void kt_ike_foreach(const struct kt_ike *ike, void (*fn)(const struct kt_ike_sa_info *, void *),
		    void *arg);

/* Keys of established IKE SAs for Wireshark's ikev2_decryption_table
 * (SPIs, SK_ei/er, SK_ai/ar, algorithm names as Wireshark spells them).
 * The caller wipes what it copied. */
struct kt_ike_key_export {
	uint64_t spi_i, spi_r;
	uint16_t encr, encr_key_bits, integ;
	uint8_t sk_ei[KT_XFORM_MAX_KEY], sk_er[KT_XFORM_MAX_KEY];
	uint8_t sk_ai[KT_XFORM_MAX_KEY], sk_ar[KT_XFORM_MAX_KEY];
	size_t encr_len, integ_len; /* encr_len includes the AEAD salt */
};
void kt_ike_foreach_keys(const struct kt_ike *ike,
			 void (*fn)(const struct kt_ike_key_export *, void *), void *arg);

struct kt_ike_stats {
	uint64_t rx, tx, dropped_malformed, dropped_unknown_spi, dropped_auth,
		retransmits, cookies_sent, half_open, half_open_refused,
		dropped_state, /* authentic or not: a message the SA's state or
				  message ID window does not allow (added by the engine) */
		keepalives;    /* NAT keepalives queued (not counted in tx) */
};
void kt_ike_get_stats(const struct kt_ike *ike, struct kt_ike_stats *st);

#endif
