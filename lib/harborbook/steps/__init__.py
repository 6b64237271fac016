"""The step layer: the functions the runbooks call, one per notebook cell.

Each module serves one runbook (preflight: 00, storage: 01, database: 02, configure: 03/04,
rollout: 04, verify: 05, nodepressure: 06). A step turns params and a :class:`~harborbook.kube.Kube`
into a :class:`~harborbook.runbook.StepResult`; the work itself is done by the domain packages
(render, db, registry, eviction, kubelet, nodeshell) below.
"""
