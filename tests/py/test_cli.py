"""kotetsu (the CLI) and kotetsud without an IKE peer: offline checks of
configurations and PSK files, genpsk, usage and exit codes, the CLI against
no daemon and against a scripted stand-in (up --wait, keys --wireshark
checked by tshark decrypting packets scapy and python3-cryptography made),
and a real daemon alone in a fresh network namespace: status --json,
refused commands, reload with a broken file, a second daemon, stray
datagrams on 4500, SIGHUP and SIGTERM.

KOTETSU_BIN_DIR runs the suite against other binaries (the ASan build:
build/asan-bin after `make bins-asan`)."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("KOTETSU_BIN_DIR", ROOT / "build"))
KOTETSU = BIN_DIR / "kotetsu"
KOTETSUD = BIN_DIR / "kotetsud"
VERBS = ["check", "up", "down", "status", "reload", "genpsk", "keys"]
WAIT = 10  # seconds: the bound on every wait for the daemon


@pytest.fixture(scope="module", autouse=True)
def binaries():
    if "KOTETSU_BIN_DIR" not in os.environ:
        res = subprocess.run(["make", "-s", "build/kotetsu", "build/kotetsud"], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
        if res.returncode != 0:
            pytest.fail("building kotetsu and kotetsud failed:\n" + res.stdout + res.stderr,
                        pytrace=False)


def kt(*args, timeout=30, input=None):
    return subprocess.run([str(KOTETSU), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, input=input)


@pytest.fixture
def tmp():
    """A short private directory (socket paths must fit 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="ktcli"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def secret_file(path, content, mode=0o600):
    path.write_bytes(content)
    path.chmod(mode)
    return path


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# ---- check --------------------------------------------------------------

GOOD = """\
[daemon]
socket = {d}/run/kd.sock
pidfile = {d}/run/kd.pid

[peer site-b]
local = 192.0.2.1
remote = 192.0.2.2
psk = file:{d}/site-b.psk

[child site-b/lan]
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24

[child site-b/dmz]
local-ts = 10.1.1.0/24
remote-ts = 10.2.1.0/24

[peer road]
remote = any
remote-id = @road.example
psk = "a long enough quoted secret"

[child road/host]
mode = transport
"""


def good_conf(d):
    secret_file(d / "site-b.psk", b"0x" + b"ab" * 32 + b"\n")
    conf = d / "kotetsu.conf"
    conf.write_text(GOOD.format(d=d))
    return conf


def test_check_valid(tmp):
    conf = good_conf(tmp)
    res = kt("check", "-c", conf)
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{conf}: 2 peers, 3 children, OK\n"
    assert res.stderr == ""


def test_check_global_c_option(tmp):
    conf = good_conf(tmp)
    res = kt("-c", conf, "check")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{conf}: 2 peers")


def test_check_lists_every_error_with_its_line(tmp):
    conf = tmp / "bad.conf"
    conf.write_text("[daemon]\n"                    # 1
                    "log-level = loud\n"            # 2
                    "\n"                            # 3
                    "[peer a]\n"                    # 4
                    "remote = 192.0.2.2\n"          # 5
                    "psk = 0x00112233445566778899aabbccddeeff\n"  # 6
                    "colour = blue\n"               # 7
                    "ike = aes256gcm16-nonsense-x25519\n"  # 8
                    "[child a/lan]\n"               # 9
                    "mode = sideways\n"             # 10
                    "local-ts = 10.1.0.0/33\n"      # 11
                    "remote-ts = 10.2.0.0/24\n"     # 12
                    "[child nobody/x]\n")           # 13
    res = kt("check", "-c", conf)
    assert res.returncode == 1
    assert res.stdout == ""
    errors = [line for line in res.stderr.splitlines() if not line.startswith("kotetsu:")]
    lines = sorted(int(re.match(re.escape(str(conf)) + r":(\d+): ", e).group(1)) for e in errors)
    assert lines == [2, 7, 8, 10, 11, 13], res.stderr
    assert res.stderr.splitlines()[-1] == f"kotetsu: {conf}: 6 errors"


def test_check_warnings_keep_exit_zero(tmp):
    conf = tmp / "weak.conf"
    conf.write_text("[peer a]\nremote = 192.0.2.2\npsk = \"short\"\n")
    res = kt("check", "-c", conf)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(re.escape(str(conf)) + r":3: warning: psk has only 5 characters.*\n",
                        res.stderr)
    assert res.stdout == f"{conf}: 1 peer, 0 children, OK (1 warning)\n"


def test_check_missing_file(tmp):
    res = kt("check", "-c", tmp / "nope.conf")
    assert res.returncode == 1
    assert f"{tmp}/nope.conf: No such file or directory" in res.stderr


PSK_CONF = "[peer a]\nremote = 192.0.2.2\npsk = file:{path}\n"


@pytest.mark.parametrize("mode,why", [
    (0o644, "readable by others (mode 0644); chmod 600 it"),
    (0o640, "readable by group (mode 0640); chmod 600 it"),
    (0o602, "writable by others (mode 0602); chmod 600 it"),
    (0o620, "writable by group (mode 0620); chmod 600 it"),
])
def test_check_refuses_exposed_psk_file(tmp, mode, why):
    psk = secret_file(tmp / "a.psk", b"0x" + b"11" * 32 + b"\n", mode)
    conf = tmp / "k.conf"
    conf.write_text(PSK_CONF.format(path=psk))
    res = kt("check", "-c", conf)
    assert res.returncode == 1
    assert f"{conf}:3: {psk}: {why}\n" in res.stderr


@pytest.mark.parametrize("content,message", [
    (None, "No such file or directory"),
    (b"", "empty"),
    (b"\n", "empty"),
    (b"0xabc\n", "starts with 0x but is not pairs of hex digits"),
    (b"0x" + b"ab" * 257, "secret longer than 256 bytes"),
    (b"x" * 600, "secret longer than 256 bytes"),
])
def test_check_bad_psk_file_content(tmp, content, message):
    psk = tmp / "a.psk"
    if content is not None:
        secret_file(psk, content)
    conf = tmp / "k.conf"
    conf.write_text(PSK_CONF.format(path=psk))
    res = kt("check", "-c", conf)
    assert res.returncode == 1
    assert f"{conf}:3: {psk}: {message}" in res.stderr


def test_check_short_raw_psk_file_warns(tmp):
    psk = secret_file(tmp / "a.psk", b"tiny\n")
    conf = tmp / "k.conf"
    conf.write_text(PSK_CONF.format(path=psk))
    res = kt("check", "-c", conf)
    assert res.returncode == 0
    assert f"{conf}:3: warning: {psk}: secret has only 4 bytes" in res.stderr


# ---- genpsk -------------------------------------------------------------

def test_genpsk_format_and_randomness():
    a, b = kt("genpsk"), kt("genpsk")
    assert a.returncode == 0 and b.returncode == 0
    assert re.fullmatch(r"0x[0-9a-f]{64}\n", a.stdout)
    assert a.stdout != b.stdout
    assert a.stderr == ""  # stdout is no terminal here: no hint


def test_genpsk_output_accepted_inline_and_as_file(tmp):
    psk = kt("genpsk").stdout
    inline = tmp / "inline.conf"
    inline.write_text(f"[peer a]\nremote = 192.0.2.2\npsk = {psk}")
    res = kt("check", "-c", inline)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    secret_file(tmp / "a.psk", psk.encode())
    conf = tmp / "file.conf"
    conf.write_text(PSK_CONF.format(path=tmp / "a.psk"))
    res = kt("check", "-c", conf)
    assert res.returncode == 0 and res.stderr == "", res.stderr


# ---- usage and help -----------------------------------------------------

def test_help_lists_every_verb():
    res = kt("--help")
    assert res.returncode == 0
    assert res.stdout.startswith("usage: kotetsu [-s SOCKET] [-c FILE] VERB")
    listed = re.findall(r"^  (\w+) ", res.stdout, re.M)
    assert listed == VERBS


@pytest.mark.parametrize("verb", VERBS)
def test_verb_help(verb):
    res = kt(verb, "--help")
    assert res.returncode == 0
    assert res.stdout.startswith(f"usage: kotetsu {verb}")
    assert res.stderr == ""


@pytest.mark.parametrize("args", [
    [], ["frobnicate"], ["--bogus"], ["-s"], ["up"], ["up", "a", "b"], ["up", "a/b/c"],
    ["up", "bad name"], ["up", "a", "--wait", "soon"], ["up", "a", "--wait", "0"],
    ["down"], ["status", "extra"], ["status", "--yaml"], ["reload", "now"], ["genpsk", "x"],
    ["keys"], ["keys", "--wireshark"], ["check", "extra"],
])
def test_usage_errors_exit_2(args):
    res = kt(*args)
    assert res.returncode == 2, res
    assert "usage: kotetsu" in res.stderr
    assert res.stdout == ""


# ---- no daemon ----------------------------------------------------------

@pytest.mark.parametrize("args", [["up", "site-b"], ["down", "site-b"], ["status"],
                                  ["status", "--json"], ["reload"]])
def test_no_daemon(tmp, args):
    sock = tmp / "none.sock"
    res = kt("-s", sock, *args)
    assert res.returncode == 1
    line = one_line(res.stderr)
    assert line.startswith(f"kotetsu: cannot reach kotetsud at {sock}: No such file or directory")
    assert "running" in line
    assert res.stdout == ""


def test_default_socket_comes_from_config(tmp):
    conf = good_conf(tmp)
    res = kt("-c", conf, "status")
    assert res.returncode == 1
    assert f"at {tmp}/run/kd.sock:" in res.stderr


def test_socket_found_even_when_config_broken(tmp):
    conf = tmp / "k.conf"
    conf.write_text(f"[daemon]\nsocket = {tmp}/x.sock   # comment\n[peer\n")
    res = kt("-c", conf, "reload")
    assert res.returncode == 1
    assert f"at {tmp}/x.sock:" in res.stderr


# ---- a scripted stand-in for the daemon -----------------------------------

class FakeDaemon:
    """Answers control requests with handler(request) -> response dict."""

    def __init__(self, path, handler):
        self.path, self.handler, self.requests = str(path), handler, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(WAIT)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                req = json.loads(data)
                self.requests.append(req)
                conn.sendall(json.dumps(self.handler(req)).encode() + b"\n")

    def close(self):
        self.stop = True
        self.thread.join(WAIT)
        self.sock.close()


@pytest.fixture
def fake(tmp):
    made = []

    def start(handler):
        made.append(FakeDaemon(tmp / "fake.sock", handler))
        return made[-1]
    yield start
    for f in made:
        f.close()


def peer_entry(state, children=(), configured=("lan",), reason=None):
    e = {"name": "site-b", "state": state, "configured_children": list(configured),
         "ike": None if state == "down" else {"version": 2}, "children": [
             {"name": n, "state": s} for n, s in children]}
    if reason:
        e["down_reason"] = reason
    return e


def scripted(states):
    """up succeeds; each status answers the next document of states."""
    left = list(states)

    def handler(req):
        if req["cmd"] == "up":
            return {"ok": True}
        doc = left.pop(0) if len(left) > 1 else left[0]
        return {"ok": True, "peers": [doc], "drops": {}}
    return handler


def test_up_sends_request(tmp, fake):
    f = fake(scripted([peer_entry("connecting")]))
    res = kt("-s", f.path, "up", "site-b/lan")
    assert res.returncode == 0, res.stderr
    assert f.requests == [{"cmd": "up", "peer": "site-b", "child": "lan"}]
    res = kt("-s", f.path, "up", "site-b")
    assert f.requests[-1] == {"cmd": "up", "peer": "site-b", "child": None}


def test_up_wait_until_children_installed(tmp, fake):
    f = fake(scripted([peer_entry("connecting"),
                       peer_entry("established"),
                       peer_entry("established", [("lan", "creating")]),
                       peer_entry("established", [("lan", "installed")])]))
    res = kt("-s", f.path, "up", "site-b", "--wait", "5")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "site-b: established\n"
    assert [r["cmd"] for r in f.requests] == ["up"] + ["status"] * 4


def test_up_wait_fails_early_with_reason(tmp, fake):
    f = fake(scripted([peer_entry("connecting"),
                       peer_entry("down", reason="peer said AUTHENTICATION_FAILED")]))
    t0 = time.monotonic()
    res = kt("-s", f.path, "up", "site-b", "--wait", "20")
    assert time.monotonic() - t0 < 5
    assert res.returncode == 1
    assert one_line(res.stderr) == \
        "kotetsu: site-b: failed: peer said AUTHENTICATION_FAILED"


def test_up_wait_times_out(tmp, fake):
    f = fake(scripted([peer_entry("connecting")]))
    res = kt("-s", f.path, "up", "site-b", "--wait", "0.5")
    assert res.returncode == 1
    assert one_line(res.stderr) == \
        "kotetsu: site-b: not established after 0.5 s (state connecting)"


def test_daemon_refusal_is_one_line(tmp, fake):
    f = fake(lambda req: {"ok": False, "error": "no peer nope in kotetsu.conf"})
    res = kt("-s", f.path, "down", "nope")
    assert res.returncode == 1
    assert res.stderr == "kotetsu: no peer nope in kotetsu.conf\n"


# ---- keys --wireshark, checked by tshark ------------------------------------

ESP_GCM_KEY = bytes(range(32)) + b"\xa1\xa2\xa3\xa4"
ESP_CBC_KEY, ESP_HMAC_KEY = bytes(range(16)), bytes(range(100, 132))
IKE_SPI_I, IKE_SPI_R = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
SK_EI = bytes(range(50, 82)) + b"\xb1\xb2\xb3\xb4"


def sa(spi, encr, bits, ekey, integ=0, ikey=b"", proto="esp", **kw):
    d = {"peer": "site-b", "child": "lan", "protocol": proto, "dir": "out", "family": "IPv4",
         "src": "192.0.2.1", "dst": "192.0.2.2", "spi": "%08x" % spi, "encr": encr,
         "encr_key_bits": bits, "encr_key": ekey.hex(), "integ": integ, "integ_key": ikey.hex(),
         "encap": False, "sport": 0, "dport": 0}
    d.update(kw)
    return d


KEYS = {"ok": True,
        "ike": [{"spi_i": IKE_SPI_I.hex(), "spi_r": IKE_SPI_R.hex(), "encr": 20,
                 "encr_key_bits": 256, "integ": 0, "sk_ei": SK_EI.hex(), "sk_er": SK_EI.hex(),
                 "sk_ai": "", "sk_ar": ""}],
        "sas": [sa(0x11223344, 20, 256, ESP_GCM_KEY),
                sa(0x55667788, 12, 128, ESP_CBC_KEY, 12, ESP_HMAC_KEY),
                sa(0x66778899, 20, 256, ESP_GCM_KEY, encap=True, sport=4500, dport=4500),
                sa(0x99AABBCC, 0, 0, b"", 12, ESP_HMAC_KEY, proto="ah"),
                sa(0x0C0C0C0C, 28, 0, bytes(36))]}


def esp_packets():
    from scapy.all import IP, UDP, Raw
    from scapy.layers.ipsec import ESP, SecurityAssociation
    inner = IP(src="10.1.0.1", dst="10.2.0.1") / UDP(sport=1234, dport=5678) / Raw(b"hello kotetsu")
    outer = IP(src="192.0.2.1", dst="192.0.2.2")
    gcm = SecurityAssociation(ESP, spi=0x11223344, crypt_algo="AES-GCM", crypt_key=ESP_GCM_KEY,
                              tunnel_header=outer)
    cbc = SecurityAssociation(ESP, spi=0x55667788, crypt_algo="AES-CBC", crypt_key=ESP_CBC_KEY,
                              auth_algo="SHA2-256-128", auth_key=ESP_HMAC_KEY, tunnel_header=outer)
    udp = SecurityAssociation(ESP, spi=0x66778899, crypt_algo="AES-GCM", crypt_key=ESP_GCM_KEY,
                              tunnel_header=outer, nat_t_header=UDP(sport=4500, dport=4500))
    pkts = [gcm.encrypt(inner), cbc.encrypt(inner), udp.encrypt(inner)]
    fixed = IP(bytes(pkts[2]))  # scapy freezes the UDP length at 8 (ktpkt.py)
    fixed[UDP].len = len(fixed[UDP])
    fixed[UDP].chksum = 0
    del fixed[IP].chksum
    pkts[2] = IP(bytes(fixed))
    return pkts


def ike_packet():
    """An IKE_AUTH request whose SK payload (AES-GCM-256, RFC 5282) holds an
    INITIAL_CONTACT notify."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from scapy.all import IP, UDP, Raw
    iv = bytes(8)
    plain = struct.pack("!BBHBBH", 0, 0, 8, 0, 0, 16384) + b"\x00"  # + pad length 0
    sk_len = 4 + len(iv) + len(plain) + 16
    hdr = IKE_SPI_I + IKE_SPI_R + struct.pack("!BBBBII", 46, 0x20, 35, 0x08, 1, 28 + sk_len)
    aad = hdr + struct.pack("!BBH", 41, 0, sk_len)
    sealed = AESGCM(SK_EI[:32]).encrypt(SK_EI[32:] + iv, plain, aad)
    return IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=500, dport=500) / Raw(aad + iv + sealed)


@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
def test_keys_wireshark_files_decrypt_with_tshark(tmp, fake):
    from scapy.all import Ether, wrpcap
    f = fake(lambda req: KEYS)
    wsdir = tmp / "home" / ".config" / "wireshark"
    wsdir.parent.mkdir(parents=True)
    res = kt("-s", f.path, "keys", "--wireshark", wsdir)
    assert res.returncode == 0, res.stderr
    assert f.requests == [{"cmd": "keys"}]
    assert res.stdout == f"{wsdir}/esp_sa: 4 SAs; {wsdir}/ikev2_decryption_table: 1 IKE SA\n"
    assert "1 SA use algorithms Wireshark 4.0 cannot decrypt" in res.stderr
    for name in ("esp_sa", "ikev2_decryption_table"):
        assert stat.S_IMODE((wsdir / name).stat().st_mode) == 0o600
    esp_sa = (wsdir / "esp_sa").read_text()
    assert ('"IPv4","192.0.2.1","192.0.2.2","0x99aabbcc","NULL","","HMAC-SHA-256-128 [RFC4868]",'
            f'"0x{ESP_HMAC_KEY.hex()}"') in esp_sa
    assert re.search(r"^# site-b/lan out SPI 0x0c0c0c0c: .*cannot decrypt$", esp_sa, re.M)

    pcap = tmp / "t.pcap"
    wrpcap(str(pcap), [Ether() / p for p in esp_packets() + [ike_packet()]])
    res = subprocess.run(["tshark", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
                          "-o", "esp.enable_authentication_check:TRUE",
                          "-T", "fields", "-e", "data.data", "-e", "esp.icv_good",
                          "-e", "isakmp.notify.msgtype"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOME": str(tmp / "home")})
    assert res.returncode == 0, res.stderr
    assert "Error loading table" not in res.stderr, res.stderr
    rows = [r.split("\t") for r in res.stdout.splitlines()]
    hello = b"hello kotetsu".hex()
    assert [r[0] for r in rows[:3]] == [hello] * 3, res.stdout   # all three ESP packets opened
    assert rows[1][1] in ("1", "True"), res.stdout                  # HMAC checked
    assert rows[3][2] == "16384", res.stdout                        # IKE SK opened: INITIAL_CONTACT


def test_keys_directory_is_private_and_created(tmp, fake):
    f = fake(lambda req: {"ok": True, "ike": [], "sas": []})
    out = tmp / "k"
    res = kt("-s", f.path, "keys", "--wireshark", out)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert (out / "esp_sa").read_text().startswith("# ")


# ---- a real daemon in a network namespace --------------------------------------

DAEMON_CONF = """\
[daemon]
socket = {d}/run/kd.sock
pidfile = {d}/run/kd.pid
log-level = debug

[peer site-b]
remote = 192.0.2.2
psk = file:{d}/site-b.psk
start = listen

[child site-b/lan]
local-ts = 10.1.0.0/24
remote-ts = 10.2.0.0/24

[peer road]
remote = any
remote-id = @road.example
psk = "a long enough quoted secret"
"""


class Daemon:
    """kotetsud started by `ip netns exec` (which execs it: same PID)."""

    def __init__(self, ns, d, conf, sock=None, pidfile=None, log="kotetsud.log"):
        self.ns, self.d, self.conf = ns, d, conf
        self.sock = sock or d / "run" / "kd.sock"
        self.pidfile = pidfile or d / "run" / "kd.pid"
        self.logpath = d / log
        self.log = open(self.logpath, "w+")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, str(KOTETSUD), "-f",
                                      "-c", str(conf)], stdout=self.log, stderr=self.log)

    def wait_ready(self):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "kotetsud exited:\n" + self.logtext()
            if self.sock.exists() and kt("-s", self.sock, "status").returncode == 0:
                return
            time.sleep(0.05)
        pytest.fail("kotetsud not ready after %d s:\n%s" % (WAIT, self.logtext()))

    def logtext(self):
        self.log.flush()
        return self.logpath.read_text()

    def status(self):
        res = kt("-s", self.sock, "status", "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        text = self.logtext()
        self.log.close()
        # an ASan/UBSan build (KOTETSU_BIN_DIR) reports here
        assert "Sanitizer" not in text and "runtime error" not in text, text


@pytest.fixture
def netns():
    name = "ktcli-%d-%d" % (os.getpid(), time.monotonic_ns() % 1000000)
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def daemon(netns, tmp):
    secret_file(tmp / "site-b.psk", b"0x" + b"cd" * 32 + b"\n")
    conf = tmp / "kotetsu.conf"
    conf.write_text(DAEMON_CONF.format(d=tmp))
    started = []

    def start(conf_path=conf, ready=True):
        started.append(Daemon(netns, tmp, conf_path))
        if ready:
            started[-1].wait_ready()
        return started[-1]
    yield start
    for dmn in started:
        dmn.stop()


def test_daemon_status_json_shape(daemon):
    d = daemon()
    st = d.status()
    assert set(st) >= {"peers", "drops"}
    assert set(st["drops"]) >= {"replay", "auth", "no_sa", "policy", "malformed"}
    assert all(v == 0 for k, v in st["drops"].items() if k != "other")
    assert [p["name"] for p in st["peers"]] == ["site-b", "road"]
    b = st["peers"][0]
    assert b["state"] == "down" and b["ike"] is None and b["children"] == []
    assert b["start"] == "listen" and b["configured_children"] == ["lan"]
    assert st["daemon"]["pid"] == d.proc.pid
    assert int(d.pidfile.read_text()) == d.proc.pid
    assert stat.S_IMODE(d.sock.stat().st_mode) == 0o600
    human = kt("-s", d.sock, "status")
    assert human.returncode == 0
    assert "site-b: down (start = listen)\n" in human.stdout
    assert human.stdout.endswith("drops: replay 0, auth 0, no_sa 0, policy 0, malformed 0\n")


def test_daemon_listens_on_ike_ports(daemon, netns):
    daemon()
    res = subprocess.run(["ip", "netns", "exec", netns, "ss", "-uln"], capture_output=True,
                         text=True, check=True)
    for addr in ("0.0.0.0:500", "0.0.0.0:4500", "[::]:500", "[::]:4500"):
        assert re.search(r"\s%s\s" % re.escape(addr), res.stdout), res.stdout


def test_daemon_refusals(daemon):
    d = daemon()
    cases = [(["up", "road"], "kotetsu: road has remote = any: it can only respond"),
             (["up", "nope"], f"kotetsu: no peer nope in {d.conf}"),
             (["up", "site-b/nope"], f"kotetsu: no child site-b/nope in {d.conf}"),
             (["down", "site-b"], "kotetsu: site-b is not up"),
             (["down", "nope"], f"kotetsu: no peer nope in {d.conf}")]
    for args, line in cases:
        res = kt("-s", d.sock, *args)
        assert res.returncode == 1, args
        assert one_line(res.stderr) == line


def test_daemon_keys_without_sas(daemon, tmp):
    d = daemon()
    res = kt("-s", d.sock, "keys", "--wireshark", tmp / "ws")
    assert res.returncode == 0, res.stderr
    assert "0 SAs" in res.stdout and "0 IKE SAs" in res.stdout


def test_daemon_refuses_exposed_psk_file(netns, tmp):
    secret_file(tmp / "site-b.psk", b"0x" + b"cd" * 32 + b"\n", 0o644)
    conf = tmp / "kotetsu.conf"
    conf.write_text(DAEMON_CONF.format(d=tmp))
    res = subprocess.run(["ip", "netns", "exec", netns, str(KOTETSUD), "-f", "-c", str(conf)],
                         capture_output=True, text=True, timeout=WAIT)
    assert res.returncode == 1
    assert f"{conf}:8: {tmp}/site-b.psk: readable by others (mode 0644); chmod 600 it\n" \
        in res.stderr
    assert not (tmp / "run" / "kd.sock").exists()


def test_daemon_config_errors_listed(netns, tmp):
    conf = tmp / "kotetsu.conf"
    conf.write_text("[peer a]\nremote = nowhere..\nfoo = 1\n")
    res = subprocess.run(["ip", "netns", "exec", netns, str(KOTETSUD), "-f", "-c", str(conf)],
                         capture_output=True, text=True, timeout=WAIT)
    assert res.returncode == 1
    assert re.search("^" + re.escape(str(conf)) + r":3: unknown key 'foo'", res.stderr, re.M)
    assert re.fullmatch(r"kotetsud: \d+ errors? in %s; not started" % re.escape(str(conf)),
                        res.stderr.splitlines()[-1])


def test_daemon_usage():
    res = subprocess.run([str(KOTETSUD), "-x"], capture_output=True, text=True, timeout=WAIT)
    assert res.returncode == 2
    assert "usage: kotetsud" in res.stderr


def test_second_daemon_refused(daemon):
    first = daemon()
    second = daemon(ready=False)
    assert second.proc.wait(WAIT) == 1
    assert f"another kotetsud (pid {first.proc.pid}) holds {first.pidfile}" in second.logtext()
    assert first.status()["daemon"]["pid"] == first.proc.pid  # the first one is unharmed
    assert first.sock.exists()


def test_stale_socket_and_pidfile_replaced(daemon, tmp):
    (tmp / "run").mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp / "run" / "kd.sock"))
    stale.close()  # the file stays, nobody answers
    (tmp / "run" / "kd.pid").write_text("999999\n")
    d = daemon()
    assert "removing stale control socket" in d.logtext()
    assert int(d.pidfile.read_text()) == d.proc.pid


def test_reload_broken_config_keeps_old(daemon, tmp):
    d = daemon()
    good = d.conf.read_text()
    d.conf.write_text(good + "\n[peer c]\nremote = 192.0.2.7\npsk = \"short\"\nbogus = 1\n"
                      "[child c/x]\nmode = sideways\n")
    res = kt("-c", d.conf, "reload")  # the socket is found although the file is broken
    assert res.returncode == 1
    err = res.stderr.splitlines()
    assert err[0] == f"{d.conf}:23: unknown key 'bogus' in [peer c]"
    assert err[1].startswith(f"{d.conf}:25: bad mode 'sideways'")
    assert err[-1] == f"kotetsu: {d.conf} has 2 errors; the running configuration is kept"
    assert [p["name"] for p in d.status()["peers"]] == ["site-b", "road"]

    d.conf.write_text(good + "\n[peer c]\nremote = any\nremote-id = @c.example\n"
                      "psk = \"short\"\n")
    res = kt("-c", d.conf, "reload")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "reloaded\n"
    assert f"{d.conf}:23: warning: psk has only 5 characters" in res.stderr
    assert [p["name"] for p in d.status()["peers"]] == ["site-b", "road", "c"]


def test_sighup_reloads(daemon):
    d = daemon()
    d.conf.write_text(d.conf.read_text().replace("[peer road]", "[peer roadie]"))
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT
    while [p["name"] for p in d.status()["peers"]] != ["site-b", "roadie"]:
        assert time.monotonic() < deadline, d.logtext()
        time.sleep(0.05)


def test_stray_datagrams(daemon, netns):
    """On 4500: ESP-in-UDP counted and dropped, a keepalive ignored, IKE
    garbage (marker + junk) and junk on 500 refused without harm."""
    d = daemon()
    send = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for port, data in ((4500, b'\\x00\\x00\\x10\\x01' + bytes(40)), (4500, b'\\xff'),\n"
            "                   (4500, bytes(4) + b'junk'), (500, b'junk' * 10), (4500, b'\\x01')):\n"
            "    s.sendto(data, ('127.0.0.1', port))\n")
    subprocess.run(["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", send], check=True,
                   timeout=WAIT)
    deadline = time.monotonic() + WAIT
    while d.status()["daemon"]["esp_in_udp_dropped"] != 1:
        assert time.monotonic() < deadline, d.logtext()
        time.sleep(0.05)
    assert d.proc.poll() is None


def test_sigterm_exits_cleanly(daemon):
    d = daemon()
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(WAIT) == 0, d.logtext()
    assert time.monotonic() - t0 < 3
    assert not d.sock.exists()
    assert not d.pidfile.exists()
    assert "stopped" in d.logtext()
