"""ESP against scapy's scapy.layers.ipsec, an implementation no one here
wrote: kotetsu seals and scapy opens, scapy seals and kotetsu opens, for
every ESP algorithm, transport and tunnel mode, IPv4 and IPv6, 32-bit and
extended sequence numbers, plain ESP and ESP in UDP (RFC 3948). Then the
refusals: tampering, replay, a stale sequence number, legacy algorithms."""

import dataclasses

import pytest
from scapy.all import IP, IPv6, TCP, UDP, IPv6ExtHdrHopByHop, HBHOptUnknown, Raw, raw
from scapy.layers.ipsec import AUTH_ALGOS, CRYPT_ALGOS, ESP, SecurityAssociation

from ktpkt import (ESP_ALGS, IN_PRIMED, IN_SEQS, INNER, MAIN_TOPOS, OUT_SEQ_START, OUTER,
                   TRANSPORT4, TUNNEL44, TUNNEL46, TUNNEL64, TUNNEL66, check_ip_header,
                   esn_icv, esp_offset, fix_nat_t_len, flip, insert_nat_t, ip_header,
                   parse_ip, run_tool, strip_nat_t)

SPI = 0xC0DE0001
NAT_T = (4500, 4500)


def packets(topo, outbound):
    """The original packets: payload sizes that need different padding
    lengths, TCP and UDP, and for IPv6 one with a hop-by-hop header (transport mode
    puts ESP after it)."""
    pair = INNER[topo.inner] if topo.tunnel else OUTER[topo.outer]
    src, dst = pair if outbound else pair[::-1]
    v = topo.inner
    pkts = [ip_header(v, src, dst) / UDP(sport=40000 + n, dport=53) / Raw(bytes(range(n)))
            for n in (0, 1, 13, 100)]
    pkts.append(ip_header(v, src, dst) / TCP(sport=40100, dport=443, flags="PA")
                / Raw(b"kotetsu " * 40))
    if v == 6:
        hbh = IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1E, optdata=b"kt")])
        pkts.append(IPv6(src=src, dst=dst) / hbh / UDP(sport=40200, dport=7) / Raw(b"hbh"))
    else:
        pkts.append(IP(src=src, dst=dst, tos=0xB8, ttl=17, flags="DF", id=0x4B54)
                    / UDP(sport=40200, dport=7) / Raw(b"v4"))
    return [raw(p) for p in pkts]


def scapy_sa(alg, topo, esn, encap, outbound_from_kotetsu):
    """scapy's end of the SA. Tunnel endpoints: kotetsu is OUTER[0]."""
    if alg.scapy_crypt not in CRYPT_ALGOS or alg.scapy_auth not in AUTH_ALGOS:
        pytest.skip("scapy lacks %s/%s" % (alg.scapy_crypt, alg.scapy_auth))
    kw = {}
    if topo.tunnel:
        src, dst = OUTER[topo.outer]
        if not outbound_from_kotetsu:
            src, dst = dst, src
        kw["tunnel_header"] = ip_header(topo.outer, src, dst)
    if encap and not scapy_nat_t_broken(topo):
        kw["nat_t_header"] = UDP(sport=NAT_T[0], dport=NAT_T[1])
    return SecurityAssociation(ESP, spi=SPI, crypt_algo=alg.scapy_crypt,
                               crypt_key=alg.ekey or None, auth_algo=alg.scapy_auth,
                               auth_key=alg.ikey or None, esn_en=esn, **kw)


def scapy_nat_t_broken(topo):
    """scapy 2.5 cannot do ESP-in-UDP over IPv6 in transport mode (ktpkt.py)."""
    return topo.outer == 6 and not topo.tunnel


def needs_esn_icv(alg, esn):
    """scapy 2.5 leaves seq_hi out of a non-AEAD ESP ICV (see ktpkt.py)."""
    return esn and not alg.aead and alg.scapy_auth != "NULL"


def icv_len(alg):
    if alg.aead:
        return CRYPT_ALGOS[alg.scapy_crypt].icv_size
    return AUTH_ALGOS[alg.scapy_auth].icv_size


def check_framing(b, topo, encap, seq, alg):
    """What scapy does not check: outer header, UDP framing, ESP fields and
    RFC 4303 §2.4 alignment."""
    check_ip_header(b)
    p = parse_ip(b)
    if topo.tunnel:
        assert (p.src, p.dst) == OUTER[topo.outer]
    if encap:
        udp = p[UDP]
        assert (udp.sport, udp.dport) == NAT_T
        assert udp.len == len(raw(udp))
        if udp.chksum != 0:  # RFC 3948 §2.1: zero, or a correct one
            q = p.copy()
            q[UDP].chksum = None
            assert udp.chksum == parse_ip(raw(q))[UDP].chksum
    else:
        assert not isinstance(p[ESP].underlayer, UDP)
    esp = p[ESP]
    assert esp.spi == SPI
    assert esp.seq == seq & 0xFFFFFFFF
    iv = CRYPT_ALGOS[alg.scapy_crypt].iv_size
    body = len(raw(esp)) - 8 - iv - icv_len(alg)
    assert body % 4 == 0
    assert body % CRYPT_ALGOS[alg.scapy_crypt].block_size == 0


def scapy_open(sa, alg, topo, b, seq, esn, encap):
    check_framing(b, topo, encap, seq, alg)
    if encap and scapy_nat_t_broken(topo):
        b = strip_nat_t(b)
    p = parse_ip(b)
    hi = seq >> 32
    if needs_esn_icv(alg, esn):
        data = raw(p[ESP])
        n = icv_len(alg)
        assert data[-n:] == esn_icv(alg, data[:-n], hi), "ICV without seq_hi (RFC 4303 §2.2.1)"
        return raw(sa.decrypt(p, verify=False, esn_en=True, esn=hi))
    return raw(sa.decrypt(p, esn_en=esn, esn=hi))


def scapy_seal(sa, alg, b, seq, esn, encap):
    lo, hi = seq & 0xFFFFFFFF, seq >> 32
    assert lo != 0, "scapy treats seq_num=0 as 'use the SA counter'"
    e = sa.encrypt(parse_ip(b), seq_num=lo, esn_en=esn, esn=hi)
    out = fix_nat_t_len(e) if sa.nat_t_header else raw(e)
    if needs_esn_icv(alg, esn):
        n = icv_len(alg)
        out = out[:-n] + esn_icv(alg, out[esp_offset(out):-n], hi)
    if encap and not sa.nat_t_header:
        out = insert_nat_t(out, *NAT_T)
    return out


CASES = [(a, t) for a in ESP_ALGS for t in MAIN_TOPOS]
CASES += [(a, t) for a in (ESP_ALGS[0], ESP_ALGS[3]) for t in (TUNNEL46, TUNNEL64)]
CASE_IDS = ["%s-%s" % c for c in CASES]
esn_param = pytest.mark.parametrize("esn", [False, True], ids=["seq32", "esn"])
encap_param = pytest.mark.parametrize("encap", [False, True], ids=["esp", "udp"])


@esn_param
@encap_param
@pytest.mark.parametrize("alg,topo", CASES, ids=CASE_IDS)
def test_kotetsu_seals_scapy_opens(alg, topo, esn, encap):
    sa = scapy_sa(alg, topo, esn, encap, outbound_from_kotetsu=True)
    originals = packets(topo, outbound=True)
    start = OUT_SEQ_START[esn]
    sealed = run_tool("seal", originals, "esp", topo, alg, SPI, esn=esn, seq=start,
                      encap=NAT_T if encap else None)
    for i, (orig, b) in enumerate(zip(originals, sealed)):
        assert isinstance(b, bytes), b
        assert scapy_open(sa, alg, topo, b, start + 1 + i, esn, encap) == orig


@esn_param
@encap_param
@pytest.mark.parametrize("alg,topo", CASES, ids=CASE_IDS)
def test_scapy_seals_kotetsu_opens(alg, topo, esn, encap):
    sa = scapy_sa(alg, topo, esn, encap, outbound_from_kotetsu=False)
    originals = packets(topo, outbound=False)
    seqs = IN_SEQS[esn][:len(originals)]
    sealed = [scapy_seal(sa, alg, b, s, esn, encap) for b, s in zip(originals, seqs)]
    opened = run_tool("open", sealed, "esp", topo, alg, SPI, esn=esn, seq=IN_PRIMED[esn],
                      encap=NAT_T if encap else None)
    assert opened == originals


@pytest.mark.parametrize("alg", ESP_ALGS, ids=str)
def test_tampered_then_replayed(alg):
    """A flipped ciphertext or ICV byte is refused as auth and must not
    move the window; the genuine packet then passes once, then is a replay."""
    sa = scapy_sa(alg, TUNNEL44, False, False, outbound_from_kotetsu=False)
    orig = packets(TUNNEL44, outbound=False)[2]
    b = scapy_seal(sa, alg, orig, 7, False, False)
    ct = esp_offset(b) + 8 + CRYPT_ALGOS[alg.scapy_crypt].iv_size
    lines = [flip(b, ct), flip(b, len(b) - 1), b, b]
    out = run_tool("open", lines, "esp", TUNNEL44, alg, SPI)
    assert out == ["error auth", "error auth", orig, "error replay"]


def test_too_old_and_window_edge():
    alg = ESP_ALGS[0]
    sa = scapy_sa(alg, TUNNEL44, False, False, outbound_from_kotetsu=False)
    orig = packets(TUNNEL44, outbound=False)[1]
    seqs = [100, 10, 69, 68, 99, 100]
    lines = [scapy_seal(sa, alg, orig, s, False, False) for s in seqs]
    out = run_tool("open", lines, "esp", TUNNEL44, alg, SPI, extra=["--window", "32"])
    assert out == [orig, "error too_old", orig, "error too_old", orig, "error replay"]


def test_unknown_spi():
    alg = ESP_ALGS[0]
    sa = scapy_sa(alg, TUNNEL44, False, False, outbound_from_kotetsu=False)
    orig = packets(TUNNEL44, outbound=False)[1]
    b = scapy_seal(sa, alg, orig, 1, False, False)
    assert run_tool("open", [b], "esp", TUNNEL44, alg, SPI + 1) == ["error no_sa"]


def test_dummy_packet_dropped():
    """Next header 59 (RFC 4303 §2.6) sealed by scapy is a dummy: dropped."""
    alg = ESP_ALGS[3]
    sa = scapy_sa(alg, TRANSPORT4, False, False, outbound_from_kotetsu=False)
    src, dst = OUTER[4][::-1]
    dummy = raw(IP(src=src, dst=dst, proto=59) / Raw(b"\0" * 16))
    real = packets(TRANSPORT4, outbound=False)[0]
    lines = [scapy_seal(sa, alg, dummy, 1, False, False),
             scapy_seal(sa, alg, real, 2, False, False)]
    assert run_tool("open", lines, "esp", TRANSPORT4, alg, SPI) == ["error dummy", real]


@pytest.mark.parametrize("alg", [a for a in ESP_ALGS if a.legacy], ids=str)
def test_legacy_needs_flag(alg):
    plain = dataclasses.replace(alg, legacy=False)
    status, out = run_tool("seal", [], "esp", TUNNEL44, plain, SPI, check=False)
    assert (status, out) == (1, ["error legacy"])


def test_seq32_exhaustion():
    """Without ESN the last number is 2^32-1 (RFC 4303 §3.3.3); no wrap."""
    alg = ESP_ALGS[0]
    sa = scapy_sa(alg, TUNNEL44, False, False, outbound_from_kotetsu=True)
    orig = packets(TUNNEL44, outbound=True)[1]
    out = run_tool("seal", [orig, orig], "esp", TUNNEL44, alg, SPI, seq=0xFFFFFFFE)
    assert out[1] == "error exhausted"
    assert scapy_open(sa, alg, TUNNEL44, out[0], 0xFFFFFFFF, False, False) == orig


@pytest.mark.parametrize("topo", [TUNNEL44, TUNNEL66], ids=str)
def test_tfc_padding(topo):
    """TFC padding (RFC 4303 §2.7) follows the inner packet inside ESP;
    scapy hands it back after the inner packet, whose length field ends it."""
    alg = ESP_ALGS[0]
    sa = scapy_sa(alg, topo, False, False, outbound_from_kotetsu=True)
    originals = packets(topo, outbound=True)[:2]
    sealed = run_tool("seal", originals, "esp", topo, alg, SPI, extra=["--tfc", "256"])
    for i, (orig, b) in enumerate(zip(originals, sealed)):
        inner = scapy_open(sa, alg, topo, b, i + 1, False, False)
        assert inner[:len(orig)] == orig
        assert len(inner) >= 256
