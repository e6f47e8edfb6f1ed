"""TCP, the asyncio documentation's echo protocol with upper(): transport.write() never refuses, and the
protocol ignores pause_writing(), so for a client that never reads the server keeps reading and buffers
every reply in memory. Defect: T6's SHOULD (back-pressure, not unbounded buffering)."""
import asyncio
import signal
import socket
import sys


class Upper(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        conns.add(transport)

    def data_received(self, data):
        self.transport.write(data.upper())

    def eof_received(self):
        return False        # close once the replies are written: FIN after the last reply byte

    def connection_lost(self, exc):
        conns.discard(self.transport)


conns = set()


async def main(port):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    server = await loop.create_server(Upper, sock=s, backlog=128)
    await stop.wait()
    server.close()
    await asyncio.sleep(0.2)        # what was in flight has arrived and been answered
    for t in list(conns):
        t.close()                   # writes what is buffered, then FIN
    for _ in range(50):
        if not conns:
            break
        await asyncio.sleep(0.1)


asyncio.run(main(int(sys.argv[1])))
