"""`critic_filter`: a recipe step that keeps, repairs or drops the samples of an earlier step by a judge's score
(after Jeong et al., 2024, whose critic model filters synthetic instructions).

    - name: critic
      generator: critic_filter
      from: notes
      params:
        judge: {backend: llamacpp, params: {model: judge.gguf, logprobs: true}}
        rubric: asclepius
        keep_at: 3            # kept when the score is at least this
        drop_below: 2         # dropped below this; in between, rewritten by `rewriter` and graded again
        rewriter: {backend: transformers, params: {model: writer/}}

Every decision is recorded: a kept or repaired sample carries it in its provenance (`extra.critic`: score, the
rationale's sha256, the judge's ModelRef, rubric id and sha256) and the step's manifest summary lists them; a
dropped sample is a manifest removal (`removed_samples`: its id, score, rationale sha256 and the judge's ModelRef).
A sample the judge could not grade is a failure with the reason, never a silent drop. A judge of the generator's
model family is refused unless `force_self_judge: true` (self-preference).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from biosynth.core import (
    ChatRequest,
    ComponentSpec,
    ConfigError,
    DecodingConfig,
    Draft,
    Drop,
    GenerationError,
    Generator,
    GeneratorParams,
    Record,
    SampleRequest,
    StepContext,
    TextPayload,
    Validation,
    derive_seed,
    sha256_text,
)
from biosynth.core._journal import StepJournal
from biosynth.eval._judge.family import check_self_preference
from biosynth.eval._judge.items import JudgeItem, items_from_records
from biosynth.eval._judge.judge import FEEDBACK_DECODING, Judgement, Method, RubricJudge
from biosynth.eval._judge.prompts import REPAIR, repair_messages
from biosynth.eval._judge.rubric import RUBRICS, Rubric, load_rubric

REWRITE_DECODING = DecodingConfig(temperature=0.7, top_p=0.95, max_new_tokens=400)


class CriticParams(GeneratorParams):
    """Parameters of `critic_filter`."""

    judge: ComponentSpec = Field(description="the judge: a language model component")
    rubric: Rubric | str = Field("asclepius", validate_default=True,
                                 description=f"a shipped rubric ({', '.join(sorted(RUBRICS))}), a rubric file "
                                             "(.yaml/.json), or the rubric itself")
    keep_at: float = Field(description="keep a sample whose score is at least this")
    drop_below: float | None = Field(None, description="drop without repair below this; between it and keep_at, "
                                                       "repair (needs `rewriter`). None: repair all below keep_at")
    rewriter: ComponentSpec | None = Field(None, description="the model that rewrites a sample from the judge's "
                                                             "feedback; None: no repair, samples below keep_at drop")
    max_repairs: int = Field(1, ge=1, le=3, description="rewrite-and-grade rounds before a sample is dropped")
    method: Method = "auto"
    max_attempts: int = Field(3, ge=1, le=10, description="tries to get a strictly parsable verdict")
    top_logprobs: int = Field(20, ge=2, le=20)
    reference_step: str | None = Field(None, description="the step holding the source records (the inputs' parents) "
                                                         "a reference rubric such as factual_consistency compares with")
    force_self_judge: bool = Field(False, description="allow a judge of the generator's model family (reported)")
    feedback_decoding: DecodingConfig = Field(FEEDBACK_DECODING, description="the judge's decoding when it writes "
                                                                            "feedback (Prometheus way, and for repairs)")
    rewrite_decoding: DecodingConfig = REWRITE_DECODING

    @field_validator("rubric", mode="before")
    @classmethod
    def _rubric(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            base = (info.context or {}).get("base_dir")
            candidate = Path(base) / value if base is not None and value not in RUBRICS else Path(value)
            return load_rubric(value if value in RUBRICS else candidate, what="rubric")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        rubric = self.resolved_rubric
        for name, value in (("keep_at", self.keep_at), ("drop_below", self.drop_below)):
            if value is not None and not rubric.lowest <= value <= rubric.highest:
                raise ValueError(f"{name} {value} lies outside rubric {rubric.id!r}'s scale "
                                 f"[{rubric.lowest}, {rubric.highest}]")
        if self.drop_below is not None and self.drop_below > self.keep_at:
            raise ValueError(f"drop_below ({self.drop_below}) exceeds keep_at ({self.keep_at})")
        if rubric.reference_required and self.reference_step is None:
            raise ValueError(f"rubric {rubric.id!r} compares each sample with its {rubric.reference}: name the step "
                             "that holds those records in `reference_step`")
        return self

    @property
    def resolved_rubric(self) -> Rubric:
        assert isinstance(self.rubric, Rubric)  # the validator loads names and files
        return self.rubric


class CriticFilter(Generator[CriticParams]):
    """Keeps, repairs or drops each input record by a judge's rubric score (see the module doc)."""

    name = "critic_filter"
    input_required = True

    def _setup(self, ctx: StepContext) -> None:
        p = self.params
        resolved = ctx.component(p.judge)
        self._judge = RubricJudge(resolved.component, p.resolved_rubric, method=p.method, max_attempts=p.max_attempts,
                                  top_logprobs=p.top_logprobs, seed=ctx.seed, feedback_decoding=p.feedback_decoding)
        self._judge_ref = resolved.model_ref
        self._rewriter = ctx.component(p.rewriter) if p.rewriter is not None else None
        self._sources: dict[str, Record] = {}
        if p.reference_step is not None:
            journal = StepJournal(ctx.root, p.reference_step)
            self._sources = {record.id: record for _, record in journal.records()}
            if not self._sources:
                raise ConfigError(f"step {ctx.step!r}: reference_step {p.reference_step!r} has no records (is it a "
                                  "step of this recipe that runs before this one?)")

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError | Drop]:
        p, rubric = self.params, self.params.resolved_rubric
        inputs = [r.input for r in requests]
        assert all(i is not None for i in inputs)
        records: list[Record] = inputs  # type: ignore[assignment]
        items = items_from_records(records, default_subject=rubric.subject, sources=self._sources,
                                   with_reference=p.reference_step is not None)
        generators = [item.generator for item in items]
        if self._rewriter is not None:
            generators.append(self._rewriter.model_ref)  # the judge grades the rewrites too
        self._warnings = check_self_preference(self._judge_ref, generators, force=p.force_self_judge)
        judgements = self._judge.grade(items)
        outcomes: list[Draft | GenerationError | Drop | None] = [None] * len(items)
        to_repair: list[int] = []
        for k, (record, judgement) in enumerate(zip(records, judgements, strict=True)):
            if judgement.score is None:
                outcomes[k] = GenerationError(f"the judge could not grade {record.id}: {judgement.error}",
                                              attempts=judgement.attempts)
            elif judgement.score >= p.keep_at:
                outcomes[k] = self._kept(record, judgement)
            elif self._rewriter is not None and (p.drop_below is None or judgement.score >= p.drop_below):
                to_repair.append(k)
            else:
                bar = p.drop_below if p.drop_below is not None else p.keep_at
                outcomes[k] = self._drop(record, judgement, f"critic: score below {bar:g}")
        if to_repair:
            for k, outcome in zip(to_repair, self._repair([records[k] for k in to_repair],
                                                          [items[k] for k in to_repair],
                                                          [judgements[k] for k in to_repair],
                                                          [requests[k] for k in to_repair], ctx), strict=True):
                outcomes[k] = outcome
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    # -- decisions ------------------------------------------------------------------------------
    def _decision(self, judgement: Judgement, decision: str, **more: Any) -> dict[str, Any]:
        rubric = self.params.resolved_rubric
        return {"decision": decision, "score": judgement.score, "method": judgement.method,
                "rationale_sha256": judgement.rationale_sha256, "judge": self._judge_ref.model_dump(mode="json"),
                "rubric": {"id": rubric.id, "sha256": rubric.sha256}, "templates": self._judge.templates(),
                "keep_at": self.params.keep_at, **({"warnings": list(self._warnings)} if self._warnings else {}),
                **more}

    def _kept(self, record: Record, judgement: Judgement) -> Draft:
        facts = record.provenance.facts()
        facts["extra"] = {**facts["extra"], "critic": self._decision(judgement, "kept", input_id=record.id)}
        return Draft(payload=record.payload, modality=record.modality, labels={**record.labels,
                                                                                "critic_score": judgement.score},
                     spans=record.spans, relations=record.relations, case_id=record.case_id,
                     **facts)

    def _drop(self, record: Record, judgement: Judgement, reason: str) -> Drop:
        return Drop(reason=reason, id=record.id, score=judgement.score, rationale_sha256=judgement.rationale_sha256,
                    judge=self._judge_ref)

    def _repair(self, records: list[Record], items: list[JudgeItem], judgements: list[Judgement],
                requests: list[SampleRequest], ctx: StepContext) -> list[Draft | Drop]:
        """Rewrite each sample from the judge's feedback and grade it again, up to `max_repairs` rounds."""
        p, rubric = self.params, self.params.resolved_rubric
        assert self._rewriter is not None
        out: dict[int, Draft | Drop] = {}
        for k, record in enumerate(records):
            if not isinstance(record.payload, TextPayload):
                out[k] = self._drop(record, judgements[k], f"critic: score below {p.keep_at:g}; only text payloads "
                                                           "can be rewritten")
        current = {k: (items[k], judgements[k]) for k in range(len(records)) if k not in out}
        feedback_judge = RubricJudge(self._judge.model, rubric, method="prometheus", max_attempts=p.max_attempts,
                                     seed=self._judge.seed, feedback_decoding=p.feedback_decoding)
        seed_of = {k: requests[k].seed for k in range(len(records))}
        for round_ in range(p.max_repairs):
            if not current:
                break
            keys = sorted(current)
            # G-Eval answers hold no feedback to rewrite from: ask for it the Prometheus way
            need = [k for k in keys if current[k][1].method == "g-eval"]
            if need:
                for k, fb in zip(need, feedback_judge.grade([current[k][0] for k in need]), strict=True):
                    if fb.score is not None:
                        current[k] = (current[k][0], replace(current[k][1], rationale=fb.rationale))
            prompts = {k: repair_messages(rubric, current[k][0], current[k][1].score or 0.0,
                                          current[k][1].rationale or "(no feedback)") for k in keys}
            completions = self._rewriter.component.generate(
                [ChatRequest(messages=prompts[k][1], decoding=p.rewrite_decoding,
                             seed=derive_seed(seed_of[k], "repair", round_)) for k in keys])
            rewritten = [JudgeItem(id=current[k][0].id, text=c.text.strip() or current[k][0].text,
                                   subject=current[k][0].subject, reference=current[k][0].reference,
                                   generator=self._rewriter.model_ref) for k, c in zip(keys, completions, strict=True)]
            regraded = self._judge.grade(rewritten)
            for k, item, completion, judgement in zip(keys, rewritten, completions, regraded, strict=True):
                if judgement.score is not None and judgement.score >= p.keep_at:
                    out[k] = self._repaired(records[k], item, completion.text.strip(), prompts[k][0], judgement,
                                            judgements[k], round_ + 1, completion, ctx.redact_prompts)
                    del current[k]
                elif judgement.score is not None:
                    current[k] = (item, judgement)
        for k, (_, judgement) in current.items():
            failed = judgement if judgement.score is not None else judgements[k]
            out[k] = self._drop(records[k], failed, f"critic: still below {p.keep_at:g} after {p.max_repairs} "
                                                     "repair round(s)")
        return [out[k] for k in range(len(records))]

    def _repaired(self, record: Record, item: JudgeItem, text: str, prompt: str, judgement: Judgement,
                  first: Judgement, rounds: int, completion: Any, redact: bool) -> Draft:
        assert self._rewriter is not None and isinstance(record.payload, TextPayload)
        decision = self._decision(judgement, "repaired", input_id=record.id, initial_score=first.score,
                                  initial_rationale_sha256=first.rationale_sha256, repair_rounds=rounds)
        return Draft(payload=TextPayload(text=text, document_type=record.payload.document_type),
                     modality=record.modality, labels={**record.labels, "critic_score": judgement.score},
                     case_id=record.case_id, parents=(record.id,), model=self._rewriter.model_ref,
                     prompt=REPAIR.prompt_ref(prompt, redact=redact),
                     decoding=self.params.rewrite_decoding, validation=Validation.REPAIRED, attempts=rounds,
                     prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                     extra={"critic": decision, "rewrite_of_sha256": sha256_text(item.text)})

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """Every kept and repaired decision (the dropped ones are the step's `removed_samples`)."""
        decisions = [r.provenance.extra.get("critic") or {} for r in records]
        rubric = self.params.resolved_rubric
        return {"rubric": {"id": rubric.id, "sha256": rubric.sha256}, "keep_at": self.params.keep_at,
                "drop_below": self.params.drop_below,
                "decisions": dict(Counter(d.get("decision", "unknown") for d in decisions)),
                "samples": [{"id": r.id, "input_id": d.get("input_id"), "decision": d.get("decision"),
                             "score": d.get("score"), "rationale_sha256": d.get("rationale_sha256"),
                             "judge": d.get("judge")} for r, d in zip(records, decisions, strict=True)]}
