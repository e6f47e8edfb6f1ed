"""Slicing a matrix's cells for the engines that run many copies of one job (a CI matrix, a Kubernetes Indexed
Job, a Slurm array), and merging the slices back.

`--shard I/N` (1 <= I <= N) runs cell k of the stable cell list when k mod N == I-1: the same catalogue always
gives every shard the same cells. `--shard N` takes I from the engine: JOB_COMPLETION_INDEX (Kubernetes) or
SLURM_ARRAY_TASK_ID (Slurm, with --array=0-(N-1)), both counted from 0; GitHub Actions passes I itself."""
import json
import os
import pathlib
import shutil

ENGINE_VARS = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")


def parse(spec, environ=os.environ):
    """(I, N) from "I/N", "N" (I from the engine's variable) or None (1, 1). Raises ValueError naming the rule."""
    if not spec:
        return 1, 1
    i, sep, n = spec.partition("/")
    if not sep:
        i, n = None, spec
    if not n.isdigit() or int(n) < 1:
        raise ValueError(f"{spec!r}: expected I/N or N with N >= 1")
    n = int(n)
    if i is None:
        var = next((v for v in ENGINE_VARS if environ.get(v, "").isdigit()), None)
        if var is None:
            raise ValueError(f"{spec!r}: no shard index: give I/N, or set one of {', '.join(ENGINE_VARS)}")
        i = int(environ[var]) + 1
    elif not i.isdigit():
        raise ValueError(f"{spec!r}: expected I/N with 1 <= I <= N")
    i = int(i)
    if not 1 <= i <= n:
        raise ValueError(f"{spec!r}: shard index {i} is outside 1..{n}")
    return i, n


def select(cells, index, count):
    """The cells of shard index/count: every count-th of the planned order (which interleaves conformance runs
    and pairs so that the shards cost about the same)."""
    return [c for k, c in enumerate(cells) if k % count == index - 1]


class MergeError(ValueError):
    pass


def merge(dirs, out):
    """Reads DIR/matrix.json of each shard, checks that they come from one catalogue (SHA-256), one commit and
    one selection and do not overlap, copies their cells into out/cells, and returns the merged document."""
    docs = []
    for d in dirs:
        p = pathlib.Path(d) / "matrix.json"
        try:
            docs.append((pathlib.Path(d), json.loads(p.read_text())))
        except (OSError, ValueError) as e:
            raise MergeError(f"{p}: {e}") from None
    first = docs[0][1]
    for d, doc in docs[1:]:
        for key, what in (("schema", "format"), ("selection", "selection (-k, --no-netem)"),
                          ("planned", "planned cells")):
            if doc.get(key) != first.get(key):
                raise MergeError(f"{d}: another {what} than {docs[0][0]}: {doc.get(key)!r} against {first.get(key)!r}")
        if doc["catalogue"]["sha256"] != first["catalogue"]["sha256"]:
            raise MergeError(f"{d}: made from another catalogue ({doc['catalogue']['path']}, SHA-256 "
                             f"{doc['catalogue']['sha256'][:12]}) than {docs[0][0]} ({first['catalogue']['sha256'][:12]})")
        if doc.get("commit") != first.get("commit"):
            raise MergeError(f"{d}: made from commit {doc.get('commit')}, {docs[0][0]} from {first.get('commit')}")
    cells, origin = {}, {}
    for d, doc in docs:
        for cid, c in doc["cells"].items():
            if cid in cells:
                raise MergeError(f"cell {cid} is in both {origin[cid]} and {d}")
            cells[cid], origin[cid] = c, d
    out = pathlib.Path(out)
    for cid, d in origin.items():
        src, dst = d / "cells" / cid, out / "cells" / cid
        if src.resolve() != dst.resolve():
            shutil.rmtree(dst, ignore_errors=True)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst, symlinks=True)
    merged = dict(first)
    merged["cells"] = {cid: cells[cid] for cid in sorted(cells)}
    merged["shard"] = {"index": 1, "count": 1, "merged_from": [
        {"dir": str(d), "index": doc["shard"]["index"], "count": doc["shard"]["count"], "cells": len(doc["cells"])}
        for d, doc in docs]}
    merged["started"] = min(doc["started"] for _, doc in docs)
    merged["finished"] = max(doc["finished"] for _, doc in docs)
    merged["wall_s"] = max(doc.get("wall_s", 0) for _, doc in docs)
    merged["missing"] = [c for c in first["planned"] if c not in cells]
    return merged
