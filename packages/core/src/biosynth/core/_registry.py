"""The plugin registry: entry-point groups read once, loaded lazily, failures reported not fatal."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as md
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from biosynth.core._errors import RegistryError


class Group(StrEnum):
    """Entry-point groups: generators, one group per component kind, metrics, exporters, CLI commands."""

    GENERATORS = "biosynth.generators"
    LLM_BACKENDS = "biosynth.llm_backends"
    DIFFUSION_PIPELINES = "biosynth.diffusion_pipelines"
    LORA_ADAPTERS = "biosynth.lora_adapters"
    TTS_VOICES = "biosynth.tts_voices"
    ROW_MODELS = "biosynth.row_models"
    EHR_MODELS = "biosynth.ehr_models"
    EMBEDDING_MODELS = "biosynth.embedding_models"
    METRICS = "biosynth.metrics"
    EXPORTERS = "biosynth.exporters"
    CLI = "biosynth.cli"


_NOUN = {
    Group.GENERATORS: "generator",
    Group.LLM_BACKENDS: "language-model backend",
    Group.DIFFUSION_PIPELINES: "diffusion-pipeline backend",
    Group.LORA_ADAPTERS: "LoRA-adapter backend",
    Group.TTS_VOICES: "TTS-voice backend",
    Group.ROW_MODELS: "row-model backend",
    Group.EHR_MODELS: "EHR-model backend",
    Group.EMBEDDING_MODELS: "embedding-model backend",
    Group.METRICS: "metric",
    Group.EXPORTERS: "exporter",
    Group.CLI: "command group",
}


@dataclass(frozen=True)
class PluginInfo:
    group: Group
    name: str
    target: str
    distribution: str | None
    version: str | None
    error: str | None = None


class Registry:
    """Finds implementations by entry point (`group`, `name`).

    Entry points are listed once; each object is imported on first use and cached. A plugin that
    fails to import is recorded (see `failures`) and reported when asked for by name.
    Programmatic registration (`register`) serves tests and notebooks.
    """

    def __init__(self, *, discover: bool = True) -> None:
        self._entry_points: dict[Group, dict[str, md.EntryPoint]] = {g: {} for g in Group}
        self._loaded: dict[tuple[Group, str], Any] = {}
        self._errors: dict[tuple[Group, str], str] = {}
        self._lock = threading.Lock()
        if discover:
            installed = md.entry_points()  # one scan of the installed distributions for every group (each
            for group in Group:            # `entry_points(group=...)` call would rescan them all)
                for ep in installed.select(group=group.value):
                    self._entry_points[group].setdefault(ep.name, ep)

    def register(self, group: Group | str, name: str, obj: Any) -> None:
        self._loaded[(Group(group), name)] = obj

    def names(self, group: Group | str) -> list[str]:
        group = Group(group)
        local = {n for (g, n) in self._loaded if g is group}
        return sorted(set(self._entry_points[group]) | local)

    def get(self, group: Group | str, name: str) -> Any:
        """The object registered as `name`; `module:attribute` also works for generators."""
        group = Group(group)
        key = (group, name)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            ep = self._entry_points[group].get(name)
            if ep is None and ":" in name and group is Group.GENERATORS:
                obj = self._import_path(name)
            elif ep is None:
                installed = ", ".join(self.names(group)) or "none"
                raise RegistryError(
                    f"unknown {_NOUN[group]} {name!r}; installed: {installed}. "
                    f"Install the package that provides it, or use `biosynth plugins` to list them."
                )
            else:
                try:
                    obj = ep.load()
                except Exception as err:
                    self._errors[key] = f"{type(err).__name__}: {err}"
                    raise RegistryError(
                        f"{_NOUN[group]} {name!r} from {_dist_name(ep) or ep.value} failed to load: "
                        f"{self._errors[key]}"
                    ) from err
            self._loaded[key] = obj
            return obj

    def describe(self, *, load: bool = True) -> list[PluginInfo]:
        """Every registered plugin with the distribution that provides it; loads each when `load`."""
        infos: list[PluginInfo] = []
        for group in Group:
            for name in self.names(group):
                ep = self._entry_points[group].get(name)
                error = None
                if load:
                    try:
                        self.get(group, name)
                    except RegistryError:
                        error = self._errors.get((group, name), "failed to load")
                dist = _dist_name(ep) if ep is not None else None
                infos.append(PluginInfo(
                    group=group, name=name, target=ep.value if ep is not None else "(registered in code)",
                    distribution=dist, version=_dist_version(ep) if ep is not None else None, error=error,
                ))
        return infos

    @property
    def failures(self) -> dict[tuple[Group, str], str]:
        return dict(self._errors)

    @staticmethod
    def _import_path(path: str) -> Any:
        module_name, _, attr = path.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as err:
            raise RegistryError(
                f"generator {path!r} could not be imported ({type(err).__name__}: {err}); "
                "expected 'package.module:ClassName' importable from the current environment"
            ) from None


def _dist_name(ep: md.EntryPoint | None) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else None


def _dist_version(ep: md.EntryPoint | None) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else None


@functools.cache
def default_registry() -> Registry:
    """The process-wide registry of installed plugins."""
    return Registry()


def biosynth_distributions() -> dict[str, str]:
    """Installed biosynth distributions and their versions."""
    found: dict[str, str] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().replace("_", "-").startswith("biosynth-"):
            found[name] = dist.version
    return dict(sorted(found.items()))
