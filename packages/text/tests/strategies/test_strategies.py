"""Strategies composed: few-shot + retrieval + chain-of-thought in one prompt, and through the Runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biosynth.core import (
    BackendSpec,
    Record,
    Runner,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    parse_recipe,
    sha256_text,
)
from biosynth.core.testing import FakeLanguageModel
from biosynth.text import ClinicalNote
from biosynth.text._prompts import SYSTEM_TEMPLATE, USER_TEMPLATE
from biosynth.text._strategies import fewshot as _fewshot
from biosynth.text._strategies import reasoning as _reasoning
from biosynth.text._strategies import retrieval as _retrieval

NOTE = "Patient admitted with wheeze, treated with nebulised salbutamol and discharged on inhaled steroids."
OUTPUT = f"<reasoning>asthma needs bronchodilators</reasoning><answer>{NOTE}</answer>"


def _inputs(folder: Path) -> tuple[Path, Path]:
    pool = folder / "pool.jsonl"
    pool.write_text("".join(json.dumps({"id": f"ex{i}", "text": f"Example note number {i} about a patient."}) + "\n"
                            for i in range(4)), encoding="utf-8")
    kb = folder / "kb"
    kb.mkdir()
    (kb / "asthma.md").write_text("Asthma: wheeze responds to salbutamol and inhaled corticosteroids.", encoding="utf-8")
    (kb / "aki.md").write_text("Acute kidney injury: monitor creatinine.", encoding="utf-8")
    return pool, kb


def _params(pool: Path, kb: Path, *, real_pool: bool) -> dict[str, Any]:
    return {"model": {"backend": "fake", "params": {"responses": [OUTPUT]}}, "chain_of_thought": True,
            "few_shot": {"pool": {"path": str(pool), "real": real_pool}, "k": 2},
            "retrieval": {"knowledge_base": {"path": str(kb), "real": False}, "k": 1, "method": "bm25"},
            "attributes": {"diagnosis": ["asthma"]}}


def test_all_strategies_compose_in_one_prompt(tmp_path: Path) -> None:
    pool, kb = _inputs(tmp_path)
    params = _params(pool, kb, real_pool=False)
    ctx = StepContext(step="notes", seed=1, root=tmp_path)
    generator = ClinicalNote(params)
    [record] = generator.generate([SampleRequest(0, 8)], ctx)
    assert isinstance(record, Record) and record.text == NOTE
    p = record.provenance
    assert p.strategy == (Strategy.FEW_SHOT, Strategy.INSTRUCTION, Strategy.RETRIEVAL_AUGMENTED,
                          Strategy.CHAIN_OF_THOUGHT, Strategy.ATTRIBUTE_SAMPLING)
    assert p.retrieved_ids == ("asthma.md#0",) and len(p.few_shot_ids) == 2
    assert p.prompt is not None
    assert p.prompt.template_id == "clinical-note/v1+retrieval/v1+few-shot/v1+chain-of-thought/v1"
    expected_template = "\n\n".join([SYSTEM_TEMPLATE, USER_TEMPLATE, _retrieval.TEMPLATE, _fewshot.TEMPLATE,
                                     _reasoning.TEMPLATE])
    assert p.prompt.template_sha256 == sha256_text(expected_template)
    fake = ctx.language_model(BackendSpec.model_validate(params["model"]))
    assert isinstance(fake, FakeLanguageModel)
    user = fake.requests[0].messages[-1].content
    order = [user.index(marker) for marker in ("Reference passages", "Examples of", "Task: write", "Work in two steps")]
    assert order == sorted(order)
    assert p.prompt.rendered is not None and user in p.prompt.rendered


def test_runner_fingerprints_the_inputs_and_redacts_real_examples(tmp_path: Path) -> None:
    pool, kb = _inputs(tmp_path)
    recipe = parse_recipe({"name": "strategies", "seed": 2, "steps": [
        {"name": "notes", "generator": "clinical_note", "count": 3, "params": _params(pool, kb, real_pool=True)}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    assert manifest.steps["notes"].produced == 3
    dataset = SyntheticDataset(tmp_path / "out")
    for record in dataset.records("notes"):
        prompt = record.provenance.prompt
        assert prompt is not None and prompt.redacted and prompt.rendered is None  # the pool is real data
        assert "reasoning" not in record.provenance.extra and "reasoning_sha256" in record.provenance.extra
        assert record.text == NOTE and len(record.provenance.few_shot_ids) == 2
    inputs = {fp.parameter: fp for fp in manifest.inputs}
    assert inputs["few_shot.pool"].real and not inputs["retrieval.knowledge_base"].real
    assert inputs["few_shot.pool"].path == str(pool)
