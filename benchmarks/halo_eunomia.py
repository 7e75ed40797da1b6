"""HALO on Eunomia: configurations chosen on a validation split of the training patients, the held-out 20% scored
once at the end, beside two baselines, on all six of HALO's measures.

    OMP_NUM_THREADS=1 nohup python benchmarks/halo_eunomia.py > halo.log 2>&1 &

Keep the trained models (--keep DIR) and choose / score again without training (--keep DIR --reuse, same seeds and
split), e.g. with other calibrations or draws.

Protocol, enforced by the order of this script:
1. Eunomia's 2,694 patients are shuffled (--seed) and cut 80/20: 2,155 training and 539 held-out. The held-out
   patients are kept in a `Holdout` that hands them out only once a choice has been fixed (it raises before).
2. The training patients are cut again (--validation-share, seeded): the *fit* part trains every configuration,
   calibrates it and builds the baselines; the *validation* part chooses.
3. Every grid configuration (architecture x training length, --grid) is trained on the fit part, then sampled with
   each length calibration in --calibrations (none: the network as trained; median / mean: `calibrate_length_to` the
   fit patients, exactly the calibration `Halo.fit` runs) --validation-draws times (--validation-sample patients,
   default as many as the validation part); --winner-calibrations are tried on the best configuration after that.
   Criterion, fixed before any run: the mean of HALO's six R² (per patient and per visit) against the validation
   patients, averaged over the draws.
4. The validation table and the choice are printed. Only then are the held-out patients read; each reported
   configuration (the choice, the current defaults, and with --report all every trained configuration at its
   validation-best calibration) is scored on them once: --draws draws of 539 patients, beside B1, B2 and real train.

B1 (independent marginals): visit count, codes per visit and codes drawn independently by frequency.
B2 (first-order Markov): each next visit drawn from the real visits that followed a visit with the same key code
(the visit's rarest code); the first visit from real first visits; visit count from the data.
B1 and B2 are written here (no library implements them); they, like HALO, see only the fit part.
"real train": as many real fit-part patients as scored ones, drawn at random: what a perfect generator scores at this
sample size (it copies by construction). Copying: share of synthetic patients whose whole history (sequence of code
sets) equals a fit-part one.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path

import torch

from biosynth.core import VisitSequencePayload, derive_seed
from biosynth.eval import HALO_MEASURES, halo_r2_all
from biosynth.tabular import Halo, HaloConfig, HaloTraining, load_eunomia

Histories = list[tuple[frozenset[str], ...]]
Codes = list[list[list[str]]]  # patients -> visits -> sorted codes (what crosses between processes)

# Architectures of the grid: the library's default network (the reference fine head) and the wider fine head the
# README recommended (2 and 3 layers). Shared training settings: those of the README's recommended command.
ARCHITECTURES: dict[str, dict[str, int]] = {
    "reference-2L": {"n_embd": 64, "n_layer": 2, "fine_width_multiplier": 1},
    "fine4-2L": {"n_embd": 64, "n_layer": 2, "fine_width_multiplier": 4},
    "fine4-3L": {"n_embd": 64, "n_layer": 3, "fine_width_multiplier": 4},
}
SHARED = {"n_head": 4, "dropout": 0.1}
TRAINING = {"batch_size": 32, "learning_rate": 3e-3, "schedule": "cosine", "weight_decay": 0.01}
SHORT = {"code_prevalence_per_patient": "prevalence / patient", "code_prevalence_per_visit": "prevalence / visit",
         "within_visit_pairs_per_patient": "within-visit pairs / patient",
         "within_visit_pairs_per_visit": "within-visit pairs / visit",
         "consecutive_visit_pairs_per_patient": "consecutive pairs / patient",
         "consecutive_visit_pairs_per_visit": "consecutive pairs / visit"}


def histories(patients: Sequence[VisitSequencePayload]) -> Histories:
    return [tuple(frozenset(v.codes) for v in p.visits) for p in patients]


def as_codes(synthetic: Histories) -> Codes:
    return [[sorted(v) for v in h] for h in synthetic]


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


def describe(lengths: Sequence[int]) -> str:
    deciles = statistics.quantiles(lengths, n=10)
    return (f"mean {statistics.fmean(lengths):.1f}, deciles 10/50/90 {deciles[0]:.0f}/{deciles[4]:.0f}/"
            f"{deciles[8]:.0f}, share > 60 visits {sum(n > 60 for n in lengths) / len(lengths):.3f}")


def copied(train: Histories, synthetic: Histories) -> float:
    real = set(train)
    return sum(h in real for h in synthetic) / len(synthetic)


def scores(real: Sequence[VisitSequencePayload], synthetic: Codes) -> dict[str, float]:
    """HALO's six R² (no bootstrap); a measure whose R² is undefined fails loudly rather than counting as 0."""
    out = {r.parameters["measure"]: r.value for r in halo_r2_all(real, synthetic, n_bootstrap=0)}
    missing = [m for m in HALO_MEASURES if out.get(m) is None]
    if missing:
        raise RuntimeError(f"R² undefined for {missing}")
    return {m: float(out[m]) for m in HALO_MEASURES}  # type: ignore[arg-type]


def criterion(per_draw: Sequence[dict[str, float]]) -> float:
    """Mean over draws of the mean of the six measures."""
    return statistics.fmean(statistics.fmean(d[m] for m in HALO_MEASURES) for d in per_draw)


# the held-out patients ----------------------------------------------------------------------------------------------
class Holdout:
    """The held-out patients, handed out only after `fix(choice)`: nothing can score on them while choosing."""

    def __init__(self, indices: list[int]) -> None:
        self._indices = indices
        self.choice: str | None = None

    def __len__(self) -> int:
        return len(self._indices)

    def fix(self, choice: str) -> None:
        self.choice = choice

    def patients(self, cohort_patients: Sequence[VisitSequencePayload]) -> list[VisitSequencePayload]:
        if self.choice is None:
            raise RuntimeError("the held-out patients are read only after the choice is fixed")
        return [cohort_patients[i] for i in self._indices]


# work done in worker processes (each reloads Eunomia; none is ever given held-out indices) -------------------------
@dataclass(frozen=True)
class Job:
    architecture: str
    steps: int
    train_seed: int
    fit_indices: list[int]
    model_dir: str
    calibration_patients: int = 512
    reuse: bool = False  # load model_dir when a model was kept there by an earlier run (same split and seeds)

    @property
    def name(self) -> str:
        return f"{self.architecture} @ {self.steps} steps"


def _patients(indices: Sequence[int]) -> tuple[list[VisitSequencePayload], dict[str, str]]:
    cohort = load_eunomia()
    return [cohort.patients[i] for i in indices], cohort.code_domains


def calibrate(job: Job, statistic: str, halo: Halo | None = None,
              fit_patients: Sequence[VisitSequencePayload] | None = None) -> dict[str, object]:
    """The end-of-record offset `Halo.fit` would choose with `length_statistic=statistic` (none: 0)."""
    if statistic == "none":
        return {"offset": 0.0, "record": None, "seconds": 0.0}
    torch.set_num_threads(1)
    halo = halo or Halo.load(job.model_dir)
    fit_patients = fit_patients if fit_patients is not None else _patients(job.fit_indices)[0]
    started = time.monotonic()
    record = halo.calibrate_length_to(fit_patients, HaloTraining(seed=job.train_seed, length_statistic=statistic,
                                                                     calibration_patients=job.calibration_patients))
    print(f"  [{job.name}] {statistic} calibration: offset {record.end_logit_offset:.3f} in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return {"offset": record.end_logit_offset, "record": record.model_dump(), "seconds": time.monotonic() - started}


def sample(model_dir: str, offset: float, seeds: list[int], halo: Halo | None = None) -> tuple[Codes, dict[str, float]]:
    """Patients sampled from a saved model at an end-of-record offset, and how the sampling went."""
    torch.set_num_threads(1)
    halo = halo or Halo.load(model_dir)
    previous = halo.config
    halo.config = halo.config.model_copy(update={"end_logit_offset": offset})
    started = time.monotonic()
    outcomes = halo.sample_seeded(seeds, batch_size=128)
    halo.config = previous
    dropped = sum(o.empty_visits_dropped for o in outcomes)
    visits = sum(len(o.payload.visits) for o in outcomes)
    info = {"seconds": time.monotonic() - started, "empty_dropped": dropped / max(visits + dropped, 1),
            "not_ended": float(sum(not o.ended for o in outcomes))}
    return [[sorted(v.codes) for v in o.payload.visits] for o in outcomes], info


def train_and_validate(job: Job, calibrations: tuple[str, ...],
                       validation_seeds: list[list[int]]) -> dict[str, object]:
    """Train one configuration on the fit patients (saved to job.model_dir), calibrate it each way, and sample each
    calibration once per validation draw."""
    torch.set_num_threads(1)
    fit_patients, domains = _patients(job.fit_indices)
    if job.reuse and (Path(job.model_dir) / "biosynth_model.json").is_file():
        halo = Halo.load(job.model_dir)
        n_params = sum(p.numel() for p in halo.network.parameters())
        print(f"  [{job.name}] loaded the model kept in {job.model_dir}", flush=True)
        return {"train_s": None, "parameters": n_params} | _validate(job, halo, fit_patients, calibrations,
                                                                      validation_seeds)
    started = time.monotonic()

    def report(step: int, loss: float) -> None:
        if step % 500 == 0:
            print(f"  [{job.name}] step {step}/{job.steps}: loss {loss:.5f}, {time.monotonic() - started:.0f} s",
                  flush=True)

    halo = Halo.fit(fit_patients, config=HaloConfig(**ARCHITECTURES[job.architecture], **SHARED),
                    training=HaloTraining(epochs=10_000, max_steps=job.steps, seed=job.train_seed,
                                          calibrate_length=False, **TRAINING),  # type: ignore[arg-type]
                    vocabulary_name="OMOP", code_domains=domains, on_step=report)
    train_s = time.monotonic() - started
    halo.save(job.model_dir)
    n_params = sum(p.numel() for p in halo.network.parameters())
    print(f"  [{job.name}] trained in {train_s:.0f} s ({n_params} parameters, loss "
          f"{statistics.fmean(halo.losses[:20]):.5f} -> {statistics.fmean(halo.losses[-20:]):.5f})", flush=True)
    return {"train_s": train_s, "parameters": n_params} | _validate(job, halo, fit_patients, calibrations,
                                                                     validation_seeds)


def _validate(job: Job, halo: Halo, fit_patients: Sequence[VisitSequencePayload], calibrations: tuple[str, ...],
              validation_seeds: list[list[int]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for statistic in calibrations:
        offset = calibrate(job, statistic, halo, fit_patients)
        samples = [sample(job.model_dir, float(offset["offset"]), seeds, halo)  # type: ignore[arg-type]
                   for seeds in validation_seeds]
        out[statistic] = {"offset": offset, "samples": samples}
    return out


def calibrate_and_validate(job: Job, statistic: str, validation_seeds: list[list[int]]) -> dict[str, object]:
    """One more calibration of a trained model, sampled once per validation draw."""
    offset = calibrate(job, statistic)
    halo = Halo.load(job.model_dir)
    return {"offset": offset, "samples": [sample(job.model_dir, float(offset["offset"]), seeds, halo)  # type: ignore[arg-type]
                                          for seeds in validation_seeds]}


# the main process -----------------------------------------------------------------------------------------------------
def header(args: argparse.Namespace) -> None:
    print("command: OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)") + " python "
          + shlex.join(sys.argv))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"python {platform.python_version()}, torch {torch.__version__}, numpy {version('numpy')}, scikit-learn "
          f"{version('scikit-learn')} (R²), biosynth-tabular {version('biosynth-tabular')}, biosynth-eval "
          f"{version('biosynth-eval')}; baselines B1 and B2: this script (no library)")
    print(f"architectures: {ARCHITECTURES}; shared: {SHARED}; training: {TRAINING}")


def table(rows: dict[str, dict[str, tuple[float, float, float]]], extra: dict[str, dict[str, str]]) -> None:
    """A markdown table: measures down, columns across; each cell mean [worst, best] over draws."""
    names = list(rows)
    print("| measure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for m in HALO_MEASURES:
        cells = []
        for n in names:
            mean, low, high = rows[n][m]
            cells.append(f"{mean:.4f}" if low == high else f"{mean:.4f} [{low:.4f}, {high:.4f}]")
        print(f"| {SHORT[m]} | " + " | ".join(cells) + " |")
    for label in next(iter(extra.values()), {}):
        print(f"| {label} | " + " | ".join(extra[n][label] for n in names) + " |")


def summarise(per_draw: Sequence[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    return {m: (statistics.fmean(d[m] for d in per_draw), min(d[m] for d in per_draw), max(d[m] for d in per_draw))
            for m in HALO_MEASURES}


def baselines(fit_h: Histories, real: Sequence[VisitSequencePayload], n: int, draws: int, seed: int,
              tag: str) -> dict[str, tuple[list[dict[str, float]], list[float]]]:
    out: dict[str, tuple[list[dict[str, float]], list[float]]] = {}
    for name, make in (("B1 marginals", lambda s: independent_marginals(fit_h, n, s)),
                       ("B2 Markov", lambda s: markov(fit_h, n, s)),
                       ("real train", lambda s: [tuple(h) for h in random.Random(s).sample(fit_h, n)])):
        per_draw, copies = [], []
        for d in range(draws):
            synthetic = make(derive_seed(seed, tag, d))
            per_draw.append(scores(real, as_codes(synthetic)))
            copies.append(copied(fit_h, synthetic))
        out[name] = (per_draw, copies)
    return out


def offset_of(variant: dict[str, object]) -> float:
    return float(variant["offset"]["offset"])  # type: ignore[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="fine4-3L:4000,reference-2L:4000,fine4-3L:2000",
                        help="comma-separated ARCHITECTURE:STEPS (architectures: " + ", ".join(ARCHITECTURES) + ")")
    parser.add_argument("--calibrations", default="none,median",
                        help="length calibrations compared for every configuration (median: the library default)")
    parser.add_argument("--winner-calibrations", default="mean",
                        help="calibrations tried as well on the configuration best on validation after the first")
    parser.add_argument("--calibration-patients", type=int, default=512,
                        help="patients sampled per calibration round (HaloTraining.calibration_patients; 512 is "
                             "the library default)")
    parser.add_argument("--validation-share", type=float, default=0.2, help="of the training patients")
    parser.add_argument("--validation-draws", type=int, default=1)
    parser.add_argument("--validation-sample", type=int, default=None,
                        help="synthetic patients per validation draw (default: as many as the validation patients)")
    parser.add_argument("--draws", type=int, default=2, help="held-out draws per reported configuration")
    parser.add_argument("--report", choices=["chosen", "all"], default="all",
                        help="held-out scores for the choice and the current defaults, or for every trained "
                             "configuration as well (each at its validation-best calibration)")
    parser.add_argument("--defaults", default="fine4-3L:4000:median",
                        help="ARCHITECTURE:STEPS:CALIBRATION of the current defaults (the README's recommended "
                             "configuration before this protocol), named in the output; always reported")
    parser.add_argument("--seed", type=int, default=0, help="the splits and the draws")
    parser.add_argument("--train-seed", type=int, default=0, help="initial weights, batch order, dropout, calibration")
    parser.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--keep", default=None, help="keep the trained models in this folder")
    parser.add_argument("--reuse", action="store_true",
                        help="load the models an earlier run with the same --keep, --seed, --train-seed and "
                             "--validation-share kept there instead of training them again")
    parser.add_argument("--limit-patients", type=int, default=None, help="a quick smoke run on the first N patients")
    args = parser.parse_args()
    grid = [(a, int(s)) for a, _, s in (item.strip().partition(":") for item in args.grid.split(","))]
    calibrations = tuple(c.strip() for c in args.calibrations.split(",") if c.strip())
    later = tuple(c.strip() for c in args.winner_calibrations.split(",") if c.strip() and c.strip() not in calibrations)
    if any(a not in ARCHITECTURES for a, _ in grid) or any(c not in ("none", "median", "mean")
                                                            for c in calibrations + later):
        parser.error(f"--grid architectures must be among {list(ARCHITECTURES)}, calibrations among none, median, "
                     f"mean; got {args.grid!r}, {args.calibrations!r}, {args.winner_calibrations!r}")
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep (the folder of the kept models)")
    parts = args.defaults.split(":")
    if len(parts) != 3 or not parts[1].isdigit():
        parser.error(f"--defaults must read ARCHITECTURE:STEPS:CALIBRATION, got {args.defaults!r}")
    defaults = f"{parts[0]} @ {parts[1]} steps, {parts[2]}"
    torch.set_num_threads(1)
    header(args)
    started = time.monotonic()

    cohort = load_eunomia()
    order = list(range(len(cohort.patients) if args.limit_patients is None else args.limit_patients))
    random.Random(args.seed).shuffle(order)
    cut = int(0.8 * len(order))
    training, holdout = order[:cut], Holdout(order[cut:])
    split = list(training)
    random.Random(derive_seed(args.seed, "validation")).shuffle(split)
    n_val = round(args.validation_share * len(split))
    fit_idx, val_idx = sorted(split[n_val:]), sorted(split[:n_val])
    fit_patients = [cohort.patients[i] for i in fit_idx]
    validation = [cohort.patients[i] for i in val_idx]
    fit_h = histories(fit_patients)
    print(f"patients: {len(training)} training = {len(fit_idx)} fit + {len(val_idx)} validation; {len(holdout)} "
          f"held-out (not read until the choice is fixed)")
    print(f"visits/patient: fit {describe([len(h) for h in fit_h])}; validation "
          f"{describe([len(p.visits) for p in validation])}")

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="halo_eunomia_"))
    folder.mkdir(parents=True, exist_ok=bool(not args.keep) or args.reuse)
    jobs = {f"{a} @ {s} steps": Job(a, s, args.train_seed, fit_idx, str(folder / f"{a}_{s}"),
                                         args.calibration_patients, args.reuse) for a, s in grid}
    n_sample = args.validation_sample or len(validation)
    val_seeds = [[derive_seed(args.seed, "validation-draw", d, i) for i in range(n_sample)]
                 for d in range(args.validation_draws)]
    variants: dict[str, tuple[Job, str, float]] = {}  # "job name, calibration" -> (job, calibration, offset)
    val_scores: dict[str, list[dict[str, float]]] = {}
    val_lengths: dict[str, list[int]] = {}
    val_info: dict[str, list[dict[str, float]]] = {}

    def record(job: Job, statistic: str, result: dict[str, object]) -> None:
        key = f"{job.name}, {statistic}"
        samples: list[tuple[Codes, dict[str, float]]] = result["samples"]  # type: ignore[assignment]
        variants[key] = (job, statistic, offset_of(result))
        val_scores[key] = [scores(validation, codes) for codes, _ in samples]
        val_lengths[key] = [len(h) for codes, _ in samples for h in codes]
        val_info[key] = [info for _, info in samples]

    context = get_context("spawn")  # fresh interpreters: no torch state forked from this one
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        # 1. train every configuration on the fit part; calibrate and sample each for the validation split
        print(f"\n== 1. training {len(jobs)} configurations on the fit part ({args.workers} processes), each sampled "
              f"with calibrations {calibrations}", flush=True)
        futures = {name: pool.submit(train_and_validate, job, calibrations, val_seeds) for name, job in jobs.items()}
        trained = {}
        for name, future in futures.items():
            trained[name] = future.result()
            for statistic in calibrations:
                record(jobs[name], statistic, trained[name][statistic])  # type: ignore[arg-type]
        first = max(val_scores, key=lambda k: criterion(val_scores[k]))
        # 2. the other calibrations, on the configuration best so far
        if later:
            job = variants[first][0]
            print(f"\n== 2. best on validation so far: {first} ({criterion(val_scores[first]):.4f}); calibrating "
                  f"{job.name} with {later} as well", flush=True)
            for statistic, result in zip(later, pool.map(calibrate_and_validate, itertools.repeat(job), later,
                                                         itertools.repeat(val_seeds)), strict=True):
                record(job, statistic, result)

        # 3. the choice, on the validation split only
        print(f"\n== 3. validation split ({len(validation)} patients; baselines from the fit part beside), R² mean "
              f"[worst, best] over {args.validation_draws} draws; criterion: the mean of the six", flush=True)
        val_base = baselines(fit_h, validation, len(validation), args.validation_draws, args.seed, "validation-draw")
        crit = {k: criterion(v) for k, v in val_scores.items()} | {k: criterion(v[0]) for k, v in val_base.items()}
        rows = {k: summarise(v) for k, v in val_scores.items()} | {k: summarise(v[0]) for k, v in val_base.items()}
        real_mean = statistics.fmean(len(p.visits) for p in validation)
        extra = {k: {"criterion (mean of the six)": f"{crit[k]:.4f}",
                     "visits/patient, mean": f"{statistics.fmean(val_lengths[k]):.1f}" if k in val_lengths
                     else f"{real_mean:.1f} (real)",
                     "end-logit offset": f"{variants[k][2]:.3f}" if k in variants else ""}
                 for k in rows}
        table(rows, extra)
        for key, info in val_info.items():
            print(f"  {key}: visits/patient {describe(val_lengths[key])}; sampling "
                  f"{statistics.fmean(i['seconds'] for i in info):.0f} s/draw; empty visits dropped "
                  f"{statistics.fmean(i['empty_dropped'] for i in info):.2%}; not ended "
                  f"{statistics.fmean(i['not_ended'] for i in info):.1f}")
        for name, result in trained.items():
            trained_in = "kept by an earlier run" if result["train_s"] is None else f"trained in {result['train_s']:.0f} s"
            print(f"  {name}: {result['parameters']} parameters, {trained_in}")
        ranked = sorted(val_scores, key=lambda k: -crit[k])
        chosen = ranked[0]
        print("ranking on validation: " + "; ".join(f"{k} {crit[k]:.4f}" for k in ranked))
        print(f"CHOICE (fixed before the held-out patients are read): {chosen}")
        print(f"current defaults ({defaults}): " + (
            f"validation criterion {crit[defaults]:.4f}, rank {ranked.index(defaults) + 1} of {len(ranked)}; the "
            f"choice {'does not change' if chosen == defaults else 'changes'}" if defaults in crit
            else "not in this grid"), flush=True)
        holdout.fix(chosen)

        # 4. the held-out patients, scored once for each reported configuration
        held_out = holdout.patients(cohort.patients)
        best_per_job = [max((k for k in val_scores if variants[k][0] is job), key=lambda k: crit[k])
                        for job in jobs.values()]
        reported = [chosen] + ([defaults] if defaults in crit and defaults != chosen else [])
        if args.report == "all":
            reported += [k for k in best_per_job if k not in reported]
        print(f"\n== 4. held-out: {len(held_out)} patients, scored once for {len(reported)} configurations x "
              f"{args.draws} draws", flush=True)
        seeds = [[derive_seed(args.seed, "draw", d, i) for i in range(len(held_out))] for d in range(args.draws)]
        futures2 = {(k, d): pool.submit(sample, variants[k][0].model_dir, variants[k][2], seeds[d])
                    for k in reported for d in range(args.draws)}
        held_scores: dict[str, list[dict[str, float]]] = defaultdict(list)
        held_copies: dict[str, list[float]] = defaultdict(list)
        held_lengths: dict[str, list[int]] = defaultdict(list)
        for (k, _d), future in futures2.items():
            codes, _info = future.result()
            held_scores[k].append(scores(held_out, codes))
            held_copies[k].append(copied(fit_h, [tuple(frozenset(v) for v in h) for h in codes]))
            held_lengths[k] += [len(h) for h in codes]
    base = baselines(fit_h, held_out, len(held_out), args.draws, args.seed, "draw")
    names = {k: "HALO " + k + (" (choice)" if k == chosen else "") + (" (current defaults)" if k == defaults else "")
             for k in reported}
    rows = {names[k]: summarise(held_scores[k]) for k in reported} | {k: summarise(v[0]) for k, v in base.items()}
    extra = {names[k]: {"copied whole histories": f"{statistics.fmean(held_copies[k]):.3f}",
                        "validation criterion": f"{crit[k]:.4f}"} for k in reported}
    extra |= {k: {"copied whole histories": f"{statistics.fmean(v[1]):.3f}", "validation criterion": f"{crit[k]:.4f}"}
              for k, v in base.items()}
    print(f"R² against the {len(held_out)} held-out patients, mean [worst, best] over {args.draws} draws "
          f"(B1, B2 and real train from the {len(fit_idx)} fit patients)")
    table(rows, extra)
    print(f"held-out visits/patient: {describe([len(p.visits) for p in held_out])}")
    for k in reported:
        print(f"  {names[k]}: visits/patient {describe(held_lengths[k])}")
    b2 = summarise(base["B2 Markov"][0])
    for k in reported:
        ours = summarise(held_scores[k])
        wins = [SHORT[m] for m in HALO_MEASURES if b2[m][0] > ours[m][0]]
        print(f"B2 Markov beats {names[k]} (mean over draws) on: {', '.join(wins) if wins else 'none'}")
    print(f"\ntotal {time.monotonic() - started:.0f} s; load average at end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.keep:
        for job in jobs.values():
            for file in Path(job.model_dir).iterdir():
                file.unlink()
            Path(job.model_dir).rmdir()
        folder.rmdir()


if __name__ == "__main__":
    main()
