"""The `coqui` voice on a tiny multi-speaker VITS built here from its config (no Coqui voice can be downloaded):
registered as a local component, the licence in provenance, distinct voices by speaker, repeats exactly, rendered in
a scene; checkpoints that need arbitrary unpickling, and pickled speakers files, are refused; XTTS is marked
non-commercial."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from biosynth.core import ComponentKind, ComponentSpec, ConfigError, Group, StepContext, default_registry
from biosynth.core._components import runs_remotely

pytestmark = pytest.mark.skipif(importlib.util.find_spec("TTS") is None,
                                reason="the coqui extra is not installed: pip install 'biosynth-audio[coqui]'")
LICENCE = "CC0-1.0 (random weights built by examples/build_tiny_vits.py)"


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """A 0.3 M-parameter model: one thread (measured 0.07 s an utterance) against two on a busy 2-core machine,
    where torch's threads wait on each other (3 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_vits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny two-speaker VITS that examples/build_tiny_vits.py builds (seeded random weights, ~0.3 M
    parameters), saved as coqui saves a model: model.pth, config.json with a licence, a JSON speakers file."""
    path = Path(__file__).resolve().parents[2] / "examples" / "build_tiny_vits.py"
    spec = importlib.util.spec_from_file_location("biosynth_audio_tiny_vits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.LICENCE == LICENCE
    return module.build_tiny_vits(tmp_path_factory.mktemp("coqui") / "tiny_vits")


def test_a_local_component_with_its_licence_distinct_speakers_and_exact_repeats(tiny_vits: Path, tmp_path: Path) -> None:
    cls = default_registry().get(Group.TTS_VOICES, "coqui")
    assert runs_remotely(cls, {"model": str(tiny_vits)}) is False
    ctx = StepContext(step="voices", seed=1, root=tmp_path)
    nurse = ctx.component(ComponentSpec(kind=ComponentKind.TTS_VOICE, backend="coqui",
                                        params={"model": str(tiny_vits), "speaker": "nurse"}))
    patient = ctx.component(ComponentSpec(kind=ComponentKind.TTS_VOICE, backend="coqui",
                                          params={"model": str(tiny_vits), "speaker": 1}))
    ref = nurse.model_ref
    assert ref.backend == "coqui" and LICENCE in ref.license and "MPL-2.0" in ref.license and len(ref.sha256) == 64
    assert ref.revision == f"sha256:{ref.sha256[:12]}"
    text = "five milligrams at three thirty p m."
    a, b = nurse.component.synthesize(text), nurse.component.synthesize(text)
    c = patient.component.synthesize(text)
    assert a.sample_rate == 16000 and a.duration_s > 0.1
    assert np.array_equal(a.samples, b.samples)  # the same text, speaker and settings: the same samples
    assert not np.array_equal(a.samples[: len(c.samples)], c.samples[: len(a.samples)])  # speaker ids differ
    assert a.settings["text_cleaner"] == "basic_cleaners" and a.settings["non_commercial"] is False
    retry = nurse.component.synthesize(text, seed=3, attempt=1)  # an ASR retry: another rate, other samples
    assert retry.settings["rate"] != 1.0 and len(retry.samples) != len(a.samples)


def test_unknown_speakers_and_unsafe_files_are_refused(tiny_vits: Path, tmp_path: Path) -> None:
    import torch

    from biosynth.audio._voices.coqui import CoquiVoice

    with pytest.raises(ConfigError, match="no speaker 'doctor'"):
        CoquiVoice(str(tiny_vits), speaker="doctor").synthesize("hello")
    with pytest.raises(ConfigError, match="give `speaker`"):
        CoquiVoice(str(tiny_vits)).synthesize("hello")
    unsafe = tmp_path / "unsafe"
    unsafe.mkdir()
    (unsafe / "config.json").write_text((tiny_vits / "config.json").read_text())
    torch.save({"model": {}, "hook": os.getcwd}, unsafe / "model.pth")  # a global that weights_only refuses
    with pytest.raises(ConfigError, match=r"weights_only=True"):
        CoquiVoice(str(unsafe), speaker=0).synthesize("hello")
    meta = json.loads((tiny_vits / "config.json").read_text())
    meta["model_args"]["speakers_file"] = str(tmp_path / "speakers.pth")
    (unsafe / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="not JSON"):
        CoquiVoice(str(unsafe))


def test_xtts_weights_are_marked_non_commercial(tmp_path: Path) -> None:
    from biosynth.audio._voices.coqui import XTTS_LICENSE, CoquiVoice

    (tmp_path / "model.pth").write_bytes(b"not loaded: the licence is read from the config")
    (tmp_path / "config.json").write_text(json.dumps({"model": "xtts", "model_args": {}}))
    voice = CoquiVoice(str(tmp_path))
    assert voice.license == XTTS_LICENSE and voice.non_commercial and "non-commercial" in voice.model_ref.license


def test_a_scene_with_two_coqui_speakers_repeats_byte_for_byte(tiny_vits: Path, tmp_path: Path) -> None:
    from biosynth.core import DialoguePayload, Modality, Provenance, Record, SampleRequest, Turn
    from biosynth.core._generator import generator_class

    dialogue = Record(id="talk-0", case_id="c0", modality=Modality.DIALOGUE,
                      provenance=Provenance(generator="test", generator_version="1", seed=0),
                      payload=DialoguePayload(turns=(Turn(speaker="Nurse", role="nurse", text="Take 5 mg."),
                                                     Turn(speaker="Patient", role="patient", text="Okay."))))
    voice = {"kind": "tts_voice", "backend": "coqui", "params": {"model": str(tiny_vits)}}
    params = {"voice_pool": [{"voice": {**voice, "params": {**voice["params"], "speaker": "nurse"}}},
                             {"voice": {**voice, "params": {**voice["params"], "speaker": "patient"}}}],
              "noise": {"kind": "home", "snr_db": 20}, "format": "wav"}
    cls = generator_class(default_registry(), "dialogue_audio")
    paths = []
    for run in ("a", "b"):
        ctx = StepContext(step="speech", seed=1, root=tmp_path / run)
        [record] = cls(params).generate([SampleRequest(0, 9, dialogue)], ctx)
        assert isinstance(record, Record), record
        paths.append(tmp_path / run / record.payload.media.path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert LICENCE in record.provenance.model.license
    assert record.provenance.extra["turns"][0]["voice"]["backend"] == "coqui"
