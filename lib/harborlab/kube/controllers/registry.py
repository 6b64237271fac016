"""The controllers a lab cluster runs, in the order the manager runs them, and the admission
plugins they need."""

from __future__ import annotations

from ..cluster import Cluster
from .deployments import DeploymentController
from .gc import GarbageCollector
from .nodes import NodeController
from .pods import PodLifecycle
from .scheduler import Scheduler
from .services import EndpointsController, admit_service
from .volumes import VolumeBinder
from .workloads import RCS, REPLICASETS, ReplicaController


def build_controllers(cluster: Cluster) -> list:
    cluster.admission.setdefault("Service", []).append(admit_service)
    return [NodeController(cluster), DeploymentController(cluster), ReplicaController(cluster, REPLICASETS),
            ReplicaController(cluster, RCS), GarbageCollector(cluster), VolumeBinder(cluster),
            Scheduler(cluster), PodLifecycle(cluster), EndpointsController(cluster)]
