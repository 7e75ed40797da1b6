"""`image_to_image`: each image is an input image re-drawn by the pipeline with the prompt (SDEdit-style; the
`strength` says how far from the input it may go).

The input is a core `InputFile` (a file, or a folder whose images are used in turn by sample index: real data by
default, fingerprinted, under the policy), or, without `image`, the image of the parent record (`from:` an
image step)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import Field

from biosynth.core import GenerationError, InputFile, SampleRequest, StepContext
from biosynth.image._diffusion import DiffusionGenerator, DiffusionParams
from biosynth.image._input_images import SourceImage, fit, input_image, list_images, parent_image


class ImageToImageParams(DiffusionParams):
    """Parameters of `image_to_image`."""

    image: InputFile | None = Field(None, description="an image file or folder (PNG, JPEG, TIFF, DICOM); without it, "
                                                      "the parent record's image")
    strength: float = Field(0.6, gt=0.0, le=1.0, description="how much of the input is re-drawn (1: all of it)")


P = TypeVar("P", bound=ImageToImageParams)


class ImageInputGenerator(DiffusionGenerator[P]):
    """Base of the generators that start from an input image (`image_to_image`, `inpaint`)."""

    def _task_setup(self, ctx: StepContext) -> None:
        self._files = list_images(self.params.image, "image") if self.params.image is not None else None
        self._root = ctx.root

    def _source(self, request: SampleRequest) -> SourceImage:
        if self.params.image is not None and self._files is not None:
            return input_image(self._files, self.params.image, request.index, "image")
        if request.input is None:
            raise GenerationError(f"{self.name}: give `image` (a file or folder), or `from:` a step of image records")
        return parent_image(request.input, self._root)

    def _task_inputs(self, request: SampleRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        source = self._source(request)
        image = fit(source.image, self.params.width, self.params.height)
        return {"image": image, "strength": self.params.strength}, {"input_image": source.facts,
                                                                    "strength": self.params.strength}


class ImageToImage(ImageInputGenerator[ImageToImageParams]):
    """One image per request from an input image and the prompt, with a generator seeded from the sample's seed."""

    name = "image_to_image"
    task: ClassVar[str] = "image_to_image"
