"""Output for CI: JUnit XML (one testsuite per clause, one testcase per scenario), a baseline of known failures,
and the difference between two reports."""
import json
import pathlib
import xml.etree.ElementTree as ET

BAD = ("fail", "flaky")


def junit(report, path):
    """Writes JUnit XML: a failing scenario's evidence is its failure message; inconclusive, error, skip and
    n/a are skipped or errored testcases with their reason."""
    root = ET.Element("testsuites", name="wirecheck conformance")
    for c in report["clauses"]:
        suite = ET.SubElement(root, "testsuite", name=f"{c['id']} {c['title']}", level=c["level"])
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for sc in c["scenarios"] or [{"name": "(no scenario ran)", "verdict": c["verdict"]}]:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=c["id"], name=sc["name"])
            ev = "\n".join(e for e in c["evidence"] if e.startswith(sc["name"] + ":")) or sc["verdict"]
            v = sc["verdict"]
            if v in BAD:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=ev.splitlines()[0][:500], type=v).text = ev
            elif v == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=ev.splitlines()[0][:500]).text = ev
            elif v in ("inconclusive", "skip", "n/a", "not run"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"{v}: {ev.splitlines()[0][:480]}")
            if sc.get("capture"):
                ET.SubElement(case, "system-out").text = f"capture: {sc['capture']}"
        for k, n in counts.items():
            suite.set(k, str(n))
    ET.indent(root)
    pathlib.Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def load(path):
    return json.loads(pathlib.Path(path).read_text())


def known_failures(baseline):
    """The MUST clauses that failed (or were flaky) in a baseline report."""
    return {c["id"] for c in baseline["clauses"] if c["verdict"] in BAD}


def apply_baseline(report, baseline):
    """Marks clauses that fail now and failed in the baseline as known; returns (known, new) clause ids."""
    old = known_failures(baseline)
    known, new = [], []
    for c in report["clauses"]:
        if c["verdict"] in BAD:
            if c["id"] in old:
                c["known_failure"] = True
                known.append(c["id"])
            else:
                new.append(c["id"])
    report["baseline"] = {"known": known, "new": new}
    return known, new


def diff(a, b):
    """{"newly failing", "newly passing", "newly flaky", "changed"}: clause ids from report a to report b."""
    va = {c["id"]: c["verdict"] for c in a["clauses"]}
    vb = {c["id"]: c["verdict"] for c in b["clauses"]}
    out = {"newly failing": [], "newly passing": [], "newly flaky": [], "changed": []}
    for cid in vb:
        x, y = va.get(cid, "not run"), vb[cid]
        if x == y:
            continue
        if y == "fail":
            out["newly failing"].append(cid)
        elif y == "pass":
            out["newly passing"].append(cid)
        elif y == "flaky":
            out["newly flaky"].append(cid)
        out["changed"].append(f"{cid}: {x} -> {y}")
    return out
