"""Export folders: refused unless new, empty or written by biosynth's exporter; filled by a staged rename.

The marker `biosynth_export.json` says that biosynth wrote a folder (so `--overwrite` may replace it), what
format it holds and which dataset (manifest) it came from, and every file's sha256.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from biosynth.core._atomic import fsync_tree, replace_folder
from biosynth.core._errors import BiosynthError
from biosynth.core._hashing import sha256_file

EXPORT_MARKER = "biosynth_export.json"


class ExportError(BiosynthError):
    """An export cannot be made: bad dataset, bad target folder, bad options, or a missing optional library."""


def is_export_folder(folder: str | Path) -> bool:
    return (Path(folder) / EXPORT_MARKER).is_file()


def check_export_target(out: str | Path, *, overwrite: bool, dataset_root: Path | None = None) -> Path:
    """`out` must be new, empty, or (with `overwrite`) a folder holding biosynth's export marker."""
    out = Path(out)
    try:
        exists = out.exists()
    except OSError as err:
        raise ExportError(f"--out {str(out)!r} cannot be used as a folder ({err.strerror or err})") from None
    if dataset_root is not None and exists and out.resolve() == dataset_root.resolve():
        raise ExportError(f"--out {str(out)!r} is the dataset folder itself; choose a new folder")
    if not exists:
        return out
    if not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file; expected a new or empty folder")
    if not any(out.iterdir()):
        return out
    if not is_export_folder(out):
        raise ExportError(f"refusing to write into {str(out)!r}: it is not empty and holds no {EXPORT_MARKER}, "
                          "so biosynth did not write it; choose a new folder (nothing was changed)")
    if not overwrite:
        raise ExportError(f"--out {str(out)!r} holds an earlier biosynth export; pass --overwrite to replace it, "
                          "or choose a new folder")
    return out


def read_export_marker(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / EXPORT_MARKER
    if not path.is_file():
        raise ExportError(f"{str(folder)!r} holds no biosynth export: {EXPORT_MARKER} is missing")
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"{str(path)!r} is not readable JSON: {err}") from None
    if not isinstance(marker, dict):
        raise ExportError(f"{str(path)!r} must hold a JSON object")
    return marker


@contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A hidden empty folder beside `out`; removed on failure, left for `publish` on success."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def publish(staging: Path, out: Path, marker: Callable[[dict[str, str]], dict[str, Any]]) -> dict[str, Any]:
    """Hash the staged files, write the marker, fsync, and rename `staging` to `out` (replacing an earlier
    export there only after the new one is complete; it is put back if the rename fails)."""
    files: dict[str, str] = {}
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            name = path.relative_to(staging).as_posix()
            if name == EXPORT_MARKER:
                raise RuntimeError(f"an exporter may not write {EXPORT_MARKER} itself")
            files[name] = sha256_file(path)
    facts = marker(files)
    (staging / EXPORT_MARKER).write_text(json.dumps(facts, indent=2, sort_keys=True, default=str) + "\n",
                                         encoding="utf-8")
    fsync_tree(staging)
    replace_folder(staging, out)
    return facts
