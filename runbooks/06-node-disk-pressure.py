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
# # 06 · A node in DiskPressure: the kubelet's own verdict, explained, fixed safely, verified
#
# The reference incident: pods go Pending and are killed within seconds; the node shows
# `NodeHasDiskPressure` and `EvictionThresholdMet Attempting to reclaim nodefs`; the kubelet logs
# that it must evict pods but no pods are active to evict. The root partition is 92% used while
# the separate Docker disk is nearly empty, and the default `nodefs.available<10%` is met. The fix
# then was `--eviction-hard=nodefs.available<5%` in a systemd drop-in — which, written alone,
# silently switched memory eviction off.
#
# This runbook reaches the same verdict as the kubelet, with the kubelet's own arithmetic, for a
# 1.7-era node or a current one, over SSH, a debug pod or a chroot — and only changes the node
# when `apply: true`, with backups and a rollback.

# %%
from harborbook import nodeshell, runbook
from harborbook.steps import nodepressure
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("06-node-disk-pressure", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %%
pressure = rb.params.node_pressure

# %% [markdown]
# ## 1. What the cluster says
# Conditions and taints of every node, the pods that are Pending or were evicted, and the node's
# eviction events.

# %%
rb.step(nodepressure.cluster_view, kube, pressure.node)

# %%
rb.step(nodepressure.pods_affected, kube, pressure.node)

# %%
rb.step(nodepressure.node_events, kube, pressure.node)

# %% [markdown]
# ## 2. The thresholds in force, and where they come from
# `configz` when the node serves it; else the kubelet's last start-up line
# (`Creating Container Manager object based on Node Config`), in any era's format; else its unit
# files and config, read with systemd's rules (drop-in order, `ExecStart=` reset, `Environment=`,
# `EnvironmentFile=`); else the version's defaults. Files that disagree with the running kubelet
# were changed without a restart.

# %%
shell = nodeshell.for_node(pressure.access, pressure.node, kube)

# %%
state = rb.step(nodepressure.thresholds_in_force, kube, pressure.node, shell)
state

# %% [markdown]
# ## 3. The filesystems
# nodefs is the filesystem of the kubelet's root directory; imagefs the runtime's data root.
# A big, empty second disk does not help when the kubelet's own filesystem is full.

# %%
observed = rb.step(nodepressure.observe, kube, pressure.node, state.value, shell)
observed

# %% [markdown]
# ## 4. The verdict
# Computed exactly like the kubelet: a threshold is met when available is strictly less than it;
# a percentage is a 32-bit float fraction of capacity, truncated to bytes.

# %%
# NBVAL_CHECK_OUTPUT
verdict = rb.step(nodepressure.diagnose, state.value, observed.value)
verdict

# %%
nodepressure.plot_verdict(verdict.value, f"{pressure.node}: used space against the thresholds")

# %% [markdown]
# ## 5. The remedy, planned
# `cleanup` lists what can go and how much must; `threshold` writes the minimal change — the FULL
# map, since one signal alone replaces all the defaults — where this kubelet reads it. A lower
# threshold only buys time; the plan says how much.

# %%
remedy = rb.step(nodepressure.plan_remedy, pressure, state=state.value, observed=observed.value,
                 verdict=verdict.value, shell=shell)
remedy

# %%
print(nodepressure.diffs(remedy.value))

# %% [markdown]
# The same picture with the planned thresholds dotted: where the disk stands once the fix is in.
# A lower threshold moves the line, not the data: the plan above says how long that lasts.

# %%
nodepressure.plot_verdict(verdict.value, f"{pressure.node}: the plan against today's use",
                          planned=remedy.value.intended if remedy.value else None)

# %% [markdown]
# ## 6. Apply (only with `apply: true`)
# Each file is backed up and written atomically; `systemctl daemon-reload` and
# `systemctl restart kubelet`; then we wait for the node to be Ready and for the new start-up
# line. If the kubelet does not come back, the backups are restored and it is restarted again.

# %%
rb.step(nodepressure.apply_plan, kube, pressure, state=state.value, remedy=remedy.value, shell=shell)

# %% [markdown]
# ## 7. Verify
# The thresholds in force now equal the intended map; no signal is met; DiskPressure clears after
# `evictionPressureTransitionPeriod` (waited for, or reported as pending).

# %%
after = rb.step(nodepressure.verify_fix, kube, pressure, remedy=remedy.value, shell=shell,
                wait=pressure.wait_transition)

# %%
# NBVAL_CHECK_OUTPUT
after

# %% [markdown]
# ## 8. The fleet
# Steps 1-4 for every node at once, through `configz` and `stats/summary` with bounded
# concurrency, sorted by the smallest margin — after one node is fixed, the question is which is
# next. Nodes that serve neither are listed as needing node access. Apply is refused for the
# fleet (`node: all`): fix one node at a time.

# %%
# NBVAL_CHECK_OUTPUT
fleet = rb.step(nodepressure.fleet_view, kube, pressure)
fleet

# %%
nodepressure.plot_fleet(fleet.value)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Pods of Harbor evicted here: re-run **04-rollout** once the node is healthy.
