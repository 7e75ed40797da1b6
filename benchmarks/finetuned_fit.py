"""How long llm_finetuned takes to train with the quickstart's settings, and a fingerprint of what it learned.

Fits the quickstart's configuration (table order, label last, batch 64, learning rate 3e-3) on the quickstart's
training rows (or on another table with --table) for --steps steps after a short warm-up fit, then samples
--samples rows. It prints the fit time, milliseconds per step, the last epoch's mean loss and the sha256 of the
sampled rows as CSV, so that two versions of the code can be compared side by side: same fingerprint, same model.
To time an earlier commit beside this one:

    git worktree add /tmp/base <commit>
    PYTHONPATH=/tmp/base/packages/tabular/src python benchmarks/finetuned_fit.py --steps 1500
    python benchmarks/finetuned_fit.py --steps 1500

Run them in turns, more than once each, on an otherwise idle machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import time

from run_info import print_end, print_start
from tabular_levers import LABEL, quickstart_training_rows

import biosynth.tabular._llm.finetuned as finetuned
from biosynth.tabular import FinetunedConfig, FinetunedLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7, help="training seed")
    parser.add_argument("--dropout", type=float, default=0.1, help="0.1: as in the tabular README's measurement; the "
                        "quickstart trains with 0 since 8 Dec 2026")
    parser.add_argument("--table", default="quickstart", help="the quickstart's training rows, or another of "
                        "benchmarks/tabular.py's tables (all its rows; its label last), e.g. breast_cancer_31")
    parser.add_argument("--name-tokens", action="store_true", help="FinetunedConfig.name_tokens: one token for "
                        "each `, name is ` (tried 8 Dec 2026; the quickstart does not use it)")
    args = parser.parse_args()
    print_start(["torch", "transformers"])
    print(f"code: {finetuned.__file__}")
    if args.table == "quickstart":
        rows, label = quickstart_training_rows(), LABEL
    else:
        from tabular import LABELS, load_table  # benchmarks/tabular.py

        rows, label = load_table(args.table, None), LABELS[args.table]
    print(f"table: {args.table}, {len(rows)} rows x {rows.shape[1]} columns, label {label!r}")
    FinetunedLM(FinetunedConfig(max_steps=5)).fit(rows)  # warm-up: imports and first-call costs outside the timing
    config = FinetunedConfig(column_order="table", last_columns=(label,), batch_size=64, learning_rate=3e-3,
                             epochs=1000, max_steps=args.steps, seed=args.seed, dropout=args.dropout,
                             name_tokens=args.name_tokens)
    model = FinetunedLM(config)
    started = time.perf_counter()
    model.fit(rows)
    seconds = time.perf_counter() - started
    sampled = model.sample(args.samples, seed=3)
    fingerprint = hashlib.sha256(sampled.to_csv(index=False).encode()).hexdigest()[:16]
    assert model.tokenizer is not None and model.codec is not None
    names = [c.name for c in model.codec.modelled]
    tokens = [len(model.tokenizer.encode(model.codec.row_text(row, names))) + 2
              for row in finetuned._value_texts(model.codec, rows.head(200))]
    print(f"tokens per row (first 200 rows, with BOS and EOS): mean {sum(tokens) / len(tokens):.1f}, "
          f"max {max(tokens)}, {len(names)} columns")
    print(f"fit {seconds:.1f} s for {model.steps} steps ({seconds / model.steps * 1e3:.1f} ms/step), "
          f"last epoch's mean loss {model.losses[-1]!r}, {args.samples} sampled rows sha256 {fingerprint}")
    print_end()


if __name__ == "__main__":
    main()
