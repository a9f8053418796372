"""kotetsud's data-plane threads ([daemon] workers): the single-threaded
data plane (workers = 0) still carries a tunnel; with workers = 2 what the
worker threads hand to the main thread arrives there (the first packet of
start = on-traffic from the outbound thread, IKE on port 4500 from the
inbound thread), and the port-4500 sockets a reload replaces are read by
the inbound thread. The other data-plane tests run with the default, auto
(2 on a machine with two CPUs)."""

import pytest

import kotetsud
import topo
from test_dataplane import Scenario, check_child, check_traffic, world  # noqa: F401 (fixture)
from topo import ping

PEER_PSK = "another-peer-psk-0123456789"


@pytest.fixture
def workers(monkeypatch):
    """workers(value): every kotetsud started afterwards in this test gets
    `workers = value` in its [daemon] section."""
    def use(value):
        orig = kotetsud.Kotetsud.write_config

        def write_config(self, peer_sections):
            path = orig(self, peer_sections)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("[daemon]\n", "[daemon]\nworkers = %s\n" % value, 1))
            return path
        monkeypatch.setattr(kotetsud.Kotetsud, "write_config", write_config)
    return use


def dataplane(kt):
    return kt.status().get("dataplane") or {}


def check_threads(sc, n):
    """Both daemons run n worker threads, said so at start, and their
    queues to the main thread dropped nothing."""
    for kt in (sc.kl, sc.kr):
        dp = dataplane(kt)
        assert dp.get("workers") == n, sc.details("%s: workers %r, want %d"
                                                  % (kt.ns, dp.get("workers"), n))
        want = "an outbound and an inbound thread" if n else "packets on the main thread"
        assert kt.log_lines("data plane: " + want), sc.details("%s: no %r in the log"
                                                               % (kt.ns, want))
        dropped = dp.get("counters", {}).get("handoff_dropped")
        assert dropped == {"ike": 0, "natt": 0, "acquire": 0}, sc.details(dropped)


def test_single_thread_tunnel(world, workers):  # noqa: F811
    """workers = 0: ESP tunnel mode, IPv4 in IPv6, all on the main thread."""
    workers(0)
    sc = Scenario(world(), "tunnel", "esp", 4, 6).start()
    check_child(sc)
    check_traffic(sc)
    check_threads(sc, 0)


def test_handoffs_to_main(world, workers):  # noqa: F811
    """workers = 2, start = on-traffic, nat-t = force: hostA's first packet
    meets the trap in gwA's outbound thread, which hands it to the main
    thread (IKE starts; the packet waits and leaves once the SA is up);
    IKE_AUTH comes on port 4500, read by the inbound threads and handed to
    the main threads' engines."""
    workers(2)
    sc = Scenario(world(), "tunnel", "esp", 4, 4).start(start="on-traffic", nat_t="force")
    ok, tries = topo.ping_until(sc.src.ns, sc.dst_addr, timeout=15)
    assert ok, sc.details("no ping passed within 15 s (%d tries)" % tries)
    check_child(sc, encap="udp")
    for kt, peer in ((sc.kl, "site-b"), (sc.kr, "site-a")):
        ike = kotetsud.peer_of(kt.status(), peer)["ike"]
        assert kotetsud.port_of(ike["local"]) == 4500, sc.details(ike)
    c = dataplane(sc.kl)["counters"]
    assert c["acquires"] >= 1 and c["flushed"] >= 1, sc.details(c)
    check_traffic(sc)
    check_threads(sc, 2)


def add_listen_peer(kt):
    """A second peer without a local address: the daemon's UDP sockets
    become wildcards, so the bound ones close and new ones open."""
    with open(kt.conf, "a") as f:
        f.write(kotetsud.ini([("peer road", {"remote": "any", "remote-id": "%any",
                                             "psk": '"%s"' % PEER_PSK, "start": "listen"})]))


def test_reload_replaces_natt_sockets(world, workers):  # noqa: F811
    """workers = 2, ESP in UDP: a reload that swaps the port-4500 sockets
    (bound to the peer's address -> wildcard) under running threads; the
    tunnel keeps carrying traffic both ways through the new sockets."""
    workers(2)
    sc = Scenario(world(), "tunnel", "esp", 4, 4).start(nat_t="force")
    check_child(sc, encap="udp")
    assert ping(sc.src.ns, sc.dst_addr, count=3).received == 3, sc.details()
    for kt in (sc.kl, sc.kr):
        add_listen_peer(kt)
        res = kt.cli("reload")
        assert res.returncode == 0, sc.details(res.stdout, res.stderr)
        assert kt.wait_log(r"listening on UDP 0\.0\.0\.0:4500", timeout=5), sc.details()
    check_traffic(sc)
    check_threads(sc, 2)
