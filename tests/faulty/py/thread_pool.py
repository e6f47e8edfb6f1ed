"""TCP, a fixed pool of 8 worker threads (concurrent.futures), each serving one connection to its end: the
ninth concurrent connection waits for a free worker. Defect: T1 (any number of concurrent connections) and
T6 (idle clients occupy the workers)."""
import concurrent.futures
import os
import socket

import zoolib


def handle(conn):
    with conn:
        while True:
            data = zoolib.recv(conn, 65536)
            if not data:
                return
            conn.sendall(data.upper())


zoolib.on_stop()
lst = zoolib.tcp_listener(zoolib.port_arg())
lst.settimeout(0.1)
pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
while not zoolib.stopping.is_set():
    try:
        conn, _ = lst.accept()
    except (socket.timeout, InterruptedError):
        continue
    conn.setblocking(True)
    pool.submit(handle, conn)
lst.close()
pool.shutdown(wait=True, cancel_futures=False)
os._exit(0)
