"""The schedulers a recipe may name, mapped to diffusers classes (built from the folder's scheduler config)."""

from __future__ import annotations

from typing import Any, Literal

SchedulerName = Literal["ddim", "ddpm", "pndm", "euler", "euler_a", "dpm++", "dpm++_karras", "lms", "heun", "unipc"]

# name -> (diffusers class, config overrides)
_CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {}),
    "dpm++_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def make_scheduler(name: str, config: Any) -> Any:
    """A scheduler of the named kind with the pipeline's noise schedule (its config)."""
    import diffusers

    class_name, overrides = _CLASSES[name]
    return getattr(diffusers, class_name).from_config(config, **overrides)
