"""`annotated_ie`: clinical text with entity spans (and relations) for information-extraction data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from biosynth.core import (
    RETRY_TEMPLATE,
    AttributeSampler,
    AttributeSpecs,
    BackendSpec,
    ChatMessage,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    Modality,
    PromptRef,
    PromptTemplate,
    Relation,
    SampleFailure,
    SampleRequest,
    Scalar,
    StepContext,
    Strategy,
    StructuredPrompt,
    StructuredResult,
    TableRowPayload,
    TextPayload,
    Validation,
    derive_seed,
    generate_structured,
    json_instruction,
)
from biosynth.text import _prompts
from biosynth.text._span_repair import EntityClaim, RepairReport, repair_spans

TEMPLATE_ID = "annotated-ie/v1"

SYSTEM_TEMPLATE = (
    "You are $persona. You write realistic but entirely fictional clinical text in $language and annotate it "
    "for information-extraction research. Never use real names, addresses, dates of birth, phone numbers or "
    "record numbers."
)

USER_TEMPLATE = """\
Task: write a $document_type of about $target_words words for the fictional patient below, then annotate it.

Patient:
$attributes

Annotate every mention of these entity types:
$entity_types
$relation_types
Rules:
- "text" is the document itself.
- Each entity has an "id" (e1, e2, ...), a "label" from the list above, its "text" copied exactly from the \
document (same spelling and case), and its character offsets in the document: "start" (counting from 0) \
and "end" (one past the last character).$relation_rule
$schema"""

SYSTEM = PromptTemplate(id=TEMPLATE_ID, text=SYSTEM_TEMPLATE)
USER = PromptTemplate(id=TEMPLATE_ID, text=USER_TEMPLATE)

DEFAULT_ENTITY_TYPES: dict[str, str] = {
    "problem": "a disease, symptom, finding or diagnosis",
    "test": "a laboratory test, measurement, examination or imaging study",
    "treatment": "a procedure, therapy or intervention other than a drug",
    "drug": "a medication name",
    "dose": "the dose, route or frequency of a medication",
}

DEFAULT_DECODING = DecodingConfig(temperature=0.7, top_p=0.9, max_new_tokens=768)

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class RelationType(BaseModel):
    """A relation between two entity types, e.g. `has_dose: {head: drug, tail: dose}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head: str = Field(min_length=1, description="entity type of the head")
    tail: str = Field(min_length=1, description="entity type of the tail")
    description: str = ""


class AnnotatedIEParams(GeneratorParams):
    """Parameters of `annotated_ie`."""

    entity_types: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ENTITY_TYPES), min_length=1,
        description="entity type -> description (a list of names is accepted too)")
    relation_types: dict[str, RelationType] = Field(
        default_factory=dict, description="relation name -> {head, tail, description}; none by default")
    required_entity_types: tuple[str, ...] = Field((), description="a sample lacking one of these is retried")
    min_entities: int = Field(1, ge=0)
    document_type: str = Field("clinical note", min_length=1)
    attributes: AttributeSpecs | None = Field(
        None, description="attributes to sample per sample (the `attributes` generator's specs); merged under "
                          "the input record's values")
    fields: tuple[str, ...] | None = Field(None, description="only these attributes go into the prompt")
    persona: str = "an experienced clinician and clinical NLP annotator"
    target_words: int = Field(80, ge=10, le=2000)
    min_words: int = Field(5, ge=1, description="a shorter text is retried")
    language: str = "English"
    model: BackendSpec = BackendSpec(backend="transformers")
    decoding: DecodingConfig = DEFAULT_DECODING
    max_attempts: int = Field(3, ge=1, le=10)
    constrain: bool = Field(True, description="send the JSON schema to backends that can constrain decoding")

    @field_validator("entity_types", mode="before")
    @classmethod
    def _list_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {str(name): DEFAULT_ENTITY_TYPES.get(str(name), "") for name in value}
        return value

    @model_validator(mode="after")
    def _names(self) -> Self:
        for kind, names in (("entity type", self.entity_types), ("relation type", self.relation_types)):
            bad = [n for n in names if not _NAME.match(n)]
            if bad:
                raise ValueError(f"{kind} names must be identifiers (letters, digits, _ or -), got {bad}")
        known = set(self.entity_types)
        for name, rel in self.relation_types.items():
            unknown = sorted({rel.head, rel.tail} - known)
            if unknown:
                raise ValueError(f"relation_types.{name}: entity types {unknown} are not in entity_types "
                                 f"({sorted(known)})")
        unknown = sorted(set(self.required_entity_types) - known)
        if unknown:
            raise ValueError(f"required_entity_types {unknown} are not in entity_types ({sorted(known)})")
        return self


@dataclass(frozen=True)
class _Prompt:
    messages: tuple[ChatMessage, ...]
    labels: dict[str, Scalar]
    sampled: dict[str, Scalar] | None


class AnnotatedIE(Generator[AnnotatedIEParams]):
    """Writes a clinical text and annotates its entities (and relations) in one JSON answer.

    The answer is validated with pydantic (labels from `entity_types`, relations from `relation_types`
    with their head/tail types), then every entity is placed on its text by `_span_repair`: correct
    offsets kept, wrong ones repaired by search. An answer with an entity that cannot be placed, an
    unknown or mistyped relation, too few entities or a missing required type is retried with the
    reasons in the prompt, up to `max_attempts`, then recorded as a failure listing every reason.
    """

    name = "annotated_ie"
    input_modalities = (Modality.TABULAR,)

    def _setup(self, ctx: StepContext) -> None:
        params = self.params
        self._sampler = AttributeSampler({"attributes": params.attributes}) if params.attributes else None
        self._schema = answer_model(tuple(params.entity_types), tuple(params.relation_types), params.min_entities)

    @property
    def template(self) -> str:
        return f"{SYSTEM_TEMPLATE}\n\n{USER_TEMPLATE}"

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        outcomes: dict[int, Draft | GenerationError] = {}
        prompts: dict[int, _Prompt] = {}
        for i, request in enumerate(requests):
            try:
                prompts[i] = self._prompt(request, ctx)
            except GenerationError as err:
                outcomes[i] = err
        reports: dict[int, RepairReport] = {}
        structured = [StructuredPrompt(messages=prompts[i].messages, seed=requests[i].seed,
                                       check=self._checker(i, reports)) for i in prompts]
        results = generate_structured(ctx.language_model(self.params.model), structured, self._schema,
                                      decoding=self.params.decoding, max_attempts=self.params.max_attempts,
                                      constrain=self.params.constrain) if structured else []
        for i, result in zip(prompts, results, strict=True):
            if isinstance(result, GenerationError):
                outcomes[i] = GenerationError(f"{self.name}: {result.reason}", attempts=result.attempts)
            else:
                outcomes[i] = self._draft(prompts[i], result, reports[i], ctx)
        return [outcomes[i] for i in range(len(requests))]

    # -- prompt ---------------------------------------------------------------------------------
    def _prompt(self, request: SampleRequest, ctx: StepContext) -> _Prompt:
        params = self.params
        values: dict[str, Scalar] = {}
        labels: dict[str, Scalar] = {}
        sampled: dict[str, Scalar] | None = None
        if self._sampler is not None:
            sampled = sample_attributes(self._sampler, request, ctx, self.name)
            values.update(sampled)
        if request.input is not None:
            payload = request.input.payload
            assert isinstance(payload, TableRowPayload)  # input_modalities guarantees it
            labels = dict(request.input.labels)
            values.update(labels)
            values.update(payload.values)
        if params.fields is not None:
            missing = [f for f in params.fields if f not in values]
            if missing:
                raise GenerationError(f"{self.name}: fields {missing} are missing from the record's attributes "
                                      f"({sorted(values)})")
            values = {f: values[f] for f in params.fields}
        relations = "".join(f"\n- {name}: from a {r.head} to a {r.tail}" + (f" ({r.description})" if r.description else "")
                            for name, r in params.relation_types.items())
        fields = {
            "persona": params.persona, "language": params.language, "document_type": params.document_type,
            "target_words": params.target_words, "attributes": _prompts.format_attributes(values),
            "entity_types": "\n".join(f"- {name}" + (f": {d}" if d else "") for name, d in params.entity_types.items()),
            "relation_types": f"\nAnnotate these relations between entities:{relations}\n" if relations else "",
            "relation_rule": ('\n- Each relation has a "label" from the list above, a "head" and a "tail": the ids of '
                              'its two entities, in the order given.') if relations else "",
            "schema": json_instruction(self._schema),
        }
        messages = (ChatMessage(role="system", content=SYSTEM.render(fields)),
                    ChatMessage(role="user", content=USER.render(fields)))
        return _Prompt(messages=messages, labels=labels, sampled=sampled)

    # -- validation -----------------------------------------------------------------------------
    def _checker(self, i: int, reports: dict[int, RepairReport]) -> Any:
        def check(value: Any) -> str | None:
            report, problems = self.check_answer(value)
            if problems:
                return "; ".join(problems)
            reports[i] = report  # the accepted answer's report (checks stop once one is accepted)
            return None
        return check

    def check_answer(self, value: Any) -> tuple[RepairReport, list[str]]:
        """Repair the answer's spans; the reasons it must be retried (none when it is usable)."""
        params = self.params
        problems: list[str] = []
        words = len(value.text.split())
        if words < params.min_words:
            problems.append(f"the text has {words} words, fewer than {params.min_words}")
        seen: set[str] = set()
        for entity in value.entities:
            if entity.id in seen:
                problems.append(f"entity id {entity.id!r} is used twice; give each entity its own id")
            seen.add(entity.id)
        report = repair_spans(value.text, [EntityClaim(text=e.text, label=e.label, start=e.start, end=e.end, id=e.id)
                                           for e in value.entities])
        problems += [f"{f}; copy entity texts exactly from the document" for f in report.failures]
        if len(report.spans) < params.min_entities:
            problems.append(f"{len(report.spans)} entities annotated, fewer than {params.min_entities}")
        found = {s.label for s in report.spans}
        missing = [t for t in params.required_entity_types if t not in found]
        if missing:
            problems.append(f"no entity of type {missing}; the text must mention and annotate each")
        spans = {s.id: s for s in report.spans}
        for rel in getattr(value, "relations", ()):
            ends = [report.ids.get(rel.head), report.ids.get(rel.tail)]
            if None in ends:
                unknown = [x for x, e in zip((rel.head, rel.tail), ends, strict=True) if e is None]
                problems.append(f"relation {rel.label!r} names unknown or unplaced entity ids {unknown}")
                continue
            spec = params.relation_types[rel.label]
            head, tail = (spans[e] for e in ends)
            if (head.label, tail.label) != (spec.head, spec.tail):
                problems.append(f"relation {rel.label!r} goes from a {spec.head} to a {spec.tail}, but {rel.head} is a "
                                f"{head.label} and {rel.tail} is a {tail.label}")
        return report, problems

    # -- output ---------------------------------------------------------------------------------
    def _draft(self, prompt: _Prompt, result: StructuredResult[Any], report: RepairReport, ctx: StepContext) -> Draft:
        value = result.value
        relations = tuple(dict.fromkeys(
            Relation(head=report.ids[r.head], tail=report.ids[r.tail], label=r.label)
            for r in getattr(value, "relations", ())))
        strategy: tuple[Strategy, ...] = (Strategy.ZERO_SHOT, Strategy.INSTRUCTION)
        extra: dict[str, Any] = {
            "spans_repaired": report.repaired, "span_fixes": report.fix_counts(),
            "duplicate_entities_merged": report.duplicates,
            "rejected_attempts": rejected_attempts(result, len(prompt.messages)),
            "llm_seed": result.llm_seed, "finish_reason": result.finish_reason, "schema_constrained": result.constrained,
        }
        if prompt.sampled is not None:
            strategy += (Strategy.ATTRIBUTE_SAMPLING,)
            extra["attributes"] = prompt.sampled
        return Draft(
            payload=TextPayload(text=value.text, document_type=self.params.document_type),
            labels=prompt.labels, spans=report.spans, relations=relations, model=result.model,
            prompt=PromptRef.build(TEMPLATE_ID, self.template, result.rendered, redact=ctx.redact_prompts),
            strategy=strategy, decoding=self.params.decoding, attempts=result.attempts,
            validation=Validation.REPAIRED if report.repaired or report.duplicates else Validation.PASSED,
            prompt_tokens=result.total_prompt_tokens, completion_tokens=result.total_completion_tokens, extra=extra,
        )


def answer_model(entity_types: tuple[str, ...], relation_types: tuple[str, ...], min_entities: int = 0
                 ) -> type[BaseModel]:
    """The pydantic model of one answer, its labels restricted to the configured types.

    Unknown keys are ignored (small models add some); missing offsets are allowed (searched for).
    `entities` is a required key with at least `min_entities` items, so that a grammar-constrained
    backend cannot end the answer after the text; `relations` may be left out (none).
    """
    config = ConfigDict(frozen=True, extra="ignore")
    label: Any = Literal[entity_types]
    entity = create_model(
        "Entity", __config__=config, id=(str, Field(min_length=1)), label=(label, ...),
        text=(str, Field(min_length=1)), start=(int | None, Field(None, ge=0)), end=(int | None, Field(None, ge=0)))
    fields: dict[str, Any] = {"text": (str, Field(min_length=1)),
                              "entities": (list[entity], Field(min_length=min_entities))}  # type: ignore[valid-type]
    if relation_types:
        relation_label: Any = Literal[relation_types]
        relation = create_model("RelationItem", __config__=config, head=(str, Field(min_length=1)),
                                tail=(str, Field(min_length=1)), label=(relation_label, ...))
        fields["relations"] = (list[relation], Field(default_factory=list))  # type: ignore[valid-type]
    model: type[BaseModel] = create_model("AnnotatedText", __config__=config, **fields)
    return model


def sample_attributes(sampler: AttributeSampler, request: SampleRequest, ctx: StepContext, generator: str
                      ) -> dict[str, Scalar]:
    """One draw of the step's `attributes`, seeded by the request."""
    [outcome] = sampler.generate([SampleRequest(index=request.index, seed=derive_seed(request.seed, "attributes"))], ctx)
    if isinstance(outcome, SampleFailure):
        raise GenerationError(f"{generator}: attribute sampling failed: {outcome.reason}")
    payload = outcome.payload
    assert isinstance(payload, TableRowPayload)
    return dict(payload.values)


def rejected_attempts(result: StructuredResult[Any], prompt_length: int) -> list[str]:
    """Why earlier attempts were rejected: the errors of the retry turns `generate_structured` appended."""
    prefix, _, suffix = RETRY_TEMPLATE.partition("{errors}")
    turns = result.messages[prompt_length:]
    return [m.content.removeprefix(prefix).removesuffix(suffix) for m in turns if m.role == "user"]
