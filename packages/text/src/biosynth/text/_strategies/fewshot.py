"""Few-shot prompting: k examples drawn per sample, with the sample's seed, from a pool file.

The pool is a core `InputFile` (JSONL, one object per line, or CSV with a header). It is real data
by default (`real: true`), so core's Policy applies: its examples never go to a remote backend unless
the recipe permits it, and prompts that hold them are stored in provenance as hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import ConfigError, InputDataError, InputFile, PromptTemplate, Scalar, derive_seed, read_corpus, rng

TEMPLATE_ID = "few-shot/v1"
TEMPLATE = "Examples of the kind of text to write (fictional; follow their style, do not copy them):\n\n$examples"
PROMPT = PromptTemplate(id=TEMPLATE_ID, text=TEMPLATE)


class FewShotConfig(BaseModel):
    """`few_shot:` parameters. `fields` are the columns shown per example (one: its value alone;
    several: `name: value` lines). With `label_field`, a sample draws only examples of its own label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: InputFile
    k: int = Field(3, ge=1, le=64)
    fields: tuple[str, ...] = Field(("text",), min_length=1)
    id_field: str = Field("id", description="example id column; rows without one are named by line number")
    label_field: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_field(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("fields"), str):
            return {**data, "fields": (data["fields"],)}
        return data

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields {list(self.fields)} repeat a column")
        return self

    @model_validator(mode="after")
    def _enough_examples(self) -> Self:
        # Checked here too, so that `biosynth validate` reports a small pool before any model loads; a
        # missing file is left to the runner's input check (it names the recipe parameter).
        if self.pool.path.is_file():
            FewShotPool.check_size(self, len(load_pool(self)))
        return self


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: Scalar = None


class FewShotPool:
    """The loaded pool: draws `k` distinct examples per seed (optionally of one label)."""

    def __init__(self, config: FewShotConfig) -> None:
        self.config = config
        self.examples = load_pool(config)
        self.check_size(config, len(self.examples))
        self._by_label: dict[str, list[Example]] = {}
        for example in self.examples:
            self._by_label.setdefault(str(example.label), []).append(example)

    @staticmethod
    def check_size(config: FewShotConfig, size: int) -> None:
        if size < config.k:
            raise ConfigError(f"few_shot.pool {str(config.pool.path)!r} holds {size} example(s), fewer than "
                              f"few_shot.k = {config.k}; add examples or lower k")

    def draw(self, seed: int, label: Scalar = None) -> list[Example]:
        """`k` distinct examples chosen with `seed`; of `label` only when the config has a label_field."""
        candidates = self.examples
        if self.config.label_field is not None and label is not None:
            candidates = self._by_label.get(str(label), [])
            if len(candidates) < self.config.k:
                raise ConfigError(
                    f"few_shot.pool {str(self.config.pool.path)!r} holds {len(candidates)} example(s) with "
                    f"{self.config.label_field} = {label!r}, fewer than few_shot.k = {self.config.k}")
        picks = rng(derive_seed(seed, "few-shot")).choice(len(candidates), size=self.config.k, replace=False)
        return [candidates[int(i)] for i in picks]


def format_examples(examples: list[Example]) -> str:
    return "\n\n".join(f"Example {n}:\n{e.text}" for n, e in enumerate(examples, start=1))


def load_pool(config: FewShotConfig) -> list[Example]:
    """Read the pool file; every row needs the `fields` columns (non-empty) and, if set, `label_field`."""
    path = config.pool.path
    config.pool.check("few_shot.pool")
    rows = _read_rows(path)
    examples: list[Example] = []
    seen: set[str] = set()
    for line, row in rows:
        missing = [f for f in config.fields if row.get(f) in (None, "")]
        if config.label_field is not None and row.get(config.label_field) in (None, ""):
            missing.append(config.label_field)
        if missing:
            raise InputDataError(f"few_shot.pool {str(path)!r} row {line} lacks {missing}; each row needs "
                                 f"{list(config.fields)}" + (f" and {config.label_field!r}" if config.label_field else ""))
        example_id = str(row[config.id_field]) if row.get(config.id_field) not in (None, "") else f"{path.stem}:{line}"
        if example_id in seen:
            raise InputDataError(f"few_shot.pool {str(path)!r} row {line}: id {example_id!r} repeats an earlier row")
        seen.add(example_id)
        if len(config.fields) == 1:
            text = str(row[config.fields[0]]).strip()
        else:
            text = "\n".join(f"{f.replace('_', ' ').capitalize()}: {str(row[f]).strip()}" for f in config.fields)
        label = row.get(config.label_field) if config.label_field else None
        examples.append(Example(id=example_id, text=text, label=label if isinstance(label, (str, int, float, bool)) else None))
    return examples


def _read_rows(path: Path) -> list[tuple[int, dict[str, object]]]:
    """(line number, row) of a JSONL or CSV pool, read by core's `read_corpus`."""
    corpus = read_corpus(path, role="few_shot.pool", kinds=("jsonl", "csv"))
    return [(int(row.where.rsplit(":", 1)[1]), row.fields) for row in corpus.rows]
