"""Reading audio to evaluate: synthetic audio records (and their transcript attachments) from a biosynth dataset,
real recordings from a folder (each with an optional transcript beside it) or another dataset folder."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.core import AudioPayload, DatasetError, InputDataError, Record, SyntheticDataset

RATE = 16000  # every measure here works on 16 kHz mono (Whisper's and the speaker encoder's rate)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class Utterance:
    """One turn of a clip: who speaks, when (seconds from the clip's start), the script, and the form an ASR
    transcript is scored against (the spoken form with drug names as written, where the generator recorded it)."""

    speaker: str
    start: float
    end: float
    text: str
    reference: str


@dataclass
class Clip:
    """One recording: where it is, its turns (none when only a whole-clip transcript or none is known), and what
    its scene asked for (channel, noise, SNR) and recorded having reached."""

    id: str
    path: Path
    duration: float
    utterances: tuple[Utterance, ...] = ()
    transcript: str | None = None
    channel: str = "unknown"
    noise: str | None = None
    snr_asked: float | None = None
    snr_recorded: dict[str, Any] | None = None
    _samples: np.ndarray | None = field(default=None, repr=False)

    @property
    def condition(self) -> str:
        """The channel condition a clip was rendered under, e.g. 'telephone, ambulance noise at 15 dB'."""
        noise = "no noise" if self.noise in (None, "none") else f"{self.noise} noise at {self.snr_asked:g} dB"
        return f"{self.channel}, {noise}"

    @property
    def words(self) -> int:
        """Words of the script (turns) or of the whole-clip transcript."""
        if self.utterances:
            return sum(len(u.text.split()) for u in self.utterances)
        return len(self.transcript.split()) if self.transcript else 0

    def samples(self) -> np.ndarray:
        """The clip as 16 kHz mono float32 (read once, then kept)."""
        if self._samples is None:
            self._samples = load_audio(self.path)
        return self._samples

    def cut(self, start: float, end: float, pad: float = 0.0) -> np.ndarray:
        x = self.samples()
        return x[max(0, round((start - pad) * RATE)):min(len(x), round((end + pad) * RATE))]


def load_audio(path: Path, what: str = "audio file") -> np.ndarray:
    """A WAV/FLAC/OGG file as 16 kHz mono float32: channels averaged, resampled with SciPy's polyphase filter
    (`resample_poly`, a kept implementation: eval's audio extra does not need torch for this)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as err:
        raise InputDataError(f"{what} {str(path)!r} cannot be read as WAV, FLAC or OGG: {err}") from None
    mono = data.mean(axis=1)
    if int(rate) != RATE:
        g = math.gcd(int(rate), RATE)
        mono = resample_poly(mono, RATE // g, int(rate) // g).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def holds_audio(dataset: SyntheticDataset, step: str | None = None) -> bool:
    """Whether the chosen step (or the dataset) holds audio records. Checked before text: a step of spoken
    dialogues holds audio, whatever else its records carry."""
    return any(isinstance(r.payload, AudioPayload) for r in dataset.records(step))


def synthetic_audio(dataset: SyntheticDataset, step: str | None = None) -> tuple[list[Clip], list[Record]]:
    """The audio records of a dataset (optionally one step) as clips; turns come from each record's transcript
    attachment (biosynth-audio's per-turn JSON), else from the payload's timed segments."""
    records = [r for r in dataset.records(step) if isinstance(r.payload, AudioPayload)]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no audio records in {where} "
                           f"(steps: {list(dataset.manifest.steps)})")
    return [_clip(dataset.root, record) for record in records], records


def _clip(root: Path, record: Record) -> Clip:
    payload = record.payload
    assert isinstance(payload, AudioPayload)
    path = root / payload.media.path
    if not path.is_file():
        raise DatasetError(f"record {record.id}: its audio {payload.media.path!r} is missing from {str(root)!r}")
    extra = record.provenance.extra
    scene = extra.get("scene") if isinstance(extra.get("scene"), dict) else {}
    noise = scene.get("noise") or {}
    transcript = next((a for a in payload.attachments if a.path.endswith(".transcript.json")), None)
    if transcript is not None:
        utterances = _turns(_read_json(root / transcript.path, f"record {record.id}'s transcript"),
                            f"record {record.id}'s transcript {transcript.path!r}")
    else:
        utterances = tuple(Utterance(s.speaker or "unknown", s.start_s, s.end_s, s.text or "", s.text or "")
                           for s in payload.segments)
    return Clip(id=record.id, path=path, duration=payload.duration_s, utterances=utterances,
                channel=str((scene.get("channel") or {}).get("kind", "unknown")),
                noise=noise.get("kind"), snr_asked=noise.get("snr_db") if noise.get("kind") not in (None, "none") else None,
                snr_recorded=noise.get("achieved"))


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{what} {str(path)!r} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputDataError(f"{what} {str(path)!r} is not a JSON file: {err}") from None


def _turns(document: Any, where: str) -> tuple[Utterance, ...]:
    """Turns of a transcript JSON: {"turns": [{"speaker", "start", "end", "text", ...}, ...]} (biosynth-audio's
    shape; `reference_text` is used when present)."""
    turns = document.get("turns") if isinstance(document, dict) else None
    if not isinstance(turns, list):
        raise InputDataError(f"{where}: expected a JSON object with a list 'turns', each with speaker, start, end "
                             "and text")
    out = []
    for i, turn in enumerate(turns):
        try:
            start, end, text = float(turn["start"]), float(turn["end"]), str(turn["text"])
        except (KeyError, TypeError, ValueError):
            raise InputDataError(f"{where}: turn {i} needs numeric 'start' and 'end' (seconds) and a 'text'; got "
                                 f"{turn!r}"[:400]) from None
        if not 0 <= start <= end:
            raise InputDataError(f"{where}: turn {i} has start {start} and end {end}; expected 0 <= start <= end")
        out.append(Utterance(str(turn.get("speaker", "unknown")), start, end, text,
                             str(turn.get("reference_text") or text)))
    return tuple(out)


def read_real_audio(path: str | Path, role: str = "--real") -> list[Clip]:
    """Real recordings: a biosynth dataset folder of audio records, or a folder of .wav/.flac/.ogg files (sub-folders
    included, sorted by path), each optionally with a transcript beside it: `<name>.json` (turns with speaker,
    start, end, text, as biosynth-audio writes) or `<name>.txt` (the whole clip's words)."""
    import soundfile as sf

    folder = Path(path)
    if not folder.is_dir():
        kind = "a file" if folder.exists() else "missing"
        raise InputDataError(f"{role} {str(folder)!r} is {kind}; for audio expected a folder of .wav/.flac/.ogg "
                             "recordings (each optionally with a <name>.json or <name>.txt transcript) or a biosynth "
                             "dataset folder of audio records")
    if (folder / "manifest.json").is_file():
        clips, _ = synthetic_audio(SyntheticDataset(folder))
        return clips
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise InputDataError(f"{role} folder {str(folder)!r} holds no .wav, .flac or .ogg files")
    clips = []
    for file in files:
        try:
            info = sf.info(str(file))
        except (OSError, RuntimeError, sf.LibsndfileError) as err:
            raise InputDataError(f"{role} file {str(file)!r} cannot be read as WAV, FLAC or OGG: {err}") from None
        if info.frames == 0:
            raise InputDataError(f"{role} file {str(file)!r} holds no audio")
        stem = file.with_suffix("")
        json_file, text_file = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".txt")
        utterances: tuple[Utterance, ...] = ()
        transcript = None
        if json_file.is_file():
            utterances = _turns(_read_json(json_file, f"{role} transcript"), f"{role} transcript {str(json_file)!r}")
        elif text_file.is_file():
            try:
                transcript = text_file.read_text(encoding="utf-8").strip() or None
            except (OSError, UnicodeDecodeError) as err:
                raise InputDataError(f"{role} transcript {str(text_file)!r} is not UTF-8 text: {err}") from None
        clips.append(Clip(id=str(file.relative_to(folder)), path=file, duration=info.frames / info.samplerate,
                          utterances=utterances, transcript=transcript, channel="real"))
    return clips
