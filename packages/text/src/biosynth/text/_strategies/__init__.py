"""Prompting strategies shared by the text generators: few-shot examples, retrieval-augmented passages,
chain-of-thought, and their assembly around a generator's own prompt (`assembly.py`).

No re-exports here: import from the modules themselves.
"""
