"""biosynth-core: records, provenance, recipes, registry, policy, dataset store and runner."""

from biosynth.core._atomic import atomic_path, atomic_write_bytes, atomic_write_text
from biosynth.core._builtin_generators import AttributeSampler, AttributeSpecs, TemplateText
from biosynth.core._dataset import SyntheticDataset
from biosynth.core._decoding import DecodingConfig
from biosynth.core._dedup import DeduplicateConfig, Deduplicator
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
from biosynth.core._generator import Draft, Generator, GeneratorParams, SampleFailure, SampleRequest, StepContext
from biosynth.core._hashing import canonical_json, sha256_file, sha256_text
from biosynth.core._inputs import PACKAGE_PREFIX, InputFile, InputFingerprint, resolve_package_path
from biosynth.core._llm import BackendSpec, BaseLanguageModel, ChatMessage, ChatRequest, Completion, LanguageModel
from biosynth.core._manifest import FailureEntry, Manifest, RemovedEntry, StepSummary
from biosynth.core._policy import Policy
from biosynth.core._provenance import GenerationFacts, ModelRef, PromptRef, Provenance, Strategy, Validation
from biosynth.core._recipe import PolicyConfig, Recipe, Step, load_recipe, parse_recipe
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
from biosynth.core._registry import Group, Registry, default_registry
from biosynth.core._runner import Plan, Runner, plan, run_recipe
from biosynth.core._secrets import secret_from_env
from biosynth.core._seeding import derive_seed, rng
from biosynth.core._structured import (
    RETRY_TEMPLATE,
    StructuredPrompt,
    StructuredResult,
    attempt_seed,
    extract_json,
    generate_structured,
    json_instruction,
    render_messages,
    retry_turns,
)
from biosynth.core._tables import read_table

__all__ = [
    "AttributeSampler", "AttributeSpecs", "AudioPayload", "AudioSegment", "BackendSpec", "BaseLanguageModel", "BiosynthError",
    "ChatMessage", "ChatRequest", "Completion", "ConfigError", "DatasetError", "DecodingConfig",
    "DeduplicateConfig", "Deduplicator", "DialoguePayload", "Draft", "FailureEntry", "GenerationError",
    "GenerationFacts", "Generator", "GeneratorParams", "Group", "ImagePayload", "InputDataError", "InputFile",
    "InputFingerprint", "LanguageModel", "Manifest", "MediaRef", "Modality", "ModelRef", "PACKAGE_PREFIX",
    "Plan", "Policy", "PolicyConfig", "PolicyError", "PromptRef", "Provenance", "QAPayload", "RETRY_TEMPLATE",
    "Recipe", "RecipeError", "Record", "Registry", "RegistryError", "Relation", "RemovedEntry", "Runner",
    "SampleFailure", "SampleRequest", "Scalar", "Span", "Step", "StepContext", "StepSummary", "Strategy",
    "StructuredPrompt", "StructuredResult", "SyntheticDataset", "TableRowPayload", "TemplateText",
    "TextPayload", "Turn", "Validation", "Visit", "VisitSequencePayload", "atomic_path", "atomic_write_bytes",
    "atomic_write_text", "attempt_seed", "canonical_json", "default_registry", "derive_seed", "extract_json",
    "generate_structured", "json_instruction", "load_recipe", "parse_recipe", "plan", "read_table",
    "render_messages", "resolve_package_path", "retry_turns", "rng", "run_recipe", "secret_from_env",
    "sha256_file", "sha256_text",
]
