"""The language-model row generators: table rows written by a language model.

`prompted` (the `llm_prompted` generator: zero- or few-shot prompts to a core LanguageModel) and
`finetuned` / `finetuned_generator` (the `llm_finetuned` generator: a causal LM trained on rows as
text, sampled with `constrained_decoding`), with what they share: `row_text` (rows as text, GReaT
style), `row_model` (a pydantic model of one row) and `finetuned_tokens` (tokenizers for row text).

Private: the public names are exported by `biosynth.tabular`. Nothing is imported here, so importing
this package loads no model library.
"""
