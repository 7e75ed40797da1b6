"""Components: one spec, one resolution call, one fingerprint rule, and a policy that fails closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import Field

from biosynth.core import (
    BaseLanguageModel,
    ChatRequest,
    Completion,
    Component,
    ComponentKind,
    ComponentSpec,
    ConfigError,
    Draft,
    Generator,
    GeneratorParams,
    InputFile,
    ModelRef,
    PolicyError,
    Registry,
    RegistryError,
    SampleRequest,
    StepContext,
    TextPayload,
    parse_recipe,
    plan,
    runs_remotely,
    weights_sha256,
)
from biosynth.core._components import TEST_DOUBLES_ENV, find_components
from biosynth.core._registry import Group


class Undeclared(BaseLanguageModel):
    """A plugin backend that never says where it runs."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name="undeclared", backend="undeclared")

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        return [Completion(text="x", prompt_tokens=1, completion_tokens=1, finish_reason="stop", model=self.model_ref)
                for _ in requests]


class Local(Undeclared):
    remote: ClassVar[bool | None] = False


class Voice(Component):
    """A TTS-voice component declared local, with a weights file."""

    kind: ClassVar[ComponentKind] = ComponentKind.TTS_VOICE
    remote: ClassVar[bool | None] = False
    loads: ClassVar[int] = 0

    def __init__(self, path: str) -> None:
        type(self).loads += 1
        self.path = Path(path)

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.path.name, backend="voice", sha256=weights_sha256(self.path))


class Nested(GeneratorParams):
    voices: list[ComponentSpec] = Field(default_factory=list)


class SpeakParams(GeneratorParams):
    model: ComponentSpec = ComponentSpec(backend="undeclared")
    data: InputFile | None = None
    nested: Nested = Nested()


class Speak(Generator[SpeakParams]):
    name = "speak"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        return Draft(payload=TextPayload(text="hi"))


def registry() -> Registry:
    reg = Registry(discover=False)
    reg.register(Group.GENERATORS, "speak", Speak)
    reg.register(Group.LLM_BACKENDS, "undeclared", Undeclared)
    reg.register(Group.LLM_BACKENDS, "local", Local)
    reg.register(Group.TTS_VOICES, "voice", Voice)
    return reg


def recipe(tmp_path: Path, model: dict[str, Any], *, real: bool = True) -> Any:
    (tmp_path / "rows.csv").write_text("a\n1\n")
    return parse_recipe({"name": "r", "seed": 1, "steps": [{"name": "s", "generator": "speak", "count": 1, "params": {
        "model": model, "data": {"path": "rows.csv", "real": real}}}]})


def test_a_backend_that_does_not_declare_where_it_runs_is_refused_real_data(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"remote language model 'undeclared'.*does not declare where it runs"):
        plan(recipe(tmp_path, {"backend": "undeclared"}), base_dir=tmp_path, registry=registry())
    # the same backend may take synthetic data (and is recorded as remote), and a declared-local one may take real data
    [entry] = plan(recipe(tmp_path, {"backend": "undeclared"}, real=False), base_dir=tmp_path, registry=registry())
    assert entry.decisions[0].remote is True
    [entry] = plan(recipe(tmp_path, {"backend": "local"}), base_dir=tmp_path, registry=registry())
    assert entry.decisions[0].remote is False and entry.decisions[0].real_data is True


def test_runs_remotely_reads_one_declaration() -> None:
    class ByParams(Undeclared):
        @classmethod
        def is_remote(cls, params: dict[str, Any]) -> bool | None:
            return None if params.get("unsure") else params.get("host") != "127.0.0.1"

    assert runs_remotely(Undeclared, {}) is True
    assert runs_remotely(Local, {}) is False
    assert runs_remotely(ByParams, {"host": "127.0.0.1"}) is False
    assert runs_remotely(ByParams, {"host": "example.org"}) is True
    assert runs_remotely(ByParams, {"unsure": True}) is True
    assert runs_remotely(object, {}) is True  # a plain class registered by a plugin declares nothing


def test_nested_components_are_found_and_checked_by_plan(tmp_path: Path) -> None:
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"weights")
    params = SpeakParams.model_validate({"model": {"backend": "local"}, "nested": {"voices": [
        {"kind": "tts_voice", "backend": "voice", "params": {"path": str(voice)}}]}})
    found = find_components(params)
    assert [(where, spec.kind) for where, spec in found] == [("model", ComponentKind.LANGUAGE_MODEL),
                                                            ("nested.voices[0]", ComponentKind.TTS_VOICE)]
    r = parse_recipe({"name": "r", "seed": 1, "steps": [{"name": "s", "generator": "speak", "count": 1, "params": {
        "model": {"backend": "local"}, "data": "rows.csv",
        "nested": {"voices": [{"kind": "tts_voice", "backend": "nowhere"}]}}}]})
    (tmp_path / "rows.csv").write_text("a\n1\n")
    with pytest.raises(RegistryError, match="unknown TTS-voice backend 'nowhere'; installed: voice"):
        plan(r, base_dir=tmp_path, registry=registry())


def test_ctx_component_loads_once_and_returns_the_fingerprinted_model_ref(tmp_path: Path) -> None:
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"weights")
    spec = ComponentSpec(kind=ComponentKind.TTS_VOICE, backend="voice", params={"path": str(voice)})
    ctx = StepContext(step="s", seed=1, root=tmp_path, registry=registry(), real_data=True)
    before = Voice.loads
    first = ctx.component(spec)
    second = ctx.component(spec)
    assert first is second and Voice.loads == before + 1
    assert first.model_ref.sha256 == weights_sha256(voice) and first.remote is False
    assert [d.as_dict()["kind"] for d in ctx.decisions] == ["tts_voice"]
    with pytest.raises(ConfigError, match="expected a language model, got a tts_voice 'voice'"):
        ctx.language_model(spec)


def test_the_fake_backend_is_refused_outside_tests(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ctx = StepContext(step="s", seed=1, root=tmp_path)
    monkeypatch.delenv(TEST_DOUBLES_ENV)
    with pytest.raises(RegistryError, match=r"'fake' is a test double .* refused outside tests"):
        ctx.language_model(ComponentSpec(backend="fake"))
    monkeypatch.setenv(TEST_DOUBLES_ENV, "1")
    assert ctx.language_model(ComponentSpec(backend="fake")).model_ref.backend == "fake"


def test_one_fingerprint_rule_for_files_and_folders(tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x00" * 64)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    (folder / "config.json").write_text("{}")
    print_before = weights_sha256(folder)
    (folder / "biosynth_model.json").write_text(json.dumps({"written_at": "now"}))  # the marker is not weights
    (folder / ".cache").mkdir()
    (folder / ".cache" / "lock").write_text("x")
    assert weights_sha256(folder) == print_before
    (folder / "config.json").write_text('{"hidden_size": 8}')
    assert weights_sha256(folder) != print_before
    assert weights_sha256(weights) == __import__("hashlib").sha256(b"\x00" * 64).hexdigest()


def test_a_recipe_without_kind_reads_as_a_language_model() -> None:
    spec = ComponentSpec.model_validate({"backend": "transformers", "params": {"model": "x"}})
    assert spec.kind is ComponentKind.LANGUAGE_MODEL and spec.describe() == "language_model 'transformers'"
