"""Judges on real backends: llama.cpp's OpenAI-compatible server (started here on 127.0.0.1) grading the G-Eval way
from the token log-probabilities it returns, checked by hand, and the same GGUF in process through the `llamacpp`
backend; the `transformers` backend's log-probabilities against an independent forward pass. The models are tiny
and built here (a random-weight Llama GGUF written with `gguf`, the eval suite's tiny GPT-2): reached through the
registry, as a recipe would, so biosynth-eval never imports biosynth-text."""

from __future__ import annotations

import itertools
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from biosynth.core import ChatMessage, ChatRequest, ComponentSpec, DecodingConfig, default_registry, derive_seed
from biosynth.core._components import load_component
from biosynth.core.testing import wait_for_port
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.judge import GEVAL_DECODING, RubricJudge
from biosynth.eval._judge.metrics import rubric_metrics
from biosynth.eval._judge.prompts import GEVAL, rubric_messages
from biosynth.eval._judge.rubric import ASCLEPIUS

ITEMS = [JudgeItem(id="notes-000000", subject="discharge summary",
                   text="Admitted with community-acquired pneumonia, treated with IV ceftriaxone, discharged on "
                        "oral amoxicillin."),
         JudgeItem(id="notes-000001", subject="discharge summary", text="pain pain plan weeks the of of."),
         JudgeItem(id="notes-000002", subject="discharge summary", text="Type 2 diabetes; metformin increased.")]


def write_judge_gguf(path: Path) -> Path:
    """A random-weight Llama GGUF (byte-level vocabulary, 16 dimensions, f32) whose score digits 1-4 lead every
    next-token distribution: the token embeddings share one direction that only the digits' output rows read, so
    the digits carry about half the probability and their split depends on the text."""
    from biosynth.core.testing import write_tiny_gguf

    def lead_with_digits(name: str, tensor: np.ndarray) -> np.ndarray:
        if name == "token_embd.weight":
            tensor[:, 0] += 3.0
        if name == "output.weight":
            tensor[:, 0] = 0.0
            tensor[1 + ord("1"):1 + ord("5"), 0] = 2.5  # token ids of the bytes "1".."4"
        return tensor

    write_tiny_gguf(path, name="tiny-judge", context_length=4096, merges=["\u0120 t"], adjust=lead_with_digits)
    return path


@pytest.fixture(scope="module")
def judge_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_judge_gguf(tmp_path_factory.mktemp("judge-gguf") / "tiny-judge.gguf")


@pytest.fixture(scope="module")
def llama_server(judge_gguf: Path) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port (its logits_all default returns log-probabilities)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = judge_gguf.parent / "server.log"
    with log.open("w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(judge_gguf), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "1",
                                 "--model_alias", "tiny-judge"], stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_for_port(proc, port, log, what="llama_cpp.server")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _by_hand(logprobs) -> float:
    """G-Eval's score from a completion's first answer position, computed here without biosynth's parser."""
    first = next(p for p in logprobs if p.token.strip())
    mass = {}
    for alternative in first.top:
        if alternative.token.strip() in {"1", "2", "3", "4"}:
            mass.setdefault(alternative.token, math.exp(alternative.logprob))
    total = sum(mass.values())
    return sum(int(t.strip()) * p for t, p in mass.items()) / total


def test_a_judge_grades_the_g_eval_way_through_llama_cpps_server(llama_server: str, judge_gguf: Path) -> None:
    spec = ComponentSpec(backend="openai", params={"model": "tiny-judge", "base_url": llama_server,
                                                   "server": "llamacpp", "max_concurrency": 1})
    model = load_component(default_registry(), spec, where="test").component
    assert model.supports_logprobs and not model.model_ref.remote
    judge = RubricJudge(model, ASCLEPIUS, method="g-eval", top_logprobs=10, seed=4)
    judgements = judge.grade(ITEMS)
    assert [j.method for j in judgements] == ["g-eval"] * len(ITEMS)
    # the same request, sent again here: the server's log-probabilities, summed by hand
    for item, judgement in zip(ITEMS, judgements, strict=True):
        request = ChatRequest(messages=rubric_messages(GEVAL, ASCLEPIUS, item), decoding=GEVAL_DECODING,
                              seed=derive_seed(4, item.id), top_logprobs=10)
        [completion] = model.generate([request])
        assert completion.logprobs, "the server returned no log-probabilities"
        top = completion.logprobs[0].top
        # up to 10 best and the chosen one; llama.cpp merges tokens whose text is equal (bytes of a split character)
        assert 1 <= len(top) <= 11 and all(a.logprob >= b.logprob for a, b in itertools.pairwise(top))
        assert sum(math.exp(t.logprob) for t in top) <= 1 + 1e-6
        assert judgement.score == pytest.approx(_by_hand(completion.logprobs), rel=1e-4)
        assert 1.0 <= judgement.score <= 4.0 and judgement.score_mass is not None and judgement.score_mass > 0.05
    # the content moves the score: the tiny model is not a constant
    assert len({round(j.score, 6) for j in judgements}) > 1  # type: ignore[arg-type]
    results = rubric_metrics(judge, ITEMS, judgements, n_bootstrap=0)
    assert results[0].value == pytest.approx(np.mean([j.score for j in judgements]))
    assert results[0].details["methods"] == {"g-eval": len(ITEMS)}

    # the same GGUF in process (llamacpp backend, logprobs: true) gives the same G-Eval scores
    local = load_component(default_registry(), ComponentSpec(backend="llamacpp", params={
        "model": str(judge_gguf), "logprobs": True, "context_length": 4096, "threads": 1}), where="test").component
    in_process = RubricJudge(local, ASCLEPIUS, method="g-eval", top_logprobs=10, seed=4).grade(ITEMS)
    assert [j.score for j in in_process] == pytest.approx([j.score for j in judgements], abs=1e-3)
    without = load_component(default_registry(), ComponentSpec(backend="llamacpp", params={
        "model": str(judge_gguf), "context_length": 512, "threads": 1}), where="test").component
    assert not without.supports_logprobs


def test_transformers_logprobs_equal_an_independent_forward_pass(tiny_gpt2_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = load_component(default_registry(), ComponentSpec(backend="transformers", params={
        "model": str(tiny_gpt2_dir)}), where="test").component
    assert model.supports_logprobs
    for decoding in (DecodingConfig(temperature=0.0, max_new_tokens=3),
                     DecodingConfig(temperature=0.9, top_k=5, max_new_tokens=3)):
        request = ChatRequest(messages=(ChatMessage(role="user", content="blood pressure 120"),), decoding=decoding,
                              seed=2, top_logprobs=4)
        [completion] = model.generate([request])
        assert completion.logprobs is not None and len(completion.logprobs) == completion.completion_tokens
        prompt = model.encode(request)
        reference = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir, local_files_only=True).eval()
        generated: list[int] = []
        for position in completion.logprobs:
            with torch.no_grad():
                logits = reference(torch.tensor([prompt + generated])).logits[0, -1].double()
            expected = torch.log_softmax(logits, dim=-1)
            values, indices = torch.topk(expected, 4)
            assert [t.logprob for t in position.top] == pytest.approx(values.tolist(), abs=1e-5)
            assert [t.token for t in position.top] == [model.tokenizer.convert_ids_to_tokens(int(i)) for i in indices]
            chosen = model.tokenizer.convert_tokens_to_ids(position.token)
            assert position.logprob == pytest.approx(float(expected[chosen]), abs=1e-5)
            generated.append(chosen)
    # a request without top_logprobs gets none
    [plain] = model.generate([request.model_copy(update={"top_logprobs": None})])
    assert plain.logprobs is None
