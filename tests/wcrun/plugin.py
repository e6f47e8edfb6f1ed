"""pytest plugin: the implementation-under-test options, clause tagging, and the report at the end."""
import json
import os
import pathlib
import re

import pytest

from wcrun import clauses as clause_db
from wcrun import report as report_mod

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pytest_addoption(parser):
    g = parser.getgroup("wirecheck", "implementation under test")
    for part in ("tcp-server", "udp-server", "tcp-client", "udp-client"):
        g.addoption(f"--{part}-cmd", default=None, metavar="CMD",
                    help=f"shell command template for the {part}, with {{host}} and {{port}} "
                         f"(default: wirecheck's own {part})")
    g.addoption("--target", default=None, metavar="HOST:PORT",
                help="test a server on another machine at the application level (no namespaces, no impairment)")
    g.addoption("--report-dir", default=None, metavar="DIR",
                help="write report.json, report.md and report.html here at the end")
    g.addoption("--clauses", default=None, metavar="IDS",
                help="run only the scenarios that check one of these comma-separated clauses (e.g. T4,U1)")
    g.addoption("--results-file", default=None, metavar="FILE",
                help="write the raw per-scenario results as JSON (scripts/conformance merges several runs)")


class SUT:
    """What is under test: command templates per part; None marks a part that was not given."""

    PARTS = ("tcp-server", "udp-server", "tcp-client", "udp-client")

    def __init__(self, given, target=None):
        """given: {part: command template or None}; target: "HOST:PORT" or None."""
        bindir = pathlib.Path(os.environ.get("WIRECHECK_BIN", ROOT / "build" / "bin"))
        self.custom = any(given.values())
        defaults = {
            "tcp-server": f"{bindir}/tcp-server -p {{port}}",
            "udp-server": f"{bindir}/udp-server -p {{port}}",
            "tcp-client": f"{bindir}/tcp-client --raw {{host}} {{port}}",
            "udp-client": f"{bindir}/udp-client --raw {{host}} {{port}}",
        }
        # With any part given, the others are not under test: their clauses are n/a, and where a scenario
        # needs a peer for the part under test (a server for a client), the reference plays it.
        self.cmds = {p: (given[p] if self.custom else defaults[p]) for p in given}
        self.reference = defaults
        self.target = target

    @classmethod
    def from_config(cls, config):
        return cls({p: config.getoption(f"--{p}-cmd") for p in cls.PARTS}, config.getoption("--target"))

    def has(self, part):
        if self.target:
            return part in ("tcp-server", "udp-server")
        return self.cmds.get(part) is not None

    def describe(self):
        d = {p: c for p, c in self.cmds.items() if c}
        if self.target:
            d = {"target": self.target}
        d["reference"] = not self.custom and not self.target
        return d

    def command(self, part, host, port):
        """The part's command; the reference's when the part is not under test (it is then a peer)."""
        return (self.cmds[part] or self.reference[part]).format(host=host, port=port)


@pytest.fixture(scope="session")
def sut(pytestconfig):
    return SUT.from_config(pytestconfig)


@pytest.fixture(autouse=True)
def _clause_tags(request):
    m = request.node.get_closest_marker("clause")
    if m:
        request.node.user_properties.append(("clauses", list(m.args)))


@pytest.fixture
def evidence(request):
    """evidence(text): attach a line of evidence to this scenario's clauses in the report."""
    def add(text):
        request.node.user_properties.append(("evidence", str(text)))
    return add


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


class _Collector:
    def __init__(self):
        self.results = {}

    def add(self, rep):
        ev, cap, cls = [], None, None
        for k, v in rep.user_properties:
            if k == "clauses":
                cls = v
            elif k == "evidence":
                ev.append(v)
            elif k == "capture":
                cap = v
        if not cls:
            return
        r = self.results.setdefault(rep.nodeid, {
            "nodeid": rep.nodeid, "name": rep.nodeid.split("::")[-1], "clauses": cls,
            "outcome": "passed", "evidence": [], "capture": None})
        r["evidence"] = list(dict.fromkeys(r["evidence"] + ev))
        r["capture"] = cap or r["capture"]
        if rep.skipped:
            reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
            reason = reason.removeprefix("Skipped: ")
            r["outcome"] = "na" if reason.startswith("n/a") else "skipped"
            r["evidence"].append(reason)
        elif rep.failed:
            r["outcome"] = "failed"
            crash = getattr(getattr(rep, "longrepr", None), "reprcrash", None)
            msg = crash.message if crash else str(rep.longrepr).splitlines()[-1]
            # "pkg.module.NoReply: text" -> "text"; evidence always names the clause it speaks for.
            msg = re.sub(r"^(?:[\w.]+\.)?(?:AssertionError|NoReply|NotReady): ", "", msg)
            if not re.match(r"^[TUWC]\d+\b", msg):
                msg = f"{'/'.join(cls)}: {msg}"
            if rep.when != "call":
                msg = f"{rep.when} error: {msg}"
            r["evidence"].append(msg.split("\nassert ")[0][:600])


_collector = _Collector()


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--clauses")
    if not wanted:
        return
    wanted = set(wanted.split(","))
    keep, drop = [], []
    for item in items:
        m = item.get_closest_marker("clause")
        (keep if m and wanted & set(m.args) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line("markers", "clause(*ids): the PROTOCOL.md clauses a scenario checks")


def pytest_runtest_logreport(report):
    # Runs in the xdist controller too, where the workers' user_properties arrive.
    _collector.add(report)


def pytest_sessionfinish(session, exitstatus):
    cfg = session.config
    if hasattr(cfg, "workerinput"):
        return
    results = list(_collector.results.values())
    if cfg.getoption("--results-file"):
        pathlib.Path(cfg.getoption("--results-file")).write_text(json.dumps(results, indent=1) + "\n")
    outdir = cfg.getoption("--report-dir")
    if not outdir:
        return
    rep = report_mod.aggregate(results, clause_db.load(), SUT.from_config(cfg).describe())
    rep["conforms"] = report_mod.conforms(rep)
    extra = pathlib.Path(outdir) / "reliability.html"
    report_mod.write_all(rep, outdir, extra.read_text() if extra.exists() else "")
