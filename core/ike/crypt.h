/* Protection of IKEv2's Encrypted payload (SK, and SKF fragments) with the
 * transform negotiated for the IKE SA: RFC 7296 §3.14 for cipher+HMAC,
 * RFC 5282 for AES-GCM, RFC 7634 for ChaCha20-Poly1305. The codec
 * (core/ike/msg.h) lays the payload out and finds it again; this module only
 * fills the IV, encrypts and writes the ICV, or verifies and decrypts, in
 * place in the message buffer. */
#ifndef KT_IKE_CRYPT_H
#define KT_IKE_CRYPT_H

#include "core/crypto/prf.h"   /* struct kt_ike_keys */
#include "core/crypto/xform.h"
#include "core/ike/msg.h"      /* struct kt_ike_sk */

/* Both directions of one IKE SA. out seals what we send, in opens what the
 * peer sends. iv_len, icv_len and block_size are what kt_ike_write_sk_begin,
 * kt_ike_write_sk_end and kt_ike_sk_locate take. */
struct kt_ike_crypt {
	struct kt_xform out, in;
	uint16_t encr, encr_key_bits, integ;
	size_t iv_len;       /* AEAD 8, AES-CBC 16, 3DES 8 */
	size_t icv_len;      /* AEAD 16, HMAC: the truncated length */
	size_t block_size;   /* ciphertext alignment: CBC the cipher block, AEAD 1 */
	uint64_t iv_counter; /* AEAD: the next IV of out (RFC 5282 §3: never
				repeated under one key) */
};

/* Key both directions from the IKE SA keys: the initiator sends with
 * SK_ei/SK_ai and receives with SK_er/SK_ar, the responder the reverse.
 * keys->encr_len (with the AEAD salt) and keys->integ_len must be what the
 * transform needs. Returns 0, KT_ERR_INVAL (key lengths, AEAD with
 * integrity, CBC without, ENCR_NULL: IANA's Transform Type 1 registry
 * marks it not allowed for IKEv2),
 * KT_ERR_LEGACY (3DES, DES, HMAC-MD5/SHA1-96 without allow_legacy),
 * KT_ERR_UNSUPPORTED, KT_ERR_NOMEM, KT_ERR_CRYPTO. On failure nothing needs
 * freeing; kt_ike_crypt_free is safe on a zeroed or freed object. */
int kt_ike_crypt_init(struct kt_ike_crypt *c, uint16_t encr, uint16_t encr_key_bits,
		      uint16_t integ, const struct kt_ike_keys *keys, bool initiator,
		      bool allow_legacy);
void kt_ike_crypt_free(struct kt_ike_crypt *c);

/* Protect msg[0..len) in place: call after kt_ike_write_sk_end (with this
 * object's iv_len, block_size, icv_len) and kt_ike_writer_finish, so that
 * the header and payload lengths are final. Writes the IV (AEAD: the 64-bit
 * big-endian counter; CBC: random), encrypts sk->ct and writes the ICV.
 * AEAD associated data is msg[0..iv_off) (RFC 5282 §5.1); the HMAC covers
 * msg[0..icv_off) (RFC 7296 §3.14). Returns 0, KT_ERR_INVAL (spans that do
 * not fit len or this transform), KT_ERR_EXHAUSTED (AEAD IVs used up),
 * KT_ERR_CRYPTO. */
int kt_ike_crypt_seal(struct kt_ike_crypt *c, uint8_t *msg, size_t len, const struct kt_ike_sk *sk);

/* Verify the ICV (constant time) and only then decrypt sk->ct in place;
 * sk comes from kt_ike_sk_locate with this object's iv_len, icv_len and
 * block_size. Returns the length n of the inner payloads at msg + ct_off,
 * for kt_ike_decode_chain(sk->next, msg + sk->ct_off, n, ...), or
 * KT_ERR_AUTH (ICV mismatch: nothing of the plaintext is left in msg),
 * KT_ERR_MALFORMED (Pad Length longer than the plaintext), KT_ERR_INVAL
 * (spans), KT_ERR_CRYPTO. */
int kt_ike_crypt_open(struct kt_ike_crypt *c, uint8_t *msg, size_t len, const struct kt_ike_sk *sk);

#endif
