"""biosynth-eval: one evaluation for every modality; tabular fidelity and privacy metrics with one result schema.

Metrics are plain functions over pandas DataFrames returning a `MetricResult`; `evaluate_tabular` runs them all.
"""

from biosynth.eval._columns import ColumnKind, TableMetadata, infer_metadata
from biosynth.eval._detection import detection_auc
from biosynth.eval._distance import nearest_records
from biosynth.eval._fidelity import (
    category_coverage,
    column_pair_trends,
    column_shapes,
    contingency_similarity,
    correlation_similarity,
    ks_complement,
    missingness_similarity,
    range_coverage,
    tv_complement,
)
from biosynth.eval._privacy import distance_to_closest_record, exact_copy_rate, membership_inference_distance
from biosynth.eval._report import EvaluationReport, render_html
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult
from biosynth.eval._suite import evaluate_tabular

__all__ = [
    "ColumnKind", "ConfidenceInterval", "Direction", "EvaluationReport", "Family", "MetricResult", "TableMetadata",
    "category_coverage", "column_pair_trends", "column_shapes", "contingency_similarity", "correlation_similarity",
    "detection_auc", "distance_to_closest_record", "evaluate_tabular", "exact_copy_rate", "infer_metadata",
    "ks_complement", "membership_inference_distance", "missingness_similarity", "nearest_records", "range_coverage",
    "render_html", "tv_complement",
]
