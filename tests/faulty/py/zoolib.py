"""Scaffolding shared by the zoo's Python members, done right once: a dual-stack listener, a graceful stop
(SIGTERM/SIGINT: stop accepting, answer what has arrived, exit 0) and a UDP loop that replies from the
address the request was sent to. A member's one defect is in its own file, never here."""
import io
import os
import select
import signal
import socket
import sys
import threading

stopping = threading.Event()
SETTLE = 0.2        # after a stop request, a connection silent this long has nothing in flight


def port_arg():
    return int(sys.argv[1])


def on_stop():
    """SIGTERM and SIGINT set `stopping` instead of killing the process."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())


def tcp_listener(port, family=socket.AF_INET6):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
    else:
        s.bind(("0.0.0.0", port))
    s.listen(128)
    return s


def recv(conn, n):
    """conn.recv(n), except that once a stop was requested a connection silent for SETTLE reads as EOF."""
    while True:
        r, _, _ = select.select([conn], [], [], 0.1)
        if r:
            return conn.recv(n)
        if stopping.is_set():
            r, _, _ = select.select([conn], [], [], SETTLE)
            return conn.recv(n) if r else b""


class _Raw(io.RawIOBase):
    def __init__(self, conn):
        self.conn = conn

    def readable(self):
        return True

    def readinto(self, b):
        data = recv(self.conn, len(b))
        b[:len(data)] = data
        return len(data)


def rfile(conn):
    """A buffered binary reader over conn that honours the stop (for readline-style members)."""
    return io.BufferedReader(_Raw(conn), 65536)


def serve_tcp(port, handle, family=socket.AF_INET6):
    """Thread per connection; handle(conn) serves one connection and returns at EOF; the connection is then
    closed (FIN). On a stop: no more accepts, each handler sees EOF once its client is silent, exit 0."""
    on_stop()
    lst = tcp_listener(port, family)
    lst.settimeout(0.1)
    workers = []

    def run(conn):
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()
    while not stopping.is_set():
        try:
            conn, _ = lst.accept()
        except (socket.timeout, InterruptedError):
            continue
        conn.setblocking(True)
        t = threading.Thread(target=run, args=(conn,), daemon=True)
        t.start()
        workers.append(t)
    lst.close()
    for t in workers:
        t.join(5)
    os._exit(0)


def udp_socket(port, family=socket.AF_INET6, pktinfo=True):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        if pktinfo:     # also delivered, v4-mapped, for IPv4 requests on this dual-stack socket
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    else:
        s.bind(("0.0.0.0", port))
        if pktinfo:
            s.setsockopt(socket.IPPROTO_IP, 8, 1)      # IP_PKTINFO (not exported by Python's socket module)
    return s


def reply_cmsgs(anc):
    """The ancillary data that makes a reply leave from the address the request was sent to."""
    out = []
    for level, kind, data in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
            out.append((level, kind, data[:16] + b"\0\0\0\0"))
        elif level == socket.IPPROTO_IP and kind == 8:
            out.append((level, kind, b"\0\0\0\0" + data[8:12] + b"\0\0\0\0"))   # spec_dst = header dst
    return out


def serve_udp(port, transform, family=socket.AF_INET6, pktinfo=True, bufsize=65535):
    """One reply per datagram, transform(data) -> reply bytes (None: no reply), in arrival order, from the
    address the request was sent to (unless pktinfo is False). On a stop: answer what is queued, exit 0."""
    on_stop()
    s = udp_socket(port, family, pktinfo)
    while True:
        r, _, _ = select.select([s], [], [], 0 if stopping.is_set() else 0.1)
        if not r:
            if stopping.is_set():
                os._exit(0)
            continue
        data, anc, _, addr = s.recvmsg(bufsize, 256)
        reply = transform(data)
        if reply is not None:
            s.sendmsg([reply], reply_cmsgs(anc) if pktinfo else [], 0, addr)
