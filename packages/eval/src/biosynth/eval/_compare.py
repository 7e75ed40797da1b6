"""Several synthetic datasets scored against the same real data, side by side: the table papers publish.

Each dataset is evaluated with the same real table, holdout, seed and bootstrap settings (so the real side of
every resample is the same); the comparison lists every metric per generator, marks the best value in each
column by the metric's direction, and marks a generator whose interval lies wholly on the worse side of the
best one's interval as significantly worse (non-overlapping intervals: a conservative rule, stated in the
report).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import ConfigError, atomic_write_text
from biosynth.eval._report import REPORT_HTML, REPORT_JSON, EvaluationReport, check_report_dir, render_html
from biosynth.eval._result import Direction, MetricResult

SIGNIFICANCE_RULE = ("significantly worse: the interval lies wholly on the worse side of the best value's interval "
                     "(non-overlapping intervals at the stated level; conservative)")


class ComparedCell(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None
    low: float | None = None
    high: float | None = None
    status: str
    best: bool = False
    significantly_worse: bool = False


class ComparisonRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str
    cells: dict[str, ComparedCell]


class Comparison(BaseModel):
    """`reports[i]` belongs to `labels[i]`; `rows` is the side-by-side table over `metrics`."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="null")

    kind: str = "biosynth-comparison"
    schema_version: int = 1
    labels: tuple[str, ...]
    metrics: tuple[str, ...]
    directions: dict[str, str]
    rows: tuple[ComparisonRow, ...]
    significance_rule: str = SIGNIFICANCE_RULE
    reports: tuple[EvaluationReport, ...] = Field(description="the single reports, in the order of `labels`")

    def write(self, out_dir: str | Path, *, html_report: bool = True) -> Path:
        """report.json (this comparison, the single reports inside) and report.html, each written atomically."""
        out = check_report_dir(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / REPORT_JSON, self.model_dump_json(indent=2))
        if html_report:
            atomic_write_text(out / REPORT_HTML, render_comparison_html(self))
        return out / REPORT_JSON


def compare(reports: Sequence[EvaluationReport], labels: Sequence[str]) -> Comparison:
    """The comparison of `reports` (evaluated against the same real data with the same seed) under `labels`."""
    if len(reports) != len(labels) or len(reports) < 2:
        raise ConfigError(f"a comparison needs two or more reports, one label each; got {len(reports)} reports and "
                          f"{len(labels)} labels")
    if len(set(labels)) != len(labels):
        raise ConfigError(f"comparison labels must differ; got {list(labels)}")
    first = reports[0]
    for label, report in zip(labels, reports, strict=True):
        if (report.modality, report.seed, report.n_real, report.n_holdout) != \
                (first.modality, first.seed, first.n_real, first.n_holdout):
            raise ConfigError(f"report {label!r} was not evaluated like {labels[0]!r} (modality, seed, real and "
                              "holdout sizes must match): evaluate every dataset against the same real data")
    metrics: list[str] = []
    directions: dict[str, str] = {}
    for report in reports:
        for result in report.results:
            if result.name not in directions:
                metrics.append(result.name)
                directions[result.name] = result.direction.value
    cells = [{r.name: r for r in report.results} for report in reports]
    marks = {name: _marks([c.get(name) for c in cells], Direction(directions[name])) for name in metrics}
    rows = []
    for i, label in enumerate(labels):
        row = {}
        for name in metrics:
            result = cells[i].get(name)
            best, worse = marks[name][i]
            row[name] = ComparedCell(
                value=result.value if result is not None else None,
                low=result.ci.low if result is not None and result.ci else None,
                high=result.ci.high if result is not None and result.ci else None,
                status=result.status if result is not None else "not_run", best=best, significantly_worse=worse)
        rows.append(ComparisonRow(label=label, cells=row))
    return Comparison(labels=tuple(labels), metrics=tuple(metrics), directions=directions, rows=tuple(rows),
                      reports=tuple(reports))


def _marks(results: list[MetricResult | None], direction: Direction) -> list[tuple[bool, bool]]:
    """(best, significantly worse than the best) per report, for one metric."""
    values = [r.value if r is not None and r.ok else None for r in results]
    present = [v for v in values if v is not None]
    if not present:
        return [(False, False)] * len(results)
    higher = direction is Direction.HIGHER
    best_value = max(present) if higher else min(present)
    best_results = [r for r, v in zip(results, values, strict=True) if v == best_value]
    best_interval = next((r.ci for r in best_results if r is not None and r.ci is not None), None)
    out = []
    for result, value in zip(results, values, strict=True):
        if value is None or result is None:
            out.append((False, False))
            continue
        worse = False
        if value != best_value and best_interval is not None and result.ci is not None:
            worse = result.ci.high < best_interval.low if higher else result.ci.low > best_interval.high
        out.append((value == best_value, worse))
    return out


def render_comparison_html(comparison: Comparison) -> str:
    """The side-by-side table first, then every single report in a collapsible section."""
    head = "".join(f"<th>{html.escape(name)}<br><small>{html.escape(comparison.directions[name].split('_')[0])}"
                   "</small></th>" for name in comparison.metrics)
    body = []
    for row in comparison.rows:
        cells = []
        for name in comparison.metrics:
            cell = row.cells[name]
            if cell.value is None:
                cells.append(f"<td class='na'>{html.escape(cell.status.replace('_', ' '))}</td>")
                continue
            interval = f"<br><small>[{cell.low:.3f}, {cell.high:.3f}]</small>" if cell.low is not None else ""
            classes = " ".join(c for c, on in (("best", cell.best), ("worse", cell.significantly_worse)) if on)
            mark = " ★" if cell.best else " ▼" if cell.significantly_worse else ""
            cells.append(f"<td class='{classes}'>{cell.value:.3f}{mark}{interval}</td>")
        body.append(f"<tr><th>{html.escape(row.label)}</th>{''.join(cells)}</tr>")
    singles = []
    for label, report in zip(comparison.labels, comparison.reports, strict=True):
        page = render_html(report)
        inner = page[page.index("<body>") + len("<body>"):page.rindex("</body>")]
        singles.append(f"<details><summary>{html.escape(label)}</summary>{inner}</details>")
    style = ("<style>.best{background:#e3f2e1;font-weight:bold}.worse{color:#b00020}.na{color:#777}"
             "table.compare th,table.compare td{border:1px solid #ccc;padding:.25rem .4rem;font-size:.85rem}"
             "table.compare{border-collapse:collapse}details{margin:1rem 0}summary{font-size:1.2rem;cursor:pointer}"
             "</style>")
    first = render_html(comparison.reports[0])
    shared_style = first[first.index("<style>"):first.index("</style>") + len("</style>")]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>biosynth comparison</title>"
            f"{shared_style}{style}</head><body><h1>biosynth comparison — {len(comparison.labels)} datasets</h1>"
            f"<p><small>Same real data, seed {comparison.reports[0].seed}. ★ best value per metric; ▼ "
            f"{html.escape(comparison.significance_rule)}.</small></p>"
            f"<section id='comparison'><table class='compare'><tr><th>generator</th>{head}</tr>{''.join(body)}"
            f"</table></section>{''.join(singles)}</body></html>")


def comparison_labels(provenances: Sequence[dict[str, Any] | None], fallback: Sequence[str]) -> list[str]:
    """A row label per dataset from its provenance checklist (generator and model), else the fallback (the
    dataset folder's name); repeated labels get the folder name appended."""
    labels = []
    for provenance, name in zip(provenances, fallback, strict=True):
        items = {c["item"]: c.get("value") for c in (provenance or {}).get("checklist", [])}
        generators = items.get("generator name and version")
        models = items.get("model name and version")
        label = ", ".join(generators) if isinstance(generators, list) and generators else name
        if isinstance(models, list) and models:
            label += " · " + ", ".join(m.split(" (")[0] for m in models)
        labels.append(label)
    return [f"{label} ({name})" if labels.count(label) > 1 else label for label, name in zip(labels, fallback, strict=True)]
