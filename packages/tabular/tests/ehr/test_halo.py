from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular import Halo, HaloConfig, HaloTraining
from biosynth.tabular._ehr.halo_network import HaloNetwork, HistoryCache, MaskedLinear


def test_tiny_model_is_tiny_and_its_loss_decreases(tiny_halo: Halo) -> None:
    n_params = sum(p.numel() for p in tiny_halo.network.parameters())
    assert 500 < n_params < 10_000
    first, last = sum(tiny_halo.losses[:5]) / 5, sum(tiny_halo.losses[-5:]) / 5
    assert last < 0.5 * first


@pytest.mark.parametrize(("multiplier", "layers"), [(1, 2), (3, 2), (2, 3)])
def test_fine_head_is_autoregressive_within_a_visit(multiplier: int, layers: int) -> None:
    torch.manual_seed(0)
    net = HaloNetwork(HaloConfig(n_embd=4, n_layer=1, n_head=1, max_visits=3, fine_width_multiplier=multiplier,
                                 fine_hidden_layers=layers), vocab_size=6)
    history, visit = torch.randn(1, 4), torch.zeros(1, 6)
    base = net.code_logits(history, visit)
    for position in range(5):  # position p may change the logits of positions p+1.. only (and does change some;
        moved = visit.clone()  # not every one: a ReLU unit may be off)
        moved[0, position] = 1
        changed = ((net.code_logits(history, moved) - base).abs()[0] > 0).tolist()
        assert not any(changed[: position + 1]) and any(changed[position + 1 :])
    assert isinstance(net.fine[0], MaskedLinear)
    assert net.fine[0].weight.shape == (10 * multiplier, 10)  # 4 history + 6 positions


@pytest.mark.parametrize("elapsed_edges", [(), (30, 365)])
def test_cached_history_is_the_full_history_row_by_row(elapsed_edges: tuple[int, ...]) -> None:
    """Sampling feeds the coarse transformer one row at a time with cached keys and values; each row's summary
    must be what the whole-history pass (the training path) gives for it, elapsed-time bins included."""
    torch.manual_seed(0)
    net = HaloNetwork(HaloConfig(n_embd=8, n_layer=2, n_head=2, max_visits=10, elapsed_edges=elapsed_edges),
                      vocab_size=12, gap_days=(7, 90, 400) if elapsed_edges else ()).eval()
    rows = (torch.rand(3, 9, 12) < 0.3).float()
    with torch.inference_mode():
        full = net.history(rows)
        cache = HistoryCache()
        stepped = torch.stack([net.history_next(rows[:, t], cache) for t in range(rows.shape[1])], dim=1)
    assert cache.rows == 9 and len(cache.keys) == 2 and cache.keys[0].shape == (3, 2, 9, 4)
    assert torch.allclose(stepped, full, atol=1e-5), (stepped - full).abs().max()
    assert (full[:, 1:] - full[:, :-1]).abs().max() > 1e-2  # the rows differ: a per-row mix-up would show
    with pytest.raises(RuntimeError, match="eval"):
        net.train().history_next(rows[:, 0], HistoryCache())


def test_training_is_seeded(make_patients, tiny_config) -> None:
    def fit(seed: int) -> list[float]:
        return Halo.fit(make_patients(12), config=HaloConfig(**tiny_config),
                        training=HaloTraining(epochs=1, batch_size=4, seed=seed)).losses
    assert fit(1) == fit(1)
    assert fit(1) != fit(2)


def test_samples_use_the_vocabulary_and_learn_the_pattern(tiny_halo: Halo, tiny_domains) -> None:
    patients = tiny_halo.sample(30, seed=5)
    visits = [v for p in patients for v in p.visits]
    assert visits and all(set(v.codes) <= set(tiny_domains) for v in visits)
    assert all(p.vocabulary == "OMOP" and set(p.static) == {"age_band", "birth_decade", "sex"} for p in patients)
    # the training visits are {1001} or {2002, 3003} (+4004): samples should mostly keep that structure
    kept = sum(1 for v in visits if set(v.codes) - {"4004"} in ({"1001"}, {"2002", "3003"}))
    assert kept / len(visits) > 0.6
    # every static field gets exactly one value; every visit after the first one time gap from the bins
    assert all(value is not None for p in patients for value in p.static.values())
    gaps = [v.days_since_previous for p in patients for v in p.visits[1:]]
    assert gaps and set(gaps) <= set(tiny_halo.vocabulary.gap_days)
    assert all(p.visits[0].days_since_previous is None for p in patients if p.visits)


def test_sampling_is_seeded_and_independent_of_batching(tiny_halo: Halo) -> None:
    a = tiny_halo.sample(6, seed=9)
    assert a == tiny_halo.sample(6, seed=9, batch_size=4)
    assert a != tiny_halo.sample(6, seed=10)


def test_save_load_round_trip_gives_identical_samples(tiny_halo: Halo, tiny_model_dir: Path) -> None:
    loaded = Halo.load(tiny_model_dir)
    assert loaded.vocabulary == tiny_halo.vocabulary and loaded.config == tiny_halo.config
    assert loaded.sample(8, seed=21) == tiny_halo.sample(8, seed=21)
    assert sorted(p.name for p in tiny_model_dir.iterdir()) == [
        "biosynth_model.json", "halo_config.json", "model.safetensors", "vocabulary.json"]


def test_conditional_sampling_honours_the_condition(tiny_halo: Halo) -> None:
    for sex in ("FEMALE", "MALE"):
        patients = tiny_halo.sample(12, seed=2, conditions={"sex": sex})
        assert all(p.static["sex"] == sex for p in patients)
    women = tiny_halo.sample(20, seed=4, conditions={"sex": "FEMALE"})
    men = tiny_halo.sample(20, seed=4, conditions={"sex": "MALE"})

    def share(ps: list) -> float:
        visits = [v for p in ps for v in p.visits]
        return sum("4004" in v.codes for v in visits) / max(len(visits), 1)
    assert share(women) > share(men)  # 4004 is a women-only code in the training data


def test_bad_conditions_are_refused(tiny_halo: Halo) -> None:
    with pytest.raises(ConfigError, match="unknown static field 'race'"):
        tiny_halo.sample(1, conditions={"race": "x"})
    with pytest.raises(ConfigError, match=r"sex='OTHER': value never seen"):
        tiny_halo.sample(1, conditions={"sex": "OTHER"})


def test_histories_are_not_truncated(make_patients, tiny_config) -> None:
    with pytest.raises(ConfigError, match="max_visits=2 is shorter than the longest training history"):
        Halo.fit(make_patients(10), config=HaloConfig(**tiny_config, max_visits=2))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_corrupted_weights_are_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "m")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match=r"model\.safetensors' is corrupted"):
        Halo.load(folder)


def test_truncated_weights_with_matching_hash_are_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    from biosynth.core import sha256_file

    folder = _copy(tiny_model_dir, tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    marker = json.loads((folder / "biosynth_model.json").read_text())
    marker["files"]["model.safetensors"] = sha256_file(folder / "model.safetensors")
    (folder / "biosynth_model.json").write_text(json.dumps(marker))
    with pytest.raises(InputDataError, match=r"weights .*model\.safetensors' cannot be read"):
        Halo.load(folder)


def test_folder_of_another_generator_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = _copy(tiny_model_dir, tmp_path / "m")
    marker = json.loads((folder / "biosynth_model.json").read_text())
    (folder / "biosynth_model.json").write_text(json.dumps({**marker, "kind": "llm_finetuned"}))
    with pytest.raises(InputDataError, match="model of kind 'llm_finetuned', not 'halo'"):
        Halo.load(folder)
    empty = tmp_path / "other"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(InputDataError, match=r"biosynth_model\.json is missing"):
        Halo.load(empty)
    with pytest.raises(InputDataError, match="does not exist"):
        Halo.load(tmp_path / "nowhere")


def test_save_refuses_a_non_empty_folder(tiny_halo: Halo, tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        tiny_halo.save(tiny_model_dir)


def test_validation_share_holds_patients_out_and_reports_their_loss(make_patients, tiny_config,
                                                                    tmp_path: Path) -> None:
    from biosynth.tabular._ehr.halo import _validation_split, cross_entropy

    patients = make_patients(20)
    training = HaloTraining(epochs=6, batch_size=4, learning_rate=1e-2, seed=2, validation_share=0.25,
                            validate_every=5, calibrate_length=False)
    halo = Halo.fit(patients, config=HaloConfig(**tiny_config), training=training, vocabulary_name="OMOP")
    # 15 patients trained on (4 batches an epoch, 6 epochs), 5 held out; a loss every 5 steps and at the end
    assert len(halo.losses) == 24
    assert [step for step, _ in halo.validation] == [5, 10, 15, 20, 24]
    encoded = [halo.vocabulary.encode(p, where="") for p in patients]
    trained_on, held_out = _validation_split(encoded, training)
    assert len(trained_on) == 15 and len(held_out) == 5
    assert not {id(p) for p in held_out} & {id(p) for p in trained_on}  # the same objects, split (ids: tiny
    # patients may repeat a history)
    assert halo.validation[-1][1] == pytest.approx(cross_entropy(halo.network, held_out, halo.vocabulary.size))
    assert halo.validation[-1][1] < halo.validation[0][1]  # it learns something that carries to unseen patients
    loaded = Halo.load(halo.save(tmp_path / "model"))
    assert loaded.validation == halo.validation
    with pytest.raises(ConfigError, match="validation_share"):
        Halo.fit(patients[:2], config=HaloConfig(**tiny_config),
                 training=HaloTraining(epochs=1, validation_share=0.1, calibrate_length=False))


def test_elapsed_clock_adds_up_the_gap_bins_and_round_trips(make_patients, tiny_config, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from biosynth.core import Visit, VisitSequencePayload
    from biosynth.tabular._ehr.halo import _batch

    config = HaloConfig(**tiny_config, elapsed_edges=(10, 100, 1000))
    halo = Halo.fit(make_patients(12), config=config, vocabulary_name="OMOP",
                    training=HaloTraining(epochs=2, batch_size=4, seed=1, calibrate_length=False))
    patient = VisitSequencePayload(static={"sex": "MALE"}, vocabulary="OMOP", visits=tuple(
        Visit(codes=("1001",), days_since_previous=gap) for gap in (None, 3, 40, 400)))
    visits, _ = _batch([halo.vocabulary.encode(patient, where="")], halo.vocabulary.size)
    # rows: start, static, then visits at 0, 3, 43 and 443 days (each gap bin's representative day is the gap)
    assert halo.network.elapsed_bins(visits)[0].tolist() == [0, 0, 0, 0, 1, 2]
    loaded = Halo.load(halo.save(tmp_path / "model"))
    assert loaded.config.elapsed_edges == (10, 100, 1000)
    assert loaded.sample(5, seed=3) == halo.sample(5, seed=3)
    with pytest.raises(ValidationError, match="elapsed_edges"):
        HaloConfig(elapsed_edges=(30, 30))
    undated = [p.model_copy(update={"visits": tuple(v.model_copy(update={"days_since_previous": None})
                                                    for v in p.visits)}) for p in make_patients(6)]
    with pytest.raises(ConfigError, match="elapsed_edges needs"):
        Halo.fit(undated, config=config, training=HaloTraining(epochs=1, calibrate_length=False))
