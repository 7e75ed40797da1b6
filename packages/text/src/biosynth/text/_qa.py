"""`qa`: medical question-answer pairs (optionally with a rationale), as validated structured output.

Each request asks the model for one JSON object `{question, answer[, rationale]}` (pydantic-validated
through core's `generate_structured`: schema-constrained where the backend can, retried with
the validation error in the prompt, then recorded as a failure). A pair is conditioned on

- sampled attributes (`attributes:`, e.g. specialty x difficulty), and/or
- an input record (`from:`): a text or dialogue record (e.g. a clinical note) becomes the source document the
  question must be answerable from; a tabular record's values become the topic.

Records: core's `QAPayload` (question, answer, rationale); the record's text is `Question: ...\\nAnswer:
...` [`\\nRationale: ...`] for text metrics. Few-shot, chain-of-thought and retrieval work as in `clinical_note`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import (
    AttributeSampler,
    AttributeSpecs,
    BackendSpec,
    ChatMessage,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    ImagePayload,
    LanguageModel,
    Modality,
    PromptRef,
    PromptTemplate,
    QAPayload,
    SampleFailure,
    SampleRequest,
    Scalar,
    StepContext,
    Strategy,
    StructuredPrompt,
    StructuredResult,
    TableRowPayload,
    Validation,
    derive_seed,
    generate_structured,
    json_instruction,
)
from biosynth.text import _prompts
from biosynth.text._strategies.assembly import Augmentation, PromptStrategies, StrategyParams

TEMPLATE_ID = "qa/v1"
SYSTEM_TEMPLATE = (
    "You are $persona. You write medically accurate question-answer pairs in $language for research and "
    "software testing, about fictional patients only. Never use real names, addresses, dates of birth, phone "
    "numbers or record numbers."
)
USER_TEMPLATE = """\
Task: write one $question_type question for $audience, and its answer$rationale_clause.

$source

Answer style: $answer_style.$constraints

$json_instruction"""
SYSTEM = PromptTemplate(id=TEMPLATE_ID, text=SYSTEM_TEMPLATE)
USER = PromptTemplate(id=TEMPLATE_ID, text=USER_TEMPLATE)
DOCUMENT_TYPE = "question-answer pair"
DEFAULT_DECODING = DecodingConfig(temperature=0.7, top_p=0.9, max_new_tokens=384, repetition_penalty=1.1)


class QAPair(BaseModel):
    """The JSON the model must return."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=10, description="one question")
    answer: str = Field(min_length=1, description="the correct answer")


class QAPairWithRationale(QAPair):
    rationale: str = Field(min_length=10, description="why the answer is correct, step by step")


class QuestionAnswerParams(StrategyParams):
    """Parameters of `qa`."""

    question_type: str = Field("clinical knowledge", min_length=1,
                               description="e.g. diagnosis, treatment, pharmacology, clinical knowledge")
    audience: str = Field("medical students", min_length=1)
    persona: str = "an experienced clinician and medical educator"
    answer_style: str = "a correct, concise answer of one to three sentences"
    rationale: bool = Field(False, description="also ask for a rationale explaining the answer")
    constraints: tuple[str, ...] = ()
    attributes: AttributeSpecs | None = Field(
        None, description="attributes to sample per pair (the `attributes` generator's specs)")
    language: str = "English"
    model: BackendSpec = BackendSpec(backend="transformers")
    decoding: DecodingConfig = DEFAULT_DECODING
    max_attempts: int = Field(3, ge=1, le=10)
    max_source_words: int = Field(600, ge=20, description="a longer source text is cut to this many words")


@dataclass(frozen=True)
class _Prompt:
    messages: tuple[ChatMessage, ...]
    sampled: dict[str, Scalar] | None
    augmentation: Augmentation


class QuestionAnswer(Generator[QuestionAnswerParams]):
    """Writes one validated question-answer pair per request (see the module doc)."""

    name = "qa"
    input_modalities = (Modality.TEXT, Modality.DIALOGUE, Modality.TABULAR, Modality.IMAGE)

    def __init__(self, params: Any = None, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._strategies = PromptStrategies(self.params)

    @property
    def schema(self) -> type[QAPair]:
        return QAPairWithRationale if self.params.rationale else QAPair

    @property
    def template_id(self) -> str:
        return self._strategies.template_id(TEMPLATE_ID)

    @property
    def template(self) -> str:
        return self._strategies.template(f"{SYSTEM_TEMPLATE}\n\n{USER_TEMPLATE}")

    def _setup(self, ctx: StepContext) -> None:
        self._sampler = AttributeSampler({"attributes": self.params.attributes}) if self.params.attributes else None
        self._strategies.setup(ctx)

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        model: LanguageModel = ctx.language_model(self.params.model)
        outcomes: dict[int, Draft | GenerationError] = {}
        prompts: dict[int, _Prompt] = {}
        for i, request in enumerate(requests):
            try:
                prompts[i] = self._prompt(request, ctx)
            except GenerationError as err:
                outcomes[i] = err
        order = list(prompts)
        answer_of = self._strategies.answer if self._strategies.chain_of_thought is not None else None
        results = generate_structured(
            model, [StructuredPrompt(prompts[i].messages, requests[i].seed) for i in order], self.schema,
            decoding=self.params.decoding, max_attempts=self.params.max_attempts, check=_distinct,
            answer_of=(lambda text, finish: answer_of(text, finish)[0]) if answer_of else None)
        for i, result in zip(order, results, strict=True):
            if isinstance(result, GenerationError):
                outcomes[i] = GenerationError(f"{self.name}: {result.reason}", attempts=result.attempts)
            else:
                outcomes[i] = self._draft(prompts[i], result, ctx)
        return [outcomes[i] for i in range(len(requests))]

    # -- prompt ---------------------------------------------------------------------------------
    def _prompt(self, request: SampleRequest, ctx: StepContext) -> _Prompt:
        params = self.params
        values: dict[str, Scalar] = {}
        sampled: dict[str, Scalar] | None = None
        if self._sampler is not None:
            sampled = self._sample_attributes(request, ctx)
            values.update(sampled)
        source_text: str | None = None
        if request.input is not None:
            payload = request.input.payload
            if isinstance(payload, TableRowPayload):
                values.update(request.input.labels)
                values.update(payload.values)
            else:
                if isinstance(payload, ImagePayload):  # ChatFFA's pattern: questions about an image from its labels
                    values.update(request.input.labels)  # and the caption (prompt) it was drawn from
                source_text = request.input.text
                if not source_text or not source_text.strip():
                    raise GenerationError(f"{self.name}: input record {request.input.id} has no text to ask about")
        topic = f"Topic:\n{_prompts.format_attributes(values)}" if values else "Topic: any area of clinical medicine"
        if source_text is not None:
            words = source_text.split()
            cut = " ".join(words[: params.max_source_words]) + (" [...]" if len(words) > params.max_source_words else "")
            topic = (f"{topic}\n\n" if values else "") + (
                f"Source document:\n{cut}\n\nThe question must be answerable from the source document alone.")
        constraints = "".join(f"\n- {c}" for c in params.constraints)
        fields = {
            "persona": params.persona, "language": params.language, "question_type": params.question_type,
            "audience": params.audience,
            "rationale_clause": ", with a rationale explaining why the answer is correct" if params.rationale else "",
            "source": topic, "answer_style": params.answer_style,
            "constraints": f"\nConstraints:{constraints}" if constraints else "",
            "json_instruction": json_instruction(self.schema),
        }
        query = source_text[:2000] if source_text else " ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items())
        augmentation = self._strategies.augment(request.seed, f"{params.question_type}. {query}")
        system = SYSTEM.render(fields)
        user = augmentation.apply(USER.render(fields))
        return _Prompt(messages=(ChatMessage(role="system", content=system), ChatMessage(role="user", content=user)),
                       sampled=sampled, augmentation=augmentation)

    def _sample_attributes(self, request: SampleRequest, ctx: StepContext) -> dict[str, Scalar]:
        assert self._sampler is not None
        [outcome] = self._sampler.generate([SampleRequest(request.index, derive_seed(request.seed, "attributes"))], ctx)
        if isinstance(outcome, SampleFailure):
            raise GenerationError(f"{self.name}: attribute sampling failed: {outcome.reason}")
        assert isinstance(outcome.payload, TableRowPayload)
        return dict(outcome.payload.values)

    # -- output ---------------------------------------------------------------------------------
    def _draft(self, prompt: _Prompt, result: StructuredResult[QAPair], ctx: StepContext) -> Draft:
        pair = result.value
        rationale = pair.rationale if isinstance(pair, QAPairWithRationale) else None
        payload = QAPayload(question=pair.question.strip(), answer=pair.answer.strip(),
                            rationale=rationale.strip() if rationale is not None else None)
        strategy = prompt.augmentation.strategies
        extra: dict[str, Any] = {"finish_reason": result.finish_reason, "llm_seed": result.llm_seed,
                                 "json_schema_constrained": result.constrained,
                                 "total_prompt_tokens": result.total_prompt_tokens,
                                 "total_completion_tokens": result.total_completion_tokens}
        if self._strategies.chain_of_thought is not None:
            _answer, reasoning = self._strategies.answer(result.raw_text, result.finish_reason)
            extra.update(self._strategies.reasoning_facts(reasoning, redact=ctx.redact_prompts))
        if prompt.sampled is not None:
            strategy += (Strategy.ATTRIBUTE_SAMPLING,)
            extra["attributes"] = prompt.sampled
        return Draft(
            payload=payload, model=result.model,
            prompt=PromptRef.build(self.template_id, self.template, result.rendered, redact=ctx.redact_prompts),
            strategy=strategy, few_shot_ids=prompt.augmentation.few_shot_ids,
            retrieved_ids=prompt.augmentation.retrieved_ids, decoding=self.params.decoding,
            attempts=result.attempts, validation=Validation.REPAIRED if result.repaired else Validation.PASSED,
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens, extra=extra,
        )


def _distinct(pair: QAPair) -> str | None:
    if pair.question.strip().lower() == pair.answer.strip().lower():
        return "the answer repeats the question"
    return None
