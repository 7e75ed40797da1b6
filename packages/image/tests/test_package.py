"""biosynth-image installs beside core alone; its entry points list without torch or diffusers."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

import biosynth.image


def test_installs_as_part_of_the_biosynth_namespace() -> None:
    assert biosynth.image.__file__ is not None and biosynth.image.__file__.endswith("biosynth/image/__init__.py")
    requires = md.requires("biosynth-image") or []
    assert any(r.startswith("biosynth-core") for r in requires)
    assert not any(r.startswith(("torch", "diffusers")) and "extra ==" not in r for r in requires)


def test_registers_its_generators_and_components() -> None:
    mine = {(ep.group, ep.name) for group in ("biosynth.generators", "biosynth.diffusion_pipelines",
                                              "biosynth.lora_adapters", "biosynth.cli")
            for ep in md.entry_points(group=group) if ep.dist is not None and ep.dist.name == "biosynth-image"}
    assert {("biosynth.generators", "text_to_image"), ("biosynth.diffusion_pipelines", "diffusers"),
            ("biosynth.lora_adapters", "safetensors"), ("biosynth.generators", "image_to_image"),
            ("biosynth.generators", "inpaint"), ("biosynth.cli", "image"), ("biosynth.generators", "class_to_image"),
            ("biosynth.diffusion_pipelines", "biosynth_ddpm")} <= mine


def test_importing_the_package_does_not_import_torch() -> None:
    code = ("import sys, biosynth.image, biosynth.image._cli, biosynth.image._finetune.training, "
            "biosynth.image._default.train; "
            "print(sorted({'torch', 'diffusers', 'pydicom'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
