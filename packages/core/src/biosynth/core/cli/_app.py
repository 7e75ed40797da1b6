"""`biosynth run | validate | inspect | plugins | export`, plus subcommands that plugins register."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from biosynth.core._errors import BiosynthError
from biosynth.core._executors import make_executor
from biosynth.core._recipe import load_recipe
from biosynth.core._registry import Group, default_registry
from biosynth.core._runner import MANIFEST, Runner, plan
from biosynth.core.cli._export import export
from biosynth.core.cli._inspect import case_story_lines, describe_case, describe_dataset
from biosynth.core.cli._plugins import describe_plugins

app = typer.Typer(
    name="biosynth", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    help="Generate synthetic biomedical data with full provenance, and evaluate it.",
)
app.command("export")(export)
out = Console(highlight=False, soft_wrap=True, markup=False)


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="recipe file (.yaml, .yml or .json)")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="dataset folder to write")],
    seed: Annotated[int | None, typer.Option(help="override the recipe's seed")] = None,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run in --out")] = False,
    executor: Annotated[str, typer.Option(help="where batches run: local (this process) or ray (actors of a Ray "
                                               "cluster; needs biosynth-core[ray])")] = "local",
    address: Annotated[str | None, typer.Option(help="with --executor ray: the cluster to join (auto, host:port, "
                                                     "ray://host:10001); default: a Ray instance on this machine")] = None,
    actors: Annotated[int | None, typer.Option(help="with --executor ray: the most actors a step uses (default: one "
                                                    "per CPU of the cluster)")] = None,
) -> None:
    """Run RECIPE into a dataset folder (manifest.json, records.parquet, media/)."""
    loaded = load_recipe(recipe)
    if seed is not None:
        if seed < 0:
            raise BiosynthError(f"--seed must be a non-negative integer, got {seed}")
        loaded = loaded.with_seed(seed)
    runs_on = make_executor(executor, address=address, actors=actors)
    try:
        manifest = Runner(loaded, out_dir, base_dir=recipe.resolve().parent, resume=resume, executor=runs_on).run()
    except KeyboardInterrupt:  # caught here: typer would print "Aborted!" and exit 1
        again = " ".join(["biosynth", *sys.argv[1:], *([] if resume else ["--resume"])])
        Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print(
            f"interrupted; finished batches are kept in {out_dir}. Resume with: {again}" if (out_dir / MANIFEST).exists()
            else "interrupted before any batch was finished; nothing was kept")
        raise typer.Exit(130) from None
    finally:
        runs_on.close()
    out.print(f"{manifest.requested} requested, {manifest.produced} produced, {manifest.failed} failed"
              f"{_removed(manifest.removed)} -> {out_dir}")
    for name, step in manifest.steps.items():
        out.print(f"  {name}: {step.requested} requested, {step.produced} produced, {step.failed} failed"
                  f"{_removed(step.removed, step.removal_reasons)}")
    for name, reason in manifest.skipped_steps.items():
        out.print(f"  {name}: skipped ({reason})")


def _removed(count: int, reasons: dict[str, int] | None = None) -> str:
    """Removed samples: by deduplication or by the generator itself (e.g. a critic), with their reasons."""
    if not count:
        return ""
    why = f" ({'; '.join(f'{reason}: {n}' for reason, n in reasons.items())})" if reasons else ""
    return f", {count} removed{why}"


@app.command()
def validate(recipe: Annotated[Path, typer.Argument(help="recipe file to check")]) -> None:
    """Check RECIPE without running it: schema, wiring, generators, parameters, input files, policy."""
    loaded = load_recipe(recipe)
    planned = plan(loaded, base_dir=recipe.resolve().parent)
    out.print(f"recipe {loaded.name!r} is valid: {len(planned)} steps, seed {loaded.seed}")
    for entry in planned:
        step = entry.step
        size = f"{step.count} samples" if step.count else f"{step.per_input} per record of {step.from_!r}"
        out.print(f"  {step.name}: {step.generator} ({size}, seed {entry.seed})")
    for name, reason in planned.skipped.items():
        out.print(f"  {name}: skipped ({reason})")


@app.command()
def inspect(
    dataset: Annotated[Path, typer.Argument(help="dataset folder")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False,
    case: Annotated[str | None, typer.Option("--case", help="tell one case (a case_id) as a story, in order of "
                                                             "derivation")] = None,
) -> None:
    """Show a dataset's counts, schema, provenance summary and failures; with --case, one case's records in order."""
    summary = describe_case(dataset, case) if case is not None else describe_dataset(dataset)
    if case is not None and not as_json:
        for line in case_story_lines(summary):
            out.print(line)
        return
    if as_json:
        out.print_json(json.dumps(summary, default=str))
        return
    _print_summary(summary)


@app.command()
def plugins(as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of text")] = False) -> None:
    """List installed biosynth packages and every registered plugin with its package."""
    summary = describe_plugins()
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print("Installed biosynth packages", style="bold")
    for name, version in summary["packages"].items():
        out.print(f"  {name} {version}")
    for group, entries in summary["plugins"].items():
        out.print(group, style="bold")
        if not entries:
            out.print("  (none)")
        for entry in entries:
            status = f"  FAILED: {entry['error']}" if entry["error"] else ""
            out.print(f"  {entry['name']:<24} {entry['distribution'] or '-'}{status}")
    if summary["failed"]:
        out.print(f"{len(summary['failed'])} plugin(s) failed to load", style="red")


def _print_summary(summary: dict[str, object]) -> None:
    s = summary
    out.print(f"{s['path']}  recipe {s['recipe']!r}  seed {s['seed']}  status {s['status']}", style="bold")
    out.print(f"{s['requested']} requested, {s['produced']} produced, {s['failed']} failed{_removed(s['removed'])}")
    for name, step in s["steps"].items():  # type: ignore[attr-defined]
        out.print(f"  {name} ({step['generator']} {step['generator_version']}): {step['requested']} requested, "
                  f"{step['produced']} produced, {step['failed']} failed{_removed(step['removed'])}; "
                  f"modalities {step['modalities']}")
        for reason, count in step["failure_reasons"].items():
            out.print(f"      failed x{count}: {reason}")
        for reason, count in step["removal_reasons"].items():
            out.print(f"      removed x{count}: {reason}")
    for name, reason in s["skipped_steps"].items():  # type: ignore[attr-defined]
        out.print(f"  {name}: skipped ({reason})")
    out.print("Provenance", style="bold")
    prov = s["provenance"]
    for key in ("models", "strategies", "prompt_templates", "decoding"):
        out.print(f"  {key}: {prov[key]}")  # type: ignore[index]
    out.print("Inputs" + ("" if s["inputs"] else "  (none)"), style="bold")
    for item in s["inputs"]:  # type: ignore[attr-defined]
        out.print(f"  {item['step']}.{item['parameter']}: {item['path']} sha256 {item['sha256'][:16]}… "
                  f"{'REAL DATA' if item['real'] else 'not real data'}")
    out.print("Schema", style="bold")
    for column, kind in s["schema"].items():  # type: ignore[attr-defined]
        out.print(f"  {column}: {kind}")
    for problem in s["problems"]:  # type: ignore[attr-defined]
        out.print(f"PROBLEM: {problem}", style="red")
    env = s["environment"]
    out.print(f"Environment: python {env['python']}, torch {env['torch']}, {env['biosynth']}")  # type: ignore[index]


def _add_plugin_commands() -> None:
    registry = default_registry()
    for name in registry.names(Group.CLI):
        try:
            sub = registry.get(Group.CLI, name)
        except BiosynthError as err:
            logging.getLogger("biosynth").warning("%s", err)
            continue
        app.add_typer(sub, name=name)


def main() -> None:
    """Entry point: user errors print one paragraph and exit 2, without a traceback."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s biosynth: %(message)s",
                        datefmt="%H:%M:%S")
    _add_plugin_commands()
    try:
        app()
    except BiosynthError as err:
        notes = "".join(f"\n{note}" for note in getattr(err, "__notes__", ()))  # e.g. where a run stopped, what it kept
        Console(stderr=True, highlight=False, soft_wrap=True, markup=False).print(f"error: {err}{notes}")
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        Console(stderr=True, markup=False).print("interrupted; finished batches are kept (resume with --resume)")
        sys.exit(130)
