"""Perplexity of synthetic (and real) texts under a reference causal language model loaded with transformers.

Needs the `perplexity` extra (torch, transformers, safetensors; gguf and accelerate for GGUF files). Models load
from a local folder only (`local_files_only=True`), never with remote code, and never from pickled weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.core import ConfigError, gguf_as_folder, weights_sha256
from biosynth.eval._measure import SMALL_SAMPLE, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._text.common import MODALITY, check_texts, two_sample_interval, weighted_interval

_EXTRA = "pip install 'biosynth-eval[perplexity]'"


class CausalLMScorer:
    """Token negative log-likelihoods of texts under a causal LM from a local folder (safetensors) or a GGUF file
    inside it (`gguf_file=`, dequantised by transformers once, into biosynth's cache: core's `gguf_as_folder`).
    Each text is tokenised as the tokenizer does by default (special tokens included, e.g. a BOS token); every
    token after the first is scored. Texts longer than the model's context are cut to it (counted in `truncated`)."""

    def __init__(self, model_dir: str | Path, *, gguf_file: str | None = None, name: str | None = None,
                 batch_size: int = 8, device: str = "cpu", max_length: int | None = None) -> None:
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ConfigError(f"reference language model folder {str(model_dir)!r} does not exist")
        if gguf_file is not None and not (model_dir / gguf_file).is_file():
            raise ConfigError(f"GGUF file {gguf_file!r} is not in the folder {str(model_dir)!r}")
        if gguf_file is None and not (model_dir / "config.json").is_file():
            raise ConfigError(f"reference language model folder {str(model_dir)!r} has no config.json; expected a "
                              "model saved with save_pretrained (safetensors) or pass gguf_file=")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as err:
            raise ConfigError(f"perplexity needs {err.name}: {_EXTRA}") from None
        # core's one fingerprint rule: the GGUF file, or the whole model folder (weights, config, tokenizer)
        self.sha256 = weights_sha256(model_dir / gguf_file if gguf_file else model_dir)
        kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False,
                                  "use_safetensors": True}  # never unpickle .bin weights
        location = model_dir
        try:
            if gguf_file is not None:  # dequantised once into biosynth's cache (seconds on later loads, not ~50 s)
                location = gguf_as_folder(model_dir / gguf_file, sha256=self.sha256)
            self._tokenizer = AutoTokenizer.from_pretrained(str(location), **kwargs)
            self._model = AutoModelForCausalLM.from_pretrained(str(location), dtype=torch.float32, **kwargs)
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            raise ConfigError(f"could not load the reference language model from {str(model_dir)!r}"
                              f"{f' ({gguf_file})' if gguf_file else ''}: {err}") from None
        self._model.to(device)  # type: ignore[arg-type]  # transformers types `.to` through a decorator
        self._model.eval()
        self._torch = torch
        self._device = device
        self._batch_size = batch_size
        context = getattr(self._model.config, "max_position_embeddings", None) or getattr(
            self._model.config, "n_positions", None)
        self.max_length = int(max_length or context or 1024)
        self.name = name or (f"{model_dir.name}/{gguf_file}" if gguf_file else model_dir.name)
        self.truncated = 0

    def token_nll(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text, the negative log-likelihood (nats) of each token given the ones before it."""
        torch = self._torch
        encoded = [self._tokenizer(text, truncation=False)["input_ids"] for text in texts]
        self.truncated = sum(len(ids) > self.max_length for ids in encoded)
        encoded = [ids[: self.max_length] for ids in encoded]
        out: list[np.ndarray] = [np.zeros(0) for _ in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # similar lengths share a batch
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        for start in range(0, len(order), self._batch_size):
            batch = [i for i in order[start:start + self._batch_size] if len(encoded[i]) >= 2]
            if not batch:
                continue
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # right padding: a causal model's earlier positions never see it
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            with torch.no_grad():
                logits = self._model(input_ids=ids.to(self._device), attention_mask=mask.to(self._device)).logits
            log_probs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            nll = -log_probs.gather(-1, ids[:, 1:, None].to(self._device))[..., 0].cpu().numpy()
            for row, i in enumerate(batch):
                out[i] = nll[row, : len(encoded[i]) - 1].astype(np.float64)
        return out


def _sums(nll: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([x.sum() for x in nll]), np.array([len(x) for x in nll], dtype=np.float64)


def perplexity(texts: Sequence[str], scorer: CausalLMScorer | str | Path, *, real_texts: Sequence[str] | None = None,
               gguf_file: str | None = None, n_bootstrap: int = 200, level: float = 0.95,
               seed: int = 0) -> MetricResult:
    """Corpus perplexity exp(total token NLL / total scored tokens) of `texts` under a reference causal LM (`scorer`,
    or a model folder to load one from); with `real_texts`, the real corpus's perplexity and the ratio synthetic /
    real in the details. Intervals: basic bootstrap over texts. Texts with fewer than two tokens have nothing to
    score and are left out (counted). Lower is more probable under the reference model; read it beside the real
    corpus's value: far lower suggests bland, repetitive text, far higher text unlike the reference domain."""
    check_bootstrap(n_bootstrap, level)
    synthetic = check_texts(texts, "texts")
    real = None if real_texts is None else check_texts(real_texts, "real_texts")
    if not isinstance(scorer, CausalLMScorer):
        scorer = CausalLMScorer(scorer, gguf_file=gguf_file)
    model = scorer

    def compute() -> Outcome:
        s_nll, s_count = _sums(model.token_nll(synthetic))
        truncated = model.truncated
        if s_count.sum() == 0:
            raise ValueError("no synthetic text has two or more tokens; nothing to score")
        point = float(np.exp(s_nll.sum() / s_count.sum()))
        warnings = []
        skipped = int((s_count == 0).sum())
        if skipped:
            warnings.append(f"{skipped} synthetic texts have fewer than two tokens and were left out")
        if len(synthetic) < SMALL_SAMPLE:
            warnings.append(f"small sample ({len(synthetic)} synthetic texts): perplexity is noisy below "
                            f"{SMALL_SAMPLE} texts; read the interval")
        ci, notes = weighted_interval(lambda w: float(np.exp((w @ s_nll) / max(w @ s_count, 1))), len(synthetic),
                                      point, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                      what="the synthetic perplexity", bounds=(1.0, np.inf))
        warnings += notes
        details: dict[str, Any] = {"synthetic_tokens": int(s_count.sum()), "synthetic_texts_scored":
                                   int((s_count > 0).sum()), "mean_token_nll": float(s_nll.sum() / s_count.sum())}
        if real is not None:
            r_nll, r_count = _sums(model.token_nll(real))
            truncated += model.truncated
            if r_count.sum() == 0:
                details["real_perplexity"] = None
                warnings.append("no real text has two or more tokens; no real perplexity")
            else:
                real_point = float(np.exp(r_nll.sum() / r_count.sum()))
                real_ci, _ = weighted_interval(lambda w: float(np.exp((w @ r_nll) / max(w @ r_count, 1))), len(real),
                                               real_point, n_bootstrap=n_bootstrap, level=level, seed=seed + 1,
                                               what="the real perplexity", bounds=(1.0, np.inf))
                both_nll, both_count = np.r_[s_nll, r_nll], np.r_[s_count, r_count]
                n_s = len(synthetic)

                def ratio(w: np.ndarray) -> float:
                    syn = (w[:n_s] @ both_nll[:n_s]) / max(w[:n_s] @ both_count[:n_s], 1)
                    rea = (w[n_s:] @ both_nll[n_s:]) / max(w[n_s:] @ both_count[n_s:], 1)
                    return float(np.exp(syn - rea))

                ratio_ci, _ = two_sample_interval(ratio, n_s, len(real), point / real_point, n_bootstrap=n_bootstrap,
                                                  level=level, seed=seed + 2, what="the perplexity ratio",
                                                  bounds=(0.0, np.inf))
                details.update(real_perplexity=real_point, real_ci=None if real_ci is None else [real_ci.low, real_ci.high],
                               ratio_synthetic_to_real=point / real_point,
                               ratio_ci=None if ratio_ci is None else [ratio_ci.low, ratio_ci.high],
                               real_tokens=int(r_count.sum()), real_texts_scored=int((r_count > 0).sum()))
        if truncated:
            warnings.append(f"{truncated} texts were longer than the model's context ({model.max_length} tokens) and "
                            "were cut to it")
        return Outcome(value=point, ci=ci, warnings=warnings, details=details)

    return run_metric(name="text.perplexity", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=None if real is None else len(real), n_synthetic=len(synthetic),
                      seed=seed, parameters={"reference_model": model.name, "reference_model_sha256": model.sha256,
                                             "max_length": model.max_length, "n_bootstrap": n_bootstrap,
                                             "level": level, "definition": "exp(total token NLL / scored tokens)"})
