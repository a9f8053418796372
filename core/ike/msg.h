/* IKEv2 message codec (RFC 7296 §3), sans-I/O. Decoding is two steps:
 * kt_ike_decode checks the header and walks the generic payload headers into
 * a bounded table; kt_ike_parse_* interpret one payload body each. Nothing
 * here touches SA state or does cryptography: the SK payload is only
 * located (kt_ike_sk_locate) and its decrypted content decoded later with
 * kt_ike_decode_chain. Encoding goes through a writer over a caller buffer
 * that chains next-payload fields and lengths itself. All decoded pointers
 * point into the caller's buffers, which must outlive the results. */
#ifndef KT_IKE_MSG_H
#define KT_IKE_MSG_H

#include "core/crypto/dh.h"    /* enum kt_dh_group */
#include "core/crypto/prf.h"   /* enum kt_prf_alg, KT_NONCE_MIN_LEN/MAX_LEN */
#include "core/crypto/xform.h" /* enum kt_encr, enum kt_integ, struct kt_chunk */
#include "core/ts.h"

/* ---- Wire limits ---------------------------------------------------- */

#define KT_IKE_HDR_LEN 28        /* RFC 7296 §3.1 */
#define KT_IKE_PAYLOAD_HDR_LEN 4 /* RFC 7296 §3.2 generic payload header */
#define KT_IKE_MAJOR_VERSION 2   /* RFC 7296 §3.1 */
#define KT_IKE_MINOR_VERSION 0
#define KT_IKE_SKF_HDR_LEN 4     /* RFC 7383 §2.5: fragment number, total */

/* Codec limits (ours, not the RFC's): more is refused with KT_ERR_IKE_LIMIT. */
#define KT_IKE_MAX_PAYLOADS 48   /* outer and decrypted inner payloads together */
#define KT_IKE_MAX_PROPOSALS 16  /* per SA payload */
#define KT_IKE_MAX_TRANSFORMS 64 /* per proposal (strongSwan's default IKE
				    proposal has about 35) */
#define KT_IKE_MAX_TS 16         /* per TS payload */
#define KT_IKE_MAX_CP_ATTRS 32   /* per CP payload */

/* ---- Header ----------------------------------------------------------- */

enum kt_ike_exchange {
	KT_IKE_EXCH_IKE_SA_INIT = 34,
	KT_IKE_EXCH_IKE_AUTH = 35,
	KT_IKE_EXCH_CREATE_CHILD_SA = 36,
	KT_IKE_EXCH_INFORMATIONAL = 37,
	KT_IKE_EXCH_IKE_SESSION_RESUME = 38, /* RFC 5723 */
	KT_IKE_EXCH_IKE_INTERMEDIATE = 43,   /* RFC 9242 */
};

/* Header flags (RFC 7296 §3.1); other bits are ignored on receipt. */
#define KT_IKE_FLAG_I 0x08 /* sent by the original initiator of the IKE SA */
#define KT_IKE_FLAG_V 0x10 /* sender could speak a higher major version */
#define KT_IKE_FLAG_R 0x20 /* a response */
#define KT_IKE_FLAGS_KNOWN (KT_IKE_FLAG_I | KT_IKE_FLAG_V | KT_IKE_FLAG_R)

/* SPIs are the 8 wire bytes read as a big-endian number (as kt_sa_params
 * holds ESP SPIs). */
struct kt_ike_hdr {
	uint64_t spi_i, spi_r;
	uint8_t next;       /* type of the first payload */
	uint8_t major, minor;
	uint8_t exchange;   /* enum kt_ike_exchange */
	uint8_t flags;      /* KT_IKE_FLAG_*, unknown bits cleared */
	uint32_t msg_id;
	uint32_t length;    /* equals the datagram length once decoded */
};

/* ---- Payloads --------------------------------------------------------- */

enum kt_ike_payload_type {
	KT_IKE_PL_NONE = 0,
	KT_IKE_PL_SA = 33,
	KT_IKE_PL_KE = 34,
	KT_IKE_PL_IDI = 35,
	KT_IKE_PL_IDR = 36,
	KT_IKE_PL_CERT = 37,
	KT_IKE_PL_CERTREQ = 38,
	KT_IKE_PL_AUTH = 39,
	KT_IKE_PL_NONCE = 40,
	KT_IKE_PL_NOTIFY = 41,
	KT_IKE_PL_DELETE = 42,
	KT_IKE_PL_VID = 43,
	KT_IKE_PL_TSI = 44,
	KT_IKE_PL_TSR = 45,
	KT_IKE_PL_SK = 46,
	KT_IKE_PL_CP = 47,
	KT_IKE_PL_EAP = 48,
	KT_IKE_PL_SKF = 53, /* RFC 7383 */
};

/* One payload as the walker found it: the body follows the 4-byte generic
 * header. For SK and SKF, `next` is the type of the first inner payload. */
struct kt_ike_payload {
	uint8_t type;        /* enum kt_ike_payload_type (only known types are recorded) */
	uint8_t next;        /* the next-payload field as received */
	bool critical;       /* the critical bit (ignored for known types) */
	bool encrypted;      /* came out of an SK/SKF payload (kt_ike_decode_chain) */
	const uint8_t *body;
	size_t len;
};

struct kt_ike_msg {
	const uint8_t *buf;  /* the whole datagram given to kt_ike_decode */
	size_t len;
	struct kt_ike_hdr hdr;
	struct kt_ike_payload pl[KT_IKE_MAX_PAYLOADS];
	size_t n_pl;
	size_t n_skipped;    /* unknown non-critical payloads passed over */
	uint8_t err_type;    /* on failure: type of the payload being walked;
				for KT_ERR_IKE_CRITICAL the unsupported type
				(data of UNSUPPORTED_CRITICAL_PAYLOAD) */
};

/* Decode the 28-byte header only (the engine may look up the SA first).
 * Returns 0, KT_ERR_MALFORMED (short, length field != len),
 * KT_ERR_IKE_MAJOR_VERSION (major > 2: answer INVALID_MAJOR_VERSION; hdr
 * filled), KT_ERR_UNSUPPORTED (major < 2, IKEv1; hdr filled). */
int kt_ike_decode_hdr(const uint8_t *buf, size_t len, struct kt_ike_hdr *hdr);

/* Decode a datagram (UDP payload; on port 4500 without the non-ESP marker):
 * the header, then the payload chain, which must fill the message exactly.
 * Unknown non-critical payloads are skipped; SK/SKF must be last. Returns 0
 * or the errors of kt_ike_decode_hdr and KT_ERR_MALFORMED (payload length
 * < 4 or past the end, trailing bytes), KT_ERR_IKE_CRITICAL (msg->err_type
 * holds the type), KT_ERR_IKE_SYNTAX (payload after SK/SKF),
 * KT_ERR_IKE_LIMIT (more than KT_IKE_MAX_PAYLOADS). */
int kt_ike_decode(const uint8_t *buf, size_t len, struct kt_ike_msg *msg);

/* Append the payload chain buf[0..len) starting with type `first` (the
 * decrypted, unpadded content of an SK payload, or reassembled SKF
 * fragments) to msg, marked encrypted. Same walk and errors as
 * kt_ike_decode; an SK or SKF inside is KT_ERR_IKE_SYNTAX. On failure msg
 * keeps the payloads it had before the call. */
int kt_ike_decode_chain(uint8_t first, const uint8_t *buf, size_t len, struct kt_ike_msg *msg);

/* The next payload of `type` after `prev` (an entry of msg->pl, or NULL to
 * start from the beginning); NULL if none. */
const struct kt_ike_payload *kt_ike_find(const struct kt_ike_msg *msg, uint8_t type,
					 const struct kt_ike_payload *prev);

/* ---- SK and SKF (RFC 7296 §3.14, RFC 7383 §2.5) -------------------------
 * Offsets are from the start of the message. Integrity input for
 * cipher+HMAC is msg[0 .. icv_off); AEAD associated data (RFC 5282 §5.1) is
 * msg[0 .. iv_off). The plaintext ends with Pad Length. */
struct kt_ike_sk {
	bool fragment;              /* SKF */
	uint16_t frag_num, frag_total;
	uint8_t next;               /* first inner payload type (SKF: 0 unless frag 1) */
	size_t iv_off, iv_len;
	size_t ct_off, ct_len;
	size_t icv_off, icv_len;
};

/* Find the SK or SKF payload of a decoded message and split it for the
 * negotiated transform. block_size: ciphertext alignment (CBC 16; AEAD 1).
 * Returns 0, KT_ERR_NOT_FOUND (no SK/SKF), KT_ERR_INVAL (block_size 0),
 * KT_ERR_MALFORMED (shorter than IV + ICV + pad length byte, misaligned),
 * KT_ERR_IKE_SYNTAX (SKF numbering: number 0, number > total, non-first
 * fragment with a next payload). */
int kt_ike_sk_locate(const struct kt_ike_msg *msg, size_t iv_len, size_t icv_len,
		     size_t block_size, struct kt_ike_sk *sk);

/* Length of the inner payloads in a decrypted SK plaintext of len bytes
 * (Padding and Pad Length removed), or KT_ERR_MALFORMED. */
int kt_ike_sk_unpad(const uint8_t *plain, size_t len);

/* ---- SA payload (RFC 7296 §3.3) ---------------------------------------- */

enum kt_ike_proto {
	KT_IKE_PROTO_NONE = 0, /* Notify without SPI */
	KT_IKE_PROTO_IKE = 1,
	KT_IKE_PROTO_AH = 2,
	KT_IKE_PROTO_ESP = 3,
};

#define KT_IKE_SPI_SIZE_IKE 8   /* RFC 7296 §3.3.1 (0 in IKE_SA_INIT) */
#define KT_IKE_SPI_SIZE_CHILD 4 /* AH and ESP */

enum kt_ike_xf_type {
	KT_IKE_XF_ENCR = 1,  /* IDs: enum kt_encr */
	KT_IKE_XF_PRF = 2,   /* IDs: enum kt_prf_alg */
	KT_IKE_XF_INTEG = 3, /* IDs: enum kt_integ */
	KT_IKE_XF_DH = 4,    /* IDs: enum kt_dh_group (0: none) */
	KT_IKE_XF_ESN = 5,   /* IDs: enum kt_ike_esn */
};

enum kt_ike_esn { KT_IKE_ESN_NO = 0, KT_IKE_ESN_YES = 1 };

#define KT_IKE_ATTR_KEY_LENGTH 14 /* RFC 7296 §3.3.5, TV format only */

struct kt_ike_transform {
	uint8_t type;        /* enum kt_ike_xf_type (unknown types kept as they are) */
	uint16_t id;
	uint16_t key_bits;   /* Key Length attribute; 0 = absent */
	bool unknown_attr;   /* had an attribute we do not know: the transform
				is unacceptable (RFC 7296 §3.3.6) */
};

struct kt_ike_proposal {
	uint8_t num;         /* requests: 1, 2, ...; responses: the number chosen */
	uint8_t proto;       /* KT_IKE_PROTO_IKE, _AH or _ESP */
	uint8_t spi_size;    /* IKE 0 or 8; AH/ESP 4 */
	uint64_t spi;
	uint8_t n_xf;
	struct kt_ike_transform xf[KT_IKE_MAX_TRANSFORMS];
};

struct kt_ike_proposals {
	uint8_t n;
	struct kt_ike_proposal prop[KT_IKE_MAX_PROPOSALS];
};

/* Every per-payload parser checks the payload type (KT_ERR_INVAL on a
 * wrong one), validates each length before reading, and returns 0,
 * KT_ERR_MALFORMED (a length or count that disagrees with the bytes) or
 * KT_ERR_IKE_SYNTAX (a value RFC 7296 forbids); some also KT_ERR_IKE_LIMIT.
 * Chunks point into the payload body. On failure *out is unspecified. */

/* SA: proposals in order. SYNTAX: no proposal, Last Substruc not 0/2 or
 * not matching the position, numbers not 1, 2, ... when several, unknown
 * protocol, SPI size wrong for the protocol, no transforms, transform Last
 * Substruc not 0/3, Key Length of 0 or in TLV form, repeated. MALFORMED:
 * lengths, or Num Transforms not matching the transforms present. */
int kt_ike_parse_sa(const struct kt_ike_payload *pl, struct kt_ike_proposals *out);

/* ---- Other payloads --------------------------------------------------- */

struct kt_ike_ke {
	uint16_t group;          /* enum kt_dh_group */
	struct kt_chunk data;    /* non-empty */
};
int kt_ike_parse_ke(const struct kt_ike_payload *pl, struct kt_ike_ke *out);

/* Nonce data; SYNTAX unless KT_NONCE_MIN_LEN..KT_NONCE_MAX_LEN (RFC 7296 §3.9). */
int kt_ike_parse_nonce(const struct kt_ike_payload *pl, struct kt_chunk *out);

enum kt_ike_id_type {
	KT_IKE_ID_IPV4_ADDR = 1,
	KT_IKE_ID_FQDN = 2,
	KT_IKE_ID_RFC822_ADDR = 3,
	KT_IKE_ID_IPV6_ADDR = 5,
	KT_IKE_ID_DER_ASN1_DN = 9,
	KT_IKE_ID_DER_ASN1_GN = 10,
	KT_IKE_ID_KEY_ID = 11,
	KT_IKE_ID_NULL = 13,     /* RFC 7619 */
};

/* IDi or IDr. Address types must carry exactly 4 or 16 bytes (also filled
 * into addr); FQDN, RFC822 and DN must not be empty, ID_NULL must be; other
 * types are returned unchecked for the caller to refuse. */
struct kt_ike_id {
	uint8_t type;            /* enum kt_ike_id_type */
	struct kt_chunk data;
	struct kt_addr addr;     /* address types only; else version 0 */
};
int kt_ike_parse_id(const struct kt_ike_payload *pl, struct kt_ike_id *out);

enum kt_ike_auth_method {
	KT_IKE_AUTH_RSA_SIG = 1,
	KT_IKE_AUTH_PSK = 2,
	KT_IKE_AUTH_DSS_SIG = 3,
	KT_IKE_AUTH_ECDSA_SHA256_P256 = 9,  /* RFC 4754 */
	KT_IKE_AUTH_ECDSA_SHA384_P384 = 10,
	KT_IKE_AUTH_ECDSA_SHA512_P521 = 11,
	KT_IKE_AUTH_NULL = 13,              /* RFC 7619 */
	KT_IKE_AUTH_DIGITAL_SIGNATURE = 14, /* RFC 7427 */
};

struct kt_ike_auth {
	uint8_t method;          /* enum kt_ike_auth_method */
	struct kt_chunk data;    /* non-empty */
};
int kt_ike_parse_auth(const struct kt_ike_payload *pl, struct kt_ike_auth *out);

enum kt_ike_cert_encoding {
	KT_IKE_CERT_X509_SIG = 4,
	KT_IKE_CERT_CRL = 7,
	KT_IKE_CERT_HASH_URL_X509 = 12,
	KT_IKE_CERT_HASH_URL_BUNDLE = 13,
	KT_IKE_CERT_RAW_PUBLIC_KEY = 15, /* RFC 7670 */
};

/* CERT or CERTREQ: encoding and data (CERT data non-empty; CERTREQ data,
 * CA key hashes, may be empty). */
struct kt_ike_cert {
	uint8_t encoding;        /* enum kt_ike_cert_encoding */
	struct kt_chunk data;
};
int kt_ike_parse_cert(const struct kt_ike_payload *pl, struct kt_ike_cert *out);

enum kt_ike_notify_type {
	/* errors (RFC 7296 §3.10.1) */
	KT_IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD = 1,
	KT_IKE_N_INVALID_IKE_SPI = 4,
	KT_IKE_N_INVALID_MAJOR_VERSION = 5,
	KT_IKE_N_INVALID_SYNTAX = 7,
	KT_IKE_N_INVALID_MESSAGE_ID = 9,
	KT_IKE_N_INVALID_SPI = 11,
	KT_IKE_N_NO_PROPOSAL_CHOSEN = 14,
	KT_IKE_N_INVALID_KE_PAYLOAD = 17,
	KT_IKE_N_AUTHENTICATION_FAILED = 24,
	KT_IKE_N_SINGLE_PAIR_REQUIRED = 34,
	KT_IKE_N_NO_ADDITIONAL_SAS = 35,
	KT_IKE_N_INTERNAL_ADDRESS_FAILURE = 36,
	KT_IKE_N_FAILED_CP_REQUIRED = 37,
	KT_IKE_N_TS_UNACCEPTABLE = 38,
	KT_IKE_N_INVALID_SELECTORS = 39,
	KT_IKE_N_TEMPORARY_FAILURE = 43,
	KT_IKE_N_CHILD_SA_NOT_FOUND = 44,
	/* status */
	KT_IKE_N_INITIAL_CONTACT = 16384,
	KT_IKE_N_SET_WINDOW_SIZE = 16385,
	KT_IKE_N_ADDITIONAL_TS_POSSIBLE = 16386,
	KT_IKE_N_IPCOMP_SUPPORTED = 16387,
	KT_IKE_N_NAT_DETECTION_SOURCE_IP = 16388,
	KT_IKE_N_NAT_DETECTION_DESTINATION_IP = 16389,
	KT_IKE_N_COOKIE = 16390,
	KT_IKE_N_USE_TRANSPORT_MODE = 16391,
	KT_IKE_N_HTTP_CERT_LOOKUP_SUPPORTED = 16392,
	KT_IKE_N_REKEY_SA = 16393,
	KT_IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
	KT_IKE_N_NON_FIRST_FRAGMENTS_ALSO = 16395,
	KT_IKE_N_MOBIKE_SUPPORTED = 16396,          /* RFC 4555 */
	KT_IKE_N_MULTIPLE_AUTH_SUPPORTED = 16404,   /* RFC 4739 */
	KT_IKE_N_REDIRECT_SUPPORTED = 16406,        /* RFC 5685 */
	KT_IKE_N_CHILDLESS_IKEV2_SUPPORTED = 16418, /* RFC 6023 */
	KT_IKE_N_IKEV2_FRAGMENTATION_SUPPORTED = 16430, /* RFC 7383 */
	KT_IKE_N_SIGNATURE_HASH_ALGORITHMS = 16431, /* RFC 7427 */
};
/* Types below this are errors (RFC 7296 §3.10.1). */
#define KT_IKE_N_FIRST_STATUS 16384

/* Notify. An SPI (spi_size 4 with AH/ESP, 8 with IKE) is optional; without
 * one proto is ignored on receipt (RFC 7296 §3.10). SYNTAX: other SPI
 * sizes, or an SPI with protocol 0 or unknown. */
struct kt_ike_notify {
	uint8_t proto;           /* enum kt_ike_proto */
	uint8_t spi_size;        /* 0, 4 or 8 */
	uint16_t type;           /* enum kt_ike_notify_type */
	uint64_t spi;
	struct kt_chunk data;    /* may be empty */
};
int kt_ike_parse_notify(const struct kt_ike_payload *pl, struct kt_ike_notify *out);

/* Delete: IKE with SPI size 0 and no SPIs; AH/ESP with SPI size 4 and
 * n * 4 bytes of SPIs (MALFORMED otherwise); SYNTAX for other protocols
 * and sizes. */
struct kt_ike_delete {
	uint8_t proto;           /* enum kt_ike_proto */
	uint8_t spi_size;
	uint16_t n;
	const uint8_t *spis;     /* n * spi_size bytes */
};
int kt_ike_parse_delete(const struct kt_ike_payload *pl, struct kt_ike_delete *out);
/* SPI i (i < d->n) of an AH/ESP Delete, as a big-endian number. */
uint32_t kt_ike_delete_spi(const struct kt_ike_delete *d, size_t i);

/* Vendor ID: the opaque data. Never fails on a VID payload. */
int kt_ike_parse_vid(const struct kt_ike_payload *pl, struct kt_chunk *out);

enum kt_ike_ts_type {
	KT_IKE_TS_IPV4_ADDR_RANGE = 7,
	KT_IKE_TS_IPV6_ADDR_RANGE = 8,
};
#define KT_IKE_TS_IPV4_LEN 16 /* RFC 7296 §3.13.1 */
#define KT_IKE_TS_IPV6_LEN 40
/* OPAQUE ports are sent as start 65535, end 0 (RFC 7296 §3.13.1). */
#define KT_IKE_TS_OPAQUE_START 0xffff
#define KT_IKE_TS_OPAQUE_END 0

/* TSi or TSr. SYNTAX: no selectors, start address above end, start port
 * above end port (unless OPAQUE). KT_ERR_UNSUPPORTED: a TS type other than
 * 7/8 (the caller answers TS_UNACCEPTABLE). MALFORMED: selector length not
 * 16/40 for its type, count not matching the bytes. */
struct kt_ike_ts_list {
	uint8_t n;
	struct kt_ts ts[KT_IKE_MAX_TS];
};
int kt_ike_parse_ts(const struct kt_ike_payload *pl, struct kt_ike_ts_list *out);

enum kt_ike_cfg_type {
	KT_IKE_CFG_REQUEST = 1,
	KT_IKE_CFG_REPLY = 2,
	KT_IKE_CFG_SET = 3,
	KT_IKE_CFG_ACK = 4,
};

enum kt_ike_cfg_attr {
	KT_IKE_CFG_INTERNAL_IP4_ADDRESS = 1,
	KT_IKE_CFG_INTERNAL_IP4_NETMASK = 2,
	KT_IKE_CFG_INTERNAL_IP4_DNS = 3,
	KT_IKE_CFG_INTERNAL_IP4_NBNS = 4,
	KT_IKE_CFG_INTERNAL_IP4_DHCP = 6,
	KT_IKE_CFG_APPLICATION_VERSION = 7,
	KT_IKE_CFG_INTERNAL_IP6_ADDRESS = 8,
	KT_IKE_CFG_INTERNAL_IP6_DNS = 10,
	KT_IKE_CFG_INTERNAL_IP6_DHCP = 12,
	KT_IKE_CFG_INTERNAL_IP4_SUBNET = 13,
	KT_IKE_CFG_SUPPORTED_ATTRIBUTES = 14,
	KT_IKE_CFG_INTERNAL_IP6_SUBNET = 15,
};

struct kt_ike_cp_attr {
	uint16_t type;           /* enum kt_ike_cfg_attr (15 bits) */
	struct kt_chunk value;   /* empty in requests */
};

/* CP. Known attribute types must be empty or have their RFC 7296 §3.15.1
 * length (SYNTAX otherwise). */
struct kt_ike_cp {
	uint8_t type;            /* enum kt_ike_cfg_type */
	uint8_t n;
	struct kt_ike_cp_attr attr[KT_IKE_MAX_CP_ATTRS];
};
int kt_ike_parse_cp(const struct kt_ike_payload *pl, struct kt_ike_cp *out);

enum kt_ike_eap_code {
	KT_IKE_EAP_REQUEST = 1,
	KT_IKE_EAP_RESPONSE = 2,
	KT_IKE_EAP_SUCCESS = 3,
	KT_IKE_EAP_FAILURE = 4,
};

/* EAP (RFC 7296 §3.16, RFC 3748 §4): the EAP Length must equal the body;
 * Request/Response carry a Type (length >= 5), Success/Failure are 4 bytes. */
struct kt_ike_eap {
	uint8_t code;            /* enum kt_ike_eap_code */
	uint8_t id;
	uint8_t type;            /* Request/Response only; else 0 */
	struct kt_chunk msg;     /* the whole EAP message, for the EAP layer */
};
int kt_ike_parse_eap(const struct kt_ike_payload *pl, struct kt_ike_eap *out);

/* ---- Encoder ---------------------------------------------------------- *
 * Usage: init, write_hdr, payloads in order, [sk_begin, inner payloads,
 * sk_end], finish. Each write checks the room left and never writes past
 * cap. Errors are sticky: after the first one, every call returns it and
 * writes nothing, so a sequence can be checked once at finish. Errors:
 * KT_ERR_NOSPACE (buffer too small), KT_ERR_INVAL (a value the decoder
 * would refuse, a payload over 65535 bytes, payload after sk_end, wrong
 * order). Without write_hdr the writer produces a bare payload chain
 * whose first type is left in `first`. */
struct kt_ike_writer {
	uint8_t *buf;
	size_t cap, len;
	uint8_t *np;       /* next-payload byte of the previous payload (or header) */
	uint8_t first;     /* first payload type of a bare chain */
	size_t sk_off;     /* generic header of the open SK payload */
	size_t sk_iv_len;
	bool sk_open;
	bool sk_done;      /* SK closed: it must be last */
	bool has_hdr;
	int err;           /* first error, sticky */
};

void kt_ike_writer_init(struct kt_ike_writer *w, uint8_t *buf, size_t cap);
/* The 28-byte header with version 2.0; hdr->next and hdr->length are
 * ignored (filled as payloads are written and by finish). Must come first. */
int kt_ike_write_hdr(struct kt_ike_writer *w, const struct kt_ike_hdr *hdr);
/* Set the header's Length field. Returns the message length or the error. */
int kt_ike_writer_finish(struct kt_ike_writer *w);

/* Any payload with a ready body (unknown types, tests). */
int kt_ike_write_payload(struct kt_ike_writer *w, uint8_t type, bool critical,
			 const uint8_t *body, size_t len);
int kt_ike_write_sa(struct kt_ike_writer *w, const struct kt_ike_proposal *prop, size_t n);
int kt_ike_write_ke(struct kt_ike_writer *w, uint16_t group, const uint8_t *data, size_t len);
int kt_ike_write_nonce(struct kt_ike_writer *w, const uint8_t *nonce, size_t len);
/* type: KT_IKE_PL_IDI or KT_IKE_PL_IDR. */
int kt_ike_write_id(struct kt_ike_writer *w, uint8_t type, const struct kt_ike_id *id);
int kt_ike_write_auth(struct kt_ike_writer *w, uint8_t method, const uint8_t *data, size_t len);
/* type: KT_IKE_PL_CERT or KT_IKE_PL_CERTREQ. */
int kt_ike_write_cert(struct kt_ike_writer *w, uint8_t type, uint8_t encoding,
		      const uint8_t *data, size_t len);
int kt_ike_write_notify(struct kt_ike_writer *w, const struct kt_ike_notify *n);
/* proto IKE: n must be 0; AH/ESP: n >= 1 SPIs (numbers as in kt_ike_delete_spi). */
int kt_ike_write_delete(struct kt_ike_writer *w, uint8_t proto, const uint32_t *spis, size_t n);
int kt_ike_write_vid(struct kt_ike_writer *w, const uint8_t *data, size_t len);
/* type: KT_IKE_PL_TSI or KT_IKE_PL_TSR. */
int kt_ike_write_ts(struct kt_ike_writer *w, uint8_t type, const struct kt_ts *ts, size_t n);
int kt_ike_write_cp(struct kt_ike_writer *w, const struct kt_ike_cp *cp);
/* A whole EAP message, checked as kt_ike_parse_eap checks it. */
int kt_ike_write_eap(struct kt_ike_writer *w, const uint8_t *msg, size_t len);

/* Open an SK payload and reserve iv_len zero bytes of IV; the payloads
 * written next are its plaintext content. */
int kt_ike_write_sk_begin(struct kt_ike_writer *w, size_t iv_len);
/* Close it: Padding (zeros) and Pad Length so the plaintext is a multiple
 * of block_size, then icv_len zero bytes reserved for the ICV. Fills sk with
 * the spans as kt_ike_sk_locate would report them. Afterwards call finish,
 * then fill the IV, encrypt ct in place and write the ICV (the crypto
 * layer's job): the lengths in the header and SK payload are final, so the
 * AEAD associated data is too. */
int kt_ike_write_sk_end(struct kt_ike_writer *w, size_t block_size, size_t icv_len,
			struct kt_ike_sk *sk);

/* ---- Names for logs (NULL if unknown) ---------------------------------- */
const char *kt_ike_exchange_name(uint8_t exchange);
const char *kt_ike_payload_name(uint8_t type);
const char *kt_ike_notify_name(uint16_t type);
static inline bool kt_ike_notify_is_error(uint16_t type) { return type < KT_IKE_N_FIRST_STATUS; }

#endif
