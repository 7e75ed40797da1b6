"""The `transformers` backend: any causal LM from a local folder, a GGUF file, or a hub id."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import (
    BaseLanguageModel,
    ChatRequest,
    Completion,
    ConfigError,
    InputDataError,
    ModelRef,
    PositionLogprobs,
    TokenLogprob,
    gguf_as_folder,
    gguf_general_metadata,
    read_marker,
    weights_sha256,
)
from biosynth.text._backends import embedded as _embedded
from biosynth.text._backends.gguf import check_gguf

if TYPE_CHECKING:  # torch and transformers load with a model, not for `biosynth validate`'s parameter check
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger("biosynth.text")

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class TransformersConfig(BaseModel):
    """Parameters of the `transformers` backend (the `params` of a `BackendSpec`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str | None = Field(
        None, description="a model folder, a .gguf file, or a hub id; None: the embedded SmolLM2-135M-Instruct")
    gguf_file: str | None = Field(None, description="name of the .gguf file inside the `model` folder")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    name: str | None = Field(None, description="model name recorded in provenance (default: from the source)")
    license: str | None = Field(None, description="license recorded in provenance (default: from the model card)")
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:1', or 'auto' (cuda when available)")
    batch_size: int = Field(16, ge=1, le=4096, description="prompts per forward pass")
    num_threads: int | None = Field(
        None, ge=1, description="torch CPU threads for the whole process (torch.set_num_threads); None: torch's default")
    context_length: int | None = Field(None, ge=1, description="override the model's maximum positions")
    chat_template: str | None = Field(None, description="a Jinja chat template replacing the tokenizer's")
    attn_implementation: Literal["eager", "sdpa"] | None = None
    gguf_cache: bool = Field(
        True, description="load a GGUF through its dequantised safetensors folder in biosynth's cache (core's "
        "gguf_as_folder: converted on first use, then seconds instead of ~50 s for the embedded model); false: "
        "dequantise from the GGUF on every load")


@dataclass(frozen=True)
class _Source:
    """Where the weights come from: a local folder (optionally with a GGUF file in it) or a hub id."""

    kind: Literal["embedded", "gguf", "folder", "hub"]
    location: str
    gguf_file: str | None = None
    version: str | None = None

    @property
    def gguf_path(self) -> Path | None:
        """The local GGUF file (None for folders and hub models)."""
        return Path(self.location) / self.gguf_file if self.gguf_file and self.kind != "hub" else None


class TransformersLanguageModel(BaseLanguageModel):
    """Runs a causal LM in process with transformers: chat templates, batched decoding with left padding
    and a KV cache, seeded per request (a sample does not depend on the other prompts of its batch).

    `trust_remote_code` is never enabled: a model that needs custom code is refused by transformers.
    JSON-schema-constrained output is not supported (generators validate and retry).
    """

    remote: ClassVar[bool | None] = False  # runs in this process: prompts stay on the machine

    def __init__(self, config: TransformersConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError("give the transformers backend either a TransformersConfig or keyword parameters")
        self.config = config or self.check_params(params)
        self._source = _resolve_source(self.config)
        self._device = _device(self.config.device)
        gguf = self._source.gguf_path
        self._gguf_sha256 = weights_sha256(gguf) if gguf is not None and gguf.is_file() else None
        self._gguf_folder: Path | None = None  # the GGUF's converted folder in biosynth's cache, once loaded
        if self.config.num_threads is not None:
            import torch

            torch.set_num_threads(self.config.num_threads)
        self.tokenizer, self.model = self._load()
        self._ref = self._reference()
        self._eos_ids = _eos_ids(self.model, self.tokenizer)
        self._pad_id = _pad_id(self.tokenizer, self._eos_ids)
        self.context_length = self.config.context_length or _max_positions(self.model)
        self.last_token_ids: list[tuple[int, ...]] = []  # the last `generate` call's token ids, in request order

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> TransformersConfig:
        """Validate a BackendSpec's params without loading anything (for `biosynth validate`)."""
        try:
            config = TransformersConfig.model_validate(params)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in err.errors())
            raise ConfigError(f"transformers backend parameters: {problems}") from None
        _resolve_source(config)
        return config

    # -- loading ------------------------------------------------------------------------------
    def _load(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        source = self._source
        location = source.location
        kwargs: dict[str, Any] = {"trust_remote_code": False, "local_files_only": source.kind != "hub"}
        if source.gguf_file and self.config.gguf_cache:
            assert source.gguf_path is not None
            try:  # the same weights, dequantised once into biosynth's cache; provenance still names the GGUF
                self._gguf_folder = gguf_as_folder(source.gguf_path, sha256=self._gguf_sha256)
                location = str(self._gguf_folder)
            except (ConfigError, InputDataError):
                raise
            except Exception as err:  # a GGUF transformers cannot convert: one clear, user-facing error
                raise _load_error(source, err) from err
            kwargs["use_safetensors"] = True
        elif source.gguf_file:
            kwargs["gguf_file"] = source.gguf_file
        else:
            kwargs["use_safetensors"] = True  # never unpickle .bin weights
        if self.config.revision:
            kwargs["revision"] = self.config.revision
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_kwargs: dict[str, Any] = {"dtype": getattr(torch, self.config.dtype)}
        if self.config.attn_implementation:
            model_kwargs["attn_implementation"] = self.config.attn_implementation
        log.info("loading %s model %s%s", source.kind, source.location,
                 f" ({source.gguf_file})" if source.gguf_file else "")
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(location, **kwargs, **model_kwargs)
        except Exception as err:  # any loader failure becomes one clear, user-facing error
            raise _load_error(source, err) from err
        model.to(self._device)  # type: ignore[arg-type]  # transformers types `.to` through a decorator
        model.eval()
        return tokenizer, model

    def _reference(self) -> ModelRef:
        source, config = self._source, self.config
        gguf = source.gguf_path
        if gguf is None:
            metadata: dict[str, Any] = {}
        else:  # the conversion keeps a copy in its marker: parsing the GGUF again takes seconds
            kept = read_marker(self._gguf_folder).get("gguf_general") if self._gguf_folder is not None else None
            metadata = dict(kept) if isinstance(kept, dict) else gguf_general_metadata(gguf)
        if source.kind == "embedded":
            assert gguf is not None
            return ModelRef(name=config.name or _embedded.MODEL_NAME, backend="transformers",
                            revision=_embedded.revision(source.version), sha256=self._gguf_sha256,
                            license=config.license or str(metadata.get("general.license") or _embedded.LICENSE))
        if gguf is not None:
            return ModelRef(name=config.name or gguf.stem, backend="transformers", revision=config.revision,
                            sha256=self._gguf_sha256,
                            license=config.license or _str_or_none(metadata.get("general.license")))
        if source.kind == "folder":
            folder = Path(source.location)
            return ModelRef(name=config.name or folder.resolve().name, backend="transformers",
                            revision=config.revision, sha256=weights_sha256(folder),
                            license=config.license or _card_license(folder / "README.md"))
        commit = getattr(self.model.config, "_commit_hash", None)
        return ModelRef(name=config.name or source.location, backend="transformers",
                        revision=commit or config.revision, license=config.license)

    @property
    def model_ref(self) -> ModelRef:
        return self._ref

    @property
    def supports_logprobs(self) -> bool:
        return True

    # -- generation ---------------------------------------------------------------------------
    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        from biosynth.text._backends.sampling import decode_batch

        prompts = [self.encode(r) for r in requests]
        for i, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
            needed = len(prompt) + request.decoding.max_new_tokens
            if self.context_length is not None and needed > self.context_length:
                raise ConfigError(
                    f"request {i}: the prompt has {len(prompt)} tokens and max_new_tokens is "
                    f"{request.decoding.max_new_tokens}, {needed} in all, but model {self._ref.name!r} has a context "
                    f"of {self.context_length} tokens; shorten the prompt, lower max_new_tokens, or use a model "
                    "with a longer context"
                )
        # Longest prompts first, so each batch pads little; results return in request order.
        order = sorted(range(len(requests)), key=lambda i: -len(prompts[i]))
        results: dict[int, Completion] = {}
        token_ids: dict[int, tuple[int, ...]] = {}
        size = self.config.batch_size
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            rows = decode_batch(
                self.model, [prompts[i] for i in chunk], [requests[i].decoding for i in chunk],
                [requests[i].effective_seed for i in chunk], pad_id=self._pad_id, eos_ids=self._eos_ids,
                decode=self._decode, top_logprobs=[requests[i].top_logprobs for i in chunk],
            )
            for i, row in zip(chunk, rows, strict=True):
                results[i] = Completion(text=row.text, prompt_tokens=len(prompts[i]),
                                        completion_tokens=row.completion_tokens, finish_reason=row.finish_reason,
                                        model=self._ref, logprobs=self._positions(row.logprobs))
                token_ids[i] = row.token_ids
        self.last_token_ids = [token_ids[i] for i in range(len(requests))]
        return [results[i] for i in range(len(requests))]

    def encode(self, request: ChatRequest) -> list[int]:
        """Token ids of a request's messages rendered with the chat template (plain text without one)."""
        return self.tokenizer(self.render(request), add_special_tokens=not self.has_chat_template)["input_ids"]

    @property
    def has_chat_template(self) -> bool:
        return bool(self.config.chat_template or self.tokenizer.chat_template)

    def render(self, request: ChatRequest) -> str:
        """The prompt text the model sees. Without a chat template (a base model), the messages'
        contents are joined by blank lines for the model to continue."""
        messages = [m.model_dump() for m in request.messages]
        if not self.has_chat_template:
            return "\n\n".join(m["content"] for m in messages) + "\n\n"
        rendered = self.tokenizer.apply_chat_template(
            messages, chat_template=self.config.chat_template, add_generation_prompt=True, tokenize=False)
        assert isinstance(rendered, str)
        return rendered

    def _positions(self, rows: list[tuple[int, float, list[tuple[int, float]]]] | None
                   ) -> tuple[PositionLogprobs, ...] | None:
        """Token ids with log-probabilities as token texts (each token decoded on its own, special tokens kept)."""
        if rows is None:
            return None
        text = self.tokenizer.convert_tokens_to_string
        pieces = self.tokenizer.convert_ids_to_tokens

        def token(i: int) -> str:
            return text([pieces(i)])

        return tuple(PositionLogprobs(token=token(t), logprob=lp, top=tuple(TokenLogprob(token=token(i), logprob=v)
                                                                            for i, v in top))
                     for t, lp, top in rows)

    def _decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        assert isinstance(text, str)
        return text


# -- helpers -----------------------------------------------------------------------------------
def _resolve_source(config: TransformersConfig) -> _Source:
    if config.model is None:
        if config.gguf_file is not None:
            raise ConfigError("transformers backend: `gguf_file` names a file inside `model`; give `model` too")
        embedded = _embedded.embedded_model()
        check_gguf(embedded.path)
        return _Source("embedded", str(embedded.path.parent), embedded.path.name, embedded.version)
    path = Path(config.model).expanduser()
    if path.is_file():
        if config.gguf_file is not None:
            raise ConfigError(f"transformers backend: `model` {config.model!r} is a file; "
                              "give its folder as `model` with `gguf_file`, or the file alone")
        if path.suffix.lower() != ".gguf":
            raise ConfigError(f"transformers backend: `model` {config.model!r} is a file but not a .gguf; "
                              "give a model folder (config.json, tokenizer, *.safetensors) or a .gguf file")
        check_gguf(path)
        return _Source("gguf", str(path.parent), path.name)
    if path.is_dir():
        if config.gguf_file is None:
            if not (path / "config.json").is_file():
                ggufs = sorted(p.name for p in path.glob("*.gguf"))
                hint = f"; it holds GGUF files {ggufs}: name one with `gguf_file`" if ggufs else ""
                raise InputDataError(f"model folder {str(path)!r} has no config.json{hint} (expected a "
                                     "transformers model folder: config.json, tokenizer files, *.safetensors)")
            source = _Source("folder", str(path))
            _check_safetensors_headers(source, path)
            return source
        gguf = path / config.gguf_file
        if not gguf.is_file():
            found = sorted(p.name for p in path.glob("*.gguf"))
            raise InputDataError(f"GGUF file {config.gguf_file!r} does not exist in model folder {str(path)!r} "
                                 f"(GGUF files there: {found or 'none'})")
        check_gguf(gguf)
        return _Source("gguf", str(path), config.gguf_file)
    if _looks_local(config.model):
        raise InputDataError(f"model path {config.model!r} does not exist; give an existing model folder or "
                             ".gguf file (relative paths are resolved from the current directory)")
    if config.gguf_file is not None:
        return _Source("hub", config.model, config.gguf_file)
    return _Source("hub", config.model)


def _check_safetensors_headers(source: _Source, folder: Path) -> None:
    """Read each weights file's header (safetensors checks that the data it lists is all there) without torch, so
    that a truncated or corrupt file is named in about a second rather than after torch and transformers load."""
    from safetensors import SafetensorError, safe_open

    for file in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="numpy"):
                pass
        except (SafetensorError, OSError) as err:
            raise _load_error(source, err) from None


def _looks_local(model: str) -> bool:
    return (not _HUB_ID.match(model)) or model.startswith((".", "~")) or model.lower().endswith(".gguf")


def _load_error(source: _Source, err: Exception) -> Exception:
    detail = f"{type(err).__name__}: {err}"
    if source.gguf_path is not None:
        return InputDataError(f"GGUF file {str(source.gguf_path)!r} could not be loaded ({detail}); the file may be "
                              "truncated or corrupt (re-download it and compare its sha256), or hold an "
                              "architecture transformers cannot read from GGUF")
    if source.kind == "hub":
        return ConfigError(f"model {source.location!r} is not a local folder or file and could not be loaded as a "
                           f"hub id ({detail}); give a local model folder or .gguf file (no hub is reachable "
                           "offline)")
    return InputDataError(f"model folder {source.location!r} could not be loaded ({detail}); expected a "
                          "transformers causal LM folder with config.json, tokenizer files and *.safetensors")


def _device(spec: str) -> torch.device:
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise ConfigError(f"transformers backend: device {spec!r} is not a torch device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"transformers backend: device {spec!r} was asked for but no CUDA GPU is available; "
                          "use device: cpu (or auto)")
    return device


def _eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> frozenset[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def _pad_id(tokenizer: PreTrainedTokenizerBase, eos_ids: frozenset[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return min(eos_ids) if eos_ids else 0  # padded positions are masked: any valid id will do


def _max_positions(model: PreTrainedModel) -> int | None:
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model.config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _card_license(readme: Path) -> str | None:
    """The `license:` of a Hugging Face model card's YAML front matter, when there is one."""
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    front, _, _ = text[3:].partition("\n---")
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError:
        log.warning("model card %s has unreadable YAML front matter; license not recorded", readme)
        return None
    return _str_or_none(data.get("license")) if isinstance(data, dict) else None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
