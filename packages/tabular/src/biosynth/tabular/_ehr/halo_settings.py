"""HALO's settings, network size (`HaloConfig`) and training (`HaloTraining`): plain pydantic models, importable
without torch, so that the CLI and recipes can check them before torch is loaded."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

LengthStatistic = Literal["median", "mean"]


class HaloConfig(BaseModel):
    """Network size. `max_visits` is the longest history the model can hold (not counting start and static rows)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_embd: int = Field(64, ge=2)
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="the reference uses none")
    fine_hidden_layers: int = Field(2, ge=1, description="masked linear layers in the fine head (reference: 2)")
    fine_width_multiplier: int = Field(
        1, ge=1, le=16, description="hidden units of the fine head per input position (MADE-style: each hidden "
                                    "unit sees the inputs up to its position); 1 is the reference's square layers")
    max_visits: int | None = Field(None, ge=1, description="None: the longest history in the training data")
    elapsed_edges: tuple[int, ...] = Field(
        (), description="days since the first visit: when set, each row's input to the coarse transformer also gets "
                        "an embedding of its elapsed-time bin (bin i: edges[i-1] < days <= edges[i]), the sum of the "
                        "representative days of the time-gap bins so far, so the model has a clock (age = age at "
                        "the first visit + elapsed time) without adding up gaps itself; () is the reference model")
    end_logit_offset: float = Field(0.0, allow_inf_nan=False,
                                    description="added to the end-of-record logit when sampling (negative: longer "
                                                "histories); set by `Halo.calibrate_length`, 0 leaves the network as "
                                                "trained")

    @model_validator(mode="after")
    def _heads(self) -> Self:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if list(self.elapsed_edges) != sorted(set(self.elapsed_edges)) or any(e <= 0 for e in self.elapsed_edges):
            raise ValueError(f"elapsed_edges must be strictly increasing positive days, got {self.elapsed_edges}")
        return self


class HaloTraining(BaseModel):
    """How to train: epochs over the patients, or a step / wall-clock budget, whichever ends first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    seed: int = Field(0, ge=0)
    max_steps: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0)
    schedule: Literal["constant", "cosine"] = Field(
        "cosine", description="learning rate: constant, or linear warm-up then cosine decay to 0 over the budget "
                              "(the first of epochs, max_steps, max_seconds to end)")
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW decoupled weight decay")
    validation_share: float = Field(
        0.0, ge=0.0, lt=0.5, description="hold out this share of the patients (seeded draw), train on the rest and "
                                         "report the held-out per-position cross-entropy every `validate_every` "
                                         "steps and at the end (`Halo.validation`): to see over- or under-fitting "
                                         "and to choose size and steps; 0 trains on every patient")
    validate_every: int = Field(200, ge=1)
    calibrate_length: bool = Field(
        True, description="after training, shift the end-of-record logit so that sampled patients have as many "
                          "visits as the training patients, by `length_statistic` (see `Halo.calibrate_length`)")
    length_statistic: LengthStatistic = Field(
        "median", description="what calibration matches: the median history length (robust: a minority of very "
                              "long histories that the network under-produces does not stretch every other "
                              "patient) or the mean")
    calibration_patients: int = Field(512, ge=2, description="patients sampled per calibration round (at most as "
                                                              "many as there are training patients)")
    calibration_rounds: int = Field(6, ge=1, description="most sampling rounds of the calibration search")
    calibration_tolerance: float = Field(0.01, gt=0.0, lt=1.0,
                                         description="stop once the sampled mean is this close (relative)")
