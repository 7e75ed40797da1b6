"""Reading texts to evaluate: synthetic text records from a biosynth dataset, real texts from files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from biosynth.core import DatasetError, InputDataError, Record, SyntheticDataset, TextPayload


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


def read_real_texts(path: str | Path, role: str = "--real") -> list[str]:
    """Texts from a folder of .txt files (sorted by name), a .jsonl file with a `text` field per line, or a CSV
    file with a `text` column; errors name the file and what was expected."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise InputDataError(f"{role} folder {str(path)!r} holds no .txt files")
        return [f.read_text(encoding="utf-8") for f in files]
    if not path.is_file():
        raise InputDataError(f"{role} {str(path)!r} does not exist (expected a folder of .txt files, a .jsonl or a "
                             ".csv file)")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        texts = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputDataError(f"{role} file {str(path)!r} line {number} is not JSON: {err}") from None
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise InputDataError(f"{role} file {str(path)!r} line {number} has no string field 'text'")
            texts.append(item["text"])
        return texts
    if suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, OSError) as err:
            raise InputDataError(f"{role} file {str(path)!r} could not be read: {err}") from None
        if "text" not in frame.columns:
            raise InputDataError(f"{role} file {str(path)!r} has no 'text' column; it has {list(frame.columns)}")
        return frame["text"].tolist()
    raise InputDataError(f"{role} file {str(path)!r} has suffix {suffix!r}; for text expected a .txt folder, "
                         ".jsonl or .csv")


def read_real_labels(path: str | Path, key: str, role: str = "--real") -> list[str | None]:
    """One label per text of `read_real_texts(path)`: the field `key` of each .jsonl line or the column `key` of a
    .csv file (missing -> None); a folder of .txt files carries no labels."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in (".jsonl", ".csv"):
        raise InputDataError(f"{role} {str(path)!r} carries no labels; for label consistency give a .jsonl with a "
                             f"{key!r} field or a .csv with a {key!r} column")
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=True)
        if key not in frame.columns:
            raise InputDataError(f"{role} file {str(path)!r} has no {key!r} column; it has {list(frame.columns)}")
        return [None if pd.isna(v) else str(v) for v in frame[key]]
    labels: list[str | None] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            value = json.loads(line).get(key)
            labels.append(None if value is None else str(value))
    return labels


def synthetic_labels(records: list[Record], key: str) -> list[str | None]:
    """The label `key` of each text record (None where a record lacks it)."""
    return [None if r.labels.get(key) is None else str(r.labels[key]) for r in records]
