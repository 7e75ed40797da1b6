"""The case suite: `biosynth evaluate DIR --consistency` scores a multimodal case dataset's cross-modal consistency."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from biosynth.core import (
    BiosynthError,
    ConfigError,
    InputDataError,
    Record,
    SyntheticDataset,
    derive_seed,
    read_code_vocabulary,
    software_versions,
)
from biosynth.eval._consistency.metrics import MODALITY, image_note_consistency, note_ehr_consistency
from biosynth.eval._report import SOFTWARE, EvaluationReport


def evaluate_cases(records: Sequence[Record], seed: int = 0, *, code_names: Mapping[str, str] | None = None,
                   code_domains: Mapping[str, str] | None = None, image_label: str = "label",
                   last_visits: int | None = None, note_step: str | None = None, n_bootstrap: int = 200,
                   level: float = 0.95, provenance: dict[str, Any] | None = None) -> EvaluationReport:
    """Note-against-history recall and precision and image-label-in-note, over the cases of `records`."""
    results = [
        *note_ehr_consistency(records, code_names=code_names, code_domains=code_domains, last_visits=last_visits,
                              note_step=note_step, n_bootstrap=n_bootstrap, level=level,
                              seed=derive_seed(seed, "case.note_ehr")),
        image_note_consistency(records, label=image_label, n_bootstrap=n_bootstrap, level=level,
                               seed=derive_seed(seed, "case.image_label_in_note")),
    ]
    return EvaluationReport(
        modality=MODALITY, created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed, n_real=0,
        n_synthetic=len({r.case_id for r in records}), n_holdout=None, columns={},
        software=software_versions((*SOFTWARE, "simple-icd-10-cm")), results=tuple(results), provenance=provenance,
    )


def read_code_names(path: Path, option: str = "--code-names") -> tuple[dict[str, str], dict[str, str]]:
    """Code descriptions (and domains) from JSON: `{code: name}`, or `{code_names: ..., code_domains: ...}` as a saved
    HALO folder's vocabulary.json holds them (core's `read_code_vocabulary`)."""
    try:
        vocabulary = read_code_vocabulary(path)
    except BiosynthError as err:
        raise InputDataError(f"{option}: {err}") from None
    return dict(vocabulary.names), dict(vocabulary.domains)


def case_plan(ds: SyntheticDataset, options: Any, *, code_names: Path | None, image_label: str,
              last_visits: int | None) -> tuple[Callable[[], EvaluationReport], str]:
    """`biosynth evaluate DIR --consistency`: the dataset's records (all steps, or --step as the notes' step) and
    the code descriptions, checked before any metric runs."""
    from biosynth.eval._dataset_io import provenance_checklist

    given = [name for name, value in {"--real": options.real, "--holdout": options.holdout, "--table": options.table,
                                      "--metadata": options.metadata, "--target": options.target,
                                      "--reference": options.reference, "--reference-lm": options.reference_lm,
                                      "--label": options.label, "--sensitive": options.sensitive,
                                      "--image-features": options.image_features}.items() if value is not None]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise ConfigError(f"{', '.join(given)} {verb} not apply to --consistency, which compares a dataset's own "
                          "records with each other (options: --step for the notes' step, --code-names, --image-label, "
                          "--last-visits)")
    if options.step is not None and options.step not in ds.manifest.steps:
        raise ConfigError(f"--step {options.step!r} is not a step of {str(ds.root)!r} (steps: {list(ds.manifest.steps)})")
    names, domains = read_code_names(code_names) if code_names is not None else ({}, {})
    records = ds.records()

    def run() -> EvaluationReport:
        return evaluate_cases(records, options.seed, code_names=names, code_domains=domains, image_label=image_label,
                              last_visits=last_visits, note_step=options.step, n_bootstrap=options.n_bootstrap,
                              provenance=provenance_checklist(ds, records))
    return run, "cases"
