"""Paired text through recipes alone (ChatFFA's pattern): a text generator writes question-answer pairs about
each image from its labels and the caption it was drawn from; no package imports another."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from biosynth.core import ImagePayload, QAPayload, SyntheticDataset, parse_recipe, run_recipe

ROOT = Path(__file__).resolve().parents[1]


def _tiny_pipeline(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("build_tiny_pipeline",
                                                  ROOT / "packages" / "image" / "examples" / "build_tiny_pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_pipeline(folder)


def test_questions_about_each_image_name_it_as_their_parent(tmp_path: Path) -> None:
    pipeline = _tiny_pipeline(tmp_path / "tiny-sd")
    answer = json.dumps({"question": "Which side is the effusion on?", "answer": "The left."})
    recipe = parse_recipe({"name": "image-qa", "seed": 3, "steps": [
        {"name": "patients", "generator": "attributes", "count": 3, "params": {
            "table": "patients", "attributes": {"finding": ["small left pleural effusion", "cardiomegaly"]},
            "label_columns": ["finding"]}},
        {"name": "xrays", "generator": "text_to_image", "from": "patients", "params": {
            "pipeline": str(pipeline), "prompt": {"template": "a frontal chest x-ray, $finding", "template_id": "t/v1"},
            "steps": 2, "width": 32, "height": 32}},
        {"name": "questions", "generator": "qa", "from": "xrays", "params": {
            "model": {"backend": "fake", "params": {"responses": [answer]}}}},
    ]})
    run_recipe(recipe, tmp_path / "ds")
    ds = SyntheticDataset(tmp_path / "ds")
    assert ds.verify() == []
    images = {r.id: r for r in ds.records("xrays")}
    questions = list(ds.records("questions"))
    assert len(images) == 3 and len(questions) == 3
    for record in questions:
        assert isinstance(record.payload, QAPayload) and record.payload.answer == "The left."
        [parent] = record.parents
        image = images[parent]
        assert isinstance(image.payload, ImagePayload) and record.case_id == image.case_id
        prompt = record.provenance.prompt
        assert prompt is not None and prompt.rendered is not None
        assert image.payload.caption in prompt.rendered  # the question was asked about this image's caption
        assert image.labels["finding"] in prompt.rendered
