"""`finetuned_text`: sample label-conditioned texts from a task-adaptive model made by `biosynth text finetune`.

The model learned each document after its label prefix, so a sample is conditioned on a label by sending
that prefix alone (the `transformers` backend renders it, for a model without a chat template, exactly as
in training). The label is assigned before generation — from the input record (`from:`) or from a target
distribution, balanced over the training labels by default — and stored as the record's label.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from biosynth.core import (
    BackendSpec,
    BiosynthError,
    ChatMessage,
    ChatRequest,
    Completion,
    ConfigError,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    LanguageModel,
    PromptRef,
    Record,
    Rejected,
    SampleRequest,
    StepContext,
    Strategy,
    TextPayload,
    achieved_distribution,
    attempt_seed,
    balance_facts,
    retry_until_valid,
    target_value,
)
from biosynth.text._finetune.model_card import read_record
from biosynth.text._label_conditioned import label_target

TEMPLATE_ID = "finetune-label-prefix/v1"


class FinetunedTextParams(GeneratorParams):
    """Parameters of `finetuned_text`."""

    model: BackendSpec = Field(description="the `transformers` backend with `model: <folder written by finetune>`")
    labels: tuple[str, ...] | None = Field(None, description="labels to sample; default: the model's training labels")
    weights: tuple[float, ...] | None = Field(None, description="target proportions per label; default balanced")
    label_field: str = Field("label", min_length=1, description="the record label that holds the class (also read "
                                                                "from `from:` records)")
    document_type: str | None = None
    decoding: DecodingConfig = DecodingConfig.model_validate({"temperature": 1.0, "max_new_tokens": 256})
    max_attempts: int = Field(3, ge=1, le=20, description="tries per sample before it is recorded as a failure")
    min_words: int = Field(1, ge=1, description="a shorter text is retried")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.model.backend != "transformers":
            raise ValueError(f"model: backend {self.model.backend!r}: a fine-tuned folder runs on the 'transformers' "
                             "backend")
        if not isinstance(self.model.params.get("model"), str):
            raise ValueError("model.params.model: give the folder written by `biosynth text finetune`")
        if self.weights is not None and (self.labels is None or len(self.weights) != len(self.labels)):
            raise ValueError("weights need labels, one weight per label")
        return self


class FinetunedText(Generator[FinetunedTextParams]):
    """One text per request from a task-adaptive fine-tuned model, conditioned on the request's label."""

    name = "finetuned_text"

    def _setup(self, ctx: StepContext) -> None:
        folder = Path(self.params.model.params["model"])
        try:
            record, record_sha256 = read_record(folder)
        except BiosynthError as err:
            raise ConfigError(f"finetuned_text: {err}") from None
        prefix = record.hyperparameters.get("label_prefix")
        if record.mode != "task-adaptive" or not isinstance(prefix, str):
            raise ConfigError(f"finetuned_text: {str(folder)!r} was fine-tuned in {record.mode!r} mode; label "
                              "conditioning needs a task-adaptive model (other models work with any text generator)")
        trained = tuple(record.labels or ())
        labels = self.params.labels or trained
        unknown = sorted(set(labels) - set(trained))
        if unknown:
            raise ConfigError(f"finetuned_text: labels {unknown} were not in the model's training data (its labels: "
                              f"{list(trained)})")
        self._labels = labels
        self._target = label_target(labels, self.params.weights, self.params.label_field)
        self._prefix = prefix
        self._trained = frozenset(trained)
        self._facts: dict[str, Any] = {
            "finetune_record_sha256": record_sha256, "base_model": record.base_model.model_dump(mode="json"),
            "training_data": [d.model_dump(mode="json") for d in record.data]}
        self._model: LanguageModel = ctx.language_model(self.params.model)

    def _label(self, request: SampleRequest, ctx: StepContext) -> str:
        source = request.input
        if source is None:
            return str(target_value(self._target, ctx.seed, request.index))
        field = self.params.label_field
        value = source.labels.get(field)
        if value is None and source.payload.kind == "table_row":
            value = source.payload.values.get(field)
        if value is None:
            raise GenerationError(f"input record {source.id} has no label or value {field!r} to condition on")
        if str(value) not in self._trained:
            raise GenerationError(f"input record {source.id}: label {value!r} was not in the model's training data")
        return str(value)

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        outcomes: dict[int, Draft | GenerationError] = {}
        prompts: dict[int, tuple[str, str]] = {}
        for i, request in enumerate(requests):
            try:
                label = self._label(request, ctx)
            except GenerationError as err:
                outcomes[i] = err
                continue
            prompts[i] = (label, self._prefix.replace("{label}", label))
        order = list(prompts)

        def attempt(number: int, pending: list[int]) -> list[Completion | Rejected]:
            completions = self._model.generate([
                ChatRequest(messages=(ChatMessage(role="user", content=prompts[order[k]][1]),),
                            decoding=self.params.decoding, seed=attempt_seed(requests[order[k]].seed, number))
                for k in pending])
            return [c if len(c.text.split()) >= self.params.min_words
                    else Rejected(f"{len(c.text.split())} words, fewer than {self.params.min_words}") for c in completions]

        results = retry_until_valid(len(order), attempt, max_attempts=self.params.max_attempts, what="text")
        for i, result in zip(order, results, strict=True):
            if isinstance(result, GenerationError):
                outcomes[i] = result
                continue
            completion = result.value
            label, prompt = prompts[i]
            assigned = {} if requests[i].input is not None else {  # a label read from `from:` has no target
                "balance": balance_facts(self.params.label_field, label, self._target)}
            outcomes[i] = Draft(
                payload=TextPayload(text=completion.text.strip(), document_type=self.params.document_type),
                labels={self.params.label_field: label}, model=completion.model,
                prompt=PromptRef.build(TEMPLATE_ID, self._prefix, prompt, redact=ctx.redact_prompts),
                strategy=(Strategy.FINE_TUNED,), decoding=self.params.decoding, attempts=result.attempts,
                prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                extra={**self._facts, "sample_seed": attempt_seed(requests[i].seed, result.attempts - 1), **assigned},
            )
        return [outcomes[i] for i in range(len(requests))]

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """The achieved label distribution (against the target when labels were assigned, not read from `from:`)."""
        achieved = achieved_distribution(records, self.params.label_field)
        return {"labels": achieved.model_dump(mode="json")}
