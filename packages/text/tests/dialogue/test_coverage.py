"""The coverage criterion: normalised, contiguous token runs; no fuzzy numbers."""

from __future__ import annotations

from biosynth.text._dialogue.coverage import contains, coverage, term_in, tokens


def test_normalisation() -> None:
    assert tokens("54-year-old MAN, BP 120/80; HbA1c 8.2%") == ["54", "year", "old", "man", "bp", "120", "80", "hba1c",
                                                                "8", "2"]
    assert tokens("Naïve CAFÉ ﬁbrosis") == ["naive", "cafe", "fibrosi"]  # NFKC ligature, accents, plural rule
    assert tokens("wheezes and chills, glass, bus, 2000s") == ["wheeze", "and", "chill", "glass", "bus", "2000"]


def test_terms_match_contiguous_runs_only() -> None:
    spoken = tokens("I have had chest pain and some shortness of breath since Monday.")
    assert term_in("Chest pain", spoken) and term_in("shortness of breath", spoken)
    assert not term_in("chest breath", spoken)
    assert not term_in("pain chest", spoken)
    assert not term_in("", spoken) and not contains(spoken, [])


def test_numbers_are_not_fuzzy() -> None:
    spoken = tokens("I am 45 and take 50 mg of atenolol")
    assert not term_in("54", spoken) and not term_in("5 mg", spoken)
    assert term_in("50 mg", spoken) and term_in("45", spoken)
    assert not term_in("fifty", spoken)  # documented limitation: numbers written as words do not match digits


def test_coverage_reports_missing_terms_per_fact() -> None:
    facts = [("chest pain for two hours", ["chest pain", "two hours"]), ("takes amlodipine", ["amlodipine"]),
             ("allergic to penicillin", ["penicillin"])]
    result = coverage(facts, "Patient: Chest pains for two hours.\nDoctor: Any medicines? Patient: Amlodipine.")
    assert [f.covered for f in result.facts] == [True, True, False]
    assert result.missing == ["allergic to penicillin"] and abs(result.fraction - 2 / 3) < 1e-9
    assert result.facts[2].missing_terms == ("penicillin",)
    assert "'allergic to penicillin' (terms not found: ['penicillin'])" == result.describe_missing()
    assert coverage([], "anything").fraction == 1.0
