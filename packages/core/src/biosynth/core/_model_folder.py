"""Model folders biosynth writes: one marker, one staged atomic write, one weights fingerprint.

Every model biosynth saves (a fine-tuned language model, a LoRA adapter, a learned row model, a HALO
model, ...) is a folder holding its files and the marker `biosynth_model.json`:

    {"kind": "halo", "format_version": 1, "files": {"weights.safetensors": "<sha256>", ...}, ...facts}

`write_model_folder` fills a hidden staging folder beside the target, fsyncs every file and the folder,
adds the marker, and renames it into place. It never deletes or replaces a folder that biosynth did not
write: `replace=True` swaps out only a folder that holds a marker. `check_model_folder` refuses another
kind's folder, an unknown format and any file whose sha256 differs from the marker's.

`weights_sha256(path)` is the one fingerprint rule for any model file or folder, recorded as
`ModelRef.sha256` in every sample's provenance: a file's sha256; for a folder, the sha256 over its
sorted relative paths and their files' sha256, leaving out the marker (which holds dates and facts, not
weights) and hidden files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from biosynth.core._atomic import fsync_tree, replace_folder
from biosynth.core._errors import ConfigError, InputDataError
from biosynth.core._hashing import sha256_file

MARKER = "biosynth_model.json"
SAFE_SUFFIXES = (".json", ".safetensors")


def weights_sha256(path: str | Path) -> str:
    """The fingerprint of a model file or folder (see the module doc)."""
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"model {str(path)!r} does not exist")
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = child.relative_to(path)
        if relative.as_posix() == MARKER or any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode())
        digest.update(sha256_file(child).encode())
    return digest.hexdigest()


def is_model_folder(folder: str | Path) -> bool:
    """True when `folder` holds biosynth's marker (so biosynth wrote it and may replace it)."""
    return (Path(folder) / MARKER).is_file()


def write_model_folder(folder: str | Path, kind: str, format_version: int,
                       write: Callable[[Path], Mapping[str, Any] | None], *,
                       allowed_suffixes: tuple[str, ...] | None = SAFE_SUFFIXES, replace: bool = False) -> Path:
    """Create `folder` atomically: `write(staging)` fills a staging folder, then the marker is added.

    `allowed_suffixes` (default JSON and safetensors: no pickle) limits what a save may write; None allows
    any file (e.g. a tokenizer's merges.txt). The marker records each file's sha256 and `write`'s facts.
    An existing non-empty `folder` is refused, unless `replace` is set and it holds biosynth's marker.
    """
    folder = Path(folder)
    check_model_target(folder, replace=replace)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        facts = dict(write(staging) or {})
        files: dict[str, str] = {}
        for path in sorted(staging.rglob("*")):
            if path.is_dir():
                continue
            name = path.relative_to(staging).as_posix()
            if name == MARKER:
                raise RuntimeError(f"{kind}: a save may not write {MARKER} itself")
            if allowed_suffixes is not None and path.suffix not in allowed_suffixes:
                raise RuntimeError(f"{kind}: refusing to save {name!r}; this model folder holds "
                                   f"{' and '.join(allowed_suffixes)} files only")
            files[name] = sha256_file(path)
        marker = {**facts, "kind": kind, "format_version": format_version, "files": files,
                  "written_at": datetime.now(UTC).isoformat()}
        (staging / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str) + "\n",
                                      encoding="utf-8")
        fsync_tree(staging)
        replace_folder(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def check_model_target(folder: str | Path, *, replace: bool, what: str = "model folder") -> None:
    """Refuse, before any training, what `write_model_folder` would refuse at the end: a path that cannot be a
    folder, a file, or a non-empty folder unless `replace` (--overwrite) and it holds biosynth's marker. Errors
    begin with `what` (e.g. "--out") and the path."""
    folder = Path(folder)
    try:
        exists = folder.exists()
    except OSError as err:  # e.g. a name longer than the file system allows
        raise ConfigError(f"{what} {str(folder)!r} cannot be used as a folder ({err.strerror or err}); choose another "
                          "name") from None
    if not exists:
        return
    if not folder.is_dir():
        raise ConfigError(f"{what} {str(folder)!r} is a file; expected a new or empty folder")
    if not any(folder.iterdir()):
        return
    if not replace:
        raise ConfigError(f"{what} {str(folder)!r} already exists and is not empty; choose a new folder"
                          " (or pass --overwrite to replace a model biosynth wrote there)")
    if not is_model_folder(folder):
        raise ConfigError(f"refusing to overwrite {str(folder)!r}: it holds no {MARKER}, so biosynth did not "
                          "write it; choose a new folder (nothing was changed)")


def read_marker(folder: str | Path) -> dict[str, Any]:
    """The marker of a model folder (`kind`, `format_version`, `files`, facts), or InputDataError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError(f"model folder {str(folder)!r} does not exist or is not a folder")
    marker_path = folder / MARKER
    if not marker_path.is_file():
        raise InputDataError(f"{str(folder)!r} holds no biosynth model: {MARKER} is missing")
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputDataError(f"{str(marker_path)!r} is not readable JSON: {err}") from None
    if not isinstance(marker, dict):
        raise InputDataError(f"{str(marker_path)!r} must hold a JSON object")
    if "kind" not in marker and "generator" in marker:  # folders written before the marker was shared
        marker["kind"] = marker["generator"]
    return marker


def check_model_folder(folder: str | Path, kind: str, format_version: int, *,
                       allowed_suffixes: tuple[str, ...] | None = SAFE_SUFFIXES) -> dict[str, Any]:
    """Check the marker names `kind` and `format_version` and every listed file's sha256; return it."""
    folder = Path(folder)
    marker = read_marker(folder)
    marker_path = folder / MARKER
    if marker.get("kind") != kind:
        raise InputDataError(f"{str(marker_path)!r} describes a model of kind {marker.get('kind')!r}, not {kind!r}")
    if marker.get("format_version") != format_version:
        raise InputDataError(f"{str(marker_path)!r}: format_version {marker.get('format_version')!r} is not "
                             f"supported (expected {format_version})")
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        raise InputDataError(f"{str(marker_path)!r}: 'files' must map file names to sha256")
    for name, expected in files.items():
        path = folder / str(name)
        suffix_ok = allowed_suffixes is None or Path(str(name)).suffix in allowed_suffixes
        if not suffix_ok or ".." in Path(str(name)).parts or Path(str(name)).is_absolute():
            raise InputDataError(f"{str(marker_path)!r} lists {name!r}; only "
                                 f"{' and '.join(allowed_suffixes or ())} files inside the folder are loaded")
        if not path.is_file():
            raise InputDataError(f"model file {str(path)!r} is missing")
        if sha256_file(path) != expected:
            raise InputDataError(f"model file {str(path)!r} is corrupted: its sha256 differs from the one "
                                 f"recorded in {MARKER}")
    return marker
