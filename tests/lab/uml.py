#!/usr/bin/python3
"""Runs the lab where netem exists: natively when this kernel has sch_netem, otherwise inside User-Mode Linux.

    tests/lab/uml.py detect          exit 0 when this kernel has netem (run natively), 1 when not
    tests/lab/uml.py run -- CMD...   boot Debian's linux.uml once with the host's root through hostfs, load the
                                     lab's modules, run CMD in this directory, exit with CMD's status
    tests/lab/uml.py cost [N]        the lab's own cost on this kernel: N topology set-ups and teardowns

scripts/test and scripts/conformance call exactly these two. Inside UML, /tmp is UML's own tmpfs, so the run's
files (command, status, boot stamp) live under the checkout in .uml-run-<pid>/ (git-ignored via /.uml-*).
"""
import argparse
import os
import pathlib
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from lab import netem, netns, proc  # noqa: E402

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
    run_dir = CHECKOUT / f".uml-run-{os.getpid()}"
    run_dir.mkdir(exist_ok=True)
    try:
        return _boot(args, argv, kernel, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _boot(args, argv, kernel, run_dir):
    status = run_dir / "status"
    booted = run_dir / "booted"
    env = {k: v for k, v in os.environ.items() if k in PASS_ENV or k.startswith(PASS_PREFIX)}
    env["WIRECHECK_UML"] = "1"
    if not sys.stdout.isatty():  # UML's console is a terminal even when ours is a pipe or a file
        env.setdefault("PY_COLORS", "0")
        env.setdefault("NO_COLOR", "1")
    script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    script += f"cd {shlex.quote(os.getcwd())} || exit 125\nexec {shlex.join(argv)}\n"
    (run_dir / "cmd").write_text(script)
    cmdline = [kernel, f"mem={args.mem}", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
               f"init={HERE / 'uml-init'}", f"wc_dir={CHECKOUT}", f"wc_run={run_dir}", f"wc_mods={MODULES}",
               f"umid=wc-{os.getpid()}", f"uml_dir={run_dir}", "quiet", "loglevel=1", "con0=fd:0,fd:1", "con=null"]
    why = "this kernel has no sch_netem" if not args.forced else "asked to (--force)"
    print(f"wirecheck lab: running `{shlex.join(argv)}` inside User-Mode Linux ({KERNEL}), because {why}",
          file=sys.stderr, flush=True)
    t0 = time.monotonic()
    boot_s = None
    p = subprocess.Popen(cmdline, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = t0 + args.timeout
        while p.poll() is None:
            if boot_s is None and booted.exists():
                boot_s = time.monotonic() - t0
            if time.monotonic() > deadline:
                return fail(f"UML did not finish within {args.timeout} s; killed it")
            try:
                p.wait(timeout=0.05 if boot_s is None else 0.5)
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        return fail("interrupted; killed UML")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        # UML leaves its helper processes in the group when it dies abruptly
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    total = time.monotonic() - t0
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
    r.add_argument("cmd", nargs=argparse.REMAINDER)
    r.set_defaults(fn=cmd_run)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
