"""A conforming UDP server written with socketserver, not in wirecheck's style: ThreadingUDPServer, one thread
per datagram, made careful in the three places where the module's defaults are not: max_packet_size 65,535
(the default 8,192 truncates), the reply leaves from the address the request was sent to (IPV6_PKTINFO, also
for IPv4 on the dual-stack socket), and the replies leave in arrival order (a ticket per datagram, taken in
the accepting thread, so the handler threads cannot reorder them). SIGTERM/SIGINT: answer what is queued, exit 0.

Usage: /usr/bin/python3 socketserver_udp.py PORT"""
import os
import signal
import socket
import socketserver
import sys
import threading

stopping = threading.Event()


class Upper(socketserver.BaseRequestHandler):
    def handle(self):
        data, anc, ticket = self.request
        reply = data.upper()
        self.server.in_turn(ticket, lambda: self.server.socket.sendmsg([reply], anc, 0, self.client_address))


class Server(socketserver.ThreadingUDPServer):
    address_family = socket.AF_INET6
    max_packet_size = 65535
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        super().server_bind()
        self.turn = threading.Condition()
        self.next_ticket = 0        # taken in arrival order by get_request
        self.now_serving = 0

    def get_request(self):
        data, anc, _, addr = self.socket.recvmsg(self.max_packet_size, 256)
        src = [(lvl, kind, d[:16] + b"\0\0\0\0") for lvl, kind, d in anc
               if lvl == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO]
        ticket = self.next_ticket
        self.next_ticket += 1
        return (data, src, ticket), addr

    def in_turn(self, ticket, send):
        with self.turn:
            self.turn.wait_for(lambda: self.now_serving == ticket)
            try:
                send()
            except OSError:
                pass
            self.now_serving += 1
            self.turn.notify_all()


def main():
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    srv = Server(("::", int(sys.argv[1])), Upper)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    while not stopping.wait(1):
        pass
    srv.shutdown()
    srv.socket.setblocking(False)
    try:
        while True:             # what is already queued is answered before the exit
            req, addr = srv.get_request()
            srv.process_request(req, addr)
    except BlockingIOError:
        pass
    with srv.turn:
        srv.turn.wait_for(lambda: srv.now_serving == srv.next_ticket, timeout=5)
    os._exit(0)


main()
