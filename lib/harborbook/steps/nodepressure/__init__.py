"""06-node-disk-pressure: reach the kubelet's own verdict on a node, explain it, fix it, verify.

The decisions are :mod:`harborbook.eviction`'s (the same code the lab's kubelet simulator uses);
this package fetches what they need — from the API (node status, configz, stats/summary) or,
where the node does not serve those, from the node itself through a node shell — and turns the
answers into the runbook's tables, plots and plans.
"""

from .clusterview import FLEET, cluster_view, node_events, pods_affected
from .inforce import InForce, thresholds_in_force
from .observe import Observed, observe
from .diagnose import diagnose, plot_verdict
from .fix import apply_plan, diffs, plan_remedy, verify_fix
from .fleet import fleet_view, plot_fleet, scan_fleet

__all__ = ["InForce", "Observed", "apply_plan", "cluster_view", "diagnose", "diffs", "fleet_view", "node_events",
           "observe", "plan_remedy", "plot_fleet", "plot_verdict", "pods_affected", "scan_fleet", "thresholds_in_force",
           "verify_fix"]
