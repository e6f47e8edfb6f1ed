"""Interrupt = stop, nothing outlives its run, and what a killed run left is reaped (issue 16, the lab's part).

The subject is tests/lab/blocking_scenario.py: a pytest run with a topology, a udp-server, a two-sided capture
with packets in it, that waits until it is signalled. It runs in its own session, as under a terminal, and
gets the signal on its whole process group, as a terminal's Ctrl-C or a CI job's cancel sends it.
"""
import contextlib
import errno
import json
import os
import pathlib
import shutil
import signal
import subprocess
import time

import pytest

from lab import proc, reap
from lab.stopcheck import NATIVE_STOP_S, UML_STOP_S, as_from_a_terminal, native_limit, net_state, net_state_changes

TESTS = pathlib.Path(__file__).resolve().parent.parent
CHECKOUT = TESTS.parent
PY = "/usr/bin/python3"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
needs_uml = pytest.mark.skipif(not shutil.which("linux.uml"), reason="linux.uml is not installed "
                               "(apt-get install user-mode-linux kmod)")
# Every test here runs on one xdist worker, one after the other (scripts/test: --dist loadgroup): a UML boot
# beside a native stop would measure the boot.
pytestmark = pytest.mark.xdist_group("lab-interrupt")


def alive(pid):
    return not reap._gone(pid)


class Subject:
    """blocking_scenario.py under pytest (natively or through uml.py run), in its own session."""

    def __init__(self, tmp_path, bins, uml=False, pytest_args=(), slow_stop=False):
        self.dir = tmp_path
        self.state_file = tmp_path / "state.json"
        self.captures = tmp_path / "captures"
        env = {**os.environ, "WIRECHECK_VICTIM_STATE": str(self.state_file),
               "WIRECHECK_CAPTURES": str(self.captures), "WIRECHECK_BIN": str(pathlib.Path(bins["sniffer"]).parent)}
        if slow_stop:   # blocking_scenario.py's process that holds the teardown until release() opens the FIFO
            os.mkfifo(tmp_path / "release")
            env["WIRECHECK_VICTIM_SLOW_STOP"] = str(tmp_path)
        argv = [PY, "-m", "pytest", "tests/lab/blocking_scenario.py", "-p", "no:cacheprovider", "-q",
                *pytest_args]
        if uml:
            argv = [PY, "tests/lab/uml.py", "run", "--"] + argv
        self.log = tmp_path / "subject.log"
        with open(self.log, "wb") as out:
            self.p = subprocess.Popen(argv, cwd=CHECKOUT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      preexec_fn=as_from_a_terminal)
        self.uml = uml
        self.owners = {reap.owner_id(self.p.pid)}
        self.state = None

    def output(self):
        return self.log.read_text(errors="replace")[-3000:]

    def wait_up(self, timeout):
        def up():
            if self.p.poll() is not None:
                raise AssertionError(f"the subject ended early ({self.p.returncode}):\n{self.output()}")
            return self.state_file.exists()
        proc.poll_until(up, timeout, what="the blocking scenario up and capturing")
        self.state = json.loads(self.state_file.read_text())
        if not self.uml:    # the pytest process that runs the scenario (an xdist worker's mark is its own)
            self.owners.add(reap.owner_id(self.state["pid"]))
        return self.state

    def release(self):
        """Lets blocking_scenario.py's slow process stop (slow_stop=True): opens the FIFO that it waits on, once
        it has opened it (a moment after it said it is stopping)."""
        def opened():
            try:
                return os.open(self.dir / "release", os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:      # ENXIO: nobody reads it yet
                    raise
                return None
        fd = proc.poll_until(opened, 5, what="the slow process waiting for its release")
        os.write(fd, b"\n")
        os.close(fd)

    def signal_group(self, sig, release=False):
        """Signals the subject's process group (then, with release, lets its slow process stop); returns (exit
        status, seconds until it ended)."""
        t0 = time.monotonic()
        os.killpg(self.p.pid, sig)
        if release:
            self.release()
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            group = subprocess.run(["ps", "-o", "pid,stat,wchan:20,args", "--sid", str(self.p.pid)],
                                   capture_output=True, text=True).stdout
            # Where it hangs: pytest's faulthandler plugin dumps every thread's stack on SIGABRT.
            os.kill(self.p.pid, signal.SIGABRT)
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)
            raise AssertionError(f"{signal.Signals(sig).name}: still running after 30 s\n{group}\n{self.output()}")
        return rc, time.monotonic() - t0

    def close(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        reap.reap_stale(self.captures)

    # what must be gone -------------------------------------------------------------------------------------
    def namespaces_left(self):
        return [n for n in self.state["namespaces"] if os.path.exists(f"/run/netns/{n}")]

    def processes_left(self):
        return [(what, self.state[what]) for what in ("server", "sniffer") if alive(self.state[what])]

    def marked_left(self):
        """Processes marked as started by the subject or by the subject's own children (the lab's)."""
        return [(p["comm"], p["pid"]) for p in reap.processes() if p["owner"] in self.owners]

    def capture(self):
        """(complete file exists, .partial left, .interrupted kept)."""
        final = pathlib.Path(self.state["capture"])
        partial = final.with_name(final.name + ".partial")
        kept = final.with_name(final.name[:-len(".pcapng")] + ".interrupted.pcapng")
        return final.exists(), partial.exists(), kept.exists()


@pytest.fixture
def subject(tmp_path, bins):
    made = []

    def make(**kw):
        made.append(Subject(tmp_path, bins, **kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


# --- natively --------------------------------------------------------------------------------------------
@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("sig,xdist", [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, True)],
                         ids=["SIGINT", "SIGTERM", "SIGTERM-xdist"])
def test_interrupt_stops_the_run_and_tears_down(subject, sig, xdist):
    before = net_state()
    s = subject(pytest_args=["-n", "1"] if xdist else [])
    s.wait_up(60)
    rc, took = s.signal_group(sig)
    assert_stopped_and_torn_down(s, rc, took, sig.name, before)


def assert_stopped_and_torn_down(s, rc, took, what, net_before):
    """pytest's status for an interrupted run, within the native bound; teardown ran before pytest exited
    (nothing to wait for): no namespace or process, the host's qdiscs and rules as before, the capture whole
    and its record saying "interrupted"."""
    assert rc == 2, f"pytest's status for an interrupted run is 2, got {rc}\n{s.output()}"
    limit, load = native_limit()
    assert took < limit, (f"stopped {took:.2f} s after {what}, expected < {limit:.1f} s "
                          f"({NATIVE_STOP_S} s at a load of {load:.1f} per core)")
    left = (s.namespaces_left(), s.processes_left(), s.marked_left())
    assert left == ([], [], []), f"left (namespaces, server/sniffer, marked processes): {left}\n{s.output()}"
    changed = net_state_changes(net_before, net_state())
    assert not changed, f"the host's qdiscs or iptables rules changed: {changed}"
    assert s.capture() == (True, False, False), f"capture (complete, .partial, .interrupted): {s.capture()}"
    rec = json.loads(pathlib.Path(s.state["capture"]).with_suffix(".json").read_text())
    assert rec["outcome"] == "interrupted", rec["outcome"]


@pytest.mark.lab
@needs_root
def test_a_second_ctrl_c_while_the_lab_cleans_up_leaves_nothing(subject):
    """lab.interrupt: only the first signal interrupts. A second Ctrl-C while the lab tears down (an impatient
    user) is said and ignored: cutting the teardown short is what would leave a mess."""
    before = net_state()
    s = subject(slow_stop=True)
    s.wait_up(60)
    os.killpg(s.p.pid, signal.SIGINT)
    # The topology's teardown stops the slow process first, and waits for it: the lab is cleaning up.
    proc.poll_until(lambda: (s.dir / "stopping").exists() or s.p.poll() is not None, 10,
                    what="the lab's teardown under way")
    assert s.p.poll() is None, f"the subject ended before its teardown was held ({s.p.returncode}):\n{s.output()}"
    rc, took = s.signal_group(signal.SIGINT, release=True)
    assert_stopped_and_torn_down(s, rc, took, "the second SIGINT", before)
    assert "SIGINT again: already stopping" in s.log.read_text(errors="replace"), \
        f"the subject did not say it saw the second SIGINT:\n{s.output()}"


@pytest.mark.lab
@needs_root
def test_sigkill_of_the_run_leaves_nothing(subject):
    """The warden (and the parent-death signal) clean up after a run that had no chance to."""
    s = subject()
    s.wait_up(60)
    s.signal_group(signal.SIGKILL)
    proc.poll_until(lambda: not s.namespaces_left() and not s.processes_left() and not s.marked_left(), 10,
                    what="the killed run's namespaces, server and sniffer gone")
    # The sniffer got SIGTERM (parent-death signal, then the warden): it completed its file.
    proc.poll_until(lambda: s.capture()[0], 5, what="the capture completed")
    assert s.capture() == (True, False, False), s.capture()


@pytest.mark.lab
@needs_root
def test_reap_stale_cleans_after_a_run_whose_warden_died_too(subject):
    s = subject()
    st = s.wait_up(60)
    victim = reap.owner_id(st["pid"])
    wardens = [int(d) for d in os.listdir("/proc") if d.isdigit()
               and f"--watch\0{victim}".encode() in (reap._read(f"/proc/{d}/cmdline") or b"")]
    assert len(wardens) == 1, f"one warden for {victim}, found {wardens}"
    os.kill(wardens[0], signal.SIGKILL)
    proc.poll_until(lambda: not alive(wardens[0]), 5, what="the warden gone")
    s.signal_group(signal.SIGKILL)
    proc.poll_until(lambda: not s.processes_left(), 5, what="server and sniffer gone (parent-death signal)")
    assert s.namespaces_left() == st["namespaces"], "nobody was left to delete them: the case under test"
    lines = reap.reap_stale(s.captures)
    assert s.namespaces_left() == [], lines
    for ns in st["namespaces"]:
        assert f"deleted namespace {ns}" in lines, lines
    assert [ln for ln in reap.reap_stale(s.captures) if str(st["pid"]) in ln] == [], "reaped twice"


@pytest.mark.lab
@needs_root
def test_reap_stale_removes_only_what_dead_owners_left(tmp_path, monkeypatch):
    """Processes, namespaces, UML run directories and .partial captures of a dead owner go; a live owner's stay."""
    dead = subprocess.Popen(["sleep", "30"])
    dead_mark = reap.owner_id(dead.pid)
    dead.kill()
    dead.wait()
    me = reap.owner_id()
    ns_dead, ns_live = f"wc-{dead.pid}-dead-server", f"wc-{os.getpid()}-1ee7-server"
    for ns in (ns_dead, ns_live):
        proc.run(["ip", "netns", "add", ns])
    orphans = []
    try:
        env = {**os.environ, reap.ENV: dead_mark}
        orphans.append(subprocess.Popen(["sleep", "60"], env=env, start_new_session=True))  # marked, own session
        orphans.append(subprocess.Popen(["ip", "netns", "exec", ns_dead, "sleep", "60"], start_new_session=True,
                                        env={k: v for k, v in os.environ.items() if k != reap.ENV}))
        mine = subprocess.Popen(["sleep", "60"], env={**os.environ, reap.ENV: me}, start_new_session=True)
        proc.poll_until(lambda: len(proc_in(ns_dead)) == 1, 5, what="a process inside the dead run's namespace")
        rt = tmp_path / "rt"
        rt.mkdir()
        monkeypatch.setenv("TMPDIR", str(rt))
        d_dead, d_live = rt / f"wc-uml-run-{dead.pid}-abcdef", rt / f"wc-uml-run-{os.getpid()}-abcdef"
        for d, mark in ((d_dead, dead_mark), (d_live, me)):
            d.mkdir()
            (d / "owner").write_text(mark + "\n")
        caps = tmp_path / "captures"
        (caps / "reliability").mkdir(parents=True)
        sample = (CHECKOUT / "captures/samples/udp-loss-reorder.pcapng").read_bytes()
        (caps / "reliability/a.pcapng.partial").write_bytes(sample[:len(sample) * 2 // 3])  # cut mid-block
        (caps / "b.pcapng.partial").write_bytes(sample[:28])   # a section header, no packets
        (caps / "b.pcapng.ready").write_text("")
        with open(caps / "c.pcapng.partial", "wb") as held:    # still being written by someone: kept
            held.write(sample)
            held.flush()
            lines = reap.reap_stale(caps)
        text = "\n".join(lines)
        for p in orphans:
            assert p.wait(timeout=5) is not None
            assert f"pid {p.pid}" in text, text
        assert mine.poll() is None, f"a live owner's process was killed:\n{text}"
        assert not os.path.exists(f"/run/netns/{ns_dead}") and os.path.exists(f"/run/netns/{ns_live}"), text
        assert not d_dead.exists() and d_live.exists(), text
        assert (caps / "reliability/a.interrupted.pcapng").exists(), text
        assert reap.count_packets(caps / "reliability/a.interrupted.pcapng") > 0
        assert not (caps / "b.pcapng.partial").exists() and not (caps / "b.pcapng.ready").exists(), text
        assert (caps / "c.pcapng.partial").exists(), text
        assert f"deleted namespace {ns_dead}" in text and f"removed UML run directory {d_dead}" in text, text
    finally:
        for p in orphans + [locals().get("mine")]:
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        proc.run(["ip", "-force", "-batch", "-"], check=False,
                 input="".join(f"netns del {n}\n" for n in (ns_dead, ns_live)).encode())


def proc_in(ns):
    from lab import netns
    return netns.netns_pids(ns)


# --- inside User-Mode Linux ------------------------------------------------------------------------------
@pytest.mark.lab
@pytest.mark.slow
@needs_root
@needs_uml
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_interrupt_inside_uml_stops_within_5_s(subject, sig):
    s = subject(uml=True)
    s.wait_up(300)     # boot and pytest's start inside UML: ~20 s on an idle machine, minutes on a busy one
    rc, took = s.signal_group(sig)
    if sig == signal.SIGKILL:   # uml.py had no say: the parent-death signal and its warden stop UML
        runs = lambda: [d for base in reap.runtime_dirs()  # noqa: E731
                        for d in pathlib.Path(base).glob(f"wc-uml-run-{s.p.pid}-*")]
        proc.poll_until(lambda: not s.marked_left() and not runs(), 10, what="UML and its run directory gone")
        proc.poll_until(lambda: not s.capture()[1], 10, what="the .partial capture reaped by the warden")
        return
    assert rc == 128 + sig, f"uml.py run: exit {rc}, expected {128 + sig}\n{s.output()}"
    assert took < UML_STOP_S, f"stopped {took:.2f} s after {sig.name}, expected < {UML_STOP_S} s\n{s.output()}"
    assert s.marked_left() == [], f"UML processes left: {s.marked_left()}"
    runs = [d for base in reap.runtime_dirs() for d in pathlib.Path(base).glob(f"wc-uml-run-{s.p.pid}-*")]
    assert runs == [], f"run directories left: {runs}"
    complete, partial, kept = s.capture()
    assert not partial and (complete or kept), f"capture (complete, .partial, .interrupted): {s.capture()}"
