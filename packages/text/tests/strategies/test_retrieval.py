"""Retrieval-augmented prompting: knowledge bases, chunking, BM25 / dense / hybrid ranking, provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    InputDataError,
    InputFile,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text import ClinicalNote
from biosynth.text._strategies.retrieval import KnowledgeIndex, RetrievalConfig, chunk_documents, load_documents

NOTE = "Patient admitted with chest pain, troponin negative, discharged home on aspirin with cardiology follow-up."
DOCUMENTS = {
    "asthma.md": "Asthma: wheeze and cough respond to inhaled corticosteroids and short-acting bronchodilators.",
    "cardiology/heart_failure.txt": "Heart failure: loop diuretics such as furosemide relieve oedema and dyspnoea.",
    "endocrine/dka.txt": "Diabetic ketoacidosis is treated with an insulin infusion, fluids and potassium.",
    "renal/aki.txt": "Acute kidney injury: stop nephrotoxic drugs and monitor creatinine and urine output.",
}


@pytest.fixture(scope="module")
def knowledge_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kb")
    for name, text in DOCUMENTS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "ignored.pdf").write_bytes(b"%PDF")
    return folder


def _config(kb: Path, **kwargs: Any) -> RetrievalConfig:
    return RetrievalConfig(knowledge_base=InputFile(path=kb, real=False), **kwargs)


class TestClinicalNoteRetrievalContract(GeneratorContract):
    generator_name = "clinical_note"

    @pytest.fixture(autouse=True)
    def _kb(self, knowledge_base: Path) -> None:
        self._kb_path = knowledge_base

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "min_words": 3,
                "retrieval": {"knowledge_base": {"path": str(self._kb_path), "real": False}, "k": 2, "method": "bm25"},
                "attributes": {"diagnosis": ["asthma", "heart failure", "diabetic ketoacidosis"]}}


def test_documents_and_chunks(knowledge_base: Path, tmp_path: Path) -> None:
    documents = load_documents(InputFile(path=knowledge_base))
    assert [d for d, _ in documents] == sorted(DOCUMENTS)  # .pdf ignored, ids are relative paths
    chunks = chunk_documents([("doc", " ".join(f"w{i}" for i in range(25)))], words=10, overlap=3)
    assert [c for c, _ in chunks] == ["doc#0", "doc#1", "doc#2", "doc#3"]  # starts 0, 7, 14, 21
    assert chunks[1][1].split()[0] == "w7" and chunks[-1][1].split()[-1] == "w24"
    jsonl = tmp_path / "kb.jsonl"
    jsonl.write_text(json.dumps({"id": "g1", "text": "guideline"}) + "\n" + json.dumps({"id": 2, "text": "x"}) + "\n")
    assert load_documents(InputFile(path=jsonl)) == [("g1", "guideline"), ("2", "x")]


def test_an_empty_knowledge_base_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(InputDataError, match="empty: it holds no text"):  # when the parameters are read
        ClinicalNote({"model": {"backend": "fake"}, "retrieval": {"knowledge_base": str(empty)}})
    (empty / "blank.txt").write_text("   \n", encoding="utf-8")  # whitespace only: found when indexing
    with pytest.raises(InputDataError, match="empty: it holds no text"):
        KnowledgeIndex(_config(empty, method="bm25"))
    generator = ClinicalNote({"model": {"backend": "fake"}, "retrieval": {"knowledge_base": str(empty)}})
    with pytest.raises(InputDataError, match="empty"):
        generator.generate([SampleRequest(0, 1)], StepContext(step="notes", seed=1, root=tmp_path))
    bad = tmp_path / "kb.jsonl"
    bad.write_text('{"text": "no id"}\n', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"kb\.jsonl:1 needs an `id`"):
        load_documents(InputFile(path=bad))


def test_bm25_returns_only_matching_passages(knowledge_base: Path) -> None:
    index = KnowledgeIndex(_config(knowledge_base, method="bm25", k=3))
    [top] = index.search("patient with wheeze")
    assert top.id == "asthma.md#0" and top.score > 0
    assert index.search("zebra") == []


def test_dense_and_hybrid_with_the_packaged_minilm(knowledge_base: Path) -> None:
    dense = KnowledgeIndex(_config(knowledge_base, method="dense", k=2))
    # no shared word with the heart-failure document: only embeddings can find it
    ranked = dense.search("swollen legs and breathlessness in cardiac pump weakness")
    assert ranked[0].id == "cardiology/heart_failure.txt#0" and len(ranked) == 2
    hybrid = KnowledgeIndex(_config(knowledge_base, method="hybrid", k=2))
    assert hybrid.search("insulin for ketoacidosis")[0].id == "endocrine/dka.txt#0"


def test_retrieved_ids_and_passages_reach_prompt_and_provenance(knowledge_base: Path, tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}},
              "retrieval": {"knowledge_base": {"path": str(knowledge_base), "real": False}, "k": 2, "method": "bm25",
                            "query_fields": ["diagnosis"]},
              "attributes": {"diagnosis": ["acute kidney injury"], "age": {"type": "integer", "low": 50, "high": 50}}}
    ctx = StepContext(step="notes", seed=1, root=tmp_path)
    [record] = ClinicalNote(params).generate([SampleRequest(0, 2)], ctx)
    assert isinstance(record, Record)
    p = record.provenance
    assert p.retrieved_ids == ("renal/aki.txt#0",)
    assert Strategy.RETRIEVAL_AUGMENTED in p.strategy
    assert p.prompt is not None and p.prompt.template_id == "clinical-note/v1+retrieval/v1"
    fake = ctx.language_model(BackendSpec.model_validate(params["model"]))
    assert isinstance(fake, FakeLanguageModel)
    user = fake.requests[0].messages[-1].content
    assert "[renal/aki.txt#0] Acute kidney injury" in user and user.index("Reference passages") < user.index("Task:")
