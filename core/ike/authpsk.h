/* Pre-shared key authentication (RFC 7296 §2.15): the AUTH payload data
 *   AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <Signed Octets>),
 *   <Signed Octets> = RealMessage | NonceData | prf(SK_p, RestOfIDPayload).
 * Who signs what:
 *   initiator: RealMessage1 (its IKE_SA_INIT request), Nr, prf(SK_pi, IDi')
 *   responder: RealMessage2 (its IKE_SA_INIT response), Ni, prf(SK_pr, IDr')
 * id_body is the ID payload body after the generic header: ID Type, three
 * reserved bytes, identification data. */
#ifndef KT_IKE_AUTHPSK_H
#define KT_IKE_AUTHPSK_H

#include "core/crypto/prf.h"

/* RFC 7296 §2.15: 17 ASCII bytes, no terminating NUL. */
#define KT_IKE_PSK_KEY_PAD "Key Pad for IKEv2"

/* Write the AUTH value (kt_prf_len(prf) bytes) into out. Returns
 * kt_prf_len, KT_ERR_INVAL (empty PSK or SK_p), KT_ERR_CRYPTO. */
int kt_ike_psk_auth(struct kt_prf *prf, const uint8_t *psk, size_t psk_len,
		    const uint8_t *real_msg, size_t real_msg_len, const uint8_t *nonce,
		    size_t nonce_len, const uint8_t *sk_p, size_t sk_p_len, const uint8_t *id_body,
		    size_t id_body_len, uint8_t *out);

/* Check a received AUTH value against the same inputs, in constant time.
 * Returns 0, KT_ERR_AUTH (wrong length or value), or the errors of
 * kt_ike_psk_auth. */
int kt_ike_psk_verify(struct kt_prf *prf, const uint8_t *psk, size_t psk_len,
		      const uint8_t *real_msg, size_t real_msg_len, const uint8_t *nonce,
		      size_t nonce_len, const uint8_t *sk_p, size_t sk_p_len, const uint8_t *id_body,
		      size_t id_body_len, const uint8_t *auth, size_t auth_len);

#endif
