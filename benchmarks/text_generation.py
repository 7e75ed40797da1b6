"""Tokens/s of the embedded SmolLM2-135M on the same prompts, max tokens and greedy decoding, in one process:

(a) transformers' own `generate`, batched with left padding at the same batch size (the baseline);
(b) biosynth's `transformers` backend (its own batched decoding loop, the same model object);
(c) biosynth's `llamacpp` backend (llama.cpp on the Q4_1 GGUF itself; its own row, not (b)'s speed-up).

    python benchmarks/text_generation.py --prompts 16 --batch-size 16 --max-new-tokens 128 --threads 1 --repeats 3

Both transformers paths are warmed up first, then timed in turns (a, b, a, b, ...) so that a change in the machine's
load hits both; each side's best and median are printed. Before any ratio is printed, the greedy token ids of every
timed run of (b) are checked equal to (a)'s (the end-of-sequence token and padding left out); where they differ the
first differing position is printed and no ratio is. Timings on a shared machine vary several-fold: compare only
figures of one run. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from biosynth.core import ChatMessage, ChatRequest, DecodingConfig
from biosynth.text import TransformersLanguageModel

TOPICS = ["asthma", "a broken wrist", "type 2 diabetes", "community-acquired pneumonia", "migraine", "heart failure",
          "a urinary tract infection", "hypertension", "atrial fibrillation", "a COPD exacerbation", "cellulitis",
          "acute kidney injury", "appendicitis", "a concussion", "iron-deficiency anaemia", "gout"]


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def transformers_generate(model: TransformersLanguageModel, prompts: list[list[int]], batch_size: int,
                          max_new_tokens: int) -> list[list[int]]:
    """The baseline: `model.generate` on left-padded batches of `batch_size` prompts in the given order, greedy,
    stopping at the same end-of-sequence ids as biosynth; returns each prompt's new tokens without EOS/padding."""
    tokenizer = model.tokenizer
    tokenizer.padding_side = "left"
    eos = sorted(model._eos_ids)
    out: list[list[int]] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer.pad({"input_ids": prompts[start : start + batch_size]}, return_tensors="pt")
            generated = model.model.generate(**batch, do_sample=False, max_new_tokens=max_new_tokens,
                                             eos_token_id=eos, pad_token_id=model._pad_id)
            for row in generated[:, batch["input_ids"].shape[1]:].tolist():
                end = next((i for i, token in enumerate(row) if token in model._eos_ids), len(row))
                out.append(row[:end])
    return out


def first_difference(a: list[list[int]], b: list[list[int]]) -> str | None:
    """Where two runs' token ids first differ (prompt, position, tokens), or None when they are equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            at = next((k for k, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
            return (f"prompt {i}: token {at} differs ({x[at] if at < len(x) else 'end'} vs "
                    f"{y[at] if at < len(y) else 'end'}; lengths {len(x)} and {len(y)})")
    return None


def summary(label: str, times: list[float], tokens: int) -> str:
    best, median = min(times), statistics.median(times)
    return (f"{label}: {tokens} tokens per run; best {best:.2f} s = {tokens / best:.1f} tokens/s, median "
            f"{median:.2f} s = {tokens / median:.1f} tokens/s; runs {', '.join(f'{t:.2f}' for t in times)} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, both paths (and llama.cpp)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each transformers path, in turns")
    parser.add_argument("--skip-llamacpp", action="store_true", help="leave out row (c)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    print(f"load average at start: {_load()}")
    print(f"torch {torch.__version__}, transformers {_version('transformers')}, llama-cpp-python "
          f"{_version('llama-cpp-python')}, {args.threads} torch thread(s), OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}")

    started = time.perf_counter()
    model = TransformersLanguageModel(batch_size=args.batch_size, num_threads=args.threads)
    print(f"model: {model.model_ref.name} sha256 {model.model_ref.sha256[:12]}..., loaded in "
          f"{time.perf_counter() - started:.1f} s, attention {model.model.config._attn_implementation}, "
          f"dtype {model.model.dtype}")
    decoding = DecodingConfig(temperature=0.0, max_new_tokens=args.max_new_tokens)
    requests = [ChatRequest(messages=(ChatMessage(role="user", content=f"Write a short clinical note about "
                                                  f"{TOPICS[i % len(TOPICS)]}."),), decoding=decoding, seed=i)
                for i in range(args.prompts)]
    prompts = [model.encode(r) for r in requests]
    print(f"{args.prompts} prompts of {min(map(len, prompts))}-{max(map(len, prompts))} tokens, batch size "
          f"{args.batch_size}, max_new_tokens {args.max_new_tokens}, greedy")

    # warm-up: one short batch through each path (allocator, kernels, tokenizer caches)
    warm = DecodingConfig(temperature=0.0, max_new_tokens=4)
    transformers_generate(model, prompts[: args.batch_size], args.batch_size, 4)
    model.generate([r.model_copy(update={"decoding": warm}) for r in requests[: args.batch_size]])

    base_times: list[float] = []
    ours_times: list[float] = []
    reference: list[list[int]] = []
    mismatch: str | None = None
    for repeat in range(args.repeats):
        started = time.perf_counter()
        base = transformers_generate(model, prompts, args.batch_size, args.max_new_tokens)
        base_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.generate(requests)
        ours_times.append(time.perf_counter() - started)
        ours = [list(ids) for ids in model.last_token_ids]
        reference = reference or base
        mismatch = mismatch or first_difference(reference, base) or first_difference(base, ours)
        print(f"  run {repeat + 1}: (a) {base_times[-1]:.2f} s, (b) {ours_times[-1]:.2f} s", flush=True)
    tokens = sum(map(len, reference))
    print(summary("(a) transformers generate, batched", base_times, tokens))
    print(summary(f"(b) biosynth transformers backend, batch {args.batch_size}", ours_times, tokens))
    if mismatch is not None:
        print(f"greedy outputs DIFFER between (a) and (b): {mismatch}; no ratio is printed")
    else:
        print(f"greedy outputs token-identical: {args.prompts} prompts, {tokens} tokens, every timed run")
        print(f"ratio (b)/(a): best {min(base_times) / min(ours_times):.2f}x, median "
              f"{statistics.median(base_times) / statistics.median(ours_times):.2f}x (goal 1.5x)")

    if not args.skip_llamacpp:
        from biosynth.text._backends.llamacpp import LlamaCppLanguageModel

        llama = LlamaCppLanguageModel(threads=args.threads, context_length=1024)
        llama.generate(requests[:1])  # warm-up
        started = time.perf_counter()
        completions = llama.generate(requests)
        llama_s = time.perf_counter() - started
        llama_tokens = sum(c.completion_tokens for c in completions)
        print(f"(c) biosynth llamacpp backend (Q4_1 weights, one prompt at a time): {llama_tokens} tokens in "
              f"{llama_s:.2f} s = {llama_tokens / llama_s:.1f} tokens/s (its own quantised arithmetic: outputs are "
              "not compared with (a))")
    print(f"load average at end: {_load()}")
    if mismatch is not None:
        raise SystemExit(1)  # unequal outputs: the run fails


if __name__ == "__main__":
    main()
