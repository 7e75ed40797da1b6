"""Conditions on sampled rows: parsed from a string or a mapping, checked against the metadata.

    "diagnosis = asthma and age > 65"
    {"diagnosis": "asthma", "age": {"gt": 65}}          # YAML: {diagnosis: asthma, age: {gt: 65}}
    {"sex": {"in": ["female", "male"]}, "age": {"ge": 18, "lt": 40}}

Operators: `=` (eq), `!=` (ne), `>` (gt), `>=` (ge), `<` (lt), `<=` (le), `in` (a list). Clauses are
joined by `and`. A condition on an unknown column, an unseen category, a value of the wrong type or an
empty range (`age > 200`, `age > 70 and age < 60`) is refused with a ConfigError naming the column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core import ConfigError
from biosynth.tabular._metadata import ColumnSpec, ColumnType, TableMetadata

Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in"]
Value = str | int | float | bool
_SYMBOLS = {"=": "eq", "==": "eq", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_SHOW = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<=", "in": "in"}
# Hand-written: the grammar is one line (column op value, joined by `and`); a parser library would be heavier.
_CLAUSE = re.compile(r"""^\s*(?P<column>"[^"]+"|[A-Za-z_][\w.]*)\s*(?P<op>==|!=|>=|<=|=|>|<|\bin\b)\s*(?P<value>.+?)\s*$""",
                     re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class Condition(BaseModel):
    """One clause: `column op value` (`value` is a tuple for `in`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    op: Op
    value: Value | tuple[Value, ...]

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.op == "in") != isinstance(self.value, tuple):
            raise ValueError(f"condition on {self.column!r}: `in` takes a list; other operators take one value")
        if isinstance(self.value, tuple) and not self.value:
            raise ValueError(f"condition on {self.column!r}: `in` needs at least one value")
        return self

    def __str__(self) -> str:
        value = "(" + ", ".join(map(_show, self.value)) + ")" if isinstance(self.value, tuple) else _show(self.value)
        return f"{self.column} {_SHOW[self.op]} {value}"

    def holds(self, value: Any) -> bool:
        if value is None:
            return False
        a, b = _key(value), self.value
        try:
            if self.op == "eq":
                return bool(a == _key(b))
            if self.op == "ne":
                return bool(a != _key(b))
            if self.op == "in":
                return a in {_key(v) for v in b}  # type: ignore[union-attr]
            other = _key(b)
            return bool({"gt": a > other, "ge": a >= other, "lt": a < other, "le": a <= other}[self.op])
        except TypeError:
            return False


class Conditions(BaseModel):
    """Clauses that every sampled row must meet (all of them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clauses: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.clauses)

    def __str__(self) -> str:
        return " and ".join(str(c) for c in self.clauses)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.column for c in self.clauses))

    def fixed(self) -> dict[str, Value]:
        """Columns pinned to one value by an `=` clause."""
        return {c.column: c.value for c in self.clauses if c.op == "eq" and not isinstance(c.value, tuple)}

    def unmet(self, row: Mapping[str, Any]) -> list[str]:
        """The clauses `row` does not meet, as text (empty: all met)."""
        return [f"{c} (got {_show(row.get(c.column))})" for c in self.clauses if not c.holds(row.get(c.column))]

    def and_(self, other: Conditions) -> Conditions:
        return Conditions(clauses=self.clauses + other.clauses)

    def to_mapping(self) -> dict[str, Any]:
        """The structured form, e.g. {"age": {"gt": 65}, "sex": {"eq": "F"}}."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.clauses:
            out.setdefault(c.column, {})[c.op] = list(c.value) if isinstance(c.value, tuple) else c.value
        return out


ConditionsInput = Conditions | str | Mapping[str, Any] | None


def parse_conditions(spec: ConditionsInput, metadata: TableMetadata | None = None) -> Conditions:
    """Parse a string or mapping into Conditions, checked against `metadata` when given."""
    if spec is None or spec == "" or (isinstance(spec, Mapping) and not spec):
        conditions = Conditions()
    elif isinstance(spec, Conditions):
        conditions = spec
    elif isinstance(spec, str):
        conditions = Conditions(clauses=tuple(_parse_clause(part) for part in _AND.split(spec.strip())))
    elif isinstance(spec, Mapping):
        conditions = Conditions(clauses=tuple(_from_mapping(spec)))
    else:
        raise ConfigError(f"conditions must be a string or a mapping, got {type(spec).__name__}")
    if metadata is not None:
        conditions = check_conditions(conditions, metadata)
    return conditions


def check_conditions(conditions: Conditions, metadata: TableMetadata) -> Conditions:
    """Refuse unknown columns, unseen categories, wrong value types and empty ranges; coerce values.

    Returns the conditions with values in the column's type (`"65"` for an integer column becomes 65).
    """
    coerced: list[Condition] = []
    for clause in conditions.clauses:
        if clause.column not in metadata.names:
            raise ConfigError(f"condition {clause}: table {metadata.table!r} has no column {clause.column!r}; "
                              f"columns: {list(metadata.names)}")
        spec = metadata.column(clause.column)
        coerced.append(_coerce(clause, spec))
    checked = Conditions(clauses=tuple(coerced))
    for column in checked.columns:
        _check_satisfiable(column, [c for c in checked.clauses if c.column == column], metadata.column(column))
    return checked


def _parse_clause(text: str) -> Condition:
    match = _CLAUSE.match(text)
    if match is None:
        raise ConfigError(f"cannot read condition {text!r}; write `column op value` (op: =, !=, >, >=, <, <=, in) "
                          "and join clauses with `and`")
    column = match["column"].strip('"')
    op = match["op"].lower()
    raw = match["value"]
    try:
        if op == "in":
            inner = raw.strip()
            if not (inner.startswith(("(", "[")) and inner.endswith((")", "]"))):
                raise ConfigError(f"condition {text!r}: `in` takes a list like (a, b)")
            items = tuple(_literal(v) for v in inner[1:-1].split(",") if v.strip())
            return Condition(column=column, op="in", value=items)
        return Condition(column=column, op=_SYMBOLS[op], value=_literal(raw))  # type: ignore[arg-type]
    except ValidationError as err:
        msg = str(err.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"condition {text!r}: {msg}") from None


def _literal(text: str) -> Value:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    return text


def _from_mapping(spec: Mapping[str, Any]) -> list[Condition]:
    clauses: list[Condition] = []
    for column, rule in spec.items():
        items = rule.items() if isinstance(rule, Mapping) else [("eq", rule)]
        for op, value in items:
            if op not in _SHOW:
                raise ConfigError(f"condition on {column!r}: unknown operator {op!r}; use one of {list(_SHOW)}")
            if isinstance(value, list):
                value = tuple(value)
            try:
                clauses.append(Condition.model_validate({"column": str(column), "op": op, "value": value}))
            except ValidationError as err:
                msg = str(err.errors()[0]["msg"]).removeprefix("Value error, ")
                raise ConfigError(f"condition on {column!r} ({op}: {value!r}): {msg}") from None
    return clauses


def _coerce(clause: Condition, spec: ColumnSpec) -> Condition:
    values = clause.value if isinstance(clause.value, tuple) else (clause.value,)
    out = tuple(_coerce_value(clause, spec, v) for v in values)
    if clause.op in ("gt", "ge", "lt", "le") and spec.type not in (ColumnType.NUMERICAL, ColumnType.DATETIME):
        raise ConfigError(f"condition {clause}: column {spec.name!r} is {spec.type}; only numerical and datetime "
                          "columns can be compared with <, <=, >, >=")
    return clause.model_copy(update={"value": out if clause.op == "in" else out[0]})


def _coerce_value(clause: Condition, spec: ColumnSpec, value: Value) -> Value:
    if spec.type is ColumnType.NUMERICAL:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"condition {clause}: column {spec.name!r} is numerical, got {value!r}")
        return value
    if spec.type is ColumnType.DATETIME:
        try:
            return dt.datetime.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ConfigError(f"condition {clause}: column {spec.name!r} holds dates; {value!r} is not an ISO date") \
                from None
    if spec.type is ColumnType.BOOLEAN:
        if not isinstance(value, bool):
            raise ConfigError(f"condition {clause}: column {spec.name!r} is boolean, got {value!r}")
        return value
    if spec.type is ColumnType.CATEGORICAL:
        categories = spec.categories or ()
        if value in categories and any(type(value) is type(c) and value == c for c in categories):
            return value
        as_text = {str(c): c for c in categories}
        if str(value) in as_text:
            return as_text[str(value)]
        raise ConfigError(f"condition {clause}: {value!r} is an unseen category of column {spec.name!r}; "
                          f"categories: {list(categories)}")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else str(value)


def _check_satisfiable(column: str, clauses: list[Condition], spec: ColumnSpec) -> None:
    """Raise when no value of the column can meet all its clauses (and the column's own range)."""
    where = " and ".join(str(c) for c in clauses)
    if spec.type in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN):
        domain: list[Any] = list(spec.categories or ()) if spec.type is ColumnType.CATEGORICAL else [True, False]
        if not [v for v in domain if all(c.holds(v) for c in clauses)]:
            raise ConfigError(f"condition {where}: no value of column {spec.name!r} meets it (an empty set); "
                              f"values: {domain}")
        return
    if spec.type not in (ColumnType.NUMERICAL, ColumnType.DATETIME):
        return
    low: tuple[Any, bool] = (_key(spec.minimum if spec.type is ColumnType.NUMERICAL else spec.earliest), True)
    high: tuple[Any, bool] = (_key(spec.maximum if spec.type is ColumnType.NUMERICAL else spec.latest), True)
    points: list[Any] | None = None
    for c in clauses:
        value = _key(c.value) if not isinstance(c.value, tuple) else None
        if c.op in ("gt", "ge") and (low[0] is None or value > low[0] or (value == low[0] and c.op == "gt")):
            low = (value, c.op == "ge")
        elif c.op in ("lt", "le") and (high[0] is None or value < high[0] or (value == high[0] and c.op == "lt")):
            high = (value, c.op == "le")
        elif c.op == "eq":
            points = [value] if points is None else [p for p in points if p == value]
        elif c.op == "in":
            members = [_key(v) for v in c.value]  # type: ignore[union-attr]
            points = members if points is None else [p for p in points if p in members]
    excluded = {_key(c.value) for c in clauses if c.op == "ne"}

    def inside(v: Any) -> bool:
        above = low[0] is None or v > low[0] or (v == low[0] and low[1])
        below = high[0] is None or v < high[0] or (v == high[0] and high[1])
        return above and below and v not in excluded

    if points is not None:
        ok = [p for p in points if inside(p) and (not spec.integer or float(p).is_integer())]
    elif low[0] is None or high[0] is None:
        ok = [True]
    elif spec.type is ColumnType.NUMERICAL and spec.integer:
        first = math.floor(low[0]) if low[1] and float(low[0]).is_integer() else math.floor(low[0]) + 1
        ok = [v for v in range(first, min(first + len(excluded) + 1, math.floor(high[0]) + 1)) if inside(v)]
    else:
        ok = [True] if low[0] < high[0] or (low[0] == high[0] and low[1] and high[1] and low[0] not in excluded) else []
    if not ok:
        bounds = f"[{_show(spec.minimum if spec.type is ColumnType.NUMERICAL else spec.earliest)}, " \
                 f"{_show(spec.maximum if spec.type is ColumnType.NUMERICAL else spec.latest)}]"
        raise ConfigError(f"condition {where}: no value of column {spec.name!r} meets it (an empty range; the "
                          f"column's range is {bounds})")


def _key(value: Any) -> Any:
    """Comparable form: datetimes (and ISO strings of datetime conditions) as naive UTC datetimes."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[:4].isdigit():
        try:
            return _key(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if re.fullmatch(r"[\w.:+-]+", value) else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return repr(value)
