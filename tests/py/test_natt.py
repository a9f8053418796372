"""NAT traversal (issue #5) across a real NAT: initiators in a private
network behind a namespace that masquerades with nftables (random source
ports), a responder on the public side that can reach only the NAT's
address (natt_topo.py). What a user would notice:

- kotetsu to kotetsu, tunnel and transport mode: IKE up, status says who
  is behind the NAT, ping and iperf3 pass, and the public side sees only
  UDP (4500, and 500 for IKE_SA_INIT): no ESP protocol 50, no cleartext;
- kotetsu behind the NAT with strongSwan (kernel-libipsec) as responder,
  and strongSwan behind the NAT with kotetsu as responder;
- two initiators behind one NAT address, told apart by their ports, each
  with its own SAs;
- NAT keepalives (one byte 0xFF to port 4500) from the side behind the
  NAT only, at the configured interval;
- AH refused across a NAT with a reason a person can act on; nat-t = force
  encapsulates even without a NAT;
- the NAT forgets its mapping mid-transfer: the responder follows the new
  port and traffic resumes within a few keepalive intervals (last in the
  file: it needs the most of the daemon)."""

import json
import os
import time

import pytest

import netns
import topo
from kotetsud import peer_of, require_built
from natt_topo import (ESP, ESP_IN_UDP, IDS, IKE, NAT_PUBLIC, NAT_T_PORT, PSK, RESP_PUBLIC,
                       BackgroundPing, NatWorld, addr_port, allowed_nat_t, between,
                       capture_public, ike_of, installed_children, keepalives, keepalives_from,
                       nat_topology, pcap_lines, peer_sections, transport_child, ts_covers,
                       tunnel_child, wait_remote_change)
from topo import iperf3, iperf_bytes, ping

PINGS = 10
IPERF_SECONDS = 2
WAIT = 10           # seconds for an IKE SA and its children
KEEPALIVE = 2       # seconds, the tests' `keepalive`
RESP = "resp"       # the initiators' name for the responder's peer section
CONN = "natt"       # strongSwan's connection name


def require_tools():
    from natt_topo import CONNTRACK, NFT
    missing = [p for p in (topo.TCPDUMP, topo.IPERF3, "/usr/bin/ping", NFT, CONNTRACK)
               if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("missing %s: run scripts/install-deps" % ", ".join(missing), pytrace=False)


@pytest.fixture
def natw(tmp_path_factory):
    """A factory: natw(initiators=1, masquerade=True) builds the topology
    and returns a NatWorld; its daemons are stopped and its namespaces
    deleted after the test."""
    netns.require_root()
    require_built()
    require_tools()
    with netns.work_dir(tmp_path_factory) as work, \
            topo.world_maker(work, nat_topology, NatWorld) as make:
        yield lambda initiators=1, masquerade=True: make(initiators=initiators,
                                                         masquerade=masquerade)


# --- helpers --------------------------------------------------------------------

def details(w, *extra):
    out = [str(x) for x in extra]
    for role, k in w.kt.items():
        try:
            st = json.dumps(k.status(), indent=1)
        except AssertionError as e:
            st = str(e)
        out += ["--- kotetsu status --json (%s) ---" % role, st]
    for role, c in w.sw.items():
        out += ["--- swanctl --list-sas (%s) ---" % role, c.list_sas_text()]
    out.append(w.diagnostics())
    return "\n".join(out)


def kt_initiator(w, node, children, start="now", **kw):
    """kotetsud in node with one peer "resp" towards the responder."""
    k = w.kotetsud(node)
    k.write_config(peer_sections(RESP, node.addr, RESP_PUBLIC, node.id, IDS["resp"], children,
                                 start=start, **kw))
    return k


def kt_responder(w, peers, remote=NAT_PUBLIC, **kw):
    """kotetsud in resp with one listening peer per initiator Node in
    peers (named after its role), each {node: children}."""
    k = w.kotetsud(w.t.resp)
    secs = []
    for node, children in peers.items():
        secs += peer_sections(node.role, RESP_PUBLIC, remote, IDS["resp"], node.id, children,
                              start="listen", **kw)
    k.write_config(secs)
    return k


def wait_installed(w, k, peer, n=1, timeout=WAIT):
    st = k.wait_established(peer, children=n, timeout=timeout)
    kids = installed_children(st, peer)
    if len(kids) < n:
        raise AssertionError(details(w, "%s: peer %s has %d of %d children installed after %ds"
                                     % (k.ns, peer, len(kids), n, timeout)))
    return st


def kt_tunnel(w, node=None, initiator_kw=None, responder_kw=None):
    """kotetsud in node (default init1) and in resp, a tunnel between
    their LANs, up and installed on both. Returns (ki, kr)."""
    t = w.t
    node = node or t.init1
    kr = kt_responder(w, {node: [tunnel_child(t.resp, node)]}, **(responder_kw or {}))
    ki = kt_initiator(w, node, [tunnel_child(node, t.resp)], **(initiator_kw or {}))
    kr.start()
    ki.start()
    wait_installed(w, ki, RESP)
    wait_installed(w, kr, node.role)
    return ki, kr


def child_counters(status, peer):
    kids = installed_children(status, peer)
    c = kids[0] if kids else {}
    return {k: int(c.get(k, 0)) for k in topo.COUNTERS}


def grew(before, after, key):
    return after[key] - before[key]


def check_nat_status(w, ki, kr, init_peer="init1"):
    """The initiator is behind a NAT, the responder is not: both say so,
    and the responder sees the initiator at the NAT's address."""
    si, sr = ki.status(), kr.status()
    ii, ir = ike_of(si, RESP), ike_of(sr, init_peer)
    assert (ii.get("nat"), ii.get("nat_local"), ii.get("nat_remote")) == (True, True, False), \
        details(w, "initiator's ike: nat, nat_local, nat_remote should be true, true, false", ii)
    assert (ir.get("nat"), ir.get("nat_local"), ir.get("nat_remote")) == (True, False, True), \
        details(w, "responder's ike: nat, nat_local, nat_remote should be true, false, true", ir)
    raddr, rport = addr_port(ir["remote"])
    assert raddr == NAT_PUBLIC, details(w, "responder sees the initiator at %s" % ir["remote"])
    assert addr_port(ir["local"]) == (RESP_PUBLIC, NAT_T_PORT), details(
        w, "responder's IKE SA not on port 4500 after NAT detection", ir)
    assert addr_port(ii["remote"]) == (RESP_PUBLIC, NAT_T_PORT), details(
        w, "initiator's IKE SA not towards port 4500", ii)
    for side, st, peer in (("initiator", si, RESP), ("responder", sr, init_peer)):
        kids = installed_children(st, peer)
        assert kids and all(c["encap"] == "udp" for c in kids), details(
            w, "%s's children not ESP in UDP" % side, kids)
    return si, sr


def check_public_capture(w, path, pings, ike_init=True):
    """Only UDP between the NAT's address and the responder's ports 4500
    (and 500 for IKE_SA_INIT) on the public link: no ESP as protocol 50,
    nothing in clear, nothing else; and ESP in UDP carried the pings."""
    bad = pcap_lines(path, "not arp and not (%s)" % allowed_nat_t(NAT_PUBLIC, RESP_PUBLIC))
    assert not bad, details(w, "%d packets on the public link other than IKE/ESP-in-UDP "
                            "between the NAT and port 4500/500:" % len(bad), *bad[:15])
    esp50 = pcap_lines(path, "ip proto 50 or ip proto 51")
    assert not esp50, details(w, "raw ESP/AH on the public link:", *esp50[:10])
    esp = pcap_lines(path, ESP_IN_UDP)
    assert len(esp) >= 2 * pings, details(w, "only %d ESP-in-UDP packets for %d pings"
                                          % (len(esp), pings))
    if ike_init:
        ike500 = pcap_lines(path, "udp port 500")
        # IKE_SA_INIT request and response (a retransmission at most), then
        # everything moves to 4500 (RFC 7296 §2.23).
        assert 2 <= len(ike500) <= 4, details(w, "%d packets on UDP 500, expected the "
                                              "IKE_SA_INIT exchange only:" % len(ike500),
                                              *ike500[:10])


def check_transfer(w, src_ns, dst_ns, dst_addr, before, after_fn, port=5201):
    """An iperf3 TCP run from src_ns to dst_addr in dst_ns; returns the
    bytes delivered and asserts the given counters moved at least that
    much. before: {(kotetsud, peer, key): value}; after_fn() the same."""
    got = iperf_bytes(iperf3(dst_ns, src_ns, dst_addr, seconds=IPERF_SECONDS, port=port))
    assert got > 0, details(w, "iperf3 %s -> %s moved nothing" % (src_ns, dst_addr))
    after = after_fn()
    for key, v in before.items():
        assert after[key] - v >= got, details(
            w, "%s grew by %d, iperf3 delivered %d" % (key, after[key] - v, got))
    return got


# --- 1, 2: kotetsu to kotetsu ---------------------------------------------------

def test_tunnel_through_nat(natw):
    """init1's LAN to resp's LAN through the NAT: IKE up, status shows the
    NAT on both sides, ping and iperf3 pass, and the public link carries
    nothing but UDP to/from port 4500 (500 for IKE_SA_INIT)."""
    w = natw()
    t = w.t
    with capture_public(w, "tunnel.pcap") as cap:
        ki, kr = kt_tunnel(w)
        check_nat_status(w, ki, kr)
        res = ping(t.init1.ns, t.resp.lan_addr, count=PINGS, wait=5)
        assert res.received == PINGS, details(w, res)
        ci, cr = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")

        def now():
            a, b = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")
            return {"init1 bytes_out": a["bytes_out"], "resp bytes_in": b["bytes_in"]}
        check_transfer(w, t.init1.ns, t.resp.ns, t.resp.lan_addr,
                       {"init1 bytes_out": ci["bytes_out"], "resp bytes_in": cr["bytes_in"]}, now)
    check_public_capture(w, cap.path, PINGS)


def test_transport_through_nat(natw):
    """Host to host in transport mode with the selectors left dynamic:
    init1 (10.0.1.2) talks to resp (192.0.2.2), which knows it as
    192.0.2.1. Needs RFC 7296 §2.23.1 (the responder's view of the
    initiator's selector is the NAT's address) and RFC 3948 §3.1.2 (the
    TCP/UDP checksums, computed over the original addresses, fixed up).
    Ping and iperf3 both ways inside ESP in UDP; the NAT itself (which
    owns 192.0.2.1 too) never sees the traffic in clear."""
    w = natw()
    t = w.t
    kr = kt_responder(w, {t.init1: [transport_child()]})
    ki = kt_initiator(w, t.init1, [transport_child()])
    with capture_public(w, "transport.pcap") as cap:
        kr.start()
        ki.start()
        wait_installed(w, ki, RESP)
        wait_installed(w, kr, "init1")
        si, sr = check_nat_status(w, ki, kr)
        ci = installed_children(si, RESP)[0]
        cr = installed_children(sr, "init1")[0]
        assert ci["mode"] == cr["mode"] == "transport", details(w, ci, cr)
        # The responder's selectors name what it sees: the NAT's address.
        assert ts_covers(cr["remote_ts"], NAT_PUBLIC) and \
            ts_covers(cr["local_ts"], RESP_PUBLIC), details(w, "responder's selectors", cr)
        c0i, c0r = child_counters(si, RESP), child_counters(sr, "init1")
        there = ping(t.init1.ns, RESP_PUBLIC, count=PINGS, wait=5)
        back = ping(t.resp.ns, NAT_PUBLIC, count=PINGS, wait=5)
        assert there.received == PINGS, details(w, "init1 -> 192.0.2.2", there)
        assert back.received == PINGS, details(w, "resp -> 192.0.2.1", back)
        c1i, c1r = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")
        for side, a, b in (("init1", c0i, c1i), ("resp", c0r, c1r)):
            for k in ("packets_in", "packets_out"):
                assert grew(a, b, k) >= 2 * PINGS, details(
                    w, "%s %s grew by %d for %d pings each way" % (side, k, grew(a, b, k), PINGS))

        def now():
            a, b = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")
            return {"resp bytes_out": b["bytes_out"], "init1 bytes_in": a["bytes_in"]}
        # resp -> 192.0.2.1: the iperf3 server runs in init1.
        check_transfer(w, t.resp.ns, t.init1.ns, NAT_PUBLIC,
                       {"resp bytes_out": c1r["bytes_out"], "init1 bytes_in": c1i["bytes_in"]},
                       now)
        c2i, c2r = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")

        def now2():
            a, b = child_counters(ki.status(), RESP), child_counters(kr.status(), "init1")
            return {"init1 bytes_out": a["bytes_out"], "resp bytes_in": b["bytes_in"]}
        check_transfer(w, t.init1.ns, t.resp.ns, RESP_PUBLIC,
                       {"init1 bytes_out": c2i["bytes_out"], "resp bytes_in": c2r["bytes_in"]},
                       now2, port=5202)
    check_public_capture(w, cap.path, PINGS)


# --- 3, 4: strongSwan on either side ---------------------------------------------

def sw_conn(local_addr, remote_addr, local, remote):
    """A swanctl tree for a tunnel between two Nodes' LANs, seen from local."""
    from strongswan import psk_conn
    return psk_conn(CONN, local_addr, remote_addr, local.id, remote.id, PSK, IKE,
                    {"lan": {"local_ts": local.lan, "remote_ts": remote.lan, "esp": ESP}})


def sw_counters(sw):
    kids = sw.installed_children()
    c = kids[0] if kids else {}
    return {k: int(c.get(k, 0)) for k in ("packets-in", "packets-out", "bytes-in", "bytes-out")}


def check_both_ways(w, a, b, kt, peer, sw, kt_on_a):
    """Ping a's LAN -> b's LAN and back (libipsec installs its route a
    moment after the SA: one ping each way first), with kotetsu's and
    strongSwan's counters moving; then iperf3 a -> b, counted by kotetsu
    (on a when kt_on_a, else on b) and by strongSwan (on the other)."""
    for src, dst in ((a, b), (b, a)):
        ok, tries = topo.ping_until(src.ns, dst.lan_addr, timeout=8)
        assert ok, details(w, "%s -> %s: no answer in %d tries" % (src.role, dst.lan_addr, tries))
    k0, s0 = child_counters(kt.status(), peer), sw_counters(sw)
    there = ping(a.ns, b.lan_addr, count=PINGS, wait=5)
    back = ping(b.ns, a.lan_addr, count=PINGS, wait=5)
    assert there.received == PINGS, details(w, "%s -> %s" % (a.role, b.lan_addr), there)
    assert back.received == PINGS, details(w, "%s -> %s" % (b.role, a.lan_addr), back)
    k1, s1 = child_counters(kt.status(), peer), sw_counters(sw)
    for k in ("packets_in", "packets_out"):
        assert grew(k0, k1, k) >= 2 * PINGS, details(w, "kotetsu %s: %r -> %r" % (k, k0, k1))
    for k in ("packets-in", "packets-out"):
        assert grew(s0, s1, k) >= 2 * PINGS, details(w, "strongSwan %s: %r -> %r" % (k, s0, s1))
    got = iperf_bytes(iperf3(b.ns, a.ns, b.lan_addr, seconds=IPERF_SECONDS))
    assert got > 0, details(w, "iperf3 moved nothing")
    k2, s2 = child_counters(kt.status(), peer), sw_counters(sw)
    kkey, skey = ("bytes_out", "bytes-in") if kt_on_a else ("bytes_in", "bytes-out")
    assert grew(k1, k2, kkey) >= got, details(
        w, "kotetsu's %s grew by %d, iperf3 delivered %d" % (kkey, grew(k1, k2, kkey), got))
    assert grew(s1, s2, skey) >= got, details(
        w, "strongSwan's %s grew by %d, iperf3 delivered %d" % (skey, grew(s1, s2, skey), got))


def test_kotetsu_behind_nat_strongswan_responder(natw):
    """kotetsu in init1 initiates through the NAT to strongSwan (charon
    with kernel-libipsec) in resp: tunnel up, kotetsu knows it is behind
    the NAT, traffic both ways."""
    w = natw()
    t = w.t
    sw = w.charon(t.resp)
    sw.start()
    sw.load(sw_conn(RESP_PUBLIC, "%any", t.resp, t.init1))
    ki = kt_initiator(w, t.init1, [tunnel_child(t.init1, t.resp)], start="listen")
    ki.start()
    res, _ = ki.up(RESP, wait=WAIT)
    assert res.returncode == 0, details(w, "kotetsu up failed:", res.stdout, res.stderr)
    wait_installed(w, ki, RESP)
    sw.wait_children(1, timeout=WAIT)
    assert sw.installed_children(), details(w, "strongSwan installed no CHILD_SA")
    ii = ike_of(ki.status(), RESP)
    assert ii.get("nat_local") is True, details(w, "kotetsu does not see itself behind a NAT", ii)
    c = installed_children(ki.status(), RESP)[0]
    assert c["encap"] == "udp", details(w, "kotetsu's child is not ESP in UDP", c)
    sa = sw.established()[0]
    assert sa.get("remote-host") == NAT_PUBLIC and sa.get("nat-remote") == "yes", details(
        w, "strongSwan does not see kotetsu behind the NAT at %s" % NAT_PUBLIC, sa)
    check_both_ways(w, t.init1, t.resp, ki, RESP, sw, kt_on_a=True)


def test_strongswan_behind_nat_kotetsu_responder(natw):
    """strongSwan in init1 initiates through the NAT to kotetsu in resp
    (remote = any, told apart by its ID): tunnel up, kotetsu sees the peer
    behind the NAT, traffic both ways."""
    w = natw()
    t = w.t
    kr = kt_responder(w, {t.init1: [tunnel_child(t.resp, t.init1)]}, remote="any")
    kr.start()
    sw = w.charon(t.init1)
    sw.start()
    sw.load(sw_conn(t.init1.addr, RESP_PUBLIC, t.init1, t.resp))
    res = sw.initiate(CONN, "lan", timeout=WAIT)
    assert res.returncode == 0, details(w, "swanctl --initiate failed:", res.stdout, res.stderr)
    wait_installed(w, kr, "init1")
    sw.wait_children(1, timeout=WAIT)
    ir = ike_of(kr.status(), "init1")
    assert ir.get("nat_remote") is True and addr_port(ir["remote"])[0] == NAT_PUBLIC, details(
        w, "kotetsu does not see strongSwan behind the NAT", ir)
    c = installed_children(kr.status(), "init1")[0]
    assert c["encap"] == "udp", details(w, "kotetsu's child is not ESP in UDP", c)
    check_both_ways(w, t.init1, t.resp, kr, "init1", sw, kt_on_a=False)


# --- 5: two initiators behind one address ----------------------------------------

def test_two_initiators_behind_one_nat(natw):
    """init1 and init2 share the NAT's address: the responder holds two
    IKE SAs from 192.0.2.1 on different ports, and each LAN's traffic
    moves only its own child's counters."""
    w = natw(initiators=2)
    t = w.t
    kr = kt_responder(w, {t.init1: [tunnel_child(t.resp, t.init1)],
                          t.init2: [tunnel_child(t.resp, t.init2)]}, remote="any")
    kr.start()
    kis = [kt_initiator(w, n, [tunnel_child(n, t.resp)]) for n in t.inits]
    for k in kis:
        k.start()
    for k in kis:
        wait_installed(w, k, RESP)
    for n in t.inits:
        wait_installed(w, kr, n.role)
    sr = kr.status()
    ikes = {n.role: ike_of(sr, n.role) for n in t.inits}
    ends = {r: addr_port(i["remote"]) for r, i in ikes.items()}
    assert {a for a, _ in ends.values()} == {NAT_PUBLIC}, details(w, "remote addresses", ends)
    assert ends["init1"][1] != ends["init2"][1], details(w, "both IKE SAs on one port", ends)
    assert ikes["init1"]["spi_i"] != ikes["init2"]["spi_i"], details(w, ikes)
    kids = {n.role: installed_children(sr, n.role)[0] for n in t.inits}
    assert kids["init1"]["spi_in"] != kids["init2"]["spi_in"], details(w, kids)
    for n, other, k in ((t.init1, t.init2, kis[0]), (t.init2, t.init1, kis[1])):
        b = kr.status()
        res = ping(n.ns, t.resp.lan_addr, count=PINGS, wait=5)
        assert res.received == PINGS, details(w, "%s -> %s" % (n.role, t.resp.lan_addr), res)
        a = kr.status()
        mine = grew(child_counters(b, n.role), child_counters(a, n.role), "packets_in")
        theirs = grew(child_counters(b, other.role), child_counters(a, other.role), "packets_in")
        assert mine >= PINGS and theirs == 0, details(
            w, "%s's %d pings: responder's %s child packets_in +%d, %s child +%d"
            % (n.role, PINGS, n.role, mine, other.role, theirs))
        assert grew(child_counters(b, n.role), child_counters(a, n.role),
                    "packets_out") >= PINGS, details(w, "replies to %s not counted" % n.role)
    # At once: both LANs ping together.
    bg = [BackgroundPing(n.ns, t.resp.lan_addr, PINGS, 0.05).start() for n in t.inits]
    results = [p.result()[0] for p in bg]
    for n, r in zip(t.inits, results):
        assert r.received == PINGS, details(w, "%s while both ping" % n.role, r)


# --- 6: keepalives -----------------------------------------------------------------

IDLE = 7.5  # seconds of idle tunnel captured: 3 keepalives at 2 s, and some slack


def test_keepalives_from_behind_nat(natw):
    """keepalive = 2s: an idle tunnel carries a one-byte 0xFF datagram from
    the NAT's address to the responder's port 4500 about every 2 s (RFC
    3948 §2.3), and none from the responder, which is not behind a NAT."""
    w = natw()
    kt_tunnel(w, initiator_kw={"keepalive": "%ds" % KEEPALIVE},
              responder_kw={"keepalive": "%ds" % KEEPALIVE})
    with capture_public(w, "keepalive.pcap", bpf="udp") as cap:
        time.sleep(IDLE)
    pkts = cap.packets()
    ka = keepalives(pkts, NAT_PUBLIC, RESP_PUBLIC)
    summary = ["%.3f %s" % (float(p.time), p.summary()) for p in pkts[:30]]
    expect = int(IDLE // KEEPALIVE)
    assert len(ka) >= expect, details(w, "%d keepalives in %.0f s idle at keepalive = %ds "
                                      "(want >= %d):" % (len(ka), IDLE, KEEPALIVE, expect),
                                      *summary)
    gaps = [b[0] - a[0] for a, b in zip(ka, ka[1:])]
    assert all(0.5 * KEEPALIVE <= g <= 1.75 * KEEPALIVE for g in gaps), details(
        w, "keepalive intervals %r for keepalive = %ds" % (gaps, KEEPALIVE), *summary)
    mapped = {p[1].sport for p in ka}
    assert len(mapped) == 1, details(w, "keepalives from several NAT ports %r" % mapped)
    assert not keepalives_from(pkts, RESP_PUBLIC), details(
        w, "the responder (not behind a NAT) sent keepalives", *summary)


# --- 8: AH across a NAT; nat-t = force without one -----------------------------------

AH_REFUSED = ("AH cannot cross NAT (it authenticates the IP addresses the NAT rewrites): "
              "use ESP")


def test_ah_through_nat_refused_clearly(natw):
    """An AH child through the NAT: the IKE SA comes up, the child does
    not, `kotetsu up --wait` fails at once with the reason (AH cannot cross
    NAT ...: use ESP), which the log and status carry too; nothing passes
    between the LANs."""
    w = natw()
    t = w.t
    kr = kt_responder(w, {t.init1: [tunnel_child(t.resp, t.init1, protocol="ah")]})
    ki = kt_initiator(w, t.init1, [tunnel_child(t.init1, t.resp, protocol="ah")],
                      start="listen")
    kr.start()
    ki.start()
    res, waited = ki.up(RESP, wait=3)
    shown = res.stdout + res.stderr
    assert waited and res.returncode == 1, details(w, "kotetsu up --wait with an AH child "
                                                   "across a NAT exited %d:" % res.returncode,
                                                   shown)
    assert AH_REFUSED in shown, details(w, "no clear refusal (%r) in `kotetsu up --wait`'s "
                                        "output (%r)" % (AH_REFUSED, shown.strip()))
    lines = ki.wait_log(r"AH cannot cross NAT", timeout=3)
    assert any(AH_REFUSED in ln for ln in lines), details(w, "the refusal is not in the log")
    si, sr = ki.status(), kr.status()
    assert AH_REFUSED in peer_of(si, RESP).get("last_problem", ""), details(
        w, "status does not carry the refusal", si)
    assert ike_of(si, RESP).get("nat_local") is True, details(w, "no NAT seen?")
    assert not installed_children(si, RESP) and not installed_children(sr, "init1"), details(
        w, "an AH child was installed across the NAT")
    assert ping(t.init1.ns, t.resp.lan_addr, count=2, wait=1).received == 0, details(
        w, "traffic passed between the LANs without an SA")


def test_force_encapsulates_without_nat(natw):
    """nat-t = force on init1 with the router only routing (no NAT): the
    child is ESP in UDP anyway (status encap "udp"), and the public link
    shows UDP 4500 from init1's own address, no protocol 50."""
    w = natw(masquerade=False)
    t = w.t
    kr = kt_responder(w, {t.init1: [tunnel_child(t.resp, t.init1)]}, remote=t.init1.addr)
    ki = kt_initiator(w, t.init1, [tunnel_child(t.init1, t.resp)], nat_t="force")
    with capture_public(w, "force.pcap") as cap:
        kr.start()
        ki.start()
        wait_installed(w, ki, RESP)
        wait_installed(w, kr, "init1")
        res = ping(t.init1.ns, t.resp.lan_addr, count=PINGS, wait=5)
        assert res.received == PINGS, details(w, res)
    si, sr = ki.status(), kr.status()
    ii = ike_of(si, RESP)
    assert ii.get("nat_local") is False and addr_port(ike_of(sr, "init1")["remote"])[0] == \
        t.init1.addr, details(w, "the path has no NAT, yet", ii)
    for side, st, peer in (("init1", si, RESP), ("resp", sr, "init1")):
        kids = installed_children(st, peer)
        assert kids and kids[0]["encap"] == "udp", details(
            w, "nat-t = force: %s's child is not ESP in UDP" % side, kids)
    raw = pcap_lines(cap.path, "ip proto 50")
    assert not raw, details(w, "raw ESP with nat-t = force:", *raw[:10])
    esp = pcap_lines(cap.path, "%s and %s" % (ESP_IN_UDP, between(t.init1.addr, RESP_PUBLIC)))
    assert len(esp) >= 2 * PINGS, details(w, "%d ESP-in-UDP packets between %s and %s for %d "
                                          "pings" % (len(esp), t.init1.addr, RESP_PUBLIC, PINGS))
    leaks = pcap_lines(cap.path, "net %s or net %s" % (t.init1.lan, t.resp.lan))
    assert not leaks, details(w, "LAN traffic in clear:", *leaks[:10])


# --- 7: the NAT forgets its mapping ----------------------------------------------

FLOW_INTERVAL = 0.1   # seconds between pings
FLOW_COUNT = 130      # 13 s of pings
FLUSH_AFTER = 2.0     # seconds into the ping
RESUME_BOUND = 3 * KEEPALIVE + 2   # seconds: the responder must follow within it
TAIL = 10             # the last pings must all be answered (traffic resumed)


def test_mapping_flushed_mid_transfer(natw):
    """conntrack -F on the NAT while init1's LAN pings resp's LAN: the
    next packet out gets a new random port; the responder's IKE SA follows
    it (status ike.remote, "peer moved" in its log), the ping resumes
    within 3 keepalive intervals and a bit, and resp's LAN reaches init1's
    LAN again."""
    w = natw()
    t = w.t
    ki, kr = kt_tunnel(w, initiator_kw={"keepalive": "%ds" % KEEPALIVE},
                       responder_kw={"keepalive": "%ds" % KEEPALIVE})
    assert ping(t.init1.ns, t.resp.lan_addr, count=2, wait=5).received == 2, details(w)
    old = ike_of(kr.status(), "init1")["remote"]
    bg = BackgroundPing(t.init1.ns, t.resp.lan_addr, FLOW_COUNT, FLOW_INTERVAL).start()
    try:
        time.sleep(FLUSH_AFTER)
        flushed = t.flush_mappings()
        t_flush = time.monotonic()
        new = wait_remote_change(kr, "init1", old, RESUME_BOUND)
        took = time.monotonic() - t_flush
        res, seqs = bg.result()
    finally:
        bg.stop()
    assert addr_port(old)[0] == NAT_PUBLIC
    assert new != old, details(w, "conntrack -F: %s" % flushed.stderr.strip(),
                               "the responder still sends to %s %.1f s after the NAT forgot "
                               "that mapping" % (old, took), res)
    assert addr_port(new)[0] == NAT_PUBLIC, details(w, "moved to %s?" % new)
    lost = res.sent - res.received
    bound = int(RESUME_BOUND / FLOW_INTERVAL)
    assert res.sent == FLOW_COUNT and lost <= bound, details(
        w, "%d of %d pings lost across the flush (bound %d)" % (lost, res.sent, bound), res)
    tail = set(range(FLOW_COUNT - TAIL + 1, FLOW_COUNT + 1))
    assert tail <= set(seqs), details(w, "traffic did not resume: unanswered at the end %r"
                                      % sorted(tail - set(seqs)), res)
    back = ping(t.resp.ns, t.init1.lan_addr, count=5, wait=3)
    assert back.received == 5, details(w, "resp's LAN -> init1's LAN after the flush", back)
    fwd = ping(t.init1.ns, t.resp.lan_addr, count=5, wait=3)
    assert fwd.received == 5, details(w, "init1's LAN -> resp's LAN after the flush", fwd)
    assert kr.log_lines(r"peer moved from .*NAT mapping changed"), details(
        w, "the responder did not log the move (\"peer moved from ... (NAT mapping changed)\")")
