"""The lab's topology: client, router and server namespaces joined by veth pairs, torn down LIFO and leak-checked.

    client [to-router] ---- [to-client] router [to-server] ---- [to-router] server
           10.71.1.2/24      10.71.1.1/24       10.71.2.1/24      10.71.2.2/24
           fd00:71:1::2/64   fd00:71:1::1/64    fd00:71:2::1/64   fd00:71:2::2/64

Namespace names carry a per-topology suffix (the owner's pid + random), so parallel tests and pytest-xdist
workers never collide, and the reaper (lab.reap) can tell a dead run's namespaces from a live one's; interface names live inside the namespaces and need none. Neighbours are static (no ARP/ND burst
drops), IPv6 addresses skip DAD and no link-local address is generated, so the wire carries only what a test sends.
"""
import os
import secrets
import time

from . import interrupt, proc

LINK_CLIENT, LINK_SERVER = 1, 2


def _mac(link, host):
    return f"02:77:00:00:{link:02x}:{host:02x}"


class LeakError(AssertionError):
    """Teardown found something of the test's still alive: a namespace, a process, a qdisc or a rule."""


class Node:
    """One namespace of the topology, as tests see it: `.ns`, `.addr4`, `.addr6`, `.ifname`, `.exec()`,
    `.spawn()`.
    """

    def __init__(self, topo, role, ns, ifnames, addr4, addr6):
        self.topo, self.role, self.ns = topo, role, ns
        self.ifnames = ifnames          # this node's veth names, toward the router or the endpoints
        self.ifname = ifnames[0]
        self.addr4, self.addr6 = addr4, addr6

    def __repr__(self):
        return f"<{self.role} netns={self.ns} {self.addr4} {self.addr6}>"

    def addr(self, family=4):
        return self.addr4 if family == 4 else self.addr6

    def iface(self, ifname=None):
        """IFACE@NETNS, as the sniffer takes it."""
        return f"{ifname or self.ifname}@{self.ns}"

    def exec(self, argv, timeout=30.0, check=True, input=None):
        """Runs argv to completion inside this namespace (recorded in the topology's command log)."""
        self.topo.log_command(self.role, argv)
        return proc.run(argv, netns=self.ns, timeout=timeout, check=check, input=input)

    def spawn(self, argv, name=None, **kw):
        """Starts argv inside this namespace as a proc.Process; the topology stops it at teardown (LIFO)."""
        self.topo.log_command(self.role, argv)
        kw.setdefault("logdir", self.topo.logdir)
        p = proc.Process(argv, name=name, netns=self.ns, **kw)
        self.topo.defer(f"stop {p.name} (pid {p.pid}) in {self.ns}", p.close)
        return p

    def wait_tcp(self, port, p=None, family=4, timeout=10.0):
        """Polls, from inside this namespace, until its own address accepts TCP on port (no wire traffic)."""
        proc.wait_tcp_listening(self.addr(family), port, p, timeout=timeout, netns=self.ns)

    def wait_udp(self, port, p=None, family=4, timeout=10.0):
        """Polls, from inside this namespace, until its own address answers UDP on port (no wire traffic)."""
        proc.wait_udp_answering(self.addr(family), port, p, timeout=timeout, netns=self.ns)

    def sysctl(self, key, value):
        """Writes /proc/sys/<key> inside this namespace (no process spawned)."""
        def w():
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))
        proc.in_netns(self.ns, w)


class Topology:
    """Builds client/router/server on `up()` and removes everything on `close()`, last in first out.

    close() raises LeakError when a namespace, a process in one of them or a registered check fails; the
    test that owns the topology therefore fails. Timings land in `.timings` (seconds).
    """

    def __init__(self, prefix="wc"):
        proc.owned()    # marks this process as the owner and starts its warden, before anything exists
        self.suffix = f"{os.getpid()}-{secrets.token_hex(2)}"
        self.names = {r: f"{prefix}-{self.suffix}-{r}" for r in ("client", "router", "server")}
        self._defer = []
        self.commands = []
        self.timings = {}
        self.logdir = None              # where spawned processes keep their logs (None: a temp dir)
        self.client = self.router = self.server = None

    # resources -------------------------------------------------------------------------------------------
    def defer(self, what, fn):
        """Registers fn to run at close(), before everything registered earlier."""
        self._defer.append((what, fn))

    def log_command(self, role, argv):
        self.commands.append({"t": round(time.monotonic() - self._t0, 6) if hasattr(self, "_t0") else 0.0,
                              "node": role, "argv": [str(a) for a in argv]})

    # set-up ----------------------------------------------------------------------------------------------
    def up(self):
        t0 = self._t0 = time.monotonic()
        interrupt.track(self)
        c, r, s = (self.names[k] for k in ("client", "router", "server"))
        self.defer("delete namespaces", self._delete_namespaces)
        a4 = lambda link, host: f"10.71.{link}.{host}"          # noqa: E731
        a6 = lambda link, host: f"fd00:71:{link}::{host}"       # noqa: E731
        self.client = Node(self, "client", c, ["to-router"], a4(1, 2), a6(1, 2))
        self.router = Node(self, "router", r, ["to-client", "to-server"], a4(1, 1), a6(1, 1))
        self.router.addrs = {"to-client": (a4(1, 1), a6(1, 1)), "to-server": (a4(2, 1), a6(2, 1))}
        self.server = Node(self, "server", s, ["to-router"], a4(2, 2), a6(2, 2))

        def side(ns, dev, link, host, peer_host, far_link):
            """ip -batch lines for one veth end: address, static neighbour, route to the far subnet."""
            lines = [f"link set {dev} addrgenmode none",
                     f"addr add {a4(link, host)}/24 dev {dev}",
                     f"addr add {a6(link, host)}/64 dev {dev} nodad",
                     f"link set {dev} up",
                     f"neigh replace {a4(link, peer_host)} lladdr {_mac(link, peer_host)} dev {dev} nud permanent",
                     f"neigh replace {a6(link, peer_host)} lladdr {_mac(link, peer_host)} dev {dev} nud permanent"]
            if far_link:
                lines += [f"route add 10.71.{far_link}.0/24 via {a4(link, peer_host)} dev {dev}",
                          f"route add fd00:71:{far_link}::/64 via {a6(link, peer_host)} dev {dev}"]
            return lines

        host = [f"netns add {c}", f"netns add {r}", f"netns add {s}",
                f"link add to-router netns {c} address {_mac(1, 2)} type veth"
                f" peer name to-client netns {r} address {_mac(1, 1)}",
                f"link add to-server netns {r} address {_mac(2, 1)} type veth"
                f" peer name to-router netns {s} address {_mac(2, 2)}"]
        per_ns = {c: ["link set lo up"] + side(c, "to-router", 1, 2, 1, 2),
                  r: ["link set lo up"] + side(r, "to-client", 1, 1, 2, None) + side(r, "to-server", 2, 1, 2, None),
                  s: ["link set lo up"] + side(s, "to-router", 2, 2, 1, 1)}
        script = ["set -e", _heredoc("ip -batch -", host)]
        for ns, lines in per_ns.items():
            script.append(_heredoc(f"ip -n {ns} -batch -", lines))
        # Offloads off: otherwise captures show super-packets and netem acts on them (LAB.md); tx checksum
        # offload off too, so that every captured packet carries its real checksum and corruption shows.
        for node in (self.client, self.router, self.server):
            for dev in node.ifnames:
                script.append(f"ip netns exec {node.ns} ethtool -K {dev} tx off tso off gso off gro off")
        proc.run(["sh", "-c", "\n".join(script)], timeout=60)
        self.router.sysctl("net.ipv4.ip_forward", 1)
        self.router.sysctl("net.ipv6.conf.all.forwarding", 1)
        self.timings["setup_s"] = time.monotonic() - t0
        return self

    # teardown --------------------------------------------------------------------------------------------
    def _delete_namespaces(self):
        leaks = []
        for role, ns in self.names.items():
            pids = netns_pids(ns)
            if pids:
                leaks.append(f"{role} netns {ns} still has processes {pids}")
                for pid in pids:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
        existing = [ns for ns in self.names.values() if os.path.exists(f"/run/netns/{ns}")]
        if existing:
            proc.run(["ip", "-force", "-batch", "-"], check=False,
                     input="".join(f"netns del {ns}\n" for ns in existing).encode())
        left = [ns for ns in self.names.values() if os.path.exists(f"/run/netns/{ns}")]
        if left:
            leaks.append(f"namespaces not deleted: {left}")
        if leaks:
            raise LeakError("; ".join(leaks))

    def close(self):
        """Runs every deferred clean-up, last first, even when some fail; raises LeakError naming them all."""
        t0 = time.monotonic()
        errors = []
        with interrupt.shield():    # a Ctrl-C now would leave half a topology: it waits until the end
            while self._defer:
                what, fn = self._defer.pop()
                try:
                    fn()
                except Exception as e:  # keep tearing down; report everything at the end
                    errors.append(f"{what}: {e}")
            interrupt.untrack(self)
        self.timings["teardown_s"] = time.monotonic() - t0
        if errors:
            raise LeakError("teardown of topology " + self.suffix + " left things behind:\n  " + "\n  ".join(errors))

    def __repr__(self):
        return f"<Topology {self.suffix}>"

    def __enter__(self):
        try:
            return self.up()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        return {"suffix": self.suffix,
                "namespaces": dict(self.names),
                "nodes": {n.role: {"ns": n.ns, "ifnames": n.ifnames, "addr4": n.addr4, "addr6": n.addr6}
                          for n in (self.client, self.router, self.server) if n},
                "router_addrs": getattr(self.router, "addrs", {})}


def _heredoc(cmd, lines):
    return f"{cmd} <<'WC_EOF'\n" + "\n".join(lines) + "\nWC_EOF"


def netns_pids(ns):
    """Pids of processes whose network namespace is the named one (a /proc scan, no process spawned)."""
    try:
        st = os.stat(f"/run/netns/{ns}")
    except FileNotFoundError:
        return []
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            t = os.stat(f"/proc/{d}/ns/net")
        except OSError:
            continue
        if (t.st_ino, t.st_dev) == (st.st_ino, st.st_dev):
            pids.append(int(d))
    return pids


def lab_namespaces(prefix="wc-"):
    """Names of namespaces that look like the lab's (for leak checks across tests)."""
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    except FileNotFoundError:
        return []
