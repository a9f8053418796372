"""kotetsu's data plane against strongSwan's: kotetsud on gwA, charon 5.9
with kernel-libipsec on gwB, hosts behind both (topo.py, IPv6 off: charon
roams to link-local addresses otherwise). A tunnel from 10.1.0.0/24 to
10.2.0.0/24 carries ping and an iperf3 TCP run each way, kotetsu as
initiator and as responder. libipsec always puts ESP in UDP 4500 (it fakes
a NAT), so this also checks kotetsu's ESP-in-UDP data path; gwB owns
10.2.0.1, the address inside its local selector libipsec needs to install
its route. Both sides' counters must show the traffic, and nothing
crosses the internet link in clear."""

import json
import os

import pytest

import netns
import topo
from kotetsud import require_built
from strongswan import CHARON, SWANCTL, Charon, psk_conn
from topo import LAN, count_proto, counters, iperf3, iperf_bytes, ping

PSK = "dataplane-interop-psk-0123456789"
PEER, CONN = "swan", "kt"
ROLES = ["kotetsu-initiates", "kotetsu-responds"]
SUITES = [("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
          ("chacha20poly1305-prfsha256-x25519", "chacha20poly1305")]
PINGS = 10
WAIT = 8


@pytest.fixture
def interop(tmp_path_factory):
    netns.require_root()
    require_built()
    for tool in (CHARON, SWANCTL, topo.IPERF3, topo.TCPDUMP, "/usr/bin/ping"):
        if not os.path.exists(tool):
            pytest.fail("%s missing: run scripts/install-deps" % tool, pytrace=False)
    with netns.work_dir(tmp_path_factory) as work, topo.sites(ipv6=False) as s:
        w = topo.World(s, work)
        (work / "sw").mkdir()
        sw = Charon(s.gwB.ns, work / "sw")
        w.others.append(sw)
        try:
            sw.start()
            w.sw = sw
            yield w
        finally:
            w.stop()
        if w.sanitizer_reports():
            pytest.fail("kotetsud reported sanitizer errors:\n" +
                        "\n".join(w.sanitizer_reports()[:40]), pytrace=False)


def details(w, *extra):
    try:
        st = json.dumps(w.kt["gwA"].status(), indent=1)
    except AssertionError as e:
        st = str(e)
    return "\n".join([*map(str, extra), "--- kotetsu status --json ---", st,
                      "--- swanctl --list-sas ---", w.sw.list_sas_text(), w.diagnostics(),
                      w.sw.diagnostics(40)])


def sw_child(w):
    kids = w.sw.installed_children()
    return kids[0] if kids else {}


def sw_counters(w):
    c = sw_child(w)
    return {k: int(c.get(k, 0)) for k in ("packets-in", "packets-out", "bytes-in", "bytes-out")}


def bring_up(w, role, ike, esp):
    s = w.s
    w.sw.load(psk_conn(CONN, s.gwB.addr(4), s.gwA.addr(4), s.gwB.addr(4), s.gwA.addr(4), PSK,
                       ike, {"lan": {"local_ts": LAN["B"][4], "remote_ts": LAN["A"][4],
                                     "esp": esp}}))
    kt = w.kotetsud(s.gwA)
    kt.write_config(topo.kt_peer(PEER, s.gwA.addr(4), s.gwB.addr(4), PSK,
                                 [{"name": "lan", "local_ts": LAN["A"][4],
                                   "remote_ts": LAN["B"][4], "esp": esp}],
                                 start="listen", ike=ike))
    kt.start()
    if role == "kotetsu-initiates":
        res, _ = kt.up(PEER, wait=WAIT)
    else:
        res = w.sw.initiate(CONN, "lan", timeout=WAIT)
    assert res.returncode == 0, details(w, "%s failed:" % role, res.stdout, res.stderr)
    w.wait_installed(kt, PEER, 1, timeout=WAIT)
    w.sw.wait_children(1, timeout=WAIT)
    assert sw_child(w), details(w, "strongSwan installed no CHILD_SA")
    c = topo.child_of(kt.status(), PEER)
    assert c["encap"] == "udp", details(w, "kotetsu's child should be ESP in UDP", c)
    return kt


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ike,esp", SUITES, ids=[e for _, e in SUITES])
def test_traffic_both_ways(interop, role, ike, esp):
    w = interop
    s = w.s
    kt = bring_up(w, role, ike, esp)
    a, b = s.hostA.addr(4), s.hostB.addr(4)
    # libipsec installs its route a moment after the SA: one ping each way first.
    for src, dst in ((s.hostA, b), (s.hostB, a)):
        ok, tries = topo.ping_until(src.ns, dst, timeout=8)
        assert ok, details(w, "%s -> %s: no answer in %d tries" % (src.role, dst, tries))
    k0, s0 = counters(kt.status(), PEER), sw_counters(w)
    with topo.Capture(s.gwA.ns, s.gwA.ifs["inet"], w.work / "inet.pcap") as cap:
        there = ping(s.hostA.ns, b, count=PINGS)
        back = ping(s.hostB.ns, a, count=PINGS)
    assert there.received == PINGS, details(w, there)
    assert back.received == PINGS, details(w, back)
    pkts = cap.packets()
    leaks = topo.cleartext_leaks(pkts, protected_nets=[LAN["A"][4], LAN["B"][4]])
    assert not leaks, details(w, "cleartext on the internet link:",
                              *[p.summary() for p in leaks[:10]])
    n = count_proto(pkts, (4500,))
    assert n >= 4 * PINGS, details(w, "%d ESP-in-UDP packets for %d pings each way"
                                   % (n, PINGS))
    assert count_proto(pkts, (50, 51)) == 0, details(w, "raw ESP/AH to a libipsec peer")
    k1, s1 = counters(kt.status(), PEER), sw_counters(w)
    for k in ("packets_in", "packets_out"):
        assert k1[k] - k0[k] >= 2 * PINGS, details(w, "kotetsu %s: %r -> %r" % (k, k0, k1))
    for k in ("packets-in", "packets-out"):
        assert s1[k] - s0[k] >= 2 * PINGS, details(w, "strongSwan %s: %r -> %r" % (k, s0, s1))

    up = iperf_bytes(iperf3(s.hostB.ns, s.hostA.ns, b, seconds=2))
    down = iperf_bytes(iperf3(s.hostA.ns, s.hostB.ns, a, seconds=2, port=5202))
    assert up > 0 and down > 0
    k2, s2 = counters(kt.status(), PEER), sw_counters(w)
    assert k2["bytes_out"] - k1["bytes_out"] >= up, details(
        w, "kotetsu bytes_out grew by %d, iperf3 A->B delivered %d"
        % (k2["bytes_out"] - k1["bytes_out"], up))
    assert k2["bytes_in"] - k1["bytes_in"] >= down, details(
        w, "kotetsu bytes_in grew by %d, iperf3 B->A delivered %d"
        % (k2["bytes_in"] - k1["bytes_in"], down))
    assert s2["bytes-in"] - s1["bytes-in"] >= up, details(w, "strongSwan bytes-in", s1, s2)
    assert s2["bytes-out"] - s1["bytes-out"] >= down, details(w, "strongSwan bytes-out", s1, s2)
