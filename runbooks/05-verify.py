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
# # 05 · Verify: prove the deployment works and is highly available
#
# "The pods are Ready" proves little: in 2017 every pod was Ready while each registry replica ran
# on the image's built-in config with private storage. This runbook proves the properties that
# matter, the way users meet them — through the public hostname (the NodePort), with
# `docker login`'s token flow, a real push and pull, a UI login — and then proves the HA claims:
# the blob is on the shared filesystem, every replica runs its token config, sessions live in
# Redis, and losing a pod of each component changes nothing. Each check is a row of the final
# table.

# %%
from harborbook import runbook
from harborbook.steps import verify
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("05-verify", params_file, dry_run=dry_run)

# %%
kube = Kube.from_params(rb.params.cluster)

# %% [markdown]
# ## The endpoints
# The UI page, and `/v2/` answering 401 with a Bearer challenge whose realm is
# `<protocol>://<hostname>/service/token` and service `harbor-registry`: a wrong realm sends
# every `docker login` to an address that does not exist.

# %%
rb.step(verify.endpoints, rb.params.harbor, critical=False)

# %% [markdown]
# ## Login, push, pull
# The token flow of `docker login` with the admin credentials (a wrong password must be refused),
# then a small image, unique to this run, pushed to `library/<name>:<tag>` and pulled back: same
# manifest digest, same layer bytes.

# %%
rb.step(verify.login, rb.params.harbor, critical=False)

# %%
probe = rb.step(verify.push_pull, rb.params.harbor, rb.params.verify, rb.dry_run, critical=False)
probe

# %% [markdown]
# ## Shared storage and every replica
# The layer must be on CephFS under the registry path — proof that the registry reads the config
# we mounted. Then each registry pod, addressed one by one through the API server's pod proxy,
# must answer with our token challenge: a replica that answers without authentication runs the
# image's example config and keeps its own private blobs.

# %%
rb.step(verify.shared_storage, rb.params.storage, rb.params.harbor, probe.value, critical=False)

# %%
rb.step(verify.replicas, kube, rb.params.cluster.namespace, probe.value, rb.params.harbor, critical=False)

# %% [markdown]
# ## Shared sessions
# Log in once, then send requests through the NodePort, which spreads them over the ui replicas:
# each must know the session, and the session key must be in Redis. Without `_REDIS_URL` each ui
# keeps sessions in memory and most of these requests fail.

# %%
rb.step(verify.sessions, rb.params.harbor, rb.params.redis, rb.params.verify.session_requests, critical=False)

# %% [markdown]
# ## Failover
# One pod each of registry, ui and nginx is deleted in turn; after each replacement the pull and
# the session checks run again. Only on a deployment that passed everything above: deleting
# replicas of one that already fails would deepen the outage and prove nothing.

# %%
rb.step(verify.failover, kube=kube, namespace=rb.params.cluster.namespace, harbor=rb.params.harbor,
        redis_params=rb.params.redis, probe=probe.value, requests=rb.params.verify.session_requests,
        timeout=rb.params.verify.timeout, dry_run=rb.dry_run, earlier=rb.steps, critical=False)

# %% [markdown]
# ## A second client's opinion
# With `verify.skopeo` on `auto` (and skopeo installed) or `always`, skopeo inspects the pushed
# image through the NodePort with the same credentials: it must read the very manifest we pushed.
# Skipped when nothing was pushed (a dry run).

# %%
rb.step(verify.skopeo, rb.params.harbor, probe.value, rb.params.verify.skopeo, critical=False)

# %% [markdown]
# ## Verdict

# %%
# NBVAL_CHECK_OUTPUT
rb.step(verify.verdict, rb.steps)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - A replica without the token challenge, or no blob on CephFS: the registry config is not
#   mounted where the image reads it — see **03-render-config**'s lint.
# - Sessions not shared: **00-preflight**'s Redis checks and `_REDIS_URL` in **03-render-config**.
