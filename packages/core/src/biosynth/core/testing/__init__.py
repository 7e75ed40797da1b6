"""Test kit for biosynth plugins: a deterministic fake LanguageModel and contract-test mixins."""

from biosynth.core.testing._contracts import GeneratorContract, LanguageModelContract
from biosynth.core.testing._fake_llm import FakeLanguageModel, instance_for_schema, position_logprobs

__all__ = ["FakeLanguageModel", "GeneratorContract", "LanguageModelContract", "instance_for_schema", "position_logprobs"]
