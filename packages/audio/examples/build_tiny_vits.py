"""Build a tiny two-speaker Coqui VITS with seeded random weights: a mechanism check for the `coqui` voice (it
speaks noise, not words). No Coqui voice can be downloaded here; a real model folder has the same layout.

    python packages/audio/examples/build_tiny_vits.py out/tiny_vits

Writes `model.pth` ({"model": state_dict}, loadable with torch.load(weights_only=True)), `config.json` (with a
`model_license`) and `speakers.json` (nurse: 0, patient: 1). Needs biosynth-audio[coqui].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LICENCE = "CC0-1.0 (random weights built by examples/build_tiny_vits.py)"


def build_tiny_vits(folder: Path, *, seed: int = 0) -> Path:
    """About 0.3 M parameters: 16 hidden channels, one text-encoder layer, one flow, a one-kernel HiFi-GAN decoder."""
    import torch
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "speakers.json").write_text(json.dumps({"nurse": 0, "patient": 1}))
    args = VitsArgs(hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_heads_text_encoder=2,
                    num_layers_text_encoder=1, upsample_initial_channel_decoder=16, resblock_kernel_sizes_decoder=[3],
                    resblock_dilation_sizes_decoder=[[1, 3, 5]], num_layers_flow=1, num_layers_posterior_encoder=1,
                    init_discriminator=False, use_speaker_embedding=True, speaker_embedding_channels=8,
                    speakers_file=str(folder / "speakers.json"))
    config = VitsConfig(model_args=args, audio=BaseAudioConfig(sample_rate=16000), use_phonemes=False,
                        text_cleaner="english_cleaners")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Vits(config)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, "model_license": LICENCE}, indent=2))
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python build_tiny_vits.py OUT_FOLDER")
    print(build_tiny_vits(Path(sys.argv[1])))
