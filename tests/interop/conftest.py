"""Fixtures of the interop workload: one client under test against one server under test in the lab, both sides
captured (the matrix's cells). The same fixtures as the conformance scenarios', without the n/a rule: a cell
always has both parts."""
import pytest

from lab.fixtures import (lab, netem, pytest_configure, pytest_keyboard_interrupt,  # noqa: F401
                          pytest_runtest_makereport, scenario)
from wcrun.env import lab_env


@pytest.fixture
def env(request, sut, attach_capture):
    yield from lab_env(request, sut, attach_capture)
