"""The `llamacpp` backend: GGUF models in process with llama.cpp (llama-cpp-python), JSON schemas by grammar."""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import (
    BaseLanguageModel,
    ChatRequest,
    Completion,
    ConfigError,
    InputDataError,
    ModelRef,
    weights_sha256,
)
from biosynth.core._validation import describe_validation_error
from biosynth.text._backends import embedded as _embedded
from biosynth.text._backends.gguf import check_gguf
from biosynth.text._backends.logprobs import chat_logprobs


class LlamaCppParams(BaseModel):
    """Parameters of the `llamacpp` backend (the `params` of a `BackendSpec`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: Path | None = Field(None, description="a .gguf file; None: the embedded SmolLM2-135M-Instruct")
    name: str | None = Field(None, description="model name recorded in provenance (default: the file name)")
    license: str | None = None
    context_length: int = Field(2048, ge=64, description="llama.cpp n_ctx")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: llama.cpp's choice)")
    gpu_layers: int = Field(0, ge=-1, description="layers offloaded to a GPU (-1: all); 0 on a CPU-only build")
    chat_format: str | None = Field(None, description="override the chat template stored in the GGUF")
    logprobs: bool = Field(False, description="keep every position's logits (llama.cpp's logits_all) so that requests "
                                              "with top_logprobs get token log-probabilities (a judge's G-Eval "
                                              "score); costs context_length x vocabulary floats of memory")


class LlamaCppLanguageModel(BaseLanguageModel):
    """Fast CPU generation of GGUF models with llama.cpp.

    Each request is decoded on its own with its own seed, so batch composition never changes an
    output. JSON-schema output is enforced by llama.cpp's grammar sampler. llama.cpp is not safe for
    concurrent calls on one model, so calls are serialised with a lock.
    """

    remote: ClassVar[bool | None] = False  # runs in this process: prompts stay on the machine

    def __init__(self, **params: Any) -> None:
        self.params = self.check_params(params)
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError("the `llamacpp` backend needs llama-cpp-python: pip install 'biosynth-text[llamacpp]' "
                              "(it compiles llama.cpp; see the biosynth-text README for portable build flags)") from None
        if self.params.model is None:
            embedded = _embedded.embedded_model()
            path, name, license_ = embedded.path, _embedded.MODEL_NAME, _embedded.LICENSE
            revision: str | None = _embedded.revision(embedded.version)
        else:
            path, name, license_ = self.params.model, self.params.name or self.params.model.name, self.params.license
            revision = None
        check_gguf(path)
        self._path, self._name, self._license, self._revision = path, name, license_, revision
        self._sha256 = weights_sha256(path)
        self._lock = threading.Lock()
        log = io.StringIO()
        try:
            with contextlib.redirect_stderr(log):
                self._llama = Llama(model_path=str(path), n_ctx=self.params.context_length, n_threads=self.params.threads,
                                    n_gpu_layers=self.params.gpu_layers, chat_format=self.params.chat_format,
                                    logits_all=self.params.logprobs, seed=0, verbose=False)
        except (ValueError, RuntimeError) as err:
            raise InputDataError(f"llama.cpp could not load {str(path)!r} ({err}); is it a complete, uncorrupted "
                                 "GGUF file of a model architecture llama.cpp supports?") from None

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> LlamaCppParams:
        try:
            return LlamaCppParams.model_validate(params)
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, what="parameters of backend 'llamacpp'")) from None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self._name, backend="llamacpp", revision=self._revision, sha256=self._sha256,
                        license=self._license)

    @property
    def supports_json_schema(self) -> bool:
        return True

    @property
    def supports_logprobs(self) -> bool:
        return self.params.logprobs

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        return [self._one(r) for r in requests]

    def _one(self, request: ChatRequest) -> Completion:
        decoding = request.decoding
        if decoding.min_new_tokens:
            raise ConfigError("llama.cpp has no minimum generation length; drop min_new_tokens for the llamacpp backend")
        args: dict[str, Any] = {
            "messages": [m.model_dump() for m in request.messages],
            "temperature": decoding.temperature, "top_p": decoding.top_p, "top_k": decoding.top_k or 0,
            "repeat_penalty": decoding.repetition_penalty, "max_tokens": decoding.max_new_tokens,
            "stop": list(decoding.stop) or None, "seed": request.effective_seed,
        }
        if request.json_schema is not None:
            args["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if request.top_logprobs is not None and self.params.logprobs:
            args.update(logprobs=True, top_logprobs=request.top_logprobs)
        with self._lock:
            self._llama.reset()
            try:
                response = self._llama.create_chat_completion(**args)
            except ValueError as err:
                if "exceed context window" in str(err):
                    raise ConfigError(f"the prompt does not fit the model's context ({err}); shorten the prompt, "
                                      "lower max_new_tokens, or raise context_length") from None
                raise
        choice = response["choices"][0]
        usage = response["usage"]
        return Completion(
            text=choice["message"]["content"] or "", prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            finish_reason="length" if choice["finish_reason"] == "length" else "stop", model=self.model_ref,
            logprobs=chat_logprobs(choice.get("logprobs")) if "logprobs" in args else None,
        )

