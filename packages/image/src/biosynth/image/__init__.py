"""biosynth image: diffusion pipelines and prompt writing for medical images."""
