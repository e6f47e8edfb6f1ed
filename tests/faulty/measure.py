#!/usr/bin/python3
"""Runs the conformance suite against every member of the faulty zoo (tests/faulty/zoo.toml) and compares the
clauses that failed with the clauses each member's defect breaks.

    /usr/bin/python3 tests/faulty/measure.py                 # every member, the scenarios that need no netem
    /usr/bin/python3 tests/faulty/measure.py py-late c-sigpipe   # some members (names or name prefixes)
    /usr/bin/python3 tests/faulty/measure.py --netem py-late     # the netem scenarios too, in one UML boot
    /usr/bin/python3 tests/faulty/measure.py --table-only --md tests/faulty/MEASURED.md   # from saved results

A clause "failed" when any scenario tagged with it has the outcome "failed" in the suite's --results-file.
Per member the raw results are kept in OUT/<name>.json (and OUT/<name>.netem.json); --md writes the table.
Run as root (the lab needs it) with PYTHONPATH=tests (it reads the runner's clauses); the suite runs from the
repository root.
"""
import argparse
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PY = "/usr/bin/python3"
MANIFEST = ROOT / "tests" / "faulty" / "zoo.toml"


def build_dir():
    d = pathlib.Path(os.environ.get("WIRECHECK_BUILD_DIR", ROOT / "build"))
    return d if d.is_absolute() else ROOT / d


def load(path=MANIFEST):
    return tomllib.loads(pathlib.Path(path).read_text())["member"]


def expand(cmd):
    """Fills in the manifest's own placeholders; {host} and {port} are left for the suite."""
    b = build_dir()
    for k, v in {"{root}": str(ROOT), "{build}": str(b), "{python}": PY,
                 "{classes}": str(b / "tests" / "faulty-java")}.items():
        cmd = cmd.replace(k, v)
    return cmd


def compile_java():
    out = build_dir() / "tests" / "faulty-java"
    srcs = sorted((ROOT / "tests" / "faulty" / "java").glob("*.java"))
    if not shutil.which("javac"):
        sys.exit("measure: javac not found (Debian: openjdk-17-jdk-headless)")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "-d", str(out)] + [str(s) for s in srcs], check=True)


def suite_argv(m, marker, results):
    return [PY, "-m", "pytest", "tests/conformance", "-m", marker, "-p", "no:cacheprovider", "-q",
            "--results-file", str(results), f"--{m['role']}-cmd", expand(m["cmd"])]


def run_native(m, outdir, workers):
    results = outdir / f"{m['name']}.json"
    with tempfile.TemporaryDirectory(prefix=f"zoo-{m['name']}-") as caps:
        env = dict(os.environ, WIRECHECK_CAPTURES=caps)
        argv = suite_argv(m, "not netem", results) + ["-n", str(workers)]
        t0 = time.monotonic()
        r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        took = time.monotonic() - t0
    if r.returncode not in (0, 1):
        (outdir / f"{m['name']}.log").write_text(r.stdout + r.stderr)
        print(f"  pytest exited {r.returncode}; see {outdir / (m['name'] + '.log')}", file=sys.stderr)
    return took


def run_netem(members, outdir):
    """All the members' netem scenarios in one UML boot (or natively where the kernel has netem)."""
    caps = outdir / "netem-captures"        # under the checkout: UML's /tmp is its own
    caps.mkdir(parents=True, exist_ok=True)
    lines = ["#!/bin/sh"]
    for m in members:
        argv = suite_argv(m, "netem", outdir / f"{m['name']}.netem.json")
        lines.append(f"WIRECHECK_CAPTURES={shlex.quote(str(caps / m['name']))} {shlex.join(argv)} "
                     f"> {shlex.quote(str(outdir / (m['name'] + '.netem.log')))} 2>&1")
    script = outdir / "netem-run.sh"
    script.write_text("\n".join(lines) + "\nexit 0\n")
    subprocess.run([PY, "tests/lab/uml.py", "run", "--", "sh", str(script)], cwd=ROOT, timeout=3600)


def _req_levels():
    """{requirement id: (clause id, level)} where the suite has numbered requirements (T5.2), else {}."""
    from wcrun import clauses
    return {rid: (r["clause"], r["level"]) for rid, r in clauses.requirements().items()}


def failed_clauses(results, skip_v6=False):
    """{clause: [scenario names]} of the clauses that failed. With per-requirement verdicts (the suite's
    newer results), a failed SHOULD requirement of a MUST clause is reported as "T5(S)"; "inconclusive" and
    "error" are not failures."""
    out = {}
    reqs = _req_levels()
    levels = clause_levels()
    for r in results:
        if skip_v6 and "[6]" in r["nodeid"]:
            continue
        if "verdicts" in r:
            for rid, v in r["verdicts"].items():
                if v.get("verdict") != "fail":
                    continue
                cid, level = reqs.get(rid, (rid.split(".")[0], None))
                key = f"{cid}(S)" if level == "SHOULD" and levels.get(cid) == "MUST" else cid
                out.setdefault(key, []).append(r["name"])
            continue
        if r["outcome"] != "failed":
            continue
        for c in r["clauses"]:
            out.setdefault(c, []).append(r["name"])
    return out


def results_of(m, outdir):
    res = []
    for suffix in (".json", ".netem.json"):
        p = outdir / f"{m['name']}{suffix}"
        if p.exists():
            res += json.loads(p.read_text())
    return res


def clause_levels():
    from wcrun import clauses
    return {c: v["level"] for c, v in clauses.load().items()}


def split_expected(m, levels):
    """(clause ids the suite can fail today for this defect, SHOULD sentences of MUST clauses it cannot).

    Today a verdict is per clause, and the scenarios of T5, T6 and U2 check their MUST sentences only, so a
    defect that breaks only the SHOULD sentence of such a clause cannot fail it for the right reason."""
    e = m["expect_fail"]
    measurable = set(e["must"]) | {c for c in e["should"] if levels.get(c) == "SHOULD"}
    if _req_levels():       # per-requirement verdicts: the SHOULD sentences can fail on their own
        return measurable | {f"{c}(S)" for c in e["should"] if levels.get(c) == "MUST"}, set()
    unchecked = {c for c in e["should"] if levels.get(c) == "MUST"} - set(e["must"])
    return measurable, unchecked


def verdict(expected, unchecked, failed, conforming):
    extra = sorted(set(failed) - expected)
    missing = sorted(expected - set(failed))
    note = f"; {', '.join(c + '(S)' for c in sorted(unchecked))} checked by no scenario" if unchecked else ""
    if conforming and not expected:
        return "no false alarm" if not failed else f"FALSE ALARM: {', '.join(extra)}"
    if not expected & set(failed):
        return "missed" + (f" (fails {', '.join(extra)} instead)" if extra else "") + note
    if not extra and not missing and not unchecked:
        return "caught exactly"
    v = "caught"
    if not extra and not missing:
        v += " exactly as far as checked"
    if extra:
        v += f" with extra {', '.join(extra)}"
    if missing:
        v += f"{',' if extra else ''} but not {', '.join(missing)}"
    return v + note


def fmt_expected(m):
    e = m["expect_fail"]
    parts = list(e["must"]) + [f"{c}(S)" for c in e["should"]]
    return ", ".join(parts) or "none"


def table(members, outdir):
    levels = clause_levels()
    rows, stats = [], {"faulty": 0, "detected": 0, "exact": 0, "conforming": 0, "clean": 0, "clean4": 0}
    for m in members:
        res = results_of(m, outdir)
        if not res:
            continue
        netem = (outdir / f"{m['name']}.netem.json").exists()
        expected, unchecked = split_expected(m, levels)
        failed = failed_clauses(res)
        conforming = m["kind"] == "conforming"
        v = verdict(expected, unchecked, failed, conforming)
        must_failed = {c for c in failed if levels.get(c) == "MUST"} - expected
        must_failed4 = must_failed
        if m.get("ipv4_only"):
            v4 = failed_clauses(res, skip_v6=True)
            must_failed4 = {c for c in v4 if levels.get(c) == "MUST"} - expected
            if set(v4) != set(failed):
                v += f"; without the IPv6 variants: {verdict(expected, unchecked, v4, conforming)}"
        if conforming:
            stats["conforming"] += 1
            stats["clean"] += not must_failed
            stats["clean4"] += not must_failed4
        else:
            stats["faulty"] += 1
            stats["detected"] += not v.startswith("missed")
            stats["exact"] += v == "caught exactly"
        how = ", ".join(f"{c} ({'; '.join(sorted(set(n)))})" for c, n in sorted(failed.items())) or "none"
        rows.append(f"| {m['name']} | {m['role']} | {fmt_expected(m)} | {how} | {v}{' (netem too)' if netem else ''} |")
    head = ["| member | role | expected to fail | failed today (by scenario) | verdict |",
            "|---|---|---|---|---|"]
    summary = (f"Faulty members: {stats['faulty']}; detected (at least one expected clause fails): "
               f"{stats['detected']}; exactly their clauses (nothing extra, nothing unchecked): {stats['exact']}. "
               f"Conforming members: {stats['conforming']}; without a false alarm on a MUST clause: "
               f"{stats['clean']} (counting the IPv6 variants), {stats['clean4']} (without them for "
               f"IPv4-only members).")
    return "\n".join(head + rows), summary


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="members (names or prefixes); default: all")
    ap.add_argument("--out", default=str(build_dir() / "zoo-measure"), help="where raw results go")
    ap.add_argument("--netem", action="store_true", help="also run the netem scenarios (UML where needed)")
    ap.add_argument("--no-native", action="store_true", help="skip the scenarios that need no netem")
    ap.add_argument("--table-only", action="store_true", help="only print the table from saved results")
    ap.add_argument("--md", help="write the table to this Markdown file")
    ap.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    args = ap.parse_args()
    members = load()
    if args.names:
        members = [m for m in members if any(m["name"] == n or m["name"].startswith(n) for n in args.names)]
    outdir = pathlib.Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        if any(m["language"] == "java" for m in members):
            compile_java()
        if not args.no_native:
            for m in members:
                print(f"{m['name']}: running ...", end=" ", flush=True)
                took = run_native(m, outdir, args.workers)
                fc = failed_clauses(results_of(m, outdir))
                print(f"{took:.0f} s, failed: {', '.join(sorted(fc)) or 'none'}", flush=True)
        if args.netem:
            run_netem(members, outdir)
    tab, summary = table(members, outdir)
    print(tab + "\n\n" + summary)
    if args.md:
        md = pathlib.Path(args.md)
        # A hand-written part from "## Analysis" on is kept across runs.
        keep = md.read_text().partition("\n## Analysis")[1:] if md.exists() else ("", "")
        md.write_text(
            "# The faulty zoo against today's suite\n\n"
            "Made by `tests/faulty/measure.py` from `tests/faulty/zoo.toml`. \"expected to fail\": the clauses whose "
            "MUST sentences the member's defect breaks, (S) for a SHOULD sentence. \"failed today\": each clause "
            "with a scenario tagged with it whose outcome was \"failed\", and those scenarios.\n\n"
            + tab + "\n\n" + summary + "\n" + "".join(keep))


if __name__ == "__main__":
    main()
