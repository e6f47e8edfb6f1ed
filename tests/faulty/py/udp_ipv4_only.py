"""UDP, correct in every respect but bound to 0.0.0.0: it serves IPv4 only, as the textbook's Python UDP
server does. PROTOCOL.md asks nothing of IPv6, so this one CONFORMS (the zoo's no-false-alarm check)."""
import socket

import zoolib

zoolib.serve_udp(zoolib.port_arg(), lambda data: data.upper(), family=socket.AF_INET)
