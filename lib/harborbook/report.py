"""Reports of a run: the summary table (console, summary.md) and the HTML pages.

``index.html`` in the run directory is the report an operator opens: each runbook's status in
colour, its failed and warning steps with their hints, links to the notebooks, their HTML, the
artifacts, ``summary.md`` and ``results.json``, the params file with its hash, and — when the run
stopped — the command that resumes it.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from .secrets import mask

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Run

COLUMNS = ["runbook", "status", "duration", "changed", "failed steps"]


def rows(run: "Run") -> list[list[str]]:
    out = []
    for o in run.outcomes:
        out.append([o.name, o.status, f"{o.duration_s:.1f}s", str(o.changed), str(o.failed_steps)])
    for name in run.missing:
        out.append([name, "not written yet", "-", "-", "-"])
    return out


def table(run: "Run") -> str:
    """A plain-text table for the console."""
    data = [COLUMNS] + rows(run)
    widths = [max(len(r[i]) for r in data) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in data]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(run: "Run") -> str:
    lines = [f"# harborbook run {run.run_dir.name}", "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(run)]
    failures = [o for o in run.outcomes if o.status not in ("ok", "skipped")]
    for o in failures:
        lines += ["", f"## {o.name}: {o.status}", ""]
        if o.cell:
            lines.append(f"- failing {o.cell}")
        if o.message:
            lines.append(f"- {o.message}")
        if o.hint:
            lines.append(f"- hint: {o.hint}")
    return mask("\n".join(lines) + "\n")


# GitHub's status colours: readable on white, distinguishable without reading the word.
COLOURS = {"ok": "#1a7f37", "changed": "#0969da", "unchanged": "#57606a", "skipped": "#57606a",
           "warning": "#9a6700", "failed": "#cf222e", "interrupted": "#cf222e", "running": "#9a6700",
           "not written yet": "#57606a"}
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#1f2328}
table{border-collapse:collapse}td,th{padding:4px 12px;border-bottom:1px solid #d0d7de;text-align:left}
.badge{color:#fff;padding:1px 8px;border-radius:10px;font-size:90%}
.banner{padding:.6em 1em;border-radius:6px;color:#fff;margin:1em 0}
.step{margin:.4em 0 .4em 1em}.hint{color:#57606a}code,pre{background:#f6f8fa;padding:2px 4px}
dt{font-weight:600}dd{margin:0 0 .5em 1em}
"""


def _badge(status: str) -> str:
    colour = COLOURS.get(status, "#57606a")
    return f'<span class="badge" style="background:{colour}" data-status="{html.escape(status)}">{html.escape(status)}</span>'


def _link(target: Path, run_dir: Path, text: str | None = None) -> str:
    rel = target.relative_to(run_dir).as_posix() if target.is_absolute() else target.as_posix()
    return f'<a href="{html.escape(rel)}">{html.escape(text or rel)}</a>'


def _noteworthy_steps(details: dict, name: str) -> list[dict]:
    """The failed and warning steps the kernel recorded for runbook ``name``, in order."""
    entry = details.get("runbooks", {}).get(name, {})
    steps = [s for s in entry.get("steps", []) if s.get("status") in ("failed", "warning")]
    error = entry.get("error")
    if error and not any(s.get("name") == error.get("step") for s in steps):
        steps.append({"name": error.get("step") or "?", "status": "failed",
                      "summary": error.get("message", ""), "hint": error.get("hint")})
    return steps


def _check_list(step: dict) -> str:
    """The failed and warning checks inside a step that aggregates checks (preflight, verify)."""
    checks = [c for c in (step.get("data") or {}).get("checks", []) if c.get("status") in ("failed", "warning")]
    if not checks:
        return ""
    items = []
    for c in checks:
        name = c.get("name") or c.get("check") or "?"
        hint = f' <span class="hint">— hint: {html.escape(c["hint"])}</span>' if c.get("hint") else ""
        items.append(f"<li>{_badge(c['status'])} {html.escape(name)}: {html.escape(c.get('detail') or '')}{hint}</li>")
    return f"<ul>{''.join(items)}</ul>"


def index_html(run: "Run") -> str:
    """The report to open: the run at a glance, then what went wrong and where the evidence is."""
    from .runbook import read_results  # the kernel's record of every step

    details = read_results(run.run_dir)
    stopped = run.stopped
    if stopped is not None:
        banner = (f'<div class="banner" style="background:{COLOURS["failed"]}" id="verdict">'
                  f"stopped at {html.escape(stopped.name)}: {html.escape(stopped.status)}</div>")
    elif run.missing:
        banner = (f'<div class="banner" style="background:{COLOURS["warning"]}" id="verdict">'
                  f"every runbook run succeeded; not written yet: {html.escape(', '.join(run.missing))}</div>")
    else:
        banner = (f'<div class="banner" style="background:{COLOURS["ok"]}" id="verdict">'
                  f"succeeded: {len(run.outcomes)} runbook(s)</div>")

    head = "".join(f"<th>{c}</th>" for c in COLUMNS + ["files"])
    body = []
    for o in run.outcomes:
        name = _link(o.html, run.run_dir, o.name) if o.html is not None else html.escape(o.name)
        files = [_link(p, run.run_dir, p.suffix.lstrip(".")) for p in (o.notebook, o.html) if p and p.exists()]
        artifacts = run.run_dir / "artifacts" / o.name
        if artifacts.is_dir():
            files.append(_link(artifacts, run.run_dir, "artifacts") )
        status = _badge("ok") + " <small>(before the resume)</small>" if o.earlier else _badge(o.status)
        cells = [name, status, f"{o.duration_s:.1f}s", str(o.changed), str(o.failed_steps), " ".join(files)]
        body.append(f'<tr data-runbook="{html.escape(o.name)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    for name in run.missing:
        body.append(f'<tr data-runbook="{html.escape(name)}"><td>{html.escape(name)}</td>'
                    f'<td>{_badge("not written yet")}</td>' + "<td>-</td>" * 4 + "</tr>")

    notes = []
    for o in run.outcomes:
        steps = _noteworthy_steps(details, o.name)
        if o.status not in ("ok", "skipped") and not steps and o.message:
            steps = [{"name": o.cell or "notebook", "status": o.status, "summary": o.message, "hint": o.hint}]
        if not steps:
            continue
        notes.append(f"<h3>{html.escape(o.name)}</h3>")
        for step in steps:
            hint = step.get("hint")
            notes.append(
                f'<div class="step" data-step-status="{html.escape(step["status"])}">{_badge(step["status"])} '
                f'<b>{html.escape(step["name"])}</b>: {html.escape(step.get("summary") or "")}'
                + (f'<div class="hint">hint: {html.escape(hint)}</div>' if hint else "")
                + _check_list(step) + "</div>")

    facts = [("run", html.escape(run.run_dir.name))]
    if run.params_file is not None:
        facts.append(("params", f"<code>{html.escape(str(run.params_file))}</code> (hash "
                                f"<code>{html.escape(run.params_hash or '?')}</code>)"))
    if run.dry_run:
        facts.append(("mode", "dry run: nothing was changed"))
    facts.append(("files", " ".join(_link(run.run_dir / f, run.run_dir) for f in ("summary.md", "results.json"))
                  + (" " + _link(run.run_dir / "artifacts", run.run_dir, "artifacts/")
                     if (run.run_dir / "artifacts").is_dir() else "")))
    resume = run.resume_command()
    if resume:
        facts.append(("resume", f'<code id="resume">{html.escape(resume)}</code>'))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)

    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>harborbook run {html.escape(run.run_dir.name)}</title><style>{STYLE}</style></head><body>"
        f"<h1>harborbook run {html.escape(run.run_dir.name)}</h1>{banner}"
        f"<table id='runbooks'><tr>{head}</tr>{''.join(body)}</table>"
        + (f"<h2>Failed and warning steps</h2>{''.join(notes)}" if notes else "")
        + f"<h2>About this run</h2><dl>{dl}</dl></body></html>\n"
    )
    return mask(page)


def write(run_dir: Path, run: "Run") -> Path:
    """Write summary.md and index.html; return the HTML report's path."""
    (run_dir / "summary.md").write_text(markdown(run))
    path = run_dir / "index.html"
    path.write_text(index_html(run))
    return path


def export_html(notebook: Path) -> Path | None:
    """An HTML export of an executed notebook beside it (None if nbconvert fails)."""
    import nbformat
    from nbconvert import HTMLExporter

    try:
        nb = nbformat.read(notebook, as_version=4)
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    except Exception:  # a report problem must not turn a good run into a failed one
        return None
    target = notebook.with_suffix(".html")
    target.write_text(mask(body), encoding="utf-8")
    return target
