"""daemon/nft.c, the nftables table that drops forged cleartext (RFC 4301
§5.2), driven through tests/tools/ktnft in fresh network namespaces. First
the table itself, read back with `nft -j`: chains, rules per selector,
transport exemptions, replacement, refusals. Then packets: a router
namespace with the table between an "outside" namespace and a host on the
protected subnet; a packet forged with a protected source (UDP source port
88 included) is dropped and counted, the same packet out of the TUN passes,
and between transport peers only ESP, AH and IKE pass.

Ordering trick for "not received": after the packets that must be dropped,
a marker that must pass takes the same path; once it arrives, anything
sent before it has had its chance."""

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from contextlib import ExitStack, contextmanager

import pytest
from scapy.all import IP, UDP, Ether, IPv6, Raw, raw
from scapy.layers.ipsec import AH, ESP

from ktpkt import ROOT
from netns import IP as IPCMD
from netns import add_ns, del_ns, nsexec, require_root, run, unique_prefix, wait_for

TOOL = ROOT / "build" / "tools" / "ktnft"
NFT = shutil.which("nft") or "/usr/sbin/nft"
PY = sys.executable  # Debian's interpreter (scripts/check runs it)
TUN = "kt0"
WAIT = 5  # seconds: the bound on waiting for a packet that must arrive
LISTEN_MAX = 60  # seconds a listener lives at most


@pytest.fixture(scope="module", autouse=True)
def tool():
    require_root()
    if not os.path.exists(NFT):
        pytest.skip("the nft command is missing (scripts/install-deps installs nftables)")
    res = subprocess.run(["make", "-s", "build/tools/ktnft"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    if res.returncode != 0:
        pytest.fail("building build/tools/ktnft failed:\n" + res.stdout + res.stderr,
                    pytrace=False)


@contextmanager
def fresh_ns(suffix="n", ipv6=False):
    ns = unique_prefix() + suffix
    try:
        add_ns(ns, ipv6)
        yield ns
    finally:
        del_ns(ns)


@pytest.fixture
def ns():
    with fresh_ns() as name:
        yield name


def ktnft(ns, *args, tun=TUN):
    return nsexec(ns, TOOL, tun, *args, check=False)


def ok(res):
    assert res.returncode == 0, res.stderr
    return res


def table_json(ns, tun=TUN):
    """The table as `nft -j` lists it, or None when there is none."""
    res = nsexec(ns, NFT, "-j", "list", "table", "inet", "kotetsu_" + tun, check=False)
    if res.returncode != 0:
        return None
    return json.loads(res.stdout)["nftables"]


def tables(ns):
    res = nsexec(ns, NFT, "-j", "list", "tables")
    return [o["table"]["name"] for o in json.loads(res.stdout)["nftables"] if "table" in o]


def chains(js):
    return {o["chain"]["name"]: o["chain"] for o in js if "chain" in o}


def left_name(left):
    """("ip", "saddr") for a payload, ("meta", "iifname") for meta."""
    if "payload" in left:
        return (left["payload"]["protocol"], left["payload"]["field"])
    if "meta" in left:
        return ("meta", left["meta"]["key"])
    return (json.dumps(left),)


class Rule:
    """One rule read back: its matches as (left, op, right) triples, its
    verdict, counter and comment."""

    def __init__(self, r):
        self.comment = r.get("comment")
        self.matches, self.verdict, self.counter = [], None, None
        for e in r["expr"]:
            if "match" in e:
                m = e["match"]
                self.matches.append((left_name(m["left"]), m["op"], m["right"]))
            elif "counter" in e:
                self.counter = e["counter"]
            else:
                self.verdict = next(iter(e))

    def lefts(self):
        return [m[0] for m in self.matches]

    def __repr__(self):
        return "Rule(%s %s %s)" % (self.comment, self.matches, self.verdict)


def rules(js, chain):
    return [Rule(o["rule"]) for o in js if "rule" in o and o["rule"]["chain"] == chain]


def counter(ns, chain, comment, tun=TUN):
    """Packets counted by the rules of chain with this comment."""
    return sum(r.counter["packets"] for r in rules(table_json(ns, tun), chain)
               if r.comment == comment)


def prefix(addr, plen):
    return {"prefix": {"addr": addr, "len": plen}}


def both_chains_equal(js):
    """The input and forward chains hold the same rules; returns them."""
    a, b = rules(js, "input"), rules(js, "forward")
    assert [(r.comment, r.matches, r.verdict) for r in a] == \
        [(r.comment, r.matches, r.verdict) for r in b]
    return a


NOT_TUN = [(("meta", "iifname"), "!=", TUN), (("meta", "iifname"), "!=", "lo")]


# ---- the table ----------------------------------------------------------

def test_open_makes_empty_table_with_two_hooked_chains(ns):
    assert table_json(ns) is None
    assert ok(ktnft(ns, "open")).stdout == "open\n"
    js = table_json(ns)
    ch = chains(js)
    assert set(ch) == {"input", "forward"}
    for name, c in ch.items():
        assert (c["type"], c["hook"], c["prio"], c["policy"]) == ("filter", name, -10, "accept")
    assert rules(js, "input") == [] and rules(js, "forward") == []


def test_open_replaces_a_stale_table(ns):
    t = "inet kotetsu_" + TUN
    nsexec(ns, NFT, "-f", "-", input=f"""
        add table {t}
        add chain {t} stale {{ type filter hook output priority 0; policy drop; }}
        add chain {t} input {{ type filter hook input priority 0; policy drop; }}
        add rule {t} input counter drop comment "stale"
    """)
    ok(ktnft(ns, "open"))
    js = table_json(ns)
    assert set(chains(js)) == {"input", "forward"}
    assert chains(js)["input"]["policy"] == "accept"
    assert rules(js, "input") == []


def test_close_deletes_the_table_and_leaves_others(ns):
    nsexec(ns, NFT, "add", "table", "inet", "someone_else")
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "close"))
    assert table_json(ns) is None
    assert tables(ns) == ["someone_else"]


def test_one_table_per_tun(ns):
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", tun="kt-a.1_x"))
    ok(ktnft(ns, "open", tun="kt1"))
    assert sorted(tables(ns)) == ["kotetsu_kt-a.1_x", "kotetsu_kt1"]
    r = both_chains_equal(table_json(ns, "kt-a.1_x"))
    assert (("meta", "iifname"), "!=", "kt-a.1_x") in r[0].matches
    ok(ktnft(ns, "open", "close", tun="kt1"))
    assert tables(ns) == ["kotetsu_kt-a.1_x"]


def test_tunnel_pair_drops_remote_to_local_not_from_tun(ns):
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24"))
    (r,) = both_chains_equal(table_json(ns))
    assert r.comment == "drop 0" and r.verdict == "drop"
    assert r.counter == {"packets": 0, "bytes": 0}
    assert r.matches == NOT_TUN + [(("ip", "saddr"), "==", prefix("10.2.0.0", 24)),
                                   (("ip", "daddr"), "==", prefix("10.1.0.0", 24))]


# (local-ts, remote-ts) -> per drop rule, its matches besides NOT_TUN, in order
SELECTORS = {
    "v4-host": ("10.1.0.1", "10.2.0.1",
                [[(("ip", "saddr"), "==", "10.2.0.1"), (("ip", "daddr"), "==", "10.1.0.1")]]),
    "v4-range-ports": ("10.1.0.3-10.1.0.9[udp/1000-2000]", "10.2.0.0/16[udp/88]",
                       [[(("ip", "saddr"), "==", prefix("10.2.0.0", 16)),
                         (("ip", "daddr"), "==", {"range": ["10.1.0.3", "10.1.0.9"]}),
                         (("udp", "sport"), "==", 88),
                         (("udp", "dport"), "==", {"range": [1000, 2000]})]]),
    "v4-tcp-local-port": ("10.1.0.0/24[tcp/443]", "10.2.0.0/24",
                          [[(("ip", "saddr"), "==", prefix("10.2.0.0", 24)),
                            (("ip", "daddr"), "==", prefix("10.1.0.0", 24)),
                            (("tcp", "dport"), "==", 443)]]),
    "v4-proto-only": ("10.1.0.0/24[sctp]", "10.2.0.0/24",
                      [[(("ip", "saddr"), "==", prefix("10.2.0.0", 24)),
                        (("ip", "daddr"), "==", prefix("10.1.0.0", 24)),
                        (("meta", "l4proto"), "==", "sctp")]]),
    "v4-icmp-type": ("10.1.0.0/24[icmp/8]", "10.2.0.0/24[icmp]",
                     [[(("ip", "saddr"), "==", prefix("10.2.0.0", 24)),
                       (("ip", "daddr"), "==", prefix("10.1.0.0", 24)),
                       (("icmp", "type"), "==", "echo-request")]]),
    "v4-everything": ("0.0.0.0/0", "0.0.0.0/0",
                      [[(("meta", "nfproto"), "==", "ipv4")]]),
    "v6-range": ("2001:db8:1::/48", "2001:db8:2::1-2001:db8:2::5",
                 [[(("ip6", "saddr"), "==", {"range": ["2001:db8:2::1", "2001:db8:2::5"]}),
                   (("ip6", "daddr"), "==", prefix("2001:db8:1::", 48))]]),
    "v6-icmpv6-types": ("2001:db8:1::1[ipv6-icmp/128-129]", "2001:db8:2::/64",
                        [[(("ip6", "saddr"), "==", prefix("2001:db8:2::", 64)),
                          (("ip6", "daddr"), "==", "2001:db8:1::1"),
                          (("icmpv6", "type"), "==",
                           {"range": ["echo-request", "echo-reply"]})]]),
    "v6-everything": ("::/0", "::/0", [[(("meta", "nfproto"), "==", "ipv6")]]),
    # No packet lies in both selectors: nothing to drop.
    "tcp-vs-udp": ("10.1.0.0/24[tcp]", "10.2.0.0/24[udp]", []),
    "icmp-types-apart": ("10.1.0.0/24[icmp/8]", "10.2.0.0/24[icmp/0]", []),
}


@pytest.mark.parametrize("case", SELECTORS, ids=list(SELECTORS))
def test_selectors_become_matches(ns, case):
    local, remote, want = SELECTORS[case]
    ok(ktnft(ns, "open", "sync", f"{local},{remote}"))
    rules = both_chains_equal(table_json(ns))
    nd = [r for r in rules if r.comment == "nd 0"]
    got = [r for r in rules if r.comment != "nd 0"]
    # IPv6 pairs let on-link neighbour discovery through (hop limit 255 only).
    assert len(nd) == (1 if ":" in local else 0), rules
    for r in nd:
        assert r.verdict == "accept"
        assert (("ip6", "hoplimit"), "==", 255) in r.matches, r
    assert len(got) == len(want), got
    for r, w in zip(got, want):
        assert all(m in r.matches for m in NOT_TUN), r
        assert [m for m in r.matches if m not in NOT_TUN] == w
        assert r.verdict == "drop" and r.comment == "drop 0"
        assert r.counter is not None


def test_transport_pair_passes_ipsec_then_drops_the_rest(ns):
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "192.0.2.1,192.0.2.2,transport"))
    got = both_chains_equal(table_json(ns))
    ends = [(("ip", "saddr"), "==", "192.0.2.2"), (("ip", "daddr"), "==", "192.0.2.1")]
    assert [(r.comment, r.verdict) for r in got] == [("ipsec 1", "accept"), ("ipsec 1", "accept"),
                                                      ("drop 0", "drop"), ("drop 1", "drop")]
    assert got[0].matches == ends + [(("meta", "l4proto"), "==", {"set": ["esp", "ah"]})]
    # Only the destination port: a forged source port 500 must not pass.
    assert got[1].matches == ends + [(("udp", "dport"), "==", {"set": [500, 4500]})]
    assert got[3].matches == NOT_TUN + ends


def test_sync_replaces_all_rules(ns):
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "10.3.0.0/24,10.4.0.0/24"))
    assert len(both_chains_equal(table_json(ns))) == 2
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "sync", "10.5.0.0/24,10.6.0.0/24"))
    (r,) = both_chains_equal(table_json(ns))
    assert (("ip", "saddr"), "==", prefix("10.6.0.0", 24)) in r.matches
    ok(ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "sync"))
    assert both_chains_equal(table_json(ns)) == []
    assert set(chains(table_json(ns))) == {"input", "forward"}


def test_sync_recreates_a_table_deleted_behind_its_back(ns):
    """An admin's `nft flush ruleset` leaves the policy open only until the
    next sync."""
    proc = subprocess.Popen([IPCMD, "netns", "exec", ns, TOOL, TUN, "open", "wait", "sync",
                             "10.1.0.0/24,10.2.0.0/24"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: table_json(ns) is not None, WAIT)
        nsexec(ns, NFT, "flush", "ruleset")
        assert table_json(ns) is None
        out, err = proc.communicate("\n", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert out == "open\nsync 1\n"
    (r,) = both_chains_equal(table_json(ns))
    assert r.verdict == "drop"


@pytest.mark.parametrize("name", ["", "kt 0", "0123456789abcdef", 'kt"0', "kt0;x", "kt/0",
                                  "lo", "kt\n0"])
def test_bad_tun_names_are_refused(ns, name):
    res = ktnft(ns, "open", tun=name)
    assert res.returncode == 1
    assert "TUN name must be 1 to 15 letters, digits, '.', '_' or '-' (-22)" in res.stderr
    assert tables(ns) == []


def test_mixed_versions_refused_and_old_rules_kept(ns):
    res = ktnft(ns, "open", "sync", "10.1.0.0/24,10.2.0.0/24", "sync",
                "10.3.0.0/24,10.4.0.0/24", "10.1.0.0/24,2001:db8::/32")
    assert res.returncode == 1
    assert "pair 1: selectors must hold addresses of one IP version (-22)" in res.stderr
    (r,) = both_chains_equal(table_json(ns))
    assert (("ip", "saddr"), "==", prefix("10.2.0.0", 24)) in r.matches


def test_without_cap_net_admin_open_fails_with_reason(ns):
    res = nsexec(ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 TOOL, TUN, "open", check=False)
    assert res.returncode == 1
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("ktnft: open:")]
    assert line and "Operation not permitted" in line[0] and line[0].endswith("(-5)")
    assert tables(ns) == []


# ---- packets --------------------------------------------------------------

# Prints "ready", then "SPEC HEX" for every datagram or raw packet it gets,
# for at most argv[1] seconds. SPEC is udp:PORT (dual-stack) or raw:PROTO.
LISTEN = r"""
import select, socket, sys, time
socks = {}
for spec in sys.argv[2:]:
    kind, num = spec.split(":")
    if kind == "udp":
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", int(num)))
        socks[s] = spec
    else:
        for fam in (socket.AF_INET, socket.AF_INET6):
            socks[socket.socket(fam, socket.SOCK_RAW, int(num))] = spec
print("ready", flush=True)
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    for s in select.select(list(socks), [], [], 0.2)[0]:
        print(socks[s], s.recv(65535).hex(), flush=True)
"""

# Sends whole Ethernet frames (hex) out of interface argv[1].
SEND_FRAMES = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
"""

# Writes IP packets (hex) into the TUN argv[1] as if they came out of the
# tunnel: they arrive on that interface.
TUN_WRITE = r"""
import fcntl, os, struct, sys, time
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", sys.argv[1].encode(), IFF_TUN | IFF_NO_PI))
for h in sys.argv[2:]:
    os.write(fd, bytes.fromhex(h))
time.sleep(0.2)
"""


class Listener:
    """LISTEN running in a namespace; lines collected by a thread."""

    def __init__(self, ns, *specs):
        self.lines = []
        self.proc = subprocess.Popen([IPCMD, "netns", "exec", ns, PY, "-c", LISTEN,
                                      str(LISTEN_MAX), *specs], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not wait_for(lambda: "ready" in self.lines or self.proc.poll() is not None, WAIT) \
                or "ready" not in self.lines:
            self.stop()
            raise RuntimeError("listener in %s did not start: %s" % (ns, self.proc.stderr.read()))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def got(self, tag):
        """The specs that received a packet holding tag."""
        return [ln.split()[0] for ln in list(self.lines) if tag.hex() in ln]

    def wait(self, tag):
        return wait_for(lambda: self.got(tag), WAIT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def tag(what):
    return ("kt-%s-%s" % (what, secrets.token_hex(4))).encode()


FAMILY = {
    # outside, router toward outside, router toward host, host, remote subnet, forged source
    4: dict(o="192.0.2.2", ro="192.0.2.1", rb="10.1.0.1", b="10.1.0.2", plen=24, bplen=24,
            local="10.1.0.0/24", remote="10.2.0.0/24", forged="10.2.0.5"),
    6: dict(o="2001:db8::2", ro="2001:db8::1", rb="2001:db8:1::1", b="2001:db8:1::2", plen=64,
            bplen=64, local="2001:db8:1::/64", remote="2001:db8:2::/64", forged="2001:db8:2::5"),
}


class Net:
    """outside (o) -- router (r, with TUN kt0 and the table) -- host (b) on
    the protected local subnet. The remote subnet is routed into the TUN,
    as kotetsud would."""

    def __init__(self, stack, family):
        self.v, self.a = family, FAMILY[family]
        p = unique_prefix()
        self.o, self.r, self.b = p + "o", p + "r", p + "b"
        self.o_if, self.ro_if, self.rb_if, self.b_if = p + "o", p + "ro", p + "rb", p + "b"
        for ns in (self.o, self.r, self.b):
            stack.callback(del_ns, ns)
            add_ns(ns, ipv6=True)
            for key in ("all", "default"):
                nsexec(ns, "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
        run(IPCMD, "link", "add", self.o_if, "netns", self.o, "type", "veth", "peer", "name",
            self.ro_if, "netns", self.r)
        run(IPCMD, "link", "add", self.rb_if, "netns", self.r, "type", "veth", "peer", "name",
            self.b_if, "netns", self.b)
        a, pl = self.a, "/%d" % self.a["plen"]
        for ns, dev, addr in ((self.o, self.o_if, a["o"] + pl), (self.r, self.ro_if, a["ro"] + pl),
                              (self.r, self.rb_if, a["rb"] + pl), (self.b, self.b_if, a["b"] + pl)):
            run(IPCMD, "-n", ns, "addr", "add", addr, "dev", dev, *(["nodad"] if family == 6 else []))
            run(IPCMD, "-n", ns, "link", "set", dev, "up")
        nsexec(self.r, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        run(IPCMD, "-n", self.r, "tuntap", "add", "dev", TUN, "mode", "tun")
        run(IPCMD, "-n", self.r, "link", "set", TUN, "up")
        run(IPCMD, "-n", self.r, "route", "add", a["remote"], "dev", TUN)
        run(IPCMD, "-n", self.b, "route", "add", "default", "via", a["rb"])
        self.ro_mac = self.mac(self.r, self.ro_if)
        self.o_mac = self.mac(self.o, self.o_if)

    @staticmethod
    def mac(ns, dev):
        return json.loads(run(IPCMD, "-n", ns, "-j", "link", "show", dev).stdout)[0]["address"]

    def ip(self, src, dst):
        return IP(src=src, dst=dst) if self.v == 4 else IPv6(src=src, dst=dst)

    def udp(self, src, dst, sport, dport, payload):
        return self.ip(src, dst) / UDP(sport=sport, dport=dport) / Raw(payload)

    def from_outside(self, *pkts):
        """Put IP packets on the wire from o toward r."""
        frames = [raw(Ether(src=self.o_mac, dst=self.ro_mac) / p).hex() for p in pkts]
        nsexec(self.o, PY, "-c", SEND_FRAMES, self.o_if, *frames)

    def from_tun(self, *pkts):
        """IP packets arriving on r's TUN, as if out of the tunnel."""
        nsexec(self.r, PY, "-c", TUN_WRITE, TUN, *[raw(p).hex() for p in pkts])

    def table(self, *pairs):
        ok(ktnft(self.r, "open", "sync", *pairs))


@pytest.fixture(params=[4, 6], ids=["ipv4", "ipv6"])
def net(request):
    with ExitStack() as stack:
        yield Net(stack, request.param)


@pytest.fixture
def host_listener(net):
    lis = Listener(net.b, "udp:9999", "udp:9998")
    yield lis
    lis.stop()


def test_forged_cleartext_dropped_only_with_the_table(net, host_listener):
    a = net.a
    forged = lambda t: net.udp(a["forged"], a["b"], 88, 9999, t)  # noqa: E731
    marker = lambda t: net.udp(a["o"], a["b"], 40000, 9999, t)  # noqa: E731
    # Without the table the kernel forwards the forged packet: the setup
    # itself does not stop it (rp_filter off, routes in place).
    before = tag("before")
    net.from_outside(forged(before))
    assert host_listener.wait(before) == ["udp:9999"]

    net.table(f"{a['local']},{a['remote']}")
    dropped, m = tag("forged"), tag("marker")
    net.from_outside(forged(dropped), forged(dropped), marker(m))
    assert host_listener.wait(m)
    assert host_listener.got(dropped) == []
    assert counter(net.r, "forward", "drop 0") == 2
    assert counter(net.r, "input", "drop 0") == 0

    # The same packet out of the tunnel is what the policy wants.
    through = tag("tun")
    net.from_tun(forged(through))
    assert host_listener.wait(through) == ["udp:9999"]
    assert counter(net.r, "forward", "drop 0") == 2

    # Closed: forwarded again.
    ok(ktnft(net.r, "open", "close"))
    after = tag("after")
    net.from_outside(forged(after))
    assert host_listener.wait(after) == ["udp:9999"]


def test_port_selectors_narrow_the_drop(net, host_listener):
    a = net.a
    net.table(f"{a['local']}[udp/9999],{a['remote']}[udp/88]")
    hit, other_sport, other_dport, m = tag("hit"), tag("sport"), tag("dport"), tag("marker")
    net.from_outside(net.udp(a["forged"], a["b"], 88, 9999, hit),
                     net.udp(a["forged"], a["b"], 89, 9999, other_sport),
                     net.udp(a["forged"], a["b"], 88, 9998, other_dport),
                     net.udp(a["o"], a["b"], 88, 9999, m))
    assert host_listener.wait(m)
    assert wait_for(lambda: host_listener.got(other_sport) and host_listener.got(other_dport),
                    WAIT)
    assert host_listener.got(hit) == []
    assert counter(net.r, "forward", "drop 0") == 1


def test_transport_peers_pass_only_ipsec(net):
    """Host to host between the gateways: ESP, AH and UDP to 500 and 4500
    reach the router; anything else from the peer's address is forged
    cleartext (from port 88, and from ports 500 and 4500 too)."""
    a = net.a
    lis = Listener(net.r, "udp:500", "udp:4500", "udp:9999", "raw:50", "raw:51")
    try:
        net.table(f"{a['ro']},{a['o']},transport")
        kerberos, from500, from4500 = tag("k88"), tag("s500"), tag("s4500")
        ike, natt, esp, ah = tag("ike"), tag("natt"), tag("esp"), tag("ah")
        # Neither is opened here: the kernel only has to let them by.
        esp_pkt = net.ip(a["o"], a["ro"]) / ESP(spi=0x1001, seq=1, data=esp)
        ah_pkt = net.ip(a["o"], a["ro"]) / AH(nh=59, payloadlen=4, spi=0x1002, seq=1,
                                              icv=bytes(12)) / Raw(ah)
        net.from_outside(net.udp(a["o"], a["ro"], 88, 9999, kerberos),
                         net.udp(a["o"], a["ro"], 500, 9999, from500),
                         net.udp(a["o"], a["ro"], 4500, 9999, from4500),
                         net.udp(a["o"], a["ro"], 500, 500, ike),
                         net.udp(a["o"], a["ro"], 40001, 4500, natt), esp_pkt, ah_pkt)
        for t, spec in ((ike, "udp:500"), (natt, "udp:4500"), (esp, "raw:50"), (ah, "raw:51")):
            assert lis.wait(t) == [spec], (t, lis.lines)
        assert lis.got(kerberos) == lis.got(from500) == lis.got(from4500) == []
        assert counter(net.r, "input", "drop 0") == 3
        assert counter(net.r, "input", "ipsec 0") == 4
    finally:
        lis.stop()
