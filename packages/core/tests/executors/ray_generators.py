"""Generators for the executor tests, importable as `ray_generators:<Name>` (on Ray workers too, via PYTHONPATH)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pydantic import Field

from biosynth.core import (
    BackendSpec,
    ChatMessage,
    ChatRequest,
    ConfigError,
    Draft,
    Generator,
    GeneratorParams,
    SampleRequest,
    StepContext,
    TextPayload,
)


class ModelNotesParams(GeneratorParams):
    model: BackendSpec = BackendSpec(backend="fake")
    loads_dir: str = Field(description="each model load leaves a file here (pid and a random id)")
    exit_at: int | None = Field(None, description="kill the worker process (os._exit) at this sample, once: the "
                                                  "first time, a file `exited` in loads_dir marks it done")


class ModelNotes(Generator[ModelNotesParams]):
    """One language-model completion per sample; loads its model in `setup` (once per process that runs the step)."""

    name = "model_notes"

    def _setup(self, ctx: StepContext) -> None:
        self.model = ctx.language_model(self.params.model)
        (Path(self.params.loads_dir) / f"load-{os.getpid()}-{uuid.uuid4().hex}").write_text("")

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        marker = Path(self.params.loads_dir) / "exited"
        if request.index == self.params.exit_at and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)  # what an out-of-memory kill or a segfault in a native library looks like to Ray
        source = request.input.text if request.input is not None else ""
        completion = self.model.generate([ChatRequest(messages=(ChatMessage(role="user", content=f"note on {source}"),),
                                                      seed=request.seed)])[0]
        return Draft(payload=TextPayload(text=completion.text), model=completion.model)


class RefusingParams(GeneratorParams):
    refuse_from: int = 0


class Refusing(Generator[RefusingParams]):
    """Raises a user error (ConfigError) from sample `refuse_from` on, as a bad parameter found at run time would."""

    name = "refusing"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        if request.index >= self.params.refuse_from:
            raise ConfigError(f"sample {request.index}: the model refuses this parameter")
        return Draft(payload=TextPayload(text=str(request.index)))
