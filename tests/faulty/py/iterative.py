"""TCP, the socketserver documentation's example as written: socketserver.TCPServer, which serves one
connection at a time. Defect: T1 (concurrent connections are not served) and T6 (an idle client holds up
every other). Graceful stop is right."""
import socket
import socketserver
import threading

import zoolib


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = zoolib.recv(self.request, 65536)
            if not data:
                return
            self.request.sendall(data.upper())


class Server(socketserver.TCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


zoolib.on_stop()
srv = Server(("::", zoolib.port_arg()), Handler)
threading.Thread(target=lambda: (zoolib.stopping.wait(), srv.shutdown()), daemon=True).start()
srv.serve_forever(poll_interval=0.1)
srv.server_close()
