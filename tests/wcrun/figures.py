"""The run's figures: a ladder diagram beside each capture the report cites (the conversation of the scenario
that decided a verdict, with the frames its evidence names highlighted), one per demonstration run (drawn by
the demonstration's analysis, beside its captures in the reliability table), and the lesson page."""
import pathlib
import re
import sys

from lab.pcapfile import FormatError
from wcrun import ladder, lesson

FRAME = re.compile(r"\bframe (\d+)\b")
MAX_BYTES = 8 << 20        # a 10 MB line's capture takes seconds to read: its scenario gets no diagram


def ladder_path(capture):
    p = pathlib.Path(capture)
    return p.with_name(p.name.removesuffix(".pcapng") + ".ladder.svg")


def _draw(capture, frames, title):
    out = ladder_path(capture)
    try:
        ladder.draw(str(capture), out_svg=str(out), highlight_frames=frames, title=title)
    except ladder.LadderError:      # nothing to draw (fragments only, say): the capture link stands alone
        return None
    except (FormatError, OSError, ValueError) as e:
        print(f"conformance: no ladder diagram for {pathlib.Path(capture).name}: {e}", file=sys.stderr)
        return None
    return out


def draw_all(rep):
    """Draws the ladder of every capture the report's clauses cite, from the scenario that wrote it (its first
    repeat); returns {capture path: svg path}, the links report.html and report.md put beside the captures. A
    capture no clause cites has no link in the report, so it gets no diagram either."""
    cited = {p for c in rep["clauses"] for p in c["captures"]}
    done = {}
    for r in rep["scenarios"]:
        cap = r.get("capture")
        if cap not in cited or cap in done or r.get("repeat", 0):
            continue
        p = pathlib.Path(cap)
        if not p.exists() or p.stat().st_size > MAX_BYTES:
            continue
        frames = sorted({int(f) for e in r["evidence"] for f in FRAME.findall(e)})
        svg = _draw(p, frames, f"{r['name']}")
        if svg:
            done[cap] = str(svg)
    return done


def draw_run(capture):
    """The ladder of one demonstration run (its two-sided capture), beside it; returns its path or None."""
    p = pathlib.Path(capture)
    return _draw(p, (), f"demonstration run {p.name.removesuffix('.pcapng')}")


def lesson_page(out_dir):
    """lesson.html beside the report; returns its path, or None when it could not be written."""
    try:
        return lesson.write(str(out_dir))["path"]
    except Exception as e:       # the lesson is a teaching aid: the verdicts stand without it
        print(f"conformance: the lesson page failed: {e}", file=sys.stderr)
        return None
