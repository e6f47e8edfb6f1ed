"""A student's first TCP server (threaded socketserver, recv(1024), decode().strip().upper()): four real bugs.
The suite must name each, in the clause it breaks (tests/selftest/test_student.py)."""
import socketserver
import sys


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(1024)
            if not data:
                break
            self.request.sendall((data.decode().strip().upper() + "\n").encode())


socketserver.ThreadingTCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), Handler) as server:
    server.serve_forever()
