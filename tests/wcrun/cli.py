"""wirecheck conformance: test an implementation of the uppercase protocol, clause by clause, and report.

Runs the scenarios of tests/conformance in the network lab (client, router and server namespaces, both
sides captured), the impairment scenarios with tc netem natively or inside User-Mode Linux when this kernel
has no netem, then writes captures/report.json, report.md and report.html and prints the verdicts.
Exit status: 0 when every MUST clause passes (or does not apply), 1 otherwise, 2 on bad usage.

Command templates take {host} and {port} and run inside the server's (or client's) namespace, e.g.
  --tcp-server-cmd 'java -cp /tmp/seed/classes TCPServer {port}'
Without any, the reference programs are tested. Parts not given are reported "n/a".
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]

from wcrun import clauses as clause_db
from wcrun import report
from wcrun.plugin import SUT

PY = "/usr/bin/python3"
COLORS = {"pass": "\033[32m", "fail": "\033[31m", "skip": "\033[33m", "n/a": "\033[90m"}


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/conformance", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for part in ("tcp-server", "udp-server", "tcp-client", "udp-client"):
        ap.add_argument(f"--{part}-cmd", metavar="CMD", help=f"command template for the {part} under test")
    ap.add_argument("--target", metavar="HOST:PORT",
                    help="test a server on another machine at the application level (no namespaces, no "
                         "impairment, no captures): the way to test beyond one machine")
    ap.add_argument("--out", default=str(ROOT / "captures"), metavar="DIR",
                    help="where captures and reports go (default: captures/)")
    ap.add_argument("-j", "--jobs", default="2", help="parallel scenarios natively (pytest-xdist; default 2)")
    ap.add_argument("-k", dest="keyword", help="only scenarios matching this pytest -k expression")
    ap.add_argument("--no-netem", action="store_true", help="skip the impairment scenarios (their clauses "
                    "are then reported as skipped)")
    ap.add_argument("--no-demo", action="store_true", help="skip the TCP-vs-UDP reliability demonstration")
    ap.add_argument("--demo-only", action="store_true", help="run only the reliability demonstration; the "
                    "clauses of the previous report are kept")
    ap.add_argument("--demo-n", type=int, default=500, metavar="N", help="messages per demonstration run "
                    "(default 500)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    return ap.parse_args(argv)


def sut_args(a):
    out = []
    for part in ("tcp-server", "udp-server", "tcp-client", "udp-client"):
        v = getattr(a, part.replace("-", "_") + "_cmd")
        if v:
            out += [f"--{part}-cmd", v]
    if a.target:
        out += ["--target", a.target]
    return out


def netem_native():
    return subprocess.run([PY, str(ROOT / "tests/lab/uml.py"), "detect"], capture_output=True).returncode == 0


def pytest_run(a, marker, results, where="native"):
    argv = [PY, "-m", "pytest", str(ROOT / "tests/conformance"), "-m", marker, "-p", "no:cacheprovider",
            "--results-file", str(results), "-o", "console_output_style=classic"] + sut_args(a)
    if a.keyword:
        argv += ["-k", a.keyword]
    if where == "native" and a.jobs not in ("0", "1"):
        argv += ["-n", a.jobs]
    argv += ["-q"] if not a.verbose else ["-v"]
    if where == "uml":
        argv = [PY, str(ROOT / "tests/lab/uml.py"), "run", "--"] + argv
    t0 = time.monotonic()
    print(f"== {marker} scenarios ({'inside User-Mode Linux' if where == 'uml' else 'native'})", flush=True)
    r = subprocess.run(argv, cwd=ROOT, stdout=None if a.verbose else subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    took = time.monotonic() - t0
    if r.returncode not in (0, 1):       # 1: some scenario failed, which the report shows
        out = r.stdout.decode(errors="replace")[-4000:] if r.stdout else ""
        print(out)
        raise SystemExit(f"conformance: pytest exited {r.returncode} ({where}); see the output above")
    if not results.exists():
        raise SystemExit(f"conformance: no results from the {where} run")
    print(f"   {where} run: {took:.1f} s", flush=True)
    return json.loads(results.read_text()), took


def main(argv):
    a = parse_args(argv)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["WIRECHECK_CAPTURES"] = str(out)
    results, timings = [], {}
    if a.demo_only:
        return demo_only(a, out)
    if a.target:
        r, timings["target"] = pytest_run(a, "not netem", out / ".results-target.json")
        results += r
    else:
        r, timings["native"] = pytest_run(a, "not netem", out / ".results-native.json")
        results += r
        if not a.no_netem:
            where = "native" if netem_native() else "uml"
            r, timings[where + "-netem"] = pytest_run(a, "netem", out / f".results-{where}-netem.json", where)
            results += r
    sut = SUT({p: getattr(a, p.replace("-", "_") + "_cmd") for p in SUT.PARTS}, a.target).describe()
    clauses = clause_db.load()
    # Against a remote --target nothing on the wire is seen and nothing impaired: those clauses do not apply.
    na = {c for c in clauses if c[0] == "W" or c in ("T7", "U4")} if a.target else set()
    rep = report.aggregate(results, clauses, sut, not_applicable=na)
    rep["conforms"] = report.conforms(rep)
    demo_ran = not (a.target or a.no_netem or a.no_demo)
    demo_ok = not demo_ran or run_demo(a, out, timings)
    rep["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    write_report(rep, out, with_demo=demo_ran)
    print_table(rep, out)
    return 0 if rep["conforms"] and demo_ok else 1


def run_demo(a, out, timings):
    """The reliability demonstration (tests/conformance/demo.py): its own UML boot when netem is missing here.
    Prints its table; returns False when it failed (the report then keeps the previous section, if any)."""
    from wcrun import demo, demo_report
    t0 = time.monotonic()
    print("== reliability demonstration: TCP against UDP through loss, reordering and duplication", flush=True)
    try:
        args = demo.parse_args(["run", "-n", str(a.demo_n), "--out", str(out)])
        rel = demo.analyze(out, demo.run_collect(args))
    except Exception as e:
        print(f"conformance: the reliability demonstration failed: {e}", file=sys.stderr)
        return False
    timings["demo"] = time.monotonic() - t0
    print(demo_report.table(rel), flush=True)
    return True


def write_report(rep, out, with_demo=True):
    """report.json/.md/.html, with the reliability section when captures/reliability.{json,html} exist (and
    the demonstration belongs to this run), and a screenshot of report.html from headless Chromium when it is
    installed."""
    from wcrun import demo_report
    rel, extra = out / "reliability.json", out / "reliability.html"
    with_demo = with_demo and rel.exists()
    if with_demo:
        rep["reliability"] = json.loads(rel.read_text())
    report.write_all(rep, out, extra.read_text() if with_demo and extra.exists() else "")
    if with_demo and demo_report.chromium():
        try:
            r = demo_report.render(out / "report.html", out / "report.png")
            bad = [src for src, w in r["images"] if not w]
            print(f"report rendered by headless Chromium: {r['screenshot']}; {len(r['images']) - len(bad)} of "
                  f"{len(r['images'])} plots loaded" + (f", NOT loaded: {bad}" if bad else ""), flush=True)
        except Exception as e:
            print(f"conformance: rendering report.html in Chromium failed: {e}", file=sys.stderr)


def demo_only(a, out):
    """--demo-only: the demonstration, then the previous report rewritten with its new section."""
    prev = out / "report.json"
    rep = json.loads(prev.read_text()) if prev.exists() else None
    if rep is None:
        sut = SUT({p: getattr(a, p.replace("-", "_") + "_cmd") for p in SUT.PARTS}, a.target).describe()
        rep = report.aggregate([], clause_db.load(), sut)
        rep["conforms"] = report.conforms(rep)
    timings = dict(rep.get("timings_s") or {})
    ok = run_demo(a, out, timings)
    rep["timings_s"] = {k: round(v, 1) for k, v in timings.items()}
    write_report(rep, out)
    print(f"report: {out / 'report.html'}  ({out / 'report.json'})")
    return 0 if ok else 1


def print_table(rep, out):
    tty = sys.stdout.isatty()
    print()
    print(f"{'clause':<7}{'level':<8}{'verdict':<9}title / evidence")
    for c in rep["clauses"]:
        v = c["verdict"]
        vs = f"{COLORS[v]}{v:<9}\033[0m" if tty else f"{v:<9}"
        print(f"{c['id']:<7}{c['level']:<8}{vs}{c['title']}")
        if v == "fail":
            for e in c["evidence"][:3]:
                print(f"{'':<24}{e[:150]}")
    n = {v: sum(1 for c in rep["clauses"] if c["verdict"] == v) for v in report.VERDICTS}
    print()
    print(f"{'CONFORMS' if rep['conforms'] else 'DOES NOT CONFORM'}: " + ", ".join(f"{n[v]} {v}" for v in n))
    print(f"report: {out / 'report.html'}  ({out / 'report.json'}, {out / 'report.md'})")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
