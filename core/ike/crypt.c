/* SK/SKF payload protection for IKEv2: keys the two directions from the
 * IKE SA keys and applies kt_xform_seal_aad/open_aad to the spans the codec
 * reported, with the IV policy of each kind of transform. */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/ike/crypt.h"

#define AEAD_BLOCK 1 /* RFC 5282 §3: no alignment beyond the Pad Length byte */

static bool is_aead(uint16_t encr)
{
	return encr == KT_ENCR_AES_GCM_16 || encr == KT_ENCR_CHACHA20_POLY1305;
}

static int key_dir(struct kt_xform *x, const struct kt_xform_params *base, const uint8_t *ekey,
		   const uint8_t *ikey, uint8_t use)
{
	struct kt_xform_params p = *base;

	p.use = use;
	p.encr_key = ekey;
	p.integ_key = p.integ_key_len ? ikey : NULL;
	return kt_xform_init(x, &p);
}

int kt_ike_crypt_init(struct kt_ike_crypt *c, uint16_t encr, uint16_t encr_key_bits,
		      uint16_t integ, const struct kt_ike_keys *keys, bool initiator,
		      bool allow_legacy)
{
	const struct kt_xform_params p = {
		.encr = encr, .encr_key_bits = encr_key_bits, .encr_key_len = keys->encr_len,
		.integ = integ, .integ_key_len = keys->integ_len, .allow_legacy = allow_legacy,
	};
	int rc;

	memset(c, 0, sizeof(*c));
	/* IKE always encrypts: ENCR_NULL is "not allowed" for IKEv2 in IANA's
	 * Transform Type 1 registry, NONE is AH's. */
	if (encr == KT_ENCR_NONE || encr == KT_ENCR_NULL)
		return KT_ERR_INVAL;
	if (keys->encr_len > KT_KDF_MAX_KEY || keys->integ_len > KT_KDF_MAX_KEY)
		return KT_ERR_INVAL;
	rc = key_dir(&c->out, &p, initiator ? keys->sk_ei : keys->sk_er,
		     initiator ? keys->sk_ai : keys->sk_ar, KT_XFORM_USE_SEAL);
	if (rc == 0)
		rc = key_dir(&c->in, &p, initiator ? keys->sk_er : keys->sk_ei,
			     initiator ? keys->sk_ar : keys->sk_ai, KT_XFORM_USE_OPEN);
	if (rc < 0) {
		kt_ike_crypt_free(c);
		return rc;
	}
	c->encr = encr;
	c->encr_key_bits = encr_key_bits;
	c->integ = integ;
	c->iv_len = c->out.iv_len;
	c->icv_len = c->out.icv_len;
	c->block_size = is_aead(encr) ? AEAD_BLOCK : c->out.block_size;
	return 0;
}

void kt_ike_crypt_free(struct kt_ike_crypt *c)
{
	kt_xform_free(&c->out);
	kt_xform_free(&c->in);
	memset(c, 0, sizeof(*c));
}

/* The spans must be this transform's and lie inside the message in order:
 * IV, ciphertext, ICV. */
static bool spans_ok(const struct kt_ike_crypt *c, size_t len, const struct kt_ike_sk *sk)
{
	if (c->block_size == 0 || sk->iv_len != c->iv_len || sk->icv_len != c->icv_len)
		return false;
	if (sk->iv_off > len || sk->iv_len > len - sk->iv_off
	    || sk->ct_off != sk->iv_off + sk->iv_len || sk->ct_len > len - sk->ct_off
	    || sk->icv_off != sk->ct_off + sk->ct_len || sk->icv_len > len - sk->icv_off)
		return false;
	return sk->ct_len > 0 && sk->ct_len % c->block_size == 0;
}

/* AEAD: a counter, unique under the key and cheaper than randomness
 * (RFC 5282 §3 asks only for uniqueness). CBC: unpredictable, so random
 * (RFC 7296 §3.14). */
static int make_iv(struct kt_ike_crypt *c, uint8_t *iv)
{
	if (!c->out.aead)
		return kt_random(iv, c->iv_len);
	if (c->iv_counter == UINT64_MAX)
		return KT_ERR_EXHAUSTED;
	kt_put64(iv, c->iv_counter++);
	return 0;
}

int kt_ike_crypt_seal(struct kt_ike_crypt *c, uint8_t *msg, size_t len, const struct kt_ike_sk *sk)
{
	int rc;

	if (!spans_ok(c, len, sk))
		return KT_ERR_INVAL;
	rc = make_iv(c, msg + sk->iv_off);
	if (rc < 0)
		return rc;
	return kt_xform_seal_aad(&c->out, msg, sk->iv_off, msg + sk->iv_off, msg + sk->ct_off,
				 sk->ct_len, msg + sk->icv_off);
}

int kt_ike_crypt_open(struct kt_ike_crypt *c, uint8_t *msg, size_t len, const struct kt_ike_sk *sk)
{
	int rc;

	if (!spans_ok(c, len, sk))
		return KT_ERR_INVAL;
	rc = kt_xform_open_aad(&c->in, msg, sk->iv_off, msg + sk->iv_off, msg + sk->ct_off,
			       sk->ct_len, msg + sk->icv_off);
	if (rc < 0)
		return rc;
	return kt_ike_sk_unpad(msg + sk->ct_off, sk->ct_len);
}
