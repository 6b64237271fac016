"""Real processes behind the lab's pods (issue 6, part A): see :mod:`.runner` for the lifecycle,
:mod:`.volumes` and :mod:`.environment` for how a pod spec becomes files and variables, and
README.md for the design choices."""

from .agent import RunnerAgent, agents, install
from .podfs import stop_leftovers
from .runner import PodRunner, RunnerOptions

__all__ = ["PodRunner", "RunnerAgent", "RunnerOptions", "agents", "install", "stop_leftovers"]
