"""What the card and the Croissant metadata say about a dataset, drawn from its manifest, records and evaluation.

- `step_facts`: per recipe step, its generator, the models, prompt templates, strategies and counts;
- `real_data_statement`: which real data the run read and where it went (input fingerprints, policy decisions);
- `EvaluationSummary`: the headline of a biosynth-eval `report.json`, read as plain JSON (core never imports
  biosynth-eval), split into what describes biases (fidelity, diversity) and what describes limitations;
- `AnnotationSummary`: counts from a human-review annotations JSON.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core._export._folder import ExportError
from biosynth.core._manifest import Manifest
from biosynth.core._provenance import ModelRef
from biosynth.core._records import Record
from biosynth.core._validation import describe_validation_error

BIAS_FAMILIES = ("fidelity", "diversity")
REVIEW_FAMILIES = ("human",)  # agreement between reviewers: reported with the annotations


@dataclass
class StepFacts:
    """One recipe step as the records and the manifest describe it."""

    name: str
    generator: str
    generator_version: str
    seed: int | None
    source: str | None
    requested: int
    produced: int
    failed: int
    removed: int
    failure_reasons: dict[str, int]
    removal_reasons: dict[str, int]
    modalities: dict[str, int]
    models: list[ModelRef] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # declared in the recipe: "backend (kind)"
    templates: dict[str, str] = field(default_factory=dict)  # template id -> sha256
    strategies: list[str] = field(default_factory=list)
    redacted_prompts: int = 0


def step_facts(manifest: Manifest, records: list[Record]) -> list[StepFacts]:
    recipe_steps = {s.get("name"): s for s in manifest.recipe.get("steps", []) if isinstance(s, dict)}
    facts: dict[str, StepFacts] = {}
    for name, summary in manifest.steps.items():
        step = recipe_steps.get(name, {})
        facts[name] = StepFacts(
            name=name, generator=summary.generator, generator_version=summary.generator_version,
            seed=step.get("seed"), source=step.get("from"), requested=summary.requested, produced=summary.produced,
            failed=summary.failed, removed=summary.removed, failure_reasons=dict(summary.failure_reasons),
            removal_reasons=dict(summary.removal_reasons),
            modalities=dict(summary.modalities))
    for decision in manifest.policy_decisions:
        entry = facts.get(str(decision.get("step")))
        label = f"{decision.get('backend')} ({str(decision.get('kind', 'component')).replace('_', ' ')})"
        if entry is not None and label not in entry.components:
            entry.components.append(label)
    for record in records:
        entry = facts.get(record.provenance.step or "")
        if entry is None:
            continue
        prov = record.provenance
        if prov.model is not None and prov.model not in entry.models:
            entry.models.append(prov.model)
        if prov.prompt is not None:
            entry.templates.setdefault(prov.prompt.template_id, prov.prompt.template_sha256)
            entry.redacted_prompts += prov.prompt.redacted
        template_id, template_sha = prov.extra.get("template_id"), prov.extra.get("template_sha256")
        if isinstance(template_id, str) and isinstance(template_sha, str):
            entry.templates.setdefault(template_id, template_sha)
        for strategy in prov.strategy:
            if strategy.value not in entry.strategies:
                entry.strategies.append(strategy.value)
    return list(facts.values())


def label_counts(records: list[Record]) -> dict[str, tuple[str, Counter[str]]]:
    """Per label key, the step it first appears in and how many of that step's records carry each value.

    Labels are copied from a record to the records made from it; counting them once, in the step that set them,
    counts each case once rather than once per modality.
    """
    origin: dict[str, str] = {}
    for record in records:
        for key in record.labels:
            origin.setdefault(key, record.provenance.step or "")
    counts: dict[str, tuple[str, Counter[str]]] = {key: (step, Counter()) for key, step in origin.items()}
    for record in records:
        for key, value in record.labels.items():
            if origin[key] == (record.provenance.step or ""):
                counts[key][1][str(value)] += 1
    return counts


def label_balance(records: list[Record], shown: int = 8) -> list[str]:
    """One line per label key: its most frequent values with their counts, in the step that set it."""
    lines = []
    for key, (step, counter) in label_counts(records).items():
        more = f" (+{len(counter) - shown} more values)" if len(counter) > shown else ""
        lines.append(f"`{key}` (step {step}): " + ", ".join(f"{v} {n}" for v, n in counter.most_common(shown)) + more)
    return lines


def model_label(model: ModelRef) -> str:
    parts = [f"{model.name} ({model.backend}"]
    if model.revision:
        parts.append(f", revision {model.revision}")
    if model.sha256:
        parts.append(f", sha256 {model.sha256[:12]}")
    if model.license:
        parts.append(f", license {model.license}")
    parts.append(", remote)" if model.remote else ", local)")
    return "".join(parts)


def real_data_statement(manifest: Manifest) -> str:
    """Which real data was read, by which step, and which components it could reach (from the manifest)."""
    real = [i for i in manifest.inputs if i.real]
    other = [i for i in manifest.inputs if not i.real]
    sentences: list[str] = []
    if not real:
        sentences.append("No input marked as real (patient) data was read by any step of the recipe.")
    for item in real:
        origin = f" from the package {item.package}" if item.package else ""
        sentences.append(
            f"Step '{item.step}' read real data: parameter `{item.parameter}`, file {Path(item.path).name}{origin} "
            f"(sha256 {item.sha256}, {item.bytes} bytes); only its fingerprint is stored, not its content.")
    for decision in manifest.policy_decisions:
        if not decision.get("real_data"):
            continue
        where = "a remote" if decision.get("remote") else "a local"
        kind = str(decision.get("kind", "component")).replace("_", " ")
        sentence = (f"Policy: step '{decision.get('step')}' gave it to {where} {kind} '{decision.get('backend')}' "
                    f"({'permitted' if decision.get('permitted') else 'refused'}")
        if decision.get("justification"):
            sentence += f", justification: {decision['justification']}"
        sentences.append(sentence + "); prompts that held real data are stored as hashes only.")
    if other:
        names = ", ".join(f"{i.step}.{i.parameter} ({Path(i.path).name})" for i in other)
        sentences.append(f"Inputs declared not to hold patient data (`real: false`): {names}.")
    sentences.append("Every record is synthetic; none is a real person's record.")
    return " ".join(sentences)


def read_json_option(path: Path | None, option: str) -> Any:
    """The JSON document an exporter option names (None when not given); errors name the option and file."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"option {option}: file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ExportError(f"option {option}: file {str(path)!r} cannot be read ({err})") from None
    except json.JSONDecodeError as err:
        raise ExportError(f"option {option}: {str(path)!r} is not JSON ({err})") from None


class _Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Interval(_Lenient):
    low: float
    high: float
    level: float = 0.95
    method: str | None = None


class _Metric(_Lenient):
    name: str
    family: str
    modality: str | None = None
    value: float | None = None
    status: str = "ok"
    error: str | None = None
    direction: str | None = None
    ci: _Interval | None = None
    n_real: int | None = None
    n_synthetic: int | None = None
    threat_model: str | None = None
    warnings: tuple[str, ...] = ()


class _Report(_Lenient):
    modality: str
    seed: int | None = None
    n_real: int | None = None
    n_synthetic: int | None = None
    n_holdout: int | None = None
    created_at: str | None = None
    results: tuple[_Metric, ...] = Field(min_length=1)


class EvaluationSummary:
    """The headline of one or more biosynth-eval reports (a report.json, or a comparison's `reports`)."""

    def __init__(self, document: Any, source: str = "report") -> None:
        if not isinstance(document, dict):
            raise ExportError(f"option {source}: expected a biosynth-eval report.json (a JSON object with "
                              f"`modality` and `results`), got {type(document).__name__}")
        raw = document["reports"] if isinstance(document.get("reports"), list) else [document]
        try:
            self.reports = [_Report.model_validate(r) for r in raw]
        except ValidationError as err:
            raise ExportError(describe_validation_error(
                err, what=f"option {source} (a biosynth-eval report.json)")) from None

    @property
    def metrics(self) -> list[_Metric]:
        return [m for r in self.reports for m in r.results]

    def scope(self) -> list[str]:
        return [f"{r.modality} evaluation" + (f" (seed {r.seed})" if r.seed is not None else "")
                + f": {r.n_synthetic} synthetic against {r.n_real} real"
                + (f", {r.n_holdout} held out" if r.n_holdout else "") for r in self.reports]

    def lines(self, families: tuple[str, ...] | None = None, *, exclude: tuple[str, ...] = ()) -> list[str]:
        return [_metric_line(m) for m in self.metrics
                if (families is None or m.family in families) and m.family not in exclude]

    def biases(self) -> list[str]:
        return self.lines(BIAS_FAMILIES)

    def limitations(self) -> list[str]:
        out = self.lines(exclude=BIAS_FAMILIES + REVIEW_FAMILIES)
        out += [f"{m.name}: {w}" for m in self.metrics for w in m.warnings]
        return out


def _metric_line(m: _Metric) -> str:
    head = f"{m.family} / {m.name}"
    if m.status != "ok" or m.value is None or not math.isfinite(m.value):
        return f"{head}: {m.status.replace('_', ' ')} ({m.error or 'no reason given'})"
    text = f"{head} = {m.value:.4g}"
    if m.ci is not None:
        text += f" [{m.ci.low:.4g}, {m.ci.high:.4g}] ({m.ci.level:.0%} interval"
        text += f", {m.ci.method})" if m.ci.method else ")"
    if m.direction:
        text += f", {m.direction.replace('_', ' ')}"
    if m.threat_model:
        text += f"; threat model: {m.threat_model}"
    return text


class _Criterion(_Lenient):
    name: str
    question: str | None = None
    scores: tuple[int, ...] = ()


class _Annotation(_Lenient):
    record_id: str
    criterion: str
    reviewer: str
    score: float | None = None


class _Import(_Lenient):
    tool: str
    annotations: int | None = None


class _DatasetRef(_Lenient):
    recipe_sha256: str
    records_sha256: str | None = None


class _AnnotationSet(_Lenient):
    kind: str = "biosynth-annotations"
    dataset: _DatasetRef | None = None
    modality: str | None = None
    criteria: tuple[_Criterion, ...] = ()
    pseudonymisation: dict[str, str] = Field(default_factory=dict)
    reviewers: tuple[str, ...] = ()
    annotations: tuple[_Annotation, ...]
    imports: tuple[_Import, ...] = ()


class AnnotationSummary:
    """A human review's `annotations.json` (biosynth-eval's `biosynth review import`), read as plain JSON.

    Its agreement statistics live in the evaluation report (family `human`); pass that report to show them.
    """

    def __init__(self, document: Any, manifest: Manifest, evaluation: EvaluationSummary | None = None,
                 source: str = "annotations") -> None:
        try:
            data = _AnnotationSet.model_validate(document)
        except ValidationError as err:
            raise ExportError(describe_validation_error(
                err, what=f"option {source} (an annotations.json from `biosynth review import`)")) from None
        if data.dataset is not None and (data.dataset.recipe_sha256 != manifest.recipe_sha256 or (
                data.dataset.records_sha256 and data.dataset.records_sha256 != manifest.records_sha256)):
            raise ExportError(f"option {source}: the annotations are of another dataset (recipe sha256 "
                              f"{data.dataset.recipe_sha256[:12]}, records sha256 "
                              f"{(data.dataset.records_sha256 or '?')[:12]}); this one has recipe sha256 "
                              f"{manifest.recipe_sha256[:12]}, records sha256 {(manifest.records_sha256 or '?')[:12]}")
        self.data = data
        self.count = len(data.annotations)
        self.records = Counter(a.record_id for a in data.annotations)
        self.reviewers = set(data.reviewers) | {a.reviewer for a in data.annotations}
        self.criteria = [c.name + (f" ({c.question})" if c.question else "") for c in data.criteria] or sorted(
            {a.criterion for a in data.annotations})
        self.tools = sorted({i.tool for i in data.imports})
        self.agreement = [m for m in (evaluation.metrics if evaluation else []) if m.family == "human"]

    def protocol(self) -> str:
        tool = f" with {', '.join(self.tools)}" if self.tools else ""
        method = self.data.pseudonymisation.get("method")
        return (f"Human review{tool}: {self.count} annotations on {len(self.records)} records by "
                f"{len(self.reviewers)} pseudonymous reviewers"
                + (f" (pseudonyms: {method})" if method else "") + f", rating {'; '.join(self.criteria)}.")

    def per_item(self) -> str:
        counts = sorted(self.records.values())
        return f"{counts[len(counts) // 2]} (median; range {counts[0]}-{counts[-1]})" if counts else "none"

    def analysis(self) -> str:
        if not self.agreement:
            return ("No agreement statistics: give the evaluation report that `biosynth review` wrote the agreement "
                    "into (-O report=report.json).")
        return "Agreement: " + "; ".join(_metric_line(m) for m in self.agreement)
