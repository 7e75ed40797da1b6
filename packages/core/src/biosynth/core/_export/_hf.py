"""`biosynth export DATASET --to hf`: a Hugging Face `datasets` folder, as Parquet and as `save_to_disk`.

Layout of `--out` (one configuration per modality, see `_modality_tables`):

    README.md                                   dataset card with the Hub's `configs:` YAML header
    data/<config>/train-00000-of-00001.parquet  for `load_dataset("parquet", data_files=...)` or the Hub
    arrow/<config>/                             for `datasets.load_from_disk`

Images and audio are `Image`/`Audio` feature columns with the file's bytes embedded (the path kept is the
file's path inside the dataset), so the folder is self-contained. Labels, spans, provenance and the full
payload are JSON strings. The Arrow tables are written with pyarrow (`datasets`' own `Audio` encoding would
need torch); `datasets` only turns the finished Arrow files into the `save_to_disk` layout.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from biosynth.core._export._base import ExportContext, Exporter, ExportOptions
from biosynth.core._export._card import datasheet
from biosynth.core._export._dataset_facts import read_json_option
from biosynth.core._export._modality_tables import ModalityGroup, file_reader, group_records, record_batches

SPLIT = "train"


class HFOptions(ExportOptions):
    report: Path | None = None  # a biosynth-eval report.json: its headline goes into the card (README.md)
    annotations: Path | None = None  # a human-review annotations JSON, summarised in the card


class HFExporter(Exporter):
    """Parquet + `save_to_disk` with Image/Audio features, one configuration per modality."""

    format: ClassVar[str] = "hf"
    description: ClassVar[str] = "Hugging Face datasets: Parquet and save_to_disk, Image/Audio features, a card"
    format_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("datasets",)
    extra: ClassVar[str | None] = "biosynth-core[hf]"
    Options: ClassVar[type[ExportOptions]] = HFOptions

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        assert isinstance(self.options, HFOptions)
        report = read_json_option(self.options.report, "report")
        annotations = read_json_option(self.options.annotations, "annotations")
        records = ctx.records()
        groups = group_records(records)
        ctx.start(len(records))
        configs: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix=f".{ctx.staging.name}.hf-", dir=ctx.staging.parent) as scratch:
            for group in groups:
                configs[group.name] = _write_group(ctx, group, Path(scratch))
        card = datasheet(ctx.dataset.manifest, records, report=report, annotations=annotations,
                         distribution=_distribution(configs))
        (ctx.staging / "README.md").write_text(_hub_header(configs) + card, encoding="utf-8")
        return {"configs": configs, "records": len(records), "split": SPLIT}


def features_of(group: ModalityGroup) -> Any:
    """The `datasets.Features` of a group: its Arrow schema, with Image/Audio for the media columns."""
    import datasets

    features = datasets.Features.from_arrow_schema(group.schema)
    if "image" in features and group.decodable:  # DICOM stays a {bytes, path} struct: Pillow cannot open it
        features["image"] = datasets.Image()
    if "audio" in features:
        features["audio"] = datasets.Audio()
    return features


def _write_group(ctx: ExportContext, group: ModalityGroup, scratch: Path) -> dict[str, Any]:
    import datasets

    features = features_of(group)
    schema = features.arrow_schema  # nullable fields and the "huggingface" features metadata, as datasets writes
    relative = f"data/{group.name}/{SPLIT}-00000-of-00001.parquet"
    parquet_path = ctx.staging / relative
    parquet_path.parent.mkdir(parents=True, exist_ok=True)
    arrow_path = scratch / f"{group.name}.arrow"
    read = file_reader(ctx.dataset.root)
    with pq.ParquetWriter(parquet_path, schema, compression="zstd") as parquet, \
            pa.OSFile(str(arrow_path), "wb") as sink, pa.ipc.new_stream(sink, schema) as arrow:
        for table in record_batches(group, read):
            table = table.cast(schema)
            parquet.write_table(table)
            arrow.write_table(table)
            ctx.advance(table.num_rows)
    dataset = datasets.Dataset.from_file(str(arrow_path), info=datasets.DatasetInfo(features=features),
                                         split=datasets.Split(SPLIT))
    bars_were_off = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()  # biosynth's own progress (ctx.advance) already counts these rows
    try:
        dataset.save_to_disk(str(ctx.staging / "arrow" / group.name))
    finally:
        if not bars_were_off:
            datasets.utils.enable_progress_bars()
    del dataset
    shutil.rmtree(ctx.staging / "arrow" / group.name / ".cache", ignore_errors=True)
    return {"rows": len(group.records), "modality": group.modality, "parquet": relative,
            "arrow": f"arrow/{group.name}", "media": group.media_column}


def _hub_header(configs: dict[str, dict[str, Any]]) -> str:
    """The README's YAML header: one Hub configuration per modality, tags saying the data are synthetic."""
    lines = ["---", "tags:", "- synthetic", "- biosynth", "configs:"]
    for name, facts in configs.items():
        lines += [f"- config_name: {json.dumps(name)}", "  data_files:", f"  - split: {SPLIT}",
                  f"    path: {json.dumps(facts['parquet'])}"]
    return "\n".join([*lines, "---", "", ""])


def _distribution(configs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"`{name}`: {facts['rows']} rows in `{facts['parquet']}` and `{facts['arrow']}/`"
             + (f" ({facts['media']} embedded)" if facts["media"] else "") for name, facts in configs.items()]
    return [*lines, 'Load with `datasets.load_from_disk("arrow/<config>")` or '
            '`datasets.load_dataset("parquet", data_files="data/<config>/*.parquet")`.']
