"""The lab's Kubernetes API emulator: a real HTTP server speaking enough of the Kubernetes REST API
for the official client (typed APIs, DynamicClient, watch), with controllers for Deployments,
ReplicaSets, ReplicationControllers, scheduling, PV/PVC binding, Services and garbage collection.

Start it with ``python -m harborlab.kube --state DIR`` (or ``harborbook lab up``); node agents plug
in through nodes.py. Module map: resources (table) -> store -> selectors/patch/validation ->
cluster (verbs) -> server/watch/subresources (HTTP) -> controllers/ -> runtime (wiring).
"""
