"""Longitudinal EHR: patients as sequences of visits of codes, in and out of OMOP, and HALO.

`omop` loads an OMOP CDM database (DuckDB; Eunomia) into patients and `omop_writer` writes patients
back as OMOP-shaped tables; `halo`, `halo_network` and `halo_vocab` fit, sample, save and load HALO
(Theodorou et al., 2023), and `halo_generator` is the `halo` generator over a saved model folder.

Private: the public names are exported by `biosynth.tabular`. Nothing is imported here, so importing
this package loads neither torch nor duckdb.
"""
