"""`biosynth image finetune`: LoRA on a Stable Diffusion folder's UNet (and optionally its text encoder)."""
