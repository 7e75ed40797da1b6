"""Prompt templates with one id convention, `<name>/v<N>` (`<family>/<name>/v<N>` where a package has several
families), hashed into every sample's provenance.

A template is `string.Template` text (`$name` / `${name}`, `$$` for a dollar sign): no attribute access or
code, unlike `str.format`. Change a shipped template's text only together with a new version in its id,
so that datasets made with different prompts can be told apart; a user's own template gets the id
`<base id>+custom` and its own sha256.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core._hashing import sha256_text
from biosynth.core._provenance import PromptRef

TEMPLATE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*/v[0-9]+(\+custom)?$")


class PromptTemplate(BaseModel):
    """A versioned prompt template: `id` (e.g. `clinical-note/v1`) and its text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="`[<family>/]<name>/v<N>`, with `+custom` for a user's own text")
    text: str

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not TEMPLATE_ID.match(self.id):
            raise ValueError(f"template id {self.id!r} does not follow `<name>/v<N>` or `<family>/<name>/v<N>` (lower "
                             "case, e.g. 'clinical-note/v1'), with an optional '+custom' suffix")
        if not string.Template(self.text).is_valid():
            raise ValueError(f"template {self.id!r}: invalid placeholder syntax; use ${{name}} or $name, and $$ for "
                             "a dollar sign")
        return self

    @property
    def sha256(self) -> str:
        return sha256_text(self.text)

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(string.Template(self.text).get_identifiers())

    def custom(self, text: str) -> PromptTemplate:
        """A user's replacement text for this template: same id with `+custom`, its own hash."""
        base = self.id.removesuffix("+custom")
        return PromptTemplate(id=f"{base}+custom", text=text)

    def problems(self, allowed: Iterable[str]) -> list[str]:
        """Why this template cannot be filled from the fields `allowed`: placeholders nobody fills."""
        unknown = sorted(self.placeholders - set(allowed))
        return [f"unknown placeholders {unknown}; available: {sorted(allowed)}"] if unknown else []

    def render(self, fields: Mapping[str, object]) -> str:
        """The text with every placeholder filled (a missing field raises KeyError naming it)."""
        return string.Template(self.text).substitute({k: str(v) for k, v in fields.items()})

    def prompt_ref(self, rendered: str, *, redact: bool) -> PromptRef:
        """The provenance of one rendered prompt: this template's id and hash, the text or only its hash."""
        return PromptRef.build(self.id, self.text, rendered, redact=redact)
