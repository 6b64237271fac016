# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Preflight: is everything in place before anything changes?
#
# The reference procedure found its problems in production: a storage plugin the cluster no
# longer ships, a Redis password beego could not carry, a port already taken. This runbook
# checks every precondition of the deployment first and changes nothing. It ends with one
# table: **ok**, **warning** (you may go on, read why) or **failed** (fix it first; the hint
# says how).
#
# Run it again after any change to the environment: it is cheap and has no side effects.

# %%
from harborbook import runbook
from harborbook.steps import preflight
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %% [markdown]
# The params file is validated first: a typo in a key, a wrong type or a password written in
# clear stops here, with the file, line and key that are wrong.

# %%
rb = runbook.start("00-preflight", params_file, dry_run=dry_run)

# %% [markdown]
# ## Kubernetes
# The runbooks talk to the cluster only through the kubeconfig named in the params file, with
# the official client — the same way on the local lab and on a real cluster. We ask the API
# server what we may do (SelfSubjectAccessReview) rather than finding out half-way through the
# rollout.

# %%
kube = Kube.from_params(rb.params.cluster)

# %%
rb.step(preflight.kubernetes, rb.params, kube, critical=False)

# %% [markdown]
# ## Nodes
# "Highly available" means replicas on different nodes. With fewer schedulable nodes than
# replicas, one node failure takes several replicas down at once: a warning, not a failure.

# %%
rb.step(preflight.nodes, rb.params, kube, critical=False)

# %% [markdown]
# ## Storage
# Every registry replica must see every blob, so the registry storage is one ReadWriteMany
# CephFS volume. The in-tree `cephfs` volume plugin was removed in Kubernetes 1.31: newer
# clusters need ceph-csi (`storage.backend: cephfs-csi`). The CephFS root must be mounted here
# (kernel `ceph` or `fuse.ceph-fuse`) so that 01 can create the directories the volumes use.

# %%
rb.step(preflight.storage_backend, rb.params, kube, critical=False)

# %%
rb.step(preflight.cephfs, rb.params, critical=False)

# %% [markdown]
# ## Databases
# Harbor 1.2 cannot initialise an empty external database: its schema and seed rows come from
# a throwaway Harbor's `registry` database (alembic_version 1.2.0). The target must be a
# healthy cluster: for Galera, `wsrep_ready` ON, Synced, in the primary component.

# %%
rb.step(preflight.source_database, rb.params, critical=False)

# %%
rb.step(preflight.target_database, rb.params, critical=False)

# %% [markdown]
# ## Redis
# Several ui replicas share logins only through Redis. The ui reads its address from beego's
# `_REDIS_URL` (`host:port,poolsize,password,dbnum`), which cannot carry a password that
# contains a comma: such a password would silently produce in-memory sessions.

# %%
rb.step(preflight.redis_sessions, rb.params, critical=False)

# %% [markdown]
# ## NodePort
# The nginx Service is exposed on a fixed NodePort; if another Service holds it, the rollout
# fails with "provided port is already allocated".

# %%
rb.step(preflight.node_port, rb.params, kube, critical=False)

# %% [markdown]
# ## Verdict
# Every check in one table. A failed row stops here; its hint says what to do.

# %%
# NBVAL_CHECK_OUTPUT
rb.step(preflight.verdict, rb.steps)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Next: **01-cephfs-storage** creates the shared volumes.
# - A node in DiskPressure among the nodes? **06-node-disk-pressure**.
