"""`llm_prompted`: table rows from zero- or few-shot prompts to any core LanguageModel, validated and retried.

One call asks for `rows_per_call` rows as `{"rows": [...]}`. Every row is validated against the row model
built from the metadata (types, ranges, categories, nullability, constraints) and against the conditions;
the rows still missing are asked for again with the validation errors in the prompt, up to `max_attempts`
calls (core's `retry_until_valid`, seeds from `attempt_seed`), after which each missing row is a counted
failure with every attempt's reasons (never dropped silently). A call covers a fixed block of indices, so a
row depends on the step seed and its index, not on the batching.
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
    Rejected,
    SampleRequest,
    StepContext,
    Strategy,
    TableRowPayload,
    TargetDistribution,
    Validation,
    achieved_distribution,
    attempt_seed,
    balance_facts,
    derive_seed,
    extract_json,
    read_table,
    render_messages,
    retry_turns,
    retry_until_valid,
    rng,
    target_value,
)
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
    target: TargetDistribution | None = Field(None, description="a target distribution of one categorical column")
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
    """One prompt for the rows of one block (and target value), and its retries.

    `members` are every index of the block with this target value, whether or not the current batch asks
    for them, so the call (prompt, seed, answer) is the same however the runner batches the requests.
    """

    seed: int
    conditions: Conditions
    members: list[int]
    examples: list[tuple[str, dict[str, Any]]]
    target: Any = None
    messages: list[ChatMessage] = field(default_factory=list)
    last_text: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    """An accepted row and the facts of the answer that held it."""

    values: dict[str, Any]
    completion: Completion
    prompt: PromptRef
    surplus: int
    backend_seed: int


class LlmPrompted(Generator[LlmPromptedParams]):
    """Rows from prompting a language model with the table's schema (and real examples, few-shot).

    Requests are cut into blocks of `rows_per_call` consecutive indices (and, with a `target`, by target
    value); one call asks for a whole block. A row therefore depends only on the step seed and its index,
    never on how the runner batches requests: a block split across batches is made once, and the rows of
    the requests not yet asked for wait in memory for their batch. At the end of a step, the last block may
    ask for rows past the step's count, which are not used.
    """

    name = "llm_prompted"

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """With a `target`, the achieved distribution beside it (stored in the manifest's step summary)."""
        if self.params.target is None:
            return None
        return {"balance": achieved_distribution(records, self.params.target.column).model_dump()}

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
        self._waiting: dict[tuple[str, int, int], Draft | GenerationError] = {}

    # generation --------------------------------------------------------------------------------
    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        def key(index: int) -> tuple[str, int, int]:
            return (ctx.step, ctx.seed, index)

        missing = [r.index for r in requests if key(r.index) not in self._waiting]
        calls = self._plan(missing, ctx)
        items = [(call, index) for call in calls for index in call.members]

        def attempt(number: int, pending: list[int]) -> list[_Row | Rejected]:
            by_call: dict[int, list[int]] = {}
            for position in pending:
                by_call.setdefault(id(items[position][0]), []).append(position)
            active = [(items[positions[0]][0], positions) for positions in by_call.values()]
            for call, positions in active:
                call.messages = self._messages(call, number, len(positions))
            completions = self.model.generate([self._request(call, number, len(positions))
                                               for call, positions in active])
            outcome: dict[int, _Row | Rejected] = {}
            for (call, positions), completion in zip(active, completions, strict=True):
                pairs = [(p, items[p][1]) for p in positions]
                outcome.update(self._accept(call, pairs, completion, number, ctx))
            return [outcome[p] for p in pending]

        results = retry_until_valid(len(items), attempt, max_attempts=self.params.max_attempts, what="row")
        for (call, index), result in zip(items, results, strict=True):
            self._waiting[key(index)] = result if isinstance(result, GenerationError) else \
                self._draft(call, result.value, result.attempts)
        return [self._waiting.pop(key(r.index)) for r in requests]

    def _plan(self, indices: list[int], ctx: StepContext) -> list[_Call]:
        """The calls that make `indices`: one per block of `rows_per_call` indices and target value.

        A request's target value depends on the step seed and its index only, and so does its block, so
        the calls are the same however the runner batches the requests.
        """
        size = self.params.rows_per_call
        groups: dict[tuple[int, str], tuple[Any, list[int]]] = {}
        for block in sorted({i // size for i in indices}):
            for member in range(block * size, (block + 1) * size):
                value = target_value(self._targets, ctx.seed, member) if self._targets else None
                groups.setdefault((block, repr(value)), (value, []))[1].append(member)
        calls: list[_Call] = []
        for value, members in sorted(groups.values(), key=lambda group: group[1][0]):
            conditions = self.conditions
            if self.params.target is not None:
                conditions = conditions.and_(Conditions(clauses=(Condition(column=self.params.target.column, op="eq",
                                                                           value=value),)))
            seed = derive_seed(ctx.seed, "llm_prompted-call", members[0])
            calls.append(_Call(seed=seed, conditions=conditions, members=members,
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

    def _messages(self, call: _Call, number: int, k: int) -> list[ChatMessage]:
        if number == 0 or not call.messages:
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

    def _request(self, call: _Call, number: int, k: int) -> ChatRequest:
        schema = None
        if self.params.use_json_schema and self.model.supports_json_schema:
            schema = rows_schema(self._asked, call.conditions, k)
        return ChatRequest(messages=tuple(call.messages), decoding=self.params.decoding,
                           seed=attempt_seed(call.seed, number), json_schema=schema)

    def _accept(self, call: _Call, pending: list[tuple[int, int]], completion: Completion, number: int,
                ctx: StepContext) -> dict[int, _Row | Rejected]:
        """Give the answer's valid rows, in order, to the call's pending (position, index) items; reject the rest."""
        call.last_text = completion.text
        rows, problem = parse_rows(completion.text)
        call.errors = [problem] if problem else []
        if not rows and not problem:
            call.errors = ["the answer held an empty list of rows"]
        if completion.finish_reason == "length":
            call.errors.append(f"the answer was cut at max_new_tokens={self.params.decoding.max_new_tokens}")
        waiting = list(pending)
        accepted: list[tuple[int, dict[str, Any]]] = []
        examined = 0
        for row_number, raw in enumerate(rows):
            if not waiting:
                break
            examined += 1
            values, errors = self._judge(raw, f"{ctx.step}-{waiting[0][1]:06d}", call)
            if errors:
                call.errors += [f"row {row_number + 1}: {e}" for e in errors]
                continue
            accepted.append((waiting.pop(0)[0], values))
        surplus = len(rows) - examined  # rows beyond those asked for: counted in provenance, not used
        prompt = PromptRef.build(TEMPLATE_ID, TEMPLATE, render_messages(call.messages), redact=ctx.redact_prompts)
        out: dict[int, _Row | Rejected] = {position: _Row(values, completion, prompt, surplus,
                                                          attempt_seed(call.seed, number))
                                           for position, values in accepted}
        errors = list(dict.fromkeys(call.errors))
        reason = "; ".join(errors[:MAX_ERRORS_SHOWN]) or "no rows in the answer"
        if len(errors) > MAX_ERRORS_SHOWN:
            reason += f"; and {len(errors) - MAX_ERRORS_SHOWN} more"
        out.update({position: Rejected(reason) for position, _ in waiting})
        return out

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

    def _draft(self, call: _Call, row: _Row, attempts: int) -> Draft:
        completion = row.completion
        extra: dict[str, Any] = {
            "call": {"first_index": call.members[0], "rows_asked": len(call.members), "backend_seed": row.backend_seed,
                     "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                     "surplus_rows": row.surplus},
            "metadata_table": self.metadata.table,
        }
        if call.conditions:
            extra["conditions"] = str(call.conditions)
        if self.params.target is not None and self._targets is not None:
            extra["balance"] = balance_facts(self.params.target.column, call.target, self._targets)
        labels = {c: row.values[c] for c in self.params.label_columns}
        strategy: tuple[Strategy, ...] = (Strategy.FEW_SHOT,) if call.examples else (Strategy.ZERO_SHOT,)
        if self.params.instructions:
            strategy += (Strategy.INSTRUCTION,)
        return Draft(
            payload=TableRowPayload(table=self.metadata.table, values=row.values), modality=Modality.TABULAR,
            labels=labels, model=completion.model, prompt=row.prompt, strategy=strategy,
            few_shot_ids=tuple(i for i, _ in call.examples), decoding=self.params.decoding,
            attempts=attempts, validation=Validation.PASSED, extra=extra,
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


def _resolve_target(target: TargetDistribution, metadata: TableMetadata, conditions: Conditions) -> dict[Any, float]:
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
