"""Text metrics against hand-computed values on tiny inputs, or against the reference implementation they wrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from sacrebleu.metrics import BLEU
from scipy.stats import ks_2samp

from biosynth.core import ConfigError
from biosynth.eval import (
    DictionaryConceptExtractor,
    Family,
    concept_f1,
    distinct_n,
    duplicates,
    embedding_similarity,
    find_icd10_codes,
    find_phi,
    frechet_distance,
    hpo_validity,
    icd10_validity,
    length_distribution,
    longest_common_substring,
    mauve,
    ngram_overlap,
    phi_patterns,
    self_bleu,
)
from biosynth.eval._text.common import tokenize
from biosynth.eval._text.fidelity import divergence_curve, mauve_from_histograms
from biosynth.eval._text.memorisation import _SuffixAutomaton


def test_distinct_n_by_hand() -> None:
    texts = ["a b a b", "a c"]  # unigrams a b a b a c: 3 of 6 distinct; bigrams ab ba ab ac: 3 of 4
    one, two = distinct_n(texts, 1), distinct_n(texts, 2, real_texts=["x y z"])
    assert one.value == pytest.approx(0.5) and one.modality == "text" and one.family is Family.DIVERSITY
    assert two.value == pytest.approx(0.75) and two.details["real_distinct"] == pytest.approx(1.0)
    assert two.name == "text.distinct_2" and two.n_synthetic == 2 and two.ci is None
    assert distinct_n(["one two"], 3).status == "failed"  # no trigram anywhere: a reason, not 0


def test_self_bleu_scores_each_text_against_the_others_only() -> None:
    texts = ["the patient was admitted with chest pain and shortness of breath",
             "the patient was admitted with chest pain and shortness of breath",
             "follow up in clinic after two weeks for a repeat blood test",
             "no known drug allergies were reported by the family today"]
    result = self_bleu(texts, n_bootstrap=50)
    bleu = BLEU(effective_order=True)
    expected = [bleu.sentence_score(t, texts[:i] + texts[i + 1:]).score / 100 for i, t in enumerate(texts)]
    assert result.value == pytest.approx(np.mean(expected))
    # the two copies score 1 against each other; the others score far below 1 since they never meet themselves
    assert expected[0] == pytest.approx(1.0) and max(expected[2:]) < 0.3
    assert result.details["n_scored"] == 4 and result.ci is not None and result.direction.value == "lower_is_better"
    distinct_texts = self_bleu(texts[1:], n_bootstrap=0)
    assert distinct_texts.value < 0.3  # were a text its own reference, each would score 1.0


def test_embedding_similarity_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # cosines 0, 1/sqrt2, 1/sqrt2
    result = embedding_similarity(["a", "b", "c"], embeddings=vectors, n_bootstrap=0)
    assert result.value == pytest.approx(2 / math.sqrt(2) / 3) and result.parameters["embedder"] == "precomputed"
    g = np.random.default_rng(0)
    many = g.normal(size=(30, 5))
    unit = many / np.linalg.norm(many, axis=1, keepdims=True)
    cosines = unit @ unit.T
    larger = embedding_similarity(["t"] * 30, embeddings=many, n_bootstrap=40)
    assert larger.value == pytest.approx(cosines[~np.eye(30, dtype=bool)].mean())
    assert larger.ci is not None and larger.ci.low <= larger.value <= larger.ci.high
    assert embedding_similarity(["a", "b"], embeddings=np.zeros((2, 2))).status == "failed"


def test_length_distribution_equals_scipy_ks(make_corpus) -> None:
    real, synthetic = make_corpus(40, 1), [t + " Extra words here." for t in make_corpus(30, 2)]
    result = length_distribution(real, synthetic, n_bootstrap=30)
    expected = np.mean([1 - ks_2samp([f(t) for t in real], [f(t) for t in synthetic]).statistic
                        for f in (lambda t: len(tokenize(t)), len)])
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert {c["column"] for c in result.details["columns"]} == {"tokens", "characters"}
    assert result.details["synthetic"]["tokens"]["median"] > result.details["real"]["tokens"]["median"]
    assert length_distribution(real, real, n_bootstrap=0).value == pytest.approx(1.0)


def test_frechet_distance_by_hand() -> None:
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # mean 0, covariance diag(2/3, 8/3)
    y = 2 * x + np.array([3.0, 0.0])  # mean (3, 0), covariance 4x: trace term sum(s + 4s - 2*2s) = 10/3
    texts = ["t"] * 4
    result = frechet_distance(texts, texts, real_embeddings=x, embeddings=y, n_bootstrap=30)
    assert result.value == pytest.approx(9 + 10 / 3, rel=1e-6)
    assert frechet_distance(texts, texts, real_embeddings=x, embeddings=x, n_bootstrap=0).value == pytest.approx(0, abs=1e-6)
    assert any("small sample" in w for w in result.warnings) and result.ci is not None
    g = np.random.default_rng(1)
    a, b = g.normal(size=(50, 4)), g.normal(size=(60, 4)) @ g.normal(size=(4, 4))
    c1, c2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2)  # the textbook formula, FID's reference computation
    textbook = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(root))
    assert frechet_distance(["t"] * 50, ["t"] * 60, real_embeddings=a, embeddings=b,
                            n_bootstrap=0).value == pytest.approx(textbook, rel=1e-9)
    few = frechet_distance(["t"] * 3, ["t"] * 3, real_embeddings=a[:3], embeddings=b[:3], n_bootstrap=0)
    assert any("fewer texts" in w for w in few.warnings)


def test_mauve_divergence_curve_and_area_by_hand() -> None:
    # p = (1, 0), q = (0, 1): r = (w, 1 - w), KL(q||r) = -log(1 - w), KL(p||r) = -log w, so the curve points are
    # ((1 - w)^5, w^5) at w in linspace(1e-6, 1 - 1e-6, 25), plus the extreme points (1, 0) and (0, 1)
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    w = np.linspace(1e-6, 1 - 1e-6, 25)
    curve = divergence_curve(p, q)
    assert np.allclose(curve[1:-1], np.column_stack([(1 - w) ** 5, w ** 5]))
    assert np.allclose(curve[0], [1, 0]) and np.allclose(curve[-1], [0, 1])
    xs, ys = np.concatenate([[0.0], (1 - w[::-1]) ** 5, [1.0]]), np.concatenate([[1.0], w[::-1] ** 5, [0.0]])
    area = sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1))  # symmetric: both halves
    assert mauve_from_histograms(p, q) == pytest.approx(area, rel=1e-9)
    # identical histograms: 0.75, not 1, exactly as mauve-text 0.4 (ties put the (0, 1) point first along x)
    assert mauve_from_histograms(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.75)


def test_mauve_on_embeddings_separates_close_from_far_corpora() -> None:
    g = np.random.default_rng(0)
    centres = np.eye(6) * 5
    real = centres[g.integers(0, 3, 120)] + g.normal(size=(120, 6))
    same = centres[g.integers(0, 3, 100)] + g.normal(size=(100, 6))
    other = centres[g.integers(3, 6, 100)] + g.normal(size=(100, 6))
    texts = ["x"] * 120, ["y"] * 100
    close = mauve(texts[0], texts[1], real_embeddings=real, embeddings=same, n_clusters=6, n_bootstrap=30)
    far = mauve(texts[0], texts[1], real_embeddings=real, embeddings=other, n_clusters=6, n_bootstrap=0)
    assert close.value > 0.7 and far.value < 0.05 and close.ci is not None
    assert sum(close.details["synthetic_histogram"]) == pytest.approx(1)
    with pytest.raises(ConfigError):
        mauve(texts[0], texts[1], n_clusters=1)


def test_ngram_overlap_by_hand() -> None:
    result = ngram_overlap(["a b c x y", "q"], ["a b c d e"], n=2, n_bootstrap=0)
    assert result.value == pytest.approx(0.5)  # ab, bc of ab bc cx xy
    assert result.details["texts_shorter_than_n"] == 1 and result.family is Family.MEMORISATION


def test_longest_common_substring_by_hand_and_against_brute_force() -> None:
    reference = ["the patient was seen today", "blood pressure is normal"]
    result = longest_common_substring(["today blood pressure is high", "seen today blood pressure"], reference,
                                      n_bootstrap=0)
    # 'blood pressure is' = 3 of 5 tokens; 'seen today' + 'blood pressure' never counts as one run across texts
    assert result.value == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert result.details["longest"][0] == {"text": 0, "start_token": 1, "end_token": 4, "tokens": 3}
    g = np.random.default_rng(3)
    for _ in range(30):
        a, b = list(g.integers(0, 3, 40)), list(g.integers(0, 3, 15))
        brute = max((k for i in range(len(b)) for k in range(1, len(b) - i + 1)
                     if any(a[j:j + k] == b[i:i + k] for j in range(len(a) - k + 1))), default=0)
        assert _SuffixAutomaton(a).longest_match(b)[0] == brute


def test_duplicates_exact_and_near() -> None:
    reference = ["The patient reports mild chest pain radiating to the left arm since yesterday evening, "
                 "relieved by rest, with no fever, cough or shortness of breath at any time.",
                 "Annual review: asthma well controlled on low dose inhaled steroids, no exacerbations this year."]
    synthetic = ["the patient  reports mild chest pain radiating to the left arm since yesterday evening , "
                 "relieved by rest, with no fever, cough or shortness of breath at any time.",  # exact up to spacing
                 "Annual review: asthma well controlled on low dose inhaled steroids, no exacerbations this year!",
                 "Knee swelling after a fall while hiking; x-ray shows no fracture; advised rest and ice."]
    result = duplicates(synthetic, reference)
    assert result.details["exact_duplicates"] == 1 and result.details["near_duplicates"] == 1
    assert result.value == pytest.approx(2 / 3) and result.details["examples"][1]["jaccard"] >= 0.8
    with pytest.raises(ConfigError):
        duplicates(synthetic, reference, threshold=0)


PLANTED = ("Seen by Dr. Alice Moreno on 03/14/2021 (also 2021-03-15, March 16, 2021). Call (617) 555-0123 or "
           "617-555-0199. MRN: 00482913. Email jane.roe@example.org. Lives at 42 Oak Hill Road. "
           "A 93-year-old woman, age 91 at last visit.")
CLEAN = ["Patient is a 45-year-old man with hypertension; BP 132/84 mmHg, HR 72. Continue lisinopril 10 mg daily.",
         "MS flare treated with steroids; follow up in 3 months. Labs: HbA1c 7.2%, LDL 2.6 mmol/L.",
         "Take 2 tablets the same way each day. Discussed diet and exercise. No drug allergies.",
         "Seen in the emergency department at 14:30 for ankle sprain; x-ray negative, ICD-10 S93.401A."]


def test_phi_detector_finds_planted_patterns_and_passes_clean_text() -> None:
    found = find_phi(PLANTED)
    counts = {name: sum(1 for n, _, _ in found if n == name) for name, _, _ in found}
    assert counts == {"name_after_title": 1, "date": 3, "phone": 2, "medical_record_number": 1, "email": 1,
                      "street_address": 1, "age_over_89": 2}
    assert PLANTED[found[0][1]:found[0][2]] == "Dr. Alice Moreno"
    assert [find_phi(text) for text in CLEAN] == [[]] * len(CLEAN)
    result = phi_patterns([*CLEAN, PLANTED], n_bootstrap=30)
    assert result.value == pytest.approx(1 / 5) and result.family is Family.PRIVACY and result.threat_model
    assert result.details["examples"]["email"] == [{"text": 4, "start": PLANTED.index("jane"),
                                                    "end": PLANTED.index("jane") + len("jane.roe@example.org")}]
    assert "Moreno" not in result.model_dump_json()  # positions only, never the matched text


def test_icd10_validity_on_known_codes() -> None:
    texts = ["Type 2 diabetes (E11.9) and essential hypertension, ICD-10: I10.",
             "Coded as Z99.999 and E11.99; vitamin B12 normal.",
             "Femur fracture S72.001A.", "No codes here."]
    assert [c for c, _, _ in find_icd10_codes(texts[1])] == ["Z99.999", "E11.99"]  # 'B12' is not a code
    result = icd10_validity(texts, n_bootstrap=30)
    assert result.details["codes_found"] == 5 and result.details["valid"] == 3
    assert result.value == pytest.approx(3 / 5) and result.details["distinct_invalid"] == ["E11.99", "Z99.999"]
    assert result.details["invalid_examples"][0] == {"code": "Z99.999", "text": 1, "start": 9, "end": 16}
    none = icd10_validity(["no codes at all"])
    assert none.status == "not_applicable" and "no ICD-10-CM" in none.error


def test_hpo_validity_on_known_terms() -> None:
    result = hpo_validity(["Seizure (HP:0001250) and HP:0000822; typo HP:9999999."], n_bootstrap=0)
    assert result.details["codes_found"] == 3 and result.value == pytest.approx(2 / 3)
    assert result.details["distinct_invalid"] == ["HP:9999999"]


def test_concept_f1_by_hand_with_a_plugged_extractor() -> None:
    extractor = DictionaryConceptExtractor({"chest pain": "C1", "fever": "C2", "cough": "C3", "pain": "C4"},
                                           name="toy")
    assert extractor("Chest pain and a fever; pain again") == {"C1", "C2", "C4"}  # longest match first
    sources = ["chest pain with fever", "cough", "nothing here"]
    generated = ["fever and cough", "cough", "still nothing"]
    result = concept_f1(sources, generated, extractor, n_bootstrap=0)
    # pair 1: S={C1,C2}, G={C2,C3}: P=R=1/2, F1=1/2; pair 2: F1=1; pair 3 has no concepts: left out and counted
    assert result.value == pytest.approx(0.75) and result.details["pairs_without_concepts"] == 1
    assert result.parameters["extractor"] == "toy"
    with pytest.raises(ConfigError):
        concept_f1(sources, generated[:2], extractor)


def test_default_concept_extractor_uses_icd10_and_hpo_names() -> None:
    extractor = DictionaryConceptExtractor.default()
    assert "HP:0001250" in extractor("History of seizure.")  # HPO 'Seizure'
    assert "E11.9" in extractor("type 2 diabetes mellitus without complications")  # ICD-10-CM description
    result = concept_f1(["History of seizure and type 2 diabetes mellitus without complications."],
                        ["Seizure noted."], n_bootstrap=0)
    assert result.value == pytest.approx(2 / 3)  # P = 1, R = 1/2


def test_empty_corpora_fail_with_a_reason() -> None:
    for result in (ngram_overlap(["some text here"], []), self_bleu([]), distinct_n([]), phi_patterns([]),
                   longest_common_substring([], ["a b"]), frechet_distance(["a"], ["b", "c"]),
                   duplicates(["a"], [])):
        assert result.status == "failed" and result.value is None and "needs at least" in result.error, result
    with pytest.raises(ConfigError):
        distinct_n("a single string, not a list")
