"""Reading texts to evaluate: synthetic text records from a biosynth dataset, real texts from files."""

from __future__ import annotations

from pathlib import Path

from biosynth.core import (
    Corpus,
    CorpusRow,
    DatasetError,
    InputDataError,
    Record,
    SyntheticDataset,
    TextPayload,
    read_corpus,
)


def synthetic_texts(dataset: SyntheticDataset, step: str | None = None) -> tuple[list[str], list[Record]]:
    """The text records of a dataset (optionally one step); a DatasetError when there are none."""
    records = [r for r in dataset.records(step) if isinstance(r.payload, TextPayload)]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no text records in {where} "
                           f"(steps: {list(dataset.manifest.steps)})")
    return [r.payload.text for r in records], records  # type: ignore[union-attr]


def holds_text(dataset: SyntheticDataset, step: str | None = None) -> bool:
    """Whether the chosen step (or the dataset) holds text records and no table rows to evaluate instead."""
    kinds = {r.payload.kind for r in dataset.records(step)}
    return "text" in kinds and "table_row" not in kinds


def _real_corpus(path: str | Path, role: str) -> Corpus:
    """Core's one corpus reader, limited to what a text evaluation takes: a folder of .txt files, JSONL or CSV."""
    return read_corpus(path, role=role, kinds=("folder", "jsonl", "csv"), text_suffixes=(".txt",))


def _where(corpus: Corpus, row: CorpusRow, role: str) -> str:
    line = row.where.rsplit(":", 1)[1] if corpus.kind in ("jsonl", "csv") else None
    return f"{role} file {str(corpus.path)!r}" + (f" line {line}" if line else "")


def read_real_texts(path: str | Path, role: str = "--real") -> list[str]:
    """Texts read with core's `read_corpus`: a folder of .txt files (sorted by path, sub-folders included, empty
    files skipped), a .jsonl file with a string field `text` per line, or a CSV file with a `text` column; errors
    name the file, the line and what was expected."""
    corpus = _real_corpus(path, role)
    if corpus.kind == "folder" and not corpus.rows:
        raise InputDataError(f"{role} folder {str(corpus.path)!r} holds no non-empty .txt files")
    if corpus.kind == "csv" and "text" not in corpus.columns:
        raise InputDataError(f"{role} file {str(corpus.path)!r} has no 'text' column; it has {list(corpus.columns)}")
    texts = []
    for row in corpus.rows:
        text = row.fields.get("text")
        if not isinstance(text, str):
            raise InputDataError(f"{_where(corpus, row, role)} has no string field 'text'")
        texts.append(text)
    return texts


def read_real_labels(path: str | Path, key: str, role: str = "--real") -> list[str | None]:
    """One label per text of `read_real_texts(path)`: the field `key` of each .jsonl line or the column `key` of a
    .csv file (missing or empty -> None); a folder of .txt files carries no labels."""
    corpus = _real_corpus(path, role)
    if corpus.kind == "folder":
        raise InputDataError(f"{role} {str(corpus.path)!r} carries no labels; for label consistency give a .jsonl "
                             f"with a {key!r} field or a .csv with a {key!r} column")
    if corpus.kind == "csv" and key not in corpus.columns:
        raise InputDataError(f"{role} file {str(corpus.path)!r} has no {key!r} column; it has {list(corpus.columns)}")
    return [None if row.fields.get(key) in (None, "") else str(row.fields[key]) for row in corpus.rows]


def synthetic_labels(records: list[Record], key: str) -> list[str | None]:
    """The label `key` of each text record (None where a record lacks it)."""
    return [None if r.labels.get(key) is None else str(r.labels[key]) for r in records]
