"""The three steps: export a review batch, import the completed export, and the agreement into a report."""

from __future__ import annotations

import json
import re
from pathlib import Path

from biosynth.core import ConfigError, InputDataError, SyntheticDataset, software_versions
from biosynth.eval._human.agreement import Weights, agreement_results
from biosynth.eval._human.argilla_format import argilla_files, read_argilla_export
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.folder import (
    AnnotationSet,
    DatasetRef,
    ReviewBatch,
    Tool,
    now,
    read_annotations,
    read_review,
    write_annotations,
    write_export,
)
from biosynth.eval._human.items import review_items
from biosynth.eval._human.judge_scores import JudgeScore
from biosynth.eval._human.label_studio import LOCAL_FILES_URL, label_studio_files, read_label_studio_export
from biosynth.eval._human.reading import merge_import
from biosynth.eval._report import REPORT_JSON, SOFTWARE, EvaluationReport, check_report_dir
from biosynth.eval._result import Family

HUMAN_SOFTWARE = ("krippendorff", "statsmodels")


def export_review(dataset: SyntheticDataset, tool: Tool, out: Path, *, criteria: tuple[Criterion, ...],
                  step: str | None = None, judge_scores: tuple[JudgeScore, ...] = (), limit: int | None = None,
                  seed: int = 0, media_url: str = LOCAL_FILES_URL, min_submitted: int = 2) -> ReviewBatch:
    """Write a review batch of `dataset` for Label Studio or Argilla into `out` (a new folder, or an earlier export
    of biosynth's without imports)."""
    if min_submitted < 1:
        raise ConfigError(f"--min-reviews must be at least 1, got {min_submitted}")
    items = review_items(dataset, step, limit, seed)
    known = {c.name for c in criteria}
    unknown = sorted({s.criterion for s in judge_scores} - known)
    if unknown:
        raise ConfigError(f"the judge scores name criteria {unknown} that the review does not ask; the criteria are "
                          f"{sorted(known)} (pass --criteria naming the judges' criteria)")
    by_name = {c.name: c for c in criteria}
    off_scale = [s for s in judge_scores if not min(by_name[s.criterion].scores) <= s.score <= max(by_name[s.criterion].scores)]
    if off_scale:
        first = off_scale[0]
        raise InputDataError(f"{len(off_scale)} judge scores lie outside their criterion's scale, e.g. record "
                             f"{first.record_id!r} scored {first.score} on {first.criterion!r} "
                             f"({by_name[first.criterion].describe_scale()}): were they made with another rubric?")
    held = {r.id for r in dataset.records(step)}
    missing = sorted({s.record_id for s in judge_scores} - held)
    if missing:
        raise InputDataError(f"the judge scores name record ids that {'step ' + repr(step) if step else 'the dataset'} "
                             f"does not hold: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    chosen = {item.record_id for item in items}
    shown = tuple(s for s in judge_scores if s.record_id in chosen)
    if tool == "label-studio":
        files = label_studio_files(dataset, items, criteria, shown, media_url)
    else:
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"biosynth-review-{out.name}").strip("-")  # a safe Argilla dataset name
        files = argilla_files(dataset, items, criteria, shown, name=name, min_submitted=min_submitted)
    manifest = dataset.manifest
    batch = ReviewBatch(tool=tool, created_at=now(), step=step,
                        dataset=DatasetRef(path=str(dataset.root.resolve()), recipe_sha256=manifest.recipe_sha256,
                                           records_sha256=manifest.records_sha256, seed=manifest.seed),
                        modality=_modality(items), criteria=criteria, record_ids=tuple(i.record_id for i in items),
                        judge_scores=shown, files=tuple(sorted(files)))
    write_export(out, files, batch)
    return batch


def _modality(items: list) -> str:
    kinds = sorted({item.modality for item in items})
    return kinds[0] if len(kinds) == 1 else "mixed"


def import_review(dataset: SyntheticDataset, export_file: Path, review_dir: Path,
                  tool: Tool | None = None) -> tuple[AnnotationSet, int, list[str]]:
    """Read a completed Label Studio / Argilla export into the review folder's annotations.json; returns the
    annotations, how many earlier ratings were replaced, and notes on what was skipped."""
    batch = read_review(review_dir)
    if batch.dataset.recipe_sha256 != dataset.manifest.recipe_sha256 or \
            batch.dataset.records_sha256 != dataset.manifest.records_sha256:
        raise InputDataError(f"the review in {str(review_dir)!r} was exported from another dataset (recipe sha256 "
                             f"{batch.dataset.recipe_sha256[:12]}, records sha256 {str(batch.dataset.records_sha256)[:12]})"
                             f" than {str(dataset.root)!r} (recipe sha256 {dataset.manifest.recipe_sha256[:12]}, records "
                             f"sha256 {str(dataset.manifest.records_sha256)[:12]})")
    if not export_file.exists():
        raise InputDataError(f"export file {str(export_file)!r} does not exist")
    tool = tool or _detect(export_file, batch.tool)
    if tool == "label-studio":
        read = read_label_studio_export(export_file, batch.criteria)
    else:
        read = read_argilla_export(export_file, batch.criteria)
    notes = list(read.notes)
    annotations, replaced, repeated = merge_import(review_dir, batch, dataset, export_file, tool, read)
    if repeated:
        notes.append(f"{repeated} ratings given again by the same reviewer to the same record and criterion in this "
                     "export (the later one kept)")
    write_annotations(review_dir, annotations)
    return annotations, replaced, notes


def _detect(path: Path, default: Tool) -> Tool:
    """Argilla records carry `responses` or `<question>.responses`; Label Studio tasks carry `data`."""
    if path.is_dir():
        return "argilla"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return default  # the reader of the review's own tool reports what is wrong
    first = document[0] if isinstance(document, list) and document and isinstance(document[0], dict) else {}
    if "data" in first:
        return "label-studio"
    if "responses" in first or "fields" in first or any(k.endswith(".responses") for k in first):
        return "argilla"
    return default


def agreement_report(review_dir: Path, out: Path, *, judge_scores: tuple[JudgeScore, ...] = (), seed: int = 0,
                     n_bootstrap: int = 200, weights: Weights = "quadratic") -> tuple[EvaluationReport, Path]:
    """The agreement measures as family 'human' results: added to the biosynth report in `out` when there is one
    (replacing its earlier human results), else a new report there."""
    check_report_dir(out)
    batch = read_review(review_dir)
    annotations = read_annotations(review_dir)
    existing = _existing_report(out)
    recipe = ((existing.provenance or {}).get("recipe") or {}).get("sha256") if existing is not None else None
    if recipe is not None and recipe != batch.dataset.recipe_sha256:
        raise ConfigError(f"--out {str(out)!r} holds the report of another dataset (recipe sha256 {str(recipe)[:12]}) "
                          f"than the review's ({batch.dataset.recipe_sha256[:12]}); name that dataset's report folder "
                          "or a new one")
    results = agreement_results(annotations, (*batch.judge_scores, *judge_scores), seed=seed,
                                n_bootstrap=n_bootstrap, weights=weights)
    versions = software_versions((*SOFTWARE, *HUMAN_SOFTWARE))
    if existing is None:
        report = EvaluationReport(modality=annotations.modality, created_at=now(), seed=seed, n_real=0,
                                  n_synthetic=len(batch.record_ids), n_holdout=None, columns={}, software=versions,
                                  results=tuple(results))
    else:
        kept = tuple(r for r in existing.results if r.family is not Family.HUMAN)
        report = existing.model_copy(update={"results": (*kept, *results),
                                             "software": {**existing.software, **versions}})
    return report, report.write(out)


def _existing_report(out: Path) -> EvaluationReport | None:
    path = out / REPORT_JSON
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))  # check_report_dir found biosynth's report here
    if document.get("kind") == "biosynth-comparison":
        raise ConfigError(f"--out {str(out)!r} holds a comparison of several datasets; add the review to one "
                          "dataset's report folder, or name a new folder")
    return EvaluationReport.model_validate(document)
