"""EvaluationReport: the JSON source of truth, and its self-contained HTML rendering."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import ConfigError, atomic_write_text
from biosynth.eval._plots import REAL, SYNTHETIC, association_heatmaps, distribution_plot, scoped
from biosynth.eval._result import MetricResult
from biosynth.eval._verdicts import verdicts

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
# the distributions every report names with their versions (core's `software_versions`); suites add their own
SOFTWARE = ("biosynth-eval", "biosynth-core", "numpy", "pandas", "scipy", "scikit-learn")


class EvaluationReport(BaseModel):
    """Every metric of one evaluation, with the sizes, seed, column kinds and software that produced it."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="null")

    schema_version: int = 1
    modality: str
    created_at: str
    seed: int
    n_real: int
    n_synthetic: int
    n_holdout: int | None
    columns: dict[str, str] = Field(description="column -> kind (numerical, datetime, categorical, boolean, other)")
    software: dict[str, str]
    results: tuple[MetricResult, ...]
    provenance: dict[str, Any] | None = Field(None, description="checklist read from the dataset manifest")
    references: dict[str, Any] = Field(default_factory=dict, description="reference points computed in the same "
                                       "run, that the verdicts compare with (e.g. the real-vs-real fidelity ceiling)")
    figures: dict[str, Any] | None = Field(None, description="the data the HTML plots draw (distributions, "
                                           "associations), so that report.json alone can redraw them")

    def result(self, name: str) -> MetricResult:
        for item in self.results:
            if item.name == name:
                return item
        raise ConfigError(f"no metric {name!r} in this report; it has {[r.name for r in self.results]}")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def write(self, out_dir: str | Path, *, html_report: bool = True) -> Path:
        """Write report.json (and report.html) into `out_dir`, each atomically; returns the JSON path."""
        out = check_report_dir(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / REPORT_JSON, self.to_json())
        if html_report:
            atomic_write_text(out / REPORT_HTML, render_html(self))
        return out / REPORT_JSON


def check_report_dir(out_dir: str | Path, what: str = "--out") -> Path:
    """Refuse, before any work, a report folder that cannot take a report: a file, or a folder whose
    report.json/report.html biosynth did not write (an earlier biosynth report there is replaced)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{what} {str(out)!r} is a file; expected a folder for report.json and report.html "
                          "(new, or holding an earlier biosynth report)")
    if not out.is_dir():
        return out
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    if json_path.exists() and not _is_biosynth_report(json_path):
        raise ConfigError(f"{what} {str(out)!r} holds a {REPORT_JSON} that biosynth did not write; it is left "
                          "untouched: choose another folder")
    if html_path.exists() and not json_path.exists():
        raise ConfigError(f"{what} {str(out)!r} holds a {REPORT_HTML} without biosynth's {REPORT_JSON}; it is left "
                          "untouched: choose another folder")
    return out


def _is_biosynth_report(path: Path) -> bool:
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if isinstance(document, dict) and document.get("kind") == "biosynth-comparison":
        return True
    return isinstance(document, dict) and {"schema_version", "modality", "results", "software"} <= document.keys()


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3}.failed{color:#b00020}.na{color:#777}.leak{color:#b00020;font-weight:bold}
section{margin-bottom:2rem}small{color:#555}
.verdicts li{margin:.35rem 0;padding:.35rem .6rem;border-left:6px solid #999;list-style:none;background:#fafafa}
.tone-good{border-color:#2e7d32!important}.tone-caution{border-color:#e0a800!important}
.tone-poor{border-color:#c62828!important}.tone-leak{border-color:#b00020!important;color:#b00020;font-weight:bold}
.tone-not_measured{border-color:#999!important;color:#555}.tone-info{border-color:#3b6ea8!important}
.plots{display:flex;flex-wrap:wrap;gap:.8rem}.plots figure{margin:0}.plots svg{max-width:360px;height:auto}
.heatmap svg{max-width:100%;height:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:.8rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.5rem .7rem;font-size:.9rem}.card p{white-space:pre-wrap}
.card table{font-size:.75rem;margin:0}
"""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _bar_chart(rows: list[tuple[str, float | None, tuple[float, float] | None]], title: str) -> str:
    """Horizontal bars in [0, 1] with interval whiskers, as inline SVG."""
    height = 22 * len(rows) + 30
    label_w, bar_w = 220, 420
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{html.escape(title)}" '
             f'width="{label_w + bar_w + 80}" height="{height}" class="plot">',
             f'<text x="0" y="14" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value, ci) in enumerate(rows):
        y = 26 + 22 * i
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{html.escape(label[:34])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="16" fill="#eee"/>')
        if value is None:
            parts.append(f'<text x="{label_w + 4}" y="{y + 13}" font-size="12" fill="#b00020">not computed</text>')
            continue
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w * min(max(value, 0), 1):.1f}" height="16" '
                     'fill="#3b6ea8"/>')
        if ci is not None:
            x0, x1 = label_w + bar_w * min(max(ci[0], 0), 1), label_w + bar_w * min(max(ci[1], 0), 1)
            parts.append(f'<line x1="{x0:.1f}" x2="{x1:.1f}" y1="{y + 8}" y2="{y + 8}" stroke="#111" stroke-width="2"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}" font-size="12">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _detail_plot(result: MetricResult) -> str:
    if "bars" in result.details:  # (label, value in [0, 1], interval) rows a metric chose to plot
        rows = [(str(label), value, tuple(ci) if ci else None) for label, value, ci in result.details["bars"]]
        return _bar_chart(rows, f"{result.name}") if rows else ""
    if "columns" in result.details:
        rows = [(r["column"], r.get("score"), tuple(r["ci"]) if r.get("ci") else None) for r in result.details["columns"]]
    elif "pairs" in result.details:
        rows = [(f'{r["column_1"]} x {r["column_2"]}', r.get("score"), tuple(r["ci"]) if r.get("ci") else None)
                for r in result.details["pairs"]]
    else:
        return ""
    return _bar_chart(rows, f"{result.name}: per {'column' if 'columns' in result.details else 'pair'}") if rows else ""


def _scores_table(rows: list[dict[str, Any]]) -> str:
    """Utility's (arm, model, score) rows with their intervals."""
    body = "".join(
        f"<tr><td>{html.escape(str(r['arm']))}</td><td>{html.escape(str(r['model']))}</td>"
        f"<td>{html.escape(str(r['score']))}</td><td>{_fmt(r.get('value'))}</td>"
        f"<td>{'[' + _fmt(r['ci'][0]) + ', ' + _fmt(r['ci'][1]) + ']' if r.get('ci') else '—'}</td></tr>" for r in rows)
    return ("<table><tr><th>arm</th><th>model</th><th>score</th><th>value</th><th>interval</th></tr>"
            + body + "</table>") if rows else ""


_STATUS_SHOWN = {"ok": "computed", "not_applicable": "not applicable"}


def _provenance_details(provenance: dict[str, Any]) -> str:
    """What was evaluated, citably: the recipe and its hash, every model with its weights hash, every decoding."""
    parts = []
    recipe = provenance.get("recipe")
    if recipe:
        parts.append(f"<p><b>Recipe</b> {html.escape(str(recipe.get('name')))} · sha256 "
                     f"<code>{html.escape(str(recipe.get('sha256')))}</code> · seed {html.escape(str(recipe.get('seed')))}"
                     f" · dataset <code>{html.escape(str(provenance.get('dataset')))}</code></p>")
    models = provenance.get("models") or []
    if models:
        rows = "".join(f"<tr><td>{html.escape(str(m['name']))}</td><td>{html.escape(str(m['backend']))}</td>"
                       f"<td>{html.escape(str(m.get('revision')))}</td><td><code>{html.escape(str(m.get('sha256')))}"
                       f"</code></td><td>{'remote' if m.get('remote') else 'local'}</td><td>{m.get('records')}</td></tr>"
                       for m in models)
        parts.append("<h3>Models</h3><table><tr><th>model</th><th>backend</th><th>revision</th><th>weights sha256</th>"
                     f"<th>ran</th><th>records</th></tr>{rows}</table>")
    decodings = provenance.get("decoding") or []
    if decodings:
        rows = "".join(f"<tr><td>{html.escape(', '.join(f'{k}={v}' for k, v in d['settings'].items() if v is not None))}"
                       f"</td><td>{d.get('records')}</td></tr>" for d in decodings)
        parts.append(f"<h3>Decoding</h3><table><tr><th>settings</th><th>records</th></tr>{rows}</table>")
    return "".join(parts)


def _verdict_section(report: EvaluationReport) -> str:
    """The first screen: one sentence per family, each against its reference point."""
    items = "".join(f"<li class='tone-{v.tone}'><b>{html.escape(v.family.capitalize())}.</b> "
                    f"{html.escape(v.sentence)}</li>"
                    for v in verdicts(report.results, report.references, report.modality))
    return f"<section id='verdicts'><h2>Verdicts</h2><ul class='verdicts'>{items}</ul></section>" if items else ""


def _figures_section(figures: dict[str, Any]) -> str:
    """Real beside synthetic for every column, and the association heatmaps."""
    parts = [f"<section id='columns'><h2>{html.escape(figures.get('title', 'Real and synthetic'))}</h2>",
             f"<p><small><span style='color:{REAL}'>&#9632; real</span> (filled) &nbsp; "
             f"<span style='color:{SYNTHETIC}'>&#9632; synthetic</span> (outline for numbers): share of each "
             "table's rows in each bin or category; numbers share the real table's bins.</small></p>"
             "<div class='plots'>"]
    for i, item in enumerate(figures.get("distributions", [])):
        parts.append(f"<figure class='column-plot' data-column='{html.escape(str(item['column']), quote=True)}'>"
                     f"{scoped(distribution_plot(item), f'c{i}')}</figure>")
    parts.append("</div>")
    associations = figures.get("associations")
    if associations and len(associations.get("columns", [])) >= 2:
        parts.append("<h3>Pairwise association</h3><figure class='heatmap'>"
                     f"{scoped(association_heatmaps(associations), 'assoc')}</figure>")
    parts.append(_image_gallery(figures.get("image_gallery")))
    samples = figures.get("samples") or []
    if samples:
        parts.append("<h3>Samples</h3><div class='cards'>")
        for card in samples:
            provenance = card.get("provenance") or {}
            facts = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
                            for k, v in provenance.items())
            parts.append(f"<div class='card'><p>{html.escape(card['text'])}</p>"
                         + (f"<table>{facts}</table>" if facts else "<small>no provenance given</small>") + "</div>")
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _audio_players(players: list[dict[str, Any]]) -> str:
    """A few clips as <audio controls> with inline FLAC data URIs (the report stays one file), each with its turns."""
    if not players:
        return ""
    parts = ["<section id='audio-players'><h2>Listen</h2><div class='cards'>"]
    for p in players:
        turns = "".join(f"<tr><td>{t['start']:.2f} s</td><th>{html.escape(str(t['speaker']))}</th>"
                        f"<td>{html.escape(str(t['text']))}</td></tr>" for t in p.get("turns") or [])
        text = (f"<table>{turns}</table>" if turns else f"<p>{html.escape(p['transcript'])}</p>" if p.get("transcript")
                else "<small>no transcript</small>")
        parts.append(f"<div class='card'><b>{html.escape(str(p['clip']))}</b> <small>{html.escape(str(p['condition']))}"
                     f"; first {p['seconds']} s of {p['duration']} s</small><br>"
                     f"<audio controls preload='none' src='{html.escape(p['src'], quote=True)}'></audio>{text}</div>")
    parts.append("</div></section>")
    return "".join(parts)


def _image_gallery(gallery: dict[str, Any] | None) -> str:
    """Thumbnails of synthetic images (caption, labels, provenance) and of real ones: PNG data URIs, no files."""
    if not gallery:
        return ""
    parts = []
    for side, title in (("synthetic", "Synthetic images"), ("real", "Real images")):
        items = gallery.get(side) or []
        if not items:
            continue
        parts.append(f"<h3>{title}</h3><div class='cards image-gallery' data-side='{side}'>")
        for item in items:
            facts = {**{f"label {k}": v for k, v in (item.get("labels") or {}).items()}, **(item.get("provenance") or {})}
            rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts.items())
            caption = f"<p>{html.escape(str(item['caption']))}</p>" if item.get("caption") else ""
            src = str(item["src"]) if str(item["src"]).startswith("data:image/png;base64,") else ""
            parts.append(f"<figure class='card thumbnail' style='margin:0'><img src='{html.escape(src, quote=True)}' "
                         f"alt='{html.escape(str(item.get('name', side)), quote=True)}' style='image-rendering:pixelated;"
                         f"width:128px;height:auto'><figcaption><small>{html.escape(str(item.get('name', '')))}</small>"
                         f"{caption}{f'<table>{rows}</table>' if rows else ''}</figcaption></figure>")
        parts.append("</div>")
    return "".join(parts)


# what one sample of each modality is called in the report's header
UNITS = {"tabular": "rows", "text": "texts", "image": "images", "audio": "clips", "ehr": "patients"}


def render_html(report: EvaluationReport) -> str:
    """One HTML file with inline CSS and SVG plots: no scripts, no external assets."""
    unit = UNITS.get(report.modality, "samples")
    out = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>biosynth evaluation</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>biosynth evaluation — {html.escape(report.modality)}</h1>",
           f"<p><small>{html.escape(report.created_at)} · seed {report.seed} · real {report.n_real} {unit} · "
           f"synthetic {report.n_synthetic} {unit} · holdout {report.n_holdout if report.n_holdout is not None else 'none'} · "
           + html.escape(", ".join(f"{k} {v}" for k, v in report.software.items())) + "</small></p>"]
    out.append(_verdict_section(report))
    out.append("<section id='summary'><h2>Summary</h2><table><tr><th>metric</th><th>family</th><th>value</th>"
               "<th>interval</th><th>better</th><th>status</th><th>notes</th></tr>")
    for r in report.results:
        status_class = {"failed": "failed", "not_applicable": "na"}.get(r.status, "")
        leak = r.details.get("leak_detected")
        notes = "; ".join([*(["LEAK DETECTED"] if leak else []), *([r.error] if r.error else []), *r.warnings])
        interval = f"[{_fmt(r.ci.low)}, {_fmt(r.ci.high)}] {r.ci.method}" if r.ci else "—"
        out.append(f"<tr><td>{html.escape(r.name)}</td><td>{r.family.value}</td><td>{_fmt(r.value)}</td>"
                   f"<td>{html.escape(interval)}</td><td>{r.direction.value.split('_')[0]}</td>"
                   f"<td class='{status_class}'>{_STATUS_SHOWN.get(r.status, r.status)}</td>"
                   f"<td class='{'leak' if leak else ''}'>{html.escape(notes)}</td></tr>")
    out.append("</table></section>")
    if report.modality == "ehr":
        rows = [(r.name.removeprefix("visits."), r.value, (r.ci.low, r.ci.high) if r.ci else None)
                for r in report.results]
        out.append("<section id='visits'><h2>Visit sequences</h2><p><small>HALO's R² of code, within-visit pair "
                   "and consecutive-visit pair probabilities (per patient and per visit), and 1 - KS distance of "
                   "visits per patient and codes per visit; bars clipped to [0, 1], the value printed.</small></p>"
                   + _bar_chart(rows, "visit-sequence fidelity") + "</section>")
    if report.figures:
        out.append(_figures_section(report.figures))
        out.append(_audio_players(report.figures.get("audio_players") or []))
    for family in ("fidelity", "diversity", "utility", "privacy", "memorisation", "factuality", "judge"):
        chosen = [r for r in report.results if r.family.value == family]
        if not chosen:
            continue
        out.append(f"<section id='{family}'><h2>{family.capitalize()}</h2>")
        for r in chosen:
            out.append(f"<h3>{html.escape(r.name)}</h3>")
            if r.threat_model:
                out.append(f"<p><b>Threat model.</b> {html.escape(r.threat_model)}</p>")
            out.append(_detail_plot(r))
            if r.ok and family != "judge" and isinstance(r.details.get("scores"), list):  # utility, label consistency
                out.append(_scores_table(r.details["scores"]))
            if family == "judge" and isinstance(r.parameters.get("judge"), dict):  # who judged, on which rubric
                rubric = r.parameters.get("rubric") or {}
                out.append(f"<p><small>judge {html.escape(str(r.parameters['judge'].get('name')))} "
                           f"({html.escape(str(r.parameters['judge'].get('backend')))})"
                           + (f" · rubric {html.escape(str(rubric.get('id')))} sha256 "
                              f"<code>{html.escape(str(rubric.get('sha256'))[:16])}…</code>" if rubric else "")
                           + "</small></p>")
            if (family in ("privacy", "judge") or r.modality == "text") and r.ok:
                keys = [k for k, v in r.details.items() if isinstance(v, (int, float, bool)) or v is None]
                out.append("<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(r.details[k]))}</td></tr>"
                                              for k in keys) + "</table>")
        out.append("</section>")
    if any(r.family.value == "human" for r in report.results):  # agreement tables (`biosynth review agreement`)
        from biosynth.eval._human.html import human_section

        out.append(human_section(report.results))
    if report.provenance is not None:
        out.append("<section id='provenance'><h2>Provenance checklist</h2><table><tr><th>item</th><th>reported</th>"
                   "<th>value</th></tr>")
        for item in report.provenance.get("checklist", []):
            mark = "yes" if item["present"] else "MISSING"
            out.append(f"<tr><td>{html.escape(item['item'])}</td><td class='{'' if item['present'] else 'failed'}'>"
                       f"{mark}</td><td>{html.escape(str(item.get('value', ''))[:300])}</td></tr>")
        out.append("</table>")
        out.append(_provenance_details(report.provenance))
        out.append("</section>")
    out.append("</body></html>")
    return "".join(out)
