"""Where a conformance scenario runs: the lab (client, router and server namespaces) or a remote --target.

Scenarios talk to an Env only: start the server under test, open sockets on the client side, run the client
under test. The same scenario code then runs in the lab, with captures and impairments, or against a server on
another machine, at the application level.
"""
import errno
import re
import signal
import socket
import subprocess

from lab import proc, socktable
from lab.ledger import ImpairmentMismatch
from wcrun.verdict import EnvError, NotApplicable

PORTS = {"tcp": 6789, "udp": 9876}


def exit_text(rc):
    """'exited with status N' or 'was killed by SIGPIPE', from a Popen returncode (None: still running)."""
    if rc is None:
        return "did not exit"
    if rc < 0:
        try:
            return f"was killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"was killed by signal {-rc}"
    return f"exited with status {rc}"


def sigterm_exit_text(rc):
    """What a server did on SIGTERM that is not 'exit 0', for T7.2 and U4.2."""
    if rc == -signal.SIGTERM:
        return ("the server was ended by the SIGTERM itself (the signal's default action, no handler): it must "
                "catch it, close, and exit with status 0")
    return f"the server {exit_text(rc)} after SIGTERM, not status 0"


_ERROR_LINE = re.compile(r"^\s*(?:[\w.$]+(?:Error|Exception|Exit)\b|Exception in thread|panic:|fatal|Segmentation)")


def stderr_tail(p, lines=3, width=300):
    """The end of a process's stderr, joined with " | ": its last error line (a Python or Java exception) when
    it has one, else its last non-empty lines."""
    text = [line.strip() for line in p.stderr().decode(errors="replace").splitlines()]
    text = [line for line in text if line and not set(line) <= set("-=*_ ")]
    errors = [line for line in text if _ERROR_LINE.match(line)]
    tail = errors[-1] if errors else " | ".join(text[-lines:])
    return tail if len(tail) <= width else tail[:width - 1] + "…"


def udp_socket(family, timeout=0.05):
    s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    return s


class Env:
    lab = False
    topo = None

    def server_memory(self, kind):
        """None: a remote server's memory cannot be seen."""
        return None

    def server_host(self, family=4):
        raise NotImplementedError

    def start(self, kind, family=4):
        """Starts the server under test for kind ("tcp"/"udp") and waits until it is ready; returns its port."""
        raise NotImplementedError

    def in_client(self, fn):
        """Calls fn() where the client lives (its network namespace in the lab)."""
        return fn()

    def connect(self, port, family=4, timeout=5.0, before_connect=None):
        """A TCP socket connected from the client side to the server under test."""
        host = self.server_host(family)

        def make():
            s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            if before_connect:
                before_connect(s)
            try:
                s.connect((host, port))
            except OSError as e:
                s.close()
                where = proc.hostport(host, port)
                what = {errno.ECONNREFUSED: f"refused: is the server listening on IPv{family}, and still running?",
                        errno.ETIMEDOUT: "timed out: is the server accepting?"}.get(e.errno, e.strerror or str(e))
                if isinstance(e, socket.timeout):
                    what = f"not accepted within {timeout:.0f} s: is the server accepting?"
                raise type(e)(f"connection to {where} {what}") from None
            return s
        return self.in_client(make)

    def udp(self, port, family=4, timeout=2.0, connect=True):
        host = self.server_host(family)

        def make():
            s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            if connect:
                s.connect((host, port))
            return s
        return self.in_client(make)

    def run_client(self, argv, data=b"", timeout=60.0):
        return subprocess.run(argv, input=data, capture_output=True, timeout=timeout)

    def close(self):
        pass


def parse_target(target, udp_port=None):
    """"HOST", "HOST:PORT", "[V6ADDR]" or "[V6ADDR]:PORT" (or a bare IPv6 address) -> (host, {"tcp": port,
    "udp": port}): PORT is the TCP port (default 6789); the UDP port is udp_port (default 9876). Raises
    ValueError for anything else: an empty port, or text after "]" that is not ":PORT", is not taken for the
    default."""
    if target.startswith("["):
        host, bracket, rest = target[1:].partition("]")
        ok = bracket and (not rest or rest.startswith(":"))
        port = rest[1:] if rest else None
    elif target.count(":") == 1:
        host, _, port = target.partition(":")
        ok = True
    else:
        host, port, ok = target, None, True
    if not ok or not host or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"--target {target!r}: expected HOST, HOST:TCPPORT or [IPV6]:TCPPORT")
    if udp_port is not None and not 0 < int(udp_port) < 65536:
        raise ValueError(f"--target-udp-port {udp_port}: expected 1..65535")
    return host, {"tcp": int(port) if port else PORTS["tcp"], "udp": int(udp_port or PORTS["udp"])}


class TargetEnv(Env):
    """A server on another machine, given as --target HOST[:TCPPORT] and --target-udp-port PORT (defaults 6789
    and 9876). Scenarios that need the lab are n/a; the others run at the application level."""

    READY_S = 10.0      # how long the remote server has to accept (TCP) or answer a probe (UDP) in each scenario

    def __init__(self, target, udp_port=None):
        self.host, self.ports = parse_target(target, udp_port)
        self.family = 6 if ":" in self.host else 4

    def server_host(self, family=4):
        return self.host

    def connect(self, port, family=4, **kw):
        return super().connect(port, self.family, **kw)

    def udp(self, port, family=4, **kw):
        return super().udp(port, self.family, **kw)

    def start(self, kind, family=4):
        if family == 6 and self.family != 6:
            raise NotApplicable("n/a: --target names one address; the IPv6 variant runs in the lab")
        port = self.ports[kind]
        try:
            if kind == "tcp":
                proc.wait_tcp_listening(self.host, port, None, timeout=self.READY_S)
            else:
                proc.wait_udp_answering(self.host, port, None, timeout=self.READY_S)
        except proc.NotReady as e:
            flag = "--target HOST:TCPPORT" if kind == "tcp" else "--target-udp-port PORT"
            raise proc.NotReady(f"{e} (is the {kind.upper()} server running there? its port is set with "
                                f"{flag})") from None
        return port


class LabEnv(Env):
    """The lab: the server under test runs in the server namespace, the client side in the client namespace."""
    lab = True

    def __init__(self, sut, scenario):
        self.sut = sut
        self.scenario = scenario
        self.topo = scenario.topo
        self.impair = scenario.netem
        self.servers = {}
        self._signalled = set()
        self._wire = None

    def wire(self):
        """The capture read back (stops the capture first, once)."""
        from wcrun.wire import Wire
        if self._wire is None:
            self.scenario.stop_capture()
            self._wire = Wire(self.scenario.pcapng)
        return self._wire

    def ledger(self):
        return self.scenario.ledger()

    def check_impairment(self):
        """The network did what the scenario asked (the ledger within netem's binomial bounds), else the
        verdict is error: a scenario never passes or fails on an impairment that did not happen."""
        try:
            self.scenario.assert_netem()
        except ImpairmentMismatch as e:
            raise EnvError(f"the network did not do what the scenario asked: {e}", redraw=True) from None

    def server_host(self, family=4):
        return self.topo.server.addr(family)

    def start(self, kind, family=4):
        """Starts the server under test and waits until it serves IPv4; for an IPv6 variant, raises
        NotApplicable when the server does not serve IPv6 (declared with --ipv4-only, or seen): PROTOCOL.md
        requires no IPv6. A server that never becomes ready raises NotReady: the verdict is error."""
        port = PORTS[kind]
        if kind not in self.servers:
            self._spawn(kind, port)
        if family == 6:
            self._require_ipv6(kind, port)
        return port

    def _spawn(self, kind, port):
        cmd = self.sut.command(f"{kind}-server", host=self.server_host(4), port=port)
        p = self.topo.server.spawn(self.sut.argv(f"{kind}-server", host=self.server_host(4), port=port),
                                   name=f"{kind}-server")
        self.servers[kind] = p
        if kind == "tcp":
            # Listening, read from the namespace's socket table: a probe connection could itself be what
            # breaks a faulty server (the seed's TCPServer dies on a client that closes without a line).
            proc.poll_until(lambda: self._check_alive(p) and socktable.tcp_listening(port, ns=self.topo.server.ns),
                            timeout=20, what=f"{cmd}: listening on TCP port {port}")
        else:
            # Bound, read from the namespace's socket table: a server that answers from a wrong port, late or not
            # at all is ready, and fails the clause about that in its scenario rather than here.
            proc.poll_until(lambda: self._check_alive(p) and socktable.udp_bound(port, ns=self.topo.server.ns),
                            timeout=20, what=f"{cmd}: bound to UDP port {port}")

    def _require_ipv6(self, kind, port):
        host = self.server_host(6)
        if self.sut.ipv4_only:
            raise NotApplicable("n/a: declared IPv4-only (--ipv4-only); PROTOCOL.md requires no IPv6")
        why = (f"n/a: the server does not listen on IPv6 ([{host}]:{port}), only on IPv4; PROTOCOL.md requires "
               "no IPv6 (declare it with --ipv4-only)")
        if kind == "tcp":
            if not socktable.tcp_listening(port, ("tcp6",), self.topo.server.ns):
                raise NotApplicable(why)
        elif not socktable.udp_bound(port, ("udp6",), self.topo.server.ns):
            raise NotApplicable(why)

    @staticmethod
    def _check_alive(p):
        if not p.alive():
            tail = stderr_tail(p)
            raise proc.NotReady(f"the server under test {exit_text(p.p.returncode)} before it was ready"
                                + (f"; its stderr ends: {tail}" if tail else "; its stderr is empty")
                                + f" (logs: {p.logdir})")
        return True

    def add_server_address(self):
        """Gives the server's interface a second IPv4 address in its subnet (and the router a neighbour entry for
        it, as the lab has for every address); returns it."""
        import json
        primary = self.server_host(4)
        second = primary.rsplit(".", 1)[0] + ".3"
        dev = self.topo.server.ifnames[0]
        mac = json.loads(self.topo.server.exec(["ip", "-j", "link", "show", dev]).stdout)[0]["address"]
        self.topo.server.exec(["ip", "addr", "add", f"{second}/24", "dev", dev])
        self.topo.router.exec(["ip", "neigh", "replace", second, "lladdr", mac, "dev", "to-server",
                               "nud", "permanent"])
        return second

    def udp_delivered(self):
        """Datagrams the server namespace's UDP layer delivered to sockets (Udp InDatagrams, /proc/net/snmp)."""
        return socktable.counters(self.topo.server.ns)["UdpInDatagrams"]

    def listening(self, kind):
        """True while a socket of the server namespace listens on the kind's TCP port."""
        return socktable.tcp_listening(PORTS[kind], ns=self.topo.server.ns)

    def server_memory(self, kind):
        """The server process's resident memory in bytes, {"rss", "peak"} (VmRSS, VmHWM), or None when it is
        gone. (Its children, if it forks per connection, are not counted.)"""
        try:
            with open(f"/proc/{self.servers[kind].pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except (OSError, KeyError):
            return None
        kb = lambda k: int(fields[k].split()[0]) * 1024 if k in fields else 0  # noqa: E731
        return {"rss": kb("VmRSS"), "peak": kb("VmHWM")}

    def signal_server(self, kind, sig):
        """Sends sig to the server under test on purpose (its exit is then no crash)."""
        self._signalled.add(kind)
        self.servers[kind].send_signal(sig)

    def stderr_errors(self):
        """One line per live server under test whose stderr shows an error (a traceback, an exception): a
        thread that died on one connection, say, while the process lives on."""
        out = []
        for kind, p in self.servers.items():
            if not p.alive():
                continue
            text = p.stderr().decode(errors="replace")
            if re.search(r"Traceback|Exception|Error\b|panic|fatal", text):
                out.append(f"the {kind.upper()} server wrote an error to its stderr during this scenario; it ends: "
                           f"{stderr_tail(p, lines=1)} (logs: {p.logdir})")
        return out

    def crashes(self):
        """One line per server under test that exited during the scenario without being asked to: its exit
        status or signal, the last request it received (the frame in the capture) and its stderr's end."""
        out = []
        for kind, p in self.servers.items():
            if kind in self._signalled or p.alive():
                continue
            where = ""
            try:
                port = PORTS[kind]
                reqs = [x for x in self.wire().side("server") if x.dport == port and
                        (x.payload_len or x.proto == 17 or "R" in x.flags or "F" in x.flags)]
                where = f" after the request of {reqs[-1].where}" if reqs else ""
            except Exception:      # a broken capture must not hide the crash itself
                pass
            tail = stderr_tail(p, lines=1)
            out.append(f"the {kind.upper()} server {exit_text(p.p.returncode)} during this scenario{where}"
                       + (f"; its stderr ends: {tail}" if tail else "")
                       + f" (logs: {p.logdir})")
        return out

    def in_client(self, fn):
        return proc.in_netns(self.topo.client.ns, fn)

    def run_client(self, argv, data=b"", timeout=60.0):
        """Runs argv in the client namespace in its own process group; a client that does not exit within
        timeout is killed with its children and reported with returncode None."""
        n = len(list(self.scenario.logdir.glob("client-*.in")))
        inp = self.scenario.logdir / f"client-{n}.in"
        inp.write_bytes(data)
        with open(inp, "rb") as f:
            p = self.topo.client.spawn(argv, name=f"client-{n}", stdin=f, logdir=str(self.scenario.logdir))
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
            p.stop()
        return subprocess.CompletedProcess(argv, rc, p.stdout(), p.stderr())


class LoopbackEnv(Env):
    """The server under test on this machine's loopback (127.0.0.1 and ::1), each on a free port: no namespaces,
    no impairment, no captures. pytest's --loopback; the scenarios that need no lab run here, for example against
    the reference built with ASan and UBSan (scripts/test-asan-scenarios). close() stops the servers and returns
    what went wrong with them: an exit other than 0 after SIGTERM, or a sanitizer's report on stderr."""

    SANITIZER = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:")

    def __init__(self, sut, logdir):
        self.sut = sut
        self.logdir = str(logdir)
        self.servers = {}
        self.ports = {}

    def server_host(self, family=4):
        return "::1" if family == 6 else "127.0.0.1"

    def start(self, kind, family=4):
        if kind not in self.servers:
            self._spawn(kind)
        port = self.ports[kind]
        if family == 6:
            if self.sut.ipv4_only:
                raise NotApplicable("n/a: declared IPv4-only (--ipv4-only); PROTOCOL.md requires no IPv6")
            if kind == "tcp":
                ok = socktable.tcp_listening(port, ("tcp6",))
            else:
                try:
                    proc.wait_udp_answering("::1", port, self.servers[kind], timeout=2)
                    ok = True
                except proc.NotReady:
                    ok = False
            if not ok:
                raise NotApplicable(f"n/a: the server does not listen on IPv6 ([::1]:{port}); PROTOCOL.md "
                                    "requires no IPv6")
        return port

    def _spawn(self, kind):
        port = proc.free_port(socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
        cmd = self.sut.command(f"{kind}-server", host="127.0.0.1", port=port)
        p = proc.Process(self.sut.argv(f"{kind}-server", host="127.0.0.1", port=port), name=f"{kind}-server",
                         logdir=self.logdir)
        self.servers[kind], self.ports[kind] = p, port

        def ready():
            if not p.alive():
                raise proc.NotReady(f"the server under test {exit_text(p.p.returncode)} before it was ready; "
                                    f"its stderr ends: {stderr_tail(p) or '(empty)'}")
            if kind == "tcp":
                return socktable.tcp_listening(port)
            with udp_socket(4) as s:
                s.sendto(b"wirecheck readiness probe", ("127.0.0.1", port))
                try:
                    return s.recvfrom(70000)
                except (socket.timeout, ConnectionRefusedError):
                    return False
        proc.poll_until(ready, timeout=20, what=f"{cmd}: ready on {kind.upper()} port {port}")

    def close(self):
        problems = []
        for kind, p in self.servers.items():
            rc = p.stop(timeout=10)
            err, tail = p.stderr(), stderr_tail(p)
            p.close()
            if any(s in err for s in self.SANITIZER):
                problems.append(f"the {kind.upper()} server's sanitizer reported: "
                                + err.decode(errors="replace")[-3000:])
            elif rc != 0:
                problems.append(f"the {kind.upper()} server {exit_text(rc)} on SIGTERM; its stderr ends: "
                                f"{tail or '(empty)'}")
        self.servers = {}
        return problems


def lab_env(request, sut, attach_capture):
    """A scenario's lab env as a fixture body (`yield from`): its two-sided capture attached to the report, and
    afterwards a server under test that died, or wrote an error, as the first thing its evidence says."""
    sc = request.getfixturevalue("scenario")
    attach_capture(sc.pcapng)
    env = LabEnv(sut, sc)
    yield env
    for text in env.crashes() + env.stderr_errors():
        request.node.user_properties.append(("crash", text))
