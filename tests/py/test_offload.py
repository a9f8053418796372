"""TUN offloads end to end (core/gso.c, daemon/tun.c): with them, the
kernel hands kotetsud TCP and UDP super-packets of up to 64 KB, which it
splits into segments; a bulk TCP transfer and a UDP_SEGMENT send go
through the tunnel whole, the receiving kernel finds no bad checksum, and
the gateway reads the TUN far fewer times than it tunnels packets. With
`offload = off` in [daemon] the TUN is plain and the same traffic passes.

Topology (test_dp_smoke.py's):
    hA 10.1.0.2 -- 10.1.0.1 gA 192.0.2.1 -- 192.0.2.2 gB 10.2.0.1 -- 10.2.0.2 hB
"""

import hashlib
import re
import subprocess

import kotetsud
from netns import IP, nsexec
from test_dp_smoke import child_of, details, network, pair  # noqa: F401 (pair: a fixture)

BULK = 8 << 20          # bytes through the tunnel in the TCP test
PORT = 5999
XFER_TIMEOUT = 30       # seconds for the transfer
UDP_SEG = 1200          # UDP_SEGMENT size
UDP_SEGS = 5
UDP_SEGMENT = 103       # linux/udp.h
SOL_UDP = 17

# The receiver: count and hash what arrives; the sender: BULK bytes.
SINK = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""
SOURCE = r"""
import socket, sys
data = bytes(range(256)) * (int(sys.argv[3]) // 256)
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
c.sendall(data); c.close()
"""
UDP_SINK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2]))); s.settimeout(5)
print("ready", flush=True)
sizes = []
try:
    while len(sizes) < int(sys.argv[3]):
        sizes.append(len(s.recv(65535)))
except socket.timeout:
    pass
print(" ".join(map(str, sizes)), flush=True)
"""
UDP_SOURCE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(%d, %d, int(sys.argv[3]))
n = int(sys.argv[3]) * int(sys.argv[4])
s.sendto((bytes(range(256)) * (n // 256 + 1))[:n], (sys.argv[1], int(sys.argv[2])))
""" % (SOL_UDP, UDP_SEGMENT)

PY = "/usr/bin/python3"


def sink(ns, script, *args):
    p = subprocess.Popen([IP, "netns", "exec", ns, PY, "-c", script, *map(str, args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready", p.stderr.read()
    return p


def finish(p):
    try:
        out, err = p.communicate(timeout=XFER_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return out.strip() + err


def tcp_snmp(ns):
    """Tcp InCsumErrors and InSegs in namespace ns."""
    text = nsexec(ns, "cat", "/proc/net/snmp").stdout
    rows = [line.split() for line in text.splitlines() if line.startswith("Tcp:")]
    t = dict(zip(rows[0][1:], map(int, rows[1][1:])))
    return t["InCsumErrors"], t["InSegs"]


def tun_reads(k):
    """Read system calls of kotetsud's process so far (all its threads)."""
    with open("/proc/%d/io" % k.pid) as f:
        return int(re.search(r"syscr: (\d+)", f.read()).group(1))


def bulk(net, a, b):
    """BULK bytes hA -> hB over TCP; (packets gA's TUN gave, gA's reads)."""
    tun_rx0, reads0 = a.status()["dataplane"]["counters"]["tun_rx"], tun_reads(a)
    errs0, _ = tcp_snmp(net.ns["hB"])
    p = sink(net.ns["hB"], SINK, "10.2.0.2", PORT)
    src = nsexec(net.ns["hA"], PY, "-c", SOURCE, "10.2.0.2", PORT, BULK, check=False,
                 timeout=XFER_TIMEOUT)
    out = finish(p)
    want = hashlib.sha256(bytes(range(256)) * (BULK // 256)).hexdigest()
    assert src.returncode == 0 and out.split()[:2] == [str(BULK), want], \
        src.stderr + out + details(a, b)
    errs, _ = tcp_snmp(net.ns["hB"])
    assert errs == errs0, "TCP checksum errors at the receiver"
    tun_rx = a.status()["dataplane"]["counters"]["tun_rx"] - tun_rx0
    return tun_rx, tun_reads(a) - reads0


def test_tcp_bulk_with_offloads(pair):
    """8 MB of TCP arrive whole, no checksum error; the gateway read the
    TUN at most a third as often as it tunnelled packets (each read a
    super-packet of several segments)."""
    with network() as net:
        a, b = pair(net)
        child_of(a)
        assert a.wait_log(r"TUN \S+ up \(index \d+, offloads\)"), a.diagnostics()
        # Forwarded traffic arrives at gA aggregated (GRO on its LAN veth),
        # and leaves into the TUN as super-packets.
        tun_rx, reads = bulk(net, a, b)
        assert tun_rx >= BULK // 1500, tun_rx
        assert reads * 3 < tun_rx, "%d reads for %d packets" % (reads, tun_rx)


def test_udp_segment_with_offloads(pair):
    """One UDP_SEGMENT send of five 1200-byte datagrams from hA reaches gA's
    TUN as one super-packet (USO) and arrives at hB as five datagrams."""
    with network() as net:
        a, b = pair(net)
        child_of(a)
        p = sink(net.ns["hB"], UDP_SINK, "10.2.0.2", PORT, UDP_SEGS)
        res = nsexec(net.ns["hA"], PY, "-c", UDP_SOURCE, "10.2.0.2", PORT, UDP_SEG, UDP_SEGS,
                     check=False, timeout=XFER_TIMEOUT)
        out = finish(p)
        assert res.returncode == 0, res.stderr
        assert out.split() == [str(UDP_SEG)] * UDP_SEGS, out + details(a, b)


def test_offloads_off(pair, monkeypatch):
    """offload = off: a plain TUN, said once at info, and the same
    transfer passes, one read per packet."""
    monkeypatch.setattr(kotetsud, "DAEMON_EXTRA", {"offload": "off"})
    with network() as net:
        a, b = pair(net)
        child_of(a)
        assert a.log_lines(r"offloads off"), a.diagnostics()
        assert not a.log_lines(r"offloads\)"), a.diagnostics()
        tun_rx, reads = bulk(net, a, b)
        assert reads >= tun_rx, "%d reads for %d packets" % (reads, tun_rx)


def test_status_counts_tunnel_packets(pair):
    """Packets counted on the child match the segments, not the reads."""
    with network() as net:
        a, b = pair(net)
        child_of(a)
        out0 = child_of(a)["packets_out"]
        tun_rx, _ = bulk(net, a, b)
        assert child_of(a)["packets_out"] - out0 >= tun_rx * 9 // 10


def test_gro_into_receiving_tun(pair):
    """8 MB of TCP into the tunnel: the receiving gateway gB merges the
    segments it opens from one receive batch and writes super-packets to
    its TUN (tun_gro grows, fewer writes than opened packets); the data
    arrive whole and hB's kernel counts no TCP checksum error (bulk)."""
    with network() as net:
        a, b = pair(net)
        child_of(a)
        assert b.wait_log(r"TUN \S+ up \(index \d+, offloads\)"), b.diagnostics()
        c0 = b.status()["dataplane"]["counters"]
        bulk(net, a, b)
        c = b.status()["dataplane"]["counters"]
        gro, tx = c["tun_gro"] - c0["tun_gro"], c["tun_tx"] - c0["tun_tx"]
        decapped = c["decapped"] - c0["decapped"]
        assert gro > 0, details(a, b)
        assert tx < decapped, "%d TUN writes for %d opened packets" % (tx, decapped)
