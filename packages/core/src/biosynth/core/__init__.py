# ruff: noqa: I001  (imports are grouped by audience, not sorted)
"""biosynth-core: records, provenance, recipes, components, registry, policy, dataset store and runner.

Exports are grouped by who uses them: recipe and dataset users, generator authors, component (backend)
authors, and everyone (errors, hashing). The test kit lives in `biosynth.core.testing`.
"""

# -- for recipe authors and dataset users ---------------------------------------------------------
from biosynth.core._dataset import SyntheticDataset
from biosynth.core._dedup import DeduplicateConfig, Deduplicator
from biosynth.core._inputs import PACKAGE_PREFIX, InputFile, InputFingerprint, resolve_package_path
from biosynth.core._manifest import FailureEntry, Manifest, RemovedEntry, StepSummary, software_versions
from biosynth.core._policy import Policy
from biosynth.core._recipe import PolicyConfig, Recipe, Step, load_recipe, parse_recipe
from biosynth.core._runner import Plan, Runner, plan, run_recipe

# -- records and provenance (everyone) ------------------------------------------------------------
from biosynth.core._decoding import DecodingConfig
from biosynth.core._provenance import GenerationFacts, ModelRef, PromptRef, Provenance, Strategy, Validation
from biosynth.core._records import (
    AudioPayload,
    AudioSegment,
    DialoguePayload,
    ImagePayload,
    MediaRef,
    Modality,
    QAPayload,
    Record,
    Relation,
    Scalar,
    Span,
    TableRowPayload,
    TextPayload,
    Turn,
    Visit,
    VisitSequencePayload,
)

# -- for generator authors ------------------------------------------------------------------------
from biosynth.core._builtin_generators import AttributeSampler, AttributeSpecs, TemplateText
from biosynth.core._corpus import Corpus, CorpusRow, read_corpus, read_text_file
from biosynth.core._generator import Draft, Drop, Generator, GeneratorParams, SampleFailure, SampleRequest, StepContext
from biosynth.core._retry import Accepted, Rejected, retry_until_valid
from biosynth.core._seeding import attempt_seed, derive_seed, rng, seeded_torch
from biosynth.core._structured import (
    RETRY_TEMPLATE,
    StructuredPrompt,
    StructuredResult,
    extract_json,
    generate_structured,
    json_instruction,
    render_messages,
    retry_turns,
)
from biosynth.core._tables import read_table
from biosynth.core._table_schema import (
    ColumnSpec,
    ColumnType,
    FixedCombinations,
    Inequality,
    TableMetadata,
    column_types_from,
    detect_metadata,
    read_table_metadata,
    table_metadata_from,
)
from biosynth.core._targets import (
    AchievedDistribution,
    TargetDistribution,
    achieved_distribution,
    balance_facts,
    target_value,
)
from biosynth.core._templates import PromptTemplate
from biosynth.core._validation import describe_validation_error

# -- for component (backend) authors: language models, pipelines, voices, learned models ----------
from biosynth.core._components import (
    BackendSpec,
    Component,
    ComponentKind,
    ComponentSpec,
    ResolvedComponent,
    runs_remotely,
)
from biosynth.core._embeddings import SentenceEncoder, default_sentence_encoder
from biosynth.core._llm import (
    BaseLanguageModel,
    ChatMessage,
    ChatRequest,
    Completion,
    LanguageModel,
    PositionLogprobs,
    TokenLogprob,
)
from biosynth.core._gguf_folder import cache_dir, gguf_as_folder, gguf_general_metadata
from biosynth.core._model_folder import (
    MARKER,
    check_model_folder,
    check_model_target,
    is_model_folder,
    read_marker,
    weights_sha256,
    write_model_folder,
)
from biosynth.core._registry import Group, Registry, default_registry
from biosynth.core._requirements import missing_modules
from biosynth.core._secrets import secret_from_env

# -- for exporter authors (entry-point group biosynth.exporters; see biosynth.core._export._base) -----
from biosynth.core._export._base import (
    ExportContext,
    Exporter,
    ExportOptions,
    ExportResult,
    export_dataset,
    exporter_names,
    get_exporter,
)
from biosynth.core._export._folder import EXPORT_MARKER, ExportError, is_export_folder, read_export_marker
from biosynth.core._export._codes import CodeVocabulary, code_system, read_code_vocabulary
from biosynth.core._export._identifiers import (
    SECONDARY_CAPTURE_SOP_CLASS,
    ImagingEntry,
    ImagingUids,
    dataset_key,
    derived_uid,
    imaging_layout,
    imaging_uids,
    resource_uuid,
    step_image_modality,
)
from biosynth.core._export._visits import VisitDates, birth_year, visit_dates

# -- errors, hashing and atomic files (everyone) ---------------------------------------------------
from biosynth.core._atomic import atomic_path, atomic_write_bytes, atomic_write_text, fsync_tree, replace_folder
from biosynth.core._errors import (
    BiosynthError,
    ConfigError,
    DatasetError,
    GenerationError,
    InputDataError,
    PolicyError,
    RecipeError,
    RegistryError,
)
from biosynth.core._hashing import canonical_json, sha256_file, sha256_text

__all__ = [
    # recipe authors and dataset users
    "DeduplicateConfig", "Deduplicator", "FailureEntry", "InputFile", "InputFingerprint", "Manifest", "PACKAGE_PREFIX",
    "Plan", "Policy", "PolicyConfig", "Recipe", "RemovedEntry", "Runner", "Step", "StepSummary", "SyntheticDataset",
    "load_recipe", "parse_recipe", "plan", "resolve_package_path", "run_recipe", "software_versions",
    # records and provenance
    "AudioPayload", "AudioSegment", "DecodingConfig", "DialoguePayload", "GenerationFacts", "ImagePayload", "MediaRef",
    "Modality", "ModelRef", "PromptRef", "Provenance", "QAPayload", "Record", "Relation", "Scalar", "Span", "Strategy",
    "TableRowPayload", "TextPayload", "Turn", "Validation", "Visit", "VisitSequencePayload",
    # generator authors
    "Accepted", "AchievedDistribution", "AttributeSampler", "AttributeSpecs", "Corpus", "CorpusRow", "Draft", "Drop",
    "Generator", "GeneratorParams", "PromptTemplate", "RETRY_TEMPLATE", "Rejected", "SampleFailure", "SampleRequest",
    "StepContext", "StructuredPrompt", "StructuredResult", "TargetDistribution", "TemplateText",
    "achieved_distribution", "attempt_seed", "balance_facts", "derive_seed", "describe_validation_error",
    "extract_json", "generate_structured",
    "json_instruction", "read_corpus", "read_table", "read_text_file", "render_messages", "retry_turns",
    "retry_until_valid", "rng", "seeded_torch", "target_value",
    # the one table schema
    "ColumnSpec", "ColumnType", "FixedCombinations", "Inequality", "TableMetadata", "column_types_from", "detect_metadata",
    "read_table_metadata", "table_metadata_from",
    # component (backend) authors
    "BackendSpec", "BaseLanguageModel", "ChatMessage", "ChatRequest", "Completion", "Component", "ComponentKind",
    "ComponentSpec", "Group", "LanguageModel", "MARKER", "PositionLogprobs", "Registry", "ResolvedComponent",
    "SentenceEncoder", "TokenLogprob",
    "cache_dir", "check_model_folder", "check_model_target", "default_registry", "default_sentence_encoder",
    "gguf_as_folder", "gguf_general_metadata", "is_model_folder", "missing_modules", "read_marker", "runs_remotely",
    "secret_from_env",
    "weights_sha256", "write_model_folder",
    # exporter authors
    "CodeVocabulary", "EXPORT_MARKER", "ExportContext", "ExportError", "ExportOptions", "ExportResult", "Exporter",
    "ImagingEntry", "ImagingUids", "SECONDARY_CAPTURE_SOP_CLASS", "VisitDates", "birth_year", "code_system", "dataset_key",
    "derived_uid", "export_dataset", "exporter_names", "get_exporter", "imaging_layout", "imaging_uids",
    "is_export_folder", "read_code_vocabulary", "read_export_marker", "resource_uuid", "step_image_modality",
    "visit_dates",
    # errors, hashing, atomic files
    "BiosynthError", "ConfigError", "DatasetError", "GenerationError", "InputDataError", "PolicyError", "RecipeError",
    "RegistryError", "atomic_path", "atomic_write_bytes", "atomic_write_text", "canonical_json", "fsync_tree", "replace_folder",
    "sha256_file", "sha256_text",
]
