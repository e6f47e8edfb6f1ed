"""The lab's own tests use the lab's fixtures."""
from lab.fixtures import *  # noqa: F401,F403
