"""Checks the captures a run wrote as a user opening them would: every file in strict time order, every packet
labelled, and in the files of one capture point (<stem>.client.pcapng, <stem>.server.pcapng) no Wireshark TCP
analysis flag that did not happen on that link, judged against the two sides of <stem>.pcapng matched packet by
packet (lab.analysis).

    python3 -m wcrun.capcheck [--since EPOCH] [-j N] [-q] PATH...

PATH is a capture or a directory searched for *.pcapng. scripts/test runs it last, on every capture it wrote.
Exit status: 0 all good, 1 a file failed a check, 2 usage error (no capture found is one).
"""
import argparse
import collections
import concurrent.futures
import pathlib
import sys
import time

from lab import analysis, pcapfile

SIDES = {"client": 0, "server": 1}


def time_order(f):
    """None when the capture is in strict time order (capinfos' sense: no packet earlier than the one before),
    else what is not."""
    for n in range(1, len(f.packets)):
        a, b = f.packets[n - 1].ts_ns, f.packets[n].ts_ns
        if b < a:
            return f"frame {n + 1} is {(a - b) / 1e6:.3f} ms earlier than frame {n}"
    return None


def unlabelled(f):
    """None when every packet carries the sniffer's label (a packet comment), else which do not."""
    bare = [n for n, p in enumerate(f.packets, 1) if not p.comments]
    return f"{len(bare)} packets without a label (frames {', '.join(map(str, bare[:5]))}" \
           f"{', ...' if len(bare) > 5 else ''})" if bare else None


def side_of(path):
    """('client' or 'server', the two-sided file beside it) for a one-side file, else None."""
    for side in SIDES:
        suffix = f".{side}.pcapng"
        if path.name.endswith(suffix):
            return side, path.with_name(path.name[:-len(suffix)] + ".pcapng")
    return None


class Checker:
    def __init__(self):
        self.truths = {}

    def truth(self, both):
        if both not in self.truths:
            self.truths[both] = analysis.Truth(both)
        return self.truths[both]

    def check(self, path):
        """{problems: [...], flagged: n, unjudged: reason or None} for one file."""
        out = {"problems": [], "flagged": 0, "unjudged": None}
        try:
            f = pcapfile.read(path)
        except pcapfile.FormatError as e:
            out["problems"].append(f"unreadable: {e}")
            return out
        if (bad := time_order(f)):
            out["problems"].append(f"not in time order: {bad}")
        if (bad := unlabelled(f)):
            out["problems"].append(bad)
        side = side_of(path)
        if side is None:
            return out
        name, both = side
        flags = analysis.tshark_flags(path)
        out["flagged"] = len(flags)
        if not flags:
            return out
        if not both.exists():
            out["problems"].append(f"{len(flags)} frames flagged, and no {both.name} beside it to judge them by")
            return out
        try:
            truth = self.truth(both)
        except analysis.NoHandshake as e:
            out["unjudged"] = str(e)
            return out
        false = collections.Counter(f for n, fl in flags.items() for f in truth.judge(SIDES[name], n - 1, fl))
        if false:
            out["problems"].append(f"Wireshark flags what did not happen on this link: {dict(false)} "
                                   f"(of {len(flags)} flagged frames)")
        return out


def find(paths, since):
    files = []
    for p in map(pathlib.Path, paths):
        found = [p] if p.is_file() else sorted(p.rglob("*.pcapng")) if p.is_dir() else []
        files += [f for f in found if f.name.endswith(".pcapng") and f.stat().st_mtime >= since]
    return files


def main(argv):
    ap = argparse.ArgumentParser(prog="capcheck", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", metavar="PATH")
    ap.add_argument("--since", type=float, default=0.0, metavar="EPOCH",
                    help="only files modified at or after this time (seconds since the epoch)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="files checked at once (default 2)")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the problems and the summary")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error(f"-j {args.jobs}: must be at least 1")
    files = find(args.paths, args.since)
    if not files:
        print(f"capcheck: no capture in {' '.join(args.paths)}" + (f" since {time.ctime(args.since)}"
              if args.since else ""), file=sys.stderr)
        return 2
    checker, t0, results = Checker(), time.monotonic(), {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
        futures = {ex.submit(checker.check, f): f for f in files}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            f = futures[fut]
            try:
                results[f] = fut.result()
            except (analysis.TsharkError, OSError) as e:
                results[f] = {"problems": [str(e)], "flagged": 0, "unjudged": None}
            if not args.quiet and (n % 200 == 0 or n == len(files)):
                print(f"capcheck: {n}/{len(files)} files, {time.monotonic() - t0:.0f} s", flush=True)
    bad = {f: r for f, r in results.items() if r["problems"]}
    for f, r in sorted(bad.items()):
        for p in r["problems"]:
            print(f"{f}: {p}")
    for f, r in sorted(results.items()):
        if r["unjudged"] and not args.quiet:
            print(f"{f}: {r['flagged']} flagged frames not judged: {r['unjudged']}")
    sides = [r for f, r in results.items() if side_of(f)]
    unordered = sum(1 for r in results.values() if any(p.startswith("not in time") for p in r["problems"]))
    print(f"capcheck: {len(files)} captures, {unordered} out of time order; {len(sides)} one-side files, "
          f"{sum(r['flagged'] for r in sides)} frames flagged by Wireshark's TCP analysis; "
          f"{len(bad)} files with a problem; {time.monotonic() - t0:.1f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
