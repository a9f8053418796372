"""strongSwan's charon as a test peer inside a network namespace: writes
strongswan.conf and swanctl.conf, starts and stops exactly the charon it
started, loads and initiates connections with swanctl, and reads SAs back
over the vici socket as plain dicts. Also maps strongSwan's algorithm names
to one canonical form, so tests compare algorithm sets, not formatting.

charon runs with the user-space kernel-libipsec plugin (the kernel here has
no XFRM), which always encapsulates ESP in UDP 4500 and fakes a NAT
(NATD_S_IP) in both roles."""

import os
import socket
import struct
import subprocess

from netns import IP, wait_for

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
PLUGINS = ("random nonce kdf openssl pem pkcs1 x509 revocation constraints pubkey "
           "kernel-libipsec kernel-netlink socket-default vici updown")
START_TIMEOUT = 15    # seconds until charon answers on vici
STOP_TIMEOUT = 5      # seconds between SIGTERM and SIGKILL
SWANCTL_TIMEOUT = 20  # seconds for one swanctl call

STRONGSWAN_CONF = """\
# Written by tests/py/strongswan.py for one test.
charon {{
  load = {plugins}
  # Give up on a silent peer in 4.4 s (waits of 1, 1.4 and 2 s).
  retransmit_timeout = 1.0
  retransmit_base = 1.4
  retransmit_tries = 2
  filelog {{
    test {{
      path = {dir}/charon.log
      time_format = %T
      flush_line = yes
      default = 1
      ike = 2
      cfg = 2
      knl = 2
      enc = 1
      net = 1
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{dir}/charon.vici
    }}
  }}
}}
swanctl {{
  load = pem pkcs1 x509 revocation constraints pubkey openssl random
}}
"""


# --- swanctl.conf ---------------------------------------------------------

def _conf_lines(d, indent=0):
    out = []
    for key, value in d.items():
        pad = "  " * indent
        if isinstance(value, dict):
            out.append("%s%s {" % (pad, key))
            out += _conf_lines(value, indent + 1)
            out.append(pad + "}")
        else:
            if isinstance(value, (list, tuple)):
                value = ", ".join(value)
            out.append("%s%s = %s" % (pad, key, value))
    return out


def swanctl_conf(tree):
    """Nested dicts to swanctl.conf text, one setting per line."""
    return "\n".join(_conf_lines(tree)) + "\n"


def quote(secret):
    return '"%s"' % secret.replace("\\", "\\\\").replace('"', '\\"')


def psk_conn(name, local_addr, remote_addr, local_id, remote_id, psk, ike,
             children, **extra):
    """A swanctl tree for one IKEv2 PSK connection. children: {name: dict
    with local_ts, remote_ts, esp and optional extra child settings}.
    extra: more connection settings (e.g. mobike = "no")."""
    kids = {}
    for cname, c in children.items():
        kid = {"local_ts": c["local_ts"], "remote_ts": c["remote_ts"],
               "esp_proposals": c["esp"], "mode": c.get("mode", "tunnel")}
        kid.update({k: v for k, v in c.items()
                    if k not in ("local_ts", "remote_ts", "esp", "mode")})
        kids[cname] = kid
    conn = {"version": 2, "local_addrs": local_addr, "remote_addrs": remote_addr,
            "proposals": ike,
            "local": {"auth": "psk", "id": local_id},
            "remote": {"auth": "psk", "id": remote_id},
            "children": kids}
    conn.update(extra)
    secret = {"id-1": local_id, "id-2": remote_id, "secret": quote(psk)}
    return {"connections": {name: conn}, "secrets": {"ike-" + name: secret}}


# --- vici -----------------------------------------------------------------

class ViciError(Exception):
    pass


# Packet and element types of the vici protocol (strongSwan's vici README).
CMD_REQUEST, CMD_RESPONSE, CMD_UNKNOWN = 0, 1, 2
EVENT_REGISTER, EVENT_UNREGISTER, EVENT_CONFIRM, EVENT_UNKNOWN, EVENT = 3, 4, 5, 6, 7
SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END = 1, 2, 3, 4, 5, 6


def vici_encode(d):
    out = b""
    for key, value in d.items():
        k = key.encode()
        if isinstance(value, dict):
            out += bytes([SECTION_START, len(k)]) + k + vici_encode(value) + bytes([SECTION_END])
        elif isinstance(value, (list, tuple)):
            out += bytes([LIST_START, len(k)]) + k
            for item in value:
                v = str(item).encode()
                out += bytes([LIST_ITEM]) + struct.pack("!H", len(v)) + v
            out += bytes([LIST_END])
        else:
            v = str(value).encode()
            out += bytes([KEY_VALUE, len(k)]) + k + struct.pack("!H", len(v)) + v
    return out


def vici_decode(buf):
    """A vici message to nested dicts (values and list items as str)."""
    root, stack, pos = {}, [], 0
    cur = root

    def take(n):
        nonlocal pos
        if pos + n > len(buf):
            raise ViciError("truncated vici message")
        pos += n
        return buf[pos - n:pos]

    def name():
        return take(take(1)[0]).decode()

    def blob():
        return take(struct.unpack("!H", take(2))[0]).decode(errors="replace")

    while pos < len(buf):
        kind = take(1)[0]
        if kind == SECTION_START:
            sec = {}
            cur[name()] = sec
            stack.append(cur)
            cur = sec
        elif kind == SECTION_END:
            if not stack:
                raise ViciError("unbalanced section end")
            cur = stack.pop()
        elif kind == KEY_VALUE:
            key = name()
            cur[key] = blob()
        elif kind == LIST_START:
            key, items = name(), []
            while take(1)[0] == LIST_ITEM:
                items.append(blob())
            cur[key] = items
        else:
            raise ViciError("unknown vici element %d" % kind)
    if stack:
        raise ViciError("unterminated section")
    return root


class Vici:
    """A vici client session (one unix socket connection)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, kind, name, body=b""):
        n = name.encode()
        pkt = bytes([kind, len(n)]) + n + body
        self.sock.sendall(struct.pack("!I", len(pkt)) + pkt)

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ViciError("vici connection closed")
            data += chunk
        return data

    def _recv(self):
        """Returns (type, event name or None, decoded body)."""
        pkt = self._recv_exact(struct.unpack("!I", self._recv_exact(4))[0])
        kind, rest, ev = pkt[0], pkt[1:], None
        if kind == EVENT:
            ev, rest = rest[1:1 + rest[0]].decode(), rest[1 + rest[0]:]
        return kind, ev, vici_decode(rest)

    def request(self, cmd, msg=None):
        self._send(CMD_REQUEST, cmd, vici_encode(msg or {}))
        kind, _, body = self._recv()
        if kind != CMD_RESPONSE:
            raise ViciError("vici command %s: reply type %d" % (cmd, kind))
        return body

    def streamed(self, cmd, event, msg=None):
        """A command whose results arrive as events; returns their bodies."""
        self._send(EVENT_REGISTER, event)
        if self._recv()[0] != EVENT_CONFIRM:
            raise ViciError("vici: cannot register for %s" % event)
        self._send(CMD_REQUEST, cmd, vici_encode(msg or {}))
        events = []
        while True:
            kind, ev, body = self._recv()
            if kind == EVENT and ev == event:
                events.append(body)
            elif kind == CMD_RESPONSE:
                break
            elif kind != EVENT:
                raise ViciError("vici command %s: reply type %d" % (cmd, kind))
        self._send(EVENT_UNREGISTER, event)
        self._recv()
        return events


# --- algorithm names ------------------------------------------------------

def canon_alg(name):
    """One spelling per algorithm: "AES_GCM_16-128" and "AES_GCM_16_128" are
    the same; ChaCha20-Poly1305 has one key size, so a size is dropped."""
    name = name.strip().upper().replace("-", "_")
    if name.startswith("CHACHA20_POLY1305"):
        return "CHACHA20_POLY1305"
    return name


def alg_set(display):
    """A display-form proposal ("IKE:AES_GCM_16_256/PRF_HMAC_SHA2_384/
    CURVE_25519", kotetsu's or strongSwan's) to a set of canonical names;
    NO_EXT_SEQ (the default) is left out."""
    if ":" in display:
        display = display.split(":", 1)[1]
    algs = {canon_alg(a) for a in display.split("/") if a.strip()}
    algs.discard("NO_EXT_SEQ")
    return frozenset(algs)


def sa_alg_set(sa):
    """The algorithm set of a vici IKE or CHILD SA dict."""
    algs = set()
    if "encr-alg" in sa:
        enc = sa["encr-alg"]
        if sa.get("encr-keysize"):
            enc += "_" + sa["encr-keysize"]
        algs.add(canon_alg(enc))
    for key in ("integ-alg", "prf-alg", "dh-group"):
        if sa.get(key):
            algs.add(canon_alg(sa[key]))
    if sa.get("esn") == "1":
        algs.add("EXT_SEQ")
    return frozenset(algs)


# The proposals the tests use, with the algorithm set each must negotiate.
IKE_ALGS = {
    "aes128gcm16-prfsha256-x25519": {"AES_GCM_16_128", "PRF_HMAC_SHA2_256", "CURVE_25519"},
    "aes256gcm16-prfsha384-ecp384": {"AES_GCM_16_256", "PRF_HMAC_SHA2_384", "ECP_384"},
    "aes256-sha256-modp2048": {"AES_CBC_256", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256",
                               "MODP_2048"},
    "chacha20poly1305-prfsha256-x25519": {"CHACHA20_POLY1305", "PRF_HMAC_SHA2_256",
                                          "CURVE_25519"},
}
ESP_ALGS = {
    "aes128gcm16": {"AES_GCM_16_128"},
    "aes256gcm16": {"AES_GCM_16_256"},
    "aes256-sha256": {"AES_CBC_256", "HMAC_SHA2_256_128"},
    "chacha20poly1305": {"CHACHA20_POLY1305"},
}
# Pairs used by the interop tests: (IKE proposal, ESP proposal).
SUITES = [
    ("aes128gcm16-prfsha256-x25519", "aes128gcm16"),
    ("aes256gcm16-prfsha384-ecp384", "aes256gcm16"),
    ("aes256-sha256-modp2048", "aes256-sha256"),
    ("chacha20poly1305-prfsha256-x25519", "chacha20poly1305"),
]


def spi_int(text):
    """SPIs as numbers: "0x00c0ffee", "c0ffee" and "00C0FFEE" are equal."""
    return int(str(text), 16)


# --- charon ---------------------------------------------------------------

class Charon:
    """One charon in namespace ns, with its files in workdir (which must
    exist; paths stay short for the unix socket)."""

    def __init__(self, ns, workdir):
        self.ns, self.dir = ns, str(workdir)
        self.conf = os.path.join(self.dir, "strongswan.conf")
        self.swanctl_file = os.path.join(self.dir, "swanctl.conf")
        self.vici_path = os.path.join(self.dir, "charon.vici")
        self.uri = "unix://" + self.vici_path
        self.log = os.path.join(self.dir, "charon.log")
        self.stderr = os.path.join(self.dir, "charon.stderr")
        self.proc = None

    # life cycle

    def start(self, timeout=START_TIMEOUT):
        with open(self.conf, "w") as f:
            f.write(STRONGSWAN_CONF.format(plugins=PLUGINS, dir=self.dir))
        # A private /run (pid file, no clash with other charons); every step
        # execs, so the pid we get is charon's own.
        inner = "mount -t tmpfs tmpfs /run && STRONGSWAN_CONF=%s exec %s" % (self.conf, CHARON)
        with open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", self.ns, "unshare", "-m", "sh", "-c", inner],
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT)
        if not wait_for(self._ready, timeout):
            detail = self.diagnostics()
            self.stop()
            raise RuntimeError("charon in %s did not come up within %ss\n%s"
                               % (self.ns, timeout, detail))
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("charon in %s exited with %s\n%s"
                               % (self.ns, self.proc.returncode, self.diagnostics()))
        try:
            if os.readlink("/proc/%d/exe" % self.proc.pid) != CHARON:
                return False
            with Vici(self.vici_path, timeout=2) as v:
                v.request("version")
            return True
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop our charon (by its pid only): SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # swanctl

    def swanctl(self, *args, timeout=SWANCTL_TIMEOUT):
        env = dict(os.environ, STRONGSWAN_CONF=self.conf)
        return subprocess.run([SWANCTL, *args, "--uri", self.uri], capture_output=True,
                              text=True, timeout=timeout, env=env)

    def load(self, tree):
        """Write swanctl.conf from a tree (see psk_conn) and load it all."""
        with open(self.swanctl_file, "w") as f:
            f.write(swanctl_conf(tree))
        res = self.swanctl("--load-all", "--file", self.swanctl_file)
        if res.returncode != 0:
            raise RuntimeError("swanctl --load-all failed (%d):\n%s%s"
                               % (res.returncode, res.stdout, res.stderr))
        return res

    def initiate(self, ike, child=None, timeout=10):
        """Initiate ike (all its children, or one); returns the
        CompletedProcess (returncode 0 when it worked)."""
        args = ["--initiate", "--ike", ike, "--timeout", str(timeout)]
        if child:
            args += ["--child", child]
        return self.swanctl(*args, timeout=timeout + 10)

    def terminate(self, ike=None, child=None, timeout=10):
        args = ["--terminate", "--timeout", str(timeout)]
        if ike:
            args += ["--ike", ike]
        if child:
            args += ["--child", child]
        return self.swanctl(*args, timeout=timeout + 10)

    def list_sas_text(self):
        res = self.swanctl("--list-sas")
        return res.stdout + res.stderr

    def list_sas(self):
        """All IKE SAs: a list of vici dicts, each with "name" (the
        connection) added; child-sas maps "NAME-ID" to child dicts."""
        with Vici(self.vici_path) as v:
            events = v.streamed("list-sas", "list-sa")
        sas = []
        for ev in events:
            for name, sa in ev.items():
                sa = dict(sa)
                sa["name"] = name
                sa.setdefault("child-sas", {})
                sas.append(sa)
        return sas

    def established(self):
        return [sa for sa in self.list_sas() if sa.get("state") == "ESTABLISHED"]

    def installed_children(self):
        return [c for sa in self.list_sas() for c in sa["child-sas"].values()
                if c.get("state") == "INSTALLED"]

    def wait_children(self, n, timeout=10):
        """Wait until n CHILD SAs are installed; returns the IKE SAs."""
        wait_for(lambda: len(self.installed_children()) >= n, timeout, interval=0.1)
        return self.list_sas()

    def wait_no_sas(self, timeout=10):
        return wait_for(lambda: not self.list_sas(), timeout, interval=0.1)

    # diagnostics

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        """The last lines of charon's log, without the vici chatter that
        the tests' own polling causes."""
        text = [ln for ln in self.log_text().splitlines() if "vici client" not in ln]
        return "\n".join(text[-lines:])

    def diagnostics(self, lines=60):
        try:
            with open(self.stderr, errors="replace") as f:
                err = f.read()[-2000:]
        except FileNotFoundError:
            err = ""
        return ("--- charon (%s) log tail ---\n%s\n--- charon stderr ---\n%s"
                % (self.ns, self.log_tail(lines), err))
