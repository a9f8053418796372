"""Two kotetsud, each alone in a network namespace, joined by a veth pair:
the daemon's side of a real IKEv2 exchange (UDP sockets, PKTINFO, the
CHILD_SAs it installs, status on both ends agreeing, keys that let tshark
decrypt the captured IKE_AUTH, Deletes on `down`, SIGTERM and reload, and a
wrong PSK reported by `up --wait`). Interoperability with strongSwan is
tested elsewhere; here both ends are kotetsu."""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from test_cli import WAIT, Daemon, binaries, kt, secret_file, tmp  # noqa: F401 (fixtures)

CONF = """\
[daemon]
socket = {d}/{me}.sock
pidfile = {d}/{me}.pid

[peer {peer}]
{local}remote = {remote}
psk = file:{d}/{psk}
start = {start}
nat-t = {natt}

[child {peer}/lan]
local-ts = {lts}
remote-ts = {rts}
"""

ADDRS = {4: ("192.0.2.1", "192.0.2.2", 24), 6: ("2001:db8::1", "2001:db8::2", 64)}


def start_side(ns, d, me):
    side = Daemon(ns, d, d / f"{me}.conf", sock=d / f"{me}.sock", pidfile=d / f"{me}.pid",
                  log=f"{me}.log")
    side.me = me
    side.wait_ready()
    return side


@pytest.fixture(params=[4, 6], ids=["ipv4", "ipv6"])
def family(request):
    return request.param


@pytest.fixture
def pair(tmp, family):
    """Namespaces a and b with a veth between them; returns start(psk_b=...)
    which writes both configs and starts b (listen) then a (start = now)."""
    tag = "%d%d" % (os.getpid() % 10000, time.monotonic_ns() % 1000)
    nss = ["ktpa" + tag, "ktpb" + tag]
    la, lb, plen = ADDRS[family]
    for ns in nss:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "link", "add", "kva" + tag, "netns", nss[0], "type", "veth", "peer",
                    "name", "kvb" + tag, "netns", nss[1]], check=True)
    for ns, dev, addr in ((nss[0], "kva" + tag, la), (nss[1], "kvb" + tag, lb)):
        extra = ["nodad"] if family == 6 else []
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{addr}/{plen}", "dev", dev, *extra],
                       check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
    sides = []

    def start(psk_b=None, bound=True, natt="auto"):
        secret_file(tmp / "a.psk", b"0x" + b"5a" * 32 + b"\n")
        secret_file(tmp / "b.psk", psk_b or (tmp / "a.psk").read_bytes())
        local = (lambda addr: f"local = {addr}\n" if bound else "")
        (tmp / "a.conf").write_text(CONF.format(d=tmp, me="a", peer="b", local=local(la),
                                                remote=lb, natt=natt,
                                                psk="a.psk", start="now", lts="10.1.0.0/24",
                                                rts="10.2.0.0/24"))
        (tmp / "b.conf").write_text(CONF.format(d=tmp, me="b", peer="a", local=local(lb),
                                                remote=la, natt=natt,
                                                psk="b.psk", start="listen",
                                                lts="10.2.0.0/24", rts="10.1.0.0/24"))
        sides.append(start_side(nss[1], tmp, "b"))
        sides.append(start_side(nss[0], tmp, "a"))
        return sides[1], sides[0]
    start.nss, start.dev_a, start.family = nss, "kva" + tag, family
    yield start
    for s in sides:
        s.stop()
    for ns in nss:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def wait_for(what, fn):
    deadline = time.monotonic() + WAIT
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def established(side):
    p = side.status()["peers"][0]
    if p["state"] == "established" and [c["state"] for c in p["children"]] == ["installed"]:
        return p
    return None


def endpoint(addr, family):
    return f"{addr}:500" if family == 4 else f"[{addr}]:500"


def test_pair_status_agrees(pair, family):
    a, b = pair()
    pa, pb = wait_for("a established", lambda: established(a)), wait_for("b", lambda: established(b))
    la, lb, _ = ADDRS[family]
    ia, ib = pa["ike"], pb["ike"]
    assert re.fullmatch(r"[0-9a-f]{16}", ia["spi_i"]) and re.fullmatch(r"[0-9a-f]{16}", ia["spi_r"])
    assert (ia["spi_i"], ia["spi_r"]) == (ib["spi_i"], ib["spi_r"])
    assert ia["initiator"] and not ib["initiator"]
    assert ia["proposal"] == ib["proposal"] == "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
    assert (ia["local"], ia["remote"]) == (endpoint(la, family), endpoint(lb, family))
    assert (ib["local"], ib["remote"]) == (endpoint(lb, family), endpoint(la, family))
    assert ia["nat"] is False and ia["version"] == 2
    ca, cb = pa["children"][0], pb["children"][0]
    assert (ca["spi_in"], ca["spi_out"]) == (cb["spi_out"], cb["spi_in"])
    assert re.fullmatch(r"[0-9a-f]{8}", ca["spi_in"])
    assert ca["local_ts"] == cb["remote_ts"] == ["10.1.0.0/24"]
    assert ca["remote_ts"] == cb["local_ts"] == ["10.2.0.0/24"]
    assert (ca["mode"], ca["protocol"], ca["encap"], ca["proposal"]) == \
        ("tunnel", "esp", "none", "AES_GCM_16_256")
    assert [ca[k] for k in ("bytes_in", "bytes_out", "packets_in", "packets_out")] == [0] * 4
    assert a.status()["daemon"]["installed_sas"] == 2
    human = kt("-s", a.sock, "status").stdout
    assert f"b: #{ia['id']}, ESTABLISHED, IKEv2, {ia['spi_i']}_i* {ia['spi_r']}_r\n" in human
    assert f"  lan: INSTALLED, TUNNEL, ESP:AES_GCM_16_256\n" in human


def test_pair_wildcard_sockets(pair, family):
    """No local addresses: wildcard sockets, the local address of each
    datagram from IP(V6)_PKTINFO, replies sent from it."""
    a, b = pair(bound=False)
    ia = wait_for("a established", lambda: established(a))["ike"]
    la, lb, _ = ADDRS[family]
    assert (ia["local"], ia["remote"]) == (endpoint(la, family), endpoint(lb, family))
    assert established(b)["ike"]["local"] == endpoint(lb, family)
    res = subprocess.run(["ip", "netns", "exec", pair.nss[0], "ss", "-uln"], capture_output=True,
                         text=True, check=True)
    assert re.search(r"\s0\.0\.0\.0:500\s", res.stdout) and re.search(r"\s\[::\]:500\s", res.stdout)


def test_pair_nat_t_port_4500(pair, family):
    """nat-t = force: IKE moves to port 4500 behind the non-ESP marker, which
    the daemon adds and strips; the CHILD_SA is ESP in UDP."""
    a, b = pair(natt="force")
    pa, pb = wait_for("a established", lambda: established(a)), wait_for("b", lambda: established(b))
    la, lb, _ = ADDRS[family]
    assert pa["ike"]["local"] == endpoint(la, family).replace(":500", ":4500")
    assert pb["ike"]["remote"] == endpoint(la, family).replace(":500", ":4500")
    assert pa["children"][0]["encap"] == pb["children"][0]["encap"] == "udp"
    assert a.status()["daemon"]["esp_in_udp_dropped"] == 0


@pytest.mark.skipif(not shutil.which("tshark") or not shutil.which("dumpcap"),
                    reason="tshark/dumpcap not installed")
def test_pair_keys_decrypt_captured_ike(pair, tmp):
    a, b = pair()
    wait_for("a established", lambda: established(a))
    assert kt("-s", a.sock, "down", "b").returncode == 0
    wait_for("a down", lambda: a.status()["peers"][0]["state"] == "down")
    pcap = tmp / "ike.pcap"
    cap = subprocess.Popen(["ip", "netns", "exec", pair.nss[0], "dumpcap", "-q", "-i",
                            pair.dev_a, "-f", "udp port 500", "-w", str(pcap)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for("dumpcap", lambda: pcap.exists() and pcap.stat().st_size > 0)
        res = kt("-s", a.sock, "up", "b", "--wait", WAIT)
        assert res.returncode == 0, res.stderr
        time.sleep(0.3)
    finally:
        cap.send_signal(signal.SIGINT)
        cap.wait(WAIT)
    ws = tmp / "home" / ".config" / "wireshark"
    ws.parent.mkdir(parents=True)
    res = kt("-s", a.sock, "keys", "--wireshark", ws)
    assert res.returncode == 0, res.stderr
    out = subprocess.run(["tshark", "-r", pcap, "-V", "-Y", "isakmp.exchangetype == 35"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(tmp / "home")})
    assert "Error loading table" not in out.stderr, out.stderr
    assert out.stdout.count("Decrypted Data") == 2, out.stdout   # IKE_AUTH request, response
    assert "Identification - Initiator" in out.stdout
    assert out.stdout.count("[correct]") == 2


def test_pair_esp_keys_match(pair):
    """a's outbound ESP key is b's inbound one for the same SPI, and back."""
    a, b = pair()
    wait_for("established", lambda: established(a) and established(b))
    keys = {}
    for side in (a, b):
        ws = side.d / f"ws-{side.me}"
        assert kt("-s", side.sock, "keys", "--wireshark", ws).returncode == 0
        rows = [line for line in (ws / "esp_sa").read_text().splitlines()
                if not line.startswith("#")]
        assert len(rows) == 2
        keys[side.me] = {tuple(json.loads("[" + r + "]")[:4]): r for r in rows}
    assert keys["a"] == keys["b"]  # same (family, src, dst, SPI) -> same row, keys included


def test_pair_child_down_and_up(pair):
    a, b = pair()
    first = wait_for("established", lambda: established(a))["children"][0]
    assert kt("-s", a.sock, "down", "b/lan").returncode == 0
    wait_for("child gone at b", lambda: b.status()["peers"][0]["children"] == [])
    wait_for("child gone at a", lambda: a.status()["peers"][0]["children"] == [])
    assert a.status()["daemon"]["installed_sas"] == 0
    res = kt("-s", a.sock, "up", "b/lan", "--wait", WAIT)
    assert res.returncode == 0, res.stderr
    again = established(a)["children"][0]
    assert again["spi_in"] != first["spi_in"]
    assert a.status()["peers"][0]["ike"]["spi_i"] == established(b)["ike"]["spi_i"]


def test_pair_sigterm_deletes_at_peer(pair):
    a, b = pair()
    wait_for("established", lambda: established(b))
    t0 = time.monotonic()
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(WAIT) == 0, a.logtext()
    assert time.monotonic() - t0 < 3
    assert not a.sock.exists() and not a.pidfile.exists()
    p = wait_for("b sees the Delete",
                 lambda: (lambda p: p if p["state"] == "down" else None)(b.status()["peers"][0]))
    assert p["ike"] is None and b.status()["daemon"]["installed_sas"] == 0


def test_pair_reload_removes_child(pair):
    a, b = pair()
    wait_for("established", lambda: established(a))
    conf = b.conf.read_text()
    b.conf.write_text(conf[:conf.index("[child")])
    res = kt("-s", b.sock, "reload")
    assert res.returncode == 0, res.stderr
    wait_for("a loses the child", lambda: a.status()["peers"][0]["children"] == [])


def test_pair_wrong_psk_reported(pair):
    a, b = pair(psk_b=b"0x" + b"a5" * 32 + b"\n")
    wait_for("first attempt over", lambda: a.status()["peers"][0]["state"] == "down")
    res = kt("-s", a.sock, "up", "b", "--wait", WAIT)
    assert res.returncode == 1
    line = res.stderr.strip()
    assert "\n" not in line and line.startswith("kotetsu: b: failed: ")
    assert "AUTHENTICATION_FAILED" in line, line
    reason = a.status()["peers"][0]["down_reason"]
    assert "AUTHENTICATION_FAILED" in reason and not reason.startswith("peer b:")
