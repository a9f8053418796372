"""The data plane end to end between two kotetsud, in namespaces: hosts
behind two gateways ping each other through an ESP tunnel (and the packets
on the wire between the gateways are ESP), the gateways' own addresses
talk in transport mode, and variants: AH, ESP in UDP, IPv6 inside and
outside, start = on-traffic, and ICMP "fragmentation needed" for a packet
too large for the tunnel. The fuller network tests live in
test_dataplane*.py; these prove the data path where `make check` runs.

Topology (LAN/WAN prefixes per family):
    hA 10.1.0.2 -- 10.1.0.1 gA 192.0.2.1 -- 192.0.2.2 gB 10.2.0.1 -- 10.2.0.2 hB
"""

import contextlib
import os
import re
import signal
import subprocess
import time

import pytest

import netns
from kotetsud import Kotetsud, ini, require_built
from netns import IP, nsexec, run, unique_prefix, wait_for, work_dir

PSK = "dataplane-smoke-psk-0123456789"
WAIT = 10  # seconds for an SA to come up or a ping to get through
CAPTURE_SETTLE = 0.5  # seconds for tcpdump to start (and finish) capturing

ADDRS = {
    4: {"lanA": "10.1.0.", "lanB": "10.2.0.", "wan": "192.0.2.", "lan_len": 24, "wan_len": 24},
    6: {"lanA": "fd00:1::", "lanB": "fd00:2::", "wan": "2001:db8::", "lan_len": 64,
        "wan_len": 64},
}


def addr(family, net, host):
    return ADDRS[family][net] + str(host)


def subnet(family, net):
    a = ADDRS[family]
    return "%s%s/%d" % (a[net], "0" if family == 4 else "", a["lan_len"])


class Net:
    """hA - gA - gB - hB; gateways forward. inner/outer: IP versions of
    the LANs and of the link between the gateways."""

    def __init__(self, prefix, inner, outer):
        self.p, self.inner, self.outer = prefix, inner, outer
        self.ns = {n: prefix + n for n in ("hA", "gA", "gB", "hB")}
        self.made = []

    def _link(self, a, b, tag):
        ea, eb = self.p + tag + "0", self.p + tag + "1"
        run(IP, "link", "add", ea, "netns", self.ns[a], "type", "veth", "peer", "name", eb,
            "netns", self.ns[b])
        return ea, eb

    def _addr(self, node, dev, address, plen):
        extra = ["nodad"] if ":" in address else []
        run(IP, "-n", self.ns[node], "addr", "add", "%s/%d" % (address, plen), "dev", dev,
            *extra)
        run(IP, "-n", self.ns[node], "link", "set", dev, "up")

    def up(self):
        for n in self.ns.values():
            self.made.append(n)
            netns.add_ns(n, ipv6=True)
        a0, a1 = self._link("hA", "gA", "a")
        w0, w1 = self._link("gA", "gB", "w")
        b0, b1 = self._link("gB", "hB", "b")
        i, o = self.inner, self.outer
        ll, wl = ADDRS[i]["lan_len"], ADDRS[o]["wan_len"]
        self._addr("hA", a0, addr(i, "lanA", 2), ll)
        self._addr("gA", a1, addr(i, "lanA", 1), ll)
        self._addr("gA", w0, addr(o, "wan", 1), wl)
        self._addr("gB", w1, addr(o, "wan", 2), wl)
        self._addr("gB", b0, addr(i, "lanB", 1), ll)
        self._addr("hB", b1, addr(i, "lanB", 2), ll)
        self.wan_dev = {"gA": w0, "gB": w1}
        v6 = "-6" if i == 6 else "-4"
        run(IP, v6, "-n", self.ns["hA"], "route", "add", "default", "via", addr(i, "lanA", 1))
        run(IP, v6, "-n", self.ns["hB"], "route", "add", "default", "via", addr(i, "lanB", 1))
        for g in ("gA", "gB"):
            key = "net.ipv4.ip_forward=1" if i == 4 else "net.ipv6.conf.all.forwarding=1"
            nsexec(self.ns[g], "sysctl", "-qw", key)
        return self

    def down(self):
        for n in self.made:
            netns.del_ns(n)


@contextlib.contextmanager
def network(inner=4, outer=4):
    net = Net(unique_prefix(), inner, outer)
    try:
        yield net.up()
    finally:
        net.down()


def child_keys(mode="tunnel", protocol="esp", lts=None, rts=None):
    keys = {"mode": mode, "protocol": protocol}
    if lts:
        keys["local-ts"], keys["remote-ts"] = lts, rts
    if protocol == "ah":
        keys["ah"] = "sha256"
    else:
        keys["esp"] = "aes128gcm16"
    return keys


def gateway(ns, work, name, tun, local, remote, child, start="listen", nat_t="auto"):
    d = work / name
    d.mkdir()
    k = Kotetsud(ns, d, tun)
    peer = "to-" + name
    k.write_config([
        ("peer " + peer, {"local": local, "remote": remote, "auth": "psk",
                          "psk": '"%s"' % PSK, "ike": "aes128gcm16-prfsha256-x25519",
                          "start": start, "nat-t": nat_t}),
        ("child %s/c" % peer, child)])
    k.peer = peer
    return k


@pytest.fixture
def pair(tmp_path_factory):
    """start(net, mode=..., protocol=..., nat_t=..., a_start=...) -> (a, b):
    kotetsud on gA (initiator unless a_start says otherwise) and gB
    (listen), stopped afterwards; sanitizer reports fail the test."""
    netns.require_root()
    require_built()
    started = []
    with work_dir(tmp_path_factory) as work:
        def start(net, mode="tunnel", protocol="esp", nat_t="auto", a_start="now"):
            o = net.outer
            wa, wb = addr(o, "wan", 1), addr(o, "wan", 2)
            if mode == "tunnel":
                la, lb = subnet(net.inner, "lanA"), subnet(net.inner, "lanB")
                ca, cb = child_keys(mode, protocol, la, lb), child_keys(mode, protocol, lb, la)
            else:
                ca = cb = child_keys(mode, protocol)
            b = gateway(net.ns["gB"], work, "b", net.p + "tb", wb, wa, cb, "listen", nat_t)
            a = gateway(net.ns["gA"], work, "a", net.p + "ta", wa, wb, ca, a_start, nat_t)
            for k in (b, a):
                started.append(k)
                k.start()
            return a, b
        try:
            yield start
        finally:
            for k in started:
                k.stop()
            for k in started:
                if k.sanitizer_reports():
                    pytest.fail("kotetsud reported sanitizer errors\n" + k.diagnostics(200),
                                pytrace=False)


def ping(ns, dst, count=3, size=None, df=False, timeout=WAIT):
    args = ["ping", "-c", str(count), "-i", "0.2", "-W", "1"]
    if size:
        args += ["-s", str(size)]
    if df:
        args += ["-M", "do"]
    return nsexec(ns, *args, dst, check=False, timeout=timeout)


def ping_until(ns, dst, timeout=WAIT):
    """Ping once a second until one answer comes back (the SA may still be
    coming up); the last result."""
    res = None

    def ok():
        nonlocal res
        res = ping(ns, dst, count=1)
        return res.returncode == 0
    wait_for(ok, timeout, interval=0.2)
    return res


def child_of(k):
    p = k.wait_established(k.peer, 1, timeout=WAIT)
    peers = [x for x in p.get("peers", []) if x.get("state") == "established"]
    assert peers and peers[0]["children"], "no installed child\n" + k.diagnostics()
    return peers[0]["children"][0]


def details(*ks):
    return "".join("\n" + k.diagnostics(40) for k in ks)


class Capture:
    """tcpdump on a gateway's WAN link, for what really crosses it (IPv4:
    the links' own IPv6 neighbour discovery is not the tunnel's)."""

    def __init__(self, ns, dev, path):
        self.path = path
        self.proc = subprocess.Popen([IP, "netns", "exec", ns, "tcpdump", "-n", "-U", "-i", dev,
                                      "-w", path, "not", "ip6"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        # tcpdump says "listening on" a moment before it captures.
        line = self.proc.stderr.readline()
        assert "listening" in line, line
        time.sleep(CAPTURE_SETTLE)

    def text(self):
        time.sleep(CAPTURE_SETTLE)
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=5)
        res = run("tcpdump", "-n", "-r", self.path, check=False)
        return res.stdout + res.stderr


# --- tests ----------------------------------------------------------------

def test_tunnel_ping_v4(pair, tmp_path):
    """Hosts behind the gateways ping each other; between the gateways
    only ESP is seen; both children count the packets."""
    with network() as net:
        a, b = pair(net)
        child_of(a)
        cap = Capture(net.ns["gB"], net.wan_dev["gB"], str(tmp_path / "wan.pcap"))
        res = ping_until(net.ns["hA"], "10.2.0.2")
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        res = ping(net.ns["hB"], "10.1.0.2")
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        wire = cap.text()
        assert "ESP(spi=" in wire, wire
        assert "ICMP" not in wire, "cleartext ICMP between the gateways:\n" + wire
        ca, cb = child_of(a), child_of(b)
        assert ca["packets_out"] >= 4 and ca["packets_in"] >= 4, ca
        assert cb["packets_out"] >= 4 and cb["packets_in"] >= 4, cb
        st = a.status()
        assert st["dataplane"]["counters"]["tx_raw"] >= 4, st["dataplane"]


def test_transport_ping(pair, tmp_path):
    """Host to host: the gateways' own addresses in transport mode; IKE
    itself keeps flowing outside the policy (the SA comes up at all)."""
    with network() as net:
        a, b = pair(net, mode="transport")
        c = child_of(a)
        assert c["mode"] == "transport"
        cap = Capture(net.ns["gB"], net.wan_dev["gB"], str(tmp_path / "wan.pcap"))
        res = ping(net.ns["gA"], "192.0.2.2")
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        wire = cap.text()
        assert "ESP(spi=" in wire and "ICMP" not in wire, wire
        assert child_of(b)["packets_in"] >= 3


@pytest.mark.parametrize("variant", ["ah", "udp", "v6-in-v4", "v4-in-v6", "v6-transport"])
def test_variants(pair, variant):
    """AH, ESP in UDP (nat-t = force), the other family inside or outside,
    and IPv6 transport mode: a ping both ways through each."""
    inner, outer = {"v6-in-v4": (6, 4), "v4-in-v6": (4, 6), "v6-transport": (6, 6)}.get(
        variant, (4, 4))
    with network(inner, outer) as net:
        kw = {"ah": {"protocol": "ah"}, "udp": {"nat_t": "force"},
              "v6-transport": {"mode": "transport"}}.get(variant, {})
        a, b = pair(net, **kw)
        c = child_of(a)
        if variant == "udp":
            assert c["encap"] == "udp"
        if variant == "v6-transport":
            src, dst = net.ns["gA"], addr(6, "wan", 2)
            back, back_dst = net.ns["gB"], addr(6, "wan", 1)
        else:
            src, dst = net.ns["hA"], addr(inner, "lanB", 2)
            back, back_dst = net.ns["hB"], addr(inner, "lanA", 2)
        res = ping_until(src, dst)
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        res = ping(back, back_dst)
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        assert child_of(b)["packets_in"] >= 3


def test_on_traffic_starts_ike_and_delivers_first_packets(pair):
    """start = on-traffic: nothing is up until a host sends; the packets
    that waited for the SA are delivered once it is up."""
    with network() as net:
        a, b = pair(net, a_start="on-traffic")
        assert not [p for p in a.status()["peers"] if p["state"] == "established"]
        res = ping(net.ns["hA"], "10.2.0.2", count=5)
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        m = re.search(r"(\d+) received", res.stdout)
        assert m and int(m.group(1)) == 5, res.stdout
        dp = a.status()["dataplane"]["counters"]
        assert dp["acquires"] >= 1 and dp["flushed"] >= 1, dp


def test_too_big_answered_with_frag_needed(pair):
    """A 1300-byte link between the gateways: the TUN cannot go below
    1280, so a 1268-byte ping with DF set fits the TUN but not the ESP
    packet it would become. gA answers "fragmentation needed" with the
    largest size that fits, and that size gets through."""
    with network() as net:
        for g in ("gA", "gB"):
            run(IP, "-n", net.ns[g], "link", "set", net.wan_dev[g], "mtu", "1300")
        a, b = pair(net)
        child_of(a)
        assert ping_until(net.ns["hA"], "10.2.0.2").returncode == 0, details(a, b)
        assert a.status()["dataplane"]["mtu"] == 1280
        res = ping(net.ns["hA"], "10.2.0.2", count=1, size=1240, df=True)
        out = res.stdout + res.stderr
        m = re.search(r"[Ff]rag needed.*mtu ?= ?(\d+)", out)
        assert res.returncode != 0 and m, out + details(a, b)
        mtu = int(m.group(1))
        assert 1200 < mtu < 1268, out
        res = ping(net.ns["hA"], "10.2.0.2", count=2, size=mtu - 28, df=True)
        assert res.returncode == 0, res.stdout + res.stderr + details(a, b)
        assert a.status()["dataplane"]["counters"]["icmp_sent"] >= 1
