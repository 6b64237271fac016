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
# # 02 · The database: Harbor's schema and data in the external cluster, safely
#
# Harbor 1.2 cannot initialise an empty external database: its schema and seed rows come from
# the `registry` database of a (throwaway) Harbor. The reference procedure dumped it with
# `mysqldump`, renamed the database with a blind `sed` (which also rewrote `registry_url`,
# `replication_target` and every repository named `*/registry`), loaded it straight into the
# target and granted the Harbor user `ALL PRIVILEGES ON *.*`. This runbook does the same move
# without those traps:
#
# - the dump is parsed as SQL, streaming; only the database **name** changes;
# - tables are imported into a staging database and verified (tables, row counts,
#   `CHECKSUM TABLE`, the seed rows) before one atomic `RENAME TABLE` moves them into place —
#   an import interrupted at any point leaves the target untouched, and a re-run completes it;
# - every table gets a primary key (Galera does not replicate deletes without one);
# - the Harbor user gets privileges on its own database only.

# %%
from harborbook import runbook
from harborbook.steps import database

# %% tags=["parameters"]
params_file = "../params/sandbox.yaml"
dry_run = False

# %%
rb = runbook.start("02-database", params_file, dry_run=dry_run)

# %% [markdown]
# ## The target cluster
# The first healthy endpoint is used (for Galera: ready, Synced, primary component); the others
# are listed so a degraded cluster is visible before anything is written.

# %%
rb.step(database.target_cluster, rb.params.database)

# %% [markdown]
# ## Database and user
# `CREATE DATABASE` with utf8 and a user with privileges on that database only. If the user
# already holds `ALL PRIVILEGES ON *.*` (what the reference procedure granted), the step warns
# and shows the `REVOKE` to run: Harbor never needs it, and it lets a leaked Harbor password
# read every other database on the cluster.

# %%
rb.step(database.account, rb.params.database, rb.dry_run)

# %% [markdown]
# ## Migration
# Dump (or read the dump file), rename, import into `<target>__staging`, verify, swap. A target
# that already holds identical tables is left alone (`unchanged`); different tables are refused
# unless `database.replace: true`, which first moves the old ones into a timestamped backup
# database. A gzip SQL dump of exactly what was imported is kept in the run directory.

# %%
migrated = rb.step(database.migrate, rb.params.database, rb.artifact("registry.sql.gz"), rb.dry_run)

# %%
# NBVAL_CHECK_OUTPUT
migrated

# %%
# NBVAL_CHECK_OUTPUT
rb.finish()

# %% [markdown]
# ## Related
# - Next: **03-render-config** renders the manifests with these database settings.
# - A wrong password? The hint names the params field whose secret to check; rerun **00-preflight**.
