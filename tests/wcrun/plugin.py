"""pytest plugin: the implementation-under-test options, the judge that records a verdict per clause, and the
collection of per-scenario results (for the runner, and for the report when pytest is run directly)."""
import json
import os
import pathlib
import re
import shlex

import pytest

from lab.proc import NotReady
from wcrun import clauses as clause_db
from wcrun.clauses import clause_of
from wcrun import options, paths
from wcrun import report as report_mod
from wcrun.verdict import EnvError, Inconclusive, NotApplicable, clause_parts, inconclusive_text

_CLAUSE_ID = re.compile(r"^([TUWC]\d+(?:\.\d+)?)\b")


def pytest_addoption(parser):
    g = parser.getgroup("wirecheck", "implementation under test")
    options.add_to(g.addoption)
    g.addoption("--loopback", action="store_true", default=False,
                help="run the scenarios that need no lab against servers on this machine's loopback, each on a "
                     "free port (no namespaces, impairment or captures; the others are n/a)")
    g.addoption("--report-dir", default=None, metavar="DIR",
                help="write report.json, report.md and report.html here at the end")
    g.addoption("--clauses", default=None, metavar="IDS",
                help="run only the scenarios that check one of these comma-separated clauses (e.g. T4,U1)")
    g.addoption("--results-file", default=None, metavar="FILE",
                help="write the raw per-scenario results as JSON (the runner merges several runs)")
    g.addoption("--list-file", default=None, metavar="FILE",
                help="with --collect-only: write the selected scenarios, their clauses and needs as JSON")


class SUT:
    """What is under test: command templates per part; None marks a part that was not given."""

    PARTS = options.PARTS

    def __init__(self, opts):
        """opts: options.given(...) — the *_cmd templates, target, target_udp_port, ipv4_only."""
        bindir = paths.bin_dir()
        given = {p: opts.get(options.dest(f"--{p}-cmd")) for p in self.PARTS}
        self.custom = any(given.values())
        self.reference = {
            "tcp-server": f"{bindir}/tcp-server -p {{port}}",
            "udp-server": f"{bindir}/udp-server -p {{port}}",
            "tcp-client": f"{bindir}/tcp-client --raw {{host}} {{port}}",
            "udp-client": f"{bindir}/udp-client --raw {{host}} {{port}}",
        }
        # With any part given, the others are not under test: their clauses are n/a, and where a scenario
        # needs a peer for the part under test (a server for a client), the reference plays it.
        self.cmds = {p: (given[p] if self.custom else self.reference[p]) for p in self.PARTS}
        self.target = opts.get("target")
        self.target_udp_port = opts.get("target_udp_port")
        self.ipv4_only = bool(opts.get("ipv4_only"))

    @classmethod
    def from_config(cls, config):
        return cls(options.given(config.getoption))

    def has(self, part):
        if self.target:
            return part in ("tcp-server", "udp-server")
        return self.cmds.get(part) is not None

    def describe(self):
        if self.target:
            d = {"target": self.target}
            if self.target_udp_port:
                d["target_udp_port"] = self.target_udp_port
        else:
            d = {p: c for p, c in self.cmds.items() if c}
        d["reference"] = not self.custom and not self.target
        if self.ipv4_only:
            d["ipv4_only"] = True
        return d

    def command(self, part, host, port):
        """The part's command; the reference's when the part is not under test (it is then a peer)."""
        return (self.cmds[part] or self.reference[part]).format(host=host, port=port)

    def argv(self, part, host, port, extra=""):
        """The part's command (then `extra` options) as an argv for sh, run from the directory the user ran the
        runner in (WIRECHECK_SUT_CWD), so that a relative path in a command means what it meant there."""
        cmd = self.command(part, host, port) + (f" {extra}" if extra else "")
        cwd = os.environ.get("WIRECHECK_SUT_CWD")
        return ["sh", "-c", (f"cd {shlex.quote(cwd)} && " if cwd and self.cmds[part] else "") + f"exec {cmd}"]


@pytest.fixture(scope="session")
def sut(pytestconfig):
    return SUT.from_config(pytestconfig)


class Judge:
    """A scenario's verdicts, clause by clause. judge(text) adds evidence; ok/fail/inconclusive record a clause's
    verdict without stopping the scenario; require() fails a clause and stops it. A clause the scenario did not
    record gets the scenario's own outcome (see _clause_verdicts)."""

    def __init__(self, node):
        self.node = node
        m = node.get_closest_marker("clause")
        self.clauses = list(m.args) if m else []
        self.records = {}

    def __call__(self, text):
        self.node.user_properties.append(("evidence", str(text)))

    def targets(self, cid):
        """The requirement ids of the marker that cid names: itself, or all of its clause's."""
        ids = [cid] if cid in self.clauses else [x for x in self.clauses if clause_of(x) == cid]
        if not ids:
            raise ValueError(f"{self.node.nodeid} judges {cid}, which its clause marker does not name")
        return ids

    def _record(self, cid, verdict, text=None, because=None):
        for rid in self.targets(cid):
            prev = self.records.get(rid)
            if prev and prev["verdict"] == "fail":       # a failure is never overwritten
                continue
            rec = {"verdict": verdict, "text": text, "because": because}
            self.records[rid] = rec
            self.node.user_properties.append(("verdict", [rid, rec]))
        if text and verdict != "pass":      # a pass's text is in its record, shown where the verdict is pass
            text = inconclusive_text(because, text) if verdict == "inconclusive" else text
            self(text if _CLAUSE_ID.match(text) else f"{clause_of(cid)}: {text}")

    def ok(self, cid, text=None):
        self._record(cid, "pass", text)

    def fail(self, cid, text):
        self._record(cid, "fail", text)

    def inconclusive(self, cid, because, text):
        self._record(cid, "inconclusive", text, because)

    def require(self, cond, cid, text):
        if not cond:
            self.fail(cid, text)
            raise AssertionError(f"{clause_of(cid)}: {text}")

    def failures(self):
        return list(dict.fromkeys(f"{clause_of(c)}: {r['text']}" for c, r in self.records.items()
                                  if r["verdict"] == "fail"))


@pytest.fixture
def judge(request):
    j = Judge(request.node)
    request.node.wc_judge = j
    return j


@pytest.fixture
def evidence(judge):
    """evidence(text): attach a line of evidence to this scenario's clauses in the report."""
    return judge


@pytest.fixture(autouse=True)
def _clause_tags(request):
    m = request.node.get_closest_marker("clause")
    if m:
        request.node.user_properties.append(("clauses", list(m.args)))


@pytest.fixture
def attach_capture(request):
    def add(path):
        request.node.user_properties.append(("capture", str(path)))
    return add


def need(sut, *parts):
    """Skips as n/a when the implementation under test lacks one of the parts."""
    missing = [p for p in parts if not sut.has(p)]
    if missing:
        pytest.skip(f"n/a: no {', '.join(missing)} under test")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """An impaired scenario whose network did not do what it asked (error: no loss at all, or counts outside
    netem's binomial bounds) is run once more with a new draw, in fresh namespaces; its second run decides."""
    if item.get_closest_marker("netem") is None:
        return None
    from _pytest.runner import runtestprotocol
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in (1, 2):
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        redraw = attempt == 1 and any(k == "raised" and v.get("kind") == "error" and v.get("redraw")
                                      for rep in reports for k, v in rep.user_properties)
        if not redraw:
            break
        item.user_properties[:] = [("evidence", "error on the first draw (the network did not do what was "
                                                 "asked): run again with a new draw")]
        item._initrequest()
    for rep in reports:
        item.ihook.pytest_runtest_logreport(report=rep)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Turns the outcome model's exceptions and the judge's soft failures into the report of the phase."""
    rep = (yield).get_result()
    e = call.excinfo.value if call.excinfo is not None else None
    kind = None
    if isinstance(e, Inconclusive):
        kind = {"kind": "inconclusive", "because": e.because, "text": e.text}
    elif isinstance(e, NotApplicable):
        kind = {"kind": "na", "text": str(e)}
    elif isinstance(e, (EnvError, NotReady)):
        kind = {"kind": "error", "text": str(e).strip(), "redraw": bool(getattr(e, "redraw", False))}
    if kind:
        rep.user_properties.append(("raised", kind))
        if kind["kind"] in ("inconclusive", "na"):
            path, line = item.location[0], item.location[1] or 0
            rep.outcome, rep.longrepr = "skipped", (path, line, f"{kind['kind']}: {kind['text']}")
    judge = getattr(item, "wc_judge", None)
    if call.when == "call" and judge and rep.passed and judge.failures():
        rep.outcome, rep.longrepr = "failed", "\n".join(judge.failures())


class _Collector:
    """Per-scenario results as the reports arrive (in the xdist controller too, where the workers' user
    properties arrive with them)."""

    def __init__(self):
        self.results = {}

    def add(self, rep):
        props = rep.user_properties
        cls = next((v for k, v in props if k == "clauses"), None)
        if not cls:
            return
        r = self.results.setdefault(rep.nodeid, {
            "nodeid": rep.nodeid, "name": rep.nodeid.split("::")[-1], "clauses": cls, "outcome": "passed",
            "evidence": [], "capture": None, "records": {}, "raised": None, "failure": None})
        raised = None
        for k, v in props:
            if k == "evidence" and v not in r["evidence"]:
                r["evidence"].append(v)
            elif k == "capture":
                r["capture"] = v
            elif k == "verdict":
                r["records"][v[0]] = v[1]
            elif k == "raised":
                raised = v
            elif k == "crash" and v not in r.setdefault("crashes", []):
                r["crashes"].append(v)
        if rep.when == "teardown":
            if rep.failed:
                # The harness failed after the scenario (capture, leak check): an error, unless the scenario
                # itself already failed, whose verdict stands.
                if r["outcome"] in ("passed", "skipped", "na"):
                    r["outcome"] = "error"
                r["evidence"].append(f"error (teardown): {_failure_text(rep)}")
            return
        if raised:
            r["outcome"], r["raised"] = raised["kind"], raised
            text = raised["text"] or ""
            if raised["kind"] == "inconclusive":
                r["evidence"].append(inconclusive_text(raised["because"], text))
            elif raised["kind"] == "error":
                r["evidence"].append("error: " + " | ".join(text.splitlines()[:3])[:600])
            else:
                r["evidence"].append(text.splitlines()[0][:600] if text else "n/a")
        elif rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            reason = reason.removeprefix("Skipped: ")
            r["outcome"] = "na" if reason.startswith("n/a") else "skipped"
            r["evidence"].append(reason)
        elif rep.failed and rep.when == "setup":
            r["outcome"] = "error"
            r["evidence"].append(f"error (setup): {_failure_text(rep)}")
        elif rep.failed:
            msg = _failure_text(rep)
            r["outcome"], r["failure"] = "failed", msg
            if not any(msg in e for e in r["evidence"]):
                r["evidence"].append(msg if _CLAUSE_ID.match(msg) else f"{'/'.join(cls)}: {msg}")


def _failure_text(rep):
    crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
    msg = crash.message if crash else str(rep.longrepr).splitlines()[-1]
    # "pkg.module.NoReply: text" -> "text"
    msg = re.sub(r"^(?:[\w.]+\.)?(?:AssertionError|NoReply|NotReady): ", "", msg)
    return msg.split("\nassert ")[0][:600]


def clause_verdicts(result, sut):
    """{clause: {"verdict", "because", "text"}} for one scenario result.

    A clause the scenario recorded keeps its record. Otherwise: a clause of a part not under test is n/a; a
    scenario that raised gives its kind to every unrecorded clause; a failed scenario fails the clause its
    message names (else its first clause), and its other clauses were not observed: inconclusive.
    """
    out = {}
    failed = set()
    if result["outcome"] == "failed":
        m = _CLAUSE_ID.match(result.get("failure") or "")
        named = m.group(1) if m else None
        failed = {x for x in result["clauses"] if named and (x == named or clause_of(x) == named)} or \
            {x for x in result["clauses"] if result["records"].get(x, {}).get("verdict") == "fail"} or \
            {result["clauses"][0]}
    blame = ", ".join(sorted(failed))
    for cid in result["clauses"]:
        rec = result["records"].get(cid)
        if sut is not None and not sut.target and not any(sut.has(p) for p in clause_parts(cid)):
            out[cid] = {"verdict": "n/a", "because": None,
                        "text": f"n/a: no {' or '.join(clause_parts(cid))} under test"}
        elif rec:
            out[cid] = rec
        elif result["outcome"] == "failed":
            if cid in failed:
                out[cid] = {"verdict": "fail", "because": None, "text": result.get("failure")}
            else:
                out[cid] = {"verdict": "inconclusive", "because": clause_of(sorted(failed)[0]),
                            "text": f"not observed: the scenario stopped when {blame} failed"}
        else:
            raised = result.get("raised") or {}
            v = {"passed": "pass", "inconclusive": "inconclusive", "error": "error", "na": "n/a",
                 "skipped": "skip"}[result["outcome"]]
            out[cid] = {"verdict": v, "because": raised.get("because"), "text": raised.get("text")}
    return out


_collector = _Collector()


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--clauses")
    if not wanted:
        return
    wanted = set(wanted.split(","))
    keep, drop = [], []
    for item in items:
        m = item.get_closest_marker("clause")
        ids = set(m.args) | {clause_of(x) for x in m.args} if m else set()
        (keep if wanted & ids else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session):
    path = session.config.getoption("--list-file")
    if path:
        rows = [{"nodeid": i.nodeid, "name": i.nodeid.split("::")[-1],
                 "clauses": list(i.get_closest_marker("clause").args) if i.get_closest_marker("clause") else [],
                 "netem": i.get_closest_marker("netem") is not None,
                 "lab_only": i.get_closest_marker("lab_only") is not None} for i in session.items]
        pathlib.Path(path).write_text(json.dumps(rows, indent=1) + "\n")


def pytest_configure(config):
    config.addinivalue_line("markers", "clause(*ids): the requirements of PROTOCOL.md a scenario checks (T5.1, ...)")


def pytest_runtest_logreport(report):
    _collector.add(report)


def results(config):
    """The collected scenario results, each with its per-clause verdicts."""
    sut = SUT.from_config(config)
    out = []
    for r in _collector.results.values():
        r = dict(r)
        r["verdicts"] = clause_verdicts(r, sut)
        out.append(r)
    return out


def pytest_sessionfinish(session, exitstatus):
    cfg = session.config
    if hasattr(cfg, "workerinput"):
        return
    res = results(cfg)
    if cfg.getoption("--results-file"):
        pathlib.Path(cfg.getoption("--results-file")).write_text(json.dumps(res, indent=1) + "\n")
    outdir = cfg.getoption("--report-dir")
    if outdir:
        rep = report_mod.aggregate(res, clause_db.load(), SUT.from_config(cfg).describe())
        report_mod.write_all(rep, outdir)
