"""Contract tests every generator and backend subclasses (the langchain-tests idea).

    class TestMyGenerator(GeneratorContract):
        generator_name = "my_generator"
        def make_params(self): return {...}

pytest collects the inherited `test_*` methods. No pytest import here, so the kit stays importable
without it. Nothing is skipped: where a check does not apply (no inputs, no media, a deterministic
generator), the test asserts the declared claim instead (no parents, no media refs, equal samples).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from biosynth.core._decoding import DecodingConfig
from biosynth.core._errors import ConfigError
from biosynth.core._generator import Generator, SampleFailure, SampleRequest, StepContext, generator_class
from biosynth.core._hashing import sha256_file
from biosynth.core._llm import ChatMessage, ChatRequest, LanguageModel
from biosynth.core._nested import find_nested
from biosynth.core._records import MediaRef, Record
from biosynth.core._registry import Registry, default_registry
from biosynth.core._seeding import derive_seed


def _comparable(record: Record) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    data["provenance"].pop("created_at", None)
    return data


class GeneratorContract:
    """Checks a registered generator: registration, strict params, stamping, lineage, determinism."""

    generator_name: ClassVar[str]
    n_samples: ClassVar[int] = 4
    seed_sensitive: ClassVar[bool] = True  # different seeds give different samples (False: equal samples)
    writes_media: ClassVar[bool] = False  # records hold MediaRefs to files under the dataset root

    def make_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def make_inputs(self) -> list[Record] | None:
        """Input records for generators that need `from:`; None for those that do not."""
        return None

    def make_registry(self) -> Registry:
        return default_registry()

    # helpers -------------------------------------------------------------------------------------
    def _generator(self) -> Generator[Any]:
        cls = generator_class(self.make_registry(), self.generator_name)
        return cls(self.make_params())

    def _requests(self, base_seed: int) -> list[SampleRequest]:
        inputs = self.make_inputs()
        return [SampleRequest(index=i, seed=derive_seed(base_seed, i), input=inputs[i % len(inputs)] if inputs else None)
                for i in range(self.n_samples)]

    def _run(self, base_seed: int = 7, *, batches: Sequence[int] | None = None,
             root: Path | None = None) -> list[Record | SampleFailure]:
        """Generate `n_samples` with one generator, in one call or in calls of the sizes `batches`."""
        requests = self._requests(base_seed)
        sizes = list(batches) if batches is not None else [len(requests)]
        with tempfile.TemporaryDirectory() as tmp:
            ctx = StepContext(step="contract", seed=base_seed, root=root or Path(tmp), registry=self.make_registry())
            generator = self._generator()
            outcomes: list[Record | SampleFailure] = []
            start = 0
            for size in sizes:
                outcomes += generator.generate(requests[start:start + size], ctx)
                start += size
            return outcomes

    # the contract --------------------------------------------------------------------------------
    def test_registered_as_generator(self) -> None:
        cls = generator_class(self.make_registry(), self.generator_name)
        assert cls.name == self.generator_name
        assert issubclass(cls.Params, object) and cls.Params.model_config.get("frozen") is True

    def test_unknown_parameter_is_refused(self) -> None:
        cls = generator_class(self.make_registry(), self.generator_name)
        params = {**self.make_params(), "no_such_parameter_xyz": 1}
        try:
            cls(params)
        except ConfigError as err:
            assert "no_such_parameter_xyz" in str(err)
        else:
            raise AssertionError("an unknown parameter was accepted")

    def test_one_outcome_per_request_with_provenance(self) -> None:
        outcomes = self._run()
        assert len(outcomes) == self.n_samples
        records = [o for o in outcomes if isinstance(o, Record)]
        assert records, f"no record produced; failures: {[o for o in outcomes if isinstance(o, SampleFailure)]}"
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, SampleFailure):
                assert outcome.index == i and outcome.reason
                continue
            assert outcome.id == f"contract-{i:06d}"
            assert outcome.provenance.generator == self.generator_name
            assert outcome.provenance.step == "contract"
            assert outcome.provenance.seed == derive_seed(7, i)
            assert outcome.provenance.generator_version not in ("", None)

    def test_lineage_from_inputs(self) -> None:
        inputs = self.make_inputs()
        if not inputs:  # made from nothing: a record must not claim parents
            for outcome in self._run():
                if isinstance(outcome, Record):
                    assert not outcome.parents, \
                        f"record {outcome.id} names parents {outcome.parents} though no input was given"
            return
        for i, outcome in enumerate(self._run()):
            if isinstance(outcome, Record):
                source = inputs[i % len(inputs)]
                assert source.id in outcome.parents
                assert outcome.case_id == source.case_id

    def test_same_seed_same_records(self) -> None:
        first = [_comparable(o) if isinstance(o, Record) else o for o in self._run(11)]
        second = [_comparable(o) if isinstance(o, Record) else o for o in self._run(11)]
        assert first == second

    def test_seed_changes_samples(self) -> None:
        a = [o.payload for o in self._run(1) if isinstance(o, Record)]
        b = [o.payload for o in self._run(2) if isinstance(o, Record)]
        if self.seed_sensitive:
            assert a != b, "two seeds gave the same samples"
        else:  # declared deterministic: the seed must not matter
            assert a == b, f"{type(self).__name__} sets seed_sensitive = False but two seeds gave different samples"

    def test_batch_split_does_not_change_records(self) -> None:
        """A sample depends only on its own request: splitting the requests into other batches changes nothing."""
        assert self.n_samples >= 2, f"{type(self).__name__}.n_samples must be at least 2 to split a batch"
        whole = [_comparable(o) if isinstance(o, Record) else o for o in self._run(13)]
        split_sizes = [1, self.n_samples - 1] if self.n_samples < 4 else [1, 2, self.n_samples - 3]
        split = [_comparable(o) if isinstance(o, Record) else o for o in self._run(13, batches=split_sizes)]
        assert split == whole, f"records differ when the {self.n_samples} requests come in batches of {split_sizes}"

    def test_media_files_match_their_refs(self) -> None:
        """Every MediaRef a record holds names a file under the dataset root with that sha256 and size."""
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            refs = [ref for o in self._run(root=root) if isinstance(o, Record)
                    for _, ref in find_nested(o.payload, MediaRef)]
            if not self.writes_media:
                assert not refs, f"{type(self).__name__} sets writes_media = False but records hold {len(refs)} MediaRefs"
                return
            assert refs, f"generator {self.generator_name!r} wrote no media files (writes_media = True)"
            for ref in refs:
                path = root / ref.path
                assert path.is_file(), f"media file {ref.path} is missing"
                assert sha256_file(path) == ref.sha256, f"media file {ref.path}: sha256 differs from its MediaRef"
                assert path.stat().st_size == ref.bytes, f"media file {ref.path}: size differs from its MediaRef"


class LanguageModelContract:
    """Checks a backend: model reference, token counts, seeded determinism, limits, JSON output.

    Set `batch_invariant = False` (and say why) for a backend whose batched numerics may change a
    sampled token compared with the same prompt alone.
    """

    batch_invariant: ClassVar[bool] = True

    def make_model(self) -> LanguageModel:
        raise NotImplementedError

    def _request(self, text: str, seed: int = 3, **decoding: Any) -> ChatRequest:
        config = DecodingConfig(**{"max_new_tokens": 16, "temperature": 0.8, **decoding})
        return ChatRequest(messages=(ChatMessage(role="user", content=text),), decoding=config, seed=seed)

    def test_model_reference(self) -> None:
        ref = self.make_model().model_ref
        assert ref.name and ref.backend

    def test_completion_reports_tokens(self) -> None:
        [completion] = self.make_model().generate([self._request("Write one sentence about asthma.")])
        assert isinstance(completion.text, str)
        assert completion.prompt_tokens > 0
        assert 0 <= completion.completion_tokens <= 16
        assert completion.finish_reason in ("stop", "length")

    def test_one_completion_per_request_in_order(self) -> None:
        model = self.make_model()
        prompts = [self._request(f"Patient {i} note.", seed=i) for i in range(3)]
        batch = model.generate(prompts)
        assert len(batch) == 3
        assert all(isinstance(c.text, str) for c in batch)

    def test_batching_does_not_change_text(self) -> None:
        model = self.make_model()
        prompts = [self._request(f"Patient {i} note.", seed=i) for i in range(3)]
        batch = model.generate(prompts)
        singles = [model.generate([p])[0] for p in prompts]
        if self.batch_invariant:
            assert [c.text for c in batch] == [c.text for c in singles]
        else:  # declared batch-variant: each prompt alone must still repeat exactly
            assert [c.text for c in singles] == [model.generate([p])[0].text for p in prompts]

    def test_same_seed_same_text(self) -> None:
        model = self.make_model()
        a = model.generate([self._request("Describe a rash.", seed=5)])[0].text
        b = model.generate([self._request("Describe a rash.", seed=5)])[0].text
        assert a == b

    def test_json_schema_output(self) -> None:
        import json

        model = self.make_model()
        # Structure, types and enums only: grammar engines (llama.cpp) do not enforce numeric bounds, so
        # generators validate values themselves and retry.
        schema = {"type": "object", "properties": {"age": {"type": "integer"}, "sex": {"enum": ["female", "male"]}},
                  "required": ["age", "sex"]}
        request = ChatRequest(messages=(ChatMessage(role="user", content="A patient as JSON."),),
                              decoding=DecodingConfig(max_new_tokens=64, temperature=0.0), json_schema=schema)
        if not model.supports_json_schema:  # such a backend must refuse a schema, never ignore it
            try:
                model.generate([request])
            except ConfigError as err:
                assert "JSON schema" in str(err)
                return
            raise AssertionError(f"backend {model.model_ref.backend!r} accepted a JSON schema it cannot enforce")
        value = json.loads(model.generate([request])[0].text)
        assert set(value) == {"age", "sex"}
        assert isinstance(value["age"], int) and not isinstance(value["age"], bool)
        assert value["sex"] in ("female", "male")
