"""The `llm_finetuned` generator: table rows from a causal LM fitted on a data file (or a saved model folder)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from biosynth.core import (
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
    read_table,
    sha256_file,
)
from biosynth.tabular._conditions import Conditions, parse_conditions
from biosynth.tabular._llm.finetuned import FinetunedConfig, FinetunedLM
from biosynth.tabular._metadata import TableMetadata
from biosynth.tabular._synthesizer import read_marker


class LlmFinetunedParams(GeneratorParams):
    data: InputFile | None = Field(None, description="CSV or Parquet table to fit on (real data by default)")
    metadata: InputFile | None = Field(None, description="table metadata JSON; detected from `data` when absent")
    model: InputFile | None = Field(None, description="folder written by FinetunedLM.save (instead of `data`)")
    base_model: InputFile | None = Field(None, description="local Hugging Face causal-LM folder to fine-tune")
    training: FinetunedConfig = Field(default_factory=FinetunedConfig)
    conditions: str | dict[str, Any] | None = Field(None, description='e.g. "sex = F and age > 65"')

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
    Params = LlmFinetunedParams

    def _setup(self, ctx: StepContext) -> None:
        p = self.params
        if p.model is not None:
            p.model.check("model")
            self._synth = FinetunedLM.load(p.model.path)
            files = read_marker(p.model.path).get("files", {})
            sha = sha256_file(p.model.path)
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
            sha = self._synth.weights_sha256()
            files = {"weights (in memory)": sha}
        self._conditions: Conditions = parse_conditions(p.conditions, self._synth.metadata)
        cfg = self._synth.config
        self._model_ref = ModelRef(name=self._synth.model_name, backend="transformers", sha256=sha)
        self._decoding = DecodingConfig(temperature=cfg.temperature,
                                        max_new_tokens=int(self._synth.context_length))
        self._extra: dict[str, Any] = {
            "model_files": files, "training_steps": self._synth.steps,
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
