"""Rubric and pairwise judges over any core `LanguageModel`.

Rubric grading reads the G-Eval score (the probability-weighted sum over the score tokens at the first answer
position) when the backend gives token log-probabilities, and otherwise asks for Prometheus-style feedback ending
in `[RESULT] n`, parsed strictly and retried with the parse error. Pairwise comparison asks each pair in both
orders; only a verdict that survives the swap counts, the others are position bias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from biosynth.core import (
    ChatMessage,
    ChatRequest,
    ConfigError,
    DecodingConfig,
    GenerationError,
    LanguageModel,
    ModelRef,
    Rejected,
    attempt_seed,
    derive_seed,
    retry_until_valid,
    sha256_text,
)
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.parse import Parsed, WeightedScore, parse_result, weighted_score
from biosynth.eval._judge.prompts import GEVAL, PAIRWISE, PROMETHEUS, RETRY, pairwise_messages, rubric_messages
from biosynth.eval._judge.rubric import Rubric

Method = Literal["auto", "g-eval", "prometheus"]
GEVAL_DECODING = DecodingConfig(temperature=0.0, max_new_tokens=4)
FEEDBACK_DECODING = DecodingConfig(temperature=0.0, max_new_tokens=400)


@dataclass(frozen=True)
class Judgement:
    """One graded item. `score` is None only when grading failed (`error` says why); `method` says how the score
    was read; `rationale` is the judge's feedback (G-Eval: its short answer)."""

    item_id: str
    score: float | None
    method: Literal["g-eval", "prometheus"]
    rationale: str = ""
    probabilities: dict[int, float] | None = None
    score_mass: float | None = None
    attempts: int = 1
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def rationale_sha256(self) -> str:
        return sha256_text(self.rationale)


def supports_logprobs(model: LanguageModel) -> bool:
    """Whether the backend gives token log-probabilities (core's BaseLanguageModel.supports_logprobs)."""
    return bool(getattr(model, "supports_logprobs", False))


@dataclass
class RubricJudge:
    """Grades items on a rubric with `model`.

    `method`: "auto" (G-Eval when the backend gives log-probabilities, else Prometheus), or either one. An item whose
    G-Eval answer holds no score token among the `top_logprobs` best at its first position, or whose score tokens
    carry less than `min_score_mass` probability, is graded the Prometheus way instead (noted in the judgement).
    """

    model: LanguageModel
    rubric: Rubric
    method: Method = "auto"
    max_attempts: int = 3
    top_logprobs: int = 20
    min_score_mass: float = 0.05
    seed: int = 0
    geval_decoding: DecodingConfig = GEVAL_DECODING
    feedback_decoding: DecodingConfig = FEEDBACK_DECODING
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method == "g-eval" and not supports_logprobs(self.model):
            raise ConfigError(f"the judge backend {self.model.model_ref.backend!r} gives no token log-probabilities, "
                              "so it cannot grade the G-Eval way; use method 'prometheus' or 'auto', or a backend "
                              "that gives them (transformers; llamacpp with logprobs: true; openai)")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")

    @property
    def model_ref(self) -> ModelRef:
        return self.model.model_ref

    @property
    def uses_geval(self) -> bool:
        return self.method == "g-eval" or (self.method == "auto" and supports_logprobs(self.model))

    def templates(self) -> dict[str, str]:
        """The prompt templates this judge may use, id -> sha256."""
        chosen = [GEVAL, PROMETHEUS] if self.uses_geval else [PROMETHEUS]
        return {t.id: t.sha256 for t in chosen}

    def grade(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        """One judgement per item, in order (a batch of requests to the model per round)."""
        for item in items:
            if self.rubric.reference_required and not item.reference:
                raise ConfigError(f"rubric {self.rubric.id!r} compares the text with its {self.rubric.reference}; item "
                                  f"{item.id!r} has none")
        results: dict[int, Judgement] = {}
        pending = list(range(len(items)))
        fallback_notes: dict[int, str] = {}
        if self.uses_geval and items:
            pending = []
            for index, outcome in enumerate(self._geval(items)):
                if isinstance(outcome, Judgement):
                    results[index] = outcome
                else:
                    pending.append(index)
                    fallback_notes[index] = outcome
        if pending:
            for index, judgement in zip(pending, self._prometheus([items[i] for i in pending]), strict=True):
                note = fallback_notes.get(index)
                results[index] = judgement if note is None else _with_note(judgement, note)
        return [results[i] for i in range(len(items))]

    def _geval(self, items: Sequence[JudgeItem]) -> list[Judgement | str]:
        requests = [ChatRequest(messages=rubric_messages(GEVAL, self.rubric, item), decoding=self.geval_decoding,
                                seed=derive_seed(self.seed, item.id), top_logprobs=self.top_logprobs) for item in items]
        out: list[Judgement | str] = []
        for item, completion in zip(items, self.model.generate(requests), strict=True):
            found: WeightedScore | None = weighted_score(completion.logprobs or (), self.rubric.values)
            if completion.logprobs is None:
                out.append("g-eval: the backend returned no log-probabilities; graded with feedback instead")
            elif found is None:
                out.append(f"g-eval: no score token among the {self.top_logprobs} most likely first answer tokens "
                           f"(answer {completion.text[:40]!r}); graded with feedback instead")
            elif found.mass < self.min_score_mass:
                out.append(f"g-eval: the score tokens held only {found.mass:.3f} of the probability (below "
                           f"{self.min_score_mass}); graded with feedback instead")
            else:
                out.append(Judgement(item_id=item.id, score=found.score, method="g-eval", rationale=completion.text,
                                     probabilities=found.probabilities, score_mass=found.mass))
        return out

    def _prometheus(self, items: Sequence[JudgeItem]) -> list[Judgement]:
        allowed = [str(v) for v in self.rubric.values]
        conversations = [list(rubric_messages(PROMETHEUS, self.rubric, item)) for item in items]

        def attempt(number: int, pending: list[int]) -> list[Parsed | Rejected]:
            requests = [ChatRequest(messages=tuple(conversations[i]), decoding=self.feedback_decoding,
                                    seed=attempt_seed(derive_seed(self.seed, items[i].id), number)) for i in pending]
            outcomes: list[Parsed | Rejected] = []
            for i, completion in zip(pending, self.model.generate(requests), strict=True):
                parsed = parse_result(completion.text, allowed)
                if isinstance(parsed, Rejected):
                    conversations[i] += [ChatMessage(role="assistant", content=completion.text),
                                         ChatMessage(role="user", content=RETRY.format(
                                             errors=parsed.reason, what=f"one of {', '.join(allowed)}"))]
                outcomes.append(parsed)
            return outcomes

        judgements = []
        for item, result in zip(items, retry_until_valid(len(items), attempt, max_attempts=self.max_attempts,
                                                         what="judgement"), strict=True):
            if isinstance(result, GenerationError):
                judgements.append(Judgement(item_id=item.id, score=None, method="prometheus", attempts=result.attempts,
                                            error=result.reason))
            else:
                judgements.append(Judgement(item_id=item.id, score=float(result.value.verdict), method="prometheus",
                                            rationale=result.value.feedback, attempts=result.attempts,
                                            notes=result.rejected))
        return judgements


def _with_note(judgement: Judgement, note: str) -> Judgement:
    return replace(judgement, notes=(note, *judgement.notes))


@dataclass(frozen=True)
class PairVerdict:
    """One pair asked in both orders. `first` and `second` are the winning position ("A" or "B") in the order (a, b)
    and in the swapped order (b, a); a consistent pair names the same text twice. None: no valid verdict."""

    pair_id: str
    first: Literal["A", "B"] | None
    second: Literal["A", "B"] | None
    rationales_sha256: tuple[str, ...] = ()
    error: str | None = None

    @property
    def decided(self) -> bool:
        return self.first is not None and self.second is not None

    @property
    def winner(self) -> Literal["a", "b"] | None:
        """The text that won in both orders (None: inconsistent or undecided)."""
        if not self.decided:
            return None
        if self.first == "A" and self.second == "B":
            return "a"
        if self.first == "B" and self.second == "A":
            return "b"
        return None

    @property
    def favoured_position(self) -> Literal["A", "B"] | None:
        """For an inconsistent pair: the position that won both times (position bias)."""
        return self.first if self.decided and self.winner is None else None


@dataclass
class PairwiseJudge:
    """Compares pairs of items on a rubric's criterion, each pair in both orders, feedback then `[RESULT] A|B`."""

    model: LanguageModel
    rubric: Rubric
    max_attempts: int = 3
    seed: int = 0
    decoding: DecodingConfig = FEEDBACK_DECODING

    @property
    def model_ref(self) -> ModelRef:
        return self.model.model_ref

    def templates(self) -> dict[str, str]:
        return {PAIRWISE.id: PAIRWISE.sha256}

    def compare(self, pairs: Sequence[tuple[JudgeItem, JudgeItem]]) -> list[PairVerdict]:
        prompts = []  # 2 per pair: (a, b) then (b, a)
        for a, b in pairs:
            prompts += [pairwise_messages(self.rubric, a, b), pairwise_messages(self.rubric, b, a)]
        conversations = [list(p) for p in prompts]
        pair_ids = [f"{a.id}|{b.id}" for a, b in pairs]

        def attempt(number: int, pending: list[int]) -> list[Parsed | Rejected]:
            requests = [ChatRequest(messages=tuple(conversations[i]), decoding=self.decoding,
                                    seed=attempt_seed(derive_seed(self.seed, pair_ids[i // 2], i % 2), number))
                        for i in pending]
            outcomes: list[Parsed | Rejected] = []
            for i, completion in zip(pending, self.model.generate(requests), strict=True):
                parsed = parse_result(completion.text, ["A", "B"])
                if isinstance(parsed, Rejected):
                    conversations[i] += [ChatMessage(role="assistant", content=completion.text),
                                         ChatMessage(role="user", content=RETRY.format(errors=parsed.reason,
                                                                                       what="A or B"))]
                outcomes.append(parsed)
            return outcomes

        results = retry_until_valid(len(prompts), attempt, max_attempts=self.max_attempts, what="pairwise verdict")
        verdicts = []
        for k, pair_id in enumerate(pair_ids):
            one, two = results[2 * k], results[2 * k + 1]
            errors = [r.reason for r in (one, two) if isinstance(r, GenerationError)]
            verdicts.append(PairVerdict(
                pair_id=pair_id,
                first=None if isinstance(one, GenerationError) else one.value.verdict,  # type: ignore[arg-type]
                second=None if isinstance(two, GenerationError) else two.value.verdict,  # type: ignore[arg-type]
                rationales_sha256=tuple(sha256_text(r.value.feedback) for r in (one, two)
                                        if not isinstance(r, GenerationError)),
                error="; ".join(errors) or None))
        return verdicts
