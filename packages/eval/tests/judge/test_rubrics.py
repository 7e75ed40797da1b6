"""Shipped rubrics and prompt templates are versioned: their text is pinned by sha256, so a change without a new
version fails here. A user's rubric file loads with its own hash; judges read image captions and audio
transcripts with their own labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from biosynth.core import (
    AudioPayload,
    AudioSegment,
    ConfigError,
    ImagePayload,
    MediaRef,
    Modality,
    Provenance,
    Record,
)
from biosynth.core.testing import FakeLanguageModel
from biosynth.eval._judge.items import items_from_records
from biosynth.eval._judge.judge import RubricJudge
from biosynth.eval._judge.prompts import GEVAL, PAIRWISE, PROMETHEUS, REPAIR
from biosynth.eval._judge.rubric import ASCLEPIUS, RUBRICS, load_rubric

PINNED = {
    "judge/asclepius/v1": "768a7922a7f310f73449641743e458bc33a1fcd7bda74f47eb8d804e9a98f082",
    "judge/factual_consistency/v1": "ff0b3cfbe9262d096592f8afda08c4cff9fc334d9baff524fb0186081c34bea4",
    "judge/dialogue/v1": "695e67c4cf34dc50d7f1d8e11a622ac11ecaed5dc636c620b770d007b4da47b4",
    "judge/geval/v1": "200a5f60ea3130d6371bfb96c110ce61add31510cc2d925de4c25740229b2d21",
    "judge/prometheus/v1": "526e382325f01708f1d9165caadc700148710365b1c96df6c3be86da194caaea",
    "judge/pairwise/v1": "3f7d323ae7260d20dca72b1b983424e0ef512fbe1b00dcfd35e4f762aefeae72",
    "judge/repair/v1": "3bb0e17cf5c098d728fea7233686c53c744b5b5c5d0f66808ba2823a01aaf399",
}


def test_shipped_rubrics_and_templates_keep_their_text_for_their_version() -> None:
    shipped = {r.id: r.sha256 for r in RUBRICS.values()} | {t.id: t.sha256 for t in (GEVAL, PROMETHEUS, PAIRWISE, REPAIR)}
    assert shipped == PINNED, "a shipped rubric or judge prompt changed: give it a new version (v2) in its id"
    assert [level.label for level in ASCLEPIUS.levels] == ["Unacceptable", "Poor", "Satisfactory", "Excellent"]
    factual = RUBRICS["factual_consistency"]
    assert factual.reference == "source record" and factual.values == (1, 2, 3, 4, 5)


def test_a_rubric_file_loads_with_its_own_hash_and_bad_ones_name_the_field(tmp_path: Path) -> None:
    data = {"id": "judge/radiology/v1", "name": "radiology", "criterion": "Is the impression supported?",
            "steps": ["Read the findings.", "Read the impression."], "subject": "radiology report",
            "levels": [{"value": 0, "label": "No", "description": "unsupported"},
                       {"value": 1, "label": "Yes", "description": "supported"}]}
    path = tmp_path / "radiology.yaml"
    path.write_text(yaml.safe_dump(data))
    rubric = load_rubric(path)
    assert rubric.values == (0, 1) and rubric.sha256 not in PINNED.values()
    path.write_text(yaml.safe_dump({**data, "levels": [data["levels"][1], data["levels"][0]]}))
    with pytest.raises(ConfigError, match="distinct and ascending"):
        load_rubric(path)
    path.write_text(yaml.safe_dump({**data, "id": "radiology"}))
    with pytest.raises(ConfigError, match="judge/<name>/v<N>"):
        load_rubric(path)
    path.write_text("levels: [unclosed")
    with pytest.raises(ConfigError, match="cannot be read as YAML"):
        load_rubric(path)


def _provenance() -> Provenance:
    return Provenance(generator="test", generator_version="0", seed=0)


def test_image_reports_and_audio_transcripts_are_judged_under_their_own_labels() -> None:
    media = MediaRef(path="media/x/x-000000.png", sha256="0" * 64, mime_type="image/png", bytes=10)
    image = Record(id="xray-000000", case_id="c0", modality=Modality.IMAGE, provenance=_provenance(),
                   payload=ImagePayload(media=media, width=8, height=8, caption="Chest x-ray: no consolidation."))
    audio = Record(id="visit-000000", case_id="c0", modality=Modality.AUDIO, provenance=_provenance(),
                   payload=AudioPayload(media=media.model_copy(update={"path": "media/a/a.wav", "mime_type": "audio/wav"}),
                                        sample_rate=16000, duration_s=4.0, segments=(
                                            AudioSegment(start_s=0, end_s=2, speaker="doctor", text="Any chest pain?"),
                                            AudioSegment(start_s=2, end_s=4, speaker="patient", text="No."))))
    items = items_from_records([image, audio])
    assert items[0].text == "Chest x-ray: no consolidation." and items[0].subject.startswith("caption (report)")
    assert items[1].text == "doctor: Any chest pain?\npatient: No." and items[1].subject.startswith("transcript")
    model = FakeLanguageModel(["Feedback: plausible. [RESULT] 4"])
    RubricJudge(model, ASCLEPIUS).grade(items)
    assert "###Caption (report) of a medical image to evaluate:\nChest x-ray" in model.requests[0].messages[1].content
    assert "###Transcript of a clinical audio recording to evaluate:\ndoctor:" in model.requests[1].messages[1].content
    silent = audio.model_copy(update={"payload": audio.payload.model_copy(update={"segments": ()})})
    with pytest.raises(ConfigError, match="no text for a judge to read"):
        items_from_records([silent])
