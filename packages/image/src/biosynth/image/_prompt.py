"""Image prompts: a core `PromptTemplate` over attributes, labels and the parent record, optionally handed to
a language model that writes the final prompt. The rendered prompt, its template id and hash, and the writer
are recorded in every image's provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import (
    AttributeSampler,
    AttributeSpecs,
    BackendSpec,
    ChatMessage,
    ChatRequest,
    DecodingConfig,
    DialoguePayload,
    GenerationError,
    ImagePayload,
    LanguageModel,
    ModelRef,
    PromptRef,
    PromptTemplate,
    QAPayload,
    Record,
    SampleFailure,
    SampleRequest,
    Scalar,
    StepContext,
    TableRowPayload,
    TextPayload,
    derive_seed,
    render_messages,
)

PROMPT_TEMPLATE = PromptTemplate(id="image/prompt/v1", text="$description")
WRITER_SYSTEM = PromptTemplate(
    id="image/prompt-writer/v1",
    text="You write prompts for a text-to-image diffusion model that makes $image_type images.")
WRITER_USER = PromptTemplate(
    id="image/prompt-writer/v1",
    text="Write one prompt of at most $max_words words for an image that shows:\n$description\n"
         "Answer with the prompt only, on one line.")
WRITER_DECODING = DecodingConfig(temperature=0.7, top_p=0.9, max_new_tokens=60)


class PromptParams(BaseModel):
    """Where each image's prompt comes from.

    `template` is `string.Template` text (`$name`) filled from the sampled `attributes`, the parent record's
    labels and fields, and `$text` (a parent text record's text), `$labels` (`name: value, ...`) and
    `$description` (the parent's text, else its labels and fields). With `writer`, a language model writes the
    prompt from the rendered template (its instruction is `WRITER_USER`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    template: str | None = Field(None, description="the prompt template (default `$description`)")
    template_id: str | None = Field(None, description="required with a custom template, e.g. 'cxr-prompt/v1'")
    attributes: AttributeSpecs | None = Field(None, description="attributes to sample per image (the `attributes` "
                                                                "generator's specs)")
    writer: BackendSpec | None = Field(None, description="a language model that writes the prompt from the template's text")
    image_type: str = Field("medical", description="the writer's system prompt: 'chest X-ray', 'dermoscopy', ...")
    max_words: int = Field(40, ge=3, le=200)
    writer_decoding: DecodingConfig = WRITER_DECODING

    @model_validator(mode="after")
    def _template(self) -> Self:
        if self.template is not None:
            if not self.template_id:
                raise ValueError("a custom prompt `template` needs a `template_id` (e.g. 'cxr-prompt/v1'), recorded "
                                 "in provenance")
            PromptTemplate(id=self.template_id, text=self.template)  # checks the id and the syntax
        if self.writer is not None and self.writer.kind.value != "language_model":
            raise ValueError(f"prompt writer: expected a language model, got a {self.writer.describe()}")
        return self

    @property
    def prompt_template(self) -> PromptTemplate:
        if self.template is None:
            return PROMPT_TEMPLATE
        return PromptTemplate(id=self.template_id or "", text=self.template)


@dataclass(frozen=True)
class ImagePrompt:
    """One image's prompt and what it records."""

    text: str
    ref: PromptRef
    labels: dict[str, Scalar]
    attributes: dict[str, Scalar] | None = None
    writer: dict[str, Any] | None = None


@dataclass
class PromptBuilder:
    """Renders (and optionally has a language model write) the prompt of each request."""

    params: PromptParams
    name: str
    _sampler: AttributeSampler | None = field(default=None, init=False)
    _writer: LanguageModel | None = field(default=None, init=False)
    _writer_ref: ModelRef | None = field(default=None, init=False)

    def setup(self, ctx: StepContext) -> None:
        if self.params.attributes:
            self._sampler = AttributeSampler({"attributes": self.params.attributes})
        if self.params.writer is not None:
            resolved = ctx.component(self.params.writer)
            self._writer, self._writer_ref = resolved.component, resolved.model_ref

    def build(self, requests: list[SampleRequest], ctx: StepContext) -> list[ImagePrompt | GenerationError]:
        template = self.params.prompt_template
        rendered: list[tuple[str, dict[str, Scalar], dict[str, Scalar] | None] | GenerationError] = []
        for request in requests:
            try:
                rendered.append(self._render(template, request, ctx))
            except GenerationError as err:
                rendered.append(err)
        if self._writer is None:
            return [r if isinstance(r, GenerationError) else
                    ImagePrompt(text=r[0], ref=template.prompt_ref(r[0], redact=ctx.redact_prompts), labels=r[1],
                                attributes=r[2]) for r in rendered]
        return self._write(requests, rendered, template, ctx)

    def _render(self, template: PromptTemplate, request: SampleRequest, ctx: StepContext
                ) -> tuple[str, dict[str, Scalar], dict[str, Scalar] | None]:
        values: dict[str, Scalar] = {}
        sampled: dict[str, Scalar] | None = None
        if self._sampler is not None:
            [outcome] = self._sampler.generate([SampleRequest(index=request.index,
                                                              seed=derive_seed(request.seed, "attributes"))], ctx)
            if isinstance(outcome, SampleFailure):
                raise GenerationError(f"{self.name}: attribute sampling failed: {outcome.reason}")
            assert isinstance(outcome.payload, TableRowPayload)
            sampled = dict(outcome.payload.values)
            values.update(sampled)
        labels: dict[str, Scalar] = {}
        text = ""
        if request.input is not None:
            labels = dict(request.input.labels)
            values.update(labels)
            fields, text = _record_content(request.input)
            values.update(fields)
        described = {k: v for k, v in values.items() if v is not None}
        facts = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in described.items())
        fill: dict[str, object] = {**values, "text": text, "labels": ", ".join(f"{k}: {v}" for k, v in labels.items()),
                                   "description": text or facts}
        try:
            prompt = template.render(fill).strip()
        except KeyError as err:
            raise GenerationError(f"{self.name}: prompt template {template.id!r} needs {err} but the record has "
                                  f"only {sorted(fill)}") from None
        if not prompt:
            raise GenerationError(f"{self.name}: the prompt is empty (template {template.id!r}; no attributes, labels "
                                  "or parent text to describe)")
        return prompt, labels, sampled

    def _write(self, requests: list[SampleRequest], rendered: list[Any], template: PromptTemplate,
               ctx: StepContext) -> list[ImagePrompt | GenerationError]:
        assert self._writer is not None and self._writer_ref is not None
        pending = [i for i, r in enumerate(rendered) if not isinstance(r, GenerationError)]
        chats: dict[int, tuple[ChatMessage, ...]] = {}
        for i in pending:
            fields = {"image_type": self.params.image_type, "max_words": self.params.max_words,
                      "description": rendered[i][0]}
            chats[i] = (ChatMessage(role="system", content=WRITER_SYSTEM.render(fields)),
                        ChatMessage(role="user", content=WRITER_USER.render(fields)))
        seeds = {i: derive_seed(requests[i].seed, "prompt-writer") for i in pending}
        completions = self._writer.generate([ChatRequest(messages=chats[i], decoding=self.params.writer_decoding,
                                                         seed=seeds[i]) for i in pending])
        out: list[ImagePrompt | GenerationError] = list(rendered)
        writer_template = f"{WRITER_SYSTEM.text}\n\n{WRITER_USER.text}"
        redact = ctx.redact_prompts
        for i, completion in zip(pending, completions, strict=True):
            lines = [line.strip().strip('"') for line in completion.text.strip().splitlines() if line.strip()]
            words = " ".join(lines[0].split()[: self.params.max_words]) if lines else ""
            if not words:
                out[i] = GenerationError(f"{self.name}: the prompt writer returned no prompt")
                continue
            _, labels, sampled = rendered[i]
            instruction = PromptRef.build(WRITER_USER.id, writer_template, render_messages(chats[i]), redact=redact)
            writer = {"model": self._writer_ref.model_dump(mode="json"), "prompt": instruction.model_dump(mode="json"),
                      "input_template": template.prompt_ref(rendered[i][0], redact=redact).model_dump(mode="json"),
                      "seed": seeds[i], "decoding": self.params.writer_decoding.model_dump(mode="json"),
                      "finish_reason": completion.finish_reason}
            ref = PromptRef.build(f"{WRITER_USER.id}", writer_template, words, redact=redact)
            out[i] = ImagePrompt(text=words, ref=ref, labels=labels, attributes=sampled, writer=writer)
        return out


def _record_content(record: Record) -> tuple[dict[str, Scalar], str]:
    """A parent record's scalar fields and its text (for text, QA and dialogue records)."""
    payload = record.payload
    if isinstance(payload, TableRowPayload):
        return dict(payload.values), ""
    if isinstance(payload, TextPayload):
        return {}, payload.text
    if isinstance(payload, QAPayload):
        return {}, payload.answer
    if isinstance(payload, ImagePayload):
        return {}, payload.caption or ""
    if isinstance(payload, DialoguePayload):
        return {}, " ".join(t.text for t in payload.turns)
    return {}, ""
