"""A lab scenario that runs until it is interrupted: the subject of tests/lab/test_interrupt.py.

Not collected by default (its name does not match test_*.py): run it by path, with WIRECHECK_VICTIM_STATE set
to the JSON file where it says, once everything is up, what it started (namespaces, pids, capture).
With WIRECHECK_VICTIM_SLOW_STOP=DIR it also starts a process that is slow to stop: told to (SIGTERM, the first
step of the topology's teardown), it creates DIR/stopping, then waits until someone opens the FIFO DIR/release
for writing, and the teardown waits for it (at most proc.Process.stop's 3 s). A test so knows that the lab is
cleaning up, and holds it there.
"""
import json
import os
import signal

import pytest

UDP_PORT = 9876
SLOW_STOP = ('trap \'touch "$1/stopping"; read line <"$1/release"; exit 0\' TERM; '
             'while :; do sleep 1000 & wait $!; done')


@pytest.mark.lab
@pytest.mark.capture
def test_blocks_until_interrupted(scenario, client, server, bins):
    p = server.spawn([bins["udp-server"], "-p", str(UDP_PORT), "--grace", "0"], name="udp-server")
    server.wait_udp(UDP_PORT, p)
    client.exec([bins["udp-client"], server.addr4, str(UDP_PORT)], input=b"evidence on the wire\n")
    if os.environ.get("WIRECHECK_VICTIM_SLOW_STOP"):    # started last: the teardown stops it first
        server.spawn(["sh", "-c", SLOW_STOP, "slow-stop", os.environ["WIRECHECK_VICTIM_SLOW_STOP"]],
                     name="slow-stop")
    state = {"pid": os.getpid(), "namespaces": sorted(scenario.topo.names.values()), "server": p.pid,
             "sniffer": scenario.capture.p.pid, "capture": str(scenario.pcapng)}
    path = os.environ["WIRECHECK_VICTIM_STATE"]
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)   # whole or absent: the test polls for it
    while True:
        signal.pause()   # until a signal interrupts the test (that is the point)
