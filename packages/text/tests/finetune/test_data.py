"""Reading fine-tuning corpora: JSONL, CSV, folders of .txt; every bad input is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosynth.core import ConfigError, InputDataError, sha256_file
from biosynth.text._finetune.config import FinetuneColumns, FinetuneMode
from biosynth.text._finetune.data import read_corpus

TASK, DOMAIN, INSTRUCTION = FinetuneMode.TASK_ADAPTIVE, FinetuneMode.DOMAIN_ADAPTIVE, FinetuneMode.INSTRUCTION
COLUMNS = FinetuneColumns()


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_jsonl_csv_and_txt_folder_together(tmp_path: Path) -> None:
    jsonl = _jsonl(tmp_path / "a.jsonl", [{"text": " first note ", "label": 1, "extra": "ignored"}, {"text": "b", "label": "0"}])
    (tmp_path / "b.csv").write_text("note,outcome\n\"second, with comma\",readmitted\n", encoding="utf-8")
    folder = tmp_path / "notes"
    (folder / "readmitted").mkdir(parents=True)
    (folder / "readmitted" / "n1.txt").write_text("third note\n", encoding="utf-8")
    corpus = read_corpus((jsonl,), TASK, COLUMNS)
    assert [(e.text, e.label) for e in corpus.examples] == [("first note", "1"), ("b", "0")]
    csv_corpus = read_corpus((tmp_path / "b.csv", folder), TASK, FinetuneColumns(text="note", label="outcome"))
    assert [(e.text, e.label) for e in csv_corpus.examples] == [("second, with comma", "readmitted"),
                                                               ("third note", "readmitted")]
    assert [(s.kind, s.rows, s.sha256) for s in csv_corpus.sources] == [
        ("csv", 1, sha256_file(tmp_path / "b.csv")), ("txt-folder", 1, sha256_file(folder))]
    assert csv_corpus.label_counts == {"readmitted": 2}


def test_instruction_pairs(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "qa.jsonl", [{"q": "What is asthma?", "a": "A chronic airway disease."}])
    [example] = read_corpus((path,), INSTRUCTION, FinetuneColumns(prompt="q", response="a")).examples
    assert (example.prompt, example.response) == ("What is asthma?", "A chronic airway disease.")


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", [{"text": "x", "label": "y"}, {"body": "z", "label": "y"}])
    with pytest.raises(InputDataError, match=r"a\.jsonl:2: no field 'text' \(fields: \['body', 'label'\]\)"):
        read_corpus((path,), DOMAIN, COLUMNS)
    (tmp_path / "b.csv").write_text("body,label\nx,y\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"b\.csv' has no column 'text' \(its columns: \['body', 'label'\]\)"):
        read_corpus((tmp_path / "b.csv",), TASK, COLUMNS)


def test_task_adaptive_needs_a_label_on_every_row(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a.jsonl", [{"text": "x", "label": "y"}, {"text": "z", "label": ""}])
    with pytest.raises(InputDataError, match=r"a\.jsonl:2: field 'label' is empty.*non-empty label"):
        read_corpus((path,), TASK, COLUMNS)
    assert len(read_corpus((path,), DOMAIN, COLUMNS).examples) == 2  # labels are not needed in domain mode
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "loose.txt").write_text("a note without a label folder", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"loose\.txt' has no label.*sub-folder"):
        read_corpus((folder,), TASK, COLUMNS)


def test_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"empty\.jsonl' holds no examples"):
        read_corpus((tmp_path / "empty.jsonl",), DOMAIN, COLUMNS)
    (tmp_path / "folder").mkdir()
    with pytest.raises(InputDataError, match="holds no examples"):
        read_corpus((tmp_path / "folder",), DOMAIN, COLUMNS)
    (tmp_path / "header.csv").write_text("text\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="holds no examples"):
        read_corpus((tmp_path / "header.csv",), DOMAIN, COLUMNS)


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(InputDataError, match="is not UTF-8 text"):
        read_corpus((tmp_path / "latin1.jsonl",), DOMAIN, COLUMNS)
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputDataError, match=r"bad\.jsonl' line 2 is not valid JSON"):
        read_corpus((tmp_path / "bad.jsonl",), DOMAIN, COLUMNS)
    (tmp_path / "list.jsonl").write_text('["text"]\n', encoding="utf-8")
    with pytest.raises(InputDataError, match="expected a JSON object per line, got list"):
        read_corpus((tmp_path / "list.jsonl",), DOMAIN, COLUMNS)
    with pytest.raises(InputDataError, match="does not exist"):
        read_corpus((tmp_path / "missing.jsonl",), DOMAIN, COLUMNS)
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputDataError, match=r"data\.parquet. is a \.parquet file; expected a folder of \.txt files"):
        read_corpus((tmp_path / "data.parquet",), DOMAIN, COLUMNS)
    empty_txt = tmp_path / "txt"
    empty_txt.mkdir()
    (empty_txt / "a.txt").write_text("  \n", encoding="utf-8")  # empty files are skipped (core's read_corpus)
    with pytest.raises(InputDataError, match=r"txt' holds no examples"):
        read_corpus((empty_txt,), DOMAIN, COLUMNS)
    (empty_txt / "b.txt").write_text(" a note \n", encoding="utf-8")
    corpus = read_corpus((empty_txt,), DOMAIN, COLUMNS)
    assert [e.text for e in corpus.examples] == ["a note"] and corpus.sources[0].kind == "txt-folder"


def test_txt_folder_cannot_hold_instruction_pairs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"instruction tuning needs a \.jsonl or \.csv"):
        read_corpus((tmp_path,), INSTRUCTION, COLUMNS)
