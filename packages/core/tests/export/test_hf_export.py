"""`--to hf`: read back with `datasets.load_from_disk` and `load_dataset("parquet")`; values and bytes match the records."""

from __future__ import annotations

import io
import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biosynth.core import ExportError, Provenance, SyntheticDataset, export_dataset, sha256_file
from biosynth.core._export._hf import HFExporter
from biosynth.core._progress import LogProgress

sys.path.insert(0, str(Path(__file__).parent))
import multimodal_case

datasets = pytest.importorskip("datasets", reason="the `hf` extra of biosynth-core is not installed")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticDataset, Path]:
    root = tmp_path_factory.mktemp("hf")
    ds = SyntheticDataset(multimodal_case.shared(tmp_path_factory))
    result = export_dataset(ds, "hf", root / "export", progress=LogProgress())
    assert result.facts["records"] == 17
    return ds, result.out


def _by_id(ds: SyntheticDataset) -> dict[str, object]:
    return {r.id: r for r in ds.records()}


def test_every_record_round_trips_through_load_from_disk(exported: tuple[SyntheticDataset, Path]) -> None:
    ds, out = exported
    records = _by_id(ds)
    seen = set()
    for config in ("tabular", "ehr", "text", "image", "audio", "dialogue"):
        loaded = datasets.load_from_disk(str(out / "arrow" / config))
        if config in ("image", "audio"):  # bytes are checked below; decoding audio would import torch here
            loaded = loaded.cast_column(config, getattr(datasets, config.title())(decode=False))
        for row in loaded:
            record = records[row["id"]]
            seen.add(row["id"])
            assert row["modality"] == record.modality.value == config
            assert row["case_id"] == record.case_id
            assert row["parents"] == list(record.parents)
            assert json.loads(row["labels"]) == record.labels
            assert row["text"] == record.text
            assert Provenance.model_validate(json.loads(row["provenance"])) == record.provenance
            assert json.loads(row["payload"]) == record.payload.model_dump(mode="json")
    assert seen == set(records)  # nothing left out, nothing invented


def test_media_are_image_and_audio_features_with_the_files_bytes(exported: tuple[SyntheticDataset, Path]) -> None:
    ds, out = exported
    records = _by_id(ds)
    images = datasets.load_from_disk(str(out / "arrow" / "image"))
    assert isinstance(images.features["image"], datasets.Image)
    for row in images:
        payload = records[row["id"]].payload
        original = (ds.root / payload.media.path).read_bytes()
        decoded = row["image"]  # decoded by datasets (PIL)
        assert decoded.size == (payload.width, payload.height) == (row["width"], row["height"])
        assert np.array_equal(np.asarray(decoded), np.asarray(Image.open(io.BytesIO(original))))
        assert row["media_sha256"] == payload.media.sha256 == sha256_file(ds.root / payload.media.path)
    raw = images.cast_column("image", datasets.Image(decode=False))
    assert [r["image"]["bytes"] for r in raw] == [(ds.root / records[r["id"]].payload.media.path).read_bytes()
                                                 for r in raw]

    clips = datasets.load_from_disk(str(out / "arrow" / "audio"))
    assert isinstance(clips.features["audio"], datasets.Audio)
    clips = clips.cast_column("audio", datasets.Audio(decode=False))
    assert len(clips) == 3
    for row in clips:
        payload = records[row["id"]].payload
        original = (ds.root / payload.media.path).read_bytes()
        assert row["audio"]["bytes"] == original
        assert row["audio"]["path"] == Path(payload.media.path).name  # save_to_disk keeps the file name
        assert row["media_path"] == payload.media.path
        samples, rate = _wav(row["audio"]["bytes"])
        assert rate == row["sampling_rate"] == 8000 and len(samples) == 2000
        assert [s["speaker"] for s in row["segments"]] == ["doctor", "patient"]
        (attachment,) = row["attachments"]  # the transcript travels with its clip
        assert attachment["data"] == (ds.root / payload.attachments[0].path).read_bytes()
        assert (attachment["path"], attachment["sha256"]) == (payload.attachments[0].path, payload.attachments[0].sha256)


def test_parquet_loads_with_load_dataset_keeping_the_features(exported: tuple[SyntheticDataset, Path],
                                                               tmp_path: Path) -> None:
    ds, out = exported
    records = _by_id(ds)
    cache = str(tmp_path / "cache")
    images = datasets.load_dataset("parquet", data_files=str(out / "data/image/*.parquet"), split="train",
                                   cache_dir=cache)
    assert isinstance(images.features["image"], datasets.Image)
    assert sorted(images["id"]) == ["scans-000000", "scans-000001"]  # the third scan failed in the run
    for row in images.cast_column("image", datasets.Image(decode=False)):
        assert row["image"]["bytes"] == (ds.root / records[row["id"]].payload.media.path).read_bytes()

    clips = datasets.load_dataset("parquet", data_files=str(out / "data/audio/*.parquet"), split="train",
                                  cache_dir=cache)
    assert isinstance(clips.features["audio"], datasets.Audio)
    for row in clips.cast_column("audio", datasets.Audio(decode=False)):
        assert row["audio"]["bytes"] == (ds.root / records[row["id"]].payload.media.path).read_bytes()

    table = datasets.load_dataset("parquet", data_files=str(out / "data/tabular/*.parquet"), split="train",
                                  cache_dir=cache)
    assert table.features["age"].dtype == "int64" and table.features["bmi"].dtype == "float64"
    for row in table:
        assert {k: row[k] for k in ("age", "sex", "bmi", "smoking status")} == records[row["id"]].payload.values

    ehr = datasets.load_dataset("parquet", data_files=str(out / "data/ehr/*.parquet"), split="train", cache_dir=cache)
    for row in ehr:
        visits = records[row["id"]].payload.visits
        assert [v["codes"] for v in row["visits"]] == [list(v.codes) for v in visits]
        assert [v["days_since_previous"] for v in row["visits"]] == [v.days_since_previous for v in visits]


def test_readme_is_a_hub_card_naming_each_configuration(exported: tuple[SyntheticDataset, Path]) -> None:
    _, out = exported
    text = (out / "README.md").read_text()
    header, body = text.split("---\n", 2)[1:]
    for config in ("tabular", "ehr", "text", "image", "audio", "dialogue"):
        assert f'- config_name: "{config}"' in header
        assert f'path: "data/{config}/train-00000-of-00001.parquet"' in header
        assert (out / "data" / config / "train-00000-of-00001.parquet").is_file()
    assert "## Composition" in body and "Requested 18, produced 17, failed 1" in body


def test_table_rows_keep_their_types_mixed_values_become_json_and_names_never_clash() -> None:
    from biosynth.core import Record, TableRowPayload
    from biosynth.core._export._modality_tables import group_records, record_batches

    def row(i: int, values: dict[str, object], table: str = "cases") -> Record:
        return Record(id=f"r{i}", case_id=f"c{i}", modality="tabular", payload=TableRowPayload(table=table, values=values),
                      provenance=Provenance(generator="g", generator_version="1", seed=i))

    records = [row(0, {"text": "a", "n": 1, "mixed": 1, "flag": True}), row(1, {"text": "b", "n": 2, "mixed": "x"}),
               row(2, {"sbp": 120.5}, table="vitals"), row(3, {"k": 1}, table="../lab results")]
    groups = {g.name: g for g in group_records(records)}
    # a configuration per table, named safely for a file path
    assert set(groups) == {"tabular-cases", "tabular-vitals", "tabular-lab_results"}
    table = next(record_batches(groups["tabular-cases"], lambda ref: b""))
    assert table.column("value_text").to_pylist() == ["a", "b"]  # `text` is a common column: the value is renamed
    assert table.column("text").to_pylist() == [None, None]
    assert str(table.schema.field("n").type) == "int64" and table.column("flag").to_pylist() == [True, None]
    assert table.column("mixed").to_pylist() == ["1", "x"]  # int and str in one column: JSON text
    assert next(record_batches(groups["tabular-vitals"], lambda ref: b"")).column("sbp").to_pylist() == [120.5]


def test_dicom_images_stay_bytes_since_pillow_cannot_open_them() -> None:
    from biosynth.core import ImagePayload, MediaRef, Record
    from biosynth.core._export._hf import features_of
    from biosynth.core._export._modality_tables import group_records

    def image(i: int, mime: str) -> Record:
        media = MediaRef(path=f"media/x/{i}.bin", sha256="0" * 64, mime_type=mime, bytes=1)
        return Record(id=f"r{i}", case_id="c", modality="image", payload=ImagePayload(media=media, width=1, height=1),
                      provenance=Provenance(generator="g", generator_version="1", seed=i))

    (png,) = group_records([image(0, "image/png")])
    (dicom,) = group_records([image(0, "image/png"), image(1, "application/dicom")])
    assert isinstance(features_of(png)["image"], datasets.Image)
    assert not isinstance(features_of(dicom)["image"], datasets.Image)
    assert set(features_of(dicom)["image"]) == {"bytes", "path"}


def test_missing_datasets_names_the_extra_and_writes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                             exported: tuple[SyntheticDataset, Path],
                                                             tmp_path: Path) -> None:
    ds, _ = exported
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError, find_spec -> ValueError
    with pytest.raises(ExportError, match=r"pip install 'biosynth-core\[hf\]'"):
        HFExporter().export(ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_report_file_is_named_and_nothing_is_written(exported: tuple[SyntheticDataset, Path],
                                                               tmp_path: Path) -> None:
    ds, _ = exported
    with pytest.raises(ExportError, match=r"option report: file .*nope\.json' does not exist"):
        HFExporter({"report": str(tmp_path / "nope.json")}).export(ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no staging or scratch folder left behind


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as clip:  # an independent WAV reader: the standard library's
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2"), clip.getframerate()
