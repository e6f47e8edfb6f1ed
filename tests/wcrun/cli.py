"""wirecheck conformance: test an implementation of the uppercase protocol, clause by clause, and report.

Runs the scenarios of tests/conformance in the network lab (client, router and server namespaces, both sides
captured), the impairment scenarios with tc netem natively or inside User-Mode Linux when this kernel has no
netem, then writes report.json, report.md and report.html into the run's own directory
(captures/runs/<UTC time>-<name>/, with captures/latest pointing at the last complete run) and prints the
verdicts.

Verdicts per clause: pass, fail, inconclusive (a prerequisite clause failed: it is named), error (the harness
or the environment failed: the implementation never became ready, or the network did not do what a scenario
asked), flaky (repeated runs disagree), skip, n/a, not run.
Exit status: 0 conforms (every MUST clause passes or does not apply); 1 a MUST clause fails (or is flaky);
3 no MUST clause fails but some are inconclusive, in error or not run (a partial run: -k, --no-netem);
2 bad usage; 130/143 interrupted by SIGINT/SIGTERM (the report is written, marked interrupted).

Command templates take {host} and {port} and run inside the server's (or client's) namespace, e.g.
  --tcp-server-cmd 'java -cp /tmp/seed/classes TCPServer {port}'
Without any, the reference programs are tested. Parts not given are reported "n/a".

Other subcommands: `scripts/conformance diff A.json B.json` (clauses newly failing, newly passing, newly
flaky), `scripts/conformance verify REPORT.json` (the captures a report cites are those it was made from),
`scripts/conformance requirements [--write|--check]` (list the requirements; render PROTOCOL.md's lists from
requirements.toml, or check that they agree).
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from lab import netem as lab_netem
from lab.capture import side_paths
from wcrun import ci, clauses as clause_db, options, paths, report, runinfo
from wcrun.plugin import SUT
from wcrun.verdict import EXIT, run_status

PY = "/usr/bin/python3"
COLORS = {"pass": "\033[32m", "fail": "\033[31m", "flaky": "\033[35m", "error": "\033[31m",
          "inconclusive": "\033[33m", "skip": "\033[33m", "n/a": "\033[90m", "not run": "\033[90m"}


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/conformance", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_to(ap.add_argument)
    ap.add_argument("--out", metavar="DIR", help="write the captures and the report here (default: a new "
                    "captures/runs/<UTC time>-<name>/, and captures/latest points at it; installed, captures/ of the "
                    "current directory)")
    ap.add_argument("-j", "--jobs", default="2", help="parallel scenarios natively (pytest-xdist; default 2)")
    ap.add_argument("-k", dest="keyword", metavar="EXPR", help="only the scenarios matching this pytest -k "
                    "expression, in whichever stages have any (a partial run: exit 3 unless a MUST clause fails)")
    ap.add_argument("--cleanup", action="store_true", help="only remove what killed runs left behind "
                    "(namespaces, processes, UML run directories, open captures), say what, and exit")
    ap.add_argument("--list", action="store_true", help="list the scenarios, their clauses and whether they "
                    "need netem, and exit")
    ap.add_argument("--no-netem", action="store_true", help="skip the impairment scenarios (a partial run)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="run every scenario N times; a clause "
                    "whose runs disagree is flaky, and the report gives its pass count")
    ap.add_argument("--junit", metavar="FILE", help="also write JUnit XML: a testsuite per clause, a testcase "
                    "per scenario, the evidence as the failure message")
    ap.add_argument("--baseline", metavar="REPORT", help="an earlier report.json: its failures are known and do "
                    "not fail this run; new failures do")
    ap.add_argument("--no-demo", action="store_true", help="skip the TCP-vs-UDP reliability demonstration")
    ap.add_argument("--demo-only", action="store_true", help="run only the reliability demonstration, into the "
                    "latest run's directory (or --out), keeping its clauses")
    ap.add_argument("--demo-n", type=int, default=500, metavar="N", help="messages per demonstration run "
                    "(default 500)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    ap.add_argument("--matrix", metavar="CATALOGUE", help="many implementations at once (a TOML catalogue): each "
                    "one's conformance, then every client against every server; writes matrix.html/.json/.md; -j runs "
                    "cells in parallel")
    ap.add_argument("--shard", metavar="I/N", help="with --matrix: run the I-th of N stable slices of the cells (N "
                    "alone: I from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID, counted from 0); join them with "
                    "`scripts/conformance merge DIR...`")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    if a.baseline:
        try:
            ci.known_failures(ci.load(a.baseline))
        except (OSError, ValueError, KeyError, TypeError) as e:
            ap.error(f"--baseline {a.baseline}: not a readable report.json ({e})")
    if a.target_udp_port is not None and not a.target:
        ap.error("--target-udp-port needs --target")
    if a.target:
        from wcrun.env import parse_target
        try:
            parse_target(a.target, a.target_udp_port)
        except ValueError as e:
            ap.error(str(e))
    return a


class Interrupt:
    """SIGINT/SIGTERM to the runner: forwarded to the running stage's process group, remembered, and no new
    stage starts. The stage gets `grace` seconds to tear down, then SIGKILL. Work in this process (the
    demonstration, the report's figures: `in_python`) stops where it is; the report is then written whole."""

    def __init__(self):
        self.signum = None
        self.since = None       # when the first signal came (time.monotonic())
        self.child = None
        self.in_python = False
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def handle(self, signum, _frame):
        first = self.signum is None
        self.signum = self.signum or signum
        if first:
            self.since = time.monotonic()
            print(f"\nconformance: {signal.Signals(signum).name}: stopping the run", file=sys.stderr, flush=True)
        if self.child is not None and self.child.poll() is None:
            self._signal_child(signum)
        elif first and self.in_python:
            # Work in this process (the demonstration): stop it where it is; its own clean-up runs.
            raise KeyboardInterrupt

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum else None

    def exit_status(self):
        return EXIT["sigint"] if self.signum == signal.SIGINT else EXIT["sigterm"]

    def _signal_child(self, signum):
        try:
            os.killpg(self.child.pid, signum)
        except ProcessLookupError:
            pass

    def wait(self, p, grace):
        """Waits for the stage. Once interrupted, it has `grace` seconds from the signal to tear down, then its
        group is killed (the lab's wardens clean up after a stage killed in its teardown)."""
        self.child = p
        try:
            if self.signum is not None:     # it came after the stage started, before it was ours to signal
                self._signal_child(self.signum)
                self.since = time.monotonic()
            while self.signum is None:
                try:
                    return p.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            try:
                return p.wait(timeout=max(0.0, self.since + grace - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"conformance: the stage did not stop within {grace} s; killed it (the lab's wardens clean up "
                      "after it)", file=sys.stderr, flush=True)
                self._signal_child(signal.SIGKILL)
                return p.wait()
        finally:
            self.child = None


# The directory the user ran the runner in: the commands under test run from there (a relative path in
# --tcp-server-cmd means what it meant to the user), though the stages run from the scenarios' directory.
USER_CWD = os.getcwd()


def stage_env(out):
    env = dict(os.environ)
    env.setdefault("WIRECHECK_SUT_CWD", USER_CWD)
    env["WIRECHECK_CAPTURES"] = str(out)
    env["PYTHONPATH"] = str(paths.PYROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_stage(a, intr, out, name, marker, where):
    """One stage (its scenarios, a.repeat times). Returns (results, seconds, collected anything)."""
    rdir = out / ".results"
    rdir.mkdir(exist_ok=True)
    for old in rdir.glob(f"{name}-*.json"):
        old.unlink()
    pytest_args = [str(paths.scenarios()), "-m", marker, "-p", "no:cacheprovider",
                   "-o", "console_output_style=classic"] + options.as_argv(a)
    if a.keyword:
        pytest_args += ["-k", a.keyword]
    if where == "native" and a.jobs not in ("0", "1"):
        pytest_args += ["-n", a.jobs]
    pytest_args += ["-v"] if a.verbose else ["-q"]
    argv = [PY, "-m", "wcrun.stage", str(a.repeat), str(rdir), name, "--"] + pytest_args
    if where == "uml":
        argv = [PY, str(paths.uml_py()), "run", "--"] + argv
    print(f"== {marker} scenarios ({'inside User-Mode Linux' if where == 'uml' else 'native'})"
          + (f", {a.repeat} times" if a.repeat > 1 else ""), flush=True)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=paths.PYROOT, env=stage_env(out), start_new_session=True,
                         stdout=None if a.verbose else subprocess.PIPE, stderr=subprocess.STDOUT)
    if not a.verbose:
        import threading
        buf = []
        t = threading.Thread(target=lambda: buf.append(p.stdout.read()), daemon=True)
        t.start()
    rc = intr.wait(p, grace=2 if where == "native" else 5)
    if not a.verbose:
        t.join(5)
    took = time.monotonic() - t0
    results = []
    for i in range(a.repeat):
        f = rdir / f"{name}-{i}.json"
        if f.exists():
            for r in json.loads(f.read_text()):
                r["repeat"], r["stage"] = i, name
                results.append(r)
    if intr.signum is None and rc not in (0, 5):
        out_text = buf[0].decode(errors="replace")[-4000:] if not a.verbose and buf and buf[0] else ""
        print(out_text)
        raise SystemExit(f"conformance: the {name} stage exited {rc}; see the output above")
    if rc == 5:
        print(f"   {name}: no scenario selected here", flush=True)
    else:
        print(f"   {name}: {took:.1f} s", flush=True)
    return results, took, rc != 5


def cleanup(quiet):
    """Removes what killed runs left behind (lab.reap) and says what; says so when there was nothing."""
    from lab import reap
    removed = reap.reap_stale(captures=str(paths.runs()))
    for line in removed:
        print(f"cleanup: {line}", flush=True)
    if not removed and not quiet:
        print("cleanup: nothing left behind by earlier runs")
    return 0


def list_scenarios(a):
    """--list: the scenarios (after -k), their clauses and needs."""
    lst = paths.scratch() / f".wc-list-{os.getpid()}.json"
    argv = [PY, "-m", "pytest", str(paths.scenarios()), "--collect-only", "-q", "-p", "no:cacheprovider",
            "--list-file", str(lst)] + (["-k", a.keyword] if a.keyword else [])
    r = subprocess.run(argv, cwd=paths.PYROOT, env=stage_env(paths.scratch()), capture_output=True, text=True)
    if not lst.exists():
        print(r.stdout[-3000:], r.stderr[-2000:], file=sys.stderr)
        return 1
    rows = json.loads(lst.read_text())
    lst.unlink()
    w = max([len("scenario")] + [len(row["name"]) for row in rows]) + 2
    c = max([len("clauses")] + [len(",".join(row["clauses"])) for row in rows]) + 2
    print(f"{'scenario':<{w}}{'clauses':<{c}}{'needs'}")
    for row in rows:
        needs = "netem (UML here)" if row["netem"] and not lab_netem.netem_native() else \
            "netem" if row["netem"] else "lab" if row["lab_only"] else ""
        print(f"{row['name']:<{w}}{','.join(row['clauses']):<{c}}{needs}".rstrip())
    print(f"\n{len(rows)} scenarios" + (f" matching -k {a.keyword!r}" if a.keyword else ""))
    return 0


def main(argv):
    if argv[:1] == ["diff"]:
        return diff_main(argv[1:])
    if argv[:1] == ["verify"]:
        return verify_main(argv[1:])
    if argv[:1] == ["requirements"]:
        return clause_db.main(argv[1:])
    if argv[:1] == ["merge"]:
        from wcrun import matrix
        return matrix.merge_main(argv[1:])
    a = parse_args(argv)
    os.environ["WIRECHECK_RUN_PID"] = str(os.getpid())     # every process of the run carries it
    if a.cleanup:
        return cleanup(quiet=False)
    from wcrun import rootless
    if rootless.needed(a):
        return rootless.reexec(argv, a)
    if a.matrix:
        from wcrun import matrix
        return matrix.main(a)
    if a.list:
        return list_scenarios(a)
    sut_desc = SUT(options.given(lambda k: getattr(a, k))).describe()
    if a.demo_only:
        return demo_only(a, sut_desc)
    started = runinfo.utc_now()
    out = pathlib.Path(a.out).resolve() if a.out else runinfo.new_run_dir(sut_desc, started)
    out.mkdir(parents=True, exist_ok=True)
    cleanup(quiet=True)
    intr = Interrupt()
    versions = runinfo.Versions()   # asked now, read with the report: a stopped run does not wait for tshark
    results, stages = [], []
    complete = not (a.keyword or a.no_netem)
    plan = [("target", "not netem", "native")] if a.target else [("native", "not netem", "native")]
    if not a.target and not a.no_netem:
        where = "native" if lab_netem.netem_native() else "uml"
        plan.append((f"{where}-netem", "netem", where))
    ran = 0
    for name, marker, where in plan:
        if intr.signum:
            break
        r, took, collected = run_stage(a, intr, out, name, marker, where)
        results += r
        ran += collected
        stages.append({"name": name, "where": where, "seconds": round(took, 1), "scenarios": len(r)})
    if not ran and not intr.signum:
        versions.read(wait=False)
        print(f"conformance: no scenario matches -k {a.keyword!r} (see --list)", file=sys.stderr)
        if not a.out:
            shutil.rmtree(out)      # the directory this run made holds nothing but empty results
        return EXIT["usage"]
    clauses = clause_db.load()
    # Against a remote --target nothing on the wire is seen and nothing impaired: those clauses do not apply.
    na = {c for c in clauses if c[0] == "W" or c in ("T7", "U4")} if a.target else set()
    rep = report.aggregate(results, clauses, sut_desc, not_applicable=na, repeats=a.repeat)
    complete = complete and not intr.signum
    demo_ran = complete and not (a.target or a.no_demo or a.repeat > 1)
    demo_ok = not demo_ran or run_demo(a, out, stages, intr)
    figs = draw_figures(rep, out, intr, lesson=complete)
    # From here on a signal is only noted: the report is written whole, and says whether the run was stopped
    # before it. One that comes later is too late to change it: the run ends as its report says.
    complete = complete and not intr.signum
    # each two-sided capture and its one-side files, which the report links too
    cited = [q for c in rep["clauses"] for p in c["captures"] for q in (p, *side_paths(p).values())]
    rep["run"] = runinfo.run_object(started, runinfo.utc_now(), sut_desc, stages, out, cited, complete,
                                    versions.read(wait=not intr.signum), interrupted=intr.name,
                                    selection={"k": a.keyword, "no_netem": a.no_netem} if not complete else None,
                                    repeat=a.repeat)
    status, headline = run_status(rep["clauses"], complete=complete)
    if a.baseline:
        known, new = ci.apply_baseline(rep, ci.load(a.baseline))
        if status == EXIT["fails"] and not new:
            status, headline = run_status([dict(c, verdict="pass") if c.get("known_failure") else c
                                           for c in rep["clauses"]], complete=complete)
            headline += f" (known failures: {', '.join(known)})"
    if intr.signum:
        status, headline = intr.exit_status(), f"INTERRUPTED ({intr.name})"
    rep["status"], rep["headline"] = status, headline
    rep["conforms"] = status == EXIT["conforms"]
    if not intr.signum:
        rep.update(figs)
    write_report(rep, out, with_demo=demo_ran)
    if a.junit:
        ci.junit(rep, a.junit)
    if complete and not a.out:
        runinfo.point_latest(out)
    print_table(rep, out)
    if status == EXIT["conforms"] and not demo_ok:
        return EXIT["fails"]
    return status


def stop_here(phase):
    """WIRECHECK_STOP_AT=PHASE: the runner stops itself (SIGSTOP) on reaching PHASE ("report": it starts
    writing the report), until SIGCONT. A test can then signal a run that is certainly there."""
    if os.environ.get("WIRECHECK_STOP_AT") == phase:
        os.kill(os.getpid(), signal.SIGSTOP)


def draw_figures(rep, out, intr, lesson):
    """The report's figures: the ladders of the captures rep's clauses cite, and the lesson page when `lesson` (a
    complete run). The first step of writing the report, and the only long one (seconds for a large run): a
    signal stops it where it is, and an interrupted run gets none. Returns the report's keys for them ({} when
    interrupted)."""
    try:
        intr.in_python = True       # a signal from here on raises KeyboardInterrupt ...
        stop_here("report")
        if intr.signum:             # ... and one before was noted
            return {}
        from wcrun import figures
        figs = {"ladders": figures.draw_all(rep)}
        if lesson:
            figs["lesson"] = figures.lesson_page(out)
        return figs
    except KeyboardInterrupt:
        return {}
    finally:
        intr.in_python = False


def run_demo(a, out, stages, intr):
    """The reliability demonstration (wcrun.demo): its own UML boot when netem is missing here. Prints its
    table; returns False when it failed."""
    from wcrun import demo, demo_report
    t0 = time.monotonic()
    print("== reliability demonstration: TCP against UDP through loss, reordering and duplication", flush=True)
    if intr:
        intr.in_python = True
    try:
        args = demo.parse_args(["run", "-n", str(a.demo_n), "--out", str(out)])
        rel = demo.analyze(out, demo.run_collect(args))
    except KeyboardInterrupt:
        print("conformance: the reliability demonstration was interrupted", file=sys.stderr)
        return False
    except Exception as e:
        print(f"conformance: the reliability demonstration failed: {e}", file=sys.stderr)
        return False
    finally:
        if intr:
            intr.in_python = False
    stages.append({"name": "demo", "where": "demo", "seconds": round(time.monotonic() - t0, 1)})
    print(demo_report.table(rel), flush=True)
    return True


def write_report(rep, out, with_demo=True):
    """report.json/.md/.html, with the reliability section when this run made one, and a screenshot of
    report.html from headless Chromium when it is installed."""
    from wcrun import demo_report
    rel, extra, extra_md = out / "reliability.json", out / "reliability.html", out / "reliability.md"
    with_demo = with_demo and rel.exists()
    if with_demo:
        rep["reliability"] = json.loads(rel.read_text())
    report.write_all(rep, out, extra.read_text() if with_demo and extra.exists() else "",
                     extra_md.read_text() if with_demo and extra_md.exists() else "")
    if with_demo and demo_report.chromium():
        try:
            r = demo_report.render(out / "report.html", out / "report.png")
            bad = [src for src, w in r["images"] if not w]
            print(f"report rendered by headless Chromium: {r['screenshot']}; {len(r['images']) - len(bad)} of "
                  f"{len(r['images'])} plots loaded" + (f", NOT loaded: {bad}" if bad else ""), flush=True)
        except Exception as e:
            print(f"conformance: rendering report.html in Chromium failed: {e}", file=sys.stderr)


def demo_only(a, sut_desc):
    """--demo-only: the demonstration, then the report of the latest run (or --out) rewritten with it."""
    out = pathlib.Path(a.out).resolve() if a.out else (paths.captures() / "latest").resolve()
    if not a.out and not out.is_dir():
        out = runinfo.new_run_dir(sut_desc, runinfo.utc_now())
    out.mkdir(parents=True, exist_ok=True)
    prev = out / "report.json"
    rep = json.loads(prev.read_text()) if prev.exists() else None
    if rep is None:
        rep = report.aggregate([], clause_db.load(), sut_desc)
        rep["status"], rep["headline"] = run_status(rep["clauses"], complete=False)
    stages = list((rep.get("run") or {}).get("stages") or [])
    intr = Interrupt()
    ok = run_demo(a, out, stages, intr)
    if rep.get("run"):
        rep["run"]["stages"] = stages
    write_report(rep, out)
    print(f"report: {out / 'report.html'}  ({out / 'report.json'})")
    if intr.signum:
        return intr.exit_status()
    return 0 if ok else 1


def print_table(rep, out):
    tty = sys.stdout.isatty()
    print()
    print(f"{'clause':<7}{'level':<8}{'verdict':<14}title / evidence")
    for c in rep["clauses"]:
        v = c["verdict"]
        label = v + (f" ({c['passes']}/{c['runs']})" if "passes" in c else "")
        vs = f"{COLORS[v]}{label:<14}\033[0m" if tty else f"{label:<14}"
        extra = "   [known failure]" if c.get("known_failure") else ""
        print(f"{c['id']:<7}{c['level']:<8}{vs}{c['title']}{extra}")
        if v in ("fail", "flaky", "error", "inconclusive"):
            for e in report.evidence_lines(c, width=160):
                print(f"{'':<29}{e}")
    for note in rep.get("notes", []):
        print(f"note: {note}")
    print()
    print(f"{rep['headline']}: " + report.counts_text(rep))
    print(f"report: {out / 'report.html'}  ({out / 'report.json'}, {out / 'report.md'})")


def diff_main(argv):
    ap = argparse.ArgumentParser(prog="scripts/conformance diff",
                                 description="Clauses newly failing, newly passing and newly flaky from A to B.")
    ap.add_argument("a", metavar="A.json")
    ap.add_argument("b", metavar="B.json")
    x = ap.parse_args(argv)
    try:
        d = ci.diff(ci.load(x.a), ci.load(x.b))
    except (OSError, ValueError, KeyError) as e:
        print(f"conformance diff: {e}", file=sys.stderr)
        return EXIT["usage"]
    for k in ("newly failing", "newly passing", "newly flaky"):
        print(f"{k}: {', '.join(d[k]) or 'none'}")
    for line in d["changed"]:
        print(f"  {line}")
    return EXIT["fails"] if d["newly failing"] or d["newly flaky"] else 0


def verify_main(argv):
    ap = argparse.ArgumentParser(prog="scripts/conformance verify",
                                 description="Checks that the captures a report cites are those it was made from "
                                             "(their SHA-256).")
    ap.add_argument("report", metavar="REPORT.json")
    x = ap.parse_args(argv)
    path = pathlib.Path(x.report)
    try:
        rep = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        print(f"conformance verify: {e}", file=sys.stderr)
        return EXIT["usage"]
    bad = runinfo.verify(rep, path.parent)
    for rel, why in bad:
        print(f"{rel}: {why}")
    n = len((rep.get("run") or {}).get("captures_sha256", {}))
    print(f"{n - len(bad)} of {n} cited captures match the report")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
