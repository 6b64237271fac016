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
# # 03 · Configuration: render Harbor's manifests, check them, show the plan
#
# The job of the old `k8s-prepare` script, done so that its traps cannot recur:
#
# - a template value that is missing **fails** (the script only warned and rendered an empty
#   string);
# - generated secrets are created **once** and kept in the cluster, so a re-render changes nothing
#   (the script regenerated them, logging every user out);
# - passwords go into **Secrets**, never ConfigMaps;
# - the registry config is mounted where the image reads it (`/etc/registry`), and a lint fails
#   on any other path — the 2017 files mounted it at `/etc/docker/registry`, where
#   `vmware/registry:2.6.2-photon` never looks, so every replica silently ran on the image's
#   example config with private storage and no authentication.
#
# Nothing is applied here except the generated-secrets Secret; 04-rollout applies the plan.

# %%
from harborbook import runbook
from harborbook.steps import configure
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("03-render-config", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %% [markdown]
# ## Generated secrets
# The ui and jobservice secrets, the 16-character secret key, the registry's `http.secret` (the
# same in every replica, or an upload started on one replica fails on another) and the RSA 4096
# token-signing key with its 10-year certificate. Created on the first run, reused afterwards.

# %%
generated = rb.step(configure.generated_secrets, kube, rb.params.cluster.namespace, rb.dry_run)
generated

# %% [markdown]
# ## Render
# Jinja2 templates with `StrictUndefined`: ConfigMaps for the adminserver (external database,
# `RESET`), ui (`app.conf`), jobservice, registry (`config.yml`, `root.crt`) and nginx; a Secret for
# every secret value (database password, admin password, generated secrets, `_REDIS_URL`);
# Services (nginx as NodePort); Deployments with the configured replicas, anti-affinity across
# nodes and readiness probes.

# %%
objects = rb.step(configure.manifests, rb.params, generated.value)
objects

# %% [markdown]
# ## Lints
# Each trap of the reference procedure is a check: the config mount path against the path the
# image reads, shared storage and one `http.secret` for several registry replicas, `_REDIS_URL`
# for several ui replicas, the database settings 02 used, the token realm against hostname and
# protocol, and no password inside a ConfigMap.

# %%
rb.step(configure.lint, rb.params, objects.value)

# %% [markdown]
# ## Schema
# Every manifest is validated against the JSON schema of the cluster's own version, so a
# misspelt field (which the API server would silently drop) is caught here.

# %%
rb.step(configure.validate, kube, objects.value)

# %% [markdown]
# ## Plan
# What 04-rollout will do to each object, with a unified diff for updates (Secret data masked).
# The manifests are written to the run directory, Secrets masked.

# %%
# NBVAL_CHECK_OUTPUT
plan = rb.step(configure.plan, kube, objects.value, rb.artifact("manifests"))
plan

# %%
print(configure.diffs(plan))

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Next: **04-rollout** applies these objects and waits for readiness.
