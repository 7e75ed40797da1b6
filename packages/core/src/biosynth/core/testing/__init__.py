"""Test kit for biosynth plugins: a deterministic fake LanguageModel and contract-test mixins."""

from biosynth.core.testing._cli_process import run_cli_watching
from biosynth.core.testing._contracts import GeneratorContract, LanguageModelContract
from biosynth.core.testing._fake_llm import FakeLanguageModel, instance_for_schema, position_logprobs
from biosynth.core.testing._server import wait_for_port
from biosynth.core.testing._tiny_gguf import write_tiny_gguf

__all__ = ["FakeLanguageModel", "GeneratorContract", "LanguageModelContract", "instance_for_schema", "position_logprobs",
           "run_cli_watching", "wait_for_port", "write_tiny_gguf"]
