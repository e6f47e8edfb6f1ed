"""TCP scenarios, grouped by the clauses of PROTOCOL.md. Each judges its own clauses and stands only on a small
base (one line answered, by the half-close if not promptly): replies are collected by length, promptness is asked
for only by T3's scenarios, and a scenario that cannot observe its clause says inconclusive and names why."""
import errno
import fcntl
import hashlib
import random
import select
import signal
import socket
import struct
import termios
import time

import pytest

from lab import proc, socktable
from wcrun.bytesdiff import diff_offset, first_diff, upper
from wcrun.env import exit_text, sigterm_exit_text
from wcrun.plugin import need
from wcrun.tcpio import (collect, judge_stream, line_boundary_prefix, prompt_then_late, push_until_stalled,
                         recv_to_eof, recv_until, require_base)
from wcrun.verdict import EnvError, Inconclusive
from wcrun.wire import lost_tcp_data, undelivered_tcp_bytes


def wire_where(env, port, data, got):
    """"frame N (client side): " for the reply segment that carried the first wrong byte, in the lab."""
    off = diff_offset(upper(data), got)
    if not env.lab or off is None or off >= len(got):
        return ""
    try:
        p = env.wire().tcp_flows(port=port)[-1].server_frame_at(off)
    except (AssertionError, IndexError):
        return ""
    return f"{p.where}: " if p else ""


def judge_transform(env, judge, port, cid, data, got, lines_clause="T1", end=None):
    """judge_stream, with the frame of the first wrong byte when there is one."""
    want = upper(data)
    where = wire_where(env, port, data, got) if got != want and not want.startswith(got) else ""
    return judge_stream(judge, cid, data, got, lines_clause=lines_clause, where=where, end=end)


def judge_prompt(judge, data, got, prompt):
    """T3's promptness from a prompt_then_late() exchange."""
    want = upper(data)
    if prompt:
        judge.ok("T3")
    elif got == want:
        judge.fail("T3", f"the reply to {len(data)} bytes of complete lines came only after the half-close: "
                         "the server waited for more input before answering")
    elif line_boundary_prefix(want, got):
        judge.inconclusive("T3", "T1", "not every line was answered even after the half-close, so promptness "
                                       "could not be judged")
    else:
        judge.inconclusive("T3", "T2", "the reply was not right even after the half-close, so promptness could "
                                       "not be judged")


# --- T2 / T3 framing ------------------------------------------------------------------------------------

@pytest.mark.clause("T2.1", "T2.2", "T3.2")
@pytest.mark.parametrize("family", [4, 6])
def test_seed_session(env, sut, judge, family):
    """The lecture's session: one line, its upper case back on a connection that stays open (T3)."""
    need(sut, "tcp-server")
    port = env.start("tcp", family)
    data = b"hello, world\n"
    with env.connect(port, family) as s:
        got, prompt = prompt_then_late(s, data)
    judge_transform(env, judge, port, "T2", data, got, lines_clause=None)
    judge_prompt(judge, data, got, prompt)


@pytest.mark.clause("T2.1", "T2.2", "T3.2")
def test_one_byte_segments(env, sut, judge):
    """Lines split into 1-byte segments (TCP_NODELAY, byte-by-byte writes, MSS 88)."""
    need(sut, "tcp-server")
    port = env.start("tcp")

    def small_mss(s):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 88)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b"split into single bytes\nand again\n"
    with env.connect(port, before_connect=small_mss) as s:
        got, prompt = prompt_then_late(s, data, chunk=1)
    judge_transform(env, judge, port, "T2", data, got)
    judge_prompt(judge, data, got, prompt)


@pytest.mark.clause("T2.1", "T2.2", "T3.2")
def test_many_lines_in_one_segment(env, sut, judge):
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"".join(b"l%d\n" % i for i in range(300))      # about 1.5 KB: one segment
    with env.connect(port) as s:
        got, prompt = prompt_then_late(s, data)
    judge_transform(env, judge, port, "T2", data, got)
    judge_prompt(judge, data, got, prompt)


@pytest.mark.clause("T5.1")
@pytest.mark.parametrize("size", [3000, 70000, 10 << 20], ids=["above-mss", "above-64k", "10mb"])
def test_long_lines(env, sut, judge, size):
    """Lines longer than the MSS, than 64 KiB, and of 10 MB are answered exactly (T5)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    rnd = random.Random(size)
    line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyzABC0123 ") for _ in range(size - 1)) + b"\n"
    data = line + b"after\n"
    with env.connect(port, timeout=10) as s:
        got, end = collect(s, data, silence=10)     # the longest silence allowed, not the total time
    if got == upper(data):
        judge.ok("T5", f"a {size}-byte line and the next line answered exactly")
        return
    require_base(env, port, f"a {size}-byte line")
    # A control: the line's own first and last bytes as a short line. Answered wrong too, the fault is the
    # transform's (strip() eats a leading space whatever the length), not the length's.
    control = line[:64] + line[-65:]
    with env.connect(port) as s:
        cgot, _ = collect(s, control)
    if cgot != upper(control):
        judge.inconclusive("T5", "T2", f"the same bytes as a {len(control)}-byte line are answered wrong too "
                                       f"({first_diff(upper(control), cgot)}): the transform's fault, not the length's")
        return
    judge_stream(judge, "T5", data, got, lines_clause="T1", where=f"a {size}-byte line ({end}): ", end=end)


@pytest.mark.clause("T5.2")
@pytest.mark.lab_only     # the server's memory is read from /proc
# 100 MB through both sides would make a 400 MB capture: the file keeps the connection's opening and closing.
@pytest.mark.capture(bpf="not tcp or tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0")
def test_memory_bounded_whatever_the_line_length(env, sut, judge):
    """A 100 MB line streams through while the client reads its reply: the server's resident memory stays
    bounded (T5.2), measured from /proc/PID/status before and after (peak)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    require_base(env, port, "the memory of a 100 MB line")
    before = env.server_memory("tcp")
    size = 100 << 20
    block = b"abcdefghijklmnopqrstuvwxyz0123456789" * 29127       # about 1 MiB, no LF
    data = block * (size // len(block)) + b"\n"
    with env.connect(port, timeout=10) as s:
        got, end = collect(s, data, silence=10)
    after = env.server_memory("tcp")
    if before is None or after is None:
        raise Inconclusive("T5.1", "the server process was gone after the 100 MB line, so its memory could not "
                                   "be read")
    grew = after["peak"] - before["rss"]
    if len(got) != len(data):
        raise Inconclusive("T5.1", f"the 100 MB line was not answered in full ({len(got)} bytes, {end}), so its "
                                   "memory could not be judged")
    judge.require(grew <= MEMORY_BOUND, "T5.2",
                  f"the server's peak resident memory grew by {grew / 2**20:.0f} MiB while a 100 MB line streamed "
                  f"through (bound {MEMORY_BOUND >> 20} MiB): it holds the line, not a bounded buffer")
    judge.ok("T5.2", f"peak resident memory grew by {grew / 2**20:.1f} MiB for a 100 MB line")


@pytest.mark.clause("T2.2")
def test_crlf_and_empty_lines(env, sut, judge):
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"dos line\r\n\n\r\n\nlast\r\n"
    with env.connect(port) as s:
        got, end = collect(s, data)
    judge_transform(env, judge, port, "T2", data, got, end=end)


@pytest.mark.clause("T2.1")
@pytest.mark.parametrize("kind", ["all-256", "random-binary", "utf8"])
def test_uppercase_correctness(env, sut, judge, kind):
    """All 256 byte values, random binary data, and UTF-8 text in which only a-z change."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    if kind == "all-256":
        data = bytes(range(256)) + b"\n"
    elif kind == "random-binary":
        data = random.Random(5).randbytes(50000) + b"\n"
    else:
        data = "Grüße, ça va? Ωμέγα — naïve café ß ﬁ\n".encode() * 10
    with env.connect(port) as s:
        got, end = collect(s, data)
    judge_transform(env, judge, port, "T2", data, got, end=end)


# --- T4 half-close --------------------------------------------------------------------------------------

@pytest.mark.clause("T4.1", "T4.2", "W2.1")
@pytest.mark.parametrize("family", [4, 6])
def test_half_close_tail(env, sut, judge, family):
    """An unterminated last line is answered after the half-close, then the server closes with FIN (T4),
    and on the wire: FIN, no RST, no data after FIN (W2)."""
    need(sut, "tcp-server")
    port = env.start("tcp", family)
    data = b"complete\nunterminated tail"
    with env.connect(port, family) as s:
        cport = s.getsockname()[1]
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got, end = recv_to_eof(s, silence=5)
    want = upper(data)
    if got != want and not want.startswith(got):
        require_base(env, port, "the half-close", family)
    if got != want and want.startswith(got):
        judge.fail("T4.1", f"after the half-close the server sent {len(got)} of {len(want)} reply bytes: "
                           f"{first_diff(want, got)}")
    elif got != want:
        # The tail was answered, with wrong bytes: the transform's clause, not the half-close's.
        judge.inconclusive("T4.1", "T2", f"the tail was answered wrong ({first_diff(want, got)})")
    else:
        judge.ok("T4.1", "the unterminated tail answered")
    if end == "rst":
        judge.fail("T4.2", f"the server reset the connection (RST) after {len(got)} reply bytes instead of "
                           "closing it with FIN")
    elif end == "silence":
        judge.fail("T4.2", f"after the half-close the server sent {len(got)} reply bytes and then no FIN within "
                           "5 s")
    else:
        judge.ok("T4.2", "then FIN")
    if env.lab:
        flow = env.wire().tcp_flow(port, cport)     # not require_base's connection, which came after
        if flow.rst_from_server:
            judge.fail("W2", f"{flow.rst_from_server[0].where}: RST from the server")
        elif not flow.fin_from_server:
            judge.fail("W2", "the server never sent FIN")
        elif flow.server_data_after_fin():
            late = flow.server_data_after_fin()
            judge.fail("W2", f"{late[0].where}: {late[0].payload_len} bytes of data after the server's FIN")
        else:
            judge.ok("W2", f"{flow.fin_from_server[0].where}: server FIN after {flow.server_bytes} reply bytes")


@pytest.mark.clause("T3.2")
def test_line_answered_without_more_input(env, sut, judge):
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"answer me now\n"
    with env.connect(port, timeout=3) as s:
        got, prompt = prompt_then_late(s, data)
    judge_prompt(judge, data, got, prompt)


@pytest.mark.clause("T1.2")
def test_many_lines_per_connection(env, sut, judge):
    """T1: any number of lines on one connection, all answered (collected by length: promptness is T3's)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"".join(b"line number %d\n" % i for i in range(20))
    with env.connect(port) as s:
        got, end = collect(s, data)
    if got == upper(data):
        judge.ok("T1", "20 lines on one connection, all answered")
        return
    require_base(env, port, "many lines on one connection")
    if upper(data).startswith(got):
        n = got.count(b"\n")
        judge.fail("T1", f"{n} of 20 lines on one connection were answered ({end})")
    else:
        judge.fail("T1", f"20 lines on one connection: {first_diff(upper(data), got)}")


@pytest.mark.clause("T1.1")
def test_concurrent_connections(env, sut, judge):
    """50 connections at once, each with 20 lines, interleaved; each collected after its half-close."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    socks = [env.connect(port, timeout=5) for _ in range(50)]
    try:
        for rnd in range(20):
            for i, s in enumerate(socks):
                s.sendall(b"conn %02d line %02d\n" % (i, rnd))
        for s in socks:
            s.shutdown(socket.SHUT_WR)
        bad = []
        for i, s in enumerate(socks):
            want = b"".join(b"CONN %02d LINE %02d\n" % (i, r) for r in range(20))
            got, end = recv_until(s, len(want), 5)
            if end == "rst" and want.startswith(got):
                raise Inconclusive("T4", f"connection {i} was reset (RST) after {len(got)} right bytes, so whether "
                                         "every line was answered could not be seen")
            if got != want:
                bad.append(f"connection {i}: {first_diff(want, got)} ({end})")
    finally:
        for s in socks:
            s.close()
    if not bad:
        judge.ok("T1", "50 concurrent connections of 20 lines each, all answered")
        return
    require_base(env, port, "concurrent connections")
    judge.fail("T1", f"{len(bad)} of 50 concurrent connections not answered in full; {bad[0]}")


# --- T6 isolation ---------------------------------------------------------------------------------------

def served(env, port, line=b"am i served?\n", silence=3.0):
    """A well-behaved client's line, collected by the half-close: (reply, error text or None)."""
    try:
        with env.connect(port, timeout=silence) as s:
            got, end = collect(s, line, silence)
    except OSError as e:
        return b"", str(e)
    return got, None if got == upper(line) else f"got {got!r} ({end})"


@pytest.mark.clause("T6.1", "T6.2")
def test_non_reading_client_stalls_nobody(env, sut, judge):
    """A client that sends and never reads is pushed until the server visibly stops reading from it; while
    that pressure lasts, with 20 idle and 1 slow client connected, a well-behaved client is served (T6)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    require_base(env, port, "isolation")
    hold = [env.connect(port) for _ in range(20)]                # idle
    slow = env.connect(port)
    slow.sendall(b"a slow line that never ")                     # a partial line
    hog = env.connect(port)
    before = env.server_memory("tcp")
    try:
        sent, stalled = push_until_stalled(hog)
        judge_backpressure(env, judge, before, sent, stalled)
        t0 = time.monotonic()
        got, err = served(env, port)
        took = time.monotonic() - t0
        # Isolation is T6.1's alone: back-pressure (T6.2) was judged above, and a server that stalls everyone by
        # blocking on the non-reading client does push back on it.
        if err:
            judge.fail("T6.1", f"a well-behaved client was not served within 3 s ({err}) while a client that "
                             f"does not read had pushed {sent} bytes and 20 idle and 1 slow clients were "
                             "connected")
        else:
            judge.ok("T6.1", f"served in {took * 1000:.1f} ms while a non-reading client had pushed {sent} bytes "
                           f"({'the server stopped reading it' if stalled else 'the server never stopped reading it'}"
                           "), beside 20 idle and 1 slow clients")
    finally:
        for s in hold + [slow, hog]:
            s.close()


MEMORY_BOUND = 48 << 20     # growth allowed while 100 MB stream through or pile up (a JVM's heap grows too)


def judge_backpressure(env, judge, before, sent, stalled):
    """T6.2: the server stopped reading a client that does not read, without buffering what it read."""
    after = env.server_memory("tcp")
    grew = after["rss"] - before["rss"] if before and after else None
    mem = f"; its resident memory grew by {grew / 2**20:.1f} MiB" if grew is not None else ""
    if not stalled:
        judge.fail("T6.2", f"the server kept reading a client that never reads its replies ({sent / 2**20:.0f} MiB "
                           f"without a pause){mem}: unbounded buffering, not back-pressure")
    elif grew is not None and grew > MEMORY_BOUND:
        judge.fail("T6.2", f"the server stopped reading a non-reading client only after {sent / 2**20:.1f} MiB"
                           f"{mem}: it buffered the replies instead of pushing back")
    else:
        judge.ok("T6.2", f"the server stopped reading a non-reading client after {sent / 2**20:.1f} MiB{mem}")


LEAVE = {
    "close-midline": "closes after half a line",
    "fin-then-close": "sends 100 KB of lines, half-closes and closes at once (its replies meet an RST)",
    "close-pending": "sends 1 MB of lines and closes without reading the replies",
    "reset-midline": "resets (RST) after half a line",
    "reset-pending": "sends 1 MB of lines and resets (RST) without reading the replies",
    "close-mb-unread": "sends until the server stops reading, then closes with megabytes unread",
    "reset-while-writing": "sends lines, half-closes and resets (RST) while the server still writes their replies",
}


def _unsent(s):
    return struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0" * 4))[0]


def _half_close_while_server_writes(env, s, port):
    """Sends lines, 8 KB at a time, each delivered (our send queue empty), until the server leaves them unread:
    it is then blocked writing replies that we do not read (our receive buffer is 4 KB). Then the half-close:
    delivered at once, it puts the server's socket in CLOSE_WAIT, where an RST makes its next write() EPIPE,
    which raises SIGPIPE unless the server ignores it (or writes with MSG_NOSIGNAL)."""
    cport = s.getsockname()[1]
    mine = (lambda: [x for x in socktable.connections(port, env.topo.server.ns) if x.remote_port == cport]) \
        if env.lab else None
    chunk = b"y" * 1023 + b"\n"
    for _ in range(512):            # 4 MB at most: a server that reads everything without ever writing
        s.sendall(chunk * 8)
        try:
            proc.poll_until(lambda: _unsent(s) == 0, timeout=2, what="our lines delivered")
        except proc.NotReady:
            break                   # the server's receive window closed: it stopped reading
        if mine is None:
            continue
        try:
            proc.poll_until(lambda: mine() and mine()[0].rx_queue == 0, timeout=0.3, what="the server reading")
        except proc.NotReady:
            break                   # it left our lines unread: blocked writing
    s.shutdown(socket.SHUT_WR)
    if mine is None:
        return ""
    try:
        proc.poll_until(lambda: mine() and mine()[0].state == socktable.CLOSE_WAIT, timeout=3, what="CLOSE_WAIT")
    except proc.NotReady:           # the FIN queued behind unacknowledged lines: a plain reset then
        return " (the server's socket never reached CLOSE_WAIT)"
    unread = mine()[0].rx_queue - 1         # the FIN counts one
    return f" (the RST came with the server's socket in CLOSE_WAIT, {unread} bytes of lines unread)"


@pytest.mark.clause("T6.1")
@pytest.mark.parametrize("how", list(LEAVE))
def test_server_outlives_clients_that_leave_early(env, sut, judge, how):
    """A client leaves early (by FIN or RST, mid-line or with replies pending); then a fresh client must be
    served by the same server process (T6: one client's behaviour never denies service to others)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    require_base(env, port, "a client leaving early")
    how_it_went = ""
    small_rcvbuf = (lambda x: x.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)) \
        if how == "reset-while-writing" else None
    s = env.connect(port, before_connect=small_rcvbuf)
    if how.endswith("midline"):
        s.sendall(b"half a li")
    elif how == "reset-while-writing":
        how_it_went = _half_close_while_server_writes(env, s, port)
    elif how == "fin-then-close":
        s.sendall(b"line\n" * 20000 + b"mid")
        s.shutdown(socket.SHUT_WR)
    elif how.endswith("pending"):
        s.setblocking(False)
        push_until_stalled(s, stall=0.5, limit=1 << 20)
    else:
        push_until_stalled(s, stall=0.5, limit=64 << 20)
    if how.startswith("reset"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    if env.lab:
        # Until the server has dealt with the departure (or 3 s: a server that never closes sockets).
        try:
            done = (socktable.LISTEN, socktable.TIME_WAIT)      # TIME_WAIT: closed, by the server first
            proc.poll_until(lambda: not socktable.connections(port, env.topo.server.ns, done), timeout=3,
                            what="the server closing it")
        except proc.NotReady:
            pass
    got, err = served(env, port, b"still there?\n")
    server = env.servers.get("tcp") if env.lab else None
    if server is not None and not server.alive():
        judge.fail("T6", f"the server process {exit_text(server.p.returncode)} after a client that "
                         f"{LEAVE[how]}{how_it_went}; the next client: {err or 'served'}")
    elif err:
        judge.fail("T6", f"after a client that {LEAVE[how]}, the next client was not served: {err}")
    else:
        judge.ok("T6", f"after a client that {LEAVE[how]}{how_it_went}, the same server process served the next "
                       "client")


# --- T7 graceful stop -----------------------------------------------------------------------------------

@pytest.mark.clause("T7.1", "T7.2")
@pytest.mark.lab_only     # signals need the server's process
def test_graceful_stop(env, sut, judge):
    """SIGTERM: stop accepting, answer what arrived, exit 0."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    s = env.connect(port)
    s.sendall(b"before the stop\n")
    got, end = recv_until(s, 16, 3)
    if got != b"BEFORE THE STOP\n":
        s.close()
        require_base(env, port, "the graceful stop")
        raise Inconclusive("T3", f"a line before the stop was not answered within 3 s ({end}), so the replies "
                                 "in flight at the stop could not be told apart")
    s.sendall(b"in flight\n")
    p = env.servers["tcp"]
    env.signal_server("tcp", signal.SIGTERM)
    try:
        proc.poll_until(lambda: not p.alive() or not env.listening("tcp"), timeout=2,
                        what="the listener closing after SIGTERM")
        judge.ok("T7.1", "the listener closed after SIGTERM")
    except proc.NotReady:
        judge.fail("T7.1", f"the server still listened on port {port} 2 s after SIGTERM: it kept accepting")
    tail, _ = recv_to_eof(s, 10)
    s.close()
    try:
        code = p.wait(10)
    except Exception:
        code = None
    judge.require(tail == b"IN FLIGHT\n", "T7.2", f"the line in flight at SIGTERM was answered as {tail!r}")
    judge.require(code == 0, "T7.2", sigterm_exit_text(code))
    judge.ok("T7.2", "the line in flight answered, exit 0")


# --- on the wire ----------------------------------------------------------------------------------------

@pytest.mark.clause("W1.1")
@pytest.mark.lab_only
def test_three_way_handshake(env, sut, judge):
    need(sut, "tcp-server")
    port = env.start("tcp")
    with env.connect(port) as s:
        collect(s, b"x\n", silence=3)
    flow = env.wire().tcp_flows(port=port)[-1]
    hs = flow.handshake()
    judge.require(hs, "W1", f"no SYN, SYN-ACK, ACK before data in the capture: {flow.summary()}")
    judge.ok("W1", ", ".join(p.where for p in hs) + " SYN, SYN-ACK, ACK before the first data")


@pytest.mark.clause("W3.1")
@pytest.mark.lab_only
def test_lost_syn_is_retransmitted(env, sut, judge):
    """The router drops the client's first SYN; the SYN is retransmitted and the connection opens (W3)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    # A DROP rule for SYNs to the port, removed as soon as it has dropped one: exactly the first SYN is
    # lost, whatever the retransmission timer, with no sleep.
    ipt = env.impair.iptables
    rule = ["FORWARD", "-i", "to-client", "-o", "to-server", "-p", "tcp", "--syn", "--dport", str(port),
            "-j", "DROP"]
    router = env.topo.router
    router.exec([ipt, "-w", "-A"] + rule)

    def dropped():
        out = router.exec([ipt, "-w", "-L", "FORWARD", "-v", "-n", "-x"]).stdout.decode().splitlines()[2:]
        return sum(int(line.split()[0]) for line in out if line.strip())
    s = env.in_client(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        s.setblocking(False)
        assert s.connect_ex((env.server_host(), port)) in (errno.EINPROGRESS, 0)
        try:
            proc.poll_until(lambda: dropped() >= 1, timeout=5, what="the router dropping the first SYN")
        except proc.NotReady as e:
            raise EnvError(f"the impairment did not happen: {e}") from None
        router.exec([ipt, "-w", "-D"] + rule)
        _, w, _ = select.select([], [s], [], 10)
        judge.require(w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, "W3",
                      "the connection did not open after the lost SYN")
        s.setblocking(True)
        s.settimeout(5)
        collect(s, b"after a lost syn\n", silence=3)
    finally:
        s.close()
    w = env.wire()
    syns = w.syns(port=port, side="client")
    judge.require(len(syns) >= 2, "W3", f"{len(syns)} SYN(s) on the client side; expected the lost one and a "
                                        "retransmission")
    server_syns = w.syns(port=port, side="server")
    if not (server_syns and server_syns[0].ts > syns[0].ts):
        raise EnvError("the impairment did not happen: the first SYN reached the server")
    flow = w.tcp_flows(port=port)[-1]
    judge.require(flow.handshake(), "W3", f"no handshake after the lost SYN: {flow.summary()}")
    judge.ok("W3", f"{syns[0].where} SYN lost in the router, {syns[1].where} retransmitted "
                   f"{(syns[1].ts - syns[0].ts) * 1000:.0f} ms later; the connection opened")


@pytest.mark.clause("T3.1", "W5.1")
@pytest.mark.netem
@pytest.mark.lab_only
def test_ordering_under_loss_and_reordering(env, sut, judge):
    """10,000 pipelined lines come back in order, the whole stream's SHA-256 equal, while the network loses
    and reorders segments (T3); the retransmissions in the capture account for the losses (W5)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    env.impair.set_rto_min(10)
    env.impair.set("c2s", delay_ms=10, loss=2, reorder=25)
    env.impair.set("s2c", delay_ms=10, loss=2)
    data = b"".join(b"pipelined line %05d of ten thousand\n" % i for i in range(10000))
    with env.connect(port, timeout=20) as s:
        got, end = collect(s, data, silence=20)      # silence allowed under loss (UML is slow)
    want = upper(data)
    sha = hashlib.sha256(got).hexdigest()
    if sha == hashlib.sha256(want).hexdigest():
        judge.ok("T3", f"{len(data)} bytes in 10,000 lines, SHA-256 {sha[:16]}... equal")
    else:
        require_base(env, port, "the order of 10,000 lines under loss")
        judge.fail("T3", f"stream SHA-256 differs ({end}): {first_diff(want, got)}")
    env.check_impairment()
    lost = lost_tcp_data(env.ledger())
    if not lost:
        raise EnvError("the impairment lost no data segment, so W5 could not be observed", redraw=True)
    retrans = env.wire().retransmissions(port=port)
    unrecovered = undelivered_tcp_bytes(env.ledger())
    judge.require(not unrecovered, "W5", f"{len(unrecovered)} lost segment(s) whose bytes never reached the "
                                         f"receiver, first seq {unrecovered[0].seq if unrecovered else 0}")
    resent = sum(1 for p in lost if any(r.covers(p) for r in retrans))
    judge.ok("W5", f"the network lost {len(lost)} data segments; {resent} were retransmitted and the rest were "
                   f"spurious retransmissions whose original had arrived; {len(retrans)} retransmissions in the "
                   "capture, every byte delivered")
