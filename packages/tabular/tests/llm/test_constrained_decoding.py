from __future__ import annotations

import itertools
import random

import pandas as pd
import pytest

from biosynth.core import ConfigError
from biosynth.tabular import check_rows, detect_metadata, parse_conditions
from biosynth.tabular._llm.constrained_decoding import RowGrammar, RowPlan, TokenIndex, number_prefix_ok
from biosynth.tabular._llm.finetuned_tokens import table_tokenizer
from biosynth.tabular._llm.row_text import RowCodec, format_units


def _reference_prefixes(decimals: int, low: int, high: int, width: int = 0) -> set[str]:
    out: set[str] = set()
    for units in range(low, high + 1):
        text = format_units(units, decimals, width)
        out |= {text[:k] for k in range(len(text) + 1)}
    return out


@pytest.mark.parametrize(("decimals", "low", "high"),
                         [(0, 0, 120), (1, -35, 47), (2, 5, 1999), (0, -12, -3), (1, 1, 1), (2, -7, 0), (0, 95, 105)])
def test_number_prefixes_match_brute_force(decimals: int, low: int, high: int) -> None:
    expected = _reference_prefixes(decimals, low, high)
    longest = max(len(p) for p in expected) + 1
    for n in range(longest + 1):
        for chars in itertools.product("-0129.", repeat=min(n, 4)):
            text = "".join(chars)
            assert number_prefix_ok(text, decimals, low, high) == (text in expected), (text, decimals, low, high)
    for text in expected:
        assert number_prefix_ok(text, decimals, low, high)


@pytest.mark.parametrize(("decimals", "low", "high", "width"),
                         [(0, 0, 120, 3), (1, -35, 47, 1), (2, 5, 1999, 2), (0, -12, -3, 2), (1, 1, 1, 1),
                          (2, -7, 0, 1), (0, 95, 105, 3), (1, 3, 950, 2)])
def test_zero_padded_number_prefixes_match_brute_force(decimals: int, low: int, high: int, width: int) -> None:
    expected = _reference_prefixes(decimals, low, high, width)
    assert {len(format_units(u, decimals, width).lstrip("-").partition(".")[0]) for u in range(low, high + 1)} == {width}
    longest = max(len(p) for p in expected) + 1
    for n in range(longest + 1):
        for chars in itertools.product("-0129.", repeat=min(n, 5)):
            text = "".join(chars)
            assert number_prefix_ok(text, decimals, low, high, width) == (text in expected), (text, decimals, low,
                                                                                              high, width)
    for text in expected:
        assert number_prefix_ok(text, decimals, low, high, width)


def test_random_walks_write_zero_padded_numbers_of_one_width() -> None:
    df = _table()
    meta = detect_metadata(df, constraints=["low < high"])
    codec = RowCodec.build(df, meta, fixed_width=True)
    assert codec.column("age").width == 2 and codec.column("low").width == 1
    tok = table_tokenizer(codec)
    plan = RowPlan.build(codec, parse_conditions("age <= 30", meta), meta.constraints)
    for seed in range(30):
        texts = _walk(codec, plan, tok.strings(), tok.eos_id, seed)
        assert len(texts["age"]) == 2
        row = {k: codec.text_value(k, v) for k, v in texts.items()}
        assert check_rows([row], meta) == [] and row["age"] <= 30


def _table() -> pd.DataFrame:
    r = random.Random(0)
    rows = []
    for _ in range(40):
        low = round(r.uniform(-5, 5), 1)
        rows.append({"age": r.randint(18, 90), "sex": r.choice(["F", "M"]), "site": r.choice(["lung", "liver", "li"]),
                     "low": low, "high": round(low + r.uniform(0.1, 4), 2), "stage": r.choice(["I", "II"]),
                     "score": None if r.random() < 0.2 else r.randint(0, 10)})
    return pd.DataFrame(rows)


def _walk(codec: RowCodec, plan: RowPlan, strings: list[str | None], end_id: int, seed: int,
          order: list[int] | None = None, *, canonical: bool = False, tokens: list[str] | None = None
          ) -> dict[str, str]:
    """A uniformly random constrained walk: what an untrained model would write (its tokens into `tokens`)."""
    r = random.Random(seed)
    index = TokenIndex(strings, end_id, canonical_digits=canonical)
    grammar, _ = RowGrammar.conditioned(plan, order if order is not None else sorted(plan.fixed))
    while not grammar.finished:
        allowed = index.allowed(grammar)
        assert allowed, grammar.state
        token = r.choice(allowed)
        if token == end_id:
            grammar.finish()
        else:
            grammar.commit(strings[token] or "")
            if tokens is not None:
                tokens.append(strings[token] or "")
    return grammar.values()


def _digit_splits(tokens: list[str]) -> list[list[str]]:
    """The runs of consecutive digit tokens."""
    runs: list[list[str]] = [[]]
    for t in tokens:
        if t.isdigit():
            runs[-1].append(t)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


@pytest.mark.parametrize("fixed_width", [True, False])
def test_canonical_digits_sample_the_tokenizers_own_split(fixed_width: bool) -> None:
    df = _table()
    meta = detect_metadata(df, constraints=["low < high"])
    codec = RowCodec.build(df, meta, fixed_width=fixed_width)
    tok = table_tokenizer(codec)
    plan = RowPlan.build(codec, parse_conditions(None, meta), meta.constraints)
    free: list[list[str]] = []
    for seed in range(40):
        tokens: list[str] = []
        texts = _walk(codec, plan, tok.strings(), tok.eos_id, seed, canonical=True, tokens=tokens)
        assert check_rows([{k: codec.text_value(k, v) for k, v in texts.items()}], meta) == []
        for run in _digit_splits(tokens):  # pairs from the run's first digit, one single digit at most at its end
            assert all(len(t) == 2 for t in run[:-1]), run
            assert run == [tok.strings()[i] for i in tok.encode("".join(run))], run
        _walk(codec, plan, tok.strings(), tok.eos_id, seed, tokens=(loose := []))
        free += _digit_splits(loose)
    assert any(any(len(t) == 1 for t in run[:-1]) for run in free)  # unconstrained walks split digits freely


def test_random_walks_give_valid_rows_with_constraints_and_conditions() -> None:
    df = _table()
    meta = detect_metadata(df, fixed_combinations=[("site", "stage")], constraints=["low < high"])
    codec = RowCodec.build(df, meta)
    tok = table_tokenizer(codec)
    conditions = parse_conditions("age >= 65 and sex = F and site in (lung, li)", meta)
    plan = RowPlan.build(codec, conditions, meta.constraints)
    rows = []
    for seed in range(60):
        texts = _walk(codec, plan, tok.strings(), tok.eos_id, seed)
        rows.append({k: codec.text_value(k, v) for k, v in texts.items()})
    frame = pd.DataFrame(rows)[list(meta.names)]
    assert check_rows(frame, meta) == []
    assert all(not conditions.unmet(row) for row in frame.to_dict("records"))
    assert frame["age"].min() >= 65 and set(frame["sex"]) == {"F"}
    assert frame["score"].isna().any()  # `missing` is reachable where the data had missing values


def test_tokens_that_cross_name_and_value_boundaries() -> None:
    """A BPE-like vocabulary (`" 1"`, `", s"`, `"ex is"`) still yields rows that parse and fit."""
    df = _table()[["age", "sex"]]
    meta = detect_metadata(df)
    codec = RowCodec.build(df, meta)
    strings: list[str | None] = [None, *list("agesx isFM0123456789,"), " 1", " 4", ", s", ", a", "ex is", "age",
                                 " is", "e is 1"]
    plan = RowPlan.build(codec, parse_conditions(None, meta), meta.constraints)
    for seed in range(40):
        texts = _walk(codec, plan, strings, 0, seed)
        row = {k: codec.text_value(k, v) for k, v in texts.items()}
        assert check_rows([row], meta) == []


def test_name_tokens_join_the_text_between_values_and_walks_stay_valid() -> None:
    """With `name_tokens` the tokenizer writes `, name is ` as one token, and the grammar lets a token end a value,
    cross the separator and the next name, and stop where that column's value starts."""
    df = _table()
    meta = detect_metadata(df, fixed_combinations=[("site", "stage")], constraints=["low < high"])
    codec = RowCodec.build(df, meta)
    tok = table_tokenizer(codec, name_tokens=True)
    strings = tok.strings()
    assert [strings[i] for i in tok.encode("age is 70, sex is F, score is missing")] == \
        ["age is ", "70", ", sex is ", "F", ", score is ", "missing"]
    assert len(tok.encode("age is 70, sex is F")) < len(table_tokenizer(codec).encode("age is 70, sex is F"))
    conditions = parse_conditions("age >= 65 and site in (lung, li)", meta)
    plan = RowPlan.build(codec, conditions, meta.constraints)
    joined: set[str] = set()
    for seed in range(60):
        tokens: list[str] = []
        texts = _walk(codec, plan, strings, tok.eos_id, seed, tokens=tokens)
        row = {k: codec.text_value(k, v) for k, v in texts.items()}
        assert check_rows([row], meta) == [] and not conditions.unmet(row), texts
        joined |= {t for t in tokens if t.startswith(", ") and t.endswith(" is ")}
    assert len(joined) >= 5  # the walks used the joined tokens for most columns
    index = {c.name: i for i, c in enumerate(codec.columns)}
    grammar, _ = RowGrammar.conditioned(RowPlan.build(codec, parse_conditions("age = 70", meta), meta.constraints),
                                        [index["age"]])
    allowed = {strings[i] for i in TokenIndex(strings, tok.eos_id).allowed(grammar)}
    assert {", sex is ", ", low is "} <= allowed and "age is " not in allowed  # age is written already
    grammar.commit(", sex is ")
    assert grammar.state == ("V", index["sex"], "") and grammar.done == {index["age"]: "70"}


def test_conditions_that_leave_nothing_are_refused() -> None:
    df = _table()
    meta = detect_metadata(df, fixed_combinations=[("site", "stage")])
    codec = RowCodec.build(df, meta)
    with pytest.raises(ConfigError, match="age"):
        RowPlan.build(codec, parse_conditions("age = 30.5", meta), meta.constraints)  # not on the integer grid


def test_conditioned_prefix_is_the_fixed_values() -> None:
    df = _table()
    meta = detect_metadata(df)
    codec = RowCodec.build(df, meta)
    plan = RowPlan.build(codec, parse_conditions("sex = M and age = 70", meta), meta.constraints)
    index = {c.name: i for i, c in enumerate(codec.columns)}
    grammar, prefix = RowGrammar.conditioned(plan, [index["age"], index["sex"]])
    assert prefix == "age is 70, sex is M"
    assert grammar.state == ("V", index["sex"], "M")
