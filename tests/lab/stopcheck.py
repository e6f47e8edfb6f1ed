"""What the tests that stop a run hold it to (issue 16): how long the stop may take, and that the host is left
as it was: no process, namespace, UML instance or UML run directory of the run, and the root namespace's
qdiscs and firewall rules unchanged (the lab's own are inside its namespaces, and go with them)."""
import os
import re
import shutil
import signal
import subprocess

from . import reap

NATIVE_STOP_S = 2.0     # issue 16: a run stops within 2 s natively ...
UML_STOP_S = 5.0        # ... and within 5 s inside User-Mode Linux (uml.py bounds it: STOP_GRACE_S, then kill)
RUN_ENV = "WIRECHECK_RUN_PID"   # the main job's mark: every process of a run carries its runner's pid
# The root namespace's traffic control and firewall, each iptables variant that is installed.
NET_STATE_ARGV = (["tc", "qdisc", "show"], ["iptables-save"], ["ip6tables-save"], ["iptables-legacy-save"],
                  ["ip6tables-legacy-save"])
_COUNTERS = re.compile(r"\[\d+:\d+\]")


def native_limit():
    """NATIVE_STOP_S, stretched (at most twice) when the machine runs more than it has cores for, and that
    load: a stop is a few hundred milliseconds of CPU (teardown, pytest's exit) that a loaded machine hands
    out slower."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return NATIVE_STOP_S * min(2.0, max(1.0, load)), load


def as_from_a_terminal():
    """A preexec_fn: SIGINT at its default, as a shell gives it to a foreground job. A job started with `&` by a
    non-interactive shell (nohup ./scripts/test &, say) inherits it ignored, which a shell's trap cannot undo,
    and a run that ignores Ctrl-C is not what is tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def net_state():
    """{command: output} of the root namespace's qdiscs and iptables rules, without what changes by itself
    (iptables-save's comments carry a time, its chains' packet counters count): equal before and after a run
    that left nothing behind."""
    state = {}
    for argv in NET_STATE_ARGV:
        if not shutil.which(argv[0]):
            continue
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        lines = [_COUNTERS.sub("[]", ln) for ln in r.stdout.splitlines() if not ln.startswith("#")]
        state[" ".join(argv)] = (r.returncode, lines)
    return state


def net_state_changes(before, after):
    """The commands whose output differs, each with the lines that came and went (for an assert message)."""
    out = {}
    for cmd in sorted(set(before) | set(after)):
        b, a = before.get(cmd, (None, [])), after.get(cmd, (None, []))
        if a != b:
            out[cmd] = {"status": (b[0], a[0]), "new": [x for x in a[1] if x not in b[1]],
                        "gone": [x for x in b[1] if x not in a[1]]}
    return out


def run_processes(run_pid):
    """[(pid, name)] of the processes that carry the main job's mark of the run whose runner is run_pid."""
    mark = f"{RUN_ENV}={run_pid}\0".encode()
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and mark in (reap._read(f"/proc/{d}/environ") or b"") and not reap._gone(int(d)):
            found.append((int(d), (reap._read(f"/proc/{d}/comm", "r") or "?").strip()))
    return found


def owned_by(pids):
    """{"namespaces": [...], "UML run directories": [...]} that processes among `pids` own (lab.reap's names
    carry their owner's pid). What a stopped run left, given the pids of its processes seen while it ran:
    another run's, even a dead one's, is not this run's."""
    pids = set(pids)
    dirs = [d for d, mark in reap.uml_run_dirs().items() if (reap.parse_owner(mark) or (None,))[0] in pids]
    return {"namespaces": sorted(n for n, pid in reap.namespaces().items() if pid in pids),
            "UML run directories": sorted(dirs)}


def state(pid):
    """The process's state letter (R, S, T for stopped, Z...), or None when it is gone."""
    st = reap._read(f"/proc/{pid}/stat")
    return st[st.rindex(b")") + 2:][:1].decode() if st else None


def session_processes(sid):
    """[(pid, name)] of the live processes of session sid: all of a job started in a session of its own."""
    found = []
    for d in os.listdir("/proc"):
        st = reap._read(f"/proc/{d}/stat") if d.isdigit() else None
        if st:
            rest = st[st.rindex(b")") + 2:].split()
            if int(rest[3]) == sid and rest[0] != b"Z":
                found.append((int(d), st[st.index(b"(") + 1:st.rindex(b")")].decode(errors="replace")))
    return found
