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

# %%
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

# %% [markdown]
# # 07 · Backup and restore: capture everything Harbor needs, and prove it by restoring it
#
# Harbor's state is in three places that must agree: the database (projects, users, the
# repositories the UI lists), the registry's blobs on CephFS, and the Secrets and ConfigMaps that
# tie them together (the generated `secret_key` decrypts the replication passwords stored in the
# database; the token key signs what the registry trusts). A backup of one without the others —
# or of the database a minute after the blobs — restores a Harbor that lists images it cannot
# serve. And a backup nobody has restored is a hope, not a backup. So this runbook:
#
# - freezes one moment: one Galera node leaves flow control (`wsrep_desync`) and is read-locked
#   while its tables are measured (`CHECKSUM TABLE`) and dumped (`--single-transaction`), and a
#   CephFS snapshot of the registry tree is taken in the same moment — the cluster is not slowed;
# - streams every file compressed and encrypted (AES-GCM in authenticated chunks: a flipped bit,
#   a dropped chunk or a truncated file is refused on restore), reads each one back after
#   writing, and checks every blob against its digest;
# - writes `backup.json` last: a backup without it is incomplete, and the next run resumes it;
# - keeps `backup.keep` complete backups, never fewer than one;
# - restores the backup into scratch names (namespace, database, CephFS path, NodePort), rolls
#   it out with 01/03/04's code, pulls every tag and compares the table checksums — then tears the
#   scratch copy down. A failed drill fails the runbook, with its table as the evidence.
#
# `backup.mode: restore` (with `confirm: true`) restores into the live names instead, after
# moving what is there aside (the database's tables into a timestamped database, the registry
# tree into a sibling directory), so a restore can itself be undone.

# %%
from harborbook import runbook
from harborbook.kube import Kube
from harborbook.steps import backup

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("07-backup-restore", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %% [markdown]
# ## The target
# Where backups go (a directory or an S3 bucket) and what is already there. An incomplete backup
# (no `backup.json`) is one that was interrupted: the next backup resumes it.

# %%
ready = rb.step(backup.setup, rb.params)
ready

# %% [markdown]
# ## Backup
# Database from one desynced, read-locked Galera node; registry tree from a CephFS snapshot; the
# namespace's ConfigMaps, Secrets, Services, Deployments, claims and volumes as manifests without
# their server-set fields. Every file is read back and verified after writing.

# %%
taken = rb.step(backup.take, rb.params, ready.value, kube, rb.dry_run)
taken

# %%
backup.tags(taken)

# %% [markdown]
# ## Retention
# The newest `backup.keep` complete backups stay; older ones, and interrupted ones older than the
# newest complete backup, are removed. The only complete backup is never removed.

# %%
rb.step(backup.retention, ready.value, rb.dry_run)

# %% [markdown]
# ## Restore drill
# The backup restored into scratch names on the same clusters, rolled out, logged into, every tag
# pulled (manifest digest and every layer's bytes) and every table's `CHECKSUM TABLE` compared
# with `backup.json`; then the scratch deployment is torn down.

# %%
drilled = rb.step(backup.drill, rb.params, ready.value, kube, rb.dry_run)
drilled

# %% [markdown]
# ## Restore into the live names
# Only with `backup.mode: restore` and `backup.confirm: true`.

# %%
rb.step(backup.restore_live, rb.params, ready.value, kube, rb.dry_run)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - A drill that cannot pull a tag names the blob: the backup holds a damaged copy; take a new one.
# - A wrong `backup.encryption_key` is refused before anything is restored.
