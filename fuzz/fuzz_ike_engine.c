/* libFuzzer target for the IKE engine's receive path. At start-up two
 * engines (a = initiator, b = responder, fixed configuration) establish an
 * IKE SA with one CHILD_SA in memory. Each input's first byte picks:
 *   0: the rest is a raw datagram to b;
 *   1: the rest is a raw datagram to a;
 *   2: the rest is an inner payload chain (second byte: exchange, third:
 *      first payload type) that the target encrypts with the SA's keys as
 *      a's next request to b, so decrypted parsing and state handling are
 *      reached;
 *   3: the same as a response from b to a's pending request, if any;
 * bit 2 of the first byte then lets the clock jump past every timer.
 * a sits behind a simulated NAT (so IKE runs on port 4500 with NAT
 * keepalives); bit 3 makes the input of modes 0 and 2 come from a new NAT
 * mapping (port chosen by the high nibble) and reports ESP from there with
 * kt_ike_peer_seen, so the peer-following rules run.
 * Whatever the engines answer is delivered between them; the pair is
 * established again when the SA died. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/err.h"
#include "core/ike/crypt.h"
#include "core/ike/ike.h"
#include "core/ike/msg.h"

#define PUMP_ROUNDS 16
#define SECOND 1000000000ULL
#define NAT_SHIFT 10000 /* a's NAT maps port p to p + NAT_SHIFT */

static const char conf_a[] =
	"[daemon]\nsocket = /nonexistent/a.sock\nlog-level = debug\n"
	"[peer b]\nlocal = 192.0.2.1\nremote = 192.0.2.2\nlocal-id = @a.example\n"
	"remote-id = @b.example\npsk = \"fuzz-psk-0123456789-abcdefghij\"\n"
	"ike = aes128gcm16-prfsha256-x25519\n"
	"[child b/net]\nlocal-ts = 10.1.0.0/24\nremote-ts = 10.2.0.0/24\nesp = aes128gcm16, aes128gcm16-x25519\n"
	"[child b/more]\nlocal-ts = 10.1.1.0/24\nremote-ts = 10.2.1.0/24\n";
static const char conf_b[] =
	"[daemon]\nsocket = /nonexistent/b.sock\nlog-level = debug\n"
	"[peer a]\nlocal = 192.0.2.2\nremote = any\nlocal-id = @b.example\n"
	"remote-id = @a.example\npsk = \"fuzz-psk-0123456789-abcdefghij\"\n"
	"ike = aes128gcm16-prfsha256-x25519\n"
	"[child a/net]\nlocal-ts = 10.2.0.0/16\nremote-ts = 10.1.0.0/16\nesp = aes128gcm16-x25519-none\n"
	"[child a/host]\nmode = transport\n";

static struct kt_conf *ca, *cb;
static struct kt_ike *a, *b;
static struct kt_ike_endpoint ep_a, ep_b, ep_nat; /* ep_nat: a's NAT, port 4500's mapping */
static uint64_t now;
static uint32_t next_a_req;        /* message ID of a's next request to b */
static uint8_t buf[KT_IKE_MAX_MSG];

static void drain_events(struct kt_ike *ike)
{
	struct kt_ike_event ev;
	while (kt_ike_next_event(ike, &ev))
		kt_ike_event_wipe(&ev);
}

/* a's requests raise the message ID b expects next. */
static void note(struct kt_ike *from, const uint8_t *m, size_t len)
{
	struct kt_ike_hdr h;
	if (from == a && kt_ike_decode_hdr(m, len, &h) == 0 && !(h.flags & KT_IKE_FLAG_R) &&
	    h.exchange != KT_IKE_EXCH_IKE_SA_INIT && h.msg_id >= next_a_req)
		next_a_req = h.msg_id + 1;
}

static void pump(void)
{
	for (int r = 0; r < PUMP_ROUNDS; r++) {
		bool any = false;
		struct kt_ike_dgram d;
		int len;
		while ((len = kt_ike_next_dgram(a, &d, buf, sizeof(buf))) > 0) {
			if (!d.marker && len == 1)
				continue; /* a NAT keepalive: the daemon drops it */
			note(a, buf, (size_t)len);
			struct kt_ike_endpoint src = { ep_nat.addr, (uint16_t)(d.local.port + NAT_SHIFT) };
			struct kt_ike_endpoint dst = { ep_b.addr, d.remote.port };
			kt_ike_recv(b, now, &dst, &src, buf, (size_t)len);
			any = true;
		}
		while ((len = kt_ike_next_dgram(b, &d, buf, sizeof(buf))) > 0) {
			struct kt_ike_endpoint src = { ep_b.addr, d.local.port };
			struct kt_ike_endpoint dst = { ep_a.addr, (uint16_t)(d.remote.port - NAT_SHIFT) };
			kt_ike_recv(a, now, &dst, &src, buf, (size_t)len);
			any = true;
		}
		drain_events(a);
		drain_events(b);
		if (!any)
			break;
	}
}

static void id_cb(const struct kt_ike_sa_info *in, void *arg)
{
	*(uint64_t *)arg = in->ike_id;
}

static uint64_t sa_id(const struct kt_ike *ike)
{
	uint64_t id = 0;
	kt_ike_foreach(ike, id_cb, &id);
	return id;
}

static void count_cb(const struct kt_ike_sa_info *in, void *arg)
{
	if (strcmp(in->state, "established") == 0)
		(*(int *)arg)++;
}

static bool up(void)
{
	int na = 0, nb = 0;
	kt_ike_foreach(a, count_cb, &na);
	kt_ike_foreach(b, count_cb, &nb);
	return na == 1 && nb == 1;
}

static void establish(void)
{
	kt_ike_del(a);
	kt_ike_del(b);
	struct kt_ike_settings sa = { .conf = ca }, sb = { .conf = cb };
	now = 1000 * SECOND;
	if (kt_ike_new(&sa, now, &a) || kt_ike_new(&sb, now, &b))
		abort();
	next_a_req = 0;
	if (kt_ike_initiate(a, now, "b", NULL, NULL))
		abort();
	pump();
	if (!up())
		abort();
}

static struct kt_conf *parse(const char *t)
{
	struct kt_conf *c;
	struct kt_conf_diag d;
	if (kt_conf_parse(t, strlen(t), "fuzz.conf", &c, &d))
		abort();
	return c;
}

static void keys_cb(const struct kt_ike_key_export *k, void *arg)
{
	*(struct kt_ike_key_export *)arg = *k;
}

/* Seal the chain as a message of the established SA: a's request (to b)
 * or b's response (to a). */
static size_t seal(bool from_a, uint8_t exchange, uint32_t msg_id, uint8_t first, const uint8_t *chain,
		   size_t len)
{
	struct kt_ike_key_export k;
	memset(&k, 0, sizeof(k));
	kt_ike_foreach_keys(from_a ? a : b, keys_cb, &k);
	struct kt_ike_keys keys;
	memset(&keys, 0, sizeof(keys));
	keys.encr_len = k.encr_len;
	keys.integ_len = k.integ_len;
	memcpy(keys.sk_ei, k.sk_ei, sizeof(keys.sk_ei));
	memcpy(keys.sk_er, k.sk_er, sizeof(keys.sk_er));
	memcpy(keys.sk_ai, k.sk_ai, sizeof(keys.sk_ai));
	memcpy(keys.sk_ar, k.sk_ar, sizeof(keys.sk_ar));
	struct kt_ike_crypt c;
	if (kt_ike_crypt_init(&c, k.encr, k.encr_key_bits, k.integ, &keys, from_a, true))
		return 0;
	static uint64_t iv = 1ULL << 40; /* never the engines' own IVs */
	c.iv_counter = iv++;
	struct kt_ike_writer w;
	kt_ike_writer_init(&w, buf, sizeof(buf));
	struct kt_ike_hdr h = { .spi_i = k.spi_i, .spi_r = k.spi_r, .exchange = exchange, .msg_id = msg_id,
				.flags = from_a ? KT_IKE_FLAG_I : KT_IKE_FLAG_R };
	kt_ike_write_hdr(&w, &h);
	kt_ike_write_sk_begin(&w, c.iv_len);
	size_t room = w.cap - w.len > 512 ? w.cap - w.len - 512 : 0;
	if (len > room)
		len = room;
	if (len && !w.err) {
		w.buf[w.sk_off] = first; /* the SK payload's next-payload field */
		memcpy(w.buf + w.len, chain, len);
		w.len += len;
	}
	struct kt_ike_sk sk;
	int n = -1;
	if (kt_ike_write_sk_end(&w, c.block_size, c.icv_len, &sk) == 0 && (n = kt_ike_writer_finish(&w)) > 0 &&
	    kt_ike_crypt_seal(&c, buf, (size_t)n, &sk) != 0)
		n = -1;
	kt_ike_crypt_free(&c);
	return n > 0 ? (size_t)n : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ca = parse(conf_a);
	cb = parse(conf_b);
	ep_a = (struct kt_ike_endpoint){ .addr = { .version = 4, .bytes = { 192, 0, 2, 1 } }, .port = 4500 };
	ep_b = (struct kt_ike_endpoint){ .addr = { .version = 4, .bytes = { 192, 0, 2, 2 } }, .port = 4500 };
	ep_nat = (struct kt_ike_endpoint){ .addr = { .version = 4, .bytes = { 198, 51, 100, 77 } },
					   .port = 4500 + NAT_SHIFT };
	establish();
	return 0;
}

static const uint8_t exchanges[] = { KT_IKE_EXCH_INFORMATIONAL, KT_IKE_EXCH_CREATE_CHILD_SA,
				     KT_IKE_EXCH_IKE_AUTH, KT_IKE_EXCH_IKE_SA_INIT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0] & 3;
	struct kt_ike_endpoint from_a = ep_nat;
	if (data[0] & 8) { /* a new mapping of a's NAT */
		from_a.port = (uint16_t)(ep_nat.port + 1 + (data[0] >> 4));
		kt_ike_peer_seen(b, now, sa_id(b), &from_a);
		kt_ike_peer_seen(a, now, sa_id(a), &ep_b);
	}
	if (mode == 0) {
		kt_ike_recv(b, now, &ep_b, &from_a, data + 1, size - 1);
	} else if (mode == 1) {
		kt_ike_recv(a, now, &ep_a, &ep_b, data + 1, size - 1);
	} else if (size >= 3) {
		uint8_t exch = exchanges[data[1] % sizeof(exchanges)];
		bool request = mode == 2;
		uint32_t id = request ? next_a_req : next_a_req ? next_a_req - 1 : 0;
		size_t n = seal(request, exch, id, data[2], data + 3, size - 3);
		if (n && request)
			kt_ike_recv(b, now, &ep_b, &from_a, buf, n);
		else if (n)
			kt_ike_recv(a, now, &ep_a, &ep_b, buf, n);
		if (request && n)
			next_a_req++;
	}
	if (data[0] & 4) {
		now += 3600 * SECOND;
		kt_ike_handle_expiry(a, now);
		kt_ike_handle_expiry(b, now);
	}
	pump();
	if (!up())
		establish();
	return 0;
}
