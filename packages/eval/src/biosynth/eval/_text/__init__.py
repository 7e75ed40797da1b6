"""Text metrics: a corpus of synthetic texts against a corpus of real texts (lists of strings).

Diversity (distinct-n, self-BLEU, embedding similarity, lengths), fidelity in embedding space (Fréchet distance,
MAUVE), memorisation and PHI-like patterns, factuality against ICD-10-CM and HPO, label consistency, and perplexity
under a reference language model, run together by the text suite.
"""
