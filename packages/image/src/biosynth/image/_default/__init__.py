"""The offline default: a small class-conditional diffusion model (diffusers' `UNet2DModel` + DDPM) that biosynth
trains from scratch on a folder of images (`biosynth image train-default`) and samples from (`class_to_image`)."""
