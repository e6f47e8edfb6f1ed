"""Processes under test: started with a timeout, logs kept, readiness polled to a deadline."""
import os
import signal
import socket
import subprocess
import tempfile
import time


class NotReady(AssertionError):
    pass


def poll_until(cond, timeout=10.0, interval=0.005, what="condition"):
    """Polls cond() until it returns a truthy value or the deadline passes.

    The interval grows from 5 ms to 50 ms: fast when things are quick, cheap when not.
    Raises NotReady naming `what`.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise NotReady(f"{what}: not ready after {timeout:.1f} s")
        time.sleep(interval)  # a poll interval, not a wait for readiness
        interval = min(interval * 2, 0.05)


def free_port(kind=socket.SOCK_STREAM):
    """A port that was free on both 127.0.0.1 and ::1 a moment ago."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6, kind) as s6:
                s6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


class Process:
    """A child in its own process group, with stdout/stderr captured to files.

    Leaving the context kills the group (SIGTERM, then SIGKILL after 3 s) so no
    process outlives its test.
    """

    def __init__(self, argv, name=None, stdin=subprocess.DEVNULL, env=None, logdir=None, shell=False):
        self.name = name or os.path.basename(argv[0] if not shell else argv.split()[0])
        self.logdir = logdir or tempfile.mkdtemp(prefix=f"wc-{self.name}-")
        self.out_path = os.path.join(self.logdir, f"{self.name}.out")
        self.err_path = os.path.join(self.logdir, f"{self.name}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=self._out, stderr=self._err,
                                  start_new_session=True, env=env, shell=shell)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stdout(self):
        self._out.flush()
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        self._err.flush()
        with open(self.err_path, "rb") as f:
            return f.read()

    def send_signal(self, sig):
        if self.alive():
            os.killpg(self.p.pid, sig)

    def wait(self, timeout=10):
        return self.p.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=3.0):
        """Signals the group and returns the exit code; SIGKILLs after timeout."""
        if self.alive():
            try:
                os.killpg(self.p.pid, sig)
                return self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
        return self.p.wait()

    def close(self):
        self.stop()
        try:  # stragglers in the group, if the leader went first
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._out.close()
        self._err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        return (f"{self.name} (pid {self.pid}, exit {self.p.poll()})\n"
                f"--- stderr ---\n{self.stderr().decode(errors='replace')[-2000:]}")


def _assert_alive(p, what):
    if p is not None and not p.alive():
        raise NotReady(f"{what}: process exited early\n{p.describe()}")


def wait_tcp_listening(host, port, p=None, timeout=10.0):
    """Polls until a TCP connect to host:port succeeds."""
    def ok():
        _assert_alive(p, f"tcp {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False
    poll_until(ok, timeout, what=f"TCP listener on {host}:{port}")


def wait_udp_answering(host, port, p=None, timeout=10.0, probe=b"wirecheck-probe"):
    """Polls until a UDP probe datagram to host:port is answered."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.connect((host, port))
        s.settimeout(0.05)

        def ok():
            _assert_alive(p, f"udp {host}:{port}")
            try:
                s.send(probe)
                s.recv(65536)
                return True
            except OSError:
                return False
        poll_until(ok, timeout, what=f"UDP server answering on {host}:{port}")
