"""Few-shot prompting: pool files, seeded draws, ids in provenance, the Policy on real examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ConfigError,
    InputDataError,
    InputFile,
    PolicyError,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
    parse_recipe,
    plan,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text import ClinicalNote
from biosynth.text._strategies.fewshot import FewShotConfig, FewShotPool

NOTE = "Patient admitted with chest pain, troponin negative, discharged home on aspirin with cardiology follow-up."
EXAMPLES = [
    {"id": "ex-a", "text": "Asthma exacerbation treated with nebulised salbutamol.", "label": "asthma"},
    {"id": "ex-b", "text": "Heart failure admission, diuresed with furosemide.", "label": "heart failure"},
    {"id": "ex-c", "text": "Wheeze and cough, inhaled steroids increased.", "label": "asthma"},
    {"id": "ex-d", "text": "Oedema and dyspnoea improved on diuretics.", "label": "heart failure"},
    {"id": "ex-e", "text": "Peak flow reduced, prednisolone course given.", "label": "asthma"},
]


def write_pool(folder: Path, rows: list[dict[str, Any]] = EXAMPLES, name: str = "pool.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_pool(tmp_path_factory.mktemp("pool"))


def _fake(ctx: StepContext, params: dict[str, Any]) -> FakeLanguageModel:
    model = ctx.language_model(BackendSpec.model_validate(params["model"]))
    assert isinstance(model, FakeLanguageModel)
    return model


class TestClinicalNoteFewShotContract(GeneratorContract):
    generator_name = "clinical_note"

    @pytest.fixture(autouse=True)
    def _pool(self, pool: Path) -> None:
        self._pool_path = pool

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "min_words": 3, "few_shot": {"pool": str(self._pool_path), "k": 2},
                "attributes": {"age": {"type": "integer", "low": 20, "high": 80}}}


def test_examples_are_drawn_per_sample_and_recorded(pool: Path, tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}}, "few_shot": {"pool": str(pool), "k": 2}}
    ctx = StepContext(step="notes", seed=1, root=tmp_path, real_data=True)
    records = ClinicalNote(params).generate([SampleRequest(i, 100 + i) for i in range(6)], ctx)
    assert all(isinstance(r, Record) for r in records)
    requests = _fake(ctx, params).requests
    ids_seen = set()
    for record, request in zip(records, requests, strict=True):
        assert isinstance(record, Record)
        p = record.provenance
        assert len(p.few_shot_ids) == 2 and len(set(p.few_shot_ids)) == 2
        ids_seen.update(p.few_shot_ids)
        assert p.strategy[:2] == (Strategy.FEW_SHOT, Strategy.INSTRUCTION) and Strategy.ZERO_SHOT not in p.strategy
        texts = {e["id"]: e["text"] for e in EXAMPLES}
        user = request.messages[-1].content
        assert user.index("Example 1:") < user.index("Task: write")
        for example_id in p.few_shot_ids:
            assert texts[example_id] in user
        assert p.prompt is not None and p.prompt.template_id == "clinical-note/v1+few-shot/v1"
        assert p.prompt.redacted and p.prompt.rendered is None  # real examples: hash only
    assert len(ids_seen) > 2  # different samples draw different examples
    again = ClinicalNote(params).generate([SampleRequest(0, 100)], StepContext(step="notes", seed=1, root=tmp_path))
    assert isinstance(again[0], Record) and isinstance(records[0], Record)
    assert again[0].provenance.few_shot_ids == records[0].provenance.few_shot_ids


def test_csv_pool_with_several_fields_and_label_filter(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("question,answer,label\nWhat is COPD?,A lung disease.,lung\nWhat is HF?,A heart disease.,heart\n"
                    "What is asthma?,Airway inflammation.,lung\n", encoding="utf-8")
    config = FewShotConfig(pool=InputFile(path=path), k=2, fields=("question", "answer"), label_field="label")
    drawn = FewShotPool(config).draw(seed=4, label="lung")
    assert sorted(e.id for e in drawn) == ["qa:2", "qa:4"]  # CSV rows are named by line without an id column
    assert all(e.text.startswith("Question: ") and "\nAnswer: " in e.text for e in drawn)
    with pytest.raises(ConfigError, match=r"label = 'heart', fewer than few_shot\.k = 2"):
        FewShotPool(config).draw(seed=4, label="heart")


def test_pool_smaller_than_k_is_a_clear_error(pool: Path, tmp_path: Path) -> None:
    message = r"pool\.jsonl' holds 5 example\(s\), fewer than few_shot\.k = 6"
    with pytest.raises(ConfigError, match=message):  # when the parameters are read (`biosynth validate`)
        ClinicalNote({"model": {"backend": "fake"}, "few_shot": {"pool": str(pool), "k": 6}})
    with pytest.raises(ConfigError, match=message):
        plan(parse_recipe({"name": "small-pool", "steps": [
            {"name": "notes", "generator": "clinical_note", "count": 1,
             "params": {"model": {"backend": "fake"}, "few_shot": {"pool": str(pool), "k": 6}}}]}))
    shrinking = write_pool(tmp_path, EXAMPLES[:3], name="later.jsonl")
    generator = ClinicalNote({"model": {"backend": "fake"}, "few_shot": {"pool": str(shrinking), "k": 3}})
    write_pool(tmp_path, EXAMPLES[:2], name="later.jsonl")  # the file changed after validation
    with pytest.raises(ConfigError, match=r"later\.jsonl' holds 2 example\(s\), fewer than few_shot\.k = 3"):
        generator.generate([SampleRequest(0, 1)], StepContext(step="notes", seed=1, root=tmp_path))


def test_bad_pool_rows_name_the_file_and_row(tmp_path: Path) -> None:
    path = write_pool(tmp_path, [{"id": "x", "text": "fine"}, {"id": "y", "body": "no text"}])
    with pytest.raises(InputDataError, match=r"pool\.jsonl' row 2 lacks \['text'\]"):
        FewShotPool(FewShotConfig(pool=InputFile(path=path), k=1))
    with pytest.raises(InputDataError, match=r"expected a \.jsonl file or a \.csv file"):
        FewShotPool(FewShotConfig(pool=InputFile(path=write_pool(tmp_path, name="pool.txt")), k=1))


def _recipe(pool: Path, *, real: bool, allow: bool = False) -> Any:
    recipe: dict[str, Any] = {
        "name": "few-shot-policy", "seed": 1,
        "steps": [{"name": "notes", "generator": "clinical_note", "count": 2,
                   "params": {"model": {"backend": "fake", "params": {"remote": True}},
                              "few_shot": {"pool": {"path": str(pool), "real": real}, "k": 2}}}],
    }
    if allow:
        recipe["policy"] = {"allow_real_data_to_remote": ["notes"], "justification": "DUA 2026-17 permits it"}
    return parse_recipe(recipe)


def test_real_pool_is_refused_for_a_remote_backend_unless_permitted(pool: Path) -> None:
    with pytest.raises(PolicyError, match="real data to the remote language model 'fake'"):
        plan(_recipe(pool, real=True))
    [public] = plan(_recipe(pool, real=False))
    assert public.real_data is False
    [permitted] = plan(_recipe(pool, real=True, allow=True))
    assert permitted.real_data and [d.justification for d in permitted.decisions] == ["DUA 2026-17 permits it"]
