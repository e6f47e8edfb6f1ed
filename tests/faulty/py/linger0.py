"""TCP, SO_LINGER {1, 0} "to avoid TIME_WAIT": every close is an RST instead of a FIN. Defect: T4 and W2
(the server must end with FIN, not RST)."""
import socket
import struct

import zoolib


def handle(conn):
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    while True:
        data = zoolib.recv(conn, 65536)
        if not data:
            return
        conn.sendall(data.upper())


zoolib.serve_tcp(zoolib.port_arg(), handle)
