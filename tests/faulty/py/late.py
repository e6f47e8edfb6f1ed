"""TCP, late but correct: each chunk is answered only when the next one arrives, or at EOF ("flush the
previous reply when there is news"). Defect: T3's promptness. Everything else is right."""
import zoolib


def handle(conn):
    pending = b""
    while True:
        data = zoolib.recv(conn, 65536)
        if pending:
            conn.sendall(pending)
        if not data:
            return
        pending = data.upper()


zoolib.serve_tcp(zoolib.port_arg(), handle)
