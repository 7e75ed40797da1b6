"""Exports: the exporter protocol and framework (`_base`), target folders (`_folder`), shared identifiers
(`_identifiers`), and the exporters core ships (FHIR)."""
