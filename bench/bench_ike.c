/* IKEv2 handshakes per second and memory per established IKE SA: fresh
 * initiator engines bring up IKE SAs (PSK, X25519, one CHILD_SA each) with
 * one responder engine in the same process, on one core. The responder
 * keeps every SA, and its CHILD_SAs are installed into a SAD, so the memory
 * figure includes the ESP crypto contexts. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/conf/conf.h"
#include "core/ike/ike.h"

#define DEFAULT_SAS 10000
#define MAX_PUMP_ROUNDS 64

static const char responder_conf[] =
	"[daemon]\nsocket = /nonexistent/r.sock\n"
	"[peer clients]\nremote = any\nlocal = 192.0.2.1\nlocal-id = @gw.example\n"
	"remote-id = %any\npsk = \"bench-psk-0123456789-abcdefghij\"\n"
	"ike = aes128gcm16-prfsha256-x25519\nstart = listen\n"
	"[child clients/lan]\nlocal-ts = 10.1.0.0/16\nremote-ts = 10.2.0.0/16\nesp = aes128gcm16\n";
static const char initiator_conf[] =
	"[daemon]\nsocket = /nonexistent/i.sock\n"
	"[peer gw]\nremote = 192.0.2.1\nlocal = 198.51.100.1\nlocal-id = @client.example\n"
	"remote-id = @gw.example\npsk = \"bench-psk-0123456789-abcdefghij\"\n"
	"ike = aes128gcm16-prfsha256-x25519\nstart = listen\n"
	"[child gw/lan]\nlocal-ts = 10.2.0.0/16\nremote-ts = 10.1.0.0/16\nesp = aes128gcm16\n";

static void die(const char *what)
{
	fprintf(stderr, "bench_ike: %s\n", what);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct kt_conf *parse(const char *text)
{
	struct kt_conf *c;
	struct kt_conf_diag d;
	if (kt_conf_parse(text, strlen(text), "bench.conf", &c, &d))
		die(d.n_errors ? d.errors[0] : "config");
	return c;
}

static struct kt_ike *engine(const struct kt_conf *c)
{
	struct kt_ike_settings s = {.conf = c};
	struct kt_ike *ike;
	if (kt_ike_new(&s, 0, &ike))
		die("kt_ike_new");
	return ike;
}

/* Deliver every queued datagram of `from` to `to`, presenting `from` as
 * the endpoint `seen` (each initiator gets its own source address). */
static size_t pump(struct kt_ike *from, struct kt_ike *to, const struct kt_addr *seen)
{
	static uint8_t buf[KT_IKE_MAX_MSG];
	struct kt_ike_dgram d;
	size_t n = 0;
	int len;
	while ((len = kt_ike_next_dgram(from, &d, buf, sizeof(buf))) > 0) {
		struct kt_ike_endpoint src = d.local, dst = d.remote;
		if (seen)
			src.addr = *seen;
		kt_ike_recv(to, 0, &dst, &src, buf, (size_t)len);
		n++;
	}
	if (len < 0)
		die("kt_ike_next_dgram");
	return n;
}

/* Count CHILD_UP events; install the responder's SAs into sad. */
static int drain_events(struct kt_ike *ike, struct kt_sad *sad)
{
	struct kt_ike_event ev;
	int up = 0;
	while (kt_ike_next_event(ike, &ev)) {
		if (ev.type == KT_IKE_EV_CHILD_UP) {
			up++;
			for (size_t i = 0; sad && i < ev.child_sa.n_sa; i++) {
				struct kt_sa *sa;
				if (kt_sad_add(sad, &ev.child_sa.sa[i], 0, &sa))
					die("kt_sad_add");
			}
		}
		kt_ike_event_wipe(&ev);
	}
	return up;
}

static void handshake(struct kt_ike *resp, struct kt_sad *sad, const struct kt_conf *ic,
		      uint32_t i)
{
	struct kt_ike *init = engine(ic);
	struct kt_addr seen = {.version = 4, .bytes = {198, 51, (uint8_t)(i >> 8), (uint8_t)i}};
	int up_i = 0, up_r = 0;

	if (kt_ike_initiate(init, 0, "gw", NULL, NULL))
		die("kt_ike_initiate");
	for (int r = 0; r < MAX_PUMP_ROUNDS && (up_i == 0 || up_r == 0); r++) {
		pump(init, resp, &seen);
		pump(resp, init, NULL);
		up_i += drain_events(init, NULL);
		up_r += drain_events(resp, sad);
	}
	if (!up_i || !up_r)
		die("handshake did not complete");
	kt_ike_del(init);
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : DEFAULT_SAS;
	struct kt_conf *rc = parse(responder_conf), *ic = parse(initiator_conf);
	struct kt_ike *resp = engine(rc);
	struct kt_sad *sad = kt_sad_new();

	handshake(resp, sad, ic, 0); /* warm up: lazy libcrypto state */
	size_t before = mallinfo2().uordblks;
	uint64_t t0 = now_ns();
	for (uint32_t i = 1; i <= n; i++)
		handshake(resp, sad, ic, i);
	double secs = (double)(now_ns() - t0) / 1e9;
	size_t after = mallinfo2().uordblks;

	printf("IKEv2 PSK + X25519, AES-GCM-128, one CHILD_SA, both engines on one core\n");
	printf("handshakes            %u\n", n);
	printf("handshakes/s          %.0f   (target >= 2000)\n", n / secs);
	printf("responder bytes/SA    %.0f   (IKE SA + CHILD_SA in SAD, target <= 8192)\n",
	       (double)(after - before) / n);
	kt_ike_del(resp);
	kt_sad_del(sad);
	kt_conf_free(rc);
	kt_conf_free(ic);
	return 0;
}
