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
# # 01 · Shared storage on CephFS: directories, the ceph Secret, volumes and claims
#
# Every registry replica must read every blob, and the job logs must survive a pod. Both live on
# one CephFS filesystem, mounted ReadWriteMany by every pod. This runbook creates the two
# directories (`log`, `registry`) under the CephFS path, the `ceph-secret` the volumes
# authenticate with, and the PersistentVolumes and claims that bind them, then waits until the
# claims are Bound. Re-running it changes nothing.

# %%
from harborbook import runbook
from harborbook.steps import storage
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("01-cephfs-storage", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %% [markdown]
# ## Directories
# Created through the CephFS mount on this machine and owned by the uid the components run as
# (the registry image runs as uid 10000): a root-owned directory makes every push fail with
# "permission denied" long after the deployment looked healthy. If CephFS is not mounted,
# nothing is written — a directory created on the local disk under the mount point would hide
# the mistake until the next reboot.

# %%
rb.step(storage.ensure_directories, rb.params.storage, rb.dry_run)

# %% [markdown]
# ## Namespace and the ceph Secret
# The Ceph admin key is read from the reference in the params file at the moment it is put into
# the Secret; it is never shown, logged or written to disk here.

# %%
rb.step(storage.ensure_namespace, kube, rb.params.cluster.namespace, rb.dry_run)

# %%
rb.step(storage.apply_ceph_secret, kube, rb.params.storage, rb.params.cluster.namespace, rb.dry_run)

# %% [markdown]
# ## Volumes and claims
# The PVs are ReadWriteMany with reclaim policy Retain: deleting a claim must never delete the
# registry's data. Each claim selects its volume by the `type` label and asks for storage class
# `""`, so a default StorageClass cannot hand it a new, empty volume instead. A PV already bound
# to somebody else's claim is refused, not taken.

# %%
rb.step(storage.apply_volumes, kube, rb.params.storage, rb.params.cluster.namespace, rb.dry_run)

# %%
# NBVAL_CHECK_OUTPUT
rb.step(storage.wait_bound, kube, rb.params.storage, rb.params.cluster.namespace, timeout=120,
        dry_run=rb.dry_run)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Next: **02-database** moves the Harbor database into the external cluster.
# - Claims stay Pending? Check the labels and sizes in the table above and rerun **00-preflight**.
