"""End-to-end tests of the four reference programs on loopback (issue 2): the clients, the command lines, exit
codes and what the conformance scenarios cannot see (several local addresses, the servers' options).

The servers' protocol behaviour is judged by the conformance scenarios, which scripts/test-asan-scenarios runs
against these programs on loopback under ASan and UBSan; a test here that only repeated one of them is gone.
Each test cites the clause of tests/conformance/PROTOCOL.md it exercises.
"""
import hashlib
import random
import signal
import socket
import subprocess
import threading

import pytest

from lab import proc


def upper(b: bytes) -> bytes:
    return bytes(c - 32 if 97 <= c <= 122 else c for c in b)


def first_diff(want: bytes, got: bytes) -> str:
    for i, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return f"first difference at byte {i}: want {want[max(0, i-8):i+8].hex()} got {got[max(0, i-8):i+8].hex()}"
    return f"lengths differ: want {len(want)} got {len(got)}"


def assert_bytes(want: bytes, got: bytes):
    assert want == got, first_diff(want, got)


def run(argv, data=b"", timeout=60):
    return subprocess.run(argv, input=data, capture_output=True, timeout=timeout)


# --- TCP ------------------------------------------------------------------

def test_seed_style_one_line_session(bins, tcp_server):
    """T1, C1: the lecture's session: one line in, 'FROM SERVER: ' and its upper case out."""
    r = run([bins["tcp-client"], "127.0.0.1", str(tcp_server)], b"hello, world\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FROM SERVER: HELLO, WORLD\n"


def test_10000_pipelined_lines(bins, tcp_server):
    """T2, T3, C1: 10,000 lines pipelined on one connection come back complete and in order."""
    rnd = random.Random(1)
    lines = b"".join(b"line %05d %s\n" % (i, bytes(rnd.choice(b"abcXYZ019 ") for _ in range(rnd.randrange(0, 80))))
                     for i in range(10000))
    r = run([bins["tcp-client"], "--raw", "127.0.0.1", str(tcp_server)], lines)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(upper(lines)).hexdigest(), \
        first_diff(upper(lines), r.stdout)


def test_all_256_byte_values_tcp(bins, tcp_server):
    """T2: a-z change, every other byte value (NUL, CR, >= 0x80) passes unchanged."""
    data = bytes(range(256)) * 4 + b"\r\n"
    r = run([bins["tcp-client"], "--raw", "127.0.0.1", str(tcp_server)], data)
    assert r.returncode == 0, r.stderr
    assert_bytes(upper(data), r.stdout)


def test_one_megabyte_line(bins, tcp_server):
    """T5: a 1 MB line is answered exactly; no line length limit."""
    rnd = random.Random(7)
    data = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(1 << 20)) + b"\n"
    r = run([bins["tcp-client"], "--raw", "127.0.0.1", str(tcp_server)], data)
    assert r.returncode == 0, r.stderr
    assert_bytes(upper(data), r.stdout)


def test_tcp_client_half_closes_unterminated_tail(bins, tcp_server):
    """C1: tcp-client answers an input without a final LF and ends the printed line."""
    r = run([bins["tcp-client"], "127.0.0.1", str(tcp_server)], b"one\ntwo")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FROM SERVER: ONE\nFROM SERVER: TWO\n"


def test_sigterm_finishes_replies_and_exits_zero(bins, free_port):
    """T7: on SIGTERM the server stops accepting, answers what it received, and exits 0."""
    port = free_port()
    with proc.Process([bins["tcp-server"], "-p", str(port), "--grace", "3"], name="tcp-server") as p:
        proc.wait_tcp_listening("127.0.0.1", port, p)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"in flight\n")
        got = s.recv(100)
        assert got == b"IN FLIGHT\n"
        s.sendall(b"last words\n")
        p.send_signal(signal.SIGTERM)
        tail = proc.recv_to_eof(s)
        s.close()
        assert p.wait(5) == 0, p.describe()
        assert tail == b"LAST WORDS\n"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_tcp_ipv6(bins, tcp_server):
    """T1: IPv6 with the name resolved by getaddrinfo."""
    r = run([bins["tcp-client"], "-6", "::1", str(tcp_server)], b"over ipv6\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FROM SERVER: OVER IPV6\n"


def test_tcp_client_errors(bins, free_port):
    """Clear messages and exit codes: no server (1), bad usage (2)."""
    r = run([bins["tcp-client"], "-t", "2", "127.0.0.1", str(free_port())], b"x\n")
    assert r.returncode == 1 and b"connect" in r.stderr and b"refused" in r.stderr, r.stderr
    for argv in (["127.0.0.1", "0"], ["127.0.0.1", "65536"], ["127.0.0.1", "http"], [], ["-w", "0", "h"],
                 ["--bogus", "h"], ["a", "1", "extra"]):
        r = run([bins["tcp-client"]] + argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert b"--help" in r.stderr, (argv, r.stderr)


def test_tcp_client_timeout_on_silent_server(bins):
    """C1: a server that accepts and never answers makes the client time out with exit 1."""
    with socket.socket() as l:
        l.bind(("127.0.0.1", 0))
        l.listen()
        r = run([bins["tcp-client"], "-t", "0.5", "127.0.0.1", str(l.getsockname()[1])], b"anyone?\n")
    assert r.returncode == 1
    assert b"timeout" in r.stderr, r.stderr


def test_help_and_version(bins):
    for name in ("tcp-server", "tcp-client", "udp-server", "udp-client"):
        r = run([bins[name], "--help"])
        assert r.returncode == 0 and b"Usage: " + name.encode() in r.stdout
        r = run([bins[name], "--version"])
        assert r.returncode == 0 and b"wirecheck" in r.stdout
    for argv in (["-p", "0"], ["-p", "99999"], ["--workers", "0"], ["extra"]):
        r = run([bins["tcp-server"]] + argv)
        assert r.returncode == 2, (argv, r.stderr)


def test_port_in_use_is_a_clear_error(bins, tcp_server):
    r = run([bins["tcp-server"], "-p", str(tcp_server)], timeout=10)
    assert r.returncode == 1 and b"Address already in use" in r.stderr, r.stderr


# --- UDP ------------------------------------------------------------------

def test_udp_reply_from_the_address_the_request_was_sent_to(udp_server):
    """U2: with several local addresses, the reply comes from the one the request was sent to."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"x", ("127.0.0.2", udp_server))  # lo owns all of 127/8
        data, addr = s.recvfrom(100)
        assert (data, addr) == (b"X", ("127.0.0.2", udp_server))


def test_udp_replies_in_request_order(bins, udp_server):
    """U3: with no reordering in the network, replies come back in request order."""
    r = run([bins["udp-client"], "--seq", "-n", "5000", "-w", "64", "-q", "--json", "/dev/stdout",
             "127.0.0.1", str(udp_server)])
    assert r.returncode == 0, r.stderr
    assert b'"reordered": 0' in r.stdout and b'"answered": 5000' in r.stdout, r.stdout


def test_udp_client_seed_format_and_raw(bins, udp_server):
    """C2: 'FROM SERVER:<reply>' per line (the seed's UDP format), or only the reply with --raw."""
    r = run([bins["udp-client"], "127.0.0.1", str(udp_server)], b"hello\nCRLF\r\n\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FROM SERVER:HELLO\nFROM SERVER:CRLF\r\nFROM SERVER:\n"
    assert b"3 sent, 3 answered, 0 lost" in r.stderr
    r = run([bins["udp-client"], "--raw", "127.0.0.1", str(udp_server)], b"hello\n")
    assert r.stdout == b"HELLO\n"


def test_udp_client_counts_loss_and_exits_3(bins, free_port):
    """C2: no server: every message is lost, the summary says so, and the exit code is 3."""
    port = free_port(socket.SOCK_DGRAM)
    r = run([bins["udp-client"], "--seq", "-n", "5", "-w", "5", "-t", "0.2", "-q", "127.0.0.1", str(port)])
    assert r.returncode == 3, r.stderr
    assert b"5 sent, 0 answered, 5 lost" in r.stderr, r.stderr


def test_udp_client_detects_wrong_replies(bins, free_port):
    """C2: a server that pads its replies (like the seed's 1024-byte buffer) is caught: exit 4."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]

        def serve():
            data, addr = srv.recvfrom(2048)
            srv.sendto(upper(data).ljust(1024, b"\0"), addr)
        t = threading.Thread(target=serve)
        t.start()
        r = run([bins["udp-client"], "-q", "127.0.0.1", str(port)], b"short\n")
        t.join()
    assert r.returncode == 4, r.stderr
    assert b"1024 bytes for a 5-byte request" in r.stderr, r.stderr


def test_udp_client_generated_traffic_with_rate(bins, udp_server):
    """C2: --count/--size/--rate generate traffic without stdin; RTT stats are reported."""
    r = run([bins["udp-client"], "--seq", "-n", "200", "-s", "100", "--rate", "2000", "-w", "16", "-q",
             "127.0.0.1", str(udp_server)])
    assert r.returncode == 0, r.stderr
    assert b"200 sent, 200 answered, 0 lost" in r.stderr and b"rtt min/median/max" in r.stderr


def test_udp_ipv6(bins, udp_server):
    r = run([bins["udp-client"], "-6", "::1", str(udp_server)], b"over ipv6\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"FROM SERVER:OVER IPV6\n"


def test_udp_server_sigterm_exits_zero(bins, free_port):
    port = free_port(socket.SOCK_DGRAM)
    with proc.Process([bins["udp-server"], "-p", str(port)], name="udp-server") as p:
        proc.wait_udp_answering("127.0.0.1", port, p)
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0, p.describe()


def test_udp_single_datagram_mode(bins, free_port):
    """--batch 1 (one datagram per syscall, the benchmark's baseline) answers the same way."""
    port = free_port(socket.SOCK_DGRAM)
    with proc.Process([bins["udp-server"], "-p", str(port), "--batch", "1"], name="udp-server") as p:
        proc.wait_udp_answering("127.0.0.1", port, p)
        r = run([bins["udp-client"], "--seq", "-n", "1000", "-w", "32", "-q", "127.0.0.1", str(port)])
        assert r.returncode == 0, r.stderr
