"""Model folders: one marker, a staged atomic write, and no overwrite of what biosynth did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosynth.core import (
    MARKER,
    ConfigError,
    InputDataError,
    check_model_folder,
    is_model_folder,
    read_marker,
    weights_sha256,
    write_model_folder,
)


def save(payload: bytes, facts: dict[str, object] | None = None):
    def write(staging: Path) -> dict[str, object]:
        (staging / "weights.safetensors").write_bytes(payload)
        (staging / "config.json").write_text('{"layers": 2}')
        return facts or {}
    return write


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_written_folder_has_a_marker_with_every_file_hash(tmp_path: Path) -> None:
    folder = write_model_folder(tmp_path / "m", "halo", 3, save(b"abc", {"steps": 10}))
    marker = read_marker(folder)
    assert marker["kind"] == "halo" and marker["format_version"] == 3 and marker["steps"] == 10
    assert set(marker["files"]) == {"weights.safetensors", "config.json"}
    assert check_model_folder(folder, "halo", 3)["files"] == marker["files"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_check_refuses_another_kind_a_new_format_and_a_corrupted_file(tmp_path: Path) -> None:
    folder = write_model_folder(tmp_path / "m", "halo", 1, save(b"abc"))
    with pytest.raises(InputDataError, match="describes a model of kind 'halo', not 'llm_finetuned'"):
        check_model_folder(folder, "llm_finetuned", 1)
    with pytest.raises(InputDataError, match="format_version 1 is not supported"):
        check_model_folder(folder, "halo", 2)
    (folder / "weights.safetensors").write_bytes(b"abd")
    with pytest.raises(InputDataError, match=r"weights.safetensors' is corrupted"):
        check_model_folder(folder, "halo", 1)


def test_pickle_is_refused_unless_the_kind_allows_other_files(tmp_path: Path) -> None:
    def write(staging: Path) -> None:
        (staging / "model.pkl").write_bytes(b"\x80\x04")

    with pytest.raises(RuntimeError, match=r"refusing to save 'model.pkl'"):
        write_model_folder(tmp_path / "m", "x", 1, write)
    assert not (tmp_path / "m").exists()


def test_overwrite_replaces_only_a_folder_biosynth_wrote(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "thesis.tex").write_text("years of work")
    before = snapshot(project)
    for replace in (False, True):
        with pytest.raises(ConfigError, match="project"):
            write_model_folder(project, "halo", 1, save(b"abc"), replace=replace)
        assert snapshot(project) == before and not is_model_folder(project)

    folder = write_model_folder(tmp_path / "m", "halo", 1, save(b"old"))
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        write_model_folder(folder, "halo", 1, save(b"new"))
    write_model_folder(folder, "halo", 1, save(b"new"), replace=True)
    assert (folder / "weights.safetensors").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "project"]


def test_a_failed_save_leaves_the_earlier_model_in_place(tmp_path: Path) -> None:
    folder = write_model_folder(tmp_path / "m", "halo", 1, save(b"old"))
    before = snapshot(folder)

    def broken(staging: Path) -> None:
        (staging / "weights.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_model_folder(folder, "halo", 1, broken, replace=True)
    assert snapshot(folder) == before


def test_the_fingerprint_ignores_the_marker(tmp_path: Path) -> None:
    a = write_model_folder(tmp_path / "a", "halo", 1, save(b"w", {"trained_at": "monday"}))
    b = write_model_folder(tmp_path / "b", "halo", 1, save(b"w", {"trained_at": "tuesday"}))
    assert json.loads((a / MARKER).read_text()) != json.loads((b / MARKER).read_text())
    assert weights_sha256(a) == weights_sha256(b)


def test_a_legacy_marker_with_generator_reads_as_kind(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "weights.safetensors").write_bytes(b"w")
    files = {"weights.safetensors": __import__("hashlib").sha256(b"w").hexdigest()}
    (folder / MARKER).write_text(json.dumps({"generator": "halo", "format_version": 1, "files": files}))
    assert check_model_folder(folder, "halo", 1)["kind"] == "halo"
