"""The run's figures: a ladder diagram beside each scenario's capture (the conversation that decided its
verdict, with the frames its evidence names highlighted), one per demonstration run, and the lesson page."""
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


def draw_all(results, out_dir):
    """Draws the ladders of the scenarios' captures (first repeat) and of the demonstration's runs; returns
    {capture path: svg path}."""
    done = {}
    for r in results:
        cap = r.get("capture")
        if not cap or cap in done or r.get("repeat", 0):
            continue
        p = pathlib.Path(cap)
        if not p.exists() or p.stat().st_size > MAX_BYTES:
            continue
        frames = sorted({int(f) for e in r["evidence"] for f in FRAME.findall(e)})
        svg = _draw(p, frames, f"{r['name']}")
        if svg:
            done[cap] = str(svg)
    for p in sorted(pathlib.Path(out_dir, "reliability").glob("*.pcapng")):
        svg = _draw(p, (), f"demonstration run {p.stem}")
        if svg:
            done[str(p)] = str(svg)
    return done


def lesson_page(out_dir):
    """lesson.html beside the report; returns its path, or None when it could not be written."""
    try:
        return lesson.write(str(out_dir))["path"]
    except Exception as e:       # the lesson is a teaching aid: the verdicts stand without it
        print(f"conformance: the lesson page failed: {e}", file=sys.stderr)
        return None
