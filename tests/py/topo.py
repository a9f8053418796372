"""The data-plane tests' world: four network namespaces in a line, "site A
- internet - site B", and what the tests do in it: ping, iperf3, captures
on a link (tcpdump), frames written straight onto a link (AF_PACKET), and
kotetsu.conf sections for a gateway or host.

    hostA ----- gwA ================= gwB ----- hostB
         LAN A       "the internet"       LAN B
    10.1.0.0/24      192.0.2.0/24         10.2.0.0/24
    2001:db8:a::/64  2001:db8::/64        2001:db8:b::/64

Host addresses end in .2 (::2), gateway LAN addresses in .1 (::1); gwA is
192.0.2.1 (2001:db8::1) on the internet link, gwB .2 (::2). Only the
gateways forward. By default the gateways know no route to the far LAN:
only an IPsec tunnel joins the sites; routed=True adds plain routes (for
hosts that run IPsec themselves, the gateways being mere routers).

Namespaces and links have unique names and are deleted on exit, whatever
happened; every command and wait is bounded; processes are stopped by the
pid we started."""

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import time

import pytest

from netns import IP, add_ns, del_ns, nsexec, run, unique_prefix, wait_for

PYTHON = "/usr/bin/python3"
TCPDUMP = "/usr/bin/tcpdump"
IPERF3 = "/usr/bin/iperf3"

LAN = {"A": {4: "10.1.0.0/24", 6: "2001:db8:a::/64"},
       "B": {4: "10.2.0.0/24", 6: "2001:db8:b::/64"}}
INET = {4: "192.0.2.0/24", 6: "2001:db8::/64"}
PLEN = {4: 24, 6: 64}


def host_addr(net, n):
    """The n-th address of a network given as text."""
    return str(ipaddress.ip_network(net)[n])


class Node:
    """One namespace: its role ("hostA", "gwA", ...), its interfaces
    ("lan", and "inet" on gateways) and its addresses per family."""

    def __init__(self, role, ns):
        self.role, self.ns = role, ns
        self.ifs = {}    # "lan" / "inet" -> interface name
        self.addrs = {}  # ("lan" | "inet", family) -> address

    def addr(self, family=4, link=None):
        """This node's address: on the internet link for a gateway (unless
        link says "lan"), on its LAN for a host."""
        link = link or ("inet" if "inet" in self.ifs else "lan")
        return self.addrs[(link, family)]

    def __repr__(self):
        return "Node(%s %s)" % (self.role, self.ns)


class Sites:
    """hostA, gwA, gwB, hostB (see the module's docstring)."""

    def __init__(self, prefix, ipv6):
        self.prefix, self.ipv6 = prefix, ipv6
        self.hostA = Node("hostA", prefix + "hA")
        self.gwA = Node("gwA", prefix + "gA")
        self.gwB = Node("gwB", prefix + "gB")
        self.hostB = Node("hostB", prefix + "hB")
        self.nodes = [self.hostA, self.gwA, self.gwB, self.hostB]

    def lan(self, site, family=4):
        return LAN[site][family]

    def families(self):
        return (4, 6) if self.ipv6 else (4,)


def _sysctl(ns, *settings):
    nsexec(ns, "sysctl", "-qw", *settings)


def _link(a, a_if, b, b_if):
    run(IP, "link", "add", a_if, "netns", a.ns, "type", "veth", "peer", "name", b_if,
        "netns", b.ns)


def _address(node, link, ifname, family, addr):
    extra = ["nodad"] if family == 6 else []
    run(IP, "-n", node.ns, "addr", "add", "%s/%d" % (addr, PLEN[family]), "dev", ifname, *extra)
    node.addrs[(link, family)] = addr


def _build(s, routed):
    p = s.prefix
    # Each link: its network and its two ends (node, link role, interface,
    # host number): on a LAN the gateway is .1 and the host .2; on the
    # internet link gwA is .1 and gwB .2.
    links = [(LAN["A"], (s.hostA, "lan", p + "ha", 2), (s.gwA, "lan", p + "al", 1)),
             (INET, (s.gwA, "inet", p + "ai", 1), (s.gwB, "inet", p + "bi", 2)),
             (LAN["B"], (s.gwB, "lan", p + "bl", 1), (s.hostB, "lan", p + "hb", 2))]
    for node in s.nodes:
        if s.ipv6:
            # Link-local addresses usable at once: no DAD wait on any link.
            _sysctl(node.ns, "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0")
        gw = node.role.startswith("gw")
        _sysctl(node.ns, "net.ipv4.ip_forward=%d" % gw)
        if gw:
            # Reverse-path filtering off, so that what stops a forged packet
            # in these tests is kotetsud's firewall and nothing else.
            _sysctl(node.ns, "net.ipv4.conf.all.rp_filter=0",
                    "net.ipv4.conf.default.rp_filter=0")
            if s.ipv6:
                _sysctl(node.ns, "net.ipv6.conf.all.forwarding=1")
    for nets, a, b in links:
        _link(a[0], a[2], b[0], b[2])
        for node, role, ifname, num in (a, b):
            node.ifs[role] = ifname
            for fam in s.families():
                _address(node, role, ifname, fam, host_addr(nets[fam], num))
            run(IP, "-n", node.ns, "link", "set", ifname, "up")
    for fam in s.families():
        for host, gw in ((s.hostA, s.gwA), (s.hostB, s.gwB)):
            run(IP, "-%d" % fam, "-n", host.ns, "route", "add", "default", "via",
                gw.addr(fam, "lan"))
        if routed:
            for gw, far, peer in ((s.gwA, "B", s.gwB), (s.gwB, "A", s.gwA)):
                run(IP, "-%d" % fam, "-n", gw.ns, "route", "add", LAN[far][fam], "via",
                    peer.addr(fam, "inet"))


@contextlib.contextmanager
def sites(ipv6=True, routed=False, prefix=None):
    """Make the four namespaces; yields Sites; deletes them afterwards.
    ipv6=False turns IPv6 off everywhere (charon roams to link-local
    addresses otherwise)."""
    s = Sites(prefix or unique_prefix(), ipv6)
    made = []
    try:
        for node in s.nodes:
            made.append(node.ns)
            add_ns(node.ns, ipv6)
        _build(s, routed)
        yield s
    finally:
        for ns in made:
            del_ns(ns)


# --- traffic --------------------------------------------------------------

class PingResult:
    def __init__(self, sent, received, text):
        self.sent, self.received, self.text = sent, received, text

    def __repr__(self):
        return "ping: %d sent, %d received\n%s" % (self.sent, self.received, self.text)


PING_RE = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")


def ping(ns, dst, count=5, interval=0.05, wait=2, size=None, pattern=None, dont_frag=False):
    """ping -c count from ns (exactly count requests), waiting `wait`
    seconds for the last reply. Returns a PingResult (sent, received,
    output)."""
    args = ["ping", "-n", "-c", count, "-i", interval, "-W", wait]
    if ":" in dst:
        args.insert(1, "-6")
    if size is not None:
        args += ["-s", size]
    if pattern:
        args += ["-p", pattern]
    if dont_frag:
        args += ["-M", "do"]
    res = nsexec(ns, *args, dst, timeout=count * interval + wait + 10, check=False)
    text = res.stdout + res.stderr
    m = PING_RE.search(text)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return PingResult(sent, received, text)


def ping_until(ns, dst, timeout=10):
    """One ping a second until one is answered or timeout passes. Returns
    (answered, attempts)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        if ping(ns, dst, count=1, wait=1).received:
            return True, attempts
    return False, attempts


def _listening(ns, port):
    res = nsexec(ns, "ss", "-Hltn", "sport = :%d" % port, check=False)
    return bool(res.stdout.strip())


class IperfError(AssertionError):
    pass


def iperf3(server_ns, client_ns, server_addr, seconds=2, reverse=False, port=5201):
    """One TCP iperf3 run (one stream) from client_ns to server_addr in
    server_ns (server to client with reverse). Returns the client's JSON
    report; raises IperfError with both sides' output when it fails."""
    server = subprocess.Popen([IP, "netns", "exec", server_ns, IPERF3, "-s", "-1", "-p",
                               str(port)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    out = ""
    try:
        if not wait_for(lambda: server.poll() is not None or _listening(server_ns, port), 5):
            raise IperfError("iperf3 server in %s did not listen on %d" % (server_ns, port))
        args = [IPERF3, "-c", server_addr, "-p", port, "-t", seconds, "-J",
                "--connect-timeout", 3000]
        if reverse:
            args.append("-R")
        res = nsexec(client_ns, *args, timeout=seconds + 20, check=False)
        out = res.stdout
        try:
            report = json.loads(res.stdout)
        except ValueError:
            report = {"error": "no JSON: " + res.stdout[-500:] + res.stderr[-500:]}
        if res.returncode != 0 or "error" in report:
            raise IperfError("iperf3 %s -> %s failed (%d): %s"
                             % (client_ns, server_addr, res.returncode, report.get("error")))
        return report
    except IperfError as e:
        stop(server)
        sout = server.stdout.read() if server.stdout else ""
        raise IperfError("%s\n--- server ---\n%s\n--- client ---\n%s"
                         % (e, sout[-1500:], out[-1500:])) from None
    finally:
        stop(server)


def iperf_bytes(report):
    """Bytes the receiving side got (TCP payload)."""
    return int(report["end"]["sum_received"]["bytes"])


def stop(proc, timeout=5, sig=signal.SIGTERM):
    """Stop a process we started (by its pid): sig, then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


# --- captures ---------------------------------------------------------------

class Capture:
    """tcpdump on one interface of a namespace, into a pcap file. Immediate
    mode: without it, packets still in the kernel's ring buffer when we
    stop the capture are lost (dumpcap has no such mode)."""

    def __init__(self, ns, iface, path, bpf=None, snaplen=None):
        self.ns, self.iface, self.path, self.bpf, self.snaplen = ns, iface, str(path), bpf, snaplen
        self.proc = None

    def start(self, timeout=5):
        args = [IP, "netns", "exec", self.ns, TCPDUMP, "-q", "-n", "-U", "--immediate-mode",
                "-Z", "root", "-i", self.iface, "-w", self.path]
        if self.snaplen:
            args += ["-s", str(self.snaplen)]
        if self.bpf:
            args.append(self.bpf)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # tcpdump writes the file header once the interface is open.
        if not wait_for(lambda: self.proc.poll() is not None or
                        (os.path.exists(self.path) and os.path.getsize(self.path) > 0), timeout):
            self.stop()
            raise AssertionError("tcpdump on %s/%s did not start" % (self.ns, self.iface))
        if self.proc.poll() is not None:
            raise AssertionError("tcpdump on %s/%s exited: %s"
                                 % (self.ns, self.iface, self.proc.stderr.read()))
        time.sleep(0.1)
        return self

    def stop(self):
        """SIGINT lets tcpdump write what it has."""
        if self.proc is not None:
            time.sleep(0.1)
            stop(self.proc, sig=signal.SIGINT)

    def packets(self):
        from scapy.all import rdpcap
        return list(rdpcap(self.path))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def outer_ip(pkt):
    """The outermost IP or IPv6 layer of a captured frame, or None."""
    from scapy.all import IP as SIP, IPv6
    for cls in (SIP, IPv6):
        if cls in pkt:
            return pkt[cls]
    return None


IKE_PORTS = (500, 4500)
ND_TYPES = range(133, 138)  # ICMPv6 router and neighbour discovery, redirect


def describe(ip):
    return ip.summary() if ip is not None else "?"


def in_nets(addr, nets):
    a = ipaddress.ip_address(addr)
    return any(a in ipaddress.ip_network(n) for n in nets)


def cleartext_leaks(pkts, protected_nets=(), ends=None):
    """Captured packets that carry protected traffic in clear.
    protected_nets: any outer header to or from one of these networks is a
    leak (tunnel mode: LAN addresses must never show on the internet).
    ends: (a, b) of a transport-mode pair: between them only ESP, AH, IKE
    (UDP 500/4500) and ICMPv6 neighbour discovery may pass."""
    from scapy.all import UDP
    leaks = []
    for p in pkts:
        ip = outer_ip(p)
        if ip is None:
            continue
        if protected_nets and (in_nets(ip.src, protected_nets) or
                               in_nets(ip.dst, protected_nets)):
            leaks.append(p)
            continue
        if ends and {ip.src, ip.dst} == set(ends):
            proto = ip.proto if ip.version == 4 else ip.nh
            if proto in (50, 51):
                continue
            if proto == 17 and UDP in p and (p[UDP].sport in IKE_PORTS or
                                             p[UDP].dport in IKE_PORTS):
                continue
            if proto == 58 and getattr(ip.payload, "type", None) in ND_TYPES:
                continue
            leaks.append(p)
    return leaks


def count_proto(pkts, protos):
    """Packets whose outer IP protocol is in protos (50 ESP, 51 AH; 4500
    means ESP in UDP: UDP port 4500 without the non-ESP marker)."""
    from scapy.all import UDP
    n = 0
    for p in pkts:
        ip = outer_ip(p)
        if ip is None:
            continue
        proto = ip.proto if ip.version == 4 else ip.nh
        if proto in protos:
            n += 1
        elif 4500 in protos and proto == 17 and UDP in p and p[UDP].dport == 4500:
            body = bytes(p[UDP].payload)
            if len(body) > 8 and body[:4] != b"\0\0\0\0":
                n += 1
    return n


# --- frames written onto a link --------------------------------------------

INJECT = """\
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
n = 0
for line in sys.stdin:
    if line.strip():
        s.send(bytes.fromhex(line.strip()))
        n += 1
print(n)
"""


def mac(ns, ifname):
    res = nsexec(ns, IP, "-j", "link", "show", "dev", ifname)
    return json.loads(res.stdout)[0]["address"]


def inject(ns, ifname, frames):
    """Write Ethernet frames (bytes or scapy packets) onto ifname in ns
    with an AF_PACKET socket: no routing, no firewall, no TUN on the way
    out. Returns how many were sent."""
    text = "\n".join(bytes(f).hex() for f in frames) + "\n"
    res = nsexec(ns, PYTHON, "-c", INJECT, ifname, input=text, timeout=20)
    return int(res.stdout.strip() or 0)


def frames_to(sites_, from_gw, to_gw, packets):
    """Ethernet frames on the internet link from from_gw to to_gw."""
    from scapy.all import Ether
    src = mac(from_gw.ns, from_gw.ifs["inet"])
    dst = mac(to_gw.ns, to_gw.ifs["inet"])
    return [Ether(src=src, dst=dst) / p for p in packets]


# --- kotetsu.conf sections --------------------------------------------------

IKE = "aes256gcm16-prfsha384-x25519"


def kt_peer(name, local, remote, psk, children, start="listen", ike=IKE, nat_t="auto"):
    """Sections for one PSK peer (for kotetsud.Kotetsud.write_config).
    children: [dict(name, mode, protocol, local_ts, remote_ts, esp, ah)];
    selectors may be left out in transport mode (default "dynamic"). IDs
    default to the addresses."""
    return [("peer " + name, {"local": local, "remote": remote, "auth": "psk",
                              "psk": '"%s"' % psk, "ike": ike, "start": start,
                              "nat-t": nat_t})] + child_sections(name, children)


def child_sections(peer, children):
    """[child PEER/NAME] sections from dicts with mode, protocol,
    local_ts, remote_ts, esp, ah and name (default "lan")."""
    secs = []
    for c in children:
        keys = {"mode": c.get("mode", "tunnel"), "protocol": c.get("protocol", "esp")}
        for k in ("local_ts", "remote_ts", "esp", "ah"):
            if c.get(k):
                keys[k.replace("_", "-")] = c[k]
        secs.append(("child %s/%s" % (peer, c.get("name", "lan")), keys))
    return secs


def child_of(status, peer):
    """The first installed child of peer in a `status --json` document,
    or None."""
    for p in status.get("peers", []):
        if p.get("name") != peer:
            continue
        for c in p.get("children") or []:
            if c.get("state") == "installed":
                return c
    return None


COUNTERS = ("packets_in", "packets_out", "bytes_in", "bytes_out")


def counters(status, peer):
    c = child_of(status, peer) or {}
    return {k: int(c.get(k, 0)) for k in COUNTERS}


def nft_ruleset(ns):
    """`nft list ruleset` in ns (text), or None when nft is missing."""
    if not os.path.exists("/usr/sbin/nft"):
        return None
    return nsexec(ns, "/usr/sbin/nft", "list", "ruleset", check=False).stdout


# --- kotetsud on the nodes ----------------------------------------------------

PSK = "dataplane-psk-0123456789abcdef"


def mirror(children):
    """The other end's view of children: selectors swapped."""
    out = []
    for c in children:
        m = dict(c)
        m["local_ts"], m["remote_ts"] = c.get("remote_ts"), c.get("local_ts")
        out.append(m)
    return out


class World:
    """The four namespaces plus the kotetsud (and charon) running in them;
    stop() stops exactly those, by pid."""

    def __init__(self, sites_, work):
        self.s, self.work = sites_, work
        self.kt = {}      # node role -> Kotetsud
        self.others = []  # other daemons (charon) to stop

    def kotetsud(self, node, log_level="info"):
        return node_kotetsud(self.kt, self.work, self.s.prefix, node, log_level)

    def start_pair(self, left, right, children, family=4, start="now", ike=IKE,
                   nat_t="auto", wait=True):
        """kotetsud on left (peer "site-b", start as given) and right
        (peer "site-a", listen), joined over their family addresses;
        children as seen from left. Waits until both have their children
        installed when start is "now" and wait is set. Returns (kl, kr)."""
        la, ra = left.addr(family), right.addr(family)
        kl, kr = self.kotetsud(left), self.kotetsud(right)
        kr.write_config(kt_peer("site-a", ra, la, PSK, mirror(children), start="listen",
                                ike=ike, nat_t=nat_t))
        kl.write_config(kt_peer("site-b", la, ra, PSK, children, start=start, ike=ike,
                                nat_t=nat_t))
        kr.start()
        kl.start()
        if start == "now" and wait:
            self.wait_installed(kl, "site-b", len(children))
            self.wait_installed(kr, "site-a", len(children))
        return kl, kr

    def wait_installed(self, kt, peer, n=1, timeout=10):
        st = kt.wait_established(peer, children=n, timeout=timeout)
        p = [x for x in st.get("peers", []) if x.get("name") == peer]
        kids = [c for x in p for c in x.get("children") or [] if c.get("state") == "installed"]
        if len(kids) < n:
            raise AssertionError("%s: peer %s has %d of %d children installed after %ds\n%s\n%s"
                                 % (kt.ns, peer, len(kids), n, timeout, json.dumps(st, indent=1),
                                    self.diagnostics()))
        return st

    def diagnostics(self, lines=40):
        return "\n".join(k.diagnostics(lines) for k in self.kt.values())

    def stop(self):
        for k in self.kt.values():
            k.stop()
        for o in self.others:
            o.stop()

    def sanitizer_reports(self):
        return [ln for k in self.kt.values() for ln in k.sanitizer_reports()]


def node_kotetsud(kts, work, prefix, node, log_level="info"):
    """The Kotetsud of node in kts (role -> Kotetsud), made on first use
    with its files in work/ROLE and a TUN named after the topology."""
    from kotetsud import Kotetsud
    if node.role not in kts:
        d = work / node.role
        d.mkdir(exist_ok=True)
        kts[node.role] = Kotetsud(node.ns, d, tun=prefix + "t" + node.role[-1],
                                  log_level=log_level)
    return kts[node.role]


@contextlib.contextmanager
def world_maker(work, topology, world_class):
    """Yields make(**kw): topology(**kw) builds the namespaces (a context
    manager), world_class(them, work) runs daemons in them. At the end
    every world's daemons stop and its namespaces go, whatever happened;
    then sanitizer reports in the daemons' logs fail the test."""
    made, stack = [], []

    def make(**kw):
        cm = topology(**kw)
        t = cm.__enter__()
        stack.append(cm)
        w = world_class(t, work)
        made.append(w)
        return w
    try:
        yield make
    finally:
        for w in made:
            w.stop()
        for cm in reversed(stack):
            cm.__exit__(None, None, None)
    reports = [r for w in made for r in w.sanitizer_reports()]
    if reports:
        pytest.fail("kotetsud reported sanitizer errors:\n" + "\n".join(reports[:40]),
                    pytrace=False)


def ctl_request(sock_path, request, timeout=10):
    """One request on kotetsud's control socket (a JSON line each way),
    as the CLI sends it. Returns the decoded response."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    return json.loads(buf)
