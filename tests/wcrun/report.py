"""Turns per-scenario results into clause verdicts and writes report.json, report.md and report.html."""
import html
import json
import os
import pathlib

VERDICTS = ("pass", "fail", "skip", "n/a")


def aggregate(results, clauses, sut, not_applicable=()):
    """results: dicts with nodeid, clauses, outcome (passed|failed|skipped|na), evidence, capture.

    A clause fails when any of its scenarios failed, passes when at least one passed and none
    failed, is n/a when every scenario was not applicable to the parts given, else is skipped.
    """
    out = []
    for cid, c in clauses.items():
        mine = [r for r in results if cid in r["clauses"]]
        failed = [r for r in mine if r["outcome"] == "failed"]
        passed = [r for r in mine if r["outcome"] == "passed"]
        na = [r for r in mine if r["outcome"] == "na"]
        if cid in not_applicable:
            verdict, chosen = "n/a", []
        elif failed:
            verdict, chosen = "fail", failed
        elif passed:
            verdict, chosen = "pass", passed
        elif mine and len(na) == len(mine):
            verdict, chosen = "n/a", na
        else:
            verdict, chosen = "skip", mine
        evidence = []
        for r in chosen:
            for e in r["evidence"] or [r["outcome"]]:
                evidence.append(f"{r['name']}: {e}")
        if verdict == "n/a" and not chosen:
            evidence = ["does not apply here (a remote --target: no capture, no impairment, no signals)"]
        elif not mine:
            evidence = ["no scenario for this clause ran"]
        caps = [r["capture"] for r in chosen if r.get("capture")]
        out.append({
            "id": cid, "level": c["level"], "title": c["title"], "section": c["section"],
            "verdict": verdict, "evidence": evidence,
            "capture": caps[0] if caps else None, "captures": caps,
            "scenarios": [{"name": r["name"], "outcome": r["outcome"], "capture": r.get("capture")} for r in mine],
        })
    return {"sut": sut, "clauses": out, "scenarios": results}


def conforms(report):
    """True when every MUST clause passed or does not apply."""
    return all(c["verdict"] in ("pass", "n/a") for c in report["clauses"] if c["level"] == "MUST")


def _rel(path, base):
    return os.path.relpath(path, base) if path else None


def write_all(report, outdir, extra_html=""):
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    (outdir / "report.md").write_text(markdown(report, outdir))
    (outdir / "report.html").write_text(to_html(report, outdir, extra_html))


def _counts(report):
    n = {v: 0 for v in VERDICTS}
    for c in report["clauses"]:
        n[c["verdict"]] += 1
    return n


def markdown(report, outdir):
    n = _counts(report)
    lines = ["# wirecheck conformance report", "",
             f"Implementation under test: `{json.dumps(report['sut'])}`", "",
             f"**{'CONFORMS' if conforms(report) else 'DOES NOT CONFORM'}**: "
             + ", ".join(f"{n[v]} {v}" for v in VERDICTS), "",
             "| clause | level | title | verdict | evidence | capture |", "|---|---|---|---|---|---|"]
    for c in report["clauses"]:
        ev = "<br>".join(e.replace("|", "\\|").replace("\n", " ") for e in c["evidence"][:4])
        cap = f"[{pathlib.Path(c['capture']).name}]({_rel(c['capture'], outdir)})" if c["capture"] else ""
        lines.append(f"| {c['id']} | {c['level']} | {c['title']} | {c['verdict']} | {ev} | {cap} |")
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f4f4f4}.pass{background:#d8f5d8}.fail{background:#f8d0d0}.skip{background:#f3f3c8}
.na{background:#e8e8e8}code{font-size:90%}.small{font-size:85%;color:#444}"""


def to_html(report, outdir, extra_html=""):
    n = _counts(report)
    e = html.escape
    rows = []
    for c in report["clauses"]:
        ev = "<br>".join(e(x if len(x) <= 400 else x[:400] + " …") for x in c["evidence"][:6])
        caps = " ".join(f'<a href="{e(_rel(p, outdir))}">{e(pathlib.Path(p).name)}</a>'
                        for p in dict.fromkeys(c["captures"]))
        cls = c["verdict"].replace("/", "")
        rows.append(f'<tr class="{cls}"><td>{e(c["id"])}</td><td>{e(c["level"])}</td><td>{e(c["title"])}</td>'
                    f'<td><b>{e(c["verdict"])}</b></td><td class="small">{ev}</td><td>{caps}</td></tr>')
    verdict = "CONFORMS" if conforms(report) else "DOES NOT CONFORM"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>wirecheck conformance report</title>
<style>{_CSS}</style></head><body>
<h1>wirecheck conformance report</h1>
<p>Implementation under test: <code>{e(json.dumps(report["sut"]))}</code></p>
<p><b>{verdict}</b>: {", ".join(f"{n[v]} {v}" for v in VERDICTS)}.
Clauses are those of <a href="../tests/conformance/PROTOCOL.md">PROTOCOL.md</a>; open a capture in Wireshark
to see the packets behind a verdict (packet comments explain each one).</p>
<h2>Clauses</h2>
<table><tr><th>clause</th><th>level</th><th>title</th><th>verdict</th><th>evidence</th><th>captures</th></tr>
{"".join(rows)}</table>
{extra_html}
</body></html>
"""
