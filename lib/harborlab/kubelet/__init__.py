"""The lab's kubelet simulator: one per lab node, living inside the API emulator as its node agent.

``--agent-factory harborlab.kubelet:lab_agents`` plugs it in (after the ``nodes`` component has
mounted the node roots and written ``<state>/nodes/settings.json``)."""

from .agent import LabNodeAgent, lab_agents
from .simulator import KubeletSim, Pass

__all__ = ["KubeletSim", "LabNodeAgent", "Pass", "lab_agents"]
