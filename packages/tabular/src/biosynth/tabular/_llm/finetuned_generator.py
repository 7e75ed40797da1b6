"""The `llm_finetuned` generator: table rows from a causal LM fitted on a data file (or a saved model folder).

A saved folder is a component (kind `row_model`, backend `llm_finetuned`, registered under
`biosynth.row_models`), resolved with `ctx.component(spec)`: its `ModelRef` (core's `weights_sha256` of the
folder) lands in every record and `biosynth validate` and the policy see it. A model fitted in memory from
`data` gets the same fingerprint its saved folder would have (it is saved to a temporary folder and hashed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import Field, field_validator, model_validator

from biosynth.core import (
    Component,
    ComponentKind,
    ComponentSpec,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    InputFile,
    ModelRef,
    SampleRequest,
    StepContext,
    Strategy,
    TableRowPayload,
    Validation,
    read_marker,
    read_table,
)
from biosynth.tabular._conditions import Conditions, parse_conditions
from biosynth.tabular._llm.finetuned import KIND, FinetunedConfig, FinetunedLM
from biosynth.tabular._metadata import TableMetadata
from biosynth.tabular._synthesizer import check_folder_params, check_model_spec, not_a_folder, saved_model_spec


class FinetunedRowModel(Component):
    """A folder written by `FinetunedLM.save` as a component: `{kind: row_model, backend: llm_finetuned,
    params: {path: FOLDER}}`."""

    kind: ClassVar[ComponentKind] = ComponentKind.ROW_MODEL
    remote: ClassVar[bool | None] = False  # torch on this machine

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.synthesizer = FinetunedLM.load(self.path)
        self._model_ref = ModelRef(name=self.synthesizer.model_name, backend=KIND,
                                   sha256=self.synthesizer.weights_sha256())

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        return check_folder_params(params, KIND, f"{ComponentKind.ROW_MODEL.value} {KIND!r}")

    @property
    def model_ref(self) -> ModelRef:
        return self._model_ref


class LlmFinetunedParams(GeneratorParams):
    data: InputFile | None = Field(None, description="CSV or Parquet table to fit on (real data by default)")
    metadata: InputFile | None = Field(None, description="table metadata JSON; detected from `data` when absent")
    model: ComponentSpec | None = Field(None, description="folder written by FinetunedLM.save or `biosynth tabular "
                                        "fit-table` (instead of `data`): a path, or the spec {kind: row_model, "
                                        "backend: llm_finetuned, params: {path: ...}}")
    base_model: InputFile | None = Field(None, description="local Hugging Face causal-LM folder to fine-tune")
    training: FinetunedConfig = Field(default_factory=FinetunedConfig)
    conditions: str | dict[str, Any] | None = Field(None, description='e.g. "sex = F and age > 65"')

    @field_validator("model", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return saved_model_spec(value, ComponentKind.ROW_MODEL, KIND)

    _files_not_folders = field_validator("data", "metadata")(not_a_folder)

    @field_validator("model")
    @classmethod
    def _model_kind(cls, spec: ComponentSpec | None) -> ComponentSpec | None:
        return check_model_spec(spec, ComponentKind.ROW_MODEL)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.data is None) == (self.model is None):
            raise ValueError("give exactly one of `data` (a table to fit on) and `model` (a saved model folder)")
        if self.model is not None and (self.base_model is not None or self.metadata is not None):
            raise ValueError("`base_model` and `metadata` apply when fitting on `data`, not with a saved `model`")
        if self.training.base_model is not None:
            raise ValueError("set `base_model` at the top level of the parameters, not in `training`")
        return self


class LlmFinetuned(Generator[LlmFinetunedParams]):
    """One row per request; row i depends on its request's seed. Every record's values meet the metadata."""

    name = "llm_finetuned"

    def _setup(self, ctx: StepContext) -> None:
        p = self.params
        if p.model is not None:
            resolved = ctx.component(p.model)
            row_model: FinetunedRowModel = resolved.component
            self._synth = row_model.synthesizer
            files = read_marker(row_model.path).get("files", {})
            self._model_ref = resolved.model_ref
        else:
            assert p.data is not None
            p.data.check("data")
            metadata = None
            if p.metadata is not None:
                p.metadata.check("metadata")
                metadata = TableMetadata.load(p.metadata.path)
            config = p.training
            if p.base_model is not None:
                p.base_model.check("base_model")
                config = config.model_copy(update={"base_model": p.base_model.path})
            self._synth = FinetunedLM(config).fit(read_table(p.data.path, "parameter `data`"), metadata)
            files = {}  # not saved: ModelRef.sha256 is that of the folder `save` would write
            self._model_ref = ModelRef(name=self._synth.model_name, backend=KIND, sha256=self._synth.weights_sha256())
        self._conditions: Conditions = parse_conditions(p.conditions, self._synth.metadata)
        cfg = self._synth.config
        self._decoding = DecodingConfig(temperature=cfg.temperature,
                                        max_new_tokens=int(self._synth.context_length))
        self._extra: dict[str, Any] = {
            **({"model_files": files} if files else {}), "training_steps": self._synth.steps,
            **({"kept_step": self._synth.validation.get("best_step"),
                "validation_loss": self._synth.validation.get("best_loss")} if self._synth.validation else {}),
            "constraints": [str(c) for c in self._synth.metadata.constraints],
            "decoding": "constrained: every value within the metadata's types, ranges and categories",
        }
        if self._conditions:
            self._extra["conditions"] = str(self._conditions)

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        results = self._synth.sample_rows([r.seed for r in requests], self._conditions,
                                          ids=[r.index for r in requests])
        table = self._synth.metadata.table
        out: list[Draft | GenerationError] = []
        for result in results:
            if isinstance(result, str):
                out.append(GenerationError(result))
                continue
            values = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in result.items()}
            out.append(Draft(payload=TableRowPayload(table=table, values=values), model=self._model_ref,
                             strategy=(Strategy.FINE_TUNED, Strategy.LEARNED_GENERATOR), decoding=self._decoding,
                             validation=Validation.PASSED, extra=self._extra))
        return out
