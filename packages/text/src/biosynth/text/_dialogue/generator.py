"""`dialogue`: multi-agent clinical dialogues (planner -> role-play agents -> refiner -> coverage check)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from biosynth.core import (
    AttributeSampler,
    BackendSpec,
    DecodingConfig,
    DialoguePayload,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    Modality,
    ModelRef,
    PromptRef,
    Rejected,
    SampleRequest,
    StepContext,
    Strategy,
    StructuredPrompt,
    StructuredResult,
    Turn,
    Validation,
    canonical_json,
    derive_seed,
    generate_structured,
    retry_until_valid,
    sha256_text,
)
from biosynth.text._dialogue.agents import CallStats, Conversation, Scene, speak
from biosynth.text._dialogue.coverage import Coverage, coverage
from biosynth.text._dialogue.planner import Plan, Role, plan_model, plan_problems, planner_messages, to_plan
from biosynth.text._dialogue.prompts import SCENARIOS, TEMPLATE_ID, TEMPLATES, combined_template
from biosynth.text._dialogue.refiner import RefinedTranscript, refine_problems, refiner_messages, spoken_text
from biosynth.text._dialogue.source import Source, build_source

COVERAGE_CRITERION = ("lexical: a key fact is covered when each of its essential terms occurs as a contiguous run of "
                      "normalised tokens (NFKC, case-folded, accents and punctuation removed, plural -s dropped) in "
                      "the spoken turns")

_ROLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


class RoleConfig(BaseModel):
    """A participant: `role` (e.g. doctor, paramedic), how it is shown (`speaker`), and its persona."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: str = Field(min_length=1)
    speaker: str | None = Field(None, min_length=1, description="display name; default the role, capitalised")
    persona: str = Field(min_length=1)

    @field_validator("role")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _ROLE_NAME.match(value):
            raise ValueError(f"a role must be an identifier (letters, digits, _ or -), got {value!r}")
        return value


class DialogueParams(GeneratorParams):
    """Parameters of `dialogue`."""

    scenario: Literal["consultation", "ems"] = Field(
        "consultation", description="preset setting and roles: doctor/patient consultation, or EMS crew/patient")
    setting: str | None = Field(None, min_length=1, description="overrides the scenario's setting")
    roles: tuple[RoleConfig, ...] | None = Field(None, min_length=2, description="overrides the scenario's roles")
    personas: dict[str, str] = Field(default_factory=dict, description="role -> persona, over the roles' own")
    turn_order: tuple[str, ...] | None = Field(
        None, min_length=1, description="roles in speaking order, repeated; default each role in turn")
    turns: int = Field(8, ge=2, le=60)
    attributes: dict[str, Any] | None = Field(
        None, description="attributes to sample per dialogue (the `attributes` generator's specs): the source when "
                          "the step has no `from:`, extra details otherwise")
    fields: tuple[str, ...] | None = Field(None, description="only these attributes of a table row go to the planner")
    min_key_facts: int = Field(2, ge=1)
    max_key_facts: int = Field(6, ge=1, le=30)
    min_coverage: float = Field(1.0, ge=0.0, le=1.0, description="fraction of key facts the dialogue must cover")
    refine: bool = True
    language: str = "English"
    model: BackendSpec = Field(BackendSpec(backend="transformers"), description="the role-play agents' model, and "
                                                                                "the default for the others")
    planner_model: BackendSpec | None = None
    refiner_model: BackendSpec | None = None
    decoding: DecodingConfig = DecodingConfig(temperature=0.8, top_p=0.9, max_new_tokens=96, repetition_penalty=1.1)
    planner_decoding: DecodingConfig = DecodingConfig(temperature=0.3, top_p=0.9, max_new_tokens=512)
    refiner_decoding: DecodingConfig = DecodingConfig(temperature=0.3, top_p=0.9, max_new_tokens=1536)
    max_attempts: int = Field(3, ge=1, le=10, description="dialogues spoken (new seed each) until the facts are covered")
    json_attempts: int = Field(3, ge=1, le=10, description="tries for a valid plan or polished transcript")
    max_turn_attempts: int = Field(2, ge=1, le=5, description="tries for a non-empty turn")
    constrain: bool = Field(True, description="send JSON schemas to backends that can constrain decoding")

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            AttributeSampler.parse_params({"attributes": value}, where="dialogue `attributes`")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        roles = [r.role for r in self.resolved_roles()]
        if len(set(roles)) != len(roles):
            raise ValueError(f"roles must be distinct, got {roles}")
        speakers = [r.speaker.casefold() for r in self.resolved_roles()]
        if len(set(speakers)) != len(speakers):
            raise ValueError("speakers must be distinct")
        for name, given in (("personas", list(self.personas)), ("turn_order", list(self.turn_order or ()))):
            unknown = sorted(set(given) - set(roles))
            if unknown:
                raise ValueError(f"{name} names roles {unknown}, not among the roles {roles}")
        if self.turn_order is not None and set(self.turn_order) != set(roles):
            raise ValueError(f"turn_order must give every role a turn; missing {sorted(set(roles) - set(self.turn_order))}")
        if self.min_key_facts > self.max_key_facts:
            raise ValueError(f"min_key_facts ({self.min_key_facts}) exceeds max_key_facts ({self.max_key_facts})")
        return self

    def resolved_roles(self) -> tuple[Role, ...]:
        if self.roles is not None:
            roles = [Role(r.role, r.speaker or r.role.replace("_", " ").title(), r.persona) for r in self.roles]
        else:
            roles = [Role(p.role, p.speaker, p.persona) for p in SCENARIOS[self.scenario].roles]
        return tuple(Role(r.role, r.speaker, self.personas.get(r.role, r.persona)) for r in roles)

    @property
    def resolved_setting(self) -> str:
        return self.setting or SCENARIOS[self.scenario].setting


@dataclass(frozen=True)
class _Spoken:
    """A dialogue that covers its key facts: its plan, turns, coverage and what the refiner did."""

    plan: Plan
    turns: list[tuple[Role, str]]
    covered: Coverage
    refiner: dict[str, Any]


class Dialogue(Generator[DialogueParams]):
    """Writes one clinical dialogue per request with a team of LLM calls.

    1. The planner reads the source (a note from `from:` a text step, a table row or case from `from:`
       a tabular step, or sampled `attributes`) and answers a JSON plan: a summary, a goal per role,
       and key facts whose essential terms must occur in the source (checked; else retried with the
       reason, up to `json_attempts`).
    2. The role-play agents speak `turns` turns, each one LLM call with that role's persona, goal and
       facts and the conversation so far; turn t of every dialogue in the batch is one `generate` call.
    3. The refiner polishes the transcript as JSON; it must keep the turn count, the speakers and every
       key fact the draft covered, else the draft is kept (recorded in provenance).
    4. The coverage check (see `coverage.py`) needs `min_coverage` of the key facts spoken; a
       dialogue short of it is spoken again with a new seed, the agents reminded of the missing facts,
       up to `max_attempts`, then recorded as a failure naming the missing facts.
    """

    name = "dialogue"
    input_modalities = (Modality.TEXT, Modality.TABULAR)

    def _setup(self, ctx: StepContext) -> None:
        params = self.params
        self._sampler = AttributeSampler({"attributes": params.attributes}) if params.attributes else None
        roles = params.resolved_roles()
        by_role = {r.role: r for r in roles}
        order = tuple(by_role[r] for r in params.turn_order) if params.turn_order else roles
        self._scene = Scene(setting=params.resolved_setting, language=params.language, roles=roles, order=order)
        self._plan_schema = plan_model(tuple(by_role), params.min_key_facts, params.max_key_facts)

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        params = self.params
        outcomes: dict[int, Draft | GenerationError] = {}
        sources: dict[int, Source] = {}
        for i, request in enumerate(requests):
            try:
                sources[i] = build_source(request, self._sampler, params.fields, ctx, self.name)
            except GenerationError as err:
                outcomes[i] = err
        plans = self._plan(requests, sources, ctx, outcomes)
        stats: dict[int, dict[str, CallStats]] = {i: {"planner": _structured_stats(plans[i])} for i in plans}
        missing: dict[int, dict[str, list[str]]] = {i: {} for i in plans}
        agents = ctx.language_model(params.model)
        order = list(plans)

        def attempt(number: int, pending: list[int]) -> list[_Spoken | Rejected]:
            """Speak (and refine) every pending dialogue once; reject those short of the coverage."""
            conversations = {i: Conversation(plan=to_plan(plans[i].value), missing=missing[i], stats=stats[i],
                                             seed=derive_seed(requests[i].seed, "dialogue", number))
                             for i in (order[k] for k in pending)}
            speak(agents, list(conversations.values()), self._scene, n_turns=params.turns, decoding=params.decoding,
                  max_turn_attempts=params.max_turn_attempts)
            spoken = {i: c for i, c in conversations.items() if c.failed is None}
            refined = self._refine(spoken, requests, number, ctx) if params.refine else {}
            outcomes: list[_Spoken | Rejected] = []
            for i in (order[k] for k in pending):
                c = conversations[i]
                if c.failed is not None:
                    outcomes.append(Rejected(c.failed))
                    continue
                turns, refiner = refined.get(i, (c.turns, {"status": "off"}))
                covered = coverage([(f.fact, f.terms) for f in c.plan.facts], spoken_text(turns))
                if covered.fraction >= params.min_coverage:
                    outcomes.append(_Spoken(c.plan, turns, covered, refiner))
                    continue
                # With real data in the source, the facts' words stay out of the reasons (they reach the manifest).
                missed = (f"{len(covered.missing)} key fact(s) missing" if ctx.redact_prompts
                          else f"missing {covered.describe_missing()}")
                missing[i] = _missing_by_role(c.plan, covered)
                outcomes.append(Rejected(f"coverage {covered.fraction:.2f} below {params.min_coverage}; {missed}"))
            return outcomes

        results = retry_until_valid(len(order), attempt, max_attempts=params.max_attempts, what="dialogue")
        for i, result in zip(order, results, strict=True):
            if isinstance(result, GenerationError):
                outcomes[i] = GenerationError(f"{self.name}: {result.reason}", attempts=result.attempts)
                continue
            done = result.value
            outcomes[i] = self._draft(sources[i], plans[i], done.plan, done.turns, done.covered, done.refiner,
                                      stats[i], result.attempts, list(result.rejected), ctx, agents.model_ref)
        return [outcomes[i] for i in range(len(requests))]

    # -- stages ---------------------------------------------------------------------------------
    def _plan(self, requests: list[SampleRequest], sources: dict[int, Source], ctx: StepContext,
              outcomes: dict[int, Draft | GenerationError]) -> dict[int, StructuredResult[Any]]:
        params = self.params
        keys = list(sources)
        prompts = [StructuredPrompt(
            messages=planner_messages(self._plan_schema, setting=self._scene.setting, language=params.language,
                                      roles=self._scene.roles, source=sources[i].text, min_facts=params.min_key_facts,
                                      max_facts=params.max_key_facts),
            seed=derive_seed(requests[i].seed, "planner"), check=self._plan_check(sources[i].text)) for i in keys]
        if not prompts:
            return {}
        model = ctx.language_model(params.planner_model or params.model)
        results = generate_structured(model, prompts, self._plan_schema, decoding=params.planner_decoding,
                                      max_attempts=params.json_attempts, constrain=params.constrain)
        plans: dict[int, StructuredResult[Any]] = {}
        for i, result in zip(keys, results, strict=True):
            if isinstance(result, GenerationError):
                outcomes[i] = GenerationError(f"{self.name}: planner: {result.reason}", attempts=result.attempts)
            else:
                plans[i] = result
        return plans

    def _plan_check(self, source: str) -> Any:
        def check(value: Any) -> str | None:
            problems = plan_problems(value, source, min_facts=self.params.min_key_facts,
                                     max_facts=self.params.max_key_facts)
            return "; ".join(problems) if problems else None
        return check

    def _refine(self, spoken: dict[int, Conversation], requests: list[SampleRequest], attempt: int, ctx: StepContext
                ) -> dict[int, tuple[list[tuple[Role, str]], dict[str, Any]]]:
        """Per dialogue: the turns to keep (polished, or the draft) and what happened, for provenance."""
        if not spoken:
            return {}
        params = self.params
        keys = list(spoken)

        def check_for(c: Conversation) -> Any:
            def check(value: RefinedTranscript) -> str | None:
                problems = refine_problems(value, c.turns, c.plan)
                return "; ".join(problems) if problems else None
            return check

        prompts = [StructuredPrompt(messages=refiner_messages(spoken[i].turns, spoken[i].plan, self._scene.setting),
                                    seed=derive_seed(requests[i].seed, "refiner", attempt), check=check_for(spoken[i]))
                   for i in keys]
        model = ctx.language_model(params.refiner_model or params.model)
        results = generate_structured(model, prompts, RefinedTranscript, decoding=params.refiner_decoding,
                                      max_attempts=params.json_attempts, constrain=params.constrain)
        out: dict[int, tuple[list[tuple[Role, str]], dict[str, Any]]] = {}
        for i, result in zip(keys, results, strict=True):
            c = spoken[i]
            if isinstance(result, GenerationError):
                c.stats.setdefault("refiner", CallStats()).calls += result.attempts
                out[i] = (c.turns, {"status": "kept draft", "attempts": result.attempts, "reason": result.reason})
                continue
            _add(c.stats.setdefault("refiner", CallStats()), _structured_stats(result))
            turns = [(role, " ".join(t.text.split())) for (role, _), t in zip(c.turns, result.value.turns, strict=True)]
            out[i] = (turns, {"status": "refined", "attempts": result.attempts})
        return out

    # -- output ---------------------------------------------------------------------------------
    def _draft(self, source: Source, planned: StructuredResult[Any], plan: Plan, turns: list[tuple[Role, str]],
               covered: Coverage, refiner: dict[str, Any], stats: dict[str, CallStats], attempts: int,
               rejected: list[str], ctx: StepContext, agent_model: ModelRef) -> Draft:
        params = self.params
        strategy: tuple[Strategy, ...] = (Strategy.MULTI_AGENT, Strategy.INSTRUCTION)
        extra: dict[str, Any] = {
            "source": source.kind,
            "templates": {t.id: t.sha256 for t in TEMPLATES},
            # The plan quotes the source: with real data only its hash is kept, like the prompt's.
            "plan": {"sha256": sha256_text(canonical_json(plan.to_json()))} if ctx.redact_prompts else plan.to_json(),
            "coverage": {"fraction": covered.fraction, "covered": sum(f.covered for f in covered.facts),
                         "total": len(covered.facts), "min_coverage": params.min_coverage,
                         "missing": [] if ctx.redact_prompts else covered.missing, "criterion": COVERAGE_CRITERION},
            "calls": {name: s.to_json() for name, s in stats.items()},
            "planner": {"attempts": planned.attempts, "llm_seed": planned.llm_seed,
                        "decoding": params.planner_decoding.model_dump(mode="json")},
            "refiner": {**refiner, "decoding": params.refiner_decoding.model_dump(mode="json")} if params.refine
            else {"status": "off"},
            "rejected_attempts": rejected,
        }
        models = {"planner": planned.model}
        refiner_ref = getattr(ctx.language_model(params.refiner_model), "model_ref", None) if params.refiner_model else None
        if refiner_ref is not None:
            models["refiner"] = refiner_ref
        others = {k: m.model_dump(mode="json") for k, m in models.items() if m != agent_model}
        if others:
            extra["models"] = others
        if source.sampled is not None:
            strategy += (Strategy.ATTRIBUTE_SAMPLING,)
            extra["attributes"] = source.sampled
        return Draft(
            payload=DialoguePayload(turns=tuple(Turn(speaker=r.speaker, role=r.role, text=t) for r, t in turns),
                                    setting=self._scene.setting),
            labels=source.labels, model=agent_model,
            prompt=PromptRef.build(TEMPLATE_ID, combined_template(), planned.rendered, redact=ctx.redact_prompts),
            strategy=strategy, decoding=params.decoding, attempts=attempts, validation=Validation.PASSED,
            prompt_tokens=sum(s.prompt_tokens for s in stats.values()),
            completion_tokens=sum(s.completion_tokens for s in stats.values()), extra=extra,
        )


def _structured_stats(result: StructuredResult[Any]) -> CallStats:
    return CallStats(calls=result.attempts, prompt_tokens=result.total_prompt_tokens,
                     completion_tokens=result.total_completion_tokens)


def _add(total: CallStats, more: CallStats) -> None:
    total.calls += more.calls
    total.prompt_tokens += more.prompt_tokens
    total.completion_tokens += more.completion_tokens


def _missing_by_role(plan: Plan, covered: Coverage) -> dict[str, list[str]]:
    missing = set(covered.missing)
    out: dict[str, list[str]] = {}
    for fact in plan.facts:
        if fact.fact in missing:
            out.setdefault(fact.revealed_by, []).append(fact.fact)
    return out
