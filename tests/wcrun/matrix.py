"""`scripts/conformance --matrix CATALOGUE`: many implementations at once. Each implementation's own conformance
(as a single run would do, every part it has), then every client against every server of the same transport
(the reference included) with the interop workload (tests/interop), each pair in the lab with both sides
captured. Writes matrix.json, matrix.md and matrix.html: one table per transport (clients by servers, a
verdict per cell that links its capture and says which side broke) and a row per implementation with its
clause verdicts.

The work is a list of cells with stable ids ("conformance/NAME", "tcp/CLIENT--SERVER", "udp/...");
`--shard I/N` runs every N-th of them (wcrun.shard), and `scripts/conformance merge DIR...` puts shards back
together. Before running it prints the number of cells and scenarios and an estimate from the measured cost per
scenario (kept in the scratch directory), and during the run the remaining time."""
import concurrent.futures
import json
import os
import pathlib
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

from lab.uml import inside_uml
from wcrun import catalogue, matrix_page, options, paths, runinfo, shard
from wcrun.plugin import SUT
from wcrun.verdict import EXIT

PY = "/usr/bin/python3"
SCHEMA = "wirecheck-matrix/1"
TRANSPORTS = ("tcp", "udp")
# Seconds per scenario before any run was measured here (a conformance scenario natively; an interop cell).
DEFAULT_COST = {"conformance": 1.5, "interop": 6.0, "cell": 3.0}


def plan(cat):
    """Every cell of a catalogue, in a stable order: [{"id", "kind", ...}]."""
    impls = cat["implementations"]
    cells = [{"id": f"conformance/{i['name']}", "kind": "conformance", "impl": i["name"]} for i in impls]
    for t in TRANSPORTS:
        for c in impls:
            for s in impls:
                if catalogue.has(c, f"{t}-client") and catalogue.has(s, f"{t}-server"):
                    cells.append({"id": f"{t}/{c['name']}--{s['name']}", "kind": "interop", "transport": t,
                                  "client": c["name"], "server": s["name"]})
    return cells


def role_cmd(cat, impl, role, out):
    """The expanded command of a role, or None when the implementation does not play it."""
    if impl["reference"]:
        return SUT({}).reference[role]
    return catalogue.expand(impl["roles"].get(role), cat, out / "work" / impl["name"])


def stage_env(out):
    env = dict(os.environ)
    env["WIRECHECK_CAPTURES"] = str(out)
    env["PYTHONPATH"] = str(paths.PYROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def scenario_counts(a):
    """The conformance scenarios that -k and --no-netem select (pytest --list-file rows, with their clauses), to
    count the scenarios of each implementation's conformance."""
    # The system's temporary directory, not build/: a user without root may not write the checkout's.
    lst = pathlib.Path(tempfile.gettempdir()) / f".wc-matrix-list-{os.getpid()}.json"
    argv = [PY, "-m", "pytest", str(paths.scenarios()), "--collect-only", "-q", "-p", "no:cacheprovider",
            "--list-file", str(lst)] + (["-k", a.keyword] if a.keyword else [])
    subprocess.run(argv, cwd=paths.PYROOT, env=stage_env(paths.scratch()), capture_output=True)
    try:
        rows = json.loads(lst.read_text())
        lst.unlink()
    except (OSError, ValueError):
        return []
    return [r for r in rows if not (a.no_netem and r["netem"])]


def conformance_scenarios(rows, impl):
    from wcrun.verdict import clause_parts
    return sum(1 for r in rows if any(catalogue.has(impl, p) for c in r["clauses"] for p in clause_parts(c)))


def cost_file():
    """Measured costs, natively and inside UML apart (one CPU there, and Python about 15 times slower)."""
    return paths.scratch() / (".matrix-cost-uml.json" if inside_uml() else ".matrix-cost.json")


def load_cost():
    default = {k: v * (6 if inside_uml() else 1) for k, v in DEFAULT_COST.items()}
    try:
        return {**default, **json.loads(cost_file().read_text())}
    except (OSError, ValueError):
        return default


def save_cost(cost, measured):
    """Folds this run's measured seconds per scenario into the stored ones (a running mean, newer weighs half)."""
    for k, v in measured.items():
        if v is not None:
            cost[k] = round(0.5 * cost.get(k, v) + 0.5 * v, 3)
    try:
        cost_file().write_text(json.dumps(cost) + "\n")
    except OSError:
        pass


def estimate(cell, cost):
    return cost["cell"] + cost["conformance"] * cell["scenarios"] if cell["kind"] == "conformance" \
        else cost["interop"]


def run_cell(a, cat, cell, out, inner_jobs):
    """Runs one cell into out/cells/<id>/ and returns its result (verdict, evidence, links)."""
    impls = {i["name"]: i for i in cat["implementations"]}
    d = out / "cells" / cell["id"]
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if cell["kind"] == "conformance":
        impl = impls[cell["impl"]]
        argv = [PY, "-m", "wcrun", "conformance", "--out", str(d), "--no-demo", "-j", inner_jobs]
        for role in options.PARTS:
            cmd = None if impl["reference"] else role_cmd(cat, impl, role, out)
            if cmd:
                argv += [f"--{role}-cmd", cmd]
        argv += (["-k", a.keyword] if a.keyword else []) + (["--no-netem"] if a.no_netem else []) \
            + (["--ipv4-only"] if impl.get("ipv4_only") else [])
    else:
        t, c, s = cell["transport"], impls[cell["client"]], impls[cell["server"]]
        argv = [PY, "-m", "pytest", str(paths.PYROOT / "interop" / "test_interop.py") + f"::test_interop_{t}",
                "-p", "no:cacheprovider", "-q", "-o", "console_output_style=classic",
                f"--{t}-server-cmd", role_cmd(cat, s, f"{t}-server", out),
                f"--{t}-client-cmd", role_cmd(cat, c, f"{t}-client", out),
                "--results-file", str(d / "results.json")]
    with open(d / "run.log", "wb") as log:
        log.write(("$ " + shlex.join(argv) + "\n").encode())
        log.flush()
        p = subprocess.Popen(argv, cwd=paths.PYROOT, env=stage_env(d), stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        RUNNING.add(p)
        try:
            rc = p.wait()
        finally:
            RUNNING.discard(p)
    took = round(time.monotonic() - t0, 1)
    res = (conformance_result if cell["kind"] == "conformance" else interop_result)(cell, d, rc, out)
    res.update(id=cell["id"], kind=cell["kind"], seconds=took, scenarios=cell.get("scenarios", 1),
               **{k: cell[k] for k in ("impl", "transport", "client", "server") if k in cell})
    (d / "cell.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


RUNNING = set()


def _rel(p, out):
    return os.path.relpath(p, out)


def conformance_result(cell, d, rc, out):
    rep_path = d / "report.json"
    if not rep_path.exists():
        return {"verdict": "error", "broke": [], "evidence": [f"the conformance run exited {rc} without a report; "
                                                              f"see {_rel(d / 'run.log', out)}"],
                "links": {"log": _rel(d / "run.log", out)}, "clauses": {}}
    rep = json.loads(rep_path.read_text())
    verdict = {"CONFORMS": "pass", "DOES NOT CONFORM": "fail"}.get(rep.get("headline"),
                                                                   "partial" if rc == 3 else
                                                                   "interrupted" if rc in (130, 143) else "error")
    ev = []
    for c in rep["clauses"]:
        if c["verdict"] in ("fail", "error", "flaky"):
            ev.append(f"{c['id']} {c['verdict']}: {(c.get('evidence') or [''])[0]}"[:300])
    return {"verdict": verdict, "headline": rep.get("headline"), "status": rep.get("status"), "broke": [],
            "clauses": {c["id"]: c["verdict"] for c in rep["clauses"]}, "evidence": ev,
            "links": {"report": _rel(d / "report.html", out), "log": _rel(d / "run.log", out)}}


def interop_result(cell, d, rc, out):
    links = {"log": _rel(d / "run.log", out)}
    try:
        results = json.loads((d / "results.json").read_text())
    except (OSError, ValueError):
        results = []
    if not results:
        return {"verdict": "error", "broke": [], "evidence": [f"the interop scenario did not run (pytest exited "
                                                              f"{rc}); see {links['log']}"], "links": links}
    r = results[0]
    verdict = {"passed": "pass", "failed": "fail", "error": "error", "na": "n/a", "skipped": "skip",
               "inconclusive": "inconclusive"}[r["outcome"]]
    broke, items = [], []
    cap = pathlib.Path(r["capture"]) if r.get("capture") else None
    if cap:
        cap = d / cap.name        # the path inside UML or on another shard's machine: the cell's own file
        links["capture"] = _rel(cap, out)
        side = cap.with_suffix(".interop.json")
        if side.exists():
            info = json.loads(side.read_text())
            broke, items = info["broke"], info["items"]
            links["interop"] = _rel(side, out)
        logs = cap.with_suffix(".logs")
        if logs.is_dir():
            links["logs"] = _rel(logs, out)
    ev = [f"{it['item']}: {f['side']}: {f['text']}" for it in items for f in it["faults"]]
    if not ev and verdict != "pass":
        ev = [e for e in r.get("evidence", []) if e] or [r.get("failure") or verdict]
    if verdict == "fail" and not broke:
        broke = ["unknown"]
    return {"verdict": verdict, "broke": broke, "evidence": ev, "links": links,
            "items": {it["item"]: ("fail" if it["faults"] else "pass") for it in items},
            "crashes": r.get("crashes", [])}


def run_setup(cat, out, names):
    """Each implementation's setup command, once, in the catalogue's directory; {work} is out/work/NAME."""
    for impl in cat["implementations"]:
        if impl["name"] not in names or not impl.get("setup"):
            continue
        work = out / "work" / impl["name"]
        work.mkdir(parents=True, exist_ok=True)
        cmd = catalogue.expand(impl["setup"], cat, work)
        print(f"== setup of {impl['name']}: {cmd}", flush=True)
        r = subprocess.run(cmd, shell=True, cwd=pathlib.Path(cat["path"]).parent, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"conformance: the setup of {impl['name']} exited {r.returncode}: "
                             f"{(r.stderr or r.stdout).strip()[-500:]}")


def fmt_s(s):
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def main(a):
    """The --matrix run. Returns the exit status: 0 every cell passes, 1 a cell fails, 3 otherwise unjudged."""
    try:
        cat = catalogue.load(a.matrix)
    except (OSError, catalogue.CatalogueError) as e:
        print(f"conformance: --matrix: {e}", file=sys.stderr)
        return EXIT["usage"]
    try:
        index, count = shard.parse(a.shard)
    except ValueError as e:
        print(f"conformance: --shard: {e}", file=sys.stderr)
        return EXIT["usage"]
    impls = {i["name"]: i for i in cat["implementations"]}
    cells = plan(cat)
    rows = scenario_counts(a)
    for c in cells:
        if c["kind"] == "conformance":
            c["scenarios"] = conformance_scenarios(rows, impls[c["impl"]])
    mine = shard.select(cells, index, count)
    started = runinfo.utc_now()
    if a.out:
        out = pathlib.Path(a.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = new_run_dir(started)
    jobs = max(1, int(a.jobs)) if str(a.jobs).isdigit() else 2
    cost = load_cost()
    est = sum(estimate(c, cost) for c in mine)
    n_sc = sum(c.get("scenarios", 1) for c in mine)
    n_int = sum(1 for c in mine if c["kind"] == "interop")
    print(f"matrix: {len(impls)} implementation{'s' * (len(impls) != 1)} from {cat['path']}"
          + (f"; shard {index}/{count}" if count > 1 else ""), flush=True)
    print(f"matrix: {len(mine)} of {len(cells)} cells here ({len(mine) - n_int} conformance run{'s' * (len(mine) - n_int != 1)}, "
          f"{n_int} interop pair{'s' * (n_int != 1)}), {n_sc} scenarios; estimated {fmt_s(est / min(jobs, max(1, len(mine))))} with -j {jobs} "
          f"(measured {cost['conformance']:.1f} s per conformance scenario, {cost['interop']:.1f} s per pair)",
          flush=True)
    run_setup(cat, out, {c.get(k) for c in mine for k in ("impl", "client", "server")})
    results, lock, done_est = {}, threading.Lock(), [0.0]
    t0 = time.monotonic()
    inner = "1" if jobs > 1 else "2"

    def one(cell):
        r = run_cell(a, cat, cell, out, inner)
        with lock:
            results[cell["id"]] = r
            done_est[0] += estimate(cell, cost)
            spent = time.monotonic() - t0
            left_est = est - done_est[0]
            rate = spent / done_est[0] if done_est[0] else 1.0
            side = f" ({', '.join(r['broke'])} broke it)" if r.get("broke") else ""
            print(f"[{len(results)}/{len(mine)}] {cell['id']}: {r['verdict']}{side} in {r['seconds']:.1f} s; "
                  f"about {fmt_s(left_est * rate)} left", flush=True)
        return r
    stopped = []

    def stop(signum, _frame):
        """SIGINT/SIGTERM: no new cell starts, the running ones get the signal (their reports say interrupted),
        and the matrix of the cells that finished is still written."""
        if not stopped:
            print(f"\nmatrix: {signal.Signals(signum).name}: stopping; no new cell starts", file=sys.stderr, flush=True)
        stopped.append(signum)
        for p in list(RUNNING):
            try:
                os.killpg(p.pid, signum)
            except ProcessLookupError:
                pass
    old_handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            list(ex.map(lambda cell: None if stopped else one(cell), mine))
    finally:
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
    measured = {}
    conf = [r for r in results.values() if r["kind"] == "conformance" and r["scenarios"]]
    inter = [r for r in results.values() if r["kind"] == "interop"]
    if conf:
        measured["conformance"] = sum(r["seconds"] - cost["cell"] for r in conf) / sum(r["scenarios"] for r in conf)
        measured["conformance"] = max(0.2, measured["conformance"])
    if inter:
        measured["interop"] = sum(r["seconds"] for r in inter) / len(inter)
    save_cost(cost, measured)
    doc = document(cat, cells, results, a, started, runinfo.utc_now(), {"index": index, "count": count})
    doc["wall_s"] = round(time.monotonic() - t0, 1)
    if stopped:
        doc["interrupted"] = signal.Signals(stopped[0]).name
        doc["missing"] = [c["id"] for c in mine if c["id"] not in results]
    matrix_page.write_all(doc, out)
    if not a.out and count == 1:
        runinfo.point_latest(out)
    print(matrix_page.text(doc), flush=True)
    print(f"matrix: {out / 'matrix.html'}  ({out / 'matrix.json'}, {out / 'matrix.md'}); "
          f"{len(results)} cells in {fmt_s(doc['wall_s'])} (estimated {fmt_s(est / min(jobs, max(1, len(mine))))})")
    if stopped:
        return EXIT["sigint"] if stopped[0] == signal.SIGINT else EXIT["sigterm"]
    return status(doc)


def catalogue_doc(cat):
    return {"path": cat["path"], "sha256": cat["sha256"],
            "implementations": [{"name": i["name"], "language": i.get("language", ""), "notes": i.get("notes", ""),
                                 "reference": i["reference"],
                                 "roles": [r for r in options.PARTS if catalogue.has(i, r)]}
                                for i in cat["implementations"]]}


def document(cat, cells, results, a, started, finished, shard_info):
    return {"schema": SCHEMA, "catalogue": catalogue_doc(cat),
            "commit": runinfo._git("rev-parse", "HEAD"), "describe": runinfo._git("describe", "--always", "--dirty"),
            "selection": {"k": a.keyword, "no_netem": bool(a.no_netem)},
            "shard": shard_info, "planned": [c["id"] for c in cells],
            "cells": {cid: results[cid] for cid in sorted(results)},
            "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds")}


def status(doc):
    vs = [c["verdict"] for c in doc["cells"].values()]
    if any(v == "fail" for v in vs):
        return EXIT["fails"]
    if len(doc["cells"]) < len(doc["planned"]) and doc["shard"]["count"] == 1 or \
            any(v not in ("pass", "n/a") for v in vs):
        return EXIT["unjudged"]
    return EXIT["conforms"]


def merge_main(argv):
    """`scripts/conformance merge DIR... [--out DIR]`: one matrix from the shards' directories."""
    import argparse
    ap = argparse.ArgumentParser(prog="scripts/conformance merge",
                                 description="Merges the directories of matrix shards (--shard I/N) into one "
                                             "matrix, checking that they come from one catalogue and commit.")
    ap.add_argument("dirs", nargs="+", metavar="DIR")
    ap.add_argument("--out", metavar="DIR", help="the merged matrix (default: a new captures/runs/<time>-matrix)")
    x = ap.parse_args(argv)
    started = runinfo.utc_now()
    out = pathlib.Path(x.out).resolve() if x.out else new_run_dir(started)
    out.mkdir(parents=True, exist_ok=True)
    try:
        doc = shard.merge(x.dirs, out)
    except shard.MergeError as e:
        print(f"conformance merge: {e}", file=sys.stderr)
        return EXIT["usage"]
    matrix_page.write_all(doc, out)
    print(matrix_page.text(doc))
    n = doc["shard"]["merged_from"]
    print(f"merged {len(n)} shards, {len(doc['cells'])} of {len(doc['planned'])} cells"
          + (f"; missing: {', '.join(doc['missing'])}" if doc["missing"] else ""))
    print(f"matrix: {out / 'matrix.html'}  ({out / 'matrix.json'}, {out / 'matrix.md'})")
    st = status(doc)
    return EXIT["unjudged"] if doc["missing"] and st == EXIT["conforms"] else st


def new_run_dir(started):
    """captures/runs/<UTC time>-matrix/, created."""
    return runinfo.new_run_dir({"tcp-server": "matrix"}, started)
