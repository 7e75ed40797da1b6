"""`biosynth judge DATASET --judge BACKEND --rubric NAME --out REPORT_DIR`: LLM judges as a CLI plugin (entry point
group biosynth.cli). The results go into the report folder's report.json/report.html, next to `biosynth evaluate`'s
metrics when that folder already holds its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from biosynth.core import ComponentSpec, ConfigError, Policy, SyntheticDataset, default_registry
from biosynth.core._components import check_component, load_component

app = typer.Typer(help="Grade a dataset's texts (notes, dialogues, image reports, audio transcripts) with an LLM "
                       "judge on a rubric, or compare two datasets pairwise; writes report.json and report.html.",
                  no_args_is_help=True, context_settings={"allow_interspersed_args": True})


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--judge-param {text!r}: expected KEY=VALUE (e.g. model=judge.gguf, logprobs=true)")
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


@app.callback(invoke_without_command=True)
def judge(
    dataset: Annotated[Path, typer.Argument(help="a biosynth dataset folder (from `biosynth run`)")],
    backend: Annotated[str, typer.Option("--judge", help="the judge's language-model backend, e.g. llamacpp, "
                                                          "transformers, openai")],
    out: Annotated[Path, typer.Option("--out", help="folder for report.json and report.html (an existing biosynth "
                                                    "report there gets the judge results added)")],
    judge_params: Annotated[list[str] | None, typer.Option(
        "--judge-param", help="KEY=VALUE for the backend (repeatable), e.g. model=judge.gguf logprobs=true")] = None,
    rubric: Annotated[str, typer.Option("--rubric", help="asclepius, factual_consistency, dialogue, or a rubric "
                                                         ".yaml/.json file")] = "asclepius",
    step: Annotated[str | None, typer.Option("--step", help="the step whose records to judge")] = None,
    method: Annotated[str, typer.Option("--method", help="auto (G-Eval when the backend gives log-probabilities), "
                                                         "g-eval, or prometheus")] = "auto",
    against: Annotated[Path | None, typer.Option(
        "--against", help="a second dataset: compare its records pairwise with DATASET's (both orders) instead of "
                          "grading")] = None,
    against_step: Annotated[str | None, typer.Option("--against-step", help="the step of --against")] = None,
    real: Annotated[Path | None, typer.Option(
        "--real", help="real texts (.txt folder, .jsonl/.csv with 'text'): their median length is the reference "
                       "of the length-controlled score")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="judge only the first N records")] = None,
    force_self_judge: Annotated[bool, typer.Option(
        "--force-self-judge", help="allow a judge of the generator's model family (reported as self-preference)")] = False,
    max_attempts: Annotated[int, typer.Option("--max-attempts", min=1, max=10)] = 3,
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    n_bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="bootstrap replicates (0: no intervals)")] = 200,
) -> None:
    """Grade the records of DATASET on a rubric (mean score with an interval, per-record scores, length bias, a
    length-controlled score, self-preference), or with --against compare two datasets (win rate over verdicts that
    survive swapping the order, and the position-bias rate)."""
    from biosynth.eval._judge.rubric import load_rubric
    from biosynth.eval._judge.run import compare_records, grade_records, judged_records, write_judge_results
    from biosynth.eval._measure import check_bootstrap
    from biosynth.eval._report import check_report_dir

    check_report_dir(out)
    check_bootstrap(n_bootstrap, 0.95)
    if method not in ("auto", "g-eval", "prometheus"):
        raise ConfigError(f"--method {method!r}: expected auto, g-eval or prometheus")
    if against_step is not None and against is None:
        raise ConfigError("--against-step needs --against (the second dataset)")
    chosen = load_rubric(rubric)
    spec = ComponentSpec(backend=backend, params=dict(_param(p) for p in judge_params or ()))
    ds = SyntheticDataset(dataset)
    records, modality = judged_records(ds, step)
    other = None
    if against is not None:
        other_ds = SyntheticDataset(against)
        other, other_modality = judged_records(other_ds, against_step)
        if other_modality != modality:
            raise ConfigError(f"--against holds {other_modality} records, DATASET {modality} records")
        if chosen.reference_required:
            raise ConfigError(f"rubric {chosen.id!r} compares with a source record; pairwise comparison uses rubrics "
                              "that judge the text alone (asclepius, dialogue, or your own)")
    if limit is not None:
        records = records[:limit]
        other = other[:limit] if other is not None else None
    reference_texts = None
    if real is not None:
        from biosynth.eval._text.io import read_real_texts

        reference_texts = read_real_texts(real, "--real")
    registry = default_registry()
    remote = check_component(registry, spec)
    real_data = any(fp.real for fp in ds.manifest.inputs)
    Policy().check(step="judge", backend=spec.backend, remote=remote, real_data=real_data, kind=spec.kind.value)
    model = load_component(registry, spec, where="--judge").component
    if other is not None:
        labels = (dataset.name or str(dataset), against.name or str(against)) if against is not None else ("a", "b")
        if labels[0] == labels[1]:
            labels = (f"{labels[0]} (DATASET)", f"{labels[1]} (--against)")
        results = compare_records(model, chosen, records, other, labels=labels, modality=modality,
                                  force_self_judge=force_self_judge, seed=seed, n_bootstrap=n_bootstrap,
                                  max_attempts=max_attempts)
    else:
        sources = {r.id: r for r in ds.records()} if chosen.reference is not None else {}
        results = grade_records(model, chosen, records, sources=sources, modality=modality, method=method,  # type: ignore[arg-type]
                                force_self_judge=force_self_judge, seed=seed, n_bootstrap=n_bootstrap,
                                max_attempts=max_attempts, reference_texts=reference_texts)
    path = write_judge_results(out, results, modality=modality, n_synthetic=len(records), seed=seed)
    for result in results:
        shown = f"{result.value:.4f}" if result.value is not None else f"{result.status}: {result.error}"
        typer.echo(f"{result.name:36s} {shown}")
        for warning in result.warnings:
            typer.echo(f"  warning: {warning}")
    typer.echo(f"wrote {path} and {path.parent / 'report.html'}")
