"""Self-test of the network harness: strongSwan against strongSwan in two
namespaces. If these pass, namespaces, veth, charon's life cycle, swanctl
loading and the vici SA listing all work, so a failing kotetsu interop test
points at kotetsu, not at the harness."""

import os
import subprocess

import pytest

import netns
from netns import veth_pair, wait_for, work_dir
from strongswan import (CHARON, ESP_ALGS, IKE_ALGS, SUITES, SWANCTL, Charon, psk_conn,
                        sa_alg_set, spi_int)

PSK = "harness-psk-0123456789abcdef"
LAN = [("lan", "10.1.0.0/24", "10.2.0.0/24")]
TWO_LANS = LAN + [("lan2", "10.1.1.0/24", "10.2.1.0/24")]


@pytest.fixture
def peers(tmp_path_factory):
    """Two namespaces on a veth pair with a charon in each: (left, right)."""
    netns.require_root()
    for tool in (CHARON, SWANCTL):
        if not os.path.exists(tool):
            pytest.fail("%s missing: run scripts/install-deps" % tool, pytrace=False)
    with work_dir(tmp_path_factory) as work, \
            veth_pair(left_lan=("10.1.0.1", "10.1.1.1"),
                      right_lan=("10.2.0.1", "10.2.1.1")) as pair:
        left = Charon(pair.left.ns, _mkdir(work / "l"))
        right = Charon(pair.right.ns, _mkdir(work / "r"))
        try:
            left.start()
            right.start()
            yield left, right, pair
        finally:
            left.stop()
            right.stop()


def _mkdir(path):
    path.mkdir()
    return path


def configure(left, right, pair, ike, esp, lans=LAN, left_psk=PSK, right_psk=PSK,
              right_ike=None):
    """Load mirrored PSK connections "c" (left initiates) into both."""
    lspec = {n: {"local_ts": l, "remote_ts": r, "esp": esp} for n, l, r in lans}
    rspec = {n: {"local_ts": r, "remote_ts": l, "esp": esp} for n, l, r in lans}
    left.load(psk_conn("c", pair.left.addr, pair.right.addr, "left.example",
                       "right.example", left_psk, ike, lspec))
    right.load(psk_conn("c", pair.right.addr, pair.left.addr, "right.example",
                        "left.example", right_psk, right_ike or ike, rspec))


def both(left, right):
    return "\n%s\n%s\n--- left --list-sas ---\n%s\n--- right --list-sas ---\n%s" % (
        left.diagnostics(30), right.diagnostics(30), left.list_sas_text(),
        right.list_sas_text())


def one_ike(charon):
    sas = charon.list_sas()
    assert len(sas) == 1, "%s: expected one IKE SA, got %r" % (charon.ns, sas)
    return sas[0]


def assert_same_ike(i, r):
    """i, r: the initiator's and responder's vici IKE SA dicts."""
    assert i["state"] == r["state"] == "ESTABLISHED"
    assert i["initiator"] == "yes" and r.get("initiator") != "yes"
    assert spi_int(i["initiator-spi"]) == spi_int(r["initiator-spi"])
    assert spi_int(i["responder-spi"]) == spi_int(r["responder-spi"])
    assert sa_alg_set(i) == sa_alg_set(r)


def assert_same_children(i, r, n):
    """Both have n installed children; each SPI pair mirrors the other's."""
    ic = [c for c in i["child-sas"].values() if c["state"] == "INSTALLED"]
    rc = [c for c in r["child-sas"].values() if c["state"] == "INSTALLED"]
    assert len(ic) == len(rc) == n
    r_by_out = {spi_int(c["spi-out"]): c for c in rc}
    for c in ic:
        peer = r_by_out.get(spi_int(c["spi-in"]))
        assert peer is not None, "no responder child sends to SPI %s" % c["spi-in"]
        assert spi_int(peer["spi-in"]) == spi_int(c["spi-out"])
        assert peer["name"] == c["name"]
        assert sa_alg_set(peer) == sa_alg_set(c)
    spis = [spi_int(c[k]) for c in ic for k in ("spi-in", "spi-out")]
    assert len(set(spis)) == len(spis), "SPIs not distinct: %r" % spis
    return ic


@pytest.mark.parametrize("ike,esp", SUITES, ids=[s[0] for s in SUITES])
def test_established_sas_match(peers, ike, esp):
    left, right, pair = peers
    configure(left, right, pair, ike, esp)
    res = left.initiate("c", "lan")
    assert res.returncode == 0, res.stdout + res.stderr + both(left, right)
    right.wait_children(1)
    i, r = one_ike(left), one_ike(right)
    try:
        assert_same_ike(i, r)
        assert sa_alg_set(i) == IKE_ALGS[ike]
        children = assert_same_children(i, r, 1)
        assert sa_alg_set(children[0]) == ESP_ALGS[esp]
        # kernel-libipsec: always ESP in UDP on 4500, with a NAT it invents.
        for sa in (i, r):
            assert sa["local-port"] == sa["remote-port"] == "4500"
            assert sa.get("nat-any") == "yes"
            assert all(c.get("encap") == "yes" for c in sa["child-sas"].values())
        assert children[0]["local-ts"] == ["10.1.0.0/24"]
        assert children[0]["remote-ts"] == ["10.2.0.0/24"]
    except AssertionError as e:
        raise AssertionError("%s\ninitiator: %r\nresponder: %r%s"
                             % (e, i, r, both(left, right))) from None


def test_wrong_psk_fails_on_both_sides(peers):
    left, right, pair = peers
    configure(left, right, pair, SUITES[0][0], SUITES[0][1],
              right_psk="not-the-same-psk-0123456789")
    res = left.initiate("c", "lan")
    assert res.returncode != 0, res.stdout
    assert "AUTHENTICATION_FAILED" in res.stdout, res.stdout + both(left, right)
    # The responder checks the initiator's AUTH first, says so, and sends
    # the notify; neither side keeps anything.
    assert "N(AUTH_FAILED)" in right.log_text(), both(left, right)
    assert "received AUTHENTICATION_FAILED notify" in left.log_text(), both(left, right)
    assert left.wait_no_sas() and right.wait_no_sas(), both(left, right)


def test_no_common_proposal(peers):
    left, right, pair = peers
    configure(left, right, pair, "aes128gcm16-prfsha256-x25519", "aes128gcm16",
              right_ike="aes256gcm16-prfsha384-ecp384")
    res = left.initiate("c", "lan")
    assert res.returncode != 0, res.stdout
    assert "NO_PROPOSAL_CHOSEN" in res.stdout, res.stdout + both(left, right)
    rlog = right.log_text()
    assert "N(NO_PROP)" in rlog and "received proposals: IKE:AES_GCM_16_128" in rlog, \
        both(left, right)
    assert left.wait_no_sas() and right.wait_no_sas(), both(left, right)


def test_second_child_via_create_child_sa(peers):
    left, right, pair = peers
    configure(left, right, pair, SUITES[0][0], SUITES[0][1], lans=TWO_LANS)
    # The first child rides IKE_AUTH; the second needs CREATE_CHILD_SA.
    # (swanctl --initiate without --child would set up the IKE SA alone.)
    for child in ("lan", "lan2"):
        res = left.initiate("c", child)
        assert res.returncode == 0, res.stdout + res.stderr + both(left, right)
    right.wait_children(2)
    i, r = one_ike(left), one_ike(right)
    try:
        assert_same_ike(i, r)
        kids = assert_same_children(i, r, 2)
        assert sorted(c["name"] for c in kids) == ["lan", "lan2"]
    except AssertionError as e:
        raise AssertionError("%s%s" % (e, both(left, right))) from None
    assert "CREATE_CHILD_SA request" in left.log_text(), both(left, right)


@pytest.mark.parametrize("side", ["initiator", "responder"])
def test_delete_from_either_side(peers, side):
    left, right, pair = peers
    configure(left, right, pair, SUITES[0][0], SUITES[0][1])
    res = left.initiate("c", "lan")
    assert res.returncode == 0, res.stdout + both(left, right)
    right.wait_children(1)
    who = left if side == "initiator" else right
    res = who.terminate(ike="c")
    assert res.returncode == 0, res.stdout + res.stderr + both(left, right)
    assert left.wait_no_sas() and right.wait_no_sas(), both(left, right)


SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for _ in range(3):
    s.sendto(b"through the pipe", (sys.argv[2], int(sys.argv[3])))
"""
RECV = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
print(s.recvfrom(100)[0].decode())
"""


def test_tunnel_carries_traffic(peers):
    """libipsec's data path works in namespaces: a UDP datagram from one LAN
    address to the other arrives, and both SAs count it."""
    left, right, pair = peers
    configure(left, right, pair, SUITES[0][0], SUITES[0][1])
    assert left.initiate("c", "lan").returncode == 0, both(left, right)
    right.wait_children(1)
    recv = subprocess.Popen([netns.IP, "netns", "exec", pair.right.ns, "/usr/bin/python3",
                             "-c", RECV, "10.2.0.1", "5555", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Send until the receiver got one (it may bind a little later).
        got = wait_for(lambda: netns.nsexec(pair.left.ns, "/usr/bin/python3", "-c", SEND,
                                            "10.1.0.1", "10.2.0.1", "5555") and
                       recv.poll() is not None, 8, interval=0.2)
        out, err = recv.communicate(timeout=10)
    finally:
        if recv.poll() is None:
            recv.kill()
            recv.wait(5)
    assert got and out.strip() == "through the pipe", err + both(left, right)
    lc = one_ike(left)["child-sas"]
    rc = one_ike(right)["child-sas"]
    assert int(next(iter(lc.values()))["packets-out"]) >= 1
    assert int(next(iter(rc.values()))["packets-in"]) >= 1


def _run_mounts():
    """The host's mounts on /run itself (not the netns files below it)."""
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == "/run"]


def test_charon_is_contained(tmp_path_factory):
    """The pid we hold is charon itself, stopping it leaves nothing behind,
    its /run stays private, and the namespaces go away."""
    netns.require_root()
    mounts_before = _run_mounts()
    with work_dir(tmp_path_factory) as work, veth_pair() as pair:
        c = Charon(pair.left.ns, work)
        c.start()
        try:
            assert os.readlink("/proc/%d/exe" % c.pid) == CHARON
            assert _run_mounts() == mounts_before, "charon's tmpfs /run leaked to the host"
            with open("/proc/%d/mountinfo" % c.pid) as f:
                assert any(ln.split()[4] == "/run" and " - tmpfs " in ln for ln in f), \
                    "charon runs without its private /run"
        finally:
            c.stop()
        assert not c.running() and c.proc.returncode is not None  # reaped
        names = (pair.left.ns, pair.right.ns)
    assert not any(netns.ns_exists(n) for n in names)
    assert _run_mounts() == mounts_before
