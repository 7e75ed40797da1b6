"""One reader for text corpora: a folder of .txt/.md files, a .txt/.md file, JSON Lines, or CSV.

    corpus = read_corpus(path, role="few_shot.pool")        # role names the parameter in every error
    for row in corpus.rows: row.where, row.fields["text"]

- folder: one row per non-empty `.txt`/`.md` file (sorted by path), fields `id` (the path relative to the
  folder), `text`, and `folder` (its first sub-folder, e.g. a class label; None at the top level);
- a single `.txt`/`.md` file: one row (`id` its name);
- `.jsonl`/`.ndjson`: one JSON object per non-empty line, fields as given;
- `.csv`: one row per record, every value a string; `columns` is the header.
Files are read as UTF-8 (a BOM is dropped). Problems raise InputDataError naming the role, file and line.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from biosynth.core._errors import InputDataError

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)

CorpusKind = Literal["folder", "text", "jsonl", "csv"]


@dataclass(frozen=True)
class CorpusRow:
    """One document or record: where it came from (`file` or `file:line`) and its fields."""

    where: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Corpus:
    """The rows of one path, its kind, and its columns (CSV header; keys seen in JSON Lines; id/text otherwise)."""

    path: Path
    kind: CorpusKind
    rows: tuple[CorpusRow, ...]
    columns: tuple[str, ...]


def read_corpus(path: str | Path, *, role: str, kinds: tuple[CorpusKind, ...] = ("folder", "text", "jsonl", "csv"),
                text_suffixes: tuple[str, ...] = TEXT_SUFFIXES) -> Corpus:
    """Read `path` as one of `kinds` (see the module doc); an unexpected kind is an InputDataError naming the choices."""
    path = Path(path)
    expected = _describe(kinds, text_suffixes)
    if not path.exists():
        raise InputDataError(f"{role} {str(path)!r} does not exist (expected {expected})")
    suffix = path.suffix.lower()
    if path.is_dir() and "folder" in kinds:
        return _folder(path, role, text_suffixes)
    if path.is_file() and suffix in JSONL_SUFFIXES and "jsonl" in kinds:
        return _jsonl(path, role)
    if path.is_file() and suffix in CSV_SUFFIXES and "csv" in kinds:
        return _csv(path, role)
    if path.is_file() and suffix in text_suffixes and "text" in kinds:
        text = read_text_file(path, role)
        rows = (CorpusRow(str(path), {"id": path.name, "text": text, "folder": None}),) if text.strip() else ()
        return Corpus(path, "text", rows, ("id", "text", "folder"))
    what = "a folder" if path.is_dir() else f"a {suffix or 'suffix-less'} file"
    raise InputDataError(f"{role} {str(path)!r} is {what}; expected {expected}")


def read_text_file(path: Path, role: str) -> str:
    """A file's text as UTF-8 (BOM dropped), or an InputDataError naming the role and file."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputDataError(f"{role} {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}); "
                             "convert it to UTF-8") from None
    except OSError as err:
        raise InputDataError(f"{role} {str(path)!r} could not be read ({err.strerror or err})") from None


def _folder(folder: Path, role: str, suffixes: tuple[str, ...]) -> Corpus:
    rows = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes):
        text = read_text_file(file, role)
        if not text.strip():
            continue
        relative = file.relative_to(folder)
        rows.append(CorpusRow(str(file), {"id": relative.as_posix(), "text": text,
                                          "folder": relative.parts[0] if len(relative.parts) > 1 else None}))
    return Corpus(folder, "folder", tuple(rows), ("id", "text", "folder"))


def _jsonl(path: Path, role: str) -> Corpus:
    rows: list[CorpusRow] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(read_text_file(path, role).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputDataError(f"{role} {str(path)!r} line {number} is not valid JSON ({err.msg}); expected one "
                                 "JSON object per line") from None
        if not isinstance(value, dict):
            raise InputDataError(f"{role} {str(path)!r} line {number}: expected a JSON object per line, got "
                                 f"{type(value).__name__}")
        columns.update(dict.fromkeys(value))
        rows.append(CorpusRow(f"{path}:{number}", value))
    return Corpus(path, "jsonl", tuple(rows), tuple(columns))


def _csv(path: Path, role: str) -> Corpus:
    reader = csv.DictReader(read_text_file(path, role).splitlines())
    try:
        rows = tuple(CorpusRow(f"{path}:{number}", dict(row)) for number, row in enumerate(reader, start=2))
    except csv.Error as err:
        raise InputDataError(f"{role} {str(path)!r} is not valid CSV ({err})") from None
    return Corpus(path, "csv", rows, tuple(reader.fieldnames or ()))


def _describe(kinds: tuple[CorpusKind, ...], suffixes: tuple[str, ...]) -> str:
    text = "/".join(suffixes)
    names = {"folder": f"a folder of {text} files", "text": f"a {text} file", "jsonl": "a .jsonl file",
             "csv": "a .csv file"}
    parts = [names[k] for k in kinds]
    return ", ".join(parts[:-1]) + (" or " if len(parts) > 1 else "") + parts[-1]
