"""Generator hygiene: Params come from the generic, and a generator's name is its entry point's."""

from __future__ import annotations

import pytest

from biosynth.core import Draft, Generator, GeneratorParams, Registry, RegistryError, SampleRequest, StepContext, TextPayload
from biosynth.core._generator import generator_class
from biosynth.core._registry import Group


class HelloParams(GeneratorParams):
    greeting: str = "hello"


class Hello(Generator[HelloParams]):
    name = "hello"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        return Draft(payload=TextPayload(text=self.params.greeting))


def test_params_are_taken_from_the_generic_argument() -> None:
    assert Hello.Params is HelloParams
    assert Hello({"greeting": "hi"}).params.greeting == "hi"


def test_a_second_params_declaration_is_refused_even_when_it_is_the_same_class() -> None:
    with pytest.raises(TypeError, match="declare it once"):
        class Again(Generator[HelloParams]):
            name = "again"
            Params = HelloParams


def test_a_second_different_params_declaration_is_refused() -> None:
    class OtherParams(GeneratorParams):
        pass

    with pytest.raises(TypeError, match="declare it once"):
        class Twice(Generator[HelloParams]):
            name = "twice"
            Params = OtherParams


def test_a_generator_whose_name_is_not_its_entry_point_is_refused() -> None:
    registry = Registry(discover=False)
    registry.register(Group.GENERATORS, "greeter", Hello)
    with pytest.raises(RegistryError, match=r"'greeter' resolves to .*Hello, whose `name` is 'hello'"):
        generator_class(registry, "greeter")
    registry.register(Group.GENERATORS, "hello", Hello)
    assert generator_class(registry, "hello") is Hello
