"""What the scenarios' environments say when the server under test is not there: a refused or unaccepted
connection names the address and the family, and a server that died is named by its exit status or its
signal, with the request it died after and the end of its stderr. On loopback, with real processes and the
committed sample captures: no lab."""
import signal
import socket
import types

import pytest

from lab import proc
from wcrun import paths
from wcrun.env import LabEnv, LoopbackEnv, TargetEnv, exit_text, parse_target, sigterm_exit_text
from wcrun.plugin import SUT

SAMPLES = paths.checkout() / "captures" / "samples"


@pytest.mark.parametrize("rc,text", [(None, "did not exit"), (0, "exited with status 0"),
                                     (1, "exited with status 1"), (-signal.SIGTERM, "was killed by SIGTERM"),
                                     (-signal.SIGKILL, "was killed by SIGKILL"),
                                     (-signal.SIGSEGV, "was killed by SIGSEGV"), (-99, "was killed by signal 99")])
def test_exit_text_names_the_signal_not_a_negative_status(rc, text):
    assert exit_text(rc) == text


def test_a_server_ended_by_sigterm_itself_is_told_what_to_do():
    """T7.2/U4.2: not 'killed by SIGTERM after SIGTERM', but what happened and what is expected."""
    assert sigterm_exit_text(-signal.SIGTERM) == (
        "the server was ended by the SIGTERM itself (the signal's default action, no handler): it must catch it, "
        "close, and exit with status 0")
    assert sigterm_exit_text(3) == "the server exited with status 3 after SIGTERM, not status 0"


@pytest.mark.parametrize("target,udp_port,want", [
    ("192.0.2.7", None, ("192.0.2.7", 6789, 9876)),
    ("192.0.2.7:7000", 7001, ("192.0.2.7", 7000, 7001)),
    ("server.example:7000", None, ("server.example", 7000, 9876)),
    ("[fd00:71:2::2]:7000", 7001, ("fd00:71:2::2", 7000, 7001)),
    ("[fd00:71:2::2]", None, ("fd00:71:2::2", 6789, 9876)),
    ("fd00:71:2::2", None, ("fd00:71:2::2", 6789, 9876))])
def test_target_forms_and_their_default_ports(target, udp_port, want):
    host, ports = parse_target(target, udp_port)
    assert (host, ports["tcp"], ports["udp"]) == want, (target, udp_port, host, ports)


@pytest.mark.parametrize("target,udp_port", [("h:0", None), ("h:65536", None), ("h:port", None), ("h:", None),
                                             (":7000", None), ("[::1]:", None), ("[::1]7000", None),
                                             ("[::1", None), ("h", 0), ("h", 65536)])
def test_a_malformed_target_is_refused_not_read_as_the_default(target, udp_port):
    with pytest.raises(ValueError) as e:
        parse_target(target, udp_port)
    named = "--target-udp-port" if udp_port is not None else repr(target)
    assert named in str(e.value), f"expected the message to name {named}, got {str(e.value)!r}"


@pytest.mark.parametrize("kind,what,flag", [("tcp", "TCP listener", "--target HOST:TCPPORT"),
                                            ("udp", "UDP server answering", "--target-udp-port PORT")],
                         ids=["tcp", "udp"])
@pytest.mark.parametrize("family,address", [(4, "127.0.0.1:{port}"), (6, "[::1]:{port}")], ids=["IPv4", "IPv6"])
def test_a_target_that_never_answers_names_its_address_and_the_option_for_its_port(monkeypatch, kind, what, flag,
                                                                                  family, address):
    monkeypatch.setattr(TargetEnv, "READY_S", 0.3)
    port = proc.free_port(socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    address = address.format(port=port)
    env = TargetEnv(address, udp_port=port)
    with pytest.raises(proc.NotReady) as e:
        env.start(kind, family)
    want = (f"{what} on {address}: not ready after 0.3 s (is the {kind.upper()} server running there? its port "
            f"is set with {flag})")
    assert str(e.value) == want, f"expected {want!r}, got {str(e.value)!r}"


def closed_port():
    """A TCP port on which nothing listens on 127.0.0.1 or ::1 (free a moment ago)."""
    return proc.free_port(socket.SOCK_STREAM)


@pytest.mark.parametrize("address,family", [("127.0.0.1:{port}", 4), ("[::1]:{port}", 6)], ids=["IPv4", "IPv6"])
def test_a_refused_connection_names_the_address_and_the_family(address, family):
    port = closed_port()
    address = address.format(port=port)         # as --target takes it, and as the message must name it
    with pytest.raises(ConnectionRefusedError) as e:
        TargetEnv(address).connect(port)
    want = f"connection to {address} refused: is the server listening on IPv{family}, and still running?"
    assert str(e.value) == want, f"expected {want!r}, got {str(e.value)!r}"


def test_a_connection_never_accepted_names_the_address_and_the_wait():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # Fill the accept queue (never accepted): the kernel then drops further SYNs, so connect() waits.
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                fillers.append(s)
                s.settimeout(0.5)
                try:
                    s.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.fail("the listener's accept queue never filled")
            with pytest.raises(TimeoutError) as e:
                TargetEnv(f"127.0.0.1:{port}").connect(port, timeout=1.0)
        finally:
            for s in fillers:
                s.close()
    want = f"connection to 127.0.0.1:{port} not accepted within 1 s: is the server accepting?"
    assert str(e.value) == want, f"expected {want!r}, got {str(e.value)!r}"


def dying(tmp_path, name, stderr, sig=None, status=0):
    """A script that writes `stderr` and then kills itself with sig (or exits with status)."""
    script = tmp_path / f"{name}.py"
    end = f"os.kill(os.getpid(), {int(sig)})" if sig else f"sys.exit({status})"
    script.write_text(f"import os, sys\nsys.stderr.write({stderr!r})\nsys.stderr.flush()\n{end}\n")
    return f"/usr/bin/python3 {script}"


def test_a_server_killed_before_it_was_ready_is_named_by_its_signal(tmp_path):
    cmd = dying(tmp_path, "udp", "starting\nValueError: no datagram for you\n", sig=signal.SIGKILL)
    env = LoopbackEnv(SUT({"udp_server_cmd": cmd + " {port}"}), tmp_path)
    try:
        with pytest.raises(proc.NotReady) as e:
            env.start("udp")
    finally:
        env.close()
    want = ("the server under test was killed by SIGKILL before it was ready; its stderr ends: "
            "ValueError: no datagram for you")
    assert str(e.value) == want, f"expected {want!r}, got {str(e.value)!r}"


@pytest.mark.parametrize("sig,status,stderr,ends", [
    (signal.SIGTERM, 0, "listening\n", "; its stderr ends: listening"),
    (None, 1, "", "; its stderr is empty")], ids=["SIGTERM", "status-1"])
def test_a_lab_server_that_died_before_it_was_ready_is_named(tmp_path, sig, status, stderr, ends):
    p = proc.Process(dying(tmp_path, "tcp", stderr, sig, status).split(), name="tcp-server", logdir=str(tmp_path))
    try:
        p.wait(10)
        with pytest.raises(proc.NotReady) as e:
            LabEnv._check_alive(p)
    finally:
        p.close()
    how = f"was killed by {sig.name}" if sig else f"exited with status {status}"
    want = f"the server under test {how} before it was ready{ends} (logs: {tmp_path})"
    assert str(e.value) == want, f"expected {want!r}, got {str(e.value)!r}"


def lab_env_over(capture):
    """A LabEnv whose scenario is only its capture (a committed sample): enough for what crashes() reads."""
    scenario = types.SimpleNamespace(topo=None, netem=None, pcapng=capture, stop_capture=lambda: None)
    return LabEnv(SUT({}), scenario)


@pytest.mark.parametrize("kind,sample,sig,status,frame", [
    ("udp", "udp-loss-reorder.pcapng", signal.SIGKILL, 0, 749),
    ("tcp", "tcp-session.pcapng", None, 1, 16)], ids=["udp-SIGKILL", "tcp-status-1"])
def test_a_crash_during_a_scenario_names_the_signal_the_frame_and_the_stderr(tmp_path, kind, sample, sig, status,
                                                                            frame):
    env = lab_env_over(SAMPLES / sample)
    p = proc.Process(dying(tmp_path, kind, "Traceback (most recent call last):\n  File \"x\", line 1\n"
                                           "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff\n",
                           sig, status).split(), name=f"{kind}-server", logdir=str(tmp_path))
    try:
        p.wait(10)
        env.servers[kind] = p
        got = env.crashes()
    finally:
        p.close()
    how = f"was killed by {sig.name}" if sig else f"exited with status {status}"
    want = [f"the {kind.upper()} server {how} during this scenario after the request of frame {frame} (server "
            f"side); its stderr ends: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff (logs: {tmp_path})"]
    assert got == want, f"expected {want}, got {got}"


def test_a_server_stopped_on_purpose_is_no_crash(tmp_path):
    env = lab_env_over(SAMPLES / "tcp-session.pcapng")
    with proc.Process(["sleep", "60"], name="tcp-server", logdir=str(tmp_path)) as p:
        env.servers["tcp"] = p
        env.signal_server("tcp", signal.SIGTERM)
        assert p.wait(10) == -signal.SIGTERM
        assert env.crashes() == [], env.crashes()
