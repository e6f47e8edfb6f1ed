"""TCP, `wfile.write(line.strip().upper() + b"\\n")`: every reply line is stripped of surrounding whitespace
(CR of CRLF included) and ends in LF, an unterminated last line included. Defect: T2 (the reply stream is
not byte for byte the upper case of the request stream)."""
import zoolib


def handle(conn):
    for line in zoolib.rfile(conn):
        conn.sendall(line.strip().upper() + b"\n")


zoolib.serve_tcp(zoolib.port_arg(), handle)
