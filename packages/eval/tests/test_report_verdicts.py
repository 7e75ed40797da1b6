"""The report's first screen: verdicts against reference points computed in the same run, and a plot for every
column (issue 20)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from biosynth.eval import evaluate_tabular
from biosynth.eval._report import EvaluationReport, render_html


@pytest.fixture(scope="module")
def split(real_table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return real_table.iloc[:900].reset_index(drop=True), real_table.iloc[900:].reset_index(drop=True)


def _verdict(report: EvaluationReport, family: str) -> tuple[str, str]:
    page = render_html(report)
    found = re.search(rf"<li class='tone-(\w+)'><b>{family.capitalize()}\.</b> (.*?)</li>", page)
    assert found, f"no {family} verdict"
    return found.group(1), found.group(2)


@pytest.mark.slow
def test_utility_verdict_states_tstr_against_trtr(split, metadata) -> None:
    train, test = split
    shuffled = train.copy()
    shuffled["stage"] = np.random.default_rng(0).permutation(shuffled["stage"].to_numpy())  # the signal is gone
    report = evaluate_tabular(train, shuffled, test, metadata, seed=1, n_bootstrap=20, target="stage")
    tone, sentence = _verdict(report, "utility")
    trtr = report.result("utility_tstr").details["trtr_auroc"]
    assert f"TRTR {trtr:.2f}" in sentence and "TSTR" in sentence
    assert tone == "poor"  # a shuffled label keeps almost nothing of the real model's signal
    kept = re.search(r"keep (\d+)% of the real model", sentence)
    assert kept and int(kept.group(1)) < 50

    copy_report = evaluate_tabular(train, train.copy(), test, metadata, seed=1, n_bootstrap=20, target="stage")
    tone, sentence = _verdict(copy_report, "utility")
    assert tone == "good" and "keep 100% of the real model" in sentence


def test_fidelity_is_read_against_the_real_vs_real_ceiling_and_a_copy_leaks(split, metadata) -> None:
    train, test = split
    copy = evaluate_tabular(train, train.sample(400, random_state=0), test, metadata, seed=2, n_bootstrap=20)
    ceiling = copy.references["fidelity_ceiling"]
    assert ceiling["status"] == "computed" and ceiling["n"] == 400
    assert 0.8 < ceiling["column_shapes"]["low"] <= ceiling["column_shapes"]["mean"] <= ceiling["column_shapes"]["high"]
    tone, sentence = _verdict(copy, "fidelity")
    assert tone == "good" and f"against {ceiling['column_shapes']['mean']:.2f} for real rows" in sentence
    privacy_tone, privacy = _verdict(copy, "privacy")
    assert privacy_tone == "leak" and privacy.startswith("LEAK flagged by")  # copies of training rows

    g = np.random.default_rng(5)  # noise: every column drawn independently from an unrelated range
    noise = pd.DataFrame({"age": g.uniform(0, 200, 400), "bmi": g.uniform(0, 100, 400), "sbp": g.uniform(0, 300, 400),
                          "visits": g.integers(0, 40, 400).astype(float), "sex": g.choice(["F", "M", "X"], 400),
                          "stage": g.choice(["I", "II", "III", "IV", "V"], 400), "smoker": g.random(400) < 0.9,
                          "admitted": pd.Timestamp("1990-01-01") + pd.to_timedelta(g.integers(0, 9000, 400), unit="D")})
    tone, _ = _verdict(evaluate_tabular(train, noise, test, metadata, seed=2, n_bootstrap=20), "fidelity")
    assert tone == "poor"


def test_every_scored_column_has_a_plot_and_the_json_can_redraw_it(real_table, synthetic_table, metadata) -> None:
    report = evaluate_tabular(real_table.iloc[:600], synthetic_table.iloc[:400], metadata=metadata, seed=0,
                              n_bootstrap=0)
    page = render_html(report)
    plotted = re.findall(r"<figure class='column-plot' data-column='([^']+)'><svg", page)
    assert plotted == [c for c, kind in report.columns.items() if kind != "other"]
    assert len(plotted) == 8
    assert page.count("<svg") >= len(plotted) + 1  # and the association heatmaps
    again = EvaluationReport.model_validate_json(report.to_json())  # report.json alone redraws the page
    assert render_html(again) == page
    bars = next(d for d in report.figures["distributions"] if d["column"] == "stage")
    assert bars["plot"] == "bars" and sum(bars["real"]) == pytest.approx(1.0)
    hist = next(d for d in report.figures["distributions"] if d["column"] == "age")
    assert hist["plot"] == "histogram" and len(hist["edges"]) == len(hist["real"]) + 1
    assert sum(hist["synthetic"]) == pytest.approx(1.0)  # synthetic values outside the real range still counted
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # drawings on one page never share an element id
    assert "<td class=''>computed</td>" in page and ">ok<" not in page


def test_visit_and_text_reports_draw_their_distributions_and_samples(tiny_embedder) -> None:
    from biosynth.eval import evaluate_text, evaluate_visits

    real = [[["a", "b"], ["b"], ["c"]], [["a"], ["a", "c"]], [["b", "c"], ["a"]]] * 10
    synthetic = [[["a"], ["b", "c"]], [["a", "b"], ["b"]], [["c"]]] * 10
    visits = evaluate_visits(real, synthetic, seed=0, n_bootstrap=0)
    page = render_html(visits)
    assert re.findall(r"data-column='([^']+)'><svg", page) == ["visits per patient", "codes per visit"]
    assert "real 30 patients · synthetic 30 patients" in page  # the header counts what was evaluated
    per_patient = visits.figures["distributions"][0]
    # real patients have 3, 2, 2 visits and synthetic 2, 2, 1: whole-number bins, widened to the synthetic minimum
    assert per_patient["edges"] == [1.0, 1.5, 2.5, 3.5]
    assert per_patient["real"] == pytest.approx([0, 2 / 3, 1 / 3])
    assert per_patient["synthetic"] == pytest.approx([1 / 3, 2 / 3, 0])

    texts = ["The patient has stable asthma.", "Hypertension is well controlled on lisinopril."] * 10
    cards = [{"text": "Synthetic note one.", "provenance": {"generator": "clinical_note", "seed": 11}}]
    report = evaluate_text(texts, texts[::-1], seed=0, embedder=tiny_embedder, n_bootstrap=0, sample_cards=cards)
    page = render_html(report)
    assert "data-column='words per text'><svg" in page and "real 20 texts · synthetic 20 texts" in page
    card = page[page.index("<div class='card'>"):]
    assert "Synthetic note one." in card and "<th>generator</th><td>clinical_note</td>" in card
