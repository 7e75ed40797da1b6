"""Constrained decoding of row text: a character automaton per row, walked together with a token trie.

Hand-written rather than a grammar library (outlines, transformers-cfg): the grammar changes within
every row — the columns still to write, the ranges left by inequalities with values already written,
the categories left by fixed combinations — and a regex/CFG compiler would rebuild its token index
for each. Here the automaton is checked lazily: the allowed tokens of a state are found by walking
the trie of token strings and stopping at the first character the automaton refuses (cached per state).

The automaton accepts exactly `name is value, name is value, ...` where every modelled column appears
once (in any order), names come from the columns not yet written, and each value is a category of the
column, a number in the column's range written with its decimals (and integer width, when the codec
zero-pads numbers; checked digit by digit: a prefix is allowed only when some completion lies in the
range), or `missing` where allowed. So every finished
row parses and meets the metadata; a row can only fail by a dead end (reported, never dropped).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from biosynth.core import ConfigError
from biosynth.tabular._conditions import Conditions
from biosynth.tabular._constraints import FixedCombinations, Inequality
from biosynth.tabular._llm.row_text import IS, MISSING, SEP, ColumnCodec, RowCodec, format_units, parse_units

# value rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValueRule:
    """What one column may hold in one row: a number range (units), a set of texts, `missing`."""

    decimals: int = 0
    width: int = 0  # integer digits of a zero-padded number (0: no padding, no leading zeros)
    low: int | None = None  # number range in units; None/None: no number allowed
    high: int | None = None
    texts: frozenset[str] = frozenset()  # categories (or exact number texts for `in` conditions)
    missing: bool = False
    excluded: frozenset[str] = frozenset()  # number texts refused by `!=` conditions

    def __post_init__(self) -> None:  # rules key several caches: hash once
        object.__setattr__(self, "_hash", hash((self.decimals, self.width, self.low, self.high, self.texts, self.missing,
                                                self.excluded)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]

    def prefix_ok(self, p: str) -> bool:
        return _rule_prefix_ok(self, p)

    def complete(self, p: str) -> bool:
        return _rule_complete(self, p)

    @property
    def empty(self) -> bool:
        has_numbers = self.low is not None and self.high is not None and self.low <= self.high
        return not (has_numbers or self.texts or self.missing)


@functools.lru_cache(maxsize=1 << 18)
def _rule_prefix_ok(rule: ValueRule, p: str) -> bool:
    if rule.missing and MISSING.startswith(p):
        return True
    if rule.texts and any(t.startswith(p) for t in rule.texts):
        return True
    if rule.low is None or rule.high is None:
        return False
    return number_prefix_ok(p, rule.decimals, rule.low, rule.high, rule.width)


@functools.lru_cache(maxsize=1 << 18)
def _rule_complete(rule: ValueRule, p: str) -> bool:
    if (rule.missing and p == MISSING) or p in rule.texts:
        return True
    if rule.low is None or rule.high is None or p in rule.excluded:
        return False
    units = parse_units(p, rule.decimals, rule.width)
    return units is not None and rule.low <= units <= rule.high


def number_prefix_ok(p: str, decimals: int, low: int, high: int, width: int = 0) -> bool:
    """Whether some canonical number text starting with `p` (see `format_units`, with `width`) lies in
    [low, high] units."""
    if low > high:
        return False
    if p == "":
        return True
    negative = p.startswith("-")
    if negative:
        if low > -1:
            return False
        mlo, mhi = (max(1, -high) if high < 0 else 1), -low  # magnitudes of the negative values
    else:
        if high < 0:
            return False
        mlo, mhi = max(0, low), high
    body = p[1:] if negative else p
    if body == "":
        return True
    whole, dot, frac = body.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or "." in frac:
        return False
    scale = 10**decimals
    if width:
        if len(whole) > width or (dot and len(whole) < width):
            return False
        if not dot:  # a zero-padded integer part: the digits still to come span a block of magnitudes
            span = 10 ** (width - len(whole)) * scale
            return int(whole) * span <= mhi and (int(whole) + 1) * span - 1 >= mlo
    elif len(whole) > 1 and whole[0] == "0":
        return False
    if dot:
        if decimals == 0 or len(frac) > decimals:
            return False
        step = 10 ** (decimals - len(frac))
        lo = int(whole) * scale + (int(frac) if frac else 0) * step
        return lo <= mhi and lo + step - 1 >= mlo
    head = int(whole)
    if head == 0:
        return 0 <= mhi and scale - 1 >= mlo
    j = 0
    while head * 10**j * scale <= mhi:
        lo, hi = head * 10**j * scale, ((head + 1) * 10**j) * scale - 1
        if lo <= mhi and hi >= mlo:
            return True
        j += 1
    return False


# the plan: one per sampling call (conditions + constraints) ---------------------------------------


@dataclass
class RowPlan:
    """The grammar shared by the rows of one sampling call: column rules after conditions, constraints."""

    codec: RowCodec
    base: dict[int, ValueRule]  # modelled column index -> rule after conditions
    fixed: dict[int, str]  # column index -> value text fixed by an `=` condition
    inequalities: list[tuple[int, str, int]]  # (left, op, right) on modelled column indexes
    combinations: list[tuple[tuple[int, ...], list[tuple[str, ...]]]]  # columns, allowed text tuples
    names: tuple[str, ...] = field(init=False)
    _prefix_masks: dict[str, int] = field(init=False)
    _full: dict[str, int] = field(init=False)
    cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = tuple(c.name for c in self.codec.columns)
        self._prefix_masks = {}
        self._full = {}
        for i in self.base:
            key = self.names[i] + IS
            for k in range(1, len(key) + 1):
                self._prefix_masks[key[:k]] = self._prefix_masks.get(key[:k], 0) | (1 << i)
            self._full[key] = i

    @property
    def all_mask(self) -> int:
        return sum(1 << i for i in self.base)

    @classmethod
    def build(cls, codec: RowCodec, conditions: Conditions, constraints: Iterable[Inequality | FixedCombinations]
              ) -> RowPlan:
        index = {c.name: i for i, c in enumerate(codec.columns)}
        base: dict[int, ValueRule] = {}
        fixed: dict[int, str] = {}
        for i, col in enumerate(codec.columns):
            if col.kind == "id":
                continue
            clauses = [c for c in conditions.clauses if c.column == col.name]
            base[i] = _rule_for(codec, col, clauses)
            if base[i].empty:
                raise ConfigError(f"conditions {conditions} leave no value for column {col.name!r}")
            eq = [c for c in clauses if c.op == "eq"]
            if eq:
                fixed[i] = _condition_text(codec, col, eq[0].value)
        inequalities: list[tuple[int, str, int]] = []
        combinations: list[tuple[tuple[int, ...], list[tuple[str, ...]]]] = []
        for constraint in constraints:
            if isinstance(constraint, Inequality):
                left, right = index[constraint.left], index[constraint.right]
                if left in base and right in base:
                    inequalities.append((left, constraint.op, right))
            else:
                cols = tuple(index[c] for c in constraint.columns)
                allowed = [tuple(_category_text(v) for v in combo) for combo in constraint.combinations]
                allowed = [t for t in allowed if all(_text_allowed(base[c], v) for c, v in zip(cols, t, strict=True))]
                if not allowed:
                    raise ConfigError(f"conditions {conditions} exclude every allowed combination of "
                                      f"{', '.join(constraint.columns)}")
                combinations.append((cols, allowed))
        plan = cls(codec=codec, base=base, fixed=fixed, inequalities=inequalities, combinations=combinations)
        probe = RowGrammar(plan, {})
        for i in base:
            if probe.rule(i).empty:
                raise ConfigError(f"conditions {conditions} and the table's constraints leave no value for column "
                                  f"{codec.columns[i].name!r}")
        return plan

    def names_starting(self, prefix: str, remaining: int) -> bool:
        return bool(self._prefix_masks.get(prefix, 0) & remaining)

    def name_complete(self, text: str, remaining: int) -> int | None:
        i = self._full.get(text)
        return i if i is not None and remaining & (1 << i) else None


def _rule_for(codec: RowCodec, col: ColumnCodec, clauses: Sequence[Any]) -> ValueRule:
    if col.kind == "category":
        categories = set(col.texts)
        for c in clauses:
            values = c.value if isinstance(c.value, tuple) else (c.value,)
            shown = {_category_text(v) for v in values}
            categories = categories & shown if c.op in ("eq", "in") else \
                categories - shown if c.op == "ne" else categories
        return ValueRule(texts=frozenset(categories), missing=col.missing and not clauses)
    low, high = col.low, col.high
    assert low is not None and high is not None
    texts: set[str] | None = None
    excluded: set[str] = set()
    for c in clauses:
        if c.op in ("eq", "in"):
            values = c.value if isinstance(c.value, tuple) else (c.value,)
            shown = {t for v in values if (t := _number_text(codec, col, v)) is not None}
            texts = shown if texts is None else texts & shown
        elif c.op == "ne":
            if (t := _number_text(codec, col, c.value)) is not None:
                excluded.add(t)
        else:
            units = _condition_units(codec, col, c.value)
            if c.op == "gt":
                low = max(low, math.floor(units) + 1)
            elif c.op == "ge":
                low = max(low, math.ceil(units))
            elif c.op == "lt":
                high = min(high, math.ceil(units) - 1)
            else:
                high = min(high, math.floor(units))
    if texts is not None:
        inside = {t for t in texts - excluded
                  if (u := parse_units(t, col.decimals, col.width)) is not None and low <= u <= high}
        return ValueRule(decimals=col.decimals, width=col.width, texts=frozenset(inside))
    return ValueRule(decimals=col.decimals, width=col.width, low=low, high=high, missing=col.missing and not clauses,
                     excluded=frozenset(excluded))


def _condition_units(codec: RowCodec, col: ColumnCodec, value: Any) -> Fraction:
    if col.kind == "datetime":
        import datetime as dt

        from biosynth.tabular._llm.row_text import _naive, _offset

        assert codec.datetime_epoch is not None
        return _offset(_naive(dt.datetime.fromisoformat(str(value))), codec.datetime_epoch, codec.datetime_unit)
    return col.units(float(value) if isinstance(value, float) else int(value))


def _number_text(codec: RowCodec, col: ColumnCodec, value: Any) -> str | None:
    units = _condition_units(codec, col, value)
    return format_units(int(units), col.decimals, col.width) if units.denominator == 1 else None


def _condition_text(codec: RowCodec, col: ColumnCodec, value: Any) -> str:
    if col.kind == "category":
        return _category_text(value)
    text = _number_text(codec, col, value)
    if text is None:
        raise ConfigError(f"condition {col.name} = {value!r}: the column is written with {col.decimals} decimal(s) "
                          f"({'days' if codec.datetime_unit == 'day' else 'seconds'} for dates); give a value on "
                          "that grid")
    return text


def _category_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text_allowed(rule: ValueRule, text: str) -> bool:
    return text in rule.texts


# one row --------------------------------------------------------------------------------------------

# States: ("N", partial name text, pending column or -1) and ("V", column, partial value text).
# `pending`: a column whose value a token completed (", ") but which is committed only after the token.
State = tuple[Any, ...]


class RowGrammar:
    """The automaton of one row: which characters may come next, which values are written so far."""

    def __init__(self, plan: RowPlan, done: Mapping[int, str], start: State | None = None) -> None:
        self.plan = plan
        self.done: dict[int, str] = dict(done)
        self.state: State = start or ("N", "", -1)
        self.finished = False
        self._rules: dict[int, ValueRule] = {}
        self._bounds: dict[int, tuple[int, int]] | None = None
        self._open = plan.all_mask  # columns not yet written
        for i in self.done:
            self._open &= ~(1 << i)

    @classmethod
    def conditioned(cls, plan: RowPlan, order: Sequence[int]) -> tuple[RowGrammar, str]:
        """The grammar after the fixed columns of `plan` written in `order`, and that prefix's text.

        The prefix ends inside the last fixed value (no trailing separator), so that the model's own
        tokenisation of `, next name` is used.
        """
        if not order:
            return cls(plan, {}), ""
        text = SEP.join(f"{plan.names[i]}{IS}{plan.fixed[i]}" for i in order)
        last = order[-1]
        grammar = cls(plan, {i: plan.fixed[i] for i in order[:-1]}, ("V", last, plan.fixed[last]))
        return grammar, text

    # rules ---------------------------------------------------------------------------------------------
    def remaining(self, pending: int = -1) -> int:
        mask = self._open
        if self.state[0] == "V":
            mask &= ~(1 << self.state[1])
        if pending >= 0:
            mask &= ~(1 << pending)
        return mask

    def rule(self, i: int) -> ValueRule:
        if i not in self._rules:
            self._rules[i] = self._derive(i)
        return self._rules[i]

    def _derive(self, i: int) -> ValueRule:
        rule = self.plan.base[i]
        if self.plan.inequalities and rule.low is not None:
            if self._bounds is None:
                self._bounds = self._propagate()
            low, high = self._bounds.get(i, (rule.low, rule.high))
            rule = dataclasses.replace(rule, low=low, high=high)
        for cols, allowed in self.plan.combinations:
            if i not in cols:
                continue
            pos = cols.index(i)
            known = {k: self.done[c] for k, c in enumerate(cols) if c in self.done and c != i}
            if any(v == MISSING for v in known.values()):
                continue
            texts = {t[pos] for t in allowed if all(t[k] == v for k, v in known.items())}
            rule = dataclasses.replace(rule, texts=rule.texts & frozenset(texts))
        return rule

    def _propagate(self) -> dict[int, tuple[int, int]]:
        """Bounds consistency of the inequalities over the columns' unit intervals (exact fractions)."""
        cols = self.plan.codec.columns
        scale = {i: Fraction(10) ** cols[i].decimals for i in self.plan.base}
        box: dict[int, list[Fraction]] = {}
        for i, rule in self.plan.base.items():
            if rule.low is None or rule.high is None:
                continue
            if i in self.done:
                if self.done[i] == MISSING:
                    continue
                units = parse_units(self.done[i], cols[i].decimals, cols[i].width)
                if units is None:
                    continue
                box[i] = [Fraction(units) / scale[i]] * 2
            else:
                box[i] = [Fraction(rule.low) / scale[i], Fraction(rule.high) / scale[i]]
        pairs: list[tuple[int, bool, int]] = []  # (a, strict, b): a < b or a <= b
        for left, op, right in self.plan.inequalities:
            if left in box and right in box:
                pairs.append((left, op == "<", right) if op in ("<", "<=") else (right, op == ">", left))
        for _ in range(64):
            changed = False
            for a, strict, b in pairs:
                ua, ub = 1 / scale[a], 1 / scale[b]
                hi_a = _grid_below(box[b][1], ua, strict)
                lo_b = _grid_above(box[a][0], ub, strict)
                if hi_a < box[a][1]:
                    box[a][1], changed = hi_a, True
                if lo_b > box[b][0]:
                    box[b][0], changed = lo_b, True
            if not changed:
                break
        return {i: (math.ceil(lo * scale[i]), math.floor(hi * scale[i])) for i, (lo, hi) in box.items()}

    # the automaton ---------------------------------------------------------------------------------------
    def step(self, state: State, ch: str) -> State | None:
        """The state after one more character, or None when it is not allowed."""
        if state[0] == "N":
            _, partial, pending = state
            text = partial + ch
            remaining = self.remaining(pending)
            if not self.plan.names_starting(text, remaining):
                return None
            column = self.plan.name_complete(text, remaining)
            if column is None:
                return ("N", text, pending)
            if pending >= 0:
                return None  # one token may not write two values
            return ("V", column, "")
        _, column, partial = state
        text = partial + ch
        rule = self.rule(column)
        more = self.remaining(column) != 0
        if more and text.endswith(SEP) and rule.complete(text[: -len(SEP)]):
            return ("N", "", column)
        if rule.prefix_ok(text):
            return ("V", column, text)
        for k in range(1, len(SEP)):
            if more and text.endswith(SEP[:k]) and rule.complete(text[:-k]):
                return ("V", column, text)
        return None

    def end_ok(self) -> bool:
        """Whether the row may end now."""
        if self.state[0] != "V":
            return False
        _, column, partial = self.state
        return self.remaining(column) == 0 and self.rule(column).complete(partial)

    def commit(self, text: str) -> None:
        """Advance by a token's text (already known to be allowed)."""
        state = self.state
        for ch in text:
            nxt = self.step(state, ch)
            if nxt is None:
                raise RuntimeError(f"token {text!r} is not allowed after {state!r}")
            if nxt[0] == "N" and state[0] == "V":
                self._write(state[1], (state[2] + ch)[: -len(SEP)])
                nxt = ("N", "", -1)
            state = nxt
            self.state = state

    def finish(self) -> None:
        _, column, partial = self.state
        self._write(column, partial)
        self.finished = True

    def _write(self, column: int, text: str) -> None:
        self.done[column] = text
        self._open &= ~(1 << column)
        self._rules.clear()
        self._bounds = None

    def values(self) -> dict[str, str]:
        return {self.plan.names[i]: v for i, v in self.done.items()}


def _grid_below(value: Fraction, unit: Fraction, strict: bool) -> Fraction:
    k = value / unit
    return (math.ceil(k) - 1 if strict else math.floor(k)) * unit


def _grid_above(value: Fraction, unit: Fraction, strict: bool) -> Fraction:
    k = value / unit
    return (math.floor(k) + 1 if strict else math.ceil(k)) * unit


# tokens ---------------------------------------------------------------------------------------------


class TokenIndex:
    """A trie of the vocabulary's token strings, for the allowed tokens of an automaton state.

    `canonical_digits` (for the table tokenizer, whose digit tokens are single digits and digit pairs):
    allow only the tokenisation the tokenizer itself writes — a digit run in pairs from its first digit,
    with at most one single digit at its end. Any other split (`"1", "43"` for `143`) spells a valid
    number in tokens the model never saw in that place; drawing them would spend the model's leftover
    probability on paths it has not learned and blur the column's distribution.
    """

    def __init__(self, strings: Sequence[str | None], end_id: int, *, canonical_digits: bool = False) -> None:
        self.strings = list(strings)
        self.end_id = end_id
        self.canonical_digits = canonical_digits
        self.root = _trie((i, t) for i, t in enumerate(strings) if t and i != end_id)
        # Only tokens with a character after a separator's last one can go from a value into a name.
        self.crossing = _trie((i, t) for i, t in enumerate(strings)
                              if t and i != end_id and 0 <= t.find(SEP[-1]) < len(t) - 1)

    def allowed(self, grammar: RowGrammar) -> tuple[int, ...]:
        """Token ids that keep `grammar` alive (plus the end token when the row may end).

        A token may cross at most one boundary between a name and a value (`" 17"` after `"age is"`,
        `", mean"` or a whole `", mean is "` after a value, which ends where the next value starts): then
        the allowed set of a state is a union of per-column sets that do not depend on which other columns
        are left, and these are cached per plan.
        """
        cache = grammar.plan.cache
        if len(cache) > 200_000:
            cache.clear()
        state = grammar.state
        out: set[int] = {self.end_id} if grammar.end_ok() else set()
        if state[0] == "N":
            remaining = grammar.remaining()
            for c in _bits(remaining):
                rule = grammar.rule(c)
                more = remaining & ~(1 << c) != 0
                key: tuple[Any, ...] = ("N", state[1], c, rule, more, self.canonical_digits)
                if key not in cache:
                    cache[key] = self._walk(grammar.plan.names[c] + IS, state[1], rule, more)
                out.update(cache[key])
        else:
            _, c, partial = state
            rule = grammar.rule(c)
            remaining = grammar.remaining(c)
            key = ("V", c, partial, rule, remaining != 0, self.canonical_digits)
            if key not in cache:
                cache[key] = self._walk(None, partial, rule, remaining != 0)
            out.update(cache[key])
            if remaining:
                key = ("F", c, partial, rule)
                if key not in cache:
                    cache[key] = self._frontier(partial, rule)
                frontier = cache[key]
                for c2 in _bits(remaining) if frontier else ():
                    key = ("VN", c, partial, rule, c2)
                    if key not in cache:
                        cache[key] = self._walk_into_name(frontier, grammar.plan.names[c2] + IS)
                    out.update(cache[key])
        return tuple(sorted(out))

    def _walk(self, name: str | None, partial: str, rule: ValueRule, more: bool) -> tuple[int, ...]:
        """Tokens from a name state (`name` given: writing `name is ` after `partial`) or a value state
        (`name` None: the value after `partial`); they may cross into the value once, or end the value
        with the separator."""
        out: list[int] = []
        chars = _value_chars(rule)
        canonical = self.canonical_digits
        # stack entries: (trie node, phase, text so far within the phase, the value's text before the token)
        stack: list[tuple[dict[str, Any], str, str, str]] = [
            (self.root, "N" if name is not None else "V", partial, partial)]
        while stack:
            node, phase, text, before = stack.pop()
            for ch, child in node["kids"].items():
                q = text + ch
                if phase == "N":
                    assert name is not None
                    if not name.startswith(q):
                        continue
                    if q == name:  # the token may go on into the value, which starts here
                        out.extend(child["ids"])
                        if child["kids"]:
                            stack.append((child, "V", "", ""))
                        continue
                    nxt = ("N", q)
                else:
                    step = _value_step(rule, q, more) if ch in chars else None
                    if step is None:
                        continue
                    if step == "sep":  # the separator is complete: the token must end here
                        if not canonical or _canonical_digits(before, q, rule):
                            out.extend(child["ids"])
                        continue
                    nxt = ("V", q)
                    if canonical and not _canonical_digits(before, q, rule):
                        if child["kids"]:  # a longer token from here may still be the canonical one
                            stack.append((child, "V", q, before))
                        continue
                out.extend(child["ids"])
                if child["kids"]:
                    stack.append((child, nxt[0], nxt[1], before))
        return tuple(out)

    def _frontier(self, partial: str, rule: ValueRule) -> tuple[dict[str, Any], ...]:
        """Trie nodes reached by ending the value after `partial` and writing the whole separator, from
        which tokens go on into a name (empty for vocabularies without such tokens)."""
        out: list[dict[str, Any]] = []
        stack: list[tuple[dict[str, Any], str]] = [(self.crossing, partial)]
        while stack:
            node, text = stack.pop()
            for ch, child in node["kids"].items():
                q = text + ch
                step = _value_step(rule, q, True)
                if step is None or not child["kids"]:
                    continue
                if step == "sep":
                    out.append(child)
                else:
                    stack.append((child, q))
        return tuple(out)

    def _walk_into_name(self, frontier: Sequence[dict[str, Any]], name: str) -> tuple[int, ...]:
        """Tokens that, from the frontier nodes, go on into `name is ` and end at its end at the latest (a whole
        `, name is ` token); a token that also writes some of the next value would cross twice."""
        out: list[int] = []
        stack: list[tuple[dict[str, Any], str]] = [(node, "") for node in frontier]
        while stack:
            node, text = stack.pop()
            for ch, child in node["kids"].items():
                q = text + ch
                if not name.startswith(q):
                    continue
                out.extend(child["ids"])
                if q == name:  # the value starts after this token
                    continue
                if child["kids"]:
                    stack.append((child, q))
        return tuple(out)


def _canonical_digits(before: str, text: str, rule: ValueRule) -> bool:
    """Whether a token that takes a value's text from `before` to `text` splits digits as the table tokenizer
    does: digit runs in pairs from their first digit, a single digit only at a run's end."""
    piece = text[len(before):]
    if not piece[:1].isdigit():
        return True
    run = len(before) - len(before.rstrip("0123456789"))
    if run % 2:  # the run so far ends with a single digit: no digit may follow it
        return False
    if len(piece) == 1:  # a single digit must end its run: the value ends or a non-digit follows
        return rule.complete(text) or rule.prefix_ok(text + ".")
    return True


@functools.lru_cache(maxsize=4096)
def _value_chars(rule: ValueRule) -> frozenset[str]:
    """Every character a value of `rule` (or the separator after it) can hold."""
    chars = set(SEP) | set("".join(rule.texts))
    if rule.missing:
        chars |= set(MISSING)
    if rule.low is not None:
        chars |= set("0123456789.-")
    return frozenset(chars)


def _value_step(rule: ValueRule, q: str, more: bool) -> str | None:
    """`q` (a value's text so far) is: "sep" when it ends with the full separator after a complete
    value, "ok" when it can still become a value (or value + separator), else None."""
    if more and q.endswith(SEP) and rule.complete(q[: -len(SEP)]):
        return "sep"
    if rule.prefix_ok(q):
        return "ok"
    if more and q.endswith(SEP[0]) and rule.complete(q[:-1]):  # SEP is two characters
        return "ok"
    return None


def _trie(items: Iterable[tuple[int, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {"ids": [], "kids": {}}
    for token_id, text in items:
        node = root
        for ch in text:
            node = node["kids"].setdefault(ch, {"ids": [], "kids": {}})
        node["ids"].append(token_id)
    return root


def _bits(mask: int) -> list[int]:
    out = []
    i = 0
    while mask:
        if mask & 1:
            out.append(i)
        mask >>= 1
        i += 1
    return out
