/* The SA payload (RFC 7296 §3.3): proposals, their transforms and the
 * transforms' attributes, parsed into bounded arrays and written back.
 * Parser and writer share the proposal rules, so what we send parses. */
#include "core/err.h"
#include "core/ike/codec.h"

#define PROP_FIXED 8     /* §3.3.1: last, reserved, length, num, proto, SPI size, count */
#define XF_FIXED 8       /* §3.3.2: last, reserved, length, type, reserved, ID */
#define ATTR_FIXED 4     /* §3.3.5: format+type, length or value */
#define PROP_MORE 2      /* §3.3.1 Last Substruc: more proposals follow */
#define XF_MORE 3        /* §3.3.2 Last Substruc: more transforms follow */
#define SUBSTRUC_LAST 0
#define ATTR_TV 0x8000   /* §3.3.5 AF bit: value in the header */
#define ATTR_TYPE_MASK 0x7fff
#define SUBSTRUC_MAX 0xffff

int kt_ike_check_proposal_spi(uint8_t proto, size_t spi_size)
{
	switch (proto) {
	case KT_IKE_PROTO_IKE: /* empty in IKE_SA_INIT, 8 when rekeying (§3.3.1) */
		return spi_size == 0 || spi_size == KT_IKE_SPI_SIZE_IKE ? 0 : KT_ERR_IKE_SYNTAX;
	case KT_IKE_PROTO_AH:
	case KT_IKE_PROTO_ESP:
		return spi_size == KT_IKE_SPI_SIZE_CHILD ? 0 : KT_ERR_IKE_SYNTAX;
	}
	return KT_ERR_IKE_SYNTAX;
}

/* §3.3.1: several proposals are numbered 1, 2, ...; a lone one (a
 * response) carries the number chosen, never 0. */
static int check_numbers(const struct kt_ike_proposal *prop, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (prop[i].num == 0 || (n > 1 && prop[i].num != i + 1))
			return KT_ERR_IKE_SYNTAX;
	}
	return 0;
}

static int parse_attrs(const uint8_t *p, size_t len, struct kt_ike_transform *xf)
{
	for (size_t off = 0; off < len;) {
		if (len - off < ATTR_FIXED)
			return KT_ERR_MALFORMED;
		uint16_t t = rd16(p + off);
		bool tv = t & ATTR_TV;
		size_t vlen = tv ? 0 : rd16(p + off + 2);
		if (vlen > len - off - ATTR_FIXED)
			return KT_ERR_MALFORMED;
		if ((t & ATTR_TYPE_MASK) == KT_IKE_ATTR_KEY_LENGTH) {
			uint16_t bits = rd16(p + off + 2);
			if (!tv || bits == 0 || xf->key_bits != 0)
				return KT_ERR_IKE_SYNTAX;
			xf->key_bits = bits;
		} else {
			xf->unknown_attr = true;
		}
		off += ATTR_FIXED + vlen;
	}
	return 0;
}

/* One transform at p[0..avail): sets *used and *more. */
static int parse_transform(const uint8_t *p, size_t avail, struct kt_ike_transform *xf,
			   size_t *used, bool *more)
{
	if (avail < XF_FIXED)
		return KT_ERR_MALFORMED;
	size_t len = rd16(p + 2);
	if (len < XF_FIXED || len > avail)
		return KT_ERR_MALFORMED;
	if (p[0] != SUBSTRUC_LAST && p[0] != XF_MORE)
		return KT_ERR_IKE_SYNTAX;
	*xf = (struct kt_ike_transform){ .type = p[4], .id = rd16(p + 6) };
	*used = len;
	*more = p[0] == XF_MORE;
	return parse_attrs(p + XF_FIXED, len - XF_FIXED, xf);
}

/* The transforms filling p[0..len); their number must be prop->n_xf. */
static int parse_transforms(const uint8_t *p, size_t len, struct kt_ike_proposal *prop)
{
	size_t off = 0, n = 0;
	while (off < len) {
		if (n == prop->n_xf)
			return KT_ERR_MALFORMED; /* more than Num Transforms says */
		size_t used;
		bool more;
		int rc = parse_transform(p + off, len - off, &prop->xf[n], &used, &more);
		if (rc)
			return rc;
		off += used;
		n++;
		if (more != (off < len))
			return KT_ERR_IKE_SYNTAX;
	}
	return n == prop->n_xf ? 0 : KT_ERR_MALFORMED;
}

static int parse_proposal(const uint8_t *p, size_t avail, struct kt_ike_proposal *prop,
			  size_t *used, bool *more)
{
	if (avail < PROP_FIXED)
		return KT_ERR_MALFORMED;
	size_t len = rd16(p + 2);
	if (len < PROP_FIXED || len > avail)
		return KT_ERR_MALFORMED;
	if (p[0] != SUBSTRUC_LAST && p[0] != PROP_MORE)
		return KT_ERR_IKE_SYNTAX;
	prop->num = p[4];
	prop->proto = p[5];
	prop->spi_size = p[6];
	prop->n_xf = p[7];
	int rc = kt_ike_check_proposal_spi(prop->proto, prop->spi_size);
	if (rc)
		return rc;
	if (prop->spi_size > len - PROP_FIXED)
		return KT_ERR_MALFORMED;
	if (prop->n_xf == 0)
		return KT_ERR_IKE_SYNTAX;
	if (prop->n_xf > KT_IKE_MAX_TRANSFORMS)
		return KT_ERR_IKE_LIMIT;
	prop->spi = rdn(p + PROP_FIXED, prop->spi_size);
	*used = len;
	*more = p[0] == PROP_MORE;
	size_t head = PROP_FIXED + prop->spi_size;
	return parse_transforms(p + head, len - head, prop);
}

int kt_ike_parse_sa(const struct kt_ike_payload *pl, struct kt_ike_proposals *out)
{
	if (!pl || pl->type != KT_IKE_PL_SA)
		return KT_ERR_INVAL;
	if (pl->len == 0)
		return KT_ERR_IKE_SYNTAX;
	size_t off = 0, n = 0;
	while (off < pl->len) {
		if (n == KT_IKE_MAX_PROPOSALS)
			return KT_ERR_IKE_LIMIT;
		size_t used;
		bool more;
		int rc = parse_proposal(pl->body + off, pl->len - off, &out->prop[n], &used, &more);
		if (rc)
			return rc;
		off += used;
		n++;
		if (more != (off < pl->len))
			return KT_ERR_IKE_SYNTAX;
	}
	out->n = (uint8_t)n;
	return check_numbers(out->prop, n);
}

/* ---- Writer ---- */

static int check_proposals(const struct kt_ike_proposal *prop, size_t n)
{
	if (n == 0 || n > KT_IKE_MAX_PROPOSALS || check_numbers(prop, n))
		return KT_ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (kt_ike_check_proposal_spi(prop[i].proto, prop[i].spi_size))
			return KT_ERR_INVAL;
		if (prop[i].n_xf == 0 || prop[i].n_xf > KT_IKE_MAX_TRANSFORMS)
			return KT_ERR_INVAL;
	}
	return 0;
}

static int write_transform(struct kt_ike_writer *w, const struct kt_ike_transform *xf, bool last)
{
	size_t len = XF_FIXED + (xf->key_bits ? ATTR_FIXED : 0);
	uint8_t *p = kt_ike_w_put(w, len);
	if (!p)
		return w->err;
	p[0] = last ? SUBSTRUC_LAST : XF_MORE;
	p[1] = 0;
	wr16(p + 2, (uint16_t)len);
	p[4] = xf->type;
	p[5] = 0;
	wr16(p + 6, xf->id);
	if (xf->key_bits) {
		wr16(p + 8, ATTR_TV | KT_IKE_ATTR_KEY_LENGTH);
		wr16(p + 10, xf->key_bits);
	}
	return 0;
}

static int write_proposal(struct kt_ike_writer *w, const struct kt_ike_proposal *prop, bool last)
{
	size_t start = w->len;
	uint8_t *p = kt_ike_w_put(w, PROP_FIXED + prop->spi_size);
	if (!p)
		return w->err;
	p[0] = last ? SUBSTRUC_LAST : PROP_MORE;
	p[1] = 0;
	p[4] = prop->num;
	p[5] = prop->proto;
	p[6] = prop->spi_size;
	p[7] = prop->n_xf;
	wrn(p + PROP_FIXED, prop->spi, prop->spi_size);
	for (size_t i = 0; i < prop->n_xf; i++) {
		if (write_transform(w, &prop->xf[i], i + 1 == prop->n_xf))
			return w->err;
	}
	if (w->len - start > SUBSTRUC_MAX)
		return kt_ike_w_fail(w, KT_ERR_INVAL);
	wr16(w->buf + start + 2, (uint16_t)(w->len - start));
	return 0;
}

int kt_ike_write_sa(struct kt_ike_writer *w, const struct kt_ike_proposal *prop, size_t n)
{
	if (w->err)
		return w->err;
	if (check_proposals(prop, n))
		return kt_ike_w_fail(w, KT_ERR_INVAL);
	size_t start;
	if (kt_ike_w_begin(w, KT_IKE_PL_SA, false, &start))
		return w->err;
	for (size_t i = 0; i < n; i++) {
		if (write_proposal(w, &prop[i], i + 1 == n))
			return w->err;
	}
	return kt_ike_w_end(w, start);
}
