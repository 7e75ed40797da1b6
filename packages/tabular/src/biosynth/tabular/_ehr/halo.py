"""`Halo`: fit HALO on patients (sequences of visits), sample new ones, save and load as safetensors + JSON."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from biosynth.core import (
    MARKER,
    ConfigError,
    InputDataError,
    Visit,
    VisitSequencePayload,
    derive_seed,
    seeded_torch,
    write_model_folder,
)
from biosynth.tabular._ehr.halo_folder import (
    CONFIG_FILE,
    FORMAT_VERSION,
    GENERATOR_NAME,
    VOCAB_FILE,
    WEIGHTS_FILE,
    HaloFolder,
    read_halo_folder,
)
from biosynth.tabular._ehr.halo_network import HaloNetwork, HistoryCache
from biosynth.tabular._ehr.halo_settings import HaloConfig, HaloTraining, LengthStatistic
from biosynth.tabular._ehr.halo_vocab import DEFAULT_GAP_EDGES, Category, HaloVocabulary


def length_statistic(lengths: Sequence[int], statistic: LengthStatistic) -> float:
    """The history length that `Halo.calibrate_length` matches: the mean, or the median (`median_grouped`:
    interpolated within the middle count, so that it moves smoothly as the share of each length changes)."""
    if not lengths:
        raise ConfigError("the history-length statistic needs at least one patient")
    if statistic == "mean":
        return statistics.fmean(lengths)
    return statistics.median_grouped(sorted(lengths))


class LengthCalibration(BaseModel):
    """How `end_logit_offset` was chosen: the sampled visit count (by `statistic`) before and after, against the
    target. Records written before `statistic` existed calibrated the mean (their `*_mean_visits` names load)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    statistic: LengthStatistic = "mean"
    target_visits: float = Field(gt=0, validation_alias=AliasChoices("target_visits", "target_mean_visits"))
    start_offset: float = Field(description="the offset the search started from (the model's previous one)")
    before_visits: float = Field(ge=0, description="sampled statistic at start_offset",
                                 validation_alias=AliasChoices("before_visits", "before_mean_visits"))
    after_visits: float = Field(ge=0, validation_alias=AliasChoices("after_visits", "after_mean_visits"))
    end_logit_offset: float
    patients: int = Field(ge=1)
    rounds: int = Field(ge=0)
    seed: int = Field(ge=0)


@dataclass(frozen=True)
class SampledPatient:
    """A sampled patient and how its sampling went."""

    payload: VisitSequencePayload
    ended: bool  # False: stopped at max_visits without sampling the end token
    empty_visits_dropped: int
    static_missing: tuple[str, ...] = field(default_factory=tuple)


class Halo:
    """HALO for longitudinal EHR: `Halo.fit(patients)`, `sample(n, seed=..., conditions=...)`, `save` / `load`."""

    def __init__(self, config: HaloConfig, vocabulary: HaloVocabulary, network: HaloNetwork,
                 losses: Sequence[float] = (), calibration: LengthCalibration | None = None,
                 validation: Sequence[tuple[int, float]] = ()) -> None:
        if config.max_visits is None:
            raise ValueError("Halo needs a config with max_visits resolved")
        self.config = config
        self.vocabulary = vocabulary
        self.network = network
        self.losses = list(losses)
        self.calibration = calibration
        self.validation = list(validation)  # (step, held-out cross-entropy) when trained with validation_share > 0

    # fitting -----------------------------------------------------------------------------------
    @classmethod
    def fit(cls, patients: Sequence[VisitSequencePayload], *, config: HaloConfig | None = None,
            training: HaloTraining | None = None, vocabulary_name: str | None = None,
            code_domains: Mapping[str, str] | None = None, code_names: Mapping[str, str] | None = None,
            gap_edges: Sequence[int] = DEFAULT_GAP_EDGES,
            on_step: Callable[[int, float], None] | None = None) -> Halo:
        """Train a new HALO on `patients` (static values + visits of codes; `days_since_previous` when known)."""
        config = config or HaloConfig()
        training = training or HaloTraining()
        if len(patients) < 2:
            raise InputDataError(f"HALO needs at least 2 training patients, got {len(patients)}")
        longest = max(len(p.visits) for p in patients)
        if config.max_visits is None:
            config = config.model_copy(update={"max_visits": max(longest, 1)})
        elif longest > config.max_visits:
            raise ConfigError(f"max_visits={config.max_visits} is shorter than the longest training history "
                              f"({longest} visits); raise it rather than truncate histories")
        vocabulary = HaloVocabulary.build(patients, name=vocabulary_name, gap_edges=gap_edges,
                                          code_domains=code_domains, code_names=code_names)
        if config.elapsed_edges and not vocabulary.n_gap:
            raise ConfigError("elapsed_edges needs the visits' days_since_previous (none of the training visits has "
                              "one) and time-gap bins (gap_edges)")
        encoded = [vocabulary.encode(p, where=f"patient {i}") for i, p in enumerate(patients)]
        encoded, held_out = _validation_split(encoded, training)
        with seeded_torch(training.seed):
            network = HaloNetwork(config, vocabulary.size, vocabulary.gap_days)
            validation: list[tuple[int, float]] = []
            losses = _train(network, encoded, vocabulary.size, training, on_step, held_out, validation)
        halo = cls(config, vocabulary, network, losses, validation=validation)
        if training.calibrate_length:
            halo.calibrate_length_to(patients, training)
        return halo

    def calibrate_length_to(self, patients: Sequence[VisitSequencePayload],
                            training: HaloTraining) -> LengthCalibration:
        """The calibration `fit` runs after training, from offset 0: the target is `patients`' (the training
        patients') `training.length_statistic`, with `training`'s seed, patient count, rounds and tolerance.
        Run it on a loaded model to give it today's calibration."""
        return self.calibrate_length(
            length_statistic([len(p.visits) for p in patients], training.length_statistic),
            statistic=training.length_statistic, seed=derive_seed(training.seed, "calibrate"),
            patients=min(training.calibration_patients, len(patients)), rounds=training.calibration_rounds,
            tolerance=training.calibration_tolerance, start_offset=0.0)

    def calibrate_length(self, target_visits: float, *, statistic: LengthStatistic = "median", seed: int = 0,
                         patients: int = 512, rounds: int = 6, tolerance: float = 0.01, batch_size: int = 128,
                         start_offset: float | None = None) -> LengthCalibration:
        """Choose `config.end_logit_offset` so that `patients` sampled patients (fixed seeds) have
        `target_visits` visits by `statistic` (pass the training patients' `length_statistic`, never held-out
        data's).

        The end token is one rare position per history, so a small error in its probability changes history
        length a lot, and with it every per-patient measure. The median is the default target: when the
        network under-produces a minority of very long histories (on Eunomia, 60-injection immunotherapy
        courses: 11.5% of training patients, 97 visits on average, sampled for 6%), matching the mean would
        stretch every other patient to make up the missing length; the median is not moved by that tail.
        Search: a first step from the geometric approximation (visits ~ 1/p(end), p ~ exp(logit)), then
        secant steps on log(statistic) kept inside the bracket found so far, until the statistic is within
        `tolerance` (relative) or half a standard error of the target; the offset whose statistic lies
        closest to the target is kept. The search starts from `start_offset` (default: the model's current
        offset; 0 repeats what `fit` does).
        """
        if not (math.isfinite(target_visits) and target_visits > 0):
            raise ConfigError(f"target_visits must be a positive number, got {target_visits}")
        if target_visits > (self.config.max_visits or 0):
            raise ConfigError(f"target_visits={target_visits} exceeds the model's context of "
                              f"{self.config.max_visits} visits")
        if statistic not in ("median", "mean"):
            raise ConfigError(f"statistic must be 'median' or 'mean', got {statistic!r}")
        if patients < 1 or rounds < 1 or not 0 < tolerance < 1:
            raise ConfigError(f"calibration needs patients >= 1, rounds >= 1 and 0 < tolerance < 1 (got {patients}, "
                              f"{rounds}, {tolerance})")
        seeds = [derive_seed(seed, i) for i in range(patients)]
        limit = self.config.max_visits
        assert limit is not None

        def error(offset: float) -> tuple[float, float, float]:
            lengths = [len(s.payload.visits) for s in self._sample_all(seeds, {}, limit, batch_size, offset)]
            value = length_statistic(lengths, statistic)
            return value, math.log(max(value, 0.5) / target_visits), 0.5 * _standard_error(lengths, statistic)

        start = self.config.end_logit_offset if start_offset is None else start_offset
        if not math.isfinite(start):
            raise ConfigError(f"start_offset must be a finite number, got {start}")
        offset = start
        before, err, half_se = error(offset)
        value, best = before, (abs(err), offset, before)
        low, high = -math.inf, math.inf  # offsets known to give too long (low) and too short (high) histories
        previous: tuple[float, float] | None = None
        used = 0
        for _ in range(rounds):
            if abs(err) <= math.log1p(tolerance) or abs(value - target_visits) <= half_se:
                break
            if err > 0:
                low = max(low, offset)  # too long: the offset must grow
            else:
                high = min(high, offset)
            slope = -1.0  # geometric approximation: d log(visits) / d offset ~ -1
            if previous is not None and previous[0] != offset:
                secant = (err - previous[1]) / (offset - previous[0])
                if secant < 0 and math.isfinite(secant):
                    slope = secant
            proposal = offset - err / slope
            if not low < proposal < high:
                proposal = (low + high) / 2 if math.isfinite(low) and math.isfinite(high) else proposal
            previous = (offset, err)
            offset = proposal
            value, err, half_se = error(offset)
            used += 1
            if abs(err) < best[0]:
                best = (abs(err), offset, value)
        result = LengthCalibration(statistic=statistic, target_visits=target_visits, start_offset=start,
                                   before_visits=before, after_visits=best[2], end_logit_offset=best[1],
                                   patients=patients, rounds=used, seed=seed)
        self.config = self.config.model_copy(update={"end_logit_offset": best[1]})
        self.calibration = result
        return result

    # sampling ----------------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int = 0, conditions: Mapping[str, Category] | None = None,
               max_visits: int | None = None, batch_size: int = 64) -> list[VisitSequencePayload]:
        """`n` new patients; patient i depends only on (seed, i) and the conditions, not on the batching."""
        if n < 0:
            raise ConfigError(f"n must be non-negative, got {n}")
        seeds = [derive_seed(seed, i) for i in range(n)]
        return [s.payload for s in self.sample_seeded(seeds, conditions=conditions, max_visits=max_visits,
                                                      batch_size=batch_size)]

    def sample_seeded(self, seeds: Sequence[int], *, conditions: Mapping[str, Category] | None = None,
                      max_visits: int | None = None, batch_size: int = 64) -> list[SampledPatient]:
        """One patient per seed, conditioned on static values (`{"sex": "FEMALE"}`)."""
        fixed = self.vocabulary.condition_positions(conditions or {})
        limit = max_visits if max_visits is not None else self.config.max_visits
        assert limit is not None
        if limit < 1 or limit > (self.config.max_visits or 0):
            raise ConfigError(f"max_visits must lie in 1..{self.config.max_visits} (the model's context), got {limit}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        return self._sample_all(seeds, fixed, limit, batch_size, self.config.end_logit_offset)

    def _sample_all(self, seeds: Sequence[int], fixed: dict[int, int], limit: int, batch_size: int,
                    end_offset: float) -> list[SampledPatient]:
        out: list[SampledPatient] = []
        self.network.eval()
        with torch.inference_mode():
            for start in range(0, len(seeds), batch_size):
                out += self._sample_batch(list(seeds[start : start + batch_size]), fixed, limit, end_offset)
        return out

    def _sample_batch(self, seeds: list[int], fixed: dict[int, int], limit: int,
                      end_offset: float) -> list[SampledPatient]:
        vocab, net = self.vocabulary, self.network
        size, batch = vocab.size, len(seeds)
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        positions = torch.arange(size)
        end = positions == vocab.end_index
        bias = end.float() * end_offset
        static_allowed = ((positions >= vocab.static_offset) & (positions < vocab.start_index)) | end
        first_visit_allowed = ((positions >= vocab.code_offset) & (positions < vocab.static_offset)) | end
        later_visit_allowed = (positions < vocab.static_offset) | end
        static_groups = [(min(c.values()), max(c.values()) + 1) for c in vocab.static_positions().values()]
        gap_groups = [(0, vocab.n_gap)] if vocab.n_gap else []
        forced = torch.full((size,), -1)
        for index, value in fixed.items():
            forced[index] = value
        rows = torch.zeros(batch, 1, size)
        rows[:, 0, vocab.start_index] = 1
        done = torch.zeros(batch, dtype=torch.bool)
        cache = HistoryCache()  # each step runs the coarse transformer on the newest row only
        for t in range(1, limit + 2):
            history = net.history_next(rows[:, -1], cache)
            if t == 1:
                row = self._fill_row(history, generators, ~done, static_allowed, static_groups, forced, bias)
            elif t == 2:
                row = self._fill_row(history, generators, ~done, first_visit_allowed, [], None, bias)
            else:
                row = self._fill_row(history, generators, ~done, later_visit_allowed, gap_groups, None, bias)
            rows = torch.cat((rows, row.unsqueeze(1)), dim=1)
            done |= row[:, vocab.end_index].bool()
            if bool(done.all()):
                break
        return [self._decode(rows[b], bool(done[b])) for b in range(batch)]

    def _fill_row(self, history: torch.Tensor, generators: list[torch.Generator], active: torch.Tensor,
                  allowed: torch.Tensor, groups: list[tuple[int, int]], forced: torch.Tensor | None,
                  bias: torch.Tensor) -> torch.Tensor:
        """Sample one row per active patient, position by position, as the reference's `sample` loop does: draw
        every position, keep the first drawn one past the pointer, re-run the fine head from there.

        Each `groups` range (a static field, the time-gap bins) gets exactly one position, as in the
        training data: once one is set the others are off, and the last is on if none was drawn before it.
        `bias` is added to the logits (the calibrated end-of-record offset).
        """
        size = self.vocabulary.size
        row = torch.zeros(history.shape[0], size)
        pointer = torch.zeros(history.shape[0], dtype=torch.long)
        active = active.clone()
        positions = torch.arange(size)
        membership = torch.zeros(size, len(groups))
        last = torch.zeros(size, dtype=torch.bool)
        for g, (lo, hi) in enumerate(groups):
            membership[lo:hi, g] = 1
            last[hi - 1] = True
        while bool(active.any()):
            idx = active.nonzero().squeeze(1)
            probs = torch.sigmoid(self.network.code_logits(history[idx], row[idx]) + bias)
            uniforms = torch.stack([torch.rand(size, generator=generators[int(b)]) for b in idx])
            draw = (uniforms < probs) & allowed
            if groups:
                taken = ((row[idx] @ membership) > 0).float() @ membership.T > 0
                draw = (draw & ~taken) | (last & ~taken)
            if forced is not None:
                draw = torch.where(forced == 1, True, torch.where(forced == 0, False, draw))
            candidates = draw & (positions >= pointer[idx].unsqueeze(1))
            found = candidates.any(dim=1)
            first = candidates.int().argmax(dim=1)
            hit = idx[found]
            row[hit, first[found]] = 1
            pointer[hit] = first[found] + 1
            active[idx[~found]] = False
            active[hit] = pointer[hit] < size
        return row

    def _decode(self, rows: torch.Tensor, ended: bool) -> SampledPatient:
        vocab = self.vocabulary
        active = [r.nonzero().squeeze(1).tolist() for r in rows]
        static = vocab.decode_static(active[1]) if len(active) > 1 else {f.name: None for f in vocab.static_fields}
        visits: list[Visit] = []
        dropped = 0
        carried: int | None = 0
        ended_in_static = len(active) > 1 and vocab.end_index in active[1]
        for positions in ([] if ended_in_static else active[2:]):
            visit = vocab.decode_visit(positions)
            gap = visit.days_since_previous
            if not visit.codes:  # as in the reference, a visit without codes is dropped; its gap carries over
                dropped += 1
                carried = None if carried is None or gap is None else carried + gap
                if vocab.end_index in positions:
                    break
                continue
            if visits and carried and gap is not None:
                visit = visit.model_copy(update={"days_since_previous": gap + carried})
            if not visits:
                visit = visit.model_copy(update={"days_since_previous": None})
            carried = 0
            visits.append(visit)
            if vocab.end_index in positions:
                break
        payload = VisitSequencePayload(static=static, visits=tuple(visits), vocabulary=vocab.name)
        missing = tuple(k for k, v in static.items() if v is None)
        return SampledPatient(payload=payload, ended=ended, empty_visits_dropped=dropped, static_missing=missing)

    # persistence -------------------------------------------------------------------------------
    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically: weights (safetensors), config and vocabulary (JSON), and the marker
        (core's `write_model_folder`). `overwrite` replaces only a folder holding biosynth's marker."""

        def write(staging: Path) -> dict[str, Any]:
            state = {k: v.detach().contiguous() for k, v in self.network.state_dict().items()}
            save_file(state, str(staging / WEIGHTS_FILE), metadata={"generator": GENERATOR_NAME})
            (staging / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n")
            (staging / VOCAB_FILE).write_text(self.vocabulary.model_dump_json(indent=2) + "\n")
            return {"training_steps": len(self.losses), "final_loss": self.losses[-1] if self.losses else None,
                    "validation_losses": [list(v) for v in self.validation] or None,
                    "length_calibration": self.calibration.model_dump() if self.calibration else None}

        return write_model_folder(folder, GENERATOR_NAME, FORMAT_VERSION, write, replace=overwrite)

    @classmethod
    def load(cls, folder: str | Path | HaloFolder) -> Halo:
        """Load a folder written by `save` (or one `read_halo_folder` has checked); a folder of another generator or
        a damaged file is refused by name."""
        checked = folder if isinstance(folder, HaloFolder) else read_halo_folder(Path(folder))
        folder, marker, config, vocabulary = checked.path, checked.marker, checked.config, checked.vocabulary
        marker_path = folder / MARKER
        try:
            state = load_file(str(folder / WEIGHTS_FILE))
        except (SafetensorError, OSError) as err:
            raise InputDataError(f"HALO weights {str(folder / WEIGHTS_FILE)!r} cannot be read: {err}") from None
        with torch.random.fork_rng(devices=[]):
            network = HaloNetwork(config, vocabulary.size, vocabulary.gap_days)
        try:
            network.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise InputDataError(f"HALO weights {str(folder / WEIGHTS_FILE)!r} do not fit {CONFIG_FILE} and "
                                 f"{VOCAB_FILE}: {err}") from None
        network.eval()
        calibration = marker.get("length_calibration")
        try:
            parsed = None if calibration is None else LengthCalibration.model_validate(calibration)
        except ValidationError as err:
            raise InputDataError(f"{str(marker_path)!r}: 'length_calibration' is not valid: {err}") from None
        if parsed is not None and parsed.end_logit_offset != config.end_logit_offset:
            raise InputDataError(f"{str(marker_path)!r}: 'length_calibration' records end_logit_offset "
                                 f"{parsed.end_logit_offset}, but {CONFIG_FILE} holds {config.end_logit_offset}")
        validation = marker.get("validation_losses") or []
        if not (isinstance(validation, list) and all(
                isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], int | float)
                for v in validation)):
            raise InputDataError(f"{str(marker_path)!r}: 'validation_losses' must be a list of [step, loss] pairs")
        return cls(config, vocabulary, network, calibration=parsed,
                   validation=[(int(step), float(loss)) for step, loss in validation])


def _standard_error(lengths: Sequence[int], statistic: LengthStatistic) -> float:
    """Of the mean: sd / sqrt(n); of the median: the normal-theory 1.2533 sd / sqrt(n), with the spread
    taken from the interquartile range (IQR / 1.349), which a long tail does not inflate."""
    n = len(lengths)
    if n < 2:
        return 0.0
    if statistic == "mean":
        return statistics.pstdev(lengths) / math.sqrt(n)
    quartiles = statistics.quantiles(lengths, n=4)
    return 1.2533 * (quartiles[2] - quartiles[0]) / 1.349 / math.sqrt(n)


def _batch(encoded: Sequence[list[list[int]]], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    rows = max(len(p) for p in encoded)
    visits = torch.zeros(len(encoded), rows, size)
    mask = torch.zeros(len(encoded), rows - 1)
    for b, patient in enumerate(encoded):
        for t, active in enumerate(patient):
            visits[b, t, active] = 1
        mask[b, : len(patient) - 1] = 1
    return visits, mask


def _length_buckets(lengths: list[int], batch_size: int, rng: torch.Generator) -> list[list[int]]:
    """Shuffled batches of patients of similar length (less padding), in shuffled order."""
    order = torch.randperm(len(lengths), generator=rng).tolist()
    chunk = batch_size * 32
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lengths.__getitem__)
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=rng).tolist()]


def _validation_split(encoded: list[list[list[int]]],
                      training: HaloTraining) -> tuple[list[list[list[int]]], list[list[list[int]]]]:
    """(trained on, held out): `validation_share` of the patients, drawn with a seed derived from training.seed."""
    if training.validation_share == 0:
        return encoded, []
    n = round(training.validation_share * len(encoded))
    if n < 1 or n >= len(encoded):
        raise ConfigError(f"validation_share={training.validation_share} of {len(encoded)} patients leaves "
                          f"{n} held out and {len(encoded) - n} to train on; both need at least one")
    order = torch.randperm(len(encoded), generator=torch.Generator().manual_seed(
        derive_seed(training.seed, "validation"))).tolist()
    held = set(order[:n])
    return [p for i, p in enumerate(encoded) if i not in held], [encoded[i] for i in sorted(held)]


def _masked_bce_sum(network: HaloNetwork, visits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Summed binary cross-entropy of every position of every real row after the start row (the training
    loss before dividing by the number of positions, `mask.sum() * vocabulary size`)."""
    bce = F.binary_cross_entropy_with_logits(network(visits), visits[:, 1:], reduction="none")
    return (bce * mask.unsqueeze(-1)).sum()


def cross_entropy(network: HaloNetwork, encoded: Sequence[list[list[int]]], size: int,
                  batch_size: int = 64) -> float:
    """Mean binary cross-entropy per position of every row after the start row (the training loss, in eval
    mode) of already-encoded patients."""
    was_training = network.training
    network.eval()
    total = count = 0.0
    with torch.inference_mode():
        for start in range(0, len(encoded), batch_size):
            visits, mask = _batch(encoded[start : start + batch_size], size)
            total += float(_masked_bce_sum(network, visits, mask))
            count += float(mask.sum()) * size
    network.train(was_training)
    return total / count


def _train(network: HaloNetwork, encoded: list[list[list[int]]], size: int, training: HaloTraining,
           on_step: Callable[[int, float], None] | None, held_out: Sequence[list[list[int]]],
           validation: list[tuple[int, float]]) -> list[float]:
    """Adam on the masked binary cross-entropy of every position of every real row after the start row; the
    held-out patients' cross-entropy is appended to `validation` every `validate_every` steps and at the end."""
    optimizer = torch.optim.AdamW(network.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay)
    order_rng = torch.Generator().manual_seed(derive_seed(training.seed, "order"))
    losses: list[float] = []
    started = time.monotonic()
    network.train()

    def step_hook(step: int, loss: float) -> None:
        if held_out and step % training.validate_every == 0:
            validation.append((step, cross_entropy(network, held_out, size)))
        if on_step is not None:
            on_step(step, loss)

    try:
        _epochs(network, optimizer, order_rng, encoded, size, training, step_hook, losses, started)
    finally:
        network.eval()
    if held_out and (not validation or validation[-1][0] != len(losses)):
        validation.append((len(losses), cross_entropy(network, held_out, size)))
    return losses


def _epochs(network: HaloNetwork, optimizer: torch.optim.Optimizer, order_rng: torch.Generator,
            encoded: list[list[list[int]]], size: int, training: HaloTraining,
            on_step: Callable[[int, float], None] | None, losses: list[float], started: float) -> None:
    per_epoch = math.ceil(len(encoded) / training.batch_size)
    for _epoch in range(training.epochs):
        for batch in _length_buckets([len(p) for p in encoded], training.batch_size, order_rng):
            for group in optimizer.param_groups:
                group["lr"] = training.learning_rate * _lr_factor(training, len(losses), per_epoch,
                                                                  time.monotonic() - started)
            visits, mask = _batch([encoded[i] for i in batch], size)
            loss = _masked_bce_sum(network, visits, mask) / (mask.sum() * size)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise RuntimeError(f"HALO training diverged at step {len(losses)} (loss {value}); lower the "
                                   "learning rate")
            losses.append(value)
            if on_step is not None:
                on_step(len(losses), value)
            if training.max_steps is not None and len(losses) >= training.max_steps:
                return
            if training.max_seconds is not None and time.monotonic() - started > training.max_seconds:
                return


def _lr_factor(training: HaloTraining, step: int, per_epoch: int, elapsed: float) -> float:
    """Warm-up then cosine decay over the training budget (its progress: the furthest of steps, time, epochs)."""
    if training.schedule == "constant":
        return 1.0
    if step < training.warmup_steps:
        return (step + 1) / training.warmup_steps
    progress = step / (training.epochs * per_epoch)
    if training.max_steps is not None:
        progress = max(progress, step / training.max_steps)
    if training.max_seconds is not None:
        progress = max(progress, elapsed / training.max_seconds)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
