"""The main job end to end, on small selections: run directories and reports that never go stale, focused
reruns, --list, verify/diff, and an interrupted run that stops promptly, says so and leaves nothing behind."""
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time

import jsonschema
import pytest

from lab import netem as lab_netem, proc, stopcheck
from wcrun import paths

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFORMANCE = str(ROOT / "scripts" / "conformance")
SCHEMA = json.loads((ROOT / "tests/wcrun/report.schema.json").read_text())
pytestmark = [pytest.mark.lab, pytest.mark.xdist_group("runner")]


def run(*args, timeout=600, checkout=None):
    """scripts/conformance ARGS; with checkout (a copy_checkout), that copy's, with this build's programs."""
    if checkout is None:
        return subprocess.run([CONFORMANCE, *args], capture_output=True, text=True, timeout=timeout)
    env = {**os.environ, "WIRECHECK_BIN": str(paths.bin_dir())}
    return subprocess.run(["./scripts/conformance", *args], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_focused_rerun_is_partial_and_its_report_is_valid_and_verified(tmp_path):
    r = run("--no-demo", "-k", "seed_session or three_way", "--out", str(tmp_path / "a"))
    assert r.returncode == 3, r.stdout[-3000:] + r.stderr[-2000:]
    assert "PARTIAL RUN" in r.stdout and "no scenario selected here" in r.stdout, r.stdout[-2000:]
    rep = json.loads((tmp_path / "a/report.json").read_text())
    jsonschema.validate(rep, SCHEMA)
    assert rep["run"]["complete"] is False and rep["run"]["selection"]["k"] == "seed_session or three_way"
    assert rep["run"]["captures_sha256"], "the report cites no capture"
    # Scenarios run by pytest afterwards (as scripts/test does) write elsewhere: the report stays true.
    t = subprocess.run(["/usr/bin/python3", "-m", "pytest", str(ROOT / "tests/conformance"), "-k", "seed_session",
                        "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "WIRECHECK_CAPTURES"})
    assert t.returncode == 0, t.stdout[-2000:]
    v = run("verify", str(tmp_path / "a/report.json"))
    assert v.returncode == 0 and "match the report" in v.stdout, v.stdout + v.stderr
    # A changed capture is found.
    first = next(iter(rep["run"]["captures_sha256"]))
    with open(tmp_path / "a" / first, "ab") as f:
        f.write(b"\0" * 4)
    v = run("verify", str(tmp_path / "a/report.json"))
    assert v.returncode == 1 and "changed since the report was written" in v.stdout, v.stdout


def test_list_and_a_selection_that_matches_nothing(tmp_path, copy_checkout):
    r = run("--list")
    assert r.returncode == 0 and "test_half_close_tail[4]" in r.stdout and "netem" in r.stdout, r.stdout[-2000:]
    # Columns: every clause list starts where the header's does, however long the scenario's name.
    lines = r.stdout.splitlines()
    col = lines[0].index("clauses")
    rows = [line for line in lines[1:] if line.startswith("test_")]
    assert rows and all(re.match(r"[TUWC]\d", x[col:]) and x[col - 1] == " " for x in rows), r.stdout[:3000]
    # In a copy of the checkout (captures/ of its own): a usage error, and no run directory left behind.
    clone = copy_checkout(tmp_path / "checkout")
    r = run("--no-demo", "-k", "no_such_scenario_anywhere", checkout=clone)
    assert r.returncode == 2 and "no scenario matches" in r.stderr, r.stdout + r.stderr
    left = sorted(str(p.relative_to(clone)) for p in (clone / "captures" / "runs").glob("*"))
    assert not left, f"a run that matched nothing left {left}"


@pytest.fixture
def loopback_reference(bins, tmp_path):
    """The reference tcp-server and udp-server on 127.0.0.1, each on a free port of its own (neither 6789 nor
    9876, and not the same number); yields (TCP port, UDP port). Their logs stay in tmp_path."""
    tcp = udp = proc.free_port(socket.SOCK_STREAM)
    while udp == tcp:           # the same number would hide a runner that sends UDP to the TCP port
        udp = proc.free_port(socket.SOCK_DGRAM)
    assert not {tcp, udp} & {6789, 9876}, (tcp, udp)
    with proc.Process([bins["tcp-server"], "-b", "127.0.0.1", "-p", str(tcp)], name="tcp-server",
                      logdir=str(tmp_path)) as t, \
            proc.Process([bins["udp-server"], "-b", "127.0.0.1", "-p", str(udp)], name="udp-server",
                         logdir=str(tmp_path)) as u:
        proc.wait_tcp_listening("127.0.0.1", tcp, t)
        proc.wait_udp_answering("127.0.0.1", udp, u)
        yield tcp, udp


def test_target_with_a_udp_port_of_its_own(tmp_path, loopback_reference):
    """--target HOST:TCPPORT with --target-udp-port: the TCP scenarios reach the TCP port, the UDP ones the UDP
    port (nothing else answers there), the clauses that need the lab are n/a, and the report names both."""
    tcp, udp = loopback_reference
    target = f"127.0.0.1:{tcp}"
    out = tmp_path / "run"
    r = run("--target", target, "--target-udp-port", str(udp), "--out", str(out),
            "-k", "seed_session or datagram_sizes or reply_from_server_port")
    assert r.returncode == 3 and "PARTIAL RUN" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    rep = json.loads((out / "report.json").read_text())
    jsonschema.validate(rep, SCHEMA)
    got = {c["id"]: c["verdict"] for c in rep["clauses"]}
    want = {**{c: "pass" for c in ("T2", "T3", "U1", "U2")},
            **{c: "n/a" for c in ("T7", "U4", "W1", "W2", "W3", "W4", "W5")},
            **{c: "not run" for c in ("T1", "T4", "T5", "T6", "U3", "C1", "C2")}}
    assert got == want, {c: (want.get(c), v) for c, v in got.items() if want.get(c) != v}
    assert rep["sut"] == {"target": target, "target_udp_port": udp, "reference": False}, rep["sut"]
    assert rep["run"]["commands"] == {"target": target, "target_udp_port": udp}, rep["run"]["commands"]
    named = f"the server at {target}, UDP port {udp}"
    for page in ("report.md", "report.html"):
        assert named in (out / page).read_text(), f"{page} does not name the target ({named!r})"
    # At the application level only: no capture is cited, none written.
    assert not rep["run"]["captures_sha256"] and not list(out.glob("*.pcapng")), sorted(os.listdir(out))


def test_a_relative_command_runs_from_where_the_user_is(tmp_path):
    """--tcp-server-cmd 'python3 my_server.py {port}' from the server's own folder: the command runs there, not
    from the scenarios' directory where the runner's stages run."""
    (tmp_path / "mine").mkdir()
    shutil.copy(ROOT / "tests/selftest/student/fixed_tcp.py", tmp_path / "mine" / "my_server.py")
    out = tmp_path / "run"
    r = subprocess.run([CONFORMANCE, "--tcp-server-cmd", "/usr/bin/python3 my_server.py {port}", "--no-netem",
                        "--no-demo", "-k", "seed_session", "--out", str(out)], cwd=tmp_path / "mine",
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 3, r.stdout[-3000:] + r.stderr[-2000:]
    got = {c["id"]: c["verdict"] for c in json.loads((out / "report.json").read_text())["clauses"]}
    assert (got["T2"], got["T3"]) == ("pass", "pass"), got


def test_a_partial_run_never_replaces_the_last_full_report(tmp_path, copy_checkout, loopback_reference):
    """README: each run writes into its own captures/runs/<UTC time>-<name>/, captures/latest points at the last
    complete run, and a partial run never moves it. In a copy of the checkout (its own captures/), a full
    report is the latest; a focused rerun (-k) writes beside it and leaves the link and the report as they were."""
    clone = copy_checkout(tmp_path / "checkout")
    captures = clone / "captures"
    full = captures / "runs" / "20260101T000000Z-reference"
    full.mkdir(parents=True)
    rep = {"sut": {"reference": True}, "status": 0, "headline": "CONFORMS", "conforms": True, "clauses": [],
           "run": {"complete": True, "selection": None}}
    (full / "report.json").write_text(json.dumps(rep))
    (full / "report.md").write_text("# wirecheck conformance report\n\n**CONFORMS**\n")
    (full / "report.html").write_text("<p><b>CONFORMS</b></p>\n")
    (captures / "latest").symlink_to(os.path.join("runs", full.name))
    before = {f.name: f.read_bytes() for f in full.iterdir()}
    tcp, udp = loopback_reference
    r = run("--target", f"127.0.0.1:{tcp}", "--target-udp-port", str(udp), "-k", "seed_session", checkout=clone)
    assert r.returncode == 3 and "PARTIAL RUN" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    assert os.readlink(captures / "latest") == os.path.join("runs", full.name), os.readlink(captures / "latest")
    after = {f.name: f.read_bytes() for f in full.iterdir()}
    assert after == before, f"the full run's directory changed: {sorted(set(after) ^ set(before))} added or gone, " \
                            f"{sorted(k for k in before if after.get(k) != before[k])} rewritten"
    runs = sorted(d.name for d in (captures / "runs").iterdir() if d != full)
    assert len(runs) == 1 and re.fullmatch(rf"\d{{8}}T\d{{6}}Z-target-127\.0\.0\.1_{tcp}", runs[0]), runs
    partial = captures / "runs" / runs[0]
    prep = json.loads((partial / "report.json").read_text())
    assert prep["run"]["complete"] is False and prep["run"]["selection"]["k"] == "seed_session", prep["run"]
    assert f"report: {partial / 'report.html'}" in r.stdout, "the terminal does not say where the partial report is"


def test_diff_of_two_reports(tmp_path):
    a = {"clauses": [{"id": "T1", "verdict": "pass"}, {"id": "T2", "verdict": "fail"}]}
    b = {"clauses": [{"id": "T1", "verdict": "fail"}, {"id": "T2", "verdict": "pass"}]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    r = run("diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert r.returncode == 1 and "newly failing: T1" in r.stdout and "newly passing: T2" in r.stdout, r.stdout


# The interrupt tests run in tests/lab/test_interrupt.py's group: one after the other on one worker, so that a
# stop being timed never runs beside a UML boot.
INTERRUPTS = pytest.mark.xdist_group("lab-interrupt")


def start(out, *args, env=None):
    """scripts/conformance --out OUT ARGS in its own session with SIGINT at its default, as a terminal starts
    it, on the programs already built (the build is not what these tests time). Its output goes to OUT.log (a
    file: reading it never waits for a process that outlived the run)."""
    env = {**os.environ, "WIRECHECK_BIN": str(paths.bin_dir()), **(env or {})}
    log = pathlib.Path(f"{out}.log")
    with open(log, "wb") as f:
        p = subprocess.Popen([CONFORMANCE, "--out", str(out), *args], stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True, env=env, preexec_fn=stopcheck.as_from_a_terminal)
    p.log = log
    return p


@pytest.fixture
def runs():
    """start(), and at the end any run it started that still runs is killed: a failed test leaves none."""
    started = []

    def go(out, *args, env=None):
        started.append(start(out, *args, env=env))
        return started[-1]
    yield go
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


class Stopped:
    """How a run ended after interrupt_when(): status, seconds to stop, output, and the pids it had when it was
    signalled (its processes: the owners of its namespaces and UML run directories)."""

    def __init__(self, p, took, text, pids):
        self.pid, self.rc, self.took, self.text, self.pids = p.pid, p.returncode, took, text, pids

    def __repr__(self):
        return f"exit {self.rc} {self.took:.2f} s after the signal\n{self.text[-3000:]}"


def interrupt_when(p, ready, what, sig=signal.SIGINT, resume=False):
    """Once ready() (polled), sends sig to the run's group, then SIGCONT when resume (a run that stopped itself,
    WIRECHECK_STOP_AT); returns Stopped."""
    proc.poll_until(lambda: ready() or p.poll() is not None, timeout=300, what=what)
    assert p.poll() is None, f"the run ended before it could be interrupted ({what})"
    pids = [p.pid] + [pid for pid, _ in stopcheck.run_processes(p.pid)]
    t0 = time.monotonic()
    os.killpg(p.pid, sig)      # what a terminal's Ctrl-C (or a CI cancel) sends: the whole group
    if resume:
        os.killpg(p.pid, signal.SIGCONT)
    p.wait(timeout=60)
    return Stopped(p, time.monotonic() - t0, p.log.read_text(errors="replace"), pids)


def leftovers(st, out):
    """What the stopped run left, {what: [...]} for each kind there is: processes (every one of a run carries
    WIRECHECK_RUN_PID, linux.uml's too), the namespaces and UML run directories of its processes, and open
    captures (*.partial) in its directory."""
    left = {"processes": stopcheck.run_processes(st.pid), **stopcheck.owned_by(st.pids),
            ".partial files": sorted(str(f) for f in pathlib.Path(out).rglob("*.partial"))}
    return {k: v for k, v in left.items() if v}


def assert_interrupted(st, sig, out, bound, net_before, why=""):
    """The run stopped within bound seconds (why: how that bound came) with 128 + sig, said so, wrote its report
    marked interrupted, and left nothing: no leftovers(), the host's qdiscs and firewall rules as before."""
    assert st.rc == 128 + sig, f"expected exit {128 + sig} after {sig.name}: {st}"
    assert st.took < bound, f"expected a stop within {bound:.1f} s{why}: {st}"
    assert f"INTERRUPTED ({sig.name})" in st.text, st
    rep = json.loads((out / "report.json").read_text())
    assert (rep["run"]["interrupted"], rep["status"]) == (sig.name, st.rc), (rep["run"]["interrupted"], rep["status"])
    if "did not stop within" in st.text:    # killed in its teardown (a loaded machine): its wardens finish it
        wait_nothing_left(st, out, "what the killed stage left, reaped by its wardens", net_before)
        return rep
    left = leftovers(st, out)
    assert not left, f"left behind: {left}"
    assert_net_state(net_before)
    return rep


def assert_net_state(before):
    changed = stopcheck.net_state_changes(before, stopcheck.net_state())
    assert not changed, f"the host's qdiscs or iptables rules changed: {changed}"


def wait_nothing_left(st, out, what, net_before):
    """Polls until leftovers() finds nothing (a killed run's warden, UML's end, take a moment), then checks the
    host's qdiscs and rules."""
    try:
        proc.poll_until(lambda: not leftovers(st, out), timeout=10, what=what)
    except proc.NotReady as e:
        raise AssertionError(f"{e}: {leftovers(st, out)}") from None
    assert_net_state(net_before)


@INTERRUPTS
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_promptly_reports_it_and_leaves_nothing(tmp_path, runs, sig):
    """The native stage, interrupted once its first captures exist: stopped within the issue's 2 s, stretched
    (at most twice) by the load as in tests/lab/test_interrupt.py. The stage's workers tear their scenarios
    down (0.6 s on 2 busy cores) and xdist ends them (0.4 s more); measured on 2 cores: median 1.1 s at a
    load of 2.4 per core, 2.4 s at 4 per core (the runner's 2-s grace then cut the teardown short)."""
    out = tmp_path / "run"
    before = stopcheck.net_state()
    p = runs(out, "--no-demo", "--no-netem")
    st = interrupt_when(p, lambda: any(out.glob("*.pcapng")), "the first capture of the run", sig)
    limit, load = stopcheck.native_limit()
    rep = assert_interrupted(st, sig, out, limit, before, f" ({stopcheck.NATIVE_STOP_S} s at a load of {load:.1f} "
                             "per core)")
    assert any(c["verdict"] == "not run" for c in rep["clauses"]), "nothing was left not run?"
    assert paths.captures().joinpath("latest").resolve() != out.resolve()


@INTERRUPTS
def test_ctrl_c_during_the_uml_boot_stops_it(tmp_path, runs):
    """Before the command inside has started, uml.py kills UML at once: nothing inside has to stop, so the native
    bound holds (measured: 0.22 to 0.34 s), not only the issue's 5 s, which waiting for the grace would meet."""
    if lab_netem.netem_native():
        pytest.skip("this kernel has netem: the netem stage runs natively, without UML")
    out = tmp_path / "run"
    before = stopcheck.net_state()
    p = runs(out, "--no-demo", "-k", "ordering_under_loss")     # no native scenario: the UML stage comes at once

    def booting():
        procs = stopcheck.run_processes(p.pid)
        dirs = stopcheck.owned_by(pid for pid, _ in procs)["UML run directories"]
        return (any(name == "linux.uml" for _, name in procs) and dirs
                and not any(pathlib.Path(d, "booted").exists() for d in dirs))
    st = interrupt_when(p, booting, "linux.uml started and not booted yet")
    rep = assert_interrupted(st, signal.SIGINT, out, stopcheck.NATIVE_STOP_S, before)
    assert {c["verdict"] for c in rep["clauses"]} == {"not run"}, [(c["id"], c["verdict"]) for c in rep["clauses"]]


@INTERRUPTS
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_while_the_report_is_written(tmp_path, runs, sig):
    """Every stage done, the runner at the report (it stops itself there: WIRECHECK_STOP_AT): the signal stops
    the figures, and the report keeps the verdicts of what ran, marked interrupted."""
    out = tmp_path / "run"
    before = stopcheck.net_state()
    p = runs(out, "--no-demo", "--no-netem", "-j", "1", "-k", "seed_session", env={"WIRECHECK_STOP_AT": "report"})
    st = interrupt_when(p, lambda: stopcheck.state(p.pid) == "T", "the runner stopped at the report", sig,
                        resume=True)
    rep = assert_interrupted(st, sig, out, stopcheck.NATIVE_STOP_S, before)
    assert "pass" in {c["verdict"] for c in rep["clauses"]}, [(c["id"], c["verdict"]) for c in rep["clauses"]]
    assert not rep.get("ladders") and not list(out.glob("*.ladder.svg")), "figures drawn for a stopped run"


@INTERRUPTS
def test_ctrl_c_in_the_uml_stage_stops_within_5_s(tmp_path, runs):
    out = tmp_path / "run"
    before = stopcheck.net_state()
    p = runs(out, "--no-demo", "-k", "seed_session or ordering_under_loss")
    # The netem scenario's capture exists once the UML stage is running it.
    st = interrupt_when(p, lambda: any(out.glob("*ordering_under_loss*")), "the netem scenario running")
    assert_interrupted(st, signal.SIGINT, out, stopcheck.UML_STOP_S, before)


@INTERRUPTS
def test_after_a_sigkill_the_next_run_reaps_everything(tmp_path, runs):
    out = tmp_path / "run"
    before = stopcheck.net_state()
    p = runs(out, "--no-demo", "--no-netem")
    # The runner and its stage; the lab's wardens live on.
    st = interrupt_when(p, lambda: any(out.glob("*.pcapng")), "the first capture of the run", signal.SIGKILL)
    r = run("--cleanup")
    assert r.returncode == 0, r.stdout + r.stderr
    wait_nothing_left(st, out, "nothing of the killed run left", before)


@INTERRUPTS
def test_ctrl_c_in_the_demonstration_stops_it(tmp_path, runs):
    out = tmp_path / "demo"
    before = stopcheck.net_state()
    p = runs(out, "--demo-only", "--demo-n", "50")
    # Once its first run's capture exists, the demonstration is collecting (inside UML where netem is missing).
    st = interrupt_when(p, lambda: any((out / "reliability").glob("*.pcapng*")), "the demonstration collecting")
    assert st.rc == 130 and st.took < 6, st
    assert "demonstration was interrupted" in st.text, st
    # linux.uml among the processes: every one carries the run's mark
    wait_nothing_left(st, out, "nothing of the demonstration left", before)

@INTERRUPTS
def test_ctrl_c_stops_scripts_test(tmp_path):
    """scripts/test's trap: Ctrl-C (SIGINT to its process group) stops the step that runs, then the script, with
    130. scripts/test has no option to run fewer steps, and its first pytest step comes after a build, the unit
    tests and a sanitizer build; so the step interrupted is its first, the build, made long (and the checkout's
    build/ left alone) by building into an empty directory (WIRECHECK_BUILD_DIR): a step that is certainly
    running, whose processes must all end with it."""
    log = tmp_path / "test.log"
    before = stopcheck.net_state()
    with open(log, "wb") as f:
        p = subprocess.Popen([str(ROOT / "scripts" / "test")], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, "WIRECHECK_BUILD_DIR": str(tmp_path / "build")},
                             start_new_session=True, preexec_fn=stopcheck.as_from_a_terminal)
    try:
        def building():
            return "== build" in log.read_text() and any(n == "cmake" for _, n in stopcheck.session_processes(p.pid))
        proc.poll_until(lambda: building() or p.poll() is not None, timeout=120, what="scripts/test building")
        assert p.poll() is None, f"scripts/test ended before its build ({p.returncode}):\n{log.read_text()[-3000:]}"
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rc = "none: still running 30 s after SIGINT"
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = log.read_text()[-3000:]
    assert rc == 130 and "== interrupted (SIGINT)" in text, f"exit {rc}:\n{text}"
    limit, load = stopcheck.native_limit()
    assert took < limit, f"stopped {took:.2f} s after SIGINT, expected < {limit:.1f} s (load {load:.1f} per core)"
    left = stopcheck.session_processes(p.pid)
    assert not left, f"processes of scripts/test left: {left}"
    assert_net_state(before)
