"""`biosynth review export | import | agreement`: the CLI plugin (entry point group biosynth.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from biosynth.core import SyntheticDataset

LOCAL_FILES = "/data/local-files/?d="  # label_studio.LOCAL_FILES_URL, not imported: every `biosynth` command loads this

app = typer.Typer(help="Human review: export review tasks to Label Studio or Argilla, import the completed export, "
                       "and measure agreement (reviewers, and reviewers against LLM judges).", no_args_is_help=True)


@app.command("export")
def export_command(
    dataset: Annotated[Path, typer.Argument(help="a biosynth dataset folder (from `biosynth run`)")],
    to: Annotated[str, typer.Option("--to", help="label-studio or argilla")],
    out: Annotated[Path, typer.Option("--out", help="the review folder to write (new, or an earlier export of "
                                                    "biosynth's without imported annotations)")],
    step: Annotated[str | None, typer.Option("--step", help="the step whose records to review")] = None,
    criteria: Annotated[Path | None, typer.Option(
        "--criteria", help="a .json/.yaml file of criteria ({name, question, scores, labels?, ordinal?}); default: "
                           "Asclepius' 4-level quality scale")] = None,
    judge_results: Annotated[Path | None, typer.Option(
        "--judge-results", help="LLM-judge scores to show as predictions/suggestions (a JSON/JSONL of {record_id, "
                                "criterion, score, judge} rows, or a biosynth report.json with judge results)")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="review this many records, drawn at random")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="seed of the --limit draw")] = 0,
    media_url: Annotated[str, typer.Option(
        "--media-url", help="Label Studio only: the prefix of media URLs (default: Label Studio's local files "
                            "serving with the review folder as LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT)")] = LOCAL_FILES,
    min_reviews: Annotated[int, typer.Option("--min-reviews", min=1, help="Argilla only: reviewers per record "
                                                                           "(task distribution)")] = 2,
) -> None:
    """Write the records of DATASET as review tasks: Label Studio (label_config.xml, tasks.json, media/) or Argilla
    2.x (argilla/: the folder rg.Dataset.from_disk imports)."""
    from biosynth.eval._human.criteria import load_criteria
    from biosynth.eval._human.folder import check_export_dir
    from biosynth.eval._human.judge_scores import read_judge_scores
    from biosynth.eval._human.review import export_review

    tool = _tool(to, "--to")
    assert tool is not None
    check_export_dir(out)  # before any work
    loaded = load_criteria(criteria)
    scores = read_judge_scores(judge_results) if judge_results is not None else ()
    batch = export_review(SyntheticDataset(dataset), tool, out, criteria=loaded, step=step, judge_scores=scores,
                          limit=limit, seed=seed, media_url=media_url, min_submitted=min_reviews)
    typer.echo(f"{len(batch.record_ids)} records, {len(batch.criteria)} criteria, {len(batch.judge_scores)} judge "
               f"scores -> {out} ({', '.join(batch.files)})")


@app.command("import")
def import_command(
    dataset: Annotated[Path, typer.Argument(help="the dataset folder the review was exported from")],
    export_file: Annotated[Path, typer.Argument(help="the completed export: Label Studio's JSON export, or Argilla "
                                                     "records (records.json, or a to_disk folder)")],
    out: Annotated[Path, typer.Option("--out", help="the review folder `biosynth review export` wrote; "
                                                    "annotations.json is written there")],
    tool: Annotated[str | None, typer.Option("--format", help="label-studio or argilla (default: detected)")] = None,
) -> None:
    """Read the reviewers' ratings back, matched to records by id, reviewers under pseudonyms."""
    from biosynth.eval._human.review import import_review

    annotations, replaced, notes = import_review(SyntheticDataset(dataset), export_file, out, _tool(tool, "--format"))
    typer.echo(f"{len(annotations.annotations)} ratings by {len(annotations.reviewers)} reviewers on "
               f"{len({a.record_id for a in annotations.annotations})} records"
               + (f" ({replaced} earlier ratings replaced)" if replaced else "") + f" -> {out / 'annotations.json'}")
    for note in notes:
        typer.echo(f"  note: {note}")


@app.command("agreement")
def agreement_command(
    review: Annotated[Path, typer.Argument(help="the review folder holding annotations.json")],
    out: Annotated[Path, typer.Option("--out", help="a report folder: the results are added to the biosynth report "
                                                    "there (e.g. from `biosynth evaluate`), or a new report is written")],
    judge_results: Annotated[Path | None, typer.Option(
        "--judge-results", help="more LLM-judge scores to correlate with the reviewers (besides those exported)")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    n_bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="bootstrap replicates (0: no intervals)")] = 200,
    weights: Annotated[str, typer.Option("--weights", help="Cohen's kappa weights on ordinal scales: linear or "
                                                           "quadratic")] = "quadratic",
) -> None:
    """Cohen's, Fleiss' kappa, Krippendorff's alpha and judge-human correlations, into report.json and report.html."""
    from biosynth.core import ConfigError
    from biosynth.eval._human.judge_scores import read_judge_scores
    from biosynth.eval._human.review import agreement_report
    from biosynth.eval._report import REPORT_HTML, check_report_dir

    if weights not in ("linear", "quadratic"):
        raise ConfigError(f"--weights must be linear or quadratic, got {weights!r}")
    check_report_dir(out)
    scores = read_judge_scores(judge_results) if judge_results is not None else ()
    report, path = agreement_report(review, out, judge_scores=scores, seed=seed, n_bootstrap=n_bootstrap,
                                    weights=weights)  # type: ignore[arg-type]
    for result in report.results:
        if result.family.value == "human":
            shown = f"{result.value:.4f}" if result.value is not None else result.status
            typer.echo(f"{result.name:44s} {shown}")
    typer.echo(f"wrote {path} and {path.parent / REPORT_HTML}")


def _tool(value: str | None, option: str) -> Literal["label-studio", "argilla"] | None:
    from biosynth.core import ConfigError

    if value is None:
        return None
    if value not in ("label-studio", "argilla"):
        raise ConfigError(f"{option} must be label-studio or argilla, got {value!r}")
    return value  # type: ignore[return-value]
