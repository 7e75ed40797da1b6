"""The dataset card: a Markdown datasheet (Gebru et al., "Datasheets for Datasets") drawn from the manifest,
the records' provenance and, when given, a biosynth-eval report and human-review annotations.

`biosynth export DATASET --to card --out DIR [-O report=report.json] [-O annotations=review.json]` writes
DIR/DATASHEET.md; the `hf` export writes the same card as its README.md (under the Hub's YAML header) and
the `croissant` export writes it beside croissant.json.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from biosynth.core._export._base import ExportContext, Exporter, ExportOptions
from biosynth.core._export._dataset_facts import (
    AnnotationSummary,
    EvaluationSummary,
    label_balance,
    model_label,
    read_json_option,
    real_data_statement,
    step_facts,
)
from biosynth.core._manifest import Manifest
from biosynth.core._records import Record

CARD_FILE = "DATASHEET.md"


class CardOptions(ExportOptions):
    report: Path | None = None  # a biosynth-eval report.json
    annotations: Path | None = None  # a human-review annotations JSON


class CardExporter(Exporter):
    """A Markdown datasheet of the dataset."""

    format: ClassVar[str] = "card"
    description: ClassVar[str] = "dataset card: a Markdown datasheet from the manifest and the evaluation report"
    format_version: ClassVar[int] = 1
    Options: ClassVar[type[ExportOptions]] = CardOptions

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        assert isinstance(self.options, CardOptions)
        report = read_json_option(self.options.report, "report")
        annotations = read_json_option(self.options.annotations, "annotations")
        records = ctx.records()
        ctx.start(1)
        text = datasheet(ctx.dataset.manifest, records, report=report, annotations=annotations)
        (ctx.staging / CARD_FILE).write_text(text, encoding="utf-8")
        ctx.advance(1)
        return {"file": CARD_FILE, "records": len(records), "evaluation": report is not None,
                "annotations": annotations is not None}


def datasheet(manifest: Manifest, records: list[Record], *, report: Any = None, annotations: Any = None,
              distribution: list[str] | None = None) -> str:
    """The card as Markdown; `report` and `annotations` are the parsed JSON documents (or None)."""
    evaluation = EvaluationSummary(report) if report is not None else None
    review = AnnotationSummary(annotations, manifest, evaluation) if annotations is not None else None
    steps = step_facts(manifest, records)
    recipe = manifest.recipe
    name = str(recipe.get("name", "biosynth dataset"))
    out: list[str] = [f"# Datasheet: {name}", "",
                      f"Synthetic biomedical data made by biosynth from the recipe `{name}` "
                      f"(sha256 `{manifest.recipe_sha256}`, seed {manifest.seed}), "
                      f"created {manifest.created_at:%Y-%m-%d %H:%M} UTC. Every record is synthetic.", ""]

    out += ["## Motivation", "",
            f"- Purpose: {recipe.get('description') or 'not stated in the recipe (add a `description:`).'}",
            "- Created with biosynth " + ", ".join(f"{k} {v}" for k, v in manifest.environment.biosynth.items()) + ".",
            ""]

    modalities = Counter(r.modality.value for r in records)
    cases = len({r.case_id for r in records})
    out += ["## Composition", "",
            f"- {len(records)} records in {cases} cases (records of one synthetic patient share `case_id`; "
            "`parents` names the records each was made from).",
            "- By modality: " + ", ".join(f"{k} {v}" for k, v in modalities.items()) + ".",
            f"- Requested {manifest.requested}, produced {manifest.produced}, failed {manifest.failed}, "
            f"removed {manifest.removed} (deduplication or a generator's own filtering, e.g. a critic; "
            "reasons below).", ""]
    out += ["| step | generator | from | requested | produced | failed | removed | modalities |",
            "|---|---|---|---|---|---|---|---|"]
    for s in steps:
        out.append(f"| {s.name} | {s.generator} {s.generator_version} | {s.source or '-'} | {s.requested} | "
                   f"{s.produced} | {s.failed} | {s.removed} | "
                   + ", ".join(f"{k} {v}" for k, v in s.modalities.items()) + " |")
    out.append("")
    failures = [(s.name, reason, n) for s in steps for reason, n in s.failure_reasons.items()]
    if failures:
        out += ["Failed samples (kept in the manifest, never dropped silently):", ""]
        out += [f"- `{step}`: {n} x {reason}" for step, reason, n in failures]
        out.append("")
    for step, reason in manifest.skipped_steps.items():
        out.append(f"- Step `{step}` was skipped: {reason}")
    out += _labels(records)

    out += ["## Collection process", "",
            "Records were generated, not collected. Per step (models, prompt templates, strategies, seeds):", ""]
    for s in steps:
        models = "; ".join(model_label(m) for m in s.models) or (
            f"none recorded (no record produced; declared: {', '.join(s.components)})" if s.components and not s.produced
            else "none recorded in provenance" if s.components else "no model (rule-based)")
        templates = ", ".join(f"`{k}` (sha256 {v[:12]})" for k, v in s.templates.items()) or "none"
        out.append(f"- `{s.name}`: generator `{s.generator}` {s.generator_version}, seed {s.seed}; models: {models}; "
                   f"prompt templates: {templates}; strategies: {', '.join(s.strategies) or 'not recorded'}"
                   + (f"; {s.redacted_prompts} prompts stored as hashes only (they held real data)"
                      if s.redacted_prompts else "") + ".")
    out += ["", f"- Real data: {real_data_statement(manifest)}"]
    if manifest.policy_decisions:
        out += ["", "Policy decisions:", "", "| step | component | kind | remote | real data | permitted |",
                "|---|---|---|---|---|---|"]
        out += [f"| {d.get('step')} | {d.get('backend')} | {d.get('kind')} | {d.get('remote')} | {d.get('real_data')} "
                f"| {d.get('permitted')} |" for d in manifest.policy_decisions]
    env = manifest.environment
    out += ["", f"- Environment: Python {env.python} ({env.platform})" + (f", torch {env.torch}" if env.torch else "")
            + "; the full package list is in manifest.json.", ""]

    out += ["## Preprocessing, cleaning, labelling", ""]
    removing = [s for s in steps if s.removed]
    out.append("- Removals (deduplication, critic filtering): " + (
        "; ".join(f"`{s.name}` removed {s.removed} (" + ", ".join(f"{reason}: {n}" for reason, n in
                                                                  s.removal_reasons.items()) + ")" for s in removing)
        if removing else "none removed") + ".")
    out.append("- Labels come from the generators (e.g. sampled attributes), not from human annotation.")
    if review is not None:
        out += [f"- {review.protocol()} Annotations per record: {review.per_item()}. {review.analysis()}"]
    out.append("")

    out += ["## Evaluation", ""]
    if evaluation is None:
        out += ["No evaluation report was given (`biosynth evaluate`, then export with `-O report=report.json`).", ""]
    else:
        out += [f"- {line}" for line in evaluation.scope()]
        out += ["", "Metric values with their intervals:", ""]
        out += [f"- {line}" for line in evaluation.lines()]
        warnings = [f"- {m.name}: {w}" for m in evaluation.metrics for w in m.warnings]
        if warnings:
            out += ["", "Warnings:", "", *warnings]
        out.append("")

    out += ["## Uses", "",
            "- Intended: developing and testing methods and software on synthetic biomedical data; "
            "the evaluation above bounds how far it stands in for real data.",
            "- Not for clinical decisions, for claims about real patients, or as ground truth for diagnosis.",
            "- Generated text and images may contain plausible but false medical statements.", ""]

    out += ["## Distribution", ""]
    out += [f"- {line}" for line in (distribution or ["The dataset folder: manifest.json, "
                                                      f"{manifest.records_file} and media/."])]
    out += [f"- {len(manifest.media)} media files, each listed with its sha256 in manifest.json.",
            f"- records sha256: `{manifest.records_sha256}`.", ""]

    out += ["## Maintenance", "",
            "- Regenerate: `biosynth run RECIPE --out DIR` with the recipe stored in manifest.json reproduces the "
            "records for the same seed and software versions; `biosynth inspect DIR` shows any record's provenance.",
            "- Report problems to whoever distributes this dataset; the manifest's recipe sha256 identifies it.", ""]
    return "\n".join(out)


def _labels(records: list[Record]) -> list[str]:
    lines = label_balance(records)
    return ["Label distributions:", "", *[f"- {line}" for line in lines], ""] if lines else []
