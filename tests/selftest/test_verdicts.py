"""The outcome model on its own: a scenario's per-clause verdicts, a clause's verdict over scenarios and repeats,
the exit status, JUnit, baseline and diff, and the coverage table of the reports. Pure functions over small result
dicts: no lab."""
import html.parser
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from wcrun import ci, clauses as clause_db, report
from wcrun.plugin import SUT, clause_verdicts
from wcrun.verdict import EXIT, combine_repeats, run_status, worst

SCHEMA = json.loads((pathlib.Path(report.__file__).with_name("report.schema.json")).read_text())


def result(name, clauses, outcome="passed", records=None, raised=None, failure=None, repeat=0):
    return {"nodeid": f"conformance/test_x.py::{name}", "name": name, "clauses": clauses, "outcome": outcome,
            "evidence": [], "capture": None, "records": records or {}, "raised": raised, "failure": failure,
            "repeat": repeat}


REF = SUT({})
ONLY_UDP_SERVER = SUT({"udp_server_cmd": "x {port}"})


def test_recorded_verdicts_stand_and_failure_names_its_clause():
    r = result("s", ["T2.1", "T3.2"], "failed",
               records={"T2.1": {"verdict": "pass", "text": None, "because": None}}, failure="T3: late")
    v = clause_verdicts(r, REF)
    assert v["T2.1"]["verdict"] == "pass" and v["T3.2"]["verdict"] == "fail", v


def test_a_failure_leaves_the_unobserved_clauses_inconclusive():
    v = clause_verdicts(result("s", ["T4.2", "W2.1"], "failed", failure="T4.2: RST"), REF)
    assert v["T4.2"]["verdict"] == "fail"
    assert v["W2.1"] == {"verdict": "inconclusive", "because": "T4",
                         "text": "not observed: the scenario stopped when T4.2 failed"}


def test_raised_kinds_and_parts_not_under_test():
    r = result("s", ["T6.1"], "inconclusive", raised={"kind": "inconclusive", "because": "T2", "text": "x"})
    assert clause_verdicts(r, REF)["T6.1"] == {"verdict": "inconclusive", "because": "T2", "text": "x"}
    r = result("s", ["W5.2", "C2.2"], "error", raised={"kind": "error", "text": "no loss"})
    v = clause_verdicts(r, ONLY_UDP_SERVER)
    assert v["W5.2"]["verdict"] == "error" and v["C2.2"]["verdict"] == "n/a", v


@pytest.mark.parametrize("vs,want", [(["pass", "fail", "inconclusive"], "fail"), (["pass", "error"], "error"),
                                     (["pass", "inconclusive"], "inconclusive"), (["pass", "n/a"], "pass"),
                                     (["n/a", "n/a"], "n/a"), ([], "not run")])
def test_worst(vs, want):
    assert worst(vs) == want


def test_repeats_that_disagree_are_flaky():
    assert combine_repeats(["pass"] * 10) == "pass"
    assert combine_repeats(["pass"] * 9 + ["fail"]) == "flaky"


def rows(**verdicts):
    return [{"id": k, "level": "MUST" if k != "T7" else "SHOULD", "verdict": v} for k, v in verdicts.items()]


def test_exit_status():
    assert run_status(rows(T1="pass", T7="fail")) == (EXIT["conforms"], "CONFORMS")
    assert run_status(rows(T1="fail", T2="inconclusive")) == (EXIT["fails"], "DOES NOT CONFORM")
    assert run_status(rows(T1="pass", T2="error")) == (EXIT["unjudged"], "INCONCLUSIVE")
    assert run_status(rows(T1="pass", T2="not run"), complete=False) == (EXIT["unjudged"], "PARTIAL RUN")
    assert run_status(rows(T1="flaky"))[0] == EXIT["fails"]


def make_report(verdict_t3="fail", repeats=1):
    res = []
    for i in range(repeats):
        t3 = "fail" if verdict_t3 == "fail" or (verdict_t3 == "flaky" and i == 0) else "pass"
        for name, cl, v in (("a", "T1.1", "pass"), ("b", "T3.2", t3)):
            r = result(name, [cl], "passed" if v == "pass" else "failed", repeat=i,
                       failure=None if v == "pass" else "T3: late")
            r["verdicts"] = clause_verdicts(r, REF)
            r["evidence"] = [] if v == "pass" else ["T3: late"]
            res.append(r)
    rep = report.aggregate(res, clause_db.load(), REF.describe(), repeats=repeats)
    rep["status"], rep["headline"] = run_status(rep["clauses"], complete=False)
    rep["conforms"] = False
    rep["run"] = {"started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:00:01+00:00",
                  "duration_s": 1.0, "commit": None, "describe": None, "host_kernel": "x", "uml": False,
                  "stages": [], "tshark": None, "commands": {}, "reference": True, "complete": False,
                  "interrupted": None, "repeat": repeats, "captures_sha256": {}}
    return rep


def test_aggregate_report_matches_the_schema():
    rep = make_report()
    jsonschema.validate(rep, SCHEMA)
    by = {c["id"]: c for c in rep["clauses"]}
    assert by["T1"]["verdict"] == "pass" and by["T3"]["verdict"] == "fail" and by["T2"]["verdict"] == "not run"
    assert by["T3"]["evidence"] == ["b: T3: late"]
    reqs = {r["id"]: r for r in rep["requirements"]}
    assert reqs["T3.2"]["verdict"] == "fail" and reqs["T3.1"]["verdict"] == "not run"


def test_repeat_counts_passes_and_marks_flaky():
    rep = make_report("flaky", repeats=3)
    t3 = next(c for c in rep["clauses"] if c["id"] == "T3")
    assert (t3["verdict"], t3["passes"], t3["runs"]) == ("flaky", 2, 3)
    assert t3["evidence"][0] == "b: flaky: 2 of 3 runs passed"


def test_junit_one_suite_per_clause(tmp_path):
    ci.junit(make_report(), tmp_path / "j.xml")
    root = ET.parse(tmp_path / "j.xml").getroot()
    suites = {s.get("name").split()[0]: s for s in root}
    assert set(suites) == set(clause_db.load())
    case = suites["T3"].find("testcase")
    assert case.get("name") == "b" and case.find("failure").get("message") == "b: T3: late"
    assert suites["T1"].get("failures") == "0"


def test_baseline_and_diff():
    old, new = make_report("fail"), make_report("pass")
    assert ci.diff(old, new)["newly passing"] == ["T3"]
    assert ci.diff(new, old)["newly failing"] == ["T3"]
    assert ci.apply_baseline(make_report("fail"), old) == (["T3"], [])
    assert ci.apply_baseline(make_report("fail"), new) == ([], ["T3"])


def test_a_should_requirement_never_fails_its_must_clause():
    r = result("m", ["T5.1", "T5.2"], "failed", failure="T5.2: grew",
               records={"T5.1": {"verdict": "pass", "text": None, "because": None}})
    r["verdicts"] = clause_verdicts(r, REF)
    rep = report.aggregate([r], clause_db.load(), REF.describe())
    t5 = next(c for c in rep["clauses"] if c["id"] == "T5")
    assert t5["verdict"] == "pass" and t5["evidence"][0].startswith("T5.2 (SHOULD) fail"), t5


def test_a_server_that_never_starts_is_one_crash_note_and_one_line_per_scenario():
    """Each scenario saw the crash, raised NotReady (recorded per clause, and as "error: ..."); the clause says the
    crash once, counting its scenarios over both requirements, and each scenario once."""
    crash = "the TCP server exited with status 1 during this scenario; its stderr ends: boom (logs: /x/{}.logs)"
    why = "the server under test exited with status 1 before it was ready; its stderr ends: boom (logs: /x/{}.logs)"
    rs = []
    for name, cls in (("a", ["T2.1", "T2.2"]), ("b", ["T2.1", "T2.2"]), ("c", ["T2.1"])):
        r = result(name, cls, "error", raised={"kind": "error", "text": why.format(name)})
        r["evidence"] = ["error: " + why.format(name)]
        r["crashes"] = [crash.format(name)]
        r["verdicts"] = clause_verdicts(r, REF)
        rs.append(r)
    rep = report.aggregate(rs, clause_db.load(), REF.describe())
    t2 = next(c for c in rep["clauses"] if c["id"] == "T2")
    assert t2["verdict"] == "error"
    assert [e for e in t2["evidence"] if "during this scenario" in e] == \
        ["T2: " + crash.format("a") + " (so in 3 scenarios, first a)"], t2["evidence"]
    assert [e.split(":")[0] for e in t2["evidence"] if "before it was ready" in e] == ["a", "b", "c"], t2["evidence"]


def test_evidence_is_shortened_the_same_way_everywhere():
    c = {"evidence": [f"line {i}" for i in range(7)]}
    assert report.evidence_lines(c) == ["line 0", "line 1", "line 2", "line 3", "+3 more (report.json)"]


def test_reports_link_each_capture_and_its_one_side_files(tmp_path):
    """A clause's capture is linked with its client and server files beside it (where Wireshark's TCP analysis is
    right), in both pages; a side file that is not there is not linked."""
    cap = tmp_path / "captures" / "conformance_test_x.py__b.pcapng"
    cap.parent.mkdir()
    for p in (cap, cap.with_name("conformance_test_x.py__b.client.pcapng")):
        p.write_bytes(b"")
    rep = make_report()
    for c in rep["clauses"]:
        if c["id"] == "T3":
            c["capture"], c["captures"] = str(cap), [str(cap)]
    out = tmp_path / "run"
    report.write_all(rep, out)
    page, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert '<a href="../captures/conformance_test_x.py__b.client.pcapng">client</a>' in page, page
    assert "[client](../captures/conformance_test_x.py__b.client.pcapng)" in md, md
    assert ".server.pcapng" not in page + md


# --- coverage: which scenario checks which requirement, in report.md and report.html ---------------------------

NOT_CHECKED = "no scenario of this run checked it"


def coverage_results():
    """Scenarios of several shapes: one that checks three requirements, two on one requirement that disagree, a
    SHOULD requirement that fails, one that does not apply; every other requirement has no scenario here."""
    out = [result("test_seed_session[4]", ["T2.1", "T2.2", "T3.2"]),
           result("test_long_lines[10mb]", ["T5.1"]),
           result("test_long_lines[above-64k]", ["T5.1"], "failed", failure="T5: byte 1024 differs"),
           result("test_memory_bounded", ["T5.2"], "failed", failure="T5.2: grew by 100 MiB"),
           result("test_udp_graceful_stop", ["U4.1", "U4.2"], "na", raised={"kind": "na", "text": "n/a: no"})]
    for r in out:
        r["verdicts"] = clause_verdicts(r, REF)
    return out


COVERED = {"T2.1": (["test_seed_session[4]: pass"], "pass"), "T2.2": (["test_seed_session[4]: pass"], "pass"),
           "T3.2": (["test_seed_session[4]: pass"], "pass"),
           "T5.1": (["test_long_lines[10mb]: pass", "test_long_lines[above-64k]: fail"], "fail"),
           "T5.2": (["test_memory_bounded: fail"], "fail"),
           "U4.1": (["test_udp_graceful_stop: n/a"], "n/a"), "U4.2": (["test_udp_graceful_stop: n/a"], "n/a")}


class Tables(html.parser.HTMLParser):
    """The tables of a page: [table: [row: [cell: [its lines, split at <br>]]]]."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tables, self.cell = [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = [""]
        elif tag == "br" and self.cell is not None:
            self.cell.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[-1] += data


HEADER = ["requirement", "level", "text", "scenarios", "verdict"]


def html_coverage(page):
    tables = [t for t in Tables(page).tables if t and [c[0] for c in t[0]] == HEADER]
    assert len(tables) == 1, f"{len(tables)} coverage tables in report.html"
    return [(c[0][0], c[1][0], c[2][0], c[3], c[4][0]) for c in tables[0][1:]]


def md_coverage(text):
    lines = text.split("\n## Coverage: requirement, scenarios, verdict\n", 1)[1].strip().splitlines()
    assert lines[0] == "| " + " | ".join(HEADER) + " |", lines[0]
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
        rows.append((cells[0], cells[1], cells[2], cells[3].split("<br>"), cells[4]))
    return rows


def test_the_coverage_table_lists_every_requirement_with_its_scenarios_in_md_and_html(tmp_path):
    rep = report.aggregate(coverage_results(), clause_db.load(), REF.describe())
    report.write_all(rep, tmp_path)
    want = [(rid, r["level"], r["text"], *COVERED.get(rid, ([NOT_CHECKED], "not run")))
            for rid, r in clause_db.requirements().items()]
    assert len(want) > len(COVERED)
    for name, got in (("report.md", md_coverage((tmp_path / "report.md").read_text())),
                      ("report.html", html_coverage((tmp_path / "report.html").read_text()))):
        assert len(got) == len(want), f"{name}: {len(got)} rows for {len(want)} requirements"
        bad = [(w, g) for w, g in zip(want, got) if w != g]
        assert not bad, f"{name}: {len(bad)} rows differ; the first (expected, got): {bad[0]}"
    # report.json: the same scenarios and verdicts, per requirement.
    got = {r["id"]: ([f"{s['name']}: {s['verdict']}" for s in r["scenarios"]] or [NOT_CHECKED], r["verdict"])
           for r in rep["requirements"]}
    assert got == {w[0]: (w[3], w[4]) for w in want}
