"""biosynth eval: one evaluation for every modality (fidelity, diversity, utility, privacy, memorisation, factuality)."""
