"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` atomically.

    On any exception the temporary file is removed and `target` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
    try:
        yield tmp
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | Path, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))


def is_temporary(path: Path) -> bool:
    """True for the leftovers of an interrupted atomic write."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _fsync_dir(directory: Path) -> None:
    # Directory fsync makes the rename itself durable; not supported on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(root: Path, *, recursive: bool = True) -> None:
    """fsync every file under `root` and every folder (root included), so a rename that follows is durable."""
    root = Path(root)
    if recursive:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
            elif path.is_dir():
                _fsync_dir(path)
    _fsync_dir(root)


def replace_folder(staging: Path, target: Path) -> None:
    """Rename the finished `staging` folder to `target` (a sibling). An earlier non-empty `target` — the caller has
    checked it is biosynth's to replace — is moved aside first, put back if the rename fails, and deleted only once
    the new folder is in place."""
    aside: Path | None = None
    try:
        if target.exists():
            if any(target.iterdir()):
                aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                os.replace(target, aside / target.name)
            else:
                target.rmdir()
        os.replace(staging, target)
        fsync_tree(target.parent, recursive=False)
    except BaseException:
        if aside is not None and not target.exists():
            os.replace(aside / target.name, target)  # put the earlier folder back
        raise
    finally:
        if aside is not None and aside.exists():
            shutil.rmtree(aside)
