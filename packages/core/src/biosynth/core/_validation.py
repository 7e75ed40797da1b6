"""Turn pydantic validation errors into one readable paragraph naming each field at fault."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def _location(loc: tuple[Any, ...], names: dict[int, str] | None = None) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            label = names.get(item) if names and i == 1 and loc[0] == "steps" else None
            parts.append(f"[{item}]" + (f" ({label})" if label else ""))
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_validation_error(error: ValidationError, *, what: str, step_names: dict[int, str] | None = None) -> str:
    """One paragraph: `what` is invalid, then `field: message (got value)` for each problem."""
    problems = []
    items = error.errors(include_url=False)
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(tuple(other["loc"])[:len(loc)] == loc and len(other["loc"]) > len(loc)
                                               for other in items):
            continue  # a list is short only because its items failed (pydantic counts the valid ones): say why once
        where = _location(tuple(item["loc"]), step_names)
        message = item["msg"].removeprefix("Value error, ")
        got = item.get("input")
        shown = "" if item["type"] in {"missing"} or isinstance(got, dict) else f" (got {got!r})"
        problems.append(f"{where}: {message}{shown}")
    return f"{what} is invalid: " + "; ".join(problems) + "."
