"""The card and Croissant exporters (core) read the files biosynth-eval writes, without importing it.

Core reads report.json and a review's annotations.json as plain JSON; here biosynth-eval's own classes write
them (an EvaluationReport with a fidelity result and the review's agreement from `agreement_results`, an
AnnotationSet as `biosynth review import` keeps it), so a change of either schema shows up as a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlcroissant as mlc
import pytest

from biosynth.core import SyntheticDataset, export_dataset, parse_recipe, run_recipe
from biosynth.core._progress import LogProgress
from biosynth.eval import AnnotationSet, ConfidenceInterval, Criterion, EvaluationReport, MetricResult, agreement_results
from biosynth.eval._human.folder import Annotation, DatasetRef

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # rdflib internals


def test_card_and_croissant_carry_what_biosynth_eval_wrote(tmp_path: Path) -> None:
    recipe = parse_recipe({"name": "eval-files", "seed": 3, "steps": [
        {"name": "patients", "generator": "attributes", "count": 4,
         "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 80}}}},
        {"name": "notes", "generator": "template", "from": "patients", "params": {"template": "Age ${age}."}}]})
    run_recipe(recipe, tmp_path / "ds", progress=LogProgress())
    ds = SyntheticDataset(tmp_path / "ds")
    manifest = ds.manifest

    criterion = Criterion(name="plausible", question="Is the note plausible?")
    reviewers = ("reviewer-aaaaaaaaaaaa", "reviewer-bbbbbbbbbbbb")
    notes = [r.id for r in ds.records("notes")]
    annotations = AnnotationSet(
        dataset=DatasetRef(path=str(ds.root), recipe_sha256=manifest.recipe_sha256,
                           records_sha256=manifest.records_sha256, seed=manifest.seed),
        step="notes", modality="text", criteria=(criterion,),
        pseudonymisation={"method": "HMAC-SHA256 of the tool's user identity, first 12 hex digits", "key": "env",
                          "key_id": "k1"},
        reviewers=reviewers,
        annotations=tuple(Annotation(record_id=rid, criterion="plausible", reviewer=who, score=score,
                                     source="label-studio")
                          for rid, scores in zip(notes, ((4, 4), (2, 3), (5, 5), (1, 2)), strict=True)
                          for who, score in zip(reviewers, scores, strict=True)))
    agreement = agreement_results(annotations, seed=1, n_bootstrap=50)
    fidelity = MetricResult(name="column_shapes", family="fidelity", modality="tabular", value=0.75,
                            direction="higher_is_better", n_real=20, n_synthetic=4,
                            ci=ConfidenceInterval(low=0.6, high=0.9, method="bootstrap"))
    report = EvaluationReport(modality="text", created_at="2026-12-07T00:00:00+00:00", seed=1, n_real=20,
                              n_synthetic=4, n_holdout=None, columns={}, software={},
                              results=(fidelity, *agreement))
    report_path = report.write(tmp_path / "report", html_report=False)
    (tmp_path / "annotations.json").write_text(annotations.model_dump_json(), encoding="utf-8")
    options = {"report": str(report_path), "annotations": str(tmp_path / "annotations.json")}

    card = (export_dataset(ds, "card", tmp_path / "card", options=options).out / "DATASHEET.md").read_text()
    assert "fidelity / column_shapes = 0.75 [0.6, 0.9] (95% interval, bootstrap), higher is better" in card
    assert "8 annotations on 4 records by 2 pseudonymous reviewers" in card
    alpha = next(r for r in agreement if r.name == "human.krippendorff_alpha.plausible")
    assert f"human / human.krippendorff_alpha.plausible = {alpha.value:.4g}" in card

    out = export_dataset(ds, "croissant", tmp_path / "croissant", options=options).out
    metadata = mlc.Dataset(jsonld=str(out / "croissant.json")).metadata
    assert "column_shapes = 0.75 [0.6, 0.9]" in " ".join(metadata.data_biases)
    assert "human.krippendorff_alpha.plausible" in " ".join(metadata.data_annotation_analysis)
    assert json.loads((out / "croissant.json").read_text())["rai:annotationsPerItem"] == "2 (median; range 2-2)"
