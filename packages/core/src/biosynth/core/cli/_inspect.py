"""What `biosynth inspect` reports about a dataset folder."""

from __future__ import annotations

import graphlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from biosynth.core._dataset import SyntheticDataset
from biosynth.core._errors import DatasetError
from biosynth.core._records import (
    AudioPayload,
    DialoguePayload,
    ImagePayload,
    QAPayload,
    Record,
    TableRowPayload,
    TextPayload,
    VisitSequencePayload,
)
from biosynth.core._store import table_to_records


def describe_dataset(path: Path) -> dict[str, Any]:
    dataset = SyntheticDataset(path)
    manifest = dataset.manifest
    models: Counter[str] = Counter()
    strategies: Counter[str] = Counter()
    templates: Counter[str] = Counter()
    decoding: Counter[str] = Counter()
    if dataset.complete:  # a missing or damaged records file is a DatasetError that names it
        for raw in dataset.read_records(["provenance"]).column("provenance").to_pylist():
            prov = json.loads(raw)
            if prov.get("model"):
                m = prov["model"]
                weights = (m.get("sha256") or "-")[:12]
                models[f"{m['name']} ({m['backend']}, rev {m.get('revision') or '-'}, sha256 {weights})"] += 1
            strategies.update(prov.get("strategy") or [])
            if prov.get("prompt"):
                templates[f"{prov['prompt']['template_id']} sha256 {prov['prompt']['template_sha256'][:12]}"] += 1
            elif prov.get("extra", {}).get("template_id"):
                templates[f"{prov['extra']['template_id']} sha256 {prov['extra']['template_sha256'][:12]}"] += 1
            if prov.get("decoding"):
                decoding[json.dumps(prov["decoding"], sort_keys=True)] += 1
    return {
        "path": str(path), "recipe": manifest.recipe.get("name"), "seed": manifest.seed,
        "status": manifest.status, "requested": manifest.requested, "produced": manifest.produced,
        "failed": manifest.failed, "removed": manifest.removed, "skipped_steps": manifest.skipped_steps,
        "steps": {name: step.model_dump(exclude={"failures", "removed_samples"}) for name, step in manifest.steps.items()},
        "provenance": {"models": dict(models), "strategies": dict(strategies),
                       "prompt_templates": dict(templates), "decoding": dict(decoding)},
        "inputs": [fp.model_dump() for fp in manifest.inputs],
        "policy_decisions": manifest.policy_decisions,
        "schema": manifest.schema_.get("records", {}),
        "environment": {"python": manifest.environment.python, "torch": manifest.environment.torch,
                        "biosynth": manifest.environment.biosynth},
        "problems": dataset.verify() if dataset.complete else ["run unfinished"],
    }


EXCERPT_CHARS = 100


def describe_case(path: Path, case_id: str) -> dict[str, Any]:
    """One synthetic case as a story: its records in order of derivation (parents before children, then in the
    recipe's step order), each with its step, generator, model, parents and a short excerpt of its payload."""
    dataset = SyntheticDataset(path)
    if not dataset.complete:
        raise DatasetError(f"dataset {str(path)!r} is unfinished; resume it with `biosynth run ... --resume`")
    table = dataset.read_records()
    case_ids = table.column("case_id")
    known = pc.unique(case_ids).to_pylist()
    if case_id not in known:
        shown = ", ".join(sorted(known)[:10]) + (f" (and {len(known) - 10} more)" if len(known) > 10 else "")
        raise DatasetError(f"no case {case_id!r} in {str(path)!r}; its {len(known)} cases include: {shown or 'none'}")
    records = table_to_records(table.filter(pc.equal(case_ids, case_id)))
    step_order = {name: i for i, name in enumerate(s["name"] for s in dataset.manifest.recipe.get("steps", []))}
    ordered = _derivation_order(records, step_order)
    return {
        "path": str(path), "recipe": dataset.manifest.recipe.get("name"), "case_id": case_id,
        "records": [_story_line(r) for r in ordered],
        "failures": _case_failures(dataset, table, case_id),
        "skipped_steps": dataset.manifest.skipped_steps,
    }


def _case_failures(dataset: SyntheticDataset, table: Any, case_id: str) -> list[dict[str, Any]]:
    """The case's failed samples: a derived step's sample i came from record i // per_input of its `from` step
    (that step's records in index order, cut at `take`, as the runner fed them); a new sample's case is its default
    `case-<step>-<index>`."""
    steps = {s["name"]: s for s in dataset.manifest.recipe.get("steps", [])}
    found: list[dict[str, Any]] = []
    for name, summary in dataset.manifest.steps.items():
        if not summary.failures:
            continue
        step = steps.get(name, {})
        source = step.get("from")
        inputs: list[tuple[str, str]] = []
        if source:
            rows = table.filter(pc.equal(table.column("step"), source)).sort_by("index")
            inputs = list(zip(rows.column("id").to_pylist(), rows.column("case_id").to_pylist(), strict=True))
            inputs = inputs[: step.get("take") or len(inputs)]
        for failure in summary.failures:
            if source:
                position = failure.index // int(step.get("per_input") or 1)
                if position >= len(inputs) or inputs[position][1] != case_id:
                    continue
                origin = inputs[position][0]
            elif f"case-{name}-{failure.index:06d}" == case_id:
                origin = None
            else:
                continue
            found.append({"step": name, "index": failure.index, "from": origin, "reason": failure.reason,
                          "attempts": failure.attempts})
    return found


def _derivation_order(records: list[Record], step_order: dict[str, int]) -> list[Record]:
    """Topological order over `parents` inside the case; ties by the recipe's step order, then record id."""
    by_id = {r.id: r for r in records}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for record in records:
        sorter.add(record.id, *(p for p in record.parents if p in by_id))
    sorter.prepare()

    def rank(record_id: str) -> tuple[int, str]:
        return step_order.get(by_id[record_id].provenance.step or "", len(step_order)), record_id

    ordered: list[Record] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=rank)
        ordered.extend(by_id[i] for i in ready)
        sorter.done(*ready)
    return ordered


def _story_line(record: Record) -> dict[str, Any]:
    prov = record.provenance
    model = None
    if prov.model is not None:
        m = prov.model
        model = {"name": m.name, "backend": m.backend, "revision": m.revision,
                 "sha256": m.sha256[:12] if m.sha256 else None}
    return {"id": record.id, "step": prov.step, "modality": record.modality.value, "generator": prov.generator,
            "generator_version": prov.generator_version, "model": model, "parents": list(record.parents),
            "labels": dict(record.labels), "excerpt": payload_excerpt(record)}


def payload_excerpt(record: Record) -> str:
    """A short line about a record's payload: a text's first line, a row's key values, a history's size, a media
    file's path with its size or duration."""
    payload = record.payload
    if isinstance(payload, TextPayload | QAPayload):
        return _cut(next((line.strip() for line in payload.text.splitlines() if line.strip()), ""))
    if isinstance(payload, DialoguePayload):
        first = payload.turns[0] if payload.turns else None
        return _cut(f"{len(payload.turns)} turns" + (f"; {first.speaker}: {first.text}" if first else ""))
    if isinstance(payload, TableRowPayload):  # the record's labels lead: they are the row's key values
        keys = [*[k for k in record.labels if k in payload.values], *[k for k in payload.values if k not in record.labels]]
        shown = [f"{k}={payload.values[k]}" for k in keys if payload.values[k] not in (None, "")]
        return _cut(f"{payload.table}: " + ", ".join(shown))
    if isinstance(payload, VisitSequencePayload):
        codes = sum(len(v.codes) for v in payload.visits)
        static = ", ".join(f"{k}={v}" for k, v in payload.static.items() if v is not None)
        return _cut(f"{len(payload.visits)} visits, {codes} codes ({payload.vocabulary or 'codes'}); {static}")
    if isinstance(payload, ImagePayload):
        return f"{payload.media.path} ({payload.width}x{payload.height}, {payload.media.bytes} bytes)"
    if isinstance(payload, AudioPayload):
        return (f"{payload.media.path} ({payload.duration_s:.1f} s, {payload.sample_rate} Hz, "
                f"{len(payload.segments)} segments, {payload.media.bytes} bytes)")
    return payload.kind  # pragma: no cover - every payload kind is handled above


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def case_story_lines(story: dict[str, Any]) -> list[str]:
    """`describe_case`'s story as text lines: a numbered record per line pair, parents named by their number."""
    records = story["records"]
    number = {r["id"]: i for i, r in enumerate(records, 1)}
    lines = [f"case {story['case_id']} in {story['path']} (recipe {story['recipe']!r}): {len(records)} records"]
    for i, r in enumerate(records, 1):
        model = r["model"]
        made_with = f"{r['generator']} {r['generator_version']}"
        if model:
            made_with += (f", model {model['name']} ({model['backend']}"
                          f"{', rev ' + model['revision'] if model['revision'] else ''}"
                          f"{', sha256 ' + model['sha256'] if model['sha256'] else ''})")
        origin = ", ".join(f"#{number[p]} {p}" if p in number else p for p in r["parents"]) or "nothing (first)"
        lines.append(f"{i}. {r['id']} [{r['modality']}] step {r['step']}: {made_with}; from {origin}")
        lines.append(f"   {r['excerpt']}")
    for failure in story["failures"]:
        origin = f" from {failure['from']}" if failure["from"] else ""
        lines.append(f"failed: step {failure['step']} sample {failure['index']}{origin} after {failure['attempts']} "
                     f"attempt(s): {_cut(failure['reason'])}")
    for name, reason in story["skipped_steps"].items():
        lines.append(f"skipped step {name}: {reason}")
    return lines
