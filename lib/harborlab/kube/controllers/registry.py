"""The controllers a lab cluster runs, in the order the manager runs them."""

from __future__ import annotations

from ..cluster import Cluster
from .nodes import NodeController


def build_controllers(cluster: Cluster) -> list:
    return [NodeController(cluster)]
