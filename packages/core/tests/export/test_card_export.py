"""`--to card`: a Markdown datasheet from the manifest, the records' provenance and the evaluation report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from biosynth.core import SyntheticDataset, export_dataset, read_export_marker
from biosynth.core._progress import LogProgress

sys.path.insert(0, str(Path(__file__).parent))
import multimodal_case
import report_fixture

SECTIONS = ("Motivation", "Composition", "Collection process", "Preprocessing, cleaning, labelling", "Evaluation",
            "Uses", "Distribution", "Maintenance")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return SyntheticDataset(multimodal_case.shared(tmp_path_factory))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, dataset: SyntheticDataset) -> tuple[Path, Path]:
    return report_fixture.write(tmp_path_factory.mktemp("card-inputs"), dataset.manifest)


def test_card_covers_the_datasheet_sections_counts_models_policy_and_evaluation(
        dataset: SyntheticDataset, inputs: tuple[Path, Path], tmp_path: Path) -> None:
    report, annotations = inputs
    result = export_dataset(dataset, "card", tmp_path / "card", progress=LogProgress(),
                            options={"report": str(report), "annotations": str(annotations)})
    text = (result.out / "DATASHEET.md").read_text()
    assert re.findall(r"^## (.+)$", text, flags=re.M) == list(SECTIONS)
    assert "Requested 18, produced 17, failed 1, removed 0 (deduplication or a generator's own filtering" in text
    assert "| scans | scans 0.0.1-test | notes | 3 | 2 | 1 | 0 | image 2 |" in text
    assert "- `scans`: 1 x scan renderer refused the prompt" in text
    scans = next(r for r in dataset.records("scans"))
    assert (f"models: Fake LLM (Q4_1 GGUF) (fake, revision 1, local); prompt templates: `scan-v1` "
            f"(sha256 {scans.provenance.prompt.template_sha256[:12]}); strategies: zero-shot; "
            "2 prompts stored as hashes only (they held real data).") in text
    assert f"seed {dataset.manifest.recipe['steps'][0]['seed']}" in text
    assert dataset.manifest.inputs[0].sha256 in text
    assert "| scans | fake | language_model | False | True | True |" in text
    assert "- tabular evaluation (seed 7): 3 synthetic against 40 real, 10 held out" in text
    assert "- fidelity / column_shapes = 0.8612 [0.8011, 0.9034] (95% interval, basic bootstrap over rows, B=200)" \
        ", higher is better" in text
    assert "- utility / utility_tstr: failed (the target has one class among the synthetic rows)" in text
    assert "- distance_to_closest_record: only 3 synthetic rows: the interval is wide" in text
    assert "Human review with label-studio: 3 annotations on 2 records by 2 pseudonymous reviewers" in text
    assert "Annotations per record: 2 (median; range 1-2). Agreement: human / human.krippendorff_alpha" in text
    assert "- `sex` (step patients): female 2, male 1" in text  # counted once, where the label was set
    assert result.facts == {"file": "DATASHEET.md", "records": 17, "evaluation": True, "annotations": True}
    assert read_export_marker(result.out)["format"] == "card"  # found by entry point, stamped by the framework


def test_without_a_report_the_card_says_it_was_not_evaluated(dataset: SyntheticDataset, tmp_path: Path) -> None:
    text = (export_dataset(dataset, "card", tmp_path / "card").out / "DATASHEET.md").read_text()
    assert "No evaluation report was given" in text
    assert "Metric values" not in text


def test_cli_refuses_a_missing_report_with_exit_2_and_writes_nothing(dataset: SyntheticDataset,
                                                                      tmp_path: Path) -> None:
    cli = [sys.executable, "-c", "from biosynth.core.cli import main; main()", "export", str(dataset.root)]
    missing = tmp_path / "no-report.json"
    refused = subprocess.run([*cli, "--to", "card", "--out", str(tmp_path / "again"), "-O", f"report={missing}"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"option report: file {str(missing)!r} does not exist" in " ".join(refused.stderr.split())
    assert not (tmp_path / "again").exists()
