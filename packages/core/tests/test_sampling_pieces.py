"""The sampling pieces every package shares: retries, attempt seeds, targets, prompt templates, corpora."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from biosynth.core import (
    Accepted,
    GenerationError,
    InputDataError,
    PromptTemplate,
    Rejected,
    TargetDistribution,
    attempt_seed,
    derive_seed,
    read_corpus,
    retry_until_valid,
    target_value,
)


def test_retry_until_valid_batches_pending_items_and_lists_every_reason() -> None:
    calls: list[list[int]] = []

    def attempt(number: int, pending: list[int]) -> list[str | Rejected]:
        calls.append(pending)
        return [f"ok{i}" if (i + number) % 3 == 0 else Rejected(f"bad {i}@{number}") for i in pending]

    outcomes = retry_until_valid(4, attempt, max_attempts=2, what="note")
    assert calls == [[0, 1, 2, 3], [1, 2]]
    assert outcomes[0] == Accepted("ok0", 1) and outcomes[3] == Accepted("ok3", 1)
    assert outcomes[2] == Accepted("ok2", 2, ("attempt 1: bad 2@0",))
    failure = outcomes[1]
    assert isinstance(failure, GenerationError) and failure.attempts == 2
    assert failure.reason == "no valid note after 2 attempt(s): attempt 1: bad 1@0; attempt 2: bad 1@1"
    with pytest.raises(ValueError, match="at least 1"):
        retry_until_valid(1, attempt, max_attempts=0)


def test_attempt_seeds_start_at_the_sample_seed() -> None:
    assert attempt_seed(41, 0) == 41
    assert attempt_seed(41, 2) == derive_seed(41, "attempt", 2) != attempt_seed(41, 1)


def test_targets_are_exact_over_whole_blocks_and_independent_of_batching() -> None:
    target = TargetDistribution(column="sex", distribution={"female": 0.7, "male": 0.3})
    probs = target.resolve(["female", "male"])
    values = [target_value(probs, 5, i) for i in range(100)]
    assert Counter(values) == {"female": 70, "male": 30}
    assert values[37] == target_value(probs, 5, 37)  # a sample's value depends on its index only
    balanced = TargetDistribution(column="label").resolve(["a", "b", "c"])
    assert Counter(target_value(balanced, 9, i) for i in range(30)) == {"a": 10, "b": 10, "c": 10}
    with pytest.raises(ValidationError, match="weights sum to 0"):
        TargetDistribution(column="x", distribution={"a": 0.0})


def test_prompt_templates_follow_one_id_convention_and_hash_their_text() -> None:
    template = PromptTemplate(id="clinical-note/v1", text="Write a $kind note about ${topic}.")
    assert template.render({"kind": "discharge", "topic": "asthma"}) == "Write a discharge note about asthma."
    assert template.placeholders == {"kind", "topic"}
    assert template.problems({"kind"}) == ["unknown placeholders ['topic']; available: ['kind']"]
    custom = template.custom("Only $kind.")
    assert custom.id == "clinical-note/v1+custom" and custom.sha256 != template.sha256
    ref = template.prompt_ref("Write a secret note.", redact=True)
    assert ref.rendered is None and ref.template_sha256 == template.sha256 and ref.redacted
    for bad in ("Clinical Note v1", "clinical-note", "note/1"):
        with pytest.raises(ValidationError, match="does not follow"):
            PromptTemplate(id=bad, text="x")
    with pytest.raises(ValidationError, match="invalid placeholder syntax"):
        PromptTemplate(id="x/v1", text="costs $5")


def test_one_corpus_reader_for_folders_jsonl_and_csv(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "asthma").mkdir(parents=True)
    (folder / "asthma" / "a.txt").write_text("wheeze", encoding="utf-8")
    (folder / "top.md").write_text("\ufeffheader", encoding="utf-8")
    (folder / "empty.txt").write_text("  ")
    corpus = read_corpus(folder, role="--real")
    assert [(r.fields["id"], r.fields["text"], r.fields["folder"]) for r in corpus.rows] == [
        ("asthma/a.txt", "wheeze", "asthma"), ("top.md", "header", None)]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(json.dumps({"text": "one", "label": "x"}) + "\n\n" + json.dumps({"text": "two"}) + "\n")
    corpus = read_corpus(jsonl, role="pool")
    assert [r.where for r in corpus.rows] == [f"{jsonl}:1", f"{jsonl}:3"] and corpus.columns == ("text", "label")
    csv = tmp_path / "rows.csv"
    csv.write_text("text,label\nhello,1\n")
    assert read_corpus(csv, role="pool").rows[0].fields == {"text": "hello", "label": "1"}


@pytest.mark.parametrize(("content", "kinds", "match"), [
    (b'{"text": 1}\n[1]\n', ("jsonl",), "line 2: expected a JSON object per line, got list"),
    (b'{"text": \n', ("jsonl",), "line 1 is not valid JSON"),
    (b"\xff\xfe\x00bad", ("jsonl",), "is not UTF-8 text"),
    (b"x", ("csv",), "expected a .csv file"),
])
def test_corpus_errors_name_the_role_file_and_line(tmp_path: Path, content: bytes, kinds: tuple[str, ...],
                                                   match: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=match) as err:
        read_corpus(path, role="few_shot.pool", kinds=kinds)  # type: ignore[arg-type]
    assert "few_shot.pool" in str(err.value) and str(path) in str(err.value)
