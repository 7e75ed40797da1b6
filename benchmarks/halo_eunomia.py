"""HALO on Eunomia: 80/20 patient split, HALO vs two baselines on HALO's fidelity measures, and copying.

    python benchmarks/halo_eunomia.py --train-seconds 300 --draws 5

B1 (independent marginals): visit count, codes per visit and codes drawn independently by frequency.
B2 (first-order Markov): each next visit drawn from the real visits that followed a visit with the same
key code (the visit's rarest code); the first visit from real first visits; visit count from the data.
Copying: share of synthetic patients whose whole history (sequence of code sets) equals a training one.
"real train" is a reference, not a generator: as many real training patients as held-out, drawn at random (the
score a perfect generator would get at this sample size; it copies by construction).

Train once and keep the model, then sample from it again without training:

    python benchmarks/halo_eunomia.py --train-steps 6800 --save /tmp/halo_model
    python benchmarks/halo_eunomia.py --load /tmp/halo_model --draws 5
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import torch

from biosynth.core import VisitSequencePayload, derive_seed
from biosynth.eval import HALO_MEASURES, halo_r2_all
from biosynth.tabular import Halo, HaloConfig, HaloTraining, load_eunomia

Histories = list[tuple[frozenset[str], ...]]


def histories(patients: list[VisitSequencePayload]) -> Histories:
    return [tuple(frozenset(v.codes) for v in p.visits) for p in patients]


def independent_marginals(train: Histories, n: int, seed: int) -> Histories:
    r = random.Random(seed)
    lengths = [len(h) for h in train]
    sizes = [len(v) for h in train for v in h]
    counts = Counter(c for h in train for v in h for c in v)
    codes = sorted(counts)  # not the Counter's order: it follows set iteration, which varies between processes
    weights = [counts[c] for c in codes]
    out = []
    for _ in range(n):
        visits = []
        for _ in range(r.choice(lengths)):
            k, visit = r.choice(sizes), set()
            while len(visit) < k:
                visit.add(r.choices(codes, weights)[0])
            visits.append(frozenset(visit))
        out.append(tuple(visits))
    return out


def markov(train: Histories, n: int, seed: int) -> Histories:
    r = random.Random(seed)
    frequency = Counter(c for h in train for v in h for c in v)

    def key(visit: frozenset[str]) -> str:
        return min(visit, key=lambda c: (frequency[c], c))

    following: dict[str, list[frozenset[str]]] = defaultdict(list)
    for h in train:
        for a, b in itertools.pairwise(h):
            following[key(a)].append(b)
    firsts = [h[0] for h in train if h]
    every = [v for h in train for v in h]
    lengths = [len(h) for h in train]
    out = []
    for _ in range(n):
        length, visits = r.choice(lengths), []
        for j in range(length):
            pool = [*firsts] if j == 0 else (following.get(key(visits[-1])) or every)
            visits.append(r.choice(pool))
        out.append(tuple(visits))
    return out


def describe(patients: list[VisitSequencePayload]) -> str:
    lengths = [len(p.visits) for p in patients]
    deciles = statistics.quantiles(lengths, n=10)
    codes = statistics.fmean(len(v.codes) for p in patients for v in p.visits)
    return (f"mean {statistics.fmean(lengths):.1f}, deciles 10/50/90 {deciles[0]:.0f}/{deciles[4]:.0f}/{deciles[8]:.0f}"
            f", share > 60 visits {sum(n > 60 for n in lengths) / len(lengths):.3f}, codes/visit {codes:.2f}")


def copied(train: Histories, synthetic: Histories) -> float:
    real = set(train)
    return sum(h in real for h in synthetic) / len(synthetic)


def training_seed(args: argparse.Namespace) -> int:
    """The seed of training and calibration: --train-seed, else --seed (the split's)."""
    return int(args.seed if args.train_seed is None else args.train_seed)


def progress(started: float, args: argparse.Namespace) -> Callable[[int, float], None]:
    """A log line every 200 training steps (training takes minutes to tens of minutes)."""
    budget = f"/{args.train_steps}" if args.train_steps else ""

    def report(step: int, loss: float) -> None:
        if step % 200 == 0:
            print(f"step {step}{budget}: loss {loss:.5f}, {time.monotonic() - started:.0f} s", flush=True)

    return report


def fit(train: list[VisitSequencePayload], code_domains: dict[str, str], args: argparse.Namespace) -> Halo:
    started = time.monotonic()
    elapsed = tuple(round(float(y) * 365.25) for y in args.elapsed_years.split(",") if y.strip())
    halo = Halo.fit(train, config=HaloConfig(n_embd=args.n_embd, n_layer=args.n_layer, n_head=4, dropout=args.dropout,
                                             elapsed_edges=elapsed, fine_width_multiplier=args.fine_multiplier),
                    training=HaloTraining(epochs=1000, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                          seed=training_seed(args),
                                          max_seconds=None if args.train_steps else args.train_seconds,
                                          max_steps=args.train_steps,
                                          schedule=args.schedule, weight_decay=args.weight_decay,
                                          validation_share=args.validation_share,
                                          calibrate_length=not args.no_calibrate,
                                          length_statistic=args.length_statistic,
                                          calibration_patients=args.calibration_patients),
                    vocabulary_name="OMOP", code_domains=code_domains, on_step=progress(started, args))
    fit_s = time.monotonic() - started
    n_params = sum(p.numel() for p in halo.network.parameters())
    steps = len(halo.losses)
    print(f"HALO: {n_params} parameters, {steps} steps ({steps * args.batch_size / len(train):.1f} epochs) in "
          f"{fit_s:.0f} s, loss {statistics.fmean(halo.losses[:20]):.5f} -> {statistics.fmean(halo.losses[-20:]):.5f}",
          flush=True)
    if halo.validation:
        print("cross-entropy of the validation share of the training patients by step: "
              + ", ".join(f"{step}: {loss:.5f}" for step, loss in halo.validation), flush=True)
    return halo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-seconds", type=float, default=300)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--n-embd", type=int, default=64)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0, help="the 80/20 split, the draws and (by default) training")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="seed of training alone (initial weights, batches, dropout, calibration), to measure "
                             "the spread between trainings on the same split; default: --seed")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="a step budget instead of --train-seconds (results then do not depend on machine load)")
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="cosine")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--fine-multiplier", type=int, default=1,
                        help="HaloConfig.fine_width_multiplier: hidden units of the fine head per position")
    parser.add_argument("--elapsed-years", default="",
                        help="comma-separated years since the first visit: HaloConfig.elapsed_edges (a clock for the "
                             "model); empty: the reference model")
    parser.add_argument("--validation-share", type=float, default=0.0,
                        help="hold out this share of the *training* patients and print their cross-entropy while "
                             "training (to choose size and steps; the held-out 20%% stays untouched)")
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared 2-core machine")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="do not calibrate the end-of-record logit to the training patients' visit count")
    parser.add_argument("--length-statistic", choices=["median", "mean"], default="median",
                        help="HaloTraining.length_statistic: the training patients' median (default) or mean visit "
                             "count, matched by the calibration")
    parser.add_argument("--recalibrate", action="store_true",
                        help="calibrate the (loaded or trained) model again on the training patients, from offset 0 "
                             "with the seed and patient count `fit` uses (a model saved by older code gets today's "
                             "calibration)")
    parser.add_argument("--calibration-patients", type=int, default=512)
    parser.add_argument("--save", default=None, help="write the trained model to this (new) folder")
    parser.add_argument("--load", default=None,
                        help="sample from a model folder saved by --save (same --seed split) instead of training")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cohort = load_eunomia()
    order = list(range(len(cohort.patients)))
    random.Random(args.seed).shuffle(order)
    cut = int(0.8 * len(order))
    train = [cohort.patients[i] for i in order[:cut]]
    held_out = [cohort.patients[i] for i in order[cut:]]
    print(f"train {len(train)} patients, held-out {len(held_out)}")
    print(f"visits/patient: train {describe(train)}; held-out {describe(held_out)}")

    if args.load:
        halo = Halo.load(args.load)
        print(f"HALO: loaded {args.load}")
    else:
        halo = fit(train, cohort.code_domains, args)
        if args.save:
            halo.save(args.save)
            print(f"HALO: saved to {args.save}")
    if args.recalibrate:
        started = time.monotonic()
        halo.calibrate_length_to(train, HaloTraining(seed=training_seed(args), length_statistic=args.length_statistic,
                                                     calibration_patients=args.calibration_patients))
        print(f"recalibrated in {time.monotonic() - started:.0f} s")
    print(f"length calibration: {halo.calibration.model_dump() if halo.calibration else None}", flush=True)
    train_h = histories(train)
    results: dict[str, list[dict[str, float | None]]] = defaultdict(list)
    copies: dict[str, list[float]] = defaultdict(list)
    for draw in range(args.draws):
        seed = derive_seed(args.seed, "draw", draw)
        started = time.monotonic()
        outcomes = halo.sample_seeded([derive_seed(seed, i) for i in range(len(held_out))], batch_size=128)
        sample_s = time.monotonic() - started
        sampled = [o.payload for o in outcomes]
        dropped = sum(o.empty_visits_dropped for o in outcomes)
        print(f"draw {draw}: sampled {len(sampled)} patients in {sample_s:.0f} s; visits/patient {describe(sampled)}; "
              f"empty visits dropped {dropped} ({dropped / max(sum(len(p.visits) for p in sampled) + dropped, 1):.2%})"
              f", not ended {sum(not o.ended for o in outcomes)}", flush=True)
        candidates = {"HALO": histories(sampled), "B1": independent_marginals(train_h, len(held_out), seed),
                      "B2": markov(train_h, len(held_out), seed),
                      "real train": [tuple(h) for h in random.Random(seed).sample(train_h, len(held_out))]}
        for name, synthetic in candidates.items():
            scores = halo_r2_all(held_out, [[sorted(v) for v in h] for h in synthetic], n_bootstrap=0)
            results[name].append({r.parameters["measure"]: r.value for r in scores})  # None where R² is undefined
            copies[name].append(copied(train_h, synthetic))
    print(f"\nR² over {args.draws} draws: mean [worst, best]")
    print(f"{'measure':<38}" + "".join(f"{n:>27}" for n in results))
    for measure in HALO_MEASURES:
        cells = []
        for name in results:
            values = [r[measure] for r in results[name] if r[measure] is not None]
            cells.append(f"{statistics.fmean(values):.4f} [{min(values):.4f}, {max(values):.4f}]" if values else "n/a")
        print(f"{measure:<38}" + "".join(f"{c:>27}" for c in cells))
    print(f"{'copied whole histories (share)':<38}" + "".join(f"{statistics.fmean(copies[n]):>27.3f}" for n in results))


if __name__ == "__main__":
    main()
