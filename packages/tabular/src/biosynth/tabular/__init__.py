"""biosynth tabular: LLM row generators, HALO for longitudinal EHR, SDV adapters."""
