"""biosynth-eval: one evaluation for every modality (tables, texts, visit sequences, images, audio) with one result schema.

Metrics are plain functions over pandas DataFrames (tabular) or lists of strings (text) returning a
`MetricResult`; `evaluate_tabular` and `evaluate_text` run them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biosynth.eval._audio.acoustics import duration_distribution, snr_error, speaking_rate
    from biosynth.eval._audio.fad import frechet_audio_distance
    from biosynth.eval._audio.intelligibility import intelligibility
    from biosynth.eval._audio.io import Clip, Utterance, read_real_audio, synthetic_audio
    from biosynth.eval._audio.models import AudioEmbedder, SpeakerEncoder, Whisper, WhisperEncoderEmbedder
    from biosynth.eval._audio.speakers import speaker_distinctness
    from biosynth.eval._audio.suite import evaluate_audio
    from biosynth.eval._consistency.metrics import image_note_consistency, note_ehr_consistency
    from biosynth.eval._consistency.suite import evaluate_cases
    from biosynth.eval._human.agreement import agreement_results
    from biosynth.eval._human.criteria import Criterion
    from biosynth.eval._human.folder import AnnotationSet, read_annotations
    from biosynth.eval._human.judge_scores import JudgeScore, read_judge_scores
    from biosynth.eval._human.review import agreement_report, export_review, import_review
    from biosynth.eval._image.features import EfficientNetLite0Features, FeatureExtractor, TransformersFeatures, image_features
    from biosynth.eval._image.io import ImageSet, read_real_images, synthetic_images
    from biosynth.eval._image.memorisation import near_copies
    from biosynth.eval._image.metrics import (
        feature_diversity,
        frechet_distance_images,
        kernel_distance_images,
        per_class_fidelity,
        precision_recall_density_coverage,
    )
    from biosynth.eval._image.pixels import ms_ssim_diversity
    from biosynth.eval._image.suite import evaluate_images
    from biosynth.eval._judge.critic import CriticFilter
    from biosynth.eval._judge.family import SelfPreferenceError, check_self_preference, model_family
    from biosynth.eval._judge.items import JudgeItem, items_from_records
    from biosynth.eval._judge.judge import Judgement, PairVerdict, PairwiseJudge, RubricJudge
    from biosynth.eval._judge.metrics import pairwise_metrics, rubric_metrics
    from biosynth.eval._judge.parse import parse_result, weighted_score
    from biosynth.eval._judge.rubric import ASCLEPIUS, DIALOGUE, FACTUAL_CONSISTENCY, RUBRICS, Rubric, ScoreLevel, load_rubric
    from biosynth.eval._report import EvaluationReport, render_html
    from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult
    from biosynth.eval._tabular.attribute_inference import attribute_inference_cap, attribute_inference_nn
    from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds, infer_metadata
    from biosynth.eval._tabular.detection import detection_auc
    from biosynth.eval._tabular.distance import nearest_records
    from biosynth.eval._tabular.fidelity import (
        category_coverage,
        column_pair_trends,
        column_shapes,
        contingency_similarity,
        correlation_similarity,
        ks_complement,
        missingness_similarity,
        quality_report,
        range_coverage,
        tv_complement,
    )
    from biosynth.eval._tabular.privacy import distance_to_closest_record, exact_copy_rate, membership_inference_distance
    from biosynth.eval._tabular.privacy_density import membership_inference_density
    from biosynth.eval._tabular.suite import evaluate_tabular
    from biosynth.eval._tabular.utility import utility_tstr
    from biosynth.eval._text.diversity import distinct_n, embedding_similarity, length_distribution, self_bleu
    from biosynth.eval._text.embeddings import Embedder
    from biosynth.eval._text.factuality import (
        ConceptExtractor,
        DictionaryConceptExtractor,
        concept_f1,
        find_icd10_codes,
        hpo_validity,
        icd10_validity,
    )
    from biosynth.eval._text.fidelity import frechet_distance, mauve
    from biosynth.eval._text.labels import label_consistency
    from biosynth.eval._text.memorisation import (
        PHI_PATTERNS,
        duplicates,
        find_phi,
        longest_common_substring,
        ngram_overlap,
        phi_patterns,
    )
    from biosynth.eval._text.perplexity import CausalLMScorer, perplexity
    from biosynth.eval._text.suite import evaluate_text
    from biosynth.eval._visits.measures import (
        HALO_MEASURES,
        code_statistics,
        codes_per_visit_distribution,
        halo_r2,
        halo_r2_all,
        visit_count_distribution,
    )
    from biosynth.eval._visits.suite import evaluate_visits

# Each public name is imported from its module on first use, so that importing a part of biosynth-eval (its
# `biosynth evaluate` command, say, which every `biosynth` command loads) does not import scikit-learn, SciPy
# and every metric family.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "biosynth.eval._audio.acoustics": ("duration_distribution", "snr_error", "speaking_rate"),
    "biosynth.eval._audio.fad": ("frechet_audio_distance",),
    "biosynth.eval._audio.intelligibility": ("intelligibility",),
    "biosynth.eval._audio.io": ("Clip", "Utterance", "read_real_audio", "synthetic_audio"),
    "biosynth.eval._audio.models": ("AudioEmbedder", "SpeakerEncoder", "Whisper", "WhisperEncoderEmbedder"),
    "biosynth.eval._audio.speakers": ("speaker_distinctness",),
    "biosynth.eval._audio.suite": ("evaluate_audio",),
    "biosynth.eval._consistency.metrics": ("image_note_consistency", "note_ehr_consistency"),
    "biosynth.eval._consistency.suite": ("evaluate_cases",),
    "biosynth.eval._human.agreement": ("agreement_results",),
    "biosynth.eval._human.criteria": ("Criterion",),
    "biosynth.eval._human.folder": ("AnnotationSet", "read_annotations"),
    "biosynth.eval._human.judge_scores": ("JudgeScore", "read_judge_scores"),
    "biosynth.eval._human.review": ("agreement_report", "export_review", "import_review"),
    "biosynth.eval._image.features": ("EfficientNetLite0Features", "FeatureExtractor", "TransformersFeatures",
                                      "image_features"),
    "biosynth.eval._image.io": ("ImageSet", "read_real_images", "synthetic_images"),
    "biosynth.eval._image.memorisation": ("near_copies",),
    "biosynth.eval._image.metrics": ("feature_diversity", "frechet_distance_images", "kernel_distance_images",
                                     "per_class_fidelity", "precision_recall_density_coverage"),
    "biosynth.eval._image.pixels": ("ms_ssim_diversity",),
    "biosynth.eval._image.suite": ("evaluate_images",),
    "biosynth.eval._judge.critic": ("CriticFilter",),
    "biosynth.eval._judge.family": ("SelfPreferenceError", "check_self_preference", "model_family"),
    "biosynth.eval._judge.items": ("JudgeItem", "items_from_records"),
    "biosynth.eval._judge.judge": ("Judgement", "PairVerdict", "PairwiseJudge", "RubricJudge"),
    "biosynth.eval._judge.metrics": ("pairwise_metrics", "rubric_metrics"),
    "biosynth.eval._judge.parse": ("parse_result", "weighted_score"),
    "biosynth.eval._judge.rubric": ("ASCLEPIUS", "DIALOGUE", "FACTUAL_CONSISTENCY", "RUBRICS", "Rubric", "ScoreLevel",
                                    "load_rubric"),
    "biosynth.eval._report": ("EvaluationReport", "render_html"),
    "biosynth.eval._result": ("ConfidenceInterval", "Direction", "Family", "MetricResult"),
    "biosynth.eval._tabular.attribute_inference": ("attribute_inference_cap", "attribute_inference_nn"),
    "biosynth.eval._tabular.columns": ("ColumnKind", "ColumnKinds", "infer_metadata"),
    "biosynth.eval._tabular.detection": ("detection_auc",),
    "biosynth.eval._tabular.distance": ("nearest_records",),
    "biosynth.eval._tabular.fidelity": (
        "category_coverage", "column_pair_trends", "column_shapes", "contingency_similarity", "correlation_similarity",
        "ks_complement", "missingness_similarity", "quality_report", "range_coverage", "tv_complement",
    ),
    "biosynth.eval._tabular.privacy": ("distance_to_closest_record", "exact_copy_rate", "membership_inference_distance"),
    "biosynth.eval._tabular.privacy_density": ("membership_inference_density",),
    "biosynth.eval._tabular.suite": ("evaluate_tabular",),
    "biosynth.eval._tabular.utility": ("utility_tstr",),
    "biosynth.eval._text.diversity": ("distinct_n", "embedding_similarity", "length_distribution", "self_bleu"),
    "biosynth.eval._text.embeddings": ("Embedder",),
    "biosynth.eval._text.factuality": (
        "ConceptExtractor", "DictionaryConceptExtractor", "concept_f1", "find_icd10_codes", "hpo_validity", "icd10_validity",
    ),
    "biosynth.eval._text.fidelity": ("frechet_distance", "mauve"),
    "biosynth.eval._text.labels": ("label_consistency",),
    "biosynth.eval._text.memorisation": (
        "PHI_PATTERNS", "duplicates", "find_phi", "longest_common_substring", "ngram_overlap", "phi_patterns",
    ),
    "biosynth.eval._text.perplexity": ("CausalLMScorer", "perplexity"),
    "biosynth.eval._text.suite": ("evaluate_text",),
    "biosynth.eval._visits.measures": (
        "HALO_MEASURES", "code_statistics", "codes_per_visit_distribution", "halo_r2", "halo_r2_all", "visit_count_distribution",
    ),
    "biosynth.eval._visits.suite": ("evaluate_visits",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'biosynth.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "ColumnKind", "ConfidenceInterval", "Direction", "EvaluationReport", "Family", "MetricResult", "ColumnKinds",
    "category_coverage", "column_pair_trends", "column_shapes", "contingency_similarity", "correlation_similarity",
    "detection_auc", "distance_to_closest_record", "evaluate_tabular", "exact_copy_rate", "infer_metadata",
    "ks_complement", "membership_inference_distance", "missingness_similarity", "nearest_records", "quality_report",
    "range_coverage",
    "render_html", "tv_complement", "utility_tstr",
    "attribute_inference_cap", "attribute_inference_nn", "membership_inference_density",
    # text
    "PHI_PATTERNS", "ConceptExtractor", "DictionaryConceptExtractor", "Embedder",
    "concept_f1", "distinct_n", "duplicates", "embedding_similarity", "evaluate_text",
    "find_icd10_codes", "find_phi", "frechet_distance", "hpo_validity", "icd10_validity", "length_distribution",
    "longest_common_substring", "mauve", "ngram_overlap", "phi_patterns", "self_bleu",
    "CausalLMScorer", "label_consistency", "perplexity",
    # visit sequences (longitudinal EHR)
    "HALO_MEASURES", "code_statistics", "codes_per_visit_distribution", "evaluate_visits", "halo_r2", "halo_r2_all",
    "visit_count_distribution",
    # images
    "EfficientNetLite0Features", "FeatureExtractor", "ImageSet", "TransformersFeatures", "evaluate_images",
    "feature_diversity", "frechet_distance_images", "image_features", "kernel_distance_images", "ms_ssim_diversity",
    "near_copies", "per_class_fidelity", "precision_recall_density_coverage", "read_real_images", "synthetic_images",
    # LLM judges
    "ASCLEPIUS", "CriticFilter", "DIALOGUE", "FACTUAL_CONSISTENCY", "JudgeItem", "Judgement", "PairVerdict",
    "PairwiseJudge", "RUBRICS", "Rubric", "RubricJudge", "ScoreLevel", "SelfPreferenceError", "check_self_preference",
    "items_from_records", "load_rubric", "model_family", "pairwise_metrics", "parse_result", "rubric_metrics",
    "weighted_score",
    # human review
    "AnnotationSet", "Criterion", "JudgeScore", "agreement_report", "agreement_results", "export_review", "import_review",
    "read_annotations", "read_judge_scores",
    # audio
    "AudioEmbedder", "Clip", "SpeakerEncoder", "Utterance", "Whisper", "WhisperEncoderEmbedder", "duration_distribution",
    "evaluate_audio", "frechet_audio_distance", "intelligibility", "read_real_audio", "snr_error", "speaker_distinctness",
    "speaking_rate", "synthetic_audio",
    # multimodal cases
    "evaluate_cases", "image_note_consistency", "note_ehr_consistency",
]
