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
# # 04 · Rollout: apply in dependency order, wait for readiness, explain any wait
#
# Server-side apply (field manager `harborbook`): the API server merges our fields and reports
# conflicts with other managers instead of silently overwriting them, and applying the same
# manifests twice changes nothing. Secrets and ConfigMaps go first — a Deployment whose ConfigMap
# does not exist yet starts pods stuck in ContainerCreating — then Services, then Deployments.
# Readiness is followed through watches, not sleep loops; on a timeout the runbook shows why
# each pod waits (its phase, reason and latest events) instead of only "timed out".

# %%
from harborbook import runbook
from harborbook.steps import configure, rollout
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("04-rollout", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %% [markdown]
# ## The manifests of 03
# Rendered again from the same templates and the generated secrets 03 stored, so they are
# exactly the objects 03 planned.

# %%
generated = rb.step(configure.stored_generated_secrets, kube, rb.params.cluster.namespace, rb.dry_run)
generated

# %%
objects = rb.step(configure.manifests, rb.params, generated.value)
objects

# %% [markdown]
# ## Apply
# With `dry_run`, the server's own dry run (`dryRun=All`): admission and validation run, nothing
# is stored.

# %%
rb.step(rollout.apply_all, kube, objects.value, rb.dry_run)

# %% [markdown]
# ## Readiness
# One progress bar per component. Replicas that share a node are reported: the anti-affinity is
# a preference, so with fewer nodes than replicas the scheduler still places them.
# A component that cannot come up — its program exits at start on every pod with the same
# termination, or its image cannot be pulled — ends the wait at once instead of at the timeout,
# and the table shows the last lines of the failing container's log.

# %%
ready = rb.step(rollout.wait_ready, kube, rb.params.cluster.namespace,
                ["adminserver", "ui", "jobservice", "registry", "nginx"],
                timeout=rb.params.cluster.rollout_timeout, dry_run=rb.dry_run)

# %%
# NBVAL_CHECK_OUTPUT
ready

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Next: **05-verify** proves the deployment works and survives the loss of a pod.
# - Pods Pending with FailedScheduling on a node with DiskPressure: **06-node-disk-pressure**.
