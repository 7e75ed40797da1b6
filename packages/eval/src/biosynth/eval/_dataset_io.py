"""Reading the tables to evaluate: synthetic rows from a biosynth dataset, real rows from CSV/Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from biosynth.core import (
    DatasetError,
    InputDataError,
    Record,
    SyntheticDataset,
    TableRowPayload,
    read_table,
    read_table_metadata,
)
from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds, infer_metadata


def read_real_table(path: str | Path, role: str = "--real") -> pd.DataFrame:
    """A CSV or Parquet file (or JSON records / JSONL, or a `package:` file) as a DataFrame; errors name the file."""
    return read_table(path, f"{role} file")


def synthetic_rows(dataset: SyntheticDataset, step: str | None = None,
                   table: str | None = None) -> tuple[pd.DataFrame, list[Record]]:
    """The table-row records of a dataset (optionally one step, one table name) as a DataFrame."""
    records = [r for r in dataset.records(step) if isinstance(r.payload, TableRowPayload)]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no table rows in {where}; pass --step naming a "
                           f"step with a tabular generator (steps: {list(dataset.manifest.steps)})")
    tables = sorted({r.payload.table for r in records})  # type: ignore[union-attr]
    if table is None and len(tables) > 1:
        raise DatasetError(f"dataset {str(dataset.root)!r} holds rows of several tables {tables}; pass --table")
    chosen = table or tables[0]
    records = [r for r in records if r.payload.table == chosen]  # type: ignore[union-attr]
    if not records:
        raise DatasetError(f"no rows of table {chosen!r} in {str(dataset.root)!r} (tables: {tables})")
    return pd.DataFrame([r.payload.values for r in records]), records  # type: ignore[union-attr]


def align(real: pd.DataFrame, others: dict[str, pd.DataFrame | None], metadata: ColumnKinds | None, *,
          sources: dict[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | None], ColumnKinds]:
    """Keep the synthetic table's columns, check the real tables have them, coerce every side to one dtype.

    `sources` names where a role's table came from in errors (e.g. {"real": "--real file 'train.csv'"})."""
    synthetic = others["synthetic"]
    assert synthetic is not None
    columns = list(synthetic.columns)
    names = {role: (sources or {}).get(role, f"the {role} table") for role in ("real", *others)}
    for role, frame in {"real": real, **others}.items():
        if frame is None:
            continue
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputDataError(f"{names[role]} lacks the synthetic column(s) {missing}; it has {list(frame.columns)}")
    frames = {"real": real[columns].copy(), **{k: (None if v is None else v[columns].copy()) for k, v in others.items()}}
    meta = metadata or infer_metadata(frames["real"])
    for name, kind in meta.columns.items():
        for role, frame in frames.items():
            if frame is None or name not in frame.columns:
                continue
            try:
                if kind is ColumnKind.NUMERICAL:
                    frame[name] = pd.to_numeric(frame[name])
                elif kind is ColumnKind.DATETIME:
                    frame[name] = pd.to_datetime(frame[name])
                elif kind is ColumnKind.CATEGORICAL:
                    frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
            except (ValueError, TypeError) as err:
                raise InputDataError(f"column {name!r} of {names[role]} is {kind.value} in the metadata but its "
                                     f"values do not convert: {err}") from None
    real_out = frames.pop("real")
    assert real_out is not None
    return real_out, frames, meta


def load_metadata(path: str | Path | None, real: pd.DataFrame) -> ColumnKinds | None:
    """`--metadata`: biosynth table metadata (as `biosynth tabular` detects and saves it), an SDV-style file, or
    `{column: kind}`; read with core's one table schema, types mapped to the kinds eval scores."""
    if path is None:
        return None
    return ColumnKinds.from_schema(read_table_metadata(path, real, what="--metadata file"))


def provenance_checklist(dataset: SyntheticDataset, records: list[Record]) -> dict[str, Any]:
    """What the dataset reports of the details studies most often omit, and what is missing."""
    manifest = dataset.manifest
    provs = [r.provenance for r in records]
    with_model = [p for p in provs if p.model is not None]
    with_prompt = [p for p in provs if p.prompt is not None]
    models = sorted({f"{p.model.name}@{p.model.revision or '?'} ({p.model.backend})" for p in with_model})  # type: ignore[union-attr]
    generators = sorted({f"{p.generator} {p.generator_version}" for p in provs})
    real_inputs = [i for i in manifest.inputs if i.real]
    checklist = [
        {"item": "generator name and version", "present": all(p.generator_version for p in provs), "value": generators},
        {"item": "model name and version", "present": all(p.model.revision for p in with_model),  # type: ignore[union-attr]
         "value": models or "no language model used"},
        {"item": "complete prompts (text, or hash when redacted for real data)",
         "present": all(p.prompt.rendered is not None or p.prompt.redacted for p in with_prompt),  # type: ignore[union-attr]
         "value": sorted({p.prompt.template_id for p in with_prompt}) or "no prompts used"},  # type: ignore[union-attr]
        {"item": "decoding parameters", "present": all(p.decoding is not None for p in with_model),
         "value": "recorded per record" if with_model else "no language model used"},
        {"item": "seeds", "present": True, "value": f"dataset seed {manifest.seed}, one derived seed per record"},
        {"item": "real-data fingerprints (sha256 of real inputs)", "present": all(i.sha256 for i in real_inputs),
         "value": [f"{i.path} sha256 {i.sha256[:16]}" for i in real_inputs] or "no real inputs declared"},
    ]
    return {"dataset": str(dataset.root), "records": len(records), "checklist": checklist,
            "missing": [c["item"] for c in checklist if not c["present"]],
            "recipe": {"name": manifest.recipe.get("name"), "sha256": manifest.recipe_sha256, "seed": manifest.seed},
            "models": _models(records), "decoding": _decodings(records)}


def _models(records: list[Record]) -> list[dict[str, Any]]:
    """Each distinct model the records name, with its backend, revision, weights sha256 and where it ran."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        model = record.provenance.model
        if model is not None:
            key = (model.name, model.backend, model.revision, model.sha256)
            seen.setdefault(key, {"name": model.name, "backend": model.backend, "revision": model.revision,
                                  "sha256": model.sha256, "remote": model.remote, "records": 0})["records"] += 1
    return list(seen.values())


def _decodings(records: list[Record]) -> list[dict[str, Any]]:
    """Each distinct decoding configuration, with how many records used it."""
    seen: dict[str, dict[str, Any]] = {}
    for record in records:
        decoding = record.provenance.decoding
        if decoding is not None:
            key = decoding.model_dump_json()
            seen.setdefault(key, {"settings": decoding.model_dump(mode="json"), "records": 0})["records"] += 1
    return list(seen.values())


def sample_cards(records: list[Record], texts: list[str], count: int = 6) -> list[dict[str, Any]]:
    """The first `count` synthetic texts with the provenance a reader checks: generator, model, prompt template,
    decoding, seed."""
    cards = []
    for record, text in list(zip(records, texts, strict=False))[:count]:
        p = record.provenance
        facts: dict[str, Any] = {"record": record.id, "generator": f"{p.generator} {p.generator_version}",
                                 "seed": p.seed}
        if p.model is not None:
            facts["model"] = f"{p.model.name} ({p.model.backend}, sha256 {str(p.model.sha256)[:12]})"
        if p.prompt is not None:
            facts["prompt template"] = f"{p.prompt.template_id} ({p.prompt.template_sha256[:12]})"
        if p.decoding is not None:
            facts["decoding"] = ", ".join(f"{k}={v}" for k, v in p.decoding.model_dump(exclude_none=True).items())
        cards.append({"text": text, "provenance": facts})
    return cards
