"""Build a tiny Stable Diffusion folder with random weights for trying biosynth-image offline.

    python packages/image/examples/build_tiny_pipeline.py packages/image/examples/tiny-sd
    python packages/image/examples/build_tiny_pipeline.py --sdxl packages/image/examples/tiny-sdxl

The default is an SD 1.x layout (about 1.2M parameters); `--sdxl` writes an SDXL layout (two text encoders,
the second with a projection, and a UNet conditioned on the pooled text embedding and the size/crop ids).
Their images are noise: they exercise the machinery (prompts, seeds, LoRA, PNG/DICOM output, provenance), not
quality. For real images, point a recipe's `pipeline` at a Stable Diffusion folder saved by diffusers
(safetensors), e.g. one you downloaded elsewhere and copied here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _byte_symbols() -> list[str]:
    """CLIP's byte-to-unicode table (the 256 symbols its byte-level BPE starts from)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def _tiny_tokenizer(**options: Any) -> tuple[Any, dict[str, int]]:
    """A CLIP tokenizer made in memory (no download) over the byte symbols and two merges, and its vocabulary."""
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    merges = [("t", "h"), ("th", "e</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77, **options), vocab


def _text_config(vocab: dict[str, int], **more: Any) -> Any:
    """A 2-layer CLIP text encoder config of width 32 over `vocab`."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=1,
                          hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                          vocab_size=len(vocab), max_position_embeddings=77, **more)


def _tiny_vae(size: int) -> Any:
    """An AutoencoderKL with 2 blocks (latents at half the image size, 4 channels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=8, sample_size=size)


def _tiny_unet(size: int, **more: Any) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=size // 2, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=4, **{"cross_attention_dim": 32, **more})


def build_tiny_pipeline(folder: Path, *, seed: int = 0, size: int = 32) -> Path:
    """A StableDiffusionPipeline (SD 1.x layout) built from configs (no download), saved to `folder` with safetensors."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextModel

    tokenizer, vocab = _tiny_tokenizer()
    torch.manual_seed(seed)
    unet = _tiny_unet(size)
    vae = _tiny_vae(size)
    text_encoder = CLIPTextModel(_text_config(vocab))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_sdxl_pipeline(folder: Path, *, seed: int = 0, size: int = 32) -> Path:
    """A StableDiffusionXLPipeline built from configs (no download), saved to `folder` with safetensors.

    As in diffusers' own SDXL tests: the UNet's cross-attention takes both encoders' hidden states side by side
    (32 + 32), and its `text_time` embedding takes the second encoder's pooled projection (32) plus the six
    size/crop ids (original size, crop top-left, target size), each embedded in 8 dimensions: 6 * 8 + 32 = 80.
    The second tokenizer pads with "!", as SDXL's does; the scheduler is SDXL's Euler with "leading" spacing.
    """
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    time_dim, projection_dim = 8, 32
    tokenizer, vocab = _tiny_tokenizer()
    tokenizer_2, _ = _tiny_tokenizer(pad_token="!")
    torch.manual_seed(seed)
    unet = _tiny_unet(size, cross_attention_dim=64, use_linear_projection=True, addition_embed_type="text_time",
                      addition_time_embed_dim=time_dim,
                      projection_class_embeddings_input_dim=6 * time_dim + projection_dim)
    vae = _tiny_vae(size)
    text_encoder = CLIPTextModel(_text_config(vocab))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(vocab, projection_dim=projection_dim))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(unet=unet, vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="where to save (default: examples/tiny-sd or tiny-sdxl)")
    parser.add_argument("--sdxl", action="store_true", help="an SDXL layout instead of SD 1.x")
    args = parser.parse_args()
    target = args.folder or Path(__file__).parent / ("tiny-sdxl" if args.sdxl else "tiny-sd")
    print((build_tiny_sdxl_pipeline if args.sdxl else build_tiny_pipeline)(target))
