"""`biosynth export DATASET --to croissant`: Croissant 1.1 JSON-LD with PROV-O provenance and the RAI fields.

Layout of `--out`:

    croissant.json          the metadata (validated with mlcroissant before the export is published)
    records.parquet         the dataset's records file, unchanged (its sha256 is the manifest's)
    data/<group>.parquet    one table per modality (see `_modality_tables`): typed columns, images and audio
                            embedded as `{bytes, path}` (the `datasets` layout), visit/turn/segment lists as JSON
    DATASHEET.md            the dataset card (`_card`)

Each file is a `cr:FileObject` with its sha256; each medium's own sha256 is the `media_sha256` field beside its
bytes. RecordSets: `records` (every record, lossless JSON columns) and one per modality. Media are embedded
rather than read from a FileSet because mlcroissant 1.1.1 reads only MP3 audio from files (not WAV or FLAC)
and converts PNGs to RGB; embedded bytes come back exactly as written.

PROV-O: the dataset and each modality RecordSet are `prov:wasGeneratedBy` one `prov:Activity` per recipe step,
`prov:wasAssociatedWith` the generator and the models (`prov:SoftwareAgent`), having `prov:used` the prompt
templates and input files (`prov:Entity`, with sha256) and `prov:wasInformedBy` the step it read from.
RAI: `rai:dataLimitations`/`rai:dataBiases` carry the evaluation report's headline (`-O report=report.json`),
`rai:personalSensitiveInformation` the real data the run read and where it went (manifest fingerprints and
policy decisions), and the annotation fields summarise a human-review file (`-O annotations=...`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from biosynth.core._export._base import ExportContext, Exporter, ExportOptions
from biosynth.core._export._card import CARD_FILE, datasheet
from biosynth.core._export._dataset_facts import (
    AnnotationSummary,
    EvaluationSummary,
    StepFacts,
    label_balance,
    read_json_option,
    real_data_statement,
    step_facts,
)
from biosynth.core._export._folder import ExportError
from biosynth.core._export._modality_tables import ModalityGroup, file_reader, group_records, record_batches
from biosynth.core._hashing import sha256_file
from biosynth.core._manifest import Manifest
from biosynth.core._records import Record
from biosynth.core._store import RECORD_SCHEMA

CROISSANT_FILE = "croissant.json"
CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
# The Croissant 1.1 @context (as the specification and mlcroissant 1.1.1 write it), plus the PROV-O prefix.
CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "arrayShape": "cr:arrayShape", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty", "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5",
    "name": {"@container": "@language"}, "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "samplingRate": "cr:samplingRate", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
    "prov": "http://www.w3.org/ns/prov#",
}
PARQUET = "application/x-parquet"
MEDIA_TYPES = {"image": "sc:ImageObject", "audio": "sc:AudioObject"}


class CroissantOptions(ExportOptions):
    report: Path | None = None  # a biosynth-eval report.json: its headline fills rai:dataLimitations/dataBiases
    annotations: Path | None = None  # a human-review annotations JSON: fills the rai annotation fields
    name: str | None = None  # defaults to the recipe's name
    license: str | None = None  # the licence URL the publisher grants (none is assumed)
    url: str | None = None  # where the dataset is published
    version: str = "1.0.0"


class CroissantExporter(Exporter):
    """Croissant 1.1 JSON-LD with PROV-O and RAI fields, validated with mlcroissant."""

    format: ClassVar[str] = "croissant"
    description: ClassVar[str] = "Croissant 1.1 JSON-LD (RecordSets per modality, PROV-O, RAI), with Parquet files"
    format_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("mlcroissant",)
    extra: ClassVar[str | None] = "biosynth-core[croissant]"
    Options: ClassVar[type[ExportOptions]] = CroissantOptions

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        assert isinstance(self.options, CroissantOptions)
        options = self.options
        report = read_json_option(options.report, "report")
        annotations = read_json_option(options.annotations, "annotations")
        evaluation = EvaluationSummary(report) if report is not None else None
        review = AnnotationSummary(annotations, ctx.dataset.manifest, evaluation) if annotations is not None else None
        manifest = ctx.dataset.manifest
        records = ctx.records()
        groups = group_records(records)
        ctx.start(len(records))

        shutil.copyfile(ctx.dataset.root / manifest.records_file, ctx.staging / "records.parquet")
        files: dict[str, str] = {}
        for group in groups:
            relative = f"data/{group.name}.parquet"
            _write_group(ctx, group, ctx.staging / relative)
            files[group.name] = relative
        steps = step_facts(manifest, records)
        document = _metadata(ctx.staging, manifest, records, groups, files, steps, options, evaluation, review)
        (ctx.staging / CROISSANT_FILE).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
        warnings = validate(ctx.staging / CROISSANT_FILE)
        (ctx.staging / CARD_FILE).write_text(
            datasheet(manifest, records, report=report, annotations=annotations,
                      distribution=[f"{CROISSANT_FILE} (Croissant 1.1) describing records.parquet and "
                                    + ", ".join(files.values())]), encoding="utf-8")
        return {"record_sets": ["records", *files], "records": len(records), "validation_warnings": warnings,
                "evaluation": evaluation is not None, "annotations": review is not None}


def validate(path: Path) -> list[str]:
    """Load the JSON-LD with mlcroissant; its errors are an ExportError, its warnings are returned."""
    import mlcroissant as mlc

    try:
        dataset = mlc.Dataset(jsonld=str(path))
    except mlc.ValidationError as err:
        raise ExportError(f"the Croissant metadata biosynth wrote does not validate with mlcroissant: {err}") from None
    return sorted(dataset.metadata.ctx.issues.warnings)


def _write_group(ctx: ExportContext, group: ModalityGroup, path: Path) -> None:
    """The group's table with list-of-struct columns (visits, turns, segments) as JSON text."""
    nested = [f.name for f in group.schema if pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type)]
    schema = pa.schema([pa.field(f.name, pa.string()) if f.name in nested else f.with_nullable(True)
                        for f in group.schema])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for table in record_batches(group, file_reader(ctx.dataset.root)):
            for name in nested:
                as_json = [None if v is None else json.dumps(v, ensure_ascii=False, default=_bytes_as_text)
                           for v in table.column(name).to_pylist()]
                table = table.set_column(table.schema.get_field_index(name), name, pa.array(as_json, pa.string()))
            writer.write_table(table.cast(schema))
            ctx.advance(table.num_rows)


def node_id(*parts: str) -> str:
    """A JSON-LD `@id` from names (step, model, template, column): mlcroissant refuses whitespace even escaped, so
    characters outside `A-Za-z0-9_.-@` become `-`, with a short hash of the original when anything changed."""
    raw = "/".join(parts)
    safe = "/".join(re.sub(r"[^A-Za-z0-9_.@-]+", "-", part).strip("-") or "-" for part in parts)
    return safe if safe == raw else f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:8]}"


def _bytes_as_text(value: Any) -> str:
    """Attachment bytes inside a JSON column: UTF-8 text as is (transcripts, RTTM, CTM), anything else base64."""
    if not isinstance(value, bytes):
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode("ascii")


def _data_type(field: pa.Field) -> tuple[str, bool]:
    """The Croissant dataType of an Arrow column, and whether it is an array."""
    kind = field.type
    if pa.types.is_list(kind):
        return _data_type(pa.field(field.name, kind.value_type))[0], True
    if pa.types.is_boolean(kind):
        return "sc:Boolean", False
    if pa.types.is_integer(kind):
        return "sc:Integer", False
    if pa.types.is_floating(kind):
        return "sc:Float", False
    if pa.types.is_timestamp(kind):
        return "sc:DateTime", False
    return "sc:Text", False


def _fields(record_set: str, file_id: str, schema: pa.Schema, descriptions: dict[str, str], *,
            decodable: bool = True) -> list[dict[str, Any]]:
    out = []
    for field in schema:
        source: dict[str, Any] = {"fileObject": {"@id": file_id}, "extract": {"column": field.name}}
        if field.name in MEDIA_TYPES:
            # DICOM and other files no image reader opens: the bytes, as mlcroissant returns sc:Text unchanged
            data_type, is_array = MEDIA_TYPES[field.name] if decodable else "sc:Text", False
            source["transform"] = {"jsonPath": "bytes"}
        else:
            data_type, is_array = _data_type(field)
        entry: dict[str, Any] = {"@type": "cr:Field", "@id": node_id(record_set, field.name), "name": field.name,
                                 "dataType": data_type, "source": source}
        if is_array:
            entry["isArray"] = True
        if field.name in descriptions:
            entry["description"] = descriptions[field.name]
        out.append(entry)
    return out


DESCRIPTIONS = {
    "case_id": "links the records of one synthetic patient or encounter across modalities",
    "parents": "ids of the records this record was made from",
    "labels": "class labels, JSON object", "spans": "entity annotations, JSON list",
    "relations": "relations between spans, JSON list",
    "provenance": "how the record was made (generator, model, prompt, strategy, decoding, seed), JSON object",
    "payload": "the record's full typed payload, JSON object",
    "visits": "JSON list of visits {codes, date, days_since_previous}", "turns": "JSON list of turns {speaker, role, text}",
    "segments": "JSON list of segments {start_s, end_s, speaker, text}",
    "attachments": "JSON list of the files that belong with the audio {path, mime_type, sha256, data} (data: UTF-8 "
                   "text, or base64: and the bytes in base64)", "static": "demographics and labels, JSON object",
    "image": "the image file's bytes", "audio": "the audio file's bytes",
    "media_sha256": "sha256 of the embedded media file, as recorded in the dataset's manifest",
    "media_path": "the media file's path inside the biosynth dataset folder",
}


def _metadata(staging: Path, manifest: Manifest, records: list[Record], groups: list[ModalityGroup],
              files: dict[str, str], steps: list[StepFacts], options: CroissantOptions,
              evaluation: EvaluationSummary | None, review: AnnotationSummary | None) -> dict[str, Any]:
    recipe_name = str(manifest.recipe.get("name", "biosynth-dataset"))
    activities = _activities(manifest, steps)
    step_ids = {s.name: "#" + node_id("activity", s.name) for s in steps}
    distribution = [{"@type": "cr:FileObject", "@id": "records.parquet", "name": "records.parquet",
                     "description": "every record of the biosynth dataset, as the runner wrote it",
                     "contentUrl": "records.parquet", "encodingFormat": PARQUET,
                     "sha256": manifest.records_sha256 or sha256_file(staging / "records.parquet")}]
    record_sets = [{"@type": "cr:RecordSet", "@id": "records", "name": "records",
                    "description": "every record, all modalities; payload, labels and provenance as JSON",
                    "key": {"@id": "records/id"},
                    "field": _fields("records", "records.parquet", RECORD_SCHEMA, DESCRIPTIONS)}]
    for group in groups:
        relative = files[group.name]
        distribution.append({"@type": "cr:FileObject", "@id": relative, "name": relative,
                             "description": f"the {group.name} records with typed columns",
                             "contentUrl": relative, "encodingFormat": PARQUET, "sha256": sha256_file(staging / relative)})
        group_steps = list(dict.fromkeys(r.provenance.step or "" for r in group.records))
        schema = pq.read_schema(staging / relative)
        record_sets.append({
            "@type": "cr:RecordSet", "@id": group.name, "name": group.name,
            "description": f"{len(group.records)} {group.modality} records from the steps {', '.join(group_steps)}",
            "key": {"@id": node_id(group.name, "id")},
            "field": _fields(group.name, relative, schema, DESCRIPTIONS, decodable=group.decodable),
            "prov:wasGeneratedBy": [{"@id": step_ids[s]} for s in group_steps if s in step_ids],
        })
    real = real_data_statement(manifest)
    failed = (f"{manifest.failed} of {manifest.requested} requested samples failed and are not in the data "
              "(reasons in manifest.json). " if manifest.failed else "")
    limitations = (failed + "Synthetic records generated by models: they can hold plausible but false medical "
                   "content and are not a substitute for real patient data. ")
    if evaluation is None:
        limitations += "No evaluation report was attached to this export."
        biases = "Not measured: no evaluation report was attached (biosynth evaluate, then -O report=report.json)."
    else:
        limitations += "Evaluation: " + "; ".join(evaluation.scope()) + ". " + "; ".join(evaluation.limitations())
        biases = "Evaluation against real data (fidelity and diversity): " + (
            "; ".join(evaluation.biases()) or "no fidelity or diversity metric in the report") + "."
    labels = "; ".join(label_balance(records)).replace("`", "")
    if labels:
        biases += " Label balance of the synthetic records: " + labels + "."
    document: dict[str, Any] = {
        "@context": CONTEXT, "@type": "sc:Dataset", "name": options.name or recipe_name,
        "description": (manifest.recipe.get("description") or f"Synthetic biomedical data made by biosynth from the "
                        f"recipe {recipe_name}") + f" ({manifest.produced} records; recipe sha256 "
                       f"{manifest.recipe_sha256}, seed {manifest.seed}).",
        "conformsTo": CONFORMS_TO, "version": options.version,
        "datePublished": manifest.updated_at.date().isoformat(), "dateCreated": manifest.created_at.isoformat(),
        "citeAs": f"{options.name or recipe_name}: synthetic data made with biosynth (recipe sha256 "
                  f"{manifest.recipe_sha256}, seed {manifest.seed})",
        "keywords": ["synthetic data", "biomedical", *sorted({g.modality for g in groups})],
        "distribution": distribution, "recordSet": record_sets,
        "prov:wasGeneratedBy": activities,
        "rai:dataCollection": "Generated, not collected: biosynth ran the recipe stored in the dataset's manifest, "
                              + "; ".join(f"step {s.name} ({s.generator}) made {s.produced} of {s.requested}"
                                          for s in steps) + ".",
        "rai:dataCollectionType": "Synthetic data generation (generative models and rule-based generators)",
        "rai:dataCollectionRawData": real,
        "rai:dataPreprocessingProtocol": "Samples failing a generator's validation are retried or recorded as failed "
                                         f"in the manifest ({manifest.failed} failed); near-duplicates removed: "
                                         f"{manifest.removed}.",
        "rai:dataLimitations": limitations.strip(),
        "rai:dataBiases": biases,
        "rai:personalSensitiveInformation": real,
        "rai:dataUseCases": "Developing and testing methods and software on synthetic biomedical data; not for "
                            "clinical decisions or claims about real patients.",
        "rai:dataReleaseMaintenancePlan": "Reproducible: rerunning the recipe (in manifest.json) with the same seed and "
                                          "software versions regenerates the records.",
    }
    for key in ("license", "url"):
        if getattr(options, key):
            document[key] = getattr(options, key)
    machine = sorted({m.name for s in steps for m in s.models})
    if machine:
        document["rai:machineAnnotationTools"] = machine
    if review is not None:
        document.update({
            "rai:dataAnnotationProtocol": review.protocol(),
            "rai:dataAnnotationPlatform": ", ".join(review.tools) or "not recorded",
            "rai:annotationsPerItem": review.per_item(),
            "rai:annotatorDemographics": "Reviewers are pseudonymous ids; demographics were not recorded.",
            "rai:dataAnnotationAnalysis": review.analysis(),
        })
    return document


def _activities(manifest: Manifest, steps: list[StepFacts]) -> list[dict[str, Any]]:
    """One prov:Activity per recipe step, with its agents (generator, models) and entities (templates, inputs)."""
    inputs: dict[str, list[dict[str, Any]]] = {}
    for item in manifest.inputs:
        inputs.setdefault(item.step, []).append({
            "@id": "#" + node_id("input", item.step, item.parameter), "@type": "prov:Entity",
            "name": Path(item.path).name,
            "description": f"input `{item.parameter}` ({'real patient data' if item.real else 'not patient data'}"
                           + (f", from {item.package}" if item.package else "") + f", {item.bytes} bytes); "
                           "only its fingerprint is kept", "sha256": item.sha256})
    activities = []
    for step in steps:
        agents: list[dict[str, Any]] = [{"@id": "#" + node_id("generator", step.generator), "@type": "prov:SoftwareAgent",
                                         "name": step.generator, "version": step.generator_version}]
        for model in step.models:
            agent: dict[str, Any] = {"@id": "#" + node_id("model", model.backend, model.name, model.revision or "unknown"),
                                     "@type": "prov:SoftwareAgent", "name": model.name,
                                     "description": f"{'remote' if model.remote else 'local'} model via the "
                                                    f"{model.backend} backend"}
            for key, value in (("version", model.revision), ("sha256", model.sha256), ("license", model.license)):
                if value:
                    agent[key] = value
            agents.append(agent)
        used = [{"@id": "#" + node_id("prompt-template", template_id), "@type": "prov:Entity", "name": template_id,
                 "description": "prompt template", "sha256": digest} for template_id, digest in step.templates.items()]
        used += inputs.get(step.name, [])
        activity: dict[str, Any] = {
            "@id": "#" + node_id("activity", step.name), "@type": "prov:Activity", "name": step.name,
            "description": f"recipe step {step.name}: {step.produced} of {step.requested} samples produced, "
                           f"{step.failed} failed; seed {step.seed}; strategies: {', '.join(step.strategies) or 'none'}",
            "prov:wasAssociatedWith": agents,
        }
        if used:
            activity["prov:used"] = used
        if step.source:
            activity["prov:wasInformedBy"] = {"@id": "#" + node_id("activity", step.source)}
        activities.append(activity)
    return activities

