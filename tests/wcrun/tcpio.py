"""How the scenarios talk TCP to a server under test, and judge a reply stream, without depending on more of the
protocol than the clause at hand: replies are collected by length (not by waiting for a FIN), a prompt reply is
asked for only where promptness is the clause, and a short but correct reply is told apart from a wrong one."""
import select
import socket
import threading
import time

from wcrun.bytesdiff import first_diff, upper
from wcrun.verdict import Inconclusive

BASE_LINE = b"hello, world\n"


class NoReply(AssertionError):
    pass


def recv_until(s, n, silence):
    """Reads until n bytes arrived, the peer closed (FIN or RST) or `silence` seconds passed with nothing.
    Returns (bytes, end) with end one of "complete", "eof", "rst", "silence"."""
    got = bytearray()
    while len(got) < n:
        r, _, _ = select.select([s], [], [], silence)
        if not r:
            return bytes(got), "silence"
        try:
            b = s.recv(min(1 << 20, n - len(got)))
        except ConnectionResetError:
            return bytes(got), "rst"
        except socket.timeout:
            continue
        if not b:
            return bytes(got), "eof"
        got += b
    return bytes(got), "complete"


def recv_to_eof(s, silence):
    """Everything until the peer's FIN. Returns (bytes, end): "eof", "rst" or "silence"."""
    got = bytearray()
    while True:
        b, end = recv_until(s, 1 << 30, silence)
        got += b
        if end != "complete":
            return bytes(got), end


class Sender(threading.Thread):
    """Sends data (then FIN) from a thread, so that a large request cannot deadlock against its replies."""

    def __init__(self, s, data, half_close=True):
        super().__init__(daemon=True)
        self.s, self.data, self.half_close, self.error = s, data, half_close, None
        self.start()

    def run(self):
        try:
            self.s.sendall(self.data)
            if self.half_close:
                self.s.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def finish(self, grace=1.0):
        """Waits for the sender; one stuck against a server that stopped reading is unblocked by shutting
        the socket down."""
        self.join(grace)
        if self.is_alive():
            try:
                self.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.join()


def collect(s, data, silence=5.0):
    """Sends data and the half-close while reading; returns (reply, end) once len(data) reply bytes arrived, or
    the server closed or fell silent. A server that answers only at the half-close passes; one that never
    closes does too (the FIN is T4's clause, judged in its own scenario)."""
    sender = Sender(s, data)
    try:
        return recv_until(s, len(data), silence)
    finally:
        sender.finish()


def prompt_then_late(s, data, silence=3.0, late_silence=5.0, chunk=None):
    """Sends data (in writes of `chunk` bytes when given) and waits `silence` for the whole reply with the
    connection open; if it has not come, half-closes and waits for the rest. Returns (reply, prompt) where
    prompt says whether it came without the FIN."""
    for i in range(0, len(data), chunk or len(data) or 1):
        s.sendall(data[i:i + (chunk or len(data))])
    got, end = recv_until(s, len(data), silence)
    if end != "silence":
        return got, end == "complete"
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        return got, False
    more, _ = recv_until(s, len(data) - len(got), late_silence)
    return got + more, False


def push_until_stalled(s, stall=1.0, limit=96 << 20, deadline=60.0, chunk=65536):
    """Writes lines to a peer that we never read from, until the peer visibly stops reading (no progress for
    `stall` seconds) or `limit` bytes went. Returns (bytes sent, stalled)."""
    s.setblocking(False)
    line = b"x" * 1023 + b"\n"
    data = line * (chunk // len(line))
    sent = 0
    end = time.monotonic() + deadline
    try:
        while sent < limit and time.monotonic() < end:
            try:
                sent += s.send(data)
                continue
            except BlockingIOError:
                pass
            _, w, _ = select.select([], [s], [], stall)
            if not w:
                return sent, True
    except OSError:
        return sent, True
    return sent, False


def line_boundary_prefix(want, got):
    """True when got is a proper, non-empty prefix of want that ends where a line of want ends: some lines were
    answered and whole lines are missing (no reply at all is not that: the first line failed)."""
    return 0 < len(got) < len(want) and want.startswith(got) and got.endswith(b"\n")


def judge_stream(judge, cid, data, got, lines_clause=None, where="", end=None):
    """Judges a reply stream against the upper case of data for clause cid: equal passes; a wrong or an extra
    byte fails; a correct reply that stops at a line boundary, when lines_clause is given, is that clause's
    failure (whole lines unanswered), and one cut by the server's RST (end "rst") is T4's: cid is then
    inconclusive. Returns the verdict recorded."""
    want = upper(data)
    if got == want:
        judge.ok(cid)
        return "pass"
    if end == "rst" and want.startswith(got):
        judge.inconclusive(cid, "T4", f"the server reset the connection (RST) after {len(got)} of {len(want)} "
                                      "reply bytes, every byte received right: the rest was not observable")
        return "inconclusive"
    if lines_clause and want.startswith(got) and line_boundary_prefix(want, got):
        n_want, n_got = want.count(b"\n"), got.count(b"\n")
        judge.inconclusive(cid, lines_clause, f"{n_got} of {n_want} lines were answered ({lines_clause}), and "
                                              "every byte received was right")
        return "inconclusive"
    judge.fail(cid, f"{where}{first_diff(want, got)}")
    return "fail"


def base_works(env, port, family=4):
    """The small base that most clauses stand on: one line, its upper case back (by the half-close if it is not
    prompt). Returns (ok, text)."""
    try:
        with env.connect(port, family, timeout=5) as s:
            got, _ = prompt_then_late(s, BASE_LINE)
    except OSError as e:
        return False, f"connecting to the server failed: {e}"
    want = upper(BASE_LINE)
    if got == want:
        return True, ""
    if not got:
        return False, f"no reply at all to {BASE_LINE!r}, even after the half-close"
    return False, f"the reply to {BASE_LINE!r}: {first_diff(want, got)}"


def require_base(env, port, what, family=4):
    """Raises Inconclusive (because T2) when the base does not work: `what` could not be observed."""
    ok, text = base_works(env, port, family)
    if not ok:
        raise Inconclusive("T2", f"{what} could not be observed ({text})")
