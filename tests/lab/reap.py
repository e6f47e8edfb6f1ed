#!/usr/bin/python3
"""Nothing of the lab outlives its run: owner marks, the per-run warden, and the reaper of dead runs' leftovers.

    /usr/bin/python3 tests/lab/reap.py [--captures DIR]   remove what dead runs left behind; print each removal

Every run that uses the lab is an *owner*, identified as "<pid>:<start time>:<boot id>". The lab marks what it
creates with its owner:
- processes (servers, clients, sniffers, linux.uml and all their descendants) carry WIRECHECK_LAB_OWNER in their
  environment, which children inherit even when they leave the process group or the session;
- namespaces are named wc…-<pid>-<hex>-<role> (lab.netns), UML run directories wc-uml-run-<pid>-<hex> (lab.uml),
  and hold their owner file.
An owner is dead when its pid no longer runs with the same start time (pid reuse is therefore no cover).

Why a warden process, and not only the kernel's parent-death signal or a cgroup: PR_SET_PDEATHSIG reaches the
direct child only (a shell command template's own children are not told), it fires when the *thread* that
forked exits (the lab works from helper threads), and it is cleared by a privilege drop (-Z); a cgroup needs a
writable cgroup2 hierarchy, which containers and CI runners often lack, and still needs someone alive to kill it.
So each owner starts, at its first use of the lab, one small warden in its own session: it blocks reading a pipe
whose only writer is the owner, and the kernel closes that pipe however the owner dies (SIGKILL included). On
EOF the warden reaps exactly that owner's leftovers with the same code as reap_stale() below, then exits. Direct
children also get PR_SET_PDEATHSIG (lab.proc), so they hear at once even if the warden itself was killed; and
whatever escapes both (the warden SIGKILLed with its owner) is found by reap_stale() at the start of the next run.
Inside User-Mode Linux no warden is needed: the UML instance dies with its host run, and everything with it.
"""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

ENV = "WIRECHECK_LAB_OWNER"
CHECKOUT = pathlib.Path(__file__).resolve().parent.parent.parent
UML_RUN_PREFIX = "wc-uml-run-"
# wc-<pid>-<hex>-<role> (lab.netns.Topology, any wc* prefix such as the demonstration's wcd) and
# wc-probe-<pid>-<hex> (lab.netem.netem_native)
NETNS_RE = re.compile(r"^wc[a-z]*-(?:probe-)?(\d+)-[0-9a-f]+(?:-[a-z]+)?$")
RUNDIR_RE = re.compile(r"^(?:" + re.escape(UML_RUN_PREFIX) + r"|\.uml-run-)(\d+)(?:-[0-9a-f]+)?$")
GRACE_S = 1.5       # how long a dead run's processes get, after SIGTERM, to close their files
_OS_PIDFD = hasattr(os, "pidfd_open")


# --- owners ---------------------------------------------------------------------------------------------
def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return "0"


BOOT_ID = _boot_id()


def start_time(pid):
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(b")") + 2:].split()[19])


def owner_id(pid=None):
    """This process's owner mark: '<pid>:<start time>:<boot id>'."""
    pid = pid or os.getpid()
    return f"{pid}:{start_time(pid)}:{BOOT_ID}"


def parse_owner(mark):
    """(pid, start time or None, boot id or None) from a mark or a bare pid; None when malformed."""
    parts = str(mark).split(":")
    try:
        return int(parts[0]), (int(parts[1]) if len(parts) > 1 and parts[1] != "None" else None), \
            (parts[2] if len(parts) > 2 else None)
    except ValueError:
        return None


def owner_alive(mark):
    """True unless the owner is certainly gone. A mark from another kernel (UML's, seen from the host, or the
    reverse) cannot be judged here and counts as alive."""
    p = parse_owner(mark)
    if p is None:
        return True
    pid, st, boot = p
    if boot is not None and boot != BOOT_ID:
        return True
    now = start_time(pid)
    return now is not None and (st is None or now == st)


# --- the warden ------------------------------------------------------------------------------------------
_warden = {"marked": None, "pid": None, "proc": None, "fd": None}


def kernel_is_uml():
    try:
        with open("/proc/cpuinfo") as f:
            return "User Mode Linux" in f.read()
    except OSError:
        return os.environ.get("WIRECHECK_UML") == "1"


def mark_owner():
    """Marks this process as an owner: WIRECHECK_LAB_OWNER in os.environ, which every child inherits. Returns
    the mark. (A child of another owner replaces the inherited mark with its own the first time.)"""
    me = os.getpid()
    if _warden["marked"] != me:
        os.environ[ENV] = owner_id(me)
        _warden["marked"] = me
    return os.environ[ENV]


def ensure_warden():
    """Marks this process as an owner (mark_owner()) and starts its warden once.

    Called by the lab before it starts anything that lives on (lab.proc.Process, lab.netns.Topology,
    lab.uml run); cheap after the first call. Returns the owner mark.
    """
    mark = mark_owner()
    me = os.getpid()
    if _warden["pid"] == me:
        return mark
    _warden.update(pid=me, proc=None, fd=None)
    if kernel_is_uml() or os.environ.get("WIRECHECK_NO_WARDEN") == "1":
        return mark
    r, w = os.pipe()  # both ends close-on-exec: no child of ours keeps the warden waiting
    try:
        env = dict(os.environ)
        env.pop(ENV, None)
        _warden["proc"] = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--watch", mark], stdin=r, stdout=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd="/")
    finally:
        os.close(r)
    _warden["fd"] = w   # held until this process ends; the kernel closes it on any death
    return mark


def _watch(mark, captures):
    """The warden's life: wait for EOF on stdin (the owner is gone), then reap what it left."""
    for s in (signal.SIGINT, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)   # a terminal's Ctrl-C is for the owner; we act when it is gone
    while True:
        try:
            if not os.read(0, 4096):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    lines = reap_stale(captures, owner=mark)
    for line in lines:
        print(f"wirecheck lab: run {mark.split(':')[0]} ended without cleaning up: {line}", file=sys.stderr)
    return 0


# --- what is there ----------------------------------------------------------------------------------------
def _read(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def processes():
    """[{pid, pgrp, owner, exe, comm, netns}] of every process (owner: its WIRECHECK_LAB_OWNER or None)."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        stat = _read(f"/proc/{d}/stat")
        if not stat:
            continue
        rest = stat[stat.rindex(b")") + 2:].split()
        if rest[0] == b"Z":
            continue
        env = _read(f"/proc/{d}/environ") or b""
        owner = None
        for kv in env.split(b"\0"):
            if kv.startswith(ENV.encode() + b"="):
                owner = kv[len(ENV) + 1:].decode(errors="replace")
        try:
            exe = os.path.basename(os.readlink(f"/proc/{d}/exe"))
        except OSError:
            exe = ""
        try:
            st = os.stat(f"/proc/{d}/ns/net")
            net = (st.st_ino, st.st_dev)
        except OSError:
            net = None
        comm = stat[stat.index(b"(") + 1:stat.rindex(b")")].decode(errors="replace")
        out.append({"pid": int(d), "pgrp": int(rest[2]), "owner": owner, "exe": exe, "comm": comm, "netns": net})
    return out


def namespaces():
    """{name: owner pid} of the lab's namespaces on this kernel."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return {}
    return {n: int(m.group(1)) for n in names if (m := NETNS_RE.match(n))}


def runtime_dirs():
    """Where per-run directories may live: $TMPDIR, $XDG_RUNTIME_DIR and /tmp, existing ones, in that order."""
    seen = []
    for d in (os.environ.get("TMPDIR"), os.environ.get("XDG_RUNTIME_DIR"), "/tmp"):
        if d and os.path.isdir(d) and os.path.realpath(d) not in seen:
            seen.append(os.path.realpath(d))
    return seen


def uml_run_dirs():
    """{path: owner mark} of UML run directories (the runtime dirs', and the checkout's from older runs)."""
    found = {}
    for base in runtime_dirs() + [str(CHECKOUT)]:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for n in names:
            m = RUNDIR_RE.match(n)
            if m:
                path = os.path.join(base, n)
                found[path] = (_read(os.path.join(path, "owner"), "r") or m.group(1)).strip()
    return found


def open_files():
    """Real paths of every file some process has open (to tell a live .partial from a stale one)."""
    paths = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{d}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                paths.add(os.readlink(f"/proc/{d}/fd/{fd}"))
            except OSError:
                pass
    return paths


def count_packets(path):
    """Packet blocks (EPB, SPB, obsolete PB) of a pcapng file, up to where it was cut off (a killed writer)."""
    data = _read(path) or b""
    n, off, order = 0, 0, None
    while off + 12 <= len(data):
        if data[off:off + 4] == b"\x0a\x0d\x0d\x0a":   # a section header: its byte-order magic follows
            order = "little" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else "big"
        elif order is None:
            break
        blen = int.from_bytes(data[off + 4:off + 8], order)
        if blen < 12 or blen % 4 or off + blen > len(data):
            break
        if int.from_bytes(data[off:off + 4], order) in (2, 3, 6):
            n += 1
        off += blen
    return n


# --- reaping ---------------------------------------------------------------------------------------------
def _kill_all(pids, grace):
    """SIGTERM, `grace` seconds for files to be closed, then SIGKILL; returns once they are gone (or 5 s)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    _wait_gone(pids, grace)
    left = [p for p in pids if not _gone(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _wait_gone(left, 5.0)


def _gone(pid):
    st = _read(f"/proc/{pid}/stat")
    return st is None or st[st.rindex(b")") + 2:][:1] == b"Z"


def _wait_gone(pids, timeout):
    """Waits (pidfd where the kernel has it: no polling) until every pid has exited or timeout passes."""
    import select
    deadline = time.monotonic() + timeout
    for pid in pids:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if _OS_PIDFD:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                select.select([fd], [], [], left)
            finally:
                os.close(fd)
        while not _gone(pid) and time.monotonic() < deadline:  # a zombie whose parent has not waited yet
            time.sleep(0.01)  # a poll interval, bounded by the deadline


def reap_stale(captures=None, owner=None, grace=None):
    """Removes what runs of the lab that are no longer alive left behind; returns one line per removal.

    - processes marked with a dead owner (WIRECHECK_LAB_OWNER), processes inside a dead owner's namespaces,
      and linux.uml processes of a dead owner's UML run directory: SIGTERM (a sniffer then completes its
      capture), SIGKILL after a short grace;
    - namespaces wc…-<pid>-… whose pid is not running (their veths, qdiscs and iptables rules go with them);
    - UML run directories (wc-uml-run-<pid>-… in the runtime directories, .uml-run-<pid> in the checkout);
    - under `captures` (default: $WIRECHECK_CAPTURES or the checkout's captures/), every *.partial that no
      process holds open: kept as <name>.interrupted.pcapng when it holds packets (it is evidence), else removed.
    owner: reap only that owner's leftovers (the warden's case: it knows its owner is gone).
    grace: seconds between SIGTERM and SIGKILL (default GRACE_S).
    What live owners started is never touched, nor anything the lab did not name or mark.
    """
    lines = []
    if owner is not None:
        opid = parse_owner(owner)[0]
        dead = lambda mark: mark in (owner, str(opid))  # noqa: E731
        dead_pid = lambda pid: pid == opid  # noqa: E731
    else:
        dead = lambda mark: not owner_alive(mark)  # noqa: E731
        dead_pid = lambda pid: not os.path.exists(f"/proc/{pid}")  # noqa: E731
    procs = processes()
    stale_ns = {n: pid for n, pid in namespaces().items() if dead_pid(pid)}
    stale_dirs = {d: mark for d, mark in uml_run_dirs().items() if dead(mark)}
    ns_keys = {}
    for n in stale_ns:
        try:
            st = os.stat(f"/run/netns/{n}")
            ns_keys[(st.st_ino, st.st_dev)] = n
        except OSError:
            pass
    uml_pgrps = set()
    for d in stale_dirs:
        for pidfile in pathlib.Path(d).glob("*/pid"):   # UML writes uml_dir/<umid>/pid
            try:
                uml_pgrps.add(int(pidfile.read_text().strip()))
            except (OSError, ValueError):
                pass
    victims = {}
    for p in procs:
        why = None
        if p["owner"] and dead(p["owner"]):
            why = f"of run {p['owner'].split(':')[0]}"
        elif p["netns"] in ns_keys:
            why = f"in namespace {ns_keys[p['netns']]}"
        elif p["pgrp"] in uml_pgrps and p["exe"].startswith("linux"):
            why = f"User-Mode Linux of run {p['pgrp']}"
        if why:
            victims[p["pid"]] = f"killed {p['comm']} (pid {p['pid']}, {why})"
    if victims:
        _kill_all(list(victims), GRACE_S if grace is None else grace)
        lines += list(victims.values())
    if stale_ns:
        subprocess.run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in stale_ns).encode(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        for n in sorted(stale_ns):
            if not os.path.exists(f"/run/netns/{n}"):
                lines.append(f"deleted namespace {n}")
            else:
                lines.append(f"could not delete namespace {n}")
    for d in sorted(stale_dirs):
        shutil.rmtree(d, ignore_errors=True)
        lines.append(f"removed UML run directory {d}" if not os.path.exists(d) else f"could not remove {d}")
    lines += reap_partials(captures)
    return lines


def default_captures():
    return pathlib.Path(os.environ.get("WIRECHECK_CAPTURES", CHECKOUT / "captures"))


def reap_partials(captures=None):
    """Stale *.partial captures under `captures` (no process holds them open): renamed <stem>.interrupted.pcapng
    when they hold packets, removed when empty; their .ready files go too. Returns one line each."""
    root = pathlib.Path(captures) if captures is not None else default_captures()
    if not root.is_dir():
        return []
    partials = sorted(root.rglob("*.partial"))
    if not partials:
        return []
    busy = open_files()
    lines = []
    for p in partials:
        if str(p.resolve()) in busy:
            continue
        final = p.with_name(p.name[:-len(".partial")])
        stem = final.name[:-len(".pcapng")] if final.name.endswith(".pcapng") else final.name
        n = count_packets(p)
        if n:
            kept = final.with_name(stem + ".interrupted.pcapng")
            os.replace(p, kept)
            lines.append(f"kept {p} as {kept.name} ({n} packets: the capture of an interrupted run)")
        else:
            p.unlink(missing_ok=True)
            lines.append(f"removed {p} (no packets)")
        ready = final.with_name(final.name + ".ready")
        if ready.exists() and str(ready.resolve()) not in busy:
            ready.unlink(missing_ok=True)
    return lines


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Remove what dead runs of the wirecheck lab left behind: processes, "
                                 "namespaces, UML run directories and stale .partial captures; print each removal.")
    ap.add_argument("--captures", metavar="DIR", help="where to look for stale *.partial captures "
                    "(default: $WIRECHECK_CAPTURES or the checkout's captures/)")
    ap.add_argument("-q", "--quiet", action="store_true", help="say nothing when there is nothing to remove")
    ap.add_argument("--watch", metavar="OWNER", help=argparse.SUPPRESS)  # the warden (see ensure_warden)
    a = ap.parse_args(argv)
    if a.watch:
        return _watch(a.watch, a.captures)
    lines = reap_stale(a.captures)
    for line in lines:
        print(f"wirecheck lab: cleaned up after a dead run: {line}" if a.quiet else line)
    if not lines and not a.quiet:
        print("nothing to remove")
    return 0


if __name__ == "__main__":
    sys.exit(main())
