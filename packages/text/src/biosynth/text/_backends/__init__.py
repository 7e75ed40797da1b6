"""Language-model backends (transformers, llama.cpp, OpenAI-compatible servers), the embedded SmolLM2
default model, GGUF checks and the batched, seeded sampling loop.

No re-exports here: each backend module is imported on its own, so that loading a light backend (e.g.
the `openai` one) does not import torch and transformers.
"""
