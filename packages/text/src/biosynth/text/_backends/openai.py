"""The `openai` backend: any OpenAI-compatible chat server (OpenAI, Azure, vLLM, llama.cpp, Ollama)."""

from __future__ import annotations

import ipaddress
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import (
    BaseLanguageModel,
    ChatRequest,
    Completion,
    ConfigError,
    ModelRef,
    secret_from_env,
)
from biosynth.core._validation import describe_validation_error
from biosynth.text._backends.logprobs import chat_logprobs

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


class OpenAIParams(BaseModel):
    """Parameters of the `openai` backend, as a recipe gives them under `model.params`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1, description="model name the server knows")
    base_url: str = Field("https://api.openai.com/v1", description="the server's /v1 URL")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="environment variable holding the key")
    max_concurrency: int = Field(4, ge=1, le=256, description="requests in flight at once")
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20, description="retries with exponential backoff on 408/429/5xx")
    server: Literal["openai", "llamacpp", "vllm"] = Field(
        "openai", description="dialect: decides how top_k, repetition penalty and JSON schemas are sent"
    )
    license: str | None = None
    logprobs: bool = Field(True, description="the server returns token log-probabilities when asked (OpenAI, vLLM and "
                                             "llama.cpp's server do); False: requests with top_logprobs get none")


def _is_loopback(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAILanguageModel(BaseLanguageModel):
    """Chat completions over HTTP with bounded concurrency, retries with backoff, and timeouts.

    The key is read from the environment variable named by `api_key_env`; only that name is recorded.
    A server on a loopback address counts as local for the data Policy; anything else is remote.
    Retries and backoff are the `openai` client's own (429, 408, 409 and 5xx are retried).
    """

    remote = True

    def __init__(self, **params: Any) -> None:
        self.params = self.check_params(params)
        try:
            import openai
        except ImportError:
            raise ConfigError("the `openai` backend needs the openai client: pip install 'biosynth-text[openai]'") from None
        self._openai = openai
        self._local = _is_loopback(self.params.base_url)
        key_env = self.params.api_key_env
        if key_env and (not self._local or os.environ.get(key_env)):
            api_key = secret_from_env(key_env, purpose=f"API key for {self.params.base_url}")
        else:
            api_key = "no-key"  # local servers (llama.cpp, vLLM) accept any key; nothing secret to store
        self._client = openai.OpenAI(base_url=self.params.base_url, api_key=api_key,
                                     timeout=self.params.timeout_s, max_retries=self.params.max_retries)

    @classmethod
    def is_remote(cls, params: dict[str, Any]) -> bool:
        return not _is_loopback(str(params.get("base_url", OpenAIParams.model_fields["base_url"].default)))

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> OpenAIParams:
        try:
            return OpenAIParams.model_validate(params)
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, what="parameters of backend 'openai'")) from None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.params.model, backend="openai", endpoint=self.params.base_url,
                        api_key_env=self.params.api_key_env, remote=not self._local, license=self.params.license)

    @property
    def supports_json_schema(self) -> bool:
        return True

    @property
    def supports_logprobs(self) -> bool:
        return self.params.logprobs

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        workers = min(self.params.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="biosynth-openai") as pool:
            return list(pool.map(self._one, requests))

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        decoding = request.decoding
        extra: dict[str, Any] = {}
        args: dict[str, Any] = {
            "model": self.params.model,
            "messages": [m.model_dump() for m in request.messages],
            "temperature": decoding.temperature,
            "top_p": decoding.top_p,
            "max_tokens": decoding.max_new_tokens,
            "seed": request.effective_seed,
        }
        if decoding.stop:
            args["stop"] = list(decoding.stop)
        extensions = {"top_k": decoding.top_k, "repetition_penalty": decoding.repetition_penalty}
        wanted = {k: v for k, v in extensions.items() if v is not None and not (k == "repetition_penalty" and v == 1.0)}
        if decoding.min_new_tokens:
            wanted["min_tokens"] = decoding.min_new_tokens
        if wanted and self.params.server == "openai":
            raise ConfigError(
                f"the OpenAI API has no {', '.join(sorted(wanted))}; drop them from the decoding settings, or set "
                "`server: llamacpp` or `server: vllm` for a server that accepts them"
            )
        if self.params.server == "llamacpp":
            # A seeded request must repeat: llama.cpp's server otherwise reuses the previous request's prompt prefix
            # and evaluates only the rest, and a different batch shape gives different logits on some CPUs.
            extra["cache_prompt"] = False
            names = {"top_k": "top_k", "repetition_penalty": "repeat_penalty", "min_tokens": "min_keep"}
            extra.update({names[k]: v for k, v in wanted.items() if k != "min_tokens"})
            if "min_tokens" in wanted:
                raise ConfigError("llama.cpp's server has no minimum length; drop min_new_tokens")
        elif self.params.server == "vllm":
            extra.update(wanted)
        if request.json_schema is not None:
            if self.params.server == "llamacpp":
                # llama.cpp's server answers `json_schema` with HTTP 500; its own form is json_object + schema.
                args["response_format"] = {"type": "json_object", "schema": request.json_schema}
            else:
                args["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "output", "schema": request.json_schema, "strict": True}}
        if request.top_logprobs is not None and self.params.logprobs:
            args.update(logprobs=True, top_logprobs=request.top_logprobs)
        if extra:
            args["extra_body"] = extra
        return args

    def _one(self, request: ChatRequest) -> Completion:
        openai = self._openai
        arguments = self._arguments(request)
        try:
            response = self._client.chat.completions.create(**arguments)
        except openai.APITimeoutError:
            raise ConfigError(f"the server at {self.params.base_url} did not answer within {self.params.timeout_s} s "
                              f"(after {self.params.max_retries} retries); raise timeout_s or check the server") from None
        except openai.APIConnectionError as err:
            raise ConfigError(f"cannot reach the server at {self.params.base_url} ({err.__cause__ or err}); is it "
                              "running, and is base_url right (it ends in /v1)?") from None
        except openai.AuthenticationError:
            raise ConfigError(f"the server at {self.params.base_url} refused the key from "
                              f"${self.params.api_key_env} (HTTP 401)") from None
        except openai.APIStatusError as err:
            raise ConfigError(f"the server at {self.params.base_url} answered HTTP {err.status_code} for model "
                              f"{self.params.model!r}: {_message(err)}") from None
        except (openai.APIResponseValidationError, ValueError) as err:  # ValueError: a body that is not JSON
            raise self._not_a_completion(err) from None
        try:
            choice = response.choices[0]
            text = choice.message.content or ""
            finish = choice.finish_reason
            usage = response.usage
        except (AttributeError, IndexError, KeyError, TypeError) as err:  # JSON (or text) of another shape
            raise self._not_a_completion(err) from None
        if usage is None:
            raise ConfigError(f"the server at {self.params.base_url} reported no token usage; biosynth records token "
                              "counts for every completion, so it needs a server that reports them")
        try:
            logprobs = None
            if "logprobs" in arguments:
                if choice.logprobs is None or not choice.logprobs.content:
                    raise ConfigError(f"the server at {self.params.base_url} gave no token log-probabilities although "
                                      "they were asked for; set `logprobs: false` for a server that cannot give them")
                logprobs = chat_logprobs(choice.logprobs)
            return Completion(text=text, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                              finish_reason="length" if finish == "length" else "stop", model=self.model_ref,
                              logprobs=logprobs)
        except (AttributeError, ValidationError) as err:
            raise self._not_a_completion(err) from None

    def _not_a_completion(self, err: Exception) -> ConfigError:
        detail = str(err).splitlines()[0] if str(err) else ""
        return ConfigError(f"the server at {self.params.base_url} answered, but not with an OpenAI chat completion "
                           f"({type(err).__name__}: {detail[:200]}); check that base_url is an OpenAI-compatible "
                           "server's /v1 URL")


def _message(err: Exception) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(err)
