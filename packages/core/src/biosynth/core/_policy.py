"""Data governance: real patient data only reaches local models unless a recipe permits otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from biosynth.core._errors import PolicyError
from biosynth.core._recipe import PolicyConfig


@dataclass(frozen=True)
class PolicyDecision:
    step: str
    backend: str
    kind: str
    remote: bool
    real_data: bool
    permitted: bool
    justification: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.step, "backend": self.backend, "kind": self.kind, "remote": self.remote,
            "real_data": self.real_data, "permitted": self.permitted, "justification": self.justification,
        }


class Policy:
    """Decides whether a step may send its data to a component (language model, pipeline, voice, ...).

    Default: a step that reads real data (any input file marked `real`) may only use local components;
    one that does not declare where it runs counts as remote. A remote component is refused unless the
    recipe lists the step in `policy.allow_real_data_to_remote` with a justification; the decision is
    recorded either way.
    Prompts built from real data are stored in provenance as hashes only (`redact_prompts`).
    """

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()

    def check(self, *, step: str, backend: str, remote: bool, real_data: bool,
              kind: str = "language_model") -> PolicyDecision:
        """Allow or refuse (PolicyError) a step's component; `remote` comes from `runs_remotely`."""
        permitted_by_recipe = step in self.config.allow_real_data_to_remote
        if remote and real_data and not permitted_by_recipe:
            raise PolicyError(
                f"step {step!r} would send real data to the remote {kind.replace('_', ' ')} {backend!r} (a "
                "component that runs remotely or does not declare where it runs), which the "
                "policy refuses by default. Use a local backend, mark the input `real: false` if it is "
                "not patient data, or list the step under `policy.allow_real_data_to_remote` with a "
                "`justification` (e.g. the data use agreement) to permit it explicitly."
            )
        return PolicyDecision(
            step=step, backend=backend, kind=kind, remote=remote, real_data=real_data, permitted=True,
            justification=self.config.justification if (remote and real_data) else None,
        )

    @staticmethod
    def redact_prompts(real_data: bool) -> bool:
        return real_data
