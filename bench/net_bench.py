#!/usr/bin/python3
"""Side-by-side tunnel throughput: iperf3 TCP (one stream) between two
network namespaces joined by a veth, through kotetsu, strongSwan with
kernel-libipsec, wireguard-go and the plain veth, in one run. Runs are
interleaved across systems (A B C D A B C D ...) so machine noise hits all
alike. Reports the median Gbit/s, CPU seconds per GB (the tunnel's own
processes, and the whole machine from /proc/stat) and ratios against
strongSwan and wireguard-go; writes the table as JSON too. kotetsu runs
with its default [daemon] workers (auto) and with workers = 0 (the "w=0"
rows), raw ESP and ESP in UDP.

Run as root with /usr/bin/python3 (Debian's, for the tests/py helpers):
    bench/net_bench.py [--seconds 10] [--reps 3] [--systems plain,strongswan,...] [--bidir]
Only namespace addresses carry traffic: 192.0.2.0/24 on the veth, 10.1.0.1
and 10.2.0.1 as each side's inner (tunnelled) address."""

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))

from netns import IP, nsexec, run, veth_pair, wait_for  # noqa: E402
from strongswan import CHARON, SWANCTL, Charon, psk_conn  # noqa: E402
import kotetsud as ktd  # noqa: E402

IPERF3 = "/usr/bin/iperf3"
WIREGUARD_GO = "/usr/bin/wireguard-go"
WG = "/usr/bin/wg"
PYTHON = "/usr/bin/python3"
WG_SOCK_DIR = "/var/run/wireguard"  # wireguard-go's UAPI sockets (not per namespace)

PSK = "net-bench-psk-0123456789abcdef"
IKE = "aes128gcm16-prfsha256-x25519"
ESP = "aes128gcm16"
LEFT_LAN, RIGHT_LAN = "10.1.0.1", "10.2.0.1"
LEFT_NET, RIGHT_NET = "10.1.0.0/24", "10.2.0.0/24"
IPERF_PORT = 5201
PROBE_PORT = 5301
WG_PORT = 51820

SETUP_TIMEOUT = 15     # seconds for a tunnel to come up
REACH_TIMEOUT = 10     # seconds for the first datagram through a fresh tunnel
SERVER_TIMEOUT = 5     # seconds for iperf3 -s to listen or to exit afterwards
CLIENT_SLACK = 30      # seconds an iperf3 client may run past --seconds
STOP_TIMEOUT = 5       # seconds between SIGTERM and SIGKILL
CLK_TCK = os.sysconf("SC_CLK_TCK")
GB = 1e9
STALL_FRACTION = 0.1   # an interval below this share of the median is a stall

SYSTEMS = ("plain", "strongswan", "wireguard-go", "kotetsu", "kotetsu-w0", "kotetsu-udp",
           "kotetsu-udp-w0")
DEFAULT_SYSTEMS = SYSTEMS
# "kotetsu" runs with the default [daemon] workers (auto); "-w0" with
# workers = 0, everything on one thread.
LABELS = {"plain": "plain veth", "strongswan": "strongSwan libipsec",
          "wireguard-go": "wireguard-go", "kotetsu": "kotetsu (ESP)",
          "kotetsu-w0": "kotetsu (ESP) w=0", "kotetsu-udp": "kotetsu (ESP-in-UDP)",
          "kotetsu-udp-w0": "kotetsu (ESP-in-UDP) w=0"}


class SetupError(Exception):
    pass


# --- CPU accounting --------------------------------------------------------

def _proc_ticks(pid):
    """utime + stime of a whole process (all its threads), in ticks; 0 once
    it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


def _descendants(roots):
    """roots and every process below them (a daemon that forks workers is
    counted whole)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _machine_ticks():
    """(busy, softirq) ticks of all CPUs from /proc/stat; busy is
    user+nice+system+irq+softirq+steal (guest time is inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal, softirq


class CpuMeter:
    """CPU seconds used between start() and stop(): by the given processes
    (and their descendants) and by the whole machine."""

    def __init__(self, pids):
        self.pids = _descendants(pids) if pids else []

    def start(self):
        self.p0 = {p: _proc_ticks(p) for p in self.pids}
        self.m0 = _machine_ticks()

    def stop(self):
        m1 = _machine_ticks()
        each = {p: max(0, _proc_ticks(p) - t) / CLK_TCK for p, t in self.p0.items()}
        return {"process_s": sum(each.values()) if self.pids else None,
                "process_each_s": each,
                "machine_s": (m1[0] - self.m0[0]) / CLK_TCK,
                "softirq_s": (m1[1] - self.m0[1]) / CLK_TCK}


# --- counters for diagnosing drops ---------------------------------------

def _link_stats(ns, ifname):
    res = nsexec(ns, IP, "-s", "-j", "link", "show", "dev", ifname, check=False)
    try:
        st = json.loads(res.stdout)[0]["stats64"]
    except (ValueError, IndexError, KeyError):
        return {}
    return {"rx_packets": st["rx"]["packets"], "tx_packets": st["tx"]["packets"],
            "rx_dropped": st["rx"]["dropped"], "tx_dropped": st["tx"]["dropped"],
            "rx_errors": st["rx"]["errors"], "tx_errors": st["tx"]["errors"]}


SNMP_KEYS = {"Ip": ("InDiscards", "OutDiscards", "ReasmFails", "FragFails", "FragCreates"),
             "Udp": ("InErrors", "RcvbufErrors", "SndbufErrors", "NoPorts")}


def _snmp(ns):
    """The namespace's IP and UDP error counters, and raw sockets' drops."""
    res = nsexec(ns, "cat", "/proc/net/snmp", "/proc/net/raw", check=False)
    lines, out = res.stdout.splitlines(), {}
    for head, vals in zip(lines, lines[1:]):
        hk, vk = head.split(), vals.split()
        if hk and vk and hk[0] == vk[0] and hk[0].rstrip(":") in SNMP_KEYS:
            sect = hk[0].rstrip(":")
            row = dict(zip(hk[1:], vk[1:]))
            for k in SNMP_KEYS[sect]:
                if k in row and row[k].lstrip("-").isdigit():
                    out["%s.%s" % (sect, k)] = int(row[k])
    raw_drops = 0
    for ln in lines:
        f = ln.split()
        if len(f) >= 13 and ":" in f[0] and f[0][:-1].isdigit() and f[-1].isdigit():
            raw_drops += int(f[-1])
    out["Raw.drops"] = raw_drops
    return out


def _delta(before, after):
    """Counters that grew between two flat dicts of numbers."""
    return {k: after[k] - before.get(k, 0) for k in after
            if isinstance(after[k], int) and after[k] - before.get(k, 0) > 0}


# --- the systems under test ----------------------------------------------

class System:
    """One tunnel (or none) between the two namespaces of a pair."""
    name = None

    def __init__(self, pair, workdir):
        self.pair, self.dir = pair, workdir
        self.notes = []

    def setup(self):
        raise NotImplementedError

    def stop(self):
        pass

    def pids(self):
        return []

    def devices(self):
        """[(namespace, interface)] whose drop counters to watch."""
        return [(self.pair.left.ns, self.pair.left.ifname),
                (self.pair.right.ns, self.pair.right.ifname)]

    def counters(self):
        """System-specific counters (flat dict of numbers) for diagnosis."""
        return {}

    def diagnostics(self):
        return ""

    def _routes(self, dev_left=None, dev_right=None):
        """Each side's inner address reaches the other side's net: over
        the veth (plain) or over a tunnel device."""
        l, r = self.pair.left, self.pair.right
        for side, net, dev, via in ((l, RIGHT_NET, dev_left, r.addr),
                                    (r, LEFT_NET, dev_right, l.addr)):
            how = ["dev", dev] if dev else ["via", via]
            run(IP, "-n", side.ns, "route", "replace", net, *how, "src", side.lan[0])


class Plain(System):
    name = "plain"

    def setup(self):
        self._routes()


def _stop_proc(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT)


def _tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return "(no %s)" % path


class StrongSwan(System):
    name = "strongswan"

    def setup(self):
        l, r = self.pair.left, self.pair.right
        self.left = Charon(l.ns, _mkdir(self.dir, "l"))
        self.right = Charon(r.ns, _mkdir(self.dir, "r"))
        self.left.start()
        self.right.start()
        for c, me, peer, lid, rid, lts, rts in (
                (self.left, l, r, "left.bench", "right.bench", LEFT_NET, RIGHT_NET),
                (self.right, r, l, "right.bench", "left.bench", RIGHT_NET, LEFT_NET)):
            c.load(psk_conn("b", me.addr, peer.addr, lid, rid, PSK, IKE,
                            {"lan": {"local_ts": lts, "remote_ts": rts, "esp": ESP}}))
        res = self.left.initiate("b", "lan", timeout=SETUP_TIMEOUT)
        if res.returncode != 0 or len(self.right.wait_children(1)) != 1:
            raise SetupError("strongSwan did not establish: %s%s" % (res.stdout, res.stderr))

    def stop(self):
        for c in (getattr(self, "left", None), getattr(self, "right", None)):
            if c:
                c.stop()

    def pids(self):
        return [self.left.pid, self.right.pid]

    def devices(self):
        # kernel-libipsec's TUN is "ipsec0" in each namespace.
        return super().devices() + [(self.pair.left.ns, "ipsec0"), (self.pair.right.ns, "ipsec0")]

    def diagnostics(self):
        return "\n".join(c.diagnostics(30) for c in (self.left, self.right))


class WireGuardGo(System):
    name = "wireguard-go"

    def setup(self):
        l, r = self.pair.left, self.pair.right
        self.ifname = {l.ns: self.pair.prefix + "wl", r.ns: self.pair.prefix + "wr"}
        self.procs, keys = {}, {}
        for side in (l, r):
            self._start(side)
            priv = run(WG, "genkey").stdout.strip()
            pub = run(WG, "pubkey", input=priv + "\n").stdout.strip()
            path = os.path.join(self.dir, side.ns + ".key")
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(priv + "\n")
            keys[side.ns] = (path, pub)
        for side, peer, peer_net in ((l, r, RIGHT_NET), (r, l, LEFT_NET)):
            dev = self.ifname[side.ns]
            nsexec(side.ns, WG, "set", dev, "private-key", keys[side.ns][0],
                   "listen-port", WG_PORT, "peer", keys[peer.ns][1], "allowed-ips", peer_net,
                   "endpoint", "%s:%d" % (peer.addr, WG_PORT))
            run(IP, "-n", side.ns, "link", "set", dev, "up")
        self._routes(self.ifname[l.ns], self.ifname[r.ns])

    def _start(self, side):
        dev = self.ifname[side.ns]
        log = open(os.path.join(self.dir, dev + ".log"), "w")
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="error")
        self.procs[side.ns] = subprocess.Popen(
            [IP, "netns", "exec", side.ns, WIREGUARD_GO, dev], env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        proc, sock = self.procs[side.ns], os.path.join(WG_SOCK_DIR, dev + ".sock")

        def ready():
            if proc.poll() is not None:
                raise SetupError("wireguard-go %s exited with %s:\n%s"
                                 % (dev, proc.returncode, _tail(log.name)))
            try:
                exe = os.readlink("/proc/%d/exe" % proc.pid)
            except OSError:
                return False
            return exe == WIREGUARD_GO and os.path.exists(sock)
        if not wait_for(ready, SETUP_TIMEOUT):
            raise SetupError("wireguard-go %s did not open %s" % (dev, sock))

    def stop(self):
        for ns, proc in getattr(self, "procs", {}).items():
            _stop_proc(proc)
            with contextlib.suppress(FileNotFoundError):  # ours, by its unique name
                os.unlink(os.path.join(WG_SOCK_DIR, self.ifname[ns] + ".sock"))

    def pids(self):
        return [p.pid for p in self.procs.values()]

    def devices(self):
        return super().devices() + list(self.ifname.items())

    def diagnostics(self):
        out = [nsexec(ns, WG, "show", dev, check=False).stdout for ns, dev in
               self.ifname.items()]
        out += ["--- %s ---\n%s" % (d, _tail(os.path.join(self.dir, d + ".log"), 20))
                for d in self.ifname.values()]
        return "\n".join(out)


class BenchKotetsud(ktd.Kotetsud):
    """kotetsud as the tests run it, but without -v: debug logging is not
    part of what a user runs, and it would slow the data path. workers:
    the [daemon] workers value to write (None: the default, auto)."""
    workers = None

    def write_config(self, peer_sections):
        path = super().write_config(peer_sections)
        if self.workers is not None:
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("[daemon]\n", "[daemon]\nworkers = %s\n" % self.workers, 1))
        return path

    def start(self, timeout=ktd.START_TIMEOUT):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", self.ns, ktd.KOTETSUD, "-f", "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            ok = wait_for(self._ready, timeout, interval=0.05)
        except AssertionError as e:
            raise SetupError(str(e)) from None
        if not ok:
            detail = self.diagnostics()
            self.stop()
            raise SetupError("kotetsud in %s did not answer on %s within %ss\n%s"
                             % (self.ns, self.sock, timeout, detail))
        return self


class Kotetsu(System):
    name = "kotetsu"
    nat_t = "off"      # raw ESP (IP protocol 50) between the two
    encap = "none"
    workers = None     # [daemon] workers; None: the default (auto)
    txqueuelen = None  # --kt-txqueuelen: an experiment, not kotetsud's own setting

    def setup(self):
        for p in (ktd.KOTETSUD, ktd.KOTETSU):
            if not os.access(p, os.X_OK):
                raise SetupError("%s not built (make bins)" % p)
        l, r = self.pair.left, self.pair.right
        self.tun = self.pair.prefix + "t"
        self.left = BenchKotetsud(l.ns, _mkdir(self.dir, "l"), self.tun, log_level="info")
        self.right = BenchKotetsud(r.ns, _mkdir(self.dir, "r"), self.tun, log_level="info")
        self.left.workers = self.right.workers = self.workers
        for kt, me, peer, lid, rid, lts, rts, start in (
                (self.left, l, r, "left.bench", "right.bench", LEFT_NET, RIGHT_NET, "listen"),
                (self.right, r, l, "right.bench", "left.bench", RIGHT_NET, LEFT_NET, "listen")):
            kt.write_config(ktd.psk_peer("b", me.addr, peer.addr, lid, rid, PSK, IKE,
                                         {"lan": {"local_ts": lts, "remote_ts": rts,
                                                  "esp": ESP}},
                                         start=start, nat_t=self.nat_t))
            kt.start()
        res, _ = self.left.up("b", wait=SETUP_TIMEOUT)
        for kt in (self.left, self.right):
            st = kt.wait_established("b", 1, timeout=SETUP_TIMEOUT)
            kids = [c for _, c in ktd.installed(st)]
            if not kids:
                raise SetupError("kotetsu did not establish (up: %d %s%s): %s"
                                 % (res.returncode, res.stdout, res.stderr, st))
            if kids[0].get("encap") != self.encap:
                self.notes.append("%s: encap %r, expected %r"
                                  % (kt.ns, kids[0].get("encap"), self.encap))
        self.notes.append("worker threads: %s" % ", ".join(
            str((kt.status().get("dataplane") or {}).get("workers", "?"))
            for kt in (self.left, self.right)))
        self._ensure_path()
        if Kotetsu.txqueuelen:
            for side in (l, r):
                run(IP, "-n", side.ns, "link", "set", self.tun, "txqueuelen", Kotetsu.txqueuelen)
            self.notes.append("harness set TUN txqueuelen %d (--kt-txqueuelen)"
                              % Kotetsu.txqueuelen)

    def _ensure_path(self):
        """The inner traffic must go to kotetsud's TUN. Where kotetsud has
        not set the TUN up or routed the remote net to it, do it here and
        say so in the notes (the data plane should)."""
        l, r = self.pair.left, self.pair.right
        for side, net, dst in ((l, RIGHT_NET, RIGHT_LAN), (r, LEFT_NET, LEFT_LAN)):
            link = wait_for(lambda: _ok(nsexec(side.ns, IP, "-j", "link", "show", "dev",
                                               self.tun, check=False)), 3)
            if not link:
                raise SetupError("%s: no TUN %s after the SA was installed" % (side.ns, self.tun))
            if "UP" not in json.loads(link.stdout)[0].get("flags", []):
                run(IP, "-n", side.ns, "link", "set", self.tun, "up")
                self.notes.append("%s: harness set TUN %s up" % (side.ns, self.tun))
            route = nsexec(side.ns, IP, "route", "get", dst, "from", side.lan[0], check=False)
            if ("dev %s " % self.tun) not in route.stdout + " ":
                run(IP, "-n", side.ns, "route", "replace", net, "dev", self.tun,
                    "src", side.lan[0])
                self.notes.append("%s: harness routed %s to %s (was: %s)"
                                  % (side.ns, net, self.tun, route.stdout.strip()
                                     or route.stderr.strip()))

    def stop(self):
        for kt in (getattr(self, "left", None), getattr(self, "right", None)):
            if kt:
                kt.stop()

    def pids(self):
        return [self.left.pid, self.right.pid]

    def devices(self):
        return super().devices() + [(self.pair.left.ns, self.tun), (self.pair.right.ns, self.tun)]

    def counters(self):
        out = {}
        for side, kt in (("l", self.left), ("r", self.right)):
            try:
                st = kt.status()
            except Exception as e:  # noqa: BLE001 -- a diagnosis, not the measurement
                out["%s.status_error" % side] = 1
                self.notes.append("status --json failed: %s" % str(e)[:200])
                continue
            for k, v in (st.get("drops") or {}).items():
                out["%s.drops.%s" % (side, k)] = v
            for _, c in ktd.installed(st):
                for k in ("packets_in", "packets_out", "bytes_in", "bytes_out"):
                    out["%s.%s" % (side, k)] = out.get("%s.%s" % (side, k), 0) + c.get(k, 0)
        return out

    def diagnostics(self):
        out = []
        for kt in (getattr(self, "left", None), getattr(self, "right", None)):
            if kt:
                out.append(kt.diagnostics(40))
                warn = kt.log_lines(r"\b(warn|error|drop|fail)")
                if warn:
                    out.append("--- %s: %d warn/error lines, last 10 ---\n%s"
                               % (kt.ns, len(warn), "\n".join(warn[-10:])))
        return "\n".join(out)


def _ok(res):
    """A finished command if it succeeded, else None (for wait_for)."""
    return res if res.returncode == 0 else None


class KotetsuUdp(Kotetsu):
    """kotetsu with ESP-in-UDP on port 4500 forced, as libipsec always
    does: the like-for-like comparison with strongSwan."""
    name = "kotetsu-udp"
    nat_t = "force"
    encap = "udp"


class KotetsuW0(Kotetsu):
    """kotetsu with workers = 0: the single-threaded data plane."""
    name = "kotetsu-w0"
    workers = "0"


class KotetsuUdpW0(KotetsuUdp):
    name = "kotetsu-udp-w0"
    workers = "0"


CLASSES = {c.name: c for c in (Plain, StrongSwan, WireGuardGo, Kotetsu, KotetsuW0, KotetsuUdp,
                               KotetsuUdpW0)}


def _mkdir(base, name):
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    return path


# --- probing a path: reachability and the largest packet that passes -----

ECHO = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(1.0)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(65535)
    except socket.timeout:
        continue
    if data == b"quit":
        break
    s.sendto(data, peer)
"""

PROBE = r"""
import json, socket, sys, time
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2   # linux/in.h: set DF, never fragment
src, dst, port, reach = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)

def echo(size, tries=3, wait=0.4):
    for _ in range(tries):
        try:
            s.sendto(b"x" * size, (dst, port))
        except OSError as e:
            return "local-%s" % e.strerror
        s.settimeout(wait)
        try:
            while True:
                data, _ = s.recvfrom(65535)
                if len(data) == size:
                    return "ok"
        except socket.timeout:
            pass
    return "lost"

t0, first = time.monotonic(), None
while time.monotonic() - t0 < reach:
    if echo(64, tries=1, wait=0.2) == "ok":
        first = time.monotonic() - t0
        break
out = {"reach_s": first, "sizes": {}}
if first is not None:
    lo, hi = 64, 1472          # UDP payloads: up to a 1500-byte inner packet
    out["sizes"][hi] = echo(hi)
    if out["sizes"][hi] != "ok":
        while hi - lo > 1:
            mid = (lo + hi) // 2
            out["sizes"][mid] = r = echo(mid)
            lo, hi = (mid, hi) if r == "ok" else (lo, mid)
        out["max_ok"] = lo
    else:
        out["max_ok"] = hi
s.sendto(b"quit", (dst, port))
print(json.dumps(out))
"""


def probe(pair):
    """UDP echo from left's inner address to right's: seconds until the
    first echo, and the largest UDP payload echoed with DF set (inner
    packet = payload + 28)."""
    echo = subprocess.Popen([IP, "netns", "exec", pair.right.ns, PYTHON, "-c", ECHO,
                             RIGHT_LAN, str(PROBE_PORT), str(REACH_TIMEOUT + 30)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # let it bind; the probe retries anyway
        res = nsexec(pair.left.ns, PYTHON, "-c", PROBE, LEFT_LAN, RIGHT_LAN, PROBE_PORT,
                     REACH_TIMEOUT, timeout=REACH_TIMEOUT + 30, check=False)
    finally:
        _stop_proc(echo)
    try:
        return json.loads(res.stdout)
    except ValueError:
        return {"reach_s": None, "error": (res.stdout + res.stderr)[-500:]}


# --- one iperf3 run --------------------------------------------------------

def _listening(ns):
    res = nsexec(ns, "ss", "-Hltn", "sport = :%d" % IPERF_PORT, check=False)
    return bool(res.stdout.strip())


def iperf_run(system, seconds, bidir=False):
    """One TCP stream from left to right for `seconds` (with bidir, one
    each way at once: iperf3 --bidir); returns the measurement (throughput,
    both ways added, CPU, counters) or one with an "error"."""
    pair = system.pair
    server = subprocess.Popen([IP, "netns", "exec", pair.right.ns, IPERF3, "-s", "-1",
                               "-B", RIGHT_LAN, "-p", str(IPERF_PORT)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        if not wait_for(lambda: _listening(pair.right.ns) or server.poll() is not None,
                        SERVER_TIMEOUT) or server.poll() is not None:
            return {"error": "iperf3 server did not listen: %s" % server.stderr.read()[-300:]
                    if server.poll() is not None else "iperf3 server did not listen"}
        before = _counters(system)
        cpu = CpuMeter(system.pids())
        cpu.start()
        try:
            res = nsexec(pair.left.ns, IPERF3, "-c", RIGHT_LAN, "-B", LEFT_LAN,
                         "-p", IPERF_PORT, "-t", seconds, "-J", "--connect-timeout", 5000,
                         *(["--bidir"] if bidir else []),
                         timeout=seconds + CLIENT_SLACK, check=False)
            out = res.stdout
        except subprocess.TimeoutExpired as e:
            out = None
            err = "iperf3 client still running %ss after the end: %s" % (
                CLIENT_SLACK, (e.stdout or b"")[-300:])
        used = cpu.stop()
        after = _counters(system)
        try:
            server.wait(SERVER_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _stop_proc(server)
    m = {"cpu": used, "counters": _delta(before, after)}
    if out is None:
        m["error"] = err
        return m
    return _parse_iperf(out, m)


def _counters(system):
    out = {}
    for ns, dev in system.devices():
        for k, v in _link_stats(ns, dev).items():
            out["%s:%s.%s" % (ns[-1], dev, k)] = v
    for side, ns in (("l", system.pair.left.ns), ("r", system.pair.right.ns)):
        for k, v in _snmp(ns).items():
            out["%s:%s" % (side, k)] = v
    out.update(system.counters())
    return out


def _parse_iperf(text, m):
    try:
        j = json.loads(text)
    except ValueError:
        m["error"] = "iperf3 printed no JSON: %s" % text[-300:]
        return m
    if j.get("error"):
        m["error"] = "iperf3: %s" % j["error"]
    end = j.get("end") or {}
    recv, sent = end.get("sum_received") or {}, end.get("sum_sent") or {}
    # --bidir: the reverse stream's sums come beside the forward ones.
    rrecv = end.get("sum_received_bidir_reverse") or {}
    rsent = end.get("sum_sent_bidir_reverse") or {}
    if not recv.get("bytes"):
        m.setdefault("error", "iperf3 reports no bytes received")
        return m
    rates = [iv["sum"]["bits_per_second"] +
             (iv.get("sum_bidir_reverse") or {}).get("bits_per_second", 0)
             for iv in j.get("intervals", []) if iv.get("sum", {}).get("seconds", 0) > 0.5]
    med = statistics.median(rates) if rates else 0
    m.update({
        "gbps": (recv["bits_per_second"] + rrecv.get("bits_per_second", 0)) / 1e9,
        "bytes": recv["bytes"] + rrecv.get("bytes", 0),
        "seconds": recv.get("seconds"),
        "retransmits": (sent.get("retransmits") or 0) + (rsent.get("retransmits") or 0),
        "interval_gbps": [round(r / 1e9, 3) for r in rates],
        "stalls": sum(1 for r in rates if r < STALL_FRACTION * med),
        "iperf_cpu": end.get("cpu_utilization_percent"),
    })
    return m


# --- the whole benchmark ---------------------------------------------------

def per_gb(runs, key):
    """CPU seconds per GB over all good runs together (sum over sum)."""
    good = [r for r in runs if "gbps" in r and r["cpu"].get(key) is not None]
    total = sum(r["bytes"] for r in good)
    return sum(r["cpu"][key] for r in good) / (total / GB) if total else None


def summarize(results):
    rows = {}
    for name, res in results.items():
        runs = res.get("runs", [])
        good = [r["gbps"] for r in runs if "gbps" in r and "error" not in r]
        rows[name] = {
            "system": LABELS[name],
            "gbps_median": statistics.median(good) if good else None,
            "gbps_runs": good,
            "process_cpu_s_per_gb": per_gb(runs, "process_s"),
            "machine_cpu_s_per_gb": per_gb(runs, "machine_s"),
            "softirq_cpu_s_per_gb": per_gb(runs, "softirq_s"),
            "error": res.get("error") or next((r["error"] for r in runs if "error" in r), None),
        }
    for ref, key in (("strongswan", "vs_strongswan"), ("wireguard-go", "vs_wireguard_go")):
        base = rows.get(ref, {}).get("gbps_median")
        for row in rows.values():
            g = row["gbps_median"]
            row[key] = g / base if g and base else None
    return rows


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def table(rows, reps, bidir=False):
    head = ("%-26s %8s  %-22s %12s %12s %8s %8s"
            % ("system", "Gbit/s", "runs", "proc CPU", "machine CPU", "×sswan", "×wg-go"))
    out = [head, "%-26s %8s  %-22s %12s %12s" % ("", "(median)", "", "s/GB", "s/GB"),
           "-" * len(head)]
    for row in rows.values():
        runs = " ".join("%.2f" % g for g in row["gbps_runs"])
        out.append("%-26s %8s  %-22s %12s %12s %8s %8s" % (
            row["system"], _fmt(row["gbps_median"], ".2f"), runs,
            _fmt(row["process_cpu_s_per_gb"], ".2f"), _fmt(row["machine_cpu_s_per_gb"], ".2f"),
            _fmt(row["vs_strongswan"], ".2f"), _fmt(row["vs_wireguard_go"], ".2f")))
        if row["error"]:
            out.append("    !! %s" % row["error"].splitlines()[0][:150])
    out.append("")
    out.append("Median of %d interleaved runs of iperf3 TCP, %s. proc CPU: user+system "
               "time of the tunnel's own processes (both sides; none for the plain veth); "
               "softirq work the kernel does for them is not attributable and not counted. "
               "machine CPU: all CPUs' busy time from /proc/stat (iperf3 and kernel included)."
               % (reps, "one stream each way at once (Gbit/s: both added)" if bidir
                  else "one stream"))
    return "\n".join(out)


def targets(rows):
    """The targets, for each kotetsu variant measured ("kotetsu" is the
    default configuration)."""
    lines = []
    for name, kt in rows.items():
        if not name.startswith("kotetsu"):
            continue
        g = kt.get("gbps_median")
        for key, need, who in (("vs_strongswan", 2.0, "strongSwan"),
                               ("vs_wireguard_go", 1.5, "wireguard-go")):
            r = kt.get(key)
            ok = r is not None and r >= need
            lines.append("target %s >= %.1fx %s: %s (%s)"
                         % (LABELS[name], need, who, "met" if ok else "NOT met",
                            "%.2fx" % r if r is not None else
                            "no figure" if g else "not measured"))
    return lines


def diagnosis(results):
    out = []
    for name, res in results.items():
        lines = []
        p = res.get("probe") or {}
        if p:
            mx = p.get("max_ok")
            lines.append("probe: first echo after %s s; largest DF UDP payload echoed %s "
                         "(inner packet %s)" % (
                             _fmt(p.get("reach_s"), ".2f"), mx, mx + 28 if mx else "—"))
            sizes = p.get("sizes", {}).items()
            local = sorted(int(k) for k, v in sizes if v.startswith("local-"))
            lost = sorted(int(k) for k, v in sizes if v == "lost")
            if local:
                lines.append("probe: refused locally (EMSGSIZE: above the route's MTU) from "
                             "payload %d" % local[0])
            if lost:
                lines.append("probe: LOST in the tunnel (sent, no echo) at payloads %s" % lost)
        for note in res.get("notes", []):
            lines.append("note: " + note)
        for i, r in enumerate(res.get("runs", [])):
            if "error" in r:
                lines.append("run %d: ERROR %s" % (i + 1, r["error"][:300]))
            if "gbps" in r:
                lines.append("run %d: %.2f Gbit/s, retransmits %s, stalls %d, per second %s"
                             % (i + 1, r["gbps"], r.get("retransmits"), r.get("stalls", 0),
                                r.get("interval_gbps")))
            each = list((r.get("cpu") or {}).get("process_each_s", {}).values())
            if each and "gbps" in r:
                lines.append("    CPU s: tunnel processes %s (left, right), machine %.1f of "
                             "which softirq %.1f" % (" ".join("%.1f" % c for c in each),
                                                     r["cpu"]["machine_s"],
                                                     r["cpu"]["softirq_s"]))
            if r.get("counters"):
                lines.append("    counters that grew: %s" % _drops_only(r["counters"]))
        if lines:
            out.append("[%s]\n  %s" % (LABELS[name], "\n  ".join(lines)))
    return "\n".join(out)


def _drops_only(c):
    """Error and drop counters first; packet counts only for the tunnel
    (to spot a side that sent but got nothing)."""
    bad = {k: v for k, v in c.items()
           if any(w in k for w in ("drop", "error", "Error", "Discard", "Fail", "NoPorts"))}
    return bad or "(no drops or errors)"


def setup_system(name, stack, workbase):
    """A fresh namespace pair with the system's tunnel up; registers the
    teardown on stack. Returns (system, result dict); on failure raises
    SetupError carrying the system's logs."""
    pair = stack.enter_context(veth_pair(left_lan=(LEFT_LAN,), right_lan=(RIGHT_LAN,)))
    sysobj = CLASSES[name](pair, _mkdir(workbase, name))
    stack.callback(sysobj.stop)
    res = {"namespaces": [pair.left.ns, pair.right.ns], "notes": sysobj.notes}
    t0 = time.monotonic()
    try:
        sysobj.setup()
        res["setup_s"] = round(time.monotonic() - t0, 2)
        res["probe"] = probe(pair)
        if res["probe"].get("reach_s") is None:
            raise SetupError("the tunnel carries no traffic: no UDP echo from %s to %s "
                             "within %ss %s" % (LEFT_LAN, RIGHT_LAN, REACH_TIMEOUT,
                                                res["probe"].get("error", "")))
    except (SetupError, RuntimeError, AssertionError, OSError, ValueError,
            subprocess.SubprocessError) as e:
        err = SetupError(str(e))
        err.result = res
        try:
            err.diagnostics = sysobj.diagnostics()
        except Exception as d:  # noqa: BLE001 -- half set up: say what we can
            err.diagnostics = "(no diagnostics: %s)" % d
        raise err from None
    return sysobj, res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=10, help="length of one iperf3 run")
    ap.add_argument("--reps", type=int, default=3, help="interleaved runs per system")
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                    help="comma list of: %s" % ", ".join(SYSTEMS))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "net_bench.json"))
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the work directory (configs and logs) even on success")
    ap.add_argument("--bidir", action="store_true",
                    help="a stream each way at once (iperf3 --bidir); Gbit/s adds both")
    ap.add_argument("--kt-txqueuelen", type=int, metavar="N",
                    help="experiment: set kotetsu's TUN txqueuelen to N once it is up")
    args = ap.parse_args(argv)
    Kotetsu.txqueuelen = args.kt_txqueuelen
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if unknown or args.seconds < 1 or args.reps < 1:
        ap.error("unknown system(s) %s" % unknown if unknown else "--seconds, --reps >= 1")
    if os.geteuid() != 0:
        print("net_bench: needs root (network namespaces)", file=sys.stderr)
        return 1
    missing = [t for t in (IPERF3, WIREGUARD_GO, WG, CHARON, SWANCTL) if not os.path.exists(t)]
    if missing:
        print("net_bench: missing %s: run scripts/install-deps" % ", ".join(missing),
              file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    workbase = tempfile.mkdtemp(prefix="ktb-", dir="/tmp")
    results, failed = {n: {} for n in names}, False
    try:
        with contextlib.ExitStack() as all_stack:
            live = {}
            for name in names:
                stack = contextlib.ExitStack()
                try:
                    live[name], results[name] = setup_system(name, stack, workbase)
                    all_stack.push(stack.__exit__)
                    print("net_bench: %s up (%ss)" % (LABELS[name], results[name]["setup_s"]),
                          file=sys.stderr, flush=True)
                except (SetupError, RuntimeError, OSError, subprocess.SubprocessError) as e:
                    results[name] = dict(getattr(e, "result", {}), error="setup: %s" % e,
                                         diagnostics=getattr(e, "diagnostics", ""))
                    print("net_bench: %s could not be measured: %s\n%s"
                          % (LABELS[name], e, results[name]["diagnostics"]),
                          file=sys.stderr, flush=True)
                    stack.close()
                    failed = True
            for rep in range(args.reps):
                for name, sysobj in live.items():
                    m = iperf_run(sysobj, args.seconds, args.bidir)
                    results[name].setdefault("runs", []).append(m)
                    print("net_bench: run %d/%d %-26s %s" % (
                        rep + 1, args.reps, LABELS[name],
                        "%.2f Gbit/s" % m["gbps"] if "gbps" in m else m.get("error")),
                        file=sys.stderr, flush=True)
            for name, sysobj in live.items():
                if any("error" in r for r in results[name]["runs"]):
                    failed = True
                    with contextlib.suppress(Exception):
                        results[name]["diagnostics"] = sysobj.diagnostics()
    finally:
        keep = os.path.join(ROOT, "build", "net_bench-logs")
        shutil.rmtree(keep, ignore_errors=True)  # an older run's: would mislead
        if failed or args.keep_logs:
            with contextlib.suppress(OSError):
                shutil.copytree(workbase, keep)
        shutil.rmtree(workbase, ignore_errors=True)

    rows = summarize(results)
    report = {"seconds": args.seconds, "reps": args.reps, "cpus": os.cpu_count(),
              "bidir": args.bidir,
              "ike": IKE, "esp": ESP, "table": list(rows.values()),
              "targets": targets(rows), "results": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1, default=str)
    print(table(rows, args.reps, args.bidir))
    if any(n.startswith("kotetsu") for n in rows):
        print("\n".join(targets(rows)))
    print("\n" + diagnosis(results))
    print("\nJSON: %s%s" % (args.json, "; logs: build/net_bench-logs" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
