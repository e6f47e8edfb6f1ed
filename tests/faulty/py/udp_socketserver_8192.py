"""UDP, socketserver.UDPServer with its default max_packet_size of 8,192 bytes: larger datagrams are cut
to 8,192. Otherwise right (ordered, graceful stop). Defect: U1. (The reply also leaves from the primary
address: socketserver has no IP_PKTINFO, so U2's SHOULD as well.)"""
import socket
import socketserver
import threading

import zoolib


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data.upper(), self.client_address)


class Server(socketserver.UDPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


zoolib.on_stop()
srv = Server(("::", zoolib.port_arg()), Handler)
threading.Thread(target=lambda: (zoolib.stopping.wait(), srv.shutdown()), daemon=True).start()
srv.serve_forever(poll_interval=0.1)
