"""kotetsu's user-space data plane, kotetsud against kotetsud, in four
namespaces "hostA - gwA - internet - gwB - hostB" (topo.py): tunnel mode
from subnet to subnet, transport mode between the gateways and between the
hosts (the gateways then mere routers), ESP and AH, IPv4 and IPv6 inside
and outside; ping and a short iperf3 TCP run through each, with the
per-SA counters of `kotetsu status --json` checked against that traffic
and a capture of the internet link checked for cleartext.

Then what an outsider can check: tshark, given the files of
`kotetsu keys --wireshark`, opens the ESP we put on the wire (scapy for
ChaCha20-Poly1305, which tshark 4.0 lacks); garbage sent to UDP 500/4500
and to the raw ESP/AH path is counted and dropped while the tunnel keeps
working; with start = on-traffic no protected packet crosses the internet
in clear, not even before the SA exists; and a cleartext packet forged
from the internet with addresses under a PROTECT rule never reaches the
host behind the gateway (RFC 4301 §5.2; kotetsud's nftables rules, gone
once it stops)."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

import netns
import topo
from kotetsud import require_built
from topo import LAN, count_proto, counters, iperf3, iperf_bytes, ping

PATTERN = "6b6f746574737521"       # "kotetsu!": ping's payload fill
PINGS = 10
IPERF_SECONDS = 2
ESP_DEFAULT = "aes256gcm16"
AH_DEFAULT = "sha256"


def require_tools():
    missing = [t for t in (topo.TCPDUMP, topo.IPERF3, "/usr/bin/ping")
               if not os.access(t, os.X_OK)]
    if missing:
        pytest.fail("missing %s: run scripts/install-deps" % ", ".join(missing), pytrace=False)


@pytest.fixture
def world(tmp_path_factory):
    """A factory: world(routed=False, ipv6=True) makes the four namespaces
    and returns a topo.World; everything is stopped and deleted after the
    test."""
    netns.require_root()
    require_built()
    require_tools()
    with netns.work_dir(tmp_path_factory) as work, \
            topo.world_maker(work, topo.sites, topo.World) as make:
        yield lambda routed=False, ipv6=True: make(routed=routed, ipv6=ipv6)


# --- scenarios ------------------------------------------------------------------

class Scenario:
    """Who runs kotetsud (left initiates), who talks (src -> dst), over
    which families, and what must never show in clear on the internet."""

    def __init__(self, w, mode, proto, inner, outer, where="gateways", alg=None):
        s = w.s
        self.w, self.mode, self.proto, self.inner, self.outer = w, mode, proto, inner, outer
        if mode == "tunnel" or where == "gateways":
            self.left, self.right = s.gwA, s.gwB
        else:
            self.left, self.right = s.hostA, s.hostB
        if mode == "tunnel":
            self.src, self.dst = s.hostA, s.hostB
            self.dst_addr = s.hostB.addr(inner)
        else:
            self.src, self.dst = self.left, self.right
            self.dst_addr = self.right.addr(outer)
        child = {"name": "lan", "mode": mode, "protocol": proto}
        if mode == "tunnel":
            child.update(local_ts=LAN["A"][inner], remote_ts=LAN["B"][inner])
        if proto in ("esp", "ah+esp"):
            child["esp"] = alg or ESP_DEFAULT
        if proto in ("ah", "ah+esp"):
            child["ah"] = alg if proto == "ah" and alg else AH_DEFAULT
        self.children = [child]

    def start(self, start="now", **kw):
        self.kl, self.kr = self.w.start_pair(self.left, self.right, self.children,
                                             family=self.outer, start=start, **kw)
        return self

    def leaks(self, pkts):
        if self.mode == "tunnel":
            return topo.cleartext_leaks(pkts, protected_nets=[LAN["A"][self.inner],
                                                              LAN["B"][self.inner]])
        return topo.cleartext_leaks(pkts, ends=(self.left.addr(self.outer),
                                                self.right.addr(self.outer)))

    def status(self):
        return self.kl.status(), self.kr.status()

    def details(self, *extra):
        try:
            st = json.dumps(self.status(), indent=1)
        except AssertionError as e:
            st = str(e)
        return "\n".join([*map(str, extra), "--- status (left, right) ---", st,
                          self.w.diagnostics()])


def capture_inet(w, name="inet.pcap", **kw):
    return topo.Capture(w.s.gwA.ns, w.s.gwA.ifs["inet"], w.work / name, **kw)


def check_traffic(sc):
    """A first ping must pass; then PINGS pings under a capture of the
    internet link (all answered, none in clear, each one ESP or AH) and a
    short iperf3 run, each followed by the counters of both ends."""
    first = ping(sc.src.ns, sc.dst_addr, count=1, wait=5)
    assert first.received == 1, sc.details("first ping through the SA failed", first)
    c0l, c0r = counters(sc.kl.status(), "site-b"), counters(sc.kr.status(), "site-a")
    with capture_inet(sc.w) as cap:
        res = ping(sc.src.ns, sc.dst_addr, count=PINGS, pattern=PATTERN)
    assert res.received == PINGS, sc.details(res)
    pkts = cap.packets()
    leaks = sc.leaks(pkts)
    assert not leaks, sc.details("cleartext on the internet link:",
                                 *[p.summary() for p in leaks[:10]])
    protos = {"esp": (50, 4500), "ah": (51,), "ah+esp": (51,)}[sc.proto]
    n = count_proto(pkts, protos)
    assert n >= 2 * PINGS, sc.details("only %d %s packets on the internet link for %d pings"
                                      % (n, sc.proto, PINGS))
    c1l, c1r = counters(sc.kl.status(), "site-b"), counters(sc.kr.status(), "site-a")
    for side, a, b in (("left", c0l, c1l), ("right", c0r, c1r)):
        for k in ("packets_in", "packets_out"):
            assert b[k] - a[k] >= PINGS, sc.details(
                "%s %s grew by %d for %d pings (%r -> %r)" % (side, k, b[k] - a[k], PINGS, a, b))
        for k in ("bytes_in", "bytes_out"):
            assert b[k] - a[k] >= PINGS * 64, sc.details("%s %s: %r -> %r" % (side, k, a, b))
    report = iperf3(sc.dst.ns, sc.src.ns, sc.dst_addr, seconds=IPERF_SECONDS)
    got = iperf_bytes(report)
    assert got > 0, sc.details("iperf3 moved nothing", report)
    c2l, c2r = counters(sc.kl.status(), "site-b"), counters(sc.kr.status(), "site-a")
    assert c2l["bytes_out"] - c1l["bytes_out"] >= got, sc.details(
        "left bytes_out grew by %d, iperf3 delivered %d" % (c2l["bytes_out"] - c1l["bytes_out"],
                                                           got))
    assert c2r["bytes_in"] - c1r["bytes_in"] >= got, sc.details(
        "right bytes_in grew by %d, iperf3 delivered %d" % (c2r["bytes_in"] - c1r["bytes_in"],
                                                           got))
    assert c2r["packets_out"] > c1r["packets_out"], sc.details("no ACKs counted going back")
    return report


def check_child(sc, encap="none"):
    c = topo.child_of(sc.kl.status(), "site-b")
    assert c is not None, sc.details("no installed child")
    assert (c["mode"], c["protocol"], c["encap"]) == (sc.mode, sc.proto, encap), sc.details(c)


# --- tunnel and transport mode --------------------------------------------------

TUNNELS = [("esp", 4, 4), ("esp", 6, 6), ("ah", 4, 4), ("ah", 6, 6), ("esp", 4, 6),
           ("esp", 6, 4)]


@pytest.mark.parametrize("proto,inner,outer", TUNNELS,
                         ids=["%s-%din%d" % t for t in TUNNELS])
def test_tunnel_mode(world, proto, inner, outer):
    """hostA -> hostB across the gateways' tunnel (10.1.0.0/24 <-> 10.2.0.0/24)."""
    sc = Scenario(world(), "tunnel", proto, inner, outer).start()
    check_child(sc)
    check_traffic(sc)


TRANSPORTS = [(where, proto, fam) for where in ("gateways", "hosts") for proto in ("esp", "ah")
              for fam in (4, 6)]


@pytest.mark.parametrize("where,proto,family", TRANSPORTS,
                         ids=["%s-%s-ipv%d" % t for t in TRANSPORTS])
def test_transport_mode(world, where, proto, family):
    """Transport mode between gwA and gwB themselves, or between hostA and
    hostB with the gateways only routing: everything between the two ends
    is protected, their IKE excepted."""
    sc = Scenario(world(routed=(where == "hosts")), "transport", proto, family, family,
                  where=where).start()
    check_child(sc)
    check_traffic(sc)


def test_ah_esp_bundle_refused_clearly(world):
    """IKEv2 cannot negotiate AH+ESP bundles (RFC 7296 dropped them): the
    initiator says so in its log, installs nothing, and no traffic passes
    in clear instead."""
    w = world()
    sc = Scenario(w, "tunnel", "ah+esp", 4, 4)
    sc.start(wait=False)
    lines = sc.kl.wait_log(r"ah\+esp.*(cannot|not).*(IKEv2|negotiat)", timeout=10)
    assert lines, sc.details("kotetsud on gwA logged no clear refusal of the ah+esp bundle")
    assert "RFC 7296" in lines[0] or "IKEv2" in lines[0], lines[0]
    assert topo.child_of(sc.kl.status(), "site-b") is None, sc.details("a child was installed")
    with capture_inet(w) as cap:
        res = ping(sc.src.ns, sc.dst_addr, count=3, wait=1)
    assert res.received == 0, sc.details("traffic passed without an SA", res)
    leaks = sc.leaks(cap.packets())
    assert not leaks, sc.details("cleartext on the internet link:",
                                 *[p.summary() for p in leaks[:10]])


MTU_RE = re.compile(r"mtu\s*=\s*(\d+)", re.I)


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_path_mtu_through_tunnel(world, family):
    """A full-size packet with DF (IPv6: any) does not fit the tunnel: the
    sender hears "too big" with an MTU, and a packet of that MTU passes."""
    sc = Scenario(world(), "tunnel", "esp", family, family).start()
    hdr = 28 if family == 4 else 48
    big = ping(sc.src.ns, sc.dst_addr, count=2, size=1500 - hdr, dont_frag=True, wait=1,
               interval=0.3)
    m = MTU_RE.search(big.text)
    assert m, sc.details("no 'too big' with an MTU for a 1500-byte packet", big)
    mtu = int(m.group(1))
    assert 1280 <= mtu < 1500 if family == 6 else 576 <= mtu < 1500, sc.details(big)
    fit = ping(sc.src.ns, sc.dst_addr, count=3, size=mtu - hdr, dont_frag=True, wait=5)
    assert fit.received == 3, sc.details("a %d-byte packet (the MTU announced) did not pass"
                                         % mtu, fit)


# --- an independent look at the wire: tshark and scapy --------------------------

def keys_for_wireshark(sc, home):
    wsdir = home / ".config" / "wireshark"
    wsdir.parent.mkdir(parents=True, exist_ok=True)
    res = sc.kl.cli("keys", "--wireshark", wsdir)
    assert res.returncode == 0, sc.details("kotetsu keys --wireshark failed", res.stderr)
    return wsdir


def tshark_fields(pcap, home, fields, display_filter):
    args = ["tshark", "-r", str(pcap), "-o", "esp.enable_encryption_decode:TRUE",
            "-o", "esp.enable_authentication_check:TRUE", "-Y", display_filter,
            "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0 and "Error loading table" not in res.stderr, res.stderr
    return [r.split("|") for r in res.stdout.splitlines()], res


DECRYPTS = [("tunnel", 4, "aes256gcm16"), ("tunnel", 4, "aes128-sha256"),
            ("tunnel", 6, "aes128gcm16"), ("transport", 4, "aes256gcm16")]


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
@pytest.mark.parametrize("mode,family,esp", DECRYPTS, ids=["%s-ipv%d-%s" % d for d in DECRYPTS])
def test_tshark_decrypts_captured_esp(world, mode, family, esp):
    """tshark, given only `kotetsu keys --wireshark`, opens the ESP captured
    on the internet link: inside are the echo requests and replies with
    the addresses and payload ping sent (HMAC checked for CBC)."""
    w = world()
    sc = Scenario(w, mode, "esp", family, family, alg=esp).start()
    with capture_inet(w, "esp.pcap") as cap:
        res = ping(sc.src.ns, sc.dst_addr, count=4, pattern=PATTERN)
    assert res.received == 4, sc.details(res)
    home = w.work / "home"
    keys_for_wireshark(sc, home)
    icmp = "icmp" if family == 4 else "icmpv6"
    ip = "ip" if family == 4 else "ipv6"
    req, rep = (8, 0) if family == 4 else (128, 129)
    rows, out = tshark_fields(cap.path, home, ["esp.spi", ip + ".src", ip + ".dst",
                                               icmp + ".type", "data.data", "esp.icv_good"],
                              "esp && %s" % icmp)
    detail = "tshark rows:\n%s\n%s" % (out.stdout[-3000:], out.stderr[-1000:])
    src, dst = sc.src.addr(family), sc.dst_addr
    got = {req: 0, rep: 0}
    for spi, srcs, dsts, typ, data, icv in rows:
        inner_src, inner_dst = srcs.split(",")[-1], dsts.split(",")[-1]
        t = int(typ.split(",")[-1])
        assert t in got, detail
        assert (inner_src, inner_dst) == ((src, dst) if t == req else (dst, src)), detail
        assert PATTERN in data, "payload not ping's pattern\n" + detail
        if "sha" in esp:
            assert icv in ("1", "True"), "HMAC not verified by tshark\n" + detail
        got[t] += 1
    assert got == {req: 4, rep: 4}, "decrypted echo requests/replies: %r\n%s" % (got, detail)


def test_scapy_decrypts_captured_chacha20(world):
    """tshark 4.0 has no ChaCha20-Poly1305: `keys --wireshark` leaves those
    SAs as comments, and scapy, with the keys from the control socket's
    "keys" command (what `keys --wireshark` reads), opens the captured
    packets and checks their tags."""
    from scapy.all import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    w = world()
    sc = Scenario(w, "tunnel", "esp", 4, 4, alg="chacha20poly1305").start()
    with capture_inet(w, "chacha.pcap") as cap:
        res = ping(sc.src.ns, sc.dst_addr, count=4, pattern=PATTERN)
    assert res.received == 4, sc.details(res)
    wsdir = keys_for_wireshark(sc, w.work / "home")
    esp_sa = (wsdir / "esp_sa").read_text()
    assert len(re.findall(r"^# .*cannot decrypt", esp_sa, re.M)) == 2, esp_sa
    keys = topo.ctl_request(sc.kl.sock, {"cmd": "keys"})
    sas = {int(k["spi"], 16): k for k in keys["sas"]}
    opened = []
    for p in cap.packets():
        if ESP not in p or IP not in p:
            continue
        k = sas.get(p[ESP].spi)
        assert k is not None, "ESP SPI %08x not among kotetsu's SAs %r" % (p[ESP].spi, list(sas))
        sa = SecurityAssociation(ESP, spi=p[ESP].spi, crypt_algo="CHACHA20-POLY1305",
                                 crypt_key=bytes.fromhex(k["encr_key"]),
                                 tunnel_header=IP(src=k["src"], dst=k["dst"]))
        inner = sa.decrypt(IP(bytes(p[IP])))  # checks the Poly1305 tag
        opened.append(inner)
    reqs = [i for i in opened if i.haslayer("ICMP") and i["ICMP"].type == 8]
    reps = [i for i in opened if i.haslayer("ICMP") and i["ICMP"].type == 0]
    assert len(reqs) == len(reps) == 4, [i.summary() for i in opened]
    for i in reqs:
        assert (i[IP].src, i[IP].dst) == (sc.src.addr(4), sc.dst_addr)
        assert bytes.fromhex(PATTERN) in bytes(i["ICMP"].payload)


# --- garbage from the internet ------------------------------------------------

def rnd(n):
    return os.urandom(n)


def garbage(sc, real_spi):
    """(label, packets) sent from gwA's address to gwB's: what an attacker
    on the path, or a broken peer, might send."""
    from scapy.all import IP, UDP, Raw
    a, b = sc.left.addr(4), sc.right.addr(4)

    def esp(body):
        return IP(src=a, dst=b, proto=50) / Raw(body)

    def ah(body):
        return IP(src=a, dst=b, proto=51) / Raw(body)

    def spi_other():
        while True:
            s = int.from_bytes(rnd(4), "big")
            if s > 255 and s != real_spi:
                return s.to_bytes(4, "big")
    seq = (1 << 20).to_bytes(4, "big")     # far ahead of the window: not a replay
    spi = real_spi.to_bytes(4, "big")
    ah_hdr = bytes([4, 5, 0, 0])            # next header IPIP; 7 words: 12 + 16-byte ICV
    if sc.proto == "esp":
        bad_icv = [esp(spi + seq + rnd(64)) for _ in range(5)]
    else:
        bad_icv = [ah(ah_hdr + spi + seq + rnd(16) + rnd(40)) for _ in range(5)]
    # IKE header: SPIs, next payload SK, version 2.0, INFORMATIONAL, initiator,
    # message ID 1, length 64; then an SK payload of 36 bytes.
    ike_hdr = bytes([46, 0x20, 37, 0x08]) + (1).to_bytes(4, "big") + (64).to_bytes(4, "big")
    sk = bytes([0, 0]) + (36).to_bytes(2, "big") + rnd(32)

    def udp(port, body):
        return IP(src=a, dst=b) / UDP(sport=port, dport=port) / Raw(body)
    return {
        "esp_unknown_spi": [esp(spi_other() + seq + rnd(64)) for _ in range(5)],
        "esp_truncated": [esp(spi + seq[:2]) for _ in range(3)] + [esp(rnd(3)) for _ in range(2)],
        "bad_icv": bad_icv,
        "ah_unknown_spi": [ah(ah_hdr + spi_other() + seq + rnd(16) + rnd(40)) for _ in range(5)],
        "ah_truncated": [ah(rnd(6)) for _ in range(5)],
        "ike_runt": [udp(500, rnd(20)) for _ in range(5)],
        "ike_unknown_spi": [udp(500, rnd(16) + ike_hdr + sk) for _ in range(5)],
        "udp4500_unknown_spi": [udp(4500, spi_other() + seq + rnd(64)) for _ in range(5)],
        "udp4500_marker_garbage": [udp(4500, bytes(4) + rnd(12)) for _ in range(3)],
    }


def drops(st):
    d = {k: v for k, v in st.get("drops", {}).items() if isinstance(v, int)}
    ike = st.get("daemon", {}).get("ike", {})
    d["ike_dropped"] = sum(int(ike.get(k, 0)) for k in
                           ("dropped_malformed", "dropped_unknown_spi", "dropped_auth"))
    return d


@pytest.mark.parametrize("proto", ["esp", "ah"])
def test_garbage_counted_and_dropped(world, proto):
    """Random SPIs, truncated packets and bad ICVs on the raw ESP/AH path,
    junk on UDP 500 and 4500: each lands in its drop counter, kotetsud
    keeps running, and the tunnel keeps carrying traffic."""
    w = world()
    sc = Scenario(w, "tunnel", proto, 4, 4).start()
    assert ping(sc.src.ns, sc.dst_addr, count=1, wait=5).received == 1, sc.details()
    child = topo.child_of(sc.kr.status(), "site-a")
    real_spi = int(child["spi_in"], 16)
    before = drops(sc.kr.status())
    kinds = garbage(sc, real_spi)
    frames = topo.frames_to(w.s, w.s.gwA, w.s.gwB, [p for ps in kinds.values() for p in ps])
    sent = topo.inject(w.s.gwA.ns, w.s.gwA.ifs["inet"], frames)
    assert sent == len(frames)
    res = ping(sc.src.ns, sc.dst_addr, count=5)
    assert sc.kr.running(), sc.details("kotetsud on gwB died on garbage")
    assert res.received == 5, sc.details("the tunnel stopped working after garbage", res)
    expected = {
        "no_sa": len(kinds["esp_unknown_spi"]) + len(kinds["ah_unknown_spi"]) +
        len(kinds["udp4500_unknown_spi"]),
        "malformed": len(kinds["esp_truncated"]) + len(kinds["ah_truncated"]),
        "auth": len(kinds["bad_icv"]),
        "ike_dropped": len(kinds["ike_runt"]) + len(kinds["ike_unknown_spi"]) +
        len(kinds["udp4500_marker_garbage"]),
    }
    after = {}

    def grown():
        after.update(drops(sc.kr.status()))
        return all(after.get(k, 0) - before.get(k, 0) >= n for k, n in expected.items())
    netns.wait_for(grown, 3, interval=0.1)
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    short = {k: (diff.get(k), n) for k, n in expected.items() if diff.get(k, 0) < n}
    assert not short, sc.details("drop counters that grew less than the garbage sent "
                                 "{counter: (grew, sent)}: %r; all deltas %r" % (short, diff))
    c = counters(sc.kr.status(), "site-a")
    assert c["packets_in"] >= 6, sc.details("garbage counted as traffic?", c)


# --- never in clear ---------------------------------------------------------------

@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_on_traffic_never_in_clear(world, family):
    """start = on-traffic on gwA: hostA's first pings find no SA and start
    IKE; none of them, nor any later, crosses the internet in clear; the
    ping gets through once the SA is up."""
    w = world()
    sc = Scenario(w, "tunnel", "esp", family, family)
    with capture_inet(w, "ontraffic.pcap") as cap:
        sc.start(start="on-traffic")
        st = sc.kl.status()
        assert topo.child_of(st, "site-b") is None, sc.details("an SA before any traffic")
        assert not [p for p in st["peers"] if p.get("state") == "established"], sc.details()
        ok, attempts = topo.ping_until(sc.src.ns, sc.dst_addr, timeout=15)
        assert ok, sc.details("no ping passed within 15 s (%d tries)" % attempts)
        more = ping(sc.src.ns, sc.dst_addr, count=5)
    pkts = cap.packets()
    leaks = sc.leaks(pkts)
    assert not leaks, sc.details("cleartext on the internet link:",
                                 *[p.summary() for p in leaks[:10]])
    from scapy.all import UDP
    ike = [p for p in pkts if UDP in p and 500 in (p[UDP].sport, p[UDP].dport)]
    assert ike, sc.details("no IKE on the internet link: was the SA made by traffic?")
    assert count_proto(pkts, (50, 4500)) >= 2 * more.received, sc.details(more)
    assert more.received == 5, sc.details(more)
    st = sc.kl.status()
    assert topo.child_of(st, "site-b") is not None, sc.details()


def forged(sc, family, marker):
    """Cleartext packets from hostA's address to hostB's, as if they came
    out of the tunnel: under the PROTECT rule, so they must be refused."""
    from scapy.all import ICMP, IP, TCP, UDP, IPv6, ICMPv6EchoRequest, Raw
    src, dst = sc.w.s.hostA.addr(family), sc.w.s.hostB.addr(family)
    hdr = IP(src=src, dst=dst) if family == 4 else IPv6(src=src, dst=dst)
    echo = ICMP(type=8, id=0x6b74) if family == 4 else ICMPv6EchoRequest(id=0x6b74)
    l4 = [UDP(sport=88, dport=88), UDP(sport=88, dport=9), TCP(sport=88, dport=80, flags="S"),
          UDP(sport=500, dport=500), UDP(sport=4500, dport=4500), UDP(sport=53, dport=53),
          UDP(sport=123, dport=123), TCP(sport=443, dport=22, flags="S"), echo]
    return [hdr / x / Raw(marker + b"-%d" % i) for i, x in enumerate(l4)]


def arrived(pkts, src, dst, marker):
    """The forged packets among pkts: from src to dst, carrying marker (not
    the ICMP errors about them, which quote them)."""
    out = []
    for p in pkts:
        ip = topo.outer_ip(p)
        if ip is not None and (ip.src, ip.dst) == (src, dst) and marker in bytes(ip):
            out.append(p)
    return out


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_forged_cleartext_never_reaches_host(world, family):
    """RFC 4301 §5.2: gwB must not forward a cleartext packet from the
    internet whose addresses a PROTECT rule covers (UDP and TCP from port
    88, IKE's ports, DNS, NTP, ICMP echo). kotetsud's nftables rules stop
    them; once it stops, its rules are gone and the same packets do arrive
    (which also proves this test can see them)."""
    w = world()
    s = w.s
    base = topo.nft_ruleset(s.gwB.ns)
    sc = Scenario(w, "tunnel", "esp", family, family).start()
    assert ping(sc.src.ns, sc.dst_addr, count=2).received == 2, sc.details()
    running = topo.nft_ruleset(s.gwB.ns)
    table = "table inet kotetsu_" + sc.kr.tun  # daemon/nft.h
    if base is not None:
        assert table in running, sc.details("no %r in gwB's ruleset:" % table, running)
    marker = b"forged-by-test-%d" % os.getpid()
    frames = topo.frames_to(s, s.gwA, s.gwB, forged(sc, family, marker))

    def send_and_sniff(name):
        with topo.Capture(s.hostB.ns, s.hostB.ifs["lan"], w.work / name) as cap:
            topo.inject(s.gwA.ns, s.gwA.ifs["inet"], frames)
            time.sleep(1.0)
        return arrived(cap.packets(), s.hostA.addr(family), s.hostB.addr(family), marker)
    got = send_and_sniff("forged.pcap")
    assert not got, sc.details("forged cleartext reached hostB:", *[p.summary() for p in got],
                               "--- nft ruleset on gwB ---", running)
    assert ping(sc.src.ns, sc.dst_addr, count=2).received == 2, sc.details("tunnel broken")
    sc.kr.stop()
    assert sc.kr.proc.returncode == 0, sc.details("kotetsud on gwB did not exit cleanly")
    if base is not None:
        left = topo.nft_ruleset(s.gwB.ns)
        assert table not in left and left == base, \
            "kotetsud left nftables rules behind:\n%s" % left
    got = send_and_sniff("forged-after.pcap")
    assert len(got) == len(frames), (
        "control: with kotetsud stopped, %d of %d forged packets reached hostB; this test "
        "cannot tell a firewall from a broken setup" % (len(got), len(frames)))
