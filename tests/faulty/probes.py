#!/usr/bin/python3
"""Prototype checks for what today's conformance suite misses, run on loopback against any zoo member (or any
server command), so that the proposed scenarios can be judged before they are written in the lab:

    stall     T6 MUST: a client that never reads pushes until the server has visibly stopped reading from it
              (no progress for 1 s, its receive buffer made small), then a well-behaved client must be served
              within 2 s while that pressure lasts
    crosstalk T1 MUST: 20 connections stream 2 MB of their own letter at once; each gets back only its own
    leave     T1 MUST: clients that leave early (close with megabytes unread, RST mid-line, FIN mid-line with
              replies pending); after each one the same server process must still serve a fresh client
    linemem   T5 SHOULD: the server's peak memory (VmHWM) while a 100 MB line streams through
    pushmem   T6 SHOULD: the server's peak memory while a client that never reads pushes up to 256 MB
    srcaddr   U2 SHOULD: a request sent to 127.0.0.2 must be answered from 127.0.0.2
    udporder  U3 MUST: bursts of alternately large and small datagrams come back in request order

    /usr/bin/python3 tests/faulty/probes.py [--probe P ...] MEMBER_OR_PREFIX ...
    /usr/bin/python3 tests/faulty/probes.py --cmd '/path/tcp-server -p {port}' --role tcp-server

Each probe prints PASS or FAIL with its measure. This is a prototype for the lead, not a scenario.
"""
import argparse
import os
import pathlib
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import measure  # noqa: E402

MEM_LIMIT = 48 << 20       # growth of the peak RSS that counts as "unbounded" for a 100-256 MB stream


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, cmd, kind):
        self.kind = kind
        self.port = free_port(kind)
        self.p = subprocess.Popen(["sh", "-c", "exec " + cmd.replace("{port}", str(self.port)).replace(
            "{host}", "127.0.0.1")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"not ready: {cmd}")

    def ready(self):
        if self.kind == socket.SOCK_STREAM:
            try:
                with open("/proc/net/tcp") as f4, open("/proc/net/tcp6") as f6:
                    for line in list(f4)[1:] + list(f6)[1:]:
                        f = line.split()
                        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == self.port:
                            return True
            except OSError:
                pass
            return False
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.1)
        try:
            s.sendto(b"probe", ("127.0.0.1", self.port))
            return s.recv(100) == b"PROBE"
        except OSError:
            return False
        finally:
            s.close()

    def tree(self):
        pids, todo = [], [self.p.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for t in pathlib.Path(f"/proc/{pid}/task").glob("*/children"):
                try:
                    todo += [int(x) for x in t.read_text().split()]
                except OSError:
                    pass
        return pids

    def hwm(self):
        """The largest peak RSS (VmHWM) among the server's processes, bytes."""
        best = 0
        for pid in self.tree():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]) << 10)
            except OSError:
                pass
        return best

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()


def served(port, timeout=2.0):
    """A well-behaved client: one line, half-close, its whole reply within `timeout` (collected after the
    half-close, so that a late-but-correct server passes: promptness is T3's business; how the server then
    closes, FIN, RST or not at all, is T4's and W2's)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"am i served?\n")
            s.shutdown(socket.SHUT_WR)
            got = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    b = s.recv(100)
                except ConnectionResetError:
                    break           # an RST after the reply is W2's business, not this check's
                if not b:
                    break
                got += b
                if len(got) >= 13:
                    break           # whether the server then closes is T4's business
            return got == b"AM I SERVED?\n"
    except OSError:
        return False


def push_until_stalled(s, quiet=1.0, limit=512 << 20):
    """Sends until no byte has gone for `quiet` seconds (the server stopped reading) or `limit`."""
    s.setblocking(False)
    data, sent, last = b"x" * 65535 + b"\n", 0, time.monotonic()    # lines: a T6 load, not a T5 one
    while sent < limit and time.monotonic() - last < quiet:
        _, w, _ = select.select([], [s], [], 0.05)
        if w:
            try:
                n = s.send(data)
                if n:
                    sent, last = sent + n, time.monotonic()
            except BlockingIOError:
                pass
    return sent


def small_rcvbuf():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s


def probe_stall(srv):
    hog = small_rcvbuf()
    hog.connect(("127.0.0.1", srv.port))
    sent = push_until_stalled(hog)
    t0 = time.monotonic()
    ok = served(srv.port)
    hog.close()
    return ok, f"non-reader stalled after {sent >> 10} KiB; well-behaved client " + \
        (f"served in {(time.monotonic() - t0) * 1000:.0f} ms" if ok else "NOT served within 2 s")


def probe_leave(srv):
    notes = []

    def unread_close():         # megabytes sent, replies never read, close(): RST (unread data)
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setblocking(False)
        try:
            for _ in range(64):
                s.send(b"y" * 65535 + b"\n")
        except BlockingIOError:
            pass
        time.sleep(0.3)         # let the server write replies towards us
        s.close()

    def rst_mid_line():
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"complete line\nhalf a li")
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()

    def fin_then_rst():         # 100 KB of lines, FIN and close() at once: the replies that arrive then are
        for _ in range(3):      # answered with RST, and the server (in CLOSE_WAIT) writes on: EPIPE
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"line\n" * 20000 + b"mid")
            s.shutdown(socket.SHUT_WR)
            s.close()
            time.sleep(0.1)

    for name, fn in (("close with megabytes unread", unread_close), ("RST mid-line", rst_mid_line),
                     ("FIN and close with 100 KB of replies to come", fin_then_rst)):
        try:
            fn()
        except OSError as e:
            time.sleep(0.2)
            return False, f"during a client's {name}: {e} (server process {'alive' if srv.alive() else 'exited ' + str(srv.p.returncode)})"
        time.sleep(0.5)
        if not srv.alive():
            return False, f"after a client's {name}, the server process exited ({srv.p.returncode})"
        if not served(srv.port):
            return False, f"after a client's {name}, a fresh client was not served"
        notes.append(name)
    return True, "still serving after: " + ", ".join(notes)


def probe_linemem(srv):
    base = srv.hwm()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    size = 100 << 20
    got = [0]

    def reader():
        while True:
            b = s.recv(1 << 20)
            if not b:
                return
            got[0] += len(b)
    t = threading.Thread(target=reader)
    t.start()
    chunk = b"a" * (1 << 20)
    for _ in range(size >> 20):
        s.sendall(chunk)
    s.sendall(b"\n")
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    grow = srv.hwm() - base
    return grow < MEM_LIMIT, f"peak RSS grew {grow >> 20} MiB while a 100 MiB line streamed (answered {got[0] >> 20} MiB)"


def probe_pushmem(srv):
    base = srv.hwm()
    hog = socket.create_connection(("127.0.0.1", srv.port))
    sent = push_until_stalled(hog, quiet=1.0, limit=256 << 20)
    grow = srv.hwm() - base
    hog.close()
    return grow < MEM_LIMIT, f"a non-reader pushed {sent >> 20} MiB; the server's peak RSS grew {grow >> 20} MiB"


def probe_srcaddr(srv):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"who answers?", ("127.0.0.2", srv.port))
    try:
        _, addr = s.recvfrom(100)
    except socket.timeout:
        return False, "no reply to 127.0.0.2"
    return addr[0] == "127.0.0.2", f"request to 127.0.0.2 answered from {addr[0]}"


def probe_udporder(srv):
    """U3 MUST: bursts that alternate 30,000-byte and 20-byte tagged datagrams, 8 in flight; the replies that
    come back (loopback: the network cannot reorder; a full socket buffer may drop) must be in request order."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.connect(("127.0.0.1", srv.port))
    s.settimeout(1)
    order = []
    for burst in range(80):
        for i in range(8):
            n = burst * 8 + i
            s.send(b"WC%010d:" % n + (b"b" * 30000 if i % 2 == 0 else b"s" * 7))
        for _ in range(8):
            try:
                order.append(int(s.recv(70000)[2:12]))
            except socket.timeout:
                break
    behind = sum(1 for a, b in zip(order, order[1:]) if b < a)
    return behind == 0 and len(order) >= 320, f"{len(order)} of 640 replies, {behind} out of request order"


def probe_crosstalk(srv):
    """T1 MUST: 20 connections stream 2 MB each at once, every connection its own letter, half-close; each
    must get back exactly its own upper case (a shared buffer shows up as another connection's letter)."""
    n, size, bad = 20, 2 << 20, []

    def one(i):
        letter = bytes([0x61 + i])
        data = (letter * 999 + b"\n") * (size // 1000)
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
                t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
                t.start()
                got = bytearray()
                while True:
                    b = s.recv(1 << 20)
                    if not b:
                        break
                    got += b
                t.join()
            if bytes(got) != data.upper():
                others = sorted({chr(c) for c in set(got)} - {chr(letter[0] - 0x20), "\n"})
                bad.append(f"conn {i}: {len(got)} bytes, foreign letters {''.join(others)[:10]}")
        except OSError as e:
            bad.append(f"conn {i}: {e}")
    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return not bad, "; ".join(bad[:3]) or f"{n} concurrent connections of 2 MB each, every reply its own"


PROBES = {"tcp-server": {"stall": probe_stall, "leave": probe_leave, "linemem": probe_linemem,
                         "pushmem": probe_pushmem, "crosstalk": probe_crosstalk},
          "udp-server": {"srcaddr": probe_srcaddr, "udporder": probe_udporder}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--cmd")
    ap.add_argument("--role", default="tcp-server")
    ap.add_argument("--probe", action="append")
    args = ap.parse_args()
    targets = []
    if args.cmd:
        targets.append(("cmd", args.role, args.cmd))
    members = measure.load()
    if any(m["language"] == "java" for m in members) and args.names:
        measure.compile_java()
    for m in members:
        if any(m["name"] == n or m["name"].startswith(n) for n in args.names) and m["role"] in PROBES:
            targets.append((m["name"], m["role"], measure.expand(m["cmd"])))
    for name, role, cmd in targets:
        for pname, fn in PROBES[role].items():
            if args.probe and pname not in args.probe:
                continue
            try:
                srv = Server(cmd, socket.SOCK_STREAM if role == "tcp-server" else socket.SOCK_DGRAM)
            except RuntimeError as e:
                print(f"{name:28} {pname:8} ERROR {e}", flush=True)
                continue
            try:
                ok, what = fn(srv)
            except Exception as e:      # noqa: BLE001  (a prototype: any exception is the verdict's evidence)
                ok, what = False, f"{type(e).__name__}: {e}"
            finally:
                srv.stop()
            print(f"{name:28} {pname:8} {'PASS' if ok else 'FAIL'}  {what}", flush=True)


if __name__ == "__main__":
    main()
