"""The `openai` backend against real servers on 127.0.0.1: llama.cpp's OpenAI-compatible server with the
embedded SmolLM2 model, and a small stdlib HTTP server that answers 503/429 before it succeeds."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from biosynth.core import (
    BackendSpec,
    ChatMessage,
    ChatRequest,
    ConfigError,
    DecodingConfig,
    Draft,
    Generator,
    GeneratorParams,
    Group,
    InputFile,
    PolicyError,
    PromptRef,
    Registry,
    Runner,
    SampleRequest,
    StepContext,
    SyntheticDataset,
    TextPayload,
    parse_recipe,
)
from biosynth.core._progress import LogProgress
from biosynth.core.testing import LanguageModelContract, wait_for_port
from biosynth.text._backends.embedded import embedded_model
from biosynth.text._backends.openai import OpenAILanguageModel


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port, serving the embedded SmolLM2 GGUF.

    llama-cpp-python's server ignores `cache_prompt` and always reuses the previous request's prompt prefix, so
    the same seeded request is evaluated once as a whole prompt and once as its last token alone; on CPUs whose
    kernels depend on the batch size the logits then differ. `--n_batch 1` evaluates every prompt token by
    token, which makes a seeded request repeat on any machine (the README's advice for repeatable server runs).
    """
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model().path), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "1024", "--n_threads", "2", "--model_alias", "smollm2",
             "--n_batch", "1", "--n_ubatch", "1"],
            stdout=handle, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_port(proc, port, log, what="llama_cpp.server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def ask(text: str, seed: int = 1, **decoding: object) -> ChatRequest:
    config = DecodingConfig(**{"max_new_tokens": 12, "temperature": 0.8, **decoding})
    return ChatRequest(messages=(ChatMessage(role="user", content=text),), decoding=config, seed=seed)


class TestLlamaCppServerContract(LanguageModelContract):
    @pytest.fixture(autouse=True)
    def _server(self, llama_server: str) -> None:
        self.url = llama_server

    def make_model(self) -> OpenAILanguageModel:
        return OpenAILanguageModel(model="smollm2", base_url=self.url, server="llamacpp", max_concurrency=3)


def test_local_server_is_local_and_needs_no_key(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAILanguageModel(model="smollm2", base_url=llama_server, server="llamacpp")
    assert not OpenAILanguageModel.is_remote({"base_url": llama_server})
    assert OpenAILanguageModel.is_remote({"base_url": "https://api.openai.com/v1"})
    assert OpenAILanguageModel.is_remote({})
    assert model.model_ref.remote is False and model.model_ref.endpoint == llama_server
    [completion] = model.generate([ask("Name one symptom of asthma.", temperature=0.0)])
    assert completion.text.strip() and completion.prompt_tokens > 5 and 0 < completion.completion_tokens <= 12


def test_stop_and_length(llama_server: str) -> None:
    model = OpenAILanguageModel(model="smollm2", base_url=llama_server, server="llamacpp")
    [long] = model.generate([ask("Write a long discharge summary.", max_new_tokens=5, temperature=0.0)])
    assert long.finish_reason == "length" and long.completion_tokens == 5


def test_openai_dialect_refuses_what_the_api_lacks(llama_server: str) -> None:
    model = OpenAILanguageModel(model="smollm2", base_url=llama_server)
    with pytest.raises(ConfigError, match="the OpenAI API has no top_k"):
        model.generate([ask("x", top_k=5)])


def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = OpenAILanguageModel(model="m", base_url=url, max_retries=0, timeout_s=5)
    with pytest.raises(ConfigError, match=r"cannot reach the server at http://127\.0\.0\.1:\d+/v1"):
        model.generate([ask("hello")])


def test_remote_server_needs_the_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIOSYNTH_REMOTE_KEY", raising=False)
    with pytest.raises(ConfigError, match="environment variable BIOSYNTH_REMOTE_KEY is not set"):
        OpenAILanguageModel(model="gpt-x", base_url="https://api.example.org/v1", api_key_env="BIOSYNTH_REMOTE_KEY")
    with pytest.raises(ConfigError, match="is not an environment variable name"):
        OpenAILanguageModel(model="gpt-x", base_url="https://api.example.org/v1", api_key_env="sk-live-123")


class _Flaky(BaseHTTPRequestHandler):
    """Answers the first `failures` chat requests with the given status, then a valid completion."""

    failures: ClassVar[list[int]] = []
    seen: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        type(self).seen.append(time.monotonic())
        if type(self).failures:
            status = type(self).failures.pop(0)
            payload = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
            self.send_response(status)
            self.send_header("Retry-After", "0")
        else:
            payload = json.dumps({
                "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"ok seed {body['seed']}"}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
            }).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def test_retries_429_and_5xx_then_succeeds(flaky_server: str) -> None:
    _Flaky.failures, _Flaky.seen = [429, 503, 500], []
    model = OpenAILanguageModel(model="m", base_url=flaky_server, max_retries=4)
    [completion] = model.generate([ask("hi", seed=42)])
    assert completion.text == "ok seed 42" and (completion.prompt_tokens, completion.completion_tokens) == (7, 3)
    assert len(_Flaky.seen) == 4

    _Flaky.failures, _Flaky.seen = [503, 503, 503], []
    model = OpenAILanguageModel(model="m", base_url=flaky_server, max_retries=1)
    with pytest.raises(ConfigError, match="answered HTTP 503 for model 'm': slow down"):
        model.generate([ask("hi")])
    assert len(_Flaky.seen) == 2


class _AskParams(GeneratorParams):
    model: BackendSpec
    examples: InputFile


class _Ask(Generator[_AskParams]):
    """Puts an example file into a prompt: the shape of any few-shot generator, for the policy test."""

    name = "ask"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        model = ctx.language_model(self.params.model)
        template = "Example: {x}\nWrite a similar one-line note."
        rendered = template.format(x=self.params.examples.path.read_text().strip())
        [c] = model.generate([ask(rendered, seed=request.seed, temperature=0.0)])
        return Draft(payload=TextPayload(text=c.text), model=c.model,
                     prompt=PromptRef.build("ask-v1", template, rendered, redact=ctx.redact_prompts))


def test_policy_keeps_real_data_off_remote_servers(tmp_path: Path, llama_server: str) -> None:
    (tmp_path / "real.txt").write_text("67M with NSTEMI, troponin 2.3")
    registry = Registry()
    registry.register(Group.GENERATORS, "ask", _Ask)

    def recipe(base_url: str) -> dict:
        return {"name": "p", "steps": [{"name": "notes", "generator": "ask", "count": 2, "params": {
            "examples": "real.txt",
            "model": {"backend": "openai", "params": {"model": "smollm2", "base_url": base_url, "server": "llamacpp",
                                                      "api_key_env": None}}}}]}

    with pytest.raises(PolicyError, match="would send real data to the remote language model 'openai'"):
        Runner(parse_recipe(recipe("https://api.example.org/v1")), tmp_path / "remote", base_dir=tmp_path,
               registry=registry, progress=LogProgress()).run()
    assert not (tmp_path / "remote").exists()

    manifest = Runner(parse_recipe(recipe(llama_server)), tmp_path / "local", base_dir=tmp_path, registry=registry,
                      progress=LogProgress()).run()
    assert manifest.steps["notes"].produced == 2
    assert manifest.policy_decisions[0]["remote"] is False
    record = SyntheticDataset(tmp_path / "local").records()[0]
    assert record.provenance.prompt.redacted and record.provenance.prompt.rendered is None
    assert "troponin" not in (tmp_path / "local" / "manifest.json").read_text()


def test_validate_checks_backend_parameters_without_a_server(tmp_path: Path) -> None:
    from biosynth.core import plan

    recipe = parse_recipe({"name": "v", "steps": [{"name": "notes", "generator": "clinical_note", "count": 1, "params": {
        "model": {"backend": "openai", "params": {"model": "m", "base_url": "http://127.0.0.1:9/v1", "retries": 3}}}}]})
    with pytest.raises(ConfigError, match="parameters of backend 'openai' is invalid: retries: Extra inputs"):
        plan(recipe, base_dir=tmp_path)


def test_llamacpp_dialect_asks_for_a_fresh_prompt_evaluation() -> None:
    """Seeded requests repeat only when the server evaluates the whole prompt each time (no prefix reuse)."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    llama = OpenAILanguageModel(model="m", base_url=url, server="llamacpp")._arguments(ask("x", seed=3))
    assert llama["extra_body"]["cache_prompt"] is False and llama["seed"] is not None
    plain = OpenAILanguageModel(model="m", base_url=url, server="openai", api_key_env=None)._arguments(ask("x"))
    assert "cache_prompt" not in plain.get("extra_body", {})
