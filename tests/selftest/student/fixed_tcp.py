"""The student's TCP server after reading the suite's output once: bytes, not text; the stream, not lines."""
import socketserver
import sys

UPPER = bytes(c - 32 if 97 <= c <= 122 else c for c in range(256))   # T2: only a-z change


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)       # T5: a chunk of the stream, not a line
            if not data:                          # T4: the client's FIN: everything is answered, so close
                break
            self.request.sendall(data.translate(UPPER))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("0.0.0.0", int(sys.argv[1])), Handler) as server:
    server.serve_forever()
