"""Tokens/s of the embedded SmolLM2 GGUF, same prompts and max tokens, one process: (a) a plain
one-prompt-at-a-time transformers `generate` loop (the baseline), (b) biosynth's batched `transformers`
backend, (c) biosynth's `llamacpp` backend.

    python benchmarks/text_generation.py --prompts 16 --max-new-tokens 48 --threads 1

Greedy decoding makes both paths produce the same tokens, so the token counts are equal and the
times compare directly. Not run by the test suite; timings on a shared machine vary several-fold.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from biosynth.core import ChatMessage, ChatRequest, DecodingConfig
from biosynth.text import TransformersLanguageModel
from biosynth.text._backends.llamacpp import LlamaCppLanguageModel

TOPICS = ["asthma", "a broken wrist", "type 2 diabetes", "community-acquired pneumonia", "migraine", "heart failure",
          "a urinary tract infection", "hypertension", "atrial fibrillation", "a COPD exacerbation", "cellulitis",
          "acute kidney injury", "appendicitis", "a concussion", "iron-deficiency anaemia", "gout"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    model = TransformersLanguageModel(batch_size=args.batch_size)
    print(f"model: {model.model_ref.name} sha256 {model.model_ref.sha256[:12]}… "
          f"loaded in {time.perf_counter() - started:.1f} s, {torch.get_num_threads()} thread(s)")
    decoding = DecodingConfig(temperature=0.0, max_new_tokens=args.max_new_tokens)
    requests = [ChatRequest(messages=(ChatMessage(role="user", content=f"Write a short clinical note about "
                                                  f"{TOPICS[i % len(TOPICS)]}."),), decoding=decoding, seed=i)
                for i in range(args.prompts)]

    started = time.perf_counter()
    plain_tokens = 0
    with torch.inference_mode():
        for request in requests:
            ids = torch.tensor([model.encode(request)])
            out = model.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                       max_new_tokens=args.max_new_tokens, pad_token_id=model.tokenizer.pad_token_id)
            plain_tokens += out.shape[1] - ids.shape[1]
    plain_s = time.perf_counter() - started

    started = time.perf_counter()
    completions = model.generate(requests)
    batched_s = time.perf_counter() - started
    batched_tokens = sum(c.completion_tokens for c in completions)

    llama = LlamaCppLanguageModel(threads=args.threads or torch.get_num_threads(), context_length=1024)
    started = time.perf_counter()
    llama_tokens = sum(c.completion_tokens for c in llama.generate(requests))
    llama_s = time.perf_counter() - started

    plain_rate, batched_rate = plain_tokens / plain_s, batched_tokens / batched_s
    llama_rate = llama_tokens / llama_s
    print(f"(a) plain transformers generate, one prompt at a time: {plain_tokens} tokens in {plain_s:.1f} s = "
          f"{plain_rate:.1f} tokens/s")
    print(f"(b) biosynth transformers backend, batch {args.batch_size}: {batched_tokens} tokens in {batched_s:.1f} s = "
          f"{batched_rate:.1f} tokens/s")
    print(f"(c) biosynth llamacpp backend, one prompt at a time: {llama_tokens} tokens in {llama_s:.1f} s = "
          f"{llama_rate:.1f} tokens/s")
    print(f"ratio (b)/(a): {batched_rate / plain_rate:.2f}x   ratio (c)/(a): {llama_rate / plain_rate:.2f}x   "
          f"best biosynth path / plain loop: {max(batched_rate, llama_rate) / plain_rate:.2f}x (target 10x)")


if __name__ == "__main__":
    main()
