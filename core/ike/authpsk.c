/* PSK AUTH values (RFC 7296 §2.15): computed with the negotiated PRF,
 * compared in constant time, intermediates wiped. */
#include <openssl/crypto.h>

#include "core/err.h"
#include "core/ike/authpsk.h"

int kt_ike_psk_auth(struct kt_prf *prf, const uint8_t *psk, size_t psk_len,
		    const uint8_t *real_msg, size_t real_msg_len, const uint8_t *nonce,
		    size_t nonce_len, const uint8_t *sk_p, size_t sk_p_len, const uint8_t *id_body,
		    size_t id_body_len, uint8_t *out)
{
	uint8_t pad_key[KT_PRF_MAX_LEN], maced_id[KT_PRF_MAX_LEN];
	const struct kt_chunk pad = { (const uint8_t *)KT_IKE_PSK_KEY_PAD,
				      sizeof(KT_IKE_PSK_KEY_PAD) - 1 };
	const struct kt_chunk id = { id_body, id_body_len };
	size_t n = kt_prf_len(prf);
	int rc;

	rc = kt_prf(prf, sk_p, sk_p_len, &id, 1, maced_id);
	if (rc >= 0)
		rc = kt_prf(prf, psk, psk_len, &pad, 1, pad_key);
	if (rc >= 0) {
		const struct kt_chunk signed_octets[] = {
			{ real_msg, real_msg_len },
			{ nonce, nonce_len },
			{ maced_id, n },
		};
		rc = kt_prf(prf, pad_key, n, signed_octets, 3, out);
	}
	OPENSSL_cleanse(pad_key, sizeof(pad_key));
	OPENSSL_cleanse(maced_id, sizeof(maced_id));
	return rc;
}

int kt_ike_psk_verify(struct kt_prf *prf, const uint8_t *psk, size_t psk_len,
		      const uint8_t *real_msg, size_t real_msg_len, const uint8_t *nonce,
		      size_t nonce_len, const uint8_t *sk_p, size_t sk_p_len, const uint8_t *id_body,
		      size_t id_body_len, const uint8_t *auth, size_t auth_len)
{
	uint8_t want[KT_PRF_MAX_LEN];
	int rc;

	if (!auth || auth_len != kt_prf_len(prf))
		return KT_ERR_AUTH;
	rc = kt_ike_psk_auth(prf, psk, psk_len, real_msg, real_msg_len, nonce, nonce_len, sk_p,
			     sk_p_len, id_body, id_body_len, want);
	if (rc >= 0)
		rc = CRYPTO_memcmp(want, auth, auth_len) == 0 ? 0 : KT_ERR_AUTH;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
