"""The controllers a lab cluster runs, in the order the manager runs them, and the admission
plugins they need."""

from __future__ import annotations

from ..cluster import Cluster
from .crds import CRDController
from .cronjobs import CronJobController, admit_cronjob
from .daemonsets import DaemonSetController
from .jobs import JobController
from .statefulsets import StatefulSetController
from .deployments import DeploymentController
from .gc import GarbageCollector
from .nodes import NodeController
from .pods import PodLifecycle
from .scheduler import Scheduler
from .services import EndpointsController, admit_service
from .volumes import VolumeBinder
from .workloads import RCS, REPLICASETS, ReplicaController


def build_controllers(cluster: Cluster) -> list:
    from ..nodes import DEFAULT_NODES
    from ..system import KubeSystem, NamespaceBasics, admit_pod
    cluster.admission.setdefault("Service", []).append(admit_service)
    cluster.admission.setdefault("Pod", []).append(admit_pod)
    cluster.admission.setdefault("CronJob", []).append(admit_cronjob)
    from ..rbac import install_escalation_checks
    install_escalation_checks(cluster)
    return [NodeController(cluster), CRDController(cluster), NamespaceBasics(cluster), KubeSystem(cluster, DEFAULT_NODES),
            DeploymentController(cluster), DaemonSetController(cluster), StatefulSetController(cluster),
            CronJobController(cluster), JobController(cluster), ReplicaController(cluster, REPLICASETS),
            ReplicaController(cluster, RCS), GarbageCollector(cluster), VolumeBinder(cluster),
            Scheduler(cluster), PodLifecycle(cluster), EndpointsController(cluster)]
