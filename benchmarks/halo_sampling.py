"""HALO sampling with the coarse transformer's key-value cache against the whole-history pass it replaced.

Trains one HALO on Eunomia (HaloTraining's defaults, length calibration included, --steps caps training), then
samples --patients patients with the same seeds both ways, in turns, --repeats times each:
- cached: `Halo.sample_seeded` as it is (each visit runs the coarse transformer on the newest row only);
- whole history (the baseline, the code before 8 Dec 2026): each visit re-runs the coarse transformer over every
  row so far and keeps the last row's summary.
The patients of the two paths are compared first (every visit's codes, gaps and static values); the ratio is
printed only when all are equal, otherwise the number that differ.

    python benchmarks/halo_sampling.py --patients 200 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch
from run_info import print_end, print_start

from biosynth.tabular import Halo, HaloTraining, load_eunomia
from biosynth.tabular._ehr import halo_network
from biosynth.tabular._ehr.halo_network import HaloNetwork, HistoryCache


def whole_history_next(self: HaloNetwork, row: torch.Tensor, cache: HistoryCache) -> torch.Tensor:
    """The baseline: the rows so far kept in the cache object, the whole history run again for the newest one."""
    seen: torch.Tensor | None = getattr(cache, "seen", None)
    seen = row.unsqueeze(1) if seen is None else torch.cat((seen, row.unsqueeze(1)), dim=1)
    cache.seen = seen  # type: ignore[attr-defined]
    return self.history(seen)[:, -1]


def sample(halo: Halo, seeds: list[int], baseline: bool) -> tuple[float, list[dict[str, Any]]]:
    cached = HaloNetwork.history_next
    if baseline:
        HaloNetwork.history_next = whole_history_next  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        patients = halo.sample_seeded(seeds)
        seconds = time.perf_counter() - started
    finally:
        HaloNetwork.history_next = cached  # type: ignore[method-assign]
    return seconds, [p.payload.model_dump(mode="json") for p in patients]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="cap on training steps (default: 10 epochs)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print_start(["biosynth-tabular", "torch"])
    torch.set_num_threads(args.threads)
    print(f"code: {halo_network.__file__}; {args.threads} torch thread(s)", flush=True)
    cohort = load_eunomia()
    started = time.perf_counter()
    halo = Halo.fit(cohort.patients, training=HaloTraining(seed=0, max_steps=args.steps))
    print(f"fit on {len(cohort.patients)} patients: {time.perf_counter() - started:.1f} s, "
          f"end_logit_offset {halo.config.end_logit_offset:.3f}", flush=True)
    seeds = list(range(1000, 1000 + args.patients))
    sample(halo, seeds[:8], baseline=False)  # warm-up of both paths, outside the timing
    sample(halo, seeds[:8], baseline=True)
    times: dict[str, list[float]] = {"cached": [], "whole history": []}
    outputs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(args.repeats):
        for name in times:
            seconds, patients = sample(halo, seeds, baseline=name == "whole history")
            times[name].append(seconds)
            outputs.setdefault(name, patients)
            print(f"{name}: {seconds:.1f} s for {args.patients} patients "
                  f"({sum(len(p['visits']) for p in patients)} visits)", flush=True)
    differ = sum(a != b for a, b in zip(outputs["cached"], outputs["whole history"], strict=True))
    best = {name: min(values) for name, values in times.items()}
    print(f"load average now {os.getloadavg()[0]:.2f}; best of {args.repeats}: cached {best['cached']:.1f} s, "
          f"whole history {best['whole history']:.1f} s")
    if differ:
        print(f"{differ} of {args.patients} patients differ between the two paths: no ratio printed")
    else:
        print(f"all {args.patients} patients equal; cached sampling is {best['whole history'] / best['cached']:.1f}x "
              "the whole-history pass")
    print_end()


if __name__ == "__main__":
    main()
