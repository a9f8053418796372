/* Private to the IKEv2 engine's files (engine, ikesa, exch_*, negotiate,
 * timers): the engine, IKE SA and CHILD_SA objects, their tables, and the
 * functions the files call in one another. Not part of the ike.h contract. */
#ifndef KT_IKE_IKE_INT_H
#define KT_IKE_IKE_INT_H

#include "core/crypto/dh.h"
#include "core/crypto/prf.h"
#include "core/ike/cookie.h"
#include "core/ike/crypt.h"
#include "core/ike/ike.h"
#include "core/ike/msg.h"
#include "core/ike/proposal.h"

#define IKE_NONCE_LEN 32        /* ours: half of SHA-512's key at least, RFC 7296 §2.10 */
#define IKE_COOKIE_MAX 64       /* RFC 7296 §2.6: 1 to 64 octets */
#define IKE_COOKIE_FOLLOW 3     /* COOKIE answers we follow per attempt (loop guard) */
#define IKE_MAX_RX 65535        /* the largest UDP payload */
#define IKE_MAX_DH_GROUP 31     /* groups we implement fit in a 32-bit "tried" mask */
#define IKE_ID_TEXT 128         /* identities in log lines */
#define IKE_TS_TEXT 400         /* selector lists in log lines */
#define IKE_PROP_TEXT 600       /* proposal lists in log lines */

/* ---- Hash table: intrusive chains, power-of-two buckets, grows at load 1 ---- */

struct kt_ike_hnode {
	struct kt_ike_hnode *next;
	uint64_t key;
};

struct kt_ike_htab {
	struct kt_ike_hnode **b;
	size_t mask, n;
};

int kt_ike_htab_init(struct kt_ike_htab *t);
void kt_ike_htab_free(struct kt_ike_htab *t);
/* Returns 0 or KT_ERR_NOMEM (the node is then not linked). */
int kt_ike_htab_add(struct kt_ike_htab *t, struct kt_ike_hnode *n, uint64_t key);
void kt_ike_htab_del(struct kt_ike_htab *t, struct kt_ike_hnode *n);
/* First node with this key, or the next one after n; NULL when none. */
struct kt_ike_hnode *kt_ike_htab_find(const struct kt_ike_htab *t, uint64_t key);
struct kt_ike_hnode *kt_ike_htab_next(const struct kt_ike_hnode *n, uint64_t key);

#define IKE_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- Objects ---- */

enum ike_dh_mode {
	NEGO_DH_REQUIRED = 0, /* IKE SA: one common group */
	NEGO_DH_IGNORE = 1,   /* CHILD_SA in IKE_AUTH: no KE there (RFC 7296 §1.2) */
	NEGO_DH_PFS = 2,      /* CREATE_CHILD_SA: both sides agree on a group or none */
};

struct kt_ike_choice {
	uint8_t num, proto;
	uint16_t encr, encr_bits, integ, prf, dh;
	uint8_t esn;
	uint64_t spi;
};


/* A message kept byte for byte (request to retransmit, response to resend,
 * IKE_SA_INIT messages for AUTH), allocated at its exact size. */
struct ike_msgbuf {
	size_t len;
	uint8_t data[];
};

/* Every state change goes through kt_ike_sa_set_state, which refuses the
 * transitions its table does not list. */
enum ike_state {
	IKE_S_NEW = 0,
	IKE_S_INIT_SENT,     /* initiator: IKE_SA_INIT request out */
	IKE_S_AUTH_SENT,     /* initiator: IKE_AUTH request out */
	IKE_S_HALF_OPEN,     /* responder: IKE_SA_INIT answered, awaiting IKE_AUTH */
	IKE_S_ESTABLISHED,
	IKE_S_DELETING,      /* our Delete of the IKE SA is out */
	IKE_S_DEAD,          /* unlinked; freed when the current call returns */
	IKE_S_COUNT
};

enum child_state {
	CHILD_S_NEW = 0,
	CHILD_S_PENDING,     /* asked for, waiting for the request window */
	CHILD_S_CREATING,    /* our IKE_AUTH or CREATE_CHILD_SA request is out */
	CHILD_S_INSTALLED,
	CHILD_S_DELETING,    /* our Delete is out */
	CHILD_S_DEAD,
	CHILD_S_COUNT
};

struct ike_sa;

struct ike_child {
	struct ike_child *next;          /* in sa->children, or ike->dead_children */
	struct kt_ike_hnode spi_node;    /* key spi_in, in ike->child_spis */
	struct ike_sa *sa;
	const struct kt_conf_child *conf; /* NULL once a reload removed it */
	char name[KT_CONF_MAX_NAME + 1];
	uint8_t state;                   /* enum child_state */
	uint8_t proto;                   /* KT_IKE_PROTO_ESP or _AH */
	uint8_t mode;                    /* enum kt_mode */
	bool encap, esn, delete_pending, spi_linked;
	bool refused;                    /* we refused the peer's answer: deleted
					    without CHILD events */
	uint32_t spi_in, spi_out;
	uint16_t encr, encr_bits, integ, dh;
	uint8_t n_lts, n_rts;
	struct kt_ts *ts;                /* n_lts local then n_rts remote, exact size */
};

/* The initiator's exchange in flight (window size 1, RFC 7296 §2.3). */
struct ike_req {
	struct ike_msgbuf *msg;          /* as sent, for retransmission */
	uint32_t msg_id;
	uint8_t exchange;
	uint8_t tries;                   /* retransmissions so far */
	bool delete_ike;                 /* INFORMATIONAL carrying Delete(IKE) */
	struct ike_child *child;         /* IKE_AUTH / CREATE_CHILD_SA: being created */
	struct ike_cx *cx;               /* CREATE_CHILD_SA: nonce and PFS key */
};

/* CREATE_CHILD_SA initiator state. */
struct ike_cx {
	uint8_t nonce[IKE_NONCE_LEN];
	struct kt_dh dh;                 /* group 0: no PFS */
	uint32_t ke_tried;
};

/* What only the IKE_SA_INIT / IKE_AUTH handshake needs: freed (and wiped)
 * once IKE_AUTH is done. */
struct ike_hs {
	struct kt_dh dh;
	uint8_t ni[KT_NONCE_MAX_LEN], nr[KT_NONCE_MAX_LEN];
	size_t ni_len, nr_len;
	struct ike_msgbuf *init_req, *init_resp;
	struct kt_ike_keys keys;         /* SK_pi and SK_pr sign and check AUTH */
	uint8_t cookie[IKE_COOKIE_MAX];
	size_t cookie_len;
	uint8_t cookies_followed;
	uint32_t ke_tried;               /* bit g: group g was sent */
};

/* Keys kept for the SA's life: SK_d (CHILD_SA keys) and, for Wireshark's
 * table, SK_e and SK_a of both directions; exact size. */
struct ike_keys_kept {
	uint8_t d_len, e_len, a_len;
	uint8_t data[];                  /* SK_d | SK_ei | SK_er | SK_ai | SK_ar */
};

struct ike_sa {
	struct kt_ike_hnode spi_node;    /* key: our SPI */
	struct kt_ike_hnode ispi_node;   /* responder: key (SPIi, remote address) */
	struct ike_sa *prev, *next;      /* ike->sas, or ike->dead */
	size_t heap_idx;                 /* in the timer heap, or SIZE_MAX */
	kt_tstamp t_retransmit, t_half_open, t_resp_free, t_keepalive;
	uint64_t id;
	const struct kt_conf_peer *peer; /* responder: tentative until IKE_AUTH;
					    NULL once a reload removed it */
	char peer_name[KT_CONF_MAX_NAME + 1];
	uint8_t state;                   /* enum ike_state */
	bool initiator, delete_pending, ispi_linked, half_open_counted;
	bool report_down;                /* IKE_DOWN when it ends: initiators, and
					    responders once IKE_AUTH arrived */
	bool announced;                  /* IKE_UP was emitted */
	bool natd_seen;                  /* the peer sent NAT_DETECTION payloads */
	bool nat_local, nat_remote, natt; /* natt: IKE on 4500 and ESP in UDP */
	bool crypt_ready;
	uint64_t spi_i, spi_r;
	struct kt_ike_endpoint local, remote;
	uint16_t encr, encr_bits, integ, prf, dh;
	struct kt_ike_crypt crypt;
	struct ike_keys_kept *keys;
	uint32_t next_req_id, exp_req_id;
	struct ike_req req;
	struct ike_msgbuf *resp;         /* last response, for a retransmitted request */
	kt_tstamp established;
	char *remote_id;                 /* the identity the peer proved, for status */
	struct ike_hs *hs;
	struct ike_child *children;
};

/* ---- The engine ---- */

struct ike_dgram_node {
	struct ike_dgram_node *next;
	struct kt_ike_dgram d;
	uint8_t data[];
};

struct ike_ev_node {
	struct ike_ev_node *next;
	size_t size;                     /* bytes of the event kept (LOG events stop early) */
	uint8_t ev[];                    /* the first `size` bytes of a struct kt_ike_event */
};

#define IKE_N_PRF 4

struct kt_ike {
	struct kt_ike_settings set;      /* defaults filled in */
	const struct kt_conf *conf;
	uint8_t log_level;
	bool closing;                    /* kt_ike_del: no more events */
	struct kt_ike_htab by_spi, by_ispi, child_spis, src_counts;
	uint64_t hash_key;               /* keys hashes of values a peer chooses */
	struct ike_sa *sas, *dead;
	struct ike_child *dead_children;
	size_t n_sas, half_open;
	uint64_t next_id;
	struct kt_ike_cookie_jar cookies;
	kt_tstamp cookie_rotate_at;
	struct ike_sa **heap;
	size_t heap_n, heap_cap;
	struct ike_dgram_node *out_head, **out_tail;
	struct ike_ev_node *ev_head, **ev_tail;
	struct kt_ike_stats stats;
	struct kt_prf prf[IKE_N_PRF];    /* fetched once per algorithm, rekeyed per use */
	size_t rx_used;                  /* high-water mark of rx, wiped at the end */
	uint8_t tx[KT_IKE_MAX_MSG];
	uint8_t rx[IKE_MAX_RX];
};

/* One received message being handled. */
struct ike_rx {
	kt_tstamp now;
	struct kt_ike_endpoint local, remote;
	uint8_t *buf;                    /* ike->rx: decrypted in place */
	size_t len;
	bool resent;                     /* a copy of the request we answered last:
					    answered again, but moves no peer */
	struct kt_ike_msg m;
};

/* ---- engine.c: output, events, logs, lookups ---- */

void kt_ike_queue_dgram(struct kt_ike *ike, const struct kt_ike_endpoint *local,
			const struct kt_ike_endpoint *remote, const uint8_t *data, size_t len);
/* A datagram that is no IKE message (a NAT keepalive): never behind the
 * non-ESP marker, not counted in stats.tx. */
void kt_ike_queue_plain(struct kt_ike *ike, const struct kt_ike_endpoint *local,
			const struct kt_ike_endpoint *remote, const uint8_t *data, size_t len);
void kt_ike_log(struct kt_ike *ike, const struct ike_sa *sa, uint8_t level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same without an SA: peer names the configuration (may be ""), the
 * text is taken as it is. */
void kt_ike_logp(struct kt_ike *ike, const char *peer, uint64_t id, uint8_t level, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Queue an event already filled in (size: bytes of ev that matter). */
void kt_ike_emit(struct kt_ike *ike, const struct kt_ike_event *ev, size_t size);
void kt_ike_emit_ike(struct kt_ike *ike, const struct ike_sa *sa, uint8_t type, uint16_t reason);
struct kt_prf *kt_ike_prf(struct kt_ike *ike, uint16_t id);
uint64_t kt_ike_hash_addr(const struct kt_ike *ike, const struct kt_addr *a, uint64_t extra);
/* The candidates for a message from addr: peers whose remote is addr,
 * then DNS and "any" peers, in file order. Returns how many. */
size_t kt_ike_candidates(const struct kt_ike *ike, const struct kt_addr *addr,
			 const struct kt_conf_peer **out, size_t cap);

/* ---- ikesa.c: objects, states, message framing, the request window ---- */

struct ike_sa *kt_ike_sa_new(struct kt_ike *ike, const struct kt_conf_peer *peer, bool initiator,
			     kt_tstamp now);
/* Change state; refuses (KT_ERR_INVAL, logged) what the table does not allow.
 * DEAD unlinks the SA from every table; it is freed by kt_ike_reap. */
int kt_ike_sa_set_state(struct kt_ike *ike, struct ike_sa *sa, uint8_t to);
int kt_ike_child_set_state(struct kt_ike *ike, struct ike_child *c, uint8_t to);
const char *kt_ike_sa_state_name(uint8_t s);
const char *kt_ike_child_state_name(uint8_t s);
void kt_ike_reap(struct kt_ike *ike);
/* End an SA: CHILD_DOWN for each installed child, IKE_DOWN if it was
 * announced (or always for an initiator), then DEAD. */
void kt_ike_sa_down(struct kt_ike *ike, struct ike_sa *sa, uint16_t reason);
void kt_ike_child_down(struct kt_ike *ike, struct ike_child *c, uint16_t reason);
struct ike_sa *kt_ike_sa_by_spi(struct kt_ike *ike, uint64_t spi);
struct ike_sa *kt_ike_sa_by_ispi(struct kt_ike *ike, uint64_t spi_i, const struct kt_addr *remote);
int kt_ike_sa_link_ispi(struct kt_ike *ike, struct ike_sa *sa);
int kt_ike_sa_alloc_spi(struct kt_ike *ike, struct ike_sa *sa);
struct ike_child *kt_ike_child_new(struct kt_ike *ike, struct ike_sa *sa,
				   const struct kt_conf_child *conf);
int kt_ike_child_alloc_spi(struct kt_ike *ike, struct ike_child *c);
int kt_ike_child_set_ts(struct ike_child *c, const struct kt_ts *l, size_t nl,
			const struct kt_ts *r, size_t nr);
void kt_ike_sa_free_hs(struct ike_sa *sa);
/* Half-open SAs (responder, before IKE_AUTH) in total and per source. */
uint32_t kt_ike_half_open_from(struct kt_ike *ike, const struct kt_addr *a);
void kt_ike_sa_count_half_open(struct kt_ike *ike, struct ike_sa *sa);
void kt_ike_sa_drop_response(struct ike_sa *sa);
void kt_ike_sa_clear_req(struct ike_sa *sa);
struct ike_msgbuf *kt_ike_msgbuf(const uint8_t *data, size_t len);
uint64_t kt_ike_our_spi(const struct ike_sa *sa);
int kt_ike_random_u64(uint64_t *v);

/* A message under construction in ike->tx. */
struct ike_out {
	struct kt_ike_writer w;
	struct kt_ike_sk sk;
	bool sk_open;
};
/* Header (our flags), then SK opened when the SA is keyed and the
 * exchange is not IKE_SA_INIT. */
void kt_ike_out_begin(struct kt_ike *ike, struct ike_sa *sa, struct ike_out *o, uint8_t exchange,
		      bool response, uint32_t msg_id);
/* Close, encrypt; returns the length or a negative error. */
int kt_ike_out_end(struct kt_ike *ike, struct ike_sa *sa, struct ike_out *o);
/* Send ike->tx[0..len) as our next request (kept for retransmission, the
 * window is then closed) or as the response to rx (kept for a retransmitted
 * request). */
int kt_ike_send_request(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now, uint8_t exchange,
			size_t len);
void kt_ike_send_response(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx,
			  size_t len, kt_tstamp now);
/* Send a request nobody waits for (the SA is going away). */
void kt_ike_send_oneshot(struct kt_ike *ike, struct ike_sa *sa, size_t len);
/* Start the next queued exchange if the window is open. */
void kt_ike_sa_kick(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
/* Decrypt rx's SK payload and decode the inner payloads into rx->m.
 * Returns 0, KT_ERR_AUTH, KT_ERR_MALFORMED, KT_ERR_IKE_CRITICAL (rx->m.err_type) ... */
int kt_ike_open(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);

/* Small lookups on decoded messages. */
const struct kt_ike_payload *kt_ike_find_notify(const struct kt_ike_msg *m, uint16_t type,
						struct kt_ike_notify *out);
/* The first error notify (type < 16384), or NULL. */
const struct kt_ike_payload *kt_ike_find_error(const struct kt_ike_msg *m, struct kt_ike_notify *out);
int kt_ike_write_notify_simple(struct kt_ike_writer *w, uint16_t type, const uint8_t *data, size_t len);

/* ---- exch_*.c ---- */

int kt_ike_init_start(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
int kt_ike_init_request(struct kt_ike *ike, struct ike_rx *rx);
int kt_ike_init_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);
/* Plain replies outside any SA (INVALID_MAJOR_VERSION, UNSUPPORTED_CRITICAL_PAYLOAD). */
void kt_ike_reply_clear(struct kt_ike *ike, const struct ike_rx *rx, const struct kt_ike_hdr *h,
			uint16_t type, const uint8_t *data, size_t len);

int kt_ike_auth_start(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
int kt_ike_auth_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);
int kt_ike_auth_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);

int kt_ike_child_start(struct kt_ike *ike, struct ike_sa *sa, struct ike_child *c, kt_tstamp now);
/* false (reason logged) for a child IKEv2 cannot set up on this IKE SA:
 * an AH+ESP bundle, or AH with UDP encapsulation (NAT or nat-t = force). */
bool kt_ike_child_negotiable(struct kt_ike *ike, struct ike_sa *sa, const struct kt_conf_child *cc);
int kt_ike_child_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);
int kt_ike_child_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);

int kt_ike_info_start_delete(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
int kt_ike_info_request(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);
int kt_ike_info_response(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx);
/* Answer an encrypted request with one error notify (INVALID_SYNTAX,
 * UNSUPPORTED_CRITICAL_PAYLOAD ...). */
void kt_ike_reply_error(struct kt_ike *ike, struct ike_sa *sa, struct ike_rx *rx, uint16_t type,
			const uint8_t *data, size_t len);

/* Shared by exch_auth.c and exch_child.c (defined in exch_child.c). */

/* What a peer asked for in a CHILD_SA request. */
struct ike_child_ask {
	struct kt_ike_proposals sa;
	struct kt_ike_ts_list tsi, tsr;
	bool transport;
};

/* Transport mode through a NAT (RFC 7296 §2.23.1): the single-host address
 * the peer offered in TSi (TSr) and the one we put in its place. */
struct ike_ts_swap {
	bool ti, tr;                     /* TSi / TSr substituted */
	struct kt_addr ti_offered, ti_ours, tr_offered, tr_ours;
};

/* The responder's answer: a child config, a proposal, narrowed selectors
 * (lts ours, rts the peer's; as this host's IP headers carry them). */
struct ike_child_pick {
	const struct kt_conf_child *conf;
	struct kt_ike_choice c;
	struct kt_ts lts[KT_SA_MAX_TS], rts[KT_SA_MAX_TS];
	size_t n_lts, n_rts;
	struct ike_ts_swap swap;         /* undone in the answer's TSi/TSr */
};

/* A settled CHILD_SA: the choice (c.spi is the peer's SPI), nonces and
 * optional g^ir of its exchange, narrowed selectors. we_initiated: we sent
 * the request of this exchange (decides the key directions, §2.17). */
struct ike_child_deal {
	const struct kt_ike_choice *c;
	bool we_initiated;
	const uint8_t *ni, *nr;
	size_t ni_len, nr_len;
	const uint8_t *g_ir;
	size_t g_ir_len;
	const struct kt_ts *lts, *rts;
	size_t n_lts, n_rts;
};

/* Parse SA, TSi, TSr and USE_TRANSPORT_MODE. Returns 0, KT_ERR_NOT_FOUND
 * (none of them: no child asked for), KT_ERR_UNSUPPORTED (a TS type we do
 * not know: TS_UNACCEPTABLE), KT_ERR_IKE_SYNTAX. */
int kt_ike_child_parse(const struct kt_ike_msg *m, struct ike_child_ask *a);
/* Responder: pick config, proposal and selectors. Returns 0 or the notify
 * type to refuse with (logged). */
uint16_t kt_ike_child_pick(struct kt_ike *ike, struct ike_sa *sa, const struct ike_child_ask *a,
			   int dh_mode, uint16_t ke_group, struct ike_child_pick *out);
/* Initiator: the offer (selectors resolved and kept in c->ts). */
int kt_ike_child_write_offer_sa(struct kt_ike *ike, struct kt_ike_writer *w, struct ike_child *c,
				bool with_dh);
int kt_ike_child_write_offer_ts(struct kt_ike *ike, struct kt_ike_writer *w, struct ike_child *c);
/* Initiator: check the answer against c's offer. Returns 0 or the reason
 * (logged); out gets the choice and narrowed selectors. */
uint16_t kt_ike_child_check(struct kt_ike *ike, struct ike_child *c, const struct ike_child_ask *a,
			    int dh_mode, uint16_t ke_group, struct ike_child_pick *out);
/* Keys, state, CHILD_UP and its log line. */
int kt_ike_child_install(struct kt_ike *ike, struct ike_child *c, const struct ike_child_deal *d);
/* The answer's payloads: [USE_TRANSPORT_MODE], SA; and TSi, TSr. */
void kt_ike_child_write_answer_sa(struct kt_ike_writer *w, const struct ike_child_pick *p,
				  uint32_t spi_in);
void kt_ike_child_write_answer_ts(struct kt_ike_writer *w, const struct ike_child_pick *p);
/* We refuse what the peer installed: delete its SA without CHILD events. */
void kt_ike_child_refuse(struct kt_ike *ike, struct ike_child *c, uint32_t spi_out);

/* ---- negotiate.c ---- */

/* Wire proposals from a configured list, numbered 1..n; DH left out when
 * with_dh is false. Returns how many were written. */
size_t kt_ike_nego_to_wire(const struct kt_proposal *list, size_t n, bool with_dh, uint64_t spi,
			   uint8_t spi_size, struct kt_ike_proposal *out);
/* The chosen proposal as a one-proposal SA payload. */
void kt_ike_nego_choice_wire(const struct kt_ike_choice *c, uint8_t spi_size,
			     struct kt_ike_proposal *out);
/* Responder: the first offered proposal one of ours accepts. Returns 0 or
 * KT_ERR_NOT_FOUND. ke_group: the group of the KE payload (preferred). */
int kt_ike_nego_select(const struct kt_ike_proposals *offered, const struct kt_proposal *ours,
		       size_t n_ours, uint8_t proto, int dh_mode, uint16_t ke_group,
		       struct kt_ike_choice *out);
/* Initiator: the response's single proposal must come from ours. */
int kt_ike_nego_check(const struct kt_ike_proposals *resp, const struct kt_proposal *ours,
		      size_t n_ours, uint8_t proto, int dh_mode, uint16_t ke_group,
		      struct kt_ike_choice *out);
/* Keyword forms for log lines. */
void kt_ike_nego_format_wire(const struct kt_ike_proposals *w, char *buf, size_t len);
void kt_ike_nego_format_list(const struct kt_proposal *list, size_t n, char *buf, size_t len);
/* strongSwan display form of a choice ("AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"). */
void kt_ike_nego_display(const struct kt_ike_choice *c, char *buf, size_t len);
/* Is group in any proposal of the list? */
bool kt_ike_nego_has_dh(const struct kt_proposal *list, size_t n, uint16_t group);
/* The first group of the first proposal that has one (0: none). */
uint16_t kt_ike_nego_first_dh(const struct kt_proposal *list, size_t n);

/* Traffic selectors (RFC 7296 §2.9). dyn: the address "dynamic" stands for. */
size_t kt_ike_ts_resolve(const struct kt_conf_ts *c, size_t n, const struct kt_addr *dyn,
			 struct kt_ts *out, size_t cap);
size_t kt_ike_ts_narrow(const struct kt_ts *offered, size_t n_off, const struct kt_ts *ours,
			size_t n_ours, struct kt_ts *out, size_t cap);
bool kt_ike_ts_subset(const struct kt_ts *got, size_t n_got, const struct kt_ts *sent,
		      size_t n_sent);
void kt_ike_ts_format(const struct kt_ts *ts, size_t n, char *buf, size_t len);

/* Identities. */
void kt_ike_id_ours(const struct kt_conf_id *conf, const struct kt_addr *addr,
		    struct kt_ike_id *out);
bool kt_ike_id_matches(const struct kt_conf_id *want, const struct kt_ike_id *got);
bool kt_ike_id_checked(const struct kt_conf_id *want);
void kt_ike_id_format(const struct kt_ike_id *id, char *buf, size_t len);

/* ---- natt.c: NAT traversal beyond detection ---- */

/* Queue one NAT keepalive from the SA's local to its remote endpoint. */
void kt_ike_natt_keepalive(struct kt_ike *ike, struct ike_sa *sa);
/* An authentic message arrived from rx->remote on port 4500: during the
 * handshake the SA takes the address (the move to port 4500); once
 * established it follows only if we are not behind a NAT (§2.23), with
 * PEER_MOVED. Retransmitted requests (rx->resent) move nothing. */
void kt_ike_natt_follow(struct kt_ike *ike, struct ike_sa *sa, const struct ike_rx *rx);
/* Transport mode through a NAT (§2.23.1), responder: put the addresses our
 * IP headers carry in place of the single-host ones the peer offered
 * (TSi: sa->remote when the peer is behind a NAT; TSr: sa->local when we
 * are), noting the swap. */
void kt_ike_natt_ts_ours(struct kt_ike *ike, const struct ike_sa *sa, struct kt_ike_ts_list *tsi,
			 struct kt_ike_ts_list *tsr, struct ike_ts_swap *swap);
/* Undo the swap in n selectors for the answer (tsi: the TSi list). */
void kt_ike_natt_ts_theirs(const struct ike_ts_swap *swap, bool tsi, struct kt_ts *ts, size_t n);

/* ---- timers.c ---- */

int kt_ike_timers_init(struct kt_ike *ike, kt_tstamp now);
void kt_ike_timers_free(struct kt_ike *ike);
void kt_ike_timer_request_sent(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
void kt_ike_timer_response_received(struct kt_ike *ike, struct ike_sa *sa);
void kt_ike_timer_half_open(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
void kt_ike_timer_established(struct kt_ike *ike, struct ike_sa *sa);
void kt_ike_timer_response_cached(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);
void kt_ike_timer_sa_gone(struct kt_ike *ike, struct ike_sa *sa);
/* (Re)arm or stop the NAT keepalive as the SA's state, NAT detection and
 * config say (established, behind a NAT, keepalive > 0). */
void kt_ike_timer_keepalive(struct kt_ike *ike, struct ike_sa *sa, kt_tstamp now);

#endif
