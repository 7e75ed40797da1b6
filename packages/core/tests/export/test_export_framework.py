"""The export framework: target folder rules, staged writes, the marker, options, errors (a JSON-lines exporter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from biosynth.core import (
    EXPORT_MARKER,
    ExportContext,
    Exporter,
    ExportError,
    ExportOptions,
    Group,
    Registry,
    RegistryError,
    SyntheticDataset,
    export_dataset,
    parse_recipe,
    read_export_marker,
    run_recipe,
    sha256_file,
)
from biosynth.core._progress import LogProgress
from biosynth.core.cli._export import _parse_options

RECIPE = {
    "name": "export-framework", "seed": 5,
    "steps": [
        {"name": "patients", "generator": "attributes", "count": 3,
         "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 80}, "sex": ["female", "male"]}}},
        {"name": "notes", "generator": "template", "from": "patients", "params": {"template": "${age}-year-old ${sex}."}},
    ],
}


class LinesOptions(ExportOptions):
    field: str = "id"


class JsonLines(Exporter):
    """Writes one line per record: the chosen field."""

    format: ClassVar[str] = "lines"
    description: ClassVar[str] = "record fields as JSON lines"
    Options: ClassVar[type[ExportOptions]] = LinesOptions
    fail_after: ClassVar[int | None] = None

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        records = ctx.records()
        ctx.start(len(records))
        assert isinstance(ctx.options, LinesOptions)
        with (ctx.staging / "records.jsonl").open("w") as handle:
            for i, record in enumerate(records):
                if self.fail_after is not None and i == self.fail_after:
                    raise ExportError(f"record {record.id!r} cannot be exported")
                handle.write(json.dumps(getattr(record, ctx.options.field)) + "\n")
                ctx.advance()
        return {"records": len(records), "cases": len(ctx.cases())}


class Failing(JsonLines):
    format: ClassVar[str] = "failing"
    fail_after: ClassVar[int | None] = 2


class NeedsMissing(JsonLines):
    format: ClassVar[str] = "missing"
    requires: ClassVar[tuple[str, ...]] = ("biosynth_no_such_module",)
    extra: ClassVar[str | None] = "biosynth-core[nothing]"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export") / "ds"
    run_recipe(parse_recipe(RECIPE), root, progress=LogProgress())
    return root


@pytest.fixture
def registry() -> Registry:
    registry = Registry(discover=False)
    for cls in (JsonLines, Failing, NeedsMissing):
        registry.register(Group.EXPORTERS, cls.format, cls)
    return registry


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def start_step(self, step: str, total: int, done: int) -> None:
        self.calls.append(("start", step, total))

    def advance(self, produced: int, failed: int) -> None:
        self.calls.append(("advance", produced))

    def end_step(self) -> None:
        self.calls.append(("end",))


def test_export_writes_files_and_a_marker_naming_the_dataset(dataset: Path, tmp_path: Path,
                                                             registry: Registry) -> None:
    progress = Recording()
    result = export_dataset(dataset, "lines", tmp_path / "out", registry=registry, progress=progress)
    assert progress.calls == [("start", "export lines", 6), *[("advance", 1)] * 6, ("end",)]  # 6 < 20 steps
    lines = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    ds = SyntheticDataset(dataset)
    assert [json.loads(line) for line in lines] == [r.id for r in ds.records()]
    marker = read_export_marker(tmp_path / "out")
    assert marker["format"] == "lines" and marker["options"] == {"field": "id"}
    assert marker["files"] == {"records.jsonl": sha256_file(tmp_path / "out" / "records.jsonl")} == result.files
    assert marker["dataset"]["recipe_sha256"] == ds.manifest.recipe_sha256
    assert marker["dataset"]["manifest_sha256"] == sha256_file(dataset / "manifest.json")
    assert marker["dataset"]["seed"] == 5 and marker["dataset"]["recipe"] == "export-framework"
    assert marker["facts"] == {"records": 6, "cases": 3} and "biosynth-core" in marker["software"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind


def test_options_are_validated_and_used(dataset: Path, tmp_path: Path, registry: Registry) -> None:
    export_dataset(dataset, "lines", tmp_path / "out", options={"field": "case_id"}, registry=registry)
    lines = (tmp_path / "out" / "records.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [r.case_id for r in SyntheticDataset(dataset).records()]
    with pytest.raises(ExportError, match=r"lines export options is invalid: colour: Extra inputs"):
        export_dataset(dataset, "lines", tmp_path / "b", options={"colour": "red"}, registry=registry)
    assert not (tmp_path / "b").exists()


def test_foreign_folder_is_refused_and_left_untouched(dataset: Path, tmp_path: Path, registry: Registry) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ExportError, match=r"holds no biosynth_export.json, so biosynth did not write it"):
            export_dataset(dataset, "lines", foreign, overwrite=overwrite, registry=registry)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"] and (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(ExportError, match="is the dataset folder itself"):
        export_dataset(dataset, "lines", dataset, overwrite=True, registry=registry)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        export_dataset(dataset, "lines", tmp_path / "file", registry=registry)


def test_earlier_export_needs_overwrite_and_survives_a_failed_export(dataset: Path, tmp_path: Path,
                                                                     registry: Registry) -> None:
    out = tmp_path / "out"
    export_dataset(dataset, "lines", out, registry=registry)
    before = (out / "records.jsonl").read_bytes()
    with pytest.raises(ExportError, match="pass --overwrite to replace it"):
        export_dataset(dataset, "lines", out, options={"field": "case_id"}, registry=registry)
    with pytest.raises(ExportError, match="cannot be exported"):
        export_dataset(dataset, "failing", out, overwrite=True, registry=registry)
    assert (out / "records.jsonl").read_bytes() == before and read_export_marker(out)["format"] == "lines"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the failed staging folder is gone
    export_dataset(dataset, "lines", out, options={"field": "case_id"}, overwrite=True, registry=registry)
    assert (out / "records.jsonl").read_bytes() != before and read_export_marker(out)["options"]["field"] == "case_id"
    assert sorted(p.name for p in out.iterdir()) == [EXPORT_MARKER, "records.jsonl"]


def test_unknown_format_missing_library_and_bad_datasets(dataset: Path, tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"unknown exporter 'fhirr'; installed: failing, lines, missing"):
        export_dataset(dataset, "fhirr", tmp_path / "o", registry=registry)
    with pytest.raises(ExportError, match=r"needs biosynth_no_such_module.*pip install 'biosynth-core\[nothing\]'"):
        export_dataset(dataset, "missing", tmp_path / "o", registry=registry)
    with pytest.raises(ExportError, match=r"manifest\.json is missing"):
        export_dataset(tmp_path, "lines", tmp_path / "o", registry=registry)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    manifest = json.loads((dataset / "manifest.json").read_text())
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    (damaged / "records.parquet").write_bytes((dataset / "records.parquet").read_bytes()[:-10])
    with pytest.raises(ExportError, match=r"is damaged: records\.parquet does not match its sha256"):
        export_dataset(damaged, "lines", tmp_path / "o", registry=registry)
    (damaged / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    with pytest.raises(ExportError, match="is unfinished"):
        export_dataset(damaged, "lines", tmp_path / "o", registry=registry)
    assert not (tmp_path / "o").exists()


def test_cli_bad_input_exits_2_without_traceback(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`biosynth export` through the CLI's own main() (in process; plugin subcommands are not needed here)."""
    from biosynth.core.cli import _app

    monkeypatch.setattr(_app, "_add_plugin_commands", lambda: None)
    for args, expected in (
        (["--to", "nosuchformat", "--out", str(tmp_path / "o")], "unknown exporter 'nosuchformat'; installed: "),
        (["--to", "nosuchformat"], "--out DIR is required"),
        (["--to", "fhir", "--out", str(tmp_path / "o"), "-O", "version"], "--option 'version' must look like KEY=VALUE"),
    ):
        monkeypatch.setattr(sys, "argv", ["biosynth", "export", str(dataset), *args])
        with pytest.raises(SystemExit) as exit_:
            _app.main()
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and expected in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
    with pytest.raises(ExportError, match=r"--option 'version' must look like KEY=VALUE"):
        _parse_options(["version"])
    with pytest.raises(ExportError, match=r"--option 'a' is given twice"):
        _parse_options(["a=1", "a=2"])
    assert _parse_options(["version=R4B", "path=a=b"]) == {"version": "R4B", "path": "a=b"}
