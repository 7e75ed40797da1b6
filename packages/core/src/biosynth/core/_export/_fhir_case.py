"""One case (synthetic patient) as FHIR resources, R4B or R5, as plain dicts that fhir.resources then validates.

What each record becomes:
- visit sequence (EHR): an Encounter per visit; per code a Condition, MedicationRequest or Procedure by its domain,
  coded in the system the record's vocabulary names;
- text, question-answer and dialogue records: a DocumentReference with the text as a text/plain attachment;
- image records: one ImagingStudy per case (a series per step) with the UIDs of the DICOM export;
- audio records: a Media (R4B) or DocumentReference (R5) holding the audio, and a transcript DocumentReference
  (the segments' text and the clip's attached files) that points back at it;
- table rows: the Patient's demographics (sex, birth decade); the row itself has no resource of its own;
- every record: a Provenance naming its generator and model (Devices), the recipe, the prompt template and the
  resources of its parents.
Every resource carries meta.tag v3-ActReason HTEST; ids are uuid5 of the dataset key and the record ids.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from biosynth.core._export._codes import CodeVocabulary, code_system
from biosynth.core._export._identifiers import (
    SECONDARY_CAPTURE_SOP_CLASS,
    ImagingEntry,
    derived_uid,
    resource_uuid,
)
from biosynth.core._export._visits import birth_year, visit_dates
from biosynth.core._manifest import Manifest
from biosynth.core._provenance import ModelRef
from biosynth.core._records import (
    AudioPayload,
    DialoguePayload,
    ImagePayload,
    MediaRef,
    QAPayload,
    Record,
    TableRowPayload,
    TextPayload,
    VisitSequencePayload,
)

Version = Literal["R4B", "R5"]
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST",
         "display": "test health data"}
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CONDITION_CATEGORY = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}
_GENDER = {"female": "female", "f": "female", "woman": "female", "male": "male", "m": "male", "man": "male",
           "other": "other", "unknown": "unknown"}


@dataclass(frozen=True)
class CaseSettings:
    version: Version
    key: str
    manifest: Manifest
    vocabulary: CodeVocabulary
    assume_vocabulary: str | None
    anchor_date: dt.date | None
    imaging: dict[str, ImagingEntry]
    attach: Callable[[MediaRef], dict[str, Any]]  # a media file as an Attachment (copied beside, or embedded)


@dataclass
class CaseFacts:
    resources: dict[str, int] = field(default_factory=dict)
    codes_without_system: int = 0
    visits_without_gap: int = 0
    anchored_by_default: int = 0


class CaseBuilder:
    """Builds the transaction Bundle of one case."""

    def __init__(self, case_id: str, records: list[Record], settings: CaseSettings, facts: CaseFacts) -> None:
        self.case_id, self.records, self.s, self.facts = case_id, records, settings, facts
        self.entries: list[dict[str, Any]] = []
        self.made: dict[str, list[str]] = {}  # record id -> full URLs of its resources
        self.primary: dict[str, str] = {}  # record id -> the full URL that stands for it (lineage)
        self.devices: dict[str, str] = {}
        self.patient = self._url("Patient", case_id)
        self.last_encounter: dict[str, str] = {}  # EHR record id -> its last Encounter
        self.by_id = {r.id: r for r in records}

    # -- helpers -----------------------------------------------------------------------------------
    def _url(self, resource_type: str, local_id: str) -> str:
        return f"urn:uuid:{resource_uuid(self.s.key, resource_type, local_id)}"

    def _add(self, resource: dict[str, Any], url: str, record: Record | None = None) -> str:
        resource = {"resourceType": resource["resourceType"], "meta": {"tag": [dict(HTEST)]},
                    **{k: v for k, v in resource.items() if k != "resourceType"}}
        self.entries.append({"fullUrl": url, "resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"]}})
        self.facts.resources[resource["resourceType"]] = self.facts.resources.get(resource["resourceType"], 0) + 1
        if record is not None:
            self.made.setdefault(record.id, []).append(url)
            self.primary.setdefault(record.id, url)
        return url

    @property
    def r5(self) -> bool:
        return self.s.version == "R5"

    def _text_attachment(self, text: str, title: str) -> dict[str, Any]:
        data = text.encode("utf-8")
        return {"contentType": "text/plain; charset=utf-8", "data": base64.b64encode(data).decode("ascii"),
                "size": len(data), "hash": base64.b64encode(hashlib.sha1(data).digest()).decode("ascii"),
                "title": title}

    def _when(self, record: Record) -> str:
        created = record.provenance.created_at or self.s.manifest.updated_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        return created.isoformat()

    # -- the bundle --------------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        self._patient()
        for record in self.records:  # EHR first: notes and images link to its encounters
            if isinstance(record.payload, VisitSequencePayload):
                self._history(record, record.payload)
        images: list[Record] = []
        for record in self.records:
            payload = record.payload
            if isinstance(payload, TextPayload | QAPayload | DialoguePayload):
                self._document(record)
            elif isinstance(payload, AudioPayload):
                self._audio(record, payload)
            elif isinstance(payload, ImagePayload):
                images.append(record)
            elif isinstance(payload, TableRowPayload):
                self.made.setdefault(record.id, [self.patient])
                self.primary.setdefault(record.id, self.patient)
        if images:
            self._imaging_study(images)
        for record in self.records:
            self._provenance(record)
        return {"resourceType": "Bundle", "meta": {"tag": [dict(HTEST)]}, "type": "transaction",
                "identifier": {"system": "urn:ietf:rfc:3986", "value": self._url("Bundle", self.case_id)},
                "entry": self.entries}

    def _patient(self) -> None:
        values: dict[str, Any] = {}
        for record in self.records:
            if isinstance(record.payload, VisitSequencePayload):
                values = {**record.payload.static, **values}
            elif isinstance(record.payload, TableRowPayload):
                values = {**record.payload.values, **values}
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "identifier": [{"system": f"urn:oid:{_case_system(self.s.key)}", "value": self.case_id}],
            "name": [{"use": "anonymous", "family": "SYNTHETIC", "given": [self.case_id]}],
        }
        sex = values.get("sex", values.get("gender"))
        if sex is not None and str(sex).strip().lower() in _GENDER:
            resource["gender"] = _GENDER[str(sex).strip().lower()]
        year = birth_year(values)
        if year is not None:
            resource["birthDate"] = str(year)  # year precision: the middle of the birth decade
        self._add(resource, self.patient)

    def _history(self, record: Record, payload: VisitSequencePayload) -> None:
        where = f"record {record.id!r}"
        dates = visit_dates(payload, default_anchor=self.s.anchor_date, where=where)
        self.facts.visits_without_gap += dates.without_gap
        self.facts.anchored_by_default += int(dates.anchored_by_default)
        vocabulary = payload.vocabulary or self.s.assume_vocabulary
        system = code_system(vocabulary, where=where) if vocabulary else None
        self.made.setdefault(record.id, []).append(self.patient)  # its static values are the Patient's; and a
        self.primary.setdefault(record.id, self.patient)  # history without visits still has its Provenance
        for j, (visit, date) in enumerate(zip(payload.visits, dates.dates, strict=True)):
            encounter = self._url("Encounter", f"{record.id}/{j}")
            day = date.isoformat()
            resource: dict[str, Any] = {"resourceType": "Encounter", "subject": {"reference": self.patient}}
            if self.r5:
                resource.update(status="completed", actualPeriod={"start": day, "end": day})
            else:  # R4B: class is required; the record does not say which kind of visit it was
                resource.update(status="finished", period={"start": day, "end": day},
                                **{"class": {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
                                             "code": "UNK", "display": "unknown"}})
            self._add(resource, encounter, record)
            self.last_encounter[record.id] = encounter
            for k, code in enumerate(visit.codes):
                if not vocabulary:
                    self.facts.codes_without_system += 1
                domain = self.s.vocabulary.domain(code, vocabulary, where=where if vocabulary else
                                                  f"{where} (it declares no vocabulary: give -O assume_vocabulary=...)")
                concept = self._concept(code, system)
                local = f"{record.id}/{j}/{k}"
                context = {"subject": {"reference": self.patient}, "encounter": {"reference": encounter}}
                if domain == "condition":
                    cond: dict[str, Any] = {"resourceType": "Condition", "category": [CONDITION_CATEGORY],
                                            "code": concept, **context, "onsetDateTime": day, "recordedDate": day}
                    if self.r5:  # R5 requires a clinical status; a diagnosis coded at a visit is active then
                        cond["clinicalStatus"] = {"coding": [{
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
                    self._add(cond, self._url("Condition", local), record)
                elif domain == "drug":
                    med: dict[str, Any] = {"resourceType": "MedicationRequest", "status": "unknown", "intent": "order",
                                           **context, "authoredOn": day}
                    med.update({"medication": {"concept": concept}} if self.r5 else {"medicationCodeableConcept": concept})
                    self._add(med, self._url("MedicationRequest", local), record)
                else:
                    proc: dict[str, Any] = {"resourceType": "Procedure", "status": "completed", "code": concept,
                                            **context, ("occurrenceDateTime" if self.r5 else "performedDateTime"): day}
                    self._add(proc, self._url("Procedure", local), record)
        if record.id in self.last_encounter:  # lineage: a note written from a history is about its admission
            self.primary[record.id] = self.last_encounter[record.id]

    def _concept(self, code: str, system: str | None) -> dict[str, Any]:
        name = self.s.vocabulary.names.get(code)
        if system is None:
            return {"text": name or code}
        coding = {"system": system, "code": code, **({"display": name} if name else {})}
        return {"coding": [coding], "text": name or code}

    def _encounter_of(self, record: Record) -> str | None:
        """The last Encounter of the nearest EHR ancestor inside this case, if any."""
        by_id = self.by_id
        queue, seen = list(record.parents), set()
        while queue:
            parent = queue.pop(0)
            if parent in seen or parent not in by_id:
                continue
            seen.add(parent)
            if parent in self.last_encounter:
                return self.last_encounter[parent]
            queue.extend(by_id[parent].parents)
        return None

    def _document(self, record: Record) -> None:
        payload = record.payload
        text = record.text or ""
        kind = (payload.document_type if isinstance(payload, TextPayload) else None) or \
            ("dialogue transcript" if isinstance(payload, DialoguePayload) else
             "question and answer" if isinstance(payload, QAPayload) else "note")
        resource = self._document_reference(record, kind, [{"attachment": self._text_attachment(text, kind)}])
        self._add(resource, self._url("DocumentReference", record.id), record)

    def _document_reference(self, record: Record, kind: str, content: list[dict[str, Any]],
                            related: str | None = None) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "DocumentReference", "status": "current",
                                    "type": {"text": kind}, "subject": {"reference": self.patient},
                                    "date": self._when(record), "description": f"{record.provenance.step} {record.id}",
                                    "content": content}
        encounter = self._encounter_of(record)
        if self.r5:
            if encounter:
                resource["context"] = [{"reference": encounter}]
            if related:
                resource["relatesTo"] = [{"code": {"coding": [{
                    "system": "http://hl7.org/fhir/document-relationship-type", "code": "transforms"}]},
                    "target": {"reference": related}}]
        else:
            context: dict[str, Any] = {}
            if encounter:
                context["encounter"] = [{"reference": encounter}]
            if related:
                context["related"] = [{"reference": related}]
            if context:
                resource["context"] = context
        return resource

    def _audio(self, record: Record, payload: AudioPayload) -> None:
        attachment = self.s.attach(payload.media)
        encounter = self._encounter_of(record)
        if self.r5:
            audio = self._document_reference(record, "audio recording", [{"attachment": attachment}])
            audio_url = self._add(audio, self._url("DocumentReference", record.id), record)
        else:
            media: dict[str, Any] = {"resourceType": "Media", "status": "completed",
                                     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/media-type",
                                                          "code": "audio", "display": "Audio"}]},
                                     "subject": {"reference": self.patient}, "createdDateTime": self._when(record),
                                     "duration": payload.duration_s, "content": attachment}
            if encounter:
                media["encounter"] = {"reference": encounter}
            audio_url = self._add(media, self._url("Media", record.id), record)
        lines = [f"[{s.start_s:.2f}-{s.end_s:.2f}] {s.speaker or 'speaker'}: {s.text}"
                 for s in payload.segments if s.text]
        content = [{"attachment": self._text_attachment("\n".join(lines), "transcript")}] if lines else []
        content += [{"attachment": self.s.attach(ref)} for ref in payload.attachments]
        if content:
            transcript = self._document_reference(record, "transcript", content, related=audio_url)
            self._add(transcript, self._url("DocumentReference", f"{record.id}/transcript"), record)

    def _imaging_study(self, images: list[Record]) -> None:
        entries = [self.s.imaging[r.id] for r in images]
        study_uid = entries[0].uids.study
        series: dict[str, dict[str, Any]] = {}
        for record, entry in zip(images, entries, strict=True):
            modality = {"system": DCM, "code": entry.modality}
            item = series.setdefault(entry.uids.series, {
                "uid": entry.uids.series, "number": entry.series_number,
                "modality": {"coding": [modality]} if self.r5 else modality,
                "description": entry.step, "instance": []})
            instance: dict[str, Any] = {"uid": entry.uids.instance, "number": entry.instance_number,
                                        "sopClass": {"system": "urn:ietf:rfc:3986",
                                                     "code": f"urn:oid:{SECONDARY_CAPTURE_SOP_CLASS}"}}
            assert isinstance(record.payload, ImagePayload)
            if record.payload.caption:
                instance["title"] = record.payload.caption[:1000]
            item["instance"].append(instance)
        for item in series.values():
            item["numberOfInstances"] = len(item["instance"])
        modalities = list(dict.fromkeys(e.modality for e in entries))
        resource: dict[str, Any] = {
            "resourceType": "ImagingStudy", "status": "available",
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
            "subject": {"reference": self.patient},
            "modality": [({"coding": [{"system": DCM, "code": m}]} if self.r5 else {"system": DCM, "code": m})
                         for m in modalities],
            "numberOfSeries": len(series), "numberOfInstances": len(entries),
            "description": f"synthetic images of case {self.case_id}", "series": list(series.values()),
        }
        encounter = next((e for e in (self._encounter_of(r) for r in images) if e), None)
        if encounter:
            resource["encounter"] = {"reference": encounter}
        url = self._url("ImagingStudy", self.case_id)
        self._add(resource, url)
        for record in images:
            self.made.setdefault(record.id, []).append(url)
            self.primary.setdefault(record.id, url)

    def _device(self, local: str, names: list[str], versions: list[tuple[str, str]], note: str | None) -> str:
        url = self._url("Device", local)
        if url in self.devices.values():
            return url
        self.devices[local] = url
        resource: dict[str, Any] = {"resourceType": "Device", "manufacturer": "biosynth" if local.startswith(
            "generator") else None, "version": [{"type": {"text": t}, "value": v} for t, v in versions]}
        if self.r5:
            resource["name"] = [{"value": n, "type": "user-friendly-name"} for n in names]
        else:
            resource["deviceName"] = [{"name": n, "type": "user-friendly-name"} for n in names]
        if note:
            resource["note"] = [{"text": note}]
        self._add({k: v for k, v in resource.items() if v is not None}, url)
        return url

    def _model_device(self, model: ModelRef) -> str:
        versions = [("revision", model.revision)] if model.revision else []
        versions += [("sha256 of the weights", model.sha256)] if model.sha256 else []
        note = f"{model.backend} backend" + (f", license {model.license}" if model.license else "") + \
            (", runs remotely" if model.remote else ", runs locally")
        local = f"model/{model.backend}/{model.name}/{model.revision}/{model.sha256}"
        return self._device(local, [model.name], versions, note)

    def _provenance(self, record: Record) -> None:
        targets = list(dict.fromkeys(self.made.get(record.id, [])))
        if not targets:
            return
        prov = record.provenance
        generator = self._device(f"generator/{prov.generator}/{prov.generator_version}",
                                 [f"biosynth generator {prov.generator}"], [("version", prov.generator_version)],
                                 None)
        participant = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
        agents = [{"type": {"coding": [{"system": participant, "code": "assembler"}]}, "who": {"reference": generator}}]
        if prov.model is not None:
            agents.append({"type": {"coding": [{"system": participant, "code": "author"}]},
                           "who": {"reference": self._model_device(prov.model)}})
        manifest = self.s.manifest
        recipe_role = "instantiates" if self.r5 else "source"
        entities: list[dict[str, Any]] = [{"role": recipe_role, "what": {
            "display": f"biosynth recipe {manifest.recipe.get('name')!r} (sha256 {manifest.recipe_sha256}), "
                       f"step {prov.step!r}, seed {prov.seed}"}}]
        if prov.prompt is not None:
            entities.append({"role": recipe_role, "what": {
                "display": f"prompt template {prov.prompt.template_id!r} (sha256 {prov.prompt.template_sha256})"}})
        for parent in record.parents:
            what = {"reference": self.primary[parent]} if parent in self.primary else {"display": f"record {parent}"}
            entities.append({"role": "source", "what": what})
        strategies = ", ".join(s.value for s in prov.strategy) or "unspecified"
        resource: dict[str, Any] = {
            "resourceType": "Provenance", "target": [{"reference": t} for t in targets],
            "recorded": self._when(record), "agent": agents, "entity": entities,
            "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                     "code": "CREATE", "display": "create"}],
                         "text": f"synthesized by biosynth ({strategies}); record {record.id}"},
        }
        self._add(resource, self._url("Provenance", record.id))


def _case_system(key: str) -> str:
    return derived_uid(key, "case-id-system")


def guess_content_type(ref: MediaRef) -> str:
    return ref.mime_type or mimetypes.guess_type(ref.path)[0] or "application/octet-stream"


