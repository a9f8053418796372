"""IKEv2 Encrypted payload protection, PSK AUTH and NAT-D checked against an
independent implementation: python3-cryptography (Debian) does AES-GCM,
ChaCha20-Poly1305, AES-CBC, 3DES and HMAC; the RFC 7296 section 3.14 /
RFC 5282 framing, the section 2.15 AUTH value and the section 2.23 hash are
written out here. kotetsu's side runs through the ktike test tool: messages
it seals are parsed, verified and decrypted here, and messages sealed here
are opened by it."""
import hashlib
import ipaddress
import os
import struct
import subprocess
import warnings

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build", "tools", "ktike")
KT_ERR_AUTH = -8

HDR_LEN = 28          # RFC 7296 section 3.1
PL_SK = 46            # section 3.14
SALT_LEN = 4          # RFC 5282 section 7.1, RFC 7634 section 2
AEAD_IV, AEAD_ICV = 8, 16


class Suite:
    def __init__(self, name, encr, bits, integ, ekey, ikey, iv, icv, block):
        self.name, self.encr, self.bits, self.integ = name, encr, bits, integ
        self.ekey, self.ikey, self.iv, self.icv, self.block = ekey, ikey, iv, icv, block
        self.aead = integ == 0

    def __repr__(self):
        return self.name


SUITES = [
    Suite("aes128gcm16", 20, 128, 0, 20, 0, AEAD_IV, AEAD_ICV, 1),
    Suite("aes256gcm16", 20, 256, 0, 36, 0, AEAD_IV, AEAD_ICV, 1),
    Suite("chacha20poly1305", 28, 0, 0, 36, 0, AEAD_IV, AEAD_ICV, 1),
    Suite("aes128-sha256", 12, 128, 12, 16, 32, 16, 16, 16),
    Suite("aes128-sha384", 12, 128, 13, 16, 48, 16, 24, 16),
    Suite("aes128-sha512", 12, 128, 14, 16, 64, 16, 32, 16),
    Suite("aes256-sha256", 12, 256, 12, 32, 32, 16, 16, 16),
    Suite("aes256-sha384", 12, 256, 13, 32, 48, 16, 24, 16),
    Suite("aes256-sha512", 12, 256, 14, 32, 64, 16, 32, 16),
    Suite("3des-sha1", 3, 0, 2, 24, 20, 8, 12, 8),
]
INTEG_HASH = {2: hashes.SHA1, 12: hashes.SHA256, 13: hashes.SHA384, 14: hashes.SHA512}
PRF_HASH = {2: hashes.SHA1, 5: hashes.SHA256, 6: hashes.SHA384, 7: hashes.SHA512}


@pytest.fixture(scope="module", autouse=True)
def tool():
    subprocess.run(["make", "-s", "build/tools/ktike"], cwd=ROOT, check=True)


def run(*args):
    return subprocess.run([TOOL, *[a.hex() if isinstance(a, bytes) else str(a) for a in args]],
                          capture_output=True, text=True)


def ktike(*args):
    res = run(*args)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def ktike_error(*args):
    """Run the tool expecting failure; return the KT_ERR_* code it printed."""
    res = run(*args)
    assert res.returncode == 1, (res.stdout, res.stderr)
    return int(res.stderr.rsplit("(", 1)[1].rstrip(")\n"))


# ---- the primitives, on python3-cryptography ----

def hmac_full(alg, key, data):
    h = hmac.HMAC(key, alg())
    h.update(data)
    return h.finalize()


def cbc(suite, key, iv, data, encrypt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TripleDES is deprecated in newer releases
        algo = algorithms.TripleDES(key) if suite.encr == 3 else algorithms.AES(key)
        c = Cipher(algo, modes.CBC(iv))
    op = c.encryptor() if encrypt else c.decryptor()
    return op.update(data) + op.finalize()


def aead(suite, sk_e):
    key = sk_e[:-SALT_LEN]
    return (ChaCha20Poly1305(key) if suite.encr == 28 else AESGCM(key)), sk_e[-SALT_LEN:]


# ---- RFC 7296 framing, written out ----

def walk(first, data):
    """Generic payload headers (section 3.2): [(type, body)]. SK must be
    last; its next-payload field names its first inner payload."""
    out, nxt, off = [], first, 0
    while nxt != 0 and (not out or out[-1][0] != PL_SK):
        assert off + 4 <= len(data)
        following, _crit, plen = data[off], data[off + 1], struct.unpack(">H", data[off + 2:off + 4])[0]
        assert 4 <= plen <= len(data) - off
        out.append((nxt, data[off + 4:off + plen]))
        nxt, off = following, off + plen
    assert off == len(data)
    return out


def chain(payloads, last_next=0):
    """Encode [(type, body)] as a payload chain; returns (first type, bytes)."""
    data = b""
    for i, (_t, body) in enumerate(payloads):
        nxt = payloads[i + 1][0] if i + 1 < len(payloads) else last_next
        data += struct.pack(">BBH", nxt, 0, 4 + len(body)) + body
    return (payloads[0][0] if payloads else 0), data


def open_sk(suite, msg, sk_e, sk_a):
    """Check, verify and decrypt a sealed message; return its inner payloads."""
    assert len(msg) >= HDR_LEN and struct.unpack(">I", msg[24:28])[0] == len(msg)
    outer = walk(msg[16], msg[HDR_LEN:])
    assert outer[-1][0] == PL_SK
    sk_start = len(msg) - len(outer[-1][1]) - 4          # its generic header
    inner_first = msg[sk_start]
    iv_off = sk_start + 4
    ct_off, icv_off = iv_off + suite.iv, len(msg) - suite.icv
    iv, ct, icv = msg[iv_off:ct_off], msg[ct_off:icv_off], msg[icv_off:]
    if suite.aead:
        cipher, salt = aead(suite, sk_e)
        # RFC 5282 section 5.1: AAD = IKE header through the SK payload header.
        plain = cipher.decrypt(salt + iv, ct + icv, msg[:iv_off])
    else:
        assert len(ct) % suite.block == 0
        assert hmac_full(INTEG_HASH[suite.integ], sk_a, msg[:icv_off])[:suite.icv] == icv
        plain = cbc(suite, sk_e, iv, ct, False)
    pad = plain[-1]
    assert pad < suite.block  # the minimum kotetsu writes
    return iv, walk(inner_first, plain[:-1 - pad])


def seal_sk(suite, payloads, sk_e, sk_a, from_initiator=True, extra_pad=0, iv=None):
    """Our own sealed IKE_AUTH message (random padding bytes, as allowed)."""
    first, inner = chain(payloads)
    pad = (-(len(inner) + 1)) % suite.block + extra_pad * suite.block
    plain = inner + os.urandom(pad) + bytes([pad])
    iv = iv if iv is not None else os.urandom(suite.iv)
    sk_len = 4 + suite.iv + len(plain) + suite.icv
    flags = 0x08 if from_initiator else 0x20
    hdr = os.urandom(16) + struct.pack(">BBBBII", PL_SK, 0x20, 35, flags, 1, HDR_LEN + sk_len)
    aad = hdr + struct.pack(">BBH", first, 0, sk_len)
    if suite.aead:
        cipher, salt = aead(suite, sk_e)
        return aad + iv + cipher.encrypt(salt + iv, plain, aad)
    ct = cbc(suite, sk_e, iv, plain, True)
    icv = hmac_full(INTEG_HASH[suite.integ], sk_a, aad + iv + ct)[:suite.icv]
    return aad + iv + ct + icv


def sample_payloads(vid_len):
    ts4 = struct.pack(">B3xBBHHH", 1, 7, 0, 16, 0, 65535) + bytes([10, 1, 0, 0, 10, 1, 0, 255])
    pls = [
        (35, b"\x02\x00\x00\x00site-a.example"),                 # IDi, FQDN
        (39, b"\x02\x00\x00\x00" + os.urandom(32)),              # AUTH, PSK
        (41, struct.pack(">BBH", 0, 0, 16384)),                  # N(INITIAL_CONTACT)
        (44, ts4), (45, ts4),                                    # TSi, TSr
    ]
    if vid_len:
        pls.append((43, os.urandom(vid_len)))                    # VID
    return pls


def keys(suite):
    return os.urandom(suite.ekey), os.urandom(suite.ikey)


def args(suite, role, sk_e, sk_a):
    return [role, suite.encr, suite.bits, suite.integ, sk_e, sk_a]


def payload_args(pls):
    return ["%d:%s" % (t, b.hex()) for t, b in pls]


# ---- kotetsu seals, Python opens ----

@pytest.mark.parametrize("role", ["i", "r"])
@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_kotetsu_seals(suite, role):
    sk_e, sk_a = keys(suite)
    for vid_len in range(0, 2 * suite.block + 2):
        pls = sample_payloads(vid_len)
        msg = bytes.fromhex(ktike("seal", *args(suite, role, sk_e, sk_a), 1,
                                  *payload_args(pls))[0].split()[1])
        assert msg[19] & 0x08 == (0x08 if role == "i" else 0)
        _iv, inner = open_sk(suite, msg, sk_e, sk_a)
        assert inner == pls


@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_kotetsu_ivs(suite):
    """AEAD: a 64-bit counter from 0 (RFC 5282 section 3: unique under the
    key); CBC: random, so never repeated."""
    sk_e, sk_a = keys(suite)
    lines = ktike("seal", *args(suite, "i", sk_e, sk_a), 40, *payload_args(sample_payloads(3)))
    ivs = [open_sk(suite, bytes.fromhex(line.split()[1]), sk_e, sk_a)[0] for line in lines]
    if suite.aead:
        assert ivs == [struct.pack(">Q", n) for n in range(40)]
    else:
        assert len(set(ivs)) == len(ivs)


@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_kotetsu_sealed_with_other_key_fails_here(suite):
    sk_e, sk_a = keys(suite)
    msg = bytes.fromhex(ktike("seal", *args(suite, "i", sk_e, sk_a), 1,
                              *payload_args(sample_payloads(1)))[0].split()[1])
    other_e, other_a = keys(suite)
    with pytest.raises(Exception):
        open_sk(suite, msg, other_e if suite.aead else sk_e, sk_a if suite.aead else other_a)


# ---- Python seals, kotetsu opens ----

def kt_open(suite, role, sk_e, sk_a, msg):
    lines = ktike("open", *args(suite, role, sk_e, sk_a), msg)
    first = int(lines[0].split()[1])
    pls = []
    for line in lines[1:]:
        _, t, *body = line.split()
        pls.append((int(t), bytes.fromhex(body[0] if body else "")))
    return first, pls


@pytest.mark.parametrize("receiver", ["r", "i"])
@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_kotetsu_opens(suite, receiver):
    sk_e, sk_a = keys(suite)
    for vid_len, extra in [(0, 0), (1, 0), (5, 1), (17, 3), (40, 0)]:
        pls = sample_payloads(vid_len)
        msg = seal_sk(suite, pls, sk_e, sk_a, from_initiator=receiver == "r", extra_pad=extra)
        first, got = kt_open(suite, receiver, sk_e, sk_a, msg)
        assert first == pls[0][0]
        assert got == pls


@pytest.mark.parametrize("suite", SUITES, ids=repr)
def test_kotetsu_refuses_tampering(suite):
    """One flipped bit in each region: header, SK header, IV, ciphertext,
    ICV. Lengths stay intact so the codec accepts the message."""
    sk_e, sk_a = keys(suite)
    pls = sample_payloads(4)
    msg = seal_sk(suite, pls, sk_e, sk_a)
    iv_off = HDR_LEN + 4  # the SK payload is the only one
    ct_off = iv_off + suite.iv
    regions = {"spi": 3, "msgid": 23, "sk-critical": HDR_LEN + 1, "iv": iv_off,
               "ct": ct_off + 1, "ct-last": len(msg) - suite.icv - 1, "icv": len(msg) - 1}
    for name, off in regions.items():
        bad = bytearray(msg)
        bad[off] ^= 0x01
        assert ktike_error("open", *args(suite, "r", sk_e, sk_a), bytes(bad)) == KT_ERR_AUTH, name
    assert kt_open(suite, "r", sk_e, sk_a, msg)[1] == pls
    other_e, other_a = keys(suite)
    assert ktike_error("open", *args(suite, "r", other_e, other_a), msg) == KT_ERR_AUTH


def test_rfc7634_chacha_in_ike():
    """RFC 7634 section 3 keeps RFC 5282's AAD; a fixed IV shows kotetsu
    uses the salt | IV nonce too (any IV is acceptable on receipt)."""
    suite = SUITES[2]
    sk_e = bytes(range(32)) + b"\xa0\xa1\xa2\xa3"
    pls = sample_payloads(2)
    msg = seal_sk(suite, pls, sk_e, b"", iv=b"\x00\x00\x00\x00\x00\x00\x00\x2a")
    assert kt_open(suite, "r", sk_e, b"", msg)[1] == pls


# ---- PSK AUTH (RFC 7296 section 2.15) ----

def psk_auth(alg, psk, real_msg, nonce, sk_p, id_body):
    h = PRF_HASH[alg]
    key = hmac_full(h, psk, b"Key Pad for IKEv2")
    return hmac_full(h, key, real_msg + nonce + hmac_full(h, sk_p, id_body))


@pytest.mark.parametrize("alg", sorted(PRF_HASH))
def test_psk_auth(alg):
    size = PRF_HASH[alg].digest_size
    for psk_len, msg_len in [(1, 300), (16, 500), (64, 1200), (200, 256)]:
        psk, real_msg = os.urandom(psk_len), os.urandom(msg_len)
        nonce, sk_p = os.urandom(32), os.urandom(size)
        id_body = b"\x01\x00\x00\x00" + os.urandom(4)  # ID_IPV4_ADDR
        want = psk_auth(alg, psk, real_msg, nonce, sk_p, id_body)
        got = bytes.fromhex(ktike("psk", alg, psk, real_msg, nonce, sk_p, id_body)[0])
        assert got == want
        ktike("psk", alg, psk, real_msg, nonce, sk_p, id_body, want)
        bad = bytes([want[0] ^ 1]) + want[1:]
        assert ktike_error("psk", alg, psk, real_msg, nonce, sk_p, id_body, bad) == KT_ERR_AUTH
        assert ktike_error("psk", alg, psk + b"x", real_msg, nonce, sk_p, id_body,
                           want) == KT_ERR_AUTH
        assert ktike_error("psk", alg, psk, real_msg, nonce, sk_p, id_body,
                           want[:-1]) == KT_ERR_AUTH


# ---- NAT-D (RFC 7296 section 2.23) ----

@pytest.mark.parametrize("addr", ["192.0.2.1", "10.255.0.7", "2001:db8::1", "fe80::1:2:3:4"])
def test_natd(addr):
    for spi_r in (0, int.from_bytes(os.urandom(8), "big")):
        spi_i = int.from_bytes(os.urandom(8), "big")
        port = int.from_bytes(os.urandom(2), "big")
        want = hashlib.sha1(struct.pack(">QQ", spi_i, spi_r) + ipaddress.ip_address(addr).packed
                            + struct.pack(">H", port)).digest()
        got = ktike("natd", "%016x" % spi_i, "%016x" % spi_r, addr, port)[0]
        assert bytes.fromhex(got) == want
