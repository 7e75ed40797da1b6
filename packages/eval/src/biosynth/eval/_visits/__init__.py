"""Visit-sequence metrics: synthetic patients' visit histories (longitudinal EHR, each visit a set of codes) against
real ones.

HALO's R² measures (code prevalence, within-visit pairs and consecutive-visit pairs, per patient and per visit) and
the visit-count and codes-per-visit distributions, run together by the visit-sequence suite.
"""
