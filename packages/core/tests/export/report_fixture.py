"""A biosynth-eval report.json and a human review's annotations.json for the export tests, written as JSON.

They follow biosynth-eval's EvaluationReport (schema_version 1: modality, sizes, seed, MetricResult list) and
AnnotationSet schemas; core's tests do not import biosynth-eval, so they are written here by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT = {
    "schema_version": 1, "modality": "tabular", "created_at": "2026-12-07T01:00:00+00:00", "seed": 7,
    "n_real": 40, "n_synthetic": 3, "n_holdout": 10, "columns": {"age": "numerical", "sex": "categorical"},
    "software": {"biosynth-eval": "0.1.0"},
    "results": [
        {"name": "column_shapes", "family": "fidelity", "modality": "tabular", "value": 0.8612, "status": "ok",
         "direction": "higher_is_better", "n_real": 40, "n_synthetic": 3,
         "ci": {"low": 0.8011, "high": 0.9034, "level": 0.95, "method": "basic bootstrap over rows, B=200"}},
        {"name": "distance_to_closest_record", "family": "privacy", "modality": "tabular", "value": 0.42,
         "status": "ok", "direction": "higher_is_better", "threat_model": "attacker holds the synthetic rows",
         "ci": {"low": 0.31, "high": 0.55, "level": 0.95, "method": "bootstrap"},
         "warnings": ["only 3 synthetic rows: the interval is wide"]},
        {"name": "utility_tstr", "family": "utility", "modality": "tabular", "value": None, "status": "failed",
         "direction": "higher_is_better", "error": "the target has one class among the synthetic rows"},
    ],
}

HUMAN = {"name": "human.krippendorff_alpha.plausibility", "family": "human", "modality": "text", "value": 0.61,
         "status": "ok", "direction": "higher_is_better",
         "ci": {"low": 0.2, "high": 0.85, "level": 0.95, "method": "bootstrap over records, B=200"}}


def annotations(manifest: Any) -> dict[str, Any]:
    """An annotations.json as `biosynth review import` writes it (biosynth-eval's AnnotationSet), for `manifest`."""
    rows = [("notes-000000", "reviewer-1a2b3c4d5e6f", 4), ("notes-000000", "reviewer-0f9e8d7c6b5a", 5),
            ("notes-000001", "reviewer-1a2b3c4d5e6f", 2)]
    return {
        "kind": "biosynth-annotations", "schema_version": 1, "step": "notes", "modality": "text",
        "dataset": {"path": "/somewhere", "recipe_sha256": manifest.recipe_sha256,
                    "records_sha256": manifest.records_sha256, "seed": manifest.seed},
        "criteria": [{"name": "plausibility", "question": "Is the note clinically plausible?",
                      "scores": [1, 2, 3, 4, 5], "labels": None, "ordinal": True}],
        "pseudonymisation": {"method": "HMAC-SHA256 of the tool's user identity, first 12 hex digits",
                             "key": "reviewer.key", "key_id": "abcd"},
        "reviewers": ["reviewer-0f9e8d7c6b5a", "reviewer-1a2b3c4d5e6f"],
        "annotations": [{"record_id": r, "criterion": "plausibility", "reviewer": who, "score": score, "label": None,
                         "source": "label-studio", "submitted_at": None} for r, who, score in rows],
        "imports": [{"file": "export.json", "sha256": "0" * 64, "tool": "label-studio",
                     "imported_at": "2026-12-07T01:00:00+00:00", "annotations": 3}],
    }


def write(folder: Path, manifest: Any) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    report, review = folder / "report.json", folder / "annotations.json"
    report.write_text(json.dumps({**REPORT, "results": [*REPORT["results"], HUMAN]}), encoding="utf-8")
    review.write_text(json.dumps(annotations(manifest)), encoding="utf-8")
    return report, review
