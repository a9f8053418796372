/* Error codes of the core library: every function that can fail returns 0 or
 * a length on success and one of these negative values on failure. Each
 * packet-rejection reason has its own code so that it can have its own
 * counter (see kt_drops in ipsec.h). */
#ifndef KT_ERR_H
#define KT_ERR_H

enum kt_err {
	KT_OK = 0,
	KT_ERR_INVAL = -1,       /* bad argument or configuration */
	KT_ERR_NOMEM = -2,       /* allocation failed (never on the packet path) */
	KT_ERR_NOSPACE = -3,     /* caller's buffer lacks head- or tailroom */
	KT_ERR_MALFORMED = -4,   /* truncated header, length that lies */
	KT_ERR_NO_SA = -5,       /* unknown SPI */
	KT_ERR_REPLAY = -6,      /* sequence number already seen */
	KT_ERR_TOO_OLD = -7,     /* sequence number left of the replay window */
	KT_ERR_AUTH = -8,        /* ICV mismatch */
	KT_ERR_PADDING = -9,     /* ESP padding bytes or pad length wrong */
	KT_ERR_POLICY = -10,     /* packet refused by the SPD or SA selectors */
	KT_ERR_EXHAUSTED = -11,  /* sequence number space used up */
	KT_ERR_EXPIRED = -12,    /* SA past its hard lifetime */
	KT_ERR_DUMMY = -13,      /* ESP dummy packet (next header 59): drop silently */
	KT_ERR_PROTO = -14,      /* next header not acceptable for the SA's mode */
	KT_ERR_LEGACY = -15,     /* insecure algorithm on an SA not marked legacy */
	KT_ERR_UNSUPPORTED = -16,/* algorithm or feature not implemented */
	KT_ERR_CRYPTO = -17,     /* libcrypto failed */
	KT_ERR_EXISTS = -18,     /* duplicate key (SPI already installed) */
	KT_ERR_NOT_FOUND = -19,  /* no such entry */
	KT_ERR_DISCARD = -20,    /* SPD says DISCARD (or no rule matched) */
	KT_ERR_ACQUIRE = -21,    /* SPD says PROTECT but no SA yet: acquire event queued */
	KT_ERR_FRAGMENT = -22,   /* outer fragment: must be reassembled before IPsec */
	KT_ERR_IKE_MAJOR_VERSION = -23, /* IKE major version above 2: answer INVALID_MAJOR_VERSION */
	KT_ERR_IKE_CRITICAL = -24,      /* unknown payload marked critical: UNSUPPORTED_CRITICAL_PAYLOAD */
	KT_ERR_IKE_SYNTAX = -25,        /* IKE field value RFC 7296 forbids (lengths fine): INVALID_SYNTAX */
	KT_ERR_IKE_LIMIT = -26,         /* more IKE payloads, proposals, ... than the codec holds */
};

/* Short English description of a KT_ERR_* value; never NULL. */
const char *kt_strerror(int err);

#endif
