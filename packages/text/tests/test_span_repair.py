"""Span repair: correct claims kept, wrong offsets repaired by search, the unplaceable reported."""

from __future__ import annotations

from biosynth.core import Modality, Provenance, Record, TextPayload, rng
from biosynth.text._span_repair import EntityClaim, Fix, repair_spans


def _claim(text: str, label: str, start: int | None = None, end: int | None = None, id: str | None = None
           ) -> EntityClaim:
    return EntityClaim(text=text, label=label, start=start, end=end, id=id)


def _where(text: str, surface: str, nth: int = 0) -> int:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return start


def test_correct_offsets_are_kept() -> None:
    text = "Started metformin 500 mg daily for diabetes."
    claims = [_claim("metformin", "drug", 8, 17, "e1"), _claim("500 mg", "dose", 18, 24, "e2"),
              _claim("diabetes", "problem", 35, 43, "e3")]
    report = repair_spans(text, claims)
    assert report.ok and report.repaired == 0 and report.duplicates == 0
    assert [(s.start, s.end, s.text, s.label, s.id) for s in report.spans] == [
        (8, 17, "metformin", "drug", "T1"), (18, 24, "500 mg", "dose", "T2"), (35, 43, "diabetes", "problem", "T3")]
    assert report.ids == {"e1": "T1", "e2": "T2", "e3": "T3"}
    assert all(p is not None and p.fix is Fix.EXACT for p in report.placements)


def test_wrong_offset_moves_to_the_nearest_occurrence() -> None:
    text = "aspirin daily; stop aspirin before surgery; resume aspirin after."
    second = _where(text, "aspirin", 1)
    report = repair_spans(text, [_claim("aspirin", "drug", second + 3, second + 10)])
    [placement] = report.placements
    assert placement is not None and placement.fix is Fix.MOVED and placement.start == second
    assert report.repaired == 1 and report.spans[0].text == "aspirin"


def test_missing_offsets_take_the_first_free_occurrence() -> None:
    text = "pain in the chest; chest pain again"
    report = repair_spans(text, [_claim("chest", "problem"), _claim("chest", "problem")])
    assert [(s.start, s.end) for s in report.spans] == [(12, 17), (19, 24)]
    assert report.repaired == 2 and report.duplicates == 0


def test_repeated_substring_is_not_reused_by_two_entities() -> None:
    text = "BP 120/80 at rest; BP 150/95 after exercise; BP 130/85 later."
    first, second, third = (_where(text, "BP", n) for n in range(3))
    # Both claims point at the second BP; the second one must take another occurrence, the nearest free.
    report = repair_spans(text, [_claim("BP", "test", second, second + 2), _claim("BP", "test", second + 1)])
    starts = sorted(p.start for p in report.placements if p is not None)
    assert starts == [first, second] or starts == [second, third]
    assert len({(s.start, s.end) for s in report.spans}) == 2


def test_a_correct_claim_owns_its_occurrence_before_wrong_ones_are_moved() -> None:
    text = "insulin at night, insulin in the morning"
    second = _where(text, "insulin", 1)
    # The wrong claim comes first in the list and is nearest the second occurrence, which the right
    # claim holds: it must move to the first occurrence instead of stealing.
    report = repair_spans(text, [_claim("insulin", "drug", second + 2, id="a"), _claim("insulin", "drug", second, id="b")])
    by_id = {claim_id: next(s for s in report.spans if s.id == span_id) for claim_id, span_id in report.ids.items()}
    assert by_id["b"].start == second and by_id["a"].start == 0
    assert report.placements[0] is not None and report.placements[0].fix is Fix.MOVED
    assert report.placements[1] is not None and report.placements[1].fix is Fix.EXACT


def test_right_start_wrong_end_is_fixed() -> None:
    report = repair_spans("CT head negative", [_claim("CT head", "test", 0, 3)])
    assert report.placements[0] is not None and report.placements[0].fix is Fix.END
    assert (report.spans[0].start, report.spans[0].end) == (0, 7) and report.repaired == 1


def test_case_insensitive_match_uses_the_text_as_written() -> None:
    text = "HbA1c was 8.1%; started Metformin."
    report = repair_spans(text, [_claim("metformin", "drug", 0), _claim("HBA1C", "test", 0, 5)])
    drug, test = report.placements
    assert drug is not None and drug.fix is Fix.CASE and text[drug.start : drug.end] == "Metformin"
    assert test is not None and test.fix is Fix.CASE
    assert [s.text for s in report.spans] == ["HbA1c", "Metformin"]  # the slice, not the claim


def test_whitespace_differences_are_repaired() -> None:
    text = "Presented with chest\n  pain radiating to the arm."
    report = repair_spans(text, [_claim("chest pain", "problem", 15, 25)])
    [placement] = report.placements
    assert placement is not None and placement.fix is Fix.WHITESPACE
    assert report.spans[0].text == "chest\n  pain"


def test_surrounding_whitespace_in_the_claim_is_ignored() -> None:
    report = repair_spans("on warfarin", [_claim(" warfarin ", "drug", 3, 11)])
    assert report.ok and report.spans[0].text == "warfarin" and report.placements[0].fix is Fix.EXACT  # type: ignore[union-attr]


def test_nested_and_overlapping_entities_are_allowed() -> None:
    text = "Given metformin 500 mg twice daily."
    report = repair_spans(text, [_claim("metformin 500 mg", "drug", 0), _claim("500 mg", "dose", 2),
                                 _claim("500 mg twice daily", "dose", 16)])
    assert report.ok
    assert [(s.start, s.end, s.label) for s in report.spans] == [(6, 22, "drug"), (16, 22, "dose"), (16, 34, "dose")]


def test_overlapping_occurrences_of_one_string_are_distinct() -> None:
    report = repair_spans("aaa", [_claim("aa", "x"), _claim("aa", "x", 2)])
    assert sorted((s.start, s.end) for s in report.spans) == [(0, 2), (1, 3)]


def test_whole_words_are_preferred_over_parts_of_words() -> None:
    text = "BPH noted. Later the BP was normal."
    report = repair_spans(text, [_claim("BP", "test", 3)])  # nearest is inside "BPH", but the word is preferred
    assert report.spans[0].start == _where(text, "BP", 1)
    # With only a part-of-word occurrence, that one is used rather than failing.
    assert repair_spans("BPH noted.", [_claim("BP", "test", 5)]).spans[0].start == 0


def test_a_repeated_entity_is_merged_as_a_duplicate() -> None:
    text = "Allergic to penicillin."
    report = repair_spans(text, [_claim("penicillin", "drug", 12, id="e1"), _claim("penicillin", "drug", 3, id="e2")])
    assert len(report.spans) == 1 and report.duplicates == 1 and report.repaired == 0
    assert report.ids == {"e1": "T1", "e2": "T1"}
    # Identical claims at the right place merge too.
    again = repair_spans(text, [_claim("penicillin", "drug", 12), _claim("penicillin", "drug", 12)])
    assert len(again.spans) == 1 and again.duplicates == 1


def test_same_offsets_with_another_label_are_two_annotations() -> None:
    report = repair_spans("insulin level", [_claim("insulin", "drug", 0), _claim("insulin", "test", 0)])
    assert report.ok and sorted(s.label for s in report.spans) == ["drug", "test"]


def test_an_occurrence_held_by_another_label_is_not_reused() -> None:
    report = repair_spans("insulin level", [_claim("insulin", "drug", 0), _claim("insulin", "test", 4)])
    assert not report.ok and len(report.spans) == 1
    assert "already annotated by another entity" in report.failures[0] and "'insulin'" in report.failures[0]


def test_absent_and_empty_entities_are_failures_with_reasons() -> None:
    report = repair_spans("No acute distress.", [_claim("pneumonia", "problem", 3, id="e7"), _claim("  ", "problem")])
    assert report.failures == ("entity e7 (problem) 'pneumonia': 'pneumonia' does not occur in the text",
                               "entity (problem) '  ' has an empty text")
    assert report.placements == (None, None) and report.spans == ()


def test_unicode_offsets_are_code_points() -> None:
    text = "Pt 😷 naïve to insülin; échographie normale. ÉCHOGRAPHIE repeated."
    surface = "insülin"
    byte_offset = len(text[: text.index(surface)].encode())  # a model counting UTF-8 bytes
    report = repair_spans(text, [_claim(surface, "drug", byte_offset), _claim("échographie", "test", 0),
                                 _claim("Échographie", "test", 60), _claim("naïve", "problem", 5, 10)])
    assert report.ok
    for span in report.spans:
        assert text[span.start : span.end] == span.text
    assert {s.text for s in report.spans} == {"insülin", "échographie", "ÉCHOGRAPHIE", "naïve"}
    assert report.placements[3] is not None and report.placements[3].fix is Fix.EXACT  # 😷 is one code point


def test_differently_normalised_unicode_is_reported_not_misplaced() -> None:
    text = "cafe\u0301 au lait spots"  # decomposed é
    report = repair_spans(text, [_claim("caf\u00e9", "problem", 0)])
    assert not report.ok and report.spans == ()


def test_random_noisy_claims_always_give_valid_spans() -> None:
    words = ["pain", "BP", "aspirin", "chest pain", "Aspirin", "dose", "500 mg", "ü", "naïve"]
    generator = rng(123)
    for _ in range(150):
        pieces = [words[int(i)] for i in generator.integers(0, len(words), size=12)]
        text = " ".join(pieces)
        claims = []
        for _ in range(int(generator.integers(1, 8))):
            surface = words[int(generator.integers(0, len(words)))]
            start = int(generator.integers(0, len(text) + 5))
            claims.append(_claim(surface, ["a", "b"][int(generator.integers(0, 2))], start))
        report = repair_spans(text, claims)
        assert len(report.placements) == len(claims)
        assert sum(p is None for p in report.placements) == len(report.failures)
        keys = [(s.start, s.end, s.label) for s in report.spans]
        assert len(keys) == len(set(keys)), "two spans with one label on one occurrence"
        # A record accepts the spans: core checks every slice against its text.
        Record(id="r", case_id="c", modality=Modality.TEXT, payload=TextPayload(text=text), spans=report.spans,
               provenance=Provenance(generator="t", generator_version="0", seed=0))
        for claim, placement in zip(claims, report.placements, strict=True):
            if placement is not None:
                assert text[placement.start : placement.end].casefold().split() == claim.text.casefold().split()
