"""Fine-tuning corpora: JSONL, CSV, or folders of .txt files (read by core's `read_corpus`), turned into
examples with their provenance. Empty .txt files in a folder are skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biosynth.core import ConfigError, CorpusRow, InputDataError, sha256_file
from biosynth.core import read_corpus as read_documents
from biosynth.text._finetune.config import FinetuneColumns, FinetuneMode


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
    """Read every file or folder (core's `read_corpus`); fail on the first missing field, unreadable file or
    empty corpus."""
    examples: list[Example] = []
    sources: list[SourceFile] = []
    for path in paths:
        if path.is_dir() and mode is FinetuneMode.INSTRUCTION:
            raise ConfigError(f"training data {str(path)!r} is a folder of .txt files, which has no prompt/response "
                              "pairs; instruction tuning needs a .jsonl or .csv file")
        corpus = read_documents(path, role="training data", kinds=("folder", "jsonl", "csv"), text_suffixes=(".txt",))
        if corpus.kind == "folder":
            rows = [_document(row, path, mode) for row in corpus.rows]
        else:
            present = set(corpus.columns)
            if corpus.kind == "csv":
                for column in _required_columns(mode, columns):
                    if column not in present:
                        raise InputDataError(f"training data {str(path)!r} has no column {column!r} (its columns: "
                                             f"{sorted(present) or 'none'}); name the right one with the matching "
                                             "column option")
            rows = [_example(row.fields, row.where, mode, columns,
                             present=present if corpus.kind == "csv" else set(row.fields)) for row in corpus.rows]
        if not rows:
            raise InputDataError(f"training data {str(path)!r} holds no examples; give a file with at least one row "
                                 "(or a folder with at least one non-empty .txt file)")
        examples.extend(rows)
        kind = {"folder": "txt-folder"}.get(corpus.kind, corpus.kind)
        sources.append(SourceFile(path=str(path), kind=kind, sha256=sha256_file(path), rows=len(rows)))
    return Corpus(tuple(examples), tuple(sources))


def _document(row: CorpusRow, folder: Path, mode: FinetuneMode) -> Example:
    """One document per non-empty .txt file; in task-adaptive mode its label is the name of its sub-folder."""
    label = None
    if mode is FinetuneMode.TASK_ADAPTIVE:
        label = row.fields["folder"]
        if label is None:
            raise InputDataError(f"training data {row.where!r} has no label: in task-adaptive mode each .txt "
                                 f"file must sit in a sub-folder of {str(folder)!r} named after its label "
                                 "(e.g. readmitted/note1.txt)")
    return Example(where=row.where, text=str(row.fields["text"]).strip(), label=label)


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

