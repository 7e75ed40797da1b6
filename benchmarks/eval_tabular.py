"""Benchmark: biosynth-eval against SDMetrics on the same rows, in one run (not part of the test suite).

1. Column Shapes + Column Pair Trends: biosynth's quality_report (vectorised, all rows) vs SDMetrics' single-table
   QualityReport, each side's best of --repeats runs, taken in turns. Before the ratio is printed, every column's and
   every pair's score (contributing or not), every pair's "meets the threshold" flag and both averages are asserted
   equal to SDMetrics' (|delta| <= 1e-9; NaN where SDMetrics has NaN).
2. Distance to closest record: biosynth's exact chunked DCR vs SDMetrics' calculate_dcr (and DCRBaselineProtection,
   which runs two DCR passes) at a size SDMetrics finishes in minutes, DCRs asserted equal; then biosynth alone at
   --dcr-large rows a side, beside SDMetrics' time projected from its measured rate (calculate_dcr works in
   1,000 x 1,000-row chunks, so its time grows with the number of row pairs; the projection assumes that).

    python benchmarks/eval_tabular.py --rows 20000 --dcr-rows 2000 --dcr-large 50000

Needs: biosynth-eval[test] (sdmetrics). Times are wall-clock on this machine, with the load average printed at start
and end; compare only figures of one run.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import threading
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

from biosynth.eval import ColumnKinds, nearest_records, quality_report

warnings.filterwarnings("ignore")


def make_table(n: int, seed: int, shift: float = 0.0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """30 columns: 18 numerical (correlated), 2 datetime, 8 categorical, 2 boolean; about 5% missing."""
    g = np.random.default_rng(seed)
    latent = g.normal(size=(n, 4))
    columns: dict[str, Any] = {}
    meta: dict[str, dict[str, str]] = {}
    for i in range(18):
        weights = np.random.default_rng(i).normal(size=4)
        columns[f"num_{i}"] = latent @ weights + g.normal(scale=1 + shift, size=n) + 50 * i
        meta[f"num_{i}"] = {"sdtype": "numerical"}
    for i in range(2):
        days = (latent[:, i] * 200 + g.integers(0, 1000, n)).astype(int)
        columns[f"date_{i}"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D")
        meta[f"date_{i}"] = {"sdtype": "datetime"}
    for i in range(8):
        k = 3 + 2 * i
        bins = np.quantile(latent[:, i % 4], np.linspace(0, 1, k + 1)[1:-1])
        codes = np.digitize(latent[:, i % 4] + g.normal(scale=0.5 + shift, size=n), bins)
        columns[f"cat_{i}"] = np.array([f"c{j}" for j in range(k)], dtype=object)[codes]
        meta[f"cat_{i}"] = {"sdtype": "categorical"}
    for i in range(2):
        columns[f"flag_{i}"] = latent[:, i] + g.normal(size=n) > 0.3
        meta[f"flag_{i}"] = {"sdtype": "boolean"}
    frame = pd.DataFrame(columns)
    for name in frame.columns:
        if name.startswith(("num_", "date_", "cat_")) and int(name.split("_")[1]) % 2 == 0:
            frame.loc[g.random(n) < 0.05, name] = None
    return frame, {"columns": meta}


class PeakMemory:
    """Peak resident memory above the starting level, sampled every 5 ms from /proc/self/statm."""

    def __enter__(self) -> PeakMemory:
        self._page = 4096
        self.start = self._rss()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[Any, float, float]:
    """Result, the best wall time of `repeats` runs (timeit's convention: the least disturbed run) and peak MiB."""
    best = float("inf")
    with PeakMemory() as memory:
        for _ in range(repeats):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
    return out, best, memory.mib


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


TOLERANCE = 1e-9


def check_equal(what: str, ours: float | None, theirs: float) -> float:
    """|ours - theirs|, asserting both are NaN/None together or within TOLERANCE."""
    ours_nan, theirs_nan = ours is None or np.isnan(ours), theirs is None or pd.isna(theirs)
    assert ours_nan == theirs_nan, f"{what}: biosynth {ours} but SDMetrics {theirs}"
    if ours_nan:
        return 0.0
    delta = abs(float(ours) - float(theirs))  # type: ignore[arg-type]
    assert delta <= TOLERANCE, f"{what}: biosynth {ours} but SDMetrics {theirs} (|delta| {delta:.2e})"
    return delta


def quality(rows: int, repeats: int, bootstrap: int) -> None:
    from sdmetrics.reports.single_table import QualityReport

    real, metadata = make_table(rows, seed=1)
    synthetic, _ = make_table(rows, seed=2, shift=0.2)
    print(f"== Column Shapes + Column Pair Trends: {rows:,} real x {rows:,} synthetic rows, {real.shape[1]} columns, "
          f"best of {repeats} runs each, in turns")

    def ours() -> tuple[Any, Any]:
        return quality_report(real, synthetic, metadata, n_bootstrap=0)

    def theirs() -> Any:
        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
        return report

    ours_times, theirs_times, m_ours, m_theirs = [], [], 0.0, 0.0
    for _ in range(repeats):
        (shapes, pairs), t, m = timed(ours)
        ours_times.append(t)
        m_ours = max(m_ours, m)
        report, t, m = timed(theirs)
        theirs_times.append(t)
        m_theirs = max(m_theirs, m)
    t_ours, t_theirs = min(ours_times), min(theirs_times)

    ref_shapes = report.get_details("Column Shapes").set_index("Column")["Score"]
    assert len(shapes.details["columns"]) == len(ref_shapes), "a different set of columns was scored"
    d_shapes = max(check_equal(f"column {r['column']}", r["score"], ref_shapes[r["column"]])
                   for r in shapes.details["columns"])
    # SDMetrics scores a pair only when its real association meets the threshold (NaN otherwise): the timed
    # reports are compared on those pairs and on the flags; a second SDMetrics report with both thresholds at 0
    # (not timed) scores every pair, and every pair's biosynth score is compared with it.
    ref_pairs = report.get_details("Column Pair Trends").set_index(["Column 1", "Column 2"])
    assert len(pairs.details["pairs"]) == len(ref_pairs), "a different set of pairs was scored"
    every = QualityReport()
    every.real_correlation_threshold = every.real_association_threshold = 0
    every.generate(real, synthetic, metadata, verbose=False)
    every_pairs = every.get_details("Column Pair Trends").set_index(["Column 1", "Column 2"])["Score"]
    d_pairs = d_every = 0.0
    for r in pairs.details["pairs"]:
        name = f"pair {r['column_1']} / {r['column_2']}"
        ref = ref_pairs.loc[(r["column_1"], r["column_2"])]
        meets = ref["Meets Threshold?"]
        assert bool(r["contributes"]) == (False if pd.isna(meets) else bool(meets)), \
            f"{name}: contributes {r['contributes']}, SDMetrics meets the threshold: {meets}"
        if r["contributes"]:
            d_pairs = max(d_pairs, check_equal(name, r["score"], ref["Score"]))
        d_every = max(d_every, check_equal(name + " (thresholds 0)", r["score"],
                                           every_pairs.loc[(r["column_1"], r["column_2"])]))
    props = report.get_properties().set_index("Property")["Score"]
    _, all_pairs = quality_report(real, synthetic, metadata, n_bootstrap=0, real_correlation_threshold=0,
                                  real_association_threshold=0)
    d_avg = max(check_equal("Column Shapes", shapes.value, props["Column Shapes"]),
                check_equal("Column Pair Trends", pairs.value, props["Column Pair Trends"]),
                check_equal("Column Pair Trends (thresholds 0)", all_pairs.value,
                            every.get_properties().set_index("Property")["Score"]["Column Pair Trends"]))
    contributing = sum(bool(r["contributes"]) for r in pairs.details["pairs"])
    print(f"biosynth  {t_ours:8.2f} s  (+{m_ours:6.0f} MiB)   shapes {shapes.value:.6f}  pair trends {pairs.value:.6f}"
          f"   runs {', '.join(f'{t:.2f}' for t in ours_times)} s")
    print(f"SDMetrics {t_theirs:8.2f} s  (+{m_theirs:6.0f} MiB)   shapes {props['Column Shapes']:.6f}  "
          f"pair trends {props['Column Pair Trends']:.6f}   runs {', '.join(f'{t:.2f}' for t in theirs_times)} s")
    print(f"equal scores (asserted, |delta| <= {TOLERANCE:g}): {len(ref_shapes)} columns max |delta| {d_shapes:.2e}, "
          f"{contributing} pairs that meet the threshold max |delta| {d_pairs:.2e} (flags of all {len(ref_pairs)} "
          f"equal), all {len(ref_pairs)} pairs at thresholds 0 max |delta| {d_every:.2e}, averages {d_avg:.2e}")
    print(f"speed-up  {t_theirs / t_ours:8.1f} x (best of each)")
    if bootstrap:
        _, t_ci, _ = timed(lambda: quality_report(real, synthetic, metadata, n_bootstrap=bootstrap))
        print(f"biosynth with {bootstrap}-replicate bootstrap intervals (quality_report's default; SDMetrics gives "
              f"none): {t_ci:.2f} s")


def dcr(rows: int, large: int, baseline_protection: bool) -> None:
    from sdmetrics.single_table import DCRBaselineProtection
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    real, metadata = make_table(rows, seed=3)
    synthetic, _ = make_table(rows, seed=4, shift=0.2)
    meta = ColumnKinds.coerce(metadata, real)
    sd_meta = {"columns": metadata["columns"]}
    print(f"== Distance to closest record: {rows:,} synthetic x {rows:,} real rows, {real.shape[1]} columns")
    (ours, _), t_ours, m_ours = timed(lambda: nearest_records(synthetic, real, meta))
    reference, t_ref, m_ref = timed(lambda: calculate_dcr(synthetic, real, sd_meta).to_numpy())
    delta = np.abs(ours - reference).max()
    assert delta <= TOLERANCE, f"DCRs differ from SDMetrics' calculate_dcr: max |delta| {delta:.2e}"
    pairs = rows * rows
    print(f"biosynth exact DCR                 {t_ours:8.2f} s  (+{m_ours:6.0f} MiB)  "
          f"{pairs / t_ours / 1e6:8.2f} M row pairs/s")
    print(f"SDMetrics calculate_dcr            {t_ref:8.2f} s  (+{m_ref:6.0f} MiB)  {pairs / t_ref / 1e6:8.3f} M row pairs/s")
    print(f"equal DCRs (asserted): max |delta| {delta:.2e} over {rows:,} rows; per row pair biosynth is "
          f"{t_ref / t_ours:.0f} x calculate_dcr")
    if baseline_protection:
        result, t_base, m_base = timed(lambda: DCRBaselineProtection.compute_breakdown(real, synthetic, sd_meta, None))
        print(f"SDMetrics DCRBaselineProtection    {t_base:8.2f} s  (+{m_base:6.0f} MiB)  "
              f"{2 * pairs / t_base / 1e6:8.3f} M row pairs/s (two DCR passes)  score {result['score']:.4f}; "
              f"per row pair biosynth is {t_base / 2 / t_ours:.0f} x")
    if large:
        big_real, _ = make_table(large, seed=5)
        big_synthetic, _ = make_table(large, seed=6, shift=0.2)
        (big, _), t_big, m_big = timed(lambda: nearest_records(big_synthetic, big_real, meta))
        projected = t_ref * (large / rows) ** 2
        if rows % 1000:
            print(f"(the projection below assumes whole 1,000-row chunks: --dcr-rows {rows:,} is not a multiple of "
                  "1,000, so it is rough)")
        print(f"biosynth exact DCR at {large:,} x {large:,}: {t_big:.1f} s (+{m_big:.0f} MiB), "
              f"{large * large / t_big / 1e6:.1f} M row pairs/s, median DCR {np.median(big):.4f}")
        print(f"SDMetrics calculate_dcr at {large:,} x {large:,}, projected from its {rows:,}-row rate (not run): "
              f"{projected:,.0f} s = {projected / 3600:.1f} h, {projected / t_big:.0f} x biosynth's measured time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per side for the quality comparison")
    parser.add_argument("--dcr-rows", type=int, default=2_000, help="rows per side for the DCR comparison")
    parser.add_argument("--dcr-large", type=int, default=50_000, help="rows per side for biosynth alone (0: skip)")
    parser.add_argument("--only", choices=["quality", "dcr"], help="run one of the two comparisons")
    parser.add_argument("--repeats", type=int, default=3,
                        help="quality comparison: runs of each side in turns, the best time counts (both sides alike)")
    parser.add_argument("--bootstrap", type=int, default=200,
                        help="also time biosynth's quality_report with this many bootstrap replicates (0: skip)")
    parser.add_argument("--skip-baseline-protection", action="store_true",
                        help="leave out SDMetrics' DCRBaselineProtection (two more DCR passes)")
    args = parser.parse_args()
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"load average at start: {load_average()}")
    print(f"sdmetrics {version('sdmetrics')}, numpy {np.__version__}, pandas {pd.__version__}, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")
    if args.only != "dcr":
        quality(args.rows, args.repeats, args.bootstrap)
    if args.only != "quality":
        dcr(args.dcr_rows, args.dcr_large, not args.skip_baseline_protection)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
