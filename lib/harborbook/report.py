"""Reports of a run: the summary table (console, summary.md) and the HTML pages.

``index.html`` in the run directory is the report an operator opens: the summary table with
a link to each executed notebook's HTML export.
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


def index_html(run: "Run") -> str:
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = []
    for r, o in zip(rows(run), run.outcomes + [None] * len(run.missing)):
        cells = [html.escape(c) for c in r]
        if o is not None and o.html is not None:
            cells[0] = f'<a href="{html.escape(o.html.name)}">{cells[0]}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    notes = []
    for o in run.outcomes:
        if o.status not in ("ok", "skipped") and o.message:
            hint = f"<br><i>hint:</i> {html.escape(o.hint)}" if o.hint else ""
            notes.append(f"<p><b>{html.escape(o.name)}</b>: {html.escape(o.message)}{hint}</p>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>harborbook run {html.escape(run.run_dir.name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ddd}</style>"
        f"</head><body><h1>harborbook run {html.escape(run.run_dir.name)}</h1>"
        f"<table><tr>{head}</tr>{''.join(body)}</table>{''.join(notes)}</body></html>\n"
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
