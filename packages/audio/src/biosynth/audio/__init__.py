"""biosynth audio: text-to-speech voices, a clinical text normaliser, and dialogue scene rendering.

Public names load lazily, so that importing the package does not start torch or a TTS engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biosynth.audio._asr.whisper import WhisperChecker
    from biosynth.audio._scene.generator import SYNTHETIC_MARKER, DialogueAudio
    from biosynth.audio._scene.params import AsrCheck, ChannelParams, DialogueAudioParams, NoiseParams, RoleVoice
    from biosynth.audio._scene.timing import TimingParams
    from biosynth.audio._text.normaliser import ClinicalNormaliser, read_lexicon, shipped_lexicon
    from biosynth.audio._voices.base import Speech, Voice
    from biosynth.audio._voices.coqui import CoquiVoice
    from biosynth.audio._voices.espeak import EspeakVoice
    from biosynth.audio._voices.piper import PiperTTSVoice

_EXPORTS = {
    "AsrCheck": "biosynth.audio._scene.params",
    "ChannelParams": "biosynth.audio._scene.params",
    "ClinicalNormaliser": "biosynth.audio._text.normaliser",
    "CoquiVoice": "biosynth.audio._voices.coqui",
    "DialogueAudio": "biosynth.audio._scene.generator",
    "DialogueAudioParams": "biosynth.audio._scene.params",
    "EspeakVoice": "biosynth.audio._voices.espeak",
    "NoiseParams": "biosynth.audio._scene.params",
    "PiperTTSVoice": "biosynth.audio._voices.piper",
    "RoleVoice": "biosynth.audio._scene.params",
    "SYNTHETIC_MARKER": "biosynth.audio._scene.generator",
    "Speech": "biosynth.audio._voices.base",
    "TimingParams": "biosynth.audio._scene.timing",
    "Voice": "biosynth.audio._voices.base",
    "WhisperChecker": "biosynth.audio._asr.whisper",
    "read_lexicon": "biosynth.audio._text.normaliser",
    "shipped_lexicon": "biosynth.audio._text.normaliser",
}

__all__ = [
    "SYNTHETIC_MARKER", "AsrCheck", "ChannelParams", "ClinicalNormaliser", "CoquiVoice", "DialogueAudio", "DialogueAudioParams",
    "EspeakVoice", "NoiseParams", "PiperTTSVoice", "RoleVoice", "Speech", "TimingParams", "Voice", "WhisperChecker",
    "read_lexicon", "shipped_lexicon",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'biosynth.audio' has no attribute {name!r}")
