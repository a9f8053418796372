"""kotetsud as a test peer inside a network namespace: writes its config in
DESIGN.md's INI format (socket, pid file and TUN name unique to the test),
starts and stops exactly the daemon it started, and drives it with the
kotetsu CLI (`kotetsu -s SOCK status --json`, `up`, `down`)."""

import json
import os
import re
import subprocess

import pytest

from netns import IP, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# KOTETSU_BUILD points at another build of the same programs (a sanitizer
# build, say); the default is the tree's build/.
BUILD = os.path.join(ROOT, os.environ.get("KOTETSU_BUILD") or "build")
KOTETSUD = os.path.join(BUILD, "kotetsud")
KOTETSU = os.path.join(BUILD, "kotetsu")
START_TIMEOUT = 10  # seconds until the control socket answers
STOP_TIMEOUT = 5    # seconds between SIGTERM and SIGKILL
CLI_TIMEOUT = 10    # seconds for one CLI call (plus any --wait)


def require_built():
    """Fail (not skip) when the daemon or CLI has not been built."""
    missing = [p for p in (KOTETSUD, KOTETSU) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("%s not built: the kotetsu interop tests need kotetsud and kotetsu "
                    "in %s (build them with make first)" % (", ".join(missing), BUILD),
                    pytrace=False)


def _value(v):
    if isinstance(v, (list, tuple)):
        return ", ".join(v)
    return str(v)


def ini(sections):
    """[(section header, {key: value or list})] to INI text. A list value
    is written as one comma list, or as repeated keys when it is too long
    for one line (the parser accumulates repeated list keys)."""
    out = []
    for header, keys in sections:
        out.append("[%s]" % header)
        for k, v in keys.items():
            line = "%s = %s" % (k, _value(v))
            if isinstance(v, (list, tuple)) and len(line) > 150:
                out += ["%s = %s" % (k, item) for item in v]
            else:
                out.append(line)
        out.append("")
    return "\n".join(out)


def psk_peer(name, local, remote, local_id, remote_id, psk, ike, children,
             start="listen", nat_t="auto"):
    """Sections for one PSK peer. children: {name: dict with local_ts,
    remote_ts, esp and optionally mode}."""
    secs = [("peer " + name, {
        "local": local, "remote": remote, "local-id": local_id, "remote-id": remote_id,
        "auth": "psk", "psk": '"%s"' % psk, "ike": ike, "start": start, "nat-t": nat_t})]
    for cname, c in children.items():
        secs.append(("child %s/%s" % (name, cname), {
            "mode": c.get("mode", "tunnel"), "protocol": c.get("protocol", "esp"),
            "local-ts": c["local_ts"], "remote-ts": c["remote_ts"], "esp": c["esp"]}))
    return secs


# --- reading `status --json` ----------------------------------------------

def peer_entries(status, name):
    """Every entry for peer name: one per IKE SA (several while one is
    being replaced), or one with state "down" when it has none."""
    return [p for p in status.get("peers", []) if p.get("name") == name]


def peer_of(status, name):
    """The established entry for peer name, else its first entry, else None."""
    entries = peer_entries(status, name)
    for p in entries:
        if p.get("state") == "established":
            return p
    return entries[0] if entries else None


def established(status):
    return [p for p in status.get("peers", []) if p.get("state") == "established"]


def installed(status):
    """[(peer name, child dict)] for every installed child."""
    return [(p.get("name"), c) for p in status.get("peers", [])
            for c in p.get("children", []) or [] if c.get("state") == "installed"]


def port_of(endpoint):
    """"192.0.2.1:4500" or "[2001:db8::1]:4500" -> 4500."""
    return int(str(endpoint).rsplit(":", 1)[1])


# More [daemon] keys for every kotetsud a test starts (monkeypatch it:
# {"offload": "off"}).
DAEMON_EXTRA = {}


class Kotetsud:
    """One kotetsud in namespace ns with its files in workdir."""

    def __init__(self, ns, workdir, tun, log_level="debug"):
        self.ns, self.dir, self.tun, self.log_level = ns, str(workdir), tun, log_level
        self.conf = os.path.join(self.dir, "kotetsu.conf")
        self.sock = os.path.join(self.dir, "kotetsud.sock")
        self.pidfile = os.path.join(self.dir, "kotetsud.pid")
        self.log = os.path.join(self.dir, "kotetsud.log")
        self.proc = None

    def write_config(self, peer_sections):
        daemon = ("daemon", dict({"socket": self.sock, "pidfile": self.pidfile,
                                  "tun": self.tun, "log-level": self.log_level},
                                 **DAEMON_EXTRA))
        with open(self.conf, "w") as f:
            f.write("# Written by tests/py/kotetsud.py for one test.\n")
            f.write(ini([daemon] + list(peer_sections)))
        return self.conf

    # life cycle

    def start(self, timeout=START_TIMEOUT):
        require_built()
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", self.ns, KOTETSUD, "-f", "-v", "-c", self.conf],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if not wait_for(self._ready, timeout, interval=0.05):
            detail = self.diagnostics()
            self.stop()
            raise AssertionError("kotetsud in %s did not answer on %s within %ss\n%s"
                                 % (self.ns, self.sock, timeout, detail))
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("kotetsud in %s exited with %s at start\n%s"
                                 % (self.ns, self.proc.returncode, self.diagnostics()))
        try:
            exe = os.readlink("/proc/%d/exe" % self.proc.pid)
        except OSError:
            return False
        # Until ip(8) has exec'd the daemon, the pid is still ip's.
        if exe == os.path.realpath(IP) or not os.path.exists(self.sock):
            return False
        return self.cli("status", "--json", timeout=3).returncode == 0

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop our kotetsud (by its pid only): SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    # CLI

    def cli(self, *args, timeout=CLI_TIMEOUT):
        return subprocess.run([KOTETSU, "-s", self.sock, *map(str, args)],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def status(self):
        res = self.cli("status", "--json")
        if res.returncode != 0:
            raise AssertionError("kotetsu status --json failed (%d): %s\n%s"
                                 % (res.returncode, res.stderr, self.diagnostics()))
        try:
            return json.loads(res.stdout)
        except ValueError as e:
            raise AssertionError("kotetsu status --json printed no JSON (%s):\n%s"
                                 % (e, res.stdout)) from None

    def up(self, name, wait=10):
        """`kotetsu up NAME --wait SECONDS`; when the CLI knows no --wait
        (usage error, exit 2), plain `up NAME`. Returns (result, waited)."""
        res = self.cli("up", name, "--wait", wait, timeout=wait + CLI_TIMEOUT)
        if res.returncode == 2:
            return self.cli("up", name), False
        return res, True

    def down(self, name):
        return self.cli("down", name)

    def wait_established(self, name, children=1, timeout=10):
        """Poll until peer name is established with at least `children`
        installed children; returns the last status."""
        last = {}

        def done():
            nonlocal last
            last = self.status()
            p = peer_of(last, name)
            return (p is not None and p.get("state") == "established" and
                    len([c for c in p.get("children") or [] if c.get("state") == "installed"])
                    >= children)
        wait_for(done, timeout, interval=0.1)
        return last

    def wait_nothing(self, timeout=10):
        """Poll until no peer is established and no child installed."""
        last = {}

        def done():
            nonlocal last
            last = self.status()
            return not established(last) and not installed(last)
        wait_for(done, timeout, interval=0.1)
        return last

    # log

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern):
        """Log lines matching a regular expression (case-insensitive)."""
        rx = re.compile(pattern, re.I)
        return [ln for ln in self.log_text().splitlines() if rx.search(ln)]

    def wait_log(self, pattern, timeout=10):
        return wait_for(lambda: self.log_lines(pattern), timeout, interval=0.1)

    def sanitizer_reports(self):
        """AddressSanitizer / UBSan / ThreadSanitizer findings in the log (a
        sanitizer build writes them to stderr, which is the log)."""
        return self.log_lines(r"ERROR: (Address|Leak)Sanitizer|runtime error:|"
                              r"WARNING: ThreadSanitizer")

    def diagnostics(self, lines=60):
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        state = "running" if self.running() else "exited %s" % (
            self.proc.returncode if self.proc else "(not started)")
        return "--- kotetsud (%s, %s) log tail ---\n%s" % (self.ns, state, tail)
