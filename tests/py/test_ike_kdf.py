"""IKEv2 key exchange and key schedule checked against an independent
implementation: python3-cryptography (Debian) does the X25519, P-256 and
MODP-2048 exchanges and HMAC, the RFC 7296 prf+/SKEYSEED split is written
out here, and kotetsu's side runs through the ktkdf test tool."""
import os
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import dh, ec, x25519

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "build", "tools", "ktkdf")

PRF_HASH = {5: hashes.SHA256, 6: hashes.SHA384, 7: hashes.SHA512}  # RFC 4868
PRFS = sorted(PRF_HASH)
# (encryption key incl. AEAD salt, integrity key): aes256gcm16, aes128-sha256, aes256-sha512
SUITES = [(36, 0), (16, 32), (32, 64)]
KT_ERR_INVAL, KT_ERR_MALFORMED = -1, -4

# RFC 3526 section 3, group 14.
MODP2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF", 16)


@pytest.fixture(scope="session", autouse=True)
def tool():
    subprocess.run(["make", "-s", "build/tools/ktkdf"], cwd=ROOT, check=True)


def ktkdf(*args):
    """Run the tool; return {label: bytes} (or the one unlabelled value)."""
    res = subprocess.run([TOOL, *[a.hex() if isinstance(a, bytes) else str(a) for a in args]],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = {}
    for line in res.stdout.splitlines():
        label, _, value = line.rpartition(" ")
        out[label] = bytes.fromhex(value)
    return out


def ktkdf_error(*args):
    """Run the tool expecting failure; return the KT_ERR_* code it printed."""
    res = subprocess.run([TOOL, *[a.hex() if isinstance(a, bytes) else str(a) for a in args]],
                         capture_output=True, text=True)
    assert res.returncode == 1, (res.stdout, res.stderr)
    return int(res.stderr.rsplit("(", 1)[1].rstrip(")\n"))


# ---- RFC 7296 written out, on cryptography's HMAC ----

def prf(alg, key, data):
    h = hmac.HMAC(key, PRF_HASH[alg]())
    h.update(data)
    return h.finalize()


def prf_plus(alg, key, seed, length):
    """T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n) (section 2.13)."""
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = prf(alg, key, t + seed + bytes([n]))
        out += t
        n += 1
    return out[:length]


def split(data, names_sizes):
    keys, off = {}, 0
    for name, size in names_sizes:
        keys[name] = data[off:off + size]
        off += size
    return keys


def ike_keys(alg, skeyseed, ni, nr, spi_i, spi_r, encr, integ):
    """{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} (section 2.14)."""
    p = PRF_HASH[alg].digest_size
    layout = [("sk_d", p), ("sk_ai", integ), ("sk_ar", integ), ("sk_ei", encr),
              ("sk_er", encr), ("sk_pi", p), ("sk_pr", p)]
    total = sum(size for _, size in layout)
    return split(prf_plus(alg, skeyseed, ni + nr + spi_i + spi_r, total), layout)


def child_keys(alg, sk_d, gir, ni, nr, encr, integ):
    """KEYMAT = prf+(SK_d, [g^ir |] Ni | Nr), encryption key first (section 2.17)."""
    layout = [("encr_i", encr), ("integ_i", integ), ("encr_r", encr), ("integ_r", integ)]
    return split(prf_plus(alg, sk_d, gir + ni + nr, 2 * (encr + integ)), layout)


# ---- the exchanges: Python's key pair against kotetsu's ----

def exchange_x25519():
    ours = x25519.X25519PrivateKey.generate()
    pub = ours.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kt = ktkdf("dh", 31, pub)
    assert len(kt["public"]) == 32
    secret = ours.exchange(x25519.X25519PublicKey.from_public_bytes(kt["public"]))
    return kt, secret


def exchange_p256():
    ours = ec.generate_private_key(ec.SECP256R1())
    pub = ours.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)
    kt = ktkdf("dh", 19, pub[1:])  # RFC 5903 section 7: x | y without 0x04
    assert len(kt["public"]) == 64
    theirs = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + kt["public"])
    return kt, ours.exchange(ec.ECDH(), theirs)


def exchange_modp2048():
    numbers = dh.DHParameterNumbers(MODP2048_P, 2)
    ours = numbers.parameters().generate_private_key()
    pub = ours.public_key().public_numbers().y.to_bytes(256, "big")
    kt = ktkdf("dh", 14, pub)
    assert len(kt["public"]) == 256
    theirs = dh.DHPublicNumbers(int.from_bytes(kt["public"], "big"), numbers).public_key()
    return kt, ours.exchange(theirs).rjust(256, b"\0")  # RFC 7296 section 2.14: full length


EXCHANGES = {"x25519": exchange_x25519, "ecp256": exchange_p256, "modp2048": exchange_modp2048}


@pytest.mark.parametrize("group", sorted(EXCHANGES))
def test_exchange_agrees(group):
    for _ in range(3):
        kt, secret = EXCHANGES[group]()
        assert kt["secret"] == secret


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: "encr%d-integ%d" % s)
@pytest.mark.parametrize("alg", PRFS)
@pytest.mark.parametrize("group", ["x25519", "ecp256"])
def test_ike_sa_init_keys(group, alg, suite):
    """The g^ir of a real exchange through SKEYSEED and the seven-way split."""
    kt, gir = EXCHANGES[group]()
    assert kt["secret"] == gir
    ni, nr, spi_i, spi_r = os.urandom(32), os.urandom(48), os.urandom(8), os.urandom(8)
    got = ktkdf("ike", alg, gir, ni, nr, spi_i, spi_r, *suite)
    skeyseed = prf(alg, ni + nr, gir)  # HMAC: Ni | Nr is the key as it is
    assert got == ike_keys(alg, skeyseed, ni, nr, spi_i, spi_r, *suite)


@pytest.mark.parametrize("old_alg,new_alg", [(5, 7), (7, 5), (6, 6)])
def test_ike_rekey_keys(old_alg, new_alg):
    """Section 2.18: the old SA's PRF makes SKEYSEED, the new one splits it."""
    kt, gir = exchange_x25519()
    old_sk_d = os.urandom(PRF_HASH[old_alg].digest_size)
    ni, nr, spi_i, spi_r = os.urandom(64), os.urandom(32), os.urandom(8), os.urandom(8)
    got = ktkdf("rekey", old_alg, old_sk_d, new_alg, gir, ni, nr, spi_i, spi_r, 32, 64)
    skeyseed = prf(old_alg, old_sk_d, gir + ni + nr)
    assert got == ike_keys(new_alg, skeyseed, ni, nr, spi_i, spi_r, 32, 64)


@pytest.mark.parametrize("pfs", [False, True], ids=["no-pfs", "pfs"])
@pytest.mark.parametrize("alg", PRFS)
def test_child_sa_keys(alg, pfs):
    sk_d = os.urandom(PRF_HASH[alg].digest_size)
    ni, nr = os.urandom(32), os.urandom(40)
    gir = exchange_p256()[1] if pfs else b""
    for encr, integ in SUITES:
        got = ktkdf("child", alg, sk_d, gir if pfs else "-", ni, nr, encr, integ)
        assert got == child_keys(alg, sk_d, gir, ni, nr, encr, integ)


@pytest.mark.parametrize("alg", PRFS)
def test_prf_plus_lengths(alg):
    h = PRF_HASH[alg].digest_size
    key, seed = os.urandom(h), os.urandom(70)
    for length in (1, h - 1, h, h + 1, 7 * h + 3, 255 * h):
        assert ktkdf("prfplus", alg, key, seed, length)[""] == prf_plus(alg, key, seed, length)
    assert ktkdf_error("prfplus", alg, key, seed, 255 * h + 1) == KT_ERR_INVAL


def test_rfc7748_vector_both_ways():
    """RFC 7748 section 6.1 through kotetsu's fixed-key constructor, and
    Python agreeing with it."""
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob_pub = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    k = bytes.fromhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    kt = ktkdf("dh", 31, bob_pub, alice)
    assert kt["secret"] == k
    py = x25519.X25519PrivateKey.from_private_bytes(alice)
    assert kt["public"] == py.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)


def test_bad_peer_values():
    """RFC 6989 refusals seen from outside: codes, not crashes."""
    real = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    off_curve = real[1:-1] + bytes([real[-1] ^ 1])
    assert ktkdf_error("dh", 19, off_curve) == KT_ERR_INVAL
    assert ktkdf_error("dh", 19, bytes(64)) == KT_ERR_INVAL
    assert ktkdf_error("dh", 19, real) == KT_ERR_MALFORMED  # 65 bytes: with 0x04
    assert ktkdf_error("dh", 31, bytes(32)) == KT_ERR_INVAL  # all-zero secret
    assert ktkdf_error("dh", 31, bytes(31)) == KT_ERR_MALFORMED
    p = MODP2048_P
    for y in (0, 1, p - 1, p):
        assert ktkdf_error("dh", 14, y.to_bytes(256, "big")) == KT_ERR_INVAL
