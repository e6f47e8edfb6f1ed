"""TCP, only complete lines are answered: at the half-close an unterminated last line is dropped ("it is
not a line"). Defect: T4 (the unterminated last line must be answered). The close is a clean FIN."""
import zoolib


def handle(conn):
    for line in zoolib.rfile(conn):
        if line.endswith(b"\n"):
            conn.sendall(line.upper())


zoolib.serve_tcp(zoolib.port_arg(), handle)
