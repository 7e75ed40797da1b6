"""Training data: a folder of images with captions (`metadata.jsonl` or `captions.csv`, one row per image:
`file_name` and `text` by default), or class sub-folders (the folder name fills `class_prompt`)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from biosynth.core import InputDataError, PromptTemplate, sha256_file
from biosynth.image._input_images import SUFFIXES


@dataclass(frozen=True)
class Example:
    image: Path
    caption: str


@dataclass(frozen=True)
class TrainingData:
    examples: tuple[Example, ...]
    source: str  # metadata.jsonl, captions.csv or class-folders
    sha256: str  # core's fingerprint of the data folder


def _rows(folder: Path) -> tuple[list[dict[str, str]], str] | None:
    jsonl, table = folder / "metadata.jsonl", folder / "captions.csv"
    if jsonl.is_file():
        rows = []
        for number, line in enumerate(jsonl.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputDataError(f"{jsonl}: line {number} is not JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise InputDataError(f"{jsonl}: line {number} is not a JSON object")
            rows.append({str(k): str(v) for k, v in row.items()})
        return rows, jsonl.name
    if table.is_file():
        with table.open(encoding="utf-8", newline="") as handle:
            return [dict(r) for r in csv.DictReader(handle)], table.name
    return None


def read_training_data(folder: Path, *, image_column: str = "file_name", caption_column: str = "text",
                       class_prompt: str = "$label") -> TrainingData:
    """The examples of a data folder, in a fixed order, and the folder's fingerprint."""
    if not folder.is_dir():
        raise InputDataError(f"training data {str(folder)!r} is not a folder")
    found = _rows(folder)
    examples: list[Example] = []
    if found is not None:
        rows, source = found
        for number, row in enumerate(rows, 1):
            if image_column not in row or caption_column not in row:
                raise InputDataError(f"{source}: row {number} lacks {image_column!r} or {caption_column!r} "
                                     f"(has {sorted(row)})")
            path = (folder / row[image_column]).resolve()
            if folder.resolve() not in path.parents or not path.is_file():
                raise InputDataError(f"{source}: row {number}: image {row[image_column]!r} is not a file in the folder")
            examples.append(Example(path, row[caption_column]))
    else:
        template = PromptTemplate(id="image/class-caption/v1+custom", text=class_prompt)
        source = "class-folders"
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            caption = template.render({"label": sub.name.replace("_", " ")})
            examples += [Example(p, caption) for p in sorted(sub.iterdir())
                         if p.is_file() and p.suffix.lower() in SUFFIXES]
    if not examples:
        raise InputDataError(f"{str(folder)!r} holds no training images: give metadata.jsonl or captions.csv "
                             f"({image_column}, {caption_column}) or class sub-folders of images")
    return TrainingData(tuple(examples), source, sha256_file(folder))
