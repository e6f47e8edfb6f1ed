"""The outcome model: what a scenario says about each clause it checks, and what a clause's verdict is.

A scenario judges each of its clauses on its own: pass, fail, inconclusive (a prerequisite clause failed, so
this one could not be observed: the blocking clause is named), error (the harness or the environment failed:
the implementation never became ready, or the network did not do what the scenario asked), skip or n/a.
A clause's verdict is the worst of its scenarios' in the order fail > error > inconclusive > pass > n/a >
skip, and "flaky" when repeated runs disagree. The run's exit status follows (see EXIT).
"""

VERDICTS = ("pass", "fail", "inconclusive", "error", "flaky", "skip", "n/a", "not run")

_RANK = {"fail": 0, "flaky": 1, "error": 2, "inconclusive": 3, "pass": 4, "n/a": 5, "skip": 6, "not run": 7}

EXIT = {
    "conforms": 0,        # every MUST clause passed or does not apply
    "fails": 1,           # a MUST clause fails (or is flaky)
    "usage": 2,
    "unjudged": 3,        # no MUST clause fails, but some are inconclusive, in error, or were not run
    "sigint": 130,
    "sigterm": 143,
}

# Which part of an implementation a clause speaks for: a clause of a part that is not under test is n/a, even
# when a scenario for another part exercises it (the reference client is the instrument of a server scenario).
CLAUSE_PART = {"T": ("tcp-server",), "U": ("udp-server",), "W1": ("tcp-server",), "W2": ("tcp-server",),
               "W3": ("tcp-server",), "W4": ("udp-server",), "W5": ("tcp-server", "udp-server"),
               "C1": ("tcp-client",), "C2": ("udp-client",)}


def clause_parts(cid):
    """The parts a clause (or a requirement: "W5.2") speaks for."""
    cid = cid.split(".", 1)[0]
    return CLAUSE_PART.get(cid) or CLAUSE_PART.get(cid[0], ())


class Inconclusive(Exception):
    """Raised by a scenario that cannot judge its clauses because `because` (a clause id) failed first."""

    def __init__(self, because, text):
        super().__init__(text)
        self.because = because
        self.text = text


class EnvError(Exception):
    """Raised when the harness or the environment failed: the verdict is error, never pass or fail. With
    redraw, an impaired scenario is run once more with a new draw of the impairment."""

    def __init__(self, text, redraw=False):
        super().__init__(text)
        self.redraw = redraw


class NotApplicable(Exception):
    """Raised when a scenario does not apply to this implementation (for example IPv6 to an IPv4-only one)."""


def inconclusive_text(because, text):
    """How an inconclusive verdict reads everywhere: it names the clause whose failure blocked it."""
    if not because or (text or "").startswith("inconclusive") or because in (text or ""):
        return text
    return f"inconclusive, {because} fails: {text}"


def worst(verdicts):
    """The clause verdict of several scenario verdicts."""
    vs = list(verdicts)
    return min(vs, key=_RANK.__getitem__) if vs else "not run"


def combine_repeats(verdicts):
    """One clause verdict from N repeated runs: the common verdict, or "flaky" when they disagree on
    pass/fail (n/a and skip repeat identically; an error or inconclusive beside passes is flaky too)."""
    vs = set(verdicts)
    if len(vs) <= 1:
        return vs.pop() if vs else "not run"
    return "flaky"


def run_status(clauses, complete=True):
    """(exit status, headline) of a run from its clause rows (dicts with level and verdict)."""
    must = [c for c in clauses if c["level"] == "MUST"]
    if any(c["verdict"] in ("fail", "flaky") for c in must):
        return EXIT["fails"], "DOES NOT CONFORM"
    if not complete:
        return EXIT["unjudged"], "PARTIAL RUN"
    if any(c["verdict"] in ("inconclusive", "error", "not run", "skip") for c in must):
        return EXIT["unjudged"], "INCONCLUSIVE"
    return EXIT["conforms"], "CONFORMS"
