"""Finding values of one type anywhere inside a parameters model (input files, component specs)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


def find_nested(value: Any, kind: type[T], prefix: str = "") -> list[tuple[str, T]]:
    """Every instance of `kind` inside `value` (nested models, lists, tuples and dicts), with its dotted path."""
    found: list[tuple[str, T]] = []

    def visit(item: Any, where: str) -> None:
        if isinstance(item, kind):
            found.append((where, item))
        elif isinstance(item, BaseModel):
            for name in type(item).model_fields:
                visit(getattr(item, name), f"{where}.{name}" if where else name)
        elif isinstance(item, (list, tuple)):
            for i, element in enumerate(item):
                visit(element, f"{where}[{i}]")
        elif isinstance(item, dict):
            for key, element in item.items():
                visit(element, f"{where}.{key}")

    visit(value, prefix)
    return found
