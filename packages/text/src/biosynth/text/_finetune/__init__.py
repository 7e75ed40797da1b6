"""Fine-tuning (`biosynth text finetune`): configuration, corpora, encoding, training, the model card
with the training provenance, and the `finetuned_text` generator that samples from the result.

No re-exports here: `config.py` and `data.py` stay light (no torch import) so that the CLI can check
options and data before `training.py` loads torch and transformers.
"""
