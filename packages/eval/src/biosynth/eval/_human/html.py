"""The report's human-review section: one table per criterion (agreement, judge correlation), reviewer pairs."""

from __future__ import annotations

import html
from collections import defaultdict

from biosynth.eval._result import MetricResult

_TITLES = {"mean_score": "mean score", "cohen_kappa": "Cohen's kappa", "fleiss_kappa": "Fleiss' kappa",
           "krippendorff_alpha": "Krippendorff's alpha", "judge_spearman": "judge-human Spearman's rho",
           "judge_kendall": "judge-human Kendall's tau-b"}


def human_section(results: tuple[MetricResult, ...]) -> str:
    chosen = [r for r in results if r.family.value == "human"]
    if not chosen:
        return ""
    by_criterion: dict[str, list[MetricResult]] = defaultdict(list)
    for r in chosen:
        by_criterion[str(r.parameters.get("criterion", "?"))].append(r)
    parts = ["<section id='human'><h2>Human review</h2><p><small>Agreement between reviewers (pseudonymous ids) and "
             "between reviewers and LLM judges; intervals are percentile bootstrap intervals over the reviewed records."
             "</small></p>"]
    for criterion, rows in by_criterion.items():
        first = rows[0].parameters
        parts.append(f"<h3>{html.escape(criterion)}</h3><p><small>scale {html.escape(str(first.get('scale')))}"
                     f"{'' if first.get('ordinal', True) else ' (nominal)'} · {first.get('reviewers')} reviewers · "
                     f"{first.get('ratings')} ratings</small></p><table><tr><th>measure</th><th>value</th>"
                     "<th>interval</th><th>records</th><th>notes</th></tr>")
        for r in rows:
            kind = r.name.split(".")[1]
            title = _TITLES.get(kind, kind) + (f" ({r.parameters['judge']})" if "judge" in r.parameters else "")
            value = f"{r.value:.4f}" if r.value is not None else r.status.replace("_", " ")
            interval = f"[{r.ci.low:.3f}, {r.ci.high:.3f}]" if r.ci else "—"
            notes = "; ".join([*([r.error] if r.error else []), *r.warnings])
            parts.append(f"<tr><td>{html.escape(title)}</td><td>{value}</td><td>{interval}</td><td>{r.n_synthetic}</td>"
                         f"<td>{html.escape(notes)}</td></tr>")
        parts.append("</table>")
        for r in rows:
            pairs = r.details.get("pairs") if r.ok else None
            if pairs:
                body = "".join(f"<tr><td>{html.escape(p['reviewer_a'])}</td><td>{html.escape(p['reviewer_b'])}</td>"
                               f"<td>{'—' if p['kappa'] is None else format(p['kappa'], '.4f')}</td><td>{p['items']}</td></tr>"
                               for p in pairs)
                parts.append("<table><tr><th>reviewer</th><th>reviewer</th><th>Cohen's kappa</th><th>records</th></tr>"
                             f"{body}</table>")
    parts.append("</section>")
    return "".join(parts)
