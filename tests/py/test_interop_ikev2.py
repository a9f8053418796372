"""kotetsu against strongSwan (IKEv2, PSK) in two namespaces: kotetsud on
the left (192.0.2.1, LAN 10.1.x), charon with kernel-libipsec on the right
(192.0.2.2, LAN 10.2.x). Every test checks both sides' own view: kotetsu's
`status --json` beside charon's SA list over vici, plus both logs for the
failures. The harness itself is proven by test_harness_strongswan.py.

kotetsud's peer uses `start = listen`: it initiates only on `kotetsu up`."""

import os

import pytest

import netns
from kotetsud import (Kotetsud, established, installed, peer_entries, peer_of, port_of,
                      psk_peer, require_built)
from netns import veth_pair, wait_for, work_dir
from strongswan import (CHARON, ESP_ALGS, IKE_ALGS, SUITES, SWANCTL, Charon, alg_set,
                        psk_conn, sa_alg_set, spi_int)

PSK = "interop-psk-0123456789abcdef"
WRONG_PSK = "a-different-psk-0123456789"
KT_ID, SW_ID = "kotetsu.example", "swan.example"
PEER = "swan"   # kotetsu's name for its peer
CONN = "kt"     # strongSwan's name for its connection
LAN = [("lan", "10.1.0.0/24", "10.2.0.0/24")]
TWO_LANS = LAN + [("lan2", "10.1.1.0/24", "10.2.1.0/24")]
ROLES = ["kotetsu-initiates", "kotetsu-responds"]
WAIT = 8  # seconds for any negotiation (or its failure) to show on both sides


class Interop:
    """One kotetsud and one charon on a veth pair, configured per test."""

    def __init__(self, pair, kt, sw):
        self.pair, self.kt, self.sw = pair, kt, sw

    def configure(self, ike, esp, lans=LAN, kt_psk=PSK, sw_psk=PSK, kt_ike=None,
                  sw_ike=None):
        left, right = self.pair.left, self.pair.right
        sw_children = {n: {"local_ts": r, "remote_ts": l, "esp": esp} for n, l, r in lans}
        self.sw.load(psk_conn(CONN, right.addr, left.addr, SW_ID, KT_ID, sw_psk,
                              sw_ike or ike, sw_children))
        kt_children = {n: {"local_ts": l, "remote_ts": r, "esp": esp} for n, l, r in lans}
        self.kt.write_config(psk_peer(PEER, left.addr, right.addr, KT_ID, SW_ID, kt_psk,
                                      kt_ike or ike, kt_children, start="listen"))
        self.kt.start()

    def establish(self, role, children=("lan",)):
        """Bring the SAs up from the side that role names; returns the
        initiating command's result (for failure messages)."""
        if role == "kotetsu-initiates":
            res, _ = self.kt.up(PEER, wait=WAIT)
        else:
            for child in children:
                res = self.sw.initiate(CONN, child, timeout=WAIT)
                if res.returncode != 0:
                    break
        return res

    def details(self, status=None):
        try:
            status = status if status is not None else self.kt.status()
        except AssertionError as e:
            status = str(e)
        return ("\n--- kotetsu status --json ---\n%s\n--- swanctl --list-sas ---\n%s\n%s\n%s"
                % (status, self.sw.list_sas_text(), self.kt.diagnostics(40),
                   self.sw.diagnostics(40)))


@pytest.fixture
def interop(tmp_path_factory):
    netns.require_root()
    require_built()
    for tool in (CHARON, SWANCTL):
        if not os.path.exists(tool):
            pytest.fail("%s missing: run scripts/install-deps" % tool, pytrace=False)
    with work_dir(tmp_path_factory) as work, \
            veth_pair(left_lan=("10.1.0.1", "10.1.1.1"),
                      right_lan=("10.2.0.1", "10.2.1.1")) as pair:
        (work / "kt").mkdir()
        (work / "sw").mkdir()
        kt = Kotetsud(pair.left.ns, work / "kt", tun=pair.prefix + "t")
        sw = Charon(pair.right.ns, work / "sw")
        try:
            sw.start()
            yield Interop(pair, kt, sw)
        finally:
            kt.stop()
            sw.stop()
        if kt.sanitizer_reports():
            pytest.fail("kotetsud reported sanitizer errors\n" + kt.diagnostics(200),
                        pytrace=False)


def wait_both(t, kt_done, sw_done, timeout=WAIT):
    """Poll kotetsu's status and strongSwan's SAs until both predicates
    hold or timeout passes (one deadline for both); returns the last of
    each."""
    last = {}

    def done():
        last["kt"], last["sw"] = t.kt.status(), t.sw.list_sas()
        return kt_done(last["kt"]) and sw_done(last["sw"])
    wait_for(done, timeout, interval=0.1)
    return last["kt"], last["sw"]


def kt_children(status):
    return [c for name, c in installed(status) if name == PEER]


def assert_same_sas(t, role, ike, esp, lans=LAN):
    """kotetsu's and strongSwan's views agree: IKE SPIs, CHILD SPIs (ours in
    = theirs out), proposals (as algorithm sets), selectors, roles."""
    n = len(lans)
    st, sas = wait_both(t, lambda st: len(kt_children(st)) >= n and
                        (peer_of(st, PEER) or {}).get("state") == "established",
                        lambda sas: sum(c["state"] == "INSTALLED" for sa in sas
                                        for c in sa["child-sas"].values()) >= n)
    assert len(sas) == 1, "strongSwan: expected one IKE SA, got %r%s" % (sas, t.details(st))
    sa = sas[0]
    try:
        entries = peer_entries(st, PEER)
        assert len(entries) == 1, "kotetsu: expected one IKE SA for %r" % PEER
        p = entries[0]
        assert p["state"] == "established"
        k = p["ike"]
        assert k["version"] == 2
        assert sa["state"] == "ESTABLISHED"
        assert (sa.get("initiator") == "yes") == (role == "kotetsu-responds"), "roles"
        if "initiator" in k:
            assert k["initiator"] is (role == "kotetsu-initiates"), "kotetsu's role"
        assert spi_int(k["spi_i"]) == spi_int(sa["initiator-spi"]), "IKE SPIi"
        assert spi_int(k["spi_r"]) == spi_int(sa["responder-spi"]), "IKE SPIr"
        assert alg_set(k["proposal"]) == sa_alg_set(sa) == IKE_ALGS[ike], "IKE proposal"

        kids = [c for c in p.get("children") or [] if c["state"] == "installed"]
        swkids = [c for c in sa["child-sas"].values() if c["state"] == "INSTALLED"]
        assert len(kids) == len(swkids) == len(lans), "installed children"
        sw_by_out = {spi_int(c["spi-out"]): c for c in swkids}
        for c in kids:
            s = sw_by_out.get(spi_int(c["spi_in"]))
            assert s is not None, "strongSwan sends to no SPI %s (kotetsu's in)" % c["spi_in"]
            assert spi_int(c["spi_out"]) == spi_int(s["spi-in"]), "child %s SPIs" % c["name"]
            assert c["name"] == s["name"]
            assert alg_set(c["proposal"]) == sa_alg_set(s) == ESP_ALGS[esp], "ESP proposal"
            assert c["mode"] == "tunnel" and s["mode"] == "TUNNEL"
            assert c["protocol"] == "esp" and s["protocol"] == "ESP"
            l_ts, r_ts = {n: (l, r) for n, l, r in lans}[c["name"]]
            assert c["local_ts"] == s["remote-ts"] == [l_ts], "local selectors"
            assert c["remote_ts"] == s["local-ts"] == [r_ts], "remote selectors"
        spis = [spi_int(c[key]) for c in kids for key in ("spi_in", "spi_out")]
        assert len(set(spis)) == len(spis), "CHILD SPIs not distinct: %r" % spis
    except (AssertionError, KeyError, TypeError) as e:
        what = str(e) if isinstance(e, AssertionError) else "%s: %s" % (type(e).__name__, e)
        raise AssertionError("%s\nstrongSwan SA: %r%s" % (what, sa, t.details(st))) from None
    return p, sa


def assert_nothing(t, why):
    """Neither side keeps an IKE SA or CHILD SA."""
    st, sas = wait_both(t, lambda st: not established(st) and not installed(st),
                        lambda sas: not sas)
    assert not established(st) and not installed(st), \
        "kotetsu still has SAs after %s%s" % (why, t.details(st))
    assert not sas, "strongSwan still has SAs after %s%s" % (why, t.details(st))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ike,esp", SUITES, ids=[s[0] for s in SUITES])
def test_established_sas_match(interop, role, ike, esp):
    interop.configure(ike, esp)
    res = interop.establish(role)
    assert res.returncode == 0, "%s\n%s%s" % (res.stdout, res.stderr, interop.details())
    assert_same_sas(interop, role, ike, esp)


AUTH_FAILED = r"AUTHENTICATION_FAILED|auth\w*[ _-]+fail"


@pytest.mark.parametrize("role", ROLES)
def test_wrong_psk_fails_on_both_sides(interop, role):
    ike, esp = SUITES[0]
    interop.configure(ike, esp, sw_psk=WRONG_PSK)
    t = interop
    if role == "kotetsu-initiates":
        res, waited = t.kt.up(PEER, wait=WAIT)
        if waited:
            assert res.returncode != 0, "kotetsu up succeeded with a wrong PSK" + t.details()
        # strongSwan checks our AUTH first and answers AUTHENTICATION_FAILED.
        assert t.kt.wait_log(AUTH_FAILED), "kotetsud logged no authentication failure" \
            + t.details()
        assert "N(AUTH_FAILED)" in t.sw.log_text(), t.details()
    else:
        res = t.sw.initiate(CONN, "lan", timeout=WAIT)
        assert res.returncode != 0, "strongSwan established with a wrong PSK" + t.details()
        assert "AUTHENTICATION_FAILED" in res.stdout, res.stdout + t.details()
        assert t.kt.wait_log(AUTH_FAILED), "kotetsud logged no authentication failure" \
            + t.details()
    assert_nothing(t, "a wrong PSK")


OFFERED, ACCEPTED = "aes128gcm16-prfsha256-x25519", "aes256gcm16-prfsha384-ecp384"


def test_no_proposal_chosen_kotetsu_responds(interop):
    t = interop
    t.configure(OFFERED, "aes128gcm16", kt_ike=ACCEPTED)
    res = t.sw.initiate(CONN, "lan", timeout=WAIT)
    assert res.returncode != 0 and "NO_PROPOSAL_CHOSEN" in res.stdout, res.stdout + t.details()
    # The line an admin reads: "peer offered X, we accept Y", both named.
    lines = t.kt.wait_log(r"peer offered .*%s.*we accept .*%s" % (OFFERED, ACCEPTED))
    assert lines, "kotetsud did not log 'peer offered %s, we accept %s'%s" % (
        OFFERED, ACCEPTED, t.details())
    assert_nothing(t, "NO_PROPOSAL_CHOSEN")


def test_no_proposal_chosen_kotetsu_initiates(interop):
    t = interop
    t.configure(OFFERED, "aes128gcm16", sw_ike=ACCEPTED)
    res, waited = t.kt.up(PEER, wait=WAIT)
    if waited:
        assert res.returncode != 0, "kotetsu up succeeded without a common proposal" \
            + t.details()
    assert t.kt.wait_log(r"NO_PROPOSAL_CHOSEN"), "kotetsud logged no NO_PROPOSAL_CHOSEN" \
        + t.details()
    # A refusal line that names what we offered, so the admin can compare.
    lines = t.kt.log_lines(r"NO_PROPOSAL_CHOSEN|no proposal|none of our|accepts none")
    assert any(OFFERED in ln for ln in lines), \
        "kotetsud's refusal lines do not name what we offered (%s):\n%s%s" % (
            OFFERED, "\n".join(lines), t.details())
    slog = t.sw.log_text()
    assert "N(NO_PROP)" in slog and "received proposals: IKE:AES_GCM_16_128" in slog, \
        t.details()
    assert_nothing(t, "NO_PROPOSAL_CHOSEN")


@pytest.mark.parametrize("role", ROLES)
def test_second_child_sa(interop, role):
    """Two children: the first rides IKE_AUTH, the second CREATE_CHILD_SA.
    (`kotetsu up PEER` brings up every child of PEER.)"""
    ike, esp = SUITES[0]
    interop.configure(ike, esp, lans=TWO_LANS)
    res = interop.establish(role, children=("lan", "lan2"))
    assert res.returncode == 0, "%s\n%s%s" % (res.stdout, res.stderr, interop.details())
    assert_same_sas(interop, role, ike, esp, lans=TWO_LANS)
    assert "CREATE_CHILD_SA" in interop.sw.log_text(), interop.details()


@pytest.mark.parametrize("deleter", ["kotetsu-down", "swanctl-terminate"])
@pytest.mark.parametrize("role", ROLES)
def test_delete_removes_sas_on_both_sides(interop, role, deleter):
    ike, esp = SUITES[0]
    t = interop
    t.configure(ike, esp)
    res = t.establish(role)
    assert res.returncode == 0, "%s\n%s%s" % (res.stdout, res.stderr, t.details())
    assert_same_sas(t, role, ike, esp)
    if deleter == "kotetsu-down":
        res = t.kt.down(PEER)
    else:
        res = t.sw.terminate(ike=CONN, timeout=WAIT)
    assert res.returncode == 0, "%s failed: %s%s%s" % (deleter, res.stdout, res.stderr,
                                                      t.details())
    assert_nothing(t, deleter)
    slog = t.sw.log_text()
    if deleter == "kotetsu-down":
        # strongSwan learnt it from kotetsu's Delete, not from a timeout.
        assert "received DELETE for" in slog, t.details()
    else:
        # kotetsu answered strongSwan's Delete (no retransmits needed).
        after = slog[slog.find("sending DELETE for IKE_SA"):]
        assert "sending DELETE for IKE_SA" in slog and \
            "parsed INFORMATIONAL response" in after and "retransmit" not in after, \
            t.details()


@pytest.mark.parametrize("role", ROLES)
def test_nat_t_with_libipsec(interop, role):
    """kernel-libipsec fakes a NAT (NATD_S_IP that cannot match), so kotetsu
    must see one, float IKE to 4500 and encapsulate ESP in UDP."""
    ike, esp = SUITES[0]
    interop.configure(ike, esp)
    res = interop.establish(role)
    assert res.returncode == 0, "%s\n%s%s" % (res.stdout, res.stderr, interop.details())
    p, sa = assert_same_sas(interop, role, ike, esp)
    k = p["ike"]
    detail = "kotetsu peer: %r\nstrongSwan SA: %r%s" % (p, sa, interop.details())
    assert k["nat"] is True, "kotetsu should report nat: true\n" + detail
    assert port_of(k["local"]) == port_of(k["remote"]) == 4500, \
        "kotetsu's IKE endpoints should be on port 4500\n" + detail
    assert k["local"].startswith(interop.pair.left.addr + ":"), detail
    assert k["remote"].startswith(interop.pair.right.addr + ":"), detail
    assert all(c["encap"] == "udp" for c in p["children"]), \
        "kotetsu's children should have encap \"udp\"\n" + detail
    assert sa["local-port"] == sa["remote-port"] == "4500", detail
    assert all(c.get("encap") == "yes" for c in sa["child-sas"].values()), detail
