"""TCP scenarios, grouped by the clauses of PROTOCOL.md; every assertion names its clause."""
import errno
import hashlib
import random
import select
import signal
import socket
import threading
import time

import pytest

from wcrun.bytesdiff import diff_offset, first_diff, same, upper
from wcrun.plugin import need
from wcrun.wire import lost_tcp_data, undelivered_tcp_bytes
from lab import proc


class NoReply(AssertionError):
    pass


def recv_exactly(s, n):
    """Up to n reply bytes; fewer when the server closes. A silence longer than the socket's timeout is a
    NoReply that says how far the reply got."""
    got = bytearray()
    while len(got) < n:
        try:
            b = s.recv(min(1 << 20, n - len(got)))
        except socket.timeout:
            raise NoReply(f"the server sent {len(got)} of {n} reply bytes, then nothing for "
                          f"{s.gettimeout():.0f} s") from None
        if not b:
            break
        got += b
    return bytes(got)


def recv_to_eof(s):
    got = bytearray()
    while True:
        try:
            b = s.recv(1 << 20)
        except socket.timeout:
            raise NoReply(f"after the half-close the server sent {len(got)} bytes and then neither more nor "
                          f"its FIN within {s.gettimeout():.0f} s") from None
        if not b:
            return bytes(got)
        got += b


def exchange(s, data):
    """Sends data while reading the replies (so that a large request cannot deadlock), then half-closes
    and reads to EOF. Returns the reply bytes."""
    err = []

    def send():
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    try:
        got = recv_to_eof(s)
    except BaseException:
        # A server that stopped reading leaves sendall blocked: unblock it before waiting for it.
        s.shutdown(socket.SHUT_RDWR)
        raise
    finally:
        t.join()
    return got


def check_transform(clause, data, got, evidence, env=None, port=6789):
    ok = same(upper(data), got)
    if not ok:
        where = ""
        off = diff_offset(upper(data), got)
        if env is not None and env.lab and off is not None and off < len(got):
            try:
                p = env.wire().tcp_flows(port=port)[-1].server_frame_at(off)
                where = f"{p.where}: " if p else ""
            except AssertionError:
                pass
        evidence(f"{clause}: {where}{first_diff(upper(data), got)}")
    assert ok, f"{clause}: reply is not the upper case of the request: {first_diff(upper(data), got)}"


# --- T2 / T3 framing ------------------------------------------------------------------------------------

@pytest.mark.clause("T2", "T3")
@pytest.mark.parametrize("family", [4, 6])
def test_seed_session(env, sut, evidence, family):
    """The lecture's session: one line, its upper case back, on a connection that stays open (T3)."""
    need(sut, "tcp-server")
    port = env.start("tcp", family)
    with env.connect(port, family) as s:
        s.sendall(b"hello, world\n")
        got = recv_exactly(s, 13)
        check_transform("T2", b"hello, world\n", got, evidence, env)


@pytest.mark.clause("T2", "T3")
def test_one_byte_segments(env, sut, evidence):
    """Lines split into 1-byte segments (TCP_NODELAY, byte-by-byte writes, MSS 88)."""
    need(sut, "tcp-server")
    port = env.start("tcp")

    def small_mss(s):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 88)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b"split into single bytes\nand again\n"
    with env.connect(port, before_connect=small_mss) as s:
        for i in range(len(data)):
            s.send(data[i:i + 1])
        got = recv_exactly(s, len(data))
    check_transform("T2", data, got, evidence, env)


@pytest.mark.clause("T2", "T3")
def test_many_lines_in_one_segment(env, sut, evidence):
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"".join(b"l%d\n" % i for i in range(300))      # about 1.5 KB: one segment
    with env.connect(port) as s:
        s.sendall(data)
        got = recv_exactly(s, len(data))
    check_transform("T2", data, got, evidence, env)


@pytest.mark.clause("T2", "T5")
@pytest.mark.parametrize("size", [3000, 70000, 10 << 20], ids=["above-mss", "above-64k", "10mb"])
def test_long_lines(env, sut, evidence, size):
    """Lines longer than the MSS, than 64 KiB, and of 10 MB are answered exactly (T5)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    rnd = random.Random(size)
    line = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyzABC0123 ") for _ in range(size - 1)) + b"\n"
    with env.connect(port, timeout=10) as s:      # the longest silence allowed, not the total time
        got = exchange(s, line + b"after\n")
    check_transform("T5", line + b"after\n", got, evidence)


@pytest.mark.clause("T2")
def test_crlf_and_empty_lines(env, sut, evidence):
    need(sut, "tcp-server")
    port = env.start("tcp")
    data = b"dos line\r\n\n\r\n\nlast\r\n"
    with env.connect(port) as s:
        got = exchange(s, data)
    check_transform("T2", data, got, evidence, env)


@pytest.mark.clause("T2")
@pytest.mark.parametrize("kind", ["all-256", "random-binary", "utf8"])
def test_uppercase_correctness(env, sut, evidence, kind):
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
        got = exchange(s, data)
    check_transform("T2", data, got, evidence, env)


# --- T4 half-close --------------------------------------------------------------------------------------

@pytest.mark.clause("T4", "W2")
@pytest.mark.parametrize("family", [4, 6])
def test_half_close_tail(env, sut, evidence, family):
    """An unterminated last line is answered after the half-close, then the server closes with FIN (T4),
    and on the wire: FIN, no RST, no data after FIN (W2)."""
    need(sut, "tcp-server")
    port = env.start("tcp", family)
    data = b"complete\nunterminated tail"
    with env.connect(port, family) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        try:
            got = recv_to_eof(s)
        except ConnectionResetError:
            evidence("T4: the server reset the connection (RST) instead of closing it")
            raise AssertionError("T4: connection reset (RST) instead of FIN after the half-close")
    check_transform("T4", data, got, evidence)
    if env.lab:
        w = env.wire()
        flow = w.tcp_flows(port=port)[-1]
        assert not flow.rst_from_server, f"W2: {flow.rst_from_server[0].where}: RST from the server"
        assert flow.fin_from_server, "W2: the server never sent FIN"
        late = flow.server_data_after_fin()
        assert not late, f"W2: {late[0].where}: {late[0].payload_len} bytes of data after the server's FIN"
        evidence(f"W2: {flow.fin_from_server[0].where}: server FIN after {flow.server_bytes} reply bytes")


@pytest.mark.clause("T3")
def test_line_answered_without_more_input(env, sut, evidence):
    need(sut, "tcp-server")
    port = env.start("tcp")
    with env.connect(port, timeout=3) as s:
        s.sendall(b"answer me now\n")
        try:
            got = recv_exactly(s, 14)
        except NoReply:
            evidence("T3: no reply within 3 s to a complete line while the connection stayed open")
            raise AssertionError("T3: a complete line was not answered within 3 s without more input")
    check_transform("T3", b"answer me now\n", got, evidence)


@pytest.mark.clause("T1", "T3")
def test_many_lines_per_connection(env, sut, evidence):
    """T1: any number of lines on a connection, answered one by one (stop and wait, like the seed)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    with env.connect(port, timeout=3) as s:
        for i in range(20):
            line = b"line number %d\n" % i
            s.sendall(line)
            try:
                got = recv_exactly(s, len(line))
            except NoReply:
                got = b""
            if got != upper(line):
                evidence(f"T1: line {i + 1} of the connection got {got!r}")
            assert got == upper(line), f"T1: line {i + 1} on one connection: {first_diff(upper(line), got)}"


@pytest.mark.clause("T1")
def test_concurrent_connections(env, sut, evidence):
    """50 connections at once, each with 20 lines, interleaved."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    socks = [env.connect(port, timeout=5) for _ in range(50)]
    try:
        for rnd in range(20):
            for i, s in enumerate(socks):
                s.sendall(b"conn %02d line %02d\n" % (i, rnd))
        for i, s in enumerate(socks):
            want = b"".join(b"CONN %02d LINE %02d\n" % (i, r) for r in range(20))
            try:
                got = recv_exactly(s, len(want))
            except NoReply:
                got = b""
            assert got == want, f"T1: connection {i}: {first_diff(want, got)}"
    finally:
        for s in socks:
            s.close()


@pytest.mark.clause("T6")
def test_idle_slow_and_non_reading_clients(env, sut, evidence):
    """Idle, slow and non-reading clients do not delay a well-behaved one (T6)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    hold = [env.connect(port) for _ in range(20)]                # idle
    slow = env.connect(port)
    slow.sendall(b"a slow line that never ")                     # a partial line
    hog = env.connect(port)
    try:
        sent = proc.send_until_blocked(hog)
        if sent >= 256 << 20:
            evidence(f"T6: the server kept reading a client that never reads its replies ({sent} bytes)")
        t0 = time.monotonic()
        with env.connect(port, timeout=3) as s:
            s.sendall(b"am i served?\n")
            try:
                got = recv_exactly(s, 13)
            except NoReply:
                got = b""
        took = time.monotonic() - t0
        if got != b"AM I SERVED?\n":
            evidence(f"T6: a well-behaved client got {got!r} within 3 s while 20 idle, 1 slow and 1 "
                     "non-reading clients were connected")
        assert got == b"AM I SERVED?\n", "T6: the well-behaved client was not served within 3 s"
        evidence(f"T6: served in {took * 1000:.1f} ms beside 20 idle, 1 slow and 1 non-reading clients")
    finally:
        for s in hold + [slow, hog]:
            s.close()


@pytest.mark.clause("T7")
@pytest.mark.lab_only     # signals need the server's process
def test_graceful_stop(env, sut, evidence):
    """SIGTERM: stop accepting, answer what arrived, exit 0."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    s = env.connect(port)
    s.sendall(b"before the stop\n")
    assert recv_exactly(s, 16) == b"BEFORE THE STOP\n"
    s.sendall(b"in flight\n")
    p = env.servers["tcp"]
    p.send_signal(signal.SIGTERM)
    tail = recv_to_eof(s)
    s.close()
    try:
        code = p.wait(10)
    except Exception:
        code = None
    assert tail == b"IN FLIGHT\n", f"T7: in-flight line answered as {tail!r}"
    assert code == 0, f"T7: exit status {code} after SIGTERM"


# --- on the wire ----------------------------------------------------------------------------------------

@pytest.mark.clause("W1")
@pytest.mark.lab_only
def test_three_way_handshake(env, sut, evidence):
    need(sut, "tcp-server")
    port = env.start("tcp")
    with env.connect(port) as s:
        s.sendall(b"x\n")
        recv_exactly(s, 2)
    flow = env.wire().tcp_flows(port=port)[-1]
    hs = flow.handshake()
    assert hs, f"W1: no SYN, SYN-ACK, ACK before data in the capture: {flow.summary()}"
    evidence("W1: " + ", ".join(p.where for p in hs) + " SYN, SYN-ACK, ACK before the first data")


@pytest.mark.clause("W3")
@pytest.mark.lab_only
def test_lost_syn_is_retransmitted(env, sut, evidence):
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
        proc.poll_until(lambda: dropped() >= 1, timeout=5, what="the router dropping the first SYN")
        router.exec([ipt, "-w", "-D"] + rule)
        _, w, _ = select.select([], [s], [], 10)
        assert w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, \
            "W3: the connection did not open after the lost SYN"
        s.setblocking(True)
        s.settimeout(5)
        s.sendall(b"after a lost syn\n")
        got = recv_exactly(s, 17)
    finally:
        s.close()
    want = b"AFTER A LOST SYN\n"
    assert got == want, f"W3: {first_diff(want, got)}"
    w = env.wire()
    syns = w.syns(port=port, side="client")
    assert len(syns) >= 2, f"W3: {len(syns)} SYN(s) on the client side; expected the lost one and a retransmission"
    server_syns = w.syns(port=port, side="server")
    assert server_syns and server_syns[0].ts > syns[0].ts, "W3: the first SYN was not lost in the router"
    flow = w.tcp_flows(port=port)[-1]
    assert flow.handshake(), f"W3: no handshake after the lost SYN: {flow.summary()}"
    evidence(f"W3: {syns[0].where} SYN lost in the router, {syns[1].where} retransmitted "
             f"{(syns[1].ts - syns[0].ts) * 1000:.0f} ms later; the connection opened")


@pytest.mark.clause("T3", "W5")
@pytest.mark.netem
@pytest.mark.lab_only
def test_ordering_under_loss_and_reordering(env, sut, evidence):
    """10,000 pipelined lines come back in order, the whole stream's SHA-256 equal, while the network loses
    and reorders segments (T3); the retransmissions in the capture account for the losses (W5)."""
    need(sut, "tcp-server")
    port = env.start("tcp")
    env.impair.set_rto_min(10)
    env.impair.set("c2s", delay_ms=10, loss=2, reorder=25)
    env.impair.set("s2c", delay_ms=10, loss=2)
    data = b"".join(b"pipelined line %05d of ten thousand\n" % i for i in range(10000))
    with env.connect(port, timeout=20) as s:      # silence allowed under loss (UML is slow)
        got = exchange(s, data)
    want = upper(data)
    ok = hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest()
    assert ok, f"T3: stream SHA-256 differs: {first_diff(want, got)}"
    evidence(f"T3: {len(data)} bytes in 10,000 lines, SHA-256 {hashlib.sha256(got).hexdigest()[:16]}... equal")
    lost = lost_tcp_data(env.ledger())
    retrans = env.wire().retransmissions(port=port)
    assert len(lost) > 0, "the impairment lost no data segment: the scenario proves nothing"
    unrecovered = undelivered_tcp_bytes(env.ledger())
    assert not unrecovered, (f"W5: {len(unrecovered)} lost segment(s) whose bytes never reached the receiver, "
                             f"first seq {unrecovered[0].seq} len {unrecovered[0].payload_len} from port "
                             f"{unrecovered[0].sport}")
    resent = sum(1 for p in lost if any(r.covers(p) for r in retrans))
    evidence(f"W5: the network lost {len(lost)} data segments; {resent} were retransmitted and the rest were "
             f"spurious retransmissions whose original had arrived; {len(retrans)} retransmissions in the "
             "capture, every byte delivered")
