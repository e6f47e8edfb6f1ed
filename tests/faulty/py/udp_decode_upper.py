"""UDP, the textbook's `message.decode().upper().encode()`: a datagram that is not UTF-8 raises
UnicodeDecodeError and the server dies; UTF-8 letters outside a-z are changed. Defect: U1."""
import zoolib

zoolib.serve_udp(zoolib.port_arg(), lambda data: data.decode().upper().encode())
