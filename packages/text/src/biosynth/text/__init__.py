"""biosynth text: LLM backends and clinical text generators."""
