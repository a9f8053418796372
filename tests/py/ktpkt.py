"""Helpers for the scapy differential tests: the algorithm table (kotetsu's
names beside scapy's), fixed per-algorithm keys, a runner for the ktpkt
tool, and small byte-level helpers for the packets both sides exchange.

scapy 2.5 facts these helpers work around (see the comments where used):
- ESP with a non-AEAD algorithm and ESN: scapy leaves the high sequence bits
  out of the ICV (AuthAlgo.sign/verify are called without esn), contrary to
  RFC 4303 §2.2.1. esn_icv() computes the RFC's ICV with scapy's AuthAlgo.
- ESP in UDP, IPv4: scapy's encrypt() freezes the UDP length at 8 (it
  re-parses the IPv4 header before ESP is attached); fix_nat_t_len() repairs it.
- ESP in UDP, IPv6 transport mode: scapy's decrypt() cannot remove the UDP
  header, and encrypt() puts it after extension headers without fixing their
  next header. There the tests let scapy do plain ESP and add or remove the
  8-byte UDP header themselves (insert_nat_t, strip_nat_t).
"""

import hashlib
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scapy.all import IP, IPv6, UDP, raw
from scapy.layers.ipsec import AUTH_ALGOS, CRYPT_ALGOS, ESP
from scapy.utils import checksum

ROOT = Path(__file__).resolve().parents[2]
# KTPKT_TOOL runs the suite against another build (an ASan one, say).
TOOL = Path(os.environ.get("KTPKT_TOOL", ROOT / "build" / "tools" / "ktpkt"))

# Endpoints and inner hosts (documentation prefixes; never put on a wire).
OUTER = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8::1", "2001:db8::2")}
INNER = {4: ("10.1.0.1", "10.2.0.1"), 6: ("2001:db8:1::1", "2001:db8:2::1")}


@dataclass(frozen=True)
class Alg:
    """One ESP or AH algorithm suite as kotetsu and scapy name it."""
    id: str
    encr: str            # ktpkt --encr
    integ: str           # ktpkt --integ
    scapy_crypt: str     # scapy crypt_algo ("NULL" for none)
    scapy_auth: str      # scapy auth_algo ("NULL" for none)
    ekey_len: int        # key bytes, salt included for AEADs
    ikey_len: int
    legacy: bool = False

    @property
    def aead(self):
        return CRYPT_ALGOS[self.scapy_crypt].is_aead

    @property
    def ekey(self):
        return fixed_key(self.id + "/encr", self.ekey_len)

    @property
    def ikey(self):
        return fixed_key(self.id + "/integ", self.ikey_len)

    def __str__(self):
        return self.id


def fixed_key(label, n):
    """A fixed key that differs for every algorithm (and for encr/integ)."""
    out = b""
    while len(out) < n:
        out += hashlib.sha512(label.encode() + bytes([len(out)])).digest()
    return out[:n]


ESP_ALGS = [
    Alg("aes128gcm16", "aes128gcm16", "none", "AES-GCM", "NULL", 16 + 4, 0),
    Alg("aes256gcm16", "aes256gcm16", "none", "AES-GCM", "NULL", 32 + 4, 0),
    Alg("chacha20poly1305", "chacha20poly1305", "none", "CHACHA20-POLY1305", "NULL", 32 + 4, 0),
    Alg("aes128-sha256", "aes128", "sha256", "AES-CBC", "SHA2-256-128", 16, 32),
    Alg("aes128-sha384", "aes128", "sha384", "AES-CBC", "SHA2-384-192", 16, 48),
    Alg("aes256-sha256", "aes256", "sha256", "AES-CBC", "SHA2-256-128", 32, 32),
    Alg("aes256-sha384", "aes256", "sha384", "AES-CBC", "SHA2-384-192", 32, 48),
    Alg("aes256-sha512", "aes256", "sha512", "AES-CBC", "SHA2-512-256", 32, 64),
    Alg("null-sha256", "null", "sha256", "NULL", "SHA2-256-128", 0, 32),
    Alg("3des-sha1", "3des", "sha1", "3DES", "HMAC-SHA1-96", 24, 20, legacy=True),
    Alg("des-md5", "des", "md5", "DES", "HMAC-MD5-96", 8, 16, legacy=True),
    Alg("3des-md5", "3des", "md5", "3DES", "HMAC-MD5-96", 24, 16, legacy=True),
]

AH_ALGS = [
    Alg("sha256", "none", "sha256", "NULL", "SHA2-256-128", 0, 32),
    Alg("sha384", "none", "sha384", "NULL", "SHA2-384-192", 0, 48),
    Alg("sha512", "none", "sha512", "NULL", "SHA2-512-256", 0, 64),
    Alg("sha1", "none", "sha1", "NULL", "HMAC-SHA1-96", 0, 20, legacy=True),
    Alg("md5", "none", "md5", "NULL", "HMAC-MD5-96", 0, 16, legacy=True),
]


@dataclass(frozen=True)
class Topo:
    """Mode and IP versions: transport (inner == outer) or tunnel."""
    mode: str
    outer: int
    inner: int

    def __str__(self):
        if self.mode == "transport":
            return "transport%d" % self.outer
        return "tunnel%din%d" % (self.inner, self.outer)

    @property
    def tunnel(self):
        return self.mode == "tunnel"

    @property
    def endpoints(self):
        return OUTER[self.outer]


TRANSPORT4 = Topo("transport", 4, 4)
TRANSPORT6 = Topo("transport", 6, 6)
TUNNEL44 = Topo("tunnel", 4, 4)
TUNNEL66 = Topo("tunnel", 6, 6)
TUNNEL46 = Topo("tunnel", 6, 4)   # IPv4 inside IPv6
TUNNEL64 = Topo("tunnel", 4, 6)   # IPv6 inside IPv4
MAIN_TOPOS = [TRANSPORT4, TRANSPORT6, TUNNEL44, TUNNEL66]
ALL_TOPOS = MAIN_TOPOS + [TUNNEL46, TUNNEL64]


# Outbound: seq_start is the last number used. With ESN the first packets
# cross from high bits 1 to 2, so seq_hi is never zero where it counts.
OUT_SEQ_START = {False: 0, True: 0x1FFFFFFFE}
# Inbound: kotetsu's window is primed up to 0x1fffffff0 (ktpkt --seq); the
# peer then sends out of order, across the 2^32 boundary and back.
IN_PRIMED = {False: None, True: 0x1FFFFFFF0}
IN_SEQS = {False: [2, 1, 4, 3, 5, 6],
           True: [0x1FFFFFFF5, 0x200000001, 0x1FFFFFFFF, 0x200000003, 0x200000002,
                  0x1FFFFFFFA]}


class ToolError(Exception):
    pass


def run_tool(op, lines, proto, topo, alg, spi, esn=False, seq=None, encap=None,
             extra=(), check=True):
    """Run `ktpkt op` with one SA over the packets (bytes) in `lines`.
    Returns one entry per packet: bytes, or the string "error NAME".
    With check=False returns (exit status, entries) and accepts failure."""
    src, dst = topo.endpoints
    if op == "open":
        src, dst = dst, src
    args = [str(TOOL), op, "--proto", proto, "--mode", topo.mode,
            "--spi", "%x" % spi, "--encr", alg.encr, "--integ", alg.integ,
            "--src", src, "--dst", dst]
    if alg.ekey_len:
        args += ["--ekey", alg.ekey.hex()]
    if alg.ikey_len:
        args += ["--ikey", alg.ikey.hex()]
    if alg.legacy:
        args.append("--legacy")
    if esn:
        args.append("--esn")
    if seq is not None:
        args += ["--seq", "0x%x" % seq]
    if encap:
        args += ["--encap", "%d:%d" % encap]
    args += list(extra)
    stdin = "".join(b.hex() + "\n" for b in lines)
    res = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    out = [l if l.startswith("error ") else bytes.fromhex(l) for l in res.stdout.splitlines()]
    if not check:
        return res.returncode, out
    if res.returncode != 0 or len(out) != len(lines):
        raise ToolError("%s: exit %d: %s%s" % (" ".join(args), res.returncode,
                                               res.stdout, res.stderr))
    return out


def parse_ip(b):
    """A scapy packet for raw IP bytes (version from the first nibble)."""
    return (IP if b[0] >> 4 == 4 else IPv6)(b)


def ip_header(version, src, dst, **kw):
    return IP(src=src, dst=dst, **kw) if version == 4 else IPv6(src=src, dst=dst, **kw)


def flip(b, i):
    """b with one bit of byte i flipped."""
    return b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1:]


def ip_header_len(b):
    return (b[0] & 0x0F) * 4 if b[0] >> 4 == 4 else 40


def check_ip_header(b):
    """The outer header's length fields and IPv4 checksum are right (scapy
    parses without checking them)."""
    if b[0] >> 4 == 4:
        assert struct.unpack("!H", b[2:4])[0] == len(b)
        assert checksum(b[:ip_header_len(b)]) == 0
    else:
        assert struct.unpack("!H", b[4:6])[0] == len(b) - 40


def fix_ip4_csum(b):
    """IPv4 header checksum recomputed (bytes in, bytes out)."""
    b = bytearray(b)
    hl = ip_header_len(b)
    b[10:12] = b"\0\0"
    b[10:12] = struct.pack("!H", checksum(bytes(b[:hl])))
    return bytes(b)


def esn_icv(alg, data, seq_hi):
    """RFC 4303 §2.2.1: with ESN the high 32 bits of the sequence number
    follow the ESP packet in the ICV input (they are not sent). `data` is
    the ESP header, IV and ciphertext. Uses scapy's AuthAlgo."""
    auth = AUTH_ALGOS[alg.scapy_auth]
    mac = auth.new_mac(alg.ikey)
    mac.update(data + struct.pack("!L", seq_hi))
    return mac.finalize()[:auth.icv_size]


def esp_offset(b):
    """Offset of the ESP header in an ESP (or ESP-in-UDP) packet."""
    p = parse_ip(b)
    return len(b) - len(raw(p[ESP]))


def fix_nat_t_len(pkt):
    """Repair the UDP length scapy's encrypt() leaves at 8 for IPv4."""
    pkt[UDP].len = None
    return raw(pkt)


def _nh_offset(b, layer):
    """Offset of the next-header byte that announces `layer` in packet b."""
    p = parse_ip(b)
    under = p[layer].underlayer
    if isinstance(under, IP):
        return 9
    if isinstance(under, IPv6):
        return 6
    return len(b) - len(raw(under))


def _set_ip_len(b):
    if b[0] >> 4 == 4:
        b[2:4] = struct.pack("!H", len(b))
        return fix_ip4_csum(b)
    b[4:6] = struct.pack("!H", len(b) - 40)
    return bytes(b)


def strip_nat_t(b):
    """Turn ESP-in-UDP into plain ESP: drop the UDP header, fix the next
    header and the IP length (what RFC 3948 §3.1.2 has a receiver do)."""
    nh, udp = _nh_offset(b, UDP), esp_offset(b) - 8
    out = bytearray(b[:udp] + b[udp + 8:])
    out[nh] = 50
    return _set_ip_len(out)


def insert_nat_t(b, sport, dport):
    """Turn plain ESP into ESP-in-UDP (RFC 3948 §2.1: checksum zero)."""
    nh, esp = _nh_offset(b, ESP), esp_offset(b)
    udp = struct.pack("!HHHH", sport, dport, 8 + len(b) - esp, 0)
    out = bytearray(b[:esp] + udp + b[esp:])
    out[nh] = 17
    return _set_ip_len(out)
