"""NAT traversal's world (issue #5): initiators on a private side behind a
router that masquerades, a responder on the public side, and what the NAT
tests do in it: kotetsu.conf sections with identities (the initiators'
addresses are rewritten, so addresses cannot name them), captures read
back with tcpdump filters, NAT keepalives picked out of a capture, pings
in the background, and flushing the NAT's mappings.

    init1 10.0.1.2 ---- 10.0.1.1 |     |
                                 | nat | 192.0.2.1 ---- 192.0.2.2 resp
    init2 10.0.2.2 ---- 10.0.2.1 |     |

    LANs (tunnel mode): init1 10.10.1.1, init2 10.10.2.1, resp 10.20.0.1,
    each a /32 on loopback inside its /24 (strongSwan's kernel-libipsec,
    and kotetsud's route source, need the local address inside the local
    traffic selector).

The responder has no route to the private side: only 192.0.2.1, the NAT's
public address, is reachable from it, so an IPsec tunnel is the only way
to the initiators' LANs. With masquerade=False the nat namespace is a
plain router instead (resp routes 10.0.0.0/16 via it), for nat-t = force
without a NAT.

Namespaces have unique names and are deleted on exit, whatever happened;
every command and wait is bounded; processes are stopped by the pid we
started."""

import contextlib
import re
import subprocess

import topo
from netns import IP, add_ns, del_ns, nsexec, run, unique_prefix, wait_for

NFT = "/usr/sbin/nft"
CONNTRACK = "/usr/sbin/conntrack"

NAT_PUBLIC, RESP_PUBLIC = "192.0.2.1", "192.0.2.2"
PUBLIC_PLEN = 24
PRIVATE = {"init1": ("10.0.1.2", "10.0.1.1"), "init2": ("10.0.2.2", "10.0.2.1")}
PRIVATE_NET = "10.0.0.0/16"  # what resp routes via the NAT when it is a plain router
PRIVATE_PLEN = 24
LAN = {"init1": ("10.10.1.0/24", "10.10.1.1"), "init2": ("10.10.2.0/24", "10.10.2.1"),
       "resp": ("10.20.0.0/24", "10.20.0.1")}
IDS = {"init1": "init1.natt.test", "init2": "init2.natt.test", "resp": "resp.natt.test"}
PSK = "natt-psk-0123456789abcdef-kotetsu"
IKE = "aes256gcm16-prfsha384-x25519"
ESP = "aes256gcm16"
NAT_T_PORT, IKE_PORT = 4500, 500
KEEPALIVE_BYTE = b"\xff"  # RFC 3948 §2.3: a NAT keepalive is one octet 0xFF


class Node:
    """One endpoint namespace: role ("init1", "init2", "resp"), its
    interface and address on its link, its gateway (initiators) and LAN."""

    def __init__(self, role, ns, ifname, addr, gw=None):
        self.role, self.ns, self.ifname, self.addr, self.gw = role, ns, ifname, addr, gw
        self.lan, self.lan_addr = LAN[role]
        self.id = IDS[role]

    def __repr__(self):
        return "Node(%s %s %s)" % (self.role, self.ns, self.addr)


class NatTopo:
    """The namespaces (see the module's docstring). nat_ifs maps "init1",
    "init2" and "public" to the router's interfaces."""

    def __init__(self, prefix, n_inits, masquerade):
        self.prefix, self.masquerade = prefix, masquerade
        self.nat_ns = prefix + "n"
        self.nat_ifs = {"public": prefix + "np"}
        self.resp = Node("resp", prefix + "r", prefix + "rp", RESP_PUBLIC)
        self.inits = []
        for i in range(1, n_inits + 1):
            role = "init%d" % i
            addr, gw = PRIVATE[role]
            self.inits.append(Node(role, prefix + "i%d" % i, prefix + "a%d" % i, addr, gw))
            self.nat_ifs[role] = prefix + "n%d" % i
        self.init1 = self.inits[0]
        self.init2 = self.inits[1] if n_inits > 1 else None
        self.nodes = self.inits + [self.resp]

    def namespaces(self):
        return [self.nat_ns] + [n.ns for n in self.nodes]

    # the NAT's mappings

    def conntrack(self, *args, check=True):
        return nsexec(self.nat_ns, CONNTRACK, *args, check=check)

    def flush_mappings(self):
        """Forget every NAT mapping (as a NAT does after an idle timeout or
        a reboot): the next packet out gets a new one."""
        return self.conntrack("-F")

    def mappings(self):
        """The router's conntrack table, as text (for diagnostics)."""
        res = self.conntrack("-L", check=False)
        return res.stdout + res.stderr

    def ruleset(self):
        return nsexec(self.nat_ns, NFT, "list", "ruleset", check=False).stdout


def _veth(a_ns, a_if, b_ns, b_if):
    run(IP, "link", "add", a_if, "netns", a_ns, "type", "veth", "peer", "name", b_if,
        "netns", b_ns)


def _addr_up(ns, ifname, addr, plen):
    run(IP, "-n", ns, "addr", "add", "%s/%d" % (addr, plen), "dev", ifname)
    run(IP, "-n", ns, "link", "set", ifname, "up")


# "random" picks a random source port for every new mapping instead of
# keeping the initiator's own port when it is free. Without it, a mapping
# flushed from conntrack comes back on the SAME port (10.0.1.2:4500 would be
# 192.0.2.1:4500 again), and a test of "the NAT mapping changed" could not
# tell a responder that follows the move from one that never noticed it.
MASQUERADE = """\
table ip natt {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "%s" masquerade random
  }
}
"""


def _build(t):
    nat = t.nat_ns
    nsexec(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for node in t.inits:
        _veth(node.ns, node.ifname, nat, t.nat_ifs[node.role])
        _addr_up(node.ns, node.ifname, node.addr, PRIVATE_PLEN)
        _addr_up(nat, t.nat_ifs[node.role], node.gw, PRIVATE_PLEN)
        run(IP, "-n", node.ns, "route", "add", "default", "via", node.gw)
    _veth(nat, t.nat_ifs["public"], t.resp.ns, t.resp.ifname)
    _addr_up(nat, t.nat_ifs["public"], NAT_PUBLIC, PUBLIC_PLEN)
    _addr_up(t.resp.ns, t.resp.ifname, RESP_PUBLIC, PUBLIC_PLEN)
    for node in t.nodes:
        run(IP, "-n", node.ns, "addr", "add", node.lan_addr + "/32", "dev", "lo")
    if t.masquerade:
        # The responder is the public side: never NATed, and it knows no
        # route to the private side.
        nsexec(nat, NFT, "-f", "-", input=MASQUERADE % t.nat_ifs["public"])
    else:
        run(IP, "-n", t.resp.ns, "route", "add", PRIVATE_NET, "via", NAT_PUBLIC)


@contextlib.contextmanager
def nat_topology(initiators=1, masquerade=True, prefix=None):
    """Make the namespaces (initiators: 1 or 2); yields a NatTopo;
    deletes them afterwards."""
    t = NatTopo(prefix or unique_prefix(), initiators, masquerade)
    made = []
    try:
        for ns in t.namespaces():
            made.append(ns)
            add_ns(ns)
        _build(t)
        yield t
    finally:
        for ns in made:
            del_ns(ns)


# --- kotetsu.conf -------------------------------------------------------------

def peer_sections(name, local, remote, local_id, remote_id, children, start="listen",
                  nat_t="auto", keepalive=None, ike=IKE, psk=PSK):
    """[peer NAME] and its [child NAME/...] sections. children: dicts with
    name, mode, protocol and optionally local_ts, remote_ts (left out:
    the parser's default, dynamic in transport mode), esp, ah. keepalive
    is written only when given (default: the daemon's)."""
    peer = {"local": local, "remote": remote, "local-id": local_id, "remote-id": remote_id,
            "auth": "psk", "psk": '"%s"' % psk, "ike": ike, "start": start, "nat-t": nat_t}
    if keepalive is not None:
        peer["keepalive"] = keepalive
    return [("peer " + name, peer)] + topo.child_sections(name, children)


def tunnel_child(local, remote, protocol="esp", name="lan"):
    """A tunnel-mode child between two Nodes' LANs, seen from local."""
    c = {"name": name, "mode": "tunnel", "protocol": protocol, "local_ts": local.lan,
         "remote_ts": remote.lan}
    if protocol == "esp":
        c["esp"] = ESP
    else:
        c["ah"] = "sha256"
    return c


def transport_child(name="host"):
    """Transport mode with the selectors left to their default (dynamic)."""
    return {"name": name, "mode": "transport", "protocol": "esp", "esp": ESP}


# --- the daemons --------------------------------------------------------------

class NatWorld:
    """The topology plus the kotetsud and charon running in it; stop()
    stops exactly those, by pid."""

    def __init__(self, t, work):
        self.t, self.work = t, work
        self.kt = {}      # role -> Kotetsud
        self.sw = {}      # role -> Charon

    def kotetsud(self, node, log_level="info"):
        return topo.node_kotetsud(self.kt, self.work, self.t.prefix, node, log_level)

    def charon(self, node):
        from strongswan import Charon
        if node.role not in self.sw:
            d = self.work / ("sw-" + node.role)
            d.mkdir(exist_ok=True)
            self.sw[node.role] = Charon(node.ns, d)
        return self.sw[node.role]

    def stop(self):
        for k in self.kt.values():
            k.stop()
        for c in self.sw.values():
            c.stop()

    def diagnostics(self, lines=40):
        out = [k.diagnostics(lines) for k in self.kt.values()]
        out += [c.diagnostics(lines) for c in self.sw.values()]
        out.append("--- NAT mappings (conntrack -L in %s) ---\n%s"
                   % (self.t.nat_ns, self.t.mappings()[-3000:]))
        return "\n".join(out)

    def sanitizer_reports(self):
        return [ln for k in self.kt.values() for ln in k.sanitizer_reports()]


# --- captures -------------------------------------------------------------------

def capture_public(w, name, snaplen=128, bpf=None):
    """tcpdump on the responder's public interface (the far side of the
    NAT: what the internet sees). A short snaplen keeps an iperf3 run's
    capture small; headers are all the checks read."""
    return topo.Capture(w.t.resp.ns, w.t.resp.ifname, w.work / name, bpf=bpf, snaplen=snaplen)


def pcap_lines(path, bpf):
    """The packets of a pcap file matching a tcpdump filter, one summary
    line each (tcpdump reads the file: fast even for an iperf3 run)."""
    res = subprocess.run([topo.TCPDUMP, "-n", "-r", str(path), bpf], capture_output=True,
                         text=True, timeout=60)
    if res.returncode != 0:
        raise AssertionError("tcpdump -r %s '%s' failed: %s" % (path, bpf, res.stderr))
    return [ln for ln in res.stdout.splitlines() if ln.strip()]


def between(a, b):
    """A tcpdump filter: IPv4 packets between hosts a and b."""
    return "ip and host %s and host %s" % (a, b)


def allowed_nat_t(nat_addr, resp_addr):
    """What may cross between a NAT and a responder once NAT-T is on: UDP
    from the NAT's address to the responder's port 4500 (or 500, for
    IKE_SA_INIT) and back from those ports. Anything else (ESP as IP
    protocol 50, cleartext, another port) is not."""
    return ("udp and ((src host {n} and dst host {r} and (dst port 4500 or dst port 500)) or "
            "(src host {r} and dst host {n} and (src port 4500 or src port 500)))"
            .format(n=nat_addr, r=resp_addr))


# ESP in UDP: port 4500 and a first payload word (the SPI) that is not the
# non-ESP marker of IKE; a keepalive's single byte is too short for it.
ESP_IN_UDP = "udp port 4500 and udp[4:2] > 12 and udp[8:4] != 0"


def keepalives(pkts, src, dst, dport=NAT_T_PORT):
    """[(time, packet)] of the NAT keepalives in pkts from src to dst's
    dport: UDP with the one-byte payload 0xFF."""
    from scapy.all import IP as SIP, UDP
    out = []
    for p in pkts:
        if SIP in p and UDP in p and p[SIP].src == src and p[SIP].dst == dst \
                and p[UDP].dport == dport and bytes(p[UDP].payload) == KEEPALIVE_BYTE:
            out.append((float(p.time), p))
    return out


def keepalives_from(pkts, src):
    """Every keepalive-shaped datagram sent by src, to any port."""
    from scapy.all import IP as SIP, UDP
    return [p for p in pkts if SIP in p and UDP in p and p[SIP].src == src
            and bytes(p[UDP].payload) == KEEPALIVE_BYTE]


# --- pings --------------------------------------------------------------------

SEQ_RE = re.compile(r"bytes from .*icmp_seq=(\d+)")


def answered_seqs(text):
    """icmp_seq numbers ping printed a reply for."""
    return sorted({int(m.group(1)) for m in SEQ_RE.finditer(text)})


class BackgroundPing:
    """`ping -c COUNT -i INTERVAL` from ns to dst, left running while the
    test does something else; result() waits (bounded) and returns a
    topo.PingResult plus the answered sequence numbers."""

    def __init__(self, ns, dst, count, interval):
        self.ns, self.dst, self.count, self.interval = ns, dst, count, interval
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [IP, "netns", "exec", self.ns, "ping", "-n", "-c", str(self.count), "-i",
             str(self.interval), "-W", "1", self.dst],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def result(self, grace=10):
        try:
            out, _ = self.proc.communicate(timeout=self.count * self.interval + grace)
        except subprocess.TimeoutExpired:
            topo.stop(self.proc)
            out, _ = self.proc.communicate(timeout=5)
        m = topo.PING_RE.search(out)
        sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        return topo.PingResult(sent, received, out), answered_seqs(out)

    def stop(self):
        topo.stop(self.proc)


# --- status ---------------------------------------------------------------------

def addr_port(endpoint):
    """"192.0.2.1:4500" -> ("192.0.2.1", 4500)."""
    a, p = str(endpoint).rsplit(":", 1)
    return a.strip("[]"), int(p)


def established_entries(status, name):
    return [p for p in status.get("peers", [])
            if p.get("name") == name and p.get("state") == "established"]


def ike_of(status, name):
    """The ike object of peer name's established IKE SA, or {}."""
    e = established_entries(status, name)
    return (e[0].get("ike") or {}) if e else {}


def installed_children(status, name):
    return [c for p in established_entries(status, name) for c in p.get("children") or []
            if c.get("state") == "installed"]


def wait_remote_change(kt, peer, old, timeout):
    """Poll kt's status until peer's ike.remote differs from old (and is
    set); returns the last value seen."""
    last = old

    def changed():
        nonlocal last
        last = ike_of(kt.status(), peer).get("remote") or last
        return last != old
    wait_for(changed, timeout, interval=0.1)
    return last


def ts_covers(ts_list, addr):
    """Whether one of status's selectors ("192.0.2.1/32", "10.0.0.1-10.0.0.9",
    either with a "[proto/port]" suffix) holds addr."""
    import ipaddress
    a = ipaddress.ip_address(addr)
    for ts in ts_list or []:
        ts = str(ts).split("[", 1)[0].strip()
        if "-" in ts:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in ts.split("-", 1))
            if lo.version == a.version and lo <= a <= hi:
                return True
        elif a in ipaddress.ip_network(ts, strict=False):
            return True
    return False
