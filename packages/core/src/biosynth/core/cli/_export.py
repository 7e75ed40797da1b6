"""`biosynth export DATASET --to FORMAT --out DIR`: exporters found by entry point (`biosynth.exporters`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from biosynth.core._errors import BiosynthError
from biosynth.core._export._base import export_dataset, exporter_names
from biosynth.core._export._folder import ExportError
from biosynth.core._registry import Group, default_registry

out = Console(highlight=False, soft_wrap=True, markup=False)


def export(
    dataset: Annotated[Path, typer.Argument(help="dataset folder written by `biosynth run`")],
    to: Annotated[str | None, typer.Option("--to", "-t", help="export format (omit to list the installed ones)")]
    = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="new or empty folder to write")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-O", help="exporter option KEY=VALUE "
                                                     "(repeatable), e.g. -O version=R4B")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace an earlier biosynth export in --out")] = False,
) -> None:
    """Export DATASET to a format users live in (FHIR, OMOP, DICOM, ...): one folder, stamped with its source."""
    if to is None:
        _list_formats()
        raise typer.Exit(0 if exporter_names() else 2)
    if out_dir is None:
        raise ExportError("--out DIR is required: the new or empty folder to write the export into")
    options = _parse_options(option or [])
    result = export_dataset(dataset, to, out_dir, options=options, overwrite=overwrite)
    facts = ", ".join(f"{k} {v}" for k, v in result.facts.items() if isinstance(v, int | float) or k == "version")
    out.print(f"{result.format}: {len(result.files)} files -> {result.out}" + (f" ({facts})" if facts else ""))


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ExportError(f"--option {pair!r} must look like KEY=VALUE")
        if key.strip() in options:
            raise ExportError(f"--option {key.strip()!r} is given twice")
        options[key.strip()] = value
    return options


def _list_formats() -> None:
    registry = default_registry()
    names = registry.names(Group.EXPORTERS)
    if not names:
        out.print("no exporters are installed (biosynth-core[fhir], biosynth-tabular, biosynth-image provide some)")
        return
    out.print("Installed export formats (biosynth export DATASET --to FORMAT --out DIR)")
    for name in names:
        try:
            cls = registry.get(Group.EXPORTERS, name)
            line = getattr(cls, "description", "")
        except BiosynthError as err:  # a plugin that fails to load is reported, not fatal to the listing
            line = f"FAILED to load: {err}"
        out.print(f"  {name:<14} {line}")
