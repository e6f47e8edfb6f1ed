"""TCP, the socketserver documentation's ThreadingTCPServer with a SIGTERM handler that lets the replies in
flight finish for a grace period and then exits 0, but never closes its listener: new clients are accepted and
served until the very end. Defect: T7 (SHOULD: on SIGTERM the server stops accepting)."""
import os
import signal
import socket
import socketserver
import sys
import threading

GRACE_S = 3.0


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data.upper())


class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def stop(_sig, _frame):
    # The defect: the grace period is right, the listener stays open through it.
    threading.Timer(GRACE_S, lambda: os._exit(0)).start()


signal.signal(signal.SIGTERM, stop)
with Server(("::", int(sys.argv[1])), Handler) as srv:
    srv.serve_forever()
