"""TCP, the Python habit `for line in rfile: wfile.write(line.upper())`: correct bytes, but a line is read
whole before it is answered, so memory grows with the line's length. Defect: T5's SHOULD (bounded memory)."""
import zoolib


def handle(conn):
    rf = zoolib.rfile(conn)
    for line in rf:         # a 100 MB line is 100 MB in this process
        conn.sendall(line.upper())


zoolib.serve_tcp(zoolib.port_arg(), handle)
