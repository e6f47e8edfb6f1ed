#!/usr/bin/python3
"""Runs the lab where netem exists: natively when this kernel has sch_netem, otherwise inside User-Mode Linux.

    tests/lab/uml.py detect          exit 0 when this kernel has netem (run natively), 1 when not
    tests/lab/uml.py run -- CMD...   boot Debian's linux.uml once with the host's root through hostfs, load the
                                     lab's modules, run CMD in this directory, exit with CMD's status
    tests/lab/uml.py cost [N]        the lab's own cost on this kernel: N topology set-ups and teardowns
    tests/lab/uml.py cleanup         remove what dead runs left behind (lab/reap.py)

scripts/test and scripts/conformance call detect and run. The run's files (init, command, status, UML's own
umid directory) live in a per-run directory wc-uml-run-<pid>-<hex> under $TMPDIR, $XDG_RUNTIME_DIR or /tmp,
the first one visible inside UML (its /run is its own) with a plain name: the kernel command line carries only
that name, never the checkout's path, so a checkout anywhere (spaces, quotes, read-only, shared) works.

Interrupt: SIGINT, SIGTERM or SIGHUP to `run` (or its process group: a terminal's Ctrl-C) is written to UML's
second console line, and uml-init sends it to the command's process group; the command cleans up and ends,
uml-init halts, and `run` exits 128 + the signal (130, 143, 129). A command that has not ended STOP_GRACE_S after
the first signal is killed with UML. Before the command has started, UML is killed at once.
"""
import argparse
import os
import pathlib
import platform
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent

if __name__ == "__main__" and not __package__:
    # Run by its path (tests/lab/uml.py): become the module lab.uml, with tests/ on the import path, in this
    # same process (the PID that the caller signals and that names the run's files).
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(HERE.parent), os.environ.get("PYTHONPATH"))))
    os.execv(sys.executable, [sys.executable, "-m", "lab.uml", *sys.argv[1:]])

from lab import netem, netns, proc, reap  # noqa: E402

KERNEL = "linux.uml"
MODULES = "veth,ipv6,sch_netem,ifb,xt_statistic,xt_tcpudp,iptable_filter,ip6table_filter"
# What CMD inherits from the caller's environment (the rest of it means nothing inside UML).
PASS_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "COLUMNS", "CI", "TZ")
PASS_PREFIX = ("WIRECHECK_", "PYTEST_", "PYTHON")


def inside_uml():
    """True when this process runs on a User-Mode Linux kernel."""
    try:
        with open("/proc/cpuinfo") as f:
            return "User Mode Linux" in f.read() or os.environ.get("WIRECHECK_UML") == "1"
    except OSError:
        return os.environ.get("WIRECHECK_UML") == "1"


def kernel_info():
    """{"mode": "native"|"uml", "release": uname -r} for records and capture comments."""
    return {"mode": "uml" if inside_uml() else "native", "release": platform.release()}


def fail(msg):
    """125: the lab could not run CMD at all (so a caller never mistakes it for CMD's own status)."""
    print(f"uml.py: {msg}", file=sys.stderr)
    return 125


def cmd_detect(_args):
    ok = netem.netem_native()
    print(f"wirecheck lab: netem {'works' if ok else 'is missing'} on this kernel ({platform.release()})")
    return 0 if ok else 1


def cmd_cost(args):
    """Times N topology set-ups and teardowns (with one netem qdisc when the kernel has netem)."""
    import json
    import statistics
    rows = []
    for _ in range(args.n):
        with netns.Topology() as t:
            if netem.netem_native():
                imp = netem.Impairments(t)
                imp.set(netem.C2S, delay_ms=1)
        rows.append(t.timings)
    out = {"kernel": kernel_info(), "n": args.n, "netem": netem.netem_native()}
    for k in ("setup_s", "teardown_s"):
        v = sorted(r[k] for r in rows)
        out[k] = {"median": round(statistics.median(v), 4), "min": round(v[0], 4), "max": round(v[-1], 4)}
    print(json.dumps(out))
    return 0


# Inside UML these are UML's own (uml-init mounts them), so a host directory under them is invisible there.
UML_SHADOWED = ("/run", "/proc", "/sys", "/dev")
# What the kernel command line may carry: it splits at spaces and knows no quoting.
CMDLINE_SAFE = re.compile(r"[A-Za-z0-9/._+-]{1,160}")
STOP_GRACE_S = float(os.environ.get("WIRECHECK_UML_STOP_GRACE", "3.5"))  # after SIGINT/SIGTERM: the command's time to clean up


def runtime_dir():
    """The directory for this run's UML directory: the first of $TMPDIR, $XDG_RUNTIME_DIR and /tmp that is
    writable, visible inside UML (the host's root through hostfs, minus what uml-init mounts over it) and
    spelled so that the kernel command line can carry it. None when there is none."""
    for d in reap.runtime_dirs():
        if (CMDLINE_SAFE.fullmatch(d) and os.access(d, os.W_OK | os.X_OK)
                and not any(d == m or d.startswith(m + "/") for m in UML_SHADOWED)):
            return d
    return None


def cmd_run(args):
    argv = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not argv:
        return fail("run: give the command after --")
    kernel = shutil.which(KERNEL)
    if not kernel:
        return fail(f"cannot boot User-Mode Linux: {KERNEL} is not installed. "
                    "Install it with: apt-get install user-mode-linux kmod")
    if not shutil.which("modprobe"):
        return fail("modprobe is missing (UML loads sch_netem with it). Install it with: apt-get install kmod")
    base = runtime_dir()
    if base is None:
        return fail(f"no directory for the run: none of {reap.runtime_dirs()} is writable, outside /run and "
                    "free of spaces and quotes; set TMPDIR to one (for example TMPDIR=/tmp)")
    reap.ensure_warden()   # if this process is killed, the warden stops UML and removes the run directory
    run_dir = pathlib.Path(base) / f"{reap.UML_RUN_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    run_dir.mkdir(mode=0o700)
    try:
        (run_dir / "owner").write_text(reap.owner_id() + "\n")
        # init= must be a path the command line can carry: a copy of uml-init in the run directory, whatever
        # the checkout's path (spaces, quotes, non-ASCII letters, length)
        shutil.copyfile(HERE / "uml-init", run_dir / "init")
        os.chmod(run_dir / "init", 0o755)
        return _boot(args, argv, kernel, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _group_pids(pgid):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", "rb") as f:
                    s = f.read()
            except OSError:
                continue
            rest = s[s.rindex(b")") + 2:].split()
            if int(rest[2]) == pgid and rest[0] != b"Z":
                pids.append(int(d))
    return pids


def _kill_uml(p):
    """SIGKILL UML's whole process group and wait until none of it is left (UML's helpers included)."""
    for _ in range(2):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if p.poll() is None:
            p.wait()
        left = _group_pids(p.pid)
        if not left:
            return
        reap._wait_gone(left, 2.0)


def _boot(args, argv, kernel, run_dir):
    status = run_dir / "status"
    booted = run_dir / "booted"
    env = {k: v for k, v in os.environ.items()
           if (k in PASS_ENV or k.startswith(PASS_PREFIX)) and k != reap.ENV}
    env["WIRECHECK_UML"] = "1"
    if not sys.stdout.isatty():  # UML's console is a terminal even when ours is a pipe or a file
        env.setdefault("PY_COLORS", "0")
        env.setdefault("NO_COLOR", "1")
    script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    script += f"cd {shlex.quote(os.getcwd())} || exit 125\nexec {shlex.join(argv)}\n"
    (run_dir / "cmd").write_text(script)
    # con1 is uml-init's control line: its input is ctl (we write a signal's name, uml-init forwards it to
    # the command's process group), its output is note (uml-init says "booted" there).
    ctl_r, ctl_w = os.pipe()
    note_r, note_w = os.pipe()
    cmdline = [kernel, f"mem={args.mem}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
               f"init={run_dir / 'init'}", f"wc_run={run_dir}", f"wc_mods={MODULES}",
               f"umid=wc-{os.getpid()}", f"uml_dir={run_dir}", "quiet", "loglevel=1", "con0=fd:0,fd:1",
               f"con1=fd:{ctl_r},fd:{note_w}", "con=null"]
    why = args.because or ("this kernel has no sch_netem" if not args.forced else "asked to (--force)")
    print(f"wirecheck lab: running `{shlex.join(argv)}` inside User-Mode Linux ({KERNEL}), because {why}",
          file=sys.stderr, flush=True)
    sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    old_wakeup = signal.set_wakeup_fd(sig_w, warn_on_full_buffer=False)
    t0 = time.monotonic()
    boot_s = stop_sig = stop_t = None
    p = None
    killed = False
    try:
        p = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(ctl_r, note_w),
                             preexec_fn=proc.die_with_parent(signal.SIGKILL))
        os.close(ctl_r)
        os.close(note_w)
        ctl_r = note_w = None
        os.set_blocking(ctl_w, False)
        pidfd = os.pidfd_open(p.pid)
        deadline = t0 + args.timeout
        watch = [pidfd, note_r, sig_r]
        while True:
            until = deadline if stop_t is None else min(deadline, stop_t + STOP_GRACE_S)
            ready, _, _ = select.select(watch, [], [], max(0.0, until - time.monotonic()))
            if sig_r in ready:
                for s in os.read(sig_r, 64):
                    if stop_sig is None:
                        stop_sig, stop_t = s, time.monotonic()
                        print(f"\nwirecheck lab: {signal.Signals(s).name}: stopping the command inside UML",
                              file=sys.stderr, flush=True)
                    if boot_s is None:    # nothing of the command runs yet: stop UML at once
                        _kill_uml(p)
                        break
                    try:    # again on a second signal: uml-init forwards each (the lab ignores repeats)
                        os.write(ctl_w, signal.Signals(s).name[3:].encode() + b"\n")
                    except OSError:
                        pass
            if note_r in ready:
                data = os.read(note_r, 4096)
                if not data:
                    watch.remove(note_r)
                elif boot_s is None and b"booted" in data:
                    boot_s = time.monotonic() - t0
            if pidfd in ready or p.poll() is not None:
                break
            now = time.monotonic()
            if stop_t is not None and now >= stop_t + STOP_GRACE_S:
                print(f"wirecheck lab: the command did not stop within {STOP_GRACE_S} s; killed UML",
                      file=sys.stderr, flush=True)
                killed = True
                break
            if now >= deadline:
                return fail(f"UML did not finish within {args.timeout} s; killed it")
        os.close(pidfd)
    finally:
        if p is not None:
            _kill_uml(p)    # UML leaves its helper processes in the group when it dies abruptly
        signal.set_wakeup_fd(old_wakeup)
        for s, h in old.items():
            signal.signal(s, h)
        for fd in (ctl_r, ctl_w, note_r, note_w, sig_r, sig_w):
            if fd is not None:
                os.close(fd)
    total = time.monotonic() - t0
    if killed:   # a sniffer inside had no time to complete its file: keep what it wrote, as evidence
        for line in reap.reap_partials():
            print(f"wirecheck lab: {line}", file=sys.stderr, flush=True)
    if stop_sig is not None:
        print(f"wirecheck lab: interrupted by {signal.Signals(stop_sig).name}: UML stopped "
              f"{time.monotonic() - stop_t:.2f} s after it", file=sys.stderr, flush=True)
        return 128 + stop_sig
    if boot_s is None and booted.exists():
        boot_s = total
    if not booted.exists():
        return fail(f"User-Mode Linux did not boot ({KERNEL} exited {p.returncode} after {total:.1f} s). "
                    "It needs: apt-get install user-mode-linux kmod, and /usr/lib/uml/modules/$(linux.uml "
                    "--version) with sch_netem")
    if not status.exists():
        return fail(f"UML booted but `{shlex.join(argv)}` left no exit status in {status}")
    rc = int(status.read_text().strip() or 125)
    print(f"\nwirecheck lab: UML finished: exit {rc}, boot {boot_s:.2f} s, total {total:.1f} s",
          file=sys.stderr, flush=True)
    return rc


def cmd_cleanup(_args):
    """What `scripts/conformance --cleanup` does: lab.reap.reap_stale(), each removal printed."""
    return reap.main([])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("detect", help="exit 0 when native netem works, 1 when not").set_defaults(fn=cmd_detect)
    c = sub.add_parser("cost", help="time N topology set-ups and teardowns on this kernel")
    c.add_argument("n", type=int, nargs="?", default=10)
    c.set_defaults(fn=cmd_cost)
    r = sub.add_parser("run", help="run CMD inside UML and exit with its status")
    r.add_argument("--mem", default="1024M")
    r.add_argument("--timeout", type=float, default=3600.0, help="kill UML after this many seconds")
    r.add_argument("--force", dest="forced", action="store_true", help="(only said in the banner line)")
    r.add_argument("--because", metavar="TEXT", help="why UML: said in the banner line")
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    r.set_defaults(fn=cmd_run)
    sub.add_parser("cleanup", help="remove what dead runs left behind (lab/reap.py)").set_defaults(fn=cmd_cleanup)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
