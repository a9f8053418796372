"""AH against scapy's scapy.layers.ipsec: scapy zeroes the mutable header
fields itself (RFC 4302 §3.3.3.1), so it is the oracle for kotetsu's
mutable-field handling: TOS/ECN, DF, TTL, IPv4 options (Record Route
mutable, Router Alert not), IPv6 traffic class, flow label, hop limit and
hop-by-hop options with the change-en-route bit. Both directions, transport
and tunnel, IPv4 and IPv6, ESN; then AH+ESP bundles and the refusals."""

from unittest import mock

import pytest
import scapy.layers.ipsec
from scapy.all import (IP, TCP, UDP, HBHOptUnknown, IPOption_Router_Alert, IPOption_RR,
                       IPv6, IPv6ExtHdrHopByHop, Packet, Raw, RouterAlert, raw)
from scapy.layers.ipsec import AH, AUTH_ALGOS, ESP, SecurityAssociation

from ktpkt import (AH_ALGS, ESP_ALGS, IN_PRIMED, IN_SEQS, INNER, MAIN_TOPOS, OUT_SEQ_START,
                   OUTER, TRANSPORT4, TRANSPORT6, TUNNEL46, TUNNEL64, check_ip_header,
                   fix_ip4_csum, flip, ip_header, ip_header_len, parse_ip, run_tool)

SPI = 0xA4000001
ESP_SPI = 0xE5000001
RR_EMPTY = b"\x07\x07\x04"          # Record Route, pointer at the first free slot
MUTABLE_V6_OPT = b"\x3e\x04"        # option type 0x3e: change-en-route bit set


def packets(version, src, dst):
    """Packets whose IP headers carry every kind of field AH cares about."""
    if version == 4:
        special = [
            IP(src=src, dst=dst, tos=0xB8, ttl=17, flags="DF", id=0x4B54)
            / TCP(sport=40100, dport=443, flags="PA") / Raw(b"kotetsu " * 9),
            IP(src=src, dst=dst, options=[IPOption_RR(routers=["0.0.0.0"]),
                                          IPOption_Router_Alert()])
            / UDP(sport=40200, dport=7) / Raw(b"options"),
        ]
    else:
        hbh = IPv6ExtHdrHopByHop(options=[RouterAlert(),
                                          HBHOptUnknown(otype=0x3E, optdata=b"abcd")])
        special = [
            IPv6(src=src, dst=dst, tc=0xB8, fl=0x12345, hlim=17)
            / TCP(sport=40100, dport=443, flags="PA") / Raw(b"kotetsu " * 9),
            IPv6(src=src, dst=dst) / hbh / UDP(sport=40200, dport=7) / Raw(b"hop-by-hop"),
        ]
    plain = [ip_header(version, src, dst) / UDP(sport=40000 + n, dport=53)
             / Raw(bytes(range(n))) for n in (0, 13, 100)]
    return [raw(p) for p in plain + special]


def topo_packets(topo, outbound):
    pair = INNER[topo.inner] if topo.tunnel else OUTER[topo.outer]
    src, dst = pair if outbound else pair[::-1]
    return packets(topo.inner, src, dst)


def route(b):
    """What routers may do on the way: change only the mutable fields."""
    b = bytearray(b)
    if b[0] >> 4 == 4:
        b[1] ^= 0x03          # ECN: congestion experienced
        b[6] |= 0x40          # a router sets DF
        b[8] -= 1             # TTL
        i = bytes(b).find(RR_EMPTY, 20, ip_header_len(b))
        if i >= 0:            # Record Route: a router writes its address
            b[i + 2] = 8
            b[i + 3:i + 7] = bytes([198, 51, 100, 7])
        return fix_ip4_csum(b)
    b[1] ^= 0x30              # ECN bits of the traffic class
    b[3] ^= 0x5A              # flow label
    b[7] -= 1                 # hop limit
    if b[6] == 0:             # hop-by-hop header: rewrite the mutable option
        i = bytes(b).find(MUTABLE_V6_OPT, 42, 40 + 8 * (b[41] + 1))
        if i >= 0:
            b[i + 2:i + 6] = b"WXYZ"
    return bytes(b)


def scapy_sa(alg, topo, esn, kotetsu_sends):
    if alg.scapy_auth not in AUTH_ALGOS:
        pytest.skip("scapy lacks %s" % alg.scapy_auth)
    kw = {}
    if topo.tunnel:
        src, dst = OUTER[topo.outer]
        kw["tunnel_header"] = ip_header(topo.outer, *((src, dst) if kotetsu_sends else (dst, src)))
    return SecurityAssociation(AH, spi=SPI, auth_algo=alg.scapy_auth, auth_key=alg.ikey,
                               esn_en=esn, **kw)


def check_ah(b, topo, alg, seq):
    """What scapy does not check: AH fields and RFC 4302 §3.3.3.2.1 length
    alignment (32 bits over IPv4, 64 bits over IPv6)."""
    check_ip_header(b)
    p = parse_ip(b)
    ah = p[AH]
    assert (ah.spi, ah.seq, ah.reserved) == (SPI, seq & 0xFFFFFFFF, 0)
    icv = AUTH_ALGOS[alg.scapy_auth].icv_size
    align = 8 if topo.outer == 6 else 4
    assert (ah.payloadlen + 2) * 4 == 12 + icv + (-(12 + icv) % align)
    if topo.tunnel:
        assert (p.src, p.dst) == OUTER[topo.outer]
        assert ah.nh == (4 if topo.inner == 4 else 41)


def scapy_open(sa, b, seq, esn):
    return raw(sa.decrypt(parse_ip(b), esn_en=esn, esn=seq >> 32))


def scapy_seal(sa, b, seq, esn):
    assert seq & 0xFFFFFFFF, "scapy treats seq_num=0 as 'use the SA counter'"
    return raw(sa.encrypt(parse_ip(b), seq_num=seq & 0xFFFFFFFF, esn_en=esn, esn=seq >> 32))


def expected(topo, orig, routed):
    """After opening: tunnel mode gives the untouched inner packet; transport
    mode the packet with the routers' changes still in its header."""
    return route(orig) if routed and not topo.tunnel else orig


CASES = [(a, t) for a in AH_ALGS for t in MAIN_TOPOS]
CASES += [(AH_ALGS[0], t) for t in (TUNNEL46, TUNNEL64)]
CASE_IDS = ["%s-%s" % c for c in CASES]
esn_param = pytest.mark.parametrize("esn", [False, True], ids=["seq32", "esn"])
routed_param = pytest.mark.parametrize("routed", [False, True], ids=["direct", "routed"])


@esn_param
@routed_param
@pytest.mark.parametrize("alg,topo", CASES, ids=CASE_IDS)
def test_kotetsu_seals_scapy_opens(alg, topo, esn, routed):
    sa = scapy_sa(alg, topo, esn, kotetsu_sends=True)
    originals = topo_packets(topo, outbound=True)
    start = OUT_SEQ_START[esn]
    sealed = run_tool("seal", originals, "ah", topo, alg, SPI, esn=esn, seq=start)
    for i, (orig, b) in enumerate(zip(originals, sealed)):
        assert isinstance(b, bytes), b
        check_ah(b, topo, alg, start + 1 + i)
        if routed:
            b = route(b)
        assert scapy_open(sa, b, start + 1 + i, esn) == expected(topo, orig, routed)


@esn_param
@routed_param
@pytest.mark.parametrize("alg,topo", CASES, ids=CASE_IDS)
def test_scapy_seals_kotetsu_opens(alg, topo, esn, routed):
    sa = scapy_sa(alg, topo, esn, kotetsu_sends=False)
    originals = topo_packets(topo, outbound=False)
    seqs = IN_SEQS[esn][:len(originals)]
    sealed = [scapy_seal(sa, b, s, esn) for b, s in zip(originals, seqs)]
    if routed:
        sealed = [route(b) for b in sealed]
    opened = run_tool("open", sealed, "ah", topo, alg, SPI, esn=esn, seq=IN_PRIMED[esn])
    assert opened == [expected(topo, b, routed) for b in originals]


def edit_v4_id(b):
    return fix_ip4_csum(b[:4] + b"\x12\x34" + b[6:])


def edit_v4_router_alert(b):
    i = b.find(b"\x94\x04\x00\x00", 20, ip_header_len(b))
    assert i > 0
    return fix_ip4_csum(b[:i + 3] + b"\x01" + b[i + 4:])


def edit_v6_router_alert(b):
    i = b.find(b"\x05\x02\x00\x00", 40)
    assert i > 0
    return b[:i + 3] + b"\x01" + b[i + 4:]


def edit_src(b):
    return fix_ip4_csum(flip(b, 15)) if b[0] >> 4 == 4 else flip(b, 23)


def edit_payload(b):
    return flip(b, len(b) - 1)


def edit_icv(b):
    return flip(b, len(b) - len(raw(parse_ip(b)[AH])) + 12)


IMMUTABLE = [  # (topology, index into packets(), edit): each must be refused
    (TRANSPORT4, 3, edit_v4_id), (TRANSPORT4, 4, edit_v4_router_alert),
    (TRANSPORT4, 0, edit_src), (TRANSPORT4, 1, edit_payload), (TRANSPORT4, 2, edit_icv),
    (TRANSPORT6, 4, edit_v6_router_alert), (TRANSPORT6, 0, edit_src),
    (TRANSPORT6, 1, edit_payload), (TRANSPORT6, 2, edit_icv),
]


@pytest.mark.parametrize("topo,index,edit", IMMUTABLE,
                         ids=["%s-%s" % (t, e.__name__[5:]) for t, _, e in IMMUTABLE])
def test_immutable_change_refused_then_replay(topo, index, edit):
    """An edited immutable byte is an auth failure that leaves the window
    alone: the genuine packet passes after it, once."""
    alg = AH_ALGS[0]
    sa = scapy_sa(alg, topo, False, kotetsu_sends=False)
    orig = topo_packets(topo, outbound=False)[index]
    b = scapy_seal(sa, orig, 5, False)
    out = run_tool("open", [edit(b), b, b], "ah", topo, alg, SPI)
    assert out == ["error auth", orig, "error replay"]


def test_unknown_spi():
    alg = AH_ALGS[0]
    sa = scapy_sa(alg, TRANSPORT4, False, kotetsu_sends=False)
    b = scapy_seal(sa, topo_packets(TRANSPORT4, outbound=False)[0], 1, False)
    assert run_tool("open", [b], "ah", TRANSPORT4, alg, SPI + 1) == ["error no_sa"]


def esp_sa_scapy(alg):
    return SecurityAssociation(ESP, spi=ESP_SPI, crypt_algo=alg.scapy_crypt,
                               crypt_key=alg.ekey or None, auth_algo=alg.scapy_auth,
                               auth_key=alg.ikey or None)


BUNDLES = [(e, a, t) for e, a in ((ESP_ALGS[0], AH_ALGS[0]), (ESP_ALGS[3], AH_ALGS[1]))
           for t in (TRANSPORT4, TRANSPORT6)]
BUNDLE_IDS = ["%s+%s-%s" % b for b in BUNDLES]


@pytest.mark.parametrize("esp_alg,ah_alg,topo", BUNDLES, ids=BUNDLE_IDS)
def test_bundle_kotetsu_seals_scapy_opens(esp_alg, ah_alg, topo):
    """Transport AH+ESP (RFC 4301 §4.5): ESP applied first, AH outside it."""
    originals = topo_packets(topo, outbound=True)
    inner = run_tool("seal", originals, "esp", topo, esp_alg, ESP_SPI)
    sealed = run_tool("seal", inner, "ah", topo, ah_alg, SPI)
    ah_sa = scapy_sa(ah_alg, topo, False, kotetsu_sends=True)
    esp_sa = esp_sa_scapy(esp_alg)
    for i, (orig, b) in enumerate(zip(originals, sealed)):
        check_ah(b, topo, ah_alg, i + 1)
        assert parse_ip(b)[AH].nh == 50
        esp_pkt = scapy_open(ah_sa, b, i + 1, False)
        assert raw(esp_sa.decrypt(parse_ip(esp_pkt))) == orig


class _NotESP(Packet):
    name = "never present"


def scapy_seal_ah_over_esp(sa, b, seq):
    """scapy 2.5's AuthAlgo.sign tests haslayer(ESP) before AH, so around an
    ESP packet it would sign ESP and leave AH's ICV zero. While it seals,
    make that test miss; everything else is scapy's own AH."""
    with mock.patch.object(scapy.layers.ipsec, "ESP", _NotESP):
        return scapy_seal(sa, b, seq, False)


@pytest.mark.parametrize("esp_alg,ah_alg,topo", BUNDLES, ids=BUNDLE_IDS)
def test_bundle_scapy_seals_kotetsu_opens(esp_alg, ah_alg, topo):
    originals = topo_packets(topo, outbound=False)
    ah_sa = scapy_sa(ah_alg, topo, False, kotetsu_sends=False)
    esp_sa = esp_sa_scapy(esp_alg)
    sealed = [scapy_seal_ah_over_esp(ah_sa, raw(esp_sa.encrypt(parse_ip(b), seq_num=i + 1)), i + 1)
              for i, b in enumerate(originals)]
    for b in sealed:  # scapy itself accepts what it sealed
        assert parse_ip(scapy_open(ah_sa, b, 1, False)).haslayer(ESP)
    esp_pkts = run_tool("open", sealed, "ah", topo, ah_alg, SPI)
    assert all(isinstance(b, bytes) and parse_ip(b).haslayer(ESP) for b in esp_pkts), esp_pkts
    assert run_tool("open", esp_pkts, "esp", topo, esp_alg, ESP_SPI) == originals
