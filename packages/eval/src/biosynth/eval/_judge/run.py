"""Judging a dataset's records end to end: pick the records, check self-preference, grade or compare, and write the
results into a report folder (merged into an existing biosynth report there, so judges and metrics share one)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from biosynth.core import (
    ConfigError,
    DatasetError,
    LanguageModel,
    Record,
    SyntheticDataset,
    software_versions,
)
from biosynth.eval._judge.bias import word_count
from biosynth.eval._judge.family import check_self_preference
from biosynth.eval._judge.items import JudgeItem, items_from_records
from biosynth.eval._judge.judge import Method, PairwiseJudge, RubricJudge
from biosynth.eval._judge.metrics import pairwise_metrics, rubric_metrics
from biosynth.eval._judge.rubric import Rubric
from biosynth.eval._report import REPORT_JSON, SOFTWARE, EvaluationReport, check_report_dir
from biosynth.eval._result import Family, MetricResult

JUDGED_KINDS = {"text": "text", "dialogue": "text", "qa": "text", "image": "image", "audio": "audio"}


def judged_records(dataset: SyntheticDataset, step: str | None) -> tuple[list[Record], str]:
    """The records a judge reads (texts, dialogues, QA, image captions, audio transcripts) of one step, and their
    report modality. Without `step`, the dataset must hold such records in one step only."""
    records = [r for r in dataset.records(step) if r.payload.kind in JUDGED_KINDS]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no records a judge can read in {where} (texts, "
                           f"dialogues, QA pairs, captioned images, transcribed audio); steps: "
                           f"{list(dataset.manifest.steps)}")
    steps = sorted({r.provenance.step or "?" for r in records})
    if step is None and len(steps) > 1:
        raise ConfigError(f"dataset {str(dataset.root)!r} holds records to judge in steps {steps}; name one with --step")
    modalities = {JUDGED_KINDS[r.payload.kind] for r in records}
    if len(modalities) > 1:
        raise ConfigError(f"step {steps[0]!r} mixes {sorted(modalities)} records; judge one kind at a time")
    return records, modalities.pop()


def grade_records(model: LanguageModel, rubric: Rubric, records: Sequence[Record], *, sources: dict[str, Record],
                  modality: str, method: Method = "auto", force_self_judge: bool = False, seed: int = 0,
                  n_bootstrap: int = 200, max_attempts: int = 3, reference_texts: Sequence[str] | None = None
                  ) -> list[MetricResult]:
    """Grade `records` on `rubric` (references from `sources` by parent id when the rubric has one)."""
    items = items_from_records(records, default_subject=rubric.subject, sources=sources,
                               with_reference=rubric.reference is not None)
    warnings = check_self_preference(model.model_ref, [i.generator for i in items], force=force_self_judge)
    judge = RubricJudge(model, rubric, method=method, max_attempts=max_attempts, seed=seed)
    start = time.perf_counter()
    judgements = judge.grade(items)
    return rubric_metrics(judge, items, judgements, modality=modality, seed=seed, n_bootstrap=n_bootstrap,
                          reference_lengths=[word_count(t) for t in reference_texts] if reference_texts else None,
                          warnings=warnings, duration_s=time.perf_counter() - start)


def compare_records(model: LanguageModel, rubric: Rubric, a: Sequence[Record], b: Sequence[Record], *,
                    labels: tuple[str, str], modality: str, force_self_judge: bool = False, seed: int = 0,
                    n_bootstrap: int = 200, max_attempts: int = 3) -> list[MetricResult]:
    """Compare the i-th record of `a` with the i-th of `b` (both orders), as many pairs as the shorter side has."""
    n = min(len(a), len(b))
    if n == 0:
        raise ConfigError("pairwise comparison needs records on both sides")
    first = items_from_records(a[:n], default_subject=rubric.subject)
    second = items_from_records(b[:n], default_subject=rubric.subject)
    warnings = check_self_preference(model.model_ref, [i.generator for i in (*first, *second)],
                                     force=force_self_judge)
    judge = PairwiseJudge(model, rubric, max_attempts=max_attempts, seed=seed)
    pairs: list[tuple[JudgeItem, JudgeItem]] = list(zip(first, second, strict=True))
    verdicts = judge.compare(pairs)
    return pairwise_metrics(judge, pairs, verdicts, labels=labels, modality=modality, seed=seed,
                            n_bootstrap=n_bootstrap, warnings=warnings)


def write_judge_results(out: str | Path, results: Sequence[MetricResult], *, modality: str, n_synthetic: int,
                        seed: int) -> Path:
    """Put the judge results into the report at `out`: merged into a biosynth report already there (its earlier
    judge results replaced), or a new report. Returns the report.json path."""
    folder = check_report_dir(out)
    existing_path = folder / REPORT_JSON
    if existing_path.exists():
        try:
            existing = EvaluationReport.model_validate_json(existing_path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ConfigError(f"--out {str(folder)!r} holds a {REPORT_JSON} that is not a single-dataset biosynth "
                              f"report ({type(err).__name__}); judge into a new folder") from None
        if existing.modality != modality:
            raise ConfigError(f"--out {str(folder)!r} holds a {existing.modality} report; these judge results are for "
                              f"{modality} records: judge the same records, or write to another folder")
        kept = tuple(r for r in existing.results if r.family is not Family.JUDGE)
        report = existing.model_copy(update={"results": kept + tuple(results)})
    else:
        report = EvaluationReport(modality=modality, created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                                  seed=seed, n_real=0, n_synthetic=n_synthetic, n_holdout=None, columns={},
                                  software=software_versions([*SOFTWARE, "biosynth-text"]), results=tuple(results))
    return report.write(folder)

