"""TCP, text habits: bytes decoded as UTF-8 (surrogateescape, so nothing is lost) and str.upper() applied,
which changes non-ASCII letters too (é -> É, ß -> SS). Defect: T2 (only a-z may change)."""
import zoolib


def handle(conn):
    while True:
        data = zoolib.recv(conn, 65536)
        if not data:
            return
        text = data.decode("utf-8", "surrogateescape")
        conn.sendall(text.upper().encode("utf-8", "surrogateescape"))


zoolib.serve_tcp(zoolib.port_arg(), handle)
