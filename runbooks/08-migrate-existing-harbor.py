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
# # 08 · Migrate an existing Harbor: its images and its database, verified tag by tag
#
# Most people who need HA already run Harbor on one host (the docker-compose install), full of
# images, and the reference procedure only starts from an empty one. This runbook moves a live
# single-host Harbor into the HA deployment of 01–05:
#
# 1. **inventory** of the old registry tree (`/data/registry`) and of its database, and where
#    they disagree — said before anything moves;
# 2. **bulk copy** while the old Harbor still serves: every blob into the CephFS registry path,
#    each checked against its sha256 before it gets its real name, so the new registry can never
#    serve a partial or corrupted layer; a re-run resumes and skips what is already verified;
# 3. **cut-over**: `plan` estimates the final delta; `execute` checks that the old registry
#    refuses writes, copies the delta, moves the database with 02's machinery (replacing what
#    02 put there, the old tables kept in a backup database) and rolls out with 03/04 — the
#    write-unavailability window is measured;
# 4. **verification, tag by tag**: every tag pulled through the new Harbor with the same
#    manifest digest and layer bytes; old passwords work; the repository rows match.
#
# Without a `migrate` section in the params every step skips: there is nothing to move.

# %%
from harborbook import runbook
from harborbook.steps import migrate
from harborbook.kube import Kube

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("08-migrate-existing-harbor", params_file, dry_run=dry_run)

# %% [markdown]
# ## Inventory
# Read from the files alone, the way distribution lays them out: repositories, their tags, the
# manifests, and the blobs (count and bytes). A tag whose manifest or layer is missing from the
# blob store is named here: the old Harbor cannot serve it either.

# %%
found = rb.step(migrate.inventory, rb.params)
found

# %% [markdown]
# ## The old database
# The UI lists the `repository` rows, not the storage: a row without a tree is a repository users
# see but cannot pull, a tree without a row one they can pull but never see. Both move as they
# are; knowing them before the move tells a migration problem from an old one.

# %%
rb.step(migrate.source_database, found.value)

# %% [markdown]
# ## Bulk copy, while the old Harbor still serves
# Blobs are immutable and content-addressed, so they can be copied while users keep pushing and
# pulling: each is streamed into a temporary name, hashed on the way, and renamed to its real
# name only when the hash is its digest; flushed to disk in batches as the copy goes, and entered
# in the journal beside the tree once on disk. Largest first: `migrate.parallel` at a time from a
# local path, in one stream over SSH. A corrupt source blob is named with the tags that use it and
# never copied. Each blob's link files are written as soon as it arrives, and each tag's
# `current/link` last, so a tag appears only once all it needs is there. Interrupted (Ctrl-C, a
# lost connection to the old host, a full CephFS), the step says which; a re-run skips every blob
# the journal names.

# %%
rb.step(migrate.bulk_copy, found.value, rb.params.storage, rb.dry_run)

# %% [markdown]
# ## Cut-over
# With `migrate.cutover: plan`, the source is read again and compared with the copy: what changed
# since (new blobs, moved tags) and how long copying it will take at the throughput the bulk copy
# measured. With `execute`, the old registry must refuse writes first (a push accepted now would
# be lost): an upload is attempted there, and if it is accepted the step fails with the command
# to run on the old host.

# %%
rb.step(migrate.cutover, found.value, rb.params.storage, rb.dry_run)

# %% [markdown]
# ## Delta copy
# The same copy, over what changed since the bulk copy: usually a few blobs and links. Over SSH
# it reads through the connection the cut-over opened: one login inside the write window.

# %%
rb.step(migrate.delta_copy, found.value, rb.params.storage, rb.dry_run)

# %% [markdown]
# ## Database
# 02's move: dump the old `registry` database, import into staging, verify rows and checksums,
# swap atomically — with `replace`, the tables 02 put there (the throwaway Harbor's) move to a
# timestamped backup database. A target already migrated from this same source is left alone:
# the new Harbor has been writing to it.

# %%
rb.step(migrate.move_database, rb.params, found.value, rb.artifact("registry.sql.gz"), rb.dry_run)

# %% [markdown]
# ## Rollout
# 03's manifests and 04's apply and readiness wait: the new Harbor up on the moved data.

# %%
kube = Kube.from_params(rb.params.cluster)

# %%
rb.step(migrate.roll_out, kube, rb.params, found.value, rb.dry_run)

# %% [markdown]
# ## The write-unavailability window
# Measured from the moment the old registry was found read-only to the new Harbor ready. Pulls
# were never interrupted: the old Harbor served them until the switch.

# %%
rb.step(migrate.window, found.value)

# %% [markdown]
# ## Verification, tag by tag
# Every tag of the inventory pulled through the new Harbor's public address with `docker login`'s
# token flow: the same manifest digest, and every blob's bytes hashing to its digest with the
# size the manifest declares.

# %%
rb.step(migrate.verify_tags, found.value, rb.params.harbor, critical=False)

# %% [markdown]
# ## Accounts and rows
# Users log in with their old passwords (the accounts listed in `migrate.users`), and every
# user's password hash and salt and every repository row are the same in the new database.

# %%
rb.step(migrate.verify_accounts, rb.params, found.value, critical=False)

# %% [markdown]
# ## Summary

# %%
# NBVAL_CHECK_OUTPUT
rb.step(migrate.summary, found.value, rb.steps)

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Before: **01** to **05** deploy and verify the HA Harbor this runbook moves the old one into.
# - After the cut-over, **05-verify** proves the HA properties on the migrated data.
# - Keep the old host read-only (or stopped) until the verification above passes; then retire it.
