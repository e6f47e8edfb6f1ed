"""Where a run writes and what it records about itself: its own directory, the `latest` link, and the report's
"run" object (when, from which commit, on which kernel, with which tools, and the SHA-256 of every capture it
cites), so that a report is never read against captures that a later run replaced."""
import datetime
import hashlib
import os
import pathlib
import platform
import re
import shlex
import subprocess

from wcrun import paths

_INTERPRETERS = {"python", "python3", "java", "sh", "bash", "env", "exec", "node", "ruby", "perl", "stdbuf",
                 "timeout", "nice", "socat"}


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def short_name(sut):
    """A short, file-name-safe name of the implementation under test, from its command templates."""
    if sut.get("reference"):
        return "reference"
    if sut.get("target"):
        return "target-" + re.sub(r"[^A-Za-z0-9.-]", "_", sut["target"])[:40]
    names = []
    for part in ("tcp-server", "udp-server", "tcp-client", "udp-client"):
        cmd = sut.get(part)
        if not cmd:
            continue
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = cmd.split()
        skip_next = False
        for w in words:
            if skip_next:
                skip_next = False
                continue
            if w in ("-cp", "-classpath", "-c", "-jar", "-m"):
                skip_next = w in ("-cp", "-classpath")
                continue
            base = pathlib.PurePath(w).name
            if base in _INTERPRETERS or base.startswith(("python3", "-")) or "{" in w:
                continue
            names.append(re.sub(r"\.(py|java|class|jar|sh)$", "", base))
            break
    name = "+".join(dict.fromkeys(names)) or "custom"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:48]


def new_run_dir(sut, started):
    """captures/runs/<UTC time>-<short name>/, created."""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    runs = paths.runs()
    d = runs / f"{stamp}-{short_name(sut)}"
    n = 1
    while d.exists():
        n += 1
        d = runs / f"{stamp}-{short_name(sut)}-{n}"
    d.mkdir(parents=True)
    return d


def point_latest(run_dir):
    """captures/latest -> runs/<this run>, replaced atomically."""
    captures = paths.captures()
    link = captures / "latest"
    tmp = captures / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(run_dir, captures))
    os.replace(tmp, link)


def _out(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _git(*args):
    """git's answer about the checkout, or None (installed, or no git)."""
    top = paths.checkout()
    return (_out(["git", *args], cwd=top) or None) if top else None


class Versions:
    """What the report's "run" object says about the code and the tools: the commit, `git describe` and
    tshark's version. The commands start with the run and are read when its report is written: tshark alone
    takes seconds to start on a loaded machine, and a stopped run must not wait for it (issue 16: it stops
    within 2 s)."""

    ANSWER_S = 20       # how long an answer may take when the run was not stopped

    def __init__(self):
        top = paths.checkout()
        cmds = {"tshark": (["tshark", "--version"], None)}
        if top:
            cmds["commit"] = (["git", "rev-parse", "HEAD"], top)
            cmds["describe"] = (["git", "describe", "--always", "--dirty"], top)
        self.procs = {}
        for name, (argv, cwd) in cmds.items():
            try:
                self.procs[name] = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                    stderr=subprocess.DEVNULL, text=True)
            except OSError:     # not installed: the report says null
                pass

    def read(self, wait=True):
        """{"commit", "describe", "tshark": the first line of each answer, or None}. Without wait (a stopped
        run), a command that has not answered yet is killed and its answer is None. Reads once."""
        out = {"commit": None, "describe": None, "tshark": None}
        for name, p in self.procs.items():
            try:
                text = p.communicate(timeout=self.ANSWER_S if wait else 0)[0]
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                continue
            out[name] = (text.strip().splitlines() or [None])[0] if p.returncode == 0 else None
        self.procs = {}
        return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_object(started, finished, sut, stages, out_dir, cited, complete, versions, interrupted=None,
               selection=None, repeat=1):
    """The report's "run" object. cited: capture paths (str or Path) the report links; versions:
    Versions.read()'s answer."""
    captures = {}
    for p in sorted({str(p) for p in cited}):
        path = pathlib.Path(p)
        if path.exists():
            captures[os.path.relpath(path, out_dir)] = sha256(path)
    return {
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "commit": versions["commit"],
        "describe": versions["describe"] or paths.installed_version(),
        "host_kernel": platform.release(),
        "uml": any(s.get("where") == "uml" for s in stages),
        "stages": stages,
        "tshark": versions["tshark"],
        "python": platform.python_version(),
        "commands": {k: v for k, v in sut.items() if k not in ("reference",)},
        "reference": bool(sut.get("reference")),
        "out": str(out_dir),
        "complete": complete,
        "interrupted": interrupted,
        "selection": selection,
        "repeat": repeat,
        "captures_sha256": captures,
    }


def verify(report, out_dir):
    """[(capture, problem)] for the captures whose SHA-256 no longer matches the report (or that are gone)."""
    bad = []
    for rel, digest in (report.get("run") or {}).get("captures_sha256", {}).items():
        p = pathlib.Path(out_dir) / rel
        if not p.exists():
            bad.append((rel, "missing"))
        elif sha256(p) != digest:
            bad.append((rel, "changed since the report was written"))
    return bad
