"""`inpaint`: the masked part of an input image re-drawn by the pipeline with the prompt (a lesion added to a
skin image, a device to a radiograph). The mask is a core `InputFile` (white: re-draw), used in turn by sample
index like the images, or a box given as fractions of the image."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from PIL import Image, ImageDraw
from pydantic import Field, model_validator

from biosynth.core import InputFile, SampleRequest, StepContext
from biosynth.image._image_to_image import ImageInputGenerator, ImageToImageParams
from biosynth.image._input_images import input_image, list_images


class InpaintParams(ImageToImageParams):
    """Parameters of `inpaint`: those of `image_to_image`, and the mask."""

    mask: InputFile | None = Field(None, description="a mask image or folder of masks (white: re-draw)")
    mask_box: tuple[float, float, float, float] | None = Field(
        None, description="instead of `mask`: the box (x0, y0, x1, y1) to re-draw, as fractions of width and height")
    strength: float = Field(1.0, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_mask(self) -> Self:
        if (self.mask is None) == (self.mask_box is None):
            raise ValueError("give exactly one of `mask` (a file or folder) and `mask_box` (x0, y0, x1, y1)")
        if self.mask_box is not None:
            x0, y0, x1, y1 = self.mask_box
            if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
                raise ValueError("mask_box: expected 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        return self


class Inpaint(ImageInputGenerator[InpaintParams]):
    """One image per request: the input image with its masked part re-drawn from the prompt."""

    name = "inpaint"
    task: ClassVar[str] = "inpaint"

    def _task_setup(self, ctx: StepContext) -> None:
        super()._task_setup(ctx)
        self._masks = list_images(self.params.mask, "mask") if self.params.mask is not None else None

    def _task_inputs(self, request: SampleRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        inputs, facts = super()._task_inputs(request)
        image: Image.Image = inputs["image"]
        if self.params.mask is not None and self._masks is not None:
            source = input_image(self._masks, self.params.mask, request.index, "mask", mode="L")
            mask = source.image.resize(image.size, Image.Resampling.NEAREST)
            facts["mask"] = source.facts
        else:
            assert self.params.mask_box is not None
            x0, y0, x1, y1 = self.params.mask_box
            mask = Image.new("L", image.size, 0)
            ImageDraw.Draw(mask).rectangle((round(x0 * image.width), round(y0 * image.height),
                                            round(x1 * image.width) - 1, round(y1 * image.height) - 1), fill=255)
            facts["mask_box"] = list(self.params.mask_box)
        inputs.update(mask_image=mask, width=image.width, height=image.height)
        return inputs, facts
