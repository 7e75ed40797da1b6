"""The clinical normaliser reads doses, units, blood pressure, times, dates, numbers and abbreviations aloud."""

from __future__ import annotations

import json

import pytest

from biosynth.audio._text.normaliser import ClinicalNormaliser, read_lexicon, shipped_lexicon
from biosynth.audio._text.numbers import cardinal, ordinal, paired
from biosynth.core import ConfigError


@pytest.fixture(scope="module")
def say() -> ClinicalNormaliser:
    return ClinicalNormaliser()


@pytest.mark.parametrize(("written", "spoken"), [
    ("5 mg IV q6h", "five milligrams intravenously every six hours"),
    ("1 mg PO", "one milligram by mouth"),
    ("Take 2.5 mg b.i.d. PRN.", "Take two point five milligrams twice a day as needed."),
    ("0.4 mg SL q5min", "zero point four milligrams under the tongue q5min"),
    ("10 mg/kg", "ten milligrams per kilogram"),
    ("glucose 5.5 mmol/L", "glucose five point five millimoles per liter"),
    ("Temp 38.5 °C, SpO2 95%", "Temp thirty-eight point five degrees Celsius, oxygen saturation ninety-five percent"),
    ("HR 72 bpm", "heart rate seventy-two beats per minute"),
    ("1,250 mL", "one thousand two hundred fifty milliliters"),
    ("2-3 times a day", "two to three times a day"),
])
def test_doses_units_and_frequencies(say: ClinicalNormaliser, written: str, spoken: str) -> None:
    assert say(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("BP 120/80", "blood pressure one twenty over eighty"),
    ("BP 135/85 mmHg today", "blood pressure one thirty-five over eighty-five today"),
    ("105/60", "one oh five over sixty"),
    ("100/70", "one hundred over seventy"),
    ("120 over 80", "one twenty over eighty"),
])
def test_blood_pressure(say: ClinicalNormaliser, written: str, spoken: str) -> None:
    assert say(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("Come back at 3:30 p.m.", "Come back at three thirty p m."),
    ("at 3:30 p.m. tomorrow", "at three thirty p m tomorrow"),
    ("at 7 am", "at seven a m"),
    ("at 14:05", "at fourteen oh five"),
    ("at 9:00", "at nine o'clock"),
])
def test_times(say: ClinicalNormaliser, written: str, spoken: str) -> None:
    assert say(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("Seen on 3/12/2024.", "Seen on March twelfth, twenty twenty-four."),
    ("2024-03-12", "March twelfth, twenty twenty-four"),
    ("born in 1998", "born in nineteen ninety-eight"),
    ("her 2nd visit", "her second visit"),
    ("since 2005", "since two thousand five"),
])
def test_dates_and_numbers(say: ClinicalNormaliser, written: str, spoken: str) -> None:
    assert say(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), [
    ("Dr. Smith saw the pt.", "Doctor Smith saw the patient."),
    ("SOB and N/V since Tuesday", "shortness of breath and nausea and vomiting since Tuesday"),
    ("Mr. Jones, 68 y/o, c/o chest pain", "Mister Jones, sixty-eight year old, complains of chest pain"),
    ("hx of COPD, ECG normal", "history of C O P D, E C G normal"),
])
def test_abbreviations(say: ClinicalNormaliser, written: str, spoken: str) -> None:
    assert say(written) == spoken


def test_number_words() -> None:
    assert cardinal(0) == "zero" and cardinal(1001) == "one thousand one"
    assert cardinal(2_500_017) == "two million five hundred thousand seventeen"
    assert [ordinal(n) for n in (1, 2, 3, 12, 20, 21, 100)] == [
        "first", "second", "third", "twelfth", "twentieth", "twenty-first", "one hundredth"]
    assert paired(120) == "one twenty" and paired(1998) == "nineteen ninety-eight" and paired(90) == "ninety"


def test_drug_names_use_the_lexicon_and_a_user_lexicon_extends_it(tmp_path) -> None:
    assert "metoprolol" in shipped_lexicon()
    say = ClinicalNormaliser()
    assert say("Metoprolol 25 mg PO bid") == f"{shipped_lexicon()['metoprolol']} twenty-five milligrams by mouth twice a day"
    assert say("Metoprolol", respell=False) == "Metoprolol"  # the written form, for scoring ASR
    user = tmp_path / "lexicon.json"
    user.write_text(json.dumps({"Xarelto": "zah rel toe", "metoprolol": "meh toe pro lol"}))
    mine = ClinicalNormaliser(read_lexicon(user))
    assert mine("Xarelto and metoprolol.") == "zah rel toe and meh toe pro lol."
    assert mine.lexicon_sha256 != say.lexicon_sha256


def test_a_bad_lexicon_is_refused(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": 3}))
    with pytest.raises(ConfigError, match="respelling"):
        read_lexicon(bad)
