"""Fine-tuning corpora: JSONL, CSV, or folders of .txt files, read into examples with their provenance."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biosynth.core import ConfigError, InputDataError, sha256_file
from biosynth.text._finetune.config import FinetuneColumns, FinetuneMode

JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)


@dataclass(frozen=True)
class Example:
    """One training example; `where` names its file and row for error messages."""

    where: str
    text: str = ""
    label: str | None = None
    prompt: str = ""
    response: str = ""


@dataclass(frozen=True)
class SourceFile:
    """A corpus file (or .txt folder) as recorded in the model card."""

    path: str
    kind: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class Corpus:
    examples: tuple[Example, ...]
    sources: tuple[SourceFile, ...]

    @property
    def label_counts(self) -> dict[str, int]:
        counts = Counter(e.label for e in self.examples if e.label is not None)
        return dict(sorted(counts.items()))


def read_corpus(paths: tuple[Path, ...], mode: FinetuneMode, columns: FinetuneColumns) -> Corpus:
    """Read every file or folder; fail on the first missing field, unreadable file or empty corpus."""
    examples: list[Example] = []
    sources: list[SourceFile] = []
    for path in paths:
        if path.is_dir():
            kind, rows = "txt-folder", list(_read_txt_folder(path, mode))
        elif not path.exists():
            raise InputDataError(f"training data {str(path)!r} does not exist")
        elif path.suffix.lower() in JSONL_SUFFIXES:
            kind, rows = "jsonl", list(_read_jsonl(path, mode, columns))
        elif path.suffix.lower() in CSV_SUFFIXES:
            kind, rows = "csv", list(_read_csv(path, mode, columns))
        else:
            raise InputDataError(f"training data {str(path)!r}: unknown file type {path.suffix or '(none)'!r}; give a "
                                 ".jsonl or .csv file, or a folder of .txt files")
        if not rows:
            raise InputDataError(f"training data {str(path)!r} holds no examples; give a file with at least one row "
                                 "(or a folder with at least one non-empty .txt file)")
        examples.extend(rows)
        sources.append(SourceFile(path=str(path), kind=kind, sha256=sha256_file(path), rows=len(rows)))
    return Corpus(tuple(examples), tuple(sources))


# -- formats -----------------------------------------------------------------------------------
def _read_jsonl(path: Path, mode: FinetuneMode, columns: FinetuneColumns) -> Iterator[Example]:
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputDataError(f"training data {where}: not valid JSON ({err.msg}); expected one JSON object "
                                 "per line") from None
        if not isinstance(row, dict):
            raise InputDataError(f"training data {where}: expected a JSON object per line, got {type(row).__name__}")
        yield _example(row, where, mode, columns, present=set(row))


def _read_csv(path: Path, mode: FinetuneMode, columns: FinetuneColumns) -> Iterator[Example]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines())
    header = set(reader.fieldnames or ())
    for column in _required_columns(mode, columns):
        if column not in header:
            raise InputDataError(f"training data {str(path)!r} has no column {column!r} (its columns: "
                                 f"{sorted(header) or 'none'}); name the right one with the matching column option")
    try:
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            yield _example(row, f"{path}:{number}", mode, columns, present=header)
    except csv.Error as err:
        raise InputDataError(f"training data {str(path)!r} is not valid CSV ({err})") from None


def _read_txt_folder(folder: Path, mode: FinetuneMode) -> Iterator[Example]:
    """One document per .txt file; in task-adaptive mode its label is the name of its sub-folder."""
    if mode is FinetuneMode.INSTRUCTION:
        raise ConfigError(f"training data {str(folder)!r} is a folder of .txt files, which has no prompt/response "
                          "pairs; instruction tuning needs a .jsonl or .csv file")
    files = sorted(folder.rglob("*.txt"))
    for file in files:
        text = _read_text(file).strip()
        if not text:
            raise InputDataError(f"training data {str(file)!r} is empty; remove it or give it text")
        label = None
        if mode is FinetuneMode.TASK_ADAPTIVE:
            relative = file.relative_to(folder)
            if len(relative.parts) < 2:
                raise InputDataError(f"training data {str(file)!r} has no label: in task-adaptive mode each .txt "
                                     f"file must sit in a sub-folder of {str(folder)!r} named after its label "
                                     "(e.g. readmitted/note1.txt)")
            label = relative.parts[0]
        yield Example(where=str(file), text=text, label=label)


# -- rows --------------------------------------------------------------------------------------
def _required_columns(mode: FinetuneMode, columns: FinetuneColumns) -> tuple[str, ...]:
    if mode is FinetuneMode.INSTRUCTION:
        return (columns.prompt, columns.response)
    if mode is FinetuneMode.TASK_ADAPTIVE:
        return (columns.text, columns.label)
    return (columns.text,)


def _example(row: dict[str, Any], where: str, mode: FinetuneMode, columns: FinetuneColumns,
             present: set[str]) -> Example:
    values: dict[str, str] = {}
    for column in _required_columns(mode, columns):
        if column not in present:
            raise InputDataError(f"training data {where}: no field {column!r} (fields: {sorted(present)}); name the "
                                 "right one with the matching column option")
        value = row.get(column)
        if isinstance(value, bool | int | float) and column == columns.label:
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            what = "label" if column == columns.label else "value"
            raise InputDataError(f"training data {where}: field {column!r} is empty or not text (got {value!r}); "
                                 f"every {mode.value} example needs a non-empty {what} there")
        values[column] = value
    if mode is FinetuneMode.INSTRUCTION:
        return Example(where=where, prompt=values[columns.prompt], response=values[columns.response])
    label = values[columns.label].strip() if mode is FinetuneMode.TASK_ADAPTIVE else None
    return Example(where=where, text=values[columns.text].strip(), label=label)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputDataError(f"training data {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
                             "convert it to UTF-8") from None
    except OSError as err:
        raise InputDataError(f"training data {str(path)!r} could not be read ({err.strerror or err})") from None
