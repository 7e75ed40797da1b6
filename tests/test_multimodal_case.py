"""examples/multimodal_case.yaml end to end: one case per patient across EHR, table, text, dialogue, audio and image.

The example recipe itself runs, with two patients, a tiny seeded HALO trained here on ICD-10-CM histories, the tiny
random Stable Diffusion folder the image examples build, the real piper voice, and a scripted language model (core's
FakeLanguageModel answering by prompt) in place of SmolLM2 so that the run takes seconds. Checked: every record of a
patient shares its case_id, each record's parents name what it was made from, `biosynth inspect --case` tells the case
in order, `biosynth evaluate --consistency` scores it, and without biosynth-image and biosynth-audio the text part
still runs while their steps are skipped and recorded.
"""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from biosynth.core import (
    ChatRequest,
    Group,
    Registry,
    Runner,
    SyntheticDataset,
    Visit,
    VisitSequencePayload,
    parse_recipe,
)
from biosynth.core._progress import LogProgress
from biosynth.core.testing import FakeLanguageModel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multimodal_case.yaml"
STEPS = ["history", "admission", "note", "dialogue", "speech", "image", "image_report"]
PARENT_STEP = {"admission": "history", "note": "admission", "dialogue": "note", "speech": "dialogue",
               "image": "note", "image_report": "image"}
TITLES = {"I10": "Essential (primary) hypertension", "E11.9": "Type 2 diabetes mellitus without complications",  # ICD-10-CM
          "J45.20": "Mild intermittent asthma, uncomplicated", "N18.9": "Chronic kidney disease, unspecified",
          "J18.9": "Pneumonia, unspecified organism"}
CODES = list(TITLES)
CLI = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]

pytestmark = pytest.mark.slow


# -- a scripted language model: notes copy the patient lines; dialogue plans pick terms from the note ------------------
def _answer(request: ChatRequest) -> str:
    system, user = request.messages[0].content, request.messages[-1].content
    if "revealed_by" in user:  # the dialogue planner
        roles = [r.strip() for r in re.search(r"one of ([^)]*)\)", user).group(1).split(",")]  # type: ignore[union-attr]
        return json.dumps({"summary": "a discharge talk", "goals": [{"role": r, "goal": f"play the {r}"} for r in roles],
                           "key_facts": [{"fact": "the discharge summary", "terms": ["discharge summary"],
                                          "revealed_by": roles[0]}]})
    if system.startswith("You are role-playing"):  # a dialogue turn
        return random.Random(request.effective_seed).choice(["I see.", "Right, the discharge summary.", "Okay."])
    lines = [line[2:] for line in user.split("Patient:\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    return "Discharge summary. " + ". ".join(lines) + "."


class Scripted(FakeLanguageModel):
    def __init__(self, **params: Any) -> None:
        super().__init__(_answer, **params)


def _registry(*, without: tuple[str, ...] = ()) -> Registry:
    registry = Registry()
    registry.register(Group.LLM_BACKENDS, "scripted", Scripted)
    for name in without:  # as if the package that registers it were not installed
        registry._entry_points[Group.GENERATORS].pop(name)
    return registry


# -- the example recipe with two patients and the tiny models -----------------------------------------------------------
@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import importlib.util

    import torch

    from biosynth.tabular import Halo, HaloConfig, HaloTraining

    folder = tmp_path_factory.mktemp("models")
    r = random.Random(0)
    patients = [VisitSequencePayload(
        static={"sex": r.choice(["FEMALE", "MALE"]), "age_band": r.choice(["40-49", "70-79"])},
        visits=tuple(Visit(codes=tuple(sorted(r.sample(CODES, r.randint(1, 2)))), days_since_previous=None if j == 0
                           else 30) for j in range(r.randint(2, 4))), vocabulary="ICD-10-CM") for _ in range(40)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        halo = Halo.fit(patients, config=HaloConfig(n_embd=8, n_layer=1, n_head=2),
                        training=HaloTraining(epochs=20, batch_size=8, learning_rate=1e-2, seed=3,
                                              calibrate_length=False), vocabulary_name="ICD-10-CM")
        halo.save(folder / "halo")
        spec = importlib.util.spec_from_file_location("build_tiny", ROOT / "packages/image/examples/build_tiny_pipeline.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        module.build_tiny_pipeline(folder / "tiny-sd", seed=0, size=32)
    finally:
        torch.set_num_threads(threads)
    (folder / "names.json").write_text(json.dumps(TITLES))
    return {"halo": folder / "halo", "sd": folder / "tiny-sd", "names": folder / "names.json"}


def _recipe(models: dict[str, Path]):
    data = yaml.safe_load(EXAMPLE.read_text())
    data = copy.deepcopy(data)
    steps = {s["name"]: s for s in data["steps"]}
    assert list(steps) == STEPS  # the example's own steps, in order
    steps["history"].update(count=2)
    steps["history"]["params"] = {"model": str(models["halo"])}  # its context is the longest training history
    steps["admission"]["params"]["code_names"] = {"path": str(models["names"]), "real": False}
    steps["admission"]["params"]["max_per_column"] = 6
    for name in ("note", "dialogue"):
        steps[name]["params"]["model"] = {"backend": "scripted"}
    steps["image"]["params"]["pipeline"] = str(models["sd"])
    return parse_recipe(data)


@pytest.fixture(scope="module")
def dataset(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("case") / "out"
    Runner(_recipe(models), out, base_dir=EXAMPLE.parent, registry=_registry(), progress=LogProgress()).run()
    return out


def test_every_modality_of_a_patient_shares_its_case_and_names_its_parents(dataset: Path) -> None:
    ds = SyntheticDataset(dataset)
    assert ds.verify() == [] and ds.manifest.skipped_steps == {}
    for step in STEPS:
        assert (ds.manifest.steps[step].produced, ds.manifest.steps[step].failed) == (2, 0), step
    records = ds.records()
    by_case: dict[str, dict[str, Any]] = {}
    for record in records:
        assert record.provenance.step not in by_case.setdefault(record.case_id, {})
        by_case[record.case_id][record.provenance.step] = record
    assert sorted(by_case) == ["case-history-000000", "case-history-000001"]
    for case in by_case.values():
        assert sorted(case) == sorted(STEPS)  # one record of every step, all under the patient's case_id
        assert case["history"].parents == ()
        for step, parent in PARENT_STEP.items():
            assert case[step].parents == (case[parent].id,), step
        assert {case[s].modality.value for s in STEPS} == {"ehr", "tabular", "text", "dialogue", "audio", "image"}
        row = case["admission"].payload.values
        assert row["primary_condition"] and row["primary_condition"] in case["note"].text
        assert case["image"].labels["primary_condition"] == row["primary_condition"]
        assert row["primary_condition"] in case["image"].payload.caption  # the prompt came from the note
        assert case["image"].payload.caption in case["image_report"].text
        assert (dataset / case["speech"].payload.media.path).is_file() and case["speech"].payload.duration_s > 0.5


def _biosynth(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`biosynth ARGS` through the CLI's own main(), in process (core's commands need no plugin subcommands)."""
    from biosynth.core.cli import _app

    monkeypatch.setattr(_app, "_add_plugin_commands", lambda: None)
    monkeypatch.setattr(sys, "argv", ["biosynth", *args])
    with pytest.raises(SystemExit) as exit_:
        _app.main()
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out, captured.err


def test_inspect_tells_a_case_in_order_of_derivation(dataset: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = _biosynth(monkeypatch, capsys, "inspect", str(dataset), "--case", "case-history-000001")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("case case-history-000001") and "7 records" in lines[0]
    heads = [line for line in lines[1:] if re.match(r"\d+\. ", line)]
    assert [h.split()[1] for h in heads] == [f"{s}-000001" for s in
                                             ["history", "admission", "note", "dialogue", "image", "speech",
                                              "image_report"]]
    assert "halo " in heads[0] and "model halo:halo (halo, sha256 " in heads[0] and "from nothing (first)" in heads[0]
    assert "ehr_admission" in heads[1] and "from #1 history-000001" in heads[1]
    assert "dialogue_audio" in heads[5] and "from #4 dialogue-000001" in heads[5]
    excerpts = {h.split()[1].rsplit("-", 1)[0]: lines[lines.index(h) + 1].strip() for h in heads}
    assert re.match(r"\d+ visits, \d+ codes \(ICD-10-CM\)", excerpts["history"])
    assert excerpts["admission"].startswith("admissions: ") and "primary_condition=" in excerpts["admission"][:60]
    assert excerpts["note"].startswith("Discharge summary.")
    assert re.match(r"media/speech/speech-000001\.flac \(\d+\.\d s, 16000 Hz, \d+ segments, \d+ bytes\)",
                    excerpts["speech"])
    assert re.match(r"media/image/image-000001\.png \(32x32, \d+ bytes\)", excerpts["image"])
    code, stdout, _ = _biosynth(monkeypatch, capsys, "inspect", str(dataset), "--case", "case-history-000001", "--json")
    story = json.loads(stdout)
    assert [r["step"] for r in story["records"]][:3] == ["history", "admission", "note"]
    assert story["records"][0]["model"]["backend"] == "halo" and len(story["records"][0]["model"]["sha256"]) == 12


def test_inspect_an_unknown_case_lists_known_ones(dataset: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _biosynth(monkeypatch, capsys, "inspect", str(dataset), "--case", "case-nobody")
    assert code == 2 and "Traceback" not in stderr
    assert "no case 'case-nobody'" in stderr and "case-history-000000, case-history-000001" in stderr


def test_evaluate_consistency_scores_the_cases(dataset: Path, models: dict[str, Path], tmp_path: Path) -> None:
    # a subprocess: `evaluate` is biosynth-eval's plugin subcommand, routed by the installed entry points
    done = subprocess.run([*CLI, "evaluate", str(dataset), "--consistency", "--code-names", str(models["names"]),
                           "--image-label", "primary_condition", "--last-visits", "3", "--bootstrap", "0",
                           "--out", str(tmp_path / "report")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = {r["name"]: r for r in json.loads((tmp_path / "report" / "report.json").read_text())["results"]}
    # the scripted note copies the admission row, which lists every condition of the last three visits
    for name in ("case.note_ehr_recall", "case.note_ehr_precision", "case.image_label_in_note"):
        assert results[name]["status"] == "ok" and results[name]["value"] == 1.0, results[name]
        assert sorted(results[name]["details"]["per_case"]) == ["case-history-000000", "case-history-000001"]


def test_without_image_and_audio_the_text_part_runs_and_the_rest_is_recorded(models: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    registry = _registry(without=("text_to_image", "dialogue_audio"))
    manifest = Runner(_recipe(models), tmp_path / "out", base_dir=EXAMPLE.parent, registry=registry,
                      progress=LogProgress()).run()
    assert list(manifest.steps) == ["history", "admission", "note", "dialogue"]
    assert all(manifest.steps[s].produced == 2 for s in manifest.steps)
    stored = SyntheticDataset(tmp_path / "out").manifest
    assert stored.skipped_steps == {
        "speech": "generator 'dialogue_audio' is not installed (it comes with biosynth-audio)",
        "image": "generator 'text_to_image' is not installed (it comes with biosynth-image)",
        "image_report": "derived from the skipped step 'image'"}
    assert stored.skipped_requirements == {"speech": "biosynth-audio", "image": "biosynth-image",
                                           "image_report": "biosynth-image"}
