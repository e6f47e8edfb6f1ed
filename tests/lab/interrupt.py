"""Interrupt = stop: SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt, teardown is never cut in half, and
whatever is still live at exit is torn down.

- install(): in the main thread, SIGTERM and SIGHUP (and SIGINT, whose Python default already does this) raise
  KeyboardInterrupt, so a runner, pytest or a script unwinds through its `with` blocks and fixture finalizers,
  the lab's LIFO teardown. pytest handles KeyboardInterrupt in a test by tearing down the running test's
  fixtures in pytest_sessionfinish (exit status 2); tests/lab/test_interrupt.py checks that it does.
- Only the first signal interrupts. Later ones (a second Ctrl-C while cleaning up) are noted and ignored:
  interrupting a teardown is what would leave a mess. SIGKILL remains, and the warden (lab.reap) cleans up after it.
- shield(): a block (Topology.close, Process.close) that a signal must not cut; a signal that arrives inside it
  raises KeyboardInterrupt when the outermost shield ends.
- track()/untrack(): live topologies and processes; at interpreter exit, anything still tracked is closed, last
  first (for a script that caught KeyboardInterrupt too early, or a framework that skipped a finalizer).
- received(): the signal number that interrupted this process, or None (a runner's exit status: 128 + it).
"""
import atexit
import contextlib
import os
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_state = {"installed": False, "received": None, "count": 0, "pending": False}
_shield = threading.local()
_live = []          # objects with close(), in creation order
_lock = threading.Lock()


def received():
    """The first SIGINT/SIGTERM/SIGHUP this process got since install(), or None."""
    return _state["received"]


def exit_status(default=None):
    """128 + the signal that interrupted this process (130 for SIGINT, 143 for SIGTERM), else `default`."""
    s = _state["received"]
    return 128 + s if s else default


def _handler(signum, frame):
    first = _state["received"] is None
    _state["count"] += 1
    if first:
        _state["received"] = signum
    if not first:
        if _state["count"] == 2:
            print(f"\nwirecheck lab: {signal.Signals(signum).name} again: already stopping, cleaning up "
                  "(SIGKILL would leave the clean-up to the lab's warden)", file=sys.stderr, flush=True)
        return
    if getattr(_shield, "depth", 0) > 0:
        _state["pending"] = True
        return
    raise KeyboardInterrupt(f"{signal.Signals(signum).name}")


def install():
    """Makes SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt once (see the module's docstring).

    Only from the main thread, and only for signals still at their default disposition: a program that set its
    own handler keeps it. Idempotent; returns True when the handlers are in place.
    """
    if threading.current_thread() is not threading.main_thread():
        return _state["installed"]
    if _state["installed"] and _state.get("pid") == os.getpid():
        return True
    for s in SIGNALS:
        cur = signal.getsignal(s)
        if cur in (signal.SIG_DFL, signal.default_int_handler, None) or cur is _handler:
            signal.signal(s, _handler)
    _state.update(installed=True, pid=os.getpid())
    return True


@contextlib.contextmanager
def shield():
    """A block that the first signal must not cut: it is raised as KeyboardInterrupt when the block ends."""
    _shield.depth = getattr(_shield, "depth", 0) + 1
    try:
        yield
    finally:
        _shield.depth -= 1
        if _shield.depth == 0 and _state["pending"] and threading.current_thread() is threading.main_thread():
            _state["pending"] = False
            if sys.exc_info()[0] is None:   # already unwinding: that exception carries on
                raise KeyboardInterrupt(signal.Signals(_state["received"]).name)


def track(obj):
    """Registers obj (anything with close()) for the exit-time sweep (in this process, not in forked children)."""
    with _lock:
        _state.setdefault("track_pid", os.getpid())
        _live.append(obj)


def untrack(obj):
    with _lock:
        for i in range(len(_live) - 1, -1, -1):
            if _live[i] is obj:
                del _live[i]
                break


def live():
    with _lock:
        return list(_live)


def close_all():
    """Closes every tracked object, last first; returns the errors as strings (never raises)."""
    errors = []
    while True:
        with _lock:
            if not _live:
                break
            obj = _live.pop()
        try:
            with shield():
                obj.close()
        except BaseException as e:  # noqa: B902  (keep going: everything must be closed)
            errors.append(f"{obj!r}: {e}")
    return errors


@atexit.register
def _at_exit():
    if _live and os.getpid() == _state.get("track_pid"):
        n = len(_live)
        errors = close_all()
        print(f"wirecheck lab: closed {n} topologies/processes left open at exit"
              + (": " + "; ".join(errors) if errors else ""), file=sys.stderr)
