"""Where a conformance scenario runs: the lab (client, router and server namespaces) or a remote --target.

Scenarios talk to an Env only: start the server under test, open sockets on the client side, run the client
under test. The same scenario code then runs in the lab, with captures and impairments, or against a server on
another machine, at the application level.
"""
import socket
import subprocess

from lab import proc

PORTS = {"tcp": 6789, "udp": 9876}


def tcp_listening(port):
    """True when a socket of this thread's network namespace listens on TCP `port` (IPv4 or IPv6)."""
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/thread-self/net/{table}") as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            continue
    return False


def udp_socket(family, timeout=0.05):
    s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    return s


class Env:
    lab = False
    topo = None

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
            s.connect((host, port))
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


def parse_target(target):
    """"HOST", "HOST:PORT" or "[V6ADDR]:PORT" -> (host, {"tcp": port, "udp": port}); without a port the
    protocol's defaults (6789, 9876)."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif target.count(":") == 1:
        host, _, port = target.partition(":")
    else:
        host, port = target, ""
    if not host or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"--target {target!r}: expected HOST, HOST:PORT or [IPV6]:PORT")
    return host, ({"tcp": int(port), "udp": int(port)} if port else dict(PORTS))


class TargetEnv(Env):
    """A server on another machine, given as --target HOST[:PORT]: TCP and UDP on that port (or the
    defaults). Scenarios that need the lab are n/a; the others run at the application level."""

    def __init__(self, target):
        self.host, self.ports = parse_target(target)
        self.family = 6 if ":" in self.host else 4

    def server_host(self, family=4):
        return self.host

    def connect(self, port, family=4, **kw):
        return super().connect(port, self.family, **kw)

    def udp(self, port, family=4, **kw):
        return super().udp(port, self.family, **kw)

    def start(self, kind, family=4):
        port = self.ports[kind]
        if kind == "tcp":
            proc.wait_tcp_listening(self.host, port, None, timeout=10)
        else:
            proc.wait_udp_answering(self.host, port, None, timeout=10)
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

    def server_host(self, family=4):
        return self.topo.server.addr(family)

    def start(self, kind, family=4):
        port = PORTS[kind]
        if kind in self.servers:
            return port
        cmd = self.sut.command(f"{kind}-server", host=self.server_host(family), port=port)
        p = self.topo.server.spawn(["sh", "-c", f"exec {cmd}"], name=f"{kind}-server")
        self.servers[kind] = p
        if kind == "tcp":
            # Listening, read from the namespace's socket table: a probe connection could itself be what
            # breaks a faulty server (the seed's TCPServer dies on a client that closes without a line).
            proc.poll_until(lambda: self._check_alive(p) and proc.in_netns(self.topo.server.ns,
                                                                          lambda: tcp_listening(port)),
                            timeout=20, what=f"{cmd}: listening on TCP port {port}")
        else:
            # Any answer will do, from any port: a server that replies from the wrong port is ready, and
            # fails U2 in its scenario rather than here.
            host = self.server_host(family)
            with proc.in_netns(self.topo.server.ns, lambda: udp_socket(family)) as s:
                def answered():
                    self._check_alive(p)
                    s.sendto(b"wirecheck readiness probe", (host, port))
                    try:
                        return s.recvfrom(70000)
                    except (socket.timeout, ConnectionRefusedError):
                        return False
                proc.poll_until(answered, timeout=20, what=f"{cmd}: answering on UDP port {port}")
        return port

    @staticmethod
    def _check_alive(p):
        if not p.alive():
            raise proc.NotReady(f"the server under test exited before it was ready\n{p.describe()}")
        return True

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
