"""A conforming TCP server written with socketserver, not in wirecheck's style: ThreadingTCPServer, one thread
per connection, dual-stack. It streams: each recv() is answered at once with bytes.upper() (ASCII a-z only),
so memory stays bounded and no line is held back; a blocking sendall() gives a non-reader back-pressure.
The half-close ends the handler, and socketserver's shutdown_request() then sends FIN after the last reply.
SIGTERM/SIGINT: stop accepting, answer what has arrived, close every connection, exit 0.

Usage: /usr/bin/python3 socketserver_tcp.py PORT"""
import os
import select
import signal
import socket
import socketserver
import sys
import threading

SETTLE = 0.2        # on a stop, a connection silent this long has nothing more in flight
stopping = threading.Event()


class Upper(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        while True:
            r, _, _ = select.select([conn], [], [], 0.1)
            if not r:
                if not stopping.is_set():
                    continue
                r, _, _ = select.select([conn], [], [], SETTLE)
                if not r:
                    return
            try:
                data = conn.recv(65536)
            except ConnectionError:
                return
            if not data:
                return
            try:
                conn.sendall(data.upper())
            except ConnectionError:
                return          # the client has gone: nobody to answer


class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    port = int(sys.argv[1])
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    srv = Server(("::", port), Upper)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    while not stopping.wait(1):
        pass
    srv.shutdown()
    srv.socket.close()
    for w in list(srv._threads or []):    # the handlers see their clients' silence and finish
        w.join(5)
    os._exit(0)


main()
