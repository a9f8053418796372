"""Network namespaces for the network tests: uniquely named namespaces joined
by a veth pair, commands run inside them, bounded waits, and teardown that
removes exactly what was made (even when a test fails half way).

Only addresses inside these namespaces carry traffic: 192.0.2.0/24 (RFC 5737)
on the veth pair and 10.x "LAN" addresses on each namespace's loopback."""

import contextlib
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "ip"
CMD_TIMEOUT = 10  # seconds for one ip(8) call


def require_root():
    """Skip (with the reason) when namespaces cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("network tests need root (ip netns add, veth, TUN)")


def unique_prefix():
    """A short name part no other test run uses at the same time: "kt" +
    4 hex digits of our pid + 4 random hex digits (interface names allow 15
    characters, so the prefix stays at 10)."""
    return "kt%04x%s" % (os.getpid() & 0xFFFF, secrets.token_hex(2))


def run(*args, timeout=CMD_TIMEOUT, check=True, input=None):
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                         timeout=timeout, input=input)
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(map(str, args)),
                                                        res.returncode, res.stderr.strip()))
    return res


def nsexec(ns, *args, timeout=CMD_TIMEOUT, check=True, input=None):
    """Run a command inside namespace ns and wait for it (bounded)."""
    return run(IP, "netns", "exec", ns, *args, timeout=timeout, check=check, input=input)


def wait_for(predicate, timeout, interval=0.05):
    """Poll predicate() until it returns a true value or timeout seconds pass.
    Returns the last value (false on timeout); never waits unbounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


MAX_WORKDIR = 64  # characters: unix socket paths below it must fit in 107


@contextlib.contextmanager
def work_dir(tmp_path_factory):
    """A fresh directory for one test's configs, logs and sockets. pytest's
    own (kept for the last few runs, handy after a failure) when its path
    is short enough for unix sockets below it; else one in /tmp, removed
    afterwards."""
    path = tmp_path_factory.mktemp("kt")
    if len(str(path)) <= MAX_WORKDIR:
        yield path
        return
    path = pathlib.Path(tempfile.mkdtemp(prefix="kt-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ns_exists(ns):
    return os.path.exists(os.path.join("/run/netns", ns))


def add_ns(ns, ipv6=False):
    run(IP, "netns", "add", ns)
    if not ipv6:
        # No link-local addresses coming up later: they make charon roam
        # (MOBIKE updates) in the middle of a test.
        nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1")
    run(IP, "-n", ns, "link", "set", "lo", "up")


def del_ns(ns):
    """Delete a namespace we made; its veth end goes with it."""
    if ns_exists(ns):
        run(IP, "netns", "del", ns, check=False)


class Side:
    """One namespace of a pair: its name, veth address and LAN addresses."""

    def __init__(self, ns, ifname, addr, lan):
        self.ns, self.ifname, self.addr, self.lan = ns, ifname, addr, list(lan)

    def __repr__(self):
        return "Side(%s %s)" % (self.ns, self.addr)


class Pair:
    """Two namespaces joined by a veth pair on 192.0.2.0/24."""

    def __init__(self, prefix, left, right):
        self.prefix, self.left, self.right = prefix, left, right


@contextlib.contextmanager
def veth_pair(left_addr="192.0.2.1", right_addr="192.0.2.2", plen=24,
              left_lan=("10.1.0.1",), right_lan=("10.2.0.1",), prefix=None, ipv6=False):
    """Make namespaces PREFIXl and PREFIXr joined by veth PREFIXl/PREFIXr,
    with the given addresses; each LAN address goes on loopback as a /32 (a
    gateway owns an address in its local traffic selector: strongSwan's
    kernel-libipsec needs one to install its route). Yields a Pair; deletes
    both namespaces afterwards, whatever happened. IPv6 is off unless
    ipv6 is true."""
    prefix = prefix or unique_prefix()
    left = Side(prefix + "l", prefix + "l", left_addr, left_lan)
    right = Side(prefix + "r", prefix + "r", right_addr, right_lan)
    made = []
    try:
        for side in (left, right):
            made.append(side.ns)
            add_ns(side.ns, ipv6)
        run(IP, "link", "add", left.ifname, "netns", left.ns, "type", "veth",
            "peer", "name", right.ifname, "netns", right.ns)
        for side in (left, right):
            run(IP, "-n", side.ns, "addr", "add", "%s/%d" % (side.addr, plen),
                "dev", side.ifname)
            for a in side.lan:
                run(IP, "-n", side.ns, "addr", "add", a + "/32", "dev", "lo")
            run(IP, "-n", side.ns, "link", "set", side.ifname, "up")
        yield Pair(prefix, left, right)
    finally:
        for ns in made:
            del_ns(ns)
