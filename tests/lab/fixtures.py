"""pytest fixtures that read like the topology: `lab`, `client`, `router`, `server`, `netem`, `scenario`.

Use them from a conftest.py with `from lab.fixtures import *` (tests/lab/conftest.py does). Each test gets its
own namespaces; teardown is LIFO and fails the test (as an error) when anything is left behind.
"""
import pytest

from . import capture, interrupt, netem as netem_mod, netns

__all__ = ["lab", "client", "router", "server", "netem", "scenario", "pytest_runtest_makereport",
           "pytest_configure", "pytest_keyboard_interrupt"]
_full_trace = []


def pytest_configure(config):
    """SIGTERM and SIGHUP stop the run the way Ctrl-C does (KeyboardInterrupt: the running test's fixtures are
    torn down, LIFO), in pytest's main process and in every xdist worker (lab.interrupt)."""
    interrupt.install()
    _full_trace[:] = [config.getoption("fulltrace", False)]


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo):
    """pytest formats the interrupt's whole traceback, parsing the source of each of its ~20 frames, to print one
    line of it (without --full-trace): 0.1 s natively, seconds inside UML, where an interrupted run has 5 s to
    stop. Its last frames say where the run was."""
    if not (_full_trace and _full_trace[0]):
        excinfo.traceback = excinfo.traceback[-3:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item, so teardown knows whether the test passed."""
    rep = (yield).get_result()
    setattr(item, f"wc_rep_{rep.when}", rep)


@pytest.fixture
def lab():
    """A fresh client/router/server topology (see lab.netns); torn down and leak-checked after the test."""
    topo = netns.Topology()
    try:
        topo.up()
    except BaseException:
        topo.close()
        raise
    yield topo
    topo.close()


@pytest.fixture
def client(lab):
    return lab.client


@pytest.fixture
def router(lab):
    return lab.router


@pytest.fixture
def server(lab):
    return lab.server


@pytest.fixture
def netem(lab):
    """Impairments on the router (lab.netem.Impairments): netem per direction, nth drops, rto_min."""
    return netem_mod.Impairments(lab)


@pytest.fixture
def scenario(request, lab, netem, bins):
    """The test's scenario: capture of both sides already running, ledger, record (lab.capture.Scenario)."""
    sc = capture.Scenario(request.node.nodeid, lab, netem, bins)
    m = request.node.get_closest_marker("capture")
    sc.start_capture(**(m.kwargs if m else {}))
    yield sc
    rep = getattr(request.node, "wc_rep_call", None)
    sc.finish("passed" if rep is not None and rep.passed else "failed" if rep is not None else "error")
