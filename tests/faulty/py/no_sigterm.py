"""TCP, the socketserver documentation's ThreadingTCPServer, correct in every byte, with the example's
`serve_forever()` and no signal handling: SIGTERM kills it (status -15, in-flight replies lost). Defect: T7."""
import socket
import socketserver
import sys


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


if __name__ == "__main__":
    with Server(("::", int(sys.argv[1])), Handler) as srv:
        srv.serve_forever()
