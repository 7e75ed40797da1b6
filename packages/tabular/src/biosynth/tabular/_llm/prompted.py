"""`llm_prompted`: table rows from zero- or few-shot prompts to any core LanguageModel, validated and retried.

One call asks for `rows_per_call` rows as `{"rows": [...]}`. Every row is validated against the row model
built from the metadata (types, ranges, categories, nullability, constraints) and against the conditions;
the rows still missing are asked for again with the validation errors in the prompt, up to `max_attempts`
calls, after which each missing row is a counted failure with its reasons (never dropped silently).
Conditions are written into the prompt, narrow the JSON schema for backends that can constrain decoding,
and are enforced by validation. ID columns are never asked from the model: each row gets its record id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import Field, model_validator

from biosynth.core import (
    BackendSpec,
    ChatMessage,
    ChatRequest,
    Completion,
    ConfigError,
    DecodingConfig,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    InputDataError,
    InputFile,
    LanguageModel,
    Modality,
    PromptRef,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
    TableRowPayload,
    Validation,
    derive_seed,
    extract_json,
    read_table,
    render_messages,
    retry_turns,
    rng,
)
from biosynth.tabular._balance import BalanceTarget, balance_report, target_value
from biosynth.tabular._conditions import Condition, Conditions, parse_conditions
from biosynth.tabular._constraints import FixedCombinations, row_violations
from biosynth.tabular._llm.row_model import row_model, validate_row
from biosynth.tabular._metadata import ColumnSpec, ColumnType, TableMetadata, detect_metadata

TEMPLATE_ID = "biosynth.tabular/llm_prompted/rows-v1"
SYSTEM = ("You write realistic synthetic rows of a clinical table for research. The rows must be plausible and "
          "varied, and must not copy the examples. Answer with JSON only.")
USER = """Table "{table}" has these columns:
{columns}{constraints}{instructions}{examples}
Write {k} new rows{conditions}. Answer with one JSON object {{"rows": [...]}} holding exactly {k} row objects; \
each row has every column listed above (use null only where a column may be null). No text outside the JSON."""
RETRY = """{k} more row(s) are needed. Problems with your previous answer: {errors}
Answer again with one JSON object {{"rows": [...]}} holding exactly {k} new row(s) that avoid these problems."""
TEMPLATE = "\n---\n".join((SYSTEM, USER, RETRY))
MAX_ERRORS_SHOWN = 6


class LlmPromptedParams(GeneratorParams):
    backend: BackendSpec = Field(default_factory=lambda: BackendSpec(backend="transformers"),
                                 description="the LanguageModel; default: transformers (embedded SmolLM2 via biosynth-text)")
    metadata: InputFile | None = Field(None, description="table metadata JSON (TableMetadata.save); default: "
                                                         "detected from `few_shot`")
    few_shot: InputFile | None = Field(None, description="real rows to show as examples (.csv, .parquet, .json, "
                                                         ".jsonl); real by default, so under the Policy")
    n_few_shot: int = Field(3, ge=0, le=50, description="examples per call (0: zero-shot even with a file)")
    rows_per_call: int = Field(5, ge=1, le=50)
    conditions: str | dict[str, Any] | None = Field(
        None, description='"diagnosis = X and age > 65" or {diagnosis: X, age: {gt: 65}}')
    target: BalanceTarget | None = Field(None, description="a target distribution of one categorical column")
    max_attempts: int = Field(3, ge=1, le=20, description="calls per row before it is recorded as a failure")
    decoding: DecodingConfig = DecodingConfig(temperature=0.7, max_new_tokens=768)
    use_json_schema: bool = Field(True, description="constrain decoding with the row schema where the backend can")
    reject_copies: bool = Field(True, description="refuse (and retry) a row equal to one of the call's real examples")
    instructions: str | None = Field(None, description="extra guidance for the model (context, population)")
    label_columns: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _source(self) -> Self:
        if self.metadata is None and self.few_shot is None:
            raise ValueError("give `metadata` (a metadata JSON file) or `few_shot` (a data file to detect it from)")
        return self


@dataclass
class _Call:
    """One prompt for several rows and its retries."""

    index: int
    seed: int
    conditions: Conditions
    pending: list[SampleRequest]
    examples: list[tuple[str, dict[str, Any]]]
    target: Any = None
    messages: list[ChatMessage] = field(default_factory=list)
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    last_text: str = ""


class LlmPrompted(Generator[LlmPromptedParams]):
    """Rows from prompting a language model with the table's schema (and real examples, few-shot)."""

    name = "llm_prompted"
    Params = LlmPromptedParams

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """With a `target`, the achieved distribution beside it (stored in the manifest's step summary)."""
        if self.params.target is None:
            return None
        return {"balance": balance_report(records, self.params.target.column).model_dump()}

    def _setup(self, ctx: StepContext) -> None:
        params = self.params
        frame = None
        if params.few_shot is not None:
            params.few_shot.check("few_shot")
            frame = read_table(params.few_shot.path, "few_shot file")
        if params.metadata is not None:
            params.metadata.check("metadata")
            metadata = TableMetadata.load(params.metadata.path)
        else:
            assert frame is not None
            metadata = detect_metadata(frame, table=params.few_shot.path.stem if params.few_shot else "main")
        self.metadata = metadata
        self._ids = tuple(c.name for c in metadata.columns if c.type is ColumnType.ID)
        self._asked = _without_ids(metadata)
        for label in params.label_columns:
            metadata.column(label)
        self.conditions = parse_conditions(params.conditions, metadata)
        for column in (*self.conditions.columns, *([params.target.column] if params.target else [])):
            if column in self._ids:
                raise ConfigError(f"column {column!r} is an ID column: ids are assigned to rows, not generated, "
                                  "so they cannot be conditioned on or balanced")
        self._row_model = row_model(metadata)
        self._targets: dict[Any, float] | None = None
        if params.target is not None:
            self._targets = _resolve_target(params.target, metadata, self.conditions)
        self._pool = _examples(frame, metadata, params.few_shot) if frame is not None and params.n_few_shot else []
        # real rows (few-shot, or metadata detected from them) make the step real even outside the runner
        if any(f is not None and f.real for f in (params.few_shot, params.metadata)):
            ctx.real_data = True
        self.model: LanguageModel = ctx.language_model(params.backend)

    # generation --------------------------------------------------------------------------------
    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        calls = self._plan(requests, ctx)
        outcomes: dict[int, Draft | GenerationError] = {}
        active = [c for c in calls if c.pending]
        while active:
            for call in active:
                call.attempts += 1
                call.messages = self._messages(call)
            completions = self.model.generate([self._request(c) for c in active])
            for call, completion in zip(active, completions, strict=True):
                self._accept(call, completion, ctx, outcomes)
                if call.pending and call.attempts >= self.params.max_attempts:
                    errors = list(dict.fromkeys(call.errors))
                    reason = "; ".join(errors[:MAX_ERRORS_SHOWN]) or "no rows in the answer"
                    if len(errors) > MAX_ERRORS_SHOWN:
                        reason += f"; and {len(errors) - MAX_ERRORS_SHOWN} more"
                    for request in call.pending:
                        outcomes[request.index] = GenerationError(
                            f"no valid row after {call.attempts} attempt(s): {reason}", attempts=call.attempts)
                    call.pending = []
            active = [c for c in active if c.pending]
        return [outcomes[r.index] for r in requests]

    def _plan(self, requests: list[SampleRequest], ctx: StepContext) -> list[_Call]:
        """Group requests by target value (each call has one set of conditions), then chunk them.

        A request's target value depends on the step seed and its index only, so it is the same however
        the runner batches the requests.
        """
        groups: dict[str, tuple[Any, list[SampleRequest]]] = {}
        for request in requests:
            value = target_value(self._targets, ctx.seed, request.index) if self._targets else None
            groups.setdefault(repr(value), (value, []))[1].append(request)
        calls: list[_Call] = []
        for value, members in groups.values():
            conditions = self.conditions
            if self.params.target is not None:
                conditions = conditions.and_(Conditions(clauses=(Condition(column=self.params.target.column, op="eq",
                                                                           value=value),)))
            for start in range(0, len(members), self.params.rows_per_call):
                chunk = members[start : start + self.params.rows_per_call]
                seed = derive_seed(chunk[0].seed, "llm_prompted-call")
                calls.append(_Call(index=chunk[0].index, seed=seed, conditions=conditions, pending=list(chunk),
                                   examples=self._draw_examples(seed, conditions), target=value))
        return calls

    def _draw_examples(self, seed: int, conditions: Conditions) -> list[tuple[str, dict[str, Any]]]:
        if not self._pool:
            return []
        matching = [e for e in self._pool if not conditions.unmet(e[1])] if conditions else []
        candidates = matching or self._pool
        k = min(self.params.n_few_shot, len(candidates))
        order = rng(derive_seed(seed, "few-shot")).choice(len(candidates), size=k, replace=False)
        return [candidates[int(i)] for i in sorted(order)]

    def _messages(self, call: _Call) -> list[ChatMessage]:
        k = len(call.pending)
        if call.attempts == 1 or not call.messages:
            return [ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=self._prompt(call, k))]
        errors = "; ".join(call.errors[-MAX_ERRORS_SHOWN:]) or "the answer held no usable rows"
        return [*call.messages[:2], *retry_turns(call.last_text, errors, RETRY, k=k)]

    def _prompt(self, call: _Call, k: int) -> str:
        metadata = self._asked
        columns = "\n".join(f"- {describe_column(c)}" for c in metadata.columns)
        constraints = ""
        if metadata.constraints:
            constraints = "\nRules every row must follow:\n" + "\n".join(f"- {_describe_constraint(c)}"
                                                                      for c in metadata.constraints)
        instructions = f"\n{self.params.instructions.strip()}" if self.params.instructions else ""
        examples = ""
        if call.examples:
            shown = "\n".join(json.dumps(e, ensure_ascii=False) for _, e in call.examples)
            examples = f"\nExample rows (real; do not copy them):\n{shown}"
        conditions = f" where {call.conditions}" if call.conditions else ""
        return USER.format(table=metadata.table, columns=columns, constraints=constraints,
                           instructions=instructions, examples=examples, k=k, conditions=conditions)

    def _request(self, call: _Call) -> ChatRequest:
        schema = None
        if self.params.use_json_schema and self.model.supports_json_schema:
            schema = rows_schema(self._asked, call.conditions, len(call.pending))
        return ChatRequest(messages=tuple(call.messages), decoding=self.params.decoding,
                           seed=derive_seed(call.seed, "attempt", call.attempts), json_schema=schema)

    def _accept(self, call: _Call, completion: Completion, ctx: StepContext,
                outcomes: dict[int, Draft | GenerationError]) -> None:
        call.last_text = completion.text
        rows, problem = parse_rows(completion.text)
        call.errors = [problem] if problem else []
        if not rows and not problem:
            call.errors = ["the answer held an empty list of rows"]
        if completion.finish_reason == "length":
            call.errors.append(f"the answer was cut at max_new_tokens={self.params.decoding.max_new_tokens}")
        accepted: list[tuple[SampleRequest, dict[str, Any]]] = []
        examined = 0
        for position, raw in enumerate(rows):
            if not call.pending:
                break
            examined += 1
            request = call.pending[0]
            values, errors = self._judge(raw, f"{ctx.step}-{request.index:06d}", call)
            if errors:
                call.errors += [f"row {position + 1}: {e}" for e in errors]
                continue
            accepted.append((request, values))
            call.pending.pop(0)
        surplus = len(rows) - examined  # rows beyond those asked for: counted in provenance, not used
        rendered = render_messages(call.messages)
        prompt = PromptRef.build(TEMPLATE_ID, TEMPLATE, rendered, redact=ctx.redact_prompts)
        for request, values in accepted:
            outcomes[request.index] = self._draft(call, request, values, completion, prompt, surplus)

    def _judge(self, raw: Any, record_id: str, call: _Call) -> tuple[dict[str, Any], list[str]]:
        if not isinstance(raw, Mapping):
            return {}, [f"expected a JSON object, got {type(raw).__name__}"]
        row = {str(k): v for k, v in raw.items() if str(k) not in self._ids}
        row.update({name: record_id for name in self._ids})
        violations = row_violations(row, self.metadata, model=self._row_model)
        if violations:
            return {}, [str(v).split(", ", 1)[1] if str(v).startswith("row ") else str(v) for v in violations]
        typed = validate_row(self._row_model, row, constraints=False)
        unmet = call.conditions.unmet(typed.model_dump(by_alias=True))
        if unmet:
            return {}, [f"condition not met: {u}" for u in unmet]
        values = typed.values()
        if self.params.reject_copies:
            shown = {k: v for k, v in values.items() if k not in self._ids}
            copied = next((i for i, example in call.examples if example == shown), None)
            if copied is not None:
                return {}, [f"the row copies example {copied}; write a new row"]
        return values, []

    def _draft(self, call: _Call, request: SampleRequest, values: dict[str, Any], completion: Completion,
               prompt: PromptRef, surplus: int) -> Draft:
        extra: dict[str, Any] = {
            "call": {"first_index": call.index, "rows_asked": self.params.rows_per_call, "backend_seed":
                     derive_seed(call.seed, "attempt", call.attempts), "prompt_tokens": completion.prompt_tokens,
                     "completion_tokens": completion.completion_tokens, "surplus_rows": surplus},
            "metadata_table": self.metadata.table,
        }
        if call.conditions:
            extra["conditions"] = str(call.conditions)
        if self.params.target is not None and self._targets is not None:
            extra["balance"] = {"column": self.params.target.column, "value": call.target,
                                "distribution": {str(k): v for k, v in self._targets.items()}}
        labels = {c: values[c] for c in self.params.label_columns}
        strategy: tuple[Strategy, ...] = (Strategy.FEW_SHOT,) if call.examples else (Strategy.ZERO_SHOT,)
        if self.params.instructions:
            strategy += (Strategy.INSTRUCTION,)
        return Draft(
            payload=TableRowPayload(table=self.metadata.table, values=values), modality=Modality.TABULAR,
            labels=labels, model=completion.model, prompt=prompt, strategy=strategy,
            few_shot_ids=tuple(i for i, _ in call.examples), decoding=self.params.decoding,
            attempts=call.attempts, validation=Validation.PASSED, extra=extra,
        )


# helpers (public for reuse and tests) ------------------------------------------------------------
def describe_column(spec: ColumnSpec) -> str:
    """One prompt line for a column: name, type, allowed values or range, nullability."""
    if spec.type is ColumnType.NUMERICAL:
        kind = "integer" if spec.integer else "number"
        lo, hi = spec.minimum, spec.maximum
        bounds = f" from {_num(lo)} to {_num(hi)}" if lo is not None and hi is not None else \
            f" at least {_num(lo)}" if lo is not None else f" at most {_num(hi)}" if hi is not None else ""
        text = f"{spec.name}: {kind}{bounds}"
    elif spec.type is ColumnType.CATEGORICAL:
        text = f"{spec.name}: one of {', '.join(json.dumps(c) for c in spec.categories or ())}"
    elif spec.type is ColumnType.BOOLEAN:
        text = f"{spec.name}: true or false"
    elif spec.type is ColumnType.DATETIME:
        start = f" from {spec.earliest.isoformat()}" if spec.earliest else ""
        end = f" to {spec.latest.isoformat()}" if spec.latest else ""
        text = f"{spec.name}: ISO date-time{start}{end}"
    else:
        text = f"{spec.name}: free text"
    return text + (" (may be null)" if spec.missing_fraction > 0 else "")


def _describe_constraint(constraint: Any) -> str:
    if isinstance(constraint, FixedCombinations):
        combos = "; ".join(", ".join(f"{c}={json.dumps(v)}" for c, v in zip(constraint.columns, combo, strict=True))
                           for combo in constraint.combinations)
        return f"only these combinations of {', '.join(constraint.columns)}: {combos}"
    return str(constraint)


def _num(value: float | None) -> str:
    return "" if value is None else str(int(value)) if float(value).is_integer() else str(value)


def rows_schema(metadata: TableMetadata, conditions: Conditions, k: int) -> dict[str, Any]:
    """The JSON schema of `{"rows": [k rows]}`, with the conditions narrowing each column's schema."""
    row = row_model(metadata).model_json_schema()
    properties = row["properties"]
    for clause in conditions.clauses:
        node = properties.get(clause.column)
        if node is None:
            continue
        node = next((n for n in node.get("anyOf", []) if n.get("type") != "null"), node)
        node = {k2: v for k2, v in node.items() if k2 != "anyOf"}
        if clause.op == "eq":
            node["enum"] = [clause.value]
        elif clause.op == "in":
            node["enum"] = list(clause.value)  # type: ignore[arg-type]
        elif clause.op in ("ge", "gt") and node.get("type") in ("integer", "number"):
            node["minimum"] = max(node.get("minimum", clause.value), clause.value)  # type: ignore[type-var]
            if clause.op == "gt":
                node["exclusiveMinimum"] = clause.value
        elif clause.op in ("le", "lt") and node.get("type") in ("integer", "number"):
            node["maximum"] = min(node.get("maximum", clause.value), clause.value)  # type: ignore[type-var]
            if clause.op == "lt":
                node["exclusiveMaximum"] = clause.value
        properties[clause.column] = node
    return {"type": "object", "properties": {"rows": {"type": "array", "items": row, "minItems": k, "maxItems": k}},
            "required": ["rows"], "additionalProperties": False}


def parse_rows(text: str) -> tuple[list[Any], str | None]:
    """Rows from an answer: `{"rows": [...]}`, a bare list, or one row object; code fences and text around
    the JSON are tolerated (core's `extract_json`, the first value by position). Returns (rows, problem)."""
    try:
        value = extract_json(text, objects_first=False)
    except ValueError as err:
        return [], f"the answer held no JSON object with a list of rows ({err})"
    if isinstance(value, dict) and isinstance(value.get("rows"), list):
        return value["rows"], None
    if isinstance(value, list):
        return value, None
    return [value], None


def _examples(frame: Any, metadata: TableMetadata, source: InputFile | None) -> list[tuple[str, dict[str, Any]]]:
    from biosynth.tabular._constraints import _plain

    names = [str(c) for c in frame.columns]
    missing = [c for c in metadata.names if c not in names]
    if missing:
        where = str(source.path) if source else "the few-shot file"
        raise InputDataError(f"few-shot file {where!r} lacks column(s) {missing} named in the metadata")
    label = source.path.name if source else "few_shot"
    out = []
    for i, row in enumerate(frame.rename(columns=str).to_dict("records")):
        shown = {c: _json_ready(_plain(row[c])) for c in metadata.names if metadata.column(c).type is not ColumnType.ID}
        out.append((f"{label}#{i}", shown))
    return out


def _json_ready(value: Any) -> Any:
    import datetime as dt

    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else value


def _without_ids(metadata: TableMetadata) -> TableMetadata:
    kept = tuple(c for c in metadata.columns if c.type is not ColumnType.ID)
    if not kept:
        raise ConfigError(f"table {metadata.table!r} has only ID columns; there is nothing to generate")
    return TableMetadata(table=metadata.table, columns=kept, constraints=metadata.constraints)


def _resolve_target(target: BalanceTarget, metadata: TableMetadata, conditions: Conditions) -> dict[Any, float]:
    spec = metadata.column(target.column)
    if spec.type is ColumnType.CATEGORICAL:
        values: tuple[Any, ...] = tuple(spec.categories or ())
    elif spec.type is ColumnType.BOOLEAN:
        values = (False, True)
    else:
        raise ConfigError(f"target column {target.column!r} is {spec.type}; a target distribution needs a "
                          "categorical or boolean column")
    probabilities = target.resolve(values)
    for value in probabilities:
        extra = Conditions(clauses=(Condition(column=target.column, op="eq", value=value),))
        parse_conditions(conditions.and_(extra), metadata)  # a target value the conditions exclude fails here
    return probabilities
