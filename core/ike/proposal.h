/* IKE, ESP and AH proposals as strongSwan writes them: parse one proposal
 * ("aes256gcm16-prfsha384-x25519") or a comma list of them, check that the
 * algorithms make a usable set, and print them back in keyword form (for
 * "peer offered X, we accept Y" logs) or strongSwan's display form (for
 * status: "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"). */
#ifndef KT_IKE_PROPOSAL_H
#define KT_IKE_PROPOSAL_H

#include "core/crypto/dh.h"    /* enum kt_dh_group (Transform Type 4) */
#include "core/crypto/prf.h"   /* enum kt_prf_alg (Transform Type 2) */
#include "core/crypto/xform.h" /* enum kt_encr, enum kt_integ */
#include "core/ike/msg.h"      /* enum kt_ike_proto, kt_ike_xf_type, kt_ike_esn */

/* Our limits, not the RFC's. */
#define KT_PROPOSAL_MAX_ALGS 8     /* algorithms of one transform type in one proposal */
#define KT_PROPOSAL_MAX_LIST KT_IKE_MAX_PROPOSALS /* proposals in one list (one SA payload) */
#define KT_PROPOSAL_TEXT_MAX 256   /* characters of one proposal string */
#define KT_PROPOSAL_LIST_TEXT_MAX 2048 /* characters of one comma list */
#define KT_PROPOSAL_ERR_LEN 160    /* room that error messages need */

/* "none" in an ESP or AH proposal: also accept no PFS key exchange. */
#define KT_PROPOSAL_DH_NONE 0

/* Used when a peer or child sets no proposals. */
#define KT_PROPOSAL_DEFAULT_IKE \
	"aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256, aes256-sha256-modp2048"
#define KT_PROPOSAL_DEFAULT_ESP "aes256gcm16, aes128gcm16, chacha20poly1305, aes256-sha256"
#define KT_PROPOSAL_DEFAULT_AH "sha256, sha384"

struct kt_proposal_encr {
	uint16_t id;       /* enum kt_encr */
	uint16_t key_bits; /* Key Length attribute (AES: 128 or 256); 0 = none */
};

/* One proposal: in each list the algorithms in order of preference.
 * Identifiers are IKEv2 transform IDs, so a proposal received from a peer
 * (possibly with IDs we do not know) fits here as well. */
struct kt_proposal {
	uint8_t proto; /* enum kt_ike_proto: IKE, AH or ESP */
	uint8_t n_encr, n_integ, n_prf, n_dh, n_esn;
	struct kt_proposal_encr encr[KT_PROPOSAL_MAX_ALGS];
	uint16_t integ[KT_PROPOSAL_MAX_ALGS]; /* enum kt_integ */
	uint16_t prf[KT_PROPOSAL_MAX_ALGS];   /* enum kt_prf_alg (IKE only) */
	uint16_t dh[KT_PROPOSAL_MAX_ALGS];    /* enum kt_dh_group; ESP/AH: PFS, optional */
	uint8_t esn[2];                       /* enum kt_ike_esn (ESP/AH only) */
};

/* Parse one proposal for proto (KT_IKE_PROTO_IKE, _ESP or _AH). Keywords are
 * strongSwan's, case-insensitive, separated by '-'; several of one type are
 * alternatives in order of preference. Rules, as strongSwan's:
 *  - IKE: encryption, PRF and a DH group; a non-AEAD cipher also needs
 *    integrity, and without a prf keyword the PRF is derived from each
 *    integrity algorithm (sha256 -> prfsha256); an AEAD needs an explicit prf.
 *  - ESP: encryption, plus integrity unless the cipher is an AEAD; DH groups
 *    are PFS groups; esn/noesn (default noesn).
 *  - AH: integrity only; DH groups and esn/noesn as for ESP.
 *  AEAD with integrity, AEAD mixed with non-AEAD ciphers, and prf outside
 *  IKE are errors. On failure p is zeroed and err (if not NULL) holds a
 *  message naming the offending keyword. Returns 0 or
 *    KT_ERR_INVAL        unknown keyword, empty or repeated keyword, too
 *                        many algorithms, a set that cannot work;
 *    KT_ERR_LEGACY       legacy algorithm (des, 3des, md5, sha1, prfsha1,
 *                        modp768/1024/1536) without allow_legacy;
 *    KT_ERR_UNSUPPORTED  a strongSwan keyword kotetsu does not implement. */
int kt_proposal_parse(struct kt_proposal *p, uint8_t proto, const char *text,
		      bool allow_legacy, char *err, size_t err_len);

/* Parse a comma list ("aes256gcm16, aes256-sha256") into list[0 .. *n).
 * Returns the errors of kt_proposal_parse (the message names the failing
 * proposal) and KT_ERR_INVAL for an empty item or more than cap proposals.
 * On failure *n is 0. */
int kt_proposal_parse_list(struct kt_proposal *list, size_t cap, size_t *n, uint8_t proto,
			   const char *text, bool allow_legacy, char *err, size_t err_len);

/* The default list for proto (KT_PROPOSAL_DEFAULT_*). Returns 0 or
 * KT_ERR_INVAL (bad proto, cap too small). */
int kt_proposal_defaults(struct kt_proposal *list, size_t cap, size_t *n, uint8_t proto);

/* Keyword form: "aes256-sha256-prfsha256-modp2048", "aes128gcm16-esn".
 * Derived PRFs are printed, noesn alone is not, so parsing the text gives
 * the same proposal back. IDs without a keyword print as "encr23",
 * "encr12_192", "integ5", "prf4", "dh30". Returns the length written
 * (without the NUL) or KT_ERR_NOSPACE (buf then holds a truncated,
 * NUL-terminated prefix when len > 0). */
int kt_proposal_format(const struct kt_proposal *p, char *buf, size_t len);
/* The same for a list, joined by ", ". */
int kt_proposal_format_list(const struct kt_proposal *list, size_t n, char *buf, size_t len);

/* strongSwan's display form without the "IKE:" prefix:
 * "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519",
 * "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
 * "AES_GCM_16_128/EXT_SEQ". Order: encryption, integrity, PRF, DH, ESN, as
 * strongSwan prints. Unlike strongSwan, a lone NO_EXT_SEQ is left out (as
 * in status: "AES_GCM_16_256"). Unknown IDs print as UNKNOWN_<type>_<id>.
 * Returns as kt_proposal_format. */
int kt_proposal_display(const struct kt_proposal *p, char *buf, size_t len);

/* Does the proposal use any legacy algorithm? */
bool kt_proposal_is_legacy(const struct kt_proposal *p);
/* Same protocol and the same algorithms in the same order. */
bool kt_proposal_equal(const struct kt_proposal *a, const struct kt_proposal *b);
/* Is this an AEAD cipher (AES-GCM, ChaCha20-Poly1305)? */
bool kt_proposal_encr_is_aead(uint16_t encr);

#endif
