"""03-render-config's and 04-rollout's steps around :mod:`harborbook.render`.

Generated secrets are created once and kept in the cluster (Secret ``harbor-generated-secrets``)
so that every later render — 03 again, 04, a rollout a year from now — produces the same
manifests: regenerating them would log every user out and invalidate every token.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from .. import checks, render
from ..checks import Check, status_for
from ..errors import RunbookError
from ..kube import Kube
from ..params import Params
from ..render import Finding, GeneratedSecrets
from ..runbook import Status, StepResult

Obj = dict[str, Any]

GENERATED = render.STORED_SECRET_NAME


def _stored(kube: Kube, namespace: str) -> dict[str, str] | None:
    secret = kube.get("v1", "Secret", GENERATED, namespace)
    return (secret or {}).get("data") or None


def generated_secrets(kube: Kube, namespace: str, dry_run: bool,
                      now: dt.datetime | None = None) -> StepResult[GeneratedSecrets]:
    """Reuse the stored generated secrets; draw and store only what is missing."""
    generated, drawn = render.ensure_generated(_stored(kube, namespace), now or dt.datetime.now(dt.timezone.utc))
    if drawn and not dry_run:
        kube.apply(render.stored_secret_manifest(generated, namespace))
    status = status_for(bool(drawn), dry_run)
    summary = {
        Status.UNCHANGED: f"reused from Secret {GENERATED} (values not shown)",
        Status.SKIPPED: f"would generate and store {', '.join(drawn)} in Secret {GENERATED}",
        Status.CHANGED: f"generated {', '.join(drawn)} and stored them in Secret {GENERATED} (values not shown)",
    }[status]
    return StepResult("generated secrets", status, summary, value=generated)


def stored_generated_secrets(kube: Kube, namespace: str, dry_run: bool = False) -> StepResult[GeneratedSecrets]:
    """04's view: the secrets 03 stored; refuse to invent new ones here (a dry run uses throwaway ones)."""
    stored = _stored(kube, namespace)
    if not stored and dry_run:
        generated, _ = render.ensure_generated(None, dt.datetime.now(dt.timezone.utc))
        return StepResult("generated secrets", Status.SKIPPED,
                          f"dry run: Secret {GENERATED} does not exist yet (03 creates it); throwaway values used",
                          value=generated)
    if not stored:
        raise RunbookError(f"Secret {GENERATED} does not exist in {namespace}",
                           hint="run 03-render-config first: it generates the secrets once and stores them",
                           see="03-render-config")
    generated, drawn = render.ensure_generated(stored, dt.datetime.now(dt.timezone.utc))
    if drawn:
        raise RunbookError(f"Secret {GENERATED} lacks {', '.join(drawn)}", hint="run 03-render-config again",
                           see="03-render-config")
    return StepResult("generated secrets", Status.OK, f"read from Secret {GENERATED} (values not shown)", value=generated)


def manifests(params: Params, generated: GeneratedSecrets) -> StepResult[list[Obj]]:
    """Render every manifest from the templates (Secrets, ConfigMaps, Services, Deployments)."""
    objects = render.render(params, generated, render.reveal_credentials(params))
    table = pd.DataFrame([{"kind": m["kind"], "name": m["metadata"]["name"]} for m in objects])
    return StepResult("render", Status.OK, f"{len(objects)} objects rendered", table=table, value=objects)


def finding_check(finding: Finding) -> Check:
    """A render finding as a check: the lint is the area, the object the check."""
    return Check(finding.check or "render", finding.object, Status(finding.level.value), finding.message,
                 finding.hint or "")


def findings_result(name: str, findings: list[Finding], passed: str) -> StepResult[None]:
    """A finding is a problem: none means the step passed (said in ``passed``)."""
    if not findings:
        return StepResult(name, Status.OK, passed, data={"checks": []})
    return checks.result(name, [finding_check(f) for f in findings])


def lint(params: Params, objects: list[Obj]) -> StepResult[None]:
    """The traps of the reference procedure, each a precise failure."""
    findings = render.run_lints(objects, params, db_password=params.database.target.password.reveal())
    return findings_result("lint", findings, "no finding: config paths, shared storage, sessions, DB, token realm")


def validate(kube: Kube, objects: list[Obj]) -> StepResult[None]:
    """Every manifest against the JSON schema of the cluster's version."""
    version, findings = render.validate_manifests(objects, kube.version().get("gitVersion", "v1.30.0"))
    return findings_result("schema", findings, f"{len(objects)} objects valid for Kubernetes {version}")


def plan(kube: Kube, objects: list[Obj], folder: Path) -> StepResult[None]:
    """Per object: create / update / unchanged, with a masked diff; manifests written (masked)."""
    live = {render.object_key(m): kube.get(m["apiVersion"], m["kind"], m["metadata"]["name"],
                                           m["metadata"].get("namespace")) for m in objects}
    entries = render.plan(objects, live)
    render.write_manifests(objects, folder)
    table = pd.DataFrame([e.as_row() for e in entries])
    counts = table["action"].value_counts().to_dict() if not table.empty else {}
    changes = counts.get("create", 0) + counts.get("update", 0)
    diffs = {e.object: e.diff for e in entries if e.diff}
    summary = ", ".join(f"{n} to {a}" if a != "unchanged" else f"{n} unchanged" for a, n in sorted(counts.items()))
    return StepResult("plan", Status.OK if changes else Status.UNCHANGED, f"{summary}; manifests in {folder.name}/",
                      table=table, data={"diffs": diffs})


def diffs(plan_result: StepResult[Any]) -> str:
    """The unified diffs of a plan, for the notebook to print (Secret data masked)."""
    found = plan_result.data.get("diffs") or {}
    return "\n".join(found.values()) if found else "(no object changes)"
