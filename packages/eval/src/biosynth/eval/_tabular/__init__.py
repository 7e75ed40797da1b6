"""Tabular metrics: one real table (and an optional holdout) against one synthetic table, as pandas DataFrames.

Fidelity (SDMetrics' column shapes and column pair trends, coverage, missingness, detection AUC), utility (train on
synthetic, test on real), and privacy (distance to closest record, exact copies, membership inference by distance
and by density ratio, attribute inference), run together by the tabular suite.
"""
