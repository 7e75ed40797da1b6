"""What `biosynth inspect` reports about a dataset folder."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from biosynth.core._dataset import SyntheticDataset


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
