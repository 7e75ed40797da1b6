"""`text_to_image`: images from a Stable Diffusion folder, one per request, prompted from attributes, labels
or a parent record (optionally written by a language model)."""

from __future__ import annotations

from typing import ClassVar

from biosynth.image._diffusion import DiffusionGenerator, DiffusionParams


class TextToImageParams(DiffusionParams):
    """Parameters of `text_to_image` (all shared with the other diffusion generators)."""


class TextToImage(DiffusionGenerator[TextToImageParams]):
    """One image per request from the prompt, with a `torch.Generator` seeded from the sample's seed.

    With `from:`, the parent record's text, labels and fields fill the prompt template; the image record
    keeps the parent's labels, so text generators can in turn describe the image (`from:` this step).
    """

    name = "text_to_image"
    task: ClassVar[str] = "text_to_image"
