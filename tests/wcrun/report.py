"""Turns per-scenario results into clause verdicts and writes report.json, report.md and report.html."""
import html
import json
import os
import re
import pathlib
import shutil

from lab.capture import side_paths
from wcrun.clauses import PROTOCOL, clause_of
from wcrun.verdict import VERDICTS, combine_repeats, inconclusive_text, run_status, worst


def _scenario_clause_verdicts(results):
    """{nodeid: {clause: [verdict record per repeat]}} in first-seen order."""
    out = {}
    for r in results:
        for cid, v in r["verdicts"].items():
            out.setdefault(r["nodeid"], {}).setdefault(cid, []).append(v)
    return out


def _judge(rid, per, by_node, not_applicable):
    """(verdict, [(scenario result, verdict, because, texts)], the chosen ones) of one requirement."""
    mine = []
    for nodeid, rv in per.items():
        if rid not in rv:
            continue
        vs = rv[rid]
        v = combine_repeats([x["verdict"] for x in vs])
        because = sorted({x["because"] for x in vs if x.get("because")})
        texts = [inconclusive_text(x.get("because"), x["text"]) if x["verdict"] == "inconclusive" else x["text"]
                 for x in vs if x.get("text")]
        mine.append((by_node[nodeid], v, because, texts))
    if clause_of(rid) in not_applicable:
        return "n/a", mine, []
    verdict = worst(v for _, v, _, _ in mine) if mine else "not run"
    return verdict, mine, [m for m in mine if m[1] == verdict]


_TAG = re.compile(r"(?:[TUWC]\d+(?:\.\d+)?|error(?: \(\w+\))?): ")


def _distinct(lines):
    """lines without repeats, a line counting as a repeat when it says what an earlier one says under another tag
    ("T2: the server ... exited" and "error: the server ... exited" are one fact)."""
    seen, out = set(), []
    for line in lines:
        gist = _TAG.sub("", line, count=1) if _TAG.match(line) else line
        if gist not in seen:
            seen.add(gist)
            out.append(line)
    return out


def _merged_notes(notes):
    """Crash notes of a clause's requirements, one per crash: the one that counts the most scenarios."""
    best = {}
    for note in notes:
        m = re.search(r" \(so in (\d+) scenarios, first [^)]*\)$", note)
        key, n = note.split(" (logs: ")[0], int(m.group(1)) if m else 1
        if key not in best or n > best[key][0]:
            best[key] = (n, note)
    return [note for _, note in best.values()]


def _evidence(rid, chosen, per):
    """(crash notes, primary lines, detail lines) of one requirement's chosen scenarios: a crash of the server
    once however many scenarios saw it (their own lines, its consequences, become details), then one line per
    other scenario (the clause's own scenarios first, the verdict's own text first), then the rest."""
    cid = clause_of(rid)
    crashes, primary, detail = {}, [], []
    own = sorted(chosen, key=lambda m: clause_of(m[0]["clauses"][0]) != cid)
    for r, v, because, texts in own:
        crashed = r.get("crashes", []) if v != "pass" else []
        for x in crashed:
            key = x.split("ends: ")[-1].split(" (logs: ")[0].split(":")[0]
            crashes.setdefault(key, [r["name"], x, 0])[2] += 1
        lines = [t if re.match(r"[TUWC]\d", t) else f"{cid}: {t}" for t in texts if t] + \
            [e for e in r["evidence"] if e.startswith(cid)] + \
            [e for e in r["evidence"] if not e.startswith(cid) and not (texts and e.startswith("inconclusive, "))]
        if v == "flaky":
            lines = [f"flaky: {sum(1 for x in per[r['nodeid']][rid] if x['verdict'] == 'pass')} of "
                     f"{len(per[r['nodeid']][rid])} runs passed"] + lines
        lines = [f"{r['name']}: {e}" for e in _distinct(lines)] or [f"{r['name']}: {v}"]
        if crashed:
            detail += lines
        else:
            primary.append(lines[0])
            detail += lines[1:]
    notes = [f"{cid}: {x}" + (f" (so in {n} scenarios, first {name})" if n > 1 else f" ({name})")
             for name, x, n in crashes.values()]
    return notes, primary, detail


def aggregate(results, clauses, sut, not_applicable=(), repeats=1):
    """Requirement and clause verdicts from scenario results (dicts with nodeid, name, clauses, verdicts,
    evidence, capture; with --repeat, one result per scenario and repeat, each with "repeat": i).

    A scenario's verdict on a requirement is the same in every repeat, or flaky. A requirement's verdict is the
    worst of its scenarios' (verdict.worst). A clause's verdict is the worst of its requirements at the clause's
    own level (a MUST clause's SHOULD requirements are reported beside it and never fail it); with repeats,
    "passes" counts the repeats in which the clause passed.
    """
    by_node = {}
    for r in results:
        by_node.setdefault(r["nodeid"], r)
    per = _scenario_clause_verdicts(results)
    reqs, out = [], []
    for cid, c in clauses.items():
        rows = []
        for rq in c["requirements"]:
            verdict, mine, chosen = _judge(rq["id"], per, by_node, not_applicable)
            parts = _evidence(rq["id"], chosen, per)
            rows.append({
                "id": rq["id"], "clause": cid, "level": rq["level"], "text": rq["text"], "verdict": verdict,
                "because": sorted({b for m in chosen for b in m[2]}), "parts": parts,
                "evidence": [e for part in parts for e in part],
                "captures": [m[0]["capture"] for m in chosen if m[0].get("capture")],
                "scenarios": [{"name": m[0]["name"], "verdict": m[1], "capture": m[0].get("capture")}
                              for m in mine]})
        reqs += rows
        judged = [x for x in rows if x["level"] == c["level"]] or rows
        verdict = worst(x["verdict"] for x in judged)
        parts, caps, because = ([], [], []), [], set()
        for x in judged:
            if x["verdict"] == verdict:
                for mine_part, part in zip(parts, x["parts"]):
                    mine_part += [e for e in part if e not in mine_part]
                caps += [p for p in x["captures"] if p not in caps]
                because |= set(x["because"])
        evidence = list(dict.fromkeys(e for part in (_merged_notes(parts[0]), parts[1], parts[2]) for e in part))
        notes = [f"{x['id']} ({x['level']}) {x['verdict']}: {(x['evidence'] or [''])[0]}" for x in rows
                 if x not in judged and x["verdict"] not in ("pass", "n/a", "not run")]
        if clause_of(cid) in not_applicable:
            evidence = ["does not apply here (a remote --target: no capture, no impairment, no signals)"]
        elif verdict == "not run":
            evidence = ["no scenario for this clause ran"]
        scen = {}
        for x in rows:
            for sc in x["scenarios"]:
                prev = scen.get(sc["name"])
                scen[sc["name"]] = sc if prev is None else dict(prev, verdict=worst([prev["verdict"], sc["verdict"]]))
        row = {
            "id": cid, "level": c["level"], "title": c["title"], "section": c["section"],
            "verdict": verdict, "because": sorted(because), "evidence": notes + evidence if verdict == "pass"
            else evidence + notes, "capture": caps[0] if caps else None, "captures": caps,
            "requirements": [x["id"] for x in rows], "scenarios": list(scen.values()),
        }
        for x in rows:
            x.pop("parts")
        if repeats > 1:
            row["passes"] = _passes(results, [x["id"] for x in judged], repeats)
            row["runs"] = repeats
        out.append(row)
    notes = sorted({e.removeprefix("n/a: ") for r in results if r["outcome"] == "na" for e in r["evidence"]
                    if "IPv6" in e and "--target" not in e})
    return {"sut": sut, "clauses": out, "requirements": reqs, "notes": notes, "scenarios": results}


def _passes(results, rids, repeats):
    """In how many repeats the clause passed (the worst verdict of its judged requirements was pass)."""
    n = 0
    for i in range(repeats):
        vs = [r["verdicts"][rid]["verdict"] for r in results if r.get("repeat", 0) == i
              for rid in rids if rid in r["verdicts"]]
        n += bool(vs) and worst(vs) == "pass"
    return n


def conforms(report):
    """True when every MUST clause passed or does not apply."""
    return run_status(report["clauses"])[0] == 0


def _rel(path, base):
    return os.path.relpath(path, base) if path else None


def side_links(path, outdir):
    """[(side, path relative to outdir)] of the one-side files beside a two-sided capture, those that exist: the
    files whose TCP analysis Wireshark gets right."""
    return [(k, _rel(v, outdir)) for k, v in side_paths(path).items() if v.exists()]


def capture_links(c, report, outdir):
    """The captures behind a clause's verdict, each as its links [(text, path relative to outdir)]: the
    two-sided file, its one-side files, its ladder diagram. What report.html and report.md put in the clause's
    captures column."""
    ladders = report.get("ladders") or {}
    return [[(pathlib.Path(p).name, _rel(p, outdir))] + side_links(p, outdir)
            + ([("ladder", _rel(ladders[p], outdir))] if p in ladders else [])
            for p in dict.fromkeys(c["captures"])]


def write_all(report, outdir, extra_html="", extra_md=""):
    """report.json, report.md and report.html; extra_html and extra_md: the same section (the reliability
    demonstration's) in each of the two pages."""
    outdir = pathlib.Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "report.json").write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    (outdir / "report.md").write_text(markdown(report, outdir) + extra_md)
    (outdir / "report.html").write_text(to_html(report, outdir, extra_html))
    # The report links the specification beside it, wherever --out points.
    shutil.copyfile(PROTOCOL, outdir / "PROTOCOL.md")


def _counts(report):
    n = {v: 0 for v in VERDICTS}
    for c in report["clauses"]:
        n[c["verdict"]] += 1
    return n


def counts_text(report):
    """"14 pass, 2 fail (SHOULD), 2 n/a": a failing SHOULD clause is said to be one, since it fails no run."""
    n = _counts(report)
    should = sum(1 for c in report["clauses"] if c["verdict"] == "fail" and c["level"] != "MUST")
    parts = []
    for v in VERDICTS:
        if v == "fail" and n[v]:
            if n[v] - should:
                parts.append(f"{n[v] - should} fail")
            if should:
                parts.append(f"{should} fail (SHOULD)")
        elif n[v]:
            parts.append(f"{n[v]} {v}")
    return ", ".join(parts)


EVIDENCE_SHOWN = 4


def evidence_lines(c, limit=EVIDENCE_SHOWN, width=None):
    """The clause's evidence as every output shows it: the first `limit` lines (cut at `width` characters), and
    "+N more (report.json)" when lines were left out. report.json keeps them all."""
    lines = [e.replace("\n", " ") for e in c["evidence"]]
    shown = [e if width is None or len(e) <= width else e[:width - 1] + "…" for e in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"+{len(lines) - limit} more (report.json)")
    return shown


def headline(report):
    if report.get("headline"):
        return report["headline"]
    return run_status(report["clauses"])[1]


def sut_text(sut):
    """The implementation under test as its commands, for people."""
    if sut.get("reference"):
        return "the reference programs (build/bin)"
    if sut.get("target"):
        return f"the server at {sut['target']}" + (f", UDP port {sut['target_udp_port']}"
                                                   if sut.get("target_udp_port") else "")
    return "; ".join(f"{k}: {v}" for k, v in sut.items() if k in ("tcp-server", "udp-server", "tcp-client",
                                                                   "udp-client"))


def run_lines(report):
    """A few lines saying when, from what and how the report was made."""
    r = report.get("run")
    if not r:
        return []
    uml = " (the netem scenarios inside User-Mode Linux)" if r.get("uml") else ""
    tshark = (r.get("tshark") or "no tshark").rstrip(".")
    out = [f"Run {r['started']} to {r['finished']} ({r['duration_s']} s), wirecheck {r.get('describe') or '?'} "
           f"(commit {(r.get('commit') or '?')[:12]}), kernel {r['host_kernel']}{uml}, {tshark}."]
    if r.get("interrupted"):
        out.append(f"INTERRUPTED by {r['interrupted']}: the scenarios that did not finish are \"not run\".")
    elif not r.get("complete"):
        sel = r.get("selection") or {}
        how = ", ".join(f"--{k.replace('_', '-')}" if v is True else f"-{k} {v}" if len(k) == 1 else
                        f"--{k.replace('_', '-')} {v}" for k, v in sel.items() if v not in (None, False))
        out.append(f"Partial run ({how or 'a selection'}): clauses whose scenarios were not selected are \"not run\".")
    if r.get("repeat", 1) > 1:
        out.append(f"Every scenario ran {r['repeat']} times; a clause whose runs disagree is flaky.")
    out.append(f"The SHA-256 of each of the {len(r.get('captures_sha256', {}))} captures cited is in report.json "
               "(`scripts/conformance verify report.json` checks them).")
    return out


def coverage(report):
    """(requirement id, level, text, scenarios "name: verdict", verdict) for the coverage table. A requirement
    no scenario of this run checked says so: every requirement has a scenario in the suite (a selftest fails
    otherwise), so here it was not selected (-k), in a stage that did not run (--no-netem, --target) or n/a."""
    out = []
    for r in report.get("requirements", []):
        sc = [f"{x['name']}: {x['verdict']}" for x in r["scenarios"]]
        out.append((r["id"], r["level"], r["text"], sc or ["no scenario of this run checked it"], r["verdict"]))
    return out


def markdown(report, outdir):
    lines = ["# wirecheck conformance report", "",
             f"Implementation under test: {sut_text(report['sut'])}", ""]
    lines += [f"{x}  " for x in run_lines(report)] + [""] if report.get("run") else []
    lines += [f"Note: {x}  " for x in report.get("notes", [])] + ([""] if report.get("notes") else [])
    lines += [f"**{headline(report)}**: " + counts_text(report), "",
              "| clause | level | title | verdict | evidence | captures |", "|---|---|---|---|---|---|"]
    for c in report["clauses"]:
        ev = "<br>".join(e.replace("|", "\\|") for e in evidence_lines(c))
        cap = "<br>".join(" · ".join(f"[{t}]({h})" for t, h in links) for links in capture_links(c, report, outdir))
        lines.append(f"| {c['id']} | {c['level']} | {c['title']} | {c['verdict']} | {ev} | {cap} |")
    rows = coverage(report)
    if rows:
        lines += ["", "## Coverage: requirement, scenarios, verdict", "",
                  "| requirement | level | text | scenarios | verdict |", "|---|---|---|---|---|"]
        for rid, level, text, sc, v in rows:
            cell = text.replace("|", "\\|")
            lines.append(f"| {rid} | {level} | {cell} | {'<br>'.join(sc)} | {v} |")
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1240px}
table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;overflow-wrap:anywhere}th{background:#f4f4f4}.pass{background:#d8f5d8}.fail,.flaky,.error
{background:#f8d0d0}.skip,.inconclusive{background:#f3f3c8}.na,.notrun{background:#e8e8e8}code{font-size:90%}
.small{font-size:85%;color:#444}col.id{width:5em}col.lv{width:5.5em}col.ti{width:13em}col.vd{width:9.5em}
col.cap{width:14em}"""


def to_html(report, outdir, extra_html=""):
    e = html.escape
    rows = []
    for c in report["clauses"]:
        ev = "<br>".join(e(x) for x in evidence_lines(c))
        caps = " ".join(" · ".join(f'<a href="{e(h)}">{e(t)}</a>' for t, h in links)
                        for links in capture_links(c, report, outdir))
        cls = c["verdict"].replace("/", "").replace(" ", "")
        v = c["verdict"] + (f" ({c['passes']}/{c['runs']})" if "passes" in c else "")
        rows.append(f'<tr class="{cls}"><td>{e(c["id"])}</td><td>{e(c["level"])}</td><td>{e(c["title"])}</td>'
                    f'<td><b>{e(v)}</b></td><td class="small">{ev}</td><td class="small">{caps}</td></tr>')
    run = "".join(f"<p class=small>{e(x)}</p>" for x in run_lines(report))
    run += "".join(f"<p class=small>Note: {e(x)}</p>" for x in report.get("notes", []))
    if report.get("lesson"):
        run += (f'<p>The lesson: <a href="{e(_rel(report["lesson"], outdir))}">TCP against UDP, one idea per '
                "screen, from this run's captures</a>.</p>")
    cov = "".join(f'<tr class="{v.replace("/", "").replace(" ", "")}"><td>{e(rid)}</td><td>{e(level)}</td>'
                  f'<td class=small>{e(text)}</td><td class=small>{"<br>".join(e(x) for x in sc)}</td>'
                  f'<td><b>{e(v)}</b></td></tr>' for rid, level, text, sc, v in coverage(report))
    if cov:
        cov = ("<h2>Coverage: which scenario checks which requirement</h2>\n<table><colgroup><col class=id>"
               "<col class=lv><col><col><col class=vd></colgroup>\n<tr><th>requirement</th><th>level</th>"
               f"<th>text</th><th>scenarios</th><th>verdict</th></tr>\n{cov}</table>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>wirecheck conformance report</title>
<style>{_CSS}</style></head><body>
<h1>wirecheck conformance report</h1>
<p>Implementation under test: <code>{e(sut_text(report["sut"]))}</code></p>
{run}
<p><b>{e(headline(report))}</b>: {e(counts_text(report))}.
Clauses are those of <a href="PROTOCOL.md">PROTOCOL.md</a>; open a capture in Wireshark
to see the packets behind a verdict (packet comments explain each one): the first file holds both sides, for
matching them; the client and server files hold one each, and there Wireshark's TCP analysis is right.</p>
<h2>Clauses</h2>
<table><colgroup><col class=id><col class=lv><col class=ti><col class=vd><col><col class=cap></colgroup>
<tr><th>clause</th><th>level</th><th>title</th><th>verdict</th><th>evidence</th><th>captures</th></tr>
{"".join(rows)}</table>
{cov}
{extra_html}
<script>window.addEventListener("load",function(){{var d=document.documentElement;
document.body.setAttribute("data-page-height",d.scrollHeight);document.body.setAttribute("data-page-width",
d.scrollWidth)}})</script>
</body></html>
"""
