"""Processes under test: started with a timeout, logs kept, readiness polled to a deadline, none outliving its run.

Every child the lab starts is marked with its owner (WIRECHECK_LAB_OWNER, inherited by its own children) and
watched by the owner's warden (lab.reap); long-lived ones also get the kernel's parent-death signal.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import interrupt, reap

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def owned():
    """Prepares this process to start children: the owner mark in os.environ, the warden, the signal handlers."""
    interrupt.install()
    return reap.ensure_warden()


def die_with_parent(sig=signal.SIGTERM):
    """A preexec_fn that gives the child PR_SET_PDEATHSIG `sig`, or None where that would be wrong.

    The kernel sends it when the *thread* that forked the child ends, so it is set only for children forked by
    the main thread (the lab's helper threads in in_netns() end at once); inside UML nothing outlives the
    instance anyway, and fork there is slow. The warden (lab.reap) covers everything else. SIGTERM, not SIGKILL:
    a sniffer then completes its capture and a server closes its connections; the warden follows with SIGKILL.
    """
    if threading.current_thread() is not threading.main_thread() or reap.kernel_is_uml():
        return None
    parent = os.getpid()

    def preexec():
        _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:   # the parent died before prctl: the signal would never come
            os.kill(os.getpid(), int(sig))
    return preexec


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


def netns_argv(argv, netns=None):
    """argv prefixed so that it runs inside network namespace `netns` (None: this one)."""
    if netns is None:
        return list(argv)
    return ["ip", "netns", "exec", netns] + list(argv)


def in_netns(netns, fn):
    """Calls fn() in a helper thread that has joined network namespace `netns` and returns its result.

    setns(CLONE_NEWNET) changes only the calling thread, so the caller stays where it is. Sockets that fn
    creates belong to `netns` for their whole life, and /proc/sys/net opened by fn is that namespace's.
    Exceptions from fn are raised here. netns None calls fn() directly.
    """
    if netns is None:
        return fn()
    box = {}

    def body():
        try:
            fd = os.open(os.path.join("/run/netns", netns), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns into netns {netns}: {os.strerror(e)}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
    t = threading.Thread(target=body, name=f"netns-{netns}")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run(argv, netns=None, timeout=30.0, check=True, input=None):
    """Runs argv (inside `netns` when given) to completion under a timeout; returns CompletedProcess (bytes).

    With check, a non-zero exit raises RuntimeError naming the command, its status and its stderr.
    """
    full = netns_argv(argv, netns)
    reap.mark_owner()   # short-lived: marked (for reap_stale), no warden of its own
    r = subprocess.run(full, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                       stdin=None if input is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(full)}: exit {r.returncode}\n{r.stderr.decode(errors='replace')[-2000:]}")
    return r


class Process:
    """A child in its own process group, with stdout/stderr captured to files.

    Leaving the context kills the group (SIGTERM, then SIGKILL after 3 s) so no
    process outlives its test. With netns it runs inside that network namespace
    (`ip netns exec` execs the command, so the pid and group are the command's own).
    It dies with its run however the run ends: parent-death signal, the owner's warden, and at interpreter
    exit lab.interrupt closes any Process still open.
    """

    def __init__(self, argv, name=None, stdin=subprocess.DEVNULL, env=None, logdir=None, shell=False,
                 netns=None):
        self.name = name or os.path.basename(argv[0] if not shell else argv.split()[0])
        if netns is not None:
            argv = netns_argv(["sh", "-c", argv] if shell else argv, netns)
            shell = False
        self.argv = argv
        self.netns = netns
        # Without a log directory of the caller's, its output goes to a temporary one that close() removes
        # (after keeping what was written, for describe() and the like).
        self._own_logdir = logdir is None
        self._kept = None
        self.logdir = logdir or tempfile.mkdtemp(prefix=f"wc-{self.name}-")
        self.out_path = os.path.join(self.logdir, f"{self.name}.out")
        self.err_path = os.path.join(self.logdir, f"{self.name}.err")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        mark = owned()
        if env is not None:
            env = {**env, reap.ENV: mark}
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=self._out, stderr=self._err,
                                  start_new_session=True, env=env, shell=shell, preexec_fn=die_with_parent())
        interrupt.track(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stdout(self):
        if self._kept:
            return self._kept[0]
        self._out.flush()
        with open(self.out_path, "rb") as f:
            return f.read()

    def stderr(self):
        if self._kept:
            return self._kept[1]
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
        with interrupt.shield():
            self.stop()
            try:  # stragglers in the group, if the leader went first
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self._own_logdir and not self._kept:
                self._kept = (self.stdout(), self.stderr())
                shutil.rmtree(self.logdir, ignore_errors=True)
            self._out.close()
            self._err.close()
            interrupt.untrack(self)

    def __repr__(self):
        return f"<Process {self.name} pid {self.p.pid}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self):
        return (f"{self.name} (pid {self.pid}, exit {self.p.poll()})\n"
                f"--- stderr ---\n{self.stderr().decode(errors='replace')[-2000:]}")


def hostport(host, port):
    """host:port as messages name an address: an IPv6 address in brackets ([fd00:71:2::2]:6789)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _assert_alive(p, what):
    if p is not None and not p.alive():
        raise NotReady(f"{what}: process exited early\n{p.describe()}")


def wait_tcp_listening(host, port, p=None, timeout=10.0, netns=None):
    """Polls until a TCP connect to host:port succeeds (from inside `netns` when given)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET

    def ok():
        _assert_alive(p, f"tcp {host}:{port}")
        try:
            with in_netns(netns, lambda: socket.socket(fam, socket.SOCK_STREAM)) as s:
                s.settimeout(0.2)
                s.connect((host, port))
                return True
        except OSError:
            return False
    poll_until(ok, timeout, what=f"TCP listener on {hostport(host, port)}" + (f" in netns {netns}" if netns else ""))


def wait_udp_answering(host, port, p=None, timeout=10.0, probe=b"wirecheck-probe", netns=None):
    """Polls until a UDP probe datagram to host:port is answered (sent from inside `netns` when given)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with in_netns(netns, lambda: socket.socket(fam, socket.SOCK_DGRAM)) as s:
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
        poll_until(ok, timeout, what=f"UDP server answering on {hostport(host, port)}")


def recv_to_eof(sock, chunk=65536):
    """Everything a TCP peer sends until its FIN; a reset raises ConnectionResetError (an RST, not a FIN)."""
    got = bytearray()
    while True:
        b = sock.recv(chunk)
        if not b:
            return bytes(got)
        got += b
