"""The main job end to end, on small selections: run directories and reports that never go stale, focused
reruns, --list, verify/diff, and an interrupted run that stops promptly, says so and leaves nothing behind."""
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import jsonschema
import pytest

from lab import proc
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


def leftovers(pid):
    """Namespaces of dead owners (the lab names them wc…-<owner pid>-…) and processes of the run whose runner
    was pid (every process of a run carries WIRECHECK_RUN_PID)."""
    from lab.reap import NETNS_RE
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    dead = [n for n in ns if (m := NETNS_RE.match(n)) and not pathlib.Path(f"/proc/{m.group(1)}").exists()]
    procs = []
    for d in pathlib.Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes()
            except OSError:
                continue
            if f"WIRECHECK_RUN_PID={pid}\0".encode() in env:
                procs.append(d.name)
    return dead, procs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_stops_promptly_reports_it_and_leaves_nothing(tmp_path, sig):
    out = tmp_path / "run"
    p = subprocess.Popen([CONFORMANCE, "--no-netem", "--no-demo", "--out", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    # Interrupt in the middle of the native stage: once its first captures exist.
    proc.poll_until(lambda: any(out.glob("*.pcapng")) or p.poll() is not None, timeout=120,
                    what="the first capture of the run")
    assert p.poll() is None, "the run ended before it could be interrupted"
    t0 = time.monotonic()
    os.killpg(p.pid, sig)                      # what a terminal's Ctrl-C (or a CI cancel) sends: the whole group
    rc = p.wait(timeout=30)
    took = time.monotonic() - t0
    text = p.stdout.read().decode(errors="replace")
    assert rc == (130 if sig == signal.SIGINT else 143), text[-3000:]
    assert took < 5, f"stopped {took:.1f} s after {sig.name}"
    assert f"INTERRUPTED ({sig.name})" in text, text[-2000:]
    rep = json.loads((out / "report.json").read_text())
    assert rep["run"]["interrupted"] == sig.name and rep["status"] == rc
    assert any(c["verdict"] == "not run" for c in rep["clauses"]), "nothing was left not run?"
    assert not list(out.glob("*.partial")), "a capture was left open"
    ns, procs = leftovers(p.pid)
    assert not ns, f"namespaces of dead owners left behind: {ns}"
    assert not procs, f"processes left behind: {procs}"
    assert paths.captures().joinpath("latest").resolve() != out.resolve()


def start(out, *args):
    return subprocess.Popen([CONFORMANCE, "--no-demo", "--out", str(out), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def interrupt_when(p, ready, what, sig=signal.SIGINT):
    """Once ready() (polled), sends sig to the run's group; returns (exit status, seconds to stop, output)."""
    proc.poll_until(lambda: ready() or p.poll() is not None, timeout=300, what=what)
    assert p.poll() is None, f"the run ended before it could be interrupted ({what})"
    t0 = time.monotonic()
    os.killpg(p.pid, sig)
    rc = p.wait(timeout=60)
    return rc, time.monotonic() - t0, p.stdout.read().decode(errors="replace")


def test_ctrl_c_in_the_uml_stage_stops_within_5_s(tmp_path):
    out = tmp_path / "run"
    p = start(out, "-k", "seed_session or ordering_under_loss")
    # The netem scenario's capture exists once the UML stage is running it.
    rc, took, text = interrupt_when(p, lambda: any(out.glob("*ordering_under_loss*")), "the netem scenario running")
    assert rc == 130 and took < 5 + 1, (rc, took, text[-3000:])      # 5 s in UML, 1 s for the report
    assert "INTERRUPTED (SIGINT)" in text
    ns, procs = leftovers(p.pid)
    assert not ns and not procs, (ns, procs)


def test_after_a_sigkill_the_next_run_reaps_everything(tmp_path):
    out = tmp_path / "run"
    p = start(out, "--no-netem")
    proc.poll_until(lambda: any(out.glob("*.pcapng")) or p.poll() is not None, timeout=120,
                    what="the first capture of the run")
    os.killpg(p.pid, signal.SIGKILL)            # the runner and its stage; the lab's wardens live on
    p.wait(timeout=10)
    r = run("--cleanup")
    assert r.returncode == 0, r.stdout + r.stderr

    def clean():
        ns, procs = leftovers(p.pid)
        return not ns and not procs
    proc.poll_until(clean, timeout=10, what="nothing of the killed run left")
    assert not list(out.glob("*.partial")), list(out.glob("*.partial"))


def test_ctrl_c_in_the_demonstration_stops_it(tmp_path):
    out = tmp_path / "demo"
    p = subprocess.Popen([CONFORMANCE, "--demo-only", "--demo-n", "50", "--out", str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    # Once its first run's capture exists, the demonstration is collecting (inside UML where netem is missing).
    rc, took, text = interrupt_when(p, lambda: any((out / "reliability").glob("*.pcapng*")),
                                    "the demonstration collecting")
    assert rc == 130 and took < 6, (rc, took, text[-3000:])
    assert "demonstration was interrupted" in text, text[-2000:]

    def clean():
        ns, procs = leftovers(p.pid)       # linux.uml among the processes: every one carries the run's mark
        return not ns and not procs
    proc.poll_until(clean, timeout=10, what="nothing of the demonstration left")
