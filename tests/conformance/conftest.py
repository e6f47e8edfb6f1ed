"""Fixtures of the conformance scenarios: an Env per scenario, in the lab (with its two-sided capture and
impairments) or against a --target."""
import pytest

from lab.fixtures import (lab, netem, pytest_configure, pytest_keyboard_interrupt,  # noqa: F401
                          pytest_runtest_makereport, scenario)
from wcrun.env import LoopbackEnv, TargetEnv, lab_env
from wcrun.verdict import clause_parts


@pytest.fixture
def env(request, sut, attach_capture):
    """The scenario's world. In the lab: fresh client/router/server namespaces, both sides captured into
    captures/<test id>.pcapng, impairments through env.impair; with --target: the remote server only; with --loopback: the server
    under test on this machine's loopback, checked for sanitizer reports and its exit status when stopped.
    A scenario none of whose clauses speaks for a part under test is n/a before any namespace is built."""
    m = request.node.get_closest_marker("clause")
    parts = {p for c in (m.args if m else ()) for p in clause_parts(c)}
    if parts and not any(sut.has(p) for p in parts):
        pytest.skip(f"n/a: no {' or '.join(sorted(parts))} under test")
    loopback = request.config.getoption("loopback")
    if sut.target or loopback:
        if request.node.get_closest_marker("lab_only") or request.node.get_closest_marker("netem"):
            where = "--loopback" if loopback else "a --target"
            pytest.skip(f"n/a: needs the lab (namespaces, capture or impairment), not {where}")
        if sut.target:
            yield TargetEnv(sut.target, sut.target_udp_port)
            return
        env = LoopbackEnv(sut, request.getfixturevalue("tmp_path"))
        yield env
        problems = env.close()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
        return
    yield from lab_env(request, sut, attach_capture)
