"""biosynth image: diffusion pipelines and prompt writing for medical images.

Nothing here imports torch or diffusers: they load when a pipeline component is built (the `diffusers`
extra), so the package and its entry points install and list without them.
"""

from biosynth.image._components import DiffusersPipeline, LoraAdapter
from biosynth.image._default.generator import ClassToImage, ClassToImageParams
from biosynth.image._default.model import DefaultDiffusionModel
from biosynth.image._dicom import DicomParams, read_dicom_provenance
from biosynth.image._image_to_image import ImageToImage, ImageToImageParams
from biosynth.image._inpaint import Inpaint, InpaintParams
from biosynth.image._png import PROVENANCE_KEY, encode_png, read_png_provenance
from biosynth.image._text_to_image import TextToImage, TextToImageParams

__all__ = [
    "PROVENANCE_KEY", "ClassToImage", "ClassToImageParams", "DefaultDiffusionModel", "DicomParams", "DiffusersPipeline",
    "ImageToImage", "ImageToImageParams", "Inpaint", "InpaintParams", "LoraAdapter", "TextToImage", "TextToImageParams",
    "encode_png", "read_dicom_provenance", "read_png_provenance",
]
