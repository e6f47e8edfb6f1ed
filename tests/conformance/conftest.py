"""Fixtures of the conformance scenarios: an Env per scenario, in the lab (with its two-sided capture and
impairments) or against a --target."""
import pytest

from lab.fixtures import lab, netem, pytest_runtest_makereport, scenario  # noqa: F401
from wcrun.env import LabEnv, TargetEnv
from wcrun.verdict import clause_parts


@pytest.fixture
def env(request, sut, attach_capture):
    """The scenario's world. In the lab: fresh client/router/server namespaces, both sides captured into
    captures/<test id>.pcapng, impairments through env.impair; with --target: the remote server only.
    A scenario none of whose clauses speaks for a part under test is n/a before any namespace is built."""
    m = request.node.get_closest_marker("clause")
    parts = {p for c in (m.args if m else ()) for p in clause_parts(c)}
    if parts and not any(sut.has(p) for p in parts):
        pytest.skip(f"n/a: no {' or '.join(sorted(parts))} under test")
    if sut.target:
        if request.node.get_closest_marker("lab_only") or request.node.get_closest_marker("netem"):
            pytest.skip("n/a: needs the lab (namespaces, capture or impairment), not a --target")
        yield TargetEnv(sut.target, sut.target_udp_port)
        return
    sc = request.getfixturevalue("scenario")
    attach_capture(sc.pcapng)
    env = LabEnv(sut, sc)
    yield env
    # A server under test that died during the scenario is the first thing its evidence says.
    for text in env.crashes() + env.stderr_errors():
        request.node.user_properties.append(("crash", text))
