"""`clinical_note`: clinical documents written by a language model from a record's attributes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from biosynth.core import (
    AttributeSampler,
    AttributeSpecs,
    BackendSpec,
    ChatMessage,
    ChatRequest,
    Completion,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    Modality,
    PromptRef,
    PromptTemplate,
    Rejected,
    SampleFailure,
    SampleRequest,
    Scalar,
    StepContext,
    Strategy,
    TableRowPayload,
    TextPayload,
    Validation,
    attempt_seed,
    derive_seed,
    render_messages,
    retry_until_valid,
)
from biosynth.text import _prompts
from biosynth.text._strategies.assembly import Augmentation, PromptStrategies, StrategyParams

DEFAULT_DECODING = DecodingConfig(temperature=0.7, top_p=0.9, max_new_tokens=320, repetition_penalty=1.1)


class ClinicalNoteParams(StrategyParams):
    """Parameters of `clinical_note`. The persona, format and style default per document type.

    Prompting strategies (`few_shot`, `chain_of_thought`, `retrieval`) come from StrategyParams.
    """

    placeholders: ClassVar[frozenset[str]] = _prompts.PLACEHOLDERS

    document_type: str = Field("discharge summary", min_length=1,
                               description="e.g. discharge summary, radiology report, progress note, "
                                           "patient portal message")
    document_type_field: str | None = Field(
        None, description="take each note's document type from this attribute of the input record")
    attributes: AttributeSpecs | None = Field(
        None, description="attributes to sample per note (the `attributes` generator's specs); merged under "
                          "the input record's values")
    fields: tuple[str, ...] | None = Field(None, description="only these attributes go into the prompt")
    persona: str | None = None
    format: str | None = None
    style: str | None = None
    constraints: tuple[str, ...] = Field((), description="extra content constraints, one per item")
    target_words: int = Field(150, ge=10, le=4000)
    language: str = "English"
    system_template: str | None = None
    user_template: str | None = None
    template_id: str | None = Field(None, description="required with a custom template, e.g. 'my-notes/v1'")
    model: BackendSpec = BackendSpec(backend="transformers")
    decoding: DecodingConfig = DEFAULT_DECODING
    max_attempts: int = Field(3, ge=1, le=10)
    min_words: int = Field(8, ge=1, description="fewer words than this is rejected as a failed output")

    @model_validator(mode="after")
    def _templates(self) -> Self:
        custom = self.system_template is not None or self.user_template is not None
        if custom and not self.template_id:
            raise ValueError("a custom system_template/user_template needs a `template_id` (e.g. 'my-notes/v1'), "
                             "recorded in provenance")
        for name in ("system_template", "user_template"):
            template = getattr(self, name)
            if template is not None and (problems := _prompts.template_problems(template, self.placeholders)):
                raise ValueError(f"{name}: {'; '.join(problems)}")
        return self


@dataclass(frozen=True)
class _Prompt:
    messages: tuple[ChatMessage, ...]
    rendered: str
    document_type: str
    labels: dict[str, Scalar]
    sampled: dict[str, Scalar] | None
    augmentation: Augmentation


@dataclass(frozen=True)
class _Output:
    text: str
    reasoning: str | None


class ClinicalNote(Generator[ClinicalNoteParams]):
    """Writes one clinical document per request with instruction prompting (persona, task, content,
    format and style constraints) from a versioned template, conditioned on the input record's values
    and labels (`from:` a tabular step) and/or on attributes it samples itself; optionally with
    few-shot examples, retrieved passages and chain-of-thought (see `_strategies/assembly.py`).

    All prompts of a call go to the backend in one batched `generate`; an empty or too-short output
    (or, with chain-of-thought, one without an answer block) is retried with a new seed up to
    `max_attempts`, then recorded as a failure with its reasons.
    """

    name = "clinical_note"
    input_modalities = (Modality.TABULAR,)
    base_template_id: ClassVar[str] = _prompts.TEMPLATE_ID
    default_system_template: ClassVar[str] = _prompts.SYSTEM_TEMPLATE
    default_user_template: ClassVar[str] = _prompts.USER_TEMPLATE

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._strategies = PromptStrategies(self.params)

    @property
    def template_id(self) -> str:
        return self._strategies.template_id(self.params.template_id or self.base_template_id)

    @property
    def template(self) -> str:
        return self._strategies.template(f"{self._system_template}\n\n{self._user_template}")

    @property
    def _system_template(self) -> str:
        return self.params.system_template or self.default_system_template

    @property
    def _user_template(self) -> str:
        return self.params.user_template or self.default_user_template

    @functools.cached_property
    def _parts(self) -> tuple[PromptTemplate, PromptTemplate]:
        """The system and user message templates (core `PromptTemplate`s; a user's own text is `+custom`)."""
        base = PromptTemplate(id=self.base_template_id, text="")
        return tuple(  # type: ignore[return-value]
            PromptTemplate(id=self.base_template_id, text=text) if text == default else base.custom(text)
            for text, default in ((self._system_template, self.default_system_template),
                                  (self._user_template, self.default_user_template)))

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        model = ctx.language_model(self.params.model)
        outcomes: dict[int, Draft | GenerationError] = {}
        prompts: dict[int, _Prompt] = {}
        for i, request in enumerate(requests):
            try:
                prompts[i] = self._prompt(request, ctx)
            except GenerationError as err:
                outcomes[i] = err
        order = list(prompts)

        def attempt(number: int, pending: list[int]) -> list[tuple[Completion, _Output] | Rejected]:
            completions = model.generate([self._chat_request(prompts[order[k]], attempt_seed(requests[order[k]].seed,
                                                                                             number)) for k in pending])
            checked = [(completion, self._check(completion)) for completion in completions]
            return [(c, out) if isinstance(out, _Output) else Rejected(out) for c, out in checked]

        attempts = self.params.max_attempts if self._retry_changes_output else 1
        results = retry_until_valid(len(order), attempt, max_attempts=attempts, what="text")
        for i, result in zip(order, results, strict=True):
            if isinstance(result, GenerationError):
                note = "" if self._retry_changes_output else " (decoding is deterministic, so retrying cannot help)"
                outcomes[i] = GenerationError(f"{self.name}: {result.reason}{note}", attempts=result.attempts)
            else:
                completion, output = result.value
                outcomes[i] = self._draft(prompts[i], completion, output, result.attempts,
                                          attempt_seed(requests[i].seed, result.attempts - 1), ctx)
        return [outcomes[i] for i in range(len(requests))]

    @property
    def _retry_changes_output(self) -> bool:
        decoding = self.params.decoding
        return not decoding.greedy and decoding.seed is None

    # -- prompt ---------------------------------------------------------------------------------
    def _prompt(self, request: SampleRequest, ctx: StepContext) -> _Prompt:
        params = self.params
        values: dict[str, Scalar] = {}
        labels: dict[str, Scalar] = {}
        sampled: dict[str, Scalar] | None = None
        if params.attributes:
            sampled = self._sample_attributes(request, ctx)
            values.update(sampled)
        if request.input is not None:
            payload = request.input.payload
            assert isinstance(payload, TableRowPayload)  # input_modalities guarantees it
            labels = dict(request.input.labels)
            values.update(labels)
            values.update(payload.values)
        document_type = params.document_type
        if params.document_type_field is not None:
            value = values.get(params.document_type_field)
            if value in (None, ""):
                raise GenerationError(f"{self.name}: document_type_field {params.document_type_field!r} is missing "
                                      f"from the record's attributes ({sorted(values)})")
            document_type = str(value)
        if params.fields is not None:
            missing = [f for f in params.fields if f not in values]
            if missing:
                raise GenerationError(f"{self.name}: fields {missing} are missing from the record's attributes "
                                      f"({sorted(values)})")
            values = {f: values[f] for f in params.fields}
        own_labels, own_fields, example_label = self._conditioning(request, ctx, values)
        labels.update(own_labels)
        defaults = _prompts.document_style(document_type)
        constraints = "".join(f"\n- {c}" for c in params.constraints)
        fields = {
            "persona": params.persona or defaults.persona, "language": params.language,
            "document_type": document_type, "attributes": _prompts.format_attributes(values),
            "content": _prompts.CONTENT, "format": params.format or defaults.format,
            "style": params.style or defaults.style, "target_words": params.target_words,
            "constraints": f"\nConstraints:{constraints}" if constraints else "", **own_fields,
        }
        augmentation = self._strategies.augment(request.seed, self._query(document_type, values, own_fields),
                                                example_label)
        system_part, user_part = self._parts
        system = system_part.render(fields)
        user = augmentation.apply(user_part.render(fields))
        messages = (ChatMessage(role="system", content=system), ChatMessage(role="user", content=user))
        return _Prompt(messages=messages, rendered=render_messages(messages), document_type=document_type,
                       labels=labels, sampled=sampled, augmentation=augmentation)

    def _conditioning(self, request: SampleRequest, ctx: StepContext, values: dict[str, Scalar]
                      ) -> tuple[dict[str, Scalar], dict[str, object], Scalar]:
        """Hook for subclasses: (labels to add, extra template fields, label for drawing examples)."""
        few_shot = self.params.few_shot
        label = values.get(few_shot.label_field) if few_shot is not None and few_shot.label_field else None
        return {}, {}, label

    def _query(self, document_type: str, values: dict[str, Scalar], fields: dict[str, object]) -> str:
        """The retrieval query: the document type and the attributes' names and values."""
        retrieval = self.params.retrieval
        if retrieval is not None and retrieval.query_fields is not None:
            values = {k: values.get(k) for k in retrieval.query_fields}
        parts = [document_type] + [f"{k.replace('_', ' ')} {v}" for k, v in values.items() if v is not None]
        return ". ".join(parts)

    def _setup(self, ctx: StepContext) -> None:
        self._sampler = AttributeSampler({"attributes": self.params.attributes}) if self.params.attributes else None
        self._strategies.setup(ctx)

    def _sample_attributes(self, request: SampleRequest, ctx: StepContext) -> dict[str, Scalar]:
        assert self._sampler is not None
        seed = derive_seed(request.seed, "attributes")
        [outcome] = self._sampler.generate([SampleRequest(index=request.index, seed=seed)], ctx)
        if isinstance(outcome, SampleFailure):
            raise GenerationError(f"{self.name}: attribute sampling failed: {outcome.reason}")
        payload = outcome.payload
        assert isinstance(payload, TableRowPayload)
        return dict(payload.values)

    def _chat_request(self, prompt: _Prompt, seed: int) -> ChatRequest:
        return ChatRequest(messages=prompt.messages, decoding=self.params.decoding, seed=seed)

    # -- output ---------------------------------------------------------------------------------
    def _check(self, completion: Completion) -> _Output | str:
        """The usable output, or why the completion is unusable."""
        try:
            text, reasoning = self._strategies.answer(completion.text, completion.finish_reason)
        except ValueError as err:
            return str(err)
        words = len(text.split())
        if words == 0:
            return "empty output" + (" (cut at max_new_tokens)" if completion.finish_reason == "length" else "")
        if words < self.params.min_words:
            if completion.finish_reason == "length":
                return (f"output cut at max_new_tokens ({self.params.decoding.max_new_tokens}) with only {words} "
                        f"words; raise max_new_tokens")
            return f"output too short: {words} words, fewer than min_words ({self.params.min_words})"
        return _Output(text=text, reasoning=reasoning)

    def _draft(self, prompt: _Prompt, completion: Completion, output: _Output, attempts: int, llm_seed: int,
               ctx: StepContext) -> Draft:
        augmentation = prompt.augmentation
        strategy = augmentation.strategies
        extra: dict[str, Any] = {"finish_reason": completion.finish_reason, "llm_seed": llm_seed,
                                 **self._strategies.reasoning_facts(output.reasoning, redact=ctx.redact_prompts)}
        if prompt.sampled is not None:
            strategy += (Strategy.ATTRIBUTE_SAMPLING,)
            extra["attributes"] = prompt.sampled
        return Draft(
            payload=TextPayload(text=output.text, document_type=prompt.document_type),
            labels=prompt.labels,
            model=completion.model,
            prompt=PromptRef.build(self.template_id, self.template, prompt.rendered, redact=ctx.redact_prompts),
            strategy=strategy, few_shot_ids=augmentation.few_shot_ids, retrieved_ids=augmentation.retrieved_ids,
            decoding=self.params.decoding, attempts=attempts, validation=Validation.PASSED,
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens, extra=extra,
        )

