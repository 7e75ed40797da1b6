"""Fine-tuning tiny seeded models for a few steps: modes, full and LoRA, provenance, reuse as a backend model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from biosynth.core import (
    AttributeSampler,
    ChatMessage,
    ChatRequest,
    ConfigError,
    DecodingConfig,
    Record,
    Runner,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    TextPayload,
    check_model_folder,
    parse_recipe,
    sha256_file,
    weights_sha256,
)
from biosynth.core.testing import GeneratorContract
from biosynth.text import TransformersLanguageModel
from biosynth.text._finetune import training as _training
from biosynth.text._finetune.config import FinetuneConfig, FinetuneMode, build_config
from biosynth.text._finetune.data import read_corpus
from biosynth.text._finetune.encode import encode_corpus
from biosynth.text._finetune.generator import FinetunedText
from biosynth.text._finetune.model_card import FinetuneRecord
from biosynth.text._finetune.training import finetune

# Two labels, each with its own (repeated) document, so that conditioning on the label can be checked.
ASTHMA = "she denies fever chills or cough"
COPD = "the chest x ray shows no acute findings"
QA = [("describe a rash", "plan follow up in two weeks with labs"),
      ("write one sentence about asthma", "she denies fever chills or cough"),
      ("patient note", "blood pressure heart rate and oxygen saturation were normal")]


def build_tiny_gpt2(folder: Path, tokenizer_dir: Path) -> Path:
    """A GPT-2 (about 5k parameters) with the word-level tokenizer of the Llama fixture, without a chat template."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.chat_template = None
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# tiny gpt2\n", encoding="utf-8")
    return folder


def write_tiny_gguf(path: Path) -> Path:
    """A random Llama-style GGUF (about 10k parameters, f32) with a byte-level vocabulary and a license."""
    from biosynth.core.testing import write_tiny_gguf as write

    return write(path, context_length=128, license="apache-2.0")


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gpt2_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), tiny_model_dir)


@pytest.fixture(scope="module")
def labelled_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [{"text": ASTHMA, "label": "asthma"}, {"text": COPD, "label": "copd"}] * 5
    return write_jsonl(tmp_path_factory.mktemp("data") / "notes.jsonl", rows)


@pytest.fixture(scope="module")
def task_model(gpt2_dir: Path, labelled_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "task-gpt2"
    return finetune(build_config(data=[labelled_data], out=out, base_model=str(gpt2_dir), mode="task-adaptive",
                                 max_steps=40, batch_size=4, learning_rate=2e-2, seed=1))


def _record(folder: Path) -> dict[str, object]:
    """The training record: core's marker, checked (kind, format, every file's sha256)."""
    return check_model_folder(folder, "finetuned_lm", 1, allowed_suffixes=None)


def _greedy(model: TransformersLanguageModel, prompt: str, tokens: int = 8) -> str:
    request = ChatRequest(messages=(ChatMessage(role="user", content=prompt),),
                          decoding=DecodingConfig(temperature=0.0, max_new_tokens=tokens))
    return model.generate([request])[0].text


def test_task_adaptive_loss_falls_and_the_label_conditions_the_text(task_model: Path) -> None:
    record = _record(task_model)
    loss = record["loss"]
    assert isinstance(loss, dict) and len(loss["per_step"]) == record["steps"] == 40
    assert loss["per_epoch"][-1] < 0.5 * loss["per_epoch"][0]
    model = TransformersLanguageModel(model=str(task_model))
    assert not model.has_chat_template  # dropped, so the prompt is the plain label prefix
    assert _greedy(model, "asthma").startswith(ASTHMA)
    assert _greedy(model, "copd").startswith(COPD)


def test_output_folder_and_provenance(task_model: Path, gpt2_dir: Path, labelled_data: Path) -> None:
    names = {p.name for p in task_model.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "biosynth_model.json"} <= names
    assert "chat_template.jinja" not in names
    assert [p.name for p in task_model.parent.iterdir() if p.name.startswith(".")] == []  # no staging folder left
    record = _record(task_model)
    base = record["base_model"]
    assert isinstance(base, dict) and base["sha256"] == weights_sha256(gpt2_dir)
    assert base["license"] == "mit" and base["name"] == gpt2_dir.name
    assert record["data"] == [{"path": str(labelled_data), "kind": "jsonl", "sha256": sha256_file(labelled_data),
                               "rows": 10}]
    assert record["labels"] == {"asthma": 5, "copd": 5}
    assert (record["mode"], record["method"], record["saved"], record["seed"]) == ("task-adaptive", "full", "merged", 1)
    assert record["weights_sha256"] == sha256_file(task_model / "model.safetensors") != base["sha256"]
    # the folder's fingerprint, which every sample records, is core's weights_sha256 (the marker left out)
    assert record["model_sha256"] == weights_sha256(task_model) == TransformersLanguageModel(
        model=str(task_model)).model_ref.sha256
    again = FinetuneConfig.model_validate(record["config"])  # the run can be repeated from its record
    assert again == build_config(data=[labelled_data], out=task_model, base_model=str(gpt2_dir), mode="task-adaptive",
                                 max_steps=40, batch_size=4, learning_rate=2e-2, seed=1)
    hyper = record["hyperparameters"]
    assert isinstance(hyper, dict) and hyper["learning_rate"] == 2e-2 and hyper["max_steps"] == 40
    libraries = record["libraries"]
    assert isinstance(libraries, dict) and libraries["torch"] == torch.__version__.split("+")[0]
    card = (task_model / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "mit" and front["base_model"] == gpt2_dir.name
    assert front["biosynth"]["data"][0]["sha256"] == sha256_file(labelled_data)
    assert front["biosynth"]["final_loss"] == record["loss"]["final"]  # type: ignore[index]
    assert "## How to prompt it" in card and "`asthma`" in card


def test_fine_tuned_model_in_a_recipe_carries_the_new_weights(task_model: Path, tmp_path: Path) -> None:
    recipe = parse_recipe({
        "name": "finetuned-notes", "seed": 3,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": 2,
             "params": {"table": "patients", "attributes": {"diagnosis": ["asthma", "copd"]},
                        "label_columns": ["diagnosis"]}},
            {"name": "conditioned", "generator": "finetuned_text", "from": "patients",
             "params": {"label_field": "diagnosis", "decoding": {"temperature": 0.0, "max_new_tokens": 8},
                        "model": {"backend": "transformers", "params": {"model": str(task_model)}}}},
            {"name": "notes", "generator": "clinical_note", "from": "patients",
             "params": {"document_type": "progress note", "min_words": 1,
                        "model": {"backend": "transformers", "params": {"model": str(task_model)}},
                        "decoding": {"temperature": 1.0, "max_new_tokens": 6, "min_new_tokens": 2}}},
        ],
    })
    manifest = Runner(recipe, tmp_path / "out").run()
    assert manifest.steps["notes"].produced == 2 and manifest.steps["conditioned"].produced == 2
    dataset = SyntheticDataset(tmp_path / "out")
    patients = {r.id: r for r in dataset.records("patients")}
    for record in dataset.records("conditioned"):  # each text written for its patient's diagnosis
        label = patients[record.parents[0]].labels["diagnosis"]
        assert record.labels == {"diagnosis": label} and isinstance(record.payload, TextPayload)
        assert record.payload.text.startswith(ASTHMA if label == "asthma" else COPD)
    for note in [*dataset.records("notes"), *dataset.records("conditioned")]:
        ref = note.provenance.model
        assert ref is not None and ref.sha256 == weights_sha256(task_model) == _record(task_model)["model_sha256"]
        assert ref.name == task_model.name and ref.license == "mit"  # read from the model card


def test_training_prompt_is_the_backend_prompt(gpt2_dir: Path, tiny_model_dir: Path, labelled_data: Path,
                                               tmp_path: Path) -> None:
    """The prompt part of each training sequence is token for token what the backend sends at generation."""
    task = build_config(data=[labelled_data], out=tmp_path / "x", mode="task-adaptive")
    backend = TransformersLanguageModel(model=str(gpt2_dir))
    [first, *_] = encode_corpus(read_corpus(task.data, task.mode, task.columns), backend.tokenizer, task, 64).sequences
    request = ChatRequest(messages=(ChatMessage(role="user", content="asthma"),), decoding=DecodingConfig())
    assert list(first.input_ids[: first.prompt_length]) == backend.encode(request)
    assert first.input_ids[-1] == backend.tokenizer.eos_token_id

    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": p, "response": r} for p, r in QA])
    chat = build_config(data=[data], out=tmp_path / "y", mode="instruction", system_prompt="be brief")
    llama = TransformersLanguageModel(model=str(tiny_model_dir))
    [first, *_] = encode_corpus(read_corpus(chat.data, chat.mode, chat.columns), llama.tokenizer, chat, 64).sequences
    request = ChatRequest(messages=(ChatMessage(role="system", content="be brief"),
                                    ChatMessage(role="user", content=QA[0][0])), decoding=DecodingConfig())
    assert list(first.input_ids[: first.prompt_length]) == llama.encode(request)
    response = llama.tokenizer.decode(list(first.input_ids[first.prompt_length:]), skip_special_tokens=True)
    assert response.strip() == QA[0][1]  # the loss covers the response (and its end-of-turn token) only


def test_gguf_base_model_is_dequantized_and_saved_as_safetensors(labelled_data: Path, tmp_path: Path) -> None:
    gguf_path = write_tiny_gguf(tmp_path / "tiny.gguf")
    out = finetune(build_config(data=[labelled_data], out=tmp_path / "from-gguf", base_model=str(gguf_path),
                                mode="domain-adaptive", max_steps=6, batch_size=5, learning_rate=1e-2))
    record = _record(out)
    base = record["base_model"]
    assert isinstance(base, dict) and (base["name"], base["gguf_file"]) == ("tiny", "tiny.gguf")
    assert base["sha256"] == sha256_file(gguf_path) and base["license"] == "apache-2.0"
    loss = record["loss"]
    assert isinstance(loss, dict) and loss["final"] < loss["first"]
    model = TransformersLanguageModel(model=str(out))  # a plain safetensors folder now
    assert model.model_ref.sha256 == record["model_sha256"] == weights_sha256(out)
    assert record["weights_sha256"] == sha256_file(out / "model.safetensors")
    assert model.model_ref.license == "apache-2.0"
    assert model.generate([ChatRequest(messages=(ChatMessage(role="user", content="chest pain"),),
                                       decoding=DecodingConfig(max_new_tokens=3, min_new_tokens=3))])[0].completion_tokens == 3


def test_long_documents_are_windowed_in_domain_mode_and_truncated_otherwise(tiny_model_dir: Path,
                                                                            labelled_data: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text_ids = tokenizer(COPD, add_special_tokens=False)["input_ids"]  # 8 words, 8 tokens (+ end of sequence)
    domain = build_config(data=[labelled_data], out=Path("unused"), mode="domain-adaptive")
    corpus = read_corpus(domain.data, domain.mode, domain.columns)
    encoded = encode_corpus(corpus, tokenizer, domain, 4)
    assert encoded.split == 10 and encoded.truncated == 0  # every document is longer than 4 tokens
    copd = [s for s in encoded.sequences if s.input_ids[0] == text_ids[0]]
    first = encoded.sequences.index(copd[0])
    stitched = list(encoded.sequences[first].input_ids) + [i for s in encoded.sequences[first + 1 : first + 3]
                                                           for i in s.input_ids[1:]]
    assert stitched == [*text_ids, tokenizer.eos_token_id]  # windows overlap by one context token
    assert encoded.trained_tokens == sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (ASTHMA, COPD)) * 5
    task = build_config(data=[labelled_data], out=Path("unused"), mode="task-adaptive")
    truncated = encode_corpus(read_corpus(task.data, task.mode, task.columns), tokenizer, task, 4)
    assert truncated.truncated == 10 and truncated.split == 0 and {len(s.input_ids) for s in truncated.sequences} == {4}


def test_same_seed_same_weights(tiny_model_dir: Path, labelled_data: Path, tmp_path: Path) -> None:
    def run(name: str, seed: int) -> str:
        out = finetune(build_config(data=[labelled_data], out=tmp_path / name, base_model=str(tiny_model_dir),
                                    mode="domain-adaptive", max_steps=4, batch_size=3, learning_rate=1e-2, seed=seed))
        return sha256_file(out / "model.safetensors")

    assert run("a", 5) == run("b", 5) != run("c", 6)


def test_lora_instruction_tuning_merges_and_keeps_the_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": p, "response": r} for p, r in QA * 3])
    out = finetune(build_config(data=[data], out=tmp_path / "lora", base_model=str(tiny_model_dir),
                                mode=FinetuneMode.INSTRUCTION, lora=True, keep_adapter=True, lora_r=4,
                                max_steps=12, batch_size=3, learning_rate=3e-2))
    record = _record(out)
    loss = record["loss"]
    assert isinstance(loss, dict) and loss["per_epoch"][-1] < loss["per_epoch"][0]
    assert (record["method"], record["saved"]) == ("lora", "merged")
    assert (out / "chat_template.jinja").is_file()  # instruction models keep their chat template
    adapter = out / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert record["adapter_sha256"] == weights_sha256(adapter / "adapter_model.safetensors")
    model = TransformersLanguageModel(model=str(out))
    assert record["weights_sha256"] == sha256_file(out / "model.safetensors") != sha256_file(
        tiny_model_dir / "model.safetensors")
    assert model.model_ref.sha256 == record["model_sha256"] == weights_sha256(out)
    assert model.generate([ChatRequest(messages=(ChatMessage(role="user", content=QA[0][0]),),
                                       decoding=DecodingConfig(max_new_tokens=4))])[0].completion_tokens >= 1


def test_lora_adapter_alone(gpt2_dir: Path, labelled_data: Path, tmp_path: Path) -> None:
    out = finetune(build_config(data=[labelled_data], out=tmp_path / "adapter", base_model=str(gpt2_dir),
                                lora=True, merge_adapter=False, keep_adapter=True, max_steps=2))
    names = {p.name for p in out.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "README.md"} <= names
    assert "model.safetensors" not in names
    record = _record(out)
    assert record["saved"] == "adapter" and record["weights_sha256"] is None
    assert record["adapter_sha256"] == weights_sha256(out / "adapter_model.safetensors")


def test_existing_output_is_refused_before_training_unless_overwrite(tiny_model_dir: Path, labelled_data: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious", encoding="utf-8")
    config = {"data": [labelled_data], "out": out, "base_model": str(tiny_model_dir), "max_steps": 1}
    with pytest.raises(ConfigError, match=r"already exists and is not empty.*--overwrite"):
        finetune(build_config(**config))
    # --overwrite replaces only a folder biosynth wrote (it holds the marker); this one is left untouched
    with pytest.raises(ConfigError, match=r"refusing to overwrite .*holds no biosynth_model\.json"):
        finetune(build_config(**config, overwrite=True))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    model = tmp_path / "model"
    first = _record(finetune(build_config(**{**config, "out": model})))
    finetune(build_config(**{**config, "out": model}, overwrite=True, seed=9))
    second = _record(model)
    assert second["written_at"] != first["written_at"] and second["seed"] == 9
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging or old folder


def test_interrupted_training_writes_nothing(tiny_model_dir: Path, labelled_data: Path, tmp_path: Path) -> None:
    class Interrupt:
        def start(self, total_steps: int) -> None:
            pass

        def update(self, step: int, loss: float) -> None:
            if step == 2:
                raise KeyboardInterrupt

        def end(self) -> None:
            pass

    with pytest.raises(KeyboardInterrupt):
        finetune(build_config(data=[labelled_data], out=tmp_path / "out", base_model=str(tiny_model_dir),
                              max_steps=5), progress=Interrupt())
    assert list(tmp_path.iterdir()) == []


def test_failure_while_saving_leaves_no_folder(tiny_model_dir: Path, labelled_data: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(_training, "render_card", disk_full)  # after the weights are saved in the staging folder
    out = tmp_path / "out" / "model"
    with pytest.raises(OSError, match="disk full"):
        finetune(build_config(data=[labelled_data], out=out, base_model=str(tiny_model_dir), max_steps=1))
    assert list((tmp_path / "out").iterdir()) == []


def test_bad_options_are_config_errors(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    with pytest.raises(ConfigError, match="label_prefix must contain"):
        build_config(data=[data], out=tmp_path / "o", label_prefix="LABEL")
    with pytest.raises(ConfigError, match="apply to LoRA only"):
        build_config(data=[data], out=tmp_path / "o", keep_adapter=True)
    with pytest.raises(ConfigError, match="data"):
        build_config(data=[], out=tmp_path / "o")
    with pytest.raises(ConfigError, match="dtype"):
        build_config(data=[data], out=tmp_path / "o", dtype="float16")


def test_instruction_tuning_needs_a_chat_template(gpt2_dir: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": p, "response": r} for p, r in QA])
    with pytest.raises(ConfigError, match="has none; give one with chat_template"):
        finetune(build_config(data=[data], out=tmp_path / "o", base_model=str(gpt2_dir), mode="instruction"))
    assert not (tmp_path / "o").exists()


def test_missing_base_model_is_an_input_error(labelled_data: Path, tmp_path: Path) -> None:
    from biosynth.core import InputDataError

    with pytest.raises(InputDataError, match="does not exist"):
        finetune(build_config(data=[labelled_data], out=tmp_path / "o", base_model=str(tmp_path / "none")))
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError, match=r"not a local folder or \.gguf file; fine-tuning needs a local model"):
        finetune(build_config(data=[labelled_data], out=tmp_path / "o", base_model="some-org/some-model"))


# -- the `finetuned_text` generator ---------------------------------------------------------------
def _generator_params(folder: Path, **extra: object) -> dict[str, object]:
    return {"model": {"backend": "transformers", "params": {"model": str(folder)}},
            "decoding": {"temperature": 1.0, "max_new_tokens": 10}, **extra}


class TestFinetunedTextContract(GeneratorContract):
    generator_name = "finetuned_text"

    @pytest.fixture(autouse=True)
    def _model(self, task_model: Path) -> None:
        self._folder = task_model

    def make_params(self) -> dict[str, object]:
        return _generator_params(self._folder)


def test_finetuned_text_conditions_on_the_label_and_records_it(task_model: Path, tmp_path: Path) -> None:
    generator = FinetunedText(_generator_params(task_model, decoding={"temperature": 0.0, "max_new_tokens": 12}))
    ctx = StepContext(step="notes", seed=4, root=tmp_path)
    records = generator.generate([SampleRequest(index=i, seed=i) for i in range(4)], ctx)
    assert all(isinstance(r, Record) for r in records)
    by_label = {r.labels["label"]: r for r in records if isinstance(r, Record)}
    assert set(by_label) == {"asthma", "copd"}  # balanced over the training labels
    for label, expected in (("asthma", ASTHMA), ("copd", COPD)):
        record = by_label[label]
        assert isinstance(record.payload, TextPayload) and record.payload.text.startswith(expected)
        prov = record.provenance
        assert prov.strategy == (Strategy.FINE_TUNED,)
        assert prov.model is not None and prov.model.sha256 == weights_sha256(task_model)
        assert prov.prompt is not None and prov.prompt.rendered == label
        assert prov.extra["finetune_record_sha256"] == sha256_file(task_model / "biosynth_model.json")
        assert prov.extra["balance"] == {"column": "label", "value": label, "distribution": {"asthma": 0.5, "copd": 0.5}}


def test_finetuned_text_reads_folders_written_before_the_shared_marker(task_model: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    shutil.copytree(task_model, legacy)
    marker = json.loads((legacy / "biosynth_model.json").read_text(encoding="utf-8"))
    (legacy / "biosynth_model.json").unlink()
    record = {k: v for k, v in marker.items() if k in FinetuneRecord.model_fields}
    (legacy / "biosynth_finetune.json").write_text(json.dumps(record), encoding="utf-8")
    generator = FinetunedText(_generator_params(legacy, decoding={"temperature": 0.0, "max_new_tokens": 4}))
    [outcome] = generator.generate([SampleRequest(index=0, seed=0)], StepContext(step="n", seed=1, root=tmp_path))
    assert isinstance(outcome, Record)
    assert outcome.provenance.extra["finetune_record_sha256"] == sha256_file(legacy / "biosynth_finetune.json")


def test_finetuned_text_from_records_and_bad_labels(task_model: Path, tmp_path: Path) -> None:
    patients = AttributeSampler({"attributes": {"diagnosis": ["copd", "flu"]}, "label_columns": ["diagnosis"]})
    ctx = StepContext(step="patients", seed=2, root=tmp_path)
    inputs = [r for r in patients.generate([SampleRequest(index=i, seed=i) for i in range(6)], ctx)
              if isinstance(r, Record)]
    generator = FinetunedText(_generator_params(task_model, label_field="diagnosis"))
    outcomes = generator.generate([SampleRequest(index=i, seed=i, input=r) for i, r in enumerate(inputs)],
                                  StepContext(step="notes", seed=2, root=tmp_path))
    for source, outcome in zip(inputs, outcomes, strict=True):
        if source.labels["diagnosis"] == "flu":  # the model never saw it: a recorded failure, not a guess
            assert not isinstance(outcome, Record) and "'flu' was not in the model's training data" in outcome.reason
        else:
            assert isinstance(outcome, Record) and outcome.labels == {"diagnosis": "copd"}
            assert outcome.parents == (source.id,)
    with pytest.raises(ConfigError, match=r"labels \['flu'\] were not in the model's training data"):
        FinetunedText(_generator_params(task_model, labels=["copd", "flu"])).setup(
            StepContext(step="x", seed=0, root=tmp_path))


def test_finetuned_text_needs_a_task_adaptive_model(tiny_model_dir: Path, labelled_data: Path, tmp_path: Path) -> None:
    ctx = StepContext(step="x", seed=0, root=tmp_path)
    with pytest.raises(ConfigError, match=r"holds no biosynth_model\.json"):
        FinetunedText(_generator_params(tiny_model_dir)).setup(ctx)
    domain = finetune(build_config(data=[labelled_data], out=tmp_path / "domain", base_model=str(tiny_model_dir),
                                   max_steps=1))
    with pytest.raises(ConfigError, match="'domain-adaptive' mode; label conditioning needs a task-adaptive model"):
        FinetunedText(_generator_params(domain)).setup(ctx)
    with pytest.raises(ConfigError, match="backend 'openai'"):
        FinetunedText({"model": {"backend": "openai", "params": {"model": "x"}}})
