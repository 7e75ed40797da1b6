"""Benchmark: biosynth-eval against SDMetrics on the same rows, in one run (not part of the test suite).

1. Column Shapes + Column Pair Trends: biosynth's quality_report (vectorised, all rows) vs SDMetrics' single-table
   QualityReport, best of --repeats runs each, with the largest per-column / per-pair score difference.
2. Distance to closest record: biosynth's exact chunked DCR vs SDMetrics' DCRBaselineProtection (which computes the
   synthetic->real and random->real DCRs) at a size SDMetrics can finish, with the largest DCR difference against
   SDMetrics' calculate_dcr, then biosynth alone at a large size.

    python benchmarks/eval_tabular.py --rows 20000 --dcr-rows 2000 --dcr-large 50000

Needs: biosynth-eval[test] (sdmetrics). Times are wall-clock on this machine; compare only figures of one run.
"""

from __future__ import annotations

import argparse
import threading
import time
import warnings
from collections.abc import Callable
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


def quality(rows: int, repeats: int) -> None:
    from sdmetrics.reports.single_table import QualityReport

    real, metadata = make_table(rows, seed=1)
    synthetic, _ = make_table(rows, seed=2, shift=0.2)
    print(f"== Column Shapes + Column Pair Trends: {rows:,} real x {rows:,} synthetic rows, {real.shape[1]} columns, "
          f"best of {repeats} runs each")

    def ours() -> tuple[Any, Any]:
        return quality_report(real, synthetic, metadata, n_bootstrap=0)

    def theirs() -> Any:
        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
        return report

    (shapes, pairs), t_ours, m_ours = timed(ours, repeats)
    report, t_theirs, m_theirs = timed(theirs, repeats)
    _, t_ci, _ = timed(lambda: quality_report(real, synthetic, metadata, n_bootstrap=200))
    ref_shapes = report.get_details("Column Shapes").set_index("Column")["Score"]
    ref_pairs = report.get_details("Column Pair Trends")
    ref_pairs = ref_pairs.set_index(["Column 1", "Column 2"])["Score"]
    d_shapes = max(abs(r["score"] - ref_shapes[r["column"]]) for r in shapes.details["columns"])
    compared = [(r["score"], ref_pairs[(r["column_1"], r["column_2"])]) for r in pairs.details["pairs"]
                if r["contributes"]]
    d_pairs = max(abs(a - b) for a, b in compared)
    props = report.get_properties().set_index("Property")["Score"]
    print(f"biosynth  {t_ours:8.2f} s  (+{m_ours:6.0f} MiB)   shapes {shapes.value:.6f}  pair trends {pairs.value:.6f}")
    print(f"SDMetrics {t_theirs:8.2f} s  (+{m_theirs:6.0f} MiB)   shapes {props['Column Shapes']:.6f}  "
          f"pair trends {props['Column Pair Trends']:.6f}")
    print(f"speed-up  {t_theirs / t_ours:8.1f} x   max |delta| per column {d_shapes:.2e}, per contributing pair "
          f"{d_pairs:.2e} ({len(compared)} pairs), averages {abs(shapes.value - props['Column Shapes']):.2e} / "
          f"{abs(pairs.value - props['Column Pair Trends']):.2e}")
    print(f"biosynth with 200-replicate bootstrap intervals: {t_ci:.2f} s")


def dcr(rows: int, large: int) -> None:
    from sdmetrics.single_table import DCRBaselineProtection
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    real, metadata = make_table(rows, seed=3)
    synthetic, _ = make_table(rows, seed=4, shift=0.2)
    meta = ColumnKinds.coerce(metadata, real)
    sd_meta = {"columns": metadata["columns"]}
    print(f"== Distance to closest record: {rows:,} synthetic x {rows:,} real rows, {real.shape[1]} columns")
    (ours, _), t_ours, m_ours = timed(lambda: nearest_records(synthetic, real, meta))
    result, t_base, m_base = timed(lambda: DCRBaselineProtection.compute_breakdown(real, synthetic, sd_meta, None))
    reference, t_ref, m_ref = timed(lambda: calculate_dcr(synthetic, real, sd_meta).to_numpy())
    pairs = rows * rows
    print(f"biosynth exact DCR                 {t_ours:8.2f} s  (+{m_ours:6.0f} MiB)  "
          f"{pairs / t_ours / 1e6:8.1f} M row pairs/s")
    print(f"SDMetrics calculate_dcr            {t_ref:8.2f} s  (+{m_ref:6.0f} MiB)  {pairs / t_ref / 1e6:8.2f} M row pairs/s")
    print(f"SDMetrics DCRBaselineProtection    {t_base:8.2f} s  (+{m_base:6.0f} MiB)  "
          f"{2 * pairs / t_base / 1e6:8.2f} M row pairs/s (two DCR passes)  score {result['score']:.4f}")
    print(f"per row pair: biosynth is {t_ref / t_ours:.0f} x calculate_dcr and {t_base / 2 / t_ours:.0f} x "
          f"DCRBaselineProtection; max |DCR delta| {np.abs(ours - reference).max():.2e}")
    if large:
        big_real, _ = make_table(large, seed=5)
        big_synthetic, _ = make_table(large, seed=6, shift=0.2)
        (big, _), t_big, m_big = timed(lambda: nearest_records(big_synthetic, big_real, meta))
        print(f"biosynth exact DCR at {large:,} x {large:,}: {t_big:.1f} s (+{m_big:.0f} MiB), "
              f"{large * large / t_big / 1e6:.1f} M row pairs/s, median DCR {np.median(big):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="rows per side for the quality comparison")
    parser.add_argument("--dcr-rows", type=int, default=2_000, help="rows per side for the DCR comparison")
    parser.add_argument("--dcr-large", type=int, default=50_000, help="rows per side for biosynth alone (0: skip)")
    parser.add_argument("--only", choices=["quality", "dcr"], help="run one of the two comparisons")
    parser.add_argument("--repeats", type=int, default=3,
                        help="quality comparison: runs of each side, the best time counts (both sides alike)")
    args = parser.parse_args()
    if args.only != "dcr":
        quality(args.rows, args.repeats)
    if args.only != "quality":
        dcr(args.dcr_rows, args.dcr_large)


if __name__ == "__main__":
    main()
